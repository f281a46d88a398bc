//! The browser's side of a call: camera and microphone, and one `RTCPeerConnection` per
//! other participant (a full mesh, up to 4 people).
//!
//! Why "perfect negotiation": when two peers need to (re)negotiate at the same moment — both
//! add tracks on joining, or one shares a screen while the other switches camera — both
//! send offers. One side of every pair is *polite* (here: the one with the higher
//! connection id): it rolls back its own offer and answers; the impolite side ignores the
//! colliding offer. No deadlock, no lost negotiation, whatever the timing.
//!
//! Why signals go through a per-peer queue: each signal is applied with awaits (set the
//! remote description, then create and set an answer). A candidate handled before its offer
//! finished would fail, so every peer processes its signals strictly in order.
//!
//! The JS objects live here, in one thread-local [`Engine`]; the UI only sees the plain
//! data in [`Session`] (participants, media state, devices, speaking) and asks for the
//! streams to attach with [`local_stream`] and [`remote_stream`].

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::mpsc;
use futures::StreamExt;
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MediaDeviceInfo, MediaDeviceKind, MediaStream, MediaStreamConstraints, MediaStreamTrack, RtcConfiguration,
    RtcIceCandidateInit, RtcPeerConnection, RtcPeerConnectionIceEvent, RtcRtpSender, RtcSdpType,
    RtcSessionDescriptionInit, RtcSignalingState, RtcTrackEvent,
};

use crate::app::session::{Device, Session};
use crate::protocol::{ConnId, IceServer, MediaState, SdpType, ServerMsg, SignalPayload};
use crate::strings;

/// Mean audio power (level², level in 0..1) above which a participant counts as speaking:
/// a level of about 0.01, well above the silence a muted microphone sends.
const SPEAKING_POWER: f64 = 0.0001;
/// How often the incoming audio energy is read.
const SPEAKING_POLL_MS: u32 = 300;
/// How long a tile stays highlighted after the last loud interval.
const SPEAKING_HOLD_MS: f64 = 700.0;

struct Peer {
    pc: RtcPeerConnection,
    /// Remote tracks as they arrive; the tile shows this stream.
    stream: MediaStream,
    signals: mpsc::UnboundedSender<SignalPayload>,
    /// Kept alive as long as the connection: the JS callbacks.
    _callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
}

#[derive(Default)]
struct Engine {
    local: Option<MediaStream>,
    camera: Option<MediaStreamTrack>,
    microphone: Option<MediaStreamTrack>,
    screen: Option<MediaStreamTrack>,
    peers: HashMap<ConnId, Peer>,
    ice_servers: Vec<IceServer>,
    /// Bumped on every preview request so a slow, outdated getUserMedia is dropped.
    preview_seq: u32,
}

thread_local! {
    static ENGINE: RefCell<Engine> = RefCell::new(Engine::default());
}

fn with_engine<T>(f: impl FnOnce(&mut Engine) -> T) -> T {
    ENGINE.with(|e| f(&mut e.borrow_mut()))
}

fn bump(session: Session) {
    session.media_epoch.update(|n| *n += 1);
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

pub fn remote_stream(conn_id: ConnId) -> Option<MediaStream> {
    with_engine(|e| e.peers.get(&conn_id).map(|p| Clone::clone(&p.stream)))
}

fn media_devices() -> Option<web_sys::MediaDevices> {
    web_sys::window()?.navigator().media_devices().ok()
}

fn constraint(device: Option<String>) -> JsValue {
    match device {
        Some(id) => js_sys::JSON::parse(&serde_json::json!({ "deviceId": { "exact": id } }).to_string())
            .unwrap_or(JsValue::TRUE),
        None => JsValue::TRUE,
    }
}

async fn get_user_media(audio: JsValue, video: JsValue) -> Result<MediaStream, JsValue> {
    let devices = media_devices().ok_or_else(|| JsValue::from_str("NotSupportedError"))?;
    let c = MediaStreamConstraints::new();
    c.set_audio(&audio);
    c.set_video(&video);
    let stream = JsFuture::from(devices.get_user_media_with_constraints(&c)?).await?;
    Ok(stream.unchecked_into())
}

/// Fill the camera and microphone pickers; called at start and on `devicechange`.
pub async fn refresh_devices(session: Session) {
    let Some(devices) = media_devices() else { return };
    let Ok(promise) = devices.enumerate_devices() else { return };
    let Ok(list) = JsFuture::from(promise).await else { return };
    let (mut cams, mut mics) = (Vec::new(), Vec::new());
    for (i, d) in js_sys::Array::from(&list).iter().enumerate() {
        let d: MediaDeviceInfo = d.unchecked_into();
        let label = if d.label().is_empty() { format!("Device {}", i + 1) } else { d.label() };
        let device = Device { id: d.device_id(), label };
        match d.kind() {
            MediaDeviceKind::Videoinput => cams.push(device),
            MediaDeviceKind::Audioinput => mics.push(device),
            _ => {}
        }
    }
    session.cameras.set(cams);
    session.microphones.set(mics);
}

/// Watch for plugged/unplugged devices (once per page).
pub fn watch_devices(session: Session) {
    let Some(devices) = media_devices() else { return };
    let cb = Closure::<dyn FnMut(JsValue)>::new(move |_| leptos::task::spawn_local(refresh_devices(session)));
    devices.set_ondevicechange(Some(cb.as_ref().unchecked_ref()));
    cb.forget();
}

fn track_of(stream: &MediaStream, kind: &str) -> Option<MediaStreamTrack> {
    let tracks = if kind == "audio" { stream.get_audio_tracks() } else { stream.get_video_tracks() };
    tracks.get(0).dyn_into::<MediaStreamTrack>().ok()
}

/// Open the camera and microphone chosen in the pickers for the preview (and the call).
/// Falls back to whatever is available: audio only, video only, or nothing (receive-only).
pub async fn start_preview(session: Session) {
    let seq = with_engine(|e| {
        e.preview_seq += 1;
        e.preview_seq
    });
    let cam = session.camera_id.get_untracked();
    let mic = session.microphone_id.get_untracked();
    let attempts = [
        (constraint(mic.clone()), constraint(cam.clone())),
        (constraint(mic), JsValue::FALSE),
        (JsValue::FALSE, constraint(cam)),
    ];
    let mut last_error = None;
    let mut stream = None;
    for (audio, video) in attempts {
        match get_user_media(audio, video).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(err_text(&e)),
        }
    }
    if with_engine(|e| e.preview_seq) != seq {
        if let Some(s) = stream {
            stop_tracks(&s);
        }
        return;
    }
    let (camera, microphone) = match &stream {
        Some(s) => (track_of(s, "video"), track_of(s, "audio")),
        None => (None, None),
    };
    session.device_note.set(match (&camera, &microphone, last_error) {
        (Some(_), Some(_), _) => None,
        (None, None, e) => Some(strings::no_devices(e.as_deref().unwrap_or(""))),
        (None, Some(_), _) => Some(strings::NO_CAMERA.to_string()),
        (Some(_), None, _) => Some(strings::NO_MICROPHONE.to_string()),
    });
    // Keep the chosen mute/camera-off state on the new tracks.
    let media = session.media.get_untracked();
    let in_call = session.in_call.get_untracked();
    if let Some(t) = &microphone {
        t.set_enabled(!in_call || media.audio);
    }
    if let Some(t) = &camera {
        t.set_enabled(!in_call || media.video);
    }
    let old = with_engine(|e| {
        let old = e.local.take();
        e.local = stream;
        e.camera = camera;
        e.microphone = microphone;
        old
    });
    if let Some(old) = old {
        stop_tracks(&old);
    }
    // Labels are only readable after permission was granted.
    refresh_devices(session).await;
    bump(session);
}

fn stop_tracks(stream: &MediaStream) {
    for t in stream.get_tracks().iter() {
        t.unchecked_into::<MediaStreamTrack>().stop();
    }
}

/// What the local tracks allow, as the state the others will see.
pub fn available_media() -> MediaState {
    with_engine(|e| MediaState { audio: e.microphone.is_some(), video: e.camera.is_some(), screen: false })
}

/// Leave the call and release the camera and microphone (leaving the room page).
pub fn stop_everything(session: Session) {
    close_peers(session);
    let (local, screen) = with_engine(|e| {
        e.preview_seq += 1;
        e.camera = None;
        e.microphone = None;
        (e.local.take(), e.screen.take())
    });
    if let Some(s) = local {
        stop_tracks(&s);
    }
    if let Some(t) = screen {
        t.stop();
    }
    bump(session);
}

/// Close every peer connection (leaving the call, or the socket dropped).
pub fn close_peers(session: Session) {
    let peers: Vec<(ConnId, Peer)> = with_engine(|e| e.peers.drain().collect());
    for (id, p) in peers {
        p.pc.close();
        expose_for_tests(id, None);
    }
    bump(session);
}

/// React to the server's call messages (after `Session::apply` updated the UI state).
pub fn on_message(session: Session, msg: &ServerMsg) {
    match msg {
        ServerMsg::CallJoined { ice_servers, participants, .. } => {
            with_engine(|e| e.ice_servers = ice_servers.clone());
            close_peers(session);
            for p in participants {
                // I am the newcomer: the others offer to me (see `ensure_peer`).
                ensure_peer(session, p.conn_id, false);
            }
        }
        ServerMsg::CallParticipantJoined { participant } if session.in_call.get_untracked() => {
            ensure_peer(session, participant.conn_id, true);
        }
        ServerMsg::CallParticipantLeft { conn_id } => {
            if let Some(p) = with_engine(|e| e.peers.remove(conn_id)) {
                p.pc.close();
                expose_for_tests(*conn_id, None);
                bump(session);
            }
        }
        ServerMsg::Signal { from, payload } if session.in_call.get_untracked() => {
            ensure_peer(session, *from, false);
            with_engine(|e| {
                if let Some(p) = e.peers.get(from) {
                    let _ = p.signals.unbounded_send(payload.clone());
                }
            });
        }
        _ => {}
    }
}

fn ice_config(servers: &[IceServer]) -> RtcConfiguration {
    let config = RtcConfiguration::new();
    if let Ok(list) = js_sys::JSON::parse(&serde_json::to_string(servers).unwrap_or_else(|_| "[]".into())) {
        config.set_ice_servers(&list);
    }
    config
}

/// Create the peer connection to `other` if there is none yet.
///
/// Who offers first: the participant already in the call (`initiator`), which adds its
/// tracks at once. The newcomer adds its tracks only once that first offer is applied, so
/// they ride on the offered transceivers and the answer carries them: no glare on joining.
/// (Chrome gathers no ICE candidates for an answer given right after rolling back its own
/// offer, so avoiding that glare matters.) Later renegotiations — a screen share without a
/// camera, say — may still collide, and perfect negotiation settles those.
fn ensure_peer(session: Session, other: ConnId, initiator: bool) {
    if with_engine(|e| e.peers.contains_key(&other)) {
        return;
    }
    let Some(me) = session.me.get_untracked() else { return };
    let config = with_engine(|e| ice_config(&e.ice_servers));
    let Ok(pc) = RtcPeerConnection::new_with_configuration(&config) else {
        session.call_error.set(Some(strings::WEBRTC_UNAVAILABLE.into()));
        return;
    };
    let polite = me > other;
    let making_offer = Rc::new(Cell::new(false));
    let stream = MediaStream::new().expect("MediaStream");
    let mut callbacks: Vec<Closure<dyn FnMut(JsValue)>> = Vec::new();

    // Trickle ICE: each local candidate goes to the peer as soon as it is found.
    callbacks.push(Closure::new(move |ev: JsValue| {
        let ev: RtcPeerConnectionIceEvent = ev.unchecked_into();
        if let Some(c) = ev.candidate() {
            session.send_signal(
                other,
                SignalPayload::Candidate { candidate: c.candidate(), sdp_mid: c.sdp_mid(), sdp_m_line_index: c.sdp_m_line_index() },
            );
        }
    }));
    pc.set_onicecandidate(Some(callbacks.last().unwrap().as_ref().unchecked_ref()));

    {
        // Careful: `MediaStream::clone` is the JS method (a new stream with copied
        // tracks); `Clone::clone` is another handle to the same stream.
        let stream = Clone::clone(&stream);
        callbacks.push(Closure::new(move |ev: JsValue| {
            let ev: RtcTrackEvent = ev.unchecked_into();
            let track = ev.track();
            // One stream per peer: replace a track of the same kind (renegotiation).
            for old in stream.get_tracks().iter() {
                let old: MediaStreamTrack = old.unchecked_into();
                if old.kind() == track.kind() && old.id() != track.id() {
                    stream.remove_track(&old);
                }
            }
            stream.add_track(&track);
            bump(session);
        }));
        pc.set_ontrack(Some(callbacks.last().unwrap().as_ref().unchecked_ref()));
    }

    {
        let pc2 = pc.clone();
        let making_offer = making_offer.clone();
        callbacks.push(Closure::new(move |_| {
            let pc = pc2.clone();
            let making_offer = making_offer.clone();
            leptos::task::spawn_local(async move {
                making_offer.set(true);
                let result = async {
                    set_local_description(&pc).await?;
                    // A remote offer may have been applied meanwhile (then we answered it).
                    if pc.signaling_state() == RtcSignalingState::HaveLocalOffer {
                        send_local_description(session, &pc, other);
                    }
                    Ok::<_, JsValue>(())
                }
                .await;
                making_offer.set(false);
                if let Err(e) = result {
                    leptos::logging::warn!("offer to {other} failed: {}", err_text(&e));
                }
            });
        }));
        pc.set_onnegotiationneeded(Some(callbacks.last().unwrap().as_ref().unchecked_ref()));
    }

    // ICE can still fail (a network change, a NAT timeout): restart it rather than lose
    // the call. `restartIce` triggers a renegotiation, which perfect negotiation handles.
    {
        let pc2 = pc.clone();
        callbacks.push(Closure::new(move |_| {
            if pc2.ice_connection_state() == web_sys::RtcIceConnectionState::Failed {
                if let Ok(restart) = js_sys::Reflect::get(&pc2, &"restartIce".into()) {
                    if let Ok(restart) = restart.dyn_into::<js_sys::Function>() {
                        let _ = restart.call0(&pc2);
                    }
                }
            }
        }));
        pc.set_oniceconnectionstatechange(Some(callbacks.last().unwrap().as_ref().unchecked_ref()));
    }

    if initiator {
        add_local_tracks(&pc, true);
    }
    let mut negotiator = Negotiator {
        session,
        pc: pc.clone(),
        other,
        polite,
        making_offer,
        ignore_offer: false,
        tracks_added: initiator,
    };
    let (tx, mut rx) = mpsc::unbounded::<SignalPayload>();
    leptos::task::spawn_local(async move {
        while let Some(signal) = rx.next().await {
            if let Err(e) = negotiator.apply(signal).await {
                leptos::logging::warn!("signal from {other} failed: {}", err_text(&e));
            }
        }
    });
    expose_for_tests(other, Some(&pc));
    LOUDNESS.with(|l| l.borrow_mut().remove(&other));
    with_engine(|e| e.peers.insert(other, Peer { pc, stream, signals: tx, _callbacks: callbacks }));
    bump(session);
}

/// Send my microphone and camera (or screen) on `pc`. With nothing to send, the offerer
/// still asks to receive audio and video, so a receive-only person sees and hears others.
fn add_local_tracks(pc: &RtcPeerConnection, offerer: bool) {
    let tracks: Vec<MediaStreamTrack> = with_engine(|e| {
        let video = e.screen.clone().or_else(|| e.camera.clone());
        [e.microphone.clone(), video].into_iter().flatten().collect()
    });
    let local = with_engine(|e| e.local.clone());
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

/// `setLocalDescription()` without arguments: the browser creates the offer or answer that
/// fits the signalling state at that moment, so a glare can never leave a stale offer
/// behind (the binding in web-sys needs an argument, hence the call by name).
async fn set_local_description(pc: &RtcPeerConnection) -> Result<(), JsValue> {
    let method: js_sys::Function = js_sys::Reflect::get(pc, &"setLocalDescription".into())?.dyn_into()?;
    let promise: js_sys::Promise = method.call0(pc)?.dyn_into()?;
    JsFuture::from(promise).await?;
    Ok(())
}

/// `window.noomPeers` (a `Map` from connection id to `RTCPeerConnection`) lets the
/// end-to-end tests and a curious person in the console inspect the mesh.
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

fn send_local_description(session: Session, pc: &RtcPeerConnection, to: ConnId) {
    if let Some(desc) = pc.local_description() {
        let sdp_type = match desc.type_() {
            RtcSdpType::Offer => SdpType::Offer,
            RtcSdpType::Answer => SdpType::Answer,
            _ => return,
        };
        session.send_signal(to, SignalPayload::Description { sdp_type, sdp: desc.sdp() });
    }
}

/// The perfect-negotiation state of one peer connection, owned by that peer's signal task.
struct Negotiator {
    session: Session,
    pc: RtcPeerConnection,
    other: ConnId,
    polite: bool,
    /// Set by the `negotiationneeded` handler while it makes an offer.
    making_offer: Rc<Cell<bool>>,
    /// The last remote offer was ignored (impolite side of a glare), and so are its candidates.
    ignore_offer: bool,
    /// My tracks are on this connection (the newcomer adds them on the first offer).
    tracks_added: bool,
}

impl Negotiator {
    async fn apply(&mut self, signal: SignalPayload) -> Result<(), JsValue> {
        let pc = &self.pc;
        match signal {
            SignalPayload::Description { sdp_type, sdp } => {
                let is_offer = sdp_type == SdpType::Offer;
                let collision =
                    is_offer && (self.making_offer.get() || pc.signaling_state() != RtcSignalingState::Stable);
                self.ignore_offer = !self.polite && collision;
                if self.ignore_offer {
                    return Ok(());
                }
                // On the polite side of a glare, this rolls back my own offer implicitly.
                let desc = RtcSessionDescriptionInit::new(if is_offer { RtcSdpType::Offer } else { RtcSdpType::Answer });
                desc.set_sdp(&sdp);
                JsFuture::from(pc.set_remote_description(&desc)).await?;
                if is_offer {
                    if !self.tracks_added {
                        add_local_tracks(pc, false);
                        self.tracks_added = true;
                    }
                    set_local_description(pc).await?;
                    send_local_description(self.session, pc, self.other);
                }
            }
            SignalPayload::Candidate { candidate, sdp_mid, sdp_m_line_index } => {
                let init = RtcIceCandidateInit::new(&candidate);
                init.set_sdp_mid(sdp_mid.as_deref());
                init.set_sdp_m_line_index(sdp_m_line_index);
                let added = JsFuture::from(pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init))).await;
                // Candidates of an offer we ignored are expected to fail.
                if added.is_err() && !self.ignore_offer {
                    added?;
                }
            }
        }
        Ok(())
    }
}

/// Swap the outgoing track of `kind` on every peer connection, without renegotiating
/// (`replaceTrack`). Adds the track (renegotiating) where there was none of that kind.
fn replace_outgoing(kind: &str, track: Option<&MediaStreamTrack>) {
    with_engine(|e| {
        for peer in e.peers.values() {
            let mut replaced = false;
            for sender in peer.pc.get_senders().iter() {
                let sender: RtcRtpSender = sender.unchecked_into();
                let sender_kind = sender.track().map(|t| t.kind());
                if sender_kind.as_deref() == Some(kind) {
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

/// Mute/unmute ("audio") or camera off/on ("video"): the track stays (no renegotiation), it
/// just sends silence or black, and the others learn the state from `call_state`.
pub fn set_sending(session: Session, kind: &'static str, on: bool) {
    let available = with_engine(|e| {
        let track = if kind == "audio" { &e.microphone } else { &e.camera };
        if let Some(t) = track {
            t.set_enabled(on);
        }
        track.is_some()
    });
    let mut media = session.media.get_untracked();
    if kind == "audio" {
        media.audio = on && available;
    } else {
        media.video = on && available;
    }
    session.set_media(media);
}

/// A different camera or microphone was picked: open it and swap it in with `replaceTrack`.
pub async fn switch_device(session: Session, kind: &'static str) {
    let (audio, video) = if kind == "audio" {
        (constraint(session.microphone_id.get_untracked()), JsValue::FALSE)
    } else {
        (JsValue::FALSE, constraint(session.camera_id.get_untracked()))
    };
    let stream = match get_user_media(audio, video).await {
        Ok(s) => s,
        Err(e) => {
            session.device_note.set(Some(strings::device_failed(&err_text(&e))));
            return;
        }
    };
    let Some(track) = track_of(&stream, kind) else { return };
    let media = session.media.get_untracked();
    track.set_enabled(if kind == "audio" { media.audio || !session.in_call.get_untracked() } else { media.video || !session.in_call.get_untracked() });
    let sharing = with_engine(|e| e.screen.is_some());
    let old = with_engine(|e| {
        let local = Clone::clone(e.local.get_or_insert_with(|| MediaStream::new().expect("MediaStream")));
        let slot = if kind == "audio" { &mut e.microphone } else { &mut e.camera };
        let old = slot.replace(Clone::clone(&track));
        if let Some(old) = &old {
            local.remove_track(old);
        }
        local.add_track(&track);
        old
    });
    if kind == "audio" || !sharing {
        replace_outgoing(kind, Some(&track));
    }
    if let Some(old) = old {
        old.stop();
    }
    session.device_note.set(None);
    bump(session);
}

/// Share the screen in place of the camera; the browser's own "Stop sharing" ends it too.
pub async fn start_screen_share(session: Session) {
    let Some(devices) = media_devices() else { return };
    let Ok(promise) = devices.get_display_media() else { return };
    let stream: MediaStream = match JsFuture::from(promise).await {
        Ok(s) => s.unchecked_into(),
        Err(e) => {
            session.device_note.set(Some(strings::screen_failed(&err_text(&e))));
            return;
        }
    };
    let Some(track) = track_of(&stream, "video") else { return };
    let ended = Closure::<dyn FnMut(JsValue)>::new(move |_| stop_screen_share(session));
    track.set_onended(Some(ended.as_ref().unchecked_ref()));
    ended.forget();
    with_engine(|e| {
        let local = Clone::clone(e.local.get_or_insert_with(|| MediaStream::new().expect("MediaStream")));
        if let Some(cam) = &e.camera {
            local.remove_track(cam);
        }
        local.add_track(&track);
        e.screen = Some(Clone::clone(&track));
    });
    replace_outgoing("video", Some(&track));
    let media = session.media.get_untracked();
    session.set_media(MediaState { screen: true, ..media });
    bump(session);
}

pub fn stop_screen_share(session: Session) {
    let Some(screen) = with_engine(|e| e.screen.take()) else { return };
    screen.stop();
    let camera = with_engine(|e| {
        if let Some(local) = &e.local {
            local.remove_track(&screen);
            if let Some(cam) = &e.camera {
                local.add_track(cam);
            }
        }
        e.camera.clone()
    });
    replace_outgoing("video", camera.as_ref());
    let media = session.media.get_untracked();
    session.set_media(MediaState { screen: false, ..media });
    bump(session);
}

/// Who is speaking, from each peer's incoming audio as the browser measures it (the RTP
/// audio level): `getStats()` gives `totalAudioEnergy` and `totalSamplesDuration`, so
/// their growth since the last poll is the mean power over the whole interval. Unlike a
/// single `audioLevel` sample, a short word between two polls is not missed. A tile stays
/// highlighted for [`SPEAKING_HOLD_MS`] after the last loud interval, so it does not flicker.
pub fn watch_speaking(session: Session) {
    let poll = Closure::<dyn FnMut()>::new(move || {
        if !session.in_call.get_untracked() {
            return;
        }
        let pcs: Vec<(ConnId, RtcPeerConnection)> =
            with_engine(|e| e.peers.iter().map(|(id, p)| (*id, p.pc.clone())).collect());
        leptos::task::spawn_local(async move {
            let now = js_sys::Date::now();
            let mut speaking = Vec::new();
            for (id, pc) in pcs {
                let Ok(report) = JsFuture::from(pc.get_stats()).await else { continue };
                let (energy, duration) = inbound_audio_energy(&report);
                let loud = LOUDNESS.with(|l| {
                    let mut l = l.borrow_mut();
                    let last = l.entry(id).or_default();
                    let (de, dd) = (energy - last.energy, duration - last.duration);
                    last.energy = energy;
                    last.duration = duration;
                    if dd > 0.0 && de / dd > SPEAKING_POWER {
                        last.loud_at = now;
                    }
                    now - last.loud_at < SPEAKING_HOLD_MS
                });
                if loud {
                    speaking.push(id);
                }
            }
            speaking.sort_unstable();
            if session.speaking.get_untracked() != speaking {
                session.speaking.set(speaking);
            }
        });
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
            poll.as_ref().unchecked_ref(),
            SPEAKING_POLL_MS as i32,
        );
    }
    poll.forget();
}

#[derive(Default)]
struct Loudness {
    energy: f64,
    duration: f64,
    loud_at: f64,
}

thread_local! {
    static LOUDNESS: RefCell<HashMap<ConnId, Loudness>> = RefCell::new(HashMap::new());
}

/// Sum of `totalAudioEnergy` and `totalSamplesDuration` over the report's incoming audio.
fn inbound_audio_energy(report: &JsValue) -> (f64, f64) {
    let field = |v: &JsValue, k: &str| js_sys::Reflect::get(v, &k.into()).ok();
    let (mut energy, mut duration) = (0.0, 0.0);
    let Ok(Some(entries)) = js_sys::try_iter(report) else { return (0.0, 0.0) };
    for entry in entries.flatten() {
        let stat = js_sys::Array::from(&entry).get(1);
        let is_inbound_audio = field(&stat, "type").and_then(|t| t.as_string()).as_deref() == Some("inbound-rtp")
            && field(&stat, "kind").and_then(|k| k.as_string()).as_deref() == Some("audio");
        if is_inbound_audio {
            energy += field(&stat, "totalAudioEnergy").and_then(|v| v.as_f64()).unwrap_or(0.0);
            duration += field(&stat, "totalSamplesDuration").and_then(|v| v.as_f64()).unwrap_or(0.0);
        }
    }
    (energy, duration)
}
