//! The one way into the call engine (`media`): every request (`media::CallEvent`, the
//! engine's own list of what it does), in order, through one queue.
//!
//! Why a queue: the engine's code (WebRTC, devices, speaking, the SFU link) is not in the
//! WASM every page downloads. It is reached only through [`handle`], a split function
//! (wasm-split, what Leptos's `#[lazy]` is made of), so `cargo leptos --split` moves it into
//! a chunk fetched when a room's call panel first asks for something (the camera preview).
//! Such a call is asynchronous; one task awaits each event in turn, so the engine sees them in the
//! order they were sent, exactly as when they were plain calls: a room's `joined` (its ICE
//! servers) before the SFU connection it prepares, an offer before its ICE candidates, a
//! `call_joined` before a "leave call" clicked just after.

use std::cell::{Cell, RefCell};

use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::StreamExt;

use super::media::{self, CallEvent};
use super::port::Model;
use crate::model::EngineCommand;

thread_local! {
    /// The queue, made on first use: a room's components may ask for the preview before
    /// the client has started (effects run as soon as the page is hydrated); what they ask
    /// waits here until [`start`].
    static QUEUE: Queue = Queue::new();
    /// Whether the engine was ever asked for anything (a room page was shown).
    static USED: Cell<bool> = const { Cell::new(false) };
}

struct Queue {
    tx: UnboundedSender<CallEvent>,
    rx: RefCell<Option<UnboundedReceiver<CallEvent>>>,
}

impl Queue {
    fn new() -> Self {
        let (tx, rx) = unbounded();
        Queue { tx, rx: RefCell::new(Some(rx)) }
    }
}

/// Start the task that feeds the engine (once, when the client starts).
pub fn start(model: Model) {
    let Some(mut rx) = QUEUE.with(|q| q.rx.borrow_mut().take()) else { return };
    leptos::task::spawn_local(async move {
        while let Some(event) = rx.next().await {
            // The engine's chunk is fetched on first use. If that fails (a network blip),
            // the event waits and the fetch is tried again: the page goes on working and
            // the call starts once the chunk is in. Once loaded, this returns at once.
            while load_engine().await.is_err() {
                leptos::logging::warn!("could not load the call engine; trying again in {RELOAD_AFTER:?}");
                gloo_timers::future::sleep(RELOAD_AFTER).await;
            }
            let _ = handle(model, event).await;
        }
    });
}

/// How long to wait before fetching the engine's chunk again after a failure.
const RELOAD_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// Queue an event for the engine.
pub fn send(event: CallEvent) {
    // A dropped socket on the home page has no call to end: no reason to load the engine.
    if matches!(event, CallEvent::Command(EngineCommand::Disconnected | EngineCommand::Leave)) && !USED.get() {
        return;
    }
    USED.set(true);
    QUEUE.with(|q| {
        let _ = q.tx.unbounded_send(event);
    });
}

/// The engine's entry point, in its own chunk (`split_call_engine.wasm`). Leptos's `#[lazy]`
/// would panic, and stop the app, if the chunk failed to load; wasm-split's `fallible`
/// form reports it instead (`load_engine`, retried above).
#[leptos::wasm_split::wasm_split(call_engine, wasm_split_path = ::leptos::wasm_split, fallible, preload(load_engine))]
fn handle(model: Model, event: CallEvent) -> Result<(), leptos::wasm_split::SplitLoaderError> {
    media::handle(model, event);
    Ok(())
}
