//! How the load tools open a WebSocket: `ws://`, or `wss://` trusting the certificate in
//! `NOOM_BENCH_CA` (a PEM file, e.g. the server's `<data-dir>/tls/self-signed.crt`).

#![allow(dead_code)] // each tool uses part of it
use std::sync::{Arc, OnceLock};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type Ws = WebSocketStream<Box<dyn Io>>;

/// A client configuration that trusts `NOOM_BENCH_CA`; `resume: false` makes every
/// handshake a full one.
pub fn tls_client(resume: bool) -> Arc<rustls::ClientConfig> {
    let path = std::env::var("NOOM_BENCH_CA").expect("wss:// needs NOOM_BENCH_CA=<certificate to trust>");
    let pem = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("a PEM certificate")).expect("a usable certificate");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Arc::new(config)
}

/// Open `url` (`ws://` or `wss://host:port/ws`).
pub async fn connect(url: &str, config: Option<WebSocketConfig>) -> Result<Ws, String> {
    static TLS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let (tls, rest) = match url.split_once("://") {
        Some(("wss", rest)) => (true, rest),
        Some((_, rest)) => (false, rest),
        None => return Err(format!("not a URL: {url}")),
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h).to_string();
    let tcp = tokio::net::TcpStream::connect(authority).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let io: Box<dyn Io> = if tls {
        let config = TLS.get_or_init(|| tls_client(true)).clone();
        let name = rustls::pki_types::ServerName::try_from(host).map_err(|e| e.to_string())?;
        Box::new(tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| e.to_string())?)
    } else {
        Box::new(tcp)
    };
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, io, config).await.map_err(|e| e.to_string())?;
    Ok(ws)
}
