//! Delivery: every connection's outbox, and what the hub sends into it.
//!
//! Why fan-out never blocks: frames are only ever `try_send`'d, so nobody waits for the
//! slowest member. A client whose outbox is full is *behind*, not gone (a burst, or this
//! server busy): it is skipped until its outbox drains ([`Delivery::ready`]), then the
//! core tells it `lagged` and catches it up from the stored history. Only a socket that
//! takes nothing at all for `--slow-client-secs` is dropped, by its own writer.
//!
//! Why frames are held for someone entering a room: `joined` carries the room's history,
//! read by the store while the room goes on. What the room sends meanwhile is held
//! ([`Delivery::hold`]) and sent after `joined` ([`Delivery::release`]), less the chat
//! messages the history already holds, so nobody gets a message twice or before its
//! context.
//!
//! Why this is apart from the core: it is about queues (their capacity, what is in them),
//! which the core knows nothing of; the core says *what* to send and *when to hold*, this
//! says whether it got out. It never blocks and never awaits, so the core's tests use it
//! as it is.

use std::collections::{HashMap, HashSet};

use tokio::sync::mpsc;

use super::core::{Effect, Effects};
use crate::protocol::ConnId;
use crate::server::wire::{encode, Frame};

/// Frames that may wait for one connection's socket before it counts as too slow.
pub const OUTBOX_CAPACITY: usize = 256;

struct Outbox {
    tx: mpsc::Sender<Frame>,
    /// Entering a room whose history the store is still reading: frames wait here.
    held: Option<Held>,
    /// The seq of the last chat message put in this outbox.
    delivered_seq: Option<u64>,
    /// It overflowed: nothing more is queued until it has drained.
    lagging: bool,
}

#[derive(Default)]
struct Held {
    /// Frames held back, with the seq of the chat messages among them.
    frames: Vec<(Option<u64>, Frame)>,
    /// More came than is held: after `joined`, it is caught up like one that fell behind.
    overflowed: bool,
}

#[derive(Default)]
pub struct Delivery {
    outboxes: HashMap<ConnId, Outbox>,
    /// Connections that fell behind, waiting to drain.
    lagging: HashSet<ConnId>,
}

impl Delivery {
    /// Carry out `effect` if it is about the outboxes (a send, hold, release, unhold or
    /// close: each `Send` serialized once for all its recipients, as named in
    /// `recipients`); any other effect is given back. The run loop and the core's tests
    /// both go through here.
    pub fn apply(&mut self, effect: Effect, recipients: &[ConnId]) -> Option<Effect> {
        match effect {
            Effect::Send { to, msg, seq } => {
                let to = Effects::recipients(recipients, &to);
                if !to.is_empty() {
                    self.send(to, seq, encode(&msg));
                }
            }
            Effect::Hold { conn_id, fresh } => self.hold(conn_id, fresh),
            Effect::Release { conn_id, joined, last_seq } => self.release(conn_id, encode(&joined), last_seq),
            Effect::Unhold { conn_id } => self.unhold(conn_id),
            Effect::Close { conn_id } => self.close(conn_id),
            other => return Some(other),
        }
        None
    }

    pub fn connect(&mut self, conn_id: ConnId, tx: mpsc::Sender<Frame>) {
        self.outboxes.insert(conn_id, Outbox { tx, held: None, delivered_seq: None, lagging: false });
    }

    /// Let go of `conn_id`'s outbox: its writer sees the end and closes the socket.
    pub fn close(&mut self, conn_id: ConnId) {
        self.outboxes.remove(&conn_id);
        self.lagging.remove(&conn_id);
    }

    /// A sender into `conn_id`'s outbox (for the SFU, which signals to the browser itself).
    pub fn outbox(&self, conn_id: ConnId) -> Option<mpsc::Sender<Frame>> {
        self.outboxes.get(&conn_id).map(|o| o.tx.clone())
    }

    /// Queue `frame` for each of `to`; `seq`: the chat message it carries, if any.
    pub fn send(&mut self, to: &[ConnId], seq: Option<u64>, frame: Frame) {
        if let Some((last, rest)) = to.split_last() {
            for conn_id in rest {
                self.deliver(*conn_id, seq, frame.clone());
            }
            self.deliver(*last, seq, frame);
        }
    }

    fn deliver(&mut self, conn_id: ConnId, seq: Option<u64>, frame: Frame) {
        let Some(outbox) = self.outboxes.get_mut(&conn_id) else { return };
        if let Some(held) = &mut outbox.held {
            if held.frames.len() < OUTBOX_CAPACITY {
                held.frames.push((seq, frame));
            } else {
                held.overflowed = true;
            }
            return;
        }
        if outbox.lagging {
            return;
        }
        match outbox.tx.try_send(frame) {
            Ok(()) => {
                if seq.is_some() {
                    outbox.delivered_seq = seq;
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::info!(conn_id, "client fell behind its room: catching up from history");
                outbox.lagging = true;
                self.lagging.insert(conn_id);
            }
            // The connection is going away; its Disconnect is on its way.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Hold what `conn_id` is sent until [`Delivery::release`] (what an earlier join held
    /// stays held). `fresh`: a new room, where what it got before counts no more. It is
    /// no longer behind: `joined` brings it up to date.
    pub fn hold(&mut self, conn_id: ConnId, fresh: bool) {
        let Some(outbox) = self.outboxes.get_mut(&conn_id) else { return };
        if fresh {
            outbox.delivered_seq = None;
        }
        outbox.lagging = false;
        self.lagging.remove(&conn_id);
        outbox.held.get_or_insert_with(Held::default);
    }

    /// Drop what was held for `conn_id` (it left the room it was entering).
    pub fn unhold(&mut self, conn_id: ConnId) {
        if let Some(outbox) = self.outboxes.get_mut(&conn_id) {
            outbox.held = None;
        }
    }

    /// Send `joined` (whose history ends at `last_seq`), then what was held back.
    pub fn release(&mut self, conn_id: ConnId, joined: Frame, last_seq: Option<u64>) {
        let Some(outbox) = self.outboxes.get_mut(&conn_id) else { return };
        let held = outbox.held.take().unwrap_or_default();
        // Counted as delivered up to the history's last message only if `joined` got out.
        self.deliver(conn_id, last_seq, joined);
        for (seq, frame) in held.frames {
            // A message both stored before the read and broadcast after the join is in the
            // history already.
            if seq.is_some_and(|s| last_seq.is_some_and(|last| s <= last)) {
                continue;
            }
            self.deliver(conn_id, seq, frame);
        }
        if held.overflowed {
            if let Some(outbox) = self.outboxes.get_mut(&conn_id) {
                outbox.lagging = true;
                self.lagging.insert(conn_id);
            }
        }
    }

    pub fn has_lagging(&self) -> bool {
        !self.lagging.is_empty()
    }

    /// Connections that fell behind and whose outbox is at least half empty again, with
    /// the last chat message each got; they are no longer counted as behind.
    pub fn ready(&mut self) -> Vec<(ConnId, Option<u64>)> {
        let mut ready = Vec::new();
        let outboxes = &mut self.outboxes;
        self.lagging.retain(|id| {
            let Some(outbox) = outboxes.get_mut(id) else { return false };
            if outbox.tx.capacity() * 2 < outbox.tx.max_capacity() {
                return true;
            }
            outbox.lagging = false;
            ready.push((*id, outbox.delivered_seq));
            false
        });
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Frame {
        text.to_string().into()
    }

    fn drain(rx: &mut mpsc::Receiver<Frame>) -> Vec<String> {
        std::iter::from_fn(|| rx.try_recv().ok()).map(|f| f.as_str().to_string()).collect()
    }

    #[test]
    fn joined_goes_first_then_what_was_held_less_what_the_history_holds() {
        let mut d = Delivery::default();
        let (tx, mut rx) = mpsc::channel(16);
        d.connect(1, tx);
        d.hold(1, true);
        d.send(&[1], Some(3), frame("message 3"));
        d.send(&[1], None, frame("notice"));
        d.send(&[1], Some(4), frame("message 4"));
        assert!(drain(&mut rx).is_empty(), "held");
        d.release(1, frame("joined up to 3"), Some(3));
        assert_eq!(drain(&mut rx), ["joined up to 3", "notice", "message 4"]);
        d.send(&[1], None, frame("live"));
        assert_eq!(drain(&mut rx), ["live"]);
    }

    #[test]
    fn a_full_outbox_is_skipped_until_half_empty_then_reported_with_its_last_message() {
        let mut d = Delivery::default();
        let (tx, mut rx) = mpsc::channel(4);
        d.connect(1, tx);
        for seq in 1..=6 {
            d.send(&[1], Some(seq), frame("m"));
        }
        assert!(d.has_lagging());
        assert!(d.ready().is_empty(), "still full");
        rx.try_recv().unwrap();
        assert!(d.ready().is_empty(), "three of four still queued");
        rx.try_recv().unwrap();
        assert_eq!(d.ready(), [(1, Some(4))], "half empty: caught up after the fourth");
        assert!(!d.has_lagging());
    }

    #[test]
    fn more_held_than_an_outbox_holds_is_caught_up_after_joined() {
        let mut d = Delivery::default();
        let (tx, _rx) = mpsc::channel(OUTBOX_CAPACITY * 2);
        d.connect(1, tx);
        d.hold(1, true);
        for _ in 0..=OUTBOX_CAPACITY {
            d.send(&[1], None, frame("m"));
        }
        d.release(1, frame("joined"), None);
        assert!(d.has_lagging(), "the overflow is caught up like falling behind");
    }

    #[test]
    fn a_closed_connection_gets_nothing_and_its_writer_sees_the_end() {
        let mut d = Delivery::default();
        let (tx, mut rx) = mpsc::channel(4);
        d.connect(1, tx);
        d.close(1);
        d.send(&[1], None, frame("late"));
        assert!(matches!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)));
    }
}
