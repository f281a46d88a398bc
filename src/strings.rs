//! Every string a person reads in the UI, in one place, so a Korean (or any) translation
//! is one new module with the same names. Server error texts come from the server.

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
