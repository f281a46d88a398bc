//! The client as a plain model: its state ([`ClientState`]), what can happen to it
//! ([`Input`]) and what it asks the browser to do ([`Effect`]), joined by one deterministic
//! function, [`apply`].
//!
//! Why: the browser's state used to be 37 signals changed by a reducer that also sent
//! frames, wrote localStorage and drove the call engine, so a rule could only be tested
//! through all of them, and the same rule ("which messages are for the call", "leave the
//! call") was written in several places that disagreed. Here a rule is written once and
//! tested natively: give an input, look at the state and the effects.
//!
//! The model imports no Leptos, web-sys, gloo or wasm-bindgen (`scripts/check-tree.sh`
//! checks): it is compiled for the server (the first render and the native tests) and the
//! browser alike. It reads no clock, draws no random numbers and opens no storage: a fresh
//! `client_msg_id`, the browser's device id and the outbox kept in localStorage come in as
//! input data. `crate::app::session` holds the state for the views; `crate::client` runs
//! the effects and feeds what happens back in.
//!
//! # Layout
//! - `connection.rs`: online/offline, who I am, where I want to be; replays on reconnect.
//! - `room.rs`: members, hosts, lock, waiting room, password prompt, hands, reactions.
//! - `chat.rs`: the log, pending lines and their outbox, acks, resume and paging.
//! - `call.rs`: the call's participants, my media state, and which messages are for the
//!   call engine.
//! - `devices.rs`: cameras, microphones, device notes, who is speaking.
//! - `quality.rs`: my connection's quality (good, fair, poor) from the engine's link samples.
//! - `notice.rs`: notices and refusals as data, worded by the views (`crate::strings`).
//! - `steps.rs`: the call's steps (who offers, the polite side, P2P or SFU, recovery after
//!   `media_failed`), as commands for the call engine.
//! - `port.rs`: the inputs, intents, effects and the call engine's commands and events.

mod call;
mod chat;
mod connection;
mod devices;
mod notice;
mod port;
mod quality;
mod room;
mod steps;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_call;
#[cfg(test)]
mod tests_server;

use crate::limits::DEFAULT_NICKNAME;
use crate::protocol::{ClientMsg, ConnId, RoomInfo};

pub use call::{for_call, CallState};
pub use chat::{ChatLine, ChatState, LogEntry, Unsent};
pub use connection::{ConnStatus, Connection, Place};
pub use devices::{Device, DeviceNote, Devices, MediaAccess};
pub use notice::{Banner, CallError, Notice, Refusal};
pub use port::{EngineCommand, Effect, Input, Intent, MediaEvent, Request};
pub use room::RoomState;
pub use quality::{level, LinkSample, QualityMeter};
pub use steps::PeerLink;

/// Everything the browser knows, as plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientState {
    pub conn: Connection,
    /// Where the person wants to be; re-sent to the server after every reconnect.
    pub place: Place,
    /// The room the server confirmed we are in.
    pub joined: Option<String>,
    /// The home page's list of rooms.
    pub rooms: Vec<RoomInfo>,
    pub room: RoomState,
    pub chat: ChatState,
    pub call: CallState,
    pub devices: Devices,
    /// The last refusal or problem to show in a banner.
    pub error: Option<Banner>,
    /// Log keys and request ids, never reused on this page.
    next_key: u64,
}

impl Default for ClientState {
    fn default() -> Self {
        ClientState {
            conn: Connection {
                status: ConnStatus::Connecting,
                online: false,
                me: None,
                nickname: DEFAULT_NICKNAME.to_string(),
                named: false,
                device: String::new(),
            },
            place: Place::Home,
            joined: None,
            rooms: Vec::new(),
            room: RoomState::default(),
            chat: ChatState::default(),
            call: CallState::default(),
            devices: Devices::default(),
            error: None,
            next_key: 1,
        }
    }
}

impl ClientState {
    pub(crate) fn next_key(&mut self) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        key
    }

    /// Send now if connected; otherwise the reconnect replays the state that matters.
    pub(crate) fn send(&self, fx: &mut Vec<Effect>, msg: ClientMsg) {
        if self.conn.online {
            fx.push(Effect::Send(msg));
        }
    }

    pub(crate) fn in_room(&self, room: &str) -> bool {
        self.joined.as_deref() == Some(room)
    }

    /// Not in the room yet on purpose: choosing a name first, giving its password, or in
    /// its waiting room. (Not the same as offline: a dropped connection keeps the room on
    /// screen, to type into.)
    pub fn at_the_door(&self) -> bool {
        !self.conn.named || self.room.needs_password || self.room.waiting
    }

    /// Whether `conn_id` is a host of my room.
    pub fn is_host(&self, conn_id: Option<ConnId>) -> bool {
        self.room.members.iter().any(|m| Some(m.conn_id) == conn_id && m.host)
    }

    /// Someone's nickname, from the members I know of.
    pub(crate) fn nickname_of(&self, conn_id: ConnId) -> String {
        self.room
            .members
            .iter()
            .find(|m| m.conn_id == conn_id)
            .map(|m| m.nickname.clone())
            .unwrap_or_else(|| DEFAULT_NICKNAME.to_string())
    }

    pub(crate) fn notice(&mut self, notice: Notice) {
        let key = self.next_key();
        self.chat.log_mut().push(LogEntry::Notice { key, notice });
    }

    /// Leave the current place: out of its call, and nothing of its room kept.
    pub(crate) fn move_to(&mut self, place: Place, fx: &mut Vec<Effect>) {
        if self.call.wants_call {
            self.leave_call(fx);
        }
        self.place = place;
        self.call.participants.clear();
        self.joined = None;
        // The password I gave for a room stays for this page's life (a reload asks again).
        self.room = RoomState { password: self.room.password.take(), ..RoomState::default() };
        self.chat.log = Default::default();
        self.chat.earlier = false;
        self.chat.loading_earlier = false;
    }

    pub(crate) fn go_home(&mut self, fx: &mut Vec<Effect>) {
        self.move_to(Place::Home, fx);
        self.send(fx, ClientMsg::WatchRooms { req_id: None });
    }
}

/// Apply one input: change the state, and say what the browser must do, in order.
pub fn apply(state: &mut ClientState, input: Input) -> Vec<Effect> {
    let mut fx = Vec::new();
    match input {
        Input::Started { nickname, device, media_access } => {
            if let Some(nickname) = nickname {
                state.conn.nickname = nickname;
                state.conn.named = true;
            }
            state.conn.device = device;
            state.devices.media_access = media_access;
        }
        Input::Connected => state.on_connected(&mut fx),
        Input::Disconnected { close } => state.on_disconnected(close, &mut fx),
        Input::Server(msg) => {
            // The call's steps depend on nothing the message itself changes: decided first
            // (from a borrow, no copy of the message), done after the state took it.
            let steps = if for_call(&msg) { state.call_steps(&msg) } else { Vec::new() };
            state.on_server(msg, &mut fx);
            fx.extend(steps.into_iter().map(Effect::Engine));
        }
        Input::OutboxLoaded { room, unsent } => state.restore_outbox(&room, unsent, &mut fx),
        Input::Media(event) => state.on_media(event, &mut fx),
        Input::Intent(intent) => state.on_intent(intent, &mut fx),
        // Messages the server could not take a moment ago (busy, store failing) go again.
        Input::Tick => {
            if state.conn.online {
                state.resend(|l| l.retry, &mut fx);
            }
        }
    }
    fx
}
