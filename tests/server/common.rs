//! What every integration test needs: one way to start the real server
//! ([`start_with`]/[`start`]) and a WebSocket client that speaks the protocol.

// What the test modules use, in one place (`use crate::common::*`).
pub use std::net::SocketAddr;
pub use std::path::Path;
pub use std::process::{Child, Command, Stdio};
pub use std::time::Duration;

pub use futures::{SinkExt, StreamExt};
pub use leptos::prelude::LeptosOptions;
pub use noom::limits::{MAX_FRAME_BYTES, MAX_MESSAGE_CHARS, MAX_SDP_BYTES, RATE_BURST};
pub use noom::server::{serve, Config, StoreKind};
pub use serde_json::{json, Value};
pub use tokio::io::{AsyncReadExt, AsyncWriteExt};
pub use tokio::net::TcpStream;
pub use tokio_tungstenite::tungstenite::client::IntoClientRequest;
pub use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
pub use tokio_tungstenite::tungstenite::Message;
pub use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Long enough for a loaded CI machine; only reached when a test is failing.
pub const WAIT: Duration = Duration::from_secs(10);

pub async fn start_with(config: Config) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener, config).await
}

/// Start the server on a listener bound beforehand (its port had to be known first).
pub async fn start_on(listener: tokio::net::TcpListener, config: Config) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    let options = LeptosOptions::builder().output_name("noom").site_root("target/site").build();
    tokio::spawn(serve(listener, config, options, std::future::pending()));
    addr
}

/// The configuration tests start from: defaults, except the SFU on an ephemeral loopback
/// UDP port (many servers run in one test process, and nothing leaves loopback) and chat
/// history in memory (`durability.rs` runs the real binary on SQLite).
pub fn config() -> Config {
    Config {
        rtc_udp_addr: "127.0.0.1:0".parse().unwrap(),
        turn_addr: "127.0.0.1:0".parse().unwrap(),
        no_stun: true,
        store: StoreKind::Memory,
        ..Config::default()
    }
}

pub async fn start() -> SocketAddr {
    start_with(config()).await
}

/// A minimal HTTP/1.1 GET, returning the status, the raw head and the body.
pub async fn get(addr: SocketAddr, path: &str, extra_headers: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra_headers}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), body.to_string())
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub conn_id: u64,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.unwrap();
        let mut client = Client { ws, conn_id: 0 };
        let welcome = client.recv().await;
        assert_eq!(welcome["type"], "welcome");
        client.conn_id = welcome["conn_id"].as_u64().unwrap();
        client
    }

    /// Connect, take a nickname and enter a room; returns once the server confirmed.
    pub async fn in_room(addr: SocketAddr, nick: &str, room: &str) -> Client {
        let mut c = Client::connect(addr).await;
        c.send(json!({"type": "set_nick", "nickname": nick})).await;
        c.send(json!({"type": "join", "room": room})).await;
        c.recv_type("joined").await;
        c
    }

    pub async fn send(&mut self, value: Value) {
        self.ws.send(Message::text(value.to_string())).await.unwrap();
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_string())).await.unwrap();
    }

    /// The next JSON frame (pings are skipped).
    pub async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("connection ended")
                .expect("websocket error");
            match frame {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Skip frames until one of type `ty` arrives.
    pub async fn recv_type(&mut self, ty: &str) -> Value {
        loop {
            let v = self.recv().await;
            if v["type"] == ty {
                return v;
            }
        }
    }

    /// Frames until the server closes; returns the close code.
    pub async fn close_code(&mut self) -> u16 {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next()).await.expect("timed out waiting for close");
            match frame {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(Message::Close(None))) => panic!("closed without a code"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("error before a close frame: {e}"),
                None => panic!("ended without a close frame"),
            }
        }
    }

    /// Everything that arrives within a short while (used to prove something did NOT come).
    pub async fn drain(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_millis(300), self.ws.next()).await {
            if let Message::Text(t) = frame {
                out.push(serde_json::from_str(t.as_str()).unwrap());
            }
        }
        out
    }
}

/// A client that enters `room` from the browser `device`.
pub async fn from_device(addr: SocketAddr, nick: &str, room: &str, device: &str) -> Client {
    let mut c = Client::connect(addr).await;
    c.send(json!({"type": "set_nick", "nickname": nick})).await;
    c.send(json!({"type": "join", "room": room, "device": device})).await;
    c.recv_type("joined").await;
    c
}

/// The error answering request `req_id` (skipping notices meanwhile).
pub async fn refusal(c: &mut Client, req_id: u64) -> String {
    loop {
        let v = c.recv().await;
        if v["type"] == "error" && v["req_id"] == req_id {
            return v["code"].as_str().unwrap().to_string();
        }
        assert!(!(v["type"] == "ack" && v["req_id"] == req_id), "request {req_id} was accepted: {v}");
    }
}

pub async fn ack(c: &mut Client, req_id: u64) {
    loop {
        let v = c.recv().await;
        if v["type"] == "ack" && v["req_id"] == req_id {
            return;
        }
        assert!(!(v["type"] == "error" && v["req_id"] == req_id), "request {req_id} was refused: {v}");
    }
}

/// The `noom` binary on a free loopback port, history in `data`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Server {
    pub async fn start(data: &Path) -> Server {
        Server::start_with(data, &[]).await
    }

    /// The same, with extra command-line flags; what it prints goes to `stdout` (if given).
    pub async fn start_with(data: &Path, flags: &[&str]) -> Server {
        // A port the OS just handed out and took back: free unless something races for it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        // Its log is read by the tests that pass flags (keep it short: `--log warn`).
        let stdout = if flags.is_empty() { Stdio::null() } else { Stdio::piped() };
        let child = noom(data, addr).args(flags).stdout(stdout).stderr(Stdio::null()).spawn().unwrap();
        let server = Server { child, addr };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(mut s) = TcpStream::connect(self.addr).await {
                let req = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.addr);
                let mut raw = Vec::new();
                if s.write_all(req.as_bytes()).await.is_ok() && s.read_to_end(&mut raw).await.is_ok() {
                    if String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 200") {
                        return;
                    }
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush, nothing but what is on disk.
    pub fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn noom(data: &Path, addr: SocketAddr) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_noom"));
    cmd.arg("--data-dir").arg(data).arg("--addr").arg(addr.to_string());
    cmd.args(["--rtc-udp-addr", "127.0.0.1:0", "--turn-addr", "127.0.0.1:0", "--no-stun", "--log", "warn"]);
    cmd
}
