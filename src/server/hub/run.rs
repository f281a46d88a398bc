//! The hub's loop: the only async code of the hub. It turns what arrives (connections'
//! commands, the store's replies, finished password work, deadlines) into the core's
//! inputs, applies the effects the core returns, in order, and counts the metrics.
//!
//! Why the loop and not the core talks to the world: the core stays a function of its
//! inputs (see `core/mod.rs`), and everything that can be full, slow or gone (an outbox,
//! the store's queue, the SFU's inbox, the password pool) is met here, in one place, and
//! fed back as an input when the core must decide about it (a store that refused).
//!
//! Why effects are applied after `handle` returns: a handler that panics has sent nothing
//! (the core drops its effects and purges the connection it was for instead).
//!
//! Why metrics are counted from the effects: an ack, an error, a chat message and its
//! deliveries are each one effect, so the counts need no calls inside the rules.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::core::{Clock, Core, Done, Effect, Effects, Input, PasswordJob, SfuOrder};
use super::delivery::Delivery;
use super::{CallSettings, Command, RoomPasswords};
use crate::protocol::ServerMsg;
use crate::server::password::{self, Passwords};
use crate::server::sfu::{SfuCmd, SfuHandle};
use crate::server::store::{StoreCmd, StoreHandle, StoreReply};
use crate::server::wire::now_ms;

/// How often connections that fell behind are checked for room in their outbox.
const CATCH_UP_EVERY: Duration = Duration::from_millis(100);

pub(super) struct Hub {
    pub(super) core: Core,
    pub(super) ports: Ports,
}

/// Everything the effects are applied to.
pub(super) struct Ports {
    pub(super) delivery: Delivery,
    store: StoreHandle,
    sfu: Option<SfuHandle>,
    password_work: Passwords,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: Option<mpsc::UnboundedReceiver<Done>>,
    /// When to send `Input::RoomListDue`.
    flush_at: Option<Instant>,
    /// Store commands refused while applying, fed back to the core afterwards.
    refused: Vec<StoreCmd>,
    /// Messages refused since the last "store behind" log line, and when that was.
    busy_refusals: u64,
    busy_logged: Option<Instant>,
    metrics: HubMetrics,
}

/// Handles of the metrics counted on hot paths (registered once, not per event).
struct HubMetrics {
    acks: metrics::Counter,
    messages: metrics::Counter,
    deliveries: metrics::Counter,
    command_seconds: metrics::Histogram,
}

/// The time now, as the core takes it.
pub(super) fn clock() -> Clock {
    Clock { mono: Instant::now().into_std(), unix_ms: now_ms() }
}

impl Hub {
    pub(super) fn new(calls: CallSettings, store: StoreHandle, passwords: RoomPasswords) -> Hub {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let core = Core::new(calls.limits(), store.epoch.clone(), passwords, clock());
        let metrics = HubMetrics {
            acks: metrics::counter!("noom_acks_total"),
            messages: metrics::counter!("noom_chat_messages_total"),
            deliveries: metrics::counter!("noom_chat_deliveries_total"),
            command_seconds: metrics::histogram!("noom_hub_command_seconds"),
        };
        let ports = Ports {
            delivery: Delivery::default(),
            store,
            sfu: calls.sfu,
            password_work: Passwords::default(),
            done_tx,
            done_rx: Some(done_rx),
            flush_at: None,
            refused: Vec::new(),
            busy_refusals: 0,
            busy_logged: None,
            metrics,
        };
        Hub { core, ports }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Command>, mut replies: mpsc::UnboundedReceiver<StoreReply>) {
        let mut catch_up = tokio::time::interval(CATCH_UP_EVERY);
        let mut gauges = tokio::time::interval(Duration::from_secs(1));
        let Some(mut done) = self.ports.done_rx.take() else { return };
        loop {
            let flush_at = self.ports.flush_at;
            tokio::select! {
                _ = catch_up.tick(), if self.ports.delivery.has_lagging() => self.catch_up(),
                _ = gauges.tick() => {
                    let (rooms, members, in_calls, waiting) = self.core.gauges();
                    crate::server::metrics::publish_rooms(rooms, members, in_calls, waiting);
                }
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                Some(reply) = replies.recv() => self.input(Input::Store(reply)),
                Some(work) = done.recv() => self.input(Input::Password(work)),
                _ = tokio::time::sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                    self.ports.flush_at = None;
                    self.input(Input::RoomListDue);
                }
            }
        }
        tracing::debug!("hub stopped");
    }

    /// A connection's command: timed (`noom_hub_command_seconds`), fan-out included.
    pub(super) fn command(&mut self, cmd: Command) {
        let started = std::time::Instant::now();
        let input = match cmd {
            Command::Connect { conn_id, outbox, host } => {
                self.ports.delivery.connect(conn_id, outbox);
                Input::Connect { conn_id, host }
            }
            Command::Request { conn_id, msg } => Input::Request { conn_id, msg },
            Command::Disconnect { conn_id } => Input::Disconnect { conn_id },
        };
        self.input(input);
        self.ports.metrics.command_seconds.record(started.elapsed().as_secs_f64());
    }

    /// Connections that fell behind and have room again are caught up.
    pub(super) fn catch_up(&mut self) {
        for (conn_id, last_seq) in self.ports.delivery.ready() {
            self.input(Input::CatchUp { conn_id, last_seq });
        }
    }

    /// Handle `input` and apply its effects. Store commands refused meanwhile come back
    /// as inputs of their own.
    pub(super) fn input(&mut self, input: Input) {
        self.ports.apply(self.core.handle(clock(), input));
        for cmd in std::mem::take(&mut self.ports.refused) {
            self.input(Input::StoreRefused(cmd));
        }
    }
}

impl Ports {
    /// Do what the core decided, in order.
    pub(super) fn apply(&mut self, fx: &mut Effects) {
        for effect in fx.list.drain(..) {
            if let Effect::Send { to, msg, .. } = &effect {
                self.count(msg, Effects::recipients(&fx.recipients, to).len());
            }
            let Some(effect) = self.delivery.apply(effect, &fx.recipients) else { continue };
            match effect {
                Effect::Store(cmd) => {
                    if let Err(cmd) = self.store.try_send(cmd) {
                        if matches!(cmd, StoreCmd::Append { .. }) {
                            self.refused_busy();
                        }
                        self.refused.push(cmd);
                    }
                }
                Effect::Sfu(order) => self.sfu(order),
                Effect::Password(job) => self.password(job),
                Effect::RoomListAt(at) => self.flush_at = Some(Instant::from_std(at)),
                Effect::Send { .. } | Effect::Hold { .. } | Effect::Release { .. } | Effect::Unhold { .. } | Effect::Close { .. } => {
                    unreachable!("delivery carries these out")
                }
            }
        }
        fx.clear();
    }

    /// Count what `msg`, sent to `recipients` connections, stands for.
    fn count(&self, msg: &ServerMsg, recipients: usize) {
        match msg {
            ServerMsg::Ack { .. } => self.metrics.acks.increment(1),
            ServerMsg::Error { code, .. } => crate::server::metrics::error_sent(*code),
            ServerMsg::Message { .. } => {
                self.metrics.messages.increment(1);
                self.metrics.deliveries.increment(recipients as u64);
            }
            _ => {}
        }
    }

    /// Count a message refused because the store is behind; logged at most once a second
    /// (an overload must not turn into a flood of log lines that deepens it).
    fn refused_busy(&mut self) {
        self.busy_refusals += 1;
        let now = Instant::now();
        if self.busy_logged.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            tracing::warn!(refused = self.busy_refusals, "chat store behind: messages refused (store_unavailable)");
            self.busy_refusals = 0;
            self.busy_logged = Some(now);
        }
    }

    fn sfu(&self, order: SfuOrder) {
        let Some(sfu) = &self.sfu else { return };
        let cmd = match order {
            SfuOrder::Join { conn_id, call } => {
                let Some(outbox) = self.delivery.outbox(conn_id) else { return };
                SfuCmd::Join { conn_id, call, outbox }
            }
            SfuOrder::Prepare { conn_id } => {
                let Some(outbox) = self.delivery.outbox(conn_id) else { return };
                SfuCmd::Prepare { conn_id, outbox }
            }
            SfuOrder::Leave { conn_id } => SfuCmd::Leave { conn_id },
            SfuOrder::Signal { conn_id, payload } => SfuCmd::Signal { conn_id, payload },
            SfuOrder::Layout { conn_id, tiles } => SfuCmd::Layout { conn_id, tiles },
        };
        sfu.send(cmd);
    }

    fn password(&self, job: PasswordJob) {
        let done = self.done_tx.clone();
        match job {
            PasswordJob::Check { conn_id, check, request, hash } => {
                let given = request.password.clone().unwrap_or_default();
                let against = hash.clone();
                self.password_work.run(
                    move || password::verify(&against, &given),
                    move |ok| {
                        let _ = done.send(Done::Checked { conn_id, check, request, hash, ok });
                    },
                );
            }
            PasswordJob::Hash { by, req_id, room, password } => {
                let hashing = move || {
                    password::hash(&password).map_err(|e| tracing::error!("cannot hash a room password: {e}")).ok()
                };
                self.password_work.run(hashing, move |hash| {
                    let _ = done.send(Done::Hashed { by, req_id, room, hash });
                });
            }
        }
    }
}
