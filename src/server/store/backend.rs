//! What a chat-store backend is: the [`ChatStore`] interface and the data it takes and
//! gives. `sqlite.rs` and `memory.rs` implement it; the store task (`mod.rs`) drives one.
//!
//! Why a file of its own: the backends and the window of recent messages need these types,
//! and none of them should need the task that owns them.

use std::future::Future;

use crate::protocol::{ChatMessage, ConnId};

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("schema migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A chat message on its way into the store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room: String,
    pub from: ConnId,
    pub nickname: String,
    pub text: String,
    pub client_msg_id: Option<String>,
    /// Server time when the hub accepted it, ms since the Unix epoch.
    pub ts: u64,
}

/// A stored message, and whether it was stored earlier (a resend of the same
/// `client_msg_id`) rather than now.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    pub message: ChatMessage,
    pub duplicate: bool,
}

/// Some of a room's messages, oldest first, and whether more lie beyond them in the
/// direction read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub messages: Vec<ChatMessage>,
    pub more: bool,
}

/// How long history is kept (`--history-days`, `--history-max-per-room`; 0 keeps all).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub days: u32,
    pub max_per_room: u64,
}

/// What a chat store backend does. Every method is one unit of work the store task
/// awaits before the next, so a backend needs no locking of its own.
pub trait ChatStore: Send + 'static {
    /// Random, made when the database was created: a client that kept sequence numbers
    /// from another database (replaced, restored) must not trust them.
    fn epoch(&self) -> &str;
    /// Store `batch` in one transaction, in order, numbering each room's messages; a
    /// message whose `client_msg_id` is stored already comes back as that message.
    fn append(&mut self, batch: &[NewMessage]) -> impl Future<Output = Result<Vec<Appended>, StoreError>> + Send;
    /// Up to `limit` messages of `room` after `seq`, oldest first.
    fn after(&mut self, room: &str, seq: u64, limit: usize) -> impl Future<Output = Result<Page, StoreError>> + Send;
    /// The newest `limit` messages of `room` before `seq`, oldest first; `more` if older
    /// ones exist.
    fn before(&mut self, room: &str, seq: u64, limit: usize) -> impl Future<Output = Result<Page, StoreError>> + Send;
    /// Give `room` this password hash, or (None) take its password away. Kept with the
    /// room for good: retention deletes messages, never this.
    fn set_password(&mut self, room: &str, hash: Option<&str>) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Every room that has a password, with its hash (read once, at start-up).
    fn passwords(&mut self) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;
    /// Delete what retention says to (older than `keep_after_ms`, or beyond `max_per_room`
    /// in a room but not younger than `protect_after_ms`). Returns how many went.
    fn prune(
        &mut self,
        keep_after_ms: Option<u64>,
        max_per_room: Option<u64>,
        protect_after_ms: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
