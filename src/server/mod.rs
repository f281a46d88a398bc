//! The server: HTTP routes, the WebSocket endpoint and graceful shutdown (feature `ssr`).

pub mod acme;
pub mod certs;
pub mod config;
pub mod headers;
pub mod ice;
pub mod hub;
pub mod metrics;
pub mod password;
pub mod sfu;
pub mod store;
pub mod tls;
pub mod turn;
pub mod wire;
pub mod ws;

use std::future::Future;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use axum::serve::ListenerExt;
use axum::Router;
use futures::{SinkExt, StreamExt};
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::sync::{watch, Semaphore};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::app::{shell, App};
use crate::limits::MAX_SIGNAL_FRAME_BYTES;
use crate::protocol::close;
pub use config::{Config, StoreKind};
use hub::{CallSettings, HubHandle};
use sfu::SfuHandle;
use store::{MemoryStore, SqliteStore, StoreHandle};

/// Everything a request handler may need.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub hub: HubHandle,
    pub store: StoreHandle,
    pub config: Arc<Config>,
    /// One permit per open WebSocket: the connection limit.
    pub connections: Arc<Semaphore>,
    /// Flips to true on shutdown; every connection then closes with 1001.
    pub shutdown: watch::Receiver<bool>,
    /// The SFU's counters (`/metrics`), if it runs.
    pub sfu_stats: Option<Arc<sfu::SfuStats>>,
    /// Served over HTTPS with a certificate browsers trust: responses carry HSTS.
    pub hsts: bool,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The whole HTTP surface: the app's pages, `/ws`, `/healthz` and static files.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    // Release builds may ship `.br`/`.gz` files made at build time (scripts/precompress.mjs,
    // `--precompressed`), sent as they are; anything else is compressed on the fly by the
    // CompressionLayer below. Unknown paths that are not files go back to the home page.
    let mut files = ServeDir::new(&*options.site_root);
    if state.config.precompressed {
        files = files.precompressed_br().precompressed_gzip();
    }
    let files = files.fallback(get(|| async { Redirect::to("/") }));
    let mut router = Router::new();
    // With --metrics-addr, /metrics is served there only (see `serve`).
    if state.config.metrics_addr.is_none() {
        router = router.route("/metrics", get(metrics::metrics));
    }
    // HSTS only where browsers trust the certificate by themselves: pinning a self-signed
    // one would leave people unable to click through its warning.
    let hsts = state.hsts.then(|| {
        SetResponseHeaderLayer::if_not_present(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS))
    });
    router
        // `any`: over HTTP/2 a WebSocket opens with CONNECT (RFC 8441), not GET.
        .route("/ws", any(ws_upgrade))
        .route("/healthz", get(healthz))
        // Each page gets its Content-Security-Policy with the nonce Leptos put on its
        // inline hydration script (see `headers.rs`).
        .leptos_routes_with_context(&state, routes, headers::page_policy, move || shell(options.clone()))
        .fallback_service(files)
        .layer(headers::layers())
        .layer(tower::util::option_layer(hsts))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Start the built-in TURN server beside `sfu`; without its ports calls still work for
/// everyone whose network lets UDP or TCP through to the SFU.
fn start_turn(config: &Config, sfu: &SfuHandle, tls: Option<&tls::Tls>, secret: &Arc<Vec<u8>>) -> Option<turn::TurnHandle> {
    let tls_listener = match (config.turn_tls_addr, tls) {
        (Some(addr), Some(t)) => Some((addr, t.server_config())),
        (Some(addr), None) => {
            tracing::warn!(%addr, "--turn-tls-addr needs HTTPS (a certificate): TURN over TLS is off");
            None
        }
        (None, _) => None,
    };
    // The SFU's own sockets, by exact address: relays may reach them and nothing else
    // private (see `turn/core.rs`).
    let own: Vec<std::net::SocketAddr> = sfu.candidates.clone();
    // The relay address browsers are told: the public one if given, the TURN address if it
    // names one, else the first the SFU announces that others can reach (not loopback or
    // link-local unless nothing else exists).
    let announced = config.rtc_public_ip.first().copied().or_else(|| {
        let ip = config.turn_addr.ip();
        if !ip.is_unspecified() {
            return Some(ip);
        }
        let reachable = |ip: &std::net::IpAddr| {
            !ip.is_loopback() && !matches!(ip, std::net::IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
        };
        let ips: Vec<std::net::IpAddr> = sfu.candidates.iter().map(|a| a.ip()).collect();
        ips.iter().find(|ip| reachable(ip) && turn::core::is_public(**ip)).or_else(|| ips.iter().find(|ip| reachable(ip))).or(ips.first()).copied()
    });
    match announced {
        Some(ip) if !turn::core::is_public(ip) => tracing::warn!(
            %ip,
            "TURN relays are announced at a private address: browsers beyond this network cannot use them (set --rtc-public-ip)"
        ),
        _ => {}
    }
    let settings = turn::TurnConfig {
        udp: Some(config.turn_addr),
        tcp: Some(config.turn_addr),
        tls: tls_listener,
        relay_ip: config.turn_addr.ip(),
        announced_ip: announced,
        secret: secret.to_vec(),
        policy: turn::core::Policy { allow_private: config.turn_allow_private, own },
        max_allocations: config.turn_max_allocations,
    };
    match turn::spawn(settings) {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::error!("TURN server disabled: cannot listen on {}: {e}", config.turn_addr);
            None
        }
    }
}

/// A year of HTTPS only, once a browser has seen it over HTTPS (not for subdomains: they
/// may be other people's servers).
const HSTS: &str = "max-age=31536000";

/// `ok`, or 503 while the chat store cannot write (messages are not being acked) or if
/// the hub has stopped (nobody can enter a room): a supervisor should restart the process.
async fn healthz(State(state): State<AppState>) -> Response {
    if !state.hub.is_alive() {
        (StatusCode::SERVICE_UNAVAILABLE, "hub stopped").into_response()
    } else if !state.store.is_healthy() {
        (StatusCode::SERVICE_UNAVAILABLE, "chat store failing").into_response()
    } else {
        "ok".into_response()
    }
}

/// The chat store, opened and running.
pub struct OpenStore {
    pub handle: StoreHandle,
    /// Where its replies arrive (the hub's).
    pub replies: tokio::sync::mpsc::UnboundedReceiver<store::StoreReply>,
    /// The rooms that have a password, read before serving: the server must not let
    /// anyone into a protected room for want of having read its password yet.
    pub passwords: hub::RoomPasswords,
}

/// Open the configured chat store and start its task. The error names the path and why.
pub async fn open_store(config: &Config) -> Result<OpenStore, String> {
    use store::ChatStore;
    let (replies_tx, replies) = tokio::sync::mpsc::unbounded_channel();
    let (handle, passwords) = match config.store {
        StoreKind::Sqlite => {
            let mut backend = SqliteStore::open(&config.data_dir).await?;
            tracing::info!(path = %backend.path().display(), epoch = %backend.epoch(), "chat history on disk");
            let passwords = backend.passwords().await.map_err(|e| format!("cannot read the room passwords: {e}"))?;
            (StoreHandle::spawn(backend, config.retention(), replies_tx), passwords)
        }
        StoreKind::Memory => {
            tracing::warn!("chat history in memory only (--store memory): it ends with the server");
            (StoreHandle::spawn(MemoryStore::default(), config.retention(), replies_tx), Vec::new())
        }
    };
    let passwords = passwords.into_iter().map(|(room, hash)| (room, hash.into())).collect();
    Ok(OpenStore { handle, replies, passwords })
}

/// Serve until `shutdown` resolves, then close every WebSocket with 1001 and stop.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    leptos_options: LeptosOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // Before anything counts: handles made earlier would count into nothing.
    metrics::handle();
    // The certificate first: an unusable one stops start-up before anything else starts.
    let local = listener.local_addr()?;
    let tls = tls::Tls::new(&config.tls_mode(local), std::time::SystemTime::now()).map_err(std::io::Error::other)?;
    match &tls {
        None => tracing::info!("Noom listening on http://{local}"),
        Some(t) if t.acme.as_ref().is_some_and(|a| a.kept.is_none()) => tracing::info!(
            "Noom listening on https://{local} with a temporary self-signed certificate until the ACME CA issues one"
        ),
        Some(t) if t.trusted => tracing::info!(fingerprint = %t.loaded.fingerprint, "Noom listening on https://{local}"),
        Some(t) => tracing::info!(
            fingerprint = %t.loaded.fingerprint,
            names = ?t.loaded.names,
            "Noom listening on https://{local} with a self-signed certificate: browsers warn once; \
             people can check that the SHA-256 fingerprint they are shown is this one"
        ),
    }
    if config.http_redirect_addr.is_some() && tls.is_none() {
        return Err(std::io::Error::other("--http-redirect-addr redirects to HTTPS, but this server speaks plain HTTP"));
    }
    // Without its UDP port the SFU cannot run; calls then stay peer to peer (and are capped
    // at --p2p-max) rather than the whole server refusing to start.
    let sfu = match SfuHandle::spawn(&config.sfu()) {
        Ok(sfu) => Some(sfu),
        Err(e) => {
            tracing::error!("SFU disabled: cannot bind UDP {}: {e}", config.rtc_udp_addr);
            None
        }
    };
    let sfu_stats = sfu.as_ref().map(|s| s.stats.clone());
    let turn_secret = config.turn_secret_bytes();
    let turn = match &sfu {
        Some(sfu) if !config.no_turn => start_turn(&config, sfu, tls.as_ref(), &turn_secret),
        _ => None,
    };
    let calls = CallSettings {
        ice: config.ice(turn.as_ref(), &turn_secret),
        max_call_size: config.max_call_size,
        p2p_max: config.p2p_max,
        sfu_max_participants: config.sfu_max_participants,
        sfu,
    };
    let OpenStore { handle: store, replies, passwords } = open_store(&config).await.map_err(std::io::Error::other)?;
    let acme_challenges = tls.as_ref().and_then(|t| t.acme.as_ref()).map(|a| a.challenges.clone());
    let state = AppState {
        leptos_options,
        hub: HubHandle::spawn(calls, store.clone(), replies, passwords),
        store: store.clone(),
        connections: Arc::new(Semaphore::new(config.max_connections)),
        config: Arc::new(config),
        shutdown: shutdown_rx,
        sfu_stats,
        hsts: tls.as_ref().is_some_and(|t| t.trusted),
    };
    if let Some(addr) = state.config.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!("metrics on http://{addr}/metrics");
        let metrics_only = Router::new().route("/metrics", get(metrics::metrics)).with_state(state.clone());
        let mut down = state.shutdown.clone();
        tokio::spawn(async move {
            let stop = async move {
                let _ = down.wait_for(|d| *d).await;
            };
            if let Err(e) = axum::serve(listener, metrics_only).with_graceful_shutdown(stop).await {
                tracing::error!("metrics listener: {e}");
            }
        });
    }
    if let Some(tls) = &tls {
        tls.start_acme(state.shutdown.clone());
    }
    if let Some(addr) = state.config.http_redirect_addr {
        let listener = listen(addr)?;
        tracing::info!("redirecting http://{addr} to HTTPS");
        let mut redirect = Router::new();
        if acme_challenges.is_some() {
            redirect = redirect.route("/.well-known/acme-challenge/{token}", get(acme_http_challenge));
        }
        let redirect = redirect
            .fallback(redirect_to_https)
            .with_state(PlainHttp { https_port: local.port(), acme: acme_challenges });
        let mut down = state.shutdown.clone();
        tokio::spawn(async move {
            let stop = async move {
                let _ = down.wait_for(|d| *d).await;
            };
            if let Err(e) = axum::serve(listener, redirect).with_graceful_shutdown(stop).await {
                tracing::error!("HTTP redirect listener: {e}");
            }
        });
    }
    let app = router(state);
    let stop = async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
    };
    match tls {
        Some(tls) => {
            let listener = tls::listener(listener, Arc::new(tls), tune_socket)?;
            axum::serve(listener, app).with_graceful_shutdown(stop).await?
        }
        None => axum::serve(listener.tap_io(tune_socket), app).with_graceful_shutdown(stop).await?,
    }
    // Whatever the store was given is written before the process ends.
    store.flush().await;
    tracing::info!("chat store flushed");
    Ok(())
}

/// The WebSocket read buffer, allocated for each connection's life: clients send small
/// frames (a chat message is a few hundred bytes); a bigger one grows it as needed.
const READ_BUFFER_BYTES: usize = 1024;

/// Connections the kernel may queue before the server accepts them. tokio's default
/// (1024) overflowed in a join storm of 10 000 and each dropped SYN cost its client a 1 s
/// retransmit. The kernel caps it at `net.core.somaxconn` (4096 on Debian 12).
const LISTEN_BACKLOG: u32 = 8192;

/// Bind the server's TCP listener, with room for a crowd arriving at once.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// What the kernel may hold for one client before its writes block: chat frames are
/// small, and Linux would otherwise grow a slow reader's send buffer up to 4 MiB
/// (`tcp_wmem`), kernel memory per socket that hides a client that stopped reading.
pub const SOCKET_SEND_BUFFER_BYTES: usize = 64 * 1024;

/// Every accepted socket: no Nagle delay (the writer flushes once per batch of frames, and
/// Nagle would hold a batch back for the ACK of the previous one), and a bounded send buffer.
fn tune_socket(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!("cannot set TCP_NODELAY: {e}");
    }
    if let Err(e) = socket2::SockRef::from(&*tcp).set_send_buffer_size(SOCKET_SEND_BUFFER_BYTES) {
        tracing::debug!("cannot set SO_SNDBUF: {e}");
    }
}

/// A rate limiter on the process's one clock. governor's default makes a new clock per
/// limiter, and calibrating it was 6 % of the server's time in a join storm (two limiters
/// per connection).
pub fn rate_limiter(quota: governor::Quota) -> governor::DefaultDirectRateLimiter {
    static CLOCK: std::sync::LazyLock<governor::clock::DefaultClock> = std::sync::LazyLock::new(Default::default);
    governor::RateLimiter::direct_with_clock(quota, CLOCK.clone())
}

/// Run `task` on a thread of its own (named `name`), with its own single-threaded runtime.
///
/// Why: under load the server's runtime has thousands of connection tasks ready to run, and
/// a task that every message passes through (the hub, the store) would wait behind all of
/// them each time it is woken. On its own thread the OS schedules it beside them, and it
/// reacts within a scheduler tick (measured in BENCHMARKS.md, "Chat fan-out").
pub fn spawn_thread<F>(name: &str, task: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name(name.into()).spawn(move || runtime.block_on(task))?;
    Ok(())
}

/// What the plain-HTTP port (`--http-redirect-addr`) needs.
#[derive(Clone)]
struct PlainHttp {
    /// Where `redirect_to_https` sends people.
    https_port: u16,
    /// With ACME: the HTTP-01 answers.
    acme: Option<Arc<acme::Challenges>>,
}

/// `/.well-known/acme-challenge/{token}` on the plain-HTTP port: the key authorization of
/// an HTTP-01 challenge being validated (RFC 8555 §8.3), 404 for any other token.
async fn acme_http_challenge(State(plain): State<PlainHttp>, axum::extract::Path(token): axum::extract::Path<String>) -> Response {
    match plain.acme.as_ref().and_then(|c| c.http(&token)) {
        Some(answer) => ([(header::CONTENT_TYPE, "application/octet-stream")], answer).into_response(),
        None => (StatusCode::NOT_FOUND, "no such challenge").into_response(),
    }
}

/// `--http-redirect-addr`: the same host and path over HTTPS on port `https_port`.
async fn redirect_to_https(State(PlainHttp { https_port, .. }): State<PlainHttp>, headers: HeaderMap, uri: Uri) -> Response {
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
fn request_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> &'a str {
    headers.get(header::HOST).and_then(|v| v.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str())).unwrap_or("")
}

/// Whether a browser page at `origin` may open the socket: same host, or allow-listed.
/// Requests without `Origin` are not from a browser page and cannot be cross-site attacks.
fn origin_allowed(headers: &HeaderMap, host: &str, config: &Config) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if config.allowed_origins.iter().any(|o| o.trim_end_matches('/') == origin) {
        return true;
    }
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    !host.is_empty() && origin_host == host
}

async fn ws_upgrade(ws: WebSocketUpgrade, headers: HeaderMap, uri: Uri, State(state): State<AppState>) -> Response {
    if !origin_allowed(&headers, request_host(&headers, &uri), &state.config) {
        tracing::warn!(origin = ?headers.get(header::ORIGIN), "websocket from a foreign origin refused");
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
                tracing::warn!("connection limit reached");
                let frame = CloseFrame { code: close::TRY_AGAIN_LATER, reason: "server is full".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                return;
            };
            let write_timeout = std::time::Duration::from_secs_f64(state.config.slow_client_secs);
            ws::serve_socket(sink, stream, state.hub, state.shutdown, write_timeout, host).await;
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(origin: Option<&str>, host: &str, config: &Config) -> bool {
        let mut h = HeaderMap::new();
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        origin_allowed(&h, host, config)
    }

    #[test]
    fn origins() {
        let mut config = Config::default();
        assert!(allowed(Some("http://localhost:3000"), "localhost:3000", &config));
        assert!(allowed(Some("https://noom.test:3443"), "noom.test:3443", &config));
        assert!(allowed(None, "localhost:3000", &config));
        assert!(!allowed(Some("http://evil.example"), "localhost:3000", &config));
        assert!(!allowed(Some("http://localhost:3001"), "localhost:3000", &config));
        assert!(!allowed(Some("http://localhost:3000"), "", &config));
        config.allowed_origins = vec!["https://meet.example.com/".into()];
        assert!(allowed(Some("https://meet.example.com"), "10.0.0.5:3000", &config));
    }

    #[test]
    fn the_host_is_read_from_the_host_header_or_the_http2_authority() {
        let uri: Uri = "https://noom.test:3443/ws".parse().unwrap();
        assert_eq!(request_host(&HeaderMap::new(), &uri), "noom.test:3443");
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "a.example:1".parse().unwrap());
        assert_eq!(request_host(&h, &"/ws".parse().unwrap()), "a.example:1");
    }

    #[test]
    fn redirects_keep_the_host_and_refuse_what_is_not_a_host() {
        assert_eq!(host_without_port("meet.example.com:80"), Some("meet.example.com"));
        assert_eq!(host_without_port("meet.example.com"), Some("meet.example.com"));
        assert_eq!(host_without_port("203.0.113.9:8080"), Some("203.0.113.9"));
        assert_eq!(host_without_port("[2001:db8::1]:80"), Some("[2001:db8::1]"));
        assert_eq!(host_without_port("evil.example/x?"), None);
        assert_eq!(host_without_port("a@b"), None);
        assert_eq!(host_without_port(""), None);
    }

    #[tokio::test]
    async fn health_says_503_once_the_hub_has_stopped() {
        let (hub, inbox) = HubHandle::unserved(4);
        let (store, _replies) = StoreHandle::in_memory();
        let (_tx, shutdown) = watch::channel(false);
        let state = AppState {
            leptos_options: LeptosOptions::builder().output_name("noom").build(),
            hub,
            store,
            config: Arc::new(Config::default()),
            connections: Arc::new(Semaphore::new(1)),
            shutdown,
            sfu_stats: None,
            hsts: false,
        };
        let status = |r: Response| r.status();
        assert_eq!(status(healthz(State(state.clone())).await), StatusCode::OK);
        drop(inbox); // the hub's thread ended
        let down = healthz(State(state)).await;
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(down.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"hub stopped");
    }
}
