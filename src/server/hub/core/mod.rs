//! The hub's core: every rule about rooms, chat, calls and meeting controls, as a plain
//! state machine. [`Core::handle`] takes what happened (an [`Input`]) and the time (a
//! [`Clock`]), changes the state, and lists what to do ([`Effects`]); the run loop
//! (`run.rs`) does it: queues frames, asks the store and the SFU, runs password work.
//!
//! Why pure (as str0m's `Rtc`): no tokio, channels, awaits, clock reads or metrics in
//! here, so a rule is tested by calling a function with values, time included (the
//! password back-off is a matter of clock values, not of sleeping), and the next inputs
//! (other nodes, bandwidth estimates) plug in as new inputs and effects.
//!
//! Why the core owns its effects buffer: `handle` clears and refills one [`Effects`] and
//! returns it, so a warm hub allocates nothing for it per input (the list and the
//! broadcasts' recipients keep their capacity). Taking the buffer from the caller would
//! cost the same; owning it keeps every handler's signature free of it.
//!
//! Why a panic costs one connection, not every meeting: `handle` runs each input under
//! `catch_unwind`; if it panics, its effects are dropped unapplied (no half-sent fan-out)
//! and `purge` takes the culprit out of every room by the same rule as any leaving
//! (`Room::remove`), and closes it (1011). The state the handler changed before it broke
//! stays, so `ask_again` asks again for what that state waits for (histories of people
//! entering rooms, the room list's deadline).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use crate::limits::DEFAULT_NICKNAME;
use crate::protocol::{CallParticipant, ChatMessage, ClientMsg, ConnId, ErrorCode, MediaState, Member, ReqId, ServerMsg};
use crate::server::password::PasswordHashString;
use crate::server::store::{StoreCmd, StoreReply};

mod allowance;
mod call;
mod chat;
mod effects;
mod moderation;
mod password;
mod room;
mod rooms;
#[cfg(test)]
mod tests;

pub use call::CallLimits;
pub use effects::{Effect, Effects, PasswordJob, SfuOrder};
pub use password::{Done, RoomPasswords};
pub use rooms::ROOM_LIST_INTERVAL;
use room::Room;

/// The time, as the loop read it for this input.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// For durations (waits, deadlines).
    pub mono: Instant,
    /// Milliseconds since the Unix epoch (message times, TURN credentials).
    pub unix_ms: u64,
}

/// What happened.
#[derive(Debug)]
pub enum Input {
    /// `host`: the name or address the browser reached Noom by (empty if unknown).
    Connect { conn_id: ConnId, host: Arc<str> },
    /// A valid request (the connection checked it).
    Request { conn_id: ConnId, msg: ClientMsg },
    Disconnect { conn_id: ConnId },
    Store(StoreReply),
    /// The store's queue was full: this command was not taken.
    StoreRefused(StoreCmd),
    Password(Done),
    /// `conn_id` fell behind and its outbox has room again; `last_seq`: the last chat
    /// message it was given.
    CatchUp { conn_id: ConnId, last_seq: Option<u64> },
    /// The deadline of `Effect::RoomListAt` came.
    RoomListDue,
}

impl Input {
    /// The connection that pays if handling this breaks an invariant.
    pub fn culprit(&self) -> Option<ConnId> {
        match self {
            Input::Connect { conn_id, .. } | Input::Request { conn_id, .. } | Input::Disconnect { conn_id } => Some(*conn_id),
            Input::Store(reply) => reply.conn_id(),
            Input::StoreRefused(cmd) => match cmd {
                StoreCmd::Append { conn_id, .. } | StoreCmd::Join { conn_id, .. } | StoreCmd::History { conn_id, .. } => Some(*conn_id),
                StoreCmd::SetPassword { by, .. } => Some(*by),
                StoreCmd::Flush(_) => None,
            },
            Input::Password(done) => Some(done.conn_id()),
            Input::CatchUp { .. } | Input::RoomListDue => None,
        }
    }

    /// What it is, for a log line.
    fn what(&self) -> &'static str {
        match self {
            Input::Connect { .. } | Input::Request { .. } | Input::Disconnect { .. } => "a request",
            Input::Store(_) | Input::StoreRefused(_) => "a store reply",
            Input::Password(_) => "a password check",
            Input::CatchUp { .. } => "catch-up",
            Input::RoomListDue => "the room list",
        }
    }
}

struct Conn {
    /// The host the browser reached Noom by (for the TURN server's URLs).
    host: Arc<str>,
    nickname: String,
    room: Option<String>,
    /// Entered `room` and waits for its history (`joined`), asked with this `req_id`.
    awaiting: Option<Option<ReqId>>,
    /// The browser's own id, from `join` (a removed person stays out from this browser).
    device: Option<String>,
    /// Its reactions' allowance, made at its first reaction.
    reactions: Option<allowance::Allowance>,
    /// The room whose waiting room it is in, if any.
    waiting_in: Option<String>,
    /// Its password check under way, if any (see `password.rs`).
    password_check: Option<u64>,
    /// Wrong passwords in a row, and when it may try again.
    wrong_tries: u32,
    retry_at: Option<Instant>,
    /// It gave the right password for this room (and this hash of it).
    unlocked: Option<(String, PasswordHashString)>,
}

pub struct Core {
    conns: HashMap<ConnId, Conn>,
    rooms: BTreeMap<String, Room>,
    /// Connections on the home page, who get room-list updates.
    watchers: HashSet<ConnId>,
    /// When the next coalesced room-list update goes out, if the list changed.
    rooms_flush_at: Option<Instant>,
    calls: CallLimits,
    /// The store's epoch (sequence numbers from another database mean nothing here).
    epoch: Arc<str>,
    /// Every room with a password (open or not), and its hash.
    passwords: RoomPasswords,
    /// The last password check's number.
    checks: u64,
    /// The time of the input being handled.
    now: Clock,
    fx: Effects,
}

impl Core {
    pub fn new(calls: CallLimits, epoch: Arc<str>, passwords: RoomPasswords, now: Clock) -> Core {
        Core {
            conns: HashMap::new(),
            rooms: BTreeMap::new(),
            watchers: HashSet::new(),
            rooms_flush_at: None,
            calls,
            epoch,
            passwords,
            checks: 0,
            now,
            fx: Effects::default(),
        }
    }

    /// Handle one input at `clock`; returns what to do, in order. If handling it breaks
    /// an invariant (a panic), what it meant to do is dropped, and the connection it was
    /// for is purged instead (see the module doc).
    pub fn handle(&mut self, clock: Clock, input: Input) -> &mut Effects {
        let culprit = input.culprit();
        let what = input.what();
        let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.decide(clock, input))) else { return &mut self.fx };
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        tracing::error!(conn_id = ?culprit, "hub invariant broken handling {what}: {why}");
        self.fx.clear();
        // The dropped effects may have armed the room list's deadline: arm it again below.
        self.rooms_flush_at = None;
        if let Some(conn_id) = culprit {
            if catch_unwind(AssertUnwindSafe(|| self.purge(clock, conn_id))).is_err() {
                tracing::error!(conn_id, "purging it broke as well: its connection is closed");
                self.fx.clear();
                self.fx.push(Effect::Close { conn_id });
            }
        }
        let _ = catch_unwind(AssertUnwindSafe(|| self.ask_again(clock)));
        &mut self.fx
    }

    /// After a handler's effects were dropped: whatever state it changed stays, so what
    /// that state waits for is asked again. Everyone entering a room (they may have been let
    /// in by the failed handler) gets their history read again (a second answer to an
    /// earlier read is ignored: only the first `joined` goes out), and the room list's
    /// deadline is set again.
    fn ask_again(&mut self, clock: Clock) {
        self.now = clock;
        let entering: Vec<(ConnId, String)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.awaiting.is_some())
            .filter_map(|(id, c)| Some((*id, c.room.clone()?)))
            .collect();
        for (conn_id, room) in entering {
            self.fx.push(Effect::Hold { conn_id, fresh: false });
            self.fx.push(Effect::Store(StoreCmd::Join { conn_id, room, since: None }));
        }
        self.room_list_changed();
    }

    fn decide(&mut self, clock: Clock, input: Input) {
        self.now = clock;
        self.fx.clear();
        match input {
            Input::Connect { conn_id, host } => self.connect(conn_id, host),
            Input::Request { conn_id, msg } => self.request(conn_id, msg),
            Input::Disconnect { conn_id } => self.disconnect(conn_id),
            Input::Store(reply) => self.store_reply(reply),
            Input::StoreRefused(cmd) => self.store_refused(cmd),
            Input::Password(done) => self.password_done(done),
            Input::CatchUp { conn_id, last_seq } => self.catch_up(conn_id, last_seq),
            Input::RoomListDue => self.flush_room_list(),
        }
    }

    /// Rooms, people in them, in calls and in waiting rooms (`/metrics`).
    pub fn gauges(&self) -> (usize, usize, usize, usize) {
        let members = self.rooms.values().map(|r| r.members.len()).sum();
        let in_calls = self.rooms.values().map(|r| r.call.len()).sum();
        let waiting = self.rooms.values().map(|r| r.waiting.len()).sum();
        (self.rooms.len(), members, in_calls, waiting)
    }

    /// Take `conn_id` out of everything after a handler broke an invariant on its behalf,
    /// with no assumption about the state it left: every room it is anywhere in loses it
    /// (`Room::remove`, announced as any leaving), and its connection is closed (1011).
    /// Whatever the failed handler meant to do is discarded.
    fn purge(&mut self, clock: Clock, conn_id: ConnId) {
        self.now = clock;
        self.fx.clear();
        self.watchers.remove(&conn_id);
        let rooms: Vec<String> =
            self.rooms.iter().filter(|(_, room)| room.involves(conn_id)).map(|(name, _)| name.clone()).collect();
        for name in rooms {
            self.take_out(&name, conn_id, None);
        }
        self.conns.remove(&conn_id);
        self.sfu(SfuOrder::Leave { conn_id });
        self.fx.push(Effect::Close { conn_id });
        self.room_list_changed();
    }

    fn connect(&mut self, conn_id: ConnId, host: Arc<str>) {
        let conn = Conn {
            host,
            nickname: DEFAULT_NICKNAME.into(),
            room: None,
            awaiting: None,
            device: None,
            reactions: None,
            waiting_in: None,
            password_check: None,
            wrong_tries: 0,
            retry_at: None,
            unlocked: None,
        };
        self.conns.insert(conn_id, conn);
        self.send(conn_id, ServerMsg::Welcome { conn_id, nickname: DEFAULT_NICKNAME.into() });
    }

    fn request(&mut self, conn_id: ConnId, msg: ClientMsg) {
        if !self.conns.contains_key(&conn_id) {
            return;
        }
        match msg {
            ClientMsg::SetNick { req_id, nickname } => self.set_nick(conn_id, req_id, nickname),
            ClientMsg::WatchRooms { req_id } => self.watch_rooms(conn_id, req_id),
            ClientMsg::Join { req_id, room, since, epoch, device, password } => {
                // Sequence numbers from another database mean nothing here.
                let since = since.filter(|_| epoch.as_deref().is_none_or(|e| e == &*self.epoch));
                if device.is_some() {
                    self.conns.get_mut(&conn_id).expect("checked above").device = device;
                }
                self.join_request(conn_id, moderation::JoinRequest { req_id, room, since, password });
            }
            ClientMsg::Leave { req_id } => self.leave(conn_id, req_id),
            ClientMsg::Chat { req_id, text, client_msg_id } => self.chat(conn_id, req_id, text, client_msg_id),
            ClientMsg::History { req_id, room, before, after, limit } => {
                self.history(conn_id, req_id, room, before, after, limit)
            }
            ClientMsg::CallJoin { req_id, media } => self.call_join(conn_id, req_id, media),
            ClientMsg::CallLeave { req_id } => self.call_leave(conn_id, req_id),
            ClientMsg::CallState { media } => self.call_state(conn_id, media),
            ClientMsg::Signal { to, payload } => self.signal(conn_id, to, payload),
            ClientMsg::CallLayout { tiles } => self.call_layout(conn_id, tiles),
            ClientMsg::MakeHost { req_id, conn_id: who } => self.make_host(conn_id, req_id, who),
            ClientMsg::SetLock { req_id, locked } => self.set_lock(conn_id, req_id, locked),
            ClientMsg::Remove { req_id, conn_id: who } => self.remove(conn_id, req_id, who),
            ClientMsg::Mute { req_id, conn_id: who, force } => self.mute(conn_id, req_id, who, force),
            ClientMsg::RaiseHand { req_id, raised, conn_id: who } => self.raise_hand(conn_id, req_id, raised, who),
            ClientMsg::React { emoji } => self.react(conn_id, emoji),
            ClientMsg::SetLobby { req_id, enabled } => self.set_lobby(conn_id, req_id, enabled),
            ClientMsg::Admit { req_id, conn_id: who } => self.admit(conn_id, req_id, who),
            ClientMsg::Deny { req_id, conn_id: who } => self.deny(conn_id, req_id, who),
            ClientMsg::SetPassword { req_id, password } => self.set_password(conn_id, req_id, password),
        }
    }

    fn disconnect(&mut self, conn_id: ConnId) {
        self.stop_waiting(conn_id);
        self.leave_room(conn_id, None);
        self.watchers.remove(&conn_id);
        self.conns.remove(&conn_id);
        self.fx.push(Effect::Close { conn_id });
    }

    /// The ICE servers for `conn_id`, with TURN credentials of its own.
    fn ice_servers(&self, conn_id: ConnId) -> Vec<crate::protocol::IceServer> {
        let host = self.conns.get(&conn_id).map(|c| c.host.clone()).unwrap_or_else(|| "".into());
        self.calls.ice.servers(conn_id, &host, self.now.unix_ms / 1000)
    }

    fn nickname(&self, conn_id: ConnId) -> String {
        self.conns[&conn_id].nickname.clone()
    }

    fn participant(&self, conn_id: ConnId, media: MediaState) -> CallParticipant {
        CallParticipant { conn_id, nickname: self.nickname(conn_id), media }
    }

    fn member(&self, conn_id: ConnId) -> Member {
        let conn = &self.conns[&conn_id];
        let host = conn.room.as_ref().and_then(|r| self.rooms.get(r)).is_some_and(|r| r.hosts.contains(&conn_id));
        Member { conn_id, nickname: conn.nickname.clone(), host }
    }

    fn send(&mut self, conn_id: ConnId, msg: ServerMsg) {
        self.fx.send(conn_id, msg);
    }

    fn ack(&mut self, conn_id: ConnId, req_id: Option<ReqId>, message: Option<ChatMessage>) {
        if let Some(req_id) = req_id {
            self.send(conn_id, ServerMsg::Ack { req_id, message });
        }
    }

    fn error(&mut self, conn_id: ConnId, req_id: Option<ReqId>, code: ErrorCode, message: &str) {
        self.send(conn_id, ServerMsg::Error { req_id, code, message: message.into() });
    }

    /// Send `msg` to everyone in `room` (but `except`).
    fn broadcast(&mut self, room: &str, msg: ServerMsg, except: Option<ConnId>) {
        self.broadcast_seq(room, msg, None, except);
    }

    fn broadcast_seq(&mut self, room: &str, msg: ServerMsg, seq: Option<u64>, except: Option<ConnId>) {
        // A room that is gone has nobody to tell; the send stays (the loop counts chat
        // messages from it, and skips encoding what has no recipient).
        let members = self.rooms.get(room).map_or(&[][..], |r| &r.members[..]);
        self.fx.send_many(members.iter().copied().filter(|id| Some(*id) != except), msg, seq);
    }
}
