//! Chat that is never lost: the real server binary on SQLite in a temporary data
//! directory, killed with SIGKILL and started again on the same directory.

use std::process::Command;

use crate::common::*;

fn chat(req_id: u64, text: &str, client_msg_id: &str) -> Value {
    json!({"type": "chat", "req_id": req_id, "text": text, "client_msg_id": client_msg_id})
}

/// Join `room`, resuming after `since` of database `epoch` if given.
async fn join(addr: SocketAddr, room: &str, since: Option<(u64, &str)>) -> (Client, Value) {
    let mut c = Client::connect(addr).await;
    let mut join = json!({"type": "join", "room": room});
    if let Some((since, epoch)) = since {
        join["since"] = json!(since);
        join["epoch"] = json!(epoch);
    }
    c.send(join).await;
    let joined = c.recv_type("joined").await;
    (c, joined)
}

/// Say `m{i}` for each `i` in `range` in `room`, in order, each acked before the next,
/// spread over connections so none exceeds the per-connection burst allowance. Returns the
/// stored messages from the acks.
async fn say(addr: SocketAddr, room: &str, range: std::ops::RangeInclusive<u64>) -> Vec<Value> {
    let mut acked = Vec::new();
    let all: Vec<u64> = range.collect();
    for chunk in all.chunks(RATE_BURST as usize / 2) {
        let (mut c, _) = join(addr, room, None).await;
        for i in chunk {
            c.send(chat(*i, &format!("m{i}"), &format!("cid-{i}"))).await;
            acked.push(c.recv_type("ack").await["message"].clone());
        }
    }
    acked
}

fn seqs(messages: &Value) -> Vec<u64> {
    messages.as_array().unwrap().iter().map(|m| m["seq"].as_u64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9_and_the_sequence_continues() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path()).await;
    let (_, joined) = join(server.addr, "r", None).await;
    let epoch = joined["epoch"].as_str().unwrap().to_string();
    let acked = say(server.addr, "r", 1..=120).await;
    assert_eq!(acked.iter().map(|m| m["seq"].as_u64().unwrap()).collect::<Vec<_>>(), (1..=120).collect::<Vec<_>>());
    server.kill_9();

    let server = Server::start(data.path()).await;
    let (mut b, joined) = join(server.addr, "r", Some((0, &epoch))).await;
    assert_eq!(joined["epoch"], epoch, "the same database");
    let history = joined["history"].as_array().unwrap();
    assert_eq!(history.len(), 120, "every acknowledged message is there");
    assert_eq!(history, &acked, "same ids, seqs, times and texts, in order");

    // The message whose ack was lost comes again: same answer, nothing new for the others.
    let (mut a, _) = join(server.addr, "r", None).await;
    a.send(chat(500, "m57", "cid-57")).await;
    let ack = a.recv_type("ack").await;
    assert_eq!(ack["message"], acked[56], "answered with the stored message");
    a.send(chat(501, "after the restart", "cid-new")).await;
    assert_eq!(a.recv_type("ack").await["message"]["seq"], 121, "the sequence continues");
    let next = b.recv_type("message").await;
    assert_eq!((next["message"]["seq"].as_u64(), next["message"]["text"].as_str()), (Some(121), Some("after the restart")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_away_for_300_messages_gets_exactly_those_and_can_page_back_to_the_start() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path()).await;
    let (_, joined) = join(server.addr, "r", None).await;
    let epoch = joined["epoch"].as_str().unwrap().to_string();
    say(server.addr, "r", 1..=10).await;
    // Away (offline) for the next 300.
    say(server.addr, "r", 11..=310).await;
    let (mut back, joined) = join(server.addr, "r", Some((10, &epoch))).await;
    assert_eq!(seqs(&joined["history"]), (11..=310).collect::<Vec<_>>(), "all 300, in order, once");
    assert_eq!((joined["more"].as_bool(), joined["earlier"].as_bool()), (Some(false), Some(true)));

    // A stale epoch (another database) gets the recent history instead.
    let (_, fresh) = join(server.addr, "r", Some((10, "another-database"))).await;
    assert_eq!(seqs(&fresh["history"]), (261..=310).collect::<Vec<_>>());

    // Paging back from the recent 50 reaches the first message.
    let mut before = 261;
    let mut pages = 0;
    loop {
        back.send(json!({"type": "history", "req_id": 1, "room": "r", "before": before, "limit": 100})).await;
        let page = back.recv_type("history").await;
        let s = seqs(&page["messages"]);
        assert_eq!(*s.last().unwrap(), before - 1, "no gap between pages");
        before = s[0];
        pages += 1;
        if !page["more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!((before, pages), (1, 3), "100 + 100 + 60 messages back to seq 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_password_outlives_the_meeting_and_kill_9_stored_only_as_a_salted_hash() {
    use sqlx::Connection;
    const PASSWORD: &str = "correct horse battery";
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path()).await;
    let (mut ana, _) = join(server.addr, "vault", None).await;
    ana.send(chat(1, "behind the door", "cid-1")).await;
    ana.recv_type("ack").await;
    ana.send(json!({"type": "set_password", "req_id": 2, "password": PASSWORD})).await;
    ack(&mut ana, 2).await;
    drop(ana);
    // Acked: on disk, even with no shutdown at all.
    server.kill_9();

    for file in ["noom.db", "noom.db-wal"] {
        let bytes = std::fs::read(data.path().join(file)).unwrap_or_default();
        assert!(!bytes.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()), "the password is in {file}");
    }
    let url = format!("sqlite://{}", data.path().join("noom.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let stored: String =
        sqlx::query_scalar("SELECT password_hash FROM rooms WHERE name = 'vault'").fetch_one(&mut db).await.unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    db.close().await.unwrap();

    // The meeting is over and the server restarted: whoever opens the room must know it.
    let server = Server::start(data.path()).await;
    let mut bo = Client::connect(server.addr).await;
    bo.send(json!({"type": "join", "req_id": 3, "room": "vault"})).await;
    assert_eq!(refusal(&mut bo, 3).await, "password_required");
    bo.send(json!({"type": "join", "req_id": 4, "room": "vault", "password": "correct horse"})).await;
    assert_eq!(refusal(&mut bo, 4).await, "wrong_password");
    bo.send(json!({"type": "join", "req_id": 5, "room": "vault", "password": PASSWORD})).await;
    let joined = bo.recv_type("joined").await;
    assert_eq!(joined["history"][0]["text"], "behind the door");
    assert_eq!(joined["members"][0]["host"], true, "the first to get in runs the room");
}

#[tokio::test]
async fn a_data_dir_that_cannot_be_used_stops_start_up_with_its_path_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let out = noom(&file.join("data"), addr).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("a-file/data") && stderr.contains("cannot create the data directory"), "{stderr}");

    // A database file that is not one.
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("noom.db"), vec![0x42u8; 8192]).unwrap();
    let out = noom(&data, addr).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("noom.db") && stderr.contains("cannot open the chat database"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_cannot_be_written_messages_are_refused_not_lost_and_health_says_so() {
    use sqlx::{Connection, Executor};
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path()).await;
    let (mut a, _) = join(server.addr, "r", None).await;
    let (mut b, _) = join(server.addr, "r", None).await;

    // Another program (a backup, say) holds the database's write lock.
    let url = format!("sqlite://{}", data.path().join("noom.db").display());
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    other.execute("BEGIN EXCLUSIVE").await.unwrap();
    a.send(chat(1, "during the lock", "cid-locked")).await;
    let err = a.recv_type("error").await;
    assert_eq!((err["req_id"].as_u64(), err["code"].as_str()), (Some(1), Some("store_unavailable")), "{err}");
    let (status, _, _) = get(server.addr, "/healthz", "").await;
    assert_eq!(status, 503, "health reports the failing store");

    // The lock goes; the client sends the same message again and it is stored once.
    other.execute("ROLLBACK").await.unwrap();
    a.send(chat(2, "during the lock", "cid-locked")).await;
    let ack = a.recv_type("ack").await;
    assert_eq!((ack["req_id"].as_u64(), ack["message"]["seq"].as_u64()), (Some(2), Some(1)));
    assert_eq!(b.recv_type("message").await["message"]["text"], "during the lock");
    assert_eq!(get(server.addr, "/healthz", "").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_cleanly_after_writing_what_it_accepted() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path()).await;
    let (mut a, _) = join(server.addr, "r", None).await;
    // A burst, then SIGTERM while it is still being written.
    for i in 1..=30 {
        a.send(chat(i, &format!("m{i}"), &format!("cid-{i}"))).await;
    }
    let first = a.recv_type("ack").await;
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut acked = vec![first["message"]["seq"].as_u64().unwrap()];
    loop {
        match tokio::time::timeout(WAIT, a.ws.next()).await.expect("the server closed in time") {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "ack" {
                    acked.push(v["message"]["seq"].as_u64().unwrap());
                }
            }
            Some(Ok(Message::Close(frame))) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(1001), "going away");
                break;
            }
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().unwrap();
        (server, status)
    });
    let (server, status) = tokio::time::timeout(WAIT, status).await.expect("the server exited in time").unwrap();
    assert!(status.success(), "a clean exit: {status}");
    drop(server);

    let server = Server::start(data.path()).await;
    let (_, joined) = join(server.addr, "r", Some((0, "any"))).await;
    let stored = joined["history"].as_array().unwrap().clone();
    let texts: Vec<&str> = stored.iter().map(|m| m["text"].as_str().unwrap()).collect();
    let expected: Vec<String> = (1..=stored.len()).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, expected, "what was stored is the burst's first messages, in order, without holes");
    assert!(acked.iter().all(|s| *s as usize <= stored.len()), "every acked message is stored: {acked:?}");
}
