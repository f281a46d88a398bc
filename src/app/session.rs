//! The app's hold on the client model: the one [`ClientState`], the one place that runs
//! [`model::apply`], and a [`Field`] per piece of it the views read.
//!
//! Why fields and not a store or a signal per field: views re-render from the fields they
//! read; after each input, [`Session::dispatch`] compares each field with its value
//! before and notifies only those that changed, so a chat line does not re-render the
//! call grid. A field holds no copy: it reads the one state, and is told of a change by
//! an untyped trigger. A `reactive_stores` store, or a typed signal per field, does the
//! same for more code in every page's WASM (measured: a signal per field cost 4.9 KB
//! brotli of the first load). Views read fields and dispatch intents; nothing else
//! writes the state.
//!
//! Compiled for both targets: on the server it renders the initial (empty) state, so the
//! server-rendered HTML and the first client render agree and hydration succeeds. In the
//! browser, effects go to the shell (`crate::client`), which feeds what happens back in.

use leptos::prelude::*;

use crate::model::{self, ClientState, Effect, Input, Intent};
pub use crate::model::{
    Banner, CallError, ChatLine, ConnStatus, Device, DeviceNote, LogEntry, MediaAccess, Place, Refusal, Request,
};
use crate::protocol::{CallMode, CallParticipant, ConnId, MediaState, Member, RemoteTrack, RoomInfo, TrackKind};

/// One field of the state as the views read it: like a read-only signal (`get` and
/// `with` track it, so a view re-renders when that field changes).
pub struct Field<T: 'static> {
    state: StoredValue<ClientState>,
    changed: Trigger,
    read: fn(&ClientState) -> &T,
}

impl<T> Clone for Field<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Field<T> {}

impl<T: 'static> Field<T> {
    pub fn with<U>(&self, f: impl FnOnce(&T) -> U) -> U {
        self.changed.track();
        self.with_untracked(f)
    }

    pub fn with_untracked<U>(&self, f: impl FnOnce(&T) -> U) -> U {
        self.state.with_value(|s| f((self.read)(s)))
    }

    pub fn track(&self) {
        self.changed.track();
    }
}

impl<T: Clone + 'static> Field<T> {
    pub fn get(&self) -> T {
        self.with(T::clone)
    }

    pub fn get_untracked(&self) -> T {
        self.with_untracked(T::clone)
    }
}

/// The session's fields, each one of the state's (see the module doc), and how they are
/// made and told of a change.
macro_rules! fields {
    ($($field:ident: $ty:ty = $($path:ident).+),* $(,)?) => {
        #[derive(Clone, Copy)]
        pub struct Session {
            state: StoredValue<ClientState>,
            $(pub $field: Field<$ty>,)*
        }

        impl Session {
            pub fn new() -> Session {
                let state = StoredValue::new(ClientState::default());
                Session { state, $($field: Field { state, changed: Trigger::new(), read: |s| &s.$($path).+ },)* }
            }

            /// Tell the views of each field that differs from `before`.
            fn publish(&self, before: &ClientState, s: &ClientState) {
                $(if before.$($path).+ != s.$($path).+ {
                    self.$field.changed.notify();
                })*
            }
        }
    };
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

fields! {
    status: ConnStatus = conn.status,
    me: Option<ConnId> = conn.me,
    nickname: String = conn.nickname,
    named: bool = conn.named,
    place: Place = place,
    joined: Option<String> = joined,
    rooms: Vec<RoomInfo> = rooms,
    error: Option<Banner> = error,
    members: Vec<Member> = room.members,
    locked: bool = room.locked,
    lobby: bool = room.lobby,
    waiting: bool = room.waiting,
    lobby_queue: Vec<Member> = room.lobby_queue,
    protected: bool = room.protected,
    needs_password: bool = room.needs_password,
    password_note: Option<Refusal> = room.password_note,
    checking_password: bool = room.checking_password,
    hands: Vec<ConnId> = room.hands,
    reactions: Vec<(u64, ConnId, String)> = room.reactions,
    log: std::sync::Arc<Vec<LogEntry>> = chat.log,
    earlier: bool = chat.earlier,
    loading_earlier: bool = chat.loading_earlier,
    call: Vec<CallParticipant> = call.participants,
    in_call: bool = call.in_call,
    call_mode: CallMode = call.mode,
    media: MediaState = call.media,
    call_error: Option<CallError> = call.error,
    pinned: Option<(ConnId, TrackKind)> = call.pinned,
    paused: Vec<RemoteTrack> = call.paused,
    speaking: Vec<ConnId> = devices.speaking,
    media_epoch: u64 = devices.streams,
    cameras: Vec<Device> = devices.cameras,
    microphones: Vec<Device> = devices.microphones,
    camera_id: Option<String> = devices.camera_id,
    microphone_id: Option<String> = devices.microphone_id,
    device_note: Option<DeviceNote> = devices.note,
    media_access: MediaAccess = devices.media_access,
}

impl Session {
    /// The one place an input is applied: the state changes, the changed signals are
    /// written, then the shell runs the effects in order (what they produce at once, such
    /// as a loaded outbox, is applied next).
    pub fn dispatch(&self, input: Input) {
        let mut queue = vec![input];
        while !queue.is_empty() {
            let input = queue.remove(0);
            // The state before, to see which fields changed (a clone that shares the log's
            // lines: see `model::tests::the_log_is_shared_by_the_clone_taken_before_each_input`).
            let Some(before) = self.state.try_with_value(ClientState::clone) else { return };
            let Some(effects) = self.state.try_update_value(|s| model::apply(s, input)) else { return };
            self.state.with_value(|s| self.publish(&before, s));
            queue.extend(run(effects));
        }
    }

    /// Read the state (the shell's `Port`: the call engine reads facts through it).
    pub fn read(&self, f: &mut dyn FnMut(&ClientState)) {
        self.state.with_value(|s| f(s));
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
