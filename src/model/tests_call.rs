//! The call's decisions (`steps.rs`): who offers, the polite side, P2P or SFU and the move
//! between them, recovery after `media_failed`, preparing the SFU connection, forced mute,
//! leaving.

use super::tests::{in_room, intend, server};
use super::*;
use crate::protocol::{
    CallMode, CallParticipant, ClientMsg, ErrorCode, IceServer, MediaState, ServerMsg, SignalPayload, TrackKind, SFU_PEER,
};

fn person(conn_id: ConnId) -> CallParticipant {
    CallParticipant { conn_id, nickname: format!("p{conn_id}"), media: MediaState { audio: true, video: true, screen: false, ..Default::default() } }
}

fn engine(fx: &[Effect]) -> Vec<EngineCommand> {
    fx.iter().filter_map(|e| match e { Effect::Engine(c) => Some(c.clone()), _ => None }).collect()
}

fn call_joined(mode: CallMode, others: &[ConnId]) -> ServerMsg {
    ServerMsg::CallJoined { req_id: None, ice_servers: vec![], relay_only: false, participants: others.iter().map(|id| person(*id)).collect(), mode }
}

fn candidate() -> SignalPayload {
    SignalPayload::Candidate { candidate: "c".into(), sdp_mid: None, sdp_m_line_index: None }
}

/// In room "r" as 2 (Ana is 1, Bo 2 in the helper's members: I am Bo here), in its call.
fn in_call(mode: CallMode, others: &[ConnId]) -> ClientState {
    let mut s = in_room();
    s.conn.me = Some(2);
    intend(&mut s, Intent::JoinCall(MediaState::default()));
    server(&mut s, call_joined(mode, others));
    s
}

fn link(conn_id: ConnId, offer: bool, polite: bool) -> PeerLink {
    PeerLink { conn_id, offer, polite }
}

#[test]
fn a_rooms_ice_servers_go_to_the_engine_for_the_prepared_sfu_connection() {
    let mut s = in_room();
    intend(&mut s, Intent::Enter("x".into()));
    let servers = vec![IceServer { urls: vec!["stun:x".into()], username: None, credential: None }];
    let joined = ServerMsg::Joined { req_id: None, room: "x".into(), members: vec![], history: vec![], earlier: false, more: false, epoch: "e".into(), call: vec![], ice_servers: servers.clone(), relay_only: true, locked: false, hands: vec![], lobby: false, protected: false };
    assert_eq!(engine(&server(&mut s, joined)), [EngineCommand::Ice { servers, relay_only: true }]);
}

#[test]
fn joining_a_p2p_call_the_newcomer_waits_for_everyones_offer_and_the_higher_id_is_polite() {
    let mut s = in_room();
    s.conn.me = Some(2);
    intend(&mut s, Intent::JoinCall(MediaState::default()));
    let fx = server(&mut s, call_joined(CallMode::P2p, &[1, 3]));
    let peers = vec![link(1, false, true), link(3, false, false)];
    assert_eq!(engine(&fx)[1], EngineCommand::Start { mode: CallMode::P2p, peers });
}

#[test]
fn joining_an_sfu_call_opens_no_peer_connections() {
    let mut s = in_room();
    intend(&mut s, Intent::JoinCall(MediaState::default()));
    let fx = server(&mut s, call_joined(CallMode::Sfu, &[2, 3]));
    assert_eq!(engine(&fx)[1], EngineCommand::Start { mode: CallMode::Sfu, peers: vec![] });
}

#[test]
fn a_newcomer_to_my_p2p_call_gets_my_offer_but_not_in_an_sfu_call() {
    let mut s = in_call(CallMode::P2p, &[1]);
    let fx = server(&mut s, ServerMsg::CallParticipantJoined { participant: person(3) });
    assert_eq!(engine(&fx), [EngineCommand::Connect(link(3, true, false))]);
    let mut s = in_call(CallMode::Sfu, &[1]);
    assert!(engine(&server(&mut s, ServerMsg::CallParticipantJoined { participant: person(3) })).is_empty());
}

#[test]
fn someone_joining_a_call_i_am_not_in_needs_nothing_from_the_engine() {
    let mut s = in_room();
    assert!(engine(&server(&mut s, ServerMsg::CallParticipantJoined { participant: person(3) })).is_empty());
    assert_eq!(s.call.participants, [person(3)], "the panel shows them");
}

#[test]
fn the_move_to_the_sfu_happens_in_my_call_only() {
    let mut s = in_call(CallMode::P2p, &[1]);
    assert_eq!(engine(&server(&mut s, ServerMsg::CallModeChanged { mode: CallMode::Sfu })), [EngineCommand::MoveToSfu]);
    let mut s = in_room();
    assert!(engine(&server(&mut s, ServerMsg::CallModeChanged { mode: CallMode::Sfu })).is_empty());
}

#[test]
fn a_peers_signal_opens_the_answering_side_in_a_p2p_call_only() {
    let mut s = in_call(CallMode::P2p, &[1]);
    let fx = server(&mut s, ServerMsg::Signal { from: 3, payload: candidate() });
    assert_eq!(engine(&fx), [EngineCommand::PeerSignal { link: link(3, false, false), payload: candidate() }]);
    let mut s = in_call(CallMode::Sfu, &[1]);
    assert!(engine(&server(&mut s, ServerMsg::Signal { from: 3, payload: candidate() })).is_empty());
    let mut s = in_room();
    assert!(engine(&server(&mut s, ServerMsg::Signal { from: 3, payload: candidate() })).is_empty(), "not in the call");
}

#[test]
fn the_sfus_signals_and_tracks_go_to_it_even_before_joining_the_call() {
    let mut s = in_room();
    let fx = server(&mut s, ServerMsg::Signal { from: SFU_PEER, payload: candidate() });
    assert_eq!(engine(&fx), [EngineCommand::SfuSignal(candidate())]);
    let tracks = vec![crate::protocol::RemoteTrack { from: 2, kind: TrackKind::Video }];
    assert_eq!(engine(&server(&mut s, ServerMsg::CallTracks { tracks: tracks.clone() })), [EngineCommand::SfuTracks(tracks)]);
}

#[test]
fn after_media_failed_my_sfu_call_reconnects_and_otherwise_a_new_connection_is_prepared() {
    let failed = || ServerMsg::Error { req_id: None, code: ErrorCode::MediaFailed, message: "ice".into() };
    let mut s = in_call(CallMode::Sfu, &[1]);
    assert_eq!(engine(&server(&mut s, failed())), [EngineCommand::CloseSfu, EngineCommand::OpenSfu]);
    let mut s = in_call(CallMode::P2p, &[1]);
    assert_eq!(engine(&server(&mut s, failed())), [EngineCommand::CloseSfu, EngineCommand::PrepareSfu]);
    let mut s = in_room();
    assert_eq!(engine(&server(&mut s, failed())), [EngineCommand::CloseSfu, EngineCommand::PrepareSfu]);
    // Not in a room (or offline): nothing to prepare.
    intend(&mut s, Intent::GoHome);
    assert_eq!(engine(&server(&mut s, failed())), [EngineCommand::CloseSfu]);
}

#[test]
fn a_participant_leaving_closes_its_peer_connection() {
    let mut s = in_call(CallMode::P2p, &[1, 3]);
    assert_eq!(engine(&server(&mut s, ServerMsg::CallParticipantLeft { conn_id: 3 })), [EngineCommand::ClosePeer(3)]);
}

#[test]
fn a_forced_mute_turns_my_microphone_off_only_if_it_is_on() {
    let mut s = in_call(CallMode::P2p, &[1]);
    let mute = || ServerMsg::MuteRequest { by: 1, nickname: "Ana".into(), force: true };
    assert!(engine(&server(&mut s, mute())).is_empty(), "already off");
    apply(&mut s, Input::Media(MediaEvent::Sending(MediaState { audio: true, video: false, screen: false, ..Default::default() })));
    assert_eq!(engine(&server(&mut s, mute())), [EngineCommand::SetSending { kind: TrackKind::Audio, on: false }]);
}

#[test]
fn leaving_the_call_tells_the_engine_at_once_so_a_late_newcomer_opens_nothing() {
    let mut s = in_call(CallMode::P2p, &[1]);
    let fx = intend(&mut s, Intent::LeaveCall);
    assert_eq!(engine(&fx), [EngineCommand::Leave]);
    assert!(fx.contains(&Effect::Send(ClientMsg::CallLeave { req_id: None })));
    // The server had not heard yet: its news of the call changes nothing for the engine.
    assert!(engine(&server(&mut s, ServerMsg::CallParticipantJoined { participant: person(3) })).is_empty());
    assert!(engine(&server(&mut s, ServerMsg::Signal { from: 3, payload: candidate() })).is_empty());
}

#[test]
fn a_call_never_confirmed_needs_no_peer_until_the_server_says_so() {
    let mut s = in_room();
    s.conn.me = Some(2);
    intend(&mut s, Intent::JoinCall(MediaState::default()));
    // Wanting is not being in: a peer's signal before `call_joined` is not answered.
    assert!(engine(&server(&mut s, ServerMsg::Signal { from: 1, payload: candidate() })).is_empty());
}

#[test]
fn the_tiles_the_grid_shows_are_kept_for_the_engine_until_i_leave_the_call() {
    let mut s = in_call(CallMode::Sfu, &[1]);
    let tiles = vec![crate::protocol::TileView { from: 1, kind: TrackKind::Video, width: 640, height: 360, pinned: false, speaking: false }];
    assert!(intend(&mut s, Intent::ShowTiles(tiles.clone())).is_empty(), "the engine sends them when its SFU link can use them");
    assert_eq!(s.call.shown, tiles);
    intend(&mut s, Intent::LeaveCall);
    assert!(s.call.shown.is_empty());
}

#[test]
fn my_microphone_and_camera_buttons_turn_each_on_or_off_from_what_the_others_see() {
    let mut s = in_call(CallMode::P2p, &[1]);
    s.call.media = MediaState { audio: true, video: false, screen: false, ..Default::default() };
    assert_eq!(engine(&intend(&mut s, Intent::ToggleSending(TrackKind::Audio))), [EngineCommand::SetSending { kind: TrackKind::Audio, on: false }]);
    assert_eq!(engine(&intend(&mut s, Intent::ToggleSending(TrackKind::Video))), [EngineCommand::SetSending { kind: TrackKind::Video, on: true }]);
    assert!(s.call.media.audio, "the state changes when the engine reports what it did");
    s.devices.media_access = MediaAccess::Insecure;
    assert!(intend(&mut s, Intent::ToggleSending(TrackKind::Audio)).is_empty(), "no devices to ask on this page");
}

#[test]
fn my_screen_button_starts_sharing_or_stops_it() {
    let mut s = in_call(CallMode::Sfu, &[1]);
    assert_eq!(engine(&intend(&mut s, Intent::ToggleScreen)), [EngineCommand::ShareScreen(true)]);
    apply(&mut s, Input::Media(MediaEvent::Sending(MediaState { audio: false, video: false, screen: true, ..Default::default() })));
    assert_eq!(engine(&intend(&mut s, Intent::ToggleScreen)), [EngineCommand::ShareScreen(false)]);
    s.devices.media_access = MediaAccess::Insecure;
    assert!(intend(&mut s, Intent::ToggleScreen).is_empty());
}

#[test]
fn the_sfu_connection_is_prepared_only_in_a_room_online_and_out_of_its_call() {
    let mut s = in_room();
    assert_eq!(engine(&intend(&mut s, Intent::PrepareSfu)), [EngineCommand::PrepareSfu]);
    let mut call = in_call(CallMode::P2p, &[1]);
    assert!(intend(&mut call, Intent::PrepareSfu).is_empty(), "in the call: it is opened when the call needs it");
    let mut offline = in_room();
    apply(&mut offline, Input::Disconnected { close: None });
    assert!(intend(&mut offline, Intent::PrepareSfu).is_empty());
    s.devices.media_access = MediaAccess::Insecure;
    assert!(intend(&mut s, Intent::PrepareSfu).is_empty(), "calls cannot work on this page");
    intend(&mut s, Intent::GoHome);
    s.devices.media_access = MediaAccess::Available;
    assert!(intend(&mut s, Intent::PrepareSfu).is_empty(), "not in a room");
}

#[test]
fn my_connection_quality_goes_to_the_others_with_my_media_state_only_when_the_shown_level_changes() {
    use crate::protocol::Quality;
    let link = |loss: f64| Input::Media(MediaEvent::Link(LinkSample { loss_in_pct: loss, loss_out_pct: 0.0, rtt_ms: Some(30) }));
    let told = |fx: &[Effect]| -> Vec<Quality> {
        fx.iter().filter_map(|e| match e { Effect::Send(ClientMsg::CallState { media }) => Some(media.quality), _ => None }).collect()
    };
    // Outside a call nothing is measured or said.
    let mut s = in_room();
    assert!(told(&apply(&mut s, link(20.0))).is_empty());

    let mut s = in_call(CallMode::Sfu, &[1]);
    assert!(told(&apply(&mut s, link(0.0))).is_empty(), "good, as it was");
    assert_eq!(told(&apply(&mut s, link(20.0))), [Quality::Poor]);
    assert_eq!(s.call.media.quality, Quality::Poor, "my own tile shows it");
    assert!(told(&apply(&mut s, link(0.0))).is_empty(), "better must hold first");
    assert_eq!(told(&apply(&mut s, link(0.0))), [Quality::Good]);
    // The SFU holding video back from me: fair, even without loss.
    server(&mut s, ServerMsg::CallPaused { tracks: vec![crate::protocol::RemoteTrack { from: 1, kind: TrackKind::Video }] });
    assert_eq!(told(&apply(&mut s, link(0.0))), [Quality::Fair]);
    // Turning my camera off keeps the quality in what the others are told.
    let fx = apply(&mut s, Input::Media(MediaEvent::Sending(MediaState { audio: true, ..Default::default() })));
    assert_eq!(told(&fx), [Quality::Fair]);
}
