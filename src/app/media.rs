//! The one seam between the components and the browser's media (`crate::client::media`).
//!
//! Why a seam: components are compiled for the server too, where there is no camera and
//! no `RTCPeerConnection`. Each function here is defined twice with the same signature —
//! the browser build does the work, the server build nothing — so components carry no
//! `cfg` of their own (as leptos's `hackernews_axum` example does for its API).

use super::session::Session;
use crate::protocol::TrackKind;

#[cfg(feature = "hydrate")]
mod imp {
    use super::*;
    use crate::client::media;
    use leptos::prelude::GetUntracked;

    pub fn start_preview(session: Session) {
        leptos::task::spawn_local(media::start_preview(session));
    }
    pub fn stop_everything(session: Session) {
        media::stop_everything(session);
    }
    pub fn switch_device(session: Session, kind: TrackKind) {
        leptos::task::spawn_local(media::switch_device(session, kind));
    }
    pub fn join_call(session: Session) {
        session.join_call(media::available_media());
    }
    pub fn prepare_sfu(session: Session) {
        media::prepare_sfu(session);
    }
    pub fn leave_call(session: Session) {
        media::stop_screen_share(session);
        media::close_peers(session);
        session.leave_call();
    }
    pub fn toggle_sending(session: Session, kind: TrackKind) {
        let media_state = session.media.get_untracked();
        let on = if kind == TrackKind::Audio { media_state.audio } else { media_state.video };
        media::set_sending(session, kind, !on);
    }
    pub fn toggle_screen(session: Session) {
        if session.media.get_untracked().screen {
            media::stop_screen_share(session);
        } else {
            leptos::task::spawn_local(media::start_screen_share(session));
        }
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

    pub fn start_preview(_: Session) {}
    pub fn stop_everything(_: Session) {}
    pub fn switch_device(_: Session, _: TrackKind) {}
    pub fn join_call(_: Session) {}
    pub fn prepare_sfu(_: Session) {}
    pub fn leave_call(session: Session) {
        session.leave_call();
    }
    pub fn toggle_sending(_: Session, _: TrackKind) {}
    pub fn toggle_screen(_: Session) {}
    pub fn attach(_: &leptos::web_sys::HtmlVideoElement, _: super::super::tile::StreamOf) {}
}

pub use imp::*;
