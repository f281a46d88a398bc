//! Security headers: what a browser may do with Noom's pages.
//!
//! Why these: a meeting page holds camera and microphone permission, so another site must
//! not frame it (clickjacking into a call: `frame-ancestors 'none'`, `X-Frame-Options`),
//! nor may injected markup run script (the CSP allows only this site's scripts and the one
//! inline hydration script, by its per-response nonce; WebAssembly needs
//! `'wasm-unsafe-eval'`). Room names are in URLs, so `Referrer-Policy: same-origin` keeps
//! them from other sites a person follows a link to. `Permissions-Policy` keeps camera,
//! microphone and screen capture to the site itself (never an embedded frame) and turns
//! off what a meeting does not use.
//!
//! Why the CSP is set while rendering: its nonce is made per response by leptos_axum
//! (`nonce` feature) and known only inside the render; [`page_policy`] runs there (as
//! additional context) and sets the header through `ResponseOptions`. The other headers
//! are the same for every response, static files and `/ws` included ([`layers`]).

use axum::http::{header, HeaderName, HeaderValue};
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower_http::set_header::SetResponseHeaderLayer;

/// What a meeting page may use: camera, microphone and screen capture from this site
/// only; nothing else that asks the person for a permission.
pub const PERMISSIONS_POLICY: &str =
    "camera=(self), microphone=(self), display-capture=(self), fullscreen=(self), geolocation=(), payment=(), usb=()";

/// The page's Content-Security-Policy for `nonce`. `dev_reload`: `cargo leptos watch`
/// (its reload script talks to a WebSocket on another port).
pub fn content_security_policy(nonce: &str, dev_reload: bool) -> String {
    let extra_connect = if dev_reload { " ws: wss:" } else { "" };
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'{extra_connect}; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Set this page's CSP (called by leptos_axum inside each page's render).
pub fn page_policy() {
    let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<ResponseOptions>()) else {
        return;
    };
    let policy = content_security_policy(&nonce, std::env::var("LEPTOS_WATCH").is_ok());
    match HeaderValue::from_str(&policy) {
        Ok(value) => response.insert_header(header::CONTENT_SECURITY_POLICY, value),
        Err(e) => tracing::error!("content security policy is not a header value: {e}"),
    }
}

type Set = SetResponseHeaderLayer<HeaderValue>;

/// The headers every response carries.
pub fn layers() -> ServiceBuilder<Stack<Set, Stack<Set, Stack<Set, Stack<Set, Identity>>>>> {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    ServiceBuilder::new()
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::REFERRER_POLICY, "same-origin"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(HeaderName::from_static("permissions-policy"), PERMISSIONS_POLICY))
}
