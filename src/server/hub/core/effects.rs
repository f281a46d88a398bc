//! What the hub core decides to do, as data: the run loop (`run.rs`) does it.
//!
//! Why effects are a list the loop applies afterwards: the core only decides, so a handler
//! that panics halfway has sent nothing (its effects are thrown away and the culprit is
//! purged), and tests read what the core wants done without sockets, a store or a clock.
//!
//! Why a send names its recipients, not one effect per recipient: a chat message to a room
//! of 100 is one [`Effect::Send`] whose recipients sit in the buffer's shared
//! `recipients` list; the loop serializes the message once and queues the same [`Frame`]
//! (reference-counted bytes) for each, exactly as the hub did before it had effects. The
//! buffer is cleared, not dropped, between inputs, so a warm hub allocates nothing for it.
//!
//! Why recipients are fixed when the effect is made: "the room" means the members at that
//! moment of the handler (a waiter admitted later in the same handler must not get what
//! was said before they came in).
//!
//! [`Frame`]: crate::server::wire::Frame

use std::ops::Range;
use std::time::Instant;

use super::moderation::JoinRequest;
use crate::protocol::{ConnId, ReqId, ServerMsg, SignalPayload, TileView};
use crate::server::password::PasswordHashString;
use crate::server::store::StoreCmd;

/// Who gets a [`Effect::Send`].
#[derive(Debug, Clone, PartialEq)]
pub enum To {
    One(ConnId),
    /// These entries of [`Effects::recipients`].
    Many(Range<u32>),
}

/// One thing to do.
#[derive(Debug)]
pub enum Effect {
    /// Serialize `msg` once and queue it for each recipient. `seq`: the chat message it
    /// carries, if any (a connection still waiting for `joined` may find it in its
    /// history, and must not get it twice).
    Send { to: To, msg: ServerMsg, seq: Option<u64> },
    /// `conn_id` waits for its room's history: hold what it is sent until
    /// [`Effect::Release`]. `fresh`: it entered a new room (what it got before counts no
    /// more). It is no longer behind either: `joined` brings it up to date.
    Hold { conn_id: ConnId, fresh: bool },
    /// Send `joined` (its history ends at `last_seq`) to `conn_id`, then what was held
    /// back (less the messages the history holds).
    Release { conn_id: ConnId, joined: ServerMsg, last_seq: Option<u64> },
    /// `conn_id` left the room it was entering: what was held for it is dropped.
    Unhold { conn_id: ConnId },
    /// Let go of `conn_id`'s outbox: its writer closes the socket (1011 if it was still
    /// open, the client's own close otherwise).
    Close { conn_id: ConnId },
    /// Ask the store; a refusal (its queue full) comes back as `Input::StoreRefused`.
    Store(StoreCmd),
    /// Tell the SFU (if the server has one).
    Sfu(SfuOrder),
    /// Hash or check a password off the hub's thread; the outcome comes back as
    /// `Input::Password`.
    Password(PasswordJob),
    /// Send `Input::RoomListDue` at this instant.
    RoomListAt(Instant),
}

/// What the SFU is told. The loop turns it into an `SfuCmd`, attaching the outbox of
/// `conn_id` where the SFU needs one (it writes signalling to the browser itself).
#[derive(Debug, Clone, PartialEq)]
pub enum SfuOrder {
    Join { conn_id: ConnId, call: String },
    Prepare { conn_id: ConnId },
    Leave { conn_id: ConnId },
    Signal { conn_id: ConnId, payload: SignalPayload },
    Layout { conn_id: ConnId, tiles: Vec<TileView> },
}

/// Argon2 work, which takes tens of milliseconds of a core: never on the hub's thread.
#[derive(Debug)]
pub enum PasswordJob {
    /// Check `request.password` against `hash`; answered with `Done::Checked`.
    Check { conn_id: ConnId, check: u64, request: JoinRequest, hash: PasswordHashString },
    /// Hash a host's new password; answered with `Done::Hashed`.
    Hash { by: ConnId, req_id: Option<ReqId>, room: String, password: String },
}

/// The effects of one input, in order. Owned by the core and reused.
#[derive(Debug, Default)]
pub struct Effects {
    pub list: Vec<Effect>,
    /// The recipients of every `To::Many` send in `list`, one after another.
    pub recipients: Vec<ConnId>,
}

impl Effects {
    pub fn clear(&mut self) {
        self.list.clear();
        self.recipients.clear();
    }

    /// Where the list ends now, to drop what comes after ([`Effects::truncate`]).
    pub fn mark(&self) -> (usize, usize) {
        (self.list.len(), self.recipients.len())
    }

    /// Drop the effects made since `mark`.
    pub fn truncate(&mut self, (list, recipients): (usize, usize)) {
        self.list.truncate(list);
        self.recipients.truncate(recipients);
    }

    pub fn push(&mut self, effect: Effect) {
        self.list.push(effect);
    }

    /// Send `msg` to one connection.
    pub fn send(&mut self, conn_id: ConnId, msg: ServerMsg) {
        self.list.push(Effect::Send { to: To::One(conn_id), msg, seq: None });
    }

    /// Send `msg` to each of `to` (serialized once).
    pub fn send_many(&mut self, to: impl IntoIterator<Item = ConnId>, msg: ServerMsg, seq: Option<u64>) {
        let start = self.recipients.len() as u32;
        self.recipients.extend(to);
        let end = self.recipients.len() as u32;
        self.list.push(Effect::Send { to: To::Many(start..end), msg, seq });
    }

    /// The connections `to` names.
    pub fn recipients<'a>(recipients: &'a [ConnId], to: &'a To) -> &'a [ConnId] {
        match to {
            To::One(id) => std::slice::from_ref(id),
            To::Many(range) => &recipients[range.start as usize..range.end as usize],
        }
    }
}
