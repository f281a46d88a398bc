//! Server configuration: command-line flags, each also settable by an environment variable.

use std::net::SocketAddr;

use clap::Parser;

/// Noom: a self-hosted meeting app.
#[derive(Debug, Clone, Parser)]
#[command(name = "noom", version, about)]
pub struct Config {
    /// Address and port to listen on (the default matches `cargo leptos watch`).
    #[arg(long, env = "NOOM_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Log filter, e.g. `info`, `debug`, `noom=debug,tower_http=info`.
    #[arg(long, env = "NOOM_LOG", default_value = "info")]
    pub log: String,

    /// Extra origins allowed to open the WebSocket (comma-separated or repeated), e.g.
    /// `https://meet.example.com` when Noom runs behind a proxy on another host name.
    /// Same-origin pages are always allowed.
    #[arg(long = "allow-origin", env = "NOOM_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Most WebSocket connections served at once; more are closed with 1013 (try again later).
    #[arg(long, env = "NOOM_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["noom"])
    }
}
