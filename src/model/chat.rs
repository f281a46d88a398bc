//! The chat log: stored messages in seq order, my pending lines after them, notices where
//! they happened.
//!
//! Why pending lines carry a `client_msg_id`: a line is sent again after a reconnect, a
//! lag or a refusal for now (busy, store failing), and the server stores it once whatever
//! happened to the last try. Until acked it is also kept in the browser (the outbox), so a
//! reload does not lose it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::protocol::{ChatMessage, ClientMsg, ErrorCode, ReqId};

use super::{ClientState, Effect, Notice, Place};

/// A chat message typed but not yet acknowledged by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsent {
    pub client_msg_id: String,
    pub text: String,
}

/// One chat message in the log. Own messages start pending (`id == None`) and get their
/// server id, sequence number and time from the server's ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    pub key: u64,
    pub id: Option<u64>,
    /// The message's place in its room; the log is kept in this order.
    pub seq: Option<u64>,
    pub req_id: Option<ReqId>,
    /// Mine, not acked yet: the id that makes resending it harmless.
    pub client_msg_id: Option<String>,
    /// Mine, refused for now (server busy, store failing): send again at the next retry.
    pub retry: bool,
    pub mine: bool,
    pub nickname: String,
    pub text: String,
    pub ts: Option<u64>,
    /// Why the server refused it, if it did (its words).
    pub failed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    Notice { key: u64, notice: Notice },
    Chat(ChatLine),
}

impl LogEntry {
    /// Changes whenever the entry's rendering must change (used as the `<For>` key).
    pub fn render_key(&self) -> (u64, bool, bool) {
        match self {
            LogEntry::Notice { key, .. } => (*key, false, false),
            LogEntry::Chat(line) => (line.key, line.id.is_some(), line.failed.is_some()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatState {
    /// Shared, not copied, when the state is cloned: the app clones the state before each
    /// input to see what changed, and most inputs (signalling, speaking, ticks) leave the log
    /// alone, so they cost a reference count instead of a copy of every line, and the
    /// comparison afterwards is one pointer check. Changed through [`ChatState::log_mut`].
    pub log: Arc<Vec<LogEntry>>,
    /// Older messages than the first in the log are stored ("Load earlier messages").
    pub earlier: bool,
    /// A page of older messages was asked for and has not come yet.
    pub loading_earlier: bool,
    /// The chat database the log's seqs come from (`joined.epoch`).
    pub epoch: Option<String>,
}

impl ChatState {
    /// The log, to change (copied first only if a clone of the state still shares it).
    pub(crate) fn log_mut(&mut self) -> &mut Vec<LogEntry> {
        Arc::make_mut(&mut self.log)
    }

    /// The highest seq in the log: what a reconnect resumes from.
    pub fn last_seq(&self) -> Option<u64> {
        self.log.iter().filter_map(seq_of).max()
    }

    fn first_seq(&self) -> Option<u64> {
        self.log.iter().find_map(seq_of)
    }

    /// My lines not acked yet, as the browser keeps them across reloads.
    pub fn unsent(&self) -> Vec<Unsent> {
        self.log
            .iter()
            .filter_map(|e| match e {
                LogEntry::Chat(l) if l.id.is_none() && l.failed.is_none() => {
                    Some(Unsent { client_msg_id: l.client_msg_id.clone()?, text: l.text.clone() })
                }
                _ => None,
            })
            .collect()
    }

    /// The acked message `m` for my line `req_id`: the line takes its id, seq and time in
    /// place (or goes, if the history of a rejoin brought the message first).
    pub(crate) fn acked(&mut self, req_id: ReqId, m: ChatMessage) {
        let shown = self.log.iter().any(|e| matches!(e, LogEntry::Chat(l) if l.id == Some(m.id)));
        let pending = |e: &LogEntry| matches!(e, LogEntry::Chat(l) if l.req_id == Some(req_id) && l.id.is_none());
        if shown {
            self.log_mut().retain(|e| !pending(e));
        }
        for e in self.log_mut().iter_mut() {
            if let LogEntry::Chat(l) = e {
                if l.req_id == Some(req_id) && l.id.is_none() {
                    l.id = Some(m.id);
                    l.seq = Some(m.seq);
                    l.ts = Some(m.ts);
                    l.nickname = m.nickname.clone();
                }
            }
        }
    }

    /// A refusal for my line `req_id`: kept for a retry, or failed for good. Whether it
    /// was a chat line's.
    pub(crate) fn refused(&mut self, req_id: ReqId, code: ErrorCode, message: &str) -> bool {
        // Busy or a store that cannot write now: the message stays pending and goes
        // again; anything else (too long, not in a room) will not get better.
        let retry = matches!(code, ErrorCode::StoreUnavailable | ErrorCode::RateLimited | ErrorCode::Overloaded);
        let mut was_chat = false;
        let mine = |e: &LogEntry| matches!(e, LogEntry::Chat(l) if l.req_id == Some(req_id) && l.id.is_none());
        if !self.log.iter().any(mine) {
            return false;
        }
        for e in self.log_mut().iter_mut() {
            if let LogEntry::Chat(l) = e {
                if l.req_id == Some(req_id) && l.id.is_none() {
                    if retry {
                        l.retry = true;
                    } else {
                        l.failed = Some(message.to_string());
                    }
                    was_chat = true;
                }
            }
        }
        was_chat
    }
}

fn seq_of(e: &LogEntry) -> Option<u64> {
    match e {
        LogEntry::Chat(l) => l.seq,
        _ => None,
    }
}

impl ClientState {
    fn pending_line(&mut self, client_msg_id: String, text: String) -> LogEntry {
        let key = self.next_key();
        LogEntry::Chat(ChatLine {
            key,
            id: None,
            seq: None,
            req_id: Some(key),
            client_msg_id: Some(client_msg_id),
            retry: false,
            mine: true,
            nickname: self.conn.nickname.clone(),
            text,
            ts: None,
            failed: None,
        })
    }

    /// Keep my unacked lines for my room in the browser.
    pub(crate) fn save_outbox(&self, fx: &mut Vec<Effect>) {
        if let Place::Room(room) = &self.place {
            fx.push(Effect::SaveOutbox { room: room.clone(), unsent: self.chat.unsent() });
        }
    }

    /// Send again my pending messages that `which` picks (each with its own
    /// `client_msg_id`, so the server stores it once whatever happened to the last try).
    pub(crate) fn resend(&mut self, which: impl Fn(&ChatLine) -> bool, fx: &mut Vec<Effect>) {
        let mut again = Vec::new();
        let due = |l: &ChatLine| l.mine && l.id.is_none() && l.failed.is_none() && which(l);
        if !self.chat.log.iter().any(|e| matches!(e, LogEntry::Chat(l) if due(l))) {
            return;
        }
        for e in self.chat.log_mut().iter_mut() {
            if let LogEntry::Chat(l) = e {
                if due(l) {
                    l.retry = false;
                    again.push(ClientMsg::Chat { req_id: l.req_id, text: l.text.clone(), client_msg_id: l.client_msg_id.clone() });
                }
            }
        }
        for msg in again {
            self.send(fx, msg);
        }
    }

    pub(crate) fn send_chat(&mut self, text: String, client_msg_id: String, fx: &mut Vec<Effect>) {
        let line = self.pending_line(client_msg_id.clone(), text.clone());
        let req_id = match &line {
            LogEntry::Chat(l) => l.req_id,
            LogEntry::Notice { .. } => None,
        };
        self.chat.log_mut().push(line);
        self.save_outbox(fx);
        self.send(fx, ClientMsg::Chat { req_id, text, client_msg_id: Some(client_msg_id) });
    }

    /// The outbox kept for `room` came back: its lines show as pending and go again.
    pub(crate) fn restore_outbox(&mut self, room: &str, unsent: Vec<Unsent>, fx: &mut Vec<Effect>) {
        if self.place != Place::Room(room.to_string()) {
            return;
        }
        for u in unsent {
            let line = self.pending_line(u.client_msg_id, u.text);
            self.chat.log_mut().push(line);
        }
        self.resend(|_| true, fx);
    }

    pub(crate) fn load_earlier(&mut self, fx: &mut Vec<Effect>) {
        let Place::Room(room) = self.place.clone() else { return };
        if self.chat.loading_earlier {
            return;
        }
        let before = self.chat.first_seq();
        self.chat.loading_earlier = true;
        self.send(fx, ClientMsg::History { req_id: None, room, before: before.or(Some(u64::MAX)), after: None, limit: None });
    }

    /// Put a stored message in its place in the log (by seq), once.
    pub(crate) fn push_message(&mut self, m: ChatMessage) {
        let key = self.next_key();
        let mine = Some(m.from) == self.conn.me;
        insert_by_seq(self.chat.log_mut(), key, m, mine);
    }
}

/// Insert stored message `m` where its seq puts it (after every line with a lower seq,
/// before any with a higher one; notices keep their places), unless it is there already.
fn insert_by_seq(log: &mut Vec<LogEntry>, key: u64, m: ChatMessage, mine: bool) {
    if log.iter().any(|e| matches!(e, LogEntry::Chat(l) if l.id == Some(m.id) || l.seq == Some(m.seq))) {
        return;
    }
    let later = log.iter().position(|e| matches!(e, LogEntry::Chat(l) if l.seq.is_some_and(|s| s > m.seq)));
    let line = LogEntry::Chat(ChatLine {
        key,
        id: Some(m.id),
        seq: Some(m.seq),
        req_id: None,
        client_msg_id: None,
        retry: false,
        mine,
        nickname: m.nickname,
        text: m.text,
        ts: Some(m.ts),
        failed: None,
    });
    match later {
        Some(i) => log.insert(i, line),
        None => {
            // Newest so far: before my own pending lines (they are not stored yet), after
            // everything else.
            let pending_tail = log.iter().rev().take_while(|e| matches!(e, LogEntry::Chat(l) if l.id.is_none())).count();
            log.insert(log.len() - pending_tail, line);
        }
    }
}
