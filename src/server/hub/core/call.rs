//! The hub's call commands: who is in each room's call, how the call carries media (peer to
//! peer or through the SFU), and the relay of WebRTC signalling.
//!
//! Why the server relays signals to one peer only: the original Node.js Noom broadcast
//! offers and answers to the whole room, which breaks as soon as a third person joins (two
//! peers answer the same offer). Here every signal names its addressee, and the hub checks
//! that sender and addressee are in the same call before passing it on.
//!
//! Why the mode only ever goes one way during a call: a call starts peer to peer (lowest
//! latency, no media through the server) and moves to the SFU when it outgrows
//! `--p2p-max`. It stays there until everyone has left, so a call hovering around the
//! threshold never flaps between the two (each move pauses video for everyone).

use super::{Core, Effect, SfuOrder};
use crate::protocol::{CallMode, ConnId, ErrorCode, MediaState, ReqId, ServerMsg, SignalPayload, TileView, SFU_PEER};
use crate::server::ice::IceConfig;

/// How calls are sized and carried, as the core sees it (`CallSettings` without the SFU's
/// handle, which only the loop talks to).
#[derive(Clone, Default)]
pub struct CallLimits {
    /// The ICE servers (and TURN credentials) handed to each browser.
    pub ice: IceConfig,
    pub max_call_size: usize,
    pub p2p_max: usize,
    /// Most people in SFU calls, all rooms together.
    pub sfu_max_participants: usize,
    /// The server has an SFU; without it calls stay peer to peer and are capped at
    /// `p2p_max`.
    pub has_sfu: bool,
}

impl CallLimits {
    /// The most people a call may hold with what this server has.
    fn cap(&self) -> usize {
        if self.has_sfu {
            self.max_call_size
        } else {
            self.max_call_size.min(self.p2p_max.max(1))
        }
    }
}

impl Core {
    /// The room whose call `conn_id` is in, if any.
    fn call_room(&self, conn_id: ConnId) -> Option<String> {
        let room = self.conns.get(&conn_id)?.room.clone()?;
        self.rooms.get(&room)?.in_call(conn_id).then_some(room)
    }

    pub(super) fn sfu(&mut self, order: SfuOrder) {
        if self.calls.has_sfu {
            self.fx.push(Effect::Sfu(order));
        }
    }

    /// People in SFU calls now, all rooms together.
    fn sfu_participants(&self) -> usize {
        self.rooms.values().filter(|r| r.call_mode == CallMode::Sfu).map(|r| r.call.len()).sum()
    }

    pub(super) fn call_join(&mut self, conn_id: ConnId, req_id: Option<ReqId>, media: MediaState) {
        let Some(name) = self.conns[&conn_id].room.clone() else {
            self.error(conn_id, req_id, ErrorCode::NotInRoom, "enter a room before joining its call");
            return;
        };
        let cap = self.calls.cap();
        let p2p_max = self.calls.p2p_max;
        let has_sfu = self.calls.has_sfu;
        let sfu_free = self.calls.sfu_max_participants.saturating_sub(self.sfu_participants());
        let room = self.rooms.get_mut(&name).expect("a member's room exists");
        let already = room.in_call(conn_id);
        if !already && room.call.len() >= cap {
            let message = format!("This call is full ({cap})");
            self.error(conn_id, req_id, ErrorCode::CallFull, &message);
            return;
        }
        // Joining an SFU call takes one place on the media server; moving a call there takes
        // one for everyone in it.
        let needs = match room.call_mode {
            CallMode::Sfu if !already => 1,
            CallMode::P2p if has_sfu && room.call.len() + usize::from(!already) > p2p_max => {
                room.call.len() + usize::from(!already)
            }
            _ => 0,
        };
        if needs > sfu_free {
            let max = self.calls.sfu_max_participants;
            tracing::warn!(room = %name, max, "SFU full: call join refused");
            let message = format!("The media server is full ({max} people in calls); try again later");
            self.error(conn_id, req_id, ErrorCode::CallFull, &message);
            return;
        }
        if already {
            room.call.retain(|(id, _)| *id != conn_id);
        }
        let others: Vec<(ConnId, MediaState)> = room.call.clone();
        room.call.push((conn_id, media));
        let moved_to_sfu = has_sfu && room.call_mode == CallMode::P2p && room.call.len() > p2p_max;
        if moved_to_sfu {
            room.call_mode = CallMode::Sfu;
        }
        let mode = room.call_mode;
        if moved_to_sfu {
            tracing::info!(room = %name, people = others.len() + 1, "call moves to the SFU");
            for (id, _) in &others {
                self.sfu(SfuOrder::Join { conn_id: *id, call: name.clone() });
            }
            self.fx.send_many(others.iter().map(|(id, _)| *id), ServerMsg::CallModeChanged { mode }, None);
        }
        if mode == CallMode::Sfu {
            self.sfu(SfuOrder::Join { conn_id, call: name.clone() });
        }
        let joined = ServerMsg::CallJoined {
            req_id,
            ice_servers: self.ice_servers(conn_id),
            relay_only: self.calls.ice.relay_only,
            participants: others.iter().map(|(id, m)| self.participant(*id, *m)).collect(),
            mode,
        };
        self.send(conn_id, joined);
        let notice = ServerMsg::CallParticipantJoined { participant: self.participant(conn_id, media) };
        self.broadcast(&name, notice, Some(conn_id));
    }

    pub(super) fn call_leave(&mut self, conn_id: ConnId, req_id: Option<ReqId>) {
        match self.call_room(conn_id) {
            Some(name) => {
                let room = self.rooms.get_mut(&name).expect("checked by call_room()");
                let sfu = room.call_mode == CallMode::Sfu;
                room.leave_call(conn_id);
                if sfu {
                    self.sfu(SfuOrder::Leave { conn_id });
                }
                self.broadcast(&name, ServerMsg::CallParticipantLeft { conn_id }, Some(conn_id));
                self.ack(conn_id, req_id, None);
            }
            None => self.error(conn_id, req_id, ErrorCode::NotInCall, "you are not in a call"),
        }
    }

    pub(super) fn call_state(&mut self, conn_id: ConnId, media: MediaState) {
        let Some(name) = self.call_room(conn_id) else {
            self.error(conn_id, None, ErrorCode::NotInCall, "you are not in a call");
            return;
        };
        let room = self.rooms.get_mut(&name).expect("exists");
        for entry in room.call.iter_mut().filter(|(id, _)| *id == conn_id) {
            entry.1 = media;
        }
        self.broadcast(&name, ServerMsg::CallParticipantState { conn_id, media }, Some(conn_id));
    }

    /// Whether `conn_id` is in a call that runs through the SFU.
    fn in_sfu_call(&self, conn_id: ConnId) -> bool {
        self.call_room(conn_id).is_some_and(|room| self.rooms[&room].call_mode == CallMode::Sfu)
    }

    pub(super) fn call_layout(&mut self, conn_id: ConnId, tiles: Vec<TileView>) {
        if self.in_sfu_call(conn_id) {
            self.sfu(SfuOrder::Layout { conn_id, tiles });
        }
    }

    pub(super) fn signal(&mut self, from: ConnId, to: ConnId, payload: SignalPayload) {
        if to == SFU_PEER {
            let in_room = self.conns.get(&from).is_some_and(|c| c.room.is_some());
            if self.in_sfu_call(from) {
                self.sfu(SfuOrder::Signal { conn_id: from, payload });
            } else if in_room && self.calls.has_sfu {
                // Connecting ahead of joining (or in a peer-to-peer call, ready for the move).
                self.sfu(SfuOrder::Prepare { conn_id: from });
                self.sfu(SfuOrder::Signal { conn_id: from, payload });
            } else {
                self.error(from, None, ErrorCode::NotInCall, "enter a room before connecting to the SFU");
            }
            return;
        }
        let same_call = match (self.call_room(from), self.call_room(to)) {
            (Some(a), Some(b)) => a == b && from != to && self.rooms[&a].call_mode == CallMode::P2p,
            _ => false,
        };
        if !same_call {
            self.error(from, None, ErrorCode::NotInCall, &format!("connection {to} is not in your call"));
            return;
        }
        self.send(to, ServerMsg::Signal { from, payload });
    }
}
