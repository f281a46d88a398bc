//! The UI's texts, on their way to `locales/*.json` (leptos_i18n, see `build.rs`): the home
//! page, the top bar and the nickname form read `locales/` already, in English and Korean;
//! what is left here (the room, the call, notices, validation and server errors) moves
//! there next, screen by screen.

pub const APP_NAME: &str = "Noom";
pub const TAGLINE: &str = "Meet, talk and chat — on your own server.";

pub const NICKNAME_LABEL: &str = "Nickname";
pub const NICKNAME_SAVE: &str = "Save";
pub const NICKNAME_SAVED: &str = "Saved";

pub const ROOMS_HEADING: &str = "Open rooms";
pub const ROOMS_EMPTY: &str = "No open rooms yet. Start one below.";
pub const ROOM_NAME_LABEL: &str = "Room name";
pub const ROOM_ENTER: &str = "Enter";

pub const MEMBERS_HEADING: &str = "People";
pub const YOU: &str = "you";
pub const CHAT_HEADING: &str = "Chat";
pub const MESSAGE_LABEL: &str = "Message";
pub const SEND: &str = "Send";
pub const LEAVE: &str = "Leave";
pub const SENDING: &str = "Sending…";
pub const ACCEPTED: &str = "Delivered to the server";
pub const CHAT_EMPTY: &str = "No messages yet. Say hello!";
pub const LOAD_EARLIER: &str = "Load earlier messages";

pub const STATUS_CONNECTING: &str = "Connecting…";
pub const STATUS_ONLINE: &str = "Connected";
pub const STATUS_OFFLINE: &str = "Offline — reconnecting…";

/// "N person" / "N people", for the room list.
pub fn people(count: usize) -> String {
    if count == 1 {
        "1 person".to_string()
    } else {
        format!("{count} people")
    }
}

/// The room heading, e.g. "lobby (2)".
pub fn room_heading(room: &str, count: usize) -> String {
    format!("{room} ({count})")
}

pub fn joined(nick: &str) -> String {
    format!("{nick} joined")
}

pub fn left(nick: &str) -> String {
    format!("{nick} left")
}

pub fn renamed(old: &str, new: &str) -> String {
    format!("{old} is now {new}")
}

pub fn removed_by(nick: &str, by: &str) -> String {
    format!("{by} removed {nick}")
}

/// Shown to the person a host removed (on the home page).
pub fn you_were_removed(room: &str, by: &str) -> String {
    format!("{by} removed you from {room}.")
}

pub fn made_host(nick: &str, by: &str) -> String {
    format!("{by} made {nick} a host")
}

pub fn now_host(nick: &str) -> String {
    format!("{nick} is now the host")
}

pub fn locked(by: &str, locked: bool) -> String {
    if locked {
        format!("{by} locked the room")
    } else {
        format!("{by} unlocked the room")
    }
}

pub fn raised_hand(nick: &str) -> String {
    format!("{nick} raised a hand")
}

pub fn lowered_hand(nick: &str, by: &str) -> String {
    format!("{by} lowered {nick}'s hand")
}

pub fn asked_to_mute(by: &str) -> String {
    format!("{by} asks you to mute your microphone")
}

pub fn muted_by(by: &str) -> String {
    format!("{by} muted your microphone")
}

pub const CALL_HEADING: &str = "Call";
pub const CAMERA_LABEL: &str = "Camera";
pub const MICROPHONE_LABEL: &str = "Microphone";
pub const JOIN_CALL: &str = "Join call";
pub const LEAVE_CALL: &str = "Leave call";
pub const MUTE: &str = "Mute";
pub const UNMUTE: &str = "Unmute";
pub const CAMERA_OFF: &str = "Camera off";
pub const CAMERA_ON: &str = "Camera on";
pub const SHARE_SCREEN: &str = "Share screen";
pub const STOP_SHARING: &str = "Stop sharing";
pub const BADGE_MUTED: &str = "Muted";
pub const BADGE_CAMERA_OFF: &str = "Camera off";
pub const BADGE_SHARING: &str = "Sharing screen";
pub const PIN: &str = "Pin";
pub const UNPIN: &str = "Unpin";
pub const PREVIEW_LABEL: &str = "Your camera preview";
pub const NO_CAMERA: &str = "No camera available: you can join with audio only.";
pub const NO_MICROPHONE: &str = "No microphone available: you can join with video only.";
pub const WEBRTC_UNAVAILABLE: &str = "This browser cannot make calls (WebRTC unavailable).";
pub const NOBODY_IN_CALL: &str = "Nobody is in the call yet.";

/// No camera and no microphone could be opened (permission denied, or none plugged in).
pub fn no_devices(reason: &str) -> String {
    let why = match reason {
        "NotAllowedError" => "permission was denied",
        "NotFoundError" => "none was found",
        "" => "none could be opened",
        other => other,
    };
    format!("Camera and microphone unavailable ({why}): you can still join to watch and listen.")
}

pub fn device_failed(reason: &str) -> String {
    format!("Could not switch device ({reason}).")
}

pub fn screen_failed(reason: &str) -> String {
    format!("Screen sharing did not start ({reason}).")
}

/// "2 in the call: Ana, Bo".
pub fn in_call(names: &[String]) -> String {
    format!("{} in the call: {}", names.len(), names.join(", "))
}

/// Accessible name of a participant's tile.
pub fn tile_label(nick: &str) -> String {
    format!("{nick}'s video")
}

/// Accessible name of a participant's screen-share tile (SFU calls).
pub fn screen_tile_label(nick: &str) -> String {
    format!("{nick}'s screen")
}

/// The tile standing for the people who do not fit on the screen.
pub fn more_people(n: usize) -> String {
    format!("+{n} more")
}

pub const HOST: &str = "Host";
pub const HAND_RAISED: &str = "Hand raised";
pub const RAISE_HAND: &str = "Raise hand";
pub const LOWER_HAND: &str = "Lower hand";
pub const LOCK_ROOM: &str = "Lock room";
pub const UNLOCK_ROOM: &str = "Unlock room";
pub const ROOM_LOCKED: &str = "Locked";
pub const REACTIONS_LABEL: &str = "Reactions";

pub fn make_host_label(nick: &str) -> String {
    format!("Make {nick} a host")
}

pub fn remove_label(nick: &str) -> String {
    format!("Remove {nick}")
}

pub fn ask_mute_label(nick: &str) -> String {
    format!("Ask {nick} to mute")
}

pub fn mute_label(nick: &str) -> String {
    format!("Mute {nick}")
}

pub fn lower_hand_label(nick: &str) -> String {
    format!("Lower {nick}'s hand")
}

pub fn react_label(emoji: &str) -> String {
    format!("React {emoji}")
}

pub const WAITING_FOR_HOST: &str = "Waiting for a host to let you in…";
pub const LOBBY_HEADING: &str = "Waiting to come in";
pub const LOBBY_ON: &str = "Turn waiting room on";
pub const LOBBY_OFF: &str = "Turn waiting room off";

pub fn lobby_changed(by: &str, enabled: bool) -> String {
    if enabled {
        format!("{by} turned the waiting room on")
    } else {
        format!("{by} turned the waiting room off")
    }
}

pub fn admit_label(nick: &str) -> String {
    format!("Admit {nick}")
}

pub fn deny_label(nick: &str) -> String {
    format!("Deny {nick}")
}

pub const PASSWORD_HEADING: &str = "This room has a password";
pub const PASSWORD_HINT: &str = "Ask a host of the room for it.";
pub const PASSWORD: &str = "Password";
pub const CHECKING_PASSWORD: &str = "Checking the password…";
pub const ROOM_PROTECTED: &str = "Password";
pub const PASSWORD_BUTTON: &str = "Password…";
pub const NEW_PASSWORD: &str = "New room password";
pub const SET_PASSWORD: &str = "Set";
pub const REMOVE_PASSWORD: &str = "Remove password";
pub const PASSWORD_SET_HINT: &str = "Newcomers will have to give it; people in the room stay in.";

pub fn password_changed(by: &str, protected: bool) -> String {
    if protected {
        format!("{by} set a password for the room")
    } else {
        format!("{by} removed the room's password")
    }
}

pub const PRE_JOIN_HEADING: &str = "Who are you?";
pub const PRE_JOIN_HINT: &str = "Choose the name the others in the room will see.";
pub const YOUR_NAME: &str = "Your name";

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    fn texts(json: &str) -> BTreeMap<String, String> {
        serde_json::from_str(json).expect("a locale file is a flat JSON object of texts")
    }

    /// The `{{ name }}` values a text takes.
    fn values(text: &str) -> BTreeSet<String> {
        text.split("{{").skip(1).filter_map(|rest| rest.split("}}").next()).map(|v| v.trim().to_string()).collect()
    }

    #[test]
    fn every_text_is_in_both_languages_with_the_same_values() {
        let en = texts(include_str!("../locales/en.json"));
        let ko = texts(include_str!("../locales/ko.json"));
        let missing_ko: Vec<_> = en.keys().filter(|k| !ko.contains_key(*k)).collect();
        let missing_en: Vec<_> = ko.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(missing_ko.is_empty() && missing_en.is_empty(), "missing in ko: {missing_ko:?}; in en: {missing_en:?}");
        for (key, text) in &en {
            assert_eq!(values(text), values(&ko[key]), "`{key}` takes other values in Korean");
            assert!(!ko[key].trim().is_empty(), "`{key}` is empty in Korean");
        }
    }
}
