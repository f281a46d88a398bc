//! The core's tests: a hub driven by hand, without a tokio runtime. The core decides, the
//! real [`Delivery`] queues (it never blocks), a small store answers when told
//! ([`TestHub::settle`]), password work is answered by the test ([`TestHub::checked`]), and
//! the clock moves when the test moves it.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::*;
use crate::limits::HISTORY_LEN;
use crate::server::hub::delivery::Delivery;
use crate::server::store::Appended;
use crate::server::wire::Frame;

mod allowance;
mod call;
mod moderation;
mod password;
mod rooms;

pub struct TestHub {
    pub core: Core,
    pub delivery: Delivery,
    pub clock: Clock,
    outboxes: HashMap<ConnId, mpsc::Receiver<Frame>>,
    store: FakeStore,
    /// The store's queue is full: it refuses everything.
    pub store_full: bool,
    /// Password work asked for, oldest first.
    pub jobs: VecDeque<PasswordJob>,
    /// What the SFU was told.
    pub sfu: Vec<SfuOrder>,
    /// The room-list deadline asked for, if any.
    pub room_list_at: Option<Instant>,
}

impl TestHub {
    pub fn new(calls: CallLimits) -> TestHub {
        let clock = Clock { mono: Instant::now(), unix_ms: 1_700_000_000_000 };
        TestHub {
            core: Core::new(calls, "test-epoch".into(), RoomPasswords::new(), clock),
            delivery: Delivery::default(),
            clock,
            outboxes: HashMap::new(),
            store: FakeStore::default(),
            store_full: false,
            jobs: VecDeque::new(),
            sfu: Vec::new(),
            room_list_at: None,
        }
    }

    pub fn input(&mut self, input: Input) {
        let fx = self.core.handle(self.clock, input);
        let mut refused = Vec::new();
        for effect in fx.list.drain(..) {
            let Some(effect) = self.delivery.apply(effect, &fx.recipients) else { continue };
            match effect {
                Effect::Store(cmd) if self.store_full => refused.push(cmd),
                Effect::Store(cmd) => self.store.pending.push_back(cmd),
                Effect::Sfu(order) => self.sfu.push(order),
                Effect::Password(job) => self.jobs.push_back(job),
                Effect::RoomListAt(at) => self.room_list_at = Some(at),
                other => unreachable!("delivery carries it out: {other:?}"),
            }
        }
        fx.clear();
        for cmd in refused {
            self.input(Input::StoreRefused(cmd));
        }
    }

    /// Connect `conn_id` with an outbox of `capacity` frames.
    pub fn connect(&mut self, conn_id: ConnId, capacity: usize) {
        let (tx, rx) = mpsc::channel(capacity);
        self.delivery.connect(conn_id, tx);
        self.outboxes.insert(conn_id, rx);
        self.input(Input::Connect { conn_id, host: "localhost".into() });
    }

    /// Connect, enter `room` (its `joined` delivered) and forget what it was sent.
    pub fn connect_to(&mut self, conn_id: ConnId, room: &str) {
        self.connect(conn_id, 256);
        self.req(conn_id, join(room));
        self.settle();
        self.drain(conn_id);
    }

    pub fn req(&mut self, conn_id: ConnId, msg: ClientMsg) {
        self.input(Input::Request { conn_id, msg });
    }

    pub fn disconnect(&mut self, conn_id: ConnId) {
        self.input(Input::Disconnect { conn_id });
    }

    /// What `conn_id`'s outbox holds, taken out of it.
    pub fn drain(&mut self, conn_id: ConnId) -> Vec<ServerMsg> {
        let rx = self.outboxes.get_mut(&conn_id).expect("connected");
        std::iter::from_fn(|| rx.try_recv().ok()).map(|f| serde_json::from_str(f.as_str()).unwrap()).collect()
    }

    /// Whether `conn_id`'s outbox was let go of (its socket closes) and is empty.
    pub fn closed(&mut self, conn_id: ConnId) -> bool {
        let rx = self.outboxes.get_mut(&conn_id).expect("connected");
        matches!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected))
    }

    /// Let the store do everything asked of it so far, and deliver its replies.
    pub fn settle(&mut self) {
        while let Some(cmd) = self.store.pending.pop_front() {
            if let Some(reply) = self.store.answer(cmd) {
                self.input(Input::Store(reply));
            }
        }
    }

    pub fn advance(&mut self, by: Duration) {
        self.clock.mono += by;
        self.clock.unix_ms += by.as_millis() as u64;
    }

    /// Catch up the connections that fell behind and have room again (the loop does it
    /// every 100 ms).
    pub fn catch_up(&mut self) {
        for (conn_id, last_seq) in self.delivery.ready() {
            self.input(Input::CatchUp { conn_id, last_seq });
        }
    }

    /// Answer the oldest password check: the password was right (`ok`) or not.
    pub fn checked(&mut self, ok: bool) {
        match self.jobs.pop_front() {
            Some(PasswordJob::Check { conn_id, check, request, hash }) => {
                self.input(Input::Password(Done::Checked { conn_id, check, request, hash, ok }))
            }
            other => panic!("no password check was asked for: {other:?}"),
        }
    }

    /// Answer the oldest hashing job.
    pub fn hashed(&mut self) {
        match self.jobs.pop_front() {
            Some(PasswordJob::Hash { by, req_id, room, password }) => {
                let hash = Some(format!("hash of {password}"));
                self.input(Input::Password(Done::Hashed { by, req_id, room, hash }))
            }
            other => panic!("no hashing was asked for: {other:?}"),
        }
    }
}

pub fn join(room: &str) -> ClientMsg {
    ClientMsg::Join { req_id: None, room: room.into(), since: None, epoch: None, device: None, password: None }
}

pub fn chat(req_id: Option<ReqId>, text: &str) -> ClientMsg {
    ClientMsg::Chat { req_id, text: text.into(), client_msg_id: None }
}

/// The error code of the one message in `msgs`.
pub fn code(msgs: Vec<ServerMsg>) -> ErrorCode {
    match &msgs[..] {
        [ServerMsg::Error { code, .. }] => *code,
        other => panic!("{other:?}"),
    }
}

/// A store in memory that answers in order, when asked to.
#[derive(Default)]
struct FakeStore {
    pending: VecDeque<StoreCmd>,
    rooms: HashMap<String, Vec<ChatMessage>>,
    ids: u64,
}

impl FakeStore {
    fn answer(&mut self, cmd: StoreCmd) -> Option<StoreReply> {
        Some(match cmd {
            StoreCmd::Append { conn_id, req_id, message: m } => {
                self.ids += 1;
                let stored = self.rooms.entry(m.room.clone()).or_default();
                let seq = stored.len() as u64 + 1;
                let message =
                    ChatMessage { id: self.ids, room: m.room, seq, ts: m.ts, from: m.from, nickname: m.nickname, text: m.text };
                stored.push(message.clone());
                StoreReply::Appended(vec![(conn_id, req_id, Appended { message, duplicate: false })])
            }
            StoreCmd::Join { conn_id, room, since } => {
                let stored = self.rooms.get(&room).map_or(&[][..], |r| &r[..]);
                let after: Vec<ChatMessage> = stored.iter().filter(|m| m.seq > since.unwrap_or(0)).cloned().collect();
                let earlier = since.is_none() && after.len() > HISTORY_LEN;
                let history = if since.is_none() { after[after.len().saturating_sub(HISTORY_LEN)..].to_vec() } else { after };
                StoreReply::Joined { conn_id, room, history, earlier, more: false, failed: false }
            }
            StoreCmd::History { conn_id, req_id, room, before, .. } => {
                StoreReply::History { conn_id, req_id, room, result: Ok((Vec::new(), false)), backwards: before.is_some() }
            }
            StoreCmd::SetPassword { by, req_id, room, hash } => StoreReply::PasswordSet { by, req_id, room, hash, ok: true },
            StoreCmd::Flush(_) => return None,
        })
    }
}
