//! The default chat store: SQLite embedded in the binary (sqlx's SQLite driver), one file
//! in `--data-dir`. Nothing to install or start.
//!
//! Why these settings: WAL lets a read run beside a write and makes a commit one
//! sequential append; `synchronous = FULL` makes each commit reach the disk before the
//! store replies (the ack promise holds across a power cut, not only a crash), and group
//! commit (see `mod.rs`) pays that `fsync` once per batch rather than once per message.
//! Queries are plain `sqlx::query` calls, checked by the tests rather than at compile
//! time, so building needs no database; the schema is versioned sqlx migrations
//! (`migrations/`), embedded in the binary and applied at start-up.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

use super::{Appended, ChatStore, NewMessage, Page, StoreError};
use crate::protocol::ChatMessage;

/// The database file inside the data directory.
pub const DB_FILE: &str = "noom.db";

pub struct SqliteStore {
    conn: SqliteConnection,
    epoch: String,
    path: PathBuf,
}

impl SqliteStore {
    /// Open (creating if missing) the database in `data_dir`, migrate it, and read its
    /// epoch. The error names the path and says what went wrong.
    pub async fn open(data_dir: &Path) -> Result<SqliteStore, String> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| format!("cannot create the data directory {}: {e}", data_dir.display()))?;
        let path = data_dir.join(DB_FILE);
        let fail = |e: &dyn std::fmt::Display| format!("cannot open the chat database {}: {e}", path.display());
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|e| fail(&e))?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            .disable_statement_logging();
        let mut conn = options.connect().await.map_err(|e| fail(&e))?;
        sqlx::migrate!("./migrations").run_direct(&mut conn).await.map_err(|e| fail(&e))?;
        // The epoch is made once, by whichever start-up finds none.
        let fresh = uuid::Uuid::new_v4().simple().to_string();
        sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)")
            .bind(&fresh)
            .execute(&mut conn)
            .await
            .map_err(|e| fail(&e))?;
        let epoch: String = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'epoch'")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| fail(&e))?;
        Ok(SqliteStore { conn, epoch, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

const COLUMNS: &str = "id, room, seq, ts, conn_id, nickname, text";

fn message(row: &SqliteRow) -> Result<ChatMessage, sqlx::Error> {
    Ok(ChatMessage {
        id: row.try_get::<i64, _>("id")? as u64,
        room: row.try_get("room")?,
        seq: row.try_get::<i64, _>("seq")? as u64,
        ts: row.try_get::<i64, _>("ts")? as u64,
        from: row.try_get::<i64, _>("conn_id")? as u64,
        nickname: row.try_get("nickname")?,
        text: row.try_get("text")?,
    })
}

/// SQLite integers are signed: clamp "no bound" to the largest one.
fn seq_arg(seq: u64) -> i64 {
    seq.min(i64::MAX as u64) as i64
}

impl ChatStore for SqliteStore {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    async fn append(&mut self, batch: &[NewMessage]) -> Result<Vec<Appended>, StoreError> {
        // IMMEDIATE: take the write lock first (waiting up to the busy timeout for another
        // writer), rather than fail on upgrading a read lock halfway through the batch.
        let mut tx = self.conn.begin_with("BEGIN IMMEDIATE").await?;
        let mut out = Vec::with_capacity(batch.len());
        for m in batch {
            if let Some(cid) = &m.client_msg_id {
                let sql = format!("SELECT {COLUMNS} FROM messages WHERE room = ? AND client_msg_id = ?");
                let found = sqlx::query(&sql).bind(&m.room).bind(cid).fetch_optional(&mut *tx).await?;
                if let Some(row) = found {
                    out.push(Appended { message: message(&row)?, duplicate: true });
                    continue;
                }
            }
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO rooms (name, last_seq) VALUES (?, 1) \
                 ON CONFLICT (name) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
            )
            .bind(&m.room)
            .fetch_one(&mut *tx)
            .await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO messages (room, seq, ts, conn_id, nickname, text, client_msg_id) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(&m.room)
            .bind(seq)
            .bind(m.ts as i64)
            .bind(m.from as i64)
            .bind(&m.nickname)
            .bind(&m.text)
            .bind(&m.client_msg_id)
            .fetch_one(&mut *tx)
            .await?;
            out.push(Appended {
                message: ChatMessage {
                    id: id as u64,
                    room: m.room.clone(),
                    seq: seq as u64,
                    ts: m.ts,
                    from: m.from,
                    nickname: m.nickname.clone(),
                    text: m.text.clone(),
                },
                duplicate: false,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn after(&mut self, room: &str, seq: u64, limit: usize) -> Result<Page, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM messages WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?");
        let rows =
            sqlx::query(&sql).bind(room).bind(seq_arg(seq)).bind(limit as i64 + 1).fetch_all(&mut self.conn).await?;
        let mut messages = rows.iter().map(message).collect::<Result<Vec<_>, _>>()?;
        let more = messages.len() > limit;
        messages.truncate(limit);
        Ok(Page { messages, more })
    }

    async fn before(&mut self, room: &str, seq: u64, limit: usize) -> Result<Page, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM messages WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?");
        let rows =
            sqlx::query(&sql).bind(room).bind(seq_arg(seq)).bind(limit as i64 + 1).fetch_all(&mut self.conn).await?;
        let mut messages = rows.iter().map(message).collect::<Result<Vec<_>, _>>()?;
        let more = messages.len() > limit;
        messages.truncate(limit);
        messages.reverse();
        Ok(Page { messages, more })
    }

    async fn prune(
        &mut self,
        keep_after_ms: Option<u64>,
        max_per_room: Option<u64>,
        protect_after_ms: u64,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        if let Some(t) = keep_after_ms {
            deleted += sqlx::query("DELETE FROM messages WHERE ts < ?")
                .bind(t as i64)
                .execute(&mut self.conn)
                .await?
                .rows_affected();
        }
        if let Some(max) = max_per_room {
            deleted += sqlx::query(
                "DELETE FROM messages WHERE ts < ? AND seq <= \
                 (SELECT r.last_seq - ? FROM rooms r WHERE r.name = messages.room)",
            )
            .bind(protect_after_ms as i64)
            .bind(max as i64)
            .execute(&mut self.conn)
            .await?
            .rows_affected();
        }
        Ok(deleted)
    }
}
