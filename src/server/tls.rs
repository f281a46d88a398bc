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

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::Digest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::acme::{self, AcmeSettings, Challenges, ACME_TLS_ALPN};

/// How long a client may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in flight at once; a socket beyond them is closed unanswered.
pub const MAX_PENDING_HANDSHAKES: usize = 4096;

/// A self-signed certificate lives this long: 825 days is the most Apple's systems accept
/// for a TLS server certificate, even one the user trusted by hand.
const SELF_SIGNED_DAYS: i64 = 825;

/// A self-signed certificate this close to its end is made anew at start-up.
const RENEW_BEFORE_DAYS: i64 = 30;

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

/// Why a certificate could not be used. Each says which file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: no PEM certificate in it ({reason})")]
    NoCertificate { path: PathBuf, reason: String },
    #[error("{path}: no PEM private key in it ({reason})")]
    NoKey { path: PathBuf, reason: String },
    #[error("{path}: this kind of private key is not supported ({reason})")]
    UnsupportedKey { path: PathBuf, reason: String },
    #[error("{key} is not the key of the certificate in {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("{path}: the certificate cannot be parsed ({reason})")]
    Unparsable { path: PathBuf, reason: String },
    #[error("{path}: the certificate expired on {when}")]
    Expired { path: PathBuf, when: String },
    #[error("{path}: the certificate is valid only from {when}")]
    NotYetValid { path: PathBuf, when: String },
    #[error("cannot make a self-signed certificate in {dir}: {reason}")]
    SelfSigned { dir: PathBuf, reason: String },
    #[error("--acme: {0}")]
    Acme(String),
}

/// A certificate ready to serve, with what the logs say of it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub key: Arc<CertifiedKey>,
    /// SHA-256 of the leaf certificate, `AB:CD:…`, as browsers show it.
    pub fingerprint: String,
    /// The names and addresses it is for.
    pub names: Vec<String>,
    /// Seconds since the Unix epoch from which it is valid.
    pub not_before: i64,
    /// Seconds since the Unix epoch at which it expires.
    pub not_after: i64,
}

impl Loaded {
    /// Whether it is for every one of `names`.
    pub fn covers(&self, names: &[String]) -> bool {
        names.iter().all(|n| self.names.iter().any(|m| m.eq_ignore_ascii_case(n)))
    }
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    // Explicit: more than one rustls provider may be compiled in (str0m brings aws-lc-rs),
    // and rustls refuses to guess a process-wide default then.
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

pub(crate) fn unix_now(now: SystemTime) -> i64 {
    now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub(crate) fn date(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(|t| format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute()))
        .unwrap_or_else(|_| secs.to_string())
}

/// The SHA-256 fingerprint of a DER certificate, as colon-separated upper-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    sha2::Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Load and check a certificate chain and its key, as of `now`.
pub fn load_pair(cert: &Path, key: &Path, now: SystemTime) -> Result<Loaded, CertError> {
    let cert_pem = std::fs::read(cert).map_err(|source| CertError::Read { path: cert.into(), source })?;
    let key_pem = std::fs::read(key).map_err(|source| CertError::Read { path: key.into(), source })?;
    parse_pair(&cert_pem, &key_pem, cert, key, now)
}

/// Check a PEM certificate chain and its PEM key, as of `now`; the paths are what errors
/// name them (where they were read from, or are about to be written to).
pub fn parse_pair(cert_pem: &[u8], key_pem: &[u8], cert: &Path, key: &Path, now: SystemTime) -> Result<Loaded, CertError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| CertError::NoCertificate { path: cert.into(), reason: e.to_string() })?;
    if chain.is_empty() {
        return Err(CertError::NoCertificate { path: cert.into(), reason: "the file holds no CERTIFICATE block".into() });
    }
    let private = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| CertError::NoKey { path: key.into(), reason: e.to_string() })?;
    let signer = provider()
        .key_provider
        .load_private_key(private)
        .map_err(|e| CertError::UnsupportedKey { path: key.into(), reason: e.to_string() })?;
    let (not_before, not_after, names) = describe(&chain[0]).map_err(|reason| CertError::Unparsable { path: cert.into(), reason })?;
    let certified = CertifiedKey::new(chain, signer);
    if certified.keys_match().is_err() {
        return Err(CertError::Mismatch { cert: cert.into(), key: key.into() });
    }
    let now = unix_now(now);
    if not_after < now {
        return Err(CertError::Expired { path: cert.into(), when: date(not_after) });
    }
    if not_before > now {
        return Err(CertError::NotYetValid { path: cert.into(), when: date(not_before) });
    }
    let fingerprint = fingerprint(certified.end_entity_cert().map(|c| c.as_ref()).unwrap_or_default());
    Ok(Loaded { key: Arc::new(certified), fingerprint, names, not_before, not_after })
}

/// A certificate's validity (Unix seconds) and the names and addresses it covers.
fn describe(der: &CertificateDer<'_>) -> Result<(i64, i64, Vec<String>), String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let validity = cert.validity();
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => names.push(n.to_string()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => names.push(IpAddr::from(<[u8; 4]>::try_from(*bytes).unwrap_or_default()).to_string()),
                    16 => names.push(IpAddr::from(<[u8; 16]>::try_from(*bytes).unwrap_or_default()).to_string()),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok((validity.not_before.timestamp(), validity.not_after.timestamp(), names))
}

/// The self-signed certificate in `dir` for `names`: the one kept there if it still
/// covers every name and is not near its end, else a new one (written there first).
pub fn self_signed(dir: &Path, names: &[String], now: SystemTime) -> Result<Loaded, CertError> {
    let (cert, key) = (dir.join("self-signed.crt"), dir.join("self-signed.key"));
    if cert.exists() && key.exists() {
        match load_pair(&cert, &key, now) {
            Ok(kept) if kept.not_after > unix_now(now) + RENEW_BEFORE_DAYS * 86_400 => {
                let missing: Vec<&String> = names.iter().filter(|n| !kept.names.contains(n)).collect();
                if missing.is_empty() {
                    return Ok(kept);
                }
                tracing::info!(?missing, "the self-signed certificate lacks names this server now has: making a new one");
            }
            Ok(_) => tracing::info!("the self-signed certificate is near its end: making a new one"),
            Err(e) => tracing::warn!("the kept self-signed certificate is unusable ({e}): making a new one"),
        }
    }
    let fail = |reason: String| CertError::SelfSigned { dir: dir.into(), reason };
    let (cert_pem, key_pem) = make_self_signed(names, now, SELF_SIGNED_DAYS).map_err(fail)?;
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    write_private(&key, key_pem.as_bytes()).map_err(|e| fail(e.to_string()))?;
    write_private(&cert, cert_pem.as_bytes()).map_err(|e| fail(e.to_string()))?;
    load_pair(&cert, &key, now)
}

/// A self-signed certificate for `names`, valid from a day before `now` for `days`: PEM
/// certificate and PEM key.
fn make_self_signed(names: &[String], now: SystemTime, days: i64) -> Result<(String, String), String> {
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(|e| e.to_string())?;
    let start = time::OffsetDateTime::from_unix_timestamp(unix_now(now)).map_err(|e| e.to_string())?;
    params.not_before = start - time::Duration::days(1);
    params.not_after = start + time::Duration::days(days);
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "Noom (self-signed)");
    let pair = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let made = params.self_signed(&pair).map_err(|e| e.to_string())?;
    Ok((made.pem(), pair.serialize_pem()))
}

/// A self-signed certificate for `names` that lives in memory only: what an ACME server
/// serves until the CA has issued its first certificate (browsers warn meanwhile).
pub fn temporary_self_signed(names: &[String], now: SystemTime) -> Result<Loaded, CertError> {
    let fail = |reason: String| CertError::Acme(format!("cannot make a temporary self-signed certificate: {reason}"));
    let (cert_pem, key_pem) = make_self_signed(names, now, 7).map_err(fail)?;
    let here = Path::new("(temporary, in memory)");
    parse_pair(cert_pem.as_bytes(), key_pem.as_bytes(), here, here, now)
}

/// Write a file readable by its owner only, replacing any old one whole (a reader never
/// sees half of it).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
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
            let manager = acme::Manager::new(start.settings.clone(), self.certificates.clone(), start.challenges.clone(), start.kept.clone());
            tokio::spawn(manager.run(shutdown));
        }
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

/// A listener that yields finished TLS connections; handshakes run concurrently, each
/// with its deadline (see the module doc).
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

/// Accept on `tcp`, apply `tune` to each socket, and hand the handshakes to tasks. The
/// accept task ends when the returned listener is dropped (the server stopped).
pub fn listener(tcp: TcpListener, tls: Arc<Tls>, tune: fn(&mut TcpStream)) -> std::io::Result<TlsListener> {
    let local_addr = tcp.local_addr()?;
    let (tx, ready) = mpsc::channel(64);
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    tokio::spawn(async move {
        let mut tcp = tcp;
        loop {
            let (mut stream, peer) = tokio::select! {
                _ = tx.closed() => return,
                accepted = axum::serve::Listener::accept(&mut tcp) => accepted,
            };
            tune(&mut stream);
            let Ok(permit) = pending.clone().try_acquire_owned() else {
                metrics::counter!("noom_tls_handshake_failures_total", "reason" => "too_many").increment(1);
                tracing::debug!(%peer, "{MAX_PENDING_HANDSHAKES} TLS handshakes in flight: connection closed");
                continue;
            };
            let (tx, tls) = (tx.clone(), tls.clone());
            tokio::spawn(async move {
                let _permit = permit;
                // Someone typed http:// for this HTTPS port: send them to https:// instead
                // of closing on them (a TLS ClientHello starts with 0x16).
                // One deadline for the whole handshake, the first bytes included.
                let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
                let mut first = [0u8; 8];
                if let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
                    if looks_like_http(&first[..n]) {
                        return redirect_plain_http(stream, local_addr.port()).await;
                    }
                }
                match tokio::time::timeout_at(deadline, tls.accept(stream)).await {
                    Ok(Ok(mut stream)) if stream.get_ref().1.alpn_protocol() == Some(ACME_TLS_ALPN) => {
                        // A CA validating TLS-ALPN-01 only looks at the certificate: done.
                        tracing::debug!(%peer, "TLS-ALPN-01 validation handshake answered");
                        let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio::io::AsyncWriteExt::shutdown(&mut stream)).await;
                    }
                    Ok(Ok(stream)) => {
                        let _ = tx.send((stream, peer)).await;
                    }
                    Ok(Err(e)) => {
                        metrics::counter!("noom_tls_handshake_failures_total", "reason" => "error").increment(1);
                        tracing::debug!(%peer, "TLS handshake failed: {e}");
                    }
                    Err(_) => {
                        metrics::counter!("noom_tls_handshake_failures_total", "reason" => "timeout").increment(1);
                        tracing::debug!(%peer, "TLS handshake not finished within {HANDSHAKE_TIMEOUT:?}: closed");
                    }
                }
            });
        }
    });
    Ok(TlsListener { ready, local_addr })
}

/// Whether the first bytes of a connection are an HTTP request line (a method and a space)
/// rather than a TLS ClientHello.
fn looks_like_http(first: &[u8]) -> bool {
    const METHODS: [&[u8]; 8] = [b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT "];
    METHODS.iter().any(|m| first.starts_with(m) || (m.len() > first.len() && m.starts_with(first) && first.len() >= 4))
}

/// Answer a plain HTTP request on the HTTPS port with a redirect to the same host and path
/// over HTTPS, then close. Anything unreadable within the handshake deadline is dropped.
async fn redirect_plain_http(mut stream: TcpStream, https_port: u16) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::with_capacity(1024);
    let read = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        while head.len() < 8 * 1024 {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            head.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&head) {
                Ok(httparse::Status::Complete(_)) => {
                    let host = request.headers.iter().find(|h| h.name.eq_ignore_ascii_case("host")).and_then(|h| std::str::from_utf8(h.value).ok())?;
                    let host = super::host_without_port(host)?.to_string();
                    let path = request.path.filter(|p| p.starts_with('/')).unwrap_or("/").to_string();
                    return Some((host, path));
                }
                Ok(httparse::Status::Partial) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await;
    metrics::counter!("noom_tls_handshake_failures_total", "reason" => "plain_http").increment(1);
    let Ok(Some((host, path))) = read else { return };
    let port = if https_port == 443 { String::new() } else { format!(":{https_port}") };
    let answer = format!(
        "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://{host}{port}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.write_all(answer.as_bytes())).await;
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept task only ends once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// The names and addresses a self-signed certificate is made for, when the server
/// listens on `addr`: `localhost`, the machine's host name, `extra` (`--tls-name`,
/// `--rtc-public-ip`), and the listening address or, for an unspecified one, every
/// address of the machine's interfaces.
pub fn machine_names(addr: SocketAddr, extra: &[String]) -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
            names.push(host.to_ascii_lowercase());
        }
    }
    names.extend(extra.iter().map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()));
    let mut ips: Vec<IpAddr> = vec![IpAddr::from([127, 0, 0, 1])];
    if addr.ip().is_unspecified() {
        ips.extend(if_addrs::get_if_addrs().unwrap_or_default().into_iter().map(|i| i.ip()));
    } else {
        ips.push(addr.ip());
    }
    names.extend(ips.into_iter().map(|ip| ip.to_string()));
    let mut unique = Vec::new();
    for n in names {
        if !unique.contains(&n) {
            unique.push(n);
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str, names: &[&str], days: (i64, i64)) -> (PathBuf, PathBuf) {
        let mut params = rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(days.0);
        params.not_after = now + time::Duration::days(days.1);
        let pair = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&pair).unwrap();
        let (c, k) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, pair.serialize_pem()).unwrap();
        (c, k)
    }

    #[test]
    fn a_good_pair_loads_with_its_names_and_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = write_pair(dir.path(), "a", &["noom.test", "10.1.2.3"], (-1, 90));
        let loaded = load_pair(&c, &k, SystemTime::now()).unwrap();
        assert_eq!(loaded.names, ["noom.test", "10.1.2.3"]);
        assert_eq!(loaded.fingerprint.len(), 32 * 3 - 1);
        assert_eq!(loaded.fingerprint, fingerprint(loaded.key.end_entity_cert().unwrap()));
    }

    #[test]
    fn unreadable_mismatched_expired_and_future_certificates_are_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = write_pair(dir.path(), "a", &["noom.test"], (-1, 90));
        let (c2, k2) = write_pair(dir.path(), "b", &["noom.test"], (-1, 90));
        let now = SystemTime::now();
        let missing = dir.path().join("missing.crt");
        let e = load_pair(&missing, &k, now).unwrap_err().to_string();
        assert!(e.contains("missing.crt") && e.contains("cannot read"), "{e}");
        let e = load_pair(&c, &k2, now).unwrap_err();
        assert!(matches!(e, CertError::Mismatch { .. }), "{e}");
        assert!(e.to_string().contains("b.key") && e.to_string().contains("a.crt"), "{e}");
        let e = load_pair(&k, &k, now).unwrap_err().to_string();
        assert!(e.contains("a.key") && e.contains("no PEM certificate"), "{e}");
        let e = load_pair(&c, &c2, now).unwrap_err().to_string();
        assert!(e.contains("b.crt") && e.contains("no PEM private key"), "{e}");
        let (old_c, old_k) = write_pair(dir.path(), "old", &["noom.test"], (-90, -1));
        let e = load_pair(&old_c, &old_k, now).unwrap_err().to_string();
        assert!(e.contains("old.crt") && e.contains("expired on"), "{e}");
        let (new_c, new_k) = write_pair(dir.path(), "new", &["noom.test"], (2, 90));
        assert!(matches!(load_pair(&new_c, &new_k, now), Err(CertError::NotYetValid { .. })));
        assert!(load_pair(&c2, &k2, now).is_ok());
    }

    #[test]
    fn a_self_signed_certificate_is_kept_until_a_name_is_missing_or_it_nears_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let first = self_signed(dir.path(), &names, now).unwrap();
        assert_eq!(first.names, names);
        let again = self_signed(dir.path(), &names, now).unwrap();
        assert_eq!(again.fingerprint, first.fingerprint, "kept, not made anew");
        let more = vec!["localhost".to_string(), "127.0.0.1".to_string(), "meet.lan".to_string()];
        let grown = self_signed(dir.path(), &more, now).unwrap();
        assert_ne!(grown.fingerprint, first.fingerprint);
        assert!(grown.names.contains(&"meet.lan".to_string()));
        let later = now + Duration::from_secs((SELF_SIGNED_DAYS as u64 - 10) * 86_400);
        let renewed = self_signed(dir.path(), &more, later).unwrap();
        assert_ne!(renewed.fingerprint, grown.fingerprint, "made anew near its end");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("self-signed.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key is private");
        }
    }

    #[test]
    fn replaced_files_are_served_from_the_next_handshake_and_broken_ones_keep_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = write_pair(dir.path(), "live", &["noom.test"], (-1, 90));
        let first = load_pair(&c, &k, SystemTime::now()).unwrap();
        let certs = Certificates::files(&first, c.clone(), k.clone());
        let current = || fingerprint(certs.current.read().unwrap().end_entity_cert().unwrap());
        certs.refresh();
        assert_eq!(current(), first.fingerprint);
        // Half-written renewal: a new certificate beside the old key.
        let (c2, k2) = write_pair(dir.path(), "next", &["noom.test"], (-1, 90));
        std::fs::copy(&c2, &c).unwrap();
        certs.refresh();
        assert_eq!(current(), first.fingerprint, "a mismatched pair is not used");
        std::fs::copy(&k2, &k).unwrap();
        certs.refresh();
        let second = load_pair(&c2, &k2, SystemTime::now()).unwrap();
        assert_eq!(current(), second.fingerprint);
    }

    #[test]
    fn plain_http_is_told_from_tls_and_garbage_by_its_request_line() {
        assert!(looks_like_http(b"GET / HT"));
        assert!(looks_like_http(b"OPTIONS "));
        assert!(looks_like_http(b"DELE"), "a request line still arriving");
        assert!(!looks_like_http(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]));
        assert!(!looks_like_http(b"BBBBBBBB"));
        assert!(!looks_like_http(b"GE"));
    }

    #[test]
    fn machine_names_cover_localhost_the_address_and_extras() {
        let names = machine_names("192.0.2.7:443".parse().unwrap(), &["Meet.Example.com".into()]);
        for n in ["localhost", "meet.example.com", "127.0.0.1", "192.0.2.7"] {
            assert!(names.contains(&n.to_string()), "{n} in {names:?}");
        }
        let all = machine_names("0.0.0.0:443".parse().unwrap(), &[]);
        assert!(all.contains(&"127.0.0.1".to_string()));
    }
}
