//! The hub: the one owner of all room state.
//!
//! Why a single task: every rule that spans connections (who is in which room, the order of
//! messages in a room, the room list) is decided in one place, without locks, so there is
//! no interleaving to reason about. Connections talk to it over a bounded channel
//! ([`HubHandle`]) and it talks back over each connection's own bounded queue.
//!
//! Why fan-out never blocks: the hub only ever `try_send`s to a connection. A client whose
//! queue is full is too slow to keep up with its room; it is dropped (its socket is closed
//! with 1008) instead of slowing down everyone else in the room.
//!
//! Why the room list is coalesced: the original Node.js Noom sent the whole list to every
//! socket on every join, O(everyone) per event. Here a change only marks the list dirty; at
//! most every [`ROOM_LIST_INTERVAL`] it is serialized once and sent only to connections that
//! are looking at the home page.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::limits::{DEFAULT_NICKNAME, HISTORY_LEN};
use crate::protocol::{
    CallMode, CallParticipant, ChatMessage, ClientMsg, ConnId, ErrorCode, Member, MediaState, ReqId, RoomInfo,
    ServerMsg,
};

mod call;
pub use call::CallSettings;

/// How often, at most, room-list watchers get an update.
pub const ROOM_LIST_INTERVAL: Duration = Duration::from_millis(100);
/// Frames that may wait for one connection's socket before it counts as too slow.
pub const OUTBOX_CAPACITY: usize = 256;
/// Commands that may wait for the hub before connections feel back-pressure.
const INBOX_CAPACITY: usize = 4096;

/// A frame on its way to one connection. Serialized once; clones share the bytes, so a
/// broadcast to a room of 100 costs one serialization and 100 reference-count bumps.
pub type Outgoing = axum::extract::ws::Utf8Bytes;

/// What connections ask of the hub. Text fields are already validated by the connection.
#[derive(Debug)]
pub enum Command {
    Connect { conn_id: ConnId, outbox: mpsc::Sender<Outgoing> },
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
    /// are sized and carried (ICE servers, caps, the SFU).
    pub fn spawn(calls: CallSettings) -> HubHandle {
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        tokio::spawn(Hub::new(calls).run(rx));
        HubHandle { tx, next_conn_id: Arc::new(AtomicU64::new(1)) }
    }

    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Send a command; waits if the hub is busy (back-pressure on the sender only).
    /// Returns false when the hub is gone (server shutting down).
    pub async fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).await.is_ok()
    }
}

struct Conn {
    nickname: String,
    room: Option<String>,
    outbox: mpsc::Sender<Outgoing>,
}

#[derive(Default)]
struct Room {
    /// Members in the order they joined.
    members: Vec<ConnId>,
    /// Sequence number of the last message.
    seq: u64,
    history: VecDeque<ChatMessage>,
    /// The room's call: participants in the order they joined, with their media state.
    call: Vec<(ConnId, MediaState)>,
    /// Peer to peer until the call outgrows `--p2p-max`; then SFU until it empties.
    call_mode: CallMode,
}

pub struct Hub {
    conns: HashMap<ConnId, Conn>,
    rooms: BTreeMap<String, Room>,
    /// Connections on the home page, who get room-list updates.
    watchers: HashSet<ConnId>,
    /// When the next coalesced room-list update goes out, if the list changed.
    rooms_flush_at: Option<Instant>,
    next_msg_id: u64,
    /// Connections whose outbox overflowed during the current command.
    too_slow: Vec<ConnId>,
    calls: CallSettings,
}

fn encode(msg: &ServerMsg) -> Outgoing {
    serde_json::to_string(msg).expect("server messages always serialize").into()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Hub {
    fn new(calls: CallSettings) -> Hub {
        Hub {
            conns: HashMap::new(),
            rooms: BTreeMap::new(),
            watchers: HashSet::new(),
            rooms_flush_at: None,
            // Start ids at the start-up time in microseconds, so ids stay unique across
            // restarts of the server as well.
            next_msg_id: now_ms() * 1000,
            too_slow: Vec::new(),
            calls,
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            let flush_at = self.rooms_flush_at;
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd),
                    None => break,
                },
                _ = tokio::time::sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                    self.flush_room_list();
                }
            }
        }
        tracing::debug!("hub stopped");
    }

    /// Apply one command, then drop any connection that could not keep up.
    pub(crate) fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Connect { conn_id, outbox } => {
                self.conns.insert(conn_id, Conn { nickname: DEFAULT_NICKNAME.into(), room: None, outbox });
                let welcome = ServerMsg::Welcome { conn_id, nickname: DEFAULT_NICKNAME.into() };
                self.send(conn_id, encode(&welcome));
            }
            Command::Request { conn_id, msg } => self.request(conn_id, msg),
            Command::Disconnect { conn_id } => self.disconnect(conn_id),
        }
        self.drop_too_slow();
    }

    /// Disconnect the connections whose outbox overflowed (see [`Hub::send`]).
    fn drop_too_slow(&mut self) {
        while let Some(conn_id) = self.too_slow.pop() {
            tracing::warn!(conn_id, "outbox full: dropping a client too slow to keep up");
            self.disconnect(conn_id);
        }
    }

    fn request(&mut self, conn_id: ConnId, msg: ClientMsg) {
        if !self.conns.contains_key(&conn_id) {
            return;
        }
        match msg {
            ClientMsg::SetNick { req_id, nickname } => self.set_nick(conn_id, req_id, nickname),
            ClientMsg::WatchRooms { req_id } => self.watch_rooms(conn_id, req_id),
            ClientMsg::Join { req_id, room } => self.join(conn_id, req_id, room),
            ClientMsg::Leave { req_id } => self.leave(conn_id, req_id),
            ClientMsg::Chat { req_id, text } => self.chat(conn_id, req_id, text),
            ClientMsg::CallJoin { req_id, media } => self.call_join(conn_id, req_id, media),
            ClientMsg::CallLeave { req_id } => self.call_leave(conn_id, req_id),
            ClientMsg::CallState { media } => self.call_state(conn_id, media),
            ClientMsg::Signal { to, payload } => self.signal(conn_id, to, payload),
            ClientMsg::CallLayout { tiles } => self.call_layout(conn_id, tiles),
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
        // Watching the home page means not being in a room.
        self.leave_room(conn_id);
        self.watchers.insert(conn_id);
        self.ack(conn_id, req_id, None);
        let list = encode(&self.room_list());
        self.send(conn_id, list);
    }

    fn join(&mut self, conn_id: ConnId, req_id: Option<ReqId>, name: String) {
        self.watchers.remove(&conn_id);
        if self.conns[&conn_id].room.as_deref() != Some(name.as_str()) {
            self.leave_room(conn_id);
            let member = self.member(conn_id);
            let room = self.rooms.entry(name.clone()).or_default();
            room.members.push(conn_id);
            self.conns.get_mut(&conn_id).expect("exists").room = Some(name.clone());
            let notice = encode(&ServerMsg::MemberJoined { room: name.clone(), member });
            self.broadcast(&name, &notice, Some(conn_id));
            self.room_list_changed();
        }
        let room = &self.rooms[&name];
        let joined = ServerMsg::Joined {
            req_id,
            room: name.clone(),
            members: room.members.iter().map(|id| self.member(*id)).collect(),
            history: room.history.iter().cloned().collect(),
            call: room.call.iter().map(|(id, media)| self.participant(*id, *media)).collect(),
            ice_servers: self.calls.ice_servers.clone(),
        };
        self.send(conn_id, encode(&joined));
    }

    fn leave(&mut self, conn_id: ConnId, req_id: Option<ReqId>) {
        if self.leave_room(conn_id) {
            self.ack(conn_id, req_id, None);
        } else {
            self.error(conn_id, req_id, ErrorCode::NotInRoom, "you are not in a room");
        }
    }

    fn chat(&mut self, conn_id: ConnId, req_id: Option<ReqId>, text: String) {
        let conn = &self.conns[&conn_id];
        let Some(name) = conn.room.clone() else {
            self.error(conn_id, req_id, ErrorCode::NotInRoom, "join a room before sending messages");
            return;
        };
        let nickname = conn.nickname.clone();
        self.next_msg_id += 1;
        let room = self.rooms.get_mut(&name).expect("a member's room exists");
        room.seq += 1;
        let message = ChatMessage {
            id: self.next_msg_id,
            room: name.clone(),
            seq: room.seq,
            ts: now_ms(),
            from: conn_id,
            nickname,
            text,
        };
        if room.history.len() == HISTORY_LEN {
            room.history.pop_front();
        }
        room.history.push_back(message.clone());
        // A sender that asked for an ack gets the ack (carrying the stored message) instead
        // of the broadcast, so it can mark its own pending message as accepted.
        let except = req_id.map(|_| conn_id);
        self.broadcast(&name, &encode(&ServerMsg::Message { message: message.clone() }), except);
        if req_id.is_some() {
            self.ack(conn_id, req_id, Some(message));
        }
    }

    fn disconnect(&mut self, conn_id: ConnId) {
        self.leave_room(conn_id);
        self.watchers.remove(&conn_id);
        // Dropping the outbox sender tells the connection's writer to close the socket.
        self.conns.remove(&conn_id);
    }

    /// Take a connection out of its room, telling the others. Returns whether it was in one.
    fn leave_room(&mut self, conn_id: ConnId) -> bool {
        let Some(conn) = self.conns.get_mut(&conn_id) else { return false };
        let Some(name) = conn.room.clone() else { return false };
        self.leave_call(conn_id, &name);
        self.sfu_forget(conn_id);
        let conn = self.conns.get_mut(&conn_id).expect("checked above");
        conn.room = None;
        let member = Member { conn_id, nickname: conn.nickname.clone() };
        let room = self.rooms.get_mut(&name).expect("a member's room exists");
        room.members.retain(|id| *id != conn_id);
        if room.members.is_empty() {
            self.rooms.remove(&name);
        } else {
            let notice = encode(&ServerMsg::MemberLeft { room: name.clone(), member });
            self.broadcast(&name, &notice, None);
        }
        self.room_list_changed();
        true
    }

    fn participant(&self, conn_id: ConnId, media: MediaState) -> CallParticipant {
        CallParticipant { conn_id, nickname: self.conns[&conn_id].nickname.clone(), media }
    }

    fn member(&self, conn_id: ConnId) -> Member {
        Member { conn_id, nickname: self.conns[&conn_id].nickname.clone() }
    }

    fn room_list(&self) -> ServerMsg {
        let mut rooms: Vec<RoomInfo> = self
            .rooms
            .iter()
            .map(|(name, room)| RoomInfo { name: name.clone(), count: room.members.len() })
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
        self.drop_too_slow();
    }

    fn ack(&mut self, conn_id: ConnId, req_id: Option<ReqId>, message: Option<ChatMessage>) {
        if let Some(req_id) = req_id {
            self.send(conn_id, encode(&ServerMsg::Ack { req_id, message }));
        }
    }

    fn error(&mut self, conn_id: ConnId, req_id: Option<ReqId>, code: ErrorCode, message: &str) {
        let frame = ServerMsg::Error { req_id, code, message: message.into() };
        self.send(conn_id, encode(&frame));
    }

    fn broadcast(&mut self, room: &str, frame: &Outgoing, except: Option<ConnId>) {
        let Some(room) = self.rooms.get(room) else { return };
        let members: Vec<ConnId> = room.members.iter().copied().filter(|id| Some(*id) != except).collect();
        for conn_id in members {
            self.send(conn_id, frame.clone());
        }
    }

    fn send(&mut self, conn_id: ConnId, frame: Outgoing) {
        let Some(conn) = self.conns.get(&conn_id) else { return };
        match conn.outbox.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.too_slow.contains(&conn_id) {
                    self.too_slow.push(conn_id);
                }
            }
            // The connection is going away; its Disconnect is on its way.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(hub: &mut Hub, conn_id: ConnId, capacity: usize) -> mpsc::Receiver<Outgoing> {
        let (tx, rx) = mpsc::channel(capacity);
        hub.handle(Command::Connect { conn_id, outbox: tx });
        rx
    }

    fn drain(rx: &mut mpsc::Receiver<Outgoing>) -> Vec<ServerMsg> {
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
        ClientMsg::Join { req_id: None, room: room.into() }
    }

    #[tokio::test]
    async fn join_chat_and_leave_are_scoped_to_the_room() {
        let mut hub = Hub::new(CallSettings::default());
        let mut a = connect(&mut hub, 1, 64);
        let mut b = connect(&mut hub, 2, 64);
        let mut c = connect(&mut hub, 3, 64);
        req(&mut hub, 1, join("lobby"));
        req(&mut hub, 2, join("lobby"));
        req(&mut hub, 3, join("other"));
        drain(&mut a);
        drain(&mut b);
        drain(&mut c);

        req(&mut hub, 1, ClientMsg::Chat { req_id: Some(5), text: "hi".into() });
        let to_a = drain(&mut a);
        let to_b = drain(&mut b);
        assert!(drain(&mut c).is_empty(), "another room heard the message");
        let ServerMsg::Ack { req_id: 5, message: Some(sent) } = &to_a[0] else { panic!("{to_a:?}") };
        assert_eq!((sent.seq, sent.text.as_str(), sent.from), (1, "hi", 1));
        assert_eq!(to_b, vec![ServerMsg::Message { message: sent.clone() }]);

        hub.handle(Command::Disconnect { conn_id: 1 });
        let left = drain(&mut b);
        assert!(matches!(&left[..], [ServerMsg::MemberLeft { member, .. }] if member.conn_id == 1));
    }

    #[tokio::test]
    async fn late_joiner_gets_members_and_history() {
        let mut hub = Hub::new(CallSettings::default());
        let _a = connect(&mut hub, 1, 64);
        req(&mut hub, 1, join("r"));
        for i in 0..(HISTORY_LEN + 5) {
            req(&mut hub, 1, ClientMsg::Chat { req_id: None, text: format!("m{i}") });
        }
        let mut b = connect(&mut hub, 2, 64);
        req(&mut hub, 2, ClientMsg::Join { req_id: Some(1), room: "r".into() });
        let msgs = drain(&mut b);
        let ServerMsg::Joined { req_id: Some(1), members, history, .. } = &msgs[1] else { panic!("{msgs:?}") };
        assert_eq!(members.iter().map(|m| m.conn_id).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(history.len(), HISTORY_LEN);
        assert_eq!(history.last().unwrap().seq, (HISTORY_LEN + 5) as u64);
    }

    #[tokio::test]
    async fn slow_client_is_dropped_without_blocking_the_room() {
        let mut hub = Hub::new(CallSettings::default());
        let mut fast = connect(&mut hub, 1, 1024);
        let mut slow = connect(&mut hub, 2, 4);
        req(&mut hub, 1, join("r"));
        req(&mut hub, 2, join("r"));
        for i in 0..20 {
            req(&mut hub, 1, ClientMsg::Chat { req_id: Some(i), text: "x".into() });
        }
        // The slow client's queue filled; the hub dropped it (its receiver sees the end).
        while slow.try_recv().is_ok() {}
        assert!(slow.is_closed(), "slow client still attached");
        let to_fast = drain(&mut fast);
        assert!(to_fast.iter().any(|m| matches!(m, ServerMsg::MemberLeft { member, .. } if member.conn_id == 2)));
        assert_eq!(to_fast.iter().filter(|m| matches!(m, ServerMsg::Ack { .. })).count(), 20);
    }

    #[tokio::test(start_paused = true)]
    async fn room_list_updates_are_coalesced_and_only_for_watchers() {
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        tokio::spawn(Hub::new(CallSettings::default()).run(rx));
        let (w_tx, mut watcher) = mpsc::channel(1024);
        let (r_tx, mut in_room) = mpsc::channel(1024);
        tx.send(Command::Connect { conn_id: 1, outbox: w_tx }).await.unwrap();
        tx.send(Command::Request { conn_id: 1, msg: ClientMsg::WatchRooms { req_id: None } }).await.unwrap();
        tx.send(Command::Connect { conn_id: 2, outbox: r_tx }).await.unwrap();
        // 50 members join in one burst.
        let mut keep = Vec::new();
        for id in 3..53 {
            let (t, r) = mpsc::channel(1024);
            keep.push(r);
            tx.send(Command::Connect { conn_id: id, outbox: t }).await.unwrap();
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
            vec![RoomInfo { name: "busy".into(), count: 50 }, RoomInfo { name: "quiet".into(), count: 1 }]
        );
        while let Ok(frame) = in_room.try_recv() {
            assert!(!frame.as_str().contains("\"type\":\"rooms\""), "a member in a room got the room list");
        }
    }

    #[tokio::test]
    async fn nick_change_is_announced_in_the_room() {
        let mut hub = Hub::new(CallSettings::default());
        let mut a = connect(&mut hub, 1, 64);
        let mut b = connect(&mut hub, 2, 64);
        req(&mut hub, 1, join("r"));
        req(&mut hub, 2, join("r"));
        drain(&mut a);
        drain(&mut b);
        req(&mut hub, 1, ClientMsg::SetNick { req_id: Some(3), nickname: "Ana".into() });
        let change = ServerMsg::NickChanged { conn_id: 1, old: "Anonymous".into(), new: "Ana".into() };
        assert_eq!(drain(&mut b), vec![change.clone()]);
        assert_eq!(drain(&mut a), vec![change, ServerMsg::Ack { req_id: 3, message: None }]);
    }
}
