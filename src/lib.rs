//! Noom: a self-hosted meeting app — rooms, chat and (soon) video — in one Leptos crate,
//! compiled twice: as an axum server that renders pages (feature `ssr`) and as a WASM
//! client that hydrates them and talks to the server over one WebSocket (feature `hydrate`).
//!
//! # Layout
//! - [`protocol`]: the wire types, one serde enum per direction. Both targets.
//! - [`limits`]: sizes, rates and the validation of nicknames, room names and messages.
//!   Both targets: the browser checks before sending, the server checks again.
//! - [`strings`]: every string the UI shows, ready for translation.
//! - [`model`]: the client's state as plain data and the one reducer, `model::apply`
//!   (inputs in, effects out). Both targets; no Leptos or browser crate.
//! - [`app`]: the Leptos components, one per file, and [`app::session::Session`], which
//!   holds the model's state for the views and runs `apply`. Both targets (SSR, then hydration).
//! - `client` (feature `hydrate`): the shell that runs the model's effects: the browser's
//!   WebSocket, local storage and the call engine.
//! - `server` (feature `ssr`): config, the HTTP router, the per-connection task and the hub
//!   that owns all room state. See `docs/ARCHITECTURE.md`.

#![recursion_limit = "256"]

pub mod app;
pub mod limits;
pub mod model;
pub mod protocol;
pub mod strings;

// The `i18n` module, generated from `locales/*.json` by `build.rs` (leptos_i18n).
include!(concat!(env!("OUT_DIR"), "/i18n/mod.rs"));

#[cfg(feature = "hydrate")]
pub mod client;
#[cfg(feature = "ssr")]
pub mod server;

/// The WASM entry point: hydrate the server-rendered page.
///
/// Hydration is asynchronous because a room page's code is a lazily loaded chunk
/// (`app::room`): the page is taken over once that chunk is in. Only then does the client
/// start (socket, media watchers), so nothing changes what the server rendered while the
/// page is being taken over.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    wasm_bindgen_futures::spawn_local(async {
        leptos::mount::hydrate_from_async(leptos::tachys::dom::body(), app::App).await.forget();
        app::mark_hydrated();
    });
}
