//! Entering and leaving rooms, nicknames, and the room list.
//!
//! Why `joined` waits for the store: someone entering gets the room's members, call and
//! history in one message. The core asks the store for the history (`StoreCmd::Join`) and
//! tells the loop to hold whatever the room sends them meanwhile (`Effect::Hold`); when the
//! history comes back, `joined` goes out first, then what was held (`Effect::Release`).
//! Only the latest join counts: a reply for a room they have left since is dropped.
//!
//! Why every leaving goes through `take_out`: leaving, disconnecting, being removed and
//! being purged after a panic all take someone out of a room by one rule
//! ([`Room::remove`](super::room::Room::remove)) and tell the room the same way.
//!
//! Why the room list is coalesced: the original Node.js Noom sent the whole list to every
//! socket on every join, O(everyone) per event. Here a change only sets a deadline
//! (`Effect::RoomListAt`); at most every [`ROOM_LIST_INTERVAL`] the list is built once and
//! sent only to connections looking at the home page.

use std::time::Duration;

use super::{Core, Effect, SfuOrder};
use crate::limits::DEFAULT_NICKNAME;
use crate::protocol::{ChatMessage, ConnId, ErrorCode, ReqId, RoomInfo, ServerMsg};
use crate::server::store::StoreCmd;

/// How often, at most, room-list watchers get an update.
pub const ROOM_LIST_INTERVAL: Duration = Duration::from_millis(100);

impl Core {
    pub(super) fn set_nick(&mut self, conn_id: ConnId, req_id: Option<ReqId>, nickname: String) {
        let conn = self.conns.get_mut(&conn_id).expect("checked by request()");
        let old = std::mem::replace(&mut conn.nickname, nickname.clone());
        let room = conn.room.clone();
        if old != nickname {
            if let Some(room) = room {
                self.broadcast(&room, ServerMsg::NickChanged { conn_id, old, new: nickname }, None);
            }
        }
        self.ack(conn_id, req_id, None);
    }

    pub(super) fn watch_rooms(&mut self, conn_id: ConnId, req_id: Option<ReqId>) {
        // Watching the home page means not being in a room (nor waiting to enter one, nor
        // having a password checked to enter one).
        self.conns.get_mut(&conn_id).expect("checked by request()").password_check = None;
        self.stop_waiting(conn_id);
        self.leave_room(conn_id, None);
        self.watchers.insert(conn_id);
        self.ack(conn_id, req_id, None);
        let list = self.room_list();
        self.send(conn_id, list);
    }

    /// Put `conn_id` in room `name` (it may enter) and ask for its history.
    pub(super) fn join(&mut self, conn_id: ConnId, req_id: Option<ReqId>, name: String, since: Option<u64>) {
        self.watchers.remove(&conn_id);
        let fresh = self.conns[&conn_id].room.as_deref() != Some(name.as_str());
        if fresh {
            self.leave_room(conn_id, None);
            let device = self.conns[&conn_id].device.clone();
            let room = self.rooms.entry(name.clone()).or_default();
            room.members.push(conn_id);
            room.admitted_devices.extend(device);
            // The first to enter an empty room runs it.
            if room.hosts.is_empty() {
                room.hosts.push(conn_id);
            }
            self.conns.get_mut(&conn_id).expect("exists").room = Some(name.clone());
            let member = self.member(conn_id);
            self.broadcast(&name, ServerMsg::MemberJoined { room: name.clone(), member }, Some(conn_id));
            self.room_list_changed();
        }
        // `joined` goes out when the store has read the history (`store_reply`); it brings
        // a connection that fell behind up to date as well.
        self.conns.get_mut(&conn_id).expect("exists").awaiting = Some(req_id);
        self.fx.push(Effect::Hold { conn_id, fresh });
        self.fx.push(Effect::Store(StoreCmd::Join { conn_id, room: name, since }));
    }

    /// The history for `conn_id`'s join of `room` came (or could not be read: `failed`).
    pub(super) fn history_read(
        &mut self,
        conn_id: ConnId,
        room: String,
        history: Vec<ChatMessage>,
        (earlier, more): (bool, bool),
        failed: bool,
    ) {
        let Some(conn) = self.conns.get(&conn_id) else { return };
        // Only the latest join counts (the person may have moved on since).
        if conn.room.as_deref() != Some(room.as_str()) {
            return;
        }
        let Some(req_id) = conn.awaiting else { return };
        self.send_joined(conn_id, req_id, &room, history, earlier, more);
        if failed {
            self.error(conn_id, None, ErrorCode::StoreUnavailable, "the room's history could not be read");
        }
    }

    /// Send `joined` (now that its history is known); the loop then sends what it held.
    fn send_joined(
        &mut self,
        conn_id: ConnId,
        req_id: Option<ReqId>,
        name: &str,
        history: Vec<ChatMessage>,
        earlier: bool,
        more: bool,
    ) {
        let Some(room) = self.rooms.get(name) else { return };
        let last_seq = history.last().map(|m| m.seq);
        let room = room.snapshot(|id| self.nickname(id));
        let joined = ServerMsg::Joined {
            req_id,
            room: name.to_string(),
            members: room.members,
            history,
            earlier,
            more,
            epoch: self.epoch.to_string(),
            call: room.call,
            ice_servers: self.ice_servers(conn_id),
            relay_only: self.calls.ice.relay_only,
            locked: room.locked,
            hands: room.hands,
            lobby: room.lobby,
            protected: self.passwords.contains_key(name),
        };
        self.conns.get_mut(&conn_id).expect("exists").awaiting = None;
        self.fx.push(Effect::Release { conn_id, joined, last_seq });
    }

    pub(super) fn leave(&mut self, conn_id: ConnId, req_id: Option<ReqId>) {
        self.conns.get_mut(&conn_id).expect("checked by request()").password_check = None;
        if self.leave_room(conn_id, None) {
            self.ack(conn_id, req_id, None);
        } else {
            self.error(conn_id, req_id, ErrorCode::NotInRoom, "you are not in a room");
        }
    }

    /// Take a connection out of its room (`removed_by` a host, or of its own accord).
    /// Returns whether it was in one.
    pub(super) fn leave_room(&mut self, conn_id: ConnId, removed_by: Option<ConnId>) -> bool {
        let Some(conn) = self.conns.get_mut(&conn_id) else { return false };
        let Some(name) = conn.room.take() else { return false };
        conn.awaiting = None;
        assert!(self.rooms.contains_key(&name), "a member's room exists");
        self.fx.push(Effect::Unhold { conn_id });
        // Any connection it had to the SFU goes too (a call's, or one prepared ahead).
        self.sfu(SfuOrder::Leave { conn_id });
        self.take_out(&name, conn_id, removed_by);
        true
    }

    /// Take `conn_id` out of room `name` by [`Room::remove`](super::room::Room::remove)
    /// and tell whoever is left what changed. A room left empty ends: its meeting (lock,
    /// hosts, removals) with it, and whoever waited to come in starts the next one.
    pub(super) fn take_out(&mut self, name: &str, conn_id: ConnId, removed_by: Option<ConnId>) {
        let Some(room) = self.rooms.get_mut(name) else { return };
        let gone = room.remove(conn_id);
        if !gone.anything() {
            return;
        }
        if room.members.is_empty() {
            let waiting = std::mem::take(&mut room.waiting);
            self.rooms.remove(name);
            for w in waiting {
                if let Some(c) = self.conns.get_mut(&w.conn_id) {
                    c.waiting_in = None;
                    self.join(w.conn_id, w.req_id, name.to_string(), w.since);
                }
            }
            self.room_list_changed();
            return;
        }
        if gone.call {
            self.broadcast(name, ServerMsg::CallParticipantLeft { conn_id }, None);
        }
        if gone.member {
            let nickname = self.conns.get(&conn_id).map_or_else(|| DEFAULT_NICKNAME.to_string(), |c| c.nickname.clone());
            let member = crate::protocol::Member { conn_id, nickname, host: gone.host };
            self.broadcast(name, ServerMsg::MemberLeft { room: name.to_string(), member, removed_by }, None);
            self.room_list_changed();
        }
        if gone.hand {
            let hands = self.rooms[name].hands.clone();
            self.broadcast(name, ServerMsg::Hands { room: name.to_string(), hands, by: None }, None);
        }
        if gone.host {
            let hosts = self.rooms[name].hosts.clone();
            self.broadcast(name, ServerMsg::Hosts { room: name.to_string(), hosts, by: None }, None);
        }
        if gone.waiter || (gone.host && !self.rooms[name].waiting.is_empty()) {
            self.tell_hosts_lobby(name);
        }
    }

    /// `conn_id` fell behind and has room again: `lagged`, then a fresh `joined` with
    /// every message after the last one it got (members and call too: those notices were
    /// skipped as well).
    pub(super) fn catch_up(&mut self, conn_id: ConnId, last_seq: Option<u64>) {
        let Some(room) = self.conns.get(&conn_id).and_then(|c| c.room.clone()) else { return };
        self.send(conn_id, ServerMsg::Lagged { room: room.clone(), last_seq });
        self.join(conn_id, None, room, last_seq);
    }

    fn room_list(&self) -> ServerMsg {
        let mut rooms: Vec<RoomInfo> = self
            .rooms
            .iter()
            .map(|(name, room)| RoomInfo {
                name: name.clone(),
                count: room.members.len(),
                locked: room.locked,
                protected: self.passwords.contains_key(name),
            })
            .collect();
        // Busiest first; the BTreeMap already sorted names, and the sort is stable.
        rooms.sort_by_key(|r| std::cmp::Reverse(r.count));
        ServerMsg::Rooms { rooms }
    }

    pub(super) fn room_list_changed(&mut self) {
        if self.rooms_flush_at.is_none() {
            let at = self.now.mono + ROOM_LIST_INTERVAL;
            self.rooms_flush_at = Some(at);
            self.fx.push(Effect::RoomListAt(at));
        }
    }

    pub(super) fn flush_room_list(&mut self) {
        self.rooms_flush_at = None;
        if self.watchers.is_empty() {
            return;
        }
        let list = self.room_list();
        self.fx.send_many(self.watchers.iter().copied(), list, None);
    }
}
