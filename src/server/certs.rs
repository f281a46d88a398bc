//! Certificates as files and in memory: loading and checking a PEM pair (each failure names
//! the file and what is wrong), the self-signed certificate kept in the data dir, and the
//! names and addresses it is made for.
//!
//! Why a module of its own: both the HTTPS listener (`tls/`) and the ACME manager (`acme/`)
//! need it, and neither needs the other's internals (ACME is handed a function that puts a
//! certificate in service). It is all decisions about bytes and dates (`now` comes in as an
//! argument), tested without a socket.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use sha2::Digest;

/// A self-signed certificate lives this long: 825 days is the most Apple's systems accept
/// for a TLS server certificate, even one the user trusted by hand.
pub(crate) const SELF_SIGNED_DAYS: i64 = 825;

/// A self-signed certificate this close to its end is made anew at start-up.
const RENEW_BEFORE_DAYS: i64 = 30;

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
