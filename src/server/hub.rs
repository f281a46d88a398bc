//! The hub: the one owner of all room state.
//!
//! Why a single task: every rule that spans connections (who is in which room, the order of
//! messages in a room, the room list) is decided in one place, without locks, so there is
//! no interleaving to reason about. Connections talk to it over a bounded channel
//! ([`HubHandle`]) and it talks back over each connection's own bounded queue.
//!
//! Why fan-out never blocks: the hub only ever `try_send`s to a connection, so nobody waits
//! for the slowest member. A client whose queue is full is *behind*, not gone (a burst, or
//! this server busy): it is skipped until its queue drains, then told `lagged` and caught
//! up from the stored history (`catch_up`). Only a socket that takes nothing at all for
//! `--slow-client-secs` is dropped, by its own writer.
//!
//! Why the hub's decisions and their effects are apart: chat goes to the store
//! (`StoreCmd`) and is acked and broadcast when the store's reply comes back through the
//! run loop (`store_reply`), so the hub never waits on the disk.
//!
//! Why a broken invariant costs one connection, not the server: the hub holds every
//! room, so a panic that ended its thread would end every meeting at once. Each command is
//! run under `catch_unwind` (`guard`); if handling it panics, the connection that sent it
//! is taken out of every room by [`Hub::purge`] (which cannot panic), closed with 1011,
//! and the hub goes on. If the hub stops anyway, `/healthz` says so (503) and connections
//! close with 1011, so a supervisor restarts the process instead of it serving nothing.
//!
//! Why the room list is coalesced: the original Node.js Noom sent the whole list to every
//! socket on every join, O(everyone) per event. Here a change only marks the list dirty; at
//! most every [`ROOM_LIST_INTERVAL`] it is serialized once and sent only to connections that
//! are looking at the home page.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::limits::{DEFAULT_NICKNAME, MAX_HISTORY_PAGE};
use crate::protocol::{
    CallMode, CallParticipant, ChatMessage, ClientMsg, ConnId, ErrorCode, Member, MediaState, ReqId, RoomInfo,
    ServerMsg,
};
use crate::server::password::{PasswordHashString, Passwords};
use crate::server::wire::{encode, now_ms, Frame};
use crate::server::store::{Appended, NewMessage, StoreCmd, StoreHandle, StoreReply};

mod call;
mod moderation;
mod password;
pub use call::CallSettings;
pub use password::RoomPasswords;

/// How often, at most, room-list watchers get an update.
pub const ROOM_LIST_INTERVAL: Duration = Duration::from_millis(100);
/// Frames that may wait for one connection's socket before it counts as too slow.
pub const OUTBOX_CAPACITY: usize = 256;
/// How often connections that fell behind are checked for room in their outbox.
const CATCH_UP_EVERY: Duration = Duration::from_millis(100);
/// Commands that may wait for the hub before connections feel back-pressure.
const INBOX_CAPACITY: usize = 4096;


/// What connections ask of the hub. Text fields are already validated by the connection.
#[derive(Debug)]
pub enum Command {
    /// `host`: the name or address the browser reached Noom by (empty if unknown).
    Connect { conn_id: ConnId, outbox: mpsc::Sender<Frame>, host: Arc<str> },
    Request { conn_id: ConnId, msg: ClientMsg },
    Disconnect { conn_id: ConnId },
}

/// A cheap, cloneable way to reach the hub.
#[derive(Clone)]
pub struct HubHandle {
    tx: mpsc::Sender<Command>,
    next_conn_id: Arc<AtomicU64>,
}

impl HubHandle {
    /// Start the hub task. It runs until every handle is dropped. `calls` says how calls
    /// are sized and carried (ICE servers, caps, the SFU); `passwords`: the protected
    /// rooms, as stored.
    pub fn spawn(
        calls: CallSettings,
        store: StoreHandle,
        replies: mpsc::UnboundedReceiver<StoreReply>,
        passwords: RoomPasswords,
    ) -> HubHandle {
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        let hub = Hub::new(calls, store, passwords).run(rx, replies);
        if let Err(e) = crate::server::spawn_thread("noom-hub", hub) {
            // Without a hub there is no server: the handle's sends fail and connections close.
            tracing::error!("hub thread: {e}");
        }
        // Connection ids go on from where a previous run of the server could not have got
        // (its start time in µs): stored messages carry their sender's id, and a newcomer
        // must never be taken for the author of a message from before a restart. Still
        // below 2^53, so JavaScript reads them exactly.
        HubHandle { tx, next_conn_id: Arc::new(AtomicU64::new(now_ms() * 1000 + 1)) }
    }

    /// A hub whose chat history lives in memory (unit tests, throwaway servers).
    pub fn with_memory_store(calls: CallSettings) -> HubHandle {
        let (store, replies) = StoreHandle::in_memory();
        HubHandle::spawn(calls, store, replies, RoomPasswords::new())
    }

    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Queue a command without waiting; gives it back if the hub's inbox is full.
    pub fn try_send(&self, cmd: Command) -> Result<(), mpsc::error::TrySendError<Command>> {
        self.tx.try_send(cmd)
    }

    /// The hub is far behind (its inbox three quarters full): new connections are refused
    /// (1013) rather than making everyone inside wait longer.
    pub fn overloaded(&self) -> bool {
        self.tx.capacity() < self.tx.max_capacity() / 4
    }

    /// A handle to a hub that takes commands and never serves them, with room for
    /// `capacity`: a server far behind (tests of what the edge refuses).
    #[cfg(test)]
    pub(crate) fn unserved(capacity: usize) -> (HubHandle, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(capacity);
        (HubHandle { tx, next_conn_id: Arc::new(AtomicU64::new(1)) }, rx)
    }

    /// Commands waiting for the hub (`/metrics`).
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Whether the hub still runs (`/healthz`): its thread ends only if it failed.
    pub fn is_alive(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Send a command; waits if the hub is busy (back-pressure on the sender only).
    /// Returns false when the hub is gone (server shutting down).
    pub async fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).await.is_ok()
    }
}

struct Conn {
    /// The host the browser reached Noom by (for the TURN server's URLs).
    host: Arc<str>,
    nickname: String,
    room: Option<String>,
    outbox: mpsc::Sender<Frame>,
    /// Entered a room whose history the store is still reading: what the room sends
    /// meanwhile waits here, so `joined` (with the history) always comes first.
    joining: Option<Joining>,
    /// The seq of the last chat message put in this connection's outbox.
    delivered_seq: Option<u64>,
    /// Its outbox overflowed: nothing more is queued until it has drained, then it is
    /// caught up from the stored history (`catch_up`).
    lagging: bool,
    /// The browser's own id, from `join` (a removed person stays out from this browser).
    device: Option<String>,
    /// Its reactions' allowance, made at its first reaction.
    reactions: Option<governor::DefaultDirectRateLimiter>,
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

struct Joining {
    req_id: Option<ReqId>,
    /// Frames held back, with the seq of the chat messages among them (those the history
    /// already holds are not sent twice).
    held: Vec<(Option<u64>, Frame)>,
    /// More came than is held: after `joined`, the connection is caught up like one that
    /// fell behind.
    overflowed: bool,
}

#[derive(Default)]
struct Room {
    /// Members in the order they joined.
    members: Vec<ConnId>,
    /// The room's call: participants in the order they joined, with their media state.
    call: Vec<(ConnId, MediaState)>,
    /// Peer to peer until the call outgrows `--p2p-max`; then SFU until it empties.
    call_mode: CallMode,
    /// Who runs the room, in the order they became hosts; never empty while the room is
    /// not (see `moderation.rs`).
    hosts: Vec<ConnId>,
    /// Nobody new may enter.
    locked: bool,
    /// Raised hands, in the order they went up.
    hands: Vec<ConnId>,
    /// Removed for the rest of the meeting (until the room empties): connections and the
    /// browsers they came from.
    removed: HashSet<ConnId>,
    removed_devices: HashSet<String>,
    /// The waiting room is on: newcomers wait for a host.
    lobby: bool,
    /// Who waits to come in, in the order they came.
    waiting: Vec<moderation::Waiter>,
    /// The browsers of everyone who was in this meeting: back after a dropped connection,
    /// they come straight in (lock, password and waiting room are for newcomers).
    admitted_devices: HashSet<String>,
}

pub struct Hub {
    conns: HashMap<ConnId, Conn>,
    rooms: BTreeMap<String, Room>,
    /// Connections on the home page, who get room-list updates.
    watchers: HashSet<ConnId>,
    /// When the next coalesced room-list update goes out, if the list changed.
    rooms_flush_at: Option<Instant>,
    /// Connections that fell behind, waiting to drain (see `catch_up`).
    lagging: HashSet<ConnId>,
    calls: CallSettings,
    store: StoreHandle,
    /// Messages refused since the last "store behind" log line, and when that was.
    busy_refusals: u64,
    busy_logged: Option<Instant>,
    /// Every room with a password (open or not), and its hash.
    passwords: RoomPasswords,
    /// Hashes and checks passwords off this thread.
    password_work: Passwords,
    /// Where finished password work comes back (`run` takes the receiver).
    done_tx: mpsc::UnboundedSender<password::Done>,
    done_rx: Option<mpsc::UnboundedReceiver<password::Done>>,
    /// The last password check's number.
    checks: u64,
    /// Handles of the metrics counted on hot paths (registered once, not per event).
    metrics: HubMetrics,
}

struct HubMetrics {
    acks: metrics::Counter,
    messages: metrics::Counter,
    deliveries: metrics::Counter,
    command_seconds: metrics::Histogram,
}

impl HubMetrics {
    fn new() -> HubMetrics {
        HubMetrics {
            acks: metrics::counter!("noom_acks_total"),
            messages: metrics::counter!("noom_chat_messages_total"),
            deliveries: metrics::counter!("noom_chat_deliveries_total"),
            command_seconds: metrics::histogram!("noom_hub_command_seconds"),
        }
    }
}

impl Hub {
    fn new(calls: CallSettings, store: StoreHandle, passwords: RoomPasswords) -> Hub {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Hub {
            passwords,
            password_work: Passwords::default(),
            done_tx,
            done_rx: Some(done_rx),
            checks: 0,
            metrics: HubMetrics::new(),
            conns: HashMap::new(),
            rooms: BTreeMap::new(),
            watchers: HashSet::new(),
            rooms_flush_at: None,
            lagging: HashSet::new(),
            calls,
            store,
            busy_refusals: 0,
            busy_logged: None,
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>, mut replies: mpsc::UnboundedReceiver<StoreReply>) {
        let mut catch_up = tokio::time::interval(CATCH_UP_EVERY);
        let mut gauges = tokio::time::interval(Duration::from_secs(1));
        let Some(mut done) = self.done_rx.take() else { return };
        loop {
            let flush_at = self.rooms_flush_at;
            tokio::select! {
                _ = catch_up.tick(), if !self.lagging.is_empty() => self.guard("catch-up", None, Hub::catch_up),
                _ = gauges.tick() => self.publish_gauges(),
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd),
                    None => break,
                },
                Some(reply) = replies.recv() => {
                    let culprit = reply.conn_id();
                    self.guard("a store reply", culprit, |hub| hub.store_reply(reply));
                }
                Some(work) = done.recv() => {
                    let culprit = work.conn_id();
                    self.guard("a password check", Some(culprit), |hub| hub.password_done(work));
                }
                _ = tokio::time::sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                    self.guard("the room list", None, Hub::flush_room_list);
                }
            }
        }
        tracing::debug!("hub stopped");
    }

    /// Apply one command; if that breaks an invariant (a panic), only the connection that
    /// sent it pays (see the module doc).
    pub(crate) fn handle(&mut self, cmd: Command) {
        let culprit = match &cmd {
            Command::Connect { conn_id, .. } | Command::Request { conn_id, .. } | Command::Disconnect { conn_id } => *conn_id,
        };
        let started = std::time::Instant::now();
        self.guard("a request", Some(culprit), |hub| hub.apply(cmd));
        self.metrics.command_seconds.record(started.elapsed().as_secs_f64());
    }

    /// Rooms, people, calls and waiting rooms, for `/metrics`.
    fn publish_gauges(&self) {
        let members = self.rooms.values().map(|r| r.members.len()).sum();
        let in_calls = self.rooms.values().map(|r| r.call.len()).sum();
        let waiting = self.rooms.values().map(|r| r.waiting.len()).sum();
        crate::server::metrics::publish_rooms(self.rooms.len(), members, in_calls, waiting);
    }

    /// Run `work` (handling `what`); if it panics, log it and take `culprit` (if any) out.
    fn guard(&mut self, what: &str, culprit: Option<ConnId>, work: impl FnOnce(&mut Hub)) {
        let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(self))) else { return };
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        tracing::error!(conn_id = ?culprit, "hub invariant broken handling {what}: {why}");
        if let Some(conn_id) = culprit {
            self.purge(conn_id);
        }
    }

    /// Take `conn_id` out of everything, with no assumption about the state it left (a
    /// handler panicked halfway): every room forgets it, a room left without a host gets
    /// one, the rest are told it left, and dropping its outbox closes its socket (1011).
    fn purge(&mut self, conn_id: ConnId) {
        let nickname = self.conns.remove(&conn_id).map_or_else(|| DEFAULT_NICKNAME.to_string(), |c| c.nickname);
        self.watchers.remove(&conn_id);
        self.lagging.remove(&conn_id);
        let mut told = Vec::new();
        self.rooms.retain(|name, room| {
            let member = room.members.contains(&conn_id);
            let in_call = room.call.iter().any(|(id, _)| *id == conn_id);
            let hosts_before = room.hosts.clone();
            room.members.retain(|id| *id != conn_id);
            room.call.retain(|(id, _)| *id != conn_id);
            room.hosts.retain(|id| *id != conn_id);
            room.hands.retain(|id| *id != conn_id);
            room.waiting.retain(|w| w.conn_id != conn_id);
            if room.members.is_empty() {
                return false;
            }
            if room.hosts.is_empty() {
                room.hosts.push(room.members[0]);
            }
            if member {
                let hosts = (room.hosts != hosts_before).then(|| room.hosts.clone());
                told.push((name.clone(), in_call, hosts));
            }
            true
        });
        let member = Member { conn_id, nickname, host: false };
        for (room, in_call, hosts) in told {
            if in_call {
                self.broadcast(&room, &encode(&ServerMsg::CallParticipantLeft { conn_id }), None);
            }
            self.broadcast(&room, &encode(&ServerMsg::MemberLeft { room: room.clone(), member: member.clone(), removed_by: None }), None);
            if let Some(hosts) = hosts {
                self.broadcast(&room, &encode(&ServerMsg::Hosts { room: room.clone(), hosts, by: None }), None);
            }
        }
        self.sfu_forget(conn_id);
        self.room_list_changed();
    }

    fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::Connect { conn_id, outbox, host } => {
                let conn = Conn {
                    host,
                    nickname: DEFAULT_NICKNAME.into(),
                    room: None,
                    outbox,
                    joining: None,
                    delivered_seq: None,
                    lagging: false,
                    device: None,
                    reactions: None,
                    waiting_in: None,
                    password_check: None,
                    wrong_tries: 0,
                    retry_at: None,
                    unlocked: None,
                };
                self.conns.insert(conn_id, conn);
                let welcome = ServerMsg::Welcome { conn_id, nickname: DEFAULT_NICKNAME.into() };
                self.send(conn_id, encode(&welcome));
            }
            Command::Request { conn_id, msg } => self.request(conn_id, msg),
            Command::Disconnect { conn_id } => self.disconnect(conn_id),
        }
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
                let since = since.filter(|_| epoch.as_deref().is_none_or(|e| e == &*self.store.epoch));
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

    fn set_nick(&mut self, conn_id: ConnId, req_id: Option<ReqId>, nickname: String) {
        let conn = self.conns.get_mut(&conn_id).expect("checked by request()");
        let old = std::mem::replace(&mut conn.nickname, nickname.clone());
        let room = conn.room.clone();
        if old != nickname {
            if let Some(room) = room {
                let notice = encode(&ServerMsg::NickChanged { conn_id, old, new: nickname });
                self.broadcast(&room, &notice, None);
            }
        }
        self.ack(conn_id, req_id, None);
    }

    fn watch_rooms(&mut self, conn_id: ConnId, req_id: Option<ReqId>) {
        // Watching the home page means not being in a room (nor waiting to enter one, nor
        // having a password checked to enter one).
        self.conns.get_mut(&conn_id).expect("checked by request()").password_check = None;
        self.stop_waiting(conn_id);
        self.leave_room(conn_id);
        self.watchers.insert(conn_id);
        self.ack(conn_id, req_id, None);
        let list = encode(&self.room_list());
        self.send(conn_id, list);
    }

    fn join(&mut self, conn_id: ConnId, req_id: Option<ReqId>, name: String, since: Option<u64>) {
        self.watchers.remove(&conn_id);
        if self.conns[&conn_id].room.as_deref() != Some(name.as_str()) {
            self.leave_room(conn_id);
            let device = self.conns[&conn_id].device.clone();
            let room = self.rooms.entry(name.clone()).or_default();
            room.members.push(conn_id);
            room.admitted_devices.extend(device);
            // The first to enter an empty room runs it.
            if room.hosts.is_empty() {
                room.hosts.push(conn_id);
            }
            let conn = self.conns.get_mut(&conn_id).expect("exists");
            conn.room = Some(name.clone());
            conn.delivered_seq = None;
            let member = self.member(conn_id);
            let notice = encode(&ServerMsg::MemberJoined { room: name.clone(), member });
            self.broadcast(&name, &notice, Some(conn_id));
            self.room_list_changed();
        }
        // `joined` goes out when the store has read the history (see `store_reply`); it
        // brings a connection that fell behind up to date as well.
        self.lagging.remove(&conn_id);
        self.conns.get_mut(&conn_id).expect("exists").lagging = false;
        match self.store.try_send(StoreCmd::Join { conn_id, room: name.clone(), since }) {
            Ok(()) => {
                let earlier = self.conns.get_mut(&conn_id).and_then(|c| c.joining.take());
                let (held, overflowed) = earlier.map_or((Vec::new(), false), |j| (j.held, j.overflowed));
                let joining = Joining { req_id, held, overflowed };
                self.conns.get_mut(&conn_id).expect("exists").joining = Some(joining);
            }
            Err(_) => {
                self.send_joined(conn_id, req_id, &name, Vec::new(), false, false);
                self.error(conn_id, None, ErrorCode::StoreUnavailable, "the room's history could not be read");
            }
        }
    }

    /// Send `joined` (now that its history is known), then whatever was held back.
    fn send_joined(
        &mut self,
        conn_id: ConnId,
        req_id: Option<ReqId>,
        name: &str,
        history: Vec<ChatMessage>,
        earlier: bool,
        more: bool,
    ) {
        let Some(room) = self.rooms.get(name) else { return };
        let last_seq = history.last().map(|m| m.seq);
        let joined = ServerMsg::Joined {
            req_id,
            room: name.to_string(),
            members: room.members.iter().map(|id| self.member(*id)).collect(),
            history,
            earlier,
            more,
            epoch: self.store.epoch.to_string(),
            call: room.call.iter().map(|(id, media)| self.participant(*id, *media)).collect(),
            ice_servers: self.ice_servers(conn_id),
            relay_only: self.calls.ice.relay_only,
            locked: room.locked,
            hands: room.hands.clone(),
            lobby: room.lobby,
            protected: self.passwords.contains_key(name),
        };
        let joining = self.conns.get_mut(&conn_id).and_then(|c| c.joining.take());
        let (held, overflowed) = joining.map_or((Vec::new(), false), |j| (j.held, j.overflowed));
        // Counted as delivered up to the history's last message only if `joined` got out.
        self.deliver(conn_id, last_seq, encode(&joined));
        for (seq, frame) in held {
            // A message both stored before the read and broadcast after the join is in the
            // history already.
            if seq.is_some_and(|s| last_seq.is_some_and(|last| s <= last)) {
                continue;
            }
            self.deliver(conn_id, seq, frame);
        }
        if overflowed {
            if let Some(conn) = self.conns.get_mut(&conn_id) {
                conn.lagging = true;
                self.lagging.insert(conn_id);
            }
        }
    }

    fn leave(&mut self, conn_id: ConnId, req_id: Option<ReqId>) {
        self.conns.get_mut(&conn_id).expect("checked by request()").password_check = None;
        if self.leave_room(conn_id) {
            self.ack(conn_id, req_id, None);
        } else {
            self.error(conn_id, req_id, ErrorCode::NotInRoom, "you are not in a room");
        }
    }

    /// A chat message goes to the store first; it is acked and broadcast once it is
    /// written (`store_reply`), never before.
    fn chat(&mut self, conn_id: ConnId, req_id: Option<ReqId>, text: String, client_msg_id: Option<String>) {
        let conn = &self.conns[&conn_id];
        let Some(room) = conn.room.clone() else {
            self.error(conn_id, req_id, ErrorCode::NotInRoom, "join a room before sending messages");
            return;
        };
        let message = NewMessage { room, from: conn_id, nickname: conn.nickname.clone(), text, client_msg_id, ts: now_ms() };
        if self.store.try_send(StoreCmd::Append { conn_id, req_id, message }).is_err() {
            self.refused_busy(1);
            self.error(conn_id, req_id, ErrorCode::StoreUnavailable, "the server is too busy to save messages; try again");
        }
    }

    fn history(
        &mut self,
        conn_id: ConnId,
        req_id: Option<ReqId>,
        room: String,
        before: Option<u64>,
        after: Option<u64>,
        limit: Option<u32>,
    ) {
        if self.conns[&conn_id].room.as_deref() != Some(room.as_str()) {
            self.error(conn_id, req_id, ErrorCode::NotInRoom, "enter the room to read its history");
            return;
        }
        let limit = limit.map_or(MAX_HISTORY_PAGE, |l| (l as usize).clamp(1, MAX_HISTORY_PAGE));
        if self.store.try_send(StoreCmd::History { conn_id, req_id, room, before, after, limit }).is_err() {
            self.error(conn_id, req_id, ErrorCode::StoreUnavailable, "the server is too busy to read history; try again");
        }
    }

    /// Count messages refused because the store is behind; logged at most once a second
    /// (an overload must not turn into a flood of log lines that deepens it).
    fn refused_busy(&mut self, n: u64) {
        self.busy_refusals += n;
        let now = Instant::now();
        if self.busy_logged.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            tracing::warn!(refused = self.busy_refusals, "chat store behind: messages refused (store_unavailable)");
            self.busy_refusals = 0;
            self.busy_logged = Some(now);
        }
    }

    /// The store finished something: deliver its effects.
    pub(crate) fn store_reply(&mut self, reply: StoreReply) {
        match reply {
            StoreReply::Appended(stored) => {
                for (conn_id, req_id, Appended { message, duplicate }) in stored {
                    if !duplicate {
                        self.metrics.messages.increment(1);
                        // A sender that asked for an ack gets the ack (carrying the stored
                        // message) instead of the broadcast, so it can mark its own pending
                        // message as accepted.
                        let except = req_id.map(|_| conn_id);
                        let frame = encode(&ServerMsg::Message { message: message.clone() });
                        self.broadcast_message(&message.room, message.seq, &frame, except);
                    }
                    self.ack(conn_id, req_id, Some(message));
                }
            }
            StoreReply::Failed(refused) => {
                for (conn_id, req_id) in refused {
                    let why = "the message could not be saved; it will be sent again";
                    self.error(conn_id, req_id, ErrorCode::StoreUnavailable, why);
                }
            }
            StoreReply::Joined { conn_id, room, history, earlier, more, failed } => {
                let Some(conn) = self.conns.get(&conn_id) else { return };
                // Only the latest join counts (the person may have moved on since).
                if conn.room.as_deref() != Some(room.as_str()) || conn.joining.is_none() {
                    return;
                }
                let req_id = conn.joining.as_ref().and_then(|j| j.req_id);
                self.send_joined(conn_id, req_id, &room, history, earlier, more);
                if failed {
                    self.error(conn_id, None, ErrorCode::StoreUnavailable, "the room's history could not be read");
                }
            }
            StoreReply::History { conn_id, req_id, room, result, backwards } => match result {
                Ok((messages, more)) => {
                    self.send(conn_id, encode(&ServerMsg::History { req_id, room, messages, more, backwards }));
                }
                Err(()) => self.error(conn_id, req_id, ErrorCode::StoreUnavailable, "history could not be read"),
            },
            StoreReply::PasswordSet { by, req_id, room, hash, ok } => self.password_saved(by, req_id, room, hash, ok),
        }
    }

    fn disconnect(&mut self, conn_id: ConnId) {
        self.stop_waiting(conn_id);
        self.leave_room(conn_id);
        self.watchers.remove(&conn_id);
        // Dropping the outbox sender tells the connection's writer to close the socket.
        self.conns.remove(&conn_id);
    }

    /// Take a connection out of its room, telling the others. Returns whether it was in one.
    fn leave_room(&mut self, conn_id: ConnId) -> bool {
        self.leave_room_by(conn_id, None)
    }

    /// Take a connection out of its room (`removed_by` a host, or of its own accord),
    /// telling the others and handing the room on if its last host left.
    fn leave_room_by(&mut self, conn_id: ConnId, removed_by: Option<ConnId>) -> bool {
        let Some(conn) = self.conns.get(&conn_id) else { return false };
        let Some(name) = conn.room.clone() else { return false };
        let member = self.member(conn_id);
        self.leave_call(conn_id, &name);
        self.sfu_forget(conn_id);
        let conn = self.conns.get_mut(&conn_id).expect("checked above");
        conn.room = None;
        conn.joining = None;
        let room = self.rooms.get_mut(&name).expect("a member's room exists");
        room.members.retain(|id| *id != conn_id);
        if room.members.is_empty() {
            // The meeting is over: its lock, hosts and removals end with it. Whoever was
            // waiting to come in has nobody left to let them in: they start the next one.
            let waiting = std::mem::take(&mut room.waiting);
            self.rooms.remove(&name);
            for w in waiting {
                if let Some(c) = self.conns.get_mut(&w.conn_id) {
                    c.waiting_in = None;
                    self.join(w.conn_id, w.req_id, name.clone(), w.since);
                }
            }
        } else {
            let notice = encode(&ServerMsg::MemberLeft { room: name.clone(), member, removed_by });
            self.broadcast(&name, &notice, None);
            self.after_leaving(&name, conn_id);
        }
        self.room_list_changed();
        true
    }

    /// The ICE servers for `conn_id`, with TURN credentials of its own.
    fn ice_servers(&self, conn_id: ConnId) -> Vec<crate::protocol::IceServer> {
        let host = self.conns.get(&conn_id).map(|c| c.host.clone()).unwrap_or_else(|| "".into());
        self.calls.ice.servers(conn_id, &host, now_ms() / 1000)
    }

    fn participant(&self, conn_id: ConnId, media: MediaState) -> CallParticipant {
        CallParticipant { conn_id, nickname: self.conns[&conn_id].nickname.clone(), media }
    }

    fn member(&self, conn_id: ConnId) -> Member {
        let conn = &self.conns[&conn_id];
        let host = conn.room.as_ref().and_then(|r| self.rooms.get(r)).is_some_and(|r| r.hosts.contains(&conn_id));
        Member { conn_id, nickname: conn.nickname.clone(), host }
    }

    fn room_list(&self) -> ServerMsg {
        let mut rooms: Vec<RoomInfo> = self
            .rooms
            .iter()
            .map(|(name, room)| RoomInfo {
                name: name.clone(),
                count: room.members.len(),
                locked: room.locked,
                protected: self.passwords.contains_key(name),
            })
            .collect();
        // Busiest first; the BTreeMap already sorted names, and the sort is stable.
        rooms.sort_by_key(|r| std::cmp::Reverse(r.count));
        ServerMsg::Rooms { rooms }
    }

    fn room_list_changed(&mut self) {
        if self.rooms_flush_at.is_none() {
            self.rooms_flush_at = Some(Instant::now() + ROOM_LIST_INTERVAL);
        }
    }

    fn flush_room_list(&mut self) {
        self.rooms_flush_at = None;
        if self.watchers.is_empty() {
            return;
        }
        let list = encode(&self.room_list());
        let watchers: Vec<ConnId> = self.watchers.iter().copied().collect();
        for conn_id in watchers {
            self.send(conn_id, list.clone());
        }
    }

    fn ack(&mut self, conn_id: ConnId, req_id: Option<ReqId>, message: Option<ChatMessage>) {
        if let Some(req_id) = req_id {
            self.metrics.acks.increment(1);
            self.send(conn_id, encode(&ServerMsg::Ack { req_id, message }));
        }
    }

    fn error(&mut self, conn_id: ConnId, req_id: Option<ReqId>, code: ErrorCode, message: &str) {
        crate::server::metrics::error_sent(code);
        let frame = ServerMsg::Error { req_id, code, message: message.into() };
        self.send(conn_id, encode(&frame));
    }

    fn broadcast(&mut self, room: &str, frame: &Frame, except: Option<ConnId>) {
        self.broadcast_inner(room, None, frame, except);
    }

    /// Broadcast chat message `seq`: someone still waiting for `joined` may find it in
    /// their history and must not get it twice.
    fn broadcast_message(&mut self, room: &str, seq: u64, frame: &Frame, except: Option<ConnId>) {
        let members = self.rooms.get(room).map_or(0, |r| r.members.len());
        self.metrics.deliveries.increment(members.saturating_sub(usize::from(except.is_some())) as u64);
        self.broadcast_inner(room, Some(seq), frame, except);
    }

    fn broadcast_inner(&mut self, room: &str, seq: Option<u64>, frame: &Frame, except: Option<ConnId>) {
        let Some(room) = self.rooms.get(room) else { return };
        let members: Vec<ConnId> = room.members.iter().copied().filter(|id| Some(*id) != except).collect();
        for conn_id in members {
            self.deliver(conn_id, seq, frame.clone());
        }
    }

    fn send(&mut self, conn_id: ConnId, frame: Frame) {
        self.deliver(conn_id, None, frame);
    }

    fn deliver(&mut self, conn_id: ConnId, seq: Option<u64>, frame: Frame) {
        let Some(conn) = self.conns.get_mut(&conn_id) else { return };
        if let Some(joining) = &mut conn.joining {
            if joining.held.len() < OUTBOX_CAPACITY {
                joining.held.push((seq, frame));
            } else {
                joining.overflowed = true;
            }
            return;
        }
        if conn.lagging {
            return;
        }
        match conn.outbox.try_send(frame) {
            Ok(()) => {
                if seq.is_some() {
                    conn.delivered_seq = seq;
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                // Behind, not gone: a socket that is not read at all is dropped by its
                // writer (`--slow-client-secs`). This one is caught up once it drains.
                tracing::info!(conn_id, "client fell behind its room: catching up from history");
                conn.lagging = true;
                self.lagging.insert(conn_id);
            }
            // The connection is going away; its Disconnect is on its way.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Connections that fell behind and whose outbox is at least half empty again get
    /// `lagged` and a fresh `joined` with every message after the last one they got
    /// (members and call state too, since those notices were skipped as well).
    pub(crate) fn catch_up(&mut self) {
        let ready: Vec<ConnId> = self
            .lagging
            .iter()
            .copied()
            .filter(|id| self.conns.get(id).is_none_or(|c| c.outbox.capacity() * 2 >= c.outbox.max_capacity()))
            .collect();
        for conn_id in ready {
            self.lagging.remove(&conn_id);
            let Some(conn) = self.conns.get_mut(&conn_id) else { continue };
            conn.lagging = false;
            let (room, last_seq) = (conn.room.clone(), conn.delivered_seq);
            if let Some(room) = room {
                self.send(conn_id, encode(&ServerMsg::Lagged { room: room.clone(), last_seq }));
                self.join(conn_id, None, room, last_seq);
            }
        }
    }
}

/// A hub driven by hand, with its store's replies delivered on [`TestHub::settle`].
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub struct TestHub {
        pub hub: Hub,
        store: StoreHandle,
        replies: mpsc::UnboundedReceiver<StoreReply>,
    }

    impl TestHub {
        pub fn new(calls: CallSettings) -> TestHub {
            let (store, replies) = StoreHandle::in_memory();
            TestHub { hub: Hub::new(calls, store.clone(), RoomPasswords::new()), store, replies }
        }

        /// Let the store finish everything asked of it so far, and deliver its replies.
        pub async fn settle(&mut self) {
            self.store.flush().await;
            while let Ok(reply) = self.replies.try_recv() {
                self.hub.store_reply(reply);
            }
        }

        /// Wait for the next piece of password work to finish, and deliver it.
        pub async fn password_done(&mut self) {
            let work = self.hub.done_rx.as_mut().expect("not running").recv().await.expect("the hub holds a sender");
            self.hub.password_done(work);
        }
    }

    impl std::ops::Deref for TestHub {
        type Target = Hub;
        fn deref(&self) -> &Hub {
            &self.hub
        }
    }

    impl std::ops::DerefMut for TestHub {
        fn deref_mut(&mut self) -> &mut Hub {
            &mut self.hub
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::TestHub;
    use super::*;
    use crate::limits::HISTORY_LEN;

    fn connect(hub: &mut Hub, conn_id: ConnId, capacity: usize) -> mpsc::Receiver<Frame> {
        let (tx, rx) = mpsc::channel(capacity);
        hub.handle(Command::Connect { conn_id, outbox: tx, host: "localhost".into() });
        rx
    }

    fn drain(rx: &mut mpsc::Receiver<Frame>) -> Vec<ServerMsg> {
        let mut out = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            out.push(serde_json::from_str(frame.as_str()).unwrap());
        }
        out
    }

    fn req(hub: &mut Hub, conn_id: ConnId, msg: ClientMsg) {
        hub.handle(Command::Request { conn_id, msg });
    }

    fn join(room: &str) -> ClientMsg {
        ClientMsg::Join { req_id: None, room: room.into(), since: None, epoch: None, device: None, password: None }
    }

    fn chat(req_id: Option<ReqId>, text: &str) -> ClientMsg {
        ClientMsg::Chat { req_id, text: text.into(), client_msg_id: None }
    }

    #[tokio::test]
    async fn join_chat_and_leave_are_scoped_to_the_room() {
        let mut hub = TestHub::new(CallSettings::default());
        let mut a = connect(&mut hub, 1, 64);
        let mut b = connect(&mut hub, 2, 64);
        let mut c = connect(&mut hub, 3, 64);
        req(&mut hub, 1, join("lobby"));
        req(&mut hub, 2, join("lobby"));
        req(&mut hub, 3, join("other"));
        hub.settle().await;
        drain(&mut a);
        drain(&mut b);
        drain(&mut c);

        req(&mut hub, 1, chat(Some(5), "hi"));
        assert!(drain(&mut a).is_empty() && drain(&mut b).is_empty(), "nothing before the store wrote it");
        hub.settle().await;
        let to_a = drain(&mut a);
        let to_b = drain(&mut b);
        assert!(drain(&mut c).is_empty(), "another room heard the message");
        let ServerMsg::Ack { req_id: 5, message: Some(sent) } = &to_a[0] else { panic!("{to_a:?}") };
        assert_eq!((sent.seq, sent.text.as_str(), sent.from), (1, "hi", 1));
        assert_eq!(to_b, vec![ServerMsg::Message { message: sent.clone() }]);

        hub.handle(Command::Disconnect { conn_id: 1 });
        let left = drain(&mut b);
        assert!(matches!(&left[0], ServerMsg::MemberLeft { member, .. } if member.conn_id == 1), "{left:?}");
        // The host left: the longest-present member (Bo, 2) runs the room now.
        assert!(matches!(&left[1..], [ServerMsg::Hosts { hosts, by: None, .. }] if hosts == &[2]), "{left:?}");
    }

    #[tokio::test]
    async fn late_joiner_gets_members_and_history() {
        let mut hub = TestHub::new(CallSettings::default());
        let _a = connect(&mut hub, 1, 64);
        req(&mut hub, 1, join("r"));
        for i in 0..(HISTORY_LEN + 5) {
            req(&mut hub, 1, chat(None, &format!("m{i}")));
        }
        let mut b = connect(&mut hub, 2, 64);
        req(&mut hub, 2, ClientMsg::Join { req_id: Some(1), room: "r".into(), since: None, epoch: None, device: None, password: None });
        hub.settle().await;
        let msgs = drain(&mut b);
        let ServerMsg::Joined { req_id: Some(1), members, history, .. } = &msgs[1] else { panic!("{msgs:?}") };
        assert_eq!(members.iter().map(|m| m.conn_id).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(history.len(), HISTORY_LEN);
        assert_eq!(history.last().unwrap().seq, (HISTORY_LEN + 5) as u64);
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_is_caught_up_from_history_not_dropped() {
        let mut hub = TestHub::new(CallSettings::default());
        let mut fast = connect(&mut hub, 1, 1024);
        let mut slow = connect(&mut hub, 2, 4);
        req(&mut hub, 1, join("r"));
        req(&mut hub, 2, join("r"));
        hub.settle().await;
        drain(&mut slow);
        for i in 0..20 {
            req(&mut hub, 1, chat(Some(i), &format!("m{i}")));
        }
        hub.settle().await;
        // The slow one's queue filled after 4 messages: the room went on without waiting.
        let to_fast = drain(&mut fast);
        assert_eq!(to_fast.iter().filter(|m| matches!(m, ServerMsg::Ack { .. })).count(), 20);
        assert!(!to_fast.iter().any(|m| matches!(m, ServerMsg::MemberLeft { .. })), "nobody was dropped");
        // Not read yet: nothing more is queued for it.
        hub.catch_up();
        hub.settle().await;
        let first = drain(&mut slow);
        assert_eq!(first.len(), 4);

        // It has read those four: with room again, it is caught up from the store.
        hub.catch_up();
        hub.settle().await;
        let rest = drain(&mut slow);
        assert!(matches!(&rest[0], ServerMsg::Lagged { last_seq: Some(4), .. }), "{rest:?}");
        let ServerMsg::Joined { history, .. } = &rest[1] else { panic!("{rest:?}") };
        assert_eq!(history.iter().map(|m| m.seq).collect::<Vec<_>>(), (5..=20).collect::<Vec<_>>());
        assert!(!slow.is_closed(), "still connected");

        // And it receives the room live again.
        req(&mut hub, 1, chat(None, "after"));
        hub.settle().await;
        assert!(drain(&mut slow).iter().any(|m| matches!(m, ServerMsg::Message { message } if message.seq == 21)));
    }

    #[tokio::test(start_paused = true)]
    async fn room_list_updates_are_coalesced_and_only_for_watchers() {
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        let (store, replies) = StoreHandle::in_memory();
        tokio::spawn(Hub::new(CallSettings::default(), store, RoomPasswords::new()).run(rx, replies));
        let (w_tx, mut watcher) = mpsc::channel(1024);
        let (r_tx, mut in_room) = mpsc::channel(1024);
        tx.send(Command::Connect { conn_id: 1, outbox: w_tx, host: "".into() }).await.unwrap();
        tx.send(Command::Request { conn_id: 1, msg: ClientMsg::WatchRooms { req_id: None } }).await.unwrap();
        tx.send(Command::Connect { conn_id: 2, outbox: r_tx, host: "".into() }).await.unwrap();
        // 50 members join in one burst.
        let mut keep = Vec::new();
        for id in 3..53 {
            let (t, r) = mpsc::channel(1024);
            keep.push(r);
            tx.send(Command::Connect { conn_id: id, outbox: t, host: "".into() }).await.unwrap();
            tx.send(Command::Request { conn_id: id, msg: join("busy") }).await.unwrap();
        }
        tx.send(Command::Request { conn_id: 2, msg: join("quiet") }).await.unwrap();
        tokio::time::sleep(ROOM_LIST_INTERVAL * 3).await;

        let mut lists = Vec::new();
        while let Ok(frame) = watcher.try_recv() {
            if let ServerMsg::Rooms { rooms } = serde_json::from_str(frame.as_str()).unwrap() {
                lists.push(rooms);
            }
        }
        // The initial (empty) list, then one coalesced update for the whole burst.
        assert_eq!(lists.len(), 2, "{lists:?}");
        assert_eq!(
            lists[1],
            vec![
                RoomInfo { name: "busy".into(), count: 50, locked: false, protected: false },
                RoomInfo { name: "quiet".into(), count: 1, locked: false, protected: false }
            ]
        );
        while let Ok(frame) = in_room.try_recv() {
            assert!(!frame.as_str().contains("\"type\":\"rooms\""), "a member in a room got the room list");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_has_one_password_check_at_a_time_and_waits_after_wrong_ones() {
        let mut hub = TestHub::new(CallSettings::default());
        hub.passwords.insert("r".into(), crate::server::password::hash("pw").unwrap().into());
        let mut a = connect(&mut hub, 1, 64);
        let join = |req_id, password: &str| ClientMsg::Join {
            req_id: Some(req_id),
            room: "r".into(),
            since: None,
            epoch: None,
            device: None,
            password: Some(password.into()),
        };
        let code = |msgs: Vec<ServerMsg>| match &msgs[..] {
            [ServerMsg::Error { code, .. }] => *code,
            other => panic!("{other:?}"),
        };
        drain(&mut a);
        req(&mut hub, 1, join(1, "wrong"));
        // While it is checked, another try is turned away, not queued.
        req(&mut hub, 1, join(2, "pw"));
        assert_eq!(code(drain(&mut a)), ErrorCode::RateLimited);
        hub.password_done().await;
        assert_eq!(code(drain(&mut a)), ErrorCode::WrongPassword);
        for req_id in 3..5 {
            req(&mut hub, 1, join(req_id, "wrong"));
            hub.password_done().await;
            assert_eq!(code(drain(&mut a)), ErrorCode::WrongPassword);
        }
        // Three wrong: the next try waits a second, right or not.
        req(&mut hub, 1, join(5, "pw"));
        assert_eq!(code(drain(&mut a)), ErrorCode::TooManyTries);
        tokio::time::advance(Duration::from_millis(1001)).await;
        req(&mut hub, 1, join(6, "pw"));
        hub.password_done().await;
        hub.settle().await;
        let msgs = drain(&mut a);
        assert!(matches!(&msgs[..], [ServerMsg::Joined { req_id: Some(6), protected: true, .. }]), "{msgs:?}");
    }

    #[tokio::test]
    async fn a_request_that_breaks_an_invariant_drops_only_its_connection() {
        let mut hub = TestHub::new(CallSettings::default());
        let mut a = connect(&mut hub, 1, 64);
        let mut b = connect(&mut hub, 2, 64);
        let mut c = connect(&mut hub, 3, 64);
        req(&mut hub, 1, join("r"));
        req(&mut hub, 2, join("r"));
        req(&mut hub, 3, join("s"));
        hub.settle().await;
        for rx in [&mut a, &mut b, &mut c] {
            drain(rx);
        }
        // A bug left Bo's connection pointing at a room that no longer lists him.
        hub.conns.get_mut(&2).unwrap().room = Some("gone".into());
        req(&mut hub, 2, ClientMsg::Leave { req_id: Some(1) });
        // Bo's connection is closed (its outbox dropped); the hub goes on.
        drain(&mut b);
        assert!(b.recv().await.is_none(), "the culprit's connection is closed");
        let to_a = drain(&mut a);
        assert!(matches!(&to_a[..], [ServerMsg::MemberLeft { member, .. }] if member.conn_id == 2), "{to_a:?}");
        assert_eq!(hub.rooms["r"].members, [1]);
        req(&mut hub, 3, chat(Some(9), "still here"));
        req(&mut hub, 1, chat(Some(8), "me too"));
        hub.settle().await;
        assert!(matches!(&drain(&mut c)[..], [ServerMsg::Ack { req_id: 9, .. }]));
        assert!(matches!(&drain(&mut a)[..], [ServerMsg::Ack { req_id: 8, .. }]));
    }

    #[tokio::test]
    async fn nick_change_is_announced_in_the_room() {
        let mut hub = TestHub::new(CallSettings::default());
        let mut a = connect(&mut hub, 1, 64);
        let mut b = connect(&mut hub, 2, 64);
        req(&mut hub, 1, join("r"));
        req(&mut hub, 2, join("r"));
        hub.settle().await;
        drain(&mut a);
        drain(&mut b);
        req(&mut hub, 1, ClientMsg::SetNick { req_id: Some(3), nickname: "Ana".into() });
        let change = ServerMsg::NickChanged { conn_id: 1, old: "Anonymous".into(), new: "Ana".into() };
        assert_eq!(drain(&mut b), vec![change.clone()]);
        assert_eq!(drain(&mut a), vec![change, ServerMsg::Ack { req_id: 3, message: None }]);
    }
}
