//! The nickname form, on the home page and in rooms.

use leptos::prelude::*;

use super::field::ValidatedField;
use super::session::Session;
use crate::limits::{validate_nickname, DEFAULT_NICKNAME};
use crate::strings;

#[component]
pub fn NicknameForm() -> impl IntoView {
    let session = expect_context::<Session>();
    let draft = RwSignal::new(String::new());
    // Show the current nickname (from localStorage, or after a change) in the field.
    Effect::new(move |_| draft.set(session.nickname.get()));
    view! {
        <ValidatedField
            id="nickname"
            label=strings::NICKNAME_LABEL
            button=strings::NICKNAME_SAVE
            value=draft
            validate=validate_nickname
            on_valid=move |nickname: String| {
                draft.set(nickname.clone());
                session.set_nickname(nickname);
            }
            placeholder=DEFAULT_NICKNAME
            autocomplete="nickname"
            class="nickname-form"
            confirm=strings::NICKNAME_SAVED
        />
    }
}
