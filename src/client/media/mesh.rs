//! Peer-to-peer calls (up to `--p2p-max` people): one connection per other participant,
//! media never through the server.
//!
//! Who offers first: the participant already in the call (`initiator`), which adds its
//! tracks at once. The newcomer adds its tracks only once that first offer is applied, so
//! they ride on the offered transceivers and the answer carries them: no glare on joining.
//! (Chrome gathers no ICE candidates for an answer given right after rolling back its own
//! offer, so avoiding that glare matters.) Later renegotiations — a screen share without a
//! camera, say — may still collide, and perfect negotiation (`peer.rs`) settles those.

use wasm_bindgen::JsCast;
use web_sys::{MediaStreamTrack, RtcPeerConnection, RtcRtpSender};

use super::engine::{bump, with_engine};
use super::js::expose_for_tests;
use super::peer::{self, Setup};
use super::speaking;
use crate::client::port::Model;
use crate::model::PeerLink;
use crate::protocol::{ConnId, SignalPayload, TrackKind};

/// Create the peer connection of `link` if there is none yet (who offers and who is
/// polite: decided by the model, `model/steps.rs`).
pub fn ensure_peer(model: Model, link: PeerLink) {
    let PeerLink { conn_id: other, offer: initiator, polite } = link;
    if with_engine(|e| e.peers.contains_key(&other)) {
        return;
    }
    let ice = with_engine(|e| e.ice.clone());
    let on_track: peer::TrackCallback = Box::new(move |ev| {
        let track = ev.track();
        with_engine(|e| {
            // One stream per peer: replace a track of the same kind (renegotiation).
            let stream = Clone::clone(
                e.mesh_streams.entry(other).or_insert_with(|| web_sys::MediaStream::new().expect("MediaStream")),
            );
            for old in stream.get_tracks().iter() {
                let old: MediaStreamTrack = old.unchecked_into();
                if old.kind() == track.kind() && old.id() != track.id() {
                    stream.remove_track(&old);
                }
            }
            stream.add_track(&track);
        });
        bump(model);
    });
    let setup = Setup {
        other,
        polite,
        ice,
        describe: None,
        on_track: Some(on_track),
        before_first_answer: (!initiator).then(|| Box::new(|pc: &RtcPeerConnection| add_local_tracks(pc, false)) as _),
    };
    let Some(peer) = peer::open(model, setup) else { return };
    if initiator {
        add_local_tracks(&peer.pc, true);
    }
    expose_for_tests(other, Some(&peer.pc));
    speaking::forget(other);
    with_engine(|e| e.peers.insert(other, peer));
    bump(model);
}

pub fn signal(from: ConnId, payload: SignalPayload) {
    with_engine(|e| {
        if let Some(p) = e.peers.get(&from) {
            let _ = p.signals.unbounded_send(payload);
        }
    });
}

pub fn close_peer(other: ConnId) {
    with_engine(|e| e.mesh_streams.remove(&other));
    if let Some(p) = with_engine(|e| e.peers.remove(&other)) {
        p.close();
        expose_for_tests(other, None);
    }
}

pub fn close_all() {
    let ids: Vec<ConnId> = with_engine(|e| e.peers.keys().copied().collect());
    for id in ids {
        close_peer(id);
    }
}

/// Send my microphone and camera (or screen) on `pc`. With nothing to send, the offerer
/// still asks to receive audio and video, so a receive-only person sees and hears others.
fn add_local_tracks(pc: &RtcPeerConnection, offerer: bool) {
    let (tracks, local) = with_engine(|e| {
        let video = e.screen.clone().or_else(|| e.camera.clone());
        ([e.microphone.clone(), video].into_iter().flatten().collect::<Vec<_>>(), e.local.clone())
    });
    for kind in ["audio", "video"] {
        match (tracks.iter().find(|t| t.kind() == kind), &local) {
            (Some(track), Some(local)) => {
                pc.add_track_0(track, local);
            }
            _ if offerer => {
                let init = web_sys::RtcRtpTransceiverInit::new();
                init.set_direction(web_sys::RtcRtpTransceiverDirection::Recvonly);
                pc.add_transceiver_with_str_and_init(kind, &init);
            }
            _ => {}
        }
    }
}

/// Swap the outgoing track of `kind` on every peer connection, without renegotiating
/// (`replaceTrack`). Adds the track (renegotiating) where there was none of that kind.
pub fn replace_outgoing(kind: TrackKind, track: Option<&MediaStreamTrack>) {
    let kind = if kind == TrackKind::Audio { "audio" } else { "video" };
    with_engine(|e| {
        for peer in e.peers.values() {
            let mut replaced = false;
            for sender in peer.pc.get_senders().iter() {
                let sender: RtcRtpSender = sender.unchecked_into();
                if sender.track().map(|t| t.kind()).as_deref() == Some(kind) {
                    let _ = sender.replace_track(track);
                    replaced = true;
                }
            }
            if !replaced {
                if let (Some(track), Some(local)) = (track, &e.local) {
                    peer.pc.add_track_0(track, local);
                }
            }
        }
    });
}
