//! Chat and history: the core's side of the store.
//!
//! Why a message goes to the store first: it is acked and broadcast once it is written
//! (`StoreReply::Appended`), never before, so what a client was told is sent is on disk.
//! The core never waits for the disk: it asks (`Effect::Store`) and goes on; the answer is
//! another input. A store whose queue is full refuses at once (`Input::StoreRefused`), and
//! the asker is told `store_unavailable` (a chat client sends the message again later).

use super::{Core, Effect};
use crate::limits::MAX_HISTORY_PAGE;
use crate::protocol::{ConnId, ErrorCode, ReqId, ServerMsg};
use crate::server::store::{Appended, NewMessage, StoreCmd, StoreReply};

impl Core {
    pub(super) fn chat(&mut self, conn_id: ConnId, req_id: Option<ReqId>, text: String, client_msg_id: Option<String>) {
        let conn = &self.conns[&conn_id];
        let Some(room) = conn.room.clone() else {
            self.error(conn_id, req_id, ErrorCode::NotInRoom, "join a room before sending messages");
            return;
        };
        let ts = self.now.unix_ms;
        let message = NewMessage { room, from: conn_id, nickname: conn.nickname.clone(), text, client_msg_id, ts };
        self.fx.push(Effect::Store(StoreCmd::Append { conn_id, req_id, message }));
    }

    pub(super) fn history(
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
        self.fx.push(Effect::Store(StoreCmd::History { conn_id, req_id, room, before, after, limit }));
    }

    /// The store finished something.
    pub(super) fn store_reply(&mut self, reply: StoreReply) {
        match reply {
            StoreReply::Appended(stored) => {
                // Each message of a group commit on its own: they are all on disk, so one
                // that breaks an invariant must not cost the others their ack and broadcast.
                for (conn_id, req_id, appended) in stored {
                    let mark = self.fx.mark();
                    let one = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        self.appended(conn_id, req_id, appended);
                    }));
                    if one.is_err() {
                        tracing::error!(conn_id, "hub invariant broken delivering a stored message: skipped");
                        self.fx.truncate(mark);
                    }
                }
            }
            StoreReply::Failed(refused) => {
                for (conn_id, req_id) in refused {
                    let why = "the message could not be saved; it will be sent again";
                    self.error(conn_id, req_id, ErrorCode::StoreUnavailable, why);
                }
            }
            StoreReply::Joined { conn_id, room, history, earlier, more, failed } => {
                self.history_read(conn_id, room, history, (earlier, more), failed)
            }
            StoreReply::History { conn_id, req_id, room, result, backwards } => match result {
                Ok((messages, more)) => self.send(conn_id, ServerMsg::History { req_id, room, messages, more, backwards }),
                Err(()) => self.error(conn_id, req_id, ErrorCode::StoreUnavailable, "history could not be read"),
            },
            StoreReply::PasswordSet { by, req_id, room, hash, ok } => self.password_saved(by, req_id, room, hash, ok),
        }
    }

    /// One stored message: broadcast to its room and acked to its sender.
    fn appended(&mut self, conn_id: ConnId, req_id: Option<ReqId>, Appended { message, duplicate }: Appended) {
        if !duplicate {
            // A sender that asked for an ack gets the ack (carrying the stored message)
            // instead of the broadcast, so it can mark its own pending message as accepted.
            let except = req_id.map(|_| conn_id);
            let notice = ServerMsg::Message { message: message.clone() };
            self.broadcast_seq(&message.room, notice, Some(message.seq), except);
        }
        self.ack(conn_id, req_id, Some(message));
    }

    /// The store's queue was full: `cmd` was not taken.
    pub(super) fn store_refused(&mut self, cmd: StoreCmd) {
        match cmd {
            StoreCmd::Append { conn_id, req_id, .. } => {
                let why = "the server is too busy to save messages; try again";
                self.error(conn_id, req_id, ErrorCode::StoreUnavailable, why);
            }
            // As if read and failed: `joined` with no history, then the error.
            StoreCmd::Join { conn_id, room, .. } => self.history_read(conn_id, room, Vec::new(), (false, false), true),
            StoreCmd::History { conn_id, req_id, .. } => {
                let why = "the server is too busy to read history; try again";
                self.error(conn_id, req_id, ErrorCode::StoreUnavailable, why);
            }
            StoreCmd::SetPassword { by, req_id, .. } => {
                let why = "The server is too busy to save the password; try again.";
                self.error(by, req_id, ErrorCode::StoreUnavailable, why);
            }
            StoreCmd::Flush(_) => {}
        }
    }
}
