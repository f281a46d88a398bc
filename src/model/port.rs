//! What goes into the model and what comes out: inputs (what happened), intents (what the
//! person asked for), effects (what the browser must do) and the call engine's port.
//!
//! Why data and not callbacks: the shell (`crate::client`) runs effects in the order given
//! and feeds its results back as inputs, so the model never waits, and a test reads the
//! effects as a list.

use crate::protocol::{
    CallMode, ClientMsg, ConnId, IceServer, MediaState, RemoteTrack, ServerMsg, SignalPayload, TileView, TrackKind,
};

use super::{Device, DeviceNote, LinkSample, MediaAccess, PeerLink, Unsent};

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The browser client started: the nickname saved on an earlier visit (valid, if any),
    /// this browser's id, and whether calls can work on this page.
    Started { nickname: Option<String>, device: String, media_access: MediaAccess },
    /// A new socket is up.
    Connected,
    /// The socket closed or failed; `close` is its close code and reason, if it was closed.
    Disconnected { close: Option<(u16, String)> },
    /// A message from the server.
    Server(ServerMsg),
    /// What localStorage kept for `room` (answer to [`Effect::LoadOutbox`]).
    OutboxLoaded { room: String, unsent: Vec<Unsent> },
    /// The call engine reports.
    Media(MediaEvent),
    /// The person asked for something.
    Intent(Intent),
    /// Every few seconds: retries.
    Tick,
}

/// What the person asks for (the views dispatch these).
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// `nickname` must already be valid (see `crate::limits::validate_nickname`).
    SetNickname(String),
    GoHome,
    Enter(String),
    /// Try to enter my room with this (valid) password.
    EnterWithPassword(String),
    /// Host: protect my room with a (valid) password, or remove its password.
    SetRoomPassword(Option<String>),
    /// Queue a chat message; `client_msg_id` is fresh (made by the shell).
    SendChat { text: String, client_msg_id: String },
    /// Ask for the page of messages before the first in the log.
    LoadEarlier,
    /// A request the server answers with `ack` or `error` (host controls, hands).
    Request(Request),
    React(String),
    /// Ask to join the room's call with this media state.
    JoinCall(MediaState),
    LeaveCall,
    /// Show this tile large (again: not any more).
    TogglePin(ConnId, TrackKind),
    /// A device picker changed.
    ChooseDevice(TrackKind, String),
    /// The call grid shows these remote tiles at these sizes (the view measures them; the
    /// engine tells the SFU, which picks each one's simulcast layer from it).
    ShowTiles(Vec<TileView>),
    /// My microphone (`Audio`) or camera (`Video`) button: on to off or off to on.
    ToggleSending(TrackKind),
    /// My screen button: start or stop sharing.
    ToggleScreen,
    /// The room page, in the room but not in its call: have a connection to the SFU ready.
    PrepareSfu,
}

/// Requests that get a fresh `req_id`; a refusal shows in the banner. The server decides
/// who may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    MakeHost(ConnId),
    Remove(ConnId),
    Mute { conn_id: ConnId, force: bool },
    /// Raise or lower my hand (`None`) or, as a host, lower someone's.
    Hand { raised: bool, conn_id: Option<ConnId> },
    Lock(bool),
    Lobby(bool),
    Admit(ConnId),
    Deny(ConnId),
}

impl Request {
    pub(crate) fn to_msg(self, req_id: Option<u64>) -> ClientMsg {
        match self {
            Request::MakeHost(conn_id) => ClientMsg::MakeHost { req_id, conn_id },
            Request::Remove(conn_id) => ClientMsg::Remove { req_id, conn_id },
            Request::Mute { conn_id, force } => ClientMsg::Mute { req_id, conn_id, force },
            Request::Hand { raised, conn_id } => ClientMsg::RaiseHand { req_id, raised, conn_id },
            Request::Lock(locked) => ClientMsg::SetLock { req_id, locked },
            Request::Lobby(enabled) => ClientMsg::SetLobby { req_id, enabled },
            Request::Admit(conn_id) => ClientMsg::Admit { req_id, conn_id },
            Request::Deny(conn_id) => ClientMsg::Deny { req_id, conn_id },
        }
    }
}

/// What the call engine reports (it holds the JS objects; the model holds the facts).
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    Devices { cameras: Vec<Device>, microphones: Vec<Device> },
    DeviceNote(Option<DeviceNote>),
    /// Who is above the speaking threshold now.
    Speaking(Vec<ConnId>),
    /// A local or remote stream changed: video elements re-attach.
    StreamsChanged,
    /// This browser has no `RTCPeerConnection`.
    WebrtcUnavailable,
    /// My microphone/camera/screen changed (a toggle, a share ended).
    Sending(MediaState),
    /// Join the call with what the preview has.
    JoinWith(MediaState),
    /// WebRTC signalling for one peer.
    Signal { to: ConnId, payload: SignalPayload },
    /// Which remote tiles I show, and how big (for the SFU's layer choice).
    Layout(Vec<TileView>),
    /// My link over the last interval (loss, round trip), measured every few seconds in a call.
    Link(LinkSample),
}

/// A command for the call engine: the steps of a call, decided by the model
/// (`steps.rs`); the engine carries them out with the browser's WebRTC objects.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineCommand {
    /// The socket dropped: our connection id dies with it, and so do the peer connections.
    Disconnected,
    /// I left the call: stop sharing my screen, close every connection of the call.
    Leave,
    /// Turn my microphone or camera on or off (my button, or a host muted me).
    SetSending { kind: TrackKind, on: bool },
    /// Start (`true`) or stop sharing my screen (my button).
    ShareScreen(bool),
    /// New ICE servers (fresh TURN credentials): for new connections and the open ones.
    Ice { servers: Vec<IceServer>, relay_only: bool },
    /// The server confirmed my call: drop any peer connections, then open these (P2P) or
    /// the SFU connection (a prepared one is kept).
    Start { mode: CallMode, peers: Vec<PeerLink> },
    /// My call outgrew peer to peer: close the peers, open the SFU connection.
    MoveToSfu,
    /// Open a peer connection (a newcomer to my P2P call: I offer).
    Connect(PeerLink),
    /// A peer's signal, on its connection (opened first, as the answering side).
    PeerSignal { link: PeerLink, payload: SignalPayload },
    ClosePeer(ConnId),
    /// What the SFU can send me.
    SfuTracks(Vec<RemoteTrack>),
    /// Encode only these simulcast layers of my `kind` track (dynacast, `call_layers`).
    SetLayers { kind: TrackKind, rids: Vec<String> },
    SfuSignal(SignalPayload),
    CloseSfu,
    OpenSfu,
    /// Have a connection to the SFU ready (in the room, not yet in its call).
    PrepareSfu,
}

/// What the browser must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(ClientMsg),
    /// Keep my unacknowledged messages for `room` across reloads (empty: forget them).
    SaveOutbox { room: String, unsent: Vec<Unsent> },
    /// Read what was kept for `room`; answer with [`Input::OutboxLoaded`].
    LoadOutbox(String),
    SaveNickname(String),
    Engine(EngineCommand),
}
