//! The newest messages of the rooms people are entering, kept by the store task.
//!
//! Why: every `join` needs its room's recent history, and in a join storm (10 000 people
//! into 100 rooms) that was 10 000 reads of the same 100 pages, each a round trip to
//! SQLite's worker thread. The store task is the only writer, so it can keep the newest
//! [`HISTORY_LEN`] messages of a room exactly up to date as it writes them: the first
//! join reads the disk, the rest are answered from here. Retention clears it (deleted
//! messages must not come back from memory).

use std::collections::{HashMap, VecDeque};

use super::backend::Appended;
use crate::limits::HISTORY_LEN;
use crate::protocol::ChatMessage;

/// Rooms kept at most (about 10 KB each); beyond, one is forgotten to make room.
const MAX_ROOMS: usize = 1024;

#[derive(Default)]
pub struct Recent {
    rooms: HashMap<String, Window>,
}

/// A room's newest messages, oldest first, and whether older ones are stored.
struct Window {
    messages: VecDeque<ChatMessage>,
    earlier: bool,
}

/// History for a join: the messages, whether older ones are stored, whether newer ones
/// did not fit.
pub type JoinHistory = (Vec<ChatMessage>, bool, bool);

impl Recent {
    /// Remember `room`'s newest messages as just read (at most [`HISTORY_LEN`], oldest
    /// first; `earlier` if older ones are stored).
    pub fn fill(&mut self, room: &str, messages: &[ChatMessage], earlier: bool) {
        if self.rooms.len() >= MAX_ROOMS && !self.rooms.contains_key(room) {
            if let Some(any) = self.rooms.keys().next().cloned() {
                self.rooms.remove(&any);
            }
        }
        let messages = messages.iter().cloned().collect();
        self.rooms.insert(room.to_string(), Window { messages, earlier });
    }

    /// Messages just stored: the windows of their rooms move on.
    pub fn appended(&mut self, stored: &[Appended]) {
        for a in stored.iter().filter(|a| !a.duplicate) {
            if let Some(w) = self.rooms.get_mut(&a.message.room) {
                w.messages.push_back(a.message.clone());
                if w.messages.len() > HISTORY_LEN {
                    w.messages.pop_front();
                    w.earlier = true;
                }
            }
        }
    }

    /// Retention deleted messages: forget everything.
    pub fn clear(&mut self) {
        self.rooms.clear();
    }

    /// The history for someone entering `room` (after `since`, else the newest messages),
    /// if the window holds all of it; None means read the disk.
    pub fn join(&self, room: &str, since: Option<u64>) -> Option<JoinHistory> {
        let w = self.rooms.get(room)?;
        let Some(since) = since else {
            return Some((w.messages.iter().cloned().collect(), w.earlier, false));
        };
        // Everything after `since` must be in the window.
        if w.messages.front().is_some_and(|m| m.seq > since + 1) || (w.messages.is_empty() && w.earlier) {
            return None;
        }
        let history: Vec<ChatMessage> = w.messages.iter().filter(|m| m.seq > since).cloned().collect();
        let first = history.first().map_or(since + 1, |m| m.seq);
        let before_first = w.earlier || w.messages.front().is_some_and(|m| m.seq < first);
        Some((history, first > 1 && before_first, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64) -> ChatMessage {
        ChatMessage { id: seq, room: "r".into(), seq, ts: seq, from: 1, nickname: "A".into(), text: format!("m{seq}") }
    }

    fn stored(seqs: std::ops::RangeInclusive<u64>) -> Vec<Appended> {
        seqs.map(|s| Appended { message: message(s), duplicate: false }).collect()
    }

    fn seqs(h: &JoinHistory) -> Vec<u64> {
        h.0.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn the_window_slides_and_answers_only_what_it_holds() {
        let mut recent = Recent::default();
        assert!(recent.join("r", None).is_none(), "an unknown room is read from the disk");
        recent.fill("r", &(1..=3).map(message).collect::<Vec<_>>(), false);
        recent.appended(&stored(4..=(HISTORY_LEN as u64 + 2)));
        let newest = recent.join("r", None).unwrap();
        assert_eq!(seqs(&newest).first(), Some(&3));
        assert_eq!((newest.0.len(), newest.1), (HISTORY_LEN, true), "slid past the oldest two");
        assert!(recent.join("r", Some(1)).is_none(), "seq 2 is no longer held: the disk");
        let resumed = recent.join("r", Some(2)).unwrap();
        assert_eq!((seqs(&resumed).first(), resumed.1), (Some(&3), true));
        let up_to_date = recent.join("r", Some(HISTORY_LEN as u64 + 2)).unwrap();
        assert!(up_to_date.0.is_empty() && up_to_date.1);
        // A resend stored earlier does not enter the window twice.
        recent.appended(&[Appended { message: message(HISTORY_LEN as u64 + 2), duplicate: true }]);
        assert_eq!(recent.join("r", None).unwrap().0.len(), HISTORY_LEN);
        recent.clear();
        assert!(recent.join("r", None).is_none());
    }
}
