//! The UI: the HTML shell, the router and one component per file.

mod call;
pub(crate) mod media;
mod chat;
mod field;
mod home;
mod language;
mod members;
mod nickname;
mod room;
pub mod session;
mod status;
mod tile;
mod timer;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::components::{Redirect, Route, Router, Routes};
use leptos_router::{Lazy, ParamSegment, StaticSegment};

use crate::i18n::{t_string, use_i18n, I18nContextProvider, Locale};
use leptos_i18n::Locale as _;
use crate::strings;
use home::HomePage;
use room::RoomRoute;
use session::Session;
use status::ConnectionStatus;

/// The HTML document around the app (server only renders it; the client hydrates `<body>`).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        // `lang` is set by the i18n provider (leptos_meta), from the chosen language.
        <html>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

thread_local! {
    /// Whether the page is hydrated. Browser only: the server never reads it. Reference
    /// counted rather than arena-owned, so no reactive owner that first touches it can
    /// dispose of it.
    static HYDRATED: ArcRwSignal<bool> = ArcRwSignal::new(false);
}

fn hydrated() -> ArcRwSignal<bool> {
    HYDRATED.with(ArcRwSignal::clone)
}

/// Called by the WASM entry point once the whole page is hydrated.
pub fn mark_hydrated() {
    hydrated().set(true);
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let session = Session::new();
    provide_context(session);
    // Effects run only in the browser. Once the whole page is hydrated (a room's lazily
    // loaded chunk included): open the socket, and mark the page hydrated (end-to-end tests
    // wait for the mark before they click).
    Effect::new(move |_| {
        if !hydrated().get() {
            return;
        }
        // The shell runs the effects and feeds what happens back as inputs.
        #[cfg(feature = "hydrate")]
        crate::client::start(crate::client::Port {
            dispatch: std::rc::Rc::new(move |input| session.dispatch(input)),
            read: std::rc::Rc::new(move |f| session.read(f)),
        });
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    // The language: the cookie the switch sets, else the browser's Accept-Language, so the
    // server already renders the page in it; the provider puts it in `<html lang>`, where
    // hydration reads it back (no flash of another language).
    view! {
        <I18nContextProvider ssr_lang_header_getter=language::preferred_languages()>
            <Page/>
        </I18nContextProvider>
    }
}

#[component]
fn Page() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <Stylesheet id="leptos" href="/pkg/noom.css"/>
        <Title text=strings::APP_NAME/>
        <Meta name="description" content=move || t_string!(i18n, tagline)/>
        <Meta name="color-scheme" content="light dark"/>
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml"/>
        <Router>
            <header class="topbar">
                <a class="brand" href="/">
                    <span class="logo" aria-hidden="true"></span>
                    {strings::APP_NAME}
                </a>
                <ConnectionStatus/>
                <LanguagePicker/>
            </header>
            <main>
                <Routes fallback=|| view! { <Redirect path="/"/> }>
                    <Route path=StaticSegment("") view=HomePage/>
                    <Route path=(StaticSegment("room"), ParamSegment("name")) view={Lazy::<RoomRoute>::new()}/>
                </Routes>
            </main>
        </Router>
    }
}

/// The language switch: follows the browser until the person picks one (remembered in a
/// cookie, so the server renders the next page in it too).
#[component]
fn LanguagePicker() -> impl IntoView {
    let i18n = use_i18n();
    let change = move |ev: leptos::ev::Event| {
        let locale = match event_target_value(&ev).as_str() {
            "ko" => Locale::ko,
            _ => Locale::en,
        };
        i18n.set_locale(locale);
        language::remember(locale);
    };
    view! {
        <select class="language" aria-label=move || t_string!(i18n, language) on:change=change
            prop:value=move || i18n.get_locale().as_str()>
            <option value="en">"English"</option>
            <option value="ko">"한국어"</option>
        </select>
    }
}
