//! The browser's storage and ids, for the shell: the nickname and, per room, the outbox of
//! chat messages not yet acknowledged (so they survive a reload), this browser's id, fresh
//! message ids, and whether this page may use media at all.

use wasm_bindgen::JsValue;

use crate::model::{MediaAccess, Unsent};

const NICKNAME: &str = "noom.nickname";
const DEVICE: &str = "noom.device";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn load_nickname() -> Option<String> {
    storage()?.get_item(NICKNAME).ok()?
}

pub fn save_nickname(nickname: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(NICKNAME, nickname);
    }
}

fn outbox_key(room: &str) -> String {
    format!("noom.outbox.{room}")
}

pub fn load_outbox(room: &str) -> Vec<Unsent> {
    storage()
        .and_then(|s| s.get_item(&outbox_key(room)).ok().flatten())
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

pub fn save_outbox(room: &str, unsent: &[Unsent]) {
    let Some(s) = storage() else { return };
    if unsent.is_empty() {
        let _ = s.remove_item(&outbox_key(room));
    } else if let Ok(json) = serde_json::to_string(unsent) {
        let _ = s.set_item(&outbox_key(room), &json);
    }
}

/// This browser's id, made once and kept: a host's removal holds for it.
pub fn device_id() -> String {
    if let Some(id) = storage().and_then(|s| s.get_item(DEVICE).ok().flatten()) {
        return id;
    }
    let id = new_client_msg_id();
    if let Some(s) = storage() {
        let _ = s.set_item(DEVICE, &id);
    }
    id
}

/// 128 random bits as hex. `getRandomValues` rather than `randomUUID`: the latter
/// exists only in secure contexts, and Noom is often opened over plain http on a LAN.
pub fn new_client_msg_id() -> String {
    let mut bytes = [0u8; 16];
    let random = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !random {
        // No Web Crypto at all (very old browsers): time and Math.random still do.
        return format!("{:x}-{:x}", js_sys::Date::now() as u64, (js_sys::Math::random() * 1e15) as u64);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether this page may use a camera and microphone: found once, then kept.
pub fn media_access() -> MediaAccess {
    thread_local! {
        static ACCESS: MediaAccess = detect_access();
    }
    ACCESS.with(|a| *a)
}

/// Read with `Reflect`, not web-sys's getters: on an insecure page `mediaDevices` is
/// `undefined`, which web-sys would hand back as a `MediaDevices` all the same.
fn detect_access() -> MediaAccess {
    let Some(window) = web_sys::window() else { return MediaAccess::Unsupported };
    let secure = js_sys::Reflect::get(&window, &JsValue::from_str("isSecureContext")).ok().and_then(|v| v.as_bool());
    if secure == Some(false) {
        return MediaAccess::Insecure;
    }
    let devices = js_sys::Reflect::get(&window.navigator(), &JsValue::from_str("mediaDevices"));
    match devices {
        Ok(d) if !d.is_undefined() && !d.is_null() => MediaAccess::Available,
        _ => MediaAccess::Unsupported,
    }
}
