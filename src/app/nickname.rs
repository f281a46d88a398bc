//! The nickname form, on the home page and in rooms.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use super::session::Session;
use crate::limits::{validate_nickname, DEFAULT_NICKNAME};
use crate::strings;

#[component]
pub fn NicknameForm() -> impl IntoView {
    let session = expect_context::<Session>();
    let draft = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    // Show the current nickname (from localStorage, or after a change) in the field.
    Effect::new(move |_| draft.set(session.nickname.get()));

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        match validate_nickname(&draft.get_untracked()) {
            Ok(nickname) => {
                error.set(None);
                saved.set(true);
                draft.set(nickname.clone());
                session.set_nickname(nickname);
            }
            Err(e) => {
                saved.set(false);
                error.set(Some(e.to_string()));
            }
        }
    };

    view! {
        <form class="inline-form nickname-form" on:submit=on_submit novalidate>
            <label for="nickname">{strings::NICKNAME_LABEL}</label>
            <div class="row">
                <input
                    id="nickname"
                    name="nickname"
                    type="text"
                    autocomplete="nickname"
                    placeholder=DEFAULT_NICKNAME
                    aria-invalid=move || error.get().is_some().to_string()
                    aria-describedby="nickname-error"
                    bind:value=draft
                    on:input=move |_| saved.set(false)
                />
                <button type="submit">{strings::NICKNAME_SAVE}</button>
            </div>
            <p id="nickname-error" class="field-error" role="alert">{move || error.get()}</p>
            <p class="field-ok" aria-live="polite">{move || saved.get().then_some(strings::NICKNAME_SAVED)}</p>
        </form>
    }
}
