//! The connection indicator in the top bar: tells a person when the socket is down.

use leptos::prelude::*;

use super::session::{ConnStatus, Session};
use crate::strings;

#[component]
pub fn ConnectionStatus() -> impl IntoView {
    let session = expect_context::<Session>();
    let state = move || match session.status.get() {
        ConnStatus::Connecting => ("connecting", strings::STATUS_CONNECTING),
        ConnStatus::Online => ("online", strings::STATUS_ONLINE),
        ConnStatus::Offline => ("offline", strings::STATUS_OFFLINE),
    };
    view! {
        <p class="conn-status" role="status" data-status=move || state().0>
            <span class="dot" aria-hidden="true"></span>
            {move || state().1}
        </p>
    }
}
