//! The connection indicator in the top bar: tells a person when the socket is down.

use leptos::prelude::*;

use super::session::{ConnStatus, Session};
use crate::i18n::{t_string, use_i18n};

#[component]
pub fn ConnectionStatus() -> impl IntoView {
    let session = expect_context::<Session>();
    let i18n = use_i18n();
    let state = move || match session.status.get() {
        ConnStatus::Connecting => ("connecting", t_string!(i18n, status_connecting)),
        ConnStatus::Online => ("online", t_string!(i18n, status_online)),
        ConnStatus::Offline => ("offline", t_string!(i18n, status_offline)),
    };
    view! {
        <p class="conn-status" role="status" data-status=move || state().0>
            <span class="dot" aria-hidden="true"></span>
            {move || state().1}
        </p>
    }
}
