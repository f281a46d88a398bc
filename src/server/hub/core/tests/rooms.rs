//! Entering, leaving, chat, catching up, the room list, and purging after a panic.

use super::*;

fn hub() -> TestHub {
    TestHub::new(CallLimits { max_call_size: 4, p2p_max: 4, sfu_max_participants: 100, ..CallLimits::default() })
}

#[test]
fn join_chat_and_leave_are_scoped_to_the_room() {
    let mut hub = hub();
    for id in 1..=3 {
        hub.connect(id, 64);
    }
    hub.req(1, join("lobby"));
    hub.req(2, join("lobby"));
    hub.req(3, join("other"));
    hub.settle();
    for id in 1..=3 {
        hub.drain(id);
    }

    hub.req(1, chat(Some(5), "hi"));
    assert!(hub.drain(1).is_empty() && hub.drain(2).is_empty(), "nothing before the store wrote it");
    hub.settle();
    let to_a = hub.drain(1);
    let to_b = hub.drain(2);
    assert!(hub.drain(3).is_empty(), "another room heard the message");
    let ServerMsg::Ack { req_id: 5, message: Some(sent) } = &to_a[0] else { panic!("{to_a:?}") };
    assert_eq!((sent.seq, sent.text.as_str(), sent.from), (1, "hi", 1));
    assert_eq!(to_b, vec![ServerMsg::Message { message: sent.clone() }]);

    hub.disconnect(1);
    let left = hub.drain(2);
    assert!(matches!(&left[0], ServerMsg::MemberLeft { member, .. } if member.conn_id == 1 && member.host), "{left:?}");
    // The host left: the longest-present member (Bo, 2) runs the room now.
    assert!(matches!(&left[1..], [ServerMsg::Hosts { hosts, by: None, .. }] if hosts == &[2]), "{left:?}");
    assert!(hub.closed(1), "a disconnected connection's outbox is let go of");
}

#[test]
fn a_late_joiner_gets_members_and_the_recent_history() {
    let mut hub = hub();
    hub.connect(1, 64);
    hub.req(1, join("r"));
    for i in 0..(HISTORY_LEN + 5) {
        hub.req(1, chat(None, &format!("m{i}")));
    }
    hub.connect(2, 64);
    hub.req(2, ClientMsg::Join { req_id: Some(1), room: "r".into(), since: None, epoch: None, device: None, password: None });
    hub.settle();
    let msgs = hub.drain(2);
    let ServerMsg::Joined { req_id: Some(1), members, history, earlier: true, .. } = &msgs[1] else { panic!("{msgs:?}") };
    assert_eq!(members.iter().map(|m| m.conn_id).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(history.len(), HISTORY_LEN);
    assert_eq!(history.last().unwrap().seq, (HISTORY_LEN + 5) as u64);
}

#[test]
fn what_the_room_says_while_someone_enters_comes_after_joined_and_never_twice() {
    let mut hub = hub();
    hub.connect_to(1, "r");
    hub.connect(2, 64);
    // Ana's message is stored before Bo's history is read, and broadcast after he entered.
    hub.req(1, chat(None, "before"));
    hub.req(2, join("r"));
    hub.req(1, ClientMsg::SetNick { req_id: None, nickname: "Ana".into() });
    assert_eq!(hub.drain(2).len(), 1, "only the welcome: the rest is held until joined");
    hub.settle();
    let msgs = hub.drain(2);
    let [ServerMsg::Joined { history, .. }, ServerMsg::NickChanged { .. }] = &msgs[..] else { panic!("{msgs:?}") };
    assert_eq!(history.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["before"], "in the history, not sent again");
}

#[test]
fn a_client_that_falls_behind_is_caught_up_from_history_not_dropped() {
    let mut hub = hub();
    hub.connect(1, 1024);
    hub.connect(2, 4);
    hub.req(1, join("r"));
    hub.req(2, join("r"));
    hub.settle();
    hub.drain(2);
    for i in 0..20 {
        hub.req(1, chat(Some(i), &format!("m{i}")));
    }
    hub.settle();
    // The slow one's queue filled after 4 messages: the room went on without waiting.
    let to_fast = hub.drain(1);
    assert_eq!(to_fast.iter().filter(|m| matches!(m, ServerMsg::Ack { .. })).count(), 20);
    assert!(!to_fast.iter().any(|m| matches!(m, ServerMsg::MemberLeft { .. })), "nobody was dropped");
    // Not read yet: nothing more is queued for it.
    hub.catch_up();
    hub.settle();
    assert_eq!(hub.drain(2).len(), 4);

    // It has read those four: with room again, it is caught up from the store.
    hub.catch_up();
    hub.settle();
    let rest = hub.drain(2);
    assert!(matches!(&rest[0], ServerMsg::Lagged { last_seq: Some(4), .. }), "{rest:?}");
    let ServerMsg::Joined { history, .. } = &rest[1] else { panic!("{rest:?}") };
    assert_eq!(history.iter().map(|m| m.seq).collect::<Vec<_>>(), (5..=20).collect::<Vec<_>>());
    assert!(!hub.closed(2), "still connected");

    // And it receives the room live again.
    hub.req(1, chat(None, "after"));
    hub.settle();
    assert!(hub.drain(2).iter().any(|m| matches!(m, ServerMsg::Message { message } if message.seq == 21)));
}

#[test]
fn the_room_list_goes_to_watchers_only_once_per_interval() {
    let mut hub = hub();
    hub.connect(1, 64);
    hub.req(1, ClientMsg::WatchRooms { req_id: None });
    assert!(matches!(&hub.drain(1)[..], [ServerMsg::Welcome { .. }, ServerMsg::Rooms { rooms }] if rooms.is_empty()));
    let start = hub.clock.mono;
    for id in 2..12 {
        hub.connect(id, 64);
        hub.req(id, join("busy"));
        hub.advance(Duration::from_millis(5));
    }
    // One deadline, set by the first change.
    assert_eq!(hub.room_list_at, Some(start + ROOM_LIST_INTERVAL));
    assert!(hub.drain(1).is_empty(), "nothing before the deadline");
    hub.input(Input::RoomListDue);
    let lists = hub.drain(1);
    let [ServerMsg::Rooms { rooms }] = &lists[..] else { panic!("{lists:?}") };
    assert_eq!((rooms[0].name.as_str(), rooms[0].count), ("busy", 10));
    hub.settle();
    assert!(!hub.drain(2).iter().any(|m| matches!(m, ServerMsg::Rooms { .. })), "a member in a room got the room list");
}

#[test]
fn a_request_that_breaks_an_invariant_drops_only_its_connection() {
    let mut hub = hub();
    hub.connect_to(1, "r");
    hub.connect_to(2, "r");
    hub.connect_to(3, "s");
    hub.drain(1);
    // A bug left Bo's connection pointing at a room that no longer lists him.
    hub.core.conns.get_mut(&2).unwrap().room = Some("gone".into());
    hub.req(2, ClientMsg::Leave { req_id: Some(1) });
    // Nothing the broken handler meant to send went out; Bo's connection is closed.
    assert!(hub.drain(2).is_empty());
    assert!(hub.closed(2), "the culprit's connection is closed");
    let to_a = hub.drain(1);
    assert!(matches!(&to_a[..], [ServerMsg::MemberLeft { member, .. }] if member.conn_id == 2), "{to_a:?}");
    assert_eq!(hub.core.rooms["r"].members, [1]);
    hub.req(3, chat(Some(9), "still here"));
    hub.req(1, chat(Some(8), "me too"));
    hub.settle();
    assert!(matches!(&hub.drain(3)[..], [ServerMsg::Ack { req_id: 9, .. }]));
    assert!(matches!(&hub.drain(1)[..], [ServerMsg::Ack { req_id: 8, .. }]));
}

#[test]
fn nick_change_is_announced_in_the_room() {
    let mut hub = hub();
    hub.connect_to(1, "r");
    hub.connect_to(2, "r");
    hub.drain(1);
    hub.req(1, ClientMsg::SetNick { req_id: Some(3), nickname: "Ana".into() });
    let change = ServerMsg::NickChanged { conn_id: 1, old: "Anonymous".into(), new: "Ana".into() };
    assert_eq!(hub.drain(2), vec![change.clone()]);
    assert_eq!(hub.drain(1), vec![change, ServerMsg::Ack { req_id: 3, message: None }]);
}

#[test]
fn a_store_that_is_full_gets_store_unavailable_answered() {
    let mut hub = hub();
    hub.connect_to(1, "r");
    hub.store_full = true;
    hub.req(1, chat(Some(4), "lost"));
    assert_eq!(code(hub.drain(1)), ErrorCode::StoreUnavailable);
    // Entering still works, without history, and says why.
    hub.connect(2, 64);
    hub.drain(2);
    hub.req(2, join("r"));
    let msgs = hub.drain(2);
    assert!(
        matches!(&msgs[..], [ServerMsg::Joined { history, .. }, ServerMsg::Error { code: ErrorCode::StoreUnavailable, .. }] if history.is_empty()),
        "{msgs:?}"
    );
}
