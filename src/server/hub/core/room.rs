//! One room's state, and the two rules every path shares: [`Room::remove`] (someone
//! leaves, whatever the reason) and [`Room::snapshot`] (what `joined` shows).
//!
//! Why one `remove`: someone leaves a room when they leave, disconnect, are removed by a
//! host, or when a handler broke on their behalf (purge). The hub once wrote that rule
//! three times and the copies disagreed (the purge kept an SFU call mode for an empty call
//! and never told the room about hands or the waiting list). Here the state change is one
//! function, and it reports what changed ([`Removal`]) so the caller announces exactly
//! that (`Core::take_out`).

use std::collections::HashSet;

use super::moderation::Waiter;
use crate::protocol::{CallMode, CallParticipant, ConnId, MediaState, Member};

#[derive(Default)]
pub struct Room {
    /// Members in the order they joined.
    pub members: Vec<ConnId>,
    /// The room's call: participants in the order they joined, with their media state.
    pub call: Vec<(ConnId, MediaState)>,
    /// Peer to peer until the call outgrows `--p2p-max`; then SFU until it empties.
    pub call_mode: CallMode,
    /// Who runs the room, in the order they became hosts; never empty while the room is
    /// not (see `moderation.rs`).
    pub hosts: Vec<ConnId>,
    /// Nobody new may enter.
    pub locked: bool,
    /// Raised hands, in the order they went up.
    pub hands: Vec<ConnId>,
    /// Removed for the rest of the meeting (until the room empties): connections and the
    /// browsers they came from.
    pub removed: HashSet<ConnId>,
    pub removed_devices: HashSet<String>,
    /// The waiting room is on: newcomers wait for a host.
    pub lobby: bool,
    /// Who waits to come in, in the order they came.
    pub waiting: Vec<Waiter>,
    /// The browsers of everyone who was in this meeting: back after a dropped connection,
    /// they come straight in (lock, password and waiting room are for newcomers).
    pub admitted_devices: HashSet<String>,
}

/// What [`Room::remove`] changed, for the room to be told.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Removal {
    pub member: bool,
    /// Was in the call (`call_sfu`: which ran through the SFU).
    pub call: bool,
    pub call_sfu: bool,
    /// Their hand was up.
    pub hand: bool,
    /// Was a host (so the hosts changed: someone else may run the room now).
    pub host: bool,
    /// Was in the waiting room.
    pub waiter: bool,
}

impl Removal {
    pub fn anything(&self) -> bool {
        self.member || self.call || self.hand || self.host || self.waiter
    }
}

/// What someone entering sees of the room.
pub struct Snapshot {
    pub members: Vec<Member>,
    pub call: Vec<CallParticipant>,
    pub locked: bool,
    pub hands: Vec<ConnId>,
    pub lobby: bool,
}

impl Room {
    /// Whether `conn_id` is anywhere in this room (a member, in the call, a host, a
    /// raised hand, waiting).
    pub fn involves(&self, conn_id: ConnId) -> bool {
        self.members.contains(&conn_id)
            || self.call.iter().any(|(id, _)| *id == conn_id)
            || self.hosts.contains(&conn_id)
            || self.hands.contains(&conn_id)
            || self.waiting.iter().any(|w| w.conn_id == conn_id)
    }

    /// Take `conn_id` out of everything in this room, assuming nothing about where it was:
    /// members, call (an emptied call goes back to peer to peer), hands, hosts (a room
    /// whose last host left is run by its longest-present member), waiting room. Never
    /// panics: it also cleans up after a handler that broke an invariant.
    pub fn remove(&mut self, conn_id: ConnId) -> Removal {
        let before = self.members.len();
        self.members.retain(|id| *id != conn_id);
        let member = self.members.len() != before;
        let call_sfu = self.call_mode == CallMode::Sfu;
        let call = self.leave_call(conn_id);
        let hand = remove_from(&mut self.hands, conn_id);
        let host = remove_from(&mut self.hosts, conn_id);
        if self.hosts.is_empty() {
            if let Some(first) = self.members.first() {
                self.hosts.push(*first);
            }
        }
        let before = self.waiting.len();
        self.waiting.retain(|w| w.conn_id != conn_id);
        let waiter = self.waiting.len() != before;
        Removal { member, call, call_sfu: call && call_sfu, hand, host, waiter }
    }

    /// Take `conn_id` out of the call; returns whether it was in it. An emptied call goes
    /// back to peer to peer.
    pub fn leave_call(&mut self, conn_id: ConnId) -> bool {
        let before = self.call.len();
        self.call.retain(|(id, _)| *id != conn_id);
        if self.call.is_empty() {
            self.call_mode = CallMode::P2p;
        }
        self.call.len() != before
    }

    pub fn in_call(&self, conn_id: ConnId) -> bool {
        self.call.iter().any(|(id, _)| *id == conn_id)
    }

    /// The room as `joined` shows it; `nickname` names a connection.
    pub fn snapshot(&self, nickname: impl Fn(ConnId) -> String) -> Snapshot {
        Snapshot {
            members: self.members.iter().map(|id| self.member(*id, nickname(*id))).collect(),
            call: self.call.iter().map(|(id, media)| CallParticipant { conn_id: *id, nickname: nickname(*id), media: *media }).collect(),
            locked: self.locked,
            hands: self.hands.clone(),
            lobby: self.lobby,
        }
    }

    pub fn member(&self, conn_id: ConnId, nickname: String) -> Member {
        Member { conn_id, nickname, host: self.hosts.contains(&conn_id) }
    }
}

fn remove_from(list: &mut Vec<ConnId>, conn_id: ConnId) -> bool {
    let before = list.len();
    list.retain(|id| *id != conn_id);
    list.len() != before
}
