//! The hub's meeting controls: who may enter (removed, locked, password, waiting room),
//! hosts, remove, mute requests, raised hands, reactions. Room passwords themselves are
//! in `password.rs`.
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
//! empties, the next people to open it start a new one. (A password does not: it protects
//! the room's stored history, which outlives the meeting.)
//!
//! Why people who were in come back in: a dropped connection is a new connection. The
//! room remembers the browsers (`join.device`) that were in this meeting, and lets them
//! back in past the lock, the password and the waiting room, which are for newcomers;
//! never past a removal.

use std::time::Duration;

use super::allowance::Allowance;
use super::{Core, PasswordHashString};
use crate::protocol::{ConnId, ErrorCode, Member, ReqId, ServerMsg};

/// Reactions one person may send: a burst of 5, then one a second.
const REACTION_BURST: u32 = 5;
const REACTION_EVERY: Duration = Duration::from_secs(1);

/// What may happen to someone asking to enter a room.
pub enum Entry {
    Enter,
    /// The waiting room is on: wait for a host.
    Wait,
    /// Locked, or removed from it; they were told.
    Refused,
    /// The room has this password, which they have not given yet.
    Password(PasswordHashString),
}

/// A `join`, as the hub carries it through password checks and waiting rooms.
#[derive(Debug)]
pub(crate) struct JoinRequest {
    pub req_id: Option<ReqId>,
    pub room: String,
    pub since: Option<u64>,
    pub password: Option<String>,
}

/// Someone in a waiting room, with what their `join` asked.
#[derive(Debug)]
pub struct Waiter {
    pub conn_id: ConnId,
    pub req_id: Option<ReqId>,
    pub since: Option<u64>,
}

impl Core {
    /// Someone asks to enter a room: in they go, or to the waiting room, or their
    /// password is checked first, or they are told why not.
    pub(super) fn join_request(&mut self, conn_id: ConnId, req: JoinRequest) {
        match self.entry(conn_id, &req) {
            Entry::Password(hash) => self.check_password(conn_id, req, hash),
            other => {
                // Gone elsewhere: a password check still under way no longer counts.
                self.conns.get_mut(&conn_id).expect("checked by request()").password_check = None;
                match other {
                    Entry::Enter => {
                        self.stop_waiting(conn_id);
                        self.join(conn_id, req.req_id, req.room, req.since)
                    }
                    Entry::Wait => self.wait(conn_id, req.req_id, req.room, req.since),
                    Entry::Refused | Entry::Password(_) => {}
                }
            }
        }
    }

    /// Whether `conn_id` may enter the room now, must wait for a host or give the
    /// password, or is refused (and told why: locked, or removed from it).
    fn entry(&mut self, conn_id: ConnId, req: &JoinRequest) -> Entry {
        let conn = &self.conns[&conn_id];
        if conn.room.as_deref() == Some(req.room.as_str()) {
            return Entry::Enter;
        }
        let device = conn.device.as_ref();
        let room = self.rooms.get(&req.room);
        let removed = room
            .is_some_and(|r| r.removed.contains(&conn_id) || device.is_some_and(|d| r.removed_devices.contains(d)));
        let back = room.is_some_and(|r| device.is_some_and(|d| r.admitted_devices.contains(d)));
        let locked = room.is_some_and(|r| r.locked);
        let lobby = room.is_some_and(|r| r.lobby);
        let password = self.passwords.get(&req.room).filter(|hash| {
            !conn.unlocked.as_ref().is_some_and(|(r, h)| *r == req.room && h == *hash)
        });
        if removed {
            self.error(conn_id, req.req_id, ErrorCode::Removed, "A host removed you from this room.");
            Entry::Refused
        } else if back {
            Entry::Enter
        } else if locked {
            self.error(conn_id, req.req_id, ErrorCode::RoomLocked, "This room is locked.");
            Entry::Refused
        } else if let Some(hash) = password {
            Entry::Password(hash.clone())
        } else if lobby {
            Entry::Wait
        } else {
            Entry::Enter
        }
    }

    /// Put `conn_id` in `name`'s waiting room (out of any room it was in) and tell the hosts.
    pub(super) fn wait(&mut self, conn_id: ConnId, req_id: Option<ReqId>, name: String, since: Option<u64>) {
        self.stop_waiting(conn_id);
        self.leave_room(conn_id, None);
        self.watchers.remove(&conn_id);
        // Leaving its room cannot have emptied this one: it was not a member of it.
        let room = self.rooms.get_mut(&name).expect("checked by entry()");
        room.waiting.push(Waiter { conn_id, req_id, since });
        self.conns.get_mut(&conn_id).expect("checked by request()").waiting_in = Some(name.clone());
        self.send(conn_id, ServerMsg::Waiting { room: name.clone() });
        self.tell_hosts_lobby(&name);
    }

    /// `conn_id` no longer waits (it went elsewhere, or away): the hosts' list shrinks.
    pub(super) fn stop_waiting(&mut self, conn_id: ConnId) {
        let Some(name) = self.conns.get_mut(&conn_id).and_then(|c| c.waiting_in.take()) else { return };
        self.take_out(&name, conn_id, None);
    }

    /// Send the room's hosts who is waiting.
    pub(super) fn tell_hosts_lobby(&mut self, name: &str) {
        let Some(room) = self.rooms.get(name) else { return };
        let waiting = room
            .waiting
            .iter()
            .filter_map(|w| self.conns.get(&w.conn_id).map(|c| Member { conn_id: w.conn_id, nickname: c.nickname.clone(), host: false }))
            .collect();
        let msg = ServerMsg::Lobby { room: name.to_string(), waiting };
        self.fx.send_many(room.hosts.iter().copied(), msg, None);
    }

    pub(super) fn set_lobby(&mut self, by: ConnId, req_id: Option<ReqId>, enabled: bool) {
        let Some(name) = self.hosted_room(by, req_id) else { return };
        let room = self.rooms.get_mut(&name).expect("checked");
        if room.lobby != enabled {
            room.lobby = enabled;
            let waiting = if enabled { Vec::new() } else { std::mem::take(&mut room.waiting) };
            let notice = ServerMsg::LobbyChanged { room: name.clone(), enabled, by };
            self.broadcast(&name, notice, None);
            // Off: whoever was waiting comes in.
            for w in waiting {
                self.conns.get_mut(&w.conn_id).expect("waiters are connected").waiting_in = None;
                self.join(w.conn_id, w.req_id, name.clone(), w.since);
            }
            if !enabled {
                self.tell_hosts_lobby(&name);
            }
        }
        self.ack(by, req_id, None);
    }

    /// Let `who` in from the waiting room (`admit`), or turn them away.
    pub(super) fn admit(&mut self, by: ConnId, req_id: Option<ReqId>, who: ConnId) {
        if let Some((name, w)) = self.take_waiter(by, req_id, who) {
            self.join(who, w.req_id, name.clone(), w.since);
            self.tell_hosts_lobby(&name);
            self.ack(by, req_id, None);
        }
    }

    pub(super) fn deny(&mut self, by: ConnId, req_id: Option<ReqId>, who: ConnId) {
        if let Some((name, w)) = self.take_waiter(by, req_id, who) {
            self.error(who, w.req_id, ErrorCode::Denied, "A host did not let you in.");
            self.tell_hosts_lobby(&name);
            self.ack(by, req_id, None);
        }
    }

    /// `who` out of the waiting room of `by`'s room, if `by` is a host and `who` waits there.
    fn take_waiter(&mut self, by: ConnId, req_id: Option<ReqId>, who: ConnId) -> Option<(String, Waiter)> {
        let name = self.hosted_room(by, req_id)?;
        let room = self.rooms.get_mut(&name).expect("checked");
        let Some(i) = room.waiting.iter().position(|w| w.conn_id == who) else {
            self.error(by, req_id, ErrorCode::NotInRoom, "They are not waiting to come in.");
            return None;
        };
        let w = room.waiting.remove(i);
        self.conns.get_mut(&who).expect("waiters are connected").waiting_in = None;
        Some((name, w))
    }

    /// The room `conn_id` is a host of, or None after telling them why not.
    pub(super) fn hosted_room(&mut self, conn_id: ConnId, req_id: Option<ReqId>) -> Option<String> {
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
            let notice = ServerMsg::Hosts { room: name.clone(), hosts: room.hosts.clone(), by: Some(by) };
            self.broadcast(&name, notice, None);
            if !self.rooms[&name].waiting.is_empty() {
                self.tell_hosts_lobby(&name);
            }
        }
        self.ack(by, req_id, None);
    }

    pub(super) fn set_lock(&mut self, by: ConnId, req_id: Option<ReqId>, locked: bool) {
        let Some(name) = self.hosted_room(by, req_id) else { return };
        let room = self.rooms.get_mut(&name).expect("checked");
        if room.locked != locked {
            room.locked = locked;
            let notice = ServerMsg::Locked { room: name.clone(), locked, by };
            self.broadcast(&name, notice, None);
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
        self.send(who, ServerMsg::Removed { room: name.clone(), by, nickname });
        self.leave_room(who, Some(by));
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
        self.send(who, ServerMsg::MuteRequest { by, nickname, force });
        if force {
            let room = self.rooms.get_mut(&name).expect("checked");
            if let Some((_, media)) = room.call.iter_mut().find(|(id, m)| *id == who && m.audio) {
                media.audio = false;
                let notice = ServerMsg::CallParticipantState { conn_id: who, media: *media };
                self.broadcast(&name, notice, None);
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
            let notice = ServerMsg::Hands { room: name.clone(), hands: room.hands.clone(), by };
            self.broadcast(&name, notice, None);
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
        let now = self.now.mono;
        let allowance = conn.reactions.get_or_insert_with(|| Allowance::new(now));
        if !allowance.take(now, REACTION_BURST, REACTION_EVERY) {
            self.error(conn_id, None, ErrorCode::RateLimited, "Too many reactions; wait a moment.");
            return;
        }
        self.broadcast(&name, ServerMsg::Reaction { conn_id, emoji }, None);
    }
}
