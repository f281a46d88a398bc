//! The model's rules, each a test named after it: inputs in, state and effects asserted.
//! (One case per server message type is in `tests_server.rs`.)

use super::*;
use crate::protocol::{
    CallMode, CallParticipant, ChatMessage, ClientMsg, ErrorCode, MediaState, Member, ServerMsg, TrackKind,
};

pub(super) fn msg(id: u64, from: ConnId, text: &str) -> ChatMessage {
    ChatMessage { id, room: "r".into(), seq: id, ts: 1, from, nickname: format!("n{from}"), text: text.into() }
}

pub(super) fn member(conn_id: ConnId, nickname: &str, host: bool) -> Member {
    Member { conn_id, nickname: nickname.into(), host }
}

pub(super) fn sent(fx: &[Effect]) -> Vec<ClientMsg> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn joined(history: Vec<ChatMessage>, earlier: bool, more: bool, epoch: &str) -> ServerMsg {
    ServerMsg::Joined {
        req_id: None,
        room: "r".into(),
        members: vec![member(1, "Ana", true), member(2, "Bo", false)],
        history,
        earlier,
        more,
        epoch: epoch.into(),
        call: vec![],
        ice_servers: vec![],
        relay_only: false,
        locked: false,
        hands: vec![],
        lobby: false,
        protected: false,
    }
}

pub(super) fn server(s: &mut ClientState, m: ServerMsg) -> Vec<Effect> {
    apply(s, Input::Server(m))
}

pub(super) fn intend(s: &mut ClientState, i: Intent) -> Vec<Effect> {
    apply(s, Input::Intent(i))
}

/// Started as "Ana" on device "dev", connected, welcomed as 1, nothing else.
pub(super) fn online() -> ClientState {
    let mut s = ClientState::default();
    apply(&mut s, Input::Started { nickname: Some("Ana".into()), device: "dev".into(), media_access: MediaAccess::Available });
    apply(&mut s, Input::Connected);
    server(&mut s, ServerMsg::Welcome { conn_id: 1, nickname: "Ana".into() });
    s
}

/// [`online`], then in room "r" (epoch "e") with Ana (me, host) and Bo.
pub(super) fn in_room() -> ClientState {
    let mut s = online();
    intend(&mut s, Intent::Enter("r".into()));
    server(&mut s, joined(vec![], false, false, "e"));
    s
}

pub(super) fn notices(s: &ClientState) -> Vec<Notice> {
    s.chat.log.iter().filter_map(|e| match e { LogEntry::Notice { notice, .. } => Some(notice.clone()), _ => None }).collect()
}

fn seqs(s: &ClientState) -> Vec<u64> {
    s.chat.log.iter().filter_map(|e| match e { LogEntry::Chat(l) => l.seq, _ => None }).collect()
}

fn first_line(s: &ClientState) -> ChatLine {
    s.chat.log.iter().find_map(|e| match e { LogEntry::Chat(l) => Some(l.clone()), _ => None }).expect("a chat line")
}

#[test]
fn a_line_typed_offline_is_queued_and_replayed_with_the_same_id_on_every_connection() {
    let mut s = ClientState::default();
    apply(&mut s, Input::Started { nickname: None, device: "dev".into(), media_access: MediaAccess::Available });
    intend(&mut s, Intent::Enter("r".into()));
    let fx = intend(&mut s, Intent::SendChat { text: "hello".into(), client_msg_id: "c1".into() });
    assert!(sent(&fx).is_empty(), "offline: nothing is sent");
    assert_eq!(fx, [Effect::SaveOutbox { room: "r".into(), unsent: vec![Unsent { client_msg_id: "c1".into(), text: "hello".into() }] }]);
    let out = sent(&apply(&mut s, Input::Connected));
    assert!(matches!(&out[0], ClientMsg::SetNick { req_id: None, .. }));
    assert_eq!(out[1], ClientMsg::Join { req_id: None, room: "r".into(), since: None, epoch: None, device: Some("dev".into()), password: None });
    assert!(matches!(&out[2], ClientMsg::Chat { client_msg_id: Some(c), text, .. } if c == "c1" && text == "hello"));
    apply(&mut s, Input::Disconnected { close: None });
    let again = sent(&apply(&mut s, Input::Connected));
    assert!(matches!(&again[2], ClientMsg::Chat { client_msg_id: Some(c), .. } if c == "c1"), "{again:?}");
}

#[test]
fn an_ack_replaces_the_pending_line_in_place_and_empties_the_outbox() {
    let mut s = in_room();
    let fx = intend(&mut s, Intent::SendChat { text: "hello".into(), client_msg_id: "c1".into() });
    let [ClientMsg::Chat { req_id: Some(req_id), .. }] = sent(&fx)[..] else { panic!("{fx:?}") };
    let fx = server(&mut s, ServerMsg::Ack { req_id, message: Some(msg(100, 1, "hello")) });
    assert_eq!(fx, [Effect::SaveOutbox { room: "r".into(), unsent: vec![] }]);
    let line = first_line(&s);
    assert_eq!((line.id, line.seq, line.mine, line.req_id), (Some(100), Some(100), true, Some(req_id)));
    // Acked lines are not replayed on the next connection.
    apply(&mut s, Input::Disconnected { close: None });
    assert_eq!(sent(&apply(&mut s, Input::Connected)).len(), 2);
}

#[test]
fn the_outbox_kept_for_a_room_comes_back_pending_and_goes_again() {
    let mut s = online();
    let fx = intend(&mut s, Intent::Enter("r".into()));
    assert_eq!(fx.last(), Some(&Effect::LoadOutbox("r".into())));
    let unsent = vec![Unsent { client_msg_id: "old".into(), text: "typed before reload".into() }];
    let fx = apply(&mut s, Input::OutboxLoaded { room: "r".into(), unsent: unsent.clone() });
    assert!(matches!(&sent(&fx)[..], [ClientMsg::Chat { client_msg_id: Some(c), .. }] if c == "old"));
    assert_eq!(first_line(&s).id, None);
    // A late answer for a room I left is ignored.
    intend(&mut s, Intent::Enter("other".into()));
    assert!(apply(&mut s, Input::OutboxLoaded { room: "r".into(), unsent }).is_empty());
    assert!(s.chat.log.is_empty());
}

#[test]
fn a_refused_line_is_marked_failed_and_not_shown_as_a_banner() {
    let mut s = in_room();
    intend(&mut s, Intent::SendChat { text: "x".into(), client_msg_id: "c".into() });
    let req_id = first_line(&s).req_id;
    let fx = server(&mut s, ServerMsg::Error { req_id, code: ErrorCode::InvalidMessage, message: "too many".into() });
    assert_eq!(first_line(&s).failed.as_deref(), Some("too many"));
    assert_eq!(s.error, None);
    assert_eq!(fx, [Effect::SaveOutbox { room: "r".into(), unsent: vec![] }], "a failed line leaves the outbox");
}

#[test]
fn a_line_the_store_could_not_take_stays_pending_and_goes_again_once_per_refusal() {
    let mut s = in_room();
    let fx = intend(&mut s, Intent::SendChat { text: "keep me".into(), client_msg_id: "c".into() });
    let [ClientMsg::Chat { req_id, .. }] = sent(&fx)[..] else { panic!() };
    server(&mut s, ServerMsg::Error { req_id, code: ErrorCode::StoreUnavailable, message: "disk".into() });
    let line = first_line(&s);
    assert_eq!((line.failed, line.retry), (None, true), "still pending");
    assert!(matches!(&sent(&apply(&mut s, Input::Tick))[..], [ClientMsg::Chat { client_msg_id: Some(c), .. }] if c == "c"));
    assert!(apply(&mut s, Input::Tick).is_empty(), "only once per refusal");
}

#[test]
fn after_lagged_my_pending_lines_go_again_for_their_lost_acks() {
    let mut s = in_room();
    intend(&mut s, Intent::SendChat { text: "was my ack skipped?".into(), client_msg_id: "c".into() });
    let fx = server(&mut s, ServerMsg::Lagged { room: "r".into(), last_seq: Some(3) });
    assert!(matches!(&sent(&fx)[..], [ClientMsg::Chat { client_msg_id: Some(c), .. }] if c == "c"));
}

#[test]
fn a_reconnect_resumes_after_the_last_seq_and_fills_the_gap_in_order() {
    let mut s = online();
    intend(&mut s, Intent::Enter("r".into()));
    server(&mut s, joined((1..=3).map(|i| msg(i, 2, "x")).collect(), false, false, "e1"));
    apply(&mut s, Input::Disconnected { close: None });
    let out = sent(&apply(&mut s, Input::Connected));
    assert_eq!(out[1], ClientMsg::Join { req_id: None, room: "r".into(), since: Some(3), epoch: Some("e1".into()), device: Some("dev".into()), password: None });
    // The server sends a first page and says there is more; a live message overtakes the rest.
    let fx = server(&mut s, joined((4..=5).map(|i| msg(i, 2, "x")).collect(), true, true, "e1"));
    assert!(matches!(&sent(&fx)[..], [ClientMsg::History { after: Some(5), .. }]));
    server(&mut s, ServerMsg::Message { message: msg(9, 2, "live") });
    server(&mut s, ServerMsg::History { req_id: None, room: "r".into(), messages: (6..=8).map(|i| msg(i, 2, "x")).collect(), more: false, backwards: false });
    server(&mut s, ServerMsg::Message { message: msg(8, 2, "x") }); // again: once only
    assert_eq!(seqs(&s), (1..=9).collect::<Vec<_>>());
}

#[test]
fn earlier_pages_go_before_and_another_epoch_starts_over() {
    let mut s = online();
    intend(&mut s, Intent::Enter("r".into()));
    server(&mut s, joined((51..=100).map(|i| msg(i, 2, "x")).collect(), true, false, "e1"));
    assert!(s.chat.earlier);
    let fx = intend(&mut s, Intent::LoadEarlier);
    assert!(matches!(&sent(&fx)[..], [ClientMsg::History { before: Some(51), .. }]));
    assert!(intend(&mut s, Intent::LoadEarlier).is_empty(), "one page at a time");
    server(&mut s, ServerMsg::History { req_id: None, room: "r".into(), messages: (1..=50).map(|i| msg(i, 2, "x")).collect(), more: false, backwards: true });
    assert_eq!(seqs(&s), (1..=100).collect::<Vec<_>>());
    assert!(!s.chat.earlier && !s.chat.loading_earlier, "the beginning is reached");
    // The server's database was replaced: what I had is dropped, not merged.
    server(&mut s, joined(vec![msg(1, 3, "new world")], false, false, "e2"));
    assert_eq!(seqs(&s), [1]);
    assert_eq!(first_line(&s).text, "new world");
}

#[test]
fn a_protected_room_asks_for_its_password_says_why_and_remembers_the_right_one() {
    let mut s = online();
    intend(&mut s, Intent::Enter("r".into()));
    server(&mut s, ServerMsg::Error { req_id: None, code: ErrorCode::PasswordRequired, message: "This room has a password.".into() });
    assert!(s.room.needs_password && s.at_the_door());
    assert_eq!(s.room.password_note, None, "asked, not refused");
    let fx = intend(&mut s, Intent::EnterWithPassword("guess".into()));
    assert!(s.room.checking_password);
    assert!(matches!(&sent(&fx)[..], [ClientMsg::Join { password: Some(p), device: Some(d), .. }] if p == "guess" && d == "dev"));
    server(&mut s, ServerMsg::Error { req_id: None, code: ErrorCode::WrongPassword, message: "Wrong password.".into() });
    assert_eq!(s.room.password_note, Some(Refusal { code: ErrorCode::WrongPassword, message: "Wrong password.".into() }));
    assert!(!s.room.checking_password);
    assert_eq!(s.place, Place::Room("r".into()), "still at the room's door");
    // A wrong one is not sent again.
    apply(&mut s, Input::Disconnected { close: None });
    assert!(sent(&apply(&mut s, Input::Connected)).iter().any(|m| matches!(m, ClientMsg::Join { password: None, .. })));
    intend(&mut s, Intent::EnterWithPassword("right".into()));
    let mut welcome = joined(vec![], false, false, "e");
    if let ServerMsg::Joined { protected, .. } = &mut welcome {
        *protected = true;
    }
    server(&mut s, welcome);
    assert!(!s.room.needs_password && !s.at_the_door() && s.room.protected);
    apply(&mut s, Input::Disconnected { close: None });
    let out = sent(&apply(&mut s, Input::Connected));
    assert!(out.iter().any(|m| matches!(m, ClientMsg::Join { password: Some(p), .. } if p == "right")));
}

#[test]
fn a_host_setting_a_password_remembers_it_for_the_reconnect() {
    let mut s = in_room();
    let fx = intend(&mut s, Intent::SetRoomPassword(Some("pw".into())));
    assert!(matches!(&sent(&fx)[..], [ClientMsg::SetPassword { req_id: Some(_), password: Some(p) }] if p == "pw"));
    assert_eq!(s.room.password_for("r").as_deref(), Some("pw"));
}

#[test]
fn moving_to_another_room_leaves_the_call_and_keeps_nothing_of_the_old_room() {
    let mut s = in_room();
    intend(&mut s, Intent::JoinCall(MediaState { audio: true, video: true, screen: false, ..Default::default() }));
    server(&mut s, ServerMsg::CallJoined { req_id: None, ice_servers: vec![], relay_only: false, participants: vec![], mode: CallMode::P2p });
    server(&mut s, ServerMsg::Hands { room: "r".into(), hands: vec![2], by: None });
    let fx = intend(&mut s, Intent::Enter("other".into()));
    let out = sent(&fx);
    assert_eq!(out[0], ClientMsg::CallLeave { req_id: None });
    assert!(matches!(&out[1], ClientMsg::Join { room, .. } if room == "other"));
    assert!(!s.call.in_call && !s.call.wants_call && s.call.participants.is_empty());
    assert_eq!((s.room.clone(), s.chat.log.len(), s.joined.clone()), (RoomState::default(), 0, None));
    assert!(intend(&mut s, Intent::Enter("other".into())).is_empty(), "already there");
}

#[test]
fn a_dropped_socket_leaves_the_call_and_the_reconnect_joins_it_again_with_the_same_media() {
    let mut s = in_room();
    let bo = CallParticipant { conn_id: 2, nickname: "Bo".into(), media: MediaState { audio: true, video: true, screen: false, ..Default::default() } };
    let fx = intend(&mut s, Intent::JoinCall(MediaState { audio: true, video: false, screen: false, ..Default::default() }));
    assert!(matches!(&sent(&fx)[..], [ClientMsg::CallJoin { req_id: Some(_), .. }]));
    server(&mut s, ServerMsg::CallJoined { req_id: None, ice_servers: vec![], relay_only: false, participants: vec![bo], mode: CallMode::P2p });
    let fx = apply(&mut s, Input::Media(MediaEvent::Sending(MediaState::default())));
    assert_eq!(sent(&fx), [ClientMsg::CallState { media: MediaState::default() }]);
    assert_eq!(s.call.participants[1].media, MediaState::default(), "my tile shows it");
    let fx = apply(&mut s, Input::Disconnected { close: Some((1006, String::new())) });
    assert_eq!(fx, [Effect::Engine(EngineCommand::Disconnected)]);
    assert!(!s.call.in_call && s.call.participants.is_empty() && s.error.is_none());
    let out = sent(&apply(&mut s, Input::Connected));
    assert!(matches!(out.last(), Some(ClientMsg::CallJoin { media, req_id: None }) if !media.audio), "{out:?}");
}

#[test]
fn a_policy_close_says_why_in_the_banner() {
    let mut s = online();
    apply(&mut s, Input::Disconnected { close: Some((1008, "Too many messages".into())) });
    assert_eq!(s.error, Some(Banner::Closed("Too many messages".into())));
    assert_eq!((s.conn.status, s.conn.online), (ConnStatus::Offline, false));
}

#[test]
fn leaving_the_call_tells_the_server_only_if_i_was_in_it() {
    let mut s = in_room();
    intend(&mut s, Intent::JoinCall(MediaState::default()));
    assert!(sent(&intend(&mut s, Intent::LeaveCall)).is_empty(), "not confirmed yet");
    assert!(!s.call.wants_call);
    intend(&mut s, Intent::JoinCall(MediaState::default()));
    server(&mut s, ServerMsg::CallJoined { req_id: None, ice_servers: vec![], relay_only: false, participants: vec![], mode: CallMode::P2p });
    assert_eq!(sent(&intend(&mut s, Intent::LeaveCall)), [ClientMsg::CallLeave { req_id: None }]);
}

#[test]
fn a_nickname_is_saved_and_sent_with_a_request_id() {
    let mut s = online();
    let fx = intend(&mut s, Intent::SetNickname("Cy".into()));
    assert!(matches!(&fx[..], [Effect::Send(ClientMsg::SetNick { req_id: Some(_), nickname }), Effect::SaveNickname(n)] if nickname == "Cy" && n == "Cy"));
    assert!(s.conn.named);
}

#[test]
fn a_saved_nickname_names_me_and_without_one_a_room_asks_first() {
    let mut s = ClientState::default();
    apply(&mut s, Input::Started { nickname: None, device: "d".into(), media_access: MediaAccess::Insecure });
    assert!(s.at_the_door() && s.devices.media_access == MediaAccess::Insecure);
    apply(&mut s, Input::Started { nickname: Some("Ana".into()), device: "d".into(), media_access: MediaAccess::Available });
    assert!(!s.at_the_door() && s.conn.nickname == "Ana");
}

#[test]
fn host_requests_get_fresh_request_ids() {
    let mut s = in_room();
    let a = sent(&intend(&mut s, Intent::Request(Request::Remove(2))));
    let b = sent(&intend(&mut s, Intent::Request(Request::Lobby(true))));
    let (ClientMsg::Remove { req_id: Some(x), conn_id: 2 }, ClientMsg::SetLobby { req_id: Some(y), enabled: true }) = (&a[0], &b[0]) else { panic!("{a:?} {b:?}") };
    assert_ne!(x, y);
    assert_eq!(sent(&intend(&mut s, Intent::React("🎉".into()))), [ClientMsg::React { emoji: "🎉".into() }]);
}

#[test]
fn pinning_a_tile_again_unpins_it_and_a_device_choice_is_kept() {
    let mut s = in_room();
    intend(&mut s, Intent::TogglePin(2, TrackKind::Video));
    assert_eq!(s.call.pinned, Some((2, TrackKind::Video)));
    intend(&mut s, Intent::TogglePin(2, TrackKind::Video));
    assert_eq!(s.call.pinned, None);
    intend(&mut s, Intent::ChooseDevice(TrackKind::Audio, "mic2".into()));
    intend(&mut s, Intent::ChooseDevice(TrackKind::Video, "cam2".into()));
    assert_eq!((s.devices.microphone_id.as_deref(), s.devices.camera_id.as_deref()), (Some("mic2"), Some("cam2")));
}

#[test]
fn the_engine_reports_become_state_and_frames() {
    let mut s = in_room();
    let cam = Device { id: "c".into(), label: "Cam".into() };
    apply(&mut s, Input::Media(MediaEvent::Devices { cameras: vec![cam.clone()], microphones: vec![] }));
    apply(&mut s, Input::Media(MediaEvent::DeviceNote(Some(DeviceNote::NoMicrophone))));
    apply(&mut s, Input::Media(MediaEvent::StreamsChanged));
    apply(&mut s, Input::Media(MediaEvent::Speaking(vec![2])));
    apply(&mut s, Input::Media(MediaEvent::WebrtcUnavailable));
    assert_eq!((s.devices.cameras.clone(), s.devices.note.clone(), s.devices.streams), (vec![cam], Some(DeviceNote::NoMicrophone), 1));
    assert_eq!((s.devices.speaking.clone(), s.call.error.clone()), (vec![2], Some(CallError::WebrtcUnavailable)));
    let payload = crate::protocol::SignalPayload::Candidate { candidate: "c".into(), sdp_mid: None, sdp_m_line_index: None };
    let fx = apply(&mut s, Input::Media(MediaEvent::Signal { to: 2, payload: payload.clone() }));
    assert_eq!(sent(&fx), [ClientMsg::Signal { to: 2, payload }]);
    let fx = apply(&mut s, Input::Media(MediaEvent::Layout(vec![])));
    assert_eq!(sent(&fx), [ClientMsg::CallLayout { tiles: vec![] }]);
    let fx = apply(&mut s, Input::Media(MediaEvent::JoinWith(MediaState::default())));
    assert!(s.call.wants_call && matches!(&sent(&fx)[..], [ClientMsg::CallJoin { .. }]));
}

#[test]
fn the_same_inputs_give_the_same_state_and_effects() {
    let run = || {
        let mut s = in_room();
        let mut fx = intend(&mut s, Intent::SendChat { text: "a".into(), client_msg_id: "1".into() });
        fx.extend(server(&mut s, ServerMsg::Reaction { conn_id: 2, emoji: "👍".into() }));
        (s, fx)
    };
    assert_eq!(run(), run());
}

/// The app clones the state before each input to see which fields changed
/// (`app::session`): the log's lines are shared by that clone, so an input that leaves the
/// log alone (signalling, speaking, a tick) neither copies nor compares them, and only one
/// that changes it pays for a copy. The figures for docs/ARCHITECTURE.md are printed (run
/// with `--nocapture`); the test asserts the sharing, not a time.
#[test]
fn the_log_is_shared_by_the_clone_taken_before_each_input() {
    let mut s = in_room();
    server(&mut s, joined((1..=2000).map(|i| msg(i, 2, "a line of chat of an ordinary length")).collect(), false, false, "e"));
    assert_eq!(s.chat.log.len(), 2000);
    let rounds = 50;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        let before = s.clone();
        apply(&mut s, Input::Media(MediaEvent::Speaking(vec![2])));
        apply(&mut s, Input::Tick);
        assert!(std::sync::Arc::ptr_eq(&before.chat.log, &s.chat.log), "an input that leaves the log alone copied it");
        std::hint::black_box(before == s);
    }
    let untouched = start.elapsed() / rounds;
    let start = std::time::Instant::now();
    for i in 0..rounds {
        let before = s.clone();
        server(&mut s, ServerMsg::Message { message: msg(2001 + i as u64, 2, "one more") });
        assert!(!std::sync::Arc::ptr_eq(&before.chat.log, &s.chat.log));
        std::hint::black_box(before.chat.log == s.chat.log);
    }
    let changed = start.elapsed() / rounds;
    println!("per input with a 2000-line log: clone + compare {untouched:?} when the log is untouched, {changed:?} when a line arrives");
}
