//! The browser's view of the world, as reactive signals, and the one function that turns
//! server messages into it ([`Session::apply`]).
//!
//! Compiled for both targets: on the server it renders the initial (empty) state, so the
//! server-rendered HTML and the first client render agree and hydration succeeds. In the
//! browser, `crate::client::socket` feeds it messages and sends what it queues. Being plain
//! Rust, the reducer is unit-tested natively (see the tests below).

use futures::channel::mpsc::UnboundedSender;
use leptos::prelude::*;

use crate::limits::DEFAULT_NICKNAME;
use crate::protocol::{
    CallMode, CallParticipant, ChatMessage, ClientMsg, ConnId, ErrorCode, MediaState, Member, ReqId, RoomInfo,
    ServerMsg,
};
use crate::strings;

/// A camera or microphone, as `enumerateDevices` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnStatus {
    Connecting,
    Online,
    Offline,
}

/// Where the person wants to be; re-sent to the server after every reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Home,
    Room(String),
}

/// One chat message in the log. Own messages start pending (`id == None`) and get their
/// server id, sequence number and time from the server's ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    pub key: u64,
    pub id: Option<u64>,
    pub req_id: Option<ReqId>,
    pub mine: bool,
    pub nickname: String,
    pub text: String,
    pub ts: Option<u64>,
    /// Why the server refused it, if it did.
    pub failed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    Notice { key: u64, text: String },
    Chat(ChatLine),
}

impl LogEntry {
    /// Changes whenever the entry's rendering must change (used as the `<For>` key).
    pub fn render_key(&self) -> (u64, bool, bool) {
        match self {
            LogEntry::Notice { key, .. } => (*key, false, false),
            LogEntry::Chat(line) => (line.key, line.id.is_some(), line.failed.is_some()),
        }
    }
}

#[derive(Clone, Copy)]
pub struct Session {
    pub status: RwSignal<ConnStatus>,
    pub me: RwSignal<Option<ConnId>>,
    pub nickname: RwSignal<String>,
    pub place: RwSignal<Place>,
    /// The room the server confirmed we are in.
    pub joined: RwSignal<Option<String>>,
    pub rooms: RwSignal<Vec<RoomInfo>>,
    pub members: RwSignal<Vec<Member>>,
    pub log: RwSignal<Vec<LogEntry>>,
    /// The last error the server reported, shown in a banner.
    pub error: RwSignal<Option<String>>,
    /// Everyone in the room's call (me included once I am in it), in join order.
    pub call: RwSignal<Vec<CallParticipant>>,
    /// Whether I am in the call (the server confirmed).
    pub in_call: RwSignal<bool>,
    /// Whether my call is peer to peer or runs through the server's SFU.
    pub call_mode: RwSignal<CallMode>,
    /// Whether I want to be in the call: kept across reconnects to re-join.
    wants_call: RwSignal<bool>,
    /// My microphone/camera/screen state, as shown to the others.
    pub media: RwSignal<MediaState>,
    /// Why joining the call failed ("This call is full (4)"), or a device problem.
    pub call_error: RwSignal<Option<String>>,
    /// The tile shown large, if the person pinned one.
    pub pinned: RwSignal<Option<(ConnId, crate::protocol::TrackKind)>>,
    /// Participants whose audio is above the speaking threshold right now.
    pub speaking: RwSignal<Vec<ConnId>>,
    /// Bumped whenever a local or remote media stream changes, so video elements re-attach.
    pub media_epoch: RwSignal<u64>,
    pub cameras: RwSignal<Vec<Device>>,
    pub microphones: RwSignal<Vec<Device>>,
    pub camera_id: RwSignal<Option<String>>,
    pub microphone_id: RwSignal<Option<String>>,
    /// What is wrong with the devices ("no camera", "permission denied"), if anything.
    pub device_note: RwSignal<Option<String>>,
    next_key: StoredValue<u64>,
    link: StoredValue<Option<UnboundedSender<ClientMsg>>>,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    pub fn new() -> Session {
        Session {
            status: RwSignal::new(ConnStatus::Connecting),
            me: RwSignal::new(None),
            nickname: RwSignal::new(DEFAULT_NICKNAME.to_string()),
            place: RwSignal::new(Place::Home),
            joined: RwSignal::new(None),
            rooms: RwSignal::new(Vec::new()),
            members: RwSignal::new(Vec::new()),
            log: RwSignal::new(Vec::new()),
            error: RwSignal::new(None),
            call: RwSignal::new(Vec::new()),
            in_call: RwSignal::new(false),
            call_mode: RwSignal::new(CallMode::P2p),
            wants_call: RwSignal::new(false),
            media: RwSignal::new(MediaState::default()),
            call_error: RwSignal::new(None),
            pinned: RwSignal::new(None),
            speaking: RwSignal::new(Vec::new()),
            media_epoch: RwSignal::new(0),
            cameras: RwSignal::new(Vec::new()),
            microphones: RwSignal::new(Vec::new()),
            camera_id: RwSignal::new(None),
            microphone_id: RwSignal::new(None),
            device_note: RwSignal::new(None),
            next_key: StoredValue::new(1),
            link: StoredValue::new(None),
        }
    }

    fn next_key(&self) -> u64 {
        let key = self.next_key.get_value();
        self.next_key.set_value(key + 1);
        key
    }

    /// Send now if connected; otherwise the reconnect replays the state that matters.
    fn send(&self, msg: ClientMsg) {
        self.link.with_value(|link| {
            if let Some(tx) = link {
                let _ = tx.unbounded_send(msg);
            }
        });
    }

    /// WebRTC signalling for one peer (from `client::call`).
    pub fn send_signal(&self, to: ConnId, payload: crate::protocol::SignalPayload) {
        self.send(ClientMsg::Signal { to, payload });
    }

    /// Tell the SFU which remote tiles I show and how big.
    pub fn send_layout(&self, tiles: Vec<crate::protocol::TileView>) {
        self.send(ClientMsg::CallLayout { tiles });
    }

    /// Ask to join the room's call with this media state.
    pub fn join_call(&self, media: MediaState) {
        self.media.set(media);
        self.wants_call.set(true);
        self.call_error.set(None);
        self.send(ClientMsg::CallJoin { req_id: Some(self.next_key()), media });
    }

    pub fn leave_call(&self) {
        self.wants_call.set(false);
        if self.in_call.get_untracked() {
            self.send(ClientMsg::CallLeave { req_id: None });
        }
        self.left_call();
    }

    fn left_call(&self) {
        self.in_call.set(false);
        self.speaking.set(Vec::new());
        let me = self.me.get_untracked();
        self.call.update(|c| c.retain(|p| Some(p.conn_id) != me));
    }

    /// My microphone/camera/screen changed: show it on my tile and tell the others.
    pub fn set_media(&self, media: MediaState) {
        self.media.set(media);
        let me = self.me.get_untracked();
        self.call.update(|c| {
            for p in c.iter_mut().filter(|p| Some(p.conn_id) == me) {
                p.media = media;
            }
        });
        if self.in_call.get_untracked() {
            self.send(ClientMsg::CallState { media });
        }
    }

    pub fn go_home(&self) {
        self.move_to(Place::Home);
        self.send(ClientMsg::WatchRooms { req_id: None });
    }

    pub fn enter(&self, room: String) {
        if self.place.get_untracked() == Place::Room(room.clone()) {
            return;
        }
        self.move_to(Place::Room(room.clone()));
        self.send(ClientMsg::Join { req_id: None, room });
    }

    /// Leave the current place: out of its call, and nothing of its room kept.
    fn move_to(&self, place: Place) {
        if self.wants_call.get_untracked() {
            self.leave_call();
        }
        self.place.set(place);
        self.call.set(Vec::new());
        self.joined.set(None);
        self.members.set(Vec::new());
        self.log.set(Vec::new());
    }

    /// `nickname` must already be valid (see `crate::limits::validate_nickname`).
    pub fn set_nickname(&self, nickname: String) {
        self.nickname.set(nickname.clone());
        let req_id = self.next_key();
        self.send(ClientMsg::SetNick { req_id: Some(req_id), nickname });
    }

    /// Queue a chat message. It shows at once as pending, and is (re)sent until acked.
    pub fn send_chat(&self, text: String) {
        let key = self.next_key();
        let line = ChatLine {
            key,
            id: None,
            req_id: Some(key),
            mine: true,
            nickname: self.nickname.get_untracked(),
            text: text.clone(),
            ts: None,
            failed: None,
        };
        self.log.update(|log| log.push(LogEntry::Chat(line)));
        self.send(ClientMsg::Chat { req_id: Some(key), text });
    }

    /// A new socket is up: tell the server who we are and where we are, then replay
    /// every message that was not acked (it may have been lost with the old socket).
    pub fn on_connected(&self, link: UnboundedSender<ClientMsg>) {
        self.link.set_value(Some(link));
        self.send(ClientMsg::SetNick { req_id: None, nickname: self.nickname.get_untracked() });
        match self.place.get_untracked() {
            Place::Home => self.send(ClientMsg::WatchRooms { req_id: None }),
            Place::Room(room) => {
                self.send(ClientMsg::Join { req_id: None, room });
                // Peer connections were torn down with the old socket (our id changed):
                // join the call again and they are rebuilt.
                if self.wants_call.get_untracked() {
                    self.send(ClientMsg::CallJoin { req_id: None, media: self.media.get_untracked() });
                }
            }
        }
        let pending: Vec<ClientMsg> = self.log.with_untracked(|log| {
            log.iter()
                .filter_map(|e| match e {
                    LogEntry::Chat(l) if l.mine && l.id.is_none() && l.failed.is_none() => {
                        Some(ClientMsg::Chat { req_id: l.req_id, text: l.text.clone() })
                    }
                    _ => None,
                })
                .collect()
        });
        for msg in pending {
            self.send(msg);
        }
    }

    pub fn on_disconnected(&self) {
        self.link.set_value(None);
        self.status.set(ConnStatus::Offline);
        self.joined.set(None);
        self.left_call();
        self.call.set(Vec::new());
    }

    fn notice(&self, text: String) {
        let key = self.next_key();
        self.log.update(|log| log.push(LogEntry::Notice { key, text }));
    }

    fn push_message(&self, m: ChatMessage) {
        let key = self.next_key();
        let mine = Some(m.from) == self.me.get_untracked();
        self.log.update(|log| {
            let seen = log.iter().any(|e| matches!(e, LogEntry::Chat(l) if l.id == Some(m.id)));
            if !seen {
                log.push(LogEntry::Chat(ChatLine {
                    key,
                    id: Some(m.id),
                    req_id: None,
                    mine,
                    nickname: m.nickname,
                    text: m.text,
                    ts: Some(m.ts),
                    failed: None,
                }));
            }
        });
    }

    fn in_room(&self, room: &str) -> bool {
        self.joined.with_untracked(|j| j.as_deref() == Some(room))
    }

    /// Apply one server message to the state.
    pub fn apply(&self, msg: ServerMsg) {
        match msg {
            ServerMsg::Welcome { conn_id, .. } => {
                self.me.set(Some(conn_id));
                self.status.set(ConnStatus::Online);
            }
            ServerMsg::Ack { req_id, message } => {
                if let Some(m) = message {
                    self.log.update(|log| {
                        for e in log.iter_mut() {
                            if let LogEntry::Chat(l) = e {
                                if l.req_id == Some(req_id) && l.id.is_none() {
                                    l.id = Some(m.id);
                                    l.ts = Some(m.ts);
                                    l.nickname = m.nickname.clone();
                                }
                            }
                        }
                    });
                }
            }
            ServerMsg::Joined { room, members, history, call, .. } => {
                if self.place.get_untracked() != Place::Room(room.clone()) {
                    return;
                }
                self.joined.set(Some(room));
                self.members.set(members);
                self.call.set(call);
                // After a reconnect this fills in what was said while we were away.
                for m in history {
                    self.push_message(m);
                }
            }
            ServerMsg::MemberJoined { room, member } => {
                if !self.in_room(&room) {
                    return;
                }
                self.notice(strings::joined(&member.nickname));
                self.members.update(|ms| {
                    if !ms.iter().any(|m| m.conn_id == member.conn_id) {
                        ms.push(member)
                    }
                });
            }
            ServerMsg::MemberLeft { room, member } => {
                if !self.in_room(&room) {
                    return;
                }
                self.notice(strings::left(&member.nickname));
                self.members.update(|ms| ms.retain(|m| m.conn_id != member.conn_id));
            }
            ServerMsg::NickChanged { conn_id, old, new } => {
                self.notice(strings::renamed(&old, &new));
                self.call.update(|c| {
                    for p in c.iter_mut().filter(|p| p.conn_id == conn_id) {
                        p.nickname = new.clone();
                    }
                });
                self.members.update(|ms| {
                    for m in ms.iter_mut().filter(|m| m.conn_id == conn_id) {
                        m.nickname = new.clone();
                    }
                });
            }
            ServerMsg::Message { message } => {
                if self.in_room(&message.room) {
                    self.push_message(message);
                }
            }
            ServerMsg::Rooms { rooms } => self.rooms.set(rooms),
            ServerMsg::CallJoined { participants, mode, .. } => {
                self.call_mode.set(mode);
                let Some(me) = self.me.get_untracked() else { return };
                let mine = CallParticipant { conn_id: me, nickname: self.nickname.get_untracked(), media: self.media.get_untracked() };
                self.call.set(participants.into_iter().chain(std::iter::once(mine)).collect());
                self.in_call.set(true);
            }
            ServerMsg::CallParticipantJoined { participant } => self.call.update(|c| {
                c.retain(|p| p.conn_id != participant.conn_id);
                c.push(participant);
            }),
            ServerMsg::CallParticipantLeft { conn_id } => {
                self.call.update(|c| c.retain(|p| p.conn_id != conn_id));
                self.speaking.update(|s| s.retain(|id| *id != conn_id));
            }
            ServerMsg::CallParticipantState { conn_id, media } => self.call.update(|c| {
                for p in c.iter_mut().filter(|p| p.conn_id == conn_id) {
                    p.media = media;
                }
            }),
            ServerMsg::CallModeChanged { mode } => self.call_mode.set(mode),
            // Signals and the SFU's track list are for the peer connections (client::media),
            // not for the UI state.
            ServerMsg::Signal { .. } | ServerMsg::CallTracks { .. } => {}
            ServerMsg::Error { code: ErrorCode::CallFull, message, .. } => {
                self.wants_call.set(false);
                self.call_error.set(Some(message));
            }
            ServerMsg::Error { req_id, message, .. } => {
                let mut was_chat = false;
                if let Some(req_id) = req_id {
                    self.log.update(|log| {
                        for e in log.iter_mut() {
                            if let LogEntry::Chat(l) = e {
                                if l.req_id == Some(req_id) && l.id.is_none() {
                                    l.failed = Some(message.clone());
                                    was_chat = true;
                                }
                            }
                        }
                    });
                }
                if !was_chat {
                    self.error.set(Some(message));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::mpsc;

    fn msg(id: u64, from: ConnId, text: &str) -> ChatMessage {
        ChatMessage { id, room: "r".into(), seq: id, ts: 1, from, nickname: format!("n{from}"), text: text.into() }
    }

    fn sent(rx: &mut mpsc::UnboundedReceiver<ClientMsg>) -> Vec<ClientMsg> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    fn texts(s: &Session) -> Vec<String> {
        s.log.get_untracked().iter().map(|e| match e {
            LogEntry::Notice { text, .. } => text.clone(),
            LogEntry::Chat(l) => format!("{}: {}", l.nickname, l.text),
        }).collect()
    }

    #[test]
    fn own_message_is_pending_until_acked_and_replayed_after_reconnect() {
        Owner::new().with(|| {
        let s = Session::new();
        s.enter("r".into());
        s.send_chat("hello".into()); // offline: only queued in the log
        let (tx, mut rx) = mpsc::unbounded();
        s.on_connected(tx);
        s.apply(ServerMsg::Welcome { conn_id: 7, nickname: "Anonymous".into() });
        let out = sent(&mut rx);
        assert!(matches!(&out[0], ClientMsg::SetNick { .. }));
        assert_eq!(out[1], ClientMsg::Join { req_id: None, room: "r".into() });
        let ClientMsg::Chat { req_id: Some(req_id), text } = &out[2] else { panic!("{out:?}") };
        assert_eq!(text, "hello");

        s.apply(ServerMsg::Ack { req_id: *req_id, message: Some(msg(100, 7, "hello")) });
        let LogEntry::Chat(line) = &s.log.get_untracked()[0] else { panic!() };
        assert_eq!((line.id, line.mine), (Some(100), true));

        // Acked messages are not replayed on the next connection.
        let (tx, mut rx) = mpsc::unbounded();
        s.on_connected(tx);
        assert_eq!(sent(&mut rx).len(), 2);
        });
    }

    #[test]
    fn notices_members_and_history() {
        Owner::new().with(|| {
        let s = Session::new();
        s.apply(ServerMsg::Welcome { conn_id: 1, nickname: "Anonymous".into() });
        s.enter("r".into());
        let me = Member { conn_id: 1, nickname: "Ana".into() };
        s.apply(ServerMsg::Joined { req_id: None, room: "r".into(), members: vec![me], history: vec![msg(5, 2, "earlier")], call: vec![], ice_servers: vec![] });
        let bo = Member { conn_id: 2, nickname: "Bo".into() };
        s.apply(ServerMsg::MemberJoined { room: "r".into(), member: bo.clone() });
        s.apply(ServerMsg::Message { message: msg(6, 2, "<b>hi</b>") });
        s.apply(ServerMsg::Message { message: msg(6, 2, "<b>hi</b>") }); // duplicate id: ignored
        s.apply(ServerMsg::NickChanged { conn_id: 2, old: "Bo".into(), new: "Bob".into() });
        s.apply(ServerMsg::MemberLeft { room: "r".into(), member: Member { nickname: "Bob".into(), ..bo } });
        // A message for another room (stale, after switching) is not shown.
        s.apply(ServerMsg::Message { message: ChatMessage { room: "other".into(), ..msg(9, 2, "x") } });
        assert_eq!(
            texts(&s),
            vec!["n2: earlier", "Bo joined", "n2: <b>hi</b>", "Bo is now Bob", "Bob left"]
        );
        assert_eq!(s.members.get_untracked().len(), 1);
        });
    }

    #[test]
    fn call_membership_and_media_state() {
        Owner::new().with(|| {
        let s = Session::new();
        s.apply(ServerMsg::Welcome { conn_id: 1, nickname: "Anonymous".into() });
        s.enter("r".into());
        let bo = CallParticipant { conn_id: 2, nickname: "Bo".into(), media: MediaState { audio: true, video: true, screen: false } };
        s.apply(ServerMsg::Joined { req_id: None, room: "r".into(), members: vec![], history: vec![], call: vec![bo.clone()], ice_servers: vec![] });
        assert_eq!(s.call.get_untracked(), vec![bo.clone()]);

        let (tx, mut rx) = mpsc::unbounded();
        s.on_connected(tx);
        sent(&mut rx);
        s.join_call(MediaState { audio: true, video: false, screen: false });
        assert!(matches!(&sent(&mut rx)[..], [ClientMsg::CallJoin { .. }]));
        s.apply(ServerMsg::CallJoined { req_id: None, ice_servers: vec![], participants: vec![bo.clone()], mode: CallMode::P2p });
        assert!(s.in_call.get_untracked());
        assert_eq!(s.call.get_untracked().iter().map(|p| p.conn_id).collect::<Vec<_>>(), [2, 1]);

        s.apply(ServerMsg::CallParticipantState { conn_id: 2, media: MediaState { audio: false, video: false, screen: false } });
        assert!(!s.call.get_untracked()[0].media.audio);
        s.set_media(MediaState { audio: false, video: false, screen: false });
        assert!(matches!(&sent(&mut rx)[..], [ClientMsg::CallState { .. }]));

        // After a dropped socket, the call is re-joined with the same media state.
        s.on_disconnected();
        assert!(!s.in_call.get_untracked());
        let (tx, mut rx) = mpsc::unbounded();
        s.on_connected(tx);
        let out = sent(&mut rx);
        assert!(matches!(out.last(), Some(ClientMsg::CallJoin { media, .. }) if !media.audio), "{out:?}");

        s.apply(ServerMsg::Error { req_id: None, code: ErrorCode::CallFull, message: "This call is full (4)".into() });
        assert_eq!(s.call_error.get_untracked().as_deref(), Some("This call is full (4)"));
        });
    }

    #[test]
    fn refused_chat_is_marked_failed() {
        Owner::new().with(|| {
        let s = Session::new();
        s.enter("r".into());
        s.send_chat("x".into());
        let LogEntry::Chat(line) = s.log.get_untracked()[0].clone() else { panic!() };
        s.apply(ServerMsg::Error {
            req_id: line.req_id,
            code: crate::protocol::ErrorCode::RateLimited,
            message: "too many".into(),
        });
        let LogEntry::Chat(line) = s.log.get_untracked()[0].clone() else { panic!() };
        assert_eq!(line.failed.as_deref(), Some("too many"));
        assert_eq!(s.error.get_untracked(), None);
        });
    }
}
