//! The nickname form, on the home page and in rooms.

use leptos::prelude::*;

use super::field::ValidatedField;
use super::session::Session;
use crate::model::Intent;
use crate::limits::{validate_nickname, DEFAULT_NICKNAME};
use crate::i18n::{t_string, use_i18n};

#[component]
pub fn NicknameForm() -> impl IntoView {
    let session = expect_context::<Session>();
    let i18n = use_i18n();
    let draft = RwSignal::new(String::new());
    // Show the current nickname (from localStorage, or after a change) in the field.
    Effect::new(move |_| draft.set(session.nickname.get()));
    view! {
        <ValidatedField
            id="nickname"
            label=Signal::derive(move || t_string!(i18n, nickname_label))
            button=Signal::derive(move || t_string!(i18n, nickname_save))
            value=draft
            validate=validate_nickname
            on_valid=move |nickname: String| {
                draft.set(nickname.clone());
                session.intend(Intent::SetNickname(nickname));
            }
            placeholder=DEFAULT_NICKNAME
            autocomplete="nickname"
            class="nickname-form"
            confirm=Signal::derive(move || t_string!(i18n, nickname_saved))
        />
    }
}
