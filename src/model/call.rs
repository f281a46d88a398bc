//! The room's call as the page shows it: who is in it, whether I am, its mode, my media
//! state, the pinned tile, and why joining failed.
//!
//! Why "leave the call" is one function here ([`ClientState::leave_call`]): leaving by the
//! button, by moving to another room and by losing the socket used to be three copies
//! that behaved differently.

use crate::protocol::{
    CallMode, CallParticipant, ClientMsg, ConnId, ErrorCode, MediaState, RemoteTrack, ServerMsg, TileView, TrackKind,
};

use super::{CallError, ClientState, Effect, EngineCommand, MediaAccess};


#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallState {
    /// Everyone in the room's call (me included once I am in it), in join order.
    pub participants: Vec<CallParticipant>,
    /// Whether I am in the call (the server confirmed).
    pub in_call: bool,
    /// Whether I want to be in the call: kept across reconnects to re-join.
    pub wants_call: bool,
    /// Whether my call is peer to peer or runs through the server's SFU.
    pub mode: CallMode,
    /// My microphone/camera/screen state, as shown to the others.
    pub media: MediaState,
    /// Why joining the call failed, or why calls cannot work in this browser.
    pub error: Option<CallError>,
    /// The tile shown large, if the person pinned one.
    pub pinned: Option<(ConnId, TrackKind)>,
    /// The remote tiles the grid shows and their sizes, as the view reported them.
    pub shown: Vec<TileView>,
    /// The others' video the SFU holds back from me for lack of bandwidth (`call_paused`).
    pub paused: Vec<RemoteTrack>,
}

impl Default for CallState {
    fn default() -> Self {
        CallState {
            participants: Vec::new(),
            in_call: false,
            wants_call: false,
            mode: CallMode::P2p,
            media: MediaState::default(),
            error: None,
            pinned: None,
            shown: Vec::new(),
            paused: Vec::new(),
        }
    }
}

/// Whether `msg` may change the call's steps (they are decided from it before the state
/// takes it, see `apply`): the one list of "which messages are for the call".
pub fn for_call(msg: &ServerMsg) -> bool {
    matches!(
        msg,
        ServerMsg::Joined { .. }
            | ServerMsg::CallJoined { .. }
            | ServerMsg::CallModeChanged { .. }
            | ServerMsg::CallTracks { .. }
            | ServerMsg::CallLayers { .. }
            | ServerMsg::CallParticipantJoined { .. }
            | ServerMsg::CallParticipantLeft { .. }
            | ServerMsg::Signal { .. }
            | ServerMsg::Error { code: ErrorCode::MediaFailed, .. }
    )
}

impl ClientState {
    pub(crate) fn join_call(&mut self, media: MediaState, fx: &mut Vec<Effect>) {
        // A new call starts with a good connection until measured otherwise.
        self.devices.quality = Default::default();
        self.call.paused.clear();
        let media = MediaState { quality: self.devices.quality.shown, ..media };
        self.call.media = media;
        self.call.wants_call = true;
        self.call.error = None;
        let req_id = Some(self.next_key());
        self.send(fx, ClientMsg::CallJoin { req_id, media });
    }

    /// My microphone or camera button: the engine turns the track on or off (the state
    /// changes when it reports `MediaEvent::Sending`: it may have no such track).
    pub(crate) fn toggle_sending(&mut self, kind: TrackKind, fx: &mut Vec<Effect>) {
        if self.devices.media_access == MediaAccess::Available {
            let on = if kind == TrackKind::Audio { !self.call.media.audio } else { !self.call.media.video };
            fx.push(Effect::Engine(EngineCommand::SetSending { kind, on }));
        }
    }

    /// My screen button: start sharing, or stop.
    pub(crate) fn toggle_screen(&mut self, fx: &mut Vec<Effect>) {
        if self.devices.media_access == MediaAccess::Available {
            fx.push(Effect::Engine(EngineCommand::ShareScreen(!self.call.media.screen)));
        }
    }

    /// In the room, online and not in its call: a connection to the SFU made ready now
    /// makes joining quicker (the engine keeps one it has).
    pub(crate) fn prepare_sfu(&mut self, fx: &mut Vec<Effect>) {
        if self.devices.media_access == MediaAccess::Available && self.sfu_ready() && !self.call.in_call {
            fx.push(Effect::Engine(EngineCommand::PrepareSfu));
        }
    }

    /// Leave the call: by the button, or moving to another place. The engine is told at
    /// once, so call messages still on their way open nothing.
    pub(crate) fn leave_call(&mut self, fx: &mut Vec<Effect>) {
        self.call.wants_call = false;
        if self.call.in_call {
            self.send(fx, ClientMsg::CallLeave { req_id: None });
        }
        self.left_call();
        fx.push(Effect::Engine(EngineCommand::Leave));
    }

    /// Out of the call (left, or the socket dropped): my tile and the speakers go.
    pub(crate) fn left_call(&mut self) {
        self.call.in_call = false;
        self.call.shown.clear();
        self.call.paused.clear();
        self.devices.speaking.clear();
        let me = self.conn.me;
        self.call.participants.retain(|p| Some(p.conn_id) != me);
    }

    /// My microphone/camera/screen (or my connection's quality) changed: show it on my
    /// tile and tell the others. The quality is always the meter's (the engine's reports
    /// of what I send do not know it).
    pub(crate) fn set_media(&mut self, media: MediaState, fx: &mut Vec<Effect>) {
        let media = MediaState { quality: self.devices.quality.shown, ..media };
        self.call.media = media;
        let me = self.conn.me;
        for p in self.call.participants.iter_mut().filter(|p| Some(p.conn_id) == me) {
            p.media = media;
        }
        if self.call.in_call {
            self.send(fx, ClientMsg::CallState { media });
        }
    }

    pub(crate) fn on_call_msg(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::CallJoined { participants, mode, .. } => {
                self.call.mode = mode;
                let Some(me) = self.conn.me else { return };
                let mine = CallParticipant { conn_id: me, nickname: self.conn.nickname.clone(), media: self.call.media };
                self.call.participants = participants.into_iter().chain(std::iter::once(mine)).collect();
                self.call.in_call = true;
            }
            ServerMsg::CallParticipantJoined { participant } => {
                self.call.participants.retain(|p| p.conn_id != participant.conn_id);
                self.call.participants.push(participant);
            }
            ServerMsg::CallParticipantLeft { conn_id } => {
                self.call.participants.retain(|p| p.conn_id != conn_id);
                self.call.paused.retain(|t| t.from != conn_id);
                self.devices.speaking.retain(|id| *id != conn_id);
            }
            ServerMsg::CallParticipantState { conn_id, media } => {
                for p in self.call.participants.iter_mut().filter(|p| p.conn_id == conn_id) {
                    p.media = media;
                }
            }
            ServerMsg::CallModeChanged { mode } => self.call.mode = mode,
            // Late for a call I left (the SFU's round crossed my leaving): not for the next one.
            ServerMsg::CallPaused { tracks } if self.call.in_call => self.call.paused = tracks,
            // Signals and the SFU's track list are for the peer connections (the engine),
            // not for the page's state.
            _ => {}
        }
    }
}
