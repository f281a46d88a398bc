//! The engine's state: every JS object a call holds (my tracks, the peer connections, the
//! SFU link, the streams received), in one thread-local [`Engine`], and the small helpers
//! the engine's parts share (reach the state, tell the model what happened).
//!
//! Why a file of its own: every part (`local`, `mesh`, `sfu`, `speaking`) reads and
//! changes this state, and `mod.rs` calls into the parts. Kept here, below the parts and
//! above only `peer.rs` (whose connections it holds), the parts depend on it and `mod.rs`
//! on them, never back.

use std::cell::RefCell;
use std::collections::HashMap;

use web_sys::{MediaStream, MediaStreamTrack, RtcPeerConnection, RtcRtpTransceiver};

use super::peer::{self, IceSetup, Peer};
use crate::client::port::Model;
use crate::model::{Input, MediaEvent};
use crate::protocol::{CallMode, ConnId, RemoteTrack, TrackKind, TrackMid};

#[derive(Default)]
pub struct Engine {
    /// My camera and microphone (the preview and my own tile show it).
    pub local: Option<MediaStream>,
    pub camera: Option<MediaStreamTrack>,
    pub microphone: Option<MediaStreamTrack>,
    /// My screen share, and a stream holding it for my own screen tile.
    pub screen: Option<MediaStreamTrack>,
    pub screen_stream: Option<MediaStream>,
    /// Peer-to-peer calls: one connection per other participant.
    pub peers: HashMap<ConnId, Peer>,
    /// SFU calls: the one connection to the server.
    pub sfu: Option<SfuLink>,
    /// What others send me through the SFU, per participant: their camera (with their
    /// audio) and screen.
    pub remote: HashMap<(ConnId, TrackKind), MediaStream>,
    /// What each peer sends me in a peer-to-peer call (camera or screen, and audio).
    pub mesh_streams: HashMap<ConnId, MediaStream>,
    /// The SFU's last list of what I can receive (it may arrive before `call_joined`).
    pub offered: Vec<RemoteTrack>,
    pub ice: IceSetup,
    pub mode: CallMode,
    /// Bumped on every preview request so a slow, outdated getUserMedia is dropped.
    pub preview_seq: u32,
}

impl Engine {
    /// New ICE servers (fresh TURN credentials, with every `joined` and `call_joined`):
    /// kept for new connections and given to the open ones.
    pub fn set_ice(&mut self, ice: IceSetup) {
        for p in self.peers.values() {
            peer::refresh_ice(&p.pc, &ice);
        }
        if let Some(sfu) = &self.sfu {
            peer::refresh_ice(&sfu.peer.pc, &ice);
        }
        self.ice = ice;
    }

    /// The stream for `conn_id`'s `kind`, created empty on first use.
    pub fn remote_stream_entry(&mut self, conn_id: ConnId, kind: TrackKind) -> MediaStream {
        Clone::clone(self.remote.entry((conn_id, kind)).or_insert_with(|| MediaStream::new().expect("MediaStream")))
    }
}

/// The one connection to the SFU (`sfu.rs` runs it): my sending transceivers and one
/// receive-only transceiver per track of the others.
pub struct SfuLink {
    pub peer: Peer,
    pub audio: Option<RtcRtpTransceiver>,
    pub camera: Option<RtcRtpTransceiver>,
    pub screen: Option<RtcRtpTransceiver>,
    /// Receive-only transceivers, one per track of the others.
    pub subs: Vec<(RemoteTrack, RtcRtpTransceiver)>,
}

impl SfuLink {
    /// What each m-line is for, as the offer says.
    pub fn describe(&self) -> Vec<TrackMid> {
        let mut out = Vec::new();
        let sending = [(TrackKind::Audio, &self.audio), (TrackKind::Video, &self.camera), (TrackKind::Screen, &self.screen)];
        for (kind, t) in sending {
            if let Some(mid) = t.as_ref().and_then(|t| t.mid()) {
                out.push(TrackMid { mid, kind, from: None });
            }
        }
        for (track, t) in &self.subs {
            if let Some(mid) = t.mid() {
                out.push(TrackMid { mid, kind: track.kind, from: Some(track.from) });
            }
        }
        out
    }

    /// The m-line of a track I receive, for the speaking detection.
    pub fn source_of_mid(&self, mid: &str) -> Option<RemoteTrack> {
        self.subs.iter().find(|(_, t)| t.mid().as_deref() == Some(mid)).map(|(r, _)| *r)
    }

    pub fn pc(&self) -> RtcPeerConnection {
        self.peer.pc.clone()
    }
}

thread_local! {
    static ENGINE: RefCell<Engine> = RefCell::new(Engine::default());
}

pub fn with_engine<T>(f: impl FnOnce(&mut Engine) -> T) -> T {
    ENGINE.with(|e| f(&mut e.borrow_mut()))
}

/// Tell the video elements to re-attach (tracks or streams changed).
pub fn bump(model: Model) {
    report(model, MediaEvent::StreamsChanged);
}

/// Tell the model what happened here (the engine writes no state of its own).
pub fn report(model: Model, event: MediaEvent) {
    model.dispatch(Input::Media(event));
}
