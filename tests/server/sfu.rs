//! The SFU with real WebRTC peers on both ends: str0m bots ([`noom::server::sfu::bot`])
//! publish synthetic VP8 in three simulcast layers over loopback UDP, others receive RTP,
//! and the tests read back which layer, which frames and which sequence numbers arrived.

use noom::protocol::{RemoteTrack, TrackKind};
use noom::server::sfu::bot::{Bot, Seen};

use crate::common::*;

/// Every call through the SFU (`--p2p-max 0`).
async fn start_sfu() -> SocketAddr {
    start_with(Config { p2p_max: 0, ..config() }).await
}

struct Person {
    ws: Client,
    bot: Bot,
    /// Frames that arrived while waiting for another (kept, not lost).
    inbox: Vec<Value>,
}

impl Person {
    /// Enter `room` and its call; the call runs through the SFU.
    async fn join(addr: SocketAddr, nick: &str, room: &str, receiver: bool) -> Person {
        let mut ws = Client::in_room(addr, nick, room).await;
        ws.send(json!({"type": "call_join", "req_id": 1, "media": {"audio": false, "video": true}})).await;
        let mut p = Person { ws, bot: Bot::new(receiver).unwrap(), inbox: Vec::new() };
        let joined = p.wait("call_joined").await;
        assert_eq!(joined["mode"], "sfu");
        p
    }

    /// The next frame of type `ty`, keeping the others in `inbox`.
    async fn wait(&mut self, ty: &str) -> Value {
        if let Some(i) = self.inbox.iter().position(|v| v["type"] == ty) {
            return self.inbox.remove(i);
        }
        loop {
            let v = self.ws.recv().await;
            if v["type"] == ty {
                return v;
            }
            self.inbox.push(v);
        }
    }

    /// The SFU's latest track list that satisfies `ok`.
    async fn tracks_where(&mut self, ok: impl Fn(&[RemoteTrack]) -> bool) -> Vec<RemoteTrack> {
        loop {
            let v = self.wait("call_tracks").await;
            let tracks: Vec<RemoteTrack> = serde_json::from_value(v["tracks"].clone()).unwrap();
            if ok(&tracks) {
                return tracks;
            }
        }
    }

    /// Offer what to publish and receive; apply the SFU's answer.
    async fn negotiate(&mut self, publish: &[TrackKind], subscribe: &[RemoteTrack]) -> String {
        let (sdp, tracks) = self.bot.offer(publish, true, subscribe);
        let payload = json!({"kind": "description", "sdp_type": "offer", "sdp": sdp, "tracks": tracks});
        self.ws.send(json!({"type": "signal", "to": 0, "payload": payload})).await;
        let answer = self.wait("signal").await;
        assert_eq!(answer["from"], 0);
        assert_eq!(answer["payload"]["sdp_type"], "answer");
        let sdp = answer["payload"]["sdp"].as_str().unwrap().to_string();
        self.bot.accept_answer(&sdp).unwrap();
        sdp
    }

    async fn show(&mut self, tiles: &[(u64, u32)]) {
        let tiles: Vec<Value> =
            tiles.iter().map(|(from, h)| json!({"from": from, "kind": "video", "width": h * 16 / 9, "height": h})).collect();
        self.ws.send(json!({"type": "call_layout", "tiles": tiles})).await;
    }

    fn seen(&self, from: u64) -> Vec<Seen> {
        let mid = self.bot.mid_of(RemoteTrack { from, kind: TrackKind::Video }).unwrap();
        self.bot.received.get(&mid).cloned().unwrap_or_default()
    }
}

/// A publisher of a simulcast camera in room "r", and that camera as others see it.
async fn publisher(addr: SocketAddr) -> (Person, RemoteTrack) {
    let mut p = Person::join(addr, "Pub", "r", false).await;
    p.negotiate(&[TrackKind::Video], &[]).await;
    let video = RemoteTrack { from: p.ws.conn_id, kind: TrackKind::Video };
    (p, video)
}

/// Someone in the call receiving `video`, once the SFU offered it.
async fn viewer(addr: SocketAddr, nick: &str, video: RemoteTrack) -> Person {
    let mut p = Person::join(addr, nick, "r", true).await;
    p.tracks_where(|t| t.contains(&video)).await;
    p.negotiate(&[], &[video]).await;
    p
}

/// Someone in the call showing `video` as a tile `height` pixels high, connected to the SFU
/// like its publisher.
async fn watching(addr: SocketAddr, publisher: &mut Person, video: RemoteTrack, height: u32) -> Person {
    let mut v = viewer(addr, "Viewer", video).await;
    v.show(&[(video.from, height)]).await;
    connect(&mut [publisher, &mut v]).await;
    v
}

/// Publish frames at 30 per second for `d` while pumping everyone (keyframes only every
/// 3 s on their own, so layer switches depend on the SFU's keyframe requests).
async fn stream(publisher: &mut Person, others: &mut [&mut Person], d: Duration) {
    let end = tokio::time::Instant::now() + d;
    while tokio::time::Instant::now() < end {
        publisher.bot.send_video_frame(90);
        let mut bots: Vec<&mut Bot> = others.iter_mut().map(|p| &mut p.bot).collect();
        bots.push(&mut publisher.bot);
        Bot::pump_for(&mut bots, Duration::from_millis(33)).await;
    }
}

/// Pump until every bot is connected (ICE + DTLS over loopback).
async fn connect(people: &mut [&mut Person]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while people.iter().any(|p| !p.bot.connected) {
        assert!(tokio::time::Instant::now() < deadline, "bots did not connect to the SFU");
        let mut bots: Vec<&mut Bot> = people.iter_mut().map(|p| &mut p.bot).collect();
        Bot::pump_for(&mut bots, Duration::from_millis(20)).await;
    }
}

fn layers(seen: &[Seen]) -> Vec<u8> {
    let mut l: Vec<u8> = seen.iter().map(|s| s.layer).collect();
    l.dedup();
    l
}

/// Gapless: each packet's sequence number is the previous one's plus one.
fn assert_gapless(seen: &[Seen]) {
    for w in seen.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "sequence gap between {:?} and {:?}", w[0], w[1]);
        assert!(w[1].rtp_time.wrapping_sub(w[0].rtp_time) < 90_000, "timestamp jumped: {:?} -> {:?}", w[0], w[1]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subscriber_gets_the_layer_that_fits_its_tile_and_hidden_tiles_get_nothing() {
    let addr = start_sfu().await;
    let (mut publisher, video) = publisher(addr).await;
    let pub_id = video.from;

    let mut small = Person::join(addr, "Small", "r", true).await;
    let mut large = Person::join(addr, "Large", "r", true).await;
    let mut hidden = Person::join(addr, "Hidden", "r", true).await;
    for p in [&mut small, &mut large, &mut hidden] {
        let tracks = p.tracks_where(|t| t.contains(&video)).await;
        assert_eq!(tracks, [video], "the SFU offers the publisher's camera");
        p.negotiate(&[], &[video]).await;
    }
    small.show(&[(pub_id, 80)]).await;
    large.show(&[(pub_id, 720)]).await;
    hidden.show(&[]).await;
    connect(&mut [&mut publisher, &mut small, &mut large, &mut hidden]).await;
    stream(&mut publisher, &mut [&mut small, &mut large, &mut hidden], Duration::from_secs(3)).await;

    let (s, l) = (small.seen(pub_id), large.seen(pub_id));
    assert!(s.len() > 20 && l.len() > 20, "frames were forwarded: small {} large {}", s.len(), l.len());
    assert_eq!(layers(&s), [0], "the small tile gets the quarter layer");
    // The large tile may start lower while the SFU learns what each layer costs and what
    // the link carries; then it gets the full layer, and keeps it.
    let full = l.iter().position(|s| s.layer == 2).expect("the large tile gets the full layer");
    assert!(l[full..].iter().all(|s| s.layer == 2), "and keeps it: {:?}", layers(&l));
    assert!(l.len() - full > 20, "most of the frames are full ones: {} of {}", l.len() - full, l.len());
    assert!(s[0].keyframe && l[0].keyframe && l[full].keyframe, "each stream and switch starts on a keyframe");
    assert!(hidden.seen(pub_id).is_empty(), "a tile not shown gets no video");
    assert_gapless(&s);
    assert_gapless(&l);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bigger_tile_switches_layers_on_a_keyframe_and_the_stream_stays_continuous() {
    let addr = start_sfu().await;
    let (mut publisher, video) = publisher(addr).await;
    let pub_id = video.from;
    let mut viewer = watching(addr, &mut publisher, video, 80).await;
    stream(&mut publisher, &mut [&mut viewer], Duration::from_millis(1500)).await;
    let before = viewer.seen(pub_id).len();
    assert!(before > 10, "the small layer flows first ({before} frames)");

    // Pinned: the tile is now large.
    viewer.show(&[(pub_id, 720)]).await;
    stream(&mut publisher, &mut [&mut viewer], Duration::from_millis(2000)).await;
    let seen = viewer.seen(pub_id);
    assert_eq!(layers(&seen), [0, 2], "from the quarter layer to the full one, never back");
    let first_full = seen.iter().position(|s| s.layer == 2).unwrap();
    assert!(seen[first_full].keyframe, "the switch happened on a keyframe: {:?}", seen[first_full]);
    assert!(seen.len() - first_full > 10, "the full layer keeps flowing");
    // One stream to the receiver: sequence numbers and timestamps continue across the switch.
    assert_gapless(&seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_participant_loses_its_own_media_only() {
    let addr = start_sfu().await;
    let mut publisher = Person::join(addr, "Pub", "r", false).await;
    let answer = publisher.negotiate(&[TrackKind::Video], &[]).await;
    let pub_id = publisher.ws.conn_id;
    let video = RemoteTrack { from: pub_id, kind: TrackKind::Video };
    let mut viewer = watching(addr, &mut publisher, video, 400).await;

    // A participant whose offer is not SDP: told `media_failed`, connection kept.
    let mut bad = Person::join(addr, "Bad", "r", true).await;
    let payload = json!({"kind": "description", "sdp_type": "offer", "sdp": "v=0\r\nthis is not sdp", "tracks": []});
    bad.ws.send(json!({"type": "signal", "to": 0, "payload": payload})).await;
    let err = bad.wait("error").await;
    assert_eq!(err["code"], "media_failed", "{err}");
    // Garbage datagrams at the SFU's port, from a socket nobody negotiated.
    let sfu_port: u16 = answer
        .lines()
        .find(|l| l.starts_with("a=candidate") && l.contains("127.0.0.1"))
        .and_then(|l| l.split_whitespace().nth(5))
        .and_then(|p| p.parse().ok())
        .expect("the answer announces a loopback candidate");
    bad.bot.send_garbage(SocketAddr::from(([127, 0, 0, 1], sfu_port)), 500);
    // A candidate line that is not one, and signalling to the SFU from outside any call.
    bad.ws.send(json!({"type": "signal", "to": 0, "payload": {"kind": "candidate", "candidate": "candidate:garbage"}})).await;
    let mut outsider = Client::connect(addr).await;
    outsider.send(json!({"type": "signal", "to": 0, "payload": payload})).await;
    assert_eq!(outsider.recv_type("error").await["code"], "not_in_call", "outside any room, no SFU");

    stream(&mut publisher, &mut [&mut viewer], Duration::from_millis(1500)).await;
    let seen = viewer.seen(pub_id);
    assert!(seen.len() > 20, "the others' media went on ({} frames)", seen.len());
    assert_gapless(&seen);

    // The bad participant can still start over with a good offer.
    bad.negotiate(&[], &[video]).await;
    bad.show(&[(pub_id, 80)]).await;
    connect(&mut [&mut bad]).await;
    stream(&mut publisher, &mut [&mut viewer, &mut bad], Duration::from_millis(1500)).await;
    assert!(!bad.seen(pub_id).is_empty(), "after a good offer, media flows to the one who misbehaved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_removes_the_track_for_everyone_and_the_call_goes_on() {
    let addr = start_sfu().await;
    let mut a = Person::join(addr, "A", "r", false).await;
    a.negotiate(&[TrackKind::Video], &[]).await;
    let mut b = Person::join(addr, "B", "r", false).await;
    let a_video = RemoteTrack { from: a.ws.conn_id, kind: TrackKind::Video };
    b.tracks_where(|t| t.contains(&a_video)).await;
    b.negotiate(&[TrackKind::Video], &[a_video]).await;
    let b_video = RemoteTrack { from: b.ws.conn_id, kind: TrackKind::Video };
    // A learns of B's camera.
    a.tracks_where(|t| t == [b_video]).await;
    let mut c = Person::join(addr, "C", "r", true).await;
    c.tracks_where(|t| t.len() == 2).await;

    b.ws.send(json!({"type": "call_leave"})).await;
    let left = a.wait("call_participant_left").await;
    assert_eq!(left["conn_id"], b.ws.conn_id);
    assert!(a.tracks_where(|t| t.is_empty()).await.is_empty(), "B's camera is withdrawn");
    assert_eq!(c.tracks_where(|t| t.len() == 1).await, [a_video]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_prepared_before_joining_is_kept_and_joining_only_starts_the_media() {
    let addr = start_sfu().await;
    let (mut publisher, video) = publisher(addr).await;

    // Still on the preview: in the room, not in the call, connected to the SFU already.
    let ws = Client::in_room(addr, "Early", "r").await;
    let mut early = Person { ws, bot: Bot::new(true).unwrap(), inbox: Vec::new() };
    early.negotiate(&[], &[]).await;
    connect(&mut [&mut publisher, &mut early]).await;
    assert_eq!(early.bot.connects, 1);
    stream(&mut publisher, &mut [&mut early], Duration::from_millis(300)).await;
    assert!(early.bot.received.is_empty(), "nothing is forwarded before joining the call");

    early.ws.send(json!({"type": "call_join", "req_id": 1, "media": {"audio": false, "video": false}})).await;
    assert_eq!(early.wait("call_joined").await["mode"], "sfu");
    early.tracks_where(|t| t.contains(&video)).await;
    early.negotiate(&[], &[video]).await;
    early.show(&[(video.from, 80)]).await;
    stream(&mut publisher, &mut [&mut early], Duration::from_millis(1500)).await;
    assert!(early.seen(video.from).len() > 10, "media flows after joining");
    assert_eq!(early.bot.connects, 1, "the same connection: no second ICE/DTLS handshake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_over_its_bitrate_limit_is_told_and_only_part_of_its_video_is_forwarded() {
    // 100 kbit/s for everything a participant sends.
    let addr = start_with(Config { p2p_max: 0, max_publish_kbps: 100, ..config() }).await;
    let (mut publisher, video) = publisher(addr).await;
    // 3 layers × 30 frames/s × 1 000 bytes = 720 kbit/s: over seven times the limit.
    publisher.bot.frame_bytes = 1000;
    let mut viewer = watching(addr, &mut publisher, video, 80).await;
    stream(&mut publisher, &mut [&mut viewer], Duration::from_secs(3)).await;

    let err = publisher.wait("error").await;
    assert_eq!(err["code"], "rate_limited", "{err}");
    assert!(err["message"].as_str().unwrap().contains("more video than this server allows"), "{err}");
    let sent = publisher.bot.frames_sent() as usize;
    let seen = viewer.seen(video.from);
    let mut frames: Vec<u32> = seen.iter().map(|s| s.frame).collect();
    frames.dedup();
    assert!(!frames.is_empty(), "some video still gets through");
    assert!(frames.len() * 2 < sent, "most frames were dropped at the SFU: {} of {sent} arrived", frames.len());
    assert!(seen[0].keyframe, "what gets through starts on a keyframe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_more_than_four_tracks_is_refused() {
    let addr = start_sfu().await;
    let mut p = Person::join(addr, "Greedy", "r", false).await;
    let (sdp, tracks) = p.bot.offer(&[TrackKind::Video; 5], false, &[]);
    let payload = json!({"kind": "description", "sdp_type": "offer", "sdp": sdp, "tracks": tracks});
    p.ws.send(json!({"type": "signal", "to": 0, "payload": payload})).await;
    let err = p.wait("error").await;
    assert_eq!(err["code"], "media_failed", "{err}");
    assert!(err["message"].as_str().unwrap().contains("at most 4 tracks"), "{err}");
}

/// The SFU's passive ICE-TCP candidate, as its answer announces it.
fn tcp_candidate(answer: &str) -> SocketAddr {
    let line = answer
        .lines()
        .find(|l| l.starts_with("a=candidate:") && l.to_ascii_lowercase().contains(" tcp "))
        .unwrap_or_else(|| panic!("no TCP candidate in the answer:\n{answer}"));
    assert!(line.contains("tcptype passive"), "{line}");
    let f: Vec<&str> = line.split_whitespace().collect();
    format!("{}:{}", f[4], f[5]).parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sfu_offers_ice_over_tcp_and_garbage_or_silence_on_that_port_leaves_calls_working() {
    let addr = start_sfu().await;
    let mut publisher = Person::join(addr, "Pub", "r", false).await;
    let answer = publisher.negotiate(&[TrackKind::Video], &[]).await;
    let tcp = tcp_candidate(&answer);

    // Silent connections, connections that send frames nobody accepts, and one that
    // announces a frame it never sends.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(tcp).await.unwrap());
    }
    let mut garbage = Vec::new();
    for _ in 0..5 {
        let mut s = TcpStream::connect(tcp).await.unwrap();
        let mut junk = Vec::new();
        for _ in 0..noom::server::sfu::MAX_UNROUTED_FRAMES {
            junk.extend_from_slice(&[0, 8, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42]);
        }
        s.write_all(&junk).await.unwrap();
        garbage.push(s);
    }
    let mut partial = TcpStream::connect(tcp).await.unwrap();
    partial.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();

    // Meanwhile a call connects and its video flows.
    let video = RemoteTrack { from: publisher.ws.conn_id, kind: TrackKind::Video };
    let mut viewer = watching(addr, &mut publisher, video, 400).await;
    stream(&mut publisher, &mut [&mut viewer], Duration::from_millis(1500)).await;
    assert!(viewer.seen(video.from).len() > 10, "video flows beside the garbage");

    // Garbage senders are closed; silent ones too, once the first frame is overdue.
    for s in garbage.iter_mut().chain(silent.iter_mut()).chain([&mut partial]) {
        let mut buf = [0u8; 16];
        let closed = tokio::time::timeout(WAIT, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the SFU closed a connection that sent nothing it accepts");
    }
}

/// An offer as a hostile client might write it: `count` video m-lines that all send
/// (`a=sendonly`), made by a real str0m peer (VP8 only) and trimmed to what str0m needs, so
/// that 300 of them fit in a `signal` (the ICE credentials and fingerprint of the first
/// m-line serve for all of them).
fn offer_sending_on(count: usize) -> String {
    use str0m::media::{Direction, MediaKind};
    let mut rtc = str0m::Rtc::builder().clear_codecs().enable_vp8(true).clear_extension_map().build(std::time::Instant::now());
    let mut change = rtc.sdp_api();
    for _ in 0..count {
        change.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    }
    let (offer, _pending) = change.apply().expect("an offer");
    let sdp = offer.to_sdp_string();
    let mut out = String::new();
    let mut sections = 0;
    for line in sdp.split("\r\n").filter(|l| !l.is_empty()) {
        sections += usize::from(line.starts_with("m="));
        let repeated = ["a=ice-", "a=fingerprint", "a=setup", "a=rtcp:", "a=rtcp-fb", "a=ssrc", "a=msid"];
        if sections > 1 && repeated.iter().any(|p| line.starts_with(p)) {
            continue;
        }
        out += line;
        out += "\r\n";
    }
    assert_eq!(out.matches("\r\na=sendonly").count(), count);
    assert!(out.len() < MAX_SDP_BYTES, "the offer fits in a signal ({} bytes)", out.len());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_sending_on_300_m_lines_is_refused_unanswered_and_the_call_goes_on() {
    let addr = start_sfu().await;
    let (mut publisher, video) = publisher(addr).await;
    let pub_id = video.from;
    let mut viewer = watching(addr, &mut publisher, video, 400).await;

    // Its `tracks` claim nothing is published; its SDP sends on 300 m-lines.
    let mut hostile = Person::join(addr, "Hostile", "r", true).await;
    viewer.ws.drain().await;
    viewer.inbox.clear();
    let payload = json!({"kind": "description", "sdp_type": "offer", "sdp": offer_sending_on(300), "tracks": []});
    hostile.ws.send(json!({"type": "signal", "to": 0, "payload": payload})).await;
    let err = hostile.wait("error").await;
    assert_eq!(err["code"], "media_failed", "{err}");
    assert!(err["message"].as_str().unwrap().contains("at most 4 tracks"), "{err}");
    hostile.inbox.extend(hostile.ws.drain().await);
    assert!(
        !hostile.inbox.iter().any(|v| v["type"] == "signal"),
        "the SFU answered the offer: {:?}",
        hostile.inbox.iter().map(|v| v["type"].clone()).collect::<Vec<_>>()
    );
    // Nothing of it reached the others: no track was announced to them.
    viewer.inbox.extend(viewer.ws.drain().await);
    assert!(!viewer.inbox.iter().any(|v| v["type"] == "call_tracks"), "{:?}", viewer.inbox);

    stream(&mut publisher, &mut [&mut viewer], Duration::from_millis(1500)).await;
    let seen = viewer.seen(pub_id);
    assert!(seen.len() > 20, "the others' call went on ({} frames)", seen.len());
    assert_gapless(&seen);

    // Four sending m-lines (microphone, camera, screen, its sound) are still fine.
    let payload = json!({"kind": "description", "sdp_type": "offer", "sdp": offer_sending_on(4), "tracks": []});
    hostile.ws.send(json!({"type": "signal", "to": 0, "payload": payload})).await;
    let answer = hostile.wait("signal").await;
    assert_eq!(answer["payload"]["sdp_type"], "answer", "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_nobody_asked_for_is_refused_and_changes_nothing() {
    let addr = start_sfu().await;
    let (mut publisher, video) = publisher(addr).await;
    let pub_id = video.from;
    let mut viewer = watching(addr, &mut publisher, video, 80).await;

    // The SFU never offers: an answer to it is stray, from a connection in its call …
    let stray = json!({"kind": "description", "sdp_type": "answer", "sdp": offer_sending_on(1)});
    viewer.ws.send(json!({"type": "signal", "to": 0, "payload": stray})).await;
    let err = viewer.wait("error").await;
    assert_eq!(err["code"], "unexpected_answer", "{err}");
    assert!(err["message"].as_str().unwrap().contains("never offers"), "{err}");
    assert!(err.get("req_id").is_none(), "{err}");
    // … or from one only in the room (its prepared connection).
    let mut early = Client::in_room(addr, "Early", "r").await;
    early.send(json!({"type": "signal", "to": 0, "payload": stray})).await;
    assert_eq!(early.recv_type("error").await["code"], "unexpected_answer");

    // The viewer's media was not touched.
    stream(&mut publisher, &mut [&mut viewer], Duration::from_millis(1500)).await;
    let seen = viewer.seen(pub_id);
    assert!(seen.len() > 20, "media still flows to the one who sent it ({} frames)", seen.len());
    assert_gapless(&seen);
    assert_eq!(viewer.bot.connects, 1, "its connection was kept");
}

/// Stream until the publisher is told which layers to encode (`call_layers`); what it says.
async fn layers_told(publisher: &mut Person, viewer: &mut Person) -> (Value, Value) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "the publisher was never told which layers to encode");
        stream(publisher, &mut [&mut *viewer], Duration::from_millis(200)).await;
        while let Ok(v) = tokio::time::timeout(Duration::from_millis(1), publisher.ws.recv()).await {
            publisher.inbox.push(v);
        }
        if let Some(i) = publisher.inbox.iter().position(|v| v["type"] == "call_layers") {
            let v = publisher.inbox.remove(i);
            return (v["kind"].clone(), v["rids"].clone());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynacast_tells_the_publisher_to_encode_only_the_layers_someone_receives() {
    let addr = start_sfu().await;
    let (mut publisher, video) = publisher(addr).await;
    let pub_id = video.from;
    let mut viewer = watching(addr, &mut publisher, video, 80).await;
    // Its only viewer shows it small: the publisher may stop the half and full layers.
    assert_eq!(layers_told(&mut publisher, &mut viewer).await, (json!("video"), json!(["q"])));
    // The viewer pins it: the full layer is wanted again (the lowest is always kept), and
    // the viewer switches to it (the bot kept sending every layer).
    viewer.show(&[(pub_id, 720)]).await;
    let (kind, mut rids) = layers_told(&mut publisher, &mut viewer).await;
    assert_eq!(kind, "video");
    assert!(rids.as_array().unwrap().len() > 1, "more than the lowest layer is wanted again: {rids}");
    // Once the viewer is on the full layer, the half one (if it passed through it) stops.
    while rids != json!(["q", "f"]) {
        rids = layers_told(&mut publisher, &mut viewer).await.1;
    }
    stream(&mut publisher, &mut [&mut viewer], Duration::from_millis(1500)).await;
    assert_eq!(layers(&viewer.seen(pub_id)).last(), Some(&2), "the viewer gets the full layer");
}
