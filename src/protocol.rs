//! The wire protocol: one JSON text frame per message over the `/ws` WebSocket.
//!
//! Both directions are a serde enum tagged by `type` (snake_case), compiled into the server
//! and into the WASM client so the two can never disagree on a field. `docs/PROTOCOL.md`
//! shows an example of every message; a unit test below checks those examples parse.
//!
//! Requests may carry a `req_id` chosen by the client. The server echoes it in the `ack`,
//! `joined` or `error` that answers the request, which is how the client marks a message as
//! accepted by the server (like the Socket.IO ack callback of the original Node.js Noom).

use serde::{Deserialize, Serialize};

use crate::limits::{
    validate_client_msg_id, validate_message, validate_nickname, validate_password, validate_room_name, MAX_CANDIDATE_BYTES, MAX_SDP_BYTES,
    MAX_CLIENT_MSG_ID_CHARS, MAX_TRACKS_PER_OFFER,
};

/// A connection's id, assigned by the server; never reused, not even after a restart.
pub type ConnId = u64;
/// A request id chosen by the client and echoed back by the server.
pub type ReqId = u64;

/// The `conn_id` that names the server's media unit (the SFU) in `signal` frames: in an SFU
/// call every browser has one peer connection, to the server, and signals it as peer 0.
/// Real connection ids are never 0.
pub const SFU_PEER: ConnId = 0;

/// How a room's call carries media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallMode {
    /// A full mesh: one peer connection per pair, media never touches the server.
    #[default]
    P2p,
    /// Every participant has one peer connection to the server's SFU ([`SFU_PEER`]).
    Sfu,
}

/// What a media track carries. Screen sharing is its own kind: in an SFU call it is an extra
/// track next to the camera, shown as its own tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    Audio,
    Video,
    Screen,
}

impl TrackKind {
    /// Whether the track is video (camera or screen) rather than audio.
    pub fn is_video(self) -> bool {
        !matches!(self, TrackKind::Audio)
    }
}

/// One m-line of an offer to the SFU: what the browser sends on it (`from` absent), or
/// which participant's track it wants to receive on it (`from` set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackMid {
    pub mid: String,
    pub kind: TrackKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ConnId>,
}

/// A track the SFU can forward to me: `from`'s audio, camera or screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RemoteTrack {
    pub from: ConnId,
    pub kind: TrackKind,
}

/// A video tile I show, and its size in CSS pixels: the SFU picks the simulcast layer to
/// send me from it. Tiles I do not list get no video at all. When my link cannot carry
/// every tile, the SFU keeps screen shares, then the pinned tile, then the speaker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TileView {
    pub from: ConnId,
    pub kind: TrackKind,
    pub width: u32,
    pub height: u32,
    /// I pinned this tile.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pinned: bool,
    /// This person is speaking (highlighted).
    #[serde(default, skip_serializing_if = "is_false")]
    pub speaking: bool,
}

/// Messages a browser sends to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Change my nickname (also inside a room, where the others are told).
    SetNick {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        nickname: String,
    },
    /// I am looking at the home page: send me the open rooms now and whenever they change.
    WatchRooms {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
    },
    /// Enter a room (leaving the one I am in, if any). Stops room-list updates.
    Join {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        room: String,
        /// The last `seq` I have of this room: send me what came after it instead of the
        /// recent history.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
        /// The `epoch` my `since` comes from; if the server's differs, `since` is ignored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<String>,
        /// This browser's own random id (kept in its storage): someone a host removed
        /// cannot come back from the same browser with a new connection; and someone who
        /// was in the meeting comes back after a dropped connection although the room was
        /// locked, got a password or a waiting room meanwhile.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
        /// The room's password, if it has one (`error` `password_required` says so).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
    /// Leave my room.
    Leave {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
    },
    /// Say something in my room.
    Chat {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        text: String,
        /// My own id for this message (a UUID, ≤ 64 characters): sending it again (after a
        /// lost ack, from a new connection, after a server restart) is answered with the
        /// message already stored instead of storing it twice.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<String>,
    },
    /// Stored messages of my room: older than `before`, or newer than `after`.
    History {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
        /// At most this many (and never more than 100).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Join the video call of my room, with my microphone/camera state.
    CallJoin {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        media: MediaState,
    },
    /// Leave the call (I stay in the room).
    CallLeave {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
    },
    /// My microphone/camera/screen state changed.
    CallState { media: MediaState },
    /// WebRTC signalling for one other participant of my call, or for the SFU
    /// (`to` = [`SFU_PEER`]) when the call runs through the server.
    Signal { to: ConnId, payload: SignalPayload },
    /// SFU calls: the video tiles I show right now and their sizes.
    CallLayout { tiles: Vec<TileView> },
    /// Host only: make `conn_id` (in my room) a host too.
    MakeHost {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        conn_id: ConnId,
    },
    /// Host only: lock my room (nobody new may enter) or open it again.
    SetLock {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        locked: bool,
    },
    /// Host only: remove `conn_id` from my room for the rest of the meeting.
    Remove {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        conn_id: ConnId,
    },
    /// Host only: ask `conn_id` to mute their microphone, or (`force`) mute it.
    Mute {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        conn_id: ConnId,
        #[serde(default)]
        force: bool,
    },
    /// Raise or lower my hand; a host may lower someone else's (`conn_id`).
    RaiseHand {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        raised: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conn_id: Option<ConnId>,
    },
    /// A reaction everyone in my room sees over my tile for a moment: one of [`REACTIONS`].
    React { emoji: String },
    /// Host only: turn the waiting room on (newcomers wait until a host lets them in) or
    /// off (whoever waits comes in).
    SetLobby {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        enabled: bool,
    },
    /// Host only: let `conn_id` in from the waiting room.
    Admit {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        conn_id: ConnId,
    },
    /// Host only: turn `conn_id` away from the waiting room.
    Deny {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        conn_id: ConnId,
    },
    /// Host only: protect my room with `password` (newcomers must give it), or (none)
    /// remove its password. The password stays with the room after it empties.
    SetPassword {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
}

/// The reactions a person can send (anything else is refused).
pub const REACTIONS: &[&str] = &["👍", "👏", "😂", "❤️", "🎉", "😮"];

impl ClientMsg {
    /// Every `type` a client may send; used to tell "unknown type" from "bad fields".
    pub const TYPES: &'static [&'static str] =
        &["set_nick", "watch_rooms", "join", "leave", "chat", "history", "call_join", "call_leave", "call_state", "signal", "call_layout",
          "make_host", "set_lock", "remove", "mute", "raise_hand", "react", "set_lobby", "admit", "deny",
          "set_password"];

    /// Check and normalize the user text in a request (trimmed nickname, room name and
    /// message), with the same rules the browser applies before sending.
    pub fn validated(self) -> Result<ClientMsg, ParseError> {
        let req_id = self.req_id();
        let fail = |code, e: crate::limits::InvalidText| ParseError { req_id, code, message: e.to_string() };
        Ok(match self {
            ClientMsg::SetNick { req_id, nickname } => ClientMsg::SetNick {
                req_id,
                nickname: validate_nickname(&nickname).map_err(|e| fail(ErrorCode::InvalidNickname, e))?,
            },
            ClientMsg::Join { req_id, room, since, epoch, device, password } => ClientMsg::Join {
                req_id,
                room: validate_room_name(&room).map_err(|e| fail(ErrorCode::InvalidRoom, e))?,
                since,
                epoch: epoch.filter(|e| e.len() <= MAX_CLIENT_MSG_ID_CHARS),
                device: device.filter(|d| !d.is_empty() && d.len() <= MAX_CLIENT_MSG_ID_CHARS),
                password: password
                    .map(|p| validate_password(&p).map_err(|e| fail(ErrorCode::BadFields, e)))
                    .transpose()?,
            },
            ClientMsg::SetPassword { req_id, password } => ClientMsg::SetPassword {
                req_id,
                password: password
                    .map(|p| validate_password(&p).map_err(|e| fail(ErrorCode::BadFields, e)))
                    .transpose()?,
            },
            ClientMsg::React { emoji } => {
                if !REACTIONS.contains(&emoji.as_str()) {
                    return Err(ParseError {
                        req_id,
                        code: ErrorCode::BadFields,
                        message: format!("emoji must be one of {}", REACTIONS.join(" ")),
                    });
                }
                ClientMsg::React { emoji }
            }
            ClientMsg::Chat { req_id, text, client_msg_id } => ClientMsg::Chat {
                req_id,
                text: validate_message(&text).map_err(|e| fail(ErrorCode::InvalidMessage, e))?,
                client_msg_id: client_msg_id
                    .map(|id| validate_client_msg_id(&id).map_err(|e| fail(ErrorCode::InvalidMessage, e)))
                    .transpose()?,
            },
            ClientMsg::History { req_id, room, before, after, limit } => ClientMsg::History {
                req_id,
                room: validate_room_name(&room).map_err(|e| fail(ErrorCode::InvalidRoom, e))?,
                before,
                after,
                limit,
            },
            ClientMsg::Signal { to, payload } => {
                let too_large = |what: &str, max: usize| ParseError {
                    req_id,
                    code: ErrorCode::SignalTooLarge,
                    message: format!("{what} larger than {} KiB", max / 1024),
                };
                match &payload {
                    SignalPayload::Description { sdp, .. } if sdp.len() > MAX_SDP_BYTES => {
                        return Err(too_large("session description", MAX_SDP_BYTES));
                    }
                    SignalPayload::Description { tracks, .. } if tracks.len() > MAX_TRACKS_PER_OFFER => {
                        return Err(too_large("track list", MAX_TRACKS_PER_OFFER * 64));
                    }
                    SignalPayload::Candidate { candidate, sdp_mid, .. }
                        if candidate.len() + sdp_mid.as_ref().map_or(0, String::len) > MAX_CANDIDATE_BYTES =>
                    {
                        return Err(too_large("ICE candidate", MAX_CANDIDATE_BYTES));
                    }
                    _ => ClientMsg::Signal { to, payload },
                }
            }
            ClientMsg::CallLayout { mut tiles } => {
                tiles.truncate(MAX_TRACKS_PER_OFFER);
                ClientMsg::CallLayout { tiles }
            }
            other @ (ClientMsg::WatchRooms { .. }
            | ClientMsg::Leave { .. }
            | ClientMsg::CallJoin { .. }
            | ClientMsg::CallLeave { .. }
            | ClientMsg::CallState { .. }
            | ClientMsg::MakeHost { .. }
            | ClientMsg::SetLock { .. }
            | ClientMsg::Remove { .. }
            | ClientMsg::Mute { .. }
            | ClientMsg::RaiseHand { .. }
            | ClientMsg::SetLobby { .. }
            | ClientMsg::Admit { .. }
            | ClientMsg::Deny { .. }) => other,
        })
    }

    pub fn req_id(&self) -> Option<ReqId> {
        match self {
            ClientMsg::SetNick { req_id, .. }
            | ClientMsg::WatchRooms { req_id }
            | ClientMsg::Join { req_id, .. }
            | ClientMsg::Leave { req_id }
            | ClientMsg::Chat { req_id, .. }
            | ClientMsg::History { req_id, .. }
            | ClientMsg::CallJoin { req_id, .. }
            | ClientMsg::CallLeave { req_id }
            | ClientMsg::MakeHost { req_id, .. }
            | ClientMsg::SetLock { req_id, .. }
            | ClientMsg::Remove { req_id, .. }
            | ClientMsg::Mute { req_id, .. }
            | ClientMsg::RaiseHand { req_id, .. }
            | ClientMsg::SetLobby { req_id, .. }
            | ClientMsg::Admit { req_id, .. }
            | ClientMsg::Deny { req_id, .. }
            | ClientMsg::SetPassword { req_id, .. } => *req_id,
            ClientMsg::CallState { .. } | ClientMsg::Signal { .. } | ClientMsg::CallLayout { .. } | ClientMsg::React { .. } => {
                None
            }
        }
    }
}

/// Someone in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub conn_id: ConnId,
    pub nickname: String,
    /// Runs the room: may lock it, remove people, ask them to mute, make others hosts.
    #[serde(default, skip_serializing_if = "is_false")]
    pub host: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An open room as the home page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub name: String,
    pub count: usize,
    /// A host locked it: nobody new may enter.
    #[serde(default, skip_serializing_if = "is_false")]
    pub locked: bool,
    /// It has a password: entering asks for it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub protected: bool,
}

/// A chat message as the server accepted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Assigned by the store, never reused (not even after a restart).
    pub id: u64,
    pub room: String,
    /// 1, 2, 3, … within the room: gaps tell a client it missed something.
    pub seq: u64,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: u64,
    pub from: ConnId,
    pub nickname: String,
    pub text: String,
}

/// A participant's microphone, camera and screen-share state and the quality of their
/// connection, as they report it (the others show it on the tile; it is never guessed from
/// the media).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MediaState {
    pub audio: bool,
    pub video: bool,
    #[serde(default)]
    pub screen: bool,
    /// Omitted when good.
    #[serde(default, skip_serializing_if = "Quality::is_good")]
    pub quality: Quality,
}

/// How well a participant's connection carries the call, as their browser measures it
/// (loss, round trip, video the SFU holds back from them). Ordered worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    Poor,
    Fair,
    #[default]
    Good,
}

impl Quality {
    pub fn is_good(&self) -> bool {
        *self == Quality::Good
    }
}

/// Someone in a room's call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallParticipant {
    pub conn_id: ConnId,
    pub nickname: String,
    pub media: MediaState,
}

/// A STUN or TURN server for `RTCPeerConnection`, from the server's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SdpType {
    Offer,
    Answer,
}

/// What one peer tells another to set up their `RTCPeerConnection`. The server relays it
/// untouched, only between two participants of the same call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignalPayload {
    Description {
        sdp_type: SdpType,
        sdp: String,
        /// Offers to the SFU only: what each m-line is for (peers ignore it).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tracks: Vec<TrackMid>,
    },
    Candidate {
        candidate: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_m_line_index: Option<u16>,
    },
}

/// Machine-readable reason in an `error` frame; the `message` next to it is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON.
    BadJson,
    /// JSON without a known `type`.
    UnknownType,
    /// Known `type` but missing or wrongly typed fields.
    BadFields,
    InvalidNickname,
    InvalidRoom,
    InvalidMessage,
    /// `chat` or `leave` while not in a room.
    NotInRoom,
    /// Too many frames too fast; this one was dropped.
    RateLimited,
    /// Binary frames are not part of the protocol.
    BinaryFrame,
    /// The room's call already has the most participants a mesh allows.
    CallFull,
    /// A call request (or a signal to someone) outside a call I am in.
    NotInCall,
    /// A session description or ICE candidate over the size limit.
    SignalTooLarge,
    /// The SFU could not use an offer or lost this participant's media; the client starts
    /// a fresh peer connection to it.
    MediaFailed,
    /// An SDP answer sent to the SFU, which never offers: nothing asked for it, so it was
    /// not used.
    UnexpectedAnswer,
    /// The chat store could not save (or read) this now; the message was not acked and
    /// the client sends it again later.
    StoreUnavailable,
    /// The server is behind and did not take this chat message; the client sends it again
    /// later.
    Overloaded,
    /// Only a host of the room may do this.
    NotHost,
    /// A host locked the room: nobody new may enter.
    RoomLocked,
    /// A host removed me from this room for the rest of the meeting.
    Removed,
    /// A host did not let me in from the waiting room.
    Denied,
    /// The room has a password and my `join` gave none: ask the person for it.
    PasswordRequired,
    /// The password my `join` gave is not the room's.
    WrongPassword,
    /// Too many wrong passwords from this connection: wait (the message says how long).
    TooManyTries,
}

/// Messages the server sends to a browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First frame on every connection.
    Welcome { conn_id: ConnId, nickname: String },
    /// A request was accepted. For `chat`, `message` is the message as stored (id, seq, ts).
    Ack {
        req_id: ReqId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<ChatMessage>,
    },
    /// Answer to `join`: who is there and the recent history.
    Joined {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        room: String,
        members: Vec<Member>,
        /// The recent messages (the last 50), or with `since` what came after it (up to
        /// 500), oldest first.
        history: Vec<ChatMessage>,
        /// Older messages than `history`'s first are stored (ask `history` with `before`).
        #[serde(default)]
        earlier: bool,
        /// With `since`: newer messages did not fit (ask `history` with `after`).
        #[serde(default)]
        more: bool,
        /// The chat database's identity: keep it with the seqs; if it changes, the seqs
        /// I kept mean nothing.
        #[serde(default)]
        epoch: String,
        /// Who is in the room's call right now.
        #[serde(default)]
        call: Vec<CallParticipant>,
        /// The ICE servers for calls, so the connection to the SFU can be made before
        /// joining the call.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<IceServer>,
        /// Browsers must relay all media through TURN (`iceTransportPolicy: "relay"`).
        #[serde(default, skip_serializing_if = "is_false")]
        relay_only: bool,
        /// A host locked the room (I was inside already, or it was locked since).
        #[serde(default, skip_serializing_if = "is_false")]
        locked: bool,
        /// Raised hands, in the order they went up.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hands: Vec<ConnId>,
        /// The waiting room is on: newcomers wait for a host.
        #[serde(default, skip_serializing_if = "is_false")]
        lobby: bool,
        /// The room has a password.
        #[serde(default, skip_serializing_if = "is_false")]
        protected: bool,
    },
    /// Someone entered my room ("NICK joined").
    MemberJoined { room: String, member: Member },
    /// Someone left my room or lost their connection ("NICK left"), or a host removed
    /// them (`removed_by`).
    MemberLeft {
        room: String,
        member: Member,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        removed_by: Option<ConnId>,
    },
    /// The room's hosts changed: `by` made someone a host, or (no `by`) the last host
    /// left and the longest-present member took over.
    Hosts {
        room: String,
        hosts: Vec<ConnId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<ConnId>,
    },
    /// A host (`by`) locked or unlocked my room.
    Locked { room: String, locked: bool, by: ConnId },
    /// Raised hands changed; in the order they went up. `by`: a host lowered someone's.
    Hands {
        room: String,
        hands: Vec<ConnId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<ConnId>,
    },
    /// A host removed me from the room; I may not come back to it in this meeting.
    Removed { room: String, by: ConnId, nickname: String },
    /// A host asks me to mute my microphone, or (`force`) muted it: my client turns it off
    /// and reports `call_state`.
    MuteRequest { by: ConnId, nickname: String, force: bool },
    /// Someone in my room reacted.
    Reaction { conn_id: ConnId, emoji: String },
    /// The room has its waiting room on: I wait until a host lets me in (`joined`) or
    /// turns me away (`error` `denied`).
    Waiting { room: String },
    /// To hosts: who is in the waiting room, in the order they came.
    Lobby { room: String, waiting: Vec<Member> },
    /// A host (`by`) turned the waiting room on or off.
    LobbyChanged { room: String, enabled: bool, by: ConnId },
    /// A host (`by`) set, changed (`protected`) or removed my room's password.
    PasswordChanged { room: String, protected: bool, by: ConnId },
    /// Someone in my room (or I) changed nickname ("OLD is now NEW").
    NickChanged { conn_id: ConnId, old: String, new: String },
    /// A chat message from someone else in my room.
    Message { message: ChatMessage },
    /// Answer to `history`: messages oldest first. `more`: there are more beyond them in
    /// the direction asked (older for `before`, newer for `after`).
    History {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        room: String,
        messages: Vec<ChatMessage>,
        more: bool,
        /// Whether this page is older messages (`before`) rather than newer (`after`).
        backwards: bool,
    },
    /// I fell behind my room (my connection could not take its traffic for a moment): what
    /// came after `last_seq` was not sent. A fresh `joined` with everything after it
    /// follows as soon as my connection has room again.
    Lagged {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_seq: Option<u64>,
    },
    /// The open rooms, sent to connections watching the home page.
    Rooms { rooms: Vec<RoomInfo> },
    /// Answer to `call_join`: the ICE servers to use and who is already in the call (I set
    /// up one peer connection to each).
    CallJoined {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        ice_servers: Vec<IceServer>,
        /// Browsers must relay all media through TURN (`iceTransportPolicy: "relay"`).
        #[serde(default, skip_serializing_if = "is_false")]
        relay_only: bool,
        participants: Vec<CallParticipant>,
        /// Peer to peer (connect to each participant) or through the SFU (connect to
        /// [`SFU_PEER`] only).
        #[serde(default)]
        mode: CallMode,
    },
    /// My call changed how it carries media (it grew past `--p2p-max`): close the peer
    /// connections and connect to the SFU.
    CallModeChanged { mode: CallMode },
    /// SFU calls: every track the SFU can forward to me now. I offer an m-line to receive
    /// each (and stop the m-lines of tracks no longer listed).
    CallTracks { tracks: Vec<RemoteTrack> },
    /// SFU calls: the video tracks the SFU pauses towards me because my connection cannot
    /// carry them (all of them, each time the list changes; empty: none). Their tiles say
    /// so instead of freezing; they resume by themselves when the link allows.
    CallPaused { tracks: Vec<RemoteTrack> },
    /// SFU calls: encode only these simulcast layers (`rid`s) of my `kind` track: nobody
    /// receives the others now (dynacast). Until told, every layer is wanted.
    CallLayers { kind: TrackKind, rids: Vec<String> },
    /// Someone in my room joined its call (sent to the whole room).
    CallParticipantJoined { participant: CallParticipant },
    /// Someone left my room's call, by leaving it, the room, or their connection.
    CallParticipantLeft { conn_id: ConnId },
    /// Someone in my room's call changed microphone/camera/screen state.
    CallParticipantState { conn_id: ConnId, media: MediaState },
    /// Signalling from another participant of my call.
    Signal { from: ConnId, payload: SignalPayload },
    /// A request was refused, or a frame could not be understood.
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        code: ErrorCode,
        message: String,
    },
}

impl ServerMsg {
    /// Every `type` the server sends, in declaration order (tests check that the list, the
    /// enum and `docs/PROTOCOL.md` agree, and the client's reducer has a case for each).
    pub const TYPES: &'static [&'static str] = &["welcome", "ack", "joined", "member_joined", "member_left", "hosts", "locked", "hands", "removed", "mute_request", "reaction", "waiting", "lobby", "lobby_changed", "password_changed", "nick_changed", "message", "history", "lagged", "rooms", "call_joined", "call_mode_changed", "call_tracks", "call_paused", "call_layers", "call_participant_joined", "call_participant_left", "call_participant_state", "signal", "error"];

    /// This message's `type` on the wire. An exhaustive match: a new variant does not
    /// compile until it is named here (and then the tests ask for it in `TYPES`).
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerMsg::Welcome { .. } => "welcome",
            ServerMsg::Ack { .. } => "ack",
            ServerMsg::Joined { .. } => "joined",
            ServerMsg::MemberJoined { .. } => "member_joined",
            ServerMsg::MemberLeft { .. } => "member_left",
            ServerMsg::Hosts { .. } => "hosts",
            ServerMsg::Locked { .. } => "locked",
            ServerMsg::Hands { .. } => "hands",
            ServerMsg::Removed { .. } => "removed",
            ServerMsg::MuteRequest { .. } => "mute_request",
            ServerMsg::Reaction { .. } => "reaction",
            ServerMsg::Waiting { .. } => "waiting",
            ServerMsg::Lobby { .. } => "lobby",
            ServerMsg::LobbyChanged { .. } => "lobby_changed",
            ServerMsg::PasswordChanged { .. } => "password_changed",
            ServerMsg::NickChanged { .. } => "nick_changed",
            ServerMsg::Message { .. } => "message",
            ServerMsg::History { .. } => "history",
            ServerMsg::Lagged { .. } => "lagged",
            ServerMsg::Rooms { .. } => "rooms",
            ServerMsg::CallJoined { .. } => "call_joined",
            ServerMsg::CallModeChanged { .. } => "call_mode_changed",
            ServerMsg::CallTracks { .. } => "call_tracks",
            ServerMsg::CallPaused { .. } => "call_paused",
            ServerMsg::CallLayers { .. } => "call_layers",
            ServerMsg::CallParticipantJoined { .. } => "call_participant_joined",
            ServerMsg::CallParticipantLeft { .. } => "call_participant_left",
            ServerMsg::CallParticipantState { .. } => "call_participant_state",
            ServerMsg::Signal { .. } => "signal",
            ServerMsg::Error { .. } => "error",
        }
    }
}

/// WebSocket close codes the server uses (RFC 6455 §7.4.1).
pub mod close {
    /// Server shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// Binary frame: the protocol is JSON text only.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Kept flooding after being throttled, or its socket took nothing for
    /// `--slow-client-secs`.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// Frame larger than [`crate::limits::MAX_FRAME_BYTES`].
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server failed handling this connection (a bug, logged), or its hub stopped.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// The server is at its connection limit.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// A frame the server could not turn into a [`ClientMsg`], with what to tell the sender.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub req_id: Option<ReqId>,
    pub code: ErrorCode,
    pub message: String,
}

/// Parse a client text frame, telling malformed JSON, unknown types and bad fields apart so
/// the error frame names the actual problem.
pub fn parse_client(text: &str) -> Result<ClientMsg, ParseError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ParseError {
        req_id: None,
        code: ErrorCode::BadJson,
        message: format!("malformed JSON: {e}"),
    })?;
    let req_id = value.get("req_id").and_then(serde_json::Value::as_u64);
    let fail = |code, message: String| ParseError { req_id, code, message };
    match value.get("type") {
        Some(serde_json::Value::String(t)) if ClientMsg::TYPES.contains(&t.as_str()) => {}
        Some(serde_json::Value::String(t)) => {
            let t: String = t.chars().take(40).collect();
            return Err(fail(ErrorCode::UnknownType, format!("unknown message type `{t}`")));
        }
        Some(_) => return Err(fail(ErrorCode::BadFields, "`type` must be a string".into())),
        None => return Err(fail(ErrorCode::UnknownType, "missing `type` field".into())),
    }
    serde_json::from_value(value).map_err(|e| fail(ErrorCode::BadFields, format!("bad fields: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_round_trip_and_types_list_is_complete() {
        let all = [
            ClientMsg::SetNick { req_id: Some(1), nickname: "Ana".into() },
            ClientMsg::WatchRooms { req_id: None },
            ClientMsg::Join { req_id: Some(2), room: "lobby".into(), since: Some(41), epoch: Some("e1".into()), device: None, password: None },
            ClientMsg::Leave { req_id: None },
            ClientMsg::Chat { req_id: Some(3), text: "hi".into(), client_msg_id: Some("c-1".into()) },
            ClientMsg::History { req_id: Some(5), room: "lobby".into(), before: Some(100), after: None, limit: Some(50) },
            ClientMsg::CallJoin { req_id: Some(4), media: MediaState { audio: true, video: false, screen: false, ..Default::default() } },
            ClientMsg::CallLeave { req_id: None },
            ClientMsg::CallState { media: MediaState::default() },
            ClientMsg::Signal {
                to: 3,
                payload: SignalPayload::Candidate { candidate: "candidate:1".into(), sdp_mid: Some("0".into()), sdp_m_line_index: Some(0) },
            },
            ClientMsg::CallLayout { tiles: vec![TileView { from: 2, kind: TrackKind::Video, width: 320, height: 180, pinned: true, speaking: false }] },
            ClientMsg::MakeHost { req_id: Some(6), conn_id: 9 },
            ClientMsg::SetLock { req_id: None, locked: true },
            ClientMsg::Remove { req_id: Some(7), conn_id: 9 },
            ClientMsg::Mute { req_id: None, conn_id: 9, force: true },
            ClientMsg::RaiseHand { req_id: None, raised: false, conn_id: Some(9) },
            ClientMsg::React { emoji: "🎉".into() },
            ClientMsg::SetLobby { req_id: Some(8), enabled: true },
            ClientMsg::Admit { req_id: None, conn_id: 9 },
            ClientMsg::Deny { req_id: None, conn_id: 9 },
            ClientMsg::SetPassword { req_id: Some(9), password: Some("open sesame".into()) },
        ];
        assert_eq!(all.len(), ClientMsg::TYPES.len());
        for msg in all {
            let json = serde_json::to_string(&msg).unwrap();
            let ty = serde_json::from_str::<serde_json::Value>(&json).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(ClientMsg::TYPES.contains(&ty.as_str()), "{ty} missing from TYPES");
            assert_eq!(parse_client(&json).unwrap(), msg);
        }
    }

    #[test]
    fn validation_trims_and_refuses() {
        let msg = ClientMsg::Join { req_id: Some(4), room: "  Lobby ".into(), since: None, epoch: None, device: None, password: Some(" pw ".into()) }.validated().unwrap();
        assert_eq!(msg, ClientMsg::Join { req_id: Some(4), room: "Lobby".into(), since: None, epoch: None, device: None, password: Some(" pw ".into()) }, "a password is taken as typed");
        let e = ClientMsg::SetPassword { req_id: Some(3), password: Some("x".repeat(129)) }.validated().unwrap_err();
        assert_eq!((e.code, e.req_id), (ErrorCode::BadFields, Some(3)));
        let e = ClientMsg::SetNick { req_id: Some(2), nickname: "x".repeat(33) }.validated().unwrap_err();
        assert_eq!((e.code, e.req_id), (ErrorCode::InvalidNickname, Some(2)));
        assert_eq!(e.message, "Nickname must be at most 32 characters");
        let e = ClientMsg::Chat { req_id: None, text: "  ".into(), client_msg_id: None }.validated().unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidMessage);
        for bad in ["".to_string(), "x".repeat(65), "a b".into(), "a\u{0}".into()] {
            let e = ClientMsg::Chat { req_id: Some(9), text: "hi".into(), client_msg_id: Some(bad.clone()) }.validated();
            assert_eq!(e.unwrap_err().code, ErrorCode::InvalidMessage, "client_msg_id {bad:?}");
        }
        let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let ok = ClientMsg::Chat { req_id: None, text: "hi".into(), client_msg_id: Some(uuid.into()) }.validated();
        assert!(ok.is_ok());
    }

    #[test]
    fn oversized_signals_are_refused() {
        let sdp = "v".repeat(MAX_SDP_BYTES + 1);
        let msg = ClientMsg::Signal { to: 1, payload: SignalPayload::Description { sdp_type: SdpType::Offer, sdp, tracks: vec![] } };
        assert_eq!(msg.validated().unwrap_err().code, ErrorCode::SignalTooLarge);
        let candidate = "c".repeat(MAX_CANDIDATE_BYTES + 1);
        let msg = ClientMsg::Signal { to: 1, payload: SignalPayload::Candidate { candidate, sdp_mid: None, sdp_m_line_index: None } };
        assert_eq!(msg.validated().unwrap_err().code, ErrorCode::SignalTooLarge);
        let ok = ClientMsg::Signal { to: 1, payload: SignalPayload::Description { sdp_type: SdpType::Answer, sdp: "v=0".into(), tracks: vec![] } };
        assert!(ok.validated().is_ok());
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let e = parse_client("{not json").unwrap_err();
        assert_eq!(e.code, ErrorCode::BadJson);

        let e = parse_client(r#"{"type":"dance","req_id":7}"#).unwrap_err();
        assert_eq!((e.code, e.req_id), (ErrorCode::UnknownType, Some(7)));
        assert!(e.message.contains("dance"));

        let e = parse_client(r#"{"req_id":1}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownType);

        let e = parse_client(r#"{"type":"chat","req_id":9,"text":5}"#).unwrap_err();
        assert_eq!((e.code, e.req_id), (ErrorCode::BadFields, Some(9)));

        let e = parse_client(r#"{"type":"join"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadFields);
        assert!(e.message.contains("room"), "{}", e.message);
    }

    #[test]
    fn server_messages_use_snake_case_tags() {
        let json = serde_json::to_value(ServerMsg::MemberJoined {
            room: "r".into(),
            member: Member { conn_id: 1, nickname: "A".into(), host: false },
        })
        .unwrap();
        assert_eq!(json["type"], "member_joined");
        let json = serde_json::to_value(ServerMsg::Error {
            req_id: None,
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
        })
        .unwrap();
        assert_eq!(json["code"], "rate_limited");
        assert!(json.get("req_id").is_none());
    }

    /// `ServerMsg::TYPES`, `type_name` and the docs agree: every server message has an
    /// example in docs/PROTOCOL.md, and each example's `type` is what `type_name` says.
    #[test]
    fn every_server_message_type_is_listed_named_and_documented() {
        let doc = include_str!("../docs/PROTOCOL.md");
        let mut seen = std::collections::BTreeSet::new();
        for block in doc.split("```json").skip(1) {
            let json = block.split("```").next().unwrap().trim();
            let value: serde_json::Value = serde_json::from_str(json).unwrap();
            if let Ok(msg) = serde_json::from_value::<ServerMsg>(value.clone()) {
                assert_eq!(value["type"], msg.type_name(), "{json}");
                seen.insert(msg.type_name());
            }
        }
        let listed: std::collections::BTreeSet<_> = ServerMsg::TYPES.iter().copied().collect();
        assert_eq!(listed.len(), ServerMsg::TYPES.len(), "a type is listed twice");
        let undocumented: Vec<_> = listed.difference(&seen).collect();
        assert!(undocumented.is_empty(), "server messages without an example in docs/PROTOCOL.md: {undocumented:?}");
        assert_eq!(seen, listed);
    }

    /// Every JSON example in docs/PROTOCOL.md must parse as the message it documents.
    #[test]
    fn protocol_doc_examples_parse() {
        let doc = include_str!("../docs/PROTOCOL.md");
        let mut count = 0;
        for block in doc.split("```json").skip(1) {
            let json = block.split("```").next().unwrap().trim();
            let value: serde_json::Value = serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("doc example is not JSON ({e}): {json}"));
            let ok = serde_json::from_value::<ClientMsg>(value.clone()).is_ok()
                || serde_json::from_value::<ServerMsg>(value).is_ok();
            assert!(ok, "doc example matches no message: {json}");
            count += 1;
        }
        assert!(count >= 25, "expected an example per message, found {count}");
    }
}
