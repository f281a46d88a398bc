//! Running a meeting: who may do what (hosts), lock, remove, mute requests, raised hands,
//! reactions — every rule checked at the protocol level, with real clients.

use crate::common::*;

#[tokio::test]
async fn the_first_in_is_host_and_only_hosts_may_run_the_meeting() {
    let addr = start().await;
    let mut ana = Client::connect(addr).await;
    ana.send(json!({"type": "join", "room": "r"})).await;
    let joined = ana.recv_type("joined").await;
    assert_eq!(joined["members"][0]["host"], true, "{joined}");
    let mut bo = Client::in_room(addr, "Bo", "r").await;
    let arrived = ana.recv_type("member_joined").await;
    assert!(arrived["member"].get("host").is_none(), "a newcomer is not a host: {arrived}");

    let a = ana.conn_id;
    for (req_id, request) in [
        (1, json!({"type": "set_lock", "locked": true})),
        (2, json!({"type": "remove", "conn_id": a})),
        (3, json!({"type": "make_host", "conn_id": bo.conn_id})),
        (4, json!({"type": "mute", "conn_id": a, "force": true})),
        (5, json!({"type": "raise_hand", "raised": false, "conn_id": a})),
    ] {
        let mut request = request;
        request["req_id"] = json!(req_id);
        bo.send(request).await;
        assert_eq!(refusal(&mut bo, req_id).await, "not_host", "request {req_id}");
    }
    // Ana is untouched and still alone in charge; she shares it.
    ana.send(json!({"type": "make_host", "req_id": 6, "conn_id": bo.conn_id})).await;
    let hosts = bo.recv_type("hosts").await;
    assert_eq!(hosts["hosts"], json!([a, bo.conn_id]));
    assert_eq!(hosts["by"], a);
    // Now Bo may lock the room.
    bo.send(json!({"type": "set_lock", "req_id": 7, "locked": true})).await;
    ack(&mut bo, 7).await;
}

#[tokio::test]
async fn a_locked_room_keeps_its_people_and_turns_newcomers_away() {
    let addr = start().await;
    let mut watcher = Client::connect(addr).await;
    watcher.send(json!({"type": "watch_rooms"})).await;
    let mut ana = Client::in_room(addr, "Ana", "r").await;
    let mut bo = Client::in_room(addr, "Bo", "r").await;
    ana.send(json!({"type": "set_lock", "req_id": 1, "locked": true})).await;
    assert_eq!(bo.recv_type("locked").await["locked"], true);
    // The home page shows the lock.
    loop {
        let rooms = watcher.recv_type("rooms").await;
        if rooms["rooms"][0]["locked"] == true {
            break;
        }
    }
    let mut cy = Client::connect(addr).await;
    cy.send(json!({"type": "join", "req_id": 2, "room": "r"})).await;
    assert_eq!(refusal(&mut cy, 2).await, "room_locked");
    // Those inside go on as before.
    bo.send(json!({"type": "chat", "req_id": 3, "text": "still here"})).await;
    ack(&mut bo, 3).await;
    ana.send(json!({"type": "set_lock", "req_id": 4, "locked": false})).await;
    ack(&mut ana, 4).await;
    cy.send(json!({"type": "join", "req_id": 5, "room": "r"})).await;
    let joined = cy.recv_type("joined").await;
    assert_eq!(joined["members"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_removed_person_cannot_come_back_from_the_same_browser_until_the_meeting_ends() {
    let addr = start().await;
    let mut ana = from_device(addr, "Ana", "r", "dev-ana").await;
    let mut bo = from_device(addr, "Bo", "r", "dev-bo").await;
    ana.send(json!({"type": "remove", "req_id": 1, "conn_id": bo.conn_id})).await;
    let removed = bo.recv_type("removed").await;
    assert_eq!((removed["room"].as_str(), removed["by"].as_u64()), (Some("r"), Some(ana.conn_id)));
    let left = ana.recv_type("member_left").await;
    assert_eq!((left["member"]["nickname"].as_str(), left["removed_by"].as_u64()), (Some("Bo"), Some(ana.conn_id)));
    // Not from the same connection, nor from a new one in the same browser.
    bo.send(json!({"type": "join", "req_id": 2, "room": "r", "device": "dev-bo"})).await;
    assert_eq!(refusal(&mut bo, 2).await, "removed");
    let mut bo_again = Client::connect(addr).await;
    bo_again.send(json!({"type": "join", "req_id": 3, "room": "r", "device": "dev-bo"})).await;
    assert_eq!(refusal(&mut bo_again, 3).await, "removed");
    // A host cannot remove themselves, and someone else may still come in.
    ana.send(json!({"type": "remove", "req_id": 4, "conn_id": ana.conn_id})).await;
    assert_eq!(refusal(&mut ana, 4).await, "bad_fields");
    let mut cy = from_device(addr, "Cy", "r", "dev-cy").await;
    // When everyone has left, the meeting is over: the room opens to Bo again.
    for (c, req_id) in [(&mut cy, 5), (&mut ana, 6)] {
        c.send(json!({"type": "leave", "req_id": req_id})).await;
        ack(c, req_id).await;
    }
    let bo_later = from_device(addr, "Bo", "r", "dev-bo").await;
    drop(bo_later);
}

#[tokio::test]
async fn when_the_last_host_leaves_the_longest_present_member_takes_over() {
    let addr = start().await;
    let mut ana = Client::in_room(addr, "Ana", "r").await;
    let mut bo = Client::in_room(addr, "Bo", "r").await;
    let mut cy = Client::in_room(addr, "Cy", "r").await;
    ana.send(json!({"type": "leave", "req_id": 1})).await;
    ack(&mut ana, 1).await;
    let b = bo.conn_id;
    for c in [&mut bo, &mut cy] {
        let hosts = c.recv_type("hosts").await;
        assert_eq!(hosts["hosts"], json!([b]));
        assert!(hosts.get("by").is_none(), "{hosts}");
    }
}

#[tokio::test]
async fn hands_go_up_in_order_and_only_hosts_lower_others() {
    let addr = start().await;
    let mut ana = Client::in_room(addr, "Ana", "r").await;
    let mut bo = Client::in_room(addr, "Bo", "r").await;
    let mut cy = Client::in_room(addr, "Cy", "r").await;
    bo.send(json!({"type": "raise_hand", "req_id": 1, "raised": true})).await;
    ack(&mut bo, 1).await;
    cy.send(json!({"type": "raise_hand", "req_id": 2, "raised": true})).await;
    ack(&mut cy, 2).await;
    let mut hands = ana.recv_type("hands").await;
    if hands["hands"].as_array().unwrap().len() == 1 {
        hands = ana.recv_type("hands").await;
    }
    assert_eq!(hands["hands"], json!([bo.conn_id, cy.conn_id]), "in the order raised");
    // Cy may not lower Bo's hand, nor raise it; Ana (host) may lower it.
    cy.send(json!({"type": "raise_hand", "req_id": 3, "raised": false, "conn_id": bo.conn_id})).await;
    assert_eq!(refusal(&mut cy, 3).await, "not_host");
    ana.send(json!({"type": "raise_hand", "req_id": 4, "raised": true, "conn_id": bo.conn_id})).await;
    assert_eq!(refusal(&mut ana, 4).await, "bad_fields");
    ana.send(json!({"type": "raise_hand", "req_id": 5, "raised": false, "conn_id": bo.conn_id})).await;
    let lowered = bo.recv_type("hands").await;
    let lowered = if lowered["hands"].as_array().unwrap().len() == 2 { bo.recv_type("hands").await } else { lowered };
    assert_eq!((lowered["hands"].clone(), lowered["by"].as_u64()), (json!([cy.conn_id]), Some(ana.conn_id)));
    // A newcomer sees the hands in `joined`; a hand goes down when its owner leaves.
    let mut dee = Client::connect(addr).await;
    dee.send(json!({"type": "join", "room": "r"})).await;
    assert_eq!(dee.recv_type("joined").await["hands"], json!([cy.conn_id]));
    drop(cy);
    assert_eq!(dee.recv_type("hands").await["hands"], json!([]));
}

#[tokio::test]
async fn reactions_reach_everyone_in_the_room_and_are_limited() {
    let addr = start().await;
    let mut ana = Client::in_room(addr, "Ana", "r").await;
    let mut bo = Client::in_room(addr, "Bo", "r").await;
    let mut elsewhere = Client::in_room(addr, "El", "other").await;
    ana.send(json!({"type": "react", "emoji": "👏"})).await;
    let r = bo.recv_type("reaction").await;
    assert_eq!((r["conn_id"].as_u64(), r["emoji"].as_str()), (Some(ana.conn_id), Some("👏")));
    assert_eq!(ana.recv_type("reaction").await["emoji"], "👏", "the sender sees it on their own tile");
    ana.send(json!({"type": "react", "emoji": "<img src=x>"})).await;
    assert_eq!(ana.recv_type("error").await["code"], "bad_fields");
    // A burst: the first few go out, then `rate_limited`.
    for _ in 0..8 {
        ana.send(json!({"type": "react", "emoji": "🎉"})).await;
    }
    assert_eq!(ana.recv_type("error").await["code"], "rate_limited");
    assert!(!elsewhere.drain().await.iter().any(|v| v["type"] == "reaction"), "another room saw it");
}

#[tokio::test]
async fn a_host_can_ask_someone_to_mute_or_mute_them() {
    let addr = start().await;
    let mut ana = Client::in_room(addr, "Ana", "r").await;
    let mut bo = Client::in_room(addr, "Bo", "r").await;
    bo.send(json!({"type": "call_join", "req_id": 1, "media": {"audio": true, "video": true}})).await;
    bo.recv_type("call_joined").await;
    ana.send(json!({"type": "mute", "req_id": 2, "conn_id": bo.conn_id})).await;
    let asked = bo.recv_type("mute_request").await;
    assert_eq!((asked["force"].as_bool(), asked["nickname"].as_str()), (Some(false), Some("Ana")));
    ana.send(json!({"type": "mute", "req_id": 3, "conn_id": bo.conn_id, "force": true})).await;
    assert_eq!(bo.recv_type("mute_request").await["force"], true);
    // The room sees Bo muted at once, whatever Bo's client does.
    let state = ana.recv_type("call_participant_state").await;
    assert_eq!((state["conn_id"].as_u64(), state["media"]["audio"].as_bool()), (Some(bo.conn_id), Some(false)));
}

#[tokio::test]
async fn the_waiting_room_holds_newcomers_until_a_host_admits_or_denies_them() {
    let addr = start().await;
    let mut ana = Client::in_room(addr, "Ana", "r").await;
    let mut bo = Client::in_room(addr, "Bo", "r").await;
    bo.send(json!({"type": "set_lobby", "req_id": 1, "enabled": true})).await;
    assert_eq!(refusal(&mut bo, 1).await, "not_host");
    ana.send(json!({"type": "set_lobby", "req_id": 2, "enabled": true})).await;
    assert_eq!(bo.recv_type("lobby_changed").await["enabled"], true);

    // Cy waits; only the host hears of it, and nobody in the room sees Cy yet.
    let mut cy = Client::connect(addr).await;
    cy.send(json!({"type": "set_nick", "nickname": "Cy"})).await;
    cy.send(json!({"type": "join", "req_id": 3, "room": "r"})).await;
    assert_eq!(cy.recv_type("waiting").await["room"], "r");
    let lobby = ana.recv_type("lobby").await;
    assert_eq!(lobby["waiting"][0]["nickname"], "Cy");
    bo.send(json!({"type": "admit", "req_id": 4, "conn_id": cy.conn_id})).await;
    assert_eq!(refusal(&mut bo, 4).await, "not_host");
    assert!(!bo.drain().await.iter().any(|v| v["type"] == "member_joined" || v["type"] == "lobby"));
    // Admitted: Cy gets `joined` (answering its own join), the room sees Cy arrive.
    ana.send(json!({"type": "admit", "req_id": 5, "conn_id": cy.conn_id})).await;
    let joined = cy.recv_type("joined").await;
    assert_eq!(joined["req_id"], 3);
    assert_eq!(joined["lobby"], true);
    assert_eq!(bo.recv_type("member_joined").await["member"]["nickname"], "Cy");
    assert_eq!(ana.recv_type("lobby").await["waiting"], json!([]));

    // Dee is turned away; Eve gives up waiting (her connection goes): the list empties.
    let mut dee = Client::connect(addr).await;
    dee.send(json!({"type": "join", "req_id": 6, "room": "r"})).await;
    dee.recv_type("waiting").await;
    ana.recv_type("lobby").await;
    ana.send(json!({"type": "deny", "req_id": 7, "conn_id": dee.conn_id})).await;
    assert_eq!(refusal(&mut dee, 6).await, "denied");
    let mut eve = Client::connect(addr).await;
    eve.send(json!({"type": "join", "room": "r"})).await;
    eve.recv_type("waiting").await;
    loop {
        let lobby = ana.recv_type("lobby").await;
        if lobby["waiting"].as_array().unwrap().len() == 1 {
            break;
        }
    }
    drop(eve);
    assert_eq!(ana.recv_type("lobby").await["waiting"], json!([]));

    // Turning the waiting room off lets whoever waits in.
    let mut fay = Client::connect(addr).await;
    fay.send(json!({"type": "join", "room": "r"})).await;
    fay.recv_type("waiting").await;
    ana.send(json!({"type": "set_lobby", "req_id": 8, "enabled": false})).await;
    assert_eq!(fay.recv_type("joined").await["members"].as_array().unwrap().len(), 4);
}
