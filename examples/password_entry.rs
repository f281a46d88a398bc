//! Benchmark: what a password costs the person entering a protected room. Against a
//! running Noom server: a host protects a room, then
//!
//! 1. `--sequential` people enter one after another with the right password: the time from
//!    `join` to `joined` (p50, max), next to the same for an open room;
//! 2. `--crowd` people enter at once (a meeting starting): the time until the last is in
//!    (checks run at most two at a time, server-wide).
//!
//! `cargo run --release --features ssr --example password_entry -- --url ws://127.0.0.1:3100/ws`

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(clap::Parser)]
struct Args {
    #[arg(long, default_value = "ws://127.0.0.1:3100/ws")]
    url: String,
    #[arg(long, default_value_t = 50)]
    sequential: usize,
    #[arg(long, default_value_t = 50)]
    crowd: usize,
}

async fn connect(url: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
    recv_type(&mut ws, "welcome").await;
    ws
}

async fn recv_type(ws: &mut Ws, ty: &str) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), ws.next()).await.expect("timed out").unwrap().unwrap();
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == ty {
                return v;
            }
            assert_ne!(v["type"], "error", "{v}");
        }
    }
}

/// Connect, then time `join` → `joined`.
async fn enter(url: &str, room: &str, password: Option<&str>) -> (Ws, Duration) {
    let mut ws = connect(url).await;
    let mut join = json!({"type": "join", "room": room});
    if let Some(p) = password {
        join["password"] = json!(p);
    }
    let t = Instant::now();
    ws.send(Message::text(join.to_string())).await.unwrap();
    recv_type(&mut ws, "joined").await;
    (ws, t.elapsed())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let p50 = times[times.len() / 2];
    println!("{what}: p50 {:.1} ms, max {:.1} ms ({} entries)", ms(p50), ms(*times.last().unwrap()), times.len());
}

#[tokio::main]
async fn main() {
    let args: Args = clap::Parser::parse();
    let tag = std::process::id();
    let (open_room, locked_room) = (format!("open-{tag}"), format!("protected-{tag}"));
    let password = "correct horse battery staple";
    let (_open_host, _) = enter(&args.url, &open_room, None).await;
    let (mut host, _) = enter(&args.url, &locked_room, None).await;
    host.send(Message::text(json!({"type": "set_password", "req_id": 1, "password": password}).to_string())).await.unwrap();
    recv_type(&mut host, "ack").await;

    let mut keep = Vec::new();
    let mut open_times = Vec::new();
    let mut protected_times = Vec::new();
    for _ in 0..args.sequential {
        let (ws, t) = enter(&args.url, &open_room, None).await;
        keep.push(ws);
        open_times.push(t);
        let (ws, t) = enter(&args.url, &locked_room, Some(password)).await;
        keep.push(ws);
        protected_times.push(t);
    }
    report("open room, join → joined", open_times);
    report("protected room, join → joined", protected_times);

    let crowd_room = format!("crowd-{tag}");
    let (mut host, _) = enter(&args.url, &crowd_room, None).await;
    host.send(Message::text(json!({"type": "set_password", "req_id": 1, "password": password}).to_string())).await.unwrap();
    recv_type(&mut host, "ack").await;
    let url = args.url.clone();
    let t = Instant::now();
    let entries: Vec<_> = (0..args.crowd)
        .map(|_| {
            let (url, room) = (url.clone(), crowd_room.clone());
            tokio::spawn(async move { enter(&url, &room, Some(password)).await })
        })
        .collect();
    let mut times = Vec::new();
    for e in entries {
        let (ws, d) = e.await.unwrap();
        keep.push(ws);
        times.push(d);
    }
    println!("crowd of {} entering a protected room at once: all in after {:.0} ms", args.crowd, ms(t.elapsed()));
    report("crowd, join → joined", times);
}
