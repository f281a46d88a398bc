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

use super::{encode, Hub};
use crate::limits::{DEFAULT_MAX_CALL_SIZE, DEFAULT_P2P_MAX, DEFAULT_SFU_MAX_PARTICIPANTS};
use crate::protocol::{
    CallMode, ConnId, ErrorCode, MediaState, ReqId, ServerMsg, SignalPayload, TileView, SFU_PEER,
};
use crate::server::ice::IceConfig;
use crate::server::sfu::{SfuCmd, SfuHandle};

/// How calls are sized and carried.
#[derive(Clone)]
pub struct CallSettings {
    /// The ICE servers (and TURN credentials) handed to each browser.
    pub ice: IceConfig,
    pub max_call_size: usize,
    pub p2p_max: usize,
    /// Most people in SFU calls, all rooms together.
    pub sfu_max_participants: usize,
    /// The SFU, if its UDP port could be bound; without it calls stay peer to peer and
    /// are capped at `p2p_max`.
    pub sfu: Option<SfuHandle>,
}

impl Default for CallSettings {
    fn default() -> Self {
        CallSettings {
            ice: IceConfig::default(),
            max_call_size: DEFAULT_MAX_CALL_SIZE,
            p2p_max: DEFAULT_P2P_MAX,
            sfu_max_participants: DEFAULT_SFU_MAX_PARTICIPANTS,
            sfu: None,
        }
    }
}

impl CallSettings {
    /// The most people a call may hold with what this server has.
    fn cap(&self) -> usize {
        if self.sfu.is_some() {
            self.max_call_size
        } else {
            self.max_call_size.min(self.p2p_max.max(1))
        }
    }
}

impl Hub {
    /// The room whose call `conn_id` is in, if any.
    fn call_room(&self, conn_id: ConnId) -> Option<String> {
        let room = self.conns.get(&conn_id)?.room.clone()?;
        self.rooms.get(&room)?.call.iter().any(|(id, _)| *id == conn_id).then_some(room)
    }

    fn sfu(&self, cmd: SfuCmd) {
        if let Some(sfu) = &self.calls.sfu {
            sfu.send(cmd);
        }
    }

    /// Put `conn_id` (in `room`'s call) into the SFU.
    fn sfu_join(&self, conn_id: ConnId, room: &str) {
        if let Some(conn) = self.conns.get(&conn_id) {
            self.sfu(SfuCmd::Join { conn_id, call: room.to_string(), outbox: conn.outbox.clone() });
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
        let has_sfu = self.calls.sfu.is_some();
        let sfu_free = self.calls.sfu_max_participants.saturating_sub(self.sfu_participants());
        let room = self.rooms.get_mut(&name).expect("a member's room exists");
        let already = room.call.iter().any(|(id, _)| *id == conn_id);
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
            let changed = encode(&ServerMsg::CallModeChanged { mode });
            for (id, _) in &others {
                self.sfu_join(*id, &name);
                self.send(*id, changed.clone());
            }
        }
        if mode == CallMode::Sfu {
            self.sfu_join(conn_id, &name);
        }
        let joined = ServerMsg::CallJoined {
            req_id,
            ice_servers: self.ice_servers(conn_id),
            relay_only: self.calls.ice.relay_only,
            participants: others.iter().map(|(id, m)| self.participant(*id, *m)).collect(),
            mode,
        };
        self.send(conn_id, encode(&joined));
        let notice = ServerMsg::CallParticipantJoined { participant: self.participant(conn_id, media) };
        self.broadcast(&name, &encode(&notice), Some(conn_id));
    }

    pub(super) fn call_leave(&mut self, conn_id: ConnId, req_id: Option<ReqId>) {
        match self.call_room(conn_id) {
            Some(room) => {
                self.leave_call(conn_id, &room);
                self.ack(conn_id, req_id, None);
            }
            None => self.error(conn_id, req_id, ErrorCode::NotInCall, "you are not in a call"),
        }
    }

    /// Take `conn_id` out of `room`'s call, if it is in it, telling the room.
    pub(super) fn leave_call(&mut self, conn_id: ConnId, room: &str) {
        let Some(r) = self.rooms.get_mut(room) else { return };
        let before = r.call.len();
        r.call.retain(|(id, _)| *id != conn_id);
        if r.call.len() != before {
            if r.call_mode == CallMode::Sfu {
                if r.call.is_empty() {
                    r.call_mode = CallMode::P2p;
                }
                self.sfu(SfuCmd::Leave { conn_id });
            }
            let notice = encode(&ServerMsg::CallParticipantLeft { conn_id });
            self.broadcast(room, &notice, Some(conn_id));
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
        let notice = encode(&ServerMsg::CallParticipantState { conn_id, media });
        self.broadcast(&name, &notice, Some(conn_id));
    }

    /// `conn_id` left its room: drop any connection it had to the SFU.
    pub(super) fn sfu_forget(&self, conn_id: ConnId) {
        self.sfu(SfuCmd::Leave { conn_id });
    }

    /// Whether `conn_id` is in a call that runs through the SFU.
    pub(super) fn in_sfu_call(&self, conn_id: ConnId) -> bool {
        self.call_room(conn_id).is_some_and(|room| self.rooms[&room].call_mode == CallMode::Sfu)
    }

    pub(super) fn call_layout(&mut self, conn_id: ConnId, tiles: Vec<TileView>) {
        if self.in_sfu_call(conn_id) {
            self.sfu(SfuCmd::Layout { conn_id, tiles });
        }
    }

    pub(super) fn signal(&mut self, from: ConnId, to: ConnId, payload: SignalPayload) {
        if to == SFU_PEER {
            let in_room = self.conns.get(&from).is_some_and(|c| c.room.is_some());
            if self.in_sfu_call(from) {
                self.sfu(SfuCmd::Signal { conn_id: from, payload });
            } else if in_room && self.calls.sfu.is_some() {
                // Connecting ahead of joining (or in a peer-to-peer call, ready for the move).
                let outbox = self.conns[&from].outbox.clone();
                self.sfu(SfuCmd::Prepare { conn_id: from, outbox });
                self.sfu(SfuCmd::Signal { conn_id: from, payload });
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
        self.send(to, encode(&ServerMsg::Signal { from, payload }));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::TestHub;
    use super::super::Command;
    use crate::server::wire::Frame;
    use super::*;
    use crate::protocol::{ClientMsg, SdpType};
    use tokio::sync::mpsc;

    fn hub() -> TestHub {
        TestHub::new(CallSettings {
            ice: IceConfig { stun: vec!["stun:stun.example:3478".into()], ..IceConfig::default() },
            max_call_size: 4,
            p2p_max: 4,
            sfu_max_participants: 100,
            sfu: None,
        })
    }

    /// Connect and enter `room` (its `joined` delivered).
    async fn connect_to(hub: &mut TestHub, conn_id: ConnId, room: &str) -> mpsc::Receiver<Frame> {
        let (tx, rx) = mpsc::channel(256);
        hub.handle(Command::Connect { conn_id, outbox: tx, host: "localhost".into() });
        let join = ClientMsg::Join { req_id: None, room: room.into(), since: None, epoch: None, device: None, password: None };
        hub.handle(Command::Request { conn_id, msg: join });
        hub.settle().await;
        rx
    }

    fn drain(rx: &mut mpsc::Receiver<Frame>) -> Vec<ServerMsg> {
        std::iter::from_fn(|| rx.try_recv().ok()).map(|f| serde_json::from_str(f.as_str()).unwrap()).collect()
    }

    fn req(hub: &mut Hub, conn_id: ConnId, msg: ClientMsg) {
        hub.handle(Command::Request { conn_id, msg });
    }

    fn join_call(hub: &mut Hub, conn_id: ConnId) {
        let media = MediaState { audio: true, video: true, screen: false };
        req(hub, conn_id, ClientMsg::CallJoin { req_id: Some(1), media });
    }

    fn offer(to: ConnId) -> ClientMsg {
        ClientMsg::Signal { to, payload: SignalPayload::Description { sdp_type: SdpType::Offer, sdp: "v=0".into(), tracks: vec![] } }
    }

    #[tokio::test]
    async fn call_join_lists_others_and_caps_at_four() {
        let mut hub = hub();
        let mut rx = Vec::new();
        for id in 1..=5 {
            rx.push(connect_to(&mut hub, id, "r").await);
        }
        for id in 1..=4 {
            join_call(&mut hub, id);
        }
        let to_4 = drain(&mut rx[3]);
        let Some(ServerMsg::CallJoined { participants, ice_servers, .. }) =
            to_4.iter().find(|m| matches!(m, ServerMsg::CallJoined { .. }))
        else {
            panic!("{to_4:?}")
        };
        assert_eq!(participants.iter().map(|p| p.conn_id).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(ice_servers[0].urls, ["stun:stun.example:3478"]);

        join_call(&mut hub, 5);
        let to_5 = drain(&mut rx[4]);
        assert!(
            to_5.iter().any(|m| matches!(m, ServerMsg::Error { code: ErrorCode::CallFull, message, .. } if message == "This call is full (4)")),
            "{to_5:?}"
        );
        // The fifth still saw the four join (the room hears about the call).
        assert_eq!(to_5.iter().filter(|m| matches!(m, ServerMsg::CallParticipantJoined { .. })).count(), 4);
    }

    #[tokio::test]
    async fn signals_go_to_one_peer_in_the_same_call_only() {
        let mut hub = hub();
        let mut a = connect_to(&mut hub, 1, "r").await;
        let mut b = connect_to(&mut hub, 2, "r").await;
        let mut c = connect_to(&mut hub, 3, "r").await; // in the room, not in the call
        let mut d = connect_to(&mut hub, 4, "elsewhere").await;
        join_call(&mut hub, 1);
        join_call(&mut hub, 2);
        join_call(&mut hub, 4);
        for rx in [&mut a, &mut b, &mut c, &mut d] {
            drain(rx);
        }

        req(&mut hub, 1, offer(2));
        assert!(matches!(&drain(&mut b)[..], [ServerMsg::Signal { from: 1, .. }]));
        assert!(drain(&mut c).is_empty(), "a signal was broadcast");

        for to in [3, 4, 1, 99] {
            req(&mut hub, 1, offer(to));
            let errs = drain(&mut a);
            assert!(matches!(&errs[..], [ServerMsg::Error { code: ErrorCode::NotInCall, .. }]), "to {to}: {errs:?}");
        }
        // Someone outside the call cannot signal into it.
        req(&mut hub, 3, offer(1));
        assert!(matches!(&drain(&mut c)[..], [ServerMsg::Error { code: ErrorCode::NotInCall, .. }]));
        assert!(drain(&mut a).is_empty());
    }

    #[tokio::test]
    async fn leaving_the_room_or_disconnecting_leaves_the_call() {
        let mut hub = hub();
        let mut a = connect_to(&mut hub, 1, "r").await;
        let _b = connect_to(&mut hub, 2, "r").await;
        let _c = connect_to(&mut hub, 3, "r").await;
        for id in 1..=3 {
            join_call(&mut hub, id);
        }
        drain(&mut a);
        req(&mut hub, 2, ClientMsg::Leave { req_id: None });
        hub.handle(Command::Disconnect { conn_id: 3 });
        let seen = drain(&mut a);
        let left: Vec<ConnId> = seen
            .iter()
            .filter_map(|m| match m {
                ServerMsg::CallParticipantLeft { conn_id } => Some(*conn_id),
                _ => None,
            })
            .collect();
        assert_eq!(left, [2, 3]);
        assert_eq!(hub.rooms["r"].call.len(), 1);

        req(&mut hub, 1, ClientMsg::CallState { media: MediaState { audio: false, video: true, screen: false } });
        req(&mut hub, 1, ClientMsg::CallLeave { req_id: Some(9) });
        assert!(hub.rooms["r"].call.is_empty());
        req(&mut hub, 1, ClientMsg::CallLeave { req_id: Some(10) });
        let last = drain(&mut a);
        assert!(matches!(last.last(), Some(ServerMsg::Error { code: ErrorCode::NotInCall, req_id: Some(10), .. })), "{last:?}");
    }
}
