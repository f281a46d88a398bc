//! Limits and validation shared by the server and the browser.
//!
//! Why one module for both: the browser shows an inline error *before* sending, and the server
//! refuses the same input *after* receiving (a client can be anything). Writing the rules
//! twice would let them drift; here they are written once and compiled into both targets.

use thiserror::Error;

/// Largest WebSocket text frame the server accepts; bigger ones are closed with 1009.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Largest `signal` frame (WebRTC offers and answers can be bigger than chat frames).
/// Signal frames between [`MAX_FRAME_BYTES`] and this are accepted; the SDP inside is then
/// held to [`MAX_SDP_BYTES`], which answers with an error frame instead of a close.
/// An offer to the SFU in a call of 50 has about a hundred m-lines.
pub const MAX_SIGNAL_FRAME_BYTES: usize = 256 * 1024;
/// Largest session description relayed between peers or accepted by the SFU.
pub const MAX_SDP_BYTES: usize = 192 * 1024;
/// Most m-lines an offer to the SFU may describe (and tiles a layout may list).
pub const MAX_TRACKS_PER_OFFER: usize = 256;
/// Most tracks one participant may publish to the SFU: microphone, camera, screen and its
/// sound.
pub const MAX_PUBLISHED_TRACKS: usize = 4;
/// Most people in SFU calls on one server by default (`--sfu-max-participants`).
pub const DEFAULT_SFU_MAX_PARTICIPANTS: usize = 500;
/// Most media one participant may send to the SFU by default (`--max-publish-kbps`): a
/// simulcast camera (about 2.2 Mbit/s) and a screen share (up to about 2.5) with headroom.
pub const DEFAULT_MAX_PUBLISH_KBPS: u32 = 8000;
/// Largest ICE candidate line relayed between peers.
pub const MAX_CANDIDATE_BYTES: usize = 2 * 1024;
/// People in one call by default (`--max-call-size`): beyond `--p2p-max` through the SFU.
pub const DEFAULT_MAX_CALL_SIZE: usize = 50;
/// Largest call kept peer to peer by default (`--p2p-max`); a bigger one moves to the SFU.
pub const DEFAULT_P2P_MAX: usize = 2;
/// Nickname length in characters (Unicode scalar values), after trimming.
pub const MAX_NICKNAME_CHARS: usize = 32;
/// Room name length in characters, after trimming.
pub const MAX_ROOM_CHARS: usize = 64;
/// Chat message length in characters, after trimming.
pub const MAX_MESSAGE_CHARS: usize = 2000;
/// Room password length in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Nickname everyone starts with.
pub const DEFAULT_NICKNAME: &str = "Anonymous";
/// How many recent messages a room keeps for people who join late.
pub const HISTORY_LEN: usize = 50;
/// Most messages a `joined` carries when resuming with `since` (more: the client asks
/// `history` with `after`).
pub const RESUME_PAGE: usize = 500;
/// Most messages one `history` request may ask for.
pub const MAX_HISTORY_PAGE: usize = 100;
/// Longest `client_msg_id` (a UUID is 36).
pub const MAX_CLIENT_MSG_ID_CHARS: usize = 64;
/// Sustained chat/requests per second a connection may send before it is throttled.
pub const RATE_PER_SECOND: u32 = 20;
/// Short bursts above the sustained rate that are still fine (typing fast, reconnect replay).
pub const RATE_BURST: u32 = 40;
/// Sustained `signal` frames per second (WebRTC offers, answers and ICE candidates).
pub const SIGNAL_RATE_PER_SECOND: u32 = 100;
/// Burst of `signal` frames: joining a call of four trickles dozens of candidates at once.
pub const SIGNAL_RATE_BURST: u32 = 300;
/// Throttled frames in a row after which the connection is closed with 1008.
pub const RATE_STRIKES_BEFORE_CLOSE: u32 = 20;

/// Why a piece of user text was refused. The `Display` text is what a person reads.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidText {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} must be at most {max} characters")]
    TooLong { what: &'static str, max: usize },
    #[error("{what} must not contain control characters")]
    ControlChar { what: &'static str },
}

fn validate_line(input: &str, what: &'static str, max: usize) -> Result<String, InvalidText> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(InvalidText::Empty { what });
    }
    if trimmed.chars().count() > max {
        return Err(InvalidText::TooLong { what, max });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(InvalidText::ControlChar { what });
    }
    Ok(trimmed.to_string())
}

/// A nickname: 1–32 characters after trimming, no control characters. Returns it trimmed.
pub fn validate_nickname(input: &str) -> Result<String, InvalidText> {
    validate_line(input, "Nickname", MAX_NICKNAME_CHARS)
}

/// A room name: 1–64 characters after trimming, case preserved, no control characters.
pub fn validate_room_name(input: &str) -> Result<String, InvalidText> {
    validate_line(input, "Room name", MAX_ROOM_CHARS)
}

/// A room password: 1–128 characters, no control characters. Taken as typed (spaces
/// count), since it is compared, never shown.
pub fn validate_password(input: &str) -> Result<String, InvalidText> {
    let what = "Password";
    if input.is_empty() {
        return Err(InvalidText::Empty { what });
    }
    if input.chars().count() > MAX_PASSWORD_CHARS {
        return Err(InvalidText::TooLong { what, max: MAX_PASSWORD_CHARS });
    }
    if input.chars().any(char::is_control) {
        return Err(InvalidText::ControlChar { what });
    }
    Ok(input.to_string())
}

/// A client's id for a chat message (`client_msg_id`): 1–64 characters, none of them
/// control characters or spaces. Returned as given.
pub fn validate_client_msg_id(input: &str) -> Result<String, InvalidText> {
    let what = "client_msg_id";
    if input.is_empty() {
        return Err(InvalidText::Empty { what });
    }
    if input.chars().count() > MAX_CLIENT_MSG_ID_CHARS {
        return Err(InvalidText::TooLong { what, max: MAX_CLIENT_MSG_ID_CHARS });
    }
    if input.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(InvalidText::ControlChar { what });
    }
    Ok(input.to_string())
}

/// A chat message: 1–2000 characters after trimming. Newlines and tabs are allowed (a person
/// may paste several lines); other control characters are refused.
pub fn validate_message(input: &str) -> Result<String, InvalidText> {
    let what = "Message";
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(InvalidText::Empty { what });
    }
    if trimmed.chars().count() > MAX_MESSAGE_CHARS {
        return Err(InvalidText::TooLong { what, max: MAX_MESSAGE_CHARS });
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(InvalidText::ControlChar { what });
    }
    Ok(trimmed.to_string())
}

/// The path of a room's page, with the name URL-encoded so any name is a valid link.
pub fn room_path(name: &str) -> String {
    format!("/room/{}", urlencoding::encode(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nickname_is_trimmed_and_bounded() {
        assert_eq!(validate_nickname("  Ana  ").unwrap(), "Ana");
        assert_eq!(validate_nickname("   "), Err(InvalidText::Empty { what: "Nickname" }));
        assert!(validate_nickname(&"x".repeat(32)).is_ok());
        assert_eq!(
            validate_nickname(&"x".repeat(33)),
            Err(InvalidText::TooLong { what: "Nickname", max: 32 })
        );
        // Length counts characters, not bytes: 32 Hangul syllables are fine.
        assert!(validate_nickname(&"가".repeat(32)).is_ok());
        assert_eq!(
            validate_nickname("a\u{7}b"),
            Err(InvalidText::ControlChar { what: "Nickname" })
        );
        assert!(validate_nickname("a\nb").is_err());
    }

    #[test]
    fn room_name_keeps_case_and_is_bounded() {
        assert_eq!(validate_room_name(" Lobby ").unwrap(), "Lobby");
        assert!(validate_room_name(&"r".repeat(64)).is_ok());
        assert!(validate_room_name(&"r".repeat(65)).is_err());
        assert!(validate_room_name("").is_err());
        assert!(validate_room_name("a\u{0}").is_err());
    }

    #[test]
    fn message_allows_newlines_but_not_other_controls() {
        assert_eq!(validate_message(" hi\nthere ").unwrap(), "hi\nthere");
        assert!(validate_message("\u{1b}[31m").is_err());
        assert!(validate_message(" \n ").is_err());
        assert!(validate_message(&"m".repeat(2001)).is_err());
    }

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(
            validate_nickname("").unwrap_err().to_string(),
            "Nickname must not be empty"
        );
        assert_eq!(
            validate_room_name(&"r".repeat(65)).unwrap_err().to_string(),
            "Room name must be at most 64 characters"
        );
    }

    #[test]
    fn room_path_encodes() {
        assert_eq!(room_path("my room/1?"), "/room/my%20room%2F1%3F");
        assert_eq!(room_path("Lobby"), "/room/Lobby");
    }
}
