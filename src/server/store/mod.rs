//! The chat store: every room's history, written to disk before anyone is told a message
//! exists.
//!
//! # Layout
//! - `backend.rs`: [`ChatStore`], the small interface a backend implements, and its data.
//! - `mod.rs` (here): the store task that owns the backend ([`StoreHandle::spawn`]): group commit, reads in order with
//!   the writes, retention; and the commands and replies it exchanges with the hub.
//! - `sqlite.rs`: the default backend, embedded SQLite (sqlx) in `--data-dir`.
//! - `memory.rs`: the same interface in memory (`--store memory`): for benchmarks that
//!   compare, and for servers that should forget.
//! - `recent.rs`: the newest messages of rooms being entered, so joins seldom read the disk.
//!
//! Why acks wait for the commit: a message the server acknowledged must survive `kill -9`.
//! The hub hands each chat message to the store, which writes it (with whatever else
//! arrived meanwhile: one transaction per batch, so durability does not cost throughput)
//! and only then replies; the hub acks and broadcasts on that reply. The hub never waits on
//! the disk: it sends a command and goes on with other work.
//!
//! Why the store numbers messages: sequence numbers must continue across restarts, so they
//! come from the same transaction that stores the message (`rooms.last_seq`). The store
//! runs commands one at a time, in order, so a room's messages are numbered in the order
//! the hub decided, and a read sees every write queued before it.
//!
//! Why resends are harmless: a chat message carries the client's own id (`client_msg_id`).
//! The same id in the same room, from any connection, finds the stored message and is
//! answered with it again (same id, seq and ts) instead of being stored twice.

mod backend;
mod memory;
mod recent;
mod sqlite;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::protocol::{ChatMessage, ConnId, ReqId};
pub use backend::{Appended, ChatStore, NewMessage, Page, Retention, StoreError};
pub use memory::MemoryStore;
use recent::Recent;
pub use sqlite::SqliteStore;

/// Messages that may wait for the store before the hub says "busy".
const INBOX_CAPACITY: usize = 16 * 1024;
/// Most writes in one transaction.
const MAX_BATCH: usize = 1024;
/// How often retention runs (and once at start-up).
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Messages younger than this are never pruned by the per-room cap, so a client's resend
/// within a day always finds its message (the dedup promise).
const DEDUP_KEEP_MS: u64 = 24 * 3600 * 1000;

/// What the hub asks of the store.
#[derive(Debug)]
pub enum StoreCmd {
    /// Store a chat message; the reply is [`StoreReply::Appended`] (or `Failed`).
    Append { conn_id: ConnId, req_id: Option<ReqId>, message: NewMessage },
    /// `conn_id` entered `room`: its history (after `since`, else the recent messages).
    Join { conn_id: ConnId, room: String, since: Option<u64> },
    /// Older (`before`) or newer (`after`) messages of `room` for `conn_id`.
    History { conn_id: ConnId, req_id: Option<ReqId>, room: String, before: Option<u64>, after: Option<u64>, limit: usize },
    /// A host set or removed (`hash` None) their room's password; the reply is
    /// [`StoreReply::PasswordSet`].
    SetPassword { by: ConnId, req_id: Option<ReqId>, room: String, hash: Option<Arc<str>> },
    /// Answer once everything queued before is written (graceful shutdown).
    Flush(oneshot::Sender<()>),
}

/// What the store tells the hub, in the order of the commands.
#[derive(Debug)]
pub enum StoreReply {
    Appended(Vec<(ConnId, Option<ReqId>, Appended)>),
    /// These messages were not stored; their senders get `store_unavailable`.
    Failed(Vec<(ConnId, Option<ReqId>)>),
    /// The history for a join. `earlier`: older messages are stored; `more`: newer ones
    /// did not fit. `failed`: it could not be read.
    Joined { conn_id: ConnId, room: String, history: Vec<ChatMessage>, earlier: bool, more: bool, failed: bool },
    History {
        conn_id: ConnId,
        req_id: Option<ReqId>,
        room: String,
        result: Result<(Vec<ChatMessage>, bool), ()>,
        /// Whether this page went back in time (`before`) rather than forward.
        backwards: bool,
    },
    /// The password change is written (`ok`), or could not be.
    PasswordSet { by: ConnId, req_id: Option<ReqId>, room: String, hash: Option<Arc<str>>, ok: bool },
}

impl StoreReply {
    /// The one connection this reply is for, if it is for one.
    pub fn conn_id(&self) -> Option<ConnId> {
        match self {
            StoreReply::Appended(_) | StoreReply::Failed(_) => None,
            StoreReply::Joined { conn_id, .. } | StoreReply::History { conn_id, .. } => Some(*conn_id),
            StoreReply::PasswordSet { by, .. } => Some(*by),
        }
    }
}

/// A cheap, cloneable way to reach the store.
#[derive(Clone)]
pub struct StoreHandle {
    tx: mpsc::Sender<StoreCmd>,
    pub epoch: Arc<str>,
    /// False while writes fail (`/healthz` answers 503).
    pub healthy: Arc<AtomicBool>,
}

impl StoreHandle {
    /// Start the store task with `backend`. Replies go to `replies` (the hub's).
    pub fn spawn<S: ChatStore>(backend: S, retention: Retention, replies: mpsc::UnboundedSender<StoreReply>) -> StoreHandle {
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        let healthy = Arc::new(AtomicBool::new(true));
        let epoch: Arc<str> = backend.epoch().into();
        // Its own thread and runtime: under load the server's runtime has a thousand
        // connection tasks queued, and a store task among them would wait behind all of
        // them at every `.await` of a batch (measured: a third less throughput).
        let task = run(backend, rx, replies, retention, healthy.clone());
        if let Err(e) = crate::server::runtime::spawn_thread("noom-store", task) {
            tracing::error!("chat store thread: {e}");
            healthy.store(false, Ordering::Relaxed);
        }
        StoreHandle { tx, epoch, healthy }
    }

    /// A store in memory that keeps everything (tests, throwaway servers), and where its
    /// replies arrive.
    pub fn in_memory() -> (StoreHandle, mpsc::UnboundedReceiver<StoreReply>) {
        let (replies_tx, replies) = mpsc::unbounded_channel();
        let keep_all = Retention { days: 0, max_per_room: 0 };
        (StoreHandle::spawn(MemoryStore::default(), keep_all, replies_tx), replies)
    }

    /// Queue a command without waiting; gives it back if the store is too far behind.
    pub fn try_send(&self, cmd: StoreCmd) -> Result<(), StoreCmd> {
        self.tx.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(c) | mpsc::error::TrySendError::Closed(c) => c,
        })
    }

    /// Wait until everything queued so far is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(StoreCmd::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Writes succeed, and the store's thread still runs.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && !self.tx.is_closed()
    }
}

async fn run<S: ChatStore>(
    mut store: S,
    mut rx: mpsc::Receiver<StoreCmd>,
    replies: mpsc::UnboundedSender<StoreReply>,
    retention: Retention,
    healthy: Arc<AtomicBool>,
) {
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    let mut queue = Vec::with_capacity(MAX_BATCH);
    let mut recent = Recent::default();
    loop {
        tokio::select! {
            n = rx.recv_many(&mut queue, MAX_BATCH) => {
                if n == 0 {
                    break;
                }
                let mut cmds = std::mem::take(&mut queue).into_iter().peekable();
                while let Some(cmd) = cmds.next() {
                    match cmd {
                        StoreCmd::Append { conn_id, req_id, message } => {
                            // Group commit: this and every append queued right behind it.
                            let mut batch = vec![(conn_id, req_id, message)];
                            while let Some(StoreCmd::Append { .. }) = cmds.peek() {
                                if let Some(StoreCmd::Append { conn_id, req_id, message }) = cmds.next() {
                                    batch.push((conn_id, req_id, message));
                                }
                            }
                            append(&mut store, &mut recent, batch, &replies, &healthy).await;
                        }
                        StoreCmd::Join { conn_id, room, since } => {
                            let reply = read_join(&mut store, &mut recent, conn_id, room, since).await;
                            let _ = replies.send(reply);
                        }
                        StoreCmd::History { conn_id, req_id, room, before, after, limit } => {
                            let (result, backwards) = match (after, before) {
                                (Some(after), _) => (store.after(&room, after, limit).await, false),
                                (None, before) => (store.before(&room, before.unwrap_or(u64::MAX), limit).await, true),
                            };
                            let result = result.map(|p| (p.messages, p.more)).map_err(|e| {
                                tracing::error!(%room, "history read failed: {e}");
                            });
                            let _ = replies.send(StoreReply::History { conn_id, req_id, room, result, backwards });
                        }
                        StoreCmd::SetPassword { by, req_id, room, hash } => {
                            let ok = match store.set_password(&room, hash.as_deref()).await {
                                Ok(()) => true,
                                Err(e) => {
                                    tracing::error!(%room, "room password not saved: {e}");
                                    false
                                }
                            };
                            let _ = replies.send(StoreReply::PasswordSet { by, req_id, room, hash, ok });
                        }
                        StoreCmd::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            }
            _ = prune.tick() => {
                let now = crate::server::wire::now_ms();
                let keep_after = (retention.days > 0).then(|| now.saturating_sub(retention.days as u64 * 24 * 3600 * 1000));
                let max = (retention.max_per_room > 0).then_some(retention.max_per_room);
                match store.prune(keep_after, max, now.saturating_sub(DEDUP_KEEP_MS)).await {
                    Ok(0) => {}
                    Ok(n) => {
                        recent.clear();
                        tracing::info!(deleted = n, "history retention");
                    }
                    Err(e) => tracing::error!("history retention failed: {e}"),
                }
            }
        }
    }
    tracing::debug!("store stopped");
}

async fn append<S: ChatStore>(
    store: &mut S,
    recent: &mut Recent,
    batch: Vec<(ConnId, Option<ReqId>, NewMessage)>,
    replies: &mpsc::UnboundedSender<StoreReply>,
    healthy: &AtomicBool,
) {
    let messages: Vec<NewMessage> = batch.iter().map(|(_, _, m)| m.clone()).collect();
    let started = std::time::Instant::now();
    let result = store.append(&messages).await;
    metrics::histogram!("noom_store_write_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("noom_store_batch_size").record(messages.len() as f64);
    match result {
        Ok(stored) => {
            if !healthy.swap(true, Ordering::Relaxed) {
                tracing::info!("chat store writes again");
            }
            recent.appended(&stored);
            let out = batch.into_iter().zip(stored).map(|((c, r, _), a)| (c, r, a)).collect();
            let _ = replies.send(StoreReply::Appended(out));
        }
        Err(e) => {
            // Said when it starts; while it lasts, /healthz says it (no log line per batch).
            if healthy.swap(false, Ordering::Relaxed) {
                tracing::error!(messages = batch.len(), "chat store write failed: {e}");
            } else {
                tracing::debug!(messages = batch.len(), "chat store write failed again: {e}");
            }
            let _ = replies.send(StoreReply::Failed(batch.into_iter().map(|(c, r, _)| (c, r)).collect()));
        }
    }
}

/// History for someone entering a room: what they missed since `since`, else the recent
/// messages.
async fn read_join<S: ChatStore>(
    store: &mut S,
    recent: &mut Recent,
    conn_id: ConnId,
    room: String,
    since: Option<u64>,
) -> StoreReply {
    use crate::limits::{HISTORY_LEN, RESUME_PAGE};
    if let Some((history, earlier, more)) = recent.join(&room, since) {
        return StoreReply::Joined { conn_id, room, history, earlier, more, failed: false };
    }
    let read = async {
        match since {
            Some(since) => {
                let page = store.after(&room, since, RESUME_PAGE).await?;
                let first = page.messages.first().map_or(since + 1, |m| m.seq);
                let earlier = first > 1 && !store.before(&room, first, 1).await?.messages.is_empty();
                Ok::<_, StoreError>((page.messages, earlier, page.more))
            }
            None => {
                let page = store.before(&room, u64::MAX, HISTORY_LEN).await?;
                Ok((page.messages, page.more, false))
            }
        }
    };
    match read.await {
        Ok((history, earlier, more)) => {
            if since.is_none() {
                recent.fill(&room, &history, earlier);
            }
            StoreReply::Joined { conn_id, room, history, earlier, more, failed: false }
        }
        Err(e) => {
            tracing::error!(%room, "history read failed: {e}");
            StoreReply::Joined { conn_id, room, history: Vec::new(), earlier: false, more: false, failed: true }
        }
    }
}

#[cfg(test)]
mod tests;
