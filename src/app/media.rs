//! The one seam between the components and the browser's media (`crate::client::media`).
//! In the browser, requests go through `crate::client::call_queue`, in order, to the call
//! engine, which is loaded on first use; only `attach` (a room's tiles, themselves lazily
//! loaded) reads the engine's streams directly.
//!
//! Why a seam: components are compiled for the server too, where there is no camera and
//! no `RTCPeerConnection`. Each function here is defined twice with the same signature —
//! the browser build does the work, the server build nothing — so components carry no
//! `cfg` of their own (as leptos's `hackernews_axum` example does for its API).

use super::session::{MediaAccess, Session};
use crate::protocol::TrackKind;

#[cfg(feature = "hydrate")]
mod imp {
    use super::*;
    use crate::client::call_queue::{send, CallEvent};
    use crate::client::media;

    /// Whether this page may use a camera and microphone (found once by the shell).
    pub fn access() -> MediaAccess {
        crate::client::media_access()
    }

    /// Send `event` to the call engine, unless this page cannot have calls: then the
    /// engine is not asked to open devices or connections that could never work.
    fn send_if_possible(event: CallEvent) {
        if access() == MediaAccess::Available {
            send(event);
        }
    }

    pub fn start_preview(_: Session) {
        send_if_possible(CallEvent::StartPreview);
    }
    pub fn stop_everything(_: Session) {
        send_if_possible(CallEvent::StopEverything);
    }
    pub fn switch_device(_: Session, kind: TrackKind) {
        send_if_possible(CallEvent::SwitchDevice(kind));
    }
    pub fn join_call(_: Session) {
        send_if_possible(CallEvent::JoinCall);
    }
    pub fn prepare_sfu(_: Session) {
        send_if_possible(CallEvent::PrepareSfu);
    }
    pub fn leave_call(_: Session) {
        send(CallEvent::LeaveCall);
    }
    pub fn toggle_sending(_: Session, kind: TrackKind) {
        send_if_possible(CallEvent::ToggleSending(kind));
    }
    pub fn toggle_screen(_: Session) {
        send_if_possible(CallEvent::ToggleScreen);
    }
    /// Show `which` in `video`, re-attaching only when the stream changed.
    pub fn attach(video: &leptos::web_sys::HtmlVideoElement, which: super::super::tile::StreamOf) {
        use super::super::tile::StreamOf;
        let stream = match which {
            StreamOf::Local => media::local_stream(),
            StreamOf::LocalScreen => media::local_screen_stream(),
            StreamOf::Peer(id, kind) => media::remote_stream(id, kind),
        };
        if video.src_object().map(|s| s.id()) != stream.as_ref().map(|s| s.id()) {
            video.set_src_object(stream.as_ref());
        }
        let _ = video.play();
    }
}

#[cfg(not(feature = "hydrate"))]
mod imp {
    use super::*;

    /// The server cannot know what the browser allows: it renders calls as available, and
    /// the browser says otherwise once it has started (only the browser build asks).
    #[allow(dead_code)]
    pub fn access() -> MediaAccess {
        MediaAccess::Available
    }

    pub fn start_preview(_: Session) {}
    pub fn stop_everything(_: Session) {}
    pub fn switch_device(_: Session, _: TrackKind) {}
    pub fn join_call(_: Session) {}
    pub fn prepare_sfu(_: Session) {}
    pub fn leave_call(session: Session) {
        session.intend(crate::model::Intent::LeaveCall);
    }
    pub fn toggle_sending(_: Session, _: TrackKind) {}
    pub fn toggle_screen(_: Session) {}
    pub fn attach(_: &leptos::web_sys::HtmlVideoElement, _: super::super::tile::StreamOf) {}
}

pub use imp::*;
