//! The shell (feature `hydrate`): runs the model's effects in order and feeds what happens
//! back as inputs. It owns the browser's side of things — the WebSocket (`socket`),
//! localStorage and fresh ids (`storage`), the retry timer — and hands the call engine
//! (`media`, reached only through `call_queue`: it is lazily loaded) its commands.
//!
//! Why a shell: the model (`crate::model`) decides, and can be tested natively, because
//! nothing in it waits or touches the browser. The shell never names the app
//! (`scripts/check-tree.sh` checks): the app gives it a [`Port`] to dispatch inputs and
//! read the state ([`start`]) and hands it effects ([`run`]). The call engine reaches the
//! model the same way, through the [`Model`] handle: the model decides the call's steps
//! and the panel's buttons, the engine carries them out (see docs/ARCHITECTURE.md).
//!
//! Why the parts never name this file: it starts them, so what they share (the port, the
//! `Model` handle) is in `port.rs`, below them all; `media` defines the requests it takes
//! (`CallEvent`) and `call_queue` carries them. Every import points one way (no cycle,
//! `scripts/import-cycles.py`).

pub mod call_queue;
pub mod media;
mod port;
mod socket;
mod storage;

use crate::limits::validate_nickname;
use crate::model::{Effect, Input};
use media::CallEvent;
use port::dispatch;
pub use port::{Model, Port};
pub use storage::{media_access, new_client_msg_id};

/// Called once after hydration: say what the browser knows (saved nickname, device id,
/// whether calls can work), connect the socket (it reconnects by itself from then on) and
/// start the retry timer.
pub fn start(port: Port) {
    port::install(port);
    // Kept only once chosen: a visitor who never picked one is asked again at a room link.
    let nickname = storage::load_nickname().and_then(|n| validate_nickname(&n).ok());
    dispatch(Input::Started { nickname, device: storage::device_id(), media_access: media_access() });
    call_queue::start(Model);
    leptos::task::spawn_local(socket::run());
    // Messages the server could not take a moment ago (busy, store failing) go again.
    leptos::task::spawn_local(async move {
        loop {
            gloo_timers::future::sleep(std::time::Duration::from_secs(3)).await;
            dispatch(Input::Tick);
        }
    });
}

/// Run `effects` in order; return the inputs they produced at once (a loaded outbox).
pub fn run(effects: Vec<Effect>) -> Vec<Input> {
    let mut inputs = Vec::new();
    for effect in effects {
        match effect {
            Effect::Send(msg) => socket::send(msg),
            Effect::SaveOutbox { room, unsent } => storage::save_outbox(&room, &unsent),
            Effect::LoadOutbox(room) => {
                let unsent = storage::load_outbox(&room);
                inputs.push(Input::OutboxLoaded { room, unsent });
            }
            Effect::SaveNickname(nickname) => storage::save_nickname(&nickname),
            Effect::Engine(command) => call_queue::send(CallEvent::Command(command)),
        }
    }
    inputs
}
