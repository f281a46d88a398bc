//! ACME end to end against a real CA: Debian's `pebble` (Let's Encrypt's test CA) and
//! `pebble-challtestsrv` as its DNS server, both started here on loopback ports with a
//! temporary directory. Pebble really validates: it resolves `noom.test` through
//! challtestsrv and connects to the server under test on its HTTPS port (TLS-ALPN-01) or
//! its plain-HTTP port (HTTP-01); the port of the other challenge points nowhere, so each
//! test proves the challenge it names. Nothing leaves loopback; no test contacts a real CA.
//!
//! Pebble 2.4.0 (Debian bookworm's) issues for IP addresses but advertises neither ACME
//! profiles nor renewal information (ARI): those choices are unit-tested in
//! `src/server/acme.rs`. Without pebble these tests fail, saying what to install.

use std::path::PathBuf;
use std::sync::Arc;

use noom::server::acme::store_dir;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::client::TlsStream;

use crate::common::*;
use crate::tls::{chat_round_trip, get_over, provider, served_fingerprint, Ca};

/// Long enough for an order on a loaded machine (pebble validates in well under a second).
const ACME_WAIT: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A port free for both UDP and TCP (challtestsrv's DNS answers on both).
fn free_dns_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn spawn(program: &str, args: &[&str], envs: &[(&str, &str)], log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start `{program}` ({e}): the ACME tests need Debian's pebble \
                 (`apt-get install pebble`, which `scripts/setup.sh --test` does)"
            )
        })
}

/// A TLS client configuration trusting `roots`, offering `alpn`.
fn client_config(roots: rustls::RootCertStore, alpn: &[&str]) -> rustls::ClientConfig {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    config
}

/// A handshake with `addr` as `name` (a domain, or an IP address: then no SNI), verified
/// against `roots`; the error says why it failed.
async fn try_connect(addr: SocketAddr, config: rustls::ClientConfig, name: &str) -> Result<TlsStream<TcpStream>, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(name.to_string()).unwrap();
    match tokio::time::timeout(WAIT, connector.connect(name, tcp)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("handshake timed out".into()),
    }
}

/// Handshakes until one verifies against `roots` with a certificate for which
/// `wanted(fingerprint)` holds; that fingerprint.
async fn wait_for_certificate(addr: SocketAddr, roots: &rustls::RootCertStore, name: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + ACME_WAIT;
    loop {
        let last = match try_connect(addr, client_config(roots.clone(), &["http/1.1"]), name).await {
            Ok(stream) if wanted(&served_fingerprint(&stream)) => return served_fingerprint(&stream),
            Ok(stream) => format!("served {}", served_fingerprint(&stream)),
            Err(e) => e,
        };
        assert!(tokio::time::Instant::now() < deadline, "no such certificate for {name} within {ACME_WAIT:?}; last: {last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One HTTP/1.1 request over TLS (trusting `roots`) or plain TCP; status and body.
async fn request(addr: SocketAddr, tls: Option<&rustls::RootCertStore>, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut raw = Vec::new();
    let io = async {
        match tls {
            Some(roots) => {
                let mut s = try_connect(addr, client_config(roots.clone(), &["http/1.1"]), "localhost").await?;
                s.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
                let _ = s.read_to_end(&mut raw).await; // Go may close without close_notify
            }
            None => {
                let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                s.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
                s.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
            }
        }
        Ok::<_, String>(())
    };
    tokio::time::timeout(WAIT, io).await.map_err(|_| "timed out".to_string())??;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("no HTTP response: {text:?}"))?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad status line: {head}"))?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Pebble and its DNS server, running until dropped.
struct Pebble {
    children: Vec<Child>,
    dir: tempfile::TempDir,
    /// Pebble's ACME directory URL.
    directory: String,
    /// The test CA of pebble's own HTTPS certificate (for `--acme-ca-cert`).
    https_ca: PathBuf,
    /// Pebble's issuing root, fetched from its management interface: what a client
    /// trusting "the ACME CA" trusts.
    roots: rustls::RootCertStore,
}

impl Pebble {
    /// Pebble validating TLS-ALPN-01 on `tls_port` and HTTP-01 on `http_port`, issuing
    /// certificates valid for `validity_secs` (its own default, years, if `None`);
    /// `noom.test` resolves to 127.0.0.1.
    async fn start(tls_port: u16, http_port: u16, validity_secs: Option<u64>) -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new();
        let https_ca = dir.path().join("https-ca.pem");
        std::fs::write(&https_ca, &ca.pem).unwrap();
        let (cert, key) = ca.issue(dir.path(), "pebble", &["localhost", "127.0.0.1"], (-1, 2));

        let (dns, dns_api) = (free_dns_port(), free_port());
        let mut children = vec![spawn(
            "pebble-challtestsrv",
            &[
                "-dns01",
                &format!("127.0.0.1:{dns}"),
                "-management",
                &format!("127.0.0.1:{dns_api}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                // Only what is set below resolves.
                "-defaultIPv4",
                "",
                "-defaultIPv6",
                "",
            ],
            &[],
            &dir.path().join("challtestsrv.log"),
        )];

        let (listen, management) = (free_port(), free_port());
        let mut config = json!({
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": cert,
            "privateKey": key,
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        });
        if let Some(secs) = validity_secs {
            config["certificateValidityPeriod"] = json!(secs);
        }
        let config_path = dir.path().join("pebble-config.json");
        std::fs::write(&config_path, json!({ "pebble": config }).to_string()).unwrap();
        children.push(spawn(
            "pebble",
            &["-config", config_path.to_str().unwrap(), "-dnsserver", &format!("127.0.0.1:{dns}")],
            // No random validation delays, no nonces refused on purpose, and every order
            // validated anew (no authorization reuse): each order is a real validation.
            &[("PEBBLE_VA_NOSLEEP", "1"), ("PEBBLE_WFE_NONCEREJECT", "0"), ("PEBBLE_AUTHZREUSE", "0")],
            &dir.path().join("pebble.log"),
        ));
        let mut pebble = Pebble { children, dir, directory: format!("https://127.0.0.1:{listen}/dir"), https_ca, roots: rustls::RootCertStore::empty() };

        let dns_api: SocketAddr = format!("127.0.0.1:{dns_api}").parse().unwrap();
        let record = json!({"host": "noom.test", "addresses": ["127.0.0.1"]}).to_string();
        pebble.poll("challtestsrv's management API", || request(dns_api, None, "POST", "/add-a", &record)).await;
        let (listen, management): (SocketAddr, SocketAddr) =
            (format!("127.0.0.1:{listen}").parse().unwrap(), format!("127.0.0.1:{management}").parse().unwrap());
        let https = ca.roots();
        pebble.poll("pebble's directory", || request(listen, Some(&https), "GET", "/dir", "")).await;
        let root = pebble.poll("pebble's root", || request(management, Some(&https), "GET", "/roots/0", "")).await;
        let root = CertificateDer::from_pem_slice(root.as_bytes()).expect("pebble's root is PEM");
        pebble.roots.add(root).unwrap();
        pebble
    }

    /// `attempt` until it answers 200; the body.
    async fn poll<F, Fut>(&mut self, what: &str, attempt: F) -> String
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(u16, String), String>>,
    {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let last = match attempt().await {
                Ok((200, body)) => return body,
                Ok((status, body)) => format!("{status} {body}"),
                Err(e) => e,
            };
            for child in &mut self.children {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("a pebble process exited ({status}) before {what} answered");
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "{what} did not answer within {WAIT:?}: {last}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for log in ["pebble.log", "challtestsrv.log"] {
                let text = std::fs::read_to_string(self.dir.path().join(log)).unwrap_or_default();
                eprintln!("---- {log} ----\n{text}");
            }
        }
    }
}

fn acme_config(pebble: &Pebble, data: &Path, names: &[&str]) -> Config {
    Config {
        acme: names.iter().map(|n| n.to_string()).collect(),
        acme_directory: pebble.directory.clone(),
        acme_ca_cert: Some(pebble.https_ca.clone()),
        data_dir: data.into(),
        ..config()
    }
}

#[cfg(unix)]
fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode();
    assert_eq!(mode & 0o077, 0, "{} is readable by others ({mode:o})", path.display());
}

#[tokio::test]
async fn a_domain_certificate_is_obtained_over_tls_alpn_01_kept_and_served_again_without_the_ca() {
    let data = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // HTTP-01 would go to a port nobody listens on: only TLS-ALPN-01 can succeed.
    let pebble = Pebble::start(listener.local_addr().unwrap().port(), free_port(), None).await;
    let addr = start_on(listener, acme_config(&pebble, data.path(), &["noom.test"])).await;

    let served = wait_for_certificate(addr, &pebble.roots, "noom.test", |_| true).await;
    let stream = try_connect(addr, client_config(pebble.roots.clone(), &["http/1.1"]), "noom.test").await.unwrap();
    let (head, body) = get_over(stream, "/healthz").await;
    assert_eq!(body, "ok");
    assert!(head.contains("strict-transport-security: max-age="), "HSTS with a trusted certificate: {head}");
    chat_round_trip(try_connect(addr, client_config(pebble.roots.clone(), &["http/1.1"]), "noom.test").await.unwrap()).await;

    // Browsers still get HTTP/2; a client offering only acme-tls/1 while no challenge is
    // being validated gets no handshake at all.
    let h2 = try_connect(addr, client_config(pebble.roots.clone(), &["h2", "http/1.1"]), "noom.test").await.unwrap();
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut lenient = client_config(rustls::RootCertStore::empty(), &["acme-tls/1"]);
    lenient.dangerous().set_certificate_verifier(Arc::new(AnyCertificate));
    assert!(try_connect(addr, lenient, "noom.test").await.is_err(), "acme-tls/1 without a pending challenge");

    // Kept in the data dir, readable by the owner only.
    let store = store_dir(&data.path().join("acme"), &pebble.directory);
    for file in ["cert.pem", "key.pem", "account.json"] {
        #[cfg(unix)]
        assert_private(&store.join(file));
    }
    let kept = noom::server::tls::load_pair(&store.join("cert.pem"), &store.join("key.pem"), std::time::SystemTime::now()).unwrap();
    assert_eq!(kept.fingerprint, served);
    assert_eq!(kept.names, ["noom.test"]);

    // The CA goes away; a restarted server serves the kept certificate from its first
    // handshake, without waiting for anyone.
    let (roots, directory) = (pebble.roots.clone(), pebble.directory.clone());
    let https_ca = data.path().join("https-ca.pem");
    std::fs::copy(&pebble.https_ca, &https_ca).unwrap();
    drop(pebble);
    let again = start_with(Config { acme_ca_cert: Some(https_ca), ..acme_config_from(&directory, data.path()) }).await;
    let first = try_connect(again, client_config(roots, &["http/1.1"]), "noom.test").await.expect("the kept certificate at once");
    assert_eq!(served_fingerprint(&first), served);
    let (_, body) = get_over(first, "/healthz").await;
    assert_eq!(body, "ok");
}

fn acme_config_from(directory: &str, data: &Path) -> Config {
    Config { acme: vec!["noom.test".into()], acme_directory: directory.into(), data_dir: data.into(), ..config() }
}

#[tokio::test]
async fn an_ip_address_certificate_is_obtained_over_http_01_on_the_redirect_port() {
    let data = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    // TLS-ALPN-01 would go to a port nobody listens on: only HTTP-01 can succeed.
    let pebble = Pebble::start(free_port(), redirect.port(), None).await;
    let config = Config { http_redirect_addr: Some(redirect), ..acme_config(&pebble, data.path(), &["127.0.0.1"]) };
    let addr = start_on(listener, config).await;

    // Verified as an IP address (the client sends no SNI, the certificate has the address).
    let served = wait_for_certificate(addr, &pebble.roots, "127.0.0.1", |_| true).await;
    let store = store_dir(&data.path().join("acme"), &pebble.directory);
    let kept = noom::server::tls::load_pair(&store.join("cert.pem"), &store.join("key.pem"), std::time::SystemTime::now()).unwrap();
    assert_eq!((kept.fingerprint.as_str(), kept.names.as_slice()), (served.as_str(), &["127.0.0.1".to_string()][..]));

    // The redirect port answers only challenges being validated, and redirects the rest.
    let (status, _) = request(redirect, None, "GET", "/.well-known/acme-challenge/nothing-pending", "").await.unwrap();
    assert_eq!(status, 404);
    let (status, _) = request(redirect, None, "GET", "/room/x", "").await.unwrap();
    assert_eq!(status, 308);
}

#[tokio::test]
async fn a_certificate_near_its_end_is_renewed_at_start_up_and_a_short_lived_one_at_half_its_life() {
    let data = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Certificates of 20 s: renewed 10 s after issuance (half the life of a short-lived one).
    let pebble = Pebble::start(listener.local_addr().unwrap().port(), free_port(), Some(20)).await;
    let names = ["noom.test", "127.0.0.1"];

    // In the data dir: a 90-day certificate with one day left (another CA's; it does not
    // matter whose), due for renewal.
    let store = store_dir(&data.path().join("acme"), &pebble.directory);
    std::fs::create_dir_all(&store).unwrap();
    let old_ca = Ca::new();
    let (c, k) = old_ca.issue(&store, "old", &names, (-89, 1));
    std::fs::rename(c, store.join("cert.pem")).unwrap();
    std::fs::rename(k, store.join("key.pem")).unwrap();
    let old = noom::server::tls::load_pair(&store.join("cert.pem"), &store.join("key.pem"), std::time::SystemTime::now()).unwrap();

    let addr = start_on(listener, acme_config(&pebble, data.path(), &names)).await;
    let first = wait_for_certificate(addr, &pebble.roots, "noom.test", |f| f != old.fingerprint).await;
    let now = std::time::SystemTime::now();
    let kept = noom::server::tls::load_pair(&store.join("cert.pem"), &store.join("key.pem"), now).unwrap();
    assert_eq!(kept.fingerprint, first, "the new certificate replaced the old one on disk");
    assert!(kept.not_after - kept.not_before <= 21, "pebble's short certificate: {} s", kept.not_after - kept.not_before);
    // The IP address is in it too (TLS-ALPN-01 for an address: reverse-DNS name).
    let by_ip = try_connect(addr, client_config(pebble.roots.clone(), &[]), "127.0.0.1").await.unwrap();
    assert_eq!(served_fingerprint(&by_ip), first);

    // Renewed while serving, before the first one expires.
    wait_for_certificate(addr, &pebble.roots, "noom.test", |f| f != first && f != old.fingerprint).await;
    assert!(unix_now() <= kept.not_after, "the renewal came only after the first certificate expired");
    // (Another renewal may have followed already: what is on disk is at least as new.)
    let renewed = noom::server::tls::load_pair(&store.join("cert.pem"), &store.join("key.pem"), std::time::SystemTime::now()).unwrap();
    assert_ne!(renewed.fingerprint, first);
    assert!(renewed.not_after > kept.not_after);
}

#[tokio::test]
async fn an_account_the_ca_does_not_know_is_put_aside_and_made_anew() {
    let data = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pebble = Pebble::start(listener.local_addr().unwrap().port(), free_port(), None).await;
    // Credentials of an account this CA never made (as after a private CA was reset).
    let store = store_dir(&data.path().join("acme"), &pebble.directory);
    std::fs::create_dir_all(&store).unwrap();
    let base = pebble.directory.trim_end_matches("/dir");
    let forged = json!({
        "id": format!("{base}/my-account/0123456789abcdef"),
        "key_pkcs8": base64url(&rcgen::KeyPair::generate().unwrap().serialize_der()),
        "directory": pebble.directory,
    });
    std::fs::write(store.join("account.json"), forged.to_string()).unwrap();

    let addr = start_on(listener, acme_config(&pebble, data.path(), &["noom.test"])).await;
    wait_for_certificate(addr, &pebble.roots, "noom.test", |_| true).await;
    let aside: Value = serde_json::from_slice(&std::fs::read(store.join("account.json.rejected")).unwrap()).unwrap();
    assert_eq!(aside["id"], forged["id"]);
    let made: Value = serde_json::from_slice(&std::fs::read(store.join("account.json")).unwrap()).unwrap();
    assert_ne!(made["id"], forged["id"]);
}

/// Base64url without padding (what instant-acme keeps the account key in).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn start_up_does_not_wait_for_an_unreachable_ca() {
    let data = tempfile::tempdir().unwrap();
    // A directory on a port nobody listens on.
    let directory = format!("https://127.0.0.1:{}/dir", free_port());
    let addr = start_with(acme_config_from(&directory, data.path())).await;
    let mut lenient = client_config(rustls::RootCertStore::empty(), &["http/1.1"]);
    lenient.dangerous().set_certificate_verifier(Arc::new(AnyCertificate));
    let stream = try_connect(addr, lenient, "noom.test").await.expect("served at once");
    let der = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert_eq!(cert.issuer(), cert.subject(), "a temporary self-signed certificate");
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert!(format!("{:?}", san.value).contains("noom.test"), "{:?}", san.value);
    let (_, body) = get_over(stream, "/healthz").await;
    assert_eq!(body, "ok");
}

/// Accepts any certificate: for looking at what a server presents.
#[derive(Debug)]
struct AnyCertificate;

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &provider().signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &provider().signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider().signature_verification_algorithms.supported_schemes()
    }
}
