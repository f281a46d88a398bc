//! What an operator relies on: log lines a collector can read, and (see `http.rs`) health.

use std::io::Read;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_level_target_and_message() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(data.path(), &["--log-format", "json"]).await;
    // Something worth a warning: a page from another site opening the socket.
    let mut request = format!("ws://{}/ws", server.addr).into_client_request().unwrap();
    request.headers_mut().insert("origin", "http://evil.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_err(), "a foreign origin is refused");
    let mut stdout = server.child.stdout.take().unwrap();
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let mut log = String::new();
    stdout.read_to_string(&mut log).unwrap();

    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty(), "nothing was logged");
    for line in &lines {
        for field in ["timestamp", "level", "target", "message"] {
            assert!(line.get(field).is_some(), "no `{field}` in {line}");
        }
    }
    let refused = lines.iter().find(|l| l["message"].as_str().is_some_and(|m| m.contains("foreign origin")));
    let refused = refused.unwrap_or_else(|| panic!("the refusal was not logged: {log}"));
    assert_eq!(refused["level"], "WARN");
    assert_eq!(refused["target"], "noom::server");
}

/// The sum of a metric's samples whose line starts with `series` (a name, or a name with
/// the start of its labels), in a Prometheus text scrape.
fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.strip_prefix(series).is_some_and(|rest| rest.starts_with([' ', '{', ',', '}'])))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_connections_rooms_chat_errors_and_closes_on_their_own_address() {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let metrics_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = Server::start_with(data.path(), &["--metrics-addr", &metrics_addr.to_string()]).await;
    let scrape = || async { get(metrics_addr, "/metrics", "").await.2 };
    // Not on the public address when it has its own.
    let (status, _, body) = get(server.addr, "/metrics", "").await;
    assert!(status != 200 || !body.contains("noom_"), "{status}");

    let before = scrape().await;
    let mut ana = Client::in_room(server.addr, "Ana", "m").await;
    let mut bo = Client::in_room(server.addr, "Bo", "m").await;
    ana.send(json!({"type": "chat", "req_id": 1, "text": "counted"})).await;
    ana.recv_type("ack").await;
    bo.recv_type("message").await;
    ana.send_raw("not json").await;
    assert_eq!(ana.recv_type("error").await["code"], "bad_json");
    let mut cy = Client::connect(server.addr).await;
    cy.ws.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    assert_eq!(cy.close_code().await, 1003);
    drop(cy);

    // The hub publishes rooms once a second, and Cy's socket is let go once it is closed:
    // wait for both (bounded).
    let deadline = tokio::time::Instant::now() + WAIT;
    let after = loop {
        let now = scrape().await;
        let open = sample(&now, "noom_connections_open");
        if sample(&now, "noom_rooms") == 1.0 && sample(&now, "noom_room_members") == 2.0 && open == 2.0 {
            break now;
        }
        assert!(tokio::time::Instant::now() < deadline, "rooms never published: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(delta("noom_chat_messages_total"), 1.0);
    assert_eq!(delta("noom_chat_deliveries_total"), 1.0, "to Bo; Ana got the ack");
    assert!(delta("noom_acks_total") >= 1.0);
    assert_eq!(delta("noom_errors_total{code=\"bad_json\""), 1.0);
    assert_eq!(delta("noom_closes_total{code=\"1003\""), 1.0);
    assert_eq!(delta("noom_connections_total"), 3.0);
    assert!(delta("noom_hub_command_seconds_count") >= 6.0, "connects, nicks, joins, chat");
    assert_eq!(delta("noom_store_write_seconds_count"), 1.0);
    assert_eq!(delta("noom_store_batch_size_sum"), 1.0);
    for series in ["noom_hub_queue_depth", "noom_sfu_packets_in_total", "noom_sfu_send_errors_total", "noom_call_participants"] {
        assert!(after.lines().any(|l| l.starts_with(series)), "{series} missing");
    }
    assert!(after.contains("# TYPE noom_hub_command_seconds histogram"), "{after}");
}
