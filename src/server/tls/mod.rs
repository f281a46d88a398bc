//! HTTPS in the binary: which certificate, reloading it, and handshakes that cannot hold
//! anyone up.
//!
//! Why Noom serves TLS itself: browsers give camera, microphone and screen capture only to
//! a secure context (`https://`, or `http://localhost`), so a meeting server others reach
//! must be HTTPS, and an operator should not need to know to put a proxy in front. Three
//! sources of a certificate, chosen by [`Config::tls_mode`](super::Config::tls_mode):
//! - **files** (`--tls-cert`/`--tls-key`, PEM): checked at start-up (readable, a key that
//!   matches, not expired: otherwise start-up stops with the path and the reason), and
//!   looked at again before each handshake (two `stat`s): a renewal that replaced them is
//!   served from the next connection on, without a restart. Files caught half-written
//!   (a new certificate beside the old key) are skipped and retried when they change again;
//!   the certificate in use stays.
//! - **self-signed**, when nothing else is given and the server listens beyond loopback:
//!   made once for the machine's names and addresses, kept in `<data-dir>/tls/`, and made
//!   anew only when a name is missing or it nears its end. Its SHA-256 fingerprint is
//!   logged so people can compare it with what their browser shows.
//! - **ACME** (`--acme NAME`): obtained and renewed by the server itself from Let's
//!   Encrypt or another ACME CA (see [`super::acme`]). Start-up never waits for the CA: the
//!   certificate kept in `<data-dir>/acme/` is served if still valid, else a temporary
//!   self-signed one, and the CA's certificate is swapped in when it arrives. The
//!   TLS-ALPN-01 challenge is answered here, in [`Certificates::resolve`].
//! - **plain HTTP** on loopback (development, `scripts/run.sh`) or with `--plain-http`
//!   (a reverse proxy terminates TLS).
//!
//! Why handshakes are not done in the accept loop: a client that opens TCP and never
//! finishes (or sends garbage) would stall everyone behind it. [`listener`] accepts, then
//! hands each handshake to its own task with a deadline ([`HANDSHAKE_TIMEOUT`]); at most
//! [`MAX_PENDING_HANDSHAKES`] are in flight (beyond that a new socket is closed at once,
//! so a flood costs the attacker a TCP connection each and the server a few bytes).
//! Finished streams go to axum's `serve` through a channel, HTTP/1.1 or HTTP/2 by ALPN.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::acme::{self, AcmeSettings, Challenges, ACME_TLS_ALPN};

mod listener;
pub use super::certs::*;
pub use listener::{listener, TlsListener};

/// How long a client may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in flight at once; a socket beyond them is closed unanswered.
pub const MAX_PENDING_HANDSHAKES: usize = 4096;


/// What the server speaks on `--addr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain HTTP: loopback, or `--plain-http`.
    Plain,
    /// The certificate and key in these PEM files (`--tls-cert`, `--tls-key`).
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate for these names and addresses, kept in `dir`.
    SelfSigned { dir: PathBuf, names: Vec<String> },
    /// A certificate obtained and renewed over ACME (`--acme`).
    Acme(AcmeSettings),
}

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp { modified: meta.modified().ok(), len: meta.len(), inode })
}

/// Certificate files to look at again before each handshake.
struct Watched {
    cert: PathBuf,
    key: PathBuf,
    /// The versions last loaded (or last tried: a broken pair is not tried again until
    /// one of the files changes).
    seen: Mutex<(Option<Stamp>, Option<Stamp>)>,
}

/// The certificate every handshake gets (rustls asks it per ClientHello).
pub struct Certificates {
    current: RwLock<Arc<CertifiedKey>>,
    watched: Option<Watched>,
    /// With ACME: the TLS-ALPN-01 challenge certificates being asked for.
    challenges: Option<Arc<Challenges>>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates").finish_non_exhaustive()
    }
}

impl Certificates {
    fn fixed(loaded: &Loaded) -> Certificates {
        expiry_metric(loaded);
        Certificates { current: RwLock::new(loaded.key.clone()), watched: None, challenges: None }
    }

    fn files(loaded: &Loaded, cert: PathBuf, key: PathBuf) -> Certificates {
        let seen = Mutex::new((stamp(&cert), stamp(&key)));
        expiry_metric(loaded);
        Certificates { current: RwLock::new(loaded.key.clone()), watched: Some(Watched { cert, key, seen }), challenges: None }
    }

    fn acme(loaded: &Loaded, challenges: Arc<Challenges>) -> Certificates {
        expiry_metric(loaded);
        Certificates { current: RwLock::new(loaded.key.clone()), watched: None, challenges: Some(challenges) }
    }

    /// Serve `loaded` from the next handshake on (a certificate the ACME CA just issued).
    pub fn install(&self, loaded: &Loaded) {
        expiry_metric(loaded);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = loaded.key.clone();
    }

    /// If the certificate files changed since they were last read, load them; the
    /// certificate in use stays if they cannot be.
    pub fn refresh(&self) {
        let Some(w) = &self.watched else { return };
        let now = (stamp(&w.cert), stamp(&w.key));
        {
            let mut seen = w.seen.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == now {
                return;
            }
            *seen = now;
        }
        match load_pair(&w.cert, &w.key, SystemTime::now()) {
            Ok(loaded) => {
                tracing::info!(fingerprint = %loaded.fingerprint, expires = %date(loaded.not_after), "new certificate loaded from {}", w.cert.display());
                self.install(&loaded);
            }
            Err(e) => tracing::warn!("certificate files changed but cannot be used yet, keeping the current one: {e}"),
        }
    }
}

/// The expiry of the certificate being served, for `/metrics` (alert on it).
fn expiry_metric(loaded: &Loaded) {
    metrics::gauge!("noom_tls_certificate_expiry_timestamp_seconds").set(loaded.not_after as f64);
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // An ACME CA validating TLS-ALPN-01 offers `acme-tls/1` and nothing else (RFC 8737):
        // it gets the challenge certificate for the name it asks for, or no handshake.
        // Browsers never offer `acme-tls/1`, so they always get the certificate in use.
        if let Some(challenges) = &self.challenges {
            let mut offered = hello.alpn().into_iter().flatten();
            if offered.next() == Some(ACME_TLS_ALPN) && offered.next().is_none() {
                return challenges.tls_alpn(hello.server_name());
            }
        }
        Some(self.current.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// The server side of TLS: the acceptor and its certificates.
pub struct Tls {
    acceptor: TlsAcceptor,
    certificates: Arc<Certificates>,
    /// What the certificate is: the logs and HSTS depend on it.
    pub loaded: Loaded,
    /// A certificate browsers trust by themselves (not self-signed): send HSTS. ACME
    /// certificates are, even while a temporary self-signed one stands in at first
    /// (browsers ignore HSTS from a connection whose certificate they do not trust).
    pub trusted: bool,
    /// With ACME: what the certificate manager starts from ([`Tls::start_acme`]).
    pub acme: Option<AcmeStart>,
}

/// What an ACME server starts with.
pub struct AcmeStart {
    pub settings: AcmeSettings,
    pub challenges: Arc<Challenges>,
    /// The certificate kept in the data dir, if it was still usable (else a temporary
    /// self-signed one is being served).
    pub kept: Option<Loaded>,
}

impl Tls {
    /// TLS for `mode` (`None` for plain HTTP). The error stops start-up.
    pub fn new(mode: &TlsMode, now: SystemTime) -> Result<Option<Tls>, CertError> {
        let mut acme_start = None;
        let (certificates, loaded, trusted) = match mode {
            TlsMode::Plain => return Ok(None),
            TlsMode::Files { cert, key } => {
                let loaded = load_pair(cert, key, now)?;
                (Certificates::files(&loaded, cert.clone(), key.clone()), loaded, true)
            }
            TlsMode::SelfSigned { dir, names } => {
                let loaded = self_signed(dir, names, now)?;
                (Certificates::fixed(&loaded), loaded, false)
            }
            TlsMode::Acme(settings) => {
                let settings = settings.checked().map_err(CertError::Acme)?;
                let kept = acme::kept(&settings, now);
                let loaded = match &kept {
                    Some(kept) => kept.clone(),
                    None => temporary_self_signed(&settings.names, now)?,
                };
                let challenges = Arc::new(Challenges::default());
                let certificates = Certificates::acme(&loaded, challenges.clone());
                acme_start = Some(AcmeStart { settings, challenges, kept });
                (certificates, loaded, true)
            }
        };
        let certificates = Arc::new(certificates);
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the aws-lc-rs provider supports the default TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(certificates.clone());
        // rustls takes the first of these the client also offers: browsers get h2 or
        // http/1.1, and only a client offering `acme-tls/1` alone (a CA validating) gets it.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        if acme_start.is_some() {
            config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
        }
        Ok(Some(Tls { acceptor: TlsAcceptor::from(Arc::new(config)), certificates, loaded, trusted, acme: acme_start }))
    }

    /// With ACME: start the task that obtains and renews the certificate (it ends when
    /// `shutdown` turns true).
    pub fn start_acme(&self, shutdown: tokio::sync::watch::Receiver<bool>) {
        if let Some(start) = &self.acme {
            let manager = acme::Manager::new(start.settings.clone(), self.installer(), start.challenges.clone(), start.kept.clone());
            tokio::spawn(manager.run(shutdown));
        }
    }

    /// What ACME calls with each certificate it obtains: the resolver serves it from the
    /// next handshake on.
    fn installer(&self) -> acme::Install {
        let certificates = self.certificates.clone();
        Arc::new(move |loaded| certificates.install(loaded))
    }

    /// The TLS settings (certificate resolver included), for TURN over TLS.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.acceptor.config().clone()
    }

    /// One handshake, with the certificate files looked at first.
    pub async fn accept(&self, stream: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        self.certificates.refresh();
        self.acceptor.accept(stream).await
    }
}

#[cfg(test)]
mod tests;
