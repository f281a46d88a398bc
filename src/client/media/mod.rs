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
//!
//! The JS objects live here, in one thread-local [`Engine`]; the UI only sees the plain data
//! in [`Model`] (participants, media state, devices, speaking) and asks for the streams to
//! attach with [`local_stream`] and [`remote_stream`].

mod local;
mod mesh;
mod peer;
mod sfu;
mod speaking;

use std::cell::RefCell;
use std::collections::HashMap;

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{MediaStream, MediaStreamTrack, RtcPeerConnection};

use super::call_queue::CallEvent;
use crate::client::Model;
use crate::model::{EngineCommand, Input, MediaEvent};
use crate::protocol::{CallMode, ConnId, TrackKind};

use local::{
    available_media, set_sending, start_preview, start_screen_share, stop_everything, stop_screen_share,
    switch_device, watch_devices,
};
use sfu::watch_layout;
use speaking::watch_speaking;

#[derive(Default)]
struct Engine {
    /// My camera and microphone (the preview and my own tile show it).
    local: Option<MediaStream>,
    camera: Option<MediaStreamTrack>,
    microphone: Option<MediaStreamTrack>,
    /// My screen share, and a stream holding it for my own screen tile.
    screen: Option<MediaStreamTrack>,
    screen_stream: Option<MediaStream>,
    /// Peer-to-peer calls: one connection per other participant.
    peers: HashMap<ConnId, peer::Peer>,
    /// SFU calls: the one connection to the server.
    sfu: Option<sfu::SfuLink>,
    /// What others send me through the SFU, per participant: their camera (with their
    /// audio) and screen.
    remote: HashMap<(ConnId, TrackKind), MediaStream>,
    /// What each peer sends me in a peer-to-peer call (camera or screen, and audio).
    mesh_streams: HashMap<ConnId, MediaStream>,
    /// The SFU's last list of what I can receive (it may arrive before `call_joined`).
    offered: Vec<crate::protocol::RemoteTrack>,
    ice: peer::IceSetup,
    mode: CallMode,
    /// Bumped on every preview request so a slow, outdated getUserMedia is dropped.
    preview_seq: u32,
}

impl Engine {
    /// New ICE servers (fresh TURN credentials, with every `joined` and `call_joined`):
    /// kept for new connections and given to the open ones.
    fn set_ice(&mut self, ice: peer::IceSetup) {
        for p in self.peers.values() {
            peer::refresh_ice(&p.pc, &ice);
        }
        if let Some(sfu) = &self.sfu {
            peer::refresh_ice(&sfu.peer.pc, &ice);
        }
        self.ice = ice;
    }
}

thread_local! {
    static ENGINE: RefCell<Engine> = RefCell::new(Engine::default());
}

fn with_engine<T>(f: impl FnOnce(&mut Engine) -> T) -> T {
    ENGINE.with(|e| f(&mut e.borrow_mut()))
}

/// Tell the video elements to re-attach (tracks or streams changed).
fn bump(model: Model) {
    report(model, MediaEvent::StreamsChanged);
}

/// Tell the model what happened here (the engine writes no state of its own).
fn report(model: Model, event: MediaEvent) {
    model.dispatch(Input::Media(event));
}

fn err_text(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
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

/// The stream for `conn_id`'s `kind`, created empty on first use.
fn remote_stream_entry(e: &mut Engine, conn_id: ConnId, kind: TrackKind) -> MediaStream {
    Clone::clone(e.remote.entry((conn_id, kind)).or_insert_with(|| MediaStream::new().expect("MediaStream")))
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

/// In a room, before joining its call: have the connection to the SFU ready (the call
/// panel asks). See `sfu::prepare`.
fn prepare_sfu(model: Model) {
    if model.read(|s| s.sfu_ready()) {
        sfu::prepare(model);
    }
}

/// Do what the page asked (through `call_queue`, in the order asked).
pub fn handle(model: Model, event: CallEvent) {
    start_watching(model);
    match event {
        CallEvent::Command(command) => on_command(model, command),
        CallEvent::StartPreview => leptos::task::spawn_local(start_preview(model)),
        CallEvent::StopEverything => stop_everything(model),
        CallEvent::SwitchDevice(kind) => leptos::task::spawn_local(switch_device(model, kind)),
        CallEvent::JoinCall => report(model, MediaEvent::JoinWith(available_media())),
        CallEvent::PrepareSfu => prepare_sfu(model),
        CallEvent::ToggleSending(kind) => toggle_sending(model, kind),
        CallEvent::ToggleScreen => {
            if model.read(|s| s.call.media).screen {
                stop_screen_share(model);
            } else {
                leptos::task::spawn_local(start_screen_share(model));
            }
        }
    }
}

/// Device changes, who is speaking, which tiles show: watched from the engine's first use
/// on (the first room page), for the rest of the page's life.
fn start_watching(model: Model) {
    thread_local! {
        static WATCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if !WATCHING.replace(true) {
        watch_devices(model);
        watch_speaking(model);
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
        EngineCommand::ToggleSending(kind) => toggle_sending(model, kind),
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
        EngineCommand::SfuSignal(payload) => sfu::signal(payload),
        EngineCommand::CloseSfu => sfu::close(),
        EngineCommand::OpenSfu => sfu::open(model),
        EngineCommand::PrepareSfu => sfu::prepare(model),
    }
}

/// My button: microphone or camera, on to off or off to on.
fn toggle_sending(model: Model, kind: TrackKind) {
    let now = model.read(|s| s.call.media);
    let on = if kind == TrackKind::Audio { now.audio } else { now.video };
    set_sending(model, kind, !on);
}

/// Swap my outgoing camera/microphone/screen track on every connection without
/// renegotiating (`replaceTrack`).
fn replace_outgoing(kind: TrackKind, track: Option<&MediaStreamTrack>) {
    mesh::replace_outgoing(kind, track);
    sfu::replace_outgoing(kind, track);
}

/// `window.noomPeers` (a `Map` from connection id to `RTCPeerConnection`; the SFU is 0)
/// lets the end-to-end tests and a curious person in the console inspect the connections.
fn expose_for_tests(other: ConnId, pc: Option<&RtcPeerConnection>) {
    let Some(window) = web_sys::window() else { return };
    let map = match js_sys::Reflect::get(&window, &"noomPeers".into()) {
        Ok(m) if m.is_instance_of::<js_sys::Map>() => m.unchecked_into::<js_sys::Map>(),
        _ => {
            let m = js_sys::Map::new();
            let _ = js_sys::Reflect::set(&window, &"noomPeers".into(), &m);
            m
        }
    };
    match pc {
        Some(pc) => {
            map.set(&JsValue::from_f64(other as f64), pc);
        }
        None => {
            map.delete(&JsValue::from_f64(other as f64));
        }
    }
}
