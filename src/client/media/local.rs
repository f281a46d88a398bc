//! My camera, microphone and screen: the preview before joining, the device pickers, mute
//! and camera off, switching devices mid-call and screen sharing.
//!
//! Why controls change tracks, not the model: Mute and Camera off disable the track
//! (`enabled = false`, the others are told by `call_state`), and switching camera or
//! microphone uses `replaceTrack`, so nothing is renegotiated and nothing drops. A screen
//! share replaces the camera in a peer-to-peer call; in an SFU call it is an extra track
//! (the camera keeps going), added and removed by renegotiating the one connection.

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaDeviceInfo, MediaDeviceKind, MediaStream, MediaStreamConstraints, MediaStreamTrack};

use super::engine::{bump, report, with_engine};
use super::js::err_text;
use super::{mesh, sfu};
use crate::client::port::Model;
use crate::model::{Device, DeviceNote, MediaEvent};
use crate::protocol::{CallMode, MediaState, TrackKind};

/// `navigator.mediaDevices`, if the page has it: not on an insecure page (plain http to a
/// name other than localhost), where web-sys's own getter would return `undefined` cast
/// to `MediaDevices` and the first use of it would throw.
pub(super) fn media_devices() -> Option<web_sys::MediaDevices> {
    let navigator = web_sys::window()?.navigator();
    let devices = js_sys::Reflect::get(&navigator, &JsValue::from_str("mediaDevices")).ok()?;
    if devices.is_undefined() || devices.is_null() {
        return None;
    }
    Some(devices.unchecked_into())
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
pub async fn refresh_devices(model: Model) {
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
    report(model, MediaEvent::Devices { cameras: cams, microphones: mics });
}

/// Watch for plugged/unplugged devices (once per page).
pub fn watch_devices(model: Model) {
    let Some(devices) = media_devices() else { return };
    let cb = Closure::<dyn FnMut(JsValue)>::new(move |_| leptos::task::spawn_local(refresh_devices(model)));
    devices.set_ondevicechange(Some(cb.as_ref().unchecked_ref()));
    cb.forget();
}

pub(super) fn track_of(stream: &MediaStream, kind: TrackKind) -> Option<MediaStreamTrack> {
    let tracks = if kind == TrackKind::Audio { stream.get_audio_tracks() } else { stream.get_video_tracks() };
    tracks.get(0).dyn_into::<MediaStreamTrack>().ok()
}

/// Open the camera and microphone chosen in the pickers for the preview (and the call).
/// Falls back to whatever is available: audio only, video only, or nothing (receive-only).
pub async fn start_preview(model: Model) {
    let seq = with_engine(|e| {
        e.preview_seq += 1;
        e.preview_seq
    });
    let cam = model.read(|s| s.devices.camera_id.clone());
    let mic = model.read(|s| s.devices.microphone_id.clone());
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
        Some(s) => (track_of(s, TrackKind::Video), track_of(s, TrackKind::Audio)),
        None => (None, None),
    };
    let note = match (&camera, &microphone, last_error) {
        (Some(_), Some(_), _) => None,
        (None, None, e) => Some(DeviceNote::NoDevices(e.unwrap_or_default())),
        (None, Some(_), _) => Some(DeviceNote::NoCamera),
        (Some(_), None, _) => Some(DeviceNote::NoMicrophone),
    };
    report(model, MediaEvent::DeviceNote(note));
    // Keep the chosen mute/camera-off state on the new tracks.
    let media = model.read(|s| s.call.media);
    let in_call = model.read(|s| s.call.in_call);
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
    refresh_devices(model).await;
    bump(model);
}

fn stop_tracks(stream: &MediaStream) {
    for t in stream.get_tracks().iter() {
        t.unchecked_into::<MediaStreamTrack>().stop();
    }
}

/// What the local tracks allow, as the state the others will see.
pub fn available_media() -> MediaState {
    with_engine(|e| MediaState { audio: e.microphone.is_some(), video: e.camera.is_some(), screen: false, ..Default::default() })
}

/// Release the camera, microphone and screen (leaving the room page, once the call's
/// connections are closed).
pub fn release_devices(model: Model) {
    let (local, screen) = with_engine(|e| {
        e.preview_seq += 1;
        e.camera = None;
        e.microphone = None;
        e.screen_stream = None;
        (e.local.take(), e.screen.take())
    });
    if let Some(s) = local {
        stop_tracks(&s);
    }
    if let Some(t) = screen {
        t.stop();
    }
    bump(model);
}

/// Mute/unmute (`Audio`) or camera off/on (`Video`): the track stays (no renegotiation), it
/// just sends silence or black, and the others learn the state from `call_state`.
pub fn set_sending(model: Model, kind: TrackKind, on: bool) {
    let available = with_engine(|e| {
        let track = if kind == TrackKind::Audio { &e.microphone } else { &e.camera };
        if let Some(t) = track {
            t.set_enabled(on);
        }
        track.is_some()
    });
    let mut media = model.read(|s| s.call.media);
    if kind == TrackKind::Audio {
        media.audio = on && available;
    } else {
        media.video = on && available;
    }
    report(model, MediaEvent::Sending(media));
}

/// A different camera or microphone was picked: open it and swap it in with `replaceTrack`.
pub async fn switch_device(model: Model, kind: TrackKind) {
    let audio = kind == TrackKind::Audio;
    let (a, v) = if audio {
        (constraint(model.read(|s| s.devices.microphone_id.clone())), JsValue::FALSE)
    } else {
        (JsValue::FALSE, constraint(model.read(|s| s.devices.camera_id.clone())))
    };
    let stream = match get_user_media(a, v).await {
        Ok(s) => s,
        Err(e) => {
            report(model, MediaEvent::DeviceNote(Some(DeviceNote::DeviceFailed(err_text(&e)))));
            return;
        }
    };
    let Some(track) = track_of(&stream, kind) else { return };
    let media = model.read(|s| s.call.media);
    let in_call = model.read(|s| s.call.in_call);
    track.set_enabled(!in_call || if audio { media.audio } else { media.video });
    // In a peer-to-peer call the screen replaces the camera on the one video sender.
    let screen_replaces_camera = with_engine(|e| e.screen.is_some() && e.mode == CallMode::P2p);
    let old = with_engine(|e| {
        let local = Clone::clone(e.local.get_or_insert_with(|| MediaStream::new().expect("MediaStream")));
        let slot = if audio { &mut e.microphone } else { &mut e.camera };
        let old = slot.replace(Clone::clone(&track));
        if let Some(old) = &old {
            local.remove_track(old);
        }
        if audio || !screen_replaces_camera {
            local.add_track(&track);
        }
        old
    });
    if audio || !screen_replaces_camera {
        replace_outgoing(kind, Some(&track));
    }
    if let Some(old) = old {
        old.stop();
    }
    report(model, MediaEvent::DeviceNote(None));
    bump(model);
}

/// Swap my outgoing camera/microphone/screen track on every connection without
/// renegotiating (`replaceTrack`).
fn replace_outgoing(kind: TrackKind, track: Option<&MediaStreamTrack>) {
    mesh::replace_outgoing(kind, track);
    sfu::replace_outgoing(kind, track);
}

/// Share the screen: in a peer-to-peer call in place of the camera, in an SFU call as an
/// extra track. The browser's own "Stop sharing" ends it too.
pub async fn start_screen_share(model: Model) {
    let Some(devices) = media_devices() else { return };
    let Ok(promise) = devices.get_display_media() else { return };
    let stream: MediaStream = match JsFuture::from(promise).await {
        Ok(s) => s.unchecked_into(),
        Err(e) => {
            report(model, MediaEvent::DeviceNote(Some(DeviceNote::ScreenFailed(err_text(&e)))));
            return;
        }
    };
    let Some(track) = track_of(&stream, TrackKind::Video) else { return };
    let ended = Closure::<dyn FnMut(JsValue)>::new(move |_| stop_screen_share(model));
    track.set_onended(Some(ended.as_ref().unchecked_ref()));
    ended.forget();
    let mode = with_engine(|e| {
        e.screen = Some(Clone::clone(&track));
        e.screen_stream = Some(stream);
        e.mode
    });
    match mode {
        CallMode::P2p => {
            with_engine(|e| {
                let local = Clone::clone(e.local.get_or_insert_with(|| MediaStream::new().expect("MediaStream")));
                if let Some(cam) = &e.camera {
                    local.remove_track(cam);
                }
                local.add_track(&track);
            });
            mesh::replace_outgoing(TrackKind::Video, Some(&track));
        }
        CallMode::Sfu => sfu::publish_screen(Some(&track)),
    }
    let media = model.read(|s| s.call.media);
    report(model, MediaEvent::Sending(MediaState { screen: true, ..media }));
    bump(model);
}

pub fn stop_screen_share(model: Model) {
    let Some(screen) = with_engine(|e| {
        e.screen_stream = None;
        e.screen.take()
    }) else {
        return;
    };
    screen.stop();
    let camera = with_engine(|e| {
        if let Some(local) = &e.local {
            local.remove_track(&screen);
            if let Some(cam) = &e.camera {
                local.remove_track(cam);
                local.add_track(cam);
            }
        }
        e.camera.clone()
    });
    sfu::publish_screen(None);
    mesh::replace_outgoing(TrackKind::Video, camera.as_ref());
    let media = model.read(|s| s.call.media);
    report(model, MediaEvent::Sending(MediaState { screen: false, ..media }));
    bump(model);
}
