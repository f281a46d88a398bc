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
use crate::i18n::Locale;
use crate::strings;

/// A camera or microphone, as `enumerateDevices` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub label: String,
}

/// Whether this page may use a camera, microphone and screen capture at all. Browsers give
/// them only to a secure context (`https://`, or `http://localhost`): opened over plain
/// HTTP from another machine, `navigator.mediaDevices` does not exist, so calls cannot
/// work there, and the call panel says why instead of offering them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaAccess {
    /// As far as is known: the server's render, and a secure page with `mediaDevices`.
    #[default]
    Available,
    /// The page is not a secure context (plain `http://` to a name other than localhost).
    Insecure,
    /// A secure page whose browser has no `navigator.mediaDevices` anyway.
    Unsupported,
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
    /// The message's place in its room; the log is kept in this order.
    pub seq: Option<u64>,
    pub req_id: Option<ReqId>,
    /// Mine, not acked yet: the id that makes resending it harmless.
    pub client_msg_id: Option<String>,
    /// Mine, refused for now (server busy, store failing): send again at the next retry.
    pub retry: bool,
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
    /// The person chose their nickname (now or on an earlier visit): until then, a room
    /// link asks for one before entering instead of showing them as "Anonymous".
    pub named: RwSignal<bool>,
    pub place: RwSignal<Place>,
    /// The room the server confirmed we are in.
    pub joined: RwSignal<Option<String>>,
    pub rooms: RwSignal<Vec<RoomInfo>>,
    pub members: RwSignal<Vec<Member>>,
    pub log: RwSignal<Vec<LogEntry>>,
    /// Older messages than the first in the log are stored ("Load earlier messages").
    pub earlier: RwSignal<bool>,
    /// A page of older messages was asked for and has not come yet.
    pub loading_earlier: RwSignal<bool>,
    /// The chat database the log's seqs come from (`joined.epoch`).
    epoch: StoredValue<Option<String>>,
    /// The last error the server reported, shown in a banner.
    pub error: RwSignal<Option<String>>,
    /// A host locked my room.
    pub locked: RwSignal<bool>,
    /// My room's waiting room is on.
    pub lobby: RwSignal<bool>,
    /// I wait in the room's waiting room for a host to let me in.
    pub waiting: RwSignal<bool>,
    /// Hosts: who waits to come in.
    pub lobby_queue: RwSignal<Vec<Member>>,
    /// My room has a password.
    pub protected: RwSignal<bool>,
    /// The room I want to enter asks for its password: the prompt shows, with why the
    /// last one was refused (`Some`), and whether one is being checked.
    pub needs_password: RwSignal<bool>,
    pub password_note: RwSignal<Option<String>>,
    pub checking_password: RwSignal<bool>,
    /// The password I gave (or set) for a room, sent again when I reconnect to it. Only
    /// in memory: a reload asks again.
    password: StoredValue<Option<(String, String)>>,
    /// Raised hands in my room, in the order they went up.
    pub hands: RwSignal<Vec<ConnId>>,
    /// Recent reactions in my room (a key, who, which emoji): the tiles float them.
    pub reactions: RwSignal<Vec<(u64, ConnId, String)>>,
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
    /// Whether calls can work on this page at all (found once when the client starts).
    pub media_access: RwSignal<MediaAccess>,
    /// The language the person reads (kept in step with the i18n context by the app):
    /// notices and refusals are written in it.
    pub locale: RwSignal<Locale>,
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
            named: RwSignal::new(false),
            place: RwSignal::new(Place::Home),
            joined: RwSignal::new(None),
            rooms: RwSignal::new(Vec::new()),
            members: RwSignal::new(Vec::new()),
            locked: RwSignal::new(false),
            lobby: RwSignal::new(false),
            waiting: RwSignal::new(false),
            lobby_queue: RwSignal::new(Vec::new()),
            protected: RwSignal::new(false),
            needs_password: RwSignal::new(false),
            password_note: RwSignal::new(None),
            checking_password: RwSignal::new(false),
            password: StoredValue::new(None),
            hands: RwSignal::new(Vec::new()),
            reactions: RwSignal::new(Vec::new()),
            log: RwSignal::new(Vec::new()),
            earlier: RwSignal::new(false),
            loading_earlier: RwSignal::new(false),
            epoch: StoredValue::new(None),
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
            media_access: RwSignal::new(MediaAccess::Available),
            locale: RwSignal::new(Locale::en),
            next_key: StoredValue::new(1),
            link: StoredValue::new(None),
        }
    }

    fn l(&self) -> Locale {
        self.locale.get_untracked()
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

    /// Not in the room yet on purpose: choosing a name first, giving its password, or in
    /// its waiting room. (Not the same as offline: a dropped connection keeps the room on
    /// screen, to type into.)
    pub fn at_the_door(&self) -> bool {
        !self.named.get() || self.needs_password.get() || self.waiting.get()
    }

    /// The password I know for `room`, if any.
    fn password_for(&self, room: &str) -> Option<String> {
        self.password.with_value(|p| p.as_ref().filter(|(r, _)| r == room).map(|(_, pw)| pw.clone()))
    }

    /// Try to enter my room with this password (`password` must be valid, see
    /// `crate::limits::validate_password`).
    pub fn enter_with_password(&self, password: String) {
        let Place::Room(room) = self.place.get_untracked() else { return };
        self.password.set_value(Some((room.clone(), password.clone())));
        self.checking_password.set(true);
        self.password_note.set(None);
        let device = Some(super::persist::device_id());
        self.send(ClientMsg::Join { req_id: None, room, since: None, epoch: None, device, password: Some(password) });
    }

    /// Host: protect my room with `password` (valid), or remove its password.
    pub fn set_room_password(&self, password: Option<String>) {
        if let (Place::Room(room), Some(pw)) = (self.place.get_untracked(), password.clone()) {
            self.password.set_value(Some((room, pw)));
        }
        self.request(|req_id| ClientMsg::SetPassword { req_id, password });
    }

    /// Whether `conn_id` is a host of my room.
    pub fn is_host(&self, conn_id: Option<ConnId>) -> bool {
        self.members.with(|ms| ms.iter().any(|m| Some(m.conn_id) == conn_id && m.host))
    }

    /// Send a request the server answers with `ack` or `error` (host controls, hands): it
    /// gets a fresh `req_id`, and a refusal shows in the banner. The server decides who may.
    pub fn request(&self, msg: impl FnOnce(Option<ReqId>) -> ClientMsg) {
        self.send(msg(Some(self.next_key())));
    }

    pub fn react(&self, emoji: &str) {
        self.send(ClientMsg::React { emoji: emoji.to_string() });
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
        self.error.set(None);
        self.send(ClientMsg::Join {
            req_id: None,
            room: room.clone(),
            since: None,
            epoch: None,
            device: Some(super::persist::device_id()),
            password: self.password_for(&room),
        });
        // What I typed here before a reload and the server never acknowledged.
        for unsent in super::persist::load_outbox(&room) {
            let key = self.next_key();
            self.log.update(|log| log.push(LogEntry::Chat(self.pending_line(key, unsent.client_msg_id, unsent.text))));
        }
        self.resend(|_| true);
    }

    /// Ask for the page of messages before the first in the log.
    pub fn load_earlier(&self) {
        let Place::Room(room) = self.place.get_untracked() else { return };
        if self.loading_earlier.get_untracked() {
            return;
        }
        let before = self.log.with_untracked(|log| log.iter().find_map(|e| match e {
            LogEntry::Chat(l) => l.seq,
            _ => None,
        }));
        self.loading_earlier.set(true);
        self.send(ClientMsg::History { req_id: None, room, before: before.or(Some(u64::MAX)), after: None, limit: None });
    }

    /// The highest seq in the log: what a reconnect resumes from.
    fn last_seq(&self) -> Option<u64> {
        self.log.with_untracked(|log| log.iter().filter_map(|e| match e {
            LogEntry::Chat(l) => l.seq,
            _ => None,
        }).max())
    }

    fn pending_line(&self, key: u64, client_msg_id: String, text: String) -> ChatLine {
        ChatLine {
            key,
            id: None,
            seq: None,
            req_id: Some(key),
            client_msg_id: Some(client_msg_id),
            retry: false,
            mine: true,
            nickname: self.nickname.get_untracked(),
            text,
            ts: None,
            failed: None,
        }
    }

    /// My messages not acked yet, as the browser keeps them across reloads.
    fn save_outbox(&self) {
        let Place::Room(room) = self.place.get_untracked() else { return };
        let unsent: Vec<super::persist::Unsent> = self.log.with_untracked(|log| {
            log.iter()
                .filter_map(|e| match e {
                    LogEntry::Chat(l) if l.id.is_none() && l.failed.is_none() => Some(super::persist::Unsent {
                        client_msg_id: l.client_msg_id.clone()?,
                        text: l.text.clone(),
                    }),
                    _ => None,
                })
                .collect()
        });
        super::persist::save_outbox(&room, &unsent);
    }

    /// Send again my pending messages that `which` picks (each with its own
    /// `client_msg_id`, so the server stores it once whatever happened to the last try).
    fn resend(&self, which: impl Fn(&ChatLine) -> bool) {
        let mut again = Vec::new();
        self.log.update(|log| {
            for e in log.iter_mut() {
                if let LogEntry::Chat(l) = e {
                    if l.mine && l.id.is_none() && l.failed.is_none() && which(l) {
                        l.retry = false;
                        again.push(ClientMsg::Chat { req_id: l.req_id, text: l.text.clone(), client_msg_id: l.client_msg_id.clone() });
                    }
                }
            }
        });
        for msg in again {
            self.send(msg);
        }
    }

    /// Called every few seconds: messages the server could not take a moment ago go again.
    pub fn retry_refused(&self) {
        if self.link.with_value(Option::is_some) {
            self.resend(|l| l.retry);
        }
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
        self.locked.set(false);
        self.lobby.set(false);
        self.waiting.set(false);
        self.lobby_queue.set(Vec::new());
        self.protected.set(false);
        self.needs_password.set(false);
        self.password_note.set(None);
        self.checking_password.set(false);
        self.hands.set(Vec::new());
        self.reactions.set(Vec::new());
        self.log.set(Vec::new());
        self.earlier.set(false);
        self.loading_earlier.set(false);
    }

    /// `nickname` must already be valid (see `crate::limits::validate_nickname`).
    pub fn set_nickname(&self, nickname: String) {
        self.nickname.set(nickname.clone());
        self.named.set(true);
        let req_id = self.next_key();
        self.send(ClientMsg::SetNick { req_id: Some(req_id), nickname });
    }

    /// Queue a chat message. It shows at once as pending, and is (re)sent until acked.
    pub fn send_chat(&self, text: String) {
        let key = self.next_key();
        let client_msg_id = super::persist::new_client_msg_id();
        let line = self.pending_line(key, client_msg_id.clone(), text.clone());
        self.log.update(|log| log.push(LogEntry::Chat(line)));
        self.save_outbox();
        self.send(ClientMsg::Chat { req_id: Some(key), text, client_msg_id: Some(client_msg_id) });
    }

    /// A new socket is up: tell the server who we are and where we are, then replay
    /// every message that was not acked (it may have been lost with the old socket).
    pub fn on_connected(&self, link: UnboundedSender<ClientMsg>) {
        self.link.set_value(Some(link));
        self.send(ClientMsg::SetNick { req_id: None, nickname: self.nickname.get_untracked() });
        match self.place.get_untracked() {
            Place::Home => self.send(ClientMsg::WatchRooms { req_id: None }),
            Place::Room(room) => {
                // Only what I missed, if my log's numbering is this database's.
                let epoch = self.epoch.get_value();
                let since = epoch.as_ref().and(self.last_seq());
                let device = Some(super::persist::device_id());
                let password = self.password_for(&room);
                self.send(ClientMsg::Join { req_id: None, room, since, epoch: since.and(epoch), device, password });
                // Peer connections were torn down with the old socket (our id changed):
                // join the call again and they are rebuilt.
                if self.wants_call.get_untracked() {
                    self.send(ClientMsg::CallJoin { req_id: None, media: self.media.get_untracked() });
                }
            }
        }
        self.resend(|_| true);
    }

    pub fn on_disconnected(&self) {
        self.link.set_value(None);
        self.status.set(ConnStatus::Offline);
        self.joined.set(None);
        self.left_call();
        self.call.set(Vec::new());
    }

    /// Someone's nickname, from the members I know of.
    fn nickname_of(&self, conn_id: ConnId) -> String {
        self.members
            .with_untracked(|ms| ms.iter().find(|m| m.conn_id == conn_id).map(|m| m.nickname.clone()))
            .unwrap_or_else(|| DEFAULT_NICKNAME.to_string())
    }

    fn notice(&self, text: String) {
        let key = self.next_key();
        self.log.update(|log| log.push(LogEntry::Notice { key, text }));
    }

    /// Put a stored message in its place in the log (by seq), once.
    fn push_message(&self, m: ChatMessage) {
        let key = self.next_key();
        let mine = Some(m.from) == self.me.get_untracked();
        self.log.update(|log| insert_by_seq(log, key, m, mine));
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
                        // Already in the log (the history of a rejoin brought it first)?
                        let shown = log.iter().any(|e| matches!(e, LogEntry::Chat(l) if l.id == Some(m.id)));
                        if shown {
                            log.retain(|e| !matches!(e, LogEntry::Chat(l) if l.req_id == Some(req_id) && l.id.is_none()));
                        }
                        for e in log.iter_mut() {
                            if let LogEntry::Chat(l) = e {
                                if l.req_id == Some(req_id) && l.id.is_none() {
                                    l.id = Some(m.id);
                                    l.seq = Some(m.seq);
                                    l.ts = Some(m.ts);
                                    l.nickname = m.nickname.clone();
                                }
                            }
                        }
                    });
                    self.save_outbox();
                }
            }
            ServerMsg::Joined { room, members, history, call, earlier, more, epoch, locked, hands, lobby, protected, .. } => {
                if self.place.get_untracked() != Place::Room(room.clone()) {
                    return;
                }
                // Another database (replaced, restored): the seqs I kept mean nothing there.
                if self.epoch.get_value().is_some_and(|e| e != epoch) {
                    self.log.update(|log| log.retain(|e| matches!(e, LogEntry::Chat(l) if l.id.is_none())));
                }
                self.epoch.set_value(Some(epoch));
                let resume_from = history.last().map(|m| m.seq);
                self.joined.set(Some(room.clone()));
                self.members.set(members);
                self.locked.set(locked);
                self.lobby.set(lobby);
                self.protected.set(protected);
                self.waiting.set(false);
                self.needs_password.set(false);
                self.password_note.set(None);
                self.checking_password.set(false);
                self.hands.set(hands);
                self.call.set(call);
                // Resuming, I know what lies before my log already; fresh, the server says.
                if self.last_seq().is_none() {
                    self.earlier.set(earlier);
                }
                // After a reconnect this fills in what was said while we were away.
                for m in history {
                    self.push_message(m);
                }
                if more {
                    self.send(ClientMsg::History { req_id: None, room, before: None, after: resume_from, limit: None });
                }
            }
            ServerMsg::History { room, messages, more, backwards, .. } => {
                if !self.in_room(&room) {
                    return;
                }
                let last = messages.last().map(|m| m.seq);
                for m in messages {
                    self.push_message(m);
                }
                if backwards {
                    self.earlier.set(more);
                    self.loading_earlier.set(false);
                } else if more {
                    self.send(ClientMsg::History { req_id: None, room, before: None, after: last, limit: None });
                }
            }
            ServerMsg::MemberJoined { room, member } => {
                if !self.in_room(&room) {
                    return;
                }
                self.notice(strings::joined(self.l(), &member.nickname));
                self.members.update(|ms| {
                    if !ms.iter().any(|m| m.conn_id == member.conn_id) {
                        ms.push(member)
                    }
                });
            }
            ServerMsg::MemberLeft { room, member, removed_by } => {
                if !self.in_room(&room) {
                    return;
                }
                match removed_by {
                    Some(by) => self.notice(strings::removed_by(self.l(), &member.nickname, &self.nickname_of(by))),
                    None => self.notice(strings::left(self.l(), &member.nickname)),
                }
                self.members.update(|ms| ms.retain(|m| m.conn_id != member.conn_id));
            }
            ServerMsg::Hosts { room, hosts, by } => {
                if !self.in_room(&room) {
                    return;
                }
                let before: Vec<ConnId> = self.members.with_untracked(|ms| ms.iter().filter(|m| m.host).map(|m| m.conn_id).collect());
                for new in hosts.iter().filter(|id| !before.contains(id)) {
                    let nick = self.nickname_of(*new);
                    match by {
                        Some(by) => self.notice(strings::made_host(self.l(), &nick, &self.nickname_of(by))),
                        None => self.notice(strings::now_host(self.l(), &nick)),
                    }
                }
                self.members.update(|ms| ms.iter_mut().for_each(|m| m.host = hosts.contains(&m.conn_id)));
            }
            ServerMsg::Locked { room, locked, by } => {
                if self.in_room(&room) {
                    self.notice(strings::locked(self.l(), &self.nickname_of(by), locked));
                    self.locked.set(locked);
                }
            }
            ServerMsg::Hands { room, hands, by } => {
                if !self.in_room(&room) {
                    return;
                }
                let before = self.hands.get_untracked();
                for up in hands.iter().filter(|id| !before.contains(id)) {
                    self.notice(strings::raised_hand(self.l(), &self.nickname_of(*up)));
                }
                if let Some(by) = by {
                    for down in before.iter().filter(|id| !hands.contains(id)) {
                        self.notice(strings::lowered_hand(self.l(), &self.nickname_of(*down), &self.nickname_of(by)));
                    }
                }
                self.hands.set(hands);
            }
            ServerMsg::Removed { room, nickname, .. } => {
                self.go_home();
                self.error.set(Some(strings::you_were_removed(self.l(), &room, &nickname)));
            }
            ServerMsg::MuteRequest { nickname, force, .. } => {
                if force {
                    if self.media.get_untracked().audio {
                        super::media::toggle_sending(*self, crate::protocol::TrackKind::Audio);
                    }
                    self.notice(strings::muted_by(self.l(), &nickname));
                } else {
                    self.notice(strings::asked_to_mute(self.l(), &nickname));
                }
            }
            ServerMsg::Waiting { room } => {
                if self.place.get_untracked() == Place::Room(room) {
                    self.waiting.set(true);
                }
            }
            ServerMsg::Lobby { room, waiting } => {
                if self.in_room(&room) {
                    self.lobby_queue.set(waiting);
                }
            }
            ServerMsg::LobbyChanged { room, enabled, by } => {
                if self.in_room(&room) {
                    self.notice(strings::lobby_changed(self.l(), &self.nickname_of(by), enabled));
                    self.lobby.set(enabled);
                }
            }
            ServerMsg::PasswordChanged { room, protected, by } => {
                if self.in_room(&room) {
                    self.notice(strings::password_changed(self.l(), &self.nickname_of(by), protected));
                    self.protected.set(protected);
                }
            }
            ServerMsg::Reaction { conn_id, emoji } => {
                let key = self.next_key();
                // A few at a time: older ones have floated away.
                self.reactions.update(|r| {
                    r.push((key, conn_id, emoji));
                    let excess = r.len().saturating_sub(20);
                    r.drain(..excess);
                });
            }
            ServerMsg::NickChanged { conn_id, old, new } => {
                self.notice(strings::renamed(self.l(), &old, &new));
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
            // The `joined` that follows brings what was missed.
            // The server skipped frames for me, acks among them: my pending messages go
            // again (same `client_msg_id`, so each is stored once and acked again).
            ServerMsg::Lagged { .. } => self.resend(|_| true),
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
                self.call_error.set(Some(strings::refusal(self.l(), ErrorCode::CallFull, &message)));
            }
            // The room would not have me (locked, a host removed me or did not let me in):
            // back home, and say why.
            ServerMsg::Error { code: code @ (ErrorCode::RoomLocked | ErrorCode::Removed | ErrorCode::Denied), message, .. } => {
                self.go_home();
                self.error.set(Some(strings::refusal(self.l(), code, &message)));
            }
            // The room asks for its password (or the one I gave was wrong): the prompt
            // shows, saying why; a wrong one is not sent again on reconnect.
            ServerMsg::Error { code: code @ (ErrorCode::PasswordRequired | ErrorCode::WrongPassword | ErrorCode::TooManyTries), message, .. } => {
                if !matches!(self.place.get_untracked(), Place::Room(_)) {
                    return;
                }
                if code == ErrorCode::WrongPassword {
                    self.password.set_value(None);
                }
                self.needs_password.set(true);
                self.checking_password.set(false);
                self.password_note.set((code != ErrorCode::PasswordRequired).then(|| strings::refusal(self.l(), code, &message)));
            }
            ServerMsg::Error { req_id, code, message } => {
                // Busy or a store that cannot write now: the message stays pending and goes
                // again; anything else (too long, not in a room) will not get better.
                let retry = matches!(code, ErrorCode::StoreUnavailable | ErrorCode::RateLimited | ErrorCode::Overloaded);
                let mut was_chat = false;
                if let Some(req_id) = req_id {
                    self.log.update(|log| {
                        for e in log.iter_mut() {
                            if let LogEntry::Chat(l) = e {
                                if l.req_id == Some(req_id) && l.id.is_none() {
                                    if retry {
                                        l.retry = true;
                                    } else {
                                        l.failed = Some(message.clone());
                                    }
                                    was_chat = true;
                                }
                            }
                        }
                    });
                }
                if was_chat {
                    self.save_outbox();
                } else {
                    // A history page that could not be read may be asked for again.
                    self.loading_earlier.set(false);
                    self.error.set(Some(strings::refusal(self.l(), code, &message)));
                }
            }
        }
    }
}

/// Insert stored message `m` where its seq puts it (after every line with a lower seq,
/// before any with a higher one; notices keep their places), unless it is there already.
fn insert_by_seq(log: &mut Vec<LogEntry>, key: u64, m: ChatMessage, mine: bool) {
    if log.iter().any(|e| matches!(e, LogEntry::Chat(l) if l.id == Some(m.id) || l.seq == Some(m.seq))) {
        return;
    }
    let line = LogEntry::Chat(ChatLine {
        key,
        id: Some(m.id),
        seq: Some(m.seq),
        req_id: None,
        client_msg_id: None,
        retry: false,
        mine,
        nickname: m.nickname,
        text: m.text,
        ts: Some(m.ts),
        failed: None,
    });
    let later = log.iter().position(|e| matches!(e, LogEntry::Chat(l) if l.seq.is_some_and(|s| s > m.seq)));
    match later {
        Some(i) => log.insert(i, line),
        None => {
            // Newest so far: before my own pending lines (they are not stored yet), after
            // everything else.
            let pending_tail = log.iter().rev().take_while(|e| matches!(e, LogEntry::Chat(l) if l.id.is_none())).count();
            log.insert(log.len() - pending_tail, line);
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
        assert_eq!(out[1], ClientMsg::Join { req_id: None, room: "r".into(), since: None, epoch: None, device: Some("local-device".into()), password: None });
        let ClientMsg::Chat { req_id: Some(req_id), text, client_msg_id: Some(cid) } = &out[2] else { panic!("{out:?}") };
        assert_eq!(text, "hello");
        // Sent again on another connection: the same client id, so the server stores it once.
        let (tx, mut rx) = mpsc::unbounded();
        s.on_connected(tx);
        let again = sent(&mut rx);
        assert!(matches!(&again[2], ClientMsg::Chat { client_msg_id: Some(c), .. } if c == cid), "{again:?}");

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
        let me = Member { conn_id: 1, nickname: "Ana".into(), host: true };
        s.apply(ServerMsg::Joined { req_id: None, room: "r".into(), members: vec![me], history: vec![msg(5, 2, "earlier")], earlier: false, more: false, epoch: "e".into(), call: vec![], ice_servers: vec![], relay_only: false, locked: false, hands: vec![], lobby: false, protected: false });
        let bo = Member { conn_id: 2, nickname: "Bo".into(), host: false };
        s.apply(ServerMsg::MemberJoined { room: "r".into(), member: bo.clone() });
        s.apply(ServerMsg::Message { message: msg(6, 2, "<b>hi</b>") });
        s.apply(ServerMsg::Message { message: msg(6, 2, "<b>hi</b>") }); // duplicate id: ignored
        s.apply(ServerMsg::NickChanged { conn_id: 2, old: "Bo".into(), new: "Bob".into() });
        s.apply(ServerMsg::MemberLeft { room: "r".into(), member: Member { nickname: "Bob".into(), ..bo }, removed_by: None });
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
    fn meeting_controls_show_as_notices_and_state() {
        Owner::new().with(|| {
        let s = Session::new();
        s.apply(ServerMsg::Welcome { conn_id: 2, nickname: "Anonymous".into() });
        s.enter("r".into());
        let ana = Member { conn_id: 1, nickname: "Ana".into(), host: true };
        let bo = Member { conn_id: 2, nickname: "Bo".into(), host: false };
        let cy = Member { conn_id: 3, nickname: "Cy".into(), host: false };
        s.apply(ServerMsg::Joined { req_id: None, room: "r".into(), members: vec![ana, bo, cy], history: vec![], earlier: false, more: false, epoch: "e".into(), call: vec![], ice_servers: vec![], relay_only: false, locked: false, hands: vec![3], lobby: false, protected: false });
        assert_eq!(s.hands.get_untracked(), vec![3]);
        s.apply(ServerMsg::Hosts { room: "r".into(), hosts: vec![1, 2], by: Some(1) });
        s.apply(ServerMsg::Locked { room: "r".into(), locked: true, by: 1 });
        s.apply(ServerMsg::Hands { room: "r".into(), hands: vec![3, 2], by: None });
        s.apply(ServerMsg::Hands { room: "r".into(), hands: vec![2], by: Some(1) });
        s.apply(ServerMsg::MemberLeft { room: "r".into(), member: Member { conn_id: 3, nickname: "Cy".into(), host: false }, removed_by: Some(1) });
        s.apply(ServerMsg::MuteRequest { by: 1, nickname: "Ana".into(), force: false });
        assert_eq!(
            texts(&s),
            ["Ana made Bo a host", "Ana locked the room", "Bo raised a hand", "Ana lowered Cy's hand", "Ana removed Cy", "Ana asks you to mute your microphone"]
        );
        assert!(s.locked.get_untracked());
        assert!(s.members.get_untracked().iter().find(|m| m.conn_id == 2).unwrap().host);
        // Removed: back on the home page, told why.
        s.apply(ServerMsg::Removed { room: "r".into(), by: 1, nickname: "Ana".into() });
        assert_eq!(s.place.get_untracked(), Place::Home);
        assert_eq!(s.error.get_untracked().as_deref(), Some("Ana removed you from r."));
        // A locked room turns me away: home, with the server's reason.
        s.enter("locked".into());
        s.apply(ServerMsg::Error { req_id: None, code: ErrorCode::RoomLocked, message: "This room is locked.".into() });
        assert_eq!((s.place.get_untracked(), s.error.get_untracked()), (Place::Home, Some("This room is locked.".into())));
        });
    }

    #[test]
    fn a_protected_room_asks_for_its_password_says_why_and_remembers_the_right_one() {
        Owner::new().with(|| {
        let s = Session::new();
        s.named.set(true);
        s.enter("r".into());
        let (tx, mut rx) = mpsc::unbounded();
        s.on_connected(tx);
        s.apply(ServerMsg::Welcome { conn_id: 2, nickname: "Anonymous".into() });
        sent(&mut rx);
        s.apply(ServerMsg::Error { req_id: None, code: ErrorCode::PasswordRequired, message: "This room has a password.".into() });
        assert!(s.needs_password.get_untracked() && s.at_the_door());
        assert_eq!(s.password_note.get_untracked(), None, "asked, not refused");
        s.enter_with_password("guess".into());
        assert!(s.checking_password.get_untracked());
        assert!(matches!(&sent(&mut rx)[..], [ClientMsg::Join { password: Some(p), .. }] if p == "guess"));
        s.apply(ServerMsg::Error { req_id: None, code: ErrorCode::WrongPassword, message: "Wrong password.".into() });
        assert_eq!((s.password_note.get_untracked().as_deref(), s.checking_password.get_untracked()), (Some("Wrong password."), false));
        assert_eq!(s.place.get_untracked(), Place::Room("r".into()), "still at the room's door");
        // A wrong one is not sent again.
        let (tx, mut rx) = mpsc::unbounded();
        s.on_connected(tx);
        assert!(sent(&mut rx).iter().any(|m| matches!(m, ClientMsg::Join { password: None, .. })));

        s.enter_with_password("right".into());
        let ana = Member { conn_id: 1, nickname: "Ana".into(), host: true };
        s.apply(ServerMsg::Joined { req_id: None, room: "r".into(), members: vec![ana], history: vec![], earlier: false, more: false, epoch: "e".into(), call: vec![], ice_servers: vec![], relay_only: false, locked: false, hands: vec![], lobby: false, protected: true });
        assert!(!s.needs_password.get_untracked() && !s.at_the_door() && s.protected.get_untracked());
        // After a dropped connection, the right one goes with the join.
        sent(&mut rx);
        let (tx, mut rx) = mpsc::unbounded();
        s.on_connected(tx);
        assert!(sent(&mut rx).iter().any(|m| matches!(m, ClientMsg::Join { password: Some(p), .. } if p == "right")));
        s.apply(ServerMsg::PasswordChanged { room: "r".into(), protected: false, by: 1 });
        assert_eq!(texts(&s), ["Ana removed the room's password"]);
        assert!(!s.protected.get_untracked());
        });
    }

    #[test]
    fn waiting_room_states() {
        Owner::new().with(|| {
        let s = Session::new();
        s.apply(ServerMsg::Welcome { conn_id: 2, nickname: "Anonymous".into() });
        s.enter("r".into());
        s.apply(ServerMsg::Waiting { room: "r".into() });
        assert!(s.waiting.get_untracked());
        // Admitted: the `joined` ends the wait.
        let ana = Member { conn_id: 1, nickname: "Ana".into(), host: true };
        s.apply(ServerMsg::Joined { req_id: None, room: "r".into(), members: vec![ana], history: vec![], earlier: false, more: false, epoch: "e".into(), call: vec![], ice_servers: vec![], relay_only: false, locked: false, hands: vec![], lobby: true, protected: false });
        assert!(!s.waiting.get_untracked() && s.lobby.get_untracked());
        s.apply(ServerMsg::LobbyChanged { room: "r".into(), enabled: false, by: 1 });
        assert_eq!(texts(&s), ["Ana turned the waiting room off"]);
        assert!(!s.lobby.get_untracked());
        // Turned away from another room's waiting room: home, told why.
        s.enter("other".into());
        s.apply(ServerMsg::Waiting { room: "other".into() });
        s.apply(ServerMsg::Error { req_id: None, code: ErrorCode::Denied, message: "A host did not let you in.".into() });
        assert_eq!((s.place.get_untracked(), s.waiting.get_untracked()), (Place::Home, false));
        assert_eq!(s.error.get_untracked().as_deref(), Some("A host did not let you in."));
        });
    }

    #[test]
    fn call_membership_and_media_state() {
        Owner::new().with(|| {
        let s = Session::new();
        s.apply(ServerMsg::Welcome { conn_id: 1, nickname: "Anonymous".into() });
        s.enter("r".into());
        let bo = CallParticipant { conn_id: 2, nickname: "Bo".into(), media: MediaState { audio: true, video: true, screen: false } };
        s.apply(ServerMsg::Joined { req_id: None, room: "r".into(), members: vec![], history: vec![], earlier: false, more: false, epoch: "e".into(), call: vec![bo.clone()], ice_servers: vec![], relay_only: false, locked: false, hands: vec![], lobby: false, protected: false });
        assert_eq!(s.call.get_untracked(), vec![bo.clone()]);

        let (tx, mut rx) = mpsc::unbounded();
        s.on_connected(tx);
        sent(&mut rx);
        s.join_call(MediaState { audio: true, video: false, screen: false });
        assert!(matches!(&sent(&mut rx)[..], [ClientMsg::CallJoin { .. }]));
        s.apply(ServerMsg::CallJoined { req_id: None, ice_servers: vec![], relay_only: false, participants: vec![bo.clone()], mode: CallMode::P2p });
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
            code: crate::protocol::ErrorCode::InvalidMessage,
            message: "too many".into(),
        });
        let LogEntry::Chat(line) = s.log.get_untracked()[0].clone() else { panic!() };
        assert_eq!(line.failed.as_deref(), Some("too many"));
        assert_eq!(s.error.get_untracked(), None);
        });
    }

    fn joined(history: Vec<ChatMessage>, earlier: bool, more: bool, epoch: &str) -> ServerMsg {
        ServerMsg::Joined { req_id: None, room: "r".into(), members: vec![], history, earlier, more, epoch: epoch.into(), call: vec![], ice_servers: vec![], relay_only: false, locked: false, hands: vec![], lobby: false, protected: false }
    }

    fn seqs(s: &Session) -> Vec<u64> {
        s.log.get_untracked().iter().filter_map(|e| match e {
            LogEntry::Chat(l) => l.seq,
            _ => None,
        }).collect()
    }

    #[test]
    fn a_reconnect_resumes_after_the_last_seq_and_fills_the_gap_in_order() {
        Owner::new().with(|| {
        let s = Session::new();
        s.enter("r".into());
        let (tx, rx) = mpsc::unbounded();
        s.on_connected(tx);
        s.apply(ServerMsg::Welcome { conn_id: 1, nickname: "Anonymous".into() });
        s.apply(joined((1..=3).map(|i| msg(i, 2, "x")).collect(), false, false, "e1"));
        s.on_disconnected();
        let (tx, mut rx2) = mpsc::unbounded();
        s.on_connected(tx);
        let out = sent(&mut rx2);
        assert_eq!(out[1], ClientMsg::Join { req_id: None, room: "r".into(), since: Some(3), epoch: Some("e1".into()), device: Some("local-device".into()), password: None });
        // The server sends a first page and says there is more; a live message overtakes
        // the rest.
        s.apply(joined((4..=5).map(|i| msg(i, 2, "x")).collect(), true, true, "e1"));
        assert!(matches!(&sent(&mut rx2)[..], [ClientMsg::History { after: Some(5), .. }]));
        s.apply(ServerMsg::Message { message: msg(9, 2, "live") });
        s.apply(ServerMsg::History { req_id: None, room: "r".into(), messages: (6..=8).map(|i| msg(i, 2, "x")).collect(), more: false, backwards: false });
        s.apply(ServerMsg::Message { message: msg(8, 2, "x") }); // again: once only
        assert_eq!(seqs(&s), (1..=9).collect::<Vec<_>>());
        drop(rx);
        });
    }

    #[test]
    fn earlier_pages_go_before_and_another_epoch_starts_over() {
        Owner::new().with(|| {
        let s = Session::new();
        s.enter("r".into());
        let (tx, mut rx) = mpsc::unbounded();
        s.on_connected(tx);
        s.apply(joined((51..=100).map(|i| msg(i, 2, "x")).collect(), true, false, "e1"));
        assert!(s.earlier.get_untracked());
        sent(&mut rx);
        s.load_earlier();
        assert!(matches!(&sent(&mut rx)[..], [ClientMsg::History { before: Some(51), .. }]));
        s.apply(ServerMsg::History { req_id: None, room: "r".into(), messages: (1..=50).map(|i| msg(i, 2, "x")).collect(), more: false, backwards: true });
        assert_eq!(seqs(&s), (1..=100).collect::<Vec<_>>());
        assert!(!s.earlier.get_untracked(), "the beginning is reached");

        // The server's database was replaced: what I had is dropped, not merged.
        s.apply(joined(vec![msg(1, 3, "new world")], false, false, "e2"));
        assert_eq!(texts(&s), ["n3: new world"]);
        });
    }

    #[test]
    fn a_message_the_store_could_not_take_stays_pending_and_goes_again() {
        Owner::new().with(|| {
        let s = Session::new();
        s.enter("r".into());
        let (tx, mut rx) = mpsc::unbounded();
        s.on_connected(tx);
        sent(&mut rx);
        s.send_chat("keep me".into());
        let [ClientMsg::Chat { req_id, client_msg_id, .. }] = &sent(&mut rx)[..] else { panic!() };
        s.apply(ServerMsg::Error { req_id: *req_id, code: ErrorCode::StoreUnavailable, message: "disk".into() });
        let LogEntry::Chat(line) = s.log.get_untracked()[0].clone() else { panic!() };
        assert_eq!((line.failed, line.retry), (None, true), "still pending");
        s.retry_refused();
        assert!(matches!(&sent(&mut rx)[..], [ClientMsg::Chat { client_msg_id: c, .. }] if c == client_msg_id));
        s.retry_refused();
        assert!(sent(&mut rx).is_empty(), "only once per refusal");
        });
    }

    #[test]
    fn after_lagged_my_pending_messages_go_again_for_their_lost_acks() {
        Owner::new().with(|| {
        let s = Session::new();
        s.enter("r".into());
        let (tx, mut rx) = mpsc::unbounded();
        s.on_connected(tx);
        sent(&mut rx);
        s.send_chat("was my ack skipped?".into());
        let [ClientMsg::Chat { client_msg_id, .. }] = &sent(&mut rx)[..] else { panic!() };
        s.apply(ServerMsg::Lagged { room: "r".into(), last_seq: Some(3) });
        assert!(matches!(&sent(&mut rx)[..], [ClientMsg::Chat { client_msg_id: c, .. }] if c == client_msg_id));
        });
    }
}
