//! The built-in TURN server: how a browser whose network blocks UDP, or that must not show
//! its own address (`--ice-transport-policy relay`), still reaches the SFU or another
//! browser. It listens on UDP and TCP (`--turn-addr`, 3478) and, when Noom serves HTTPS, on
//! TLS (`--turn-tls-addr`) with the same certificate; it relays over UDP.
//!
//! # Layout
//! - `core.rs`: the rules (authentication, allocations, permissions, channels, the peer
//!   policy), sans-I/O: bytes and a clock in, [`core::Out`] out; unit-tested.
//! - `credentials.rs`: the TURN REST scheme (`expiry:tag`, HMAC-SHA1 of a secret), shared
//!   with the hub, which hands each connection its own credential.
//! - here: the loop on its own thread (as the SFU's), the sockets, stream framing.
//!
//! Why its own thread: relayed media is a steady packet stream, as the SFU's is; on its own
//! thread it can neither delay chat nor be delayed by a busy runtime.
//!
//! Why these limits: a TURN port is open to anyone. A TCP or TLS client must send a whole
//! message within [`FIRST_MESSAGE_WITHIN`] and nothing that is not STUN or ChannelData
//! (the connection is closed); at most [`MAX_STREAMS`] streams and `max_allocations`
//! relays at once; unauthenticated requests get a challenge and cost one small answer.

pub mod core;
mod policy;
mod requests;
mod stun;
pub mod credentials;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, Semaphore};
use turn_types::channel::ChannelData;
use turn_types::stun::message::MessageHeader;

use self::core::{Client, Clock, Out, Policy, Transport, TurnCore};

/// TCP and TLS clients at once.
pub const MAX_STREAMS: usize = 4096;
/// A stream client must send a whole message within this.
pub const FIRST_MESSAGE_WITHIN: Duration = Duration::from_secs(10);
/// A stream that sends nothing for this long is closed (allocations are refreshed every
/// few minutes, and media flows far more often).
const STREAM_IDLE: Duration = Duration::from_secs(600);
/// Bytes a stream client may have sent without completing a message.
const MAX_PARTIAL: usize = 4 + 65_535 + 3;

/// Where the TURN server listens and what it may relay to.
#[derive(Clone)]
pub struct TurnConfig {
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    /// TURN over TLS, with the HTTPS server's TLS settings.
    pub tls: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
    /// Where relay sockets are bound, and the address announced for them (behind NAT:
    /// the public one).
    pub relay_ip: IpAddr,
    pub announced_ip: Option<IpAddr>,
    pub secret: Vec<u8>,
    pub policy: Policy,
    pub max_allocations: usize,
}

/// The running TURN server's addresses.
#[derive(Debug, Clone)]
pub struct TurnHandle {
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    pub tls: Option<SocketAddr>,
}

enum Event {
    StreamOpened { client: Client, writer: mpsc::Sender<Vec<u8>> },
    StreamMessage { client: Client, data: Vec<u8> },
    StreamClosed { client: Client },
    Peer { relay: SocketAddr, peer: SocketAddr, data: Vec<u8> },
}

/// Bind the listeners and start the server on its own thread.
pub fn spawn(config: TurnConfig) -> std::io::Result<TurnHandle> {
    let bind_udp = config.udp.map(std::net::UdpSocket::bind).transpose()?;
    let bind_tcp = config.tcp.map(std::net::TcpListener::bind).transpose()?;
    let bind_tls = config.tls.as_ref().map(|(addr, _)| std::net::TcpListener::bind(addr)).transpose()?;
    for s in bind_tcp.iter().chain(bind_tls.iter()) {
        s.set_nonblocking(true)?;
    }
    if let Some(u) = &bind_udp {
        u.set_nonblocking(true)?;
    }
    let handle = TurnHandle {
        udp: bind_udp.as_ref().map(|s| s.local_addr()).transpose()?,
        tcp: bind_tcp.as_ref().map(|s| s.local_addr()).transpose()?,
        tls: bind_tls.as_ref().map(|s| s.local_addr()).transpose()?,
    };
    tracing::info!(udp = ?handle.udp, tcp = ?handle.tcp, tls = ?handle.tls, "TURN server listening");
    let tls_config = config.tls.as_ref().map(|(_, c)| c.clone());
    crate::server::runtime::spawn_thread("noom-turn", async move {
        let (events_tx, events) = mpsc::channel(4096);
        if let Some(l) = bind_tcp.and_then(|l| TcpListener::from_std(l).ok()) {
            tokio::spawn(accept_streams(l, None, events_tx.clone()));
        }
        if let (Some(l), Some(c)) = (bind_tls.and_then(|l| TcpListener::from_std(l).ok()), tls_config) {
            tokio::spawn(accept_streams(l, Some(tokio_rustls::TlsAcceptor::from(c)), events_tx.clone()));
        }
        let udp = bind_udp.and_then(|u| UdpSocket::from_std(u).ok()).map(Arc::new);
        run(config, udp, events, events_tx).await;
    })?;
    Ok(handle)
}

fn clock() -> Clock {
    let unix = crate::server::wire::now_ms() / 1000;
    Clock { now: Instant::now(), unix }
}

struct Relay {
    /// Sends go through the std socket: a syscall each time. (tokio's `try_send_to` on a
    /// socket registered a moment ago may answer "would block" before its reactor has
    /// seen it writable, and the first datagrams of a new relay would be lost.)
    sender: std::net::UdpSocket,
    task: tokio::task::JoinHandle<()>,
}

async fn run(config: TurnConfig, udp: Option<Arc<UdpSocket>>, mut events: mpsc::Receiver<Event>, events_tx: mpsc::Sender<Event>) {
    let mut nonce_key = [0u8; 32];
    getrandom::fill(&mut nonce_key).expect("the OS random number generator");
    let mut core = TurnCore::new(config.secret.clone(), nonce_key, config.policy.clone(), config.max_allocations, Instant::now());
    let mut streams: HashMap<Client, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut relays: HashMap<SocketAddr, Relay> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    let mut out = Vec::new();
    let mut next_expiry = Instant::now();
    loop {
        let recv_udp = async {
            match &udp {
                Some(u) => u.recv_from(&mut buf).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = recv_udp => match received {
                Ok((n, from)) => {
                    let client = Client { transport: Transport::Udp, addr: from };
                    core.from_client(clock(), client, &buf[..n], &mut out);
                }
                Err(e) => tracing::debug!("TURN UDP recv: {e}"),
            },
            event = events.recv() => match event {
                Some(Event::StreamOpened { client, writer }) => {
                    streams.insert(client, writer);
                }
                Some(Event::StreamMessage { client, data }) => core.from_client(clock(), client, &data, &mut out),
                Some(Event::StreamClosed { client }) => {
                    streams.remove(&client);
                    core.client_gone(client, &mut out);
                }
                Some(Event::Peer { relay, peer, data }) => core.from_peer(clock(), relay, peer, &data, &mut out),
                None => return,
            },
            _ = tokio::time::sleep_until(next_expiry.into()) => {
                next_expiry = core.expire(clock(), &mut out);
            }
        }
        for o in out.drain(..) {
            match o {
                Out::ToClient { client, data } => match client.transport {
                    Transport::Udp => {
                        if let Some(u) = &udp {
                            let _ = u.try_send_to(&data, client.addr);
                        }
                    }
                    Transport::Tcp | Transport::Tls => {
                        if let Some(w) = streams.get(&client) {
                            let _ = w.try_send(data);
                        }
                    }
                },
                Out::ToPeer { relay, peer, data } => {
                    if let Some(r) = relays.get(&relay) {
                        let _ = r.sender.send_to(&data, peer);
                    }
                }
                Out::Allocate { client } => {
                    let bound = bind_relay(config.relay_ip, &events_tx).await;
                    let result = bound.map(|(sender, task)| {
                        let addr = sender.local_addr().unwrap_or_else(|_| SocketAddr::new(config.relay_ip, 0));
                        relays.insert(addr, Relay { sender, task });
                        (addr, SocketAddr::new(config.announced_ip.unwrap_or(addr.ip()), addr.port()))
                    });
                    let mut answer = Vec::new();
                    core.allocated(clock(), client, result, &mut answer);
                    // The answer (and a release, if the client vanished meanwhile) at once.
                    for a in answer {
                        match a {
                            Out::ToClient { client, data } => match client.transport {
                                Transport::Udp => {
                                    if let Some(u) = &udp {
                                        let _ = u.try_send_to(&data, client.addr);
                                    }
                                }
                                _ => {
                                    if let Some(w) = streams.get(&client) {
                                        let _ = w.try_send(data);
                                    }
                                }
                            },
                            Out::Release { relay } => {
                                if let Some(r) = relays.remove(&relay) {
                                    r.task.abort();
                                }
                            }
                            _ => {}
                        }
                    }
                    next_expiry = Instant::now();
                }
                Out::Release { relay } => {
                    if let Some(r) = relays.remove(&relay) {
                        r.task.abort();
                    }
                }
            }
        }
        metrics::gauge!("noom_turn_allocations").set(core.allocations() as f64);
    }
}

/// A relay socket on `ip` and the task that hands what peers send it to the loop.
async fn bind_relay(ip: IpAddr, events: &mpsc::Sender<Event>) -> std::io::Result<(std::net::UdpSocket, tokio::task::JoinHandle<()>)> {
    let socket = std::net::UdpSocket::bind(SocketAddr::new(ip, 0))?;
    socket.set_nonblocking(true)?;
    let sender = socket.try_clone()?;
    let reader = UdpSocket::from_std(socket)?;
    let relay = reader.local_addr()?;
    let events = events.clone();
    let task = tokio::spawn(async move {
        // Media datagrams fit in 2 KiB (browsers keep under the path MTU); larger ones are cut.
        let mut buf = vec![0u8; 2048];
        loop {
            match reader.recv_from(&mut buf).await {
                Ok((n, peer)) => {
                    // Full: dropped, as the network would drop it.
                    let _ = events.try_send(Event::Peer { relay, peer, data: buf[..n].to_vec() });
                }
                Err(e) => tracing::debug!(%relay, "TURN relay recv: {e}"),
            }
        }
    });
    Ok((sender, task))
}

async fn accept_streams(listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>, events: mpsc::Sender<Event>) {
    let slots = Arc::new(Semaphore::new(MAX_STREAMS));
    let transport = if tls.is_some() { Transport::Tls } else { Transport::Tcp };
    loop {
        let (stream, addr) = tokio::select! {
            _ = events.closed() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("TURN accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("noom_turn_refused_total", "reason" => "streams").increment(1);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (events, tls) = (events.clone(), tls.clone());
        let client = Client { transport, addr };
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => serve_stream(stream, client, events).await,
                Some(acceptor) => match tokio::time::timeout(FIRST_MESSAGE_WITHIN, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => serve_stream(s, client, events).await,
                    _ => tracing::debug!(%addr, "TURN TLS handshake failed or stalled"),
                },
            }
        });
    }
}

/// Where the first complete message in `buf` ends (with its padding), `Ok(None)` if more
/// bytes are needed, `Err` if it is neither STUN nor ChannelData (nor STUN when
/// `stun_only`: a stream's first message, before any channel can exist).
pub fn frame_end(buf: &[u8], stun_only: bool) -> Result<Option<usize>, ()> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let end = if buf[0] & 0xc0 == 0 {
        // The magic cookie tells STUN from anything else as soon as it can be read.
        if buf.len() >= 8 && buf[4..8] != [0x21, 0x12, 0xa4, 0x42] {
            return Err(());
        }
        if buf.len() < MessageHeader::LENGTH {
            return Ok(None);
        }
        let header = MessageHeader::from_bytes(&buf[..MessageHeader::LENGTH]).map_err(|_| ())?;
        MessageHeader::LENGTH + header.data_length() as usize
    } else if !stun_only && (0x40..=0x4f).contains(&buf[0]) {
        // Channel numbers are 0x4000-0x4FFF (RFC 8656 §12).
        let (_, len) = ChannelData::parse_header(buf).map_err(|_| ())?;
        (4 + len).next_multiple_of(4)
    } else {
        return Err(());
    };
    Ok((buf.len() >= end).then_some(end))
}

async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(stream: S, client: Client, events: mpsc::Sender<Event>) {
    let (mut read, mut write) = tokio::io::split(stream);
    let (writer, mut queue) = mpsc::channel::<Vec<u8>>(512);
    if events.send(Event::StreamOpened { client, writer }).await.is_err() {
        return;
    }
    let reading = async {
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        let mut within = FIRST_MESSAGE_WITHIN;
        loop {
            let n = match tokio::time::timeout(within, read.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => n,
                Err(_) => {
                    metrics::counter!("noom_turn_refused_total", "reason" => "timeout").increment(1);
                    return;
                }
            };
            buf.extend_from_slice(&chunk[..n]);
            loop {
                match frame_end(&buf, within == FIRST_MESSAGE_WITHIN) {
                    Ok(Some(end)) => {
                        within = STREAM_IDLE;
                        let data = buf.drain(..end).collect();
                        if events.send(Event::StreamMessage { client, data }).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) if buf.len() <= MAX_PARTIAL => break,
                    _ => {
                        metrics::counter!("noom_turn_refused_total", "reason" => "garbage").increment(1);
                        tracing::debug!(addr = %client.addr, "TURN stream sent something that is not TURN: closed");
                        return;
                    }
                }
            }
        }
    };
    let writing = async {
        while let Some(data) = queue.recv().await {
            if write.write_all(&data).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = reading => {}
        _ = writing => {}
    }
    let _ = events.send(Event::StreamClosed { client }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_framing_finds_stun_and_padded_channel_data_and_refuses_the_rest() {
        // A STUN header announcing 8 bytes of attributes.
        let mut stun = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
        stun.extend_from_slice(&[0; 12]);
        assert_eq!(frame_end(&stun, true), Ok(None), "needs its attributes");
        stun.extend_from_slice(&[0; 8]);
        assert_eq!(frame_end(&stun, true), Ok(Some(28)));
        // ChannelData of 5 bytes takes 12 with its padding.
        let channel = core::channel_data(Transport::Tcp, 0x4001, b"abcde");
        assert_eq!(frame_end(&channel[..9], false), Ok(None));
        assert_eq!(frame_end(&channel, false), Ok(Some(12)));
        assert_eq!(frame_end(&channel, true), Err(()), "no channel before the first STUN message");
        assert_eq!(frame_end(b"GET / HTTP/1.1\r\n", true), Err(()));
        assert_eq!(frame_end(&[0x16, 0x03, 0x01, 0x00, 0x10, 0x01, 0x00, 0x00, 0x0c], true), Err(()), "a TLS hello on the TCP port");
        assert_eq!(frame_end(&[0x80, 0x60, 0, 1], false), Err(()), "RTP is not TURN");
    }
}
