//! The chat: the log (notices and messages, always rendered as text) and the composer.

use leptos::prelude::*;

use crate::i18n::{t, t_string, use_i18n, Locale};

use super::field::ValidatedField;
use super::session::{ChatLine, LogEntry, Session};
use crate::model::Intent;
use crate::strings;
use crate::limits::validate_message;

/// Local wall-clock time of a server timestamp, the way the reader's language writes it
/// ("3:05 PM", "오후 3:05"): the browser's `Intl` formats it.
fn clock(locale: Locale, ts_ms: u64) -> String {
    #[cfg(feature = "hydrate")]
    {
        use leptos_i18n::Locale as _;
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts_ms as f64));
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"hour".into(), &"numeric".into());
        let _ = js_sys::Reflect::set(&options, &"minute".into(), &"2-digit".into());
        String::from(d.to_locale_time_string_with_options(locale.as_str(), &options))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        // The server never renders chat lines (the log starts empty); UTC is a fallback.
        let _ = locale;
        let mins = ts_ms / 60_000;
        format!("{:02}:{:02}", (mins / 60) % 24, mins % 60)
    }
}

fn chat_line(line: ChatLine) -> impl IntoView {
    let i18n = use_i18n();
    let status = match (&line.failed, line.id) {
        (Some(_), _) => "failed",
        (None, Some(_)) => "accepted",
        (None, None) => "pending",
    };
    let mark = match status {
        "accepted" => view! { <span class="mark" title=move || t_string!(i18n, accepted) aria-label=move || t_string!(i18n, accepted)>"✓"</span> }.into_any(),
        "pending" => view! { <span class="mark pending" title=move || t_string!(i18n, sending) aria-label=move || t_string!(i18n, sending)>"…"</span> }.into_any(),
        _ => view! { <span class="mark failed" role="alert">{line.failed.clone()}</span> }.into_any(),
    };
    view! {
        <li class="msg" class:mine=line.mine data-status=status>
            <div class="meta">
                <span class="who">{line.nickname}</span>
                <time>{move || line.ts.map(|ts| clock(i18n.get_locale(), ts))}</time>
                {line.mine.then_some(mark)}
            </div>
            <p class="text">{line.text}</p>
        </li>
    }
}

#[component]
pub fn Chat() -> impl IntoView {
    let i18n = use_i18n();
    let session = expect_context::<Session>();
    let draft = RwSignal::new(String::new());
    let log_ref = NodeRef::<leptos::html::Ol>::new();
    // Keep the newest message in view when one arrives (not when older ones are loaded
    // above: the reader stays where they were).
    Effect::new(move |previous: Option<Option<(u64, bool, bool)>>| {
        let newest = session.log.with(|log| log.last().map(LogEntry::render_key));
        if previous.as_ref() != Some(&newest) {
            if let Some(ol) = log_ref.get() {
                ol.set_scroll_top(ol.scroll_height());
            }
        }
        newest
    });

    view! {
        <section class="card chat">
            <h2 class="visually-hidden">{t!(i18n, chat_heading)}</h2>
            <ol class="log" aria-label=move || t_string!(i18n, chat_heading) aria-live="polite" node_ref=log_ref>
                <li class="earlier" hidden=move || !session.earlier.get()>
                    <button
                        type="button"
                        class="link"
                        disabled=move || session.loading_earlier.get()
                        on:click=move |_| session.intend(Intent::LoadEarlier)
                    >
                        {t!(i18n, load_earlier)}
                    </button>
                </li>
                <For
                    each=move || session.log.with(|log| log.to_vec())
                    key=LogEntry::render_key
                    children=move |entry| match entry {
                        // Worded now, in the reader's language: it follows a language switch.
                        LogEntry::Notice { notice, .. } => view! { <li class="notice">{move || strings::notice(i18n.get_locale(), &notice)}</li> }.into_any(),
                        LogEntry::Chat(line) => chat_line(line).into_any(),
                    }
                />
            </ol>
            <p class="muted empty-log" hidden=move || !session.log.with(|log| log.is_empty())>{t!(i18n, chat_empty)}</p>
            <ValidatedField
                id="message"
                label=Signal::derive(move || t_string!(i18n, message_label))
                button=Signal::derive(move || t_string!(i18n, send))
                value=draft
                validate=validate_message
                on_valid=move |text: String| {
                    draft.set(String::new());
                    session.send_chat(text);
                }
                placeholder=Signal::derive(move || t_string!(i18n, message_label))
                class="composer"
                primary=true
                hide_label=true
            />
        </section>
    }
}
