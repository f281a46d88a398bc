use super::*;
use futures::channel::mpsc as fmpsc;

/// A connection over in-memory channels: what the client sends, what it receives.
async fn connect() -> (fmpsc::UnboundedSender<Result<Message, String>>, fmpsc::UnboundedReceiver<Message>) {
    let hub = HubHandle::with_memory_store(Default::default());
    let (to_server, server_in) = fmpsc::unbounded::<Result<Message, String>>();
    let (server_out, from_server) = fmpsc::unbounded::<Message>();
    let (_tx, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        let _keep = _tx;
        serve_socket(server_out, server_in, hub, shutdown, Duration::from_secs(10), "localhost".into()).await
    });
    (to_server, from_server)
}

fn text(s: &str) -> Result<Message, String> {
    Ok(Message::Text(s.into()))
}

async fn next_json(rx: &mut fmpsc::UnboundedReceiver<Message>) -> serde_json::Value {
    loop {
        match rx.next().await.expect("connection open") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

async fn close_code(rx: &mut fmpsc::UnboundedReceiver<Message>) -> u16 {
    while let Some(msg) = rx.next().await {
        if let Message::Close(Some(frame)) = msg {
            return frame.code;
        }
    }
    panic!("no close frame");
}

#[tokio::test]
async fn a_socket_that_takes_nothing_is_dropped_and_the_room_is_told() {
    let hub = HubHandle::with_memory_store(Default::default());
    let (_shutdown_tx, shutdown) = watch::channel(false);
    let (a_tx, a_in) = fmpsc::unbounded::<Result<Message, String>>();
    let (a_out, mut a_rx) = fmpsc::unbounded::<Message>();
    tokio::spawn(serve_socket(a_out, a_in, hub.clone(), shutdown.clone(), Duration::from_secs(10), "localhost".into()));
    // This one's socket takes one frame and then nothing (a client that stopped reading).
    let (s_tx, s_in) = fmpsc::unbounded::<Result<Message, String>>();
    let (s_out, _never_read) = fmpsc::channel::<Message>(0);
    tokio::spawn(serve_socket(s_out, s_in, hub.clone(), shutdown, Duration::from_millis(200), "localhost".into()));

    a_tx.unbounded_send(text(r#"{"type":"join","room":"r"}"#)).unwrap();
    s_tx.unbounded_send(text(r#"{"type":"set_nick","nickname":"Stuck"}"#)).unwrap();
    s_tx.unbounded_send(text(r#"{"type":"join","room":"r"}"#)).unwrap();
    let mut seen = Vec::new();
    let left = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let v = next_json(&mut a_rx).await;
            if v["type"] == "member_left" {
                return v;
            }
            seen.push(v["type"].as_str().unwrap_or_default().to_string());
        }
    })
    .await
    .expect("the stuck connection was dropped");
    assert_eq!(left["member"]["nickname"], "Stuck");
    assert!(seen.contains(&"member_joined".to_string()), "{seen:?}");
    // The room goes on for the one who reads.
    a_tx.unbounded_send(text(r#"{"type":"chat","req_id":7,"text":"still here"}"#)).unwrap();
    assert_eq!(next_json(&mut a_rx).await["req_id"], 7);
    drop(s_tx);
}

#[tokio::test]
async fn a_stopped_hub_closes_connections_with_1011_not_as_too_slow_or_shutting_down() {
    let (hub, inbox) = HubHandle::unserved(16);
    let (_shutdown_tx, shutdown) = watch::channel(false);
    let (_a_tx, a_in) = fmpsc::unbounded::<Result<Message, String>>();
    let (a_out, mut a_rx) = fmpsc::unbounded::<Message>();
    tokio::spawn(serve_socket(a_out, a_in, hub.clone(), shutdown.clone(), Duration::from_secs(10), "localhost".into()));
    tokio::task::yield_now().await;
    // The hub goes (its thread ended): with it, what it held of each connection.
    drop(inbox);
    assert_eq!(close_code(&mut a_rx).await, close::INTERNAL_ERROR);
    // Newcomers are told the same, at once.
    let (_b_tx, b_in) = fmpsc::unbounded::<Result<Message, String>>();
    let (b_out, mut b_rx) = fmpsc::unbounded::<Message>();
    serve_socket(b_out, b_in, hub.clone(), shutdown, Duration::from_secs(10), "localhost".into()).await;
    assert_eq!(close_code(&mut b_rx).await, close::INTERNAL_ERROR);
    assert!(!hub.is_alive());
}

#[tokio::test]
async fn a_hub_far_behind_refuses_chat_and_new_connections_at_the_edge() {
    let (hub, mut inbox) = HubHandle::unserved(4);
    let (_shutdown_tx, shutdown) = watch::channel(false);
    let (tx, server_in) = fmpsc::unbounded::<Result<Message, String>>();
    let (server_out, mut rx) = fmpsc::unbounded::<Message>();
    tokio::spawn(serve_socket(server_out, server_in, hub.clone(), shutdown.clone(), Duration::from_secs(10), "localhost".into()));
    // `connect` took one place; three chats fill the inbox, the fourth is refused.
    for i in 1..=4 {
        tx.unbounded_send(text(&format!(r#"{{"type":"chat","req_id":{i},"text":"m{i}"}}"#))).unwrap();
    }
    let refused = tokio::time::timeout(Duration::from_secs(10), next_json(&mut rx)).await.expect("refused, not held");
    assert_eq!((refused["code"].as_str(), refused["req_id"].as_u64()), (Some("overloaded"), Some(4)));
    // A newcomer is turned away with 1013 while the hub is this far behind.
    let (_tx2, server_in2) = fmpsc::unbounded::<Result<Message, String>>();
    let (server_out2, mut rx2) = fmpsc::unbounded::<Message>();
    tokio::spawn(serve_socket(server_out2, server_in2, hub.clone(), shutdown, Duration::from_secs(10), "localhost".into()));
    assert_eq!(close_code(&mut rx2).await, close::TRY_AGAIN_LATER);
    // What was taken is intact and in order: connect, then chats 1-3.
    assert!(matches!(inbox.recv().await, Some(Command::Connect { .. })));
    for i in 1..=3 {
        let Some(Command::Request { msg: ClientMsg::Chat { req_id, .. }, .. }) = inbox.recv().await else {
            panic!("chat {i} missing")
        };
        assert_eq!(req_id, Some(i));
    }
    assert!(inbox.try_recv().is_err(), "nothing else reached the hub");
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_connection_stays() {
    let (tx, mut rx) = connect().await;
    assert_eq!(next_json(&mut rx).await["type"], "welcome");
    tx.unbounded_send(text("{oops")).unwrap();
    assert_eq!(next_json(&mut rx).await["code"], "bad_json");
    tx.unbounded_send(text(r#"{"type":"fly","req_id":3}"#)).unwrap();
    let e = next_json(&mut rx).await;
    assert_eq!((e["code"].as_str(), e["req_id"].as_u64()), (Some("unknown_type"), Some(3)));
    tx.unbounded_send(text(r#"{"type":"set_nick","nickname":""}"#)).unwrap();
    assert_eq!(next_json(&mut rx).await["code"], "invalid_nickname");
    // Still served after all that.
    tx.unbounded_send(text(r#"{"type":"set_nick","req_id":4,"nickname":"Bo"}"#)).unwrap();
    assert_eq!(next_json(&mut rx).await, serde_json::json!({"type":"ack","req_id":4}));
}

#[tokio::test]
async fn binary_frame_closes_with_1003() {
    let (tx, mut rx) = connect().await;
    tx.unbounded_send(Ok(Message::Binary(vec![1, 2, 3].into()))).unwrap();
    assert_eq!(close_code(&mut rx).await, close::UNSUPPORTED_DATA);
}

#[tokio::test]
async fn oversized_frame_closes_with_1009() {
    let (tx, mut rx) = connect().await;
    let big = format!(r#"{{"type":"chat","text":"{}"}}"#, "x".repeat(MAX_FRAME_BYTES));
    tx.unbounded_send(text(&big)).unwrap();
    assert_eq!(close_code(&mut rx).await, close::MESSAGE_TOO_BIG);
}

#[tokio::test]
async fn flood_is_throttled_then_closed_with_1008() {
    let (tx, mut rx) = connect().await;
    for i in 0..200 {
        tx.unbounded_send(text(&format!(r#"{{"type":"set_nick","req_id":{i},"nickname":"n{i}"}}"#))).unwrap();
    }
    let (mut acks, mut throttled) = (0, 0);
    let code = loop {
        match rx.next().await.expect("closed without a close frame") {
            Message::Text(t) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                match v["type"].as_str() {
                    Some("ack") => acks += 1,
                    Some("error") if v["code"] == "rate_limited" => throttled += 1,
                    _ => {}
                }
            }
            Message::Close(Some(frame)) => break frame.code,
            _ => {}
        }
    };
    assert_eq!(code, close::POLICY_VIOLATION);
    // Throttled frames never reach the hub: at most the burst (plus refill) is acked.
    assert!(acks <= RATE_BURST as usize + 5, "acks: {acks}");
    assert!(throttled >= 1, "no rate_limited error before the close");
}
