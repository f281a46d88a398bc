//! The UI: the HTML shell, the router and one component per file.

mod call;
mod media;
mod persist;
mod chat;
mod field;
mod home;
mod members;
mod nickname;
mod room;
pub mod session;
mod status;
mod tile;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::components::{Redirect, Route, Router, Routes};
use leptos_router::{ParamSegment, StaticSegment};

use crate::strings;
use home::HomePage;
use room::RoomPage;
use session::Session;
use status::ConnectionStatus;

/// The HTML document around the app (server only renders it; the client hydrates `<body>`).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
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

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let session = Session::new();
    provide_context(session);
    // Effects run only in the browser, after hydration: open the socket there, and mark
    // the page hydrated (end-to-end tests wait for the mark before they click).
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        crate::client::start(session);
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/noom.css"/>
        <Title text=strings::APP_NAME/>
        <Meta name="description" content=strings::TAGLINE/>
        <Meta name="color-scheme" content="light dark"/>
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml"/>
        <Router>
            <header class="topbar">
                <a class="brand" href="/">
                    <span class="logo" aria-hidden="true"></span>
                    {strings::APP_NAME}
                </a>
                <ConnectionStatus/>
            </header>
            <main>
                <Routes fallback=|| view! { <Redirect path="/"/> }>
                    <Route path=StaticSegment("") view=HomePage/>
                    <Route path=(StaticSegment("room"), ParamSegment("name")) view=RoomPage/>
                </Routes>
            </main>
        </Router>
    }
}
