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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Row, Sqlite, SqliteConnection};

use super::backend::{Appended, ChatStore, NewMessage, Page, StoreError};
use crate::protocol::ChatMessage;

/// The database file inside the data directory.
pub const DB_FILE: &str = "noom.db";

pub struct SqliteStore {
    conn: SqliteConnection,
    epoch: String,
    path: PathBuf,
    /// `rooms.last_seq` of the rooms written to since start-up, as committed. This store is
    /// the database's only writer, so the copy stays true, and a message costs one
    /// statement instead of three (read the seq, bump it, insert).
    last_seq: HashMap<String, u64>,
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
        Ok(SqliteStore { conn, epoch, path, last_seq: HashMap::new() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Rows per multi-row statement: 7 parameters each, well under SQLite's 32 766.
const ROWS_PER_STATEMENT: usize = 1000;

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

    /// A batch costs a handful of statements whatever its size: one lookup of resends,
    /// one multi-row insert per 1 000 messages, one upsert of the rooms' last seqs, and
    /// the commit (the one `fsync`).
    async fn append(&mut self, batch: &[NewMessage]) -> Result<Vec<Appended>, StoreError> {
        // IMMEDIATE: take the write lock first (waiting up to the busy timeout for another
        // writer), rather than fail on upgrading a read lock halfway through the batch.
        let mut tx = self.conn.begin_with("BEGIN IMMEDIATE").await?;

        // Resends of messages stored earlier.
        let mut stored: HashMap<(&str, &str), ChatMessage> = HashMap::new();
        let cids: Vec<&str> = batch.iter().filter_map(|m| m.client_msg_id.as_deref()).collect();
        for chunk in cids.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS}, client_msg_id FROM messages WHERE client_msg_id IN ("));
            let mut list = q.separated(", ");
            for cid in chunk {
                list.push_bind(*cid);
            }
            q.push(")");
            for row in q.build().fetch_all(&mut *tx).await? {
                let cid: String = row.try_get("client_msg_id")?;
                let m = message(&row)?;
                if let Some(b) = batch.iter().find(|b| b.room == m.room && b.client_msg_id.as_deref() == Some(&cid)) {
                    stored.insert((b.room.as_str(), b.client_msg_id.as_deref().unwrap_or_default()), m);
                }
            }
        }

        // Number the new ones; a client id twice in this batch is one message.
        let mut next: HashMap<&str, u64> = HashMap::new();
        let mut plan: Vec<(usize, u64)> = Vec::new(); // (index in batch, seq) of new messages
        let mut first_of: HashMap<(&str, &str), usize> = HashMap::new(); // cid → index in plan
        let mut outcome: Vec<Result<usize, (&str, &str)>> = Vec::with_capacity(batch.len());
        for (i, m) in batch.iter().enumerate() {
            if let Some(cid) = m.client_msg_id.as_deref() {
                let key = (m.room.as_str(), cid);
                if stored.contains_key(&key) {
                    outcome.push(Err(key));
                    continue;
                }
                if let Some(&p) = first_of.get(&key) {
                    outcome.push(Ok(p));
                    continue;
                }
                first_of.insert(key, plan.len());
            }
            let last = match next.get(m.room.as_str()).or_else(|| self.last_seq.get(&m.room)) {
                Some(last) => *last,
                None => sqlx::query_scalar::<_, i64>("SELECT last_seq FROM rooms WHERE name = ?")
                    .bind(&m.room)
                    .fetch_optional(&mut *tx)
                    .await?
                    .unwrap_or(0) as u64,
            };
            next.insert(&m.room, last + 1);
            outcome.push(Ok(plan.len()));
            plan.push((i, last + 1));
        }

        // Insert them; ids come back by (room, seq), which is unique.
        let mut ids: HashMap<(String, u64), u64> = HashMap::new();
        for chunk in plan.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO messages (room, seq, ts, conn_id, nickname, text, client_msg_id) ",
            );
            q.push_values(chunk, |mut row, (i, seq)| {
                let m = &batch[*i];
                row.push_bind(&m.room)
                    .push_bind(*seq as i64)
                    .push_bind(m.ts as i64)
                    .push_bind(m.from as i64)
                    .push_bind(&m.nickname)
                    .push_bind(&m.text)
                    .push_bind(&m.client_msg_id);
            });
            q.push(" RETURNING id, room, seq");
            for row in q.build().fetch_all(&mut *tx).await? {
                let seq: i64 = row.try_get("seq")?;
                let id: i64 = row.try_get("id")?;
                ids.insert((row.try_get("room")?, seq as u64), id as u64);
            }
        }
        if !next.is_empty() {
            let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO rooms (name, last_seq) ");
            q.push_values(&next, |mut row, (room, last)| {
                row.push_bind(*room).push_bind(*last as i64);
            });
            q.push(" ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq");
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        for (room, last) in next {
            self.last_seq.insert(room.to_string(), last);
        }

        let mut out = Vec::with_capacity(batch.len());
        for (i, o) in outcome.into_iter().enumerate() {
            out.push(match o {
                Err(key) => Appended { message: stored[&key].clone(), duplicate: true },
                Ok(p) => {
                    let (first, seq) = plan[p];
                    let m = &batch[first];
                    let id = ids.get(&(m.room.clone(), seq)).copied().ok_or_else(|| {
                        StoreError::Db(sqlx::Error::Protocol(format!("no id came back for {} #{seq}", m.room)))
                    })?;
                    let message = ChatMessage {
                        id,
                        room: m.room.clone(),
                        seq,
                        ts: m.ts,
                        from: m.from,
                        nickname: m.nickname.clone(),
                        text: m.text.clone(),
                    };
                    Appended { message, duplicate: first != i }
                }
            });
        }
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

    async fn set_password(&mut self, room: &str, hash: Option<&str>) -> Result<(), StoreError> {
        // A room nobody has written in yet gets its row now (seqs start from 0 as ever).
        sqlx::query(
            "INSERT INTO rooms (name, last_seq, password_hash) VALUES (?, 0, ?) \
             ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash",
        )
        .bind(room)
        .bind(hash)
        .execute(&mut self.conn)
        .await?;
        Ok(())
    }

    async fn passwords(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT name, password_hash FROM rooms WHERE password_hash IS NOT NULL")
            .fetch_all(&mut self.conn)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("name")?, r.try_get("password_hash")?))).collect()
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
