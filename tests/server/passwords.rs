//! Room passwords: who is asked, who gets in, what a wrong guess costs, and that the
//! password itself never travels to anyone. (That it outlives the meeting and a restart,
//! stored only as a hash, is in `durability.rs`.)

use crate::common::*;

const PASSWORD: &str = "open sesame";

/// Every frame `c` gets until one answers `req_id`, that one last.
async fn until_answer(c: &mut Client, req_id: u64) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let v = c.recv().await;
        let done = v["req_id"] == req_id && matches!(v["type"].as_str(), Some("error" | "ack" | "joined"));
        frames.push(v);
        if done {
            return frames;
        }
    }
}

fn join(req_id: u64, password: Option<&str>) -> Value {
    let mut j = json!({"type": "join", "req_id": req_id, "room": "r"});
    if let Some(p) = password {
        j["password"] = json!(p);
    }
    j
}

#[tokio::test]
async fn a_protected_room_lets_in_only_who_gives_its_password_and_nothing_of_it_leaks_before() {
    let addr = start().await;
    let mut watcher = Client::connect(addr).await;
    watcher.send(json!({"type": "watch_rooms"})).await;
    let mut ana = Client::in_room(addr, "Ana", "r").await;
    let mut bo = Client::in_room(addr, "Bo", "r").await;
    ana.send(json!({"type": "chat", "req_id": 1, "text": "the plans"})).await;
    ack(&mut ana, 1).await;

    // Only a host may set it.
    bo.send(json!({"type": "set_password", "req_id": 2, "password": "mine"})).await;
    assert_eq!(refusal(&mut bo, 2).await, "not_host");
    ana.send(json!({"type": "set_password", "req_id": 3, "password": PASSWORD})).await;
    ack(&mut ana, 3).await;
    let changed = bo.recv_type("password_changed").await;
    assert_eq!((changed["protected"].as_bool(), changed["by"].as_u64()), (Some(true), Some(ana.conn_id)));
    assert!(!changed.to_string().contains(PASSWORD), "{changed}");
    // The home page shows that it has one, never what it is.
    loop {
        let list = watcher.recv_type("rooms").await;
        assert!(!list.to_string().contains(PASSWORD));
        if list["rooms"][0]["protected"] == true {
            break;
        }
    }

    let mut cy = Client::connect(addr).await;
    cy.send(join(4, None)).await;
    assert_eq!(until_answer(&mut cy, 4).await.last().unwrap()["code"], "password_required");
    cy.send(json!({"type": "history", "req_id": 5, "room": "r"})).await;
    assert_eq!(refusal(&mut cy, 5).await, "not_in_room", "no history without the password");
    cy.send(join(6, Some("open sesame!"))).await;
    assert_eq!(until_answer(&mut cy, 6).await.last().unwrap()["code"], "wrong_password");
    cy.send(join(7, Some(PASSWORD))).await;
    let frames = until_answer(&mut cy, 7).await;
    // Before `joined`, nothing of the room reached Cy: no members, no messages.
    assert_eq!(frames.len(), 1, "{frames:?}");
    let joined = &frames[0];
    assert_eq!((joined["type"].as_str(), joined["protected"].as_bool()), (Some("joined"), Some(true)));
    assert_eq!(joined["history"][0]["text"], "the plans");
    assert_eq!(bo.recv_type("member_joined").await["member"]["conn_id"], cy.conn_id);

    // Removed: anyone may come in again.
    ana.send(json!({"type": "set_password", "req_id": 8})).await;
    ack(&mut ana, 8).await;
    let changed = bo.recv_type("password_changed").await;
    assert_eq!(changed["protected"], false);
    let mut dan = Client::connect(addr).await;
    dan.send(join(9, None)).await;
    assert_eq!(until_answer(&mut dan, 9).await.last().unwrap()["type"], "joined");
}

#[tokio::test]
async fn wrong_passwords_from_one_connection_are_slowed_down_and_nobody_else_is() {
    let addr = start().await;
    let mut ana = Client::in_room(addr, "Ana", "r").await;
    ana.send(json!({"type": "set_password", "req_id": 1, "password": PASSWORD})).await;
    ack(&mut ana, 1).await;

    let mut eve = Client::connect(addr).await;
    for (i, guess) in ["a", "b", "c"].into_iter().enumerate() {
        let req_id = 10 + i as u64;
        eve.send(join(req_id, Some(guess))).await;
        assert_eq!(refusal(&mut eve, req_id).await, "wrong_password");
    }
    // The fourth try must wait, even with the right password.
    eve.send(join(20, Some(PASSWORD))).await;
    let frames = until_answer(&mut eve, 20).await;
    let refused = frames.last().unwrap();
    assert_eq!(refused["code"], "too_many_tries", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("try again in 1 s"), "{refused}");

    // Someone else, meanwhile, gets straight in.
    let mut cy = Client::connect(addr).await;
    cy.send(join(30, Some(PASSWORD))).await;
    assert_eq!(until_answer(&mut cy, 30).await.last().unwrap()["type"], "joined");
}

#[tokio::test]
async fn someone_who_was_in_comes_back_after_a_dropped_connection_past_the_lock_and_password() {
    let addr = start().await;
    let mut ana = from_device(addr, "Ana", "r", "dev-ana").await;
    let bo = from_device(addr, "Bo", "r", "dev-bo").await;
    ana.send(json!({"type": "set_password", "req_id": 1, "password": PASSWORD})).await;
    ack(&mut ana, 1).await;
    ana.send(json!({"type": "set_lock", "req_id": 2, "locked": true})).await;
    ack(&mut ana, 2).await;
    drop(bo);
    assert_eq!(ana.recv_type("member_left").await["member"]["nickname"], "Bo");

    // Bo's browser reconnects: a new connection, no password, the room locked.
    let mut bo = Client::connect(addr).await;
    bo.send(json!({"type": "join", "req_id": 3, "room": "r", "device": "dev-bo"})).await;
    assert_eq!(until_answer(&mut bo, 3).await.last().unwrap()["type"], "joined");
    // A newcomer does not.
    let mut cy = Client::connect(addr).await;
    cy.send(json!({"type": "join", "req_id": 4, "room": "r", "device": "dev-cy"})).await;
    assert_eq!(refusal(&mut cy, 4).await, "room_locked");
    ana.send(json!({"type": "set_lock", "req_id": 5, "locked": false})).await;
    ack(&mut ana, 5).await;
    cy.send(json!({"type": "join", "req_id": 6, "room": "r", "device": "dev-cy"})).await;
    assert_eq!(refusal(&mut cy, 6).await, "password_required");
}

#[tokio::test]
async fn a_password_out_of_bounds_is_refused_with_bad_fields() {
    let addr = start().await;
    let mut ana = Client::in_room(addr, "Ana", "r").await;
    let long = "x".repeat(noom::limits::MAX_PASSWORD_CHARS + 1);
    ana.send(json!({"type": "set_password", "req_id": 1, "password": long})).await;
    assert_eq!(refusal(&mut ana, 1).await, "bad_fields");
    ana.send(json!({"type": "set_password", "req_id": 2, "password": ""})).await;
    assert_eq!(refusal(&mut ana, 2).await, "bad_fields");
}
