//! Benchmark: what durable chat costs. Against a running Noom server (see
//! `scripts/bench-chat.sh`), `--rooms` × `--per-room` WebSocket clients each send chat
//! messages at `--rate-each` per second (open loop, phases spread) for `--secs` seconds,
//! and time each message from send to its `ack` — which the server sends only once the
//! message is written to its store. Reports acked messages/s and ack latency (p50, p99,
//! max), and the refusals (`store_unavailable`, `rate_limited`).
//!
//! `cargo run --release --features ssr --example chat_load -- --rooms 30 --per-room 10 --rate-each 3.4`

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Parser)]
struct Args {
    #[arg(long, default_value = "ws://127.0.0.1:3100/ws")]
    url: String,
    #[arg(long, default_value_t = 30)]
    rooms: usize,
    /// Senders in each room (every one also receives the room's messages).
    #[arg(long, default_value_t = 10)]
    per_room: usize,
    /// Messages per second from each sender (the server allows 20 sustained).
    #[arg(long, default_value_t = 3.4)]
    rate_each: f64,
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// A prefix for room names, so runs against one server do not mix.
    #[arg(long, default_value = "load")]
    tag: String,
}

struct Report {
    latencies_us: Vec<u64>,
    refused: usize,
    /// `lagged` frames: the server skipped frames for this client and caught it up.
    lagged: usize,
    /// The server closed this connection before the end of the run.
    closed: bool,
    /// The room's seqs this client has: others' messages (live or in a catch-up `joined`)
    /// and its own acked ones.
    seqs: std::collections::HashSet<u64>,
    room: usize,
}

/// Every `"seq":N` in a frame.
fn seqs_in(frame: &str) -> impl Iterator<Item = u64> + '_ {
    frame.match_indices("\"seq\":").filter_map(|(i, k)| {
        let digits: String = frame[i + k.len()..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

async fn sender(url: String, room_index: usize, room: String, rate: f64, start: Instant, end: Instant) -> Report {
    let (ws, _) = tokio_tungstenite::connect_async(&url).await.expect("connect");
    let (mut tx, mut rx) = ws.split();
    tx.send(Message::text(json!({"type": "join", "room": room}).to_string())).await.unwrap();
    while let Some(Ok(frame)) = rx.next().await {
        if let Message::Text(t) = frame {
            if t.as_str().contains("\"type\":\"joined\"") {
                break;
            }
        }
    }
    let (stamps_tx, mut stamps) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let period = Duration::from_secs_f64(1.0 / rate);
    // Unique per run, so a second run against the same database is not taken for resends.
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let writer = tokio::spawn(async move {
        tokio::time::sleep_until(start.into()).await;
        let mut next = Instant::now();
        let mut n: u64 = 0;
        while next < end {
            n += 1;
            let text = format!("load message {n} with a little text to make it realistic");
            let frame = json!({"type": "chat", "req_id": n, "text": text, "client_msg_id": format!("{run}-{room}-{n}")});
            let _ = stamps_tx.send(Instant::now());
            if tx.send(Message::text(frame.to_string())).await.is_err() {
                break;
            }
            next += period;
            tokio::time::sleep_until(next.into()).await;
        }
        tx
    });
    let mut pending: VecDeque<Instant> = VecDeque::new();
    let mut report =
        Report { latencies_us: Vec::new(), refused: 0, lagged: 0, closed: false, seqs: Default::default(), room: room_index };
    let deadline = end + Duration::from_secs(5);
    loop {
        let frame = tokio::select! {
            f = rx.next() => f,
            _ = tokio::time::sleep_until(deadline.into()) => break,
        };
        let Some(Ok(Message::Text(t))) = frame else {
            if matches!(frame, None | Some(Ok(Message::Close(_))) | Some(Err(_))) {
                report.closed = Instant::now() < end;
                break;
            }
            continue;
        };
        let s = t.as_str();
        if s.starts_with("{\"type\":\"lagged\"") {
            report.lagged += 1;
        } else if s.starts_with("{\"type\":\"message\"") || s.starts_with("{\"type\":\"joined\"") || s.starts_with("{\"type\":\"ack\"") {
            report.seqs.extend(seqs_in(s));
        }
        let is_ack = s.starts_with("{\"type\":\"ack\"");
        let is_error = s.starts_with("{\"type\":\"error\"");
        if !(is_ack || is_error) {
            continue;
        }
        while let Ok(stamp) = stamps.try_recv() {
            pending.push_back(stamp);
        }
        // Acks (and refusals) come in the order of sending on one connection.
        let Some(sent) = pending.pop_front() else { continue };
        if is_ack {
            report.latencies_us.push(sent.elapsed().as_micros() as u64);
        } else {
            let v: Value = serde_json::from_str(s).unwrap_or_default();
            if v["req_id"].is_null() {
                pending.push_front(sent);
            }
            report.refused += 1;
        }
        if Instant::now() > end && pending.is_empty() && stamps.is_empty() && writer.is_finished() {
            break;
        }
    }
    report
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let a = <Args as clap::Parser>::parse();
    let senders = a.rooms * a.per_room;
    let start = Instant::now() + Duration::from_secs(2);
    let end = start + Duration::from_secs(a.secs);
    let mut tasks = Vec::new();
    for i in 0..senders {
        let room = format!("{}-{}", a.tag, i % a.rooms);
        // Phases spread: each sender starts at its own offset within one period.
        let offset = Duration::from_secs_f64(i as f64 / senders as f64 / a.rate_each);
        tasks.push(tokio::spawn(sender(a.url.clone(), i % a.rooms, room, a.rate_each, start + offset, end + offset)));
    }
    let mut all = Vec::new();
    let (mut refused, mut lagged, mut closed, mut have) = (0, 0, 0, 0);
    let mut acked_in_room = vec![0usize; a.rooms];
    for t in tasks {
        let r = t.await.unwrap();
        acked_in_room[r.room] += r.latencies_us.len();
        all.extend(r.latencies_us);
        refused += r.refused;
        lagged += r.lagged;
        closed += usize::from(r.closed);
        have += r.seqs.len();
    }
    all.sort_unstable();
    let offered = senders as f64 * a.rate_each;
    // Every member should end up with every acked message of its room (its own included).
    let expected: usize = acked_in_room.iter().map(|n| n * a.per_room).sum();
    println!(
        "rooms {} x {} senders, offered {:.0} msg/s: acked {:.0} msg/s, ack p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, refused {}; \
         delivered {:.1} % of {expected}, lagged {lagged}, connections closed early {closed}",
        a.rooms,
        a.per_room,
        offered,
        all.len() as f64 / a.secs as f64,
        pct(&all, 0.5),
        pct(&all, 0.99),
        pct(&all, 1.0),
        refused,
        100.0 * have as f64 / expected.max(1) as f64,
    );
}
