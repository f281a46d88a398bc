//! Texts that take values (the chat log's notices, banners, device notes, refusals), in
//! the reader's language: each is the `locales/*.json` text of the same name, through
//! leptos_i18n (`td_string!`: a given language, passed in by the view). The model keeps
//! notices and refusals as data (`crate::model::Notice`, …); views word them here when
//! they show them. Views use `t!` directly for fixed texts.

use crate::i18n::{td_string, Locale};
use crate::model::{Banner, CallError, DeviceNote, Notice};
use crate::protocol::ErrorCode;

pub const APP_NAME: &str = "Noom";

pub fn people(l: Locale, count: usize) -> String {
    if count == 1 {
        td_string!(l, person_count).to_string()
    } else {
        td_string!(l, people_count, count).to_string()
    }
}

pub fn room_heading(l: Locale, room: &str, count: usize) -> String {
    td_string!(l, room_heading, room, count).to_string()
}

pub fn joined(l: Locale, nick: &str) -> String {
    td_string!(l, joined, nick).to_string()
}

pub fn left(l: Locale, nick: &str) -> String {
    td_string!(l, left, nick).to_string()
}

pub fn renamed(l: Locale, old: &str, new: &str) -> String {
    td_string!(l, renamed, old, new).to_string()
}

pub fn removed_by(l: Locale, nick: &str, by: &str) -> String {
    td_string!(l, removed_by, nick, by).to_string()
}

/// Shown to the person a host removed (on the home page).
pub fn you_were_removed(l: Locale, room: &str, by: &str) -> String {
    td_string!(l, you_were_removed, room, by).to_string()
}

pub fn made_host(l: Locale, nick: &str, by: &str) -> String {
    td_string!(l, made_host, nick, by).to_string()
}

pub fn now_host(l: Locale, nick: &str) -> String {
    td_string!(l, now_host, nick).to_string()
}

pub fn locked(l: Locale, by: &str, locked: bool) -> String {
    if locked {
        td_string!(l, locked, by).to_string()
    } else {
        td_string!(l, unlocked, by).to_string()
    }
}

pub fn raised_hand(l: Locale, nick: &str) -> String {
    td_string!(l, raised_hand, nick).to_string()
}

pub fn lowered_hand(l: Locale, nick: &str, by: &str) -> String {
    td_string!(l, lowered_hand, nick, by).to_string()
}

pub fn asked_to_mute(l: Locale, by: &str) -> String {
    td_string!(l, asked_to_mute, by).to_string()
}

pub fn muted_by(l: Locale, by: &str) -> String {
    td_string!(l, muted_by, by).to_string()
}

pub fn lobby_changed(l: Locale, by: &str, enabled: bool) -> String {
    if enabled {
        td_string!(l, lobby_turned_on, by).to_string()
    } else {
        td_string!(l, lobby_turned_off, by).to_string()
    }
}

pub fn password_changed(l: Locale, by: &str, protected: bool) -> String {
    if protected {
        td_string!(l, password_set, by).to_string()
    } else {
        td_string!(l, password_removed, by).to_string()
    }
}

/// No camera and no microphone could be opened (permission denied, or none plugged in).
pub fn no_devices(l: Locale, reason: &str) -> String {
    let why = match reason {
        "NotAllowedError" => td_string!(l, why_denied).to_string(),
        "NotFoundError" => td_string!(l, why_not_found).to_string(),
        "" => td_string!(l, why_unknown).to_string(),
        other => other.to_string(),
    };
    td_string!(l, no_devices, why).to_string()
}

pub fn no_camera(l: Locale) -> String {
    td_string!(l, no_camera).to_string()
}

pub fn no_microphone(l: Locale) -> String {
    td_string!(l, no_microphone).to_string()
}

pub fn webrtc_unavailable(l: Locale) -> String {
    td_string!(l, webrtc_unavailable).to_string()
}

pub fn device_failed(l: Locale, reason: &str) -> String {
    td_string!(l, device_failed, reason).to_string()
}

pub fn screen_failed(l: Locale, reason: &str) -> String {
    td_string!(l, screen_failed, reason).to_string()
}

/// A notice in the chat log, in the reader's language (worded when shown, so notices
/// already in the log follow a language switch).
pub fn notice(l: Locale, n: &Notice) -> String {
    match n {
        Notice::Joined { nick } => joined(l, nick),
        Notice::Left { nick } => left(l, nick),
        Notice::Removed { nick, by } => removed_by(l, nick, by),
        Notice::Renamed { old, new } => renamed(l, old, new),
        Notice::MadeHost { nick, by: Some(by) } => made_host(l, nick, by),
        Notice::MadeHost { nick, by: None } => now_host(l, nick),
        Notice::Locked { by, locked: on } => locked(l, by, *on),
        Notice::RaisedHand { nick } => raised_hand(l, nick),
        Notice::LoweredHand { nick, by } => lowered_hand(l, nick, by),
        Notice::AskedToMute { by } => asked_to_mute(l, by),
        Notice::MutedBy { by } => muted_by(l, by),
        Notice::Lobby { by, enabled } => lobby_changed(l, by, *enabled),
        Notice::Password { by, protected } => password_changed(l, by, *protected),
    }
}

pub fn banner(l: Locale, b: &Banner) -> String {
    match b {
        Banner::Refusal(r) => refusal(l, r.code, &r.message),
        Banner::RemovedFrom { room, by } => you_were_removed(l, room, by),
        Banner::Closed(reason) => reason.clone(),
    }
}

pub fn call_error(l: Locale, e: &CallError) -> String {
    match e {
        CallError::Refused(r) => refusal(l, r.code, &r.message),
        CallError::WebrtcUnavailable => webrtc_unavailable(l),
    }
}

pub fn device_note(l: Locale, n: &DeviceNote) -> String {
    match n {
        DeviceNote::NoDevices(reason) => no_devices(l, reason),
        DeviceNote::NoCamera => no_camera(l),
        DeviceNote::NoMicrophone => no_microphone(l),
        DeviceNote::DeviceFailed(reason) => device_failed(l, reason),
        DeviceNote::ScreenFailed(reason) => screen_failed(l, reason),
    }
}

/// "2 in the call: Ana, Bo".
pub fn in_call(l: Locale, names: &[String]) -> String {
    let (count, names) = (names.len(), names.join(", "));
    td_string!(l, in_call, count, names).to_string()
}

pub fn tile_label(l: Locale, nick: &str) -> String {
    td_string!(l, tile_label, nick).to_string()
}

pub fn screen_tile_label(l: Locale, nick: &str) -> String {
    td_string!(l, screen_tile_label, nick).to_string()
}

pub fn more_people(l: Locale, count: usize) -> String {
    td_string!(l, more_people, count).to_string()
}

pub fn make_host_label(l: Locale, nick: &str) -> String {
    td_string!(l, make_host_label, nick).to_string()
}

pub fn remove_label(l: Locale, nick: &str) -> String {
    td_string!(l, remove_label, nick).to_string()
}

pub fn ask_mute_label(l: Locale, nick: &str) -> String {
    td_string!(l, ask_mute_label, nick).to_string()
}

pub fn mute_label(l: Locale, nick: &str) -> String {
    td_string!(l, mute_label, nick).to_string()
}

pub fn lower_hand_label(l: Locale, nick: &str) -> String {
    td_string!(l, lower_hand_label, nick).to_string()
}

pub fn react_label(l: Locale, emoji: &str) -> String {
    td_string!(l, react_label, emoji).to_string()
}

pub fn admit_label(l: Locale, nick: &str) -> String {
    td_string!(l, admit_label, nick).to_string()
}

pub fn deny_label(l: Locale, nick: &str) -> String {
    td_string!(l, deny_label, nick).to_string()
}

/// Why a piece of typed text was refused, in the reader's language.
pub fn invalid(l: Locale, e: &crate::limits::InvalidText) -> String {
    use crate::limits::InvalidText;
    let what = |w: &str| match w {
        "Nickname" => td_string!(l, what_nickname).to_string(),
        "Room name" => td_string!(l, what_room).to_string(),
        "Message" => td_string!(l, what_message).to_string(),
        "Password" => td_string!(l, what_password).to_string(),
        other => other.to_string(),
    };
    match e {
        InvalidText::Empty { what: w } => {
            let what = what(w);
            td_string!(l, err_empty, what).to_string()
        }
        InvalidText::TooLong { what: w, max } => {
            let (what, max) = (what(w), *max);
            td_string!(l, err_too_long, what, max).to_string()
        }
        InvalidText::ControlChar { what: w } => {
            let what = what(w);
            td_string!(l, err_control, what).to_string()
        }
    }
}

/// A refusal from the server, in the reader's language, made from its code (and the one
/// value some carry). Where the code alone says less than the server's words (how full a
/// call is, which limit), an English reader gets those words.
pub fn refusal(l: Locale, code: ErrorCode, message: &str) -> String {
    let detailed = matches!(code, ErrorCode::CallFull | ErrorCode::RateLimited | ErrorCode::StoreUnavailable | ErrorCode::Overloaded);
    if detailed && l == Locale::en {
        return message.to_string();
    }
    match code {
        ErrorCode::RoomLocked => td_string!(l, err_room_locked).to_string(),
        ErrorCode::Removed => td_string!(l, err_removed).to_string(),
        ErrorCode::Denied => td_string!(l, err_denied).to_string(),
        ErrorCode::NotHost => td_string!(l, err_not_host).to_string(),
        ErrorCode::PasswordRequired => td_string!(l, err_password_required).to_string(),
        ErrorCode::WrongPassword => td_string!(l, err_wrong_password).to_string(),
        ErrorCode::TooManyTries => {
            let secs: String = message.chars().filter(char::is_ascii_digit).collect();
            td_string!(l, err_too_many_tries, secs).to_string()
        }
        ErrorCode::StoreUnavailable | ErrorCode::Overloaded => td_string!(l, err_busy).to_string(),
        ErrorCode::RateLimited => td_string!(l, err_rate_limited).to_string(),
        ErrorCode::CallFull => td_string!(l, err_call_full).to_string(),
        ErrorCode::UnexpectedAnswer => td_string!(l, err_unexpected_answer).to_string(),
        _ => message.to_string(),
    }
}

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
    fn refusals_are_written_from_their_code_in_the_readers_language() {
        use super::{refusal, Locale};
        use crate::protocol::ErrorCode;
        assert_eq!(refusal(Locale::ko, ErrorCode::WrongPassword, "whatever the server said"), "비밀번호가 틀렸어요.");
        assert_eq!(refusal(Locale::en, ErrorCode::WrongPassword, "whatever the server said"), "Wrong password.");
        let wait = refusal(Locale::ko, ErrorCode::TooManyTries, "Too many wrong passwords: try again in 4 s.");
        assert!(wait.contains("4초"), "{wait}");
        // Details only the server's words carry stay, for English readers.
        assert_eq!(refusal(Locale::en, ErrorCode::CallFull, "This call is full (6)"), "This call is full (6)");
        assert_eq!(refusal(Locale::ko, ErrorCode::CallFull, "This call is full (6)"), "통화 인원이 가득 찼어요.");
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
