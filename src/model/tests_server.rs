//! One case for every server message type, with state and effects asserted.
//!
//! Mechanical on purpose: [`case`] matches every `ServerMsg` variant with no wildcard, so a
//! new variant does not compile until it has a case here; [`samples`] holds one message
//! per variant, and the test checks that their types are exactly `ServerMsg::TYPES`.

use super::tests::{in_room, joined, member, msg, notices, sent, server};
use super::*;
use crate::protocol::{
    CallMode, CallParticipant, ClientMsg, ErrorCode, MediaState, RemoteTrack, RoomInfo, ServerMsg, SignalPayload,
    TrackKind,
};

fn participant(conn_id: ConnId, audio: bool) -> CallParticipant {
    CallParticipant { conn_id, nickname: format!("p{conn_id}"), media: MediaState { audio, video: true, screen: false, ..Default::default() } }
}

fn engine(c: EngineCommand) -> Effect {
    Effect::Engine(c)
}

fn no_ice() -> Effect {
    engine(EngineCommand::Ice { servers: vec![], relay_only: false })
}

/// One message of every type.
fn samples() -> Vec<ServerMsg> {
    let r = || "r".to_string();
    vec![
        ServerMsg::Welcome { conn_id: 7, nickname: "Anonymous".into() },
        ServerMsg::Ack { req_id: 0, message: Some(msg(100, 1, "hello")) },
        joined(vec![msg(5, 2, "earlier")], true, false, "e"),
        ServerMsg::MemberJoined { room: r(), member: member(3, "Cy", false) },
        ServerMsg::MemberLeft { room: r(), member: member(2, "Bo", false), removed_by: Some(1) },
        ServerMsg::Hosts { room: r(), hosts: vec![1, 2], by: Some(1) },
        ServerMsg::Locked { room: r(), locked: true, by: 2 },
        ServerMsg::Hands { room: r(), hands: vec![2], by: None },
        ServerMsg::Removed { room: r(), by: 2, nickname: "Bo".into() },
        ServerMsg::MuteRequest { by: 2, nickname: "Bo".into(), force: true },
        ServerMsg::Reaction { conn_id: 2, emoji: "👍".into() },
        ServerMsg::Waiting { room: r() },
        ServerMsg::Lobby { room: r(), waiting: vec![member(4, "Di", false)] },
        ServerMsg::LobbyChanged { room: r(), enabled: true, by: 2 },
        ServerMsg::PasswordChanged { room: r(), protected: true, by: 2 },
        ServerMsg::NickChanged { conn_id: 2, old: "Bo".into(), new: "Bob".into() },
        ServerMsg::Message { message: msg(6, 2, "<b>hi</b>") },
        ServerMsg::History { req_id: None, room: r(), messages: vec![msg(7, 2, "x")], more: true, backwards: false },
        ServerMsg::Lagged { room: r(), last_seq: Some(3) },
        ServerMsg::Rooms { rooms: vec![RoomInfo { name: "r".into(), count: 2, locked: false, protected: false }] },
        ServerMsg::CallJoined { req_id: None, ice_servers: vec![], relay_only: false, participants: vec![participant(2, true)], mode: CallMode::Sfu },
        ServerMsg::CallModeChanged { mode: CallMode::Sfu },
        ServerMsg::CallTracks { tracks: vec![RemoteTrack { from: 2, kind: TrackKind::Video }] },
        ServerMsg::CallPaused { tracks: vec![RemoteTrack { from: 2, kind: TrackKind::Video }] },
        ServerMsg::CallLayers { kind: TrackKind::Video, rids: vec!["q".into(), "h".into()] },
        ServerMsg::CallParticipantJoined { participant: participant(3, true) },
        ServerMsg::CallParticipantLeft { conn_id: 2 },
        ServerMsg::CallParticipantState { conn_id: 2, media: MediaState::default() },
        ServerMsg::Signal { from: 2, payload: SignalPayload::Candidate { candidate: "c".into(), sdp_mid: None, sdp_m_line_index: None } },
        ServerMsg::Error { req_id: None, code: ErrorCode::NotHost, message: "Only a host can do that.".into() },
    ]
}

/// The case for `m`'s type: a state to start from (`in_room`: me Ana (1, host) and Bo (2)
/// in "r"), `m` applied, state and effects asserted.
fn case(m: ServerMsg) {
    let mut s = in_room();
    match &m {
        ServerMsg::Welcome { .. } => {
            let fx = server(&mut s, m.clone());
            assert_eq!((s.conn.me, s.conn.status, fx), (Some(7), ConnStatus::Online, vec![]));
        }
        ServerMsg::Ack { .. } => {
            let fx = apply(&mut s, Input::Intent(Intent::SendChat { text: "hello".into(), client_msg_id: "c".into() }));
            let [ClientMsg::Chat { req_id: Some(req_id), .. }] = sent(&fx)[..] else { panic!("{fx:?}") };
            let fx = server(&mut s, ServerMsg::Ack { req_id, message: Some(msg(100, 1, "hello")) });
            assert_eq!(fx, [Effect::SaveOutbox { room: "r".into(), unsent: vec![] }]);
            assert!(matches!(&s.chat.log[..], [LogEntry::Chat(l)] if l.id == Some(100) && l.mine));
        }
        ServerMsg::Joined { .. } => {
            let fx = server(&mut s, m.clone());
            assert_eq!(fx, [no_ice()], "the engine takes its ICE servers");
            assert_eq!((s.joined.as_deref(), s.room.members.len(), s.chat.earlier), (Some("r"), 2, true), "a fresh log: the server says");
            assert!(matches!(&s.chat.log[..], [LogEntry::Chat(l)] if l.seq == Some(5) && !l.mine));
        }
        ServerMsg::MemberJoined { .. } => {
            assert!(server(&mut s, m.clone()).is_empty());
            assert!(server(&mut s, m.clone()).is_empty());
            assert_eq!(s.room.members.len(), 3, "once");
            assert_eq!(notices(&s)[0], Notice::Joined { nick: "Cy".into() });
        }
        ServerMsg::MemberLeft { .. } => {
            assert!(server(&mut s, m.clone()).is_empty());
            assert_eq!(notices(&s), [Notice::Removed { nick: "Bo".into(), by: "Ana".into() }]);
            assert_eq!(s.room.members.len(), 1);
        }
        ServerMsg::Hosts { .. } => {
            assert!(server(&mut s, m.clone()).is_empty());
            assert_eq!(notices(&s), [Notice::MadeHost { nick: "Bo".into(), by: Some("Ana".into()) }]);
            assert!(s.is_host(Some(2)));
        }
        ServerMsg::Locked { .. } => {
            assert!(server(&mut s, m.clone()).is_empty());
            assert_eq!((notices(&s), s.room.locked), (vec![Notice::Locked { by: "Bo".into(), locked: true }], true));
        }
        ServerMsg::Hands { .. } => {
            assert!(server(&mut s, m.clone()).is_empty());
            server(&mut s, ServerMsg::Hands { room: "r".into(), hands: vec![], by: Some(1) });
            assert_eq!(
                notices(&s),
                [Notice::RaisedHand { nick: "Bo".into() }, Notice::LoweredHand { nick: "Bo".into(), by: "Ana".into() }]
            );
            assert!(s.room.hands.is_empty());
        }
        ServerMsg::Removed { .. } => {
            let fx = server(&mut s, m.clone());
            assert_eq!(sent(&fx), [ClientMsg::WatchRooms { req_id: None }]);
            assert_eq!((s.place.clone(), s.joined.clone()), (Place::Home, None));
            assert_eq!(s.error, Some(Banner::RemovedFrom { room: "r".into(), by: "Bo".into() }));
        }
        ServerMsg::MuteRequest { .. } => {
            // Not sending audio: nothing to turn off, only told.
            assert!(server(&mut s, m.clone()).is_empty());
            s.call.media.audio = true;
            let fx = server(&mut s, m.clone());
            assert_eq!(fx, [Effect::Engine(EngineCommand::SetSending { kind: TrackKind::Audio, on: false })]);
            let asked = server(&mut s, ServerMsg::MuteRequest { by: 2, nickname: "Bo".into(), force: false });
            assert!(asked.is_empty());
            assert_eq!(notices(&s)[1..], [Notice::MutedBy { by: "Bo".into() }, Notice::AskedToMute { by: "Bo".into() }]);
        }
        ServerMsg::Reaction { .. } => {
            for _ in 0..25 {
                assert!(server(&mut s, m.clone()).is_empty());
            }
            assert_eq!(s.room.reactions.len(), 20, "older ones floated away");
            assert_eq!(s.room.reactions[19].1, 2);
        }
        ServerMsg::Waiting { .. } => {
            apply(&mut s, Input::Intent(Intent::Enter("x".into())));
            assert!(server(&mut s, m.clone()).is_empty());
            assert!(!s.room.waiting, "another room's");
            let mut s = in_room();
            s.joined = None;
            server(&mut s, m.clone());
            assert!(s.room.waiting && s.at_the_door());
        }
        ServerMsg::Lobby { .. } => {
            assert!(server(&mut s, m.clone()).is_empty());
            assert_eq!(s.room.lobby_queue, [member(4, "Di", false)]);
        }
        ServerMsg::LobbyChanged { .. } => {
            assert!(server(&mut s, m.clone()).is_empty());
            assert_eq!((notices(&s), s.room.lobby), (vec![Notice::Lobby { by: "Bo".into(), enabled: true }], true));
        }
        ServerMsg::PasswordChanged { .. } => {
            assert!(server(&mut s, m.clone()).is_empty());
            assert_eq!((notices(&s), s.room.protected), (vec![Notice::Password { by: "Bo".into(), protected: true }], true));
        }
        ServerMsg::NickChanged { .. } => {
            s.call.participants = vec![participant(2, true)];
            assert!(server(&mut s, m.clone()).is_empty());
            assert_eq!(notices(&s), [Notice::Renamed { old: "Bo".into(), new: "Bob".into() }]);
            assert_eq!((s.room.members[1].nickname.as_str(), s.call.participants[0].nickname.as_str()), ("Bob", "Bob"));
        }
        ServerMsg::Message { .. } => {
            assert!(server(&mut s, m.clone()).is_empty());
            assert!(server(&mut s, m.clone()).is_empty());
            let other = ServerMsg::Message { message: crate::protocol::ChatMessage { room: "other".into(), ..msg(9, 2, "x") } };
            server(&mut s, other);
            assert!(matches!(&s.chat.log[..], [LogEntry::Chat(l)] if l.text == "<b>hi</b>"), "once, and not another room's");
        }
        ServerMsg::History { .. } => {
            let fx = server(&mut s, m.clone());
            assert!(matches!(&sent(&fx)[..], [ClientMsg::History { after: Some(7), before: None, .. }]), "more: the next page");
            assert_eq!(s.chat.last_seq(), Some(7));
        }
        ServerMsg::Lagged { .. } => {
            assert!(server(&mut s, m.clone()).is_empty(), "nothing pending, nothing to resend");
            apply(&mut s, Input::Intent(Intent::SendChat { text: "t".into(), client_msg_id: "c".into() }));
            assert_eq!(sent(&server(&mut s, m.clone())).len(), 1);
        }
        ServerMsg::Rooms { .. } => {
            assert!(server(&mut s, m.clone()).is_empty());
            assert_eq!(s.rooms.len(), 1);
        }
        ServerMsg::CallJoined { .. } => {
            apply(&mut s, Input::Intent(Intent::JoinCall(MediaState { audio: true, video: false, screen: false, ..Default::default() })));
            let fx = server(&mut s, m.clone());
            assert_eq!(fx, [no_ice(), engine(EngineCommand::Start { mode: CallMode::Sfu, peers: vec![] })]);
            assert!(s.call.in_call && s.call.mode == CallMode::Sfu);
            assert_eq!(s.call.participants.iter().map(|p| p.conn_id).collect::<Vec<_>>(), [2, 1], "me last");
        }
        ServerMsg::CallModeChanged { .. } => {
            assert!(server(&mut s, m.clone()).is_empty(), "not in the call: nothing to move");
            assert_eq!(s.call.mode, CallMode::Sfu);
        }
        ServerMsg::CallTracks { .. } => {
            let before = s.clone();
            let tracks = vec![RemoteTrack { from: 2, kind: TrackKind::Video }];
            assert_eq!(server(&mut s, m.clone()), [engine(EngineCommand::SfuTracks(tracks))], "for the engine only");
            assert_eq!(s, before);
        }
        ServerMsg::CallPaused { .. } => {
            let video = RemoteTrack { from: 2, kind: TrackKind::Video };
            server(&mut s, m.clone());
            assert!(s.call.paused.is_empty(), "not in a call: a late list for the last one is dropped");
            s.call.in_call = true;
            assert!(server(&mut s, m.clone()).is_empty(), "the page shows it; the engine has nothing to do");
            assert_eq!(s.call.paused, [video]);
            server(&mut s, ServerMsg::CallPaused { tracks: vec![] });
            assert!(s.call.paused.is_empty(), "each list replaces the last");
            server(&mut s, m.clone());
            server(&mut s, ServerMsg::CallParticipantLeft { conn_id: 2 });
            assert!(s.call.paused.is_empty(), "someone who left has no paused tile");
        }
        ServerMsg::CallLayers { .. } => {
            let before = s.clone();
            let rids = vec!["q".to_string(), "h".to_string()];
            assert_eq!(server(&mut s, m.clone()), [engine(EngineCommand::SetLayers { kind: TrackKind::Video, rids })]);
            assert_eq!(s, before, "for the engine only");
        }
        ServerMsg::CallParticipantJoined { .. } => {
            server(&mut s, m.clone());
            assert!(server(&mut s, m.clone()).is_empty(), "not in the call: no peer to open");
            assert_eq!(s.call.participants, [participant(3, true)], "once");
        }
        ServerMsg::CallParticipantLeft { .. } => {
            s.call.participants = vec![participant(2, true)];
            s.devices.speaking = vec![2];
            assert_eq!(server(&mut s, m.clone()), [engine(EngineCommand::ClosePeer(2))]);
            assert!(s.call.participants.is_empty() && s.devices.speaking.is_empty());
        }
        ServerMsg::CallParticipantState { .. } => {
            s.call.participants = vec![participant(2, true)];
            assert!(server(&mut s, m.clone()).is_empty());
            assert_eq!(s.call.participants[0].media, MediaState::default());
        }
        ServerMsg::Signal { .. } => {
            let before = s.clone();
            assert!(server(&mut s, m.clone()).is_empty(), "a peer's signal outside my call is dropped");
            assert_eq!(s, before);
        }
        ServerMsg::Error { .. } => error_cases(s, m.clone()),
    }
}

/// Errors, by what they mean to the page.
fn error_cases(mut s: ClientState, m: ServerMsg) {
    let err = |code, message: &str| ServerMsg::Error { req_id: None, code, message: message.into() };
    // Anything else: a banner, and a history page may be asked for again.
    s.chat.loading_earlier = true;
    assert!(server(&mut s, m).is_empty());
    let refusal = |code, message: &str| Refusal { code, message: message.into() };
    assert_eq!(s.error, Some(Banner::Refusal(refusal(ErrorCode::NotHost, "Only a host can do that."))));
    assert!(!s.chat.loading_earlier);
    // A full call: not wanted any more, and said in the call panel.
    s.call.wants_call = true;
    server(&mut s, err(ErrorCode::CallFull, "This call is full (4)"));
    assert_eq!(s.call.error, Some(CallError::Refused(refusal(ErrorCode::CallFull, "This call is full (4)"))));
    assert!(!s.call.wants_call);
    // The media server failed: the engine has a new connection ready (and the banner says it).
    let failed = err(ErrorCode::MediaFailed, "ice");
    assert_eq!(server(&mut s, failed), [engine(EngineCommand::CloseSfu), engine(EngineCommand::PrepareSfu)]);
    // The room would not have me: home, told why.
    for code in [ErrorCode::RoomLocked, ErrorCode::Removed, ErrorCode::Denied] {
        let mut s = in_room();
        let fx = server(&mut s, err(code, "no"));
        assert_eq!((s.place, sent(&fx)), (Place::Home, vec![ClientMsg::WatchRooms { req_id: None }]));
        assert_eq!(s.error, Some(Banner::Refusal(refusal(code, "no"))));
    }
    // At home, a password refusal (late, for a room I left) changes nothing.
    let mut home = in_room();
    apply(&mut home, Input::Intent(Intent::GoHome));
    server(&mut home, err(ErrorCode::TooManyTries, "wait 4 s"));
    assert!(!home.room.needs_password);
}

#[test]
fn every_server_message_type_has_a_case_with_state_and_effects_asserted() {
    let samples = samples();
    // One sample of every type the server sends (`ServerMsg::TYPES`, which a protocol test
    // keeps equal to the enum and to docs/PROTOCOL.md), and no type twice.
    let mut kinds: Vec<&str> = samples.iter().map(ServerMsg::type_name).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), samples.len(), "one sample per type");
    let mut listed = ServerMsg::TYPES.to_vec();
    listed.sort_unstable();
    assert_eq!(kinds, listed, "a ServerMsg type has no sample here");
    for m in samples {
        case(m);
    }
}

#[test]
fn only_call_messages_give_the_call_engine_work_and_after_the_state_took_them() {
    for m in samples() {
        let mut s = in_room();
        let fx = server(&mut s, m.clone());
        let steps = fx.iter().position(|e| matches!(e, Effect::Engine(_)));
        if let Some(first) = steps {
            assert!(for_call(&m) || matches!(m, ServerMsg::MuteRequest { .. } | ServerMsg::Removed { .. }), "{m:?}");
            assert!(fx[first..].iter().all(|e| matches!(e, Effect::Engine(_))), "last: {fx:?}");
        }
    }
}

#[test]
fn messages_for_a_room_i_am_not_in_change_nothing() {
    for m in samples() {
        let room_scoped = matches!(
            m,
            ServerMsg::MemberJoined { .. }
                | ServerMsg::MemberLeft { .. }
                | ServerMsg::Hosts { .. }
                | ServerMsg::Locked { .. }
                | ServerMsg::Hands { .. }
                | ServerMsg::Lobby { .. }
                | ServerMsg::LobbyChanged { .. }
                | ServerMsg::PasswordChanged { .. }
                | ServerMsg::Message { .. }
                | ServerMsg::History { .. }
                | ServerMsg::Joined { .. }
                | ServerMsg::Waiting { .. }
        );
        if !room_scoped {
            continue;
        }
        let mut s = in_room();
        apply(&mut s, Input::Intent(Intent::Enter("elsewhere".into())));
        let before = s.clone();
        let fx = server(&mut s, m.clone());
        assert_eq!(s, before, "{m:?}");
        assert!(sent(&fx).is_empty(), "{m:?}");
    }
}
