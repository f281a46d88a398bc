//! Benchmark: what the SFU costs per forwarded packet. Against a running Noom server started
//! with `--p2p-max 0` (see `scripts/bench-sfu.sh`, which pins it to one core):
//!
//! In each of `--rooms` rooms, one publisher bot (str0m, `noom::server::sfu::bot`) sends its
//! camera at `--fps` frames/s (30) in three simulcast layers, each frame one RTP packet of `--bytes`;
//! `--subs` subscriber bots show that camera as a small, medium or large tile (in turn), so
//! the SFU sends them the quarter, half or full layer. After a warm-up it counts, for
//! `--secs` seconds: RTP packets the subscribers received from the SFU, the packets they
//! should have received (frames of their layer sent meanwhile), the loss, and the server's
//! CPU time (from /proc) — hence packets forwarded per CPU-second.
//!
//! `cargo run --release --features ssr --example sfu_load -- --url ws://127.0.0.1:3100/ws --pid PID --rooms 1 --subs 50`

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use noom::protocol::{RemoteTrack, TrackKind};
use noom::server::sfu::bot::Bot;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// SFU forwarding cost against a running Noom server started with `--p2p-max 0`.
#[derive(clap::Parser)]
struct Args {
    #[arg(long, default_value = "ws://127.0.0.1:3100/ws")]
    url: String,
    /// The server's process id, to read its CPU time from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// Rooms, each with one publisher.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Subscribers per room.
    #[arg(long, default_value_t = 50)]
    subs: usize,
    /// Seconds measured (after a 5 s warm-up).
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Bytes per synthetic frame (one RTP packet).
    #[arg(long, default_value_t = 1000)]
    bytes: usize,
    /// Frames per second and layer.
    #[arg(long, default_value_t = 30)]
    fps: u64,
}

/// Server CPU time (user + system), in seconds.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

struct Participant {
    ws: Ws,
    conn_id: u64,
    bot: Bot,
    inbox: Vec<Value>,
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

impl Participant {
    async fn join(url: &str, room: &str, receiver: bool) -> Participant {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
        let welcome = recv(&mut ws).await;
        let conn_id = welcome["conn_id"].as_u64().unwrap();
        let mut p = Participant { ws, conn_id, bot: Bot::new(receiver).unwrap(), inbox: Vec::new() };
        p.send(json!({"type": "join", "room": room})).await;
        p.send(json!({"type": "call_join", "media": {"audio": false, "video": !receiver}})).await;
        let joined = p.wait("call_joined").await;
        assert_eq!(joined["mode"], "sfu", "start the server with --p2p-max 0");
        p
    }

    async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    async fn wait(&mut self, ty: &str) -> Value {
        if let Some(i) = self.inbox.iter().position(|v| v["type"] == ty) {
            return self.inbox.remove(i);
        }
        loop {
            let v = recv(&mut self.ws).await;
            if v["type"] == ty {
                return v;
            }
            self.inbox.push(v);
        }
    }

    async fn negotiate(&mut self, publish: &[TrackKind], subscribe: &[RemoteTrack]) {
        let (sdp, tracks) = self.bot.offer(publish, true, subscribe);
        let payload = json!({"kind": "description", "sdp_type": "offer", "sdp": sdp, "tracks": tracks});
        self.send(json!({"type": "signal", "to": 0, "payload": payload})).await;
        let answer = self.wait("signal").await;
        self.bot.accept_answer(answer["payload"]["sdp"].as_str().unwrap()).unwrap();
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = <Args as clap::Parser>::parse();
    let tile_heights = [80u32, 170, 400]; // → layers q, h, f
    let mut publishers = Vec::new();
    let mut subscribers: Vec<(Participant, u64, u8)> = Vec::new();
    for r in 0..a.rooms {
        let room = format!("load-{r}-{}", std::process::id());
        let mut publisher = Participant::join(&a.url, &room, false).await;
        publisher.bot.frame_bytes = a.bytes;
        publisher.negotiate(&[TrackKind::Video], &[]).await;
        let video = RemoteTrack { from: publisher.conn_id, kind: TrackKind::Video };
        for s in 0..a.subs {
            let mut sub = Participant::join(&a.url, &room, true).await;
            sub.negotiate(&[], &[video]).await;
            let h = tile_heights[s % 3];
            let tiles = json!([{"from": video.from, "kind": "video", "width": h * 16 / 9, "height": h}]);
            sub.send(json!({"type": "call_layout", "tiles": tiles})).await;
            subscribers.push((sub, video.from, (s % 3) as u8));
        }
        publishers.push(publisher);
    }
    println!("{} rooms × (1 publisher → {} subscribers); waiting for ICE/DTLS …", a.rooms, a.subs);

    let frame_every = Duration::from_micros(1_000_000 / a.fps.max(1));
    let mut next_frame = Instant::now();
    let mut run = |bots_until: Instant, publish: bool, pubs: &mut Vec<Participant>, subs: &mut Vec<(Participant, u64, u8)>| {
        while Instant::now() < bots_until {
            if publish && Instant::now() >= next_frame {
                for p in pubs.iter_mut() {
                    p.bot.send_video_frame(90);
                }
                next_frame += frame_every;
            }
            for p in pubs.iter_mut() {
                p.bot.pump();
            }
            for (s, _, _) in subs.iter_mut() {
                s.bot.pump();
            }
            std::thread::sleep(Duration::from_micros(300));
        }
    };
    // Warm-up: connect and let every subscriber reach its layer.
    run(Instant::now() + Duration::from_secs(5), true, &mut publishers, &mut subscribers);
    let connected = subscribers.iter().filter(|(s, _, _)| s.bot.connected).count();
    let received = |subs: &Vec<(Participant, u64, u8)>| -> (u64, u64) {
        let mut on_layer = 0u64;
        let mut all = 0u64;
        for (s, from, layer) in subs {
            let mid = s.bot.mid_of(RemoteTrack { from: *from, kind: TrackKind::Video }).unwrap();
            let seen = s.bot.received.get(&mid).map(|v| v.as_slice()).unwrap_or(&[]);
            all += seen.len() as u64;
            on_layer += seen.iter().filter(|f| f.layer == *layer).count() as u64;
        }
        (on_layer, all)
    };
    let (before_on, before_all) = received(&subscribers);
    let frames_before: u64 = publishers.iter().map(|p| p.bot.frames_sent() as u64).sum();
    let cpu0 = a.pid.and_then(cpu_secs);
    let t0 = Instant::now();
    run(Instant::now() + Duration::from_secs(a.secs), true, &mut publishers, &mut subscribers);
    let frames: u64 = publishers.iter().map(|p| p.bot.frames_sent() as u64).sum::<u64>() - frames_before;
    // Let the last frames arrive before counting (nothing more is published).
    run(Instant::now() + Duration::from_millis(300), false, &mut publishers, &mut subscribers);
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = a.pid.and_then(cpu_secs);
    let (after_on, after_all) = received(&subscribers);
    let got = after_all - before_all;
    let got_on_layer = after_on - before_on;
    let expected = frames * a.subs as u64;
    let loss = 1.0 - got_on_layer as f64 / expected.max(1) as f64;
    println!("subscribers connected: {connected}/{}", subscribers.len());
    println!("frames published per layer: {frames} in {elapsed:.1} s ({:.0}/s per room)", frames as f64 / elapsed / a.rooms as f64);
    println!("packets forwarded: {got} ({:.0}/s); on the chosen layer: {got_on_layer} of {expected} expected (loss {:.2} %)", got as f64 / elapsed, loss * 100.0);
    if let (Some(c0), Some(c1)) = (cpu0, cpu1) {
        let cpu = c1 - c0;
        println!(
            "server CPU: {cpu:.2} s in {elapsed:.1} s ({:.0} % of a core) → {:.0} packets forwarded per CPU-second",
            cpu / elapsed * 100.0,
            got as f64 / cpu.max(0.001)
        );
    }
}
