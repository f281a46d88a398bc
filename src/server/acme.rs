//! ACME: the server obtains and renews its own HTTPS certificate (`--acme NAME`), from
//! Let's Encrypt or any ACME CA (`--acme-directory`).
//!
//! Why in the binary: a meeting server needs HTTPS that browsers trust (camera and
//! microphone), and the simplest deployment is one process on ports 443 (and 80), with no
//! certbot, cron job or proxy to set up. `instant-acme` speaks the protocol; this module
//! decides *when* and keeps the results.
//!
//! - **Never waiting for the CA.** Start-up serves at once: the certificate kept in
//!   `<data-dir>/acme/<CA>/` if it is still valid for every name, else a temporary
//!   self-signed one. The [`Manager`] task orders in the background and swaps the new
//!   certificate in ([`Certificates::install`]); a CA that cannot be reached is logged and
//!   retried with a back-off ([`retry_delay`]), the server goes on serving.
//! - **Challenges** are answered by the server itself, on the ports it already has:
//!   TLS-ALPN-01 on the HTTPS port (the handshake resolver hands out the challenge
//!   certificate to a client offering only `acme-tls/1`, see `tls.rs`), or HTTP-01 on the
//!   plain-HTTP redirect port when there is one (`--http-redirect-addr`, which a CA reaches
//!   on port 80). [`Challenges`] holds what is being asked for, only while an order runs.
//! - **When to renew** ([`renew_at`]): at two thirds of the lifetime of a usual (90-day)
//!   certificate, at half of it for a short-lived one (6 days: what Let's Encrypt issues
//!   for IP addresses, through its `shortlived` profile, see [`choose_profile`]), so a
//!   few failed days still leave time. If the CA offers ACME Renewal Information (ARI,
//!   RFC 9773) its suggested window wins: it moves renewals earlier when the CA must revoke.
//! - **Kept per CA**: the account key and the certificate live in a directory named after
//!   the CA's directory URL, so pointing Noom at the staging CA and then production never
//!   serves a staging certificate or reuses the other CA's account. Files are readable by
//!   the owner only. An account the CA says it does not know (a reset private CA) is put
//!   aside and a new one made; a kept certificate that lacks a name added since is served
//!   until the new one comes (better than a self-signed one).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, CertificateIdentifier, ChallengeType, HttpClient, Identifier,
    NewAccount, NewOrder, Order, OrderStatus, RetryPolicy,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use sha2::Digest;
use tokio::sync::watch;

use super::tls::{date, parse_pair, provider, unix_now, write_private, Certificates, Loaded};

/// Let's Encrypt's production directory, the default of `--acme-directory`.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// The ALPN protocol of TLS-ALPN-01 validation handshakes (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The profile Let's Encrypt issues IP-address certificates through (6 days).
pub const SHORT_LIVED_PROFILE: &str = "shortlived";

/// A certificate living at most this long is short-lived: renewed at half its life.
const SHORT_LIVED_SECS: i64 = 10 * 86_400;

/// One whole order (account, challenges, issuance) may take this long; then it counts as
/// failed and is retried. A CA that answers nothing never holds the manager forever.
const ORDER_TIMEOUT: Duration = Duration::from_secs(300);

/// Connecting to the CA.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Back-off after failed orders: the first retry, and the longest wait.
const FIRST_RETRY: Duration = Duration::from_secs(10);
const LAST_RETRY: Duration = Duration::from_secs(3600);

/// The manager looks at the clock at least this often while waiting for a renewal (a
/// machine that slept, a clock that was set), and asks for ARI again at this pace at most.
const WAKE_EVERY: Duration = Duration::from_secs(3600);

/// Which challenge the CA is asked to validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// On the HTTPS port (`--addr`): the CA connects to port 443.
    TlsAlpn01,
    /// On the plain-HTTP redirect port (`--http-redirect-addr`): the CA connects to port 80.
    Http01,
}

impl ChallengeKind {
    fn acme_type(self) -> ChallengeType {
        match self {
            ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
            ChallengeKind::Http01 => ChallengeType::Http01,
        }
    }
}

/// What `--acme` and its companions ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// Domain names and IP addresses, lower-case, each once.
    pub names: Vec<String>,
    /// A contact for the CA (expiry and policy mail), without `mailto:`.
    pub email: Option<String>,
    /// The CA's directory URL.
    pub directory: String,
    /// A PEM file of the CA certificates to trust for the directory's HTTPS (instead of the
    /// system's): a test or private CA.
    pub ca_cert: Option<PathBuf>,
    /// `<data-dir>/acme`.
    pub dir: PathBuf,
    /// Which challenge to answer.
    pub challenge: ChallengeKind,
}

impl AcmeSettings {
    /// The settings with every name checked and normalised; the error says which is wrong.
    pub fn checked(&self) -> Result<AcmeSettings, String> {
        let mut names: Vec<String> = Vec::new();
        for name in &self.names {
            let name = parse_name(name)?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
        if names.is_empty() {
            return Err("no name to obtain a certificate for".into());
        }
        if !self.directory.starts_with("https://") {
            return Err(format!("the ACME directory must be an https:// URL, not {:?}", self.directory));
        }
        Ok(AcmeSettings { names, ..self.clone() })
    }

    /// Where this CA's account and certificate are kept.
    pub fn store(&self) -> PathBuf {
        store_dir(&self.dir, &self.directory)
    }

    fn identifiers(&self) -> Vec<Identifier> {
        self.names
            .iter()
            .map(|n| match n.parse::<IpAddr>() {
                Ok(ip) => Identifier::Ip(ip),
                Err(_) => Identifier::Dns(n.clone()),
            })
            .collect()
    }
}

/// The directory under `acme_dir` for the CA at `directory_url`: its host (readable) and a
/// hash of the whole URL (distinct), e.g. `acme-v02.api.letsencrypt.org-6f1e0c2a`.
pub fn store_dir(acme_dir: &Path, directory_url: &str) -> PathBuf {
    let host = directory_url.split("://").nth(1).unwrap_or(directory_url).split('/').next().unwrap_or("");
    let host: String =
        host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c.to_ascii_lowercase() } else { '_' }).collect();
    let hash = sha2::Sha256::digest(directory_url.as_bytes());
    acme_dir.join(format!("{host}-{:02x}{:02x}{:02x}{:02x}", hash[0], hash[1], hash[2], hash[3]))
}

/// One `--acme` value: a domain name (lower-cased) or an IP address. Wildcards need the
/// DNS-01 challenge, which Noom cannot answer.
pub fn parse_name(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('.').to_ascii_lowercase();
    if let Ok(ip) = s.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    if s.starts_with("*.") {
        return Err(format!("{s}: wildcard certificates need the DNS-01 challenge, which Noom does not answer"));
    }
    let label_ok = |l: &str| {
        !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if s.len() > 253 || !s.contains('.') || !s.split('.').all(label_ok) {
        return Err(format!("{s:?} is neither a domain name (like meet.example.com) nor an IP address"));
    }
    Ok(s)
}

/// The ACME profile to order with: `shortlived` when an IP address is among the
/// identifiers and the CA advertises it (Let's Encrypt issues IP certificates only through
/// it), else the CA's default.
pub fn choose_profile<'a>(identifiers: &[Identifier], advertised: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    let has_ip = identifiers.iter().any(|i| matches!(i, Identifier::Ip(_)));
    (has_ip && advertised.into_iter().any(|p| p == SHORT_LIVED_PROFILE)).then_some(SHORT_LIVED_PROFILE)
}

/// When a certificate valid from `not_before` to `not_after` (Unix seconds) is renewed:
/// at 2/3 of its life (a 90-day certificate with 30 days left), at 1/2 for a short-lived
/// one (a 6-day certificate with 3 days left).
pub fn renew_at(not_before: i64, not_after: i64) -> i64 {
    let life = (not_after - not_before).max(0);
    if life <= SHORT_LIVED_SECS {
        not_before + life / 2
    } else {
        not_before + life * 2 / 3
    }
}

/// The wait before retrying after `failures` failed orders in a row: 10 s, doubling, at
/// most an hour (Let's Encrypt limits failed validations per hour).
pub fn retry_delay(failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    (FIRST_RETRY * factor).min(LAST_RETRY)
}

/// A point in `[start, end]`, at random (ARI asks clients to spread over the window).
fn random_in(start: i64, end: i64) -> i64 {
    use std::hash::{BuildHasher, Hasher};
    if end <= start {
        return start;
    }
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    start + (random % (end - start) as u64) as i64
}

/// The certificate kept for this CA in the data dir, if it can still be served (valid
/// now). Whether it is due for renewal, or lacks a name that was added since, is the
/// manager's call: until the new one comes, it is better than a self-signed one.
pub fn kept(settings: &AcmeSettings, now: SystemTime) -> Option<Loaded> {
    let store = settings.store();
    let (cert, key) = (store.join("cert.pem"), store.join("key.pem"));
    if !cert.exists() && !key.exists() {
        return None;
    }
    match super::tls::load_pair(&cert, &key, now) {
        Ok(kept) => Some(kept),
        Err(e) => {
            tracing::warn!("ACME: the kept certificate cannot be served ({e}): ordering a new one");
            None
        }
    }
}

/// The challenge answers wanted right now, by the CA validating an order.
#[derive(Default)]
pub struct Challenges {
    /// TLS-ALPN-01: the certificate for each identifier (a domain, or an IP as text).
    tls_alpn: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01: the key authorization for each token.
    http: RwLock<HashMap<String, String>>,
}

impl Challenges {
    /// The TLS-ALPN-01 certificate for a validation handshake that named `server_name`.
    /// For an IP address the CA names its reverse-DNS form (RFC 8738, `1.0.0.127.in-addr.arpa`);
    /// a handshake naming nothing gets the one IP challenge if there is exactly one.
    pub fn tls_alpn(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let certs = self.tls_alpn.read().unwrap_or_else(|e| e.into_inner());
        match server_name {
            Some(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let key = reverse_dns_ip(&name).map(|ip| ip.to_string()).unwrap_or(name);
                certs.get(&key).cloned()
            }
            None => {
                let mut ips = certs.iter().filter(|(k, _)| k.parse::<IpAddr>().is_ok());
                match (ips.next(), ips.next()) {
                    (Some((_, cert)), None) => Some(cert.clone()),
                    _ => None,
                }
            }
        }
    }

    /// The HTTP-01 answer for `token`, if that challenge is being validated.
    pub fn http(&self, token: &str) -> Option<String> {
        self.http.read().unwrap_or_else(|e| e.into_inner()).get(token).cloned()
    }

    fn clear(&self) {
        self.tls_alpn.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.http.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The IP address of a reverse-DNS name (`4.3.2.1.in-addr.arpa`, or the 32 nibbles of
/// `….ip6.arpa`).
fn reverse_dns_ip(name: &str) -> Option<IpAddr> {
    if let Some(v4) = name.strip_suffix(".in-addr.arpa") {
        let octets: Vec<u8> = v4.split('.').rev().map(|o| o.parse().ok()).collect::<Option<_>>()?;
        return <[u8; 4]>::try_from(octets).ok().map(IpAddr::from);
    }
    let v6 = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u8> = v6.split('.').rev().map(|n| u8::from_str_radix(n, 16).ok().filter(|_| n.len() == 1)).collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let bytes: Vec<u8> = nibbles.chunks(2).map(|p| p[0] << 4 | p[1]).collect();
    <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
}

/// The TLS-ALPN-01 certificate for `identifier` (RFC 8737): self-signed, for that name or
/// address only, with the SHA-256 of the key authorization in a critical `acmeIdentifier`
/// extension.
fn challenge_certificate(identifier: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    let mut params = rcgen::CertificateParams::new(vec![identifier.to_string()]).map_err(|e| e.to_string())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signer = provider().key_provider.load_private_key(private).map_err(|e| e.to_string())?;
    Ok(Arc::new(CertifiedKey::new(vec![cert.der().clone()], signer)))
}

/// instant-acme's HTTP client, built here: on the aws-lc-rs provider (explicitly: rustls
/// will not guess among several), trusting the system's roots or only `--acme-ca-cert`.
fn http_client(ca_cert: Option<&Path>) -> Result<Box<dyn HttpClient>, String> {
    let builder = HttpsConnectorBuilder::new();
    let builder = match ca_cert {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| format!("--acme-ca-cert {}: {e}", path.display()))? {
                let cert = cert.map_err(|e| format!("--acme-ca-cert {}: {e}", path.display()))?;
                roots.add(cert).map_err(|e| format!("--acme-ca-cert {}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("--acme-ca-cert {}: no certificate in it", path.display()));
            }
            let config = rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            builder.with_tls_config(config)
        }
        None => builder.with_provider_and_platform_verifier(provider()).map_err(|e| format!("the system's CA certificates: {e}"))?,
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let connector = builder.https_only().enable_http1().enable_http2().wrap_connector(http);
    let client: HyperClient<_, BodyWrapper<Bytes>> = HyperClient::builder(TokioExecutor::new()).build(connector);
    Ok(Box::new(client))
}

/// Removes the challenge answers of an order when it ends, however it ends.
struct Armed<'a>(&'a Challenges);

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.0.clear();
    }
}

/// What the CA's renewal information (ARI) said for one certificate.
struct Ari {
    fingerprint: String,
    /// When to renew (Unix seconds), if the CA supports ARI for this certificate.
    at: Option<i64>,
    /// When to ask again.
    next: i64,
}

/// The task that obtains the certificate and renews it (see the module doc).
pub struct Manager {
    settings: AcmeSettings,
    certificates: Arc<Certificates>,
    challenges: Arc<Challenges>,
    /// The certificate being served, unless it is the temporary self-signed one.
    current: Option<Loaded>,
    account: Option<Account>,
    ari: Option<Ari>,
    /// The CA offers ARI: a renewal order names the certificate it replaces.
    ari_supported: bool,
}

impl Manager {
    pub fn new(settings: AcmeSettings, certificates: Arc<Certificates>, challenges: Arc<Challenges>, kept: Option<Loaded>) -> Manager {
        Manager { settings, certificates, challenges, current: kept, account: None, ari: None, ari_supported: false }
    }

    /// Obtain, then renew, until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        match &self.current {
            Some(kept) => tracing::info!(
                names = ?self.settings.names,
                expires = %date(kept.not_after),
                fingerprint = %kept.fingerprint,
                "ACME: serving the certificate kept in {}", self.settings.store().display()
            ),
            None => tracing::info!(
                names = ?self.settings.names,
                "ACME: no certificate yet: serving a temporary self-signed one until {} issues one", self.settings.directory
            ),
        }
        let mut failures = 0u32;
        let mut announced = None;
        loop {
            let now = unix_now(SystemTime::now());
            let due = match self.current.clone() {
                Some(current) if !current.covers(&self.settings.names) => {
                    tracing::info!(has = ?current.names, wanted = ?self.settings.names, "ACME: the certificate lacks names: ordering a new one");
                    now
                }
                Some(current) => self.renewal_time(&current, now).await,
                None => now,
            };
            if due > now {
                if announced != Some(due) {
                    tracing::info!(at = %date(due), "ACME: renewal scheduled, in {}", humane(due - now));
                    announced = Some(due);
                }
                let wait = Duration::from_secs((due - now) as u64).min(WAKE_EVERY);
                if !pause(wait, &mut shutdown).await {
                    return;
                }
                continue;
            }
            let attempt = tokio::select! {
                attempt = tokio::time::timeout(ORDER_TIMEOUT, self.obtain()) => attempt,
                _ = shutdown.wait_for(|down| *down) => return,
            };
            match attempt.unwrap_or_else(|_| Err(format!("no certificate within {ORDER_TIMEOUT:?}"))) {
                Ok(loaded) => {
                    metrics::counter!("noom_acme_orders_total", "result" => "ok").increment(1);
                    tracing::info!(
                        names = ?loaded.names,
                        expires = %date(loaded.not_after),
                        fingerprint = %loaded.fingerprint,
                        "ACME: certificate obtained and served from now on"
                    );
                    self.certificates.install(&loaded);
                    self.current = Some(loaded);
                    failures = 0;
                }
                Err(e) => {
                    metrics::counter!("noom_acme_orders_total", "result" => "failed").increment(1);
                    failures += 1;
                    // The CA does not know the kept account (deactivated, or a private or
                    // test CA that was reset): put it aside and make a new one, at once
                    // the first time.
                    let mut delay = retry_delay(failures);
                    if e.contains("accountDoesNotExist") {
                        self.forget_account();
                        if failures == 1 {
                            delay = Duration::ZERO;
                        }
                    }
                    tracing::warn!(failures, retry_in_secs = delay.as_secs(), "ACME: no certificate from {}: {e}", self.settings.directory);
                    if !pause(delay, &mut shutdown).await {
                        return;
                    }
                }
            }
        }
    }

    /// When to renew `current`: the CA's ARI window if it has one, else [`renew_at`];
    /// never later than 90 % through its life.
    async fn renewal_time(&mut self, current: &Loaded, now: i64) -> i64 {
        let own = renew_at(current.not_before, current.not_after);
        let stale = self.ari.as_ref().is_none_or(|a| a.fingerprint != current.fingerprint || a.next <= now);
        if stale && own > now {
            let ari = self.ask_ari(current, now).await;
            self.ari = Some(ari);
        }
        let chosen = match self.ari.as_ref().filter(|a| a.fingerprint == current.fingerprint).and_then(|a| a.at) {
            Some(at) => at,
            None => own,
        };
        let latest = current.not_after - (current.not_after - current.not_before).max(0) / 10;
        chosen.min(latest)
    }

    async fn ask_ari(&mut self, current: &Loaded, now: i64) -> Ari {
        let mut ari = Ari { fingerprint: current.fingerprint.clone(), at: None, next: now + WAKE_EVERY.as_secs() as i64 };
        let Ok(leaf) = current.key.end_entity_cert() else { return ari };
        let Ok(id) = CertificateIdentifier::try_from(leaf) else {
            ari.next = i64::MAX; // no authority key identifier: never an ARI answer
            return ari;
        };
        let asked = tokio::time::timeout(Duration::from_secs(60), async {
            let account = self.account().await?;
            account.renewal_info(&id).await.map_err(|e| why(&e))
        })
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
        match asked {
            Ok((info, retry_after)) => {
                self.ari_supported = true;
                let window = info.suggested_window;
                let at = random_in(window.start.unix_timestamp(), window.end.unix_timestamp());
                let again = retry_after.clamp(WAKE_EVERY, WAKE_EVERY * 24);
                ari.at = Some(at);
                ari.next = now + again.as_secs() as i64;
                tracing::debug!(start = %date(window.start.unix_timestamp()), end = %date(window.end.unix_timestamp()), "ACME: renewal window from the CA (ARI)");
            }
            Err(e) if e.contains("does not support") => ari.next = i64::MAX,
            Err(e) => tracing::debug!("ACME: no renewal information from the CA: {e}"),
        }
        ari
    }

    /// Put the kept account aside (`account.json.rejected`): the next order makes a new one.
    fn forget_account(&mut self) {
        self.account = None;
        let path = self.settings.store().join("account.json");
        let aside = path.with_extension("json.rejected");
        match std::fs::rename(&path, &aside) {
            Ok(()) => tracing::warn!("ACME: the CA does not know the account kept in {}: moved to {}, making a new one", path.display(), aside.display()),
            Err(e) => tracing::warn!("ACME: cannot move the rejected account {} aside: {e}", path.display()),
        }
    }

    /// The ACME account: the one kept for this CA, else a new one (kept from then on).
    async fn account(&mut self) -> Result<Account, String> {
        if let Some(account) = &self.account {
            return Ok(account.clone());
        }
        let store = self.settings.store();
        let path = store.join("account.json");
        let http = http_client(self.settings.ca_cert.as_deref())?;
        let account = match std::fs::read(&path) {
            Ok(bytes) => {
                let credentials: AccountCredentials =
                    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
                Account::builder_with_http(http).from_credentials(credentials).await.map_err(|e| format!("the CA: {}", why(&e)))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let contact = self.settings.email.as_ref().map(|e| format!("mailto:{e}"));
                let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                let new = NewAccount { contact: &contacts, terms_of_service_agreed: true, only_return_existing: false };
                let (account, credentials) = Account::builder_with_http(http)
                    .create(&new, self.settings.directory.clone(), None)
                    .await
                    .map_err(|e| format!("creating an account: {}", why(&e)))?;
                make_private_dir(&store).map_err(|e| format!("{}: {e}", store.display()))?;
                let json = serde_json::to_vec_pretty(&credentials).map_err(|e| e.to_string())?;
                write_private(&path, &json).map_err(|e| format!("{}: {e}", path.display()))?;
                tracing::info!(id = %account.id(), "ACME: account created, kept in {}", path.display());
                account
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        self.account = Some(account.clone());
        Ok(account)
    }

    /// One order, start to finish: the certificate, checked and written to the data dir.
    async fn obtain(&mut self) -> Result<Loaded, String> {
        let account = self.account().await?;
        let identifiers = self.settings.identifiers();
        let profile = choose_profile(&identifiers, account.profiles().map(|p| p.name));
        let replaces = match (&self.current, self.ari_supported) {
            (Some(current), true) => current.key.end_entity_cert().ok().and_then(|c| CertificateIdentifier::try_from(c).ok()).map(|id| id.into_owned()),
            _ => None,
        };
        tracing::info!(
            names = ?self.settings.names,
            profile = profile.unwrap_or("(the CA's default)"),
            challenge = ?self.settings.challenge,
            renewal = self.current.is_some(),
            "ACME: ordering a certificate from {}", self.settings.directory
        );
        let mut new_order = NewOrder::new(&identifiers);
        if let Some(profile) = profile {
            new_order = new_order.profile(profile);
        }
        let mut order = match replaces {
            Some(replaces) => match account.new_order(&new_order.replaces(replaces)).await {
                Ok(order) => order,
                // The CA would not take it as a replacement (already replaced, another CA's
                // certificate): an order of its own then.
                Err(e) => {
                    tracing::debug!("ACME: order as a replacement refused ({e}): ordering anew");
                    let mut plain = NewOrder::new(&identifiers);
                    if let Some(profile) = profile {
                        plain = plain.profile(profile);
                    }
                    account.new_order(&plain).await.map_err(|e| format!("new order: {}", why(&e)))?
                }
            },
            None => account.new_order(&new_order).await.map_err(|e| format!("new order: {}", why(&e)))?,
        };

        let _armed = Armed(&self.challenges);
        self.answer_challenges(&mut order).await?;
        let polling = RetryPolicy::new().initial_delay(Duration::from_millis(250)).backoff(1.5).timeout(Duration::from_secs(120));
        let status = order.poll_ready(&polling).await.map_err(|e| format!("waiting for validation: {}", why(&e)))?;
        if status != OrderStatus::Ready {
            return Err(format!("the CA did not validate the order: {}", failure(&mut order).await));
        }

        let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
        let mut params = rcgen::CertificateParams::new(self.settings.names.clone()).map_err(|e| e.to_string())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params.serialize_request(&key).map_err(|e| e.to_string())?;
        order.finalize_csr(csr.der()).await.map_err(|e| format!("finalizing: {}", why(&e)))?;
        let chain = order.poll_certificate(&polling).await.map_err(|e| format!("fetching the certificate: {}", why(&e)))?;

        let store = self.settings.store();
        let (cert_path, key_path) = (store.join("cert.pem"), store.join("key.pem"));
        let key_pem = key.serialize_pem();
        let loaded = parse_pair(chain.as_bytes(), key_pem.as_bytes(), &cert_path, &key_path, SystemTime::now())
            .map_err(|e| format!("the CA's certificate is unusable: {e}"))?;
        if !loaded.covers(&self.settings.names) {
            return Err(format!("the CA's certificate is for {:?}, not {:?}", loaded.names, self.settings.names));
        }
        make_private_dir(&store).map_err(|e| format!("{}: {e}", store.display()))?;
        write_private(&key_path, key_pem.as_bytes()).map_err(|e| format!("{}: {e}", key_path.display()))?;
        write_private(&cert_path, chain.as_bytes()).map_err(|e| format!("{}: {e}", cert_path.display()))?;
        Ok(loaded)
    }

    /// For each authorization still pending: put up the answer to the chosen challenge
    /// and tell the CA to validate it.
    async fn answer_challenges(&self, order: &mut Order) -> Result<(), String> {
        let wanted = self.settings.challenge;
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(|e| format!("authorization: {}", why(&e)))?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue, // validated recently, reused by the CA
                other => return Err(format!("authorization for {} is {other:?}", authz.identifier())),
            }
            let offered: Vec<ChallengeType> = authz.challenges.iter().map(|c| c.r#type.clone()).collect();
            // The configured challenge; TLS-ALPN-01 otherwise (the HTTPS port is always
            // there), HTTP-01 only with a plain-HTTP port.
            let kind = [wanted, ChallengeKind::TlsAlpn01]
                .into_iter()
                .find(|k| offered.contains(&k.acme_type()))
                .ok_or_else(|| format!("the CA offers {offered:?} for {}; Noom answers {:?}", authz.identifier(), wanted.acme_type()))?;
            let mut challenge = authz.challenge(kind.acme_type()).ok_or("challenge vanished")?;
            let identifier = match &challenge.identifier().identifier {
                Identifier::Dns(name) => name.to_ascii_lowercase(),
                Identifier::Ip(ip) => ip.to_string(),
                other => return Err(format!("cannot validate identifier {other:?}")),
            };
            let key_authorization = challenge.key_authorization();
            match kind {
                ChallengeKind::TlsAlpn01 => {
                    let cert = challenge_certificate(&identifier, key_authorization.digest().as_ref())?;
                    self.challenges.tls_alpn.write().unwrap_or_else(|e| e.into_inner()).insert(identifier.clone(), cert);
                }
                ChallengeKind::Http01 => {
                    let token = challenge.token.clone();
                    self.challenges.http.write().unwrap_or_else(|e| e.into_inner()).insert(token, key_authorization.as_str().to_string());
                }
            }
            tracing::debug!(%identifier, challenge = ?kind, "ACME: challenge ready");
            challenge.set_ready().await.map_err(|e| format!("challenge for {identifier}: {}", why(&e)))?;
        }
        Ok(())
    }
}

/// Why an order failed: each failed challenge's problem, as the CA put it.
async fn failure(order: &mut Order) -> String {
    let mut reasons = Vec::new();
    if let Some(problem) = &order.state().error {
        reasons.push(problem.to_string());
    }
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        if authz.refresh().await.is_err() {
            continue;
        }
        let identifier = authz.identifier().to_string();
        for challenge in &authz.challenges {
            if let Some(problem) = &challenge.error {
                reasons.push(format!("{identifier}: {:?}: {problem}", challenge.r#type));
            }
        }
    }
    if reasons.is_empty() {
        "no reason given".into()
    } else {
        reasons.join("; ")
    }
}

/// An error with its causes ("client error (Connect): tcp connect error: Connection
/// refused"): what an operator needs to see in the log.
fn why(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

/// `secs` for people: `40 s`, `25 min`, `7 h`, `29 days`.
fn humane(secs: i64) -> String {
    if secs < 120 {
        format!("{secs} s")
    } else if secs < 7200 {
        format!("{} min", secs / 60)
    } else if secs < 2 * 86_400 {
        format!("{} h", secs / 3600)
    } else {
        format!("{} days", secs / 86_400)
    }
}

/// Wait `d`, or less if the server stops: false then.
async fn pause(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shutdown.wait_for(|down| *down) => false,
    }
}

/// Create `dir` (and its parents), readable by the owner only.
fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_domains_or_addresses_and_wildcards_are_refused() {
        assert_eq!(parse_name("Meet.Example.com.").unwrap(), "meet.example.com");
        assert_eq!(parse_name("203.0.113.9").unwrap(), "203.0.113.9");
        assert_eq!(parse_name("[2001:db8::1]").unwrap(), "2001:db8::1");
        assert!(parse_name("*.example.com").unwrap_err().contains("DNS-01"));
        for bad in ["", "localhost", "a b.example", "-x.example", "x..example", "https://x.example"] {
            assert!(parse_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_short_lived_profile_is_chosen_for_ip_addresses_when_the_ca_offers_it() {
        let dns = vec![Identifier::Dns("meet.example.com".into())];
        let ip = vec![Identifier::Dns("meet.example.com".into()), Identifier::Ip("203.0.113.9".parse().unwrap())];
        let le = ["classic", "shortlived", "tlsserver"];
        assert_eq!(choose_profile(&ip, le), Some("shortlived"));
        assert_eq!(choose_profile(&dns, le), None, "domains keep the CA's default");
        assert_eq!(choose_profile(&ip, ["classic"]), None, "a CA without it gets a plain order");
        assert_eq!(choose_profile(&ip, []), None);
    }

    #[test]
    fn renewal_comes_at_two_thirds_of_a_long_life_and_half_of_a_short_one() {
        let day = 86_400;
        assert_eq!(renew_at(0, 90 * day), 60 * day);
        assert_eq!(renew_at(0, 6 * day), 3 * day);
        assert_eq!(renew_at(1000, 1000 + 160 * 3600), 1000 + 80 * 3600, "160 h: Let's Encrypt's short-lived");
        assert_eq!(renew_at(0, 30), 15);
        assert_eq!(renew_at(50, 10), 50, "nonsense dates renew at once");
    }

    #[test]
    fn retries_back_off_from_ten_seconds_to_an_hour() {
        assert_eq!(retry_delay(1), Duration::from_secs(10));
        assert_eq!(retry_delay(2), Duration::from_secs(20));
        assert_eq!(retry_delay(5), Duration::from_secs(160));
        assert_eq!(retry_delay(12), Duration::from_secs(3600));
        assert_eq!(retry_delay(1000), Duration::from_secs(3600));
    }

    #[test]
    fn errors_show_their_causes_and_durations_read_well() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let e = instant_acme::Error::Other(Box::new(io));
        assert_eq!(why(&e), "Connection refused");
        let e = instant_acme::Error::Other(Box::new(instant_acme::Error::Other("inner".into())));
        assert!(why(&e).contains("inner"), "{}", why(&e));
        assert_eq!(humane(40), "40 s");
        assert_eq!(humane(25 * 60), "25 min");
        assert_eq!(humane(7 * 3600), "7 h");
        assert_eq!(humane(29 * 86_400 + 5), "29 days");
    }

    #[test]
    fn random_points_stay_in_their_window() {
        for _ in 0..100 {
            let at = random_in(100, 200);
            assert!((100..200).contains(&at), "{at}");
        }
        assert_eq!(random_in(7, 7), 7);
        assert_eq!(random_in(9, 3), 9);
    }

    #[test]
    fn each_ca_has_its_own_directory() {
        let a = store_dir(Path::new("/d/acme"), LETS_ENCRYPT);
        let b = store_dir(Path::new("/d/acme"), "https://acme-staging-v02.api.letsencrypt.org/directory");
        assert!(a.to_string_lossy().starts_with("/d/acme/acme-v02.api.letsencrypt.org-"), "{a:?}");
        assert_ne!(a, b);
        let local = store_dir(Path::new("/a"), "https://127.0.0.1:14000/dir");
        assert!(local.to_string_lossy().starts_with("/a/127.0.0.1_14000-"), "{local:?}");
    }

    #[test]
    fn reverse_dns_names_map_back_to_addresses() {
        assert_eq!(reverse_dns_ip("1.0.0.127.in-addr.arpa"), Some("127.0.0.1".parse().unwrap()));
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
        assert_eq!(reverse_dns_ip(v6), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(reverse_dns_ip("noom.test"), None);
        assert_eq!(reverse_dns_ip("300.0.0.127.in-addr.arpa"), None);
    }

    #[test]
    fn challenge_certificates_are_found_by_name_reverse_name_or_the_one_ip() {
        let challenges = Challenges::default();
        let digest = [7u8; 32];
        let dns = challenge_certificate("noom.test", &digest).unwrap();
        let ip = challenge_certificate("127.0.0.1", &digest).unwrap();
        challenges.tls_alpn.write().unwrap().insert("noom.test".into(), dns.clone());
        challenges.tls_alpn.write().unwrap().insert("127.0.0.1".into(), ip.clone());
        let same = |a: Option<Arc<CertifiedKey>>, b: &Arc<CertifiedKey>| a.is_some_and(|a| Arc::ptr_eq(&a, b));
        assert!(same(challenges.tls_alpn(Some("NOOM.test")), &dns));
        assert!(same(challenges.tls_alpn(Some("1.0.0.127.in-addr.arpa")), &ip));
        assert!(same(challenges.tls_alpn(None), &ip));
        assert!(challenges.tls_alpn(Some("other.test")).is_none());
        // The certificate carries the digest in a critical acmeIdentifier extension.
        let (_, parsed) = x509_parser::parse_x509_certificate(dns.end_entity_cert().unwrap()).unwrap();
        let ext = parsed.extensions().iter().find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31").expect("acmeIdentifier");
        assert!(ext.critical);
        assert!(ext.value.ends_with(&digest));
        challenges.clear();
        assert!(challenges.tls_alpn(Some("noom.test")).is_none());
    }
}
