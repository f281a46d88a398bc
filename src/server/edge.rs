//! The server's edge: what a request meets before the app or the hub. The plain-HTTP
//! port's redirects and ACME answers, the host a browser used, the origin check, and the
//! WebSocket upgrade (buffer sizes, the connection limit).
//!
//! Why its own file: these are small rules about HTTP requests, each tested on its own
//! (`tests.rs`); `mod.rs` wires the routes and runs the server. Its log lines keep the
//! target `noom::server` they had before the split (operators filter on it).

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use futures::{SinkExt, StreamExt};

use super::config::Config;
use super::{acme, ws, AppState, READ_BUFFER_BYTES};
use crate::limits::MAX_SIGNAL_FRAME_BYTES;
use crate::protocol::close;

/// What the plain-HTTP port (`--http-redirect-addr`) needs.
#[derive(Clone)]
pub(super) struct PlainHttp {
    /// Where `redirect_to_https` sends people.
    pub(super) https_port: u16,
    /// With ACME: the HTTP-01 answers.
    pub(super) acme: Option<Arc<acme::Challenges>>,
}

/// `/.well-known/acme-challenge/{token}` on the plain-HTTP port: the key authorization of
/// an HTTP-01 challenge being validated (RFC 8555 §8.3), 404 for any other token.
pub(super) async fn acme_http_challenge(State(plain): State<PlainHttp>, axum::extract::Path(token): axum::extract::Path<String>) -> Response {
    match plain.acme.as_ref().and_then(|c| c.http(&token)) {
        Some(answer) => ([(header::CONTENT_TYPE, "application/octet-stream")], answer).into_response(),
        None => (StatusCode::NOT_FOUND, "no such challenge").into_response(),
    }
}

/// `--http-redirect-addr`: the same host and path over HTTPS on port `https_port`.
pub(super) async fn redirect_to_https(State(PlainHttp { https_port, .. }): State<PlainHttp>, headers: HeaderMap, uri: Uri) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).and_then(host_without_port);
    let Some(host) = host else {
        return (StatusCode::BAD_REQUEST, "a Host header naming this server is needed").into_response();
    };
    let port = if https_port == 443 { String::new() } else { format!(":{https_port}") };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    Redirect::permanent(&format!("https://{host}{port}{path}")).into_response()
}

/// The host of a `Host` header without its port, if it is a plausible name or address
/// (nothing that could smuggle another URL into the redirect).
pub(crate) fn host_without_port(host: &str) -> Option<&str> {
    let name = if host.starts_with('[') {
        &host[..=host.find(']')?] // [v6]:port
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':');
    (!name.is_empty() && name.chars().all(fine)).then_some(name)
}

/// The host the request was sent to: `Host` (HTTP/1.1) or the URI's authority (HTTP/2).
pub(super) fn request_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> &'a str {
    headers.get(header::HOST).and_then(|v| v.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str())).unwrap_or("")
}

/// Whether a browser page at `origin` may open the socket: same host, or allow-listed.
/// Requests without `Origin` are not from a browser page and cannot be cross-site attacks.
pub(super) fn origin_allowed(headers: &HeaderMap, host: &str, config: &Config) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if config.allowed_origins.iter().any(|o| o.trim_end_matches('/') == origin) {
        return true;
    }
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    !host.is_empty() && origin_host == host
}

pub(super) async fn ws_upgrade(ws: WebSocketUpgrade, headers: HeaderMap, uri: Uri, State(state): State<AppState>) -> Response {
    if !origin_allowed(&headers, request_host(&headers, &uri), &state.config) {
        tracing::warn!(target: "noom::server", origin = ?headers.get(header::ORIGIN), "websocket from a foreign origin refused");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let permit = state.connections.clone().try_acquire_owned();
    // The name or address the browser reached Noom by: where it can reach the TURN server.
    let host: Arc<str> = host_without_port(request_host(&headers, &uri)).unwrap_or("").into();
    // Frames a little above our own limit still reach the reader, which closes with 1009;
    // far bigger ones are stopped by the WebSocket layer before they are buffered.
    ws.max_message_size(2 * MAX_SIGNAL_FRAME_BYTES)
        .max_frame_size(2 * MAX_SIGNAL_FRAME_BYTES)
        // tungstenite's defaults (128 KiB read and write buffers) are made for bulk
        // transfer; chat frames are small, and these buffers were most of the memory a
        // connection cost (146 KiB -> see BENCHMARKS.md).
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(ws::WRITE_BUFFER_BYTES)
        .max_write_buffer_size(1024 * 1024)
        .on_upgrade(move |socket| async move {
            let (mut sink, stream) = socket.split();
            let Ok(_permit) = permit else {
                tracing::warn!(target: "noom::server", "connection limit reached");
                let frame = CloseFrame { code: close::TRY_AGAIN_LATER, reason: "server is full".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                return;
            };
            let write_timeout = std::time::Duration::from_secs_f64(state.config.slow_client_secs);
            ws::serve_socket(sink, stream, state.hub, state.shutdown, write_timeout, host).await;
        })
}
