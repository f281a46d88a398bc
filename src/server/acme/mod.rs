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

mod challenges;
mod manager;
pub use challenges::Challenges;
pub use manager::Manager;

use super::certs::{date, parse_pair, provider, unix_now, write_private, Loaded};

/// How the manager puts a certificate in service: given by the HTTPS listener, so ACME
/// needs nothing of it.
pub type Install = Arc<dyn Fn(&Loaded) + Send + Sync>;

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
    match super::certs::load_pair(&cert, &key, now) {
        Ok(kept) => Some(kept),
        Err(e) => {
            tracing::warn!("ACME: the kept certificate cannot be served ({e}): ordering a new one");
            None
        }
    }
}

#[cfg(test)]
mod tests;
