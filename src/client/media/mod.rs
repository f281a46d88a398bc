//! The browser's side of calls.
//!
//! # Layout
//! - `local.rs`: my camera, microphone and screen: the preview, device pickers, mute and
//!   camera off, device switching (`replaceTrack`) and screen sharing.
//! - `peer.rs`: one `RTCPeerConnection` and its negotiation (perfect negotiation, a signal
//!   queue per peer, ICE restart), shared by both ways a call can run.
//! - `mesh.rs`: peer-to-peer calls: one peer connection per other participant.
//! - `sfu.rs`: SFU calls: one peer connection to the server, simulcast, an m-line per track
//!   received, and the visible tiles reported for the layer choice.
//! - `speaking.rs`: who is speaking, from the incoming audio energy.
//! - `link.rs`: my link's loss and round trip, for the connection-quality indicator.
//! - `engine.rs`: the state they share (every JS object, in one thread-local `Engine`) and
//!   the helpers to reach it and report to the model; `js.rs`: an error's name and the
//!   connections shown to the tests.
//!
//! The imports point one way: this file (what the page asks, [`CallEvent`], and the
//! model's steps, carried out) calls the parts; `local` uses `mesh` and `sfu`; they all use
//! `engine`, which holds `peer`'s connections; nothing names this file.
//!
//! The JS objects live in `engine.rs`; the UI only sees the plain data in [`Model`]
//! (participants, media state, devices, speaking) and asks for the streams to attach with
//! [`local_stream`] and [`remote_stream`].

mod engine;
mod js;
mod link;
mod local;
mod mesh;
mod peer;
mod sfu;
mod speaking;

use web_sys::MediaStream;

use crate::client::port::Model;
use crate::model::{EngineCommand, MediaEvent};
use crate::protocol::{CallMode, ConnId, TrackKind};

use engine::{bump, report, with_engine};
use local::{
    available_media, release_devices, set_sending, start_preview, start_screen_share, stop_screen_share, switch_device,
    watch_devices,
};
use sfu::watch_layout;
use link::watch_link;
use speaking::watch_speaking;

/// What the call engine is asked to do.
#[derive(Debug)]
pub enum CallEvent {
    /// A step of the call the model decided (its effects, in order).
    Command(EngineCommand),
    /// The room page shows: open the camera and microphone for the preview.
    StartPreview,
    /// The room page went: release the camera, microphone and screen, leave the call.
    StopEverything,
    /// A device picker changed.
    SwitchDevice(TrackKind),
    /// Join the room's call with what the preview has.
    JoinCall,
}

/// The stream shown on my own tile and in the preview.
pub fn local_stream() -> Option<MediaStream> {
    with_engine(|e| e.local.clone())
}

/// My screen share, for my own screen tile in an SFU call.
pub fn local_screen_stream() -> Option<MediaStream> {
    with_engine(|e| e.screen_stream.clone())
}

/// What `conn_id` sends me: `TrackKind::Video` for their camera and voice, `Screen` for
/// their screen share.
pub fn remote_stream(conn_id: ConnId, kind: TrackKind) -> Option<MediaStream> {
    with_engine(|e| {
        let mesh = (kind == TrackKind::Video).then(|| e.mesh_streams.get(&conn_id)).flatten();
        mesh.or_else(|| e.remote.get(&(conn_id, kind))).map(|s| Clone::clone(s))
    })
}

/// Leave the call's media: close every peer connection (leaving the call, or the socket
/// dropped: our connection id dies with it).
fn close_peers(model: Model) {
    mesh::close_all();
    sfu::close();
    with_engine(|e| {
        e.offered.clear();
        e.mode = CallMode::P2p;
    });
    bump(model);
}

/// Do what the page asked (through `call_queue`, in the order asked).
pub fn handle(model: Model, event: CallEvent) {
    start_watching(model);
    match event {
        CallEvent::Command(command) => on_command(model, command),
        CallEvent::StartPreview => leptos::task::spawn_local(start_preview(model)),
        CallEvent::StopEverything => {
            close_peers(model);
            release_devices(model);
        }
        CallEvent::SwitchDevice(kind) => leptos::task::spawn_local(switch_device(model, kind)),
        CallEvent::JoinCall => report(model, MediaEvent::JoinWith(available_media())),
    }
}

/// Device changes, who is speaking, my link, which tiles show: watched from the engine's first use
/// on (the first room page), for the rest of the page's life.
fn start_watching(model: Model) {
    thread_local! {
        static WATCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if !WATCHING.replace(true) {
        watch_devices(model);
        watch_speaking(model);
        watch_link(model);
        watch_layout(model);
    }
}

/// Carry out a step of the call the model decided (`crate::model::EngineCommand`).
fn on_command(model: Model, command: EngineCommand) {
    match command {
        EngineCommand::Disconnected => close_peers(model),
        EngineCommand::Leave => {
            stop_screen_share(model);
            close_peers(model);
        }
        EngineCommand::SetSending { kind, on } => set_sending(model, kind, on),
        EngineCommand::ShareScreen(true) => leptos::task::spawn_local(start_screen_share(model)),
        EngineCommand::ShareScreen(false) => stop_screen_share(model),
        EngineCommand::Ice { servers, relay_only } => with_engine(|e| e.set_ice(peer::IceSetup { servers, relay_only })),
        EngineCommand::Start { mode, peers } => {
            with_engine(|e| e.mode = mode);
            // A prepared SFU connection is kept: joining only adds the tracks to it (and the
            // SFU's track list may already have arrived and be wired up).
            mesh::close_all();
            match mode {
                CallMode::P2p => peers.into_iter().for_each(|link| mesh::ensure_peer(model, link)),
                CallMode::Sfu => sfu::open(model),
            }
            bump(model);
        }
        EngineCommand::MoveToSfu => {
            with_engine(|e| e.mode = CallMode::Sfu);
            mesh::close_all();
            sfu::open(model);
        }
        EngineCommand::Connect(link) => mesh::ensure_peer(model, link),
        EngineCommand::PeerSignal { link, payload } => {
            mesh::ensure_peer(model, link);
            mesh::signal(link.conn_id, payload);
        }
        EngineCommand::ClosePeer(conn_id) => {
            mesh::close_peer(conn_id);
            bump(model);
        }
        EngineCommand::SfuTracks(tracks) => sfu::set_tracks(model, &tracks),
        EngineCommand::SetLayers { kind, rids } => sfu::set_layers(kind, &rids),
        EngineCommand::SfuSignal(payload) => sfu::signal(payload),
        EngineCommand::CloseSfu => sfu::close(),
        EngineCommand::OpenSfu => sfu::open(model),
        EngineCommand::PrepareSfu => sfu::prepare(model),
    }
}
