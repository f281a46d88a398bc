//! Meeting controls, and the one rule for leaving (`Room::remove`) on every path to it.

use super::*;
use crate::protocol::CallMode;

fn hub() -> TestHub {
    TestHub::new(CallLimits { max_call_size: 10, p2p_max: 1, sfu_max_participants: 10, has_sfu: true, ..CallLimits::default() })
}

fn call_join(hub: &mut TestHub, conn_id: ConnId) {
    hub.req(conn_id, ClientMsg::CallJoin { req_id: None, media: MediaState { audio: true, video: true, screen: false, ..Default::default() } });
}

/// Ana (1) runs room `r` with its waiting room on; Bo (2) is a host too, has his hand up
/// and is alone in an SFU call; Cy (3) is in the room; Di (4) waits to come in.
fn meeting() -> TestHub {
    let mut hub = hub();
    for id in 1..=3 {
        hub.connect_to(id, "r");
    }
    hub.req(1, ClientMsg::MakeHost { req_id: None, conn_id: 2 });
    hub.req(1, ClientMsg::SetLobby { req_id: None, enabled: true });
    hub.req(2, ClientMsg::RaiseHand { req_id: None, raised: true, conn_id: None });
    call_join(&mut hub, 2);
    call_join(&mut hub, 3);
    hub.req(3, ClientMsg::CallLeave { req_id: None });
    hub.connect(4, 64);
    hub.req(4, join("r"));
    let room = &hub.core.rooms["r"];
    assert_eq!((room.call_mode, room.call.len(), room.waiting.len()), (CallMode::Sfu, 1, 1));
    for id in 1..=4 {
        hub.drain(id);
    }
    hub
}

/// Make the next request of `conn_id` break an invariant: its connection points at a room
/// that does not exist.
fn break_invariant(hub: &mut TestHub, conn_id: ConnId) {
    hub.core.conns.get_mut(&conn_id).unwrap().room = Some("gone".into());
    hub.req(conn_id, ClientMsg::Leave { req_id: None });
    assert!(hub.closed(conn_id), "the culprit is closed");
}

#[test]
fn a_purge_takes_someone_out_by_the_rule_of_leaving() {
    let mut hub = meeting();
    break_invariant(&mut hub, 2);
    let to_ana = hub.drain(1);
    assert!(
        matches!(
            &to_ana[..],
            [
                ServerMsg::CallParticipantLeft { conn_id: 2 },
                ServerMsg::MemberLeft { member, removed_by: None, .. },
                ServerMsg::Hands { hands, by: None, .. },
                ServerMsg::Hosts { hosts, by: None, .. },
                ServerMsg::Lobby { waiting, .. },
            ] if member.conn_id == 2 && member.host && hands.is_empty() && hosts == &[1] && waiting.len() == 1
        ),
        "{to_ana:?}"
    );
    assert_eq!(hub.core.rooms["r"].call_mode, CallMode::P2p, "the emptied call is peer to peer again");
    assert!(hub.sfu.contains(&SfuOrder::Leave { conn_id: 2 }));
}

#[test]
fn a_purged_waiter_leaves_the_hosts_waiting_list() {
    let mut hub = meeting();
    break_invariant(&mut hub, 4);
    for host in [1, 2] {
        let msgs = hub.drain(host);
        assert!(matches!(&msgs[..], [ServerMsg::Lobby { waiting, .. }] if waiting.is_empty()), "{host}: {msgs:?}");
    }
    assert!(hub.drain(3).is_empty(), "only hosts see the waiting room");
}

#[test]
fn a_removed_host_lowers_their_hand_and_stays_out() {
    let mut hub = meeting();
    hub.req(1, ClientMsg::Remove { req_id: Some(7), conn_id: 2 });
    let to_bo = hub.drain(2);
    assert!(matches!(&to_bo[..], [ServerMsg::Removed { by: 1, .. }]), "{to_bo:?}");
    let to_cy = hub.drain(3);
    assert!(
        matches!(
            &to_cy[..],
            [
                ServerMsg::CallParticipantLeft { conn_id: 2 },
                ServerMsg::MemberLeft { removed_by: Some(1), .. },
                ServerMsg::Hands { .. },
                ServerMsg::Hosts { .. },
            ]
        ),
        "{to_cy:?}"
    );
    assert_eq!(hub.core.rooms["r"].call_mode, CallMode::P2p);
    hub.req(2, join("r"));
    assert_eq!(code(hub.drain(2)), ErrorCode::Removed);
}

#[test]
fn the_last_host_leaving_hands_the_room_and_its_waiting_list_on() {
    let mut hub = meeting();
    hub.req(1, ClientMsg::MakeHost { req_id: None, conn_id: 2 });
    hub.disconnect(2);
    hub.disconnect(1);
    let to_cy = hub.drain(3);
    assert!(to_cy.iter().any(|m| matches!(m, ServerMsg::Hosts { hosts, .. } if hosts == &[3])), "{to_cy:?}");
    assert!(matches!(to_cy.last(), Some(ServerMsg::Lobby { waiting, .. }) if waiting.len() == 1), "{to_cy:?}");
    // Cy lets Di in.
    hub.req(3, ClientMsg::Admit { req_id: Some(2), conn_id: 4 });
    hub.settle();
    assert!(matches!(&hub.drain(4)[..], [ServerMsg::Joined { .. }, ..]));
}

#[test]
fn whoever_waits_for_an_emptied_room_starts_the_next_meeting() {
    let mut hub = meeting();
    for id in 1..=3 {
        hub.disconnect(id);
    }
    hub.settle();
    let to_di = hub.drain(4);
    let Some(ServerMsg::Joined { members, lobby: false, .. }) = to_di.first() else { panic!("{to_di:?}") };
    assert!(members[0].conn_id == 4 && members[0].host, "{members:?}");
}

#[test]
fn reactions_are_a_burst_of_five_then_one_a_second() {
    let mut hub = hub();
    hub.connect_to(1, "r");
    let react = || ClientMsg::React { emoji: "👍".into() };
    for _ in 0..6 {
        hub.req(1, react());
    }
    let msgs = hub.drain(1);
    assert_eq!(msgs.iter().filter(|m| matches!(m, ServerMsg::Reaction { .. })).count(), 5);
    assert!(matches!(msgs.last(), Some(ServerMsg::Error { code: ErrorCode::RateLimited, .. })), "{msgs:?}");
    hub.advance(Duration::from_millis(999));
    hub.req(1, react());
    assert_eq!(code(hub.drain(1)), ErrorCode::RateLimited);
    hub.advance(Duration::from_millis(1));
    hub.req(1, react());
    assert!(matches!(&hub.drain(1)[..], [ServerMsg::Reaction { conn_id: 1, .. }]));
}

#[test]
fn only_hosts_lock_and_the_lock_keeps_newcomers_out() {
    let mut hub = hub();
    hub.connect_to(1, "r");
    hub.connect_to(2, "r");
    hub.req(2, ClientMsg::SetLock { req_id: Some(1), locked: true });
    assert_eq!(code(hub.drain(2)), ErrorCode::NotHost);
    hub.req(1, ClientMsg::SetLock { req_id: Some(1), locked: true });
    assert!(matches!(&hub.drain(2)[..], [ServerMsg::Locked { locked: true, by: 1, .. }]));
    hub.connect(3, 64);
    hub.drain(3);
    hub.req(3, join("r"));
    assert_eq!(code(hub.drain(3)), ErrorCode::RoomLocked);
}

#[test]
fn a_handler_that_breaks_halfway_leaves_nobody_waiting_for_what_it_dropped() {
    let mut hub = meeting();
    hub.connect(5, 64);
    hub.req(5, join("r"));
    hub.connect(9, 64);
    hub.req(9, ClientMsg::WatchRooms { req_id: None });
    hub.input(Input::RoomListDue);
    for id in [1, 5, 9] {
        hub.drain(id);
    }
    hub.room_list_at = None;
    // A bug left a waiter in the list whose connection is gone: opening the waiting room
    // lets Di (4) and Eve (5) in (arming the room list), then breaks on the stale entry.
    hub.core.rooms.get_mut("r").unwrap().waiting.push(super::super::moderation::Waiter { conn_id: 77, req_id: None, since: None });
    hub.req(1, ClientMsg::SetLobby { req_id: Some(3), enabled: false });
    assert!(hub.closed(1), "the host whose request broke is closed");
    // What the handler changed stays (Di and Eve are members), so what it dropped is
    // asked again: their history is read and `joined` comes.
    hub.settle();
    for id in [4, 5] {
        let msgs = hub.drain(id);
        assert!(msgs.iter().any(|m| matches!(m, ServerMsg::Joined { room, .. } if room == "r")), "{id}: {msgs:?}");
    }
    // And the room list still goes out.
    assert!(hub.room_list_at.is_some(), "the room list's deadline is set again");
    hub.input(Input::RoomListDue);
    let lists = hub.drain(9);
    assert!(matches!(&lists[..], [ServerMsg::Rooms { rooms }] if rooms[0].count == 4), "{lists:?}");
}
