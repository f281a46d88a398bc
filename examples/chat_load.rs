//! Benchmark: chat fan-out and what durable chat costs. Against a running Noom server (see
//! `scripts/bench.sh` and `scripts/bench-chat.sh`), `--rooms` × `--per-room` WebSocket
//! clients join; `--senders` of each room (all of them by default) send chat messages at
//! `--rate-each` per second (open loop, phases spread) for `--secs` seconds; every client
//! reads its room.
//!
//! Reports, for the sending window:
//! - **acks**: acked messages/s and send → own `ack` latency (the server acks only once the
//!   message is stored), and refusals (`store_unavailable`, `rate_limited`, `overloaded`);
//! - **deliveries**: other members' `message` frames received per second, and send → a
//!   member's `message` latency (p50, p99, max);
//! - **delivered ratio**: the distinct seqs each client ended up with (live, its own acks,
//!   or a catch-up `joined`) against every acked message × room size; `lagged` catch-ups;
//!   connections the server closed before the end.
//!
//! `cargo run --release --features ssr --example chat_load -- --rooms 10 --per-room 100 --rate-each 1`
//! (`--url wss://…` with `NOOM_BENCH_CA` set: the same over TLS, see `scripts/bench-tls.sh`)

use std::collections::VecDeque;
use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use memchr::memmem::Finder;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[path = "shared/connect.rs"]
mod connect;

#[derive(clap::Parser)]
struct Args {
    #[arg(long, default_value = "ws://127.0.0.1:3100/ws")]
    url: String,
    #[arg(long, default_value_t = 30)]
    rooms: usize,
    /// Members of each room (every one receives the room's messages).
    #[arg(long, default_value_t = 10)]
    per_room: usize,
    /// How many members of each room send; all of them if not given.
    #[arg(long)]
    senders: Option<usize>,
    /// Messages per second from each sender (the server allows 20 sustained).
    #[arg(long, default_value_t = 3.4)]
    rate_each: f64,
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// A prefix for room names, so runs against one server do not mix.
    #[arg(long, default_value = "load")]
    tag: String,
}

/// The clock every client stamps its messages with (one process, so one clock).
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn micros() -> u64 {
    base().elapsed().as_micros() as u64
}

/// Latencies in µs. Sorted once at the end: on the hot path a push is all it costs (this
/// tool must read a million frames a second on one core and not be the bottleneck).
type Samples = Vec<u32>;

/// Which of a room's seqs a client has, one bit each (seqs are dense from 1).
#[derive(Default)]
struct SeqSet(Vec<u64>);

impl SeqSet {
    fn insert(&mut self, seq: u64) {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << bit;
    }

    fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    fn max(&self) -> u64 {
        let Some(word) = self.0.iter().rposition(|w| *w != 0) else { return 0 };
        word as u64 * 64 + 63 - u64::from(self.0[word].leading_zeros())
    }
}

struct Report {
    acks: Samples,
    deliveries: Samples,
    refused: usize,
    /// `lagged` frames: the server skipped frames for this client and caught it up.
    lagged: usize,
    /// The server closed this connection before the end of the run.
    closed: bool,
    /// When the last `message` frame arrived (µs on the shared clock).
    last_delivery: u64,
    /// The room's seqs this client has: others' messages (live or in a catch-up `joined`)
    /// and its own acked ones.
    seqs: SeqSet,
    room: usize,
}

static SEQ: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("\"seq\":"));
static STAMP: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("\"text\":\"t="));

/// Every `"seq":N` in a frame.
fn seqs_in(frame: &str) -> impl Iterator<Item = u64> + '_ {
    SEQ.find_iter(frame.as_bytes()).filter_map(|i| number_after(&frame[i + 6..]))
}

fn number_after(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

struct Client {
    url: String,
    room_index: usize,
    room: String,
    /// Messages per second, or None for a member that only reads.
    rate: Option<f64>,
    start: Instant,
    end: Instant,
}

async fn client(c: Client) -> Report {
    // tungstenite zeroes its whole read buffer before each read: the default 128 KiB cost
    // this tool more than reading the frames did.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(8 * 1024);
    let ws = connect::connect(&c.url, Some(config)).await.expect("connect");
    let (mut tx, mut rx) = ws.split();
    tx.send(Message::text(json!({"type": "join", "room": c.room}).to_string())).await.unwrap();
    while let Some(Ok(frame)) = rx.next().await {
        if let Message::Text(t) = frame {
            if t.as_str().contains("\"type\":\"joined\"") {
                break;
            }
        }
    }
    let (stamps_tx, mut stamps) = tokio::sync::mpsc::unbounded_channel::<u64>();
    // Unique per run, so a second run against the same database is not taken for resends.
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let (room, start, end) = (c.room.clone(), c.start, c.end);
    let writer = tokio::spawn(async move {
        let Some(rate) = c.rate else { return tx };
        let period = Duration::from_secs_f64(1.0 / rate);
        tokio::time::sleep_until(start.into()).await;
        let mut next = Instant::now();
        let mut n: u64 = 0;
        while next < end {
            n += 1;
            let sent = micros();
            // The send time rides in the text, so members can time their delivery.
            let text = format!("t={sent} load message {n} with a little text to make it realistic");
            let frame = json!({"type": "chat", "req_id": n, "text": text, "client_msg_id": format!("{run}-{room}-{n}")});
            let _ = stamps_tx.send(sent);
            if tx.send(Message::text(frame.to_string())).await.is_err() {
                break;
            }
            next += period;
            tokio::time::sleep_until(next.into()).await;
        }
        tx
    });
    let mut pending: VecDeque<u64> = VecDeque::new();
    let mut report = Report {
        acks: Samples::new(),
        deliveries: Samples::new(),
        refused: 0,
        lagged: 0,
        closed: false,
        last_delivery: 0,
        seqs: SeqSet::default(),
        room: c.room_index,
    };
    // During the sending window one timer; after it, listen until the room has been quiet
    // for a second (stragglers and catch-ups), or at most 10 s more.
    let window = tokio::time::sleep_until(end.into());
    tokio::pin!(window);
    let mut in_window = true;
    let deadline = end + Duration::from_secs(10);
    loop {
        let frame = if in_window {
            tokio::select! {
                f = rx.next() => f,
                _ = &mut window => {
                    in_window = false;
                    continue;
                }
            }
        } else {
            match tokio::time::timeout(Duration::from_secs(1), rx.next()).await {
                Ok(f) if Instant::now() < deadline => f,
                _ => break,
            }
        };
        let Some(Ok(Message::Text(t))) = frame else {
            if matches!(frame, None | Some(Ok(Message::Close(_))) | Some(Err(_))) {
                report.closed = Instant::now() < end;
                break;
            }
            continue;
        };
        let s = t.as_str();
        if s.starts_with("{\"type\":\"message\"") {
            seqs_in(s).for_each(|seq| report.seqs.insert(seq));
            if let Some(sent) = STAMP.find(s.as_bytes()).and_then(|i| number_after(&s[i + 10..])) {
                let now = micros();
                report.deliveries.push(now.saturating_sub(sent) as u32);
                report.last_delivery = now;
            }
            continue;
        }
        if s.starts_with("{\"type\":\"lagged\"") {
            report.lagged += 1;
        } else if s.starts_with("{\"type\":\"joined\"") {
            seqs_in(s).for_each(|seq| report.seqs.insert(seq));
        }
        let is_ack = s.starts_with("{\"type\":\"ack\"");
        let is_error = s.starts_with("{\"type\":\"error\"");
        if !(is_ack || is_error) {
            continue;
        }
        if is_ack {
            seqs_in(s).for_each(|seq| report.seqs.insert(seq));
        }
        while let Ok(stamp) = stamps.try_recv() {
            pending.push_back(stamp);
        }
        // Acks (and refusals) come in the order of sending on one connection.
        let Some(sent) = pending.pop_front() else { continue };
        if is_ack {
            report.acks.push(micros().saturating_sub(sent) as u32);
        } else {
            let v: Value = serde_json::from_str(s).unwrap_or_default();
            if v["req_id"].is_null() {
                pending.push_front(sent);
            }
            report.refused += 1;
        }
    }
    drop(writer);
    report
}

/// The `q` quantile of sorted µs samples, in ms.
fn ms(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0
}

fn main() {
    let a = <Args as clap::Parser>::parse();
    // One thread: the benchmark is pinned to one core (`taskset`), where a second worker
    // would only add switches.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(run(a));
}

async fn run(a: Args) {
    let senders = a.senders.unwrap_or(a.per_room).min(a.per_room);
    let clients = a.rooms * a.per_room;
    let base = base();
    let start = Instant::now() + Duration::from_secs(2) + Duration::from_micros(clients as u64 * 300);
    let end = start + Duration::from_secs(a.secs);
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (room_index, member) = (i % a.rooms, i / a.rooms);
        let rate = (member < senders).then_some(a.rate_each);
        // Phases spread: each sender starts at its own offset within one period.
        let offset = Duration::from_secs_f64(i as f64 / clients as f64 / a.rate_each);
        tasks.push(tokio::spawn(client(Client {
            url: a.url.clone(),
            room_index,
            room: format!("{}-{room_index}", a.tag),
            rate,
            start: start + offset,
            end: end + offset,
        })));
    }
    let (mut acks, mut deliveries) = (Samples::new(), Samples::new());
    let (mut refused, mut lagged, mut closed, mut have) = (0, 0, 0, 0);
    // The rooms are new, so their seqs count from 1: the highest seq anyone saw is how
    // many messages the room stored (an ack skipped while its sender lagged still counts).
    let mut stored_in_room = vec![0u64; a.rooms];
    let mut last_delivery = 0;
    for t in tasks {
        let r = t.await.unwrap();
        stored_in_room[r.room] = stored_in_room[r.room].max(r.seqs.max());
        last_delivery = last_delivery.max(r.last_delivery);
        acks.extend(r.acks);
        deliveries.extend(r.deliveries);
        refused += r.refused;
        lagged += r.lagged;
        closed += usize::from(r.closed);
        have += r.seqs.len();
    }
    acks.sort_unstable();
    deliveries.sort_unstable();
    let offered = (a.rooms * senders) as f64 * a.rate_each;
    // Every member should end up with every message of its room (its own included).
    let expected: u64 = stored_in_room.iter().map(|n| n * a.per_room as u64).sum();
    let secs = a.secs as f64;
    // Deliveries per second over the time they took: the window, plus however long the
    // server needed after it to deliver what it had taken.
    let delivering_secs = (last_delivery as f64 / 1e6 - (start - base).as_secs_f64()).max(secs);
    println!(
        "{clients} clients in {} rooms of {}, {senders} senders each at {} msg/s: offered {:.0} msg/s = {:.0} deliveries/s",
        a.rooms,
        a.per_room,
        a.rate_each,
        offered,
        offered * (a.per_room - 1) as f64,
    );
    println!(
        "  deliveries {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms | acked {:.0} msg/s, ack p50 {:.2} ms, p99 {:.2} ms, refused {refused}",
        deliveries.len() as f64 / delivering_secs,
        ms(&deliveries, 0.5),
        ms(&deliveries, 0.99),
        ms(&deliveries, 1.0),
        acks.len() as f64 / secs,
        ms(&acks, 0.5),
        ms(&acks, 0.99),
    );
    println!(
        "  delivered {:.1} % of {expected} (each member has each stored message), lagged {lagged}, connections closed early {closed}",
        100.0 * have as f64 / expected.max(1) as f64,
    );
}
