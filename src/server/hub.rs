//! The hub: the one owner of all room state, as a pure core and one loop that runs it.
//!
//! Why a single owner: every rule that spans connections (who is in which room, the order
//! of messages in a room, the room list) is decided in one place, without locks, so there
//! is no interleaving to reason about. Connections talk to it over a bounded channel
//! ([`HubHandle`]) and it talks back over each connection's own bounded queue.
//!
//! How it is split (see docs/ARCHITECTURE.md, "The hub"):
//! - `core/` decides: `Core::handle(clock, input)` changes the rooms and returns effects
//!   (sends, store and SFU commands, password jobs, holds, closes, a timer). No tokio, no
//!   channels, no clock, no metrics: its tests are plain function calls.
//! - `run.rs` does: one task that turns commands, store replies, finished password work
//!   and deadlines into inputs, applies the effects in order, and counts the metrics.
//! - `delivery.rs` owns the outboxes: fan-out that never blocks, frames held for someone
//!   entering a room, and noticing who fell behind.
//!
//! Why a broken invariant costs one connection, not the server: the hub holds every
//! room, so a panic that ended its thread would end every meeting at once. Each input is
//! handled under `catch_unwind`; if that panics, its effects are dropped unapplied, the
//! connection it was for is purged from every room and closed with 1011, what the state
//! left behind waits for is asked again (`Core::ask_again`), and the hub goes on. If the hub stops anyway, `/healthz` says so (503) and connections close with 1011,
//! so a supervisor restarts the process instead of it serving nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::limits::{DEFAULT_MAX_CALL_SIZE, DEFAULT_P2P_MAX, DEFAULT_SFU_MAX_PARTICIPANTS};
use crate::protocol::{ClientMsg, ConnId};
use crate::server::ice::IceConfig;
use crate::server::sfu::SfuHandle;
use crate::server::store::{StoreHandle, StoreReply};
use crate::server::wire::{now_ms, Frame};

mod core;
mod delivery;
mod run;
#[cfg(test)]
mod run_tests;

pub use self::core::{RoomPasswords, ROOM_LIST_INTERVAL};
pub use delivery::OUTBOX_CAPACITY;

/// Commands that may wait for the hub before connections feel back-pressure.
const INBOX_CAPACITY: usize = 4096;

/// How calls are sized and carried.
#[derive(Clone)]
pub struct CallSettings {
    /// The ICE servers (and TURN credentials) handed to each browser.
    pub ice: IceConfig,
    pub max_call_size: usize,
    pub p2p_max: usize,
    /// Most people in SFU calls, all rooms together.
    pub sfu_max_participants: usize,
    /// The SFU, if its UDP port could be bound; without it calls stay peer to peer and
    /// are capped at `p2p_max`.
    pub sfu: Option<SfuHandle>,
}

impl Default for CallSettings {
    fn default() -> Self {
        CallSettings {
            ice: IceConfig::default(),
            max_call_size: DEFAULT_MAX_CALL_SIZE,
            p2p_max: DEFAULT_P2P_MAX,
            sfu_max_participants: DEFAULT_SFU_MAX_PARTICIPANTS,
            sfu: None,
        }
    }
}

impl CallSettings {
    /// What the core needs to know of them (not the SFU's handle: only the loop talks to it).
    fn limits(&self) -> self::core::CallLimits {
        self::core::CallLimits {
            ice: self.ice.clone(),
            max_call_size: self.max_call_size,
            p2p_max: self.p2p_max,
            sfu_max_participants: self.sfu_max_participants,
            has_sfu: self.sfu.is_some(),
        }
    }
}


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
        let hub = run::Hub::new(calls, store, passwords).run(rx, replies);
        if let Err(e) = crate::server::runtime::spawn_thread("noom-hub", hub) {
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

