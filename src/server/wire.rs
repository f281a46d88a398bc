//! What goes over a connection's socket, shared by everything that writes to one (the hub,
//! the SFU, the store's clock).
//!
//! Why its own module: the hub, the SFU and the store all send frames and stamp times, and
//! the hub drives the other two. Kept here, `sfu/` and `store/` never import the hub, so
//! there is no cycle and each can be read (and tested) without it.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::protocol::ServerMsg;

/// A frame on its way to one connection. Serialized once; clones share the bytes, so a
/// broadcast to a room of 100 costs one serialization and 100 reference-count bumps.
pub type Frame = axum::extract::ws::Utf8Bytes;

/// Serialize a server message into a frame.
pub fn encode(msg: &ServerMsg) -> Frame {
    serde_json::to_string(msg).expect("server messages always serialize").into()
}

/// Milliseconds since the Unix epoch (message times, TURN credential expiry).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
