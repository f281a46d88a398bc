//! The call's steps, decided here rather than in the call engine: what the engine must do
//! about a server message, given the state once the message is applied.
//!
//! Why here: the engine used to decide from the page's state read later, when its lazily
//! loaded code ran (a latent race: a "leave" clicked in between was not seen the same
//! way), and its rules — who offers, which side is polite, P2P or SFU and the move between
//! them, recovery after `media_failed`, when to prepare the SFU connection — could only
//! be tested in a browser. Here they are plain functions of the state, tested natively
//! (`tests_call.rs`); the engine only carries out [`EngineCommand`]s.

use crate::protocol::{CallMode, ConnId, ErrorCode, ServerMsg, SFU_PEER};

use super::{ClientState, ConnStatus, EngineCommand};

/// A peer-to-peer connection to open: to whom, whether I make the offer, and whether I am
/// the polite side (the one that yields when both offer at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLink {
    pub conn_id: ConnId,
    pub offer: bool,
    pub polite: bool,
}

impl ClientState {
    /// The link to `other`; `None` before the server told me who I am. The higher id is
    /// the polite side, so both ends agree without asking.
    fn link(&self, other: ConnId, offer: bool) -> Option<PeerLink> {
        let me = self.conn.me?;
        Some(PeerLink { conn_id: other, offer, polite: me > other })
    }

    fn p2p_call(&self) -> bool {
        self.call.in_call && self.call.mode == CallMode::P2p
    }

    /// In a room and online: a connection to the SFU may be made ready (see `sfu::prepare`).
    pub fn sfu_ready(&self) -> bool {
        self.joined.is_some() && self.conn.status == ConnStatus::Online
    }

    /// What the call engine must do about `msg`. Decided before `msg` is applied: no step
    /// depends on what the message itself changes (`call_joined` makes me in the call,
    /// and its steps do not ask whether I am).
    pub(crate) fn call_steps(&self, msg: &ServerMsg) -> Vec<EngineCommand> {
        use EngineCommand::*;
        let ice = |servers: &Vec<_>, relay_only: &bool| Ice { servers: servers.clone(), relay_only: *relay_only };
        match msg {
            // The room's ICE servers, for the SFU connection prepared before joining.
            ServerMsg::Joined { ice_servers, relay_only, .. } => vec![ice(ice_servers, relay_only)],
            // I am the newcomer: the others offer to me. A prepared SFU connection is kept.
            ServerMsg::CallJoined { ice_servers, relay_only, participants, mode, .. } => {
                let peers = match mode {
                    CallMode::P2p => participants.iter().filter_map(|p| self.link(p.conn_id, false)).collect(),
                    CallMode::Sfu => Vec::new(),
                };
                vec![ice(ice_servers, relay_only), Start { mode: *mode, peers }]
            }
            // One way, once the call outgrew peer to peer; nothing to do outside the call.
            ServerMsg::CallModeChanged { mode: CallMode::Sfu } if self.call.in_call => vec![MoveToSfu],
            // A newcomer to my peer-to-peer call: I offer.
            ServerMsg::CallParticipantJoined { participant } if self.p2p_call() => {
                self.link(participant.conn_id, true).map(Connect).into_iter().collect()
            }
            ServerMsg::CallParticipantLeft { conn_id } => vec![ClosePeer(*conn_id)],
            ServerMsg::CallTracks { tracks } => vec![SfuTracks(tracks.clone())],
            // Dynacast: encode only the layers someone receives.
            ServerMsg::CallLayers { kind, rids } => vec![SetLayers { kind: *kind, rids: rids.clone() }],
            // The SFU's answers come before joining too (the prepared connection).
            ServerMsg::Signal { from: SFU_PEER, payload } => vec![SfuSignal(payload.clone())],
            // A peer's offer or candidate: the answering side opens on first contact.
            ServerMsg::Signal { from, payload } if self.p2p_call() => {
                self.link(*from, false).map(|link| PeerSignal { link, payload: payload.clone() }).into_iter().collect()
            }
            // The SFU connection failed: reopen it for my SFU call, else have a new one ready.
            ServerMsg::Error { code: ErrorCode::MediaFailed, .. } => {
                if self.call.in_call && self.call.mode == CallMode::Sfu {
                    vec![CloseSfu, OpenSfu]
                } else if self.sfu_ready() {
                    vec![CloseSfu, PrepareSfu]
                } else {
                    vec![CloseSfu]
                }
            }
            _ => Vec::new(),
        }
    }
}
