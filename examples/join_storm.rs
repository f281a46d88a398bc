//! Benchmark: what a crowd feels. Against a running Noom server (see `scripts/bench.sh`):
//!
//! 1. **Join storm**: `--clients` WebSocket clients connect and join one of `--rooms` rooms
//!    all at once, while `--watchers` clients sit on the home page (`watch_rooms`). Reports
//!    the time until every client got its `joined`, failures, and how many room lists the
//!    watchers received (coalescing keeps that small).
//! 2. **Chat latency**: in a two-person room, one sends `--messages` chat messages one at a
//!    time; reports the time from send to the other's `message` (p50, p99, max).
//! 3. **Memory per connection**: the server's resident memory (from /proc, `--pid`) before
//!    and after the storm, divided by the number of connections.
//!
//! `cargo run --release --features ssr --example join_storm -- --url ws://127.0.0.1:3100/ws --pid PID`

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Join storm, chat latency and memory per connection against a running Noom server.
#[derive(clap::Parser)]
struct Args {
    #[arg(long, default_value = "ws://127.0.0.1:3100/ws")]
    url: String,
    /// The server's process id, to read its memory from /proc.
    #[arg(long)]
    pid: Option<u32>,
    #[arg(long, default_value_t = 3000)]
    clients: usize,
    #[arg(long, default_value_t = 30)]
    rooms: usize,
    #[arg(long, default_value_t = 20)]
    watchers: usize,
    #[arg(long, default_value_t = 1000)]
    messages: usize,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[path = "shared/connect.rs"]
mod connect;
use connect::Ws;

async fn next_of(ws: &mut Ws, ty: &str) -> Option<Value> {
    while let Some(Ok(frame)) = ws.next().await {
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(t.as_str()).ok()?;
            if v["type"] == ty {
                return Some(v);
            }
        }
    }
    None
}

#[tokio::main]
async fn main() {
    let a = <Args as clap::Parser>::parse();
    let rss_before = a.pid.and_then(rss_kib);

    // Watchers on the home page count the room lists they receive during the storm.
    let mut watcher_tasks = Vec::new();
    for _ in 0..a.watchers {
        let mut ws = connect::connect(&a.url, None).await.expect("watcher connects");
        ws.send(Message::text(json!({"type": "watch_rooms"}).to_string())).await.unwrap();
        next_of(&mut ws, "rooms").await.expect("initial list");
        watcher_tasks.push(tokio::spawn(async move {
            let mut lists = 0u32;
            while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
                if matches!(&frame, Message::Text(t) if t.as_str().contains("\"type\":\"rooms\"")) {
                    lists += 1;
                }
            }
            lists
        }));
    }

    let start = Instant::now();
    let mut joins = Vec::new();
    for i in 0..a.clients {
        let url = a.url.clone();
        let room = format!("room-{}", i % a.rooms);
        joins.push(tokio::spawn(async move {
            let mut ws = connect::connect(&url, None).await.ok()?;
            ws.send(Message::text(json!({"type": "join", "room": room}).to_string())).await.ok()?;
            tokio::time::timeout(Duration::from_secs(60), next_of(&mut ws, "joined")).await.ok()??;
            Some(ws)
        }));
    }
    let mut connected = Vec::new();
    let mut failed = 0;
    for j in joins {
        match j.await.unwrap() {
            Some(ws) => connected.push(ws),
            None => failed += 1,
        }
    }
    let storm = start.elapsed();
    let rss_after = a.pid.and_then(rss_kib);
    let mut lists = Vec::new();
    for w in watcher_tasks {
        lists.push(w.await.unwrap());
    }
    println!("join storm: {} clients into {} rooms in {:.2?}, {} failed", a.clients, a.rooms, storm, failed);
    println!(
        "room lists per watcher during the storm: min {} max {} ({} watchers)",
        lists.iter().min().unwrap_or(&0),
        lists.iter().max().unwrap_or(&0),
        a.watchers
    );
    if let (Some(b), Some(after)) = (rss_before, rss_after) {
        let per = (after.saturating_sub(b)) as f64 / (connected.len() + a.watchers).max(1) as f64;
        println!("server RSS: {b} KiB before, {after} KiB with {} sockets: {per:.1} KiB per connection", connected.len() + a.watchers);
    }
    drop(connected);

    // Chat latency between two people in a quiet room.
    let mut tx = connect::connect(&a.url, None).await.unwrap();
    let mut rx = connect::connect(&a.url, None).await.unwrap();
    for ws in [&mut tx, &mut rx] {
        ws.send(Message::text(json!({"type": "join", "room": "latency"}).to_string())).await.unwrap();
        next_of(ws, "joined").await.unwrap();
    }
    let mut samples = Vec::with_capacity(a.messages);
    for i in 0..a.messages {
        let sent = Instant::now();
        tx.send(Message::text(json!({"type": "chat", "text": format!("m{i}")}).to_string())).await.unwrap();
        next_of(&mut rx, "message").await.unwrap();
        samples.push(sent.elapsed());
        // Stay under the 20/s sustained limit in bursts of 30.
        if i % 30 == 29 {
            tokio::time::sleep(Duration::from_millis(1600)).await;
        }
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "chat latency over {} messages: p50 {:.0?}, p99 {:.0?}, max {:.0?}",
        samples.len(),
        pct(0.5),
        pct(0.99),
        samples.last().unwrap()
    );
}
