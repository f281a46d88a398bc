//! A chat store in memory (`--store memory`): the same rules as SQLite (numbering, dedup,
//! paging, retention) with nothing on disk. History ends with the process; benchmarks use
//! it to show what durability costs.

use std::collections::{HashMap, VecDeque};

use super::backend::{Appended, ChatStore, NewMessage, Page, StoreError};
use crate::protocol::ChatMessage;

#[derive(Default)]
struct Room {
    last_seq: u64,
    /// Oldest first, seqs contiguous (retention only takes from the front), each with its
    /// `client_msg_id`.
    messages: VecDeque<(ChatMessage, Option<String>)>,
    by_client_id: HashMap<String, u64>,
}

pub struct MemoryStore {
    rooms: HashMap<String, Room>,
    passwords: HashMap<String, String>,
    next_id: u64,
    epoch: String,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore { rooms: HashMap::new(), passwords: HashMap::new(), next_id: 1, epoch: uuid::Uuid::new_v4().simple().to_string() }
    }
}

impl ChatStore for MemoryStore {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    async fn append(&mut self, batch: &[NewMessage]) -> Result<Vec<Appended>, StoreError> {
        let mut out = Vec::with_capacity(batch.len());
        for m in batch {
            let room = self.rooms.entry(m.room.clone()).or_default();
            let existing = m.client_msg_id.as_ref().and_then(|cid| room.by_client_id.get(cid)).and_then(|seq| {
                let first = room.messages.front()?.0.seq;
                room.messages.get(seq.checked_sub(first)? as usize).map(|(m, _)| m.clone())
            });
            if let Some(message) = existing {
                out.push(Appended { message, duplicate: true });
                continue;
            }
            room.last_seq += 1;
            let message = ChatMessage {
                id: self.next_id,
                room: m.room.clone(),
                seq: room.last_seq,
                ts: m.ts,
                from: m.from,
                nickname: m.nickname.clone(),
                text: m.text.clone(),
            };
            self.next_id += 1;
            if let Some(cid) = &m.client_msg_id {
                room.by_client_id.insert(cid.clone(), message.seq);
            }
            room.messages.push_back((message.clone(), m.client_msg_id.clone()));
            out.push(Appended { message, duplicate: false });
        }
        Ok(out)
    }

    async fn after(&mut self, room: &str, seq: u64, limit: usize) -> Result<Page, StoreError> {
        let Some(r) = self.rooms.get(room) else { return Ok(Page::default()) };
        let mut it = r.messages.iter().map(|(m, _)| m).filter(|m| m.seq > seq);
        let messages: Vec<ChatMessage> = it.by_ref().take(limit).cloned().collect();
        Ok(Page { messages, more: it.next().is_some() })
    }

    async fn before(&mut self, room: &str, seq: u64, limit: usize) -> Result<Page, StoreError> {
        let Some(r) = self.rooms.get(room) else { return Ok(Page::default()) };
        let mut it = r.messages.iter().rev().map(|(m, _)| m).filter(|m| m.seq < seq);
        let mut messages: Vec<ChatMessage> = it.by_ref().take(limit).cloned().collect();
        messages.reverse();
        Ok(Page { messages, more: it.next().is_some() })
    }

    async fn set_password(&mut self, room: &str, hash: Option<&str>) -> Result<(), StoreError> {
        match hash {
            Some(h) => self.passwords.insert(room.to_string(), h.to_string()),
            None => self.passwords.remove(room),
        };
        Ok(())
    }

    async fn passwords(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self.passwords.iter().map(|(r, h)| (r.clone(), h.clone())).collect())
    }

    async fn prune(
        &mut self,
        keep_after_ms: Option<u64>,
        max_per_room: Option<u64>,
        protect_after_ms: u64,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for room in self.rooms.values_mut() {
            while let Some((m, _)) = room.messages.front() {
                let too_old = keep_after_ms.is_some_and(|t| m.ts < t);
                let too_many =
                    max_per_room.is_some_and(|max| m.seq + max <= room.last_seq && m.ts < protect_after_ms);
                if !(too_old || too_many) {
                    break;
                }
                if let Some((_, Some(cid))) = room.messages.pop_front() {
                    room.by_client_id.remove(&cid);
                }
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}
