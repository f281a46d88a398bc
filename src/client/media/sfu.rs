//! SFU calls: one connection to the server ([`SFU_PEER`]) that carries everything — what I
//! publish (microphone, camera in three simulcast layers, screen) and an m-line for every
//! track of the others I receive.
//!
//! Why I always offer: the SFU only answers, so offers never cross. When the SFU has new
//! tracks for me it lists them (`call_tracks`); I add a receive-only transceiver for each
//! new one (and stop the ones no longer listed), and the browser's `negotiationneeded`
//! makes the offer. Each offer says what every m-line is for (`tracks`).
//!
//! Why simulcast: the camera goes up once, at a quarter, half and full resolution (`rid`
//! q, h, f); the SFU gives each subscriber the layer that fits how big that person shows the
//! tile (measured here several times a second and reported as `call_layout` when it changes) and their bandwidth. Tiles that
//! are not visible get no video at all.

use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{MediaStreamTrack, RtcPeerConnection, RtcRtpTransceiver};

use super::engine::{bump, report, with_engine, SfuLink};
use super::js::expose_for_tests;
use super::peer::{self, Setup};
use crate::client::port::Model;
use crate::model::MediaEvent;
use crate::protocol::{RemoteTrack, SignalPayload, TileView, TrackKind, SFU_PEER};

/// How often the visible tiles are measured and, when they changed, reported (a few
/// `getBoundingClientRect`s; a report goes out only on a change).
const LAYOUT_EVERY_MS: i32 = 150;

/// Connect to the SFU ahead of joining a call (once in a room, on the preview): ICE and
/// DTLS are done by the time the person clicks "Join call", which then only adds the
/// tracks. A data channel carries the connection until then. Does nothing if connected.
pub fn prepare(model: Model) {
    if with_engine(|e| e.sfu.is_some()) {
        return;
    }
    let ice = with_engine(|e| e.ice.clone());
    let describe: peer::Describe =
        Rc::new(|_pc: &RtcPeerConnection| with_engine(|e| e.sfu.as_ref().map(SfuLink::describe).unwrap_or_default()));
    let setup =
        Setup { other: SFU_PEER, polite: true, ice, describe: Some(describe), on_track: None, before_first_answer: None };
    let Some(peer) = peer::open(model, setup) else { return };
    let _ = peer.pc.create_data_channel("noom");
    expose_for_tests(SFU_PEER, Some(&peer.pc));
    with_engine(|e| e.sfu = Some(SfuLink { peer, audio: None, camera: None, screen: None, subs: Vec::new() }));
}

/// In an SFU call: publish what I have and receive what the SFU offers, on the prepared
/// connection (made now if there is none).
pub fn open(model: Model) {
    prepare(model);
    let (mic, cam, screen, local, screen_stream) =
        with_engine(|e| (e.microphone.clone(), e.camera.clone(), e.screen.clone(), e.local.clone(), e.screen_stream.clone()));
    with_engine(|e| {
        let Some(link) = e.sfu.as_mut() else { return };
        let pc = link.peer.pc.clone();
        if link.audio.is_none() {
            link.audio = mic.map(|t| add_sender(&pc, &t, local.as_ref(), false));
        }
        if link.camera.is_none() {
            link.camera = cam.map(|t| add_sender(&pc, &t, local.as_ref(), true));
        }
        if link.screen.is_none() {
            link.screen = screen.map(|t| add_sender(&pc, &t, screen_stream.as_ref(), false));
        }
    });
    let tracks = with_engine(|e| e.offered.clone());
    reconcile(model, &tracks);
    bump(model);
}

/// Whether the SFU link carries a call (not only prepared).
pub fn in_call() -> bool {
    with_engine(|e| e.mode == crate::protocol::CallMode::Sfu && e.sfu.is_some())
}

/// Close the connection to the SFU; what it carried goes with it.
pub fn close() {
    with_engine(|e| e.remote.clear());
    if let Some(link) = with_engine(|e| e.sfu.take()) {
        link.peer.close();
        expose_for_tests(SFU_PEER, None);
    }
}

pub fn signal(payload: SignalPayload) {
    with_engine(|e| {
        if let Some(link) = &e.sfu {
            let _ = link.peer.signals.unbounded_send(payload);
        }
    });
}

/// The SFU's list of what I can receive.
pub fn set_tracks(model: Model, tracks: &[RemoteTrack]) {
    with_engine(|e| e.offered = tracks.to_vec());
    reconcile(model, tracks);
}

/// Dynacast: encode only the simulcast layers `rids` of my `kind` track (the SFU's
/// `call_layers`: nobody receives the others). Sets `active` on the sender's encodings.
pub fn set_layers(kind: TrackKind, rids: &[String]) {
    let sender = with_engine(|e| {
        let link = e.sfu.as_ref()?;
        let t = if kind == TrackKind::Screen { link.screen.as_ref() } else { link.camera.as_ref() }?;
        Some(t.sender())
    });
    let Some(sender) = sender else { return };
    let call = |name: &str, args: &js_sys::Array| -> Option<JsValue> {
        let f = js_sys::Reflect::get(&sender, &name.into()).ok()?.dyn_into::<js_sys::Function>().ok()?;
        f.apply(&sender, args).ok()
    };
    let Some(params) = call("getParameters", &js_sys::Array::new()) else { return };
    let Ok(encodings) = js_sys::Reflect::get(&params, &"encodings".into()) else { return };
    let mut changed = false;
    for enc in js_sys::Array::from(&encodings).iter() {
        let Some(rid) = js_sys::Reflect::get(&enc, &"rid".into()).ok().and_then(|r| r.as_string()) else { continue };
        let on = rids.contains(&rid);
        let was = js_sys::Reflect::get(&enc, &"active".into()).ok().and_then(|a| a.as_bool()).unwrap_or(true);
        if on != was {
            let _ = js_sys::Reflect::set(&enc, &"active".into(), &on.into());
            changed = true;
        }
    }
    if changed {
        let Some(promise) = call("setParameters", &js_sys::Array::of1(&params)) else { return };
        let promise = js_sys::Promise::resolve(&promise);
        leptos::task::spawn_local(async move {
            if let Err(e) = wasm_bindgen_futures::JsFuture::from(promise).await {
                leptos::logging::warn!("setting the layers to encode failed: {e:?}");
            }
        });
    }
}

/// One receive-only transceiver per listed track; stop the others.
fn reconcile(model: Model, tracks: &[RemoteTrack]) {
    let changed = with_engine(|e| {
        let Some(link) = e.sfu.as_mut() else { return false };
        let mut changed = false;
        let mut kept = Vec::new();
        for (track, t) in std::mem::take(&mut link.subs) {
            if tracks.contains(&track) {
                kept.push((track, t));
            } else {
                let stream_kind = if track.kind == TrackKind::Screen { TrackKind::Screen } else { TrackKind::Video };
                if let Some(stream) = e.remote.get(&(track.from, stream_kind)) {
                    stream.remove_track(&t.receiver().track());
                }
                t.stop();
                changed = true;
            }
        }
        link.subs = kept;
        let pc = link.peer.pc.clone();
        let new: Vec<RemoteTrack> =
            tracks.iter().copied().filter(|t| !link.subs.iter().any(|(s, _)| s == t)).collect();
        for track in new {
            let init = web_sys::RtcRtpTransceiverInit::new();
            init.set_direction(web_sys::RtcRtpTransceiverDirection::Recvonly);
            let kind = if track.kind == TrackKind::Audio { "audio" } else { "video" };
            let t = pc.add_transceiver_with_str_and_init(kind, &init);
            if track.kind.is_video() {
                prefer_vp8(&t);
            }
            let stream_kind = if track.kind == TrackKind::Screen { TrackKind::Screen } else { TrackKind::Video };
            let link = e.sfu.as_mut().expect("checked above");
            link.subs.push((track, t.clone()));
            e.remote_stream_entry(track.from, stream_kind).add_track(&t.receiver().track());
            changed = true;
        }
        changed
    });
    if changed {
        bump(model);
    }
}

/// A sending transceiver for `track`; the camera in three simulcast layers.
fn add_sender(
    pc: &RtcPeerConnection,
    track: &MediaStreamTrack,
    stream: Option<&web_sys::MediaStream>,
    simulcast: bool,
) -> RtcRtpTransceiver {
    let init = js_sys::Object::new();
    let set = |k: &str, v: &JsValue| {
        let _ = js_sys::Reflect::set(&init, &k.into(), v);
    };
    set("direction", &"sendonly".into());
    if let Some(stream) = stream {
        set("streams", &js_sys::Array::of1(stream));
    }
    if simulcast {
        let layers = js_sys::Array::new();
        for (rid, scale) in [("q", 4.0), ("h", 2.0), ("f", 1.0)] {
            let enc = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&enc, &"rid".into(), &rid.into());
            let _ = js_sys::Reflect::set(&enc, &"scaleResolutionDownBy".into(), &JsValue::from_f64(scale));
            layers.push(&enc);
        }
        set("sendEncodings", &layers);
    }
    let t = pc.add_transceiver_with_media_stream_track_and_init(track, init.unchecked_ref());
    if track.kind() == "video" {
        prefer_vp8(&t);
    }
    t
}

/// VP8 only (and its retransmissions): simulcast and the SFU's keyframe detection rely on
/// it, and one codec keeps each m-line — a hundred of them in a call of 50 — small.
fn prefer_vp8(t: &RtcRtpTransceiver) {
    let Ok(receiver_class) = js_sys::Reflect::get(&js_sys::global(), &"RTCRtpReceiver".into()) else { return };
    let Ok(get_caps) = js_sys::Reflect::get(&receiver_class, &"getCapabilities".into()) else { return };
    let Ok(get_caps) = get_caps.dyn_into::<js_sys::Function>() else { return };
    let Ok(caps) = get_caps.call1(&receiver_class, &"video".into()) else { return };
    let Ok(codecs) = js_sys::Reflect::get(&caps, &"codecs".into()) else { return };
    let chosen = js_sys::Array::new();
    for c in js_sys::Array::from(&codecs).iter() {
        let mime = js_sys::Reflect::get(&c, &"mimeType".into()).ok().and_then(|m| m.as_string()).unwrap_or_default();
        if mime.eq_ignore_ascii_case("video/VP8") || mime.eq_ignore_ascii_case("video/rtx") {
            chosen.push(&c);
        }
    }
    if chosen.length() == 0 {
        return;
    }
    if let Ok(set) = js_sys::Reflect::get(t, &"setCodecPreferences".into()) {
        if let Ok(set) = set.dyn_into::<js_sys::Function>() {
            let _ = set.call1(t, &chosen);
        }
    }
}

/// Swap the track on my sending transceiver of `kind` (`replaceTrack`, no renegotiation);
/// with no such transceiver yet, add one (renegotiates).
pub fn replace_outgoing(kind: TrackKind, track: Option<&MediaStreamTrack>) {
    with_engine(|e| {
        let local = e.local.clone();
        let Some(link) = e.sfu.as_mut() else { return };
        let pc = link.peer.pc.clone();
        let slot = match kind {
            TrackKind::Audio => &mut link.audio,
            TrackKind::Video => &mut link.camera,
            TrackKind::Screen => &mut link.screen,
        };
        match (slot.as_ref(), track) {
            (Some(t), track) => {
                let _ = t.sender().replace_track(track);
            }
            (None, Some(track)) => {
                *slot = Some(add_sender(&pc, track, local.as_ref(), kind == TrackKind::Video));
            }
            (None, None) => {}
        }
    });
}

/// Start (`Some`) or stop (`None`) publishing my screen as its own track.
pub fn publish_screen(track: Option<&MediaStreamTrack>) {
    with_engine(|e| {
        let stream = e.screen_stream.clone();
        let Some(link) = e.sfu.as_mut() else { return };
        match track {
            Some(track) => match &link.screen {
                Some(t) => {
                    let _ = t.sender().replace_track(Some(track));
                }
                None => link.screen = Some(add_sender(&link.peer.pc, track, stream.as_ref(), false)),
            },
            None => {
                if let Some(t) = link.screen.take() {
                    t.stop();
                }
            }
        }
    });
}

/// Several times a second, tell the SFU which remote tiles the grid shows when that changed
/// (once per page). The grid measures them itself (`Intent::ShowTiles`); the engine only
/// knows when its SFU connection can use them.
pub fn watch_layout(model: Model) {
    let last = Rc::new(std::cell::RefCell::new(Vec::<TileView>::new()));
    let poll = Closure::<dyn FnMut()>::new(move || {
        if !model.read(|s| s.call.in_call) || !in_call() {
            last.borrow_mut().clear();
            return;
        }
        let tiles = model.read(|s| s.call.shown.clone());
        if *last.borrow() != tiles {
            report(model, MediaEvent::Layout(tiles.clone()));
            *last.borrow_mut() = tiles;
        }
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(poll.as_ref().unchecked_ref(), LAYOUT_EVERY_MS);
    }
    poll.forget();
}
