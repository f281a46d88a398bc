//! The shell (feature `hydrate`): runs the model's effects in order and feeds what happens
//! back as inputs. It owns the browser's side of things — the WebSocket (`socket`),
//! localStorage and fresh ids (`storage`), the retry timer — and hands the call engine
//! (`media`, reached only through `call_queue`: it is lazily loaded) its commands.
//!
//! Why a shell: the model (`crate::model`) decides, and can be tested natively, because
//! nothing in it waits or touches the browser. The shell decides nothing: it never names
//! the app; the app gives it a way to dispatch inputs ([`start`]) and hands it effects
//! ([`run`]). The call engine is the exception still: it reads the session's signals and
//! dispatches through it (the engine port is the next step, see docs/ARCHITECTURE.md).

pub mod call_queue;
pub mod media;
mod socket;
mod storage;

use std::cell::RefCell;
use std::rc::Rc;

use crate::limits::validate_nickname;
use crate::model::{Effect, EngineCommand, Input};
use call_queue::CallEvent;
pub use storage::{media_access, new_client_msg_id};

/// How the shell reports what happens (the app's `Session::dispatch`).
pub type Dispatch = Rc<dyn Fn(Input)>;

thread_local! {
    static DISPATCH: RefCell<Option<Dispatch>> = const { RefCell::new(None) };
}

/// Feed `input` to the model (once started).
fn dispatch(input: Input) {
    let to = DISPATCH.with(|d| d.borrow().clone());
    if let Some(to) = to {
        to(input);
    }
}

/// Called once after hydration: say what the browser knows (saved nickname, device id,
/// whether calls can work), connect the socket (it reconnects by itself from then on) and
/// start the retry timer.
pub fn start(to: Dispatch) {
    DISPATCH.with(|d| *d.borrow_mut() = Some(to));
    // Kept only once chosen: a visitor who never picked one is asked again at a room link.
    let nickname = storage::load_nickname().and_then(|n| validate_nickname(&n).ok());
    dispatch(Input::Started { nickname, device: storage::device_id(), media_access: media_access() });
    leptos::task::spawn_local(socket::run());
    // Messages the server could not take a moment ago (busy, store failing) go again.
    leptos::task::spawn_local(async move {
        loop {
            gloo_timers::future::sleep(std::time::Duration::from_secs(3)).await;
            dispatch(Input::Tick);
        }
    });
}

/// Run `effects` in order; return the inputs they produced at once (a loaded outbox).
pub fn run(effects: Vec<Effect>) -> Vec<Input> {
    let mut inputs = Vec::new();
    for effect in effects {
        match effect {
            Effect::Send(msg) => socket::send(msg),
            Effect::SaveOutbox { room, unsent } => storage::save_outbox(&room, &unsent),
            Effect::LoadOutbox(room) => {
                let unsent = storage::load_outbox(&room);
                inputs.push(Input::OutboxLoaded { room, unsent });
            }
            Effect::SaveNickname(nickname) => storage::save_nickname(&nickname),
            Effect::Engine(command) => call_queue::send(match command {
                EngineCommand::Message(msg) => CallEvent::Message(msg),
                EngineCommand::Disconnected => CallEvent::Disconnected,
                EngineCommand::ToggleSending(kind) => CallEvent::ToggleSending(kind),
            }),
        }
    }
    inputs
}
