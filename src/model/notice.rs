//! Notices and refusals as data: the facts (who, which code, what the server said), worded
//! by the views in the reader's language (`crate::strings`). So the model needs no locale,
//! and a notice already in the log follows a language switch.

use crate::protocol::ErrorCode;

/// A line in the chat log about the room, not said by anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Joined { nick: String },
    Left { nick: String },
    Removed { nick: String, by: String },
    Renamed { old: String, new: String },
    /// `by` is `None` when the server made them host (the last host left).
    MadeHost { nick: String, by: Option<String> },
    Locked { by: String, locked: bool },
    RaisedHand { nick: String },
    LoweredHand { nick: String, by: String },
    AskedToMute { by: String },
    MutedBy { by: String },
    Lobby { by: String, enabled: bool },
    Password { by: String, protected: bool },
}

/// A refusal from the server: its code, and its words (which some codes need: how full
/// the call is, how long to wait).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

/// What the banner says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Banner {
    Refusal(Refusal),
    /// A host (`by`, their nickname) removed me from `room`.
    RemovedFrom { room: String, by: String },
    /// The server closed the socket by policy (flooding, too big, full): its reason.
    Closed(String),
}

/// Why I am not in the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    Refused(Refusal),
    WebrtcUnavailable,
}
