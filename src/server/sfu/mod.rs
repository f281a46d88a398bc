//! The SFU: the server's media unit for calls larger than `--p2p-max`. Each participant has
//! one WebRTC connection to it; it receives each person's media once and forwards it to
//! everyone else in the same call.
//!
//! # Layout
//! - `mod.rs` (here): [`SfuHandle`] and its commands, the UDP loop that owns the socket and
//!   every `Rtc`, and the routing of media and keyframe requests between participants.
//! - `peer.rs`: one participant: its `Rtc`, offers and candidates, what it publishes and
//!   receives.
//! - `simulcast.rs`: the per-subscriber layer choice, keyframe-gated switching and the
//!   timestamp rewriting that keeps each forwarded stream continuous.
//! - `bot.rs`: a synthetic participant (str0m on loopback UDP) for tests and load runs.
//!
//! Why beside the hub, not inside it: the hub decides who is in which call (membership,
//! caps, modes) and tells the SFU with [`SfuCmd`]s; the SFU only moves packets. A burst of
//! media never delays a chat message, and the SFU runs on its own thread so its CPU use
//! cannot starve the hub or the WebSocket tasks.
//!
//! Why one UDP port for everything: firewalls and containers need one rule. str0m is
//! sans-I/O, so demultiplexing is ours: a packet goes to the `Rtc` that `accepts` it (ICE
//! ufrag for STUN, the remote address after that), remembered per source address.
//!
//! Why one failure stays one: every call into str0m for a participant is isolated (errors
//! and even panics drop only that participant's media, who gets `media_failed` and
//! reconnects), and calls share nothing but the socket.

pub mod bot;
mod peer;
pub mod simulcast;
mod transport;
pub use transport::{FIRST_FRAME_WITHIN, MAX_TCP_CONNECTIONS, MAX_UNROUTED_FRAMES};

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::media::{KeyframeRequestKind, MediaData, Mid, Rid};
use str0m::net::{Protocol, Receive};
use str0m::{Event, Input, Output};
use tokio::net::UdpSocket;
use transport::{Net, TcpEvent};
use tokio::sync::mpsc;

use crate::protocol::{ConnId, ErrorCode, RemoteTrack, SdpType, SignalPayload, TileView};
use crate::server::wire::Frame;
use peer::Peer;
use simulcast::{choose_layer, vp8_keyframe_size, Decision, LayerInfo};

/// Keyframe requests (PLI) for one layer are sent at most this often.
const KEYFRAME_REQUEST_EVERY: Duration = Duration::from_millis(300);
/// How long after a track's first frame its layers count as still starting.
const LAYER_WARMUP: Duration = Duration::from_millis(500);
/// How often layer choices are revisited (bandwidth estimates, layers that stopped).
const RELAYOUT_EVERY: Duration = Duration::from_millis(500);
/// Commands that may wait for the SFU.
const INBOX_CAPACITY: usize = 4096;

/// What the hub tells the SFU.
#[derive(Debug)]
pub enum SfuCmd {
    /// `conn_id` is in `call`'s SFU now; the browser will offer (or already has: a
    /// prepared connection is kept).
    Join { conn_id: ConnId, call: String, outbox: mpsc::Sender<Frame> },
    /// `conn_id` is in a room and connects to the SFU ahead of joining a call, so that
    /// joining only starts the media (ICE and DTLS are done by then). Nothing is forwarded
    /// to or from it until it joins.
    Prepare { conn_id: ConnId, outbox: mpsc::Sender<Frame> },
    /// `conn_id` left its call (or its connection ended).
    Leave { conn_id: ConnId },
    /// WebRTC signalling from `conn_id`'s browser to the SFU.
    Signal { conn_id: ConnId, payload: SignalPayload },
    /// The tiles `conn_id` shows, for the layer choice.
    Layout { conn_id: ConnId, tiles: Vec<TileView> },
}

/// Counters, readable from any thread (tests, benchmarks, later `/metrics`).
#[derive(Debug, Default)]
pub struct SfuStats {
    pub packets_in: AtomicU64,
    pub packets_out: AtomicU64,
    /// UDP sends that failed (socket buffer full): loss caused by the SFU itself.
    pub send_errors: AtomicU64,
    pub frames_in: AtomicU64,
    pub frames_forwarded: AtomicU64,
    pub keyframe_requests: AtomicU64,
    /// Participants whose media failed and was reset.
    pub media_failures: AtomicU64,
    /// Video frames dropped because their publisher went over `--max-publish-kbps`.
    pub frames_policed: AtomicU64,
    /// ICE-TCP connections open now.
    pub tcp_connections: AtomicU64,
}

/// Where the SFU listens and what it announces.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The UDP socket for all media.
    pub udp_addr: SocketAddr,
    /// The ICE-TCP listener (passive candidates) for browsers whose network blocks UDP;
    /// `None`: UDP only.
    pub tcp_addr: Option<SocketAddr>,
    /// Addresses to announce in ICE candidates instead of the machine's own (NAT, containers).
    pub public_ips: Vec<IpAddr>,
    /// Most media one participant may send, all tracks and layers together (kbit/s).
    /// Video beyond it is dropped at the SFU; audio always passes.
    pub max_publish_kbps: u32,
}

/// A cheap, cloneable way to reach the SFU.
#[derive(Clone)]
pub struct SfuHandle {
    tx: mpsc::Sender<SfuCmd>,
    pub local_addr: SocketAddr,
    /// The ICE-TCP listener's address, if it could be bound.
    pub tcp_addr: Option<SocketAddr>,
    /// The addresses announced to browsers (the TURN server may always relay to them).
    pub candidates: Vec<SocketAddr>,
    pub stats: Arc<SfuStats>,
}

impl SfuHandle {
    /// Bind the UDP socket and start the SFU on its own thread. It stops when every handle
    /// is dropped.
    pub fn spawn(config: &SfuConfig) -> std::io::Result<SfuHandle> {
        let socket = StdUdpSocket::bind(config.udp_addr)?;
        socket.set_nonblocking(true)?;
        let local_addr = socket.local_addr()?;
        let candidates = candidate_addrs(local_addr, &config.public_ips);
        tracing::info!(%local_addr, ?candidates, "SFU listening (UDP)");
        // Without its TCP port the SFU still serves UDP; only browsers whose network blocks
        // UDP lose a way in, and the log says so.
        let tcp = match config.tcp_addr.map(std::net::TcpListener::bind).transpose() {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::error!("SFU ICE over TCP disabled: cannot listen on TCP {:?}: {e}", config.tcp_addr);
                None
            }
        };
        let tcp_addr = match &tcp {
            Some(l) => {
                l.set_nonblocking(true)?;
                let addr = l.local_addr()?;
                tracing::info!(%addr, "SFU listening for ICE over TCP");
                Some(addr)
            }
            None => None,
        };
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        let stats = Arc::new(SfuStats::default());
        let sfu = Sfu::new(candidates.clone(), tcp_addr.map(|a| a.port()), stats.clone(), config.max_publish_kbps);
        std::thread::Builder::new().name("noom-sfu".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => return tracing::error!("SFU runtime: {e}"),
            };
            runtime.block_on(async move {
                let tcp = tcp.and_then(|l| tokio::net::TcpListener::from_std(l).map_err(|e| tracing::error!("SFU TCP: {e}")).ok());
                match UdpSocket::from_std(socket) {
                    Ok(socket) => sfu.run(socket, tcp, rx).await,
                    Err(e) => tracing::error!("SFU socket: {e}"),
                }
            });
        })?;
        Ok(SfuHandle { tx, local_addr, tcp_addr, candidates, stats })
    }

    /// Queue a command; never waits (the hub must not block on media).
    pub fn send(&self, cmd: SfuCmd) {
        if let Err(e) = self.tx.try_send(cmd) {
            tracing::error!("SFU inbox full or closed: {e}");
        }
    }
}

/// The addresses announced as host candidates: the configured public ones, else the bound
/// address, else (bound to 0.0.0.0) every address of the machine's interfaces.
fn candidate_addrs(bound: SocketAddr, public_ips: &[IpAddr]) -> Vec<SocketAddr> {
    let port = bound.port();
    if !public_ips.is_empty() {
        return public_ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
    }
    if !bound.ip().is_unspecified() {
        return vec![bound];
    }
    let mut addrs: Vec<SocketAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| ip.is_ipv4() == bound.is_ipv4())
        .filter(|ip| !matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80))
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    if addrs.is_empty() {
        addrs.push(SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port));
    }
    addrs
}

struct Sfu {
    peers: HashMap<ConnId, Peer>,
    calls: HashMap<Arc<str>, Vec<ConnId>>,
    /// Which participant a remote address (UDP, or an ICE-TCP connection) belongs to
    /// (demultiplexing cache).
    routes: HashMap<(Protocol, SocketAddr), ConnId>,
    candidates: Vec<SocketAddr>,
    /// The ICE-TCP port, announced as a passive candidate at each candidate address.
    tcp_port: Option<u16>,
    /// What every participant's `Rtc` announces: UDP and passive TCP host candidates.
    ice_candidates: Vec<str0m::Candidate>,
    stats: Arc<SfuStats>,
    next_relayout: Instant,
    max_publish_kbps: u32,
}

/// Work that touches one participant's `Rtc`, done one at a time so every mutation is
/// followed by a full drain (str0m's rule), and events of one `Rtc` never mutate another
/// while it is borrowed.
enum Work {
    Forward { from: ConnId, mid: Mid, data: MediaData },
    KeyframeRequest { to: ConnId, mid: Mid, layer: Option<String> },
}

impl Sfu {
    fn new(candidates: Vec<SocketAddr>, tcp_port: Option<u16>, stats: Arc<SfuStats>, max_publish_kbps: u32) -> Sfu {
        Sfu {
            peers: HashMap::new(),
            calls: HashMap::new(),
            routes: HashMap::new(),
            ice_candidates: peer::local_candidates(&candidates, tcp_port),
            candidates,
            tcp_port,
            stats,
            next_relayout: Instant::now(),
            max_publish_kbps,
        }
    }

    fn new_peer(&self, conn_id: ConnId, outbox: mpsc::Sender<Frame>) -> Peer {
        Peer::new(conn_id, None, outbox, Instant::now(), self.max_publish_kbps)
    }

    async fn run(mut self, socket: UdpSocket, tcp: Option<tokio::net::TcpListener>, mut rx: mpsc::Receiver<SfuCmd>) {
        let udp = Arc::new(socket);
        let mut net = Net::new(udp.clone());
        let (tcp_tx, mut tcp_events) = mpsc::channel(1024);
        if let Some(listener) = tcp {
            transport::spawn_tcp(listener, tcp_tx.clone());
        }
        // Kept so that `tcp_events` stays open (and pending) without a listener.
        let _tcp_tx = tcp_tx;
        let mut buf = vec![0u8; 2000];
        loop {
            let now = Instant::now();
            let next = self.peers.values().filter(|p| p.rtc.is_some()).map(|p| p.timeout).min();
            let wake = next.unwrap_or(now + RELAYOUT_EVERY).min(self.next_relayout).max(now);
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd, &net),
                    None => break,
                },
                received = udp.recv_from(&mut buf) => match received {
                    Ok((n, source)) => {
                        self.packet(&buf[..n], source, Protocol::Udp, &net);
                    }
                    Err(e) => tracing::debug!("SFU recv: {e}"),
                },
                event = tcp_events.recv() => match event {
                    Some(TcpEvent::Opened { remote, writer }) => net.opened(remote, writer),
                    Some(TcpEvent::Frame { remote, data }) => {
                        let routed = self.packet(&data, remote, Protocol::Tcp, &net);
                        net.routed(remote, routed);
                    }
                    Some(TcpEvent::Closed { remote }) => {
                        net.closed(remote);
                        self.routes.remove(&(Protocol::Tcp, remote));
                    }
                    None => {}
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
            self.stats.tcp_connections.store(net.tcp_connections() as u64, Ordering::Relaxed);
            self.timeouts(&net);
        }
        tracing::debug!("SFU stopped");
    }

    fn command(&mut self, cmd: SfuCmd, net: &Net) {
        match cmd {
            SfuCmd::Prepare { conn_id, outbox } => {
                if !self.peers.contains_key(&conn_id) {
                    let peer = self.new_peer(conn_id, outbox);
                    self.peers.insert(conn_id, peer);
                }
            }
            SfuCmd::Join { conn_id, call, outbox } => {
                let call: Arc<str> = call.into();
                // A prepared connection is kept (that is its point); anything else starts over.
                let prepared = self.peers.get(&conn_id).is_some_and(|p| p.call.is_none());
                if !prepared {
                    self.leave(conn_id);
                }
                let mut peer = match self.peers.remove(&conn_id) {
                    Some(p) => p,
                    None => self.new_peer(conn_id, outbox),
                };
                peer.call = Some(call.clone());
                // Always a fresh list for a newcomer (even an empty one), so a browser never
                // keeps one from an earlier call.
                let tracks = self.published_in(&call);
                peer.tell(&crate::protocol::ServerMsg::CallTracks { tracks: tracks.clone() });
                peer.announced = tracks;
                self.peers.insert(conn_id, peer);
                self.calls.entry(call.clone()).or_default().push(conn_id);
                self.announce(&call);
                self.relayout(conn_id);
            }
            SfuCmd::Leave { conn_id } => self.leave(conn_id),
            SfuCmd::Signal { conn_id, payload } => self.signal(conn_id, payload, net),
            SfuCmd::Layout { conn_id, tiles } => {
                if let Some(peer) = self.peers.get_mut(&conn_id) {
                    peer.tiles = tiles;
                    for r in peer.receiving.values_mut() {
                        r.laid_out = true;
                    }
                    self.relayout(conn_id);
                }
            }
        }
    }

    fn leave(&mut self, conn_id: ConnId) {
        let Some(peer) = self.peers.remove(&conn_id) else { return };
        self.routes.retain(|_, id| *id != conn_id);
        let Some(call) = peer.call else { return };
        if let Some(members) = self.calls.get_mut(&call) {
            members.retain(|id| *id != conn_id);
            if members.is_empty() {
                self.calls.remove(&call);
                return;
            }
        }
        self.announce(&call);
    }

    fn signal(&mut self, conn_id: ConnId, payload: SignalPayload, net: &Net) {
        let now = Instant::now();
        let Some(peer) = self.peers.get_mut(&conn_id) else { return };
        match payload {
            SignalPayload::Description { sdp_type: SdpType::Offer, sdp, tracks } => {
                let candidates = &self.ice_candidates;
                let result = catch_unwind(AssertUnwindSafe(|| peer.accept_offer(&sdp, &tracks, candidates, now)));
                match result {
                    Ok(Ok(answer)) => {
                        peer.tell(&Peer::answer_message(answer));
                        let call = peer.call.clone();
                        self.drain(conn_id, net);
                        if let Some(call) = call {
                            self.announce(&call);
                        }
                        self.relayout(conn_id);
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(conn_id, "SFU offer refused: {e}");
                        self.fail(conn_id, &e.to_string());
                    }
                    Err(_) => self.fail(conn_id, "the SFU failed on this offer"),
                }
            }
            SignalPayload::Description { sdp_type: SdpType::Answer, .. } => {
                // The SFU never offers, so nothing asked for this: say so (a client that
                // sends one is broken or probing), and leave the media as it was.
                tracing::warn!(conn_id, "SDP answer to the SFU refused: the SFU never offers");
                peer.tell_error(
                    ErrorCode::UnexpectedAnswer,
                    "The media server never offers, so it takes no answer; send it offers",
                );
            }
            SignalPayload::Candidate { candidate, .. } => {
                if catch_unwind(AssertUnwindSafe(|| peer.add_candidate(&candidate))).is_err() {
                    self.fail(conn_id, "the SFU failed on an ICE candidate");
                } else {
                    self.drain(conn_id, net);
                }
            }
        }
    }

    /// Drop one participant's media after an error; the others are not touched.
    fn fail(&mut self, conn_id: ConnId, why: &str) {
        let Some(peer) = self.peers.get_mut(&conn_id) else { return };
        self.stats.media_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(conn_id, "SFU media reset: {why}");
        peer.reset_media();
        peer.tell_failed(why);
        let call = peer.call.clone();
        self.routes.retain(|_, id| *id != conn_id);
        if let Some(call) = call {
            self.announce(&call);
        }
    }

    /// Every track published in `call`, sorted.
    fn published_in(&self, call: &Arc<str>) -> Vec<RemoteTrack> {
        let Some(members) = self.calls.get(call) else { return Vec::new() };
        let mut all: Vec<RemoteTrack> =
            members.iter().filter_map(|id| self.peers.get(id)).flat_map(|p| p.published_tracks()).collect();
        all.sort();
        all.dedup();
        all
    }

    /// Tell everyone in `call` whose track list changed which tracks they can receive.
    fn announce(&mut self, call: &Arc<str>) {
        let all = self.published_in(call);
        let Some(members) = self.calls.get(call) else { return };
        for id in members {
            let Some(peer) = self.peers.get_mut(id) else { continue };
            let mine: Vec<RemoteTrack> = all.iter().copied().filter(|t| t.from != *id).collect();
            if mine != peer.announced {
                peer.tell(&crate::protocol::ServerMsg::CallTracks { tracks: mine.clone() });
                peer.announced = mine;
            }
        }
    }

    /// One packet from `source` (UDP, or a frame of an ICE-TCP connection); false if no
    /// participant's `Rtc` accepts it.
    fn packet(&mut self, data: &[u8], source: SocketAddr, proto: Protocol, net: &Net) -> bool {
        self.stats.packets_in.fetch_add(1, Ordering::Relaxed);
        let Ok(contents) = data.try_into() else { return false };
        let mut destination = self.local_addr_for(source);
        if proto == Protocol::Tcp {
            destination.set_port(self.tcp_port.unwrap_or(destination.port()));
        }
        let now = Instant::now();
        let input = Input::Receive(now, Receive { proto, source, destination, contents });
        let owner = self
            .routes
            .get(&(proto, source))
            .copied()
            .filter(|id| self.peers.get(id).and_then(|p| p.rtc.as_ref()).is_some_and(|r| r.accepts(&input)))
            .or_else(|| {
                self.peers.values().find(|p| p.rtc.as_ref().is_some_and(|r| r.accepts(&input))).map(|p| p.conn_id)
            });
        let Some(conn_id) = owner else {
            tracing::trace!(%source, ?proto, "packet for no participant");
            return false;
        };
        self.routes.insert((proto, source), conn_id);
        let Some(rtc) = self.peers.get_mut(&conn_id).and_then(|p| p.rtc.as_mut()) else { return false };
        match catch_unwind(AssertUnwindSafe(|| rtc.handle_input(input))) {
            Ok(Ok(())) => self.drain(conn_id, net),
            Ok(Err(e)) => self.fail(conn_id, &format!("media error: {e}")),
            Err(_) => self.fail(conn_id, "the SFU failed on this participant's media"),
        }
        true
    }

    /// The local address a packet from `source` was sent to: the loopback candidate for
    /// loopback sources, else the first of the same family.
    fn local_addr_for(&self, source: SocketAddr) -> SocketAddr {
        let loopback = source.ip().is_loopback();
        self.candidates
            .iter()
            .find(|c| c.ip().is_loopback() == loopback && c.is_ipv4() == source.is_ipv4())
            .or_else(|| self.candidates.iter().find(|c| c.is_ipv4() == source.is_ipv4()))
            .or(self.candidates.first())
            .copied()
            .unwrap_or(source)
    }

    fn timeouts(&mut self, net: &Net) {
        let now = Instant::now();
        let due: Vec<ConnId> =
            self.peers.values().filter(|p| p.rtc.is_some() && p.timeout <= now).map(|p| p.conn_id).collect();
        for conn_id in due {
            let Some(rtc) = self.peers.get_mut(&conn_id).and_then(|p| p.rtc.as_mut()) else { continue };
            match catch_unwind(AssertUnwindSafe(|| rtc.handle_input(Input::Timeout(now)))) {
                Ok(Ok(())) => self.drain(conn_id, net),
                Ok(Err(e)) => self.fail(conn_id, &format!("media error: {e}")),
                Err(_) => self.fail(conn_id, "the SFU failed on this participant's media"),
            }
        }
        if now >= self.next_relayout {
            self.next_relayout = now + RELAYOUT_EVERY;
            let ids: Vec<ConnId> = self.peers.keys().copied().collect();
            for id in ids {
                self.relayout(id);
            }
        }
    }

    /// Poll one `Rtc` until it has nothing more to say: send its packets, then act on its
    /// events (which may touch other participants, each drained in turn).
    fn drain(&mut self, conn_id: ConnId, net: &Net) {
        let mut work = std::collections::VecDeque::new();
        self.drain_one(conn_id, net, &mut work);
        while let Some(item) = work.pop_front() {
            match item {
                Work::Forward { from, mid, data } => self.forward(from, mid, data, net, &mut work),
                Work::KeyframeRequest { to, mid, layer } => {
                    self.request_keyframe(to, mid, layer);
                    self.drain_one(to, net, &mut work);
                }
            }
        }
    }

    fn drain_one(&mut self, conn_id: ConnId, net: &Net, work: &mut std::collections::VecDeque<Work>) {
        let Some(peer) = self.peers.get_mut(&conn_id) else { return };
        let Some(rtc) = peer.rtc.as_mut() else { return };
        let mut events = Vec::new();
        let stats = &self.stats;
        let polled = catch_unwind(AssertUnwindSafe(|| loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break Ok(t),
                Ok(Output::Transmit(t)) => {
                    let counter = if net.send(&t) { &stats.packets_out } else { &stats.send_errors };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Output::Event(e)) => events.push(e),
                Err(e) => break Err(e.to_string()),
            }
        }));
        match polled {
            Ok(Ok(t)) => peer.timeout = t,
            Ok(Err(e)) => return self.fail(conn_id, &format!("media error: {e}")),
            Err(_) => return self.fail(conn_id, "the SFU failed on this participant's media"),
        }
        if !rtc.is_alive() {
            return self.fail(conn_id, "the media connection was lost");
        }
        let _ = peer;
        for event in events {
            match event {
                Event::MediaData(data) => {
                    work.push_back(Work::Forward { from: conn_id, mid: data.mid, data });
                }
                Event::KeyframeRequest(req) => {
                    // A subscriber's decoder needs a keyframe: ask the track's publisher.
                    let Some(r) = self.peers.get(&conn_id).and_then(|p| p.receiving.get(&req.mid)) else { continue };
                    let layer = r.forwarding.sending.clone().or_else(|| r.forwarding.target.clone()).flatten();
                    if let Some((to, mid)) = self.source_mid(r.source) {
                        work.push_back(Work::KeyframeRequest { to, mid, layer });
                    }
                }
                Event::EgressBitrateEstimate(str0m::bwe::BweKind::Twcc { estimate, .. }) => {
                    if let Some(peer) = self.peers.get_mut(&conn_id) {
                        peer.budget_bps = Some(estimate.as_u64());
                    }
                }
                Event::IceConnectionStateChange(state) => {
                    tracing::debug!(conn_id, ?state, "SFU ICE state");
                }
                Event::Connected => tracing::info!(conn_id, "SFU media connected"),
                _ => {}
            }
        }
    }

    /// The publisher and m-line of a track, if it is being published.
    fn source_mid(&self, track: RemoteTrack) -> Option<(ConnId, Mid)> {
        let peer = self.peers.get(&track.from)?;
        peer.published.iter().find(|(_, p)| p.kind == track.kind).map(|(mid, _)| (track.from, *mid))
    }

    /// A frame arrived from `from` on `mid`: give it to every subscriber that wants it.
    fn forward(
        &mut self,
        from: ConnId,
        mid: Mid,
        data: MediaData,
        net: &Net,
        work: &mut std::collections::VecDeque<Work>,
    ) {
        self.stats.frames_in.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let Some(publisher) = self.peers.get_mut(&from) else { return };
        let Some(track) = publisher.published.get_mut(&mid) else { return };
        let kind = track.kind;
        let layer: Option<String> = data.rid.map(|r| r.to_string());
        let keyframe = !kind.is_video() || data.is_keyframe();
        let mut new_layer = false;
        if kind.is_video() {
            let size = if keyframe { vp8_keyframe_size(&data.data) } else { None };
            match track.layers.iter_mut().find(|l| l.layer == layer) {
                Some(info) => info.saw_frame(now, data.data.len(), size),
                None => {
                    let mut info = LayerInfo::new(layer.clone(), now);
                    info.saw_frame(now, data.data.len(), size);
                    track.layers.push(info);
                    new_layer = true;
                }
            }
        }
        // A prepared connection not in a call yet forwards nothing.
        let Some(call) = publisher.call.clone() else { return };
        let source = RemoteTrack { from, kind };
        if !publisher.within_publish_limit(data.data.len(), kind, now) {
            self.stats.frames_policed.fetch_add(1, Ordering::Relaxed);
            // Whoever was getting this layer lost a frame its decoder needs: they wait for
            // (and ask for) the next keyframe instead of showing garbage until then.
            let members = self.calls.get(&call).cloned().unwrap_or_default();
            for id in members {
                let Some(sub) = self.peers.get_mut(&id) else { continue };
                for r in sub.receiving.values_mut().filter(|r| r.source == source) {
                    if r.forwarding.sending.as_ref() == Some(&layer) {
                        r.forwarding.sending = None;
                    }
                }
            }
            return;
        }
        let Some(members) = self.calls.get(&call).cloned() else { return };
        if new_layer {
            // A layer started (or came back): the choices may change.
            for id in &members {
                self.relayout(*id);
            }
        }
        let mut want_keyframe = false;
        for sub_id in members.into_iter().filter(|id| *id != from) {
            let Some(sub) = self.peers.get_mut(&sub_id) else { continue };
            let Some(rtc) = sub.rtc.as_mut() else { continue };
            let mut wrote = false;
            let mut failed = None;
            for (out_mid, r) in sub.receiving.iter_mut().filter(|(_, r)| r.source == source) {
                if r.forwarding.target.is_none() && !kind.is_video() {
                    r.forwarding.target = Some(None);
                }
                match r.forwarding.decide(&layer, keyframe) {
                    Decision::Forward { switched } => {
                        let freq = data.time.frequency();
                        let out = r.time.rewrite(data.time.numer(), data.network_time, switched, freq.get() as u64);
                        let time = str0m::media::MediaTime::new(out, freq);
                        let written = catch_unwind(AssertUnwindSafe(|| {
                            let Some(writer) = rtc.writer(*out_mid) else { return Ok(false) };
                            let Some(pt) = writer.match_params(data.params) else { return Ok(false) };
                            writer.write(pt, data.network_time, time, data.data.clone()).map(|_| true)
                        }));
                        match written {
                            Ok(Ok(true)) => {
                                wrote = true;
                                self.stats.frames_forwarded.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(Ok(false)) => {}
                            Ok(Err(e)) => failed = Some(format!("media error: {e}")),
                            Err(_) => failed = Some("the SFU failed writing to this participant".into()),
                        }
                    }
                    Decision::NeedKeyframe => want_keyframe = true,
                    Decision::Drop => {}
                }
                if failed.is_some() {
                    break;
                }
            }
            if let Some(why) = failed {
                self.fail(sub_id, &why);
            } else if wrote {
                self.drain_one(sub_id, net, work);
            }
        }
        if want_keyframe {
            self.request_keyframe(from, mid, layer);
            self.drain_one(from, net, work);
        }
    }

    /// Ask `to` for a keyframe of `layer` on its published `mid`, at most every
    /// [`KEYFRAME_REQUEST_EVERY`].
    fn request_keyframe(&mut self, to: ConnId, mid: Mid, layer: Option<String>) {
        let now = Instant::now();
        let Some(peer) = self.peers.get_mut(&to) else { return };
        let Some(track) = peer.published.get_mut(&mid) else { return };
        if track.last_keyframe_request.get(&layer).is_some_and(|t| now.duration_since(*t) < KEYFRAME_REQUEST_EVERY) {
            return;
        }
        track.last_keyframe_request.insert(layer.clone(), now);
        let Some(rtc) = peer.rtc.as_mut() else { return };
        let rid = layer.as_deref().map(Rid::from);
        let requested = catch_unwind(AssertUnwindSafe(|| {
            rtc.writer(mid).map(|mut w| w.request_keyframe(rid, KeyframeRequestKind::Pli))
        }));
        if let Ok(Some(Ok(()))) = requested {
            self.stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Recompute which layer `conn_id` should get of each video track it receives: its
    /// visible tiles and their sizes, within its bandwidth estimate.
    fn relayout(&mut self, conn_id: ConnId) {
        let now = Instant::now();
        let Some(peer) = self.peers.get(&conn_id) else { return };
        let visible = peer.tiles.len().max(1) as u64;
        let budget = peer.budget_bps.map(|b| b / visible);
        let mut targets = Vec::new();
        for (mid, r) in &peer.receiving {
            if !r.source.kind.is_video() {
                targets.push((*mid, Some(None)));
                continue;
            }
            let tile = peer.tiles.iter().find(|t| t.from == r.source.from && t.kind == r.source.kind).copied();
            // A new m-line the browser has not reported on yet: a small tile until it does.
            let tile = tile.or_else(|| {
                (!r.laid_out).then_some(TileView { from: r.source.from, kind: r.source.kind, width: 160, height: 90 })
            });
            let target = match tile {
                None => None,
                Some(tile) => {
                    let published = self
                        .source_mid(r.source)
                        .and_then(|(from, mid)| self.peers.get(&from)?.published.get(&mid));
                    let layers = published.map(|p| p.layers.as_slice()).unwrap_or(&[]);
                    // A publisher's layers start within moments of each other: while they
                    // start, go by the tile's size rather than step through each layer.
                    let warming = published
                        .and_then(|p| p.layers.iter().map(|l| l.first_seen).min())
                        .is_none_or(|t| now.saturating_duration_since(t) < LAYER_WARMUP);
                    let simulcast = layers.iter().all(|l| l.layer.is_some());
                    match choose_layer(layers, now, tile.height, budget) {
                        Some(layer) if !(warming && simulcast) => Some(layer),
                        _ => Some(Some(simulcast::layer_for_height(tile.height).to_string())),
                    }
                }
            };
            targets.push((*mid, target));
        }
        let Some(peer) = self.peers.get_mut(&conn_id) else { return };
        for (mid, target) in targets {
            if let Some(r) = peer.receiving.get_mut(&mid) {
                r.forwarding.target = target;
            }
        }
    }
}
