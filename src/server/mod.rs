//! The server: HTTP routes, the WebSocket endpoint and graceful shutdown (feature `ssr`).

pub mod acme;
pub mod certs;
pub mod config;
pub(crate) mod edge;
pub mod headers;
pub mod ice;
pub mod hub;
pub mod metrics;
pub mod password;
pub mod runtime;
pub mod sfu;
pub mod store;
pub mod tls;
pub mod turn;
pub mod wire;
pub mod ws;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use axum::serve::ListenerExt;
use axum::Router;
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::sync::{watch, Semaphore};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::app::{shell, App};
pub use config::{Config, StoreKind};
use edge::{acme_http_challenge, redirect_to_https, ws_upgrade, PlainHttp};
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
        router = router.route("/metrics", get(metrics_page));
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
        let metrics_only = Router::new().route("/metrics", get(metrics_page)).with_state(state.clone());
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

/// `GET /metrics` (see `metrics.rs`).
async fn metrics_page(State(state): State<AppState>) -> impl IntoResponse {
    if let Some(sfu) = &state.sfu_stats {
        sfu.publish();
    }
    let open = state.config.max_connections.saturating_sub(state.connections.available_permits());
    metrics::render(open, state.hub.queue_depth())
}

#[cfg(test)]
mod tests;
