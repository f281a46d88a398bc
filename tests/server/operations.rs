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
