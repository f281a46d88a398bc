//! Server configuration: command-line flags, each also settable by an environment variable.

use std::net::SocketAddr;

use clap::Parser;

use std::sync::Arc;

use crate::protocol::IceServer;
use crate::server::ice::{IceConfig, RestTurn};

/// Noom: a self-hosted meeting app.
#[derive(Debug, Clone, Parser)]
#[command(name = "noom", version, about)]
pub struct Config {
    /// Address and port to listen on (default: `site-addr` in Leptos.toml, 127.0.0.1:3000,
    /// as `cargo leptos watch` expects).
    #[arg(long, env = "NOOM_ADDR")]
    pub addr: Option<SocketAddr>,

    /// HTTPS: the certificate chain (PEM) to serve on `--addr`, with `--tls-key`. The files
    /// are looked at again before each handshake: a renewed certificate is served from the
    /// next connection on, without a restart.
    #[arg(long, env = "NOOM_TLS_CERT", requires = "tls_key", conflicts_with = "plain_http")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// HTTPS: the private key (PEM) of `--tls-cert`.
    #[arg(long, env = "NOOM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// Plain HTTP even beyond loopback: for a reverse proxy that terminates TLS in front.
    /// (Without it, a server listening beyond loopback with no certificate serves HTTPS with
    /// a self-signed one: browsers give calls camera and microphone only over HTTPS.)
    #[arg(long, env = "NOOM_PLAIN_HTTP")]
    pub plain_http: bool,

    /// HTTPS with a self-signed certificate even on a loopback address (tests, and a
    /// machine whose name others map to it by hand).
    #[arg(long, env = "NOOM_SELF_SIGNED", conflicts_with_all = ["plain_http", "tls_cert"])]
    pub self_signed: bool,

    /// More names or addresses for the self-signed certificate (comma-separated or
    /// repeated), e.g. the server's name on the LAN. The machine's host name, `localhost`,
    /// its addresses and `--rtc-public-ip` are always in it.
    #[arg(long = "tls-name", env = "NOOM_TLS_NAMES", value_delimiter = ',')]
    pub tls_names: Vec<String>,

    /// Also listen for plain HTTP here (e.g. `0.0.0.0:80`) and redirect every request to
    /// HTTPS on `--addr`. With `--acme`, the CA's HTTP-01 challenge is answered here.
    #[arg(long, env = "NOOM_HTTP_REDIRECT_ADDR")]
    pub http_redirect_addr: Option<SocketAddr>,

    /// HTTPS with a certificate Noom obtains and renews itself over ACME (Let's Encrypt
    /// unless `--acme-directory` says otherwise) for this domain name or IP address
    /// (repeatable / comma-separated). The CA must reach this server: on port 443 (`--addr`,
    /// TLS-ALPN-01), or on port 80 when `--http-redirect-addr` is given (HTTP-01). The
    /// account and certificate are kept in `<data-dir>/acme/`.
    #[arg(long = "acme", env = "NOOM_ACME", value_name = "NAME", value_delimiter = ',', value_parser = crate::server::acme::parse_name,
          conflicts_with_all = ["tls_cert", "plain_http", "self_signed"])]
    pub acme: Vec<String>,

    /// ACME: a contact address for the CA (account and policy notices).
    #[arg(long, env = "NOOM_ACME_EMAIL", value_name = "EMAIL", requires = "acme")]
    pub acme_email: Option<String>,

    /// ACME: the CA's directory URL. Let's Encrypt's staging CA, for trying things out:
    /// https://acme-staging-v02.api.letsencrypt.org/directory
    #[arg(long, env = "NOOM_ACME_DIRECTORY", value_name = "URL", default_value = crate::server::acme::LETS_ENCRYPT)]
    pub acme_directory: String,

    /// ACME: trust only the CA certificates in this PEM file for the directory's HTTPS
    /// (a test or private CA), instead of the system's.
    #[arg(long, env = "NOOM_ACME_CA_CERT", value_name = "FILE", requires = "acme")]
    pub acme_ca_cert: Option<std::path::PathBuf>,

    /// Serve `/metrics` (Prometheus) on this address only, e.g. `127.0.0.1:9100`, instead
    /// of on the main address (where anyone who reaches the site could read it).
    #[arg(long, env = "NOOM_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// The Leptos settings file (site root, output name, address).
    #[arg(long, env = "NOOM_LEPTOS_TOML", default_value = "Leptos.toml")]
    pub leptos_toml: std::path::PathBuf,

    /// Log filter, e.g. `info`, `debug`, `noom=debug,tower_http=info`.
    #[arg(long, env = "NOOM_LOG", default_value = "info")]
    pub log: String,

    /// How log lines are written: `text` for people, `json` (one object per line) for log
    /// collectors.
    #[arg(long, env = "NOOM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Extra origins allowed to open the WebSocket (comma-separated or repeated), e.g.
    /// `https://meet.example.com` when Noom runs behind a proxy on another host name.
    /// Same-origin pages are always allowed.
    #[arg(long = "allow-origin", env = "NOOM_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Where the chat history is kept (created if missing; the SQLite file inside it).
    #[arg(long, env = "NOOM_DATA_DIR", default_value = "data")]
    pub data_dir: std::path::PathBuf,

    /// Where chat history lives: `sqlite` (on disk, in `--data-dir`) or `memory` (gone when
    /// the server stops; for benchmarks and throwaway servers).
    #[arg(long, env = "NOOM_STORE", value_enum, default_value_t = StoreKind::Sqlite)]
    pub store: StoreKind,

    /// Chat messages older than this many days are deleted (0: kept forever).
    #[arg(long, env = "NOOM_HISTORY_DAYS", default_value_t = 30)]
    pub history_days: u32,

    /// A room keeps at most this many messages; older ones beyond it are deleted once they
    /// are a day old (0: no cap).
    #[arg(long, env = "NOOM_HISTORY_MAX_PER_ROOM", default_value_t = 10_000)]
    pub history_max_per_room: u64,

    /// Most WebSocket connections served at once; more are closed with 1013 (try again later).
    #[arg(long, env = "NOOM_MAX_CONNECTIONS", default_value_t = 50_000)]
    pub max_connections: usize,

    /// A client whose socket takes no frame for this many seconds is not reading (gone or
    /// stuck) and is dropped (1008). One merely behind a busy server is caught up instead.
    #[arg(long, env = "NOOM_SLOW_CLIENT_SECS", default_value_t = 10.0)]
    pub slow_client_secs: f64,

    /// Serve the `.br`/`.gz` files that `scripts/precompress.mjs` makes next to the built
    /// WASM, JS and CSS (brotli 11: a fifth smaller than compressing on the fly). Off for
    /// `cargo leptos watch`, whose rebuilds would leave them stale.
    #[arg(long, env = "NOOM_PRECOMPRESSED")]
    pub precompressed: bool,

    /// STUN server URLs handed to browsers for calls (comma-separated or repeated).
    #[arg(long, env = "NOOM_STUN", value_delimiter = ',', default_value = "stun:stun.l.google.com:19302")]
    pub stun: Vec<String>,

    /// Hand out no STUN server (loopback tests, or a TURN-only deployment).
    #[arg(long, env = "NOOM_NO_STUN")]
    pub no_stun: bool,

    /// The built-in TURN server's address, UDP and TCP (on by default when the SFU runs).
    #[arg(long, env = "NOOM_TURN_ADDR", default_value = "0.0.0.0:3478")]
    pub turn_addr: SocketAddr,

    /// TURN over TLS for the built-in server, with the HTTPS certificate (e.g.
    /// `0.0.0.0:5349`, or 443 on a second address): for networks that let only TLS out.
    #[arg(long, env = "NOOM_TURN_TLS_ADDR")]
    pub turn_tls_addr: Option<SocketAddr>,

    /// No built-in TURN server.
    #[arg(long, env = "NOOM_NO_TURN")]
    pub no_turn: bool,

    /// The TURN REST secret: the built-in server checks credentials with it (default: a
    /// random one per start), and with `--turn-url` an external TURN server (coturn's
    /// `use-auth-secret` / `static-auth-secret`) gets credentials made from it.
    #[arg(long, env = "NOOM_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,

    /// Seconds a TURN credential may open new relays (an open relay may be refreshed after).
    #[arg(long, env = "NOOM_TURN_TTL", default_value_t = 3600)]
    pub turn_ttl: u64,

    /// Let the built-in TURN server relay to loopback and private addresses (tests on one
    /// machine, a server only for its own LAN). Otherwise it relays only to public
    /// addresses and Noom's own.
    #[arg(long, env = "NOOM_TURN_ALLOW_PRIVATE")]
    pub turn_allow_private: bool,

    /// Relays the built-in TURN server holds at once.
    #[arg(long, env = "NOOM_TURN_MAX_ALLOCATIONS", default_value_t = 5000)]
    pub turn_max_allocations: usize,

    /// `relay`: browsers send all media through TURN, so nobody learns another person's
    /// address (costs the server the relayed bandwidth). `all`: direct when possible.
    #[arg(long, env = "NOOM_ICE_TRANSPORT_POLICY", value_enum, default_value_t = IceTransportPolicy::All)]
    pub ice_transport_policy: IceTransportPolicy,

    /// Other TURN servers (comma-separated or repeated), e.g. `turn:turn.example.com:3478`.
    #[arg(long, env = "NOOM_TURN_URL", value_delimiter = ',')]
    pub turn_url: Vec<String>,

    /// A static username for `--turn-url` (prefer `--turn-secret`: a static credential
    /// shown to every browser lets anyone use that TURN server).
    #[arg(long, env = "NOOM_TURN_USERNAME", requires = "turn_url", conflicts_with = "turn_secret")]
    pub turn_username: Option<String>,

    /// The static credential for `--turn-url`.
    #[arg(long, env = "NOOM_TURN_CREDENTIAL", requires = "turn_url", conflicts_with = "turn_secret")]
    pub turn_credential: Option<String>,

    /// Most people in one call; the next one is told "This call is full (N)".
    #[arg(long, env = "NOOM_MAX_CALL_SIZE", default_value_t = crate::limits::DEFAULT_MAX_CALL_SIZE)]
    pub max_call_size: usize,

    /// Largest call kept peer to peer (a full mesh); when one more joins, the call moves to
    /// the server's SFU by itself. 0 puts every call on the SFU.
    #[arg(long, env = "NOOM_P2P_MAX", default_value_t = crate::limits::DEFAULT_P2P_MAX)]
    pub p2p_max: usize,

    /// Most people in SFU calls on this server, all calls together; the next one is told
    /// the media server is full.
    #[arg(long, env = "NOOM_SFU_MAX_PARTICIPANTS", default_value_t = crate::limits::DEFAULT_SFU_MAX_PARTICIPANTS)]
    pub sfu_max_participants: usize,

    /// Most media one participant may send to the SFU (kbit/s, all tracks together). Video
    /// beyond it is dropped at the server and the sender is told; audio always passes.
    /// 0 turns the limit off.
    #[arg(long, env = "NOOM_MAX_PUBLISH_KBPS", default_value_t = crate::limits::DEFAULT_MAX_PUBLISH_KBPS)]
    pub max_publish_kbps: u32,

    /// The UDP address of the SFU: all call media of SFU calls goes through this one port.
    #[arg(long, env = "NOOM_RTC_UDP_ADDR", default_value = "0.0.0.0:3479")]
    pub rtc_udp_addr: SocketAddr,

    /// The SFU's ICE-TCP port, for browsers whose network blocks UDP (default: the UDP
    /// port's number, over TCP).
    #[arg(long, env = "NOOM_RTC_TCP_ADDR")]
    pub rtc_tcp_addr: Option<SocketAddr>,

    /// No ICE-TCP listener: the SFU takes UDP only.
    #[arg(long, env = "NOOM_NO_RTC_TCP", conflicts_with = "rtc_tcp_addr")]
    pub no_rtc_tcp: bool,

    /// The address browsers should send media to, when it is not one of the machine's own
    /// (behind NAT, in a container). Comma-separated or repeated.
    #[arg(long, env = "NOOM_RTC_PUBLIC_IP", value_delimiter = ',')]
    pub rtc_public_ip: Vec<std::net::IpAddr>,
}

/// Which chat store backs the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Which ICE candidates browsers may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IceTransportPolicy {
    All,
    Relay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    Sqlite,
    Memory,
}

impl Config {
    /// What browsers are told about ICE servers, given the built-in TURN server (if it
    /// runs) and the secret its credentials are made with.
    pub fn ice(&self, builtin: Option<&crate::server::turn::TurnHandle>, secret: &Arc<Vec<u8>>) -> IceConfig {
        let stun: Vec<String> = self.stun.iter().filter(|u| !u.is_empty() && !self.no_stun).cloned().collect();
        let mut rest_turn = Vec::new();
        if let Some(turn) = builtin {
            let mut urls = Vec::new();
            urls.extend(turn.udp.map(|a| format!("turn:{{host}}:{}?transport=udp", a.port())));
            urls.extend(turn.tcp.map(|a| format!("turn:{{host}}:{}?transport=tcp", a.port())));
            urls.extend(turn.tls.map(|a| format!("turns:{{host}}:{}?transport=tcp", a.port())));
            rest_turn.push(RestTurn { urls, secret: secret.clone(), ttl: self.turn_ttl });
        }
        let mut static_turn = None;
        if !self.turn_url.is_empty() {
            if self.turn_secret.is_some() {
                rest_turn.push(RestTurn { urls: self.turn_url.clone(), secret: secret.clone(), ttl: self.turn_ttl });
            } else {
                static_turn = Some(IceServer {
                    urls: self.turn_url.clone(),
                    username: self.turn_username.clone(),
                    credential: self.turn_credential.clone(),
                });
            }
        }
        IceConfig { stun, static_turn, rest_turn, relay_only: self.ice_transport_policy == IceTransportPolicy::Relay }
    }

    /// The TURN REST secret: `--turn-secret`, or random (the built-in server's only).
    pub fn turn_secret_bytes(&self) -> Arc<Vec<u8>> {
        match &self.turn_secret {
            Some(s) => Arc::new(s.as_bytes().to_vec()),
            None => {
                let mut random = vec![0u8; 32];
                getrandom::fill(&mut random).expect("the OS random number generator");
                Arc::new(random)
            }
        }
    }
}

impl Config {
    /// What the server speaks on `addr`: HTTPS with a certificate from ACME or the given
    /// files, plain HTTP on loopback or when asked, else HTTPS with a self-signed
    /// certificate kept in the data dir.
    pub fn tls_mode(&self, addr: SocketAddr) -> crate::server::tls::TlsMode {
        use crate::server::acme::{AcmeSettings, ChallengeKind};
        use crate::server::tls::{machine_names, TlsMode};
        if !self.acme.is_empty() {
            return TlsMode::Acme(AcmeSettings {
                names: self.acme.clone(),
                email: self.acme_email.clone(),
                directory: self.acme_directory.clone(),
                ca_cert: self.acme_ca_cert.clone(),
                dir: self.data_dir.join("acme"),
                // A CA reaches HTTP-01 on port 80: only where Noom has a plain-HTTP port.
                challenge: if self.http_redirect_addr.is_some() { ChallengeKind::Http01 } else { ChallengeKind::TlsAlpn01 },
            });
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            return TlsMode::Files { cert: cert.clone(), key: key.clone() };
        }
        if self.plain_http || (addr.ip().is_loopback() && !self.self_signed) {
            return TlsMode::Plain;
        }
        let mut extra = self.tls_names.clone();
        extra.extend(self.rtc_public_ip.iter().map(|ip| ip.to_string()));
        TlsMode::SelfSigned { dir: self.data_dir.join("tls"), names: machine_names(addr, &extra) }
    }

    /// How long chat history is kept.
    pub fn retention(&self) -> crate::server::store::Retention {
        crate::server::store::Retention { days: self.history_days, max_per_room: self.history_max_per_room }
    }

    /// Where the SFU listens and what it announces.
    pub fn sfu(&self) -> crate::server::sfu::SfuConfig {
        crate::server::sfu::SfuConfig {
            udp_addr: self.rtc_udp_addr,
            tcp_addr: if self.no_rtc_tcp { None } else { Some(self.rtc_tcp_addr.unwrap_or(self.rtc_udp_addr)) },
            public_ips: self.rtc_public_ip.clone(),
            max_publish_kbps: self.max_publish_kbps,
        }
    }
}

impl Config {
    /// The site's Leptos settings from `--leptos-toml` (LEPTOS_* variables override them),
    /// with `--addr` if given. The error says which file and why.
    pub fn leptos_options(&self) -> Result<leptos::prelude::LeptosOptions, String> {
        let path = self.leptos_toml.display();
        let text = std::fs::read_to_string(&self.leptos_toml)
            .map_err(|e| format!("cannot read the Leptos settings {path}: {e} (run from the project directory or pass --leptos-toml)"))?;
        let mut options = leptos::config::get_config_from_str(&text).map_err(|e| format!("bad Leptos settings in {path}: {e}"))?;
        if let Some(addr) = self.addr {
            options.site_addr = addr;
        }
        Ok(options)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["noom"])
    }
}

#[cfg(test)]
mod tests;
