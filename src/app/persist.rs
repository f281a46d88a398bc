//! The seam between the session and the browser's storage: the outbox of chat messages
//! not yet acknowledged, kept per room so it survives a page reload, fresh ids for new
//! messages, and the browser's own id.
//!
//! Defined once per target with the same signatures (as `media.rs`): the browser build
//! uses `localStorage` and `crypto.getRandomValues()`, the server build (and native unit tests)
//! keeps nothing, so the session carries no `cfg` of its own.

use serde::{Deserialize, Serialize};

/// A chat message typed but not yet acknowledged by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsent {
    pub client_msg_id: String,
    pub text: String,
}

#[cfg(feature = "hydrate")]
mod imp {
    use super::Unsent;

    fn key(room: &str) -> String {
        format!("noom.outbox.{room}")
    }

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    pub fn load_outbox(room: &str) -> Vec<Unsent> {
        storage()
            .and_then(|s| s.get_item(&key(room)).ok().flatten())
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default()
    }

    pub fn save_outbox(room: &str, unsent: &[Unsent]) {
        let Some(s) = storage() else { return };
        if unsent.is_empty() {
            let _ = s.remove_item(&key(room));
        } else if let Ok(json) = serde_json::to_string(unsent) {
            let _ = s.set_item(&key(room), &json);
        }
    }

    /// This browser's id, made once and kept: a host's removal holds for it.
    pub fn device_id() -> String {
        const KEY: &str = "noom.device";
        if let Some(id) = storage().and_then(|s| s.get_item(KEY).ok().flatten()) {
            return id;
        }
        let id = new_client_msg_id();
        if let Some(s) = storage() {
            let _ = s.set_item(KEY, &id);
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
}

#[cfg(not(feature = "hydrate"))]
mod imp {
    use super::Unsent;
    use std::sync::atomic::{AtomicU64, Ordering};

    pub fn load_outbox(_room: &str) -> Vec<Unsent> {
        Vec::new()
    }

    pub fn save_outbox(_room: &str, _unsent: &[Unsent]) {}

    pub fn new_client_msg_id() -> String {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        format!("local-{}", NEXT.fetch_add(1, Ordering::Relaxed))
    }

    pub fn device_id() -> String {
        "local-device".to_string()
    }
}

pub use imp::{device_id, load_outbox, new_client_msg_id, save_outbox};
