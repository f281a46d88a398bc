//! Calls: the cap, signalling, leaving, and the move to the SFU.

use super::*;
use crate::protocol::{CallMode, SdpType, SignalPayload};
use crate::server::ice::IceConfig;

fn hub() -> TestHub {
    TestHub::new(CallLimits {
        ice: IceConfig { stun: vec!["stun:stun.example:3478".into()], ..IceConfig::default() },
        max_call_size: 4,
        p2p_max: 4,
        sfu_max_participants: 100,
        has_sfu: false,
    })
}

/// A server with an SFU: calls of more than 2 move to it; it takes 3 people at most.
fn sfu_hub() -> TestHub {
    TestHub::new(CallLimits { max_call_size: 10, p2p_max: 2, sfu_max_participants: 3, has_sfu: true, ..CallLimits::default() })
}

fn join_call(hub: &mut TestHub, conn_id: ConnId) {
    let media = MediaState { audio: true, video: true, screen: false, ..Default::default() };
    hub.req(conn_id, ClientMsg::CallJoin { req_id: Some(1), media });
}

fn offer(to: ConnId) -> ClientMsg {
    ClientMsg::Signal { to, payload: SignalPayload::Description { sdp_type: SdpType::Offer, sdp: "v=0".into(), tracks: vec![] } }
}

#[test]
fn call_join_lists_others_and_caps_at_four() {
    let mut hub = hub();
    for id in 1..=5 {
        hub.connect_to(id, "r");
    }
    for id in 1..=4 {
        join_call(&mut hub, id);
    }
    let to_4 = hub.drain(4);
    let Some(ServerMsg::CallJoined { participants, ice_servers, mode: CallMode::P2p, .. }) =
        to_4.iter().find(|m| matches!(m, ServerMsg::CallJoined { .. }))
    else {
        panic!("{to_4:?}")
    };
    assert_eq!(participants.iter().map(|p| p.conn_id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(ice_servers[0].urls, ["stun:stun.example:3478"]);

    join_call(&mut hub, 5);
    let to_5 = hub.drain(5);
    assert!(
        to_5.iter().any(|m| matches!(m, ServerMsg::Error { code: ErrorCode::CallFull, message, .. } if message == "This call is full (4)")),
        "{to_5:?}"
    );
    // The fifth still saw the four join (the room hears about the call).
    assert_eq!(to_5.iter().filter(|m| matches!(m, ServerMsg::CallParticipantJoined { .. })).count(), 4);
}

#[test]
fn signals_go_to_one_peer_in_the_same_call_only() {
    let mut hub = hub();
    hub.connect_to(1, "r");
    hub.connect_to(2, "r");
    hub.connect_to(3, "r"); // in the room, not in the call
    hub.connect_to(4, "elsewhere");
    join_call(&mut hub, 1);
    join_call(&mut hub, 2);
    join_call(&mut hub, 4);
    for id in 1..=4 {
        hub.drain(id);
    }

    hub.req(1, offer(2));
    assert!(matches!(&hub.drain(2)[..], [ServerMsg::Signal { from: 1, .. }]));
    assert!(hub.drain(3).is_empty(), "a signal was broadcast");

    for to in [3, 4, 1, 99] {
        hub.req(1, offer(to));
        let errs = hub.drain(1);
        assert!(matches!(&errs[..], [ServerMsg::Error { code: ErrorCode::NotInCall, .. }]), "to {to}: {errs:?}");
    }
    // Someone outside the call cannot signal into it.
    hub.req(3, offer(1));
    assert!(matches!(&hub.drain(3)[..], [ServerMsg::Error { code: ErrorCode::NotInCall, .. }]));
    assert!(hub.drain(1).is_empty());
}

#[test]
fn leaving_the_room_or_disconnecting_leaves_the_call() {
    let mut hub = hub();
    for id in 1..=3 {
        hub.connect_to(id, "r");
    }
    for id in 1..=3 {
        join_call(&mut hub, id);
    }
    hub.drain(1);
    hub.req(2, ClientMsg::Leave { req_id: None });
    hub.disconnect(3);
    let left: Vec<ConnId> = hub
        .drain(1)
        .iter()
        .filter_map(|m| match m {
            ServerMsg::CallParticipantLeft { conn_id } => Some(*conn_id),
            _ => None,
        })
        .collect();
    assert_eq!(left, [2, 3]);
    assert_eq!(hub.core.rooms["r"].call.len(), 1);

    hub.req(1, ClientMsg::CallState { media: MediaState { audio: false, video: true, screen: false, ..Default::default() } });
    hub.req(1, ClientMsg::CallLeave { req_id: Some(9) });
    assert!(hub.core.rooms["r"].call.is_empty());
    hub.req(1, ClientMsg::CallLeave { req_id: Some(10) });
    let last = hub.drain(1);
    assert!(matches!(last.last(), Some(ServerMsg::Error { code: ErrorCode::NotInCall, req_id: Some(10), .. })), "{last:?}");
}

#[test]
fn a_call_that_outgrows_p2p_max_moves_everyone_to_the_sfu_until_it_empties() {
    let mut hub = sfu_hub();
    for id in 1..=3 {
        hub.connect_to(id, "r");
    }
    join_call(&mut hub, 1);
    join_call(&mut hub, 2);
    assert!(hub.sfu.iter().all(|o| !matches!(o, SfuOrder::Join { .. })), "two stay peer to peer: {:?}", hub.sfu);
    hub.drain(1);
    hub.drain(2);

    join_call(&mut hub, 3);
    for id in [1, 2] {
        let msgs = hub.drain(id);
        assert!(msgs.contains(&ServerMsg::CallModeChanged { mode: CallMode::Sfu }), "{id}: {msgs:?}");
    }
    let to_3 = hub.drain(3);
    assert!(to_3.iter().any(|m| matches!(m, ServerMsg::CallJoined { mode: CallMode::Sfu, .. })), "{to_3:?}");
    let joined: Vec<ConnId> = hub
        .sfu
        .iter()
        .filter_map(|o| match o {
            SfuOrder::Join { conn_id, call } if call == "r" => Some(*conn_id),
            _ => None,
        })
        .collect();
    assert_eq!(joined, [1, 2, 3]);

    // Shrinking back under the threshold does not flap back to peer to peer ...
    hub.req(3, ClientMsg::CallLeave { req_id: None });
    assert_eq!(hub.core.rooms["r"].call_mode, CallMode::Sfu);
    assert!(hub.sfu.contains(&SfuOrder::Leave { conn_id: 3 }));
    // ... but an emptied call starts peer to peer again.
    hub.req(1, ClientMsg::CallLeave { req_id: None });
    hub.disconnect(2);
    assert_eq!(hub.core.rooms["r"].call_mode, CallMode::P2p);
}

#[test]
fn a_call_that_would_overfill_the_media_server_is_refused() {
    let mut hub = sfu_hub();
    for id in 1..=3 {
        hub.connect_to(id, "big");
        join_call(&mut hub, id);
    }
    assert_eq!(hub.core.rooms["big"].call_mode, CallMode::Sfu, "three people, all on the SFU: it is full");
    for id in 4..=6 {
        hub.connect_to(id, "small");
    }
    join_call(&mut hub, 4);
    join_call(&mut hub, 5);
    hub.drain(6);
    // A third would move this call to the SFU, which has no room for three more.
    join_call(&mut hub, 6);
    let msgs = hub.drain(6);
    let full = "The media server is full (3 people in calls); try again later";
    assert!(matches!(&msgs[..], [ServerMsg::Error { code: ErrorCode::CallFull, message, .. }] if message == full), "{msgs:?}");
    assert_eq!(hub.core.rooms["small"].call_mode, CallMode::P2p);
    assert_eq!(hub.core.rooms["small"].call.len(), 2);
}

#[test]
fn connecting_to_the_sfu_ahead_of_a_call_prepares_it() {
    let mut hub = sfu_hub();
    hub.connect_to(1, "r");
    hub.req(1, ClientMsg::Signal { to: SFU_PEER, payload: SignalPayload::Candidate { candidate: "c".into(), sdp_mid: None, sdp_m_line_index: None } });
    assert!(matches!(&hub.sfu[..], [SfuOrder::Prepare { conn_id: 1 }, SfuOrder::Signal { conn_id: 1, .. }]), "{:?}", hub.sfu);
}

use crate::protocol::SFU_PEER;
