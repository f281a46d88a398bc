//! The hub's meeting controls: hosts, lock, remove, mute requests, raised hands, reactions.
//!
//! Why here, in the hub: every rule is decided by the one owner of the room's state, so a
//! refused action is refused for every client alike (`not_host`, `room_locked`,
//! `removed`), whatever a client's interface shows or hides.
//!
//! Why a room always has a host: the first person in is its host, hosts can make others
//! hosts, and when the last host leaves the longest-present member takes over. A room
//! nobody can manage would stay open to anyone with nothing to be done about it.
//!
//! Why removals and the lock end with the room: they belong to a meeting. When the room
//! empties, the next people to open it start a new one.

use std::num::NonZeroU32;

use governor::Quota;

use super::{encode, Hub};
use crate::protocol::{ConnId, ErrorCode, ReqId, ServerMsg};

/// Reactions one person may send: a burst of 5, then one a second.
const REACTION_BURST: u32 = 5;

impl Hub {
    /// Whether `conn_id` may enter `room` (it is not locked to them, they were not removed
    /// from it); if not, they are told why.
    pub(super) fn may_enter(&mut self, conn_id: ConnId, req_id: Option<ReqId>, room: &str) -> bool {
        let conn = &self.conns[&conn_id];
        if conn.room.as_deref() == Some(room) {
            return true;
        }
        let Some(r) = self.rooms.get(room) else { return true };
        let removed = r.removed.contains(&conn_id) || conn.device.as_ref().is_some_and(|d| r.removed_devices.contains(d));
        if removed {
            self.error(conn_id, req_id, ErrorCode::Removed, "A host removed you from this room.");
            false
        } else if r.locked {
            self.error(conn_id, req_id, ErrorCode::RoomLocked, "This room is locked.");
            false
        } else {
            true
        }
    }

    /// The room `conn_id` is a host of, or None after telling them why not.
    fn hosted_room(&mut self, conn_id: ConnId, req_id: Option<ReqId>) -> Option<String> {
        let Some(name) = self.conns[&conn_id].room.clone() else {
            self.error(conn_id, req_id, ErrorCode::NotInRoom, "you are not in a room");
            return None;
        };
        if self.rooms[&name].hosts.contains(&conn_id) {
            Some(name)
        } else {
            self.error(conn_id, req_id, ErrorCode::NotHost, "Only a host can do that.");
            None
        }
    }

    /// Whether `who` is in `room`; if not, `conn_id` is told.
    fn in_room(&mut self, conn_id: ConnId, req_id: Option<ReqId>, room: &str, who: ConnId) -> bool {
        if self.rooms[room].members.contains(&who) {
            return true;
        }
        self.error(conn_id, req_id, ErrorCode::NotInRoom, "They are not in this room.");
        false
    }

    pub(super) fn make_host(&mut self, by: ConnId, req_id: Option<ReqId>, who: ConnId) {
        let Some(name) = self.hosted_room(by, req_id) else { return };
        if !self.in_room(by, req_id, &name, who) {
            return;
        }
        let room = self.rooms.get_mut(&name).expect("checked");
        if !room.hosts.contains(&who) {
            room.hosts.push(who);
            let notice = encode(&ServerMsg::Hosts { room: name.clone(), hosts: room.hosts.clone(), by: Some(by) });
            self.broadcast(&name, &notice, None);
        }
        self.ack(by, req_id, None);
    }

    pub(super) fn set_lock(&mut self, by: ConnId, req_id: Option<ReqId>, locked: bool) {
        let Some(name) = self.hosted_room(by, req_id) else { return };
        let room = self.rooms.get_mut(&name).expect("checked");
        if room.locked != locked {
            room.locked = locked;
            let notice = encode(&ServerMsg::Locked { room: name.clone(), locked, by });
            self.broadcast(&name, &notice, None);
            self.room_list_changed();
        }
        self.ack(by, req_id, None);
    }

    /// Take `who` out of the room for the rest of the meeting: not from this connection,
    /// nor from the browser it came from.
    pub(super) fn remove(&mut self, by: ConnId, req_id: Option<ReqId>, who: ConnId) {
        let Some(name) = self.hosted_room(by, req_id) else { return };
        if !self.in_room(by, req_id, &name, who) {
            return;
        }
        if who == by {
            self.error(by, req_id, ErrorCode::BadFields, "You cannot remove yourself; leave the room instead.");
            return;
        }
        let device = self.conns[&who].device.clone();
        let room = self.rooms.get_mut(&name).expect("checked");
        room.removed.insert(who);
        room.removed_devices.extend(device);
        let nickname = self.conns[&by].nickname.clone();
        self.send(who, encode(&ServerMsg::Removed { room: name.clone(), by, nickname }));
        self.leave_room_by(who, Some(by));
        self.ack(by, req_id, None);
    }

    /// Ask `who` to mute, or (`force`) mute them: their client turns the microphone off;
    /// the room sees them muted at once either way it goes.
    pub(super) fn mute(&mut self, by: ConnId, req_id: Option<ReqId>, who: ConnId, force: bool) {
        let Some(name) = self.hosted_room(by, req_id) else { return };
        if !self.in_room(by, req_id, &name, who) {
            return;
        }
        let nickname = self.conns[&by].nickname.clone();
        self.send(who, encode(&ServerMsg::MuteRequest { by, nickname, force }));
        if force {
            let room = self.rooms.get_mut(&name).expect("checked");
            if let Some((_, media)) = room.call.iter_mut().find(|(id, m)| *id == who && m.audio) {
                media.audio = false;
                let notice = encode(&ServerMsg::CallParticipantState { conn_id: who, media: *media });
                self.broadcast(&name, &notice, None);
            }
        }
        self.ack(by, req_id, None);
    }

    /// Raise or lower my hand; a host may lower someone else's.
    pub(super) fn raise_hand(&mut self, conn_id: ConnId, req_id: Option<ReqId>, raised: bool, who: Option<ConnId>) {
        let who = who.unwrap_or(conn_id);
        let name = if who == conn_id {
            let Some(name) = self.conns[&conn_id].room.clone() else {
                self.error(conn_id, req_id, ErrorCode::NotInRoom, "you are not in a room");
                return;
            };
            name
        } else {
            if raised {
                self.error(conn_id, req_id, ErrorCode::BadFields, "You can only raise your own hand.");
                return;
            }
            let Some(name) = self.hosted_room(conn_id, req_id) else { return };
            if !self.in_room(conn_id, req_id, &name, who) {
                return;
            }
            name
        };
        let room = self.rooms.get_mut(&name).expect("a member's room exists");
        let up = room.hands.contains(&who);
        if raised != up {
            if raised {
                room.hands.push(who);
            } else {
                room.hands.retain(|id| *id != who);
            }
            let by = (who != conn_id).then_some(conn_id);
            let notice = encode(&ServerMsg::Hands { room: name.clone(), hands: room.hands.clone(), by });
            self.broadcast(&name, &notice, None);
        }
        self.ack(conn_id, req_id, None);
    }

    /// A reaction for everyone in the room (the sender too: it floats over their tile).
    pub(super) fn react(&mut self, conn_id: ConnId, emoji: String) {
        let conn = self.conns.get_mut(&conn_id).expect("checked by request()");
        let Some(name) = conn.room.clone() else {
            self.error(conn_id, None, ErrorCode::NotInRoom, "you are not in a room");
            return;
        };
        let burst = NonZeroU32::new(REACTION_BURST).expect("non-zero");
        let limiter = conn
            .reactions
            .get_or_insert_with(|| crate::server::rate_limiter(Quota::per_second(NonZeroU32::MIN).allow_burst(burst)));
        if limiter.check().is_err() {
            self.error(conn_id, None, ErrorCode::RateLimited, "Too many reactions; wait a moment.");
            return;
        }
        self.broadcast(&name, &encode(&ServerMsg::Reaction { conn_id, emoji }), None);
    }

    /// `left` is out of `room` (which still has members): its hand goes down, and if it
    /// was the last host, the longest-present member takes over.
    pub(super) fn after_leaving(&mut self, name: &str, left: ConnId) {
        let room = self.rooms.get_mut(name).expect("the room still has members");
        if room.hands.contains(&left) {
            room.hands.retain(|id| *id != left);
            let notice = encode(&ServerMsg::Hands { room: name.to_string(), hands: room.hands.clone(), by: None });
            self.broadcast(name, &notice, None);
        }
        let room = self.rooms.get_mut(name).expect("the room still has members");
        if room.hosts.contains(&left) {
            room.hosts.retain(|id| *id != left);
            if room.hosts.is_empty() {
                room.hosts.push(room.members[0]);
            }
            let notice = encode(&ServerMsg::Hosts { room: name.to_string(), hosts: room.hosts.clone(), by: None });
            self.broadcast(name, &notice, None);
        }
    }
}
