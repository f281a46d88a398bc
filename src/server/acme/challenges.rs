//! The challenge side of ACME: the answers a CA is validating right now (served by the
//! HTTPS listener for TLS-ALPN-01 and by the redirect port for HTTP-01), the RFC 8737
//! challenge certificate, and the HTTP client that talks to the CA.

use super::*;

/// The challenge answers wanted right now, by the CA validating an order.
#[derive(Default)]
pub struct Challenges {
    /// TLS-ALPN-01: the certificate for each identifier (a domain, or an IP as text).
    pub(super) tls_alpn: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01: the key authorization for each token.
    pub(super) http: RwLock<HashMap<String, String>>,
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

    pub(super) fn clear(&self) {
        self.tls_alpn.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.http.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The IP address of a reverse-DNS name (`4.3.2.1.in-addr.arpa`, or the 32 nibbles of
/// `….ip6.arpa`).
pub(super) fn reverse_dns_ip(name: &str) -> Option<IpAddr> {
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
pub(super) fn challenge_certificate(identifier: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, String> {
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
pub(super) fn http_client(ca_cert: Option<&Path>) -> Result<Box<dyn HttpClient>, String> {
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
pub(super) struct Armed<'a>(pub(super) &'a Challenges);

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.0.clear();
    }
}
