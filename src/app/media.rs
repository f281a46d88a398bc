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
use crate::protocol::{ConnId, TrackKind};

/// Which stream a video element shows (`attach`; the tiles and the preview name it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum StreamOf {
    /// My camera (or, peer to peer, my screen), as the preview and my own tile show it.
    Local,
    /// My screen share, on its own tile in an SFU call.
    LocalScreen,
    /// What another participant sends me: their camera (`Video`) or screen (`Screen`).
    Peer(ConnId, TrackKind),
}

#[cfg(feature = "hydrate")]
mod imp {
    use super::*;
    use crate::client::call_queue::send;
    use crate::client::media::{self, CallEvent};
    use crate::protocol::TileView;
    use wasm_bindgen::JsCast;

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
    /// The model tells the engine (`EngineCommand::Leave`).
    pub fn leave_call(session: Session) {
        session.intend(crate::model::Intent::LeaveCall);
    }
    /// Several times a second, measure the remote tiles the grid shows and report them
    /// when they change (`Intent::ShowTiles`: the engine tells the SFU). Only while I am in
    /// an SFU call: peers send what they send, and measuring forces a layout each time.
    /// Returns how to stop.
    pub fn watch_tiles(session: Session) -> impl FnOnce() + Send + Sync + 'static {
        let last = std::cell::RefCell::new(Vec::new());
        let poll = move || {
            let sfu = session.in_call.get_untracked() && session.call_mode.get_untracked() == crate::protocol::CallMode::Sfu;
            if !sfu {
                // Reported afresh when an SFU call starts again.
                last.borrow_mut().clear();
                return;
            }
            let tiles = visible_tiles();
            if *last.borrow() != tiles {
                *last.borrow_mut() = tiles.clone();
                session.intend(crate::model::Intent::ShowTiles(tiles));
            }
        };
        let handle = leptos::prelude::set_interval_with_handle(poll, std::time::Duration::from_millis(150)).ok();
        move || {
            if let Some(h) = handle {
                h.clear();
            }
        }
    }

    /// The remote tiles on screen and their size in device pixels (rounded, so small changes
    /// do not cause a report).
    fn visible_tiles() -> Vec<TileView> {
        let Some(window) = leptos::web_sys::window() else { return Vec::new() };
        let Some(document) = window.document() else { return Vec::new() };
        let dpr = window.device_pixel_ratio().max(1.0);
        let view_w = window.inner_width().ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let view_h = window.inner_height().ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let Ok(list) = document.query_selector_all(".grid .tile[data-conn-id]:not(.me)") else { return Vec::new() };
        let mut tiles = Vec::new();
        for i in 0..list.length() {
            let Some(el) = list.item(i).and_then(|n| n.dyn_into::<leptos::web_sys::Element>().ok()) else { continue };
            let r = el.get_bounding_client_rect();
            let on_screen = r.width() > 0.0 && r.height() > 0.0 && r.bottom() > 0.0 && r.right() > 0.0 && r.top() < view_h && r.left() < view_w;
            if !on_screen || el.class_list().contains("camera-off") {
                continue;
            }
            let Some(from) = el.get_attribute("data-conn-id").and_then(|v| v.parse().ok()) else { continue };
            let kind = if el.get_attribute("data-kind").as_deref() == Some("screen") { TrackKind::Screen } else { TrackKind::Video };
            let round = |v: f64| ((v * dpr / 20.0).round() * 20.0) as u32;
            let class = el.class_list();
            tiles.push(TileView {
                from,
                kind,
                width: round(r.width()),
                height: round(r.height()),
                pinned: class.contains("pinned"),
                speaking: class.contains("speaking"),
            });
        }
        tiles.sort_by_key(|t| (t.from, t.kind));
        tiles
    }

    /// Show `which` in `video`, re-attaching only when the stream changed.
    pub fn attach(video: &leptos::web_sys::HtmlVideoElement, which: StreamOf) {
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
    pub fn leave_call(session: Session) {
        session.intend(crate::model::Intent::LeaveCall);
    }
    pub fn attach(_: &leptos::web_sys::HtmlVideoElement, _: StreamOf) {}
    pub fn watch_tiles(_: Session) -> impl FnOnce() + Send + Sync + 'static {
        || {}
    }
}

pub use imp::*;
