//! Cameras and microphones, what is wrong with them, who is speaking, and whether calls
//! can work on this page at all; and the call engine's reports ([`MediaEvent`]).

use crate::protocol::{ClientMsg, ConnId, TrackKind};

use super::{CallError, ClientState, Effect, MediaEvent};

/// A camera or microphone, as `enumerateDevices` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub label: String,
}

/// Whether this page may use a camera, microphone and screen capture at all. Browsers give
/// them only to a secure context (`https://`, or `http://localhost`): opened over plain
/// HTTP from another machine, `navigator.mediaDevices` does not exist, so calls cannot
/// work there, and the call panel says why instead of offering them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaAccess {
    /// As far as is known: the server's render, and a secure page with `mediaDevices`.
    #[default]
    Available,
    /// The page is not a secure context (plain `http://` to a name other than localhost).
    Insecure,
    /// A secure page whose browser has no `navigator.mediaDevices` anyway.
    Unsupported,
}

/// What is wrong with the devices, as facts (worded by the view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceNote {
    /// Neither could be opened; the browser's error name (`NotAllowedError`, …), if any.
    NoDevices(String),
    NoCamera,
    NoMicrophone,
    /// Switching to another device failed (the browser's error name).
    DeviceFailed(String),
    ScreenFailed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Devices {
    pub cameras: Vec<Device>,
    pub microphones: Vec<Device>,
    pub camera_id: Option<String>,
    pub microphone_id: Option<String>,
    pub note: Option<DeviceNote>,
    /// Participants whose audio is above the speaking threshold right now.
    pub speaking: Vec<ConnId>,
    /// Bumped whenever a local or remote media stream changes, so video elements re-attach.
    pub streams: u64,
    /// Whether calls can work on this page at all (found once when the client starts).
    pub media_access: MediaAccess,
    /// My connection's quality (shown in my media state while in a call).
    pub quality: super::QualityMeter,
}

impl Devices {
    pub(crate) fn choose(&mut self, kind: TrackKind, id: String) {
        match kind {
            TrackKind::Audio => self.microphone_id = Some(id),
            _ => self.camera_id = Some(id),
        }
    }
}

impl ClientState {
    pub(crate) fn on_media(&mut self, event: MediaEvent, fx: &mut Vec<Effect>) {
        match event {
            MediaEvent::Devices { cameras, microphones } => {
                self.devices.cameras = cameras;
                self.devices.microphones = microphones;
            }
            MediaEvent::DeviceNote(note) => self.devices.note = note,
            MediaEvent::Speaking(speaking) => self.devices.speaking = speaking,
            MediaEvent::StreamsChanged => self.devices.streams += 1,
            MediaEvent::WebrtcUnavailable => self.call.error = Some(CallError::WebrtcUnavailable),
            MediaEvent::Sending(media) => self.set_media(media, fx),
            MediaEvent::JoinWith(media) => self.join_call(media, fx),
            MediaEvent::Signal { to, payload } => self.send(fx, ClientMsg::Signal { to, payload }),
            MediaEvent::Layout(tiles) => self.send(fx, ClientMsg::CallLayout { tiles }),
            MediaEvent::Link(sample) => {
                let held_back = !self.call.paused.is_empty();
                if self.call.in_call && self.devices.quality.update(super::level(&sample, held_back)) {
                    self.set_media(self.call.media, fx);
                }
            }
        }
    }
}
