//! The app's hold on the client model: the one [`ClientState`], the one place that runs
//! [`model::apply`], and a signal per field the views read.
//!
//! Why slice signals and not a store: views re-render from the fields they read; after
//! each input, [`Session::dispatch`] writes only the signals whose value changed (a field
//! compare, no clone unless it changed), so a chat line does not re-render the call grid.
//! A `reactive_stores` store would do the same per field, for more code in every page's
//! WASM. The signals are written here only: views read them and dispatch intents.
//!
//! Compiled for both targets: on the server it renders the initial (empty) state, so the
//! server-rendered HTML and the first client render agree and hydration succeeds. In the
//! browser, effects go to the shell (`crate::client`), which feeds what happens back in.

use leptos::prelude::*;

use crate::model::{self, ClientState, Effect, Input, Intent};
pub use crate::model::{
    Banner, CallError, ChatLine, ConnStatus, Device, DeviceNote, LogEntry, MediaAccess, Place, Refusal, Request,
};
use crate::protocol::{CallMode, CallParticipant, ConnId, MediaState, Member, RoomInfo, TrackKind};

/// The views' signals, each a copy of one field of the model's state (see the module doc).
#[derive(Clone, Copy)]
pub struct Session {
    state: StoredValue<ClientState>,
    pub status: RwSignal<ConnStatus>,
    pub me: RwSignal<Option<ConnId>>,
    pub nickname: RwSignal<String>,
    pub named: RwSignal<bool>,
    pub place: RwSignal<Place>,
    pub joined: RwSignal<Option<String>>,
    pub rooms: RwSignal<Vec<RoomInfo>>,
    pub members: RwSignal<Vec<Member>>,
    pub log: RwSignal<Vec<LogEntry>>,
    pub earlier: RwSignal<bool>,
    pub loading_earlier: RwSignal<bool>,
    pub error: RwSignal<Option<Banner>>,
    pub locked: RwSignal<bool>,
    pub lobby: RwSignal<bool>,
    pub waiting: RwSignal<bool>,
    pub lobby_queue: RwSignal<Vec<Member>>,
    pub protected: RwSignal<bool>,
    pub needs_password: RwSignal<bool>,
    pub password_note: RwSignal<Option<Refusal>>,
    pub checking_password: RwSignal<bool>,
    pub hands: RwSignal<Vec<ConnId>>,
    pub reactions: RwSignal<Vec<(u64, ConnId, String)>>,
    pub call: RwSignal<Vec<CallParticipant>>,
    pub in_call: RwSignal<bool>,
    pub call_mode: RwSignal<CallMode>,
    pub media: RwSignal<MediaState>,
    pub call_error: RwSignal<Option<CallError>>,
    pub pinned: RwSignal<Option<(ConnId, TrackKind)>>,
    pub speaking: RwSignal<Vec<ConnId>>,
    pub media_epoch: RwSignal<u64>,
    pub cameras: RwSignal<Vec<Device>>,
    pub microphones: RwSignal<Vec<Device>>,
    pub camera_id: RwSignal<Option<String>>,
    pub microphone_id: RwSignal<Option<String>>,
    pub device_note: RwSignal<Option<DeviceNote>>,
    pub media_access: RwSignal<MediaAccess>,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

/// Each signal and the state's field it mirrors: made from it, and written when it differs.
macro_rules! mirror {
    ($($field:ident <- $($path:ident).+),* $(,)?) => {
        impl Session {
            pub fn new() -> Session {
                let s = ClientState::default();
                Session { state: StoredValue::new(s.clone()), $($field: RwSignal::new(s.$($path).+.clone())),* }
            }

            /// Write the signals whose field changed.
            fn publish(&self, s: &ClientState) {
                $(if self.$field.with_untracked(|v| *v != s.$($path).+) {
                    self.$field.set(s.$($path).+.clone());
                })*
            }
        }
    };
}

mirror! {
    status <- conn.status, me <- conn.me, nickname <- conn.nickname, named <- conn.named,
    place <- place, joined <- joined, rooms <- rooms, error <- error,
    members <- room.members, locked <- room.locked, lobby <- room.lobby, waiting <- room.waiting,
    lobby_queue <- room.lobby_queue, protected <- room.protected, needs_password <- room.needs_password,
    password_note <- room.password_note, checking_password <- room.checking_password,
    hands <- room.hands, reactions <- room.reactions,
    log <- chat.log, earlier <- chat.earlier, loading_earlier <- chat.loading_earlier,
    call <- call.participants, in_call <- call.in_call, call_mode <- call.mode, media <- call.media,
    call_error <- call.error, pinned <- call.pinned,
    speaking <- devices.speaking, media_epoch <- devices.streams, cameras <- devices.cameras,
    microphones <- devices.microphones, camera_id <- devices.camera_id,
    microphone_id <- devices.microphone_id, device_note <- devices.note,
    media_access <- devices.media_access,
}

impl Session {
    /// The one place an input is applied: the state changes, the changed signals are
    /// written, then the shell runs the effects in order (what they produce at once, such
    /// as a loaded outbox, is applied next).
    pub fn dispatch(&self, input: Input) {
        let mut queue = std::collections::VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            let Some(effects) = self.state.try_update_value(|s| model::apply(s, input)) else { return };
            self.state.with_value(|s| self.publish(s));
            queue.extend(run(effects));
        }
    }

    pub fn intend(&self, intent: Intent) {
        self.dispatch(Input::Intent(intent));
    }

    /// Not in the room yet on purpose: choosing a name first, giving its password, or in
    /// its waiting room (tracked: for the views).
    pub fn at_the_door(&self) -> bool {
        !self.named.get() || self.needs_password.get() || self.waiting.get()
    }

    /// Whether `conn_id` is a host of my room (tracked: for the views).
    pub fn is_host(&self, conn_id: Option<ConnId>) -> bool {
        self.members.with(|ms| ms.iter().any(|m| Some(m.conn_id) == conn_id && m.host))
    }

    /// Queue a chat message with a fresh id: it shows at once as pending, and is (re)sent
    /// until acked.
    pub fn send_chat(&self, text: String) {
        self.intend(Intent::SendChat { text, client_msg_id: fresh_id() });
    }
}

#[cfg(feature = "hydrate")]
fn run(effects: Vec<Effect>) -> Vec<Input> {
    crate::client::run(effects)
}

/// The server's render has no shell: nothing to send or store.
#[cfg(not(feature = "hydrate"))]
fn run(_: Vec<Effect>) -> Vec<Input> {
    Vec::new()
}

#[cfg(feature = "hydrate")]
fn fresh_id() -> String {
    crate::client::new_client_msg_id()
}

#[cfg(not(feature = "hydrate"))]
fn fresh_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("local-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
