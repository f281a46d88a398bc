//! Browser-only code (feature `hydrate`): the WebSocket, local storage and call media (the
//! call engine, `media`, is reached only through `call_queue`: it is lazily loaded).

pub mod call_queue;
pub mod media;
mod socket;
mod storage;

use crate::app::session::Session;
use crate::limits::validate_nickname;

/// Called once after hydration: restore the saved nickname, persist later changes, and
/// connect the socket (it reconnects by itself from then on).
pub fn start(session: Session) {
    use leptos::prelude::*;
    if let Some(saved) = storage::load_nickname().and_then(|n| validate_nickname(&n).ok()) {
        session.nickname.set(saved);
        session.named.set(true);
    }
    // Kept only once chosen: a visitor who never picked one is asked again at a room link.
    Effect::new(move |_| {
        if session.named.get() {
            storage::save_nickname(&session.nickname.get());
        }
    });
    // Calls need a secure page; say so (the call panel) rather than offer what cannot work.
    session.media_access.set(crate::app::media::access());
    call_queue::start(session);
    leptos::task::spawn_local(socket::run(session));
    // Messages the server could not take a moment ago (busy, store failing) go again.
    leptos::task::spawn_local(async move {
        loop {
            gloo_timers::future::sleep(std::time::Duration::from_secs(3)).await;
            session.retry_refused();
        }
    });
}
