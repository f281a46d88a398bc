//! A one-line form: a labelled text field, a submit button and an inline error. Used for
//! the nickname, the room name and chat messages, each checked by its validator from
//! `crate::limits` — the same rules the server applies.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::limits::InvalidText;

#[component]
pub fn ValidatedField(
    /// The input's id (and the prefix of its error's id).
    id: &'static str,
    /// The label and button texts: fixed, or following the chosen language.
    #[prop(into)]
    label: Signal<&'static str>,
    #[prop(into)]
    button: Signal<&'static str>,
    /// What is in the field; the caller may set it (e.g. clear it after sending).
    value: RwSignal<String>,
    /// Checks and normalizes the text (trimmed), or says what is wrong.
    validate: fn(&str) -> Result<String, InvalidText>,
    /// Called with the valid, normalized text.
    #[prop(into)]
    on_valid: Callback<String>,
    #[prop(into, default = Signal::stored(""))] placeholder: Signal<&'static str>,
    #[prop(default = "off")] autocomplete: &'static str,
    /// The input's type ("password" hides what is typed).
    #[prop(default = "text")]
    input_type: &'static str,
    /// Extra class on the form (layout).
    #[prop(optional)]
    class: &'static str,
    /// Style the button as the main action.
    #[prop(optional)]
    primary: bool,
    /// Keep the label for screen readers only (the placeholder says it on screen).
    #[prop(optional)]
    hide_label: bool,
    /// Shown after a valid submit until the text changes (e.g. "Saved").
    #[prop(optional, into)]
    confirm: Option<Signal<&'static str>>,
) -> impl IntoView {
    let i18n = crate::i18n::use_i18n();
    let error = RwSignal::new(None::<crate::limits::InvalidText>);
    let confirmed = RwSignal::new(false);
    let error_id = format!("{id}-error");
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        match validate(&value.get_untracked()) {
            Ok(text) => {
                error.set(None);
                confirmed.set(true);
                on_valid.run(text);
            }
            Err(e) => {
                confirmed.set(false);
                error.set(Some(e));
            }
        }
    };
    view! {
        <form class=format!("inline-form {class}") on:submit=on_submit novalidate>
            <label for=id class:visually-hidden=hide_label>{move || label.get()}</label>
            <div class="row">
                <input
                    id=id
                    name=id
                    type=input_type
                    autocomplete=autocomplete
                    placeholder=move || placeholder.get()
                    aria-invalid=move || error.get().is_some().to_string()
                    aria-describedby=error_id.clone()
                    bind:value=value
                    on:input=move |_| confirmed.set(false)
                />
                <button type="submit" class:primary=primary>{move || button.get()}</button>
            </div>
            // Written when shown, so it follows the language switch.
            <p id=error_id class="field-error" role="alert">{move || error.get().map(|e| crate::strings::invalid(i18n.get_locale(), &e))}</p>
            {confirm.map(|text| view! {
                <p class="field-ok" aria-live="polite">{move || confirmed.get().then(|| text.get())}</p>
            })}
        </form>
    }
}
