//! Two small helpers over JS values the engine's parts share: an error's name, and the
//! `window.noomPeers` map the end-to-end tests read.
//!
//! Why a file of its own: `peer.rs`, the lowest part, needs them too, and it sits below the
//! engine's state (`engine.rs` holds its connections), so they cannot live there.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::RtcPeerConnection;

use crate::protocol::ConnId;

/// A JS error's `name` (`NotAllowedError`, …), else its text.
pub fn err_text(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// `window.noomPeers` (a `Map` from connection id to `RTCPeerConnection`; the SFU is 0)
/// lets the end-to-end tests and a curious person in the console inspect the connections.
pub fn expose_for_tests(other: ConnId, pc: Option<&RtcPeerConnection>) {
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
