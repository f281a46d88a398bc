//! HTTPS in the binary: pages and the WebSocket over TLS with certificate files (verified
//! against the CA that issued them), HTTP/2 by ALPN, a renewed certificate served without a
//! restart, handshakes that stall or send garbage holding nobody up, the redirect port,
//! the self-signed certificate, and certificate files that stop start-up.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::client::TlsStream;

use crate::common::*;

/// A test CA and leaf certificates it issues, as PEM files in `dir`.
pub struct Ca {
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
    der: CertificateDer<'static>,
    /// The CA certificate, PEM.
    pub pem: String,
}

impl Ca {
    pub fn new() -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "Noom test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let made = params.self_signed(&key).unwrap();
        let (der, pem) = (made.der().clone(), made.pem());
        Ca { params, key, der, pem }
    }

    /// A certificate for `names` valid from `from_days` to `to_days` from now, written as
    /// `<name>.crt`/`<name>.key`.
    pub fn issue(&self, dir: &Path, name: &str, names: &[&str], (from_days, to_days): (i64, i64)) -> (std::path::PathBuf, std::path::PathBuf) {
        let mut params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(from_days);
        params.not_after = now + time::Duration::days(to_days);
        let key = rcgen::KeyPair::generate().unwrap();
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let (c, k) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        roots
    }
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A TLS connection to `addr` as `name`, verified against `roots`, offering `alpn`.
pub async fn tls_connect(addr: SocketAddr, roots: rustls::RootCertStore, name: &str, alpn: &[&str]) -> TlsStream<TcpStream> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(name.to_string()).unwrap();
    tokio::time::timeout(WAIT, connector.connect(name, tcp)).await.expect("handshake timed out").expect("handshake")
}

/// The fingerprint of the certificate the server showed.
pub fn served_fingerprint(stream: &TlsStream<TcpStream>) -> String {
    let certs = stream.get_ref().1.peer_certificates().unwrap();
    noom::server::tls::fingerprint(&certs[0])
}

/// An HTTP/1.1 GET over `stream`: status line and lower-cased head, body.
pub async fn get_over(mut stream: TlsStream<TcpStream>, path: &str) -> (String, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: noom.test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut raw)).await.unwrap();
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    (head.to_lowercase(), body.to_string())
}

/// A chat round trip over `wss://`: the welcome, a room, a message sent and acked.
pub async fn chat_round_trip(stream: TlsStream<TcpStream>) {
    let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async("wss://noom.test/ws", stream))
        .await
        .unwrap()
        .expect("websocket over TLS");
    for frame in [
        json!({"type": "set_nick", "nickname": "ana"}),
        json!({"type": "join", "room": "secure"}),
        json!({"type": "chat", "req_id": 1, "text": "over TLS"}),
    ] {
        ws.send(Message::text(frame.to_string())).await.unwrap();
    }
    let mut seen = Vec::new();
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next()).await.expect("timed out").expect("ended").expect("ws error");
        let Message::Text(text) = frame else { continue };
        let v: Value = serde_json::from_str(text.as_str()).unwrap();
        seen.push(v["type"].as_str().unwrap_or("").to_string());
        if v["type"] == "ack" && v["req_id"] == 1 {
            break;
        }
        assert_ne!(v["type"], "error", "{v}");
    }
    assert_eq!(seen.first().map(String::as_str), Some("welcome"), "{seen:?}");
    assert!(seen.contains(&"joined".to_string()), "{seen:?}");
}

fn tls_config(cert: &Path, key: &Path) -> Config {
    Config { tls_cert: Some(cert.into()), tls_key: Some(key.into()), ..config() }
}

#[tokio::test]
async fn https_serves_pages_and_the_websocket_with_certificate_files_and_sends_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key) = ca.issue(dir.path(), "noom", &["noom.test"], (-1, 90));
    let addr = start_with(tls_config(&cert, &key)).await;

    let (head, body) = get_over(tls_connect(addr, ca.roots(), "noom.test", &["http/1.1"]).await, "/healthz").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, "ok");
    assert!(head.contains("strict-transport-security: max-age="), "{head}");

    chat_round_trip(tls_connect(addr, ca.roots(), "noom.test", &["http/1.1"]).await).await;

    // Plain HTTP on the HTTPS port (someone typed http://) is sent to https://, no page.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain.write_all(b"GET /room/a?b=1 HTTP/1.1\r\nHost: noom.test:9\r\n\r\n").await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(WAIT, plain.read_to_end(&mut raw)).await.expect("closed");
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 308"), "{raw}");
    assert!(raw.contains(&format!("Location: https://noom.test:{}/room/a?b=1\r\n", addr.port())), "{raw}");
}

#[tokio::test]
async fn http2_is_chosen_by_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key) = ca.issue(dir.path(), "noom", &["noom.test"], (-1, 90));
    let addr = start_with(tls_config(&cert, &key)).await;

    let stream = tls_connect(addr, ca.roots(), "noom.test", &["h2", "http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut send, conn) = hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await.unwrap();
    tokio::spawn(conn);
    let request = hyper::Request::get("https://noom.test/healthz").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap();
    let response = tokio::time::timeout(WAIT, send.send_request(request)).await.unwrap().unwrap();
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_renewed_certificate_is_served_from_the_next_handshake_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key) = ca.issue(dir.path(), "noom", &["noom.test"], (-1, 90));
    let addr = start_with(tls_config(&cert, &key)).await;
    let before = served_fingerprint(&tls_connect(addr, ca.roots(), "noom.test", &[]).await);

    // A renewal writes both files (through temporary names, as certbot and lego do).
    let (new_cert, new_key) = ca.issue(dir.path(), "renewed", &["noom.test"], (-1, 90));
    std::fs::rename(&new_key, &key).unwrap();
    std::fs::rename(&new_cert, &cert).unwrap();
    let expected = noom::server::tls::load_pair(&cert, &key, std::time::SystemTime::now()).unwrap().fingerprint;
    assert_ne!(expected, before);

    let after = tls_connect(addr, ca.roots(), "noom.test", &[]).await;
    assert_eq!(served_fingerprint(&after), expected);
    chat_round_trip(after).await;
}

#[tokio::test]
async fn stalled_and_garbage_handshakes_hold_up_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key) = ca.issue(dir.path(), "noom", &["noom.test"], (-1, 90));
    let addr = start_with(tls_config(&cert, &key)).await;

    // Clients that open TCP and say nothing, or only the first bytes of a ClientHello.
    let mut stalled = Vec::new();
    for i in 0..20 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        if i % 2 == 1 {
            s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await.unwrap();
        }
        stalled.push(s);
    }
    // One that sends garbage is closed.
    let mut garbage = TcpStream::connect(addr).await.unwrap();
    garbage.write_all(&[0x42; 512]).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(WAIT, async {
        loop {
            match garbage.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue, // a TLS alert, then the close
            }
        }
    })
    .await;
    assert!(read.is_ok(), "a garbage handshake is closed by the server");

    // A proper client gets a whole chat round trip while the stalled ones still wait.
    chat_round_trip(tls_connect(addr, ca.roots(), "noom.test", &["http/1.1"]).await).await;
    for s in &stalled {
        let mut one = [0u8; 1];
        match s.try_read(&mut one) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("a stalled handshake was ended before the round trip: {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_redirect_port_sends_plain_http_to_https_on_the_same_host_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key) = ca.issue(dir.path(), "noom", &["noom.test"], (-1, 90));
    let redirect_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let redirect: SocketAddr = format!("127.0.0.1:{redirect_port}").parse().unwrap();
    let addr = start_with(Config { http_redirect_addr: Some(redirect), ..tls_config(&cert, &key) }).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while TcpStream::connect(redirect).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the redirect port never opened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut s = TcpStream::connect(redirect).await.unwrap();
    s.write_all(b"GET /room/team%20a?x=1 HTTP/1.1\r\nHost: noom.test\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut raw)).await.unwrap().unwrap();
    let head = String::from_utf8_lossy(&raw).to_lowercase();
    assert!(head.starts_with("http/1.1 308"), "{head}");
    let location = format!("location: https://noom.test:{}/room/team%20a?x=1", addr.port());
    assert!(head.contains(&location), "{head}");
}

#[tokio::test]
async fn a_self_signed_certificate_is_made_once_kept_in_the_data_dir_and_sends_no_hsts() {
    let data = tempfile::tempdir().unwrap();
    let config = || Config {
        self_signed: true,
        tls_names: vec!["noom.test".into()],
        data_dir: data.path().into(),
        ..config()
    };
    let addr = start_with(config()).await;
    let kept = data.path().join("tls/self-signed.crt");
    let key = data.path().join("tls/self-signed.key");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !kept.exists() {
        assert!(tokio::time::Instant::now() < deadline, "no certificate was made");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let made = noom::server::tls::load_pair(&kept, &key, std::time::SystemTime::now()).unwrap();
    assert!(made.names.contains(&"noom.test".to_string()) && made.names.contains(&"127.0.0.1".to_string()), "{:?}", made.names);

    // Trusting exactly that certificate, as a person who checked the fingerprint does.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.key.end_entity_cert().unwrap().clone()).unwrap();
    let stream = tls_connect(addr, roots.clone(), "noom.test", &["http/1.1"]).await;
    assert_eq!(served_fingerprint(&stream), made.fingerprint);
    let (head, body) = get_over(stream, "/healthz").await;
    assert_eq!(body, "ok");
    assert!(!head.contains("strict-transport-security"), "{head}");

    // A second start keeps it: browsers that accepted it are not asked again.
    let again = start_with(config()).await;
    assert_eq!(served_fingerprint(&tls_connect(again, roots, "noom.test", &[]).await), made.fingerprint);
}

#[tokio::test]
async fn unusable_certificate_files_stop_start_up_with_the_path_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (old_cert, old_key) = ca.issue(dir.path(), "old", &["noom.test"], (-90, -1));
    let (cert, _) = ca.issue(dir.path(), "a", &["noom.test"], (-1, 90));
    let (_, other_key) = ca.issue(dir.path(), "b", &["noom.test"], (-1, 90));
    let missing = dir.path().join("missing.crt");
    let cases: [(&Path, &Path, &[&str]); 3] = [
        (&old_cert, &old_key, &["old.crt", "expired on"]),
        (&cert, &other_key, &["b.key", "is not the key of the certificate in", "a.crt"]),
        (&missing, &other_key, &["missing.crt", "cannot read"]),
    ];
    for (c, k, said) in cases {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let out = noom(dir.path(), addr).arg("--tls-cert").arg(c).arg("--tls-key").arg(k).output().unwrap();
        assert!(!out.status.success(), "started with {c:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for s in said {
            assert!(stderr.contains(s), "{s:?} not in: {stderr}");
        }
    }
}
