//! Integration tests: the real server on an ephemeral loopback port, real HTTP requests and
//! several real WebSocket clients (tokio-tungstenite).

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use leptos::prelude::LeptosOptions;
use noom::limits::{MAX_FRAME_BYTES, RATE_BURST};
use noom::server::{serve, Config};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Long enough for a loaded CI machine; only reached when a test is failing.
const WAIT: Duration = Duration::from_secs(10);

async fn start_with(config: Config) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = LeptosOptions::builder().output_name("noom").site_root("target/site").build();
    tokio::spawn(serve(listener, config, options, std::future::pending()));
    addr
}

async fn start() -> SocketAddr {
    start_with(Config::default()).await
}

/// A minimal HTTP/1.1 GET, returning the status, the raw head and the body.
async fn get(addr: SocketAddr, path: &str, extra_headers: &str) -> (u16, String, String) {
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

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    conn_id: u64,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.unwrap();
        let mut client = Client { ws, conn_id: 0 };
        let welcome = client.recv().await;
        assert_eq!(welcome["type"], "welcome");
        client.conn_id = welcome["conn_id"].as_u64().unwrap();
        client
    }

    /// Connect, take a nickname and enter a room; returns once the server confirmed.
    async fn in_room(addr: SocketAddr, nick: &str, room: &str) -> Client {
        let mut c = Client::connect(addr).await;
        c.send(json!({"type": "set_nick", "nickname": nick})).await;
        c.send(json!({"type": "join", "room": room})).await;
        c.recv_type("joined").await;
        c
    }

    async fn send(&mut self, value: Value) {
        self.ws.send(Message::text(value.to_string())).await.unwrap();
    }

    async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_string())).await.unwrap();
    }

    /// The next JSON frame (pings are skipped).
    async fn recv(&mut self) -> Value {
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
    async fn recv_type(&mut self, ty: &str) -> Value {
        loop {
            let v = self.recv().await;
            if v["type"] == ty {
                return v;
            }
        }
    }

    /// Frames until the server closes; returns the close code.
    async fn close_code(&mut self) -> u16 {
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
    async fn drain(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_millis(300), self.ws.next()).await {
            if let Message::Text(t) = frame {
                out.push(serde_json::from_str(t.as_str()).unwrap());
            }
        }
        out
    }
}

#[tokio::test]
async fn pages_are_server_rendered_unknown_paths_redirect_and_responses_are_compressed() {
    let addr = start().await;
    let (status, _, body) = get(addr, "/", "").await;
    assert_eq!(status, 200);
    for needle in ["Nickname", "Save", "Room name", "Enter", "aria-label=\"Open rooms\"", "/pkg/noom.js"] {
        assert!(body.contains(needle), "home page lacks {needle}");
    }

    let (status, head, _) = get(addr, "/foo/bar", "").await;
    assert!((300..400).contains(&status), "status {status}");
    assert!(head.contains("location: /\r\n"), "{head}");

    let (status, _, body) = get(addr, "/room/My%20Room", "").await;
    assert_eq!(status, 200);
    assert!(body.contains("My Room"), "room page does not name the room");
    assert!(body.contains(">Leave<"));

    let (status, _, body) = get(addr, "/healthz", "").await;
    assert_eq!((status, body.as_str()), (200, "ok"));

    let (_, head, _) = get(addr, "/", "Accept-Encoding: br\r\n").await;
    assert!(head.contains("content-encoding: br"), "{head}");
    let (_, head, _) = get(addr, "/", "Accept-Encoding: gzip\r\n").await;
    assert!(head.contains("content-encoding: gzip"), "{head}");
}

#[tokio::test]
async fn join_and_leave_notices_members_and_room_scoping() {
    let addr = start().await;
    let mut ana = Client::in_room(addr, "Ana", "lobby").await;
    let mut bo = Client::connect(addr).await;
    bo.send(json!({"type": "set_nick", "nickname": "Bo"})).await;
    bo.send(json!({"type": "join", "req_id": 1, "room": "lobby"})).await;
    let joined = bo.recv_type("joined").await;
    assert_eq!(joined["req_id"], 1);
    let members: Vec<&str> = joined["members"].as_array().unwrap().iter().map(|m| m["nickname"].as_str().unwrap()).collect();
    assert_eq!(members, ["Ana", "Bo"]);

    let notice = ana.recv_type("member_joined").await;
    assert_eq!(notice["member"]["nickname"], "Bo");

    // A third person in another room hears nothing of the lobby.
    let mut cy = Client::in_room(addr, "Cy", "other").await;
    ana.send(json!({"type": "chat", "req_id": 7, "text": "hi lobby"})).await;
    let ack = ana.recv_type("ack").await;
    assert_eq!((ack["req_id"].as_u64(), ack["message"]["seq"].as_u64()), (Some(7), Some(1)));
    assert!(ack["message"]["id"].as_u64().is_some() && ack["message"]["ts"].as_u64().unwrap() > 1_600_000_000_000);
    let msg = bo.recv_type("message").await;
    assert_eq!(msg["message"]["text"], "hi lobby");
    assert_eq!(msg["message"]["nickname"], "Ana");
    assert_eq!(msg["message"]["id"], ack["message"]["id"]);
    assert!(cy.drain().await.iter().all(|m| m["type"] != "message"), "message leaked to another room");

    // Closing the connection counts as leaving.
    drop(bo);
    let left = ana.recv_type("member_left").await;
    assert_eq!(left["member"]["nickname"], "Bo");

    // Explicit leave: acked, and the room closes when empty.
    ana.send(json!({"type": "leave", "req_id": 8})).await;
    assert_eq!(ana.recv_type("ack").await["req_id"], 8);
    ana.send(json!({"type": "chat", "req_id": 9, "text": "anyone?"})).await;
    let e = ana.recv_type("error").await;
    assert_eq!((e["code"].as_str(), e["req_id"].as_u64()), (Some("not_in_room"), Some(9)));
}

#[tokio::test]
async fn room_list_is_live_for_watchers_only() {
    let addr = start().await;
    let mut home = Client::connect(addr).await;
    home.send(json!({"type": "watch_rooms"})).await;
    assert_eq!(home.recv_type("rooms").await["rooms"], json!([]));

    let a = Client::in_room(addr, "A", "alpha").await;
    let mut b = Client::in_room(addr, "B", "alpha").await;
    let _c = Client::in_room(addr, "C", "beta").await;
    // Updates are coalesced: wait for the list that shows all three joins.
    let want = json!([{"name": "alpha", "count": 2}, {"name": "beta", "count": 1}]);
    while home.recv_type("rooms").await["rooms"] != want {}

    // People in rooms never get room lists.
    assert!(b.drain().await.iter().all(|m| m["type"] != "rooms"));

    // The room empties and disappears.
    drop(a);
    drop(b);
    let want = json!([{"name": "beta", "count": 1}]);
    while home.recv_type("rooms").await["rooms"] != want {}
}

#[tokio::test]
async fn nickname_changes_are_announced_and_validated() {
    let addr = start().await;
    let mut ana = Client::in_room(addr, "Ana", "r").await;
    let mut bo = Client::in_room(addr, "Bo", "r").await;
    ana.recv_type("member_joined").await;

    bo.send(json!({"type": "set_nick", "req_id": 3, "nickname": "  Bob  "})).await;
    let change = ana.recv_type("nick_changed").await;
    assert_eq!((change["old"].as_str(), change["new"].as_str()), (Some("Bo"), Some("Bob")));
    assert_eq!(bo.recv_type("ack").await["req_id"], 3);

    for bad in [json!(""), json!("x".repeat(33)), json!("a\u{7}b")] {
        bo.send(json!({"type": "set_nick", "req_id": 4, "nickname": bad})).await;
        let e = bo.recv_type("error").await;
        assert_eq!((e["code"].as_str(), e["req_id"].as_u64()), (Some("invalid_nickname"), Some(4)));
    }
    for bad in [json!("   "), json!("r".repeat(65)), json!("bad\nroom")] {
        bo.send(json!({"type": "join", "req_id": 5, "room": bad})).await;
        assert_eq!(bo.recv_type("error").await["code"], "invalid_room");
    }
    // The later messages still carry the accepted nickname.
    bo.send(json!({"type": "chat", "text": "still here"})).await;
    assert_eq!(ana.recv_type("message").await["message"]["nickname"], "Bob");
}

#[tokio::test]
async fn malformed_unknown_and_mistyped_frames_get_errors_and_the_connection_stays() {
    let addr = start().await;
    let mut c = Client::in_room(addr, "Ana", "r").await;
    c.send_raw("{this is not json").await;
    let e = c.recv_type("error").await;
    assert_eq!(e["code"], "bad_json");
    assert!(e["message"].as_str().unwrap().contains("malformed JSON"));

    c.send(json!({"type": "teleport", "req_id": 11})).await;
    let e = c.recv_type("error").await;
    assert_eq!((e["code"].as_str(), e["req_id"].as_u64()), (Some("unknown_type"), Some(11)));
    assert!(e["message"].as_str().unwrap().contains("teleport"));

    c.send(json!({"type": "chat", "req_id": 12, "text": 42})).await;
    let e = c.recv_type("error").await;
    assert_eq!((e["code"].as_str(), e["req_id"].as_u64()), (Some("bad_fields"), Some(12)));

    c.send(json!({"type": "chat", "req_id": 13, "text": "<script>alert(1)</script>"})).await;
    let ack = c.recv_type("ack").await;
    assert_eq!(ack["message"]["text"], "<script>alert(1)</script>", "text is stored as sent");
}

#[tokio::test]
async fn oversized_frames_close_with_1009_and_binary_with_1003() {
    let addr = start().await;
    let mut observer = Client::in_room(addr, "Obs", "r").await;

    let mut big = Client::in_room(addr, "Big", "r").await;
    let text = format!(r#"{{"type":"chat","text":"{}"}}"#, "x".repeat(MAX_FRAME_BYTES + 1));
    big.send_raw(&text).await;
    assert_eq!(big.close_code().await, u16::from(CloseCode::Size));

    // Far beyond the limit: refused by the WebSocket layer, still a 1009.
    let mut huge = Client::in_room(addr, "Huge", "r").await;
    let _ = huge.ws.send(Message::text("y".repeat(1 << 20))).await;
    assert_eq!(huge.close_code().await, 1009);

    let mut bin = Client::in_room(addr, "Bin", "r").await;
    bin.ws.send(Message::binary(vec![0u8, 1, 2])).await.unwrap();
    assert_eq!(bin.close_code().await, u16::from(CloseCode::Unsupported));

    // Nobody else was affected.
    observer.send(json!({"type": "chat", "req_id": 1, "text": "fine"})).await;
    assert_eq!(observer.recv_type("ack").await["req_id"], 1);
}

#[tokio::test]
async fn a_flood_is_throttled_then_closed_and_the_room_goes_on() {
    let addr = start().await;
    let mut observer = Client::in_room(addr, "Obs", "r").await;
    let mut flood = Client::in_room(addr, "Flood", "r").await;
    observer.recv_type("member_joined").await;

    for i in 0..300 {
        if flood.ws.send(Message::text(json!({"type": "chat", "req_id": i, "text": "spam"}).to_string())).await.is_err() {
            break;
        }
    }
    let mut throttled = 0;
    let code = loop {
        match tokio::time::timeout(WAIT, flood.ws.next()).await.unwrap() {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["code"] == "rate_limited" {
                    throttled += 1;
                    assert!(v["message"].as_str().unwrap().contains("too many messages"));
                }
            }
            Some(Ok(Message::Close(Some(f)))) => break u16::from(f.code),
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(code, u16::from(CloseCode::Policy));
    assert!(throttled >= 1);

    // The observer got at most the burst (plus refill while the test ran), then the notice.
    let mut spam = 0;
    loop {
        let v = observer.recv().await;
        match v["type"].as_str() {
            Some("message") => spam += 1,
            Some("member_left") => break,
            _ => {}
        }
    }
    assert!(spam >= 1 && spam <= RATE_BURST as usize + 20, "observer got {spam} messages");
    observer.send(json!({"type": "chat", "req_id": 1, "text": "still works"})).await;
    assert_eq!(observer.recv_type("ack").await["req_id"], 1);
}

#[tokio::test]
async fn late_joiners_get_history_with_sequence_numbers() {
    let addr = start().await;
    let mut ana = Client::in_room(addr, "Ana", "r").await;
    for i in 1..=3 {
        ana.send(json!({"type": "chat", "req_id": i, "text": format!("m{i}")})).await;
        ana.recv_type("ack").await;
    }
    let mut bo = Client::connect(addr).await;
    bo.send(json!({"type": "join", "room": "r"})).await;
    let joined = bo.recv_type("joined").await;
    let history: Vec<(u64, &str)> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["seq"].as_u64().unwrap(), m["text"].as_str().unwrap()))
        .collect();
    assert_eq!(history, [(1, "m1"), (2, "m2"), (3, "m3")]);
}

#[tokio::test]
async fn foreign_origins_are_refused_and_allow_listed_ones_accepted() {
    let config = Config { allowed_origins: vec!["https://meet.example.com".into()], ..Config::default() };
    let addr = start_with(config).await;
    let request = |origin: &str| {
        let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
        req.headers_mut().insert("Origin", origin.parse().unwrap());
        req
    };
    let err = tokio_tungstenite::connect_async(request("http://evil.example")).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    assert!(tokio_tungstenite::connect_async(request(&format!("http://{addr}"))).await.is_ok());
    assert!(tokio_tungstenite::connect_async(request("https://meet.example.com")).await.is_ok());
}

#[tokio::test]
async fn over_the_connection_limit_closes_with_1013() {
    let addr = start_with(Config { max_connections: 2, ..Config::default() }).await;
    let _a = Client::connect(addr).await;
    let _b = Client::connect(addr).await;
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.unwrap();
    let mut c = Client { ws, conn_id: 0 };
    assert_eq!(c.close_code().await, 1013);
}

// ---- Calls: signalling relay rules ----

fn media(audio: bool, video: bool) -> Value {
    json!({"audio": audio, "video": video, "screen": false})
}

async fn in_call(addr: SocketAddr, nick: &str, room: &str) -> Client {
    let mut c = Client::in_room(addr, nick, room).await;
    c.send(json!({"type": "call_join", "req_id": 100, "media": media(true, true)})).await;
    let joined = c.recv_type("call_joined").await;
    assert_eq!(joined["req_id"], 100);
    c
}

fn offer_to(to: u64, sdp: &str) -> Value {
    json!({"type": "signal", "to": to, "payload": {"kind": "description", "sdp_type": "offer", "sdp": sdp}})
}

#[tokio::test]
async fn call_join_gives_ice_servers_and_participants_and_caps_at_four() {
    let config = Config { stun: vec!["stun:stun.test:3478".into()], ..Config::default() };
    let addr = start_with(config).await;
    let mut watcher = Client::in_room(addr, "Watcher", "r").await; // in the room, not the call
    let mut a = in_call(addr, "A", "r").await;
    let _b = in_call(addr, "B", "r").await;
    let _c = in_call(addr, "C", "r").await;

    let mut d = Client::in_room(addr, "D", "r").await;
    d.send(json!({"type": "call_join", "req_id": 1, "media": media(false, true)})).await;
    let joined = d.recv_type("call_joined").await;
    assert_eq!(joined["ice_servers"], json!([{"urls": ["stun:stun.test:3478"]}]));
    let names: Vec<&str> = joined["participants"].as_array().unwrap().iter().map(|p| p["nickname"].as_str().unwrap()).collect();
    assert_eq!(names, ["A", "B", "C"]);
    let seen = a.recv_type("call_participant_joined").await;
    assert_eq!(seen["participant"]["nickname"], "B");

    let mut e = Client::in_room(addr, "E", "r").await;
    e.send(json!({"type": "call_join", "req_id": 2, "media": media(true, true)})).await;
    let err = e.recv_type("error").await;
    assert_eq!((err["code"].as_str(), err["message"].as_str()), (Some("call_full"), Some("This call is full (4)")));

    // Someone in the room but not in the call sees who is in it.
    let mut joined_names = Vec::new();
    while joined_names.len() < 4 {
        joined_names.push(watcher.recv_type("call_participant_joined").await["participant"]["nickname"].clone());
    }
    assert_eq!(joined_names, [json!("A"), json!("B"), json!("C"), json!("D")]);
}

#[tokio::test]
async fn signals_are_relayed_to_the_addressee_only_and_only_within_the_call() {
    let addr = start().await;
    let mut a = in_call(addr, "A", "r").await;
    let mut b = in_call(addr, "B", "r").await;
    let mut c = in_call(addr, "C", "r").await;
    let mut outsider = Client::in_room(addr, "Out", "r").await;
    let mut other_room = in_call(addr, "X", "elsewhere").await;

    a.send(offer_to(b.conn_id, "v=0 for b")).await;
    let got = b.recv_type("signal").await;
    assert_eq!((got["from"].as_u64(), got["payload"]["sdp"].as_str()), (Some(a.conn_id), Some("v=0 for b")));
    assert!(c.drain().await.iter().all(|m| m["type"] != "signal"), "signal reached a third peer");

    a.send(json!({"type": "signal", "to": c.conn_id, "payload": {"kind": "candidate", "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdp_mid": "0", "sdp_m_line_index": 0}})).await;
    assert_eq!(c.recv_type("signal").await["payload"]["kind"], "candidate");

    for to in [outsider.conn_id, other_room.conn_id] {
        a.send(offer_to(to, "v=0")).await;
        assert_eq!(a.recv_type("error").await["code"], "not_in_call");
    }
    outsider.send(offer_to(a.conn_id, "v=0")).await;
    assert_eq!(outsider.recv_type("error").await["code"], "not_in_call");
    assert!(other_room.drain().await.iter().all(|m| m["type"] != "signal"));
}

#[tokio::test]
async fn oversized_signals_get_errors_and_big_offers_still_pass() {
    let addr = start().await;
    let mut a = in_call(addr, "A", "r").await;
    let mut b = in_call(addr, "B", "r").await;

    // A real offer with several m-lines can exceed the 16 KiB chat frame: it is relayed.
    let big_sdp = "a=candidate ".repeat(2000);
    assert!(big_sdp.len() > MAX_FRAME_BYTES);
    a.send(offer_to(b.conn_id, &big_sdp)).await;
    assert_eq!(b.recv_type("signal").await["payload"]["sdp"].as_str().map(str::len), Some(big_sdp.len()));

    // Over 64 KiB of SDP: an error frame, and the call goes on.
    a.send(offer_to(b.conn_id, &"x".repeat(65 * 1024))).await;
    let err = a.recv_type("error").await;
    assert_eq!(err["code"], "signal_too_large");
    a.send(offer_to(b.conn_id, "v=0 small")).await;
    assert_eq!(b.recv_type("signal").await["payload"]["sdp"], "v=0 small");

    // A chat frame over 16 KiB is still closed with 1009.
    a.send(json!({"type": "chat", "text": "y".repeat(MAX_FRAME_BYTES)})).await;
    assert_eq!(a.close_code().await, 1009);
}

#[tokio::test]
async fn leaving_the_call_the_room_or_the_connection_is_seen_by_the_others() {
    let addr = start().await;
    let mut a = in_call(addr, "A", "r").await;
    let mut b = in_call(addr, "B", "r").await;
    let c = in_call(addr, "C", "r").await;
    let mut d = in_call(addr, "D", "r").await;

    b.send(json!({"type": "call_state", "media": media(false, true)})).await;
    let state = a.recv_type("call_participant_state").await;
    assert_eq!((state["conn_id"].as_u64(), state["media"]["audio"].as_bool()), (Some(b.conn_id), Some(false)));

    b.send(json!({"type": "call_leave", "req_id": 5})).await;
    assert_eq!(b.recv_type("ack").await["req_id"], 5);
    assert_eq!(a.recv_type("call_participant_left").await["conn_id"].as_u64(), Some(b.conn_id));

    let c_id = c.conn_id;
    drop(c);
    assert_eq!(a.recv_type("call_participant_left").await["conn_id"].as_u64(), Some(c_id));

    d.send(json!({"type": "leave"})).await;
    assert_eq!(a.recv_type("call_participant_left").await["conn_id"].as_u64(), Some(d.conn_id));

    // Only A is left in the call: a newcomer's call_joined lists just A.
    let mut e = Client::in_room(addr, "E", "r").await;
    e.send(json!({"type": "call_join", "media": media(true, false)})).await;
    let joined = e.recv_type("call_joined").await;
    let ids: Vec<u64> = joined["participants"].as_array().unwrap().iter().map(|p| p["conn_id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [a.conn_id]);

    // Call requests outside a room or a call are refused.
    let mut f = Client::connect(addr).await;
    f.send(json!({"type": "call_join", "req_id": 8, "media": media(true, true)})).await;
    assert_eq!(f.recv_type("error").await["code"], "not_in_room");
    f.send(json!({"type": "call_leave", "req_id": 9})).await;
    assert_eq!(f.recv_type("error").await["code"], "not_in_call");
}

#[tokio::test]
async fn precompressed_files_are_served_as_they_are() {
    let root = std::env::temp_dir().join(format!("noom-site-{}", std::process::id()));
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("pkg/app.js"), "console.log('plain');".repeat(20)).unwrap();
    std::fs::write(root.join("pkg/app.js.br"), b"BROTLI-BYTES").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = LeptosOptions::builder().output_name("noom").site_root(root.to_string_lossy().to_string()).build();
    let config = Config { precompressed: true, ..Config::default() };
    tokio::spawn(serve(listener, config, options, std::future::pending()));

    let (status, head, body) = get(addr, "/pkg/app.js", "Accept-Encoding: br\r\n").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-encoding: br"), "{head}");
    assert_eq!(body, "BROTLI-BYTES");
    // No .gz next to it: gzip is made on the fly instead.
    let (_, head, _) = get(addr, "/pkg/app.js", "Accept-Encoding: gzip\r\n").await;
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let (_, head, body) = get(addr, "/pkg/app.js", "").await;
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(body.starts_with("console.log"));
    std::fs::remove_dir_all(root).ok();
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = LeptosOptions::builder().output_name("noom").site_root("target/site").build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, Config::default(), options, async {
        let _ = stopped.await;
    }));
    let mut a = Client::in_room(addr, "A", "r").await;
    let mut b = Client::connect(addr).await;
    stop.send(()).unwrap();
    assert_eq!(a.close_code().await, 1001);
    assert_eq!(b.close_code().await, 1001);
    tokio::time::timeout(WAIT, server).await.expect("server did not stop").unwrap().unwrap();
}

#[tokio::test]
async fn signalling_bursts_are_not_held_to_the_chat_rate() {
    let addr = start().await;
    let mut a = in_call(addr, "A", "r").await;
    let mut b = in_call(addr, "B", "r").await;
    // A candidate burst well over the chat burst of 40, as a call of four can produce.
    let n = 150;
    for i in 0..n {
        let candidate = format!("candidate:{i} 1 udp 2122260223 127.0.0.1 {} typ host", 50000 + i);
        a.send(json!({"type": "signal", "to": b.conn_id, "payload": {"kind": "candidate", "candidate": candidate, "sdp_mid": "0", "sdp_m_line_index": 0}})).await;
    }
    for _ in 0..n {
        assert_eq!(b.recv_type("signal").await["payload"]["kind"], "candidate");
    }
    assert!(a.drain().await.iter().all(|m| m["code"] != "rate_limited"), "a signal was throttled");
    // Chat keeps its own, smaller allowance.
    for i in 0..(RATE_BURST + 30) {
        a.send(json!({"type": "chat", "req_id": i, "text": "x"})).await;
    }
    assert_eq!(a.recv_type("error").await["code"], "rate_limited");
}
