//! Calls: membership, caps, modes and the relay of signalling.

use crate::common::*;

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

/// The peer-to-peer rules are tested in calls kept peer to peer up to four (`--p2p-max 4`).
async fn start_mesh() -> SocketAddr {
    start_with(Config { p2p_max: 4, max_call_size: 4, ..config() }).await
}

fn offer_to(to: u64, sdp: &str) -> Value {
    json!({"type": "signal", "to": to, "payload": {"kind": "description", "sdp_type": "offer", "sdp": sdp}})
}

#[tokio::test]
async fn call_join_gives_ice_servers_and_participants_and_caps_at_four() {
    let config = Config { stun: vec!["stun:stun.test:3478".into()], no_stun: false, p2p_max: 4, max_call_size: 4, ..config() };
    let addr = start_with(config).await;
    let mut watcher = Client::in_room(addr, "Watcher", "r").await; // in the room, not the call
    let mut a = in_call(addr, "A", "r").await;
    let _b = in_call(addr, "B", "r").await;
    let _c = in_call(addr, "C", "r").await;

    let mut d = Client::in_room(addr, "D", "r").await;
    d.send(json!({"type": "call_join", "req_id": 1, "media": media(false, true)})).await;
    let joined = d.recv_type("call_joined").await;
    assert_eq!(joined["ice_servers"][0], json!({"urls": ["stun:stun.test:3478"]}));
    // The built-in TURN server, with a credential of D's own.
    let turn = &joined["ice_servers"][1];
    assert!(turn["urls"][0].as_str().unwrap().starts_with("turn:127.0.0.1:"), "{turn}");
    assert!(turn["username"].as_str().unwrap().ends_with(&format!(":{}", d.conn_id)), "{turn}");
    assert!(!turn["credential"].as_str().unwrap().is_empty());
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
    let addr = start_mesh().await;
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
    let addr = start_mesh().await;
    let mut a = in_call(addr, "A", "r").await;
    let mut b = in_call(addr, "B", "r").await;

    // A real offer with several m-lines can exceed the 16 KiB chat frame: it is relayed.
    let big_sdp = "a=candidate ".repeat(2000);
    assert!(big_sdp.len() > MAX_FRAME_BYTES);
    a.send(offer_to(b.conn_id, &big_sdp)).await;
    assert_eq!(b.recv_type("signal").await["payload"]["sdp"].as_str().map(str::len), Some(big_sdp.len()));

    // SDP over the limit (but in a frame the socket still takes): an error frame, and the
    // call goes on.
    a.send(offer_to(b.conn_id, &"x".repeat(MAX_SDP_BYTES + 1))).await;
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
    let addr = start_mesh().await;
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
async fn signalling_bursts_are_not_held_to_the_chat_rate() {
    let addr = start_mesh().await;
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

#[tokio::test]
async fn joins_beyond_the_media_servers_capacity_are_refused_and_the_call_stays_peer_to_peer() {
    // Room calls of two stay P2P; the SFU holds two people on the whole server.
    let addr = start_with(Config { p2p_max: 2, sfu_max_participants: 2, ..config() }).await;
    let _a = in_call(addr, "A", "r").await;
    let _b = in_call(addr, "B", "r").await;
    // A third would move all three to the SFU: more than it holds.
    let mut c = Client::in_room(addr, "C", "r").await;
    c.send(json!({"type": "call_join", "req_id": 1, "media": media(true, true)})).await;
    let err = c.recv_type("error").await;
    assert_eq!(err["code"], "call_full");
    assert_eq!(err["message"], "The media server is full (2 people in calls); try again later");

    // With every call on the SFU, a third person on the server is refused, whatever the room.
    let addr = start_with(Config { p2p_max: 0, sfu_max_participants: 2, ..config() }).await;
    let first = in_call(addr, "A", "one").await;
    let _second = in_call(addr, "B", "two").await;
    let mut third = Client::in_room(addr, "C", "one").await;
    third.send(json!({"type": "call_join", "req_id": 1, "media": media(true, true)})).await;
    assert_eq!(third.recv_type("error").await["code"], "call_full");
    // A place frees when someone leaves.
    drop(first);
    assert!(third.recv_type("call_participant_left").await.is_object());
    third.send(json!({"type": "call_join", "req_id": 2, "media": media(true, true)})).await;
    assert_eq!(third.recv_type("call_joined").await["req_id"], 2, "the place A left is taken");
}
