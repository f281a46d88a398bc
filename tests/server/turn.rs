//! The built-in TURN server, spoken to as a browser would: the credential comes from
//! `call_joined`, allocations over UDP and TCP relay to a real UDP peer and back, and it
//! refuses what it must (a wrong or expired credential, a relay into a private or loopback
//! network) while garbage on its ports leaves everyone else served.

use turn_types::attribute::{Data, RequestedTransport, XorPeerAddress, XorRelayedAddress};
use turn_types::message::{ALLOCATE, CREATE_PERMISSION, DATA, SEND};
use turn_types::stun::attribute::{ErrorCode, Nonce, Realm, Username};
use turn_types::stun::message::{
    IntegrityAlgorithm, LongTermKeyCredentials, Message, MessageClass, MessageIntegrityCredentials, MessageType,
    MessageWriteVec, TransactionId,
};
use turn_types::stun::prelude::{MessageWrite, MessageWriteExt};

use crate::common::*;

const SECRET: &str = "turn-test-secret";

/// How a test client reaches the TURN server.
enum Link {
    Udp(tokio::net::UdpSocket, SocketAddr),
    Tcp(TcpStream, Vec<u8>),
}

impl Link {
    async fn send(&mut self, data: &[u8]) {
        match self {
            Link::Udp(s, to) => {
                s.send_to(data, *to).await.unwrap();
            }
            Link::Tcp(s, _) => s.write_all(data).await.unwrap(),
        }
    }

    /// Send a request and return its answer. Over UDP it is sent again every 500 ms until
    /// answered, as STUN clients do (RFC 8489 §6.2.1): a datagram may be lost, here to a
    /// receive buffer full of the garbage a test throws at the server.
    async fn request(&mut self, data: &[u8]) -> Vec<u8> {
        let transaction = data[8..20].to_vec();
        if matches!(self, Link::Tcp(..)) {
            self.send(data).await;
            return self.recv().await;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(tokio::time::Instant::now() < deadline, "no answer from the TURN server");
            self.send(data).await;
            let Link::Udp(s, _) = self else { unreachable!() };
            let mut buf = vec![0u8; 2048];
            let until = tokio::time::Instant::now() + Duration::from_millis(500);
            while let Ok(Ok((n, _))) = tokio::time::timeout_at(until, s.recv_from(&mut buf)).await {
                if n >= 20 && buf[8..20] == transaction[..] {
                    buf.truncate(n);
                    return buf;
                }
            }
        }
    }

    /// The next STUN message from the server.
    async fn recv(&mut self) -> Vec<u8> {
        tokio::time::timeout(WAIT, async {
            match self {
                Link::Udp(s, _) => {
                    let mut buf = vec![0u8; 2048];
                    let (n, _) = s.recv_from(&mut buf).await.unwrap();
                    buf.truncate(n);
                    buf
                }
                Link::Tcp(s, pending) => loop {
                    if pending.len() >= 20 {
                        let len = 20 + u16::from_be_bytes([pending[2], pending[3]]) as usize;
                        if pending.len() >= len {
                            return pending.drain(..len).collect();
                        }
                    }
                    let mut buf = [0u8; 2048];
                    let n = s.read(&mut buf).await.unwrap();
                    assert!(n > 0, "the TURN server closed the connection");
                    pending.extend_from_slice(&buf[..n]);
                },
            }
        })
        .await
        .expect("no answer from the TURN server")
    }
}

/// A TURN client with a REST credential.
struct TurnClient {
    link: Link,
    user: String,
    pass: String,
    nonce: String,
}

enum A {
    Udp,
    Peer(SocketAddr),
    Data(Vec<u8>),
}

impl TurnClient {
    fn build(&self, class: MessageClass, method: turn_types::stun::message::Method, attrs: &[A], sign: bool) -> Vec<u8> {
        let transaction = TransactionId::generate();
        let mut w = Message::builder(MessageType::from_class_method(class, method), transaction, MessageWriteVec::new());
        for a in attrs {
            match a {
                A::Udp => w.add_attribute(&RequestedTransport::new(RequestedTransport::UDP)).unwrap(),
                A::Peer(p) => w.add_attribute(&XorPeerAddress::new(*p, transaction)).unwrap(),
                A::Data(d) => w.add_attribute(&Data::new(d)).unwrap(),
            }
        }
        if sign {
            w.add_attribute(&Username::new(&self.user).unwrap()).unwrap();
            w.add_attribute(&Realm::new("noom").unwrap()).unwrap();
            w.add_attribute(&Nonce::new(&self.nonce).unwrap()).unwrap();
            w.add_message_integrity(&self.credentials(), IntegrityAlgorithm::Sha1).unwrap();
        }
        w.finish()
    }

    fn credentials(&self) -> MessageIntegrityCredentials {
        LongTermKeyCredentials::new(self.user.clone(), self.pass.clone(), "noom".into()).into()
    }

    /// A request (after the 401 challenge that gives the nonce); the answer's error code, or
    /// `None` and the answer for a success.
    async fn ask(&mut self, method: turn_types::stun::message::Method, attrs: &[A]) -> (Option<u16>, Vec<u8>) {
        if self.nonce.is_empty() {
            let probe = self.build(MessageClass::Request, method, attrs, false);
            let answer = self.link.request(&probe).await;
            let msg = Message::from_bytes(&answer).unwrap();
            assert_eq!(msg.attribute::<ErrorCode>().unwrap().code(), 401, "an unsigned request is challenged");
            self.nonce = msg.attribute::<Nonce>().unwrap().nonce().to_string();
        }
        let request = self.build(MessageClass::Request, method, attrs, true);
        let answer = self.link.request(&request).await;
        let msg = Message::from_bytes(&answer).unwrap();
        (msg.attribute::<ErrorCode>().ok().map(|e| e.code()), answer)
    }

    async fn allocate(&mut self) -> Result<SocketAddr, u16> {
        let (code, answer) = self.ask(ALLOCATE, &[A::Udp]).await;
        if let Some(code) = code {
            return Err(code);
        }
        let msg = Message::from_bytes(&answer).unwrap();
        assert!(msg.validate_integrity(&self.credentials()).is_ok(), "the answer is signed with my credential");
        Ok(msg.attribute::<XorRelayedAddress>().unwrap().addr(msg.transaction_id()))
    }
}

/// A server with TURN on an ephemeral loopback port (UDP and TCP), and its address.
/// `allow_private`: `--turn-allow-private`, so that a peer on loopback can be reached.
async fn start_turn_with(allow_private: bool) -> (SocketAddr, SocketAddr) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let turn: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = Config { turn_addr: turn, turn_secret: Some(SECRET.into()), turn_allow_private: allow_private, ..config() };
    (start_with(config).await, turn)
}

async fn start_turn() -> (SocketAddr, SocketAddr) {
    start_turn_with(false).await
}

/// The TURN credential and URLs a browser is handed when it joins a call.
async fn credential_from_call(addr: SocketAddr) -> (String, String, Vec<String>) {
    let mut ws = Client::in_room(addr, "Ana", "relay").await;
    ws.send(json!({"type": "call_join", "req_id": 1, "media": {"audio": true, "video": true}})).await;
    let joined = ws.recv_type("call_joined").await;
    let turn = joined["ice_servers"].as_array().unwrap().iter().find(|s| s["urls"][0].as_str().unwrap().starts_with("turn:")).unwrap().clone();
    let urls = turn["urls"].as_array().unwrap().iter().map(|u| u.as_str().unwrap().to_string()).collect();
    (turn["username"].as_str().unwrap().into(), turn["credential"].as_str().unwrap().into(), urls)
}

async fn udp_client(turn: SocketAddr, user: &str, pass: &str) -> TurnClient {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    TurnClient { link: Link::Udp(socket, turn), user: user.into(), pass: pass.into(), nonce: String::new() }
}

#[tokio::test]
async fn a_browser_credential_opens_a_relay_that_carries_data_both_ways_over_udp_and_tcp() {
    // The peer is a socket on loopback, as everything here is: --turn-allow-private.
    let (addr, turn) = start_turn_with(true).await;
    let (user, pass, urls) = credential_from_call(addr).await;
    // Named by the host the client reached Noom by.
    assert_eq!(urls, [format!("turn:127.0.0.1:{}?transport=udp", turn.port()), format!("turn:127.0.0.1:{}?transport=tcp", turn.port())]);
    let expiry: u64 = user.split(':').next().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(expiry > now && expiry <= now + 3600, "short-lived: {user}");

    // A peer on loopback (allowed here by --turn-allow-private).
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    for tcp in [false, true] {
        let mut c = if tcp {
            TurnClient { link: Link::Tcp(TcpStream::connect(turn).await.unwrap(), Vec::new()), user: user.clone(), pass: pass.clone(), nonce: String::new() }
        } else {
            udp_client(turn, &user, &pass).await
        };
        let relayed = c.allocate().await.expect("allocated");
        assert_eq!(relayed.ip(), std::net::IpAddr::from([127, 0, 0, 1]));
        assert_eq!(c.ask(CREATE_PERMISSION, &[A::Peer(peer_addr)]).await.0, None);
        let send = c.build(MessageClass::Indication, SEND, &[A::Peer(peer_addr), A::Data(b"to the peer".to_vec())], false);
        c.link.send(&send).await;
        let mut buf = [0u8; 256];
        let (n, from) = tokio::time::timeout(WAIT, peer.recv_from(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..n], b"to the peer");
        assert_eq!(from, relayed, "sent from the relay address");
        peer.send_to(b"to the client", relayed).await.unwrap();
        let data = c.link.recv().await;
        let msg = Message::from_bytes(&data).unwrap();
        assert!(msg.has_method(DATA));
        assert_eq!(msg.attribute::<Data>().unwrap().data(), b"to the client");
    }
}

#[tokio::test]
async fn wrong_or_expired_credentials_and_relays_into_private_networks_are_refused() {
    let (addr, turn) = start_turn().await;
    let (user, pass, _) = credential_from_call(addr).await;

    let mut wrong = udp_client(turn, &user, "not-the-password").await;
    assert_eq!(wrong.allocate().await, Err(401));

    // Correctly made from the secret, but expired an hour ago.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (old_user, old_pass) = noom::server::turn::credentials::issue(SECRET.as_bytes(), "7", now - 7200, 3600);
    let mut expired = udp_client(turn, &old_user, &old_pass).await;
    assert_eq!(expired.allocate().await, Err(401));

    let mut c = udp_client(turn, &user, &pass).await;
    c.allocate().await.expect("a valid credential allocates");
    for private in ["127.0.0.2:9", "10.0.0.1:9", "192.168.1.1:9", "169.254.0.1:9", "[::1]:9"] {
        let (code, _) = c.ask(CREATE_PERMISSION, &[A::Peer(private.parse().unwrap())]).await;
        assert_eq!(code, Some(403), "relay to {private}");
    }
    // 127.0.0.1 is the SFU's address here: a permission for it is given, but it opens the
    // SFU's port only, never another service on the machine.
    let service = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (code, _) = c.ask(CREATE_PERMISSION, &[A::Peer(service.local_addr().unwrap())]).await;
    assert_eq!(code, None);
    let send = c.build(MessageClass::Indication, SEND, &[A::Peer(service.local_addr().unwrap()), A::Data(b"probe".to_vec())], false);
    for _ in 0..5 {
        c.link.send(&send).await;
    }
    let mut buf = [0u8; 64];
    let got = tokio::time::timeout(Duration::from_millis(500), service.recv_from(&mut buf)).await;
    assert!(got.is_err(), "a local service was reached through the relay");
}

#[tokio::test]
async fn garbage_and_silence_on_the_turn_ports_leave_it_serving_others() {
    let (addr, turn) = start_turn().await;
    let (user, pass, _) = credential_from_call(addr).await;

    // UDP garbage of every size.
    let flood = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..2000u32 {
        let junk: Vec<u8> = (0..(i % 1400) as usize).map(|k| (k as u32 ^ i) as u8).collect();
        flood.send_to(&junk, turn).await.unwrap();
    }
    // A TCP client that sends HTTP, one that stays silent.
    let mut http = TcpStream::connect(turn).await.unwrap();
    http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let _silent = TcpStream::connect(turn).await.unwrap();

    let mut c = udp_client(turn, &user, &pass).await;
    c.allocate().await.expect("served beside the garbage");
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(WAIT, http.read(&mut buf)).await.expect("the HTTP client was closed");
    assert!(matches!(closed, Ok(0) | Err(_)));
}

#[tokio::test]
async fn turn_over_tls_uses_the_https_certificate() {
    let data = tempfile::tempdir().unwrap();
    let tls_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tls_addr: SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    let config = Config {
        self_signed: true,
        data_dir: data.path().into(),
        turn_tls_addr: Some(tls_addr),
        turn_secret: Some(SECRET.into()),
        ..config()
    };
    let _addr = start_with(config).await;
    let cert = data.path().join("tls/self-signed.crt");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cert.exists() || TcpStream::connect(tls_addr).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "no TURN-TLS listener");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pem = std::fs::read(&cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    roots.add(rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(tls_addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client)).connect(name, tcp).await.expect("TLS with the HTTPS certificate");
    // A Binding request over TLS is answered (STUN framing inside TLS).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (user, pass) = noom::server::turn::credentials::issue(SECRET.as_bytes(), "1", now, 3600);
    let c = TurnClient { link: Link::Udp(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap(), tls_addr), user, pass, nonce: String::new() };
    let probe = c.build(MessageClass::Request, ALLOCATE, &[A::Udp], false);
    stream.write_all(&probe).await.unwrap();
    let mut head = [0u8; 20];
    tokio::time::timeout(WAIT, stream.read_exact(&mut head)).await.unwrap().unwrap();
    let mut rest = vec![0u8; u16::from_be_bytes([head[2], head[3]]) as usize];
    stream.read_exact(&mut rest).await.unwrap();
    let answer = [head.to_vec(), rest].concat();
    let msg = Message::from_bytes(&answer).unwrap();
    assert_eq!(msg.attribute::<ErrorCode>().unwrap().code(), 401, "challenged over TLS like over UDP");
}
