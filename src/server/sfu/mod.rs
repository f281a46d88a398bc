//! The SFU: the server's media unit for calls larger than `--p2p-max`. Each participant has
//! one WebRTC connection to it; it receives each person's media once and forwards it to
//! everyone else in the same call.
//!
//! # Layout
//! - `mod.rs` (here): [`SfuHandle`] and its commands, the loop that owns the sockets and
//!   every `Rtc`, and the per-call control (joins, leaves, signalling, failures).
//! - `packets.rs`: the per-packet path: demultiplexing, timeouts, draining each `Rtc`, and
//!   the routing of media and keyframe requests between participants.
//! - `transport.rs`: the sockets (UDP, ICE-TCP) and the candidates announced. `bot.rs`: a synthetic participant (str0m
//!   on loopback UDP) for tests and load runs.
//! - `peer.rs`: one participant: its `Rtc`, offers, candidates, what it publishes/receives.
//! - `simulcast.rs`: the per-subscriber layer choice, keyframe-gated switching and the
//!   timestamp rewriting that keeps each forwarded stream continuous.
//! - `allocate.rs`: spending each subscriber's bandwidth estimate (audio first, then video
//!   by priority; what does not fit is paused) and dynacast's choice of layers to encode,
//!   as pure decisions. `layout.rs` applies them (`call_paused`, `call_layers`).
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

pub mod allocate;
pub mod bot;
mod layout;
mod packets;
mod stats;
mod peer;
pub mod simulcast;
mod transport;
pub use stats::SfuStats;
pub use transport::{FIRST_FRAME_WITHIN, MAX_TCP_CONNECTIONS, MAX_UNROUTED_FRAMES};

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
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
        let candidates = transport::candidate_addrs(local_addr, &config.public_ips);
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

impl Sfu {
    fn new(candidates: Vec<SocketAddr>, tcp_port: Option<u16>, stats: Arc<SfuStats>, max_publish_kbps: u32) -> Sfu {
        Sfu {
            peers: HashMap::new(),
            calls: HashMap::new(),
            routes: HashMap::new(),
            ice_candidates: transport::local_candidates(&candidates, tcp_port),
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
                    let call = peer.call.clone();
                    self.relayout(conn_id);
                    if let Some(call) = call {
                        self.dynacast(&call);
                    }
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

}
