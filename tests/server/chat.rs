//! Rooms and chat: membership, notices, history, validation, limits.

use crate::common::*;

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
    let config = Config { allowed_origins: vec!["https://meet.example.com".into()], ..config() };
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
    let addr = start_with(Config { max_connections: 2, ..config() }).await;
    let _a = Client::connect(addr).await;
    let _b = Client::connect(addr).await;
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.unwrap();
    let mut c = Client { ws, conn_id: 0 };
    assert_eq!(c.close_code().await, 1013);
}


// ---- Slow clients ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_reading_does_not_hold_up_the_room() {
    let addr = start_with(Config { slow_client_secs: 1.0, ..config() }).await;
    let mut first = Client::in_room(addr, "T0", "r").await;
    // A client with a tiny receive buffer that joins and then never reads again.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (mut stuck, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream).await.unwrap();
    stuck.send(Message::text(json!({"type": "set_nick", "nickname": "Stuck"}).to_string())).await.unwrap();
    stuck.send(Message::text(json!({"type": "join", "room": "r"}).to_string())).await.unwrap();

    assert_eq!(first.recv_type("member_joined").await["member"]["nickname"], "Stuck");
    let mut talkers = vec![first];
    for i in 1..4 {
        talkers.push(Client::in_room(addr, &format!("T{i}"), "r").await);
    }
    // Big messages until the stuck socket's buffers are full many times over.
    let text = "x".repeat(1900);
    let per_talker = RATE_BURST as usize - 5;
    for c in talkers.iter_mut() {
        for k in 0..per_talker {
            c.send(json!({"type": "chat", "req_id": k + 1, "text": text})).await;
        }
    }
    // Everyone who reads gets every message, in each sender's order.
    for (i, c) in talkers.iter_mut().enumerate() {
        let mut got = 0;
        while got < 3 * per_talker {
            if c.recv().await["type"] == "message" {
                got += 1;
            }
        }
        assert_eq!(got, 3 * per_talker, "talker {i} got every other talker's messages");
    }
    // After --slow-client-secs of taking nothing, the stuck one is dropped and the room told.
    let left = talkers[0].recv_type("member_left").await;
    assert_eq!(left["member"]["nickname"], "Stuck");
    drop(stuck);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_falls_behind_is_caught_up_not_dropped() {
    const TALKERS: usize = 15;
    let addr = start_with(Config { slow_client_secs: 8.0, ..config() }).await;
    // A slow reader: a tiny receive buffer, and no reading while the room bursts.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), MaybeTlsStream::Plain(stream)).await.unwrap();
    let mut slow = Client { ws, conn_id: 0 };
    slow.send(json!({"type": "join", "room": "busy"})).await;
    slow.recv_type("joined").await;
    // 525 messages of 2 KB: about twice what the slow one's 256-frame queue and the socket
    // buffers (64 KiB send buffer, 4 KiB receive buffer) hold while it does not read.
    let per_talker = RATE_BURST as usize - 5;
    let total = (TALKERS * per_talker) as u64;
    // A member who reads all along says when the room has had every message.
    let mut watcher = Client::in_room(addr, "W", "busy").await;
    let watched = tokio::spawn(async move {
        let mut seen = 0;
        while seen < total {
            if watcher.recv().await["type"] == "message" {
                seen += 1;
            }
        }
    });
    let text = "y".repeat(MAX_MESSAGE_CHARS);
    let mut talkers = Vec::new();
    for i in 0..TALKERS {
        let talker = Client::in_room(addr, &format!("T{i}"), "busy").await;
        let (mut tx, mut rx) = talker.ws.split();
        tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
        for k in 0..per_talker {
            let frame = json!({"type": "chat", "req_id": k + 1, "text": text}).to_string();
            tx.send(Message::text(frame)).await.unwrap();
        }
        talkers.push(tx); // stays connected
    }
    tokio::time::timeout(WAIT * 3, watched).await.expect("the watcher got every message").unwrap();

    // Now the slow one reads: what it could not take comes back through `lagged` + `joined`.
    let mut have = std::collections::BTreeSet::new();
    let mut lagged = 0;
    while have.len() < total as usize {
        let v = slow.recv().await;
        match v["type"].as_str() {
            Some("message") => {
                have.insert(v["message"]["seq"].as_u64().unwrap());
            }
            Some("lagged") => lagged += 1,
            Some("joined") => have.extend(v["history"].as_array().unwrap().iter().map(|m| m["seq"].as_u64().unwrap())),
            Some("member_left") => panic!("someone was dropped: {v}"),
            _ => {}
        }
    }
    assert!(lagged >= 1, "the burst never overflowed the slow member's queue: the test proves nothing");
    assert_eq!(have, (1..=total).collect());
    // Still connected, still in the room.
    slow.send(json!({"type": "chat", "req_id": 1, "text": "caught up"})).await;
    assert_eq!(slow.recv_type("ack").await["message"]["seq"], total + 1);
}
