//! The SFU's ways in and out: its UDP socket and ICE-TCP connections.
//!
//! Why ICE over TCP: many office, hotel and mobile networks block UDP; a browser behind
//! one can still open TCP to the SFU's passive TCP candidate (RFC 6544) and carry the same
//! STUN, DTLS and SRTP over it, each packet framed with a 2-byte length (RFC 4571, done by
//! tokio-util's `LengthDelimitedCodec`). str0m takes TCP packets like UDP ones
//! (`Protocol::Tcp`); the listener, the framing and the connections are ours.
//!
//! Why the connections are tasks that talk to the SFU loop through channels: the loop owns
//! every `Rtc` and never awaits a socket. A connection task reads frames and hands them to
//! the loop ([`TcpEvent`]); the loop sends a packet by queueing it to the connection's
//! writer ([`Net::send`]), dropping it when that queue is full (as UDP would drop it)
//! rather than letting one slow link hold the loop.
//!
//! Why the limits: an ICE-TCP port is open to anyone. At most [`MAX_TCP_CONNECTIONS`] at
//! once; a connection must send its first frame within [`FIRST_FRAME_WITHIN`] and some
//! frame every [`IDLE_TIMEOUT`] (browsers send ICE consent checks every few seconds);
//! one whose frames no participant's `Rtc` accepts ([`MAX_UNROUTED_FRAMES`]) is closed.
//! Garbage and half-open connections thus cost the attacker a connection each, and the
//! server a task and a small buffer for a few seconds.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use str0m::net::{Protocol, Transmit};
use str0m::Candidate;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// ICE-TCP connections open at once; more are closed on arrival.
pub const MAX_TCP_CONNECTIONS: usize = 2048;
/// A new connection must send a whole frame within this.
pub const FIRST_FRAME_WITHIN: Duration = Duration::from_secs(5);
/// A connection that sends nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Frames that no participant accepts before the connection is closed as not ours.
pub const MAX_UNROUTED_FRAMES: u32 = 16;
/// Packets waiting to be written to one connection; beyond it they are dropped.
const WRITE_QUEUE: usize = 512;

/// What the TCP side tells the SFU loop.
#[derive(Debug)]
pub enum TcpEvent {
    Opened { remote: SocketAddr, writer: mpsc::Sender<Vec<u8>> },
    Frame { remote: SocketAddr, data: Vec<u8> },
    Closed { remote: SocketAddr },
}

/// One open ICE-TCP connection, as the loop sees it.
struct TcpConn {
    writer: mpsc::Sender<Vec<u8>>,
    /// Frames from it that no `Rtc` accepted yet (reset by one that was).
    unrouted: u32,
}

/// The sockets the SFU sends on.
pub struct Net {
    pub udp: Arc<UdpSocket>,
    tcp: HashMap<SocketAddr, TcpConn>,
}

impl Net {
    pub fn new(udp: Arc<UdpSocket>) -> Net {
        Net { udp, tcp: HashMap::new() }
    }

    /// Send one packet str0m produced; false if it was dropped.
    pub fn send(&self, t: &Transmit) -> bool {
        match t.proto {
            Protocol::Udp => self.udp.try_send_to(&t.contents, t.destination).is_ok(),
            Protocol::Tcp => self.tcp.get(&t.destination).is_some_and(|c| c.writer.try_send(t.contents.to_vec()).is_ok()),
            _ => false,
        }
    }

    pub fn opened(&mut self, remote: SocketAddr, writer: mpsc::Sender<Vec<u8>>) {
        self.tcp.insert(remote, TcpConn { writer, unrouted: 0 });
    }

    pub fn closed(&mut self, remote: SocketAddr) {
        self.tcp.remove(&remote);
    }

    /// Note whether a frame from `remote` reached a participant; closes the connection
    /// (by dropping its writer) once too many did not.
    pub fn routed(&mut self, remote: SocketAddr, routed: bool) {
        let Some(conn) = self.tcp.get_mut(&remote) else { return };
        if routed {
            conn.unrouted = 0;
            return;
        }
        conn.unrouted += 1;
        if conn.unrouted >= MAX_UNROUTED_FRAMES {
            tracing::debug!(%remote, "ICE-TCP connection sends nothing any participant accepts: closed");
            metrics::counter!("noom_sfu_tcp_refused_total", "reason" => "unrouted").increment(1);
            self.tcp.remove(&remote);
        }
    }

    /// ICE-TCP connections open now.
    pub fn tcp_connections(&self) -> usize {
        self.tcp.len()
    }
}

/// Accept ICE-TCP connections on `listener` and run each as a task that reports to
/// `events`. Ends when the SFU loop is gone.
pub fn spawn_tcp(listener: TcpListener, events: mpsc::Sender<TcpEvent>) {
    let slots = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let (stream, remote) = tokio::select! {
                _ = events.closed() => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors, most likely: let some close first.
                        tracing::warn!("ICE-TCP accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                metrics::counter!("noom_sfu_tcp_refused_total", "reason" => "too_many").increment(1);
                tracing::debug!(%remote, "{MAX_TCP_CONNECTIONS} ICE-TCP connections open: closed");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let events = events.clone();
            tokio::spawn(async move {
                let _slot = slot;
                serve_connection(stream, remote, events).await;
            });
        }
    });
}

/// The RFC 4571 framing: a 2-byte big-endian length, then the packet.
fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().length_field_length(2).max_frame_length(u16::MAX as usize).new_codec()
}

async fn serve_connection(stream: tokio::net::TcpStream, remote: SocketAddr, events: mpsc::Sender<TcpEvent>) {
    let (read, write) = stream.into_split();
    let mut frames = FramedRead::new(read, codec());
    let mut sink = FramedWrite::new(write, codec());
    let (writer, mut queue) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    if events.send(TcpEvent::Opened { remote, writer }).await.is_err() {
        return;
    }
    let reading = async {
        let mut within = FIRST_FRAME_WITHIN;
        loop {
            match tokio::time::timeout(within, frames.next()).await {
                Ok(Some(Ok(frame))) => {
                    within = IDLE_TIMEOUT;
                    if events.send(TcpEvent::Frame { remote, data: frame.to_vec() }).await.is_err() {
                        return;
                    }
                }
                Ok(Some(Err(e))) => return tracing::debug!(%remote, "ICE-TCP framing: {e}"),
                Ok(None) => return,
                Err(_) => {
                    metrics::counter!("noom_sfu_tcp_refused_total", "reason" => "timeout").increment(1);
                    return tracing::debug!(%remote, "ICE-TCP connection silent for {within:?}: closed");
                }
            }
        }
    };
    let writing = async {
        // Ends when the loop drops the writer (the connection is refused or the SFU stops).
        while let Some(packet) = queue.recv().await {
            if sink.feed(bytes::Bytes::from(packet)).await.is_err() {
                return;
            }
            while let Ok(more) = queue.try_recv() {
                if sink.feed(bytes::Bytes::from(more)).await.is_err() {
                    return;
                }
            }
            if SinkExt::<bytes::Bytes>::flush(&mut sink).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = reading => {}
        _ = writing => {}
    }
    let _ = events.send(TcpEvent::Closed { remote }).await;
}

/// The SFU's ICE candidates: a UDP host candidate at each address, and, with an ICE-TCP
/// port, a passive TCP one beside it (browsers connect to it; the SFU never dials out).
pub fn local_candidates(addrs: &[SocketAddr], tcp_port: Option<u16>) -> Vec<Candidate> {
    let mut out = Vec::new();
    for addr in addrs {
        match Candidate::host(*addr, "udp") {
            Ok(c) => out.push(c),
            Err(e) => tracing::warn!("SFU candidate {addr} refused: {e}"),
        }
        if let Some(port) = tcp_port {
            let tcp = SocketAddr::new(addr.ip(), port);
            match Candidate::builder().tcp().host(tcp).tcptype(str0m::net::TcpType::Passive).build() {
                Ok(c) => out.push(c),
                Err(e) => tracing::warn!("SFU TCP candidate {tcp} refused: {e}"),
            }
        }
    }
    out
}

/// The addresses announced as host candidates: the configured public ones, else the bound
/// address, else (bound to 0.0.0.0) every address of the machine's interfaces.
pub(super) fn candidate_addrs(bound: SocketAddr, public_ips: &[IpAddr]) -> Vec<SocketAddr> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    }

    #[tokio::test]
    async fn frames_are_read_and_written_with_a_two_byte_length() {
        let (listener, addr) = pair().await;
        let (tx, mut rx) = mpsc::channel(16);
        spawn_tcp(listener, tx);
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let Some(TcpEvent::Opened { remote, writer }) = rx.recv().await else { panic!("no open") };
        assert_eq!(remote, client.local_addr().unwrap());
        // Two frames in one write, the second split across writes.
        client.write_all(&[0, 3, b'a', b'b', b'c', 0, 2, b'x']).await.unwrap();
        client.write_all(b"y").await.unwrap();
        let mut got = Vec::new();
        for _ in 0..2 {
            match rx.recv().await {
                Some(TcpEvent::Frame { data, .. }) => got.push(data),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, [b"abc".to_vec(), b"xy".to_vec()]);
        writer.send(b"hello".to_vec()).await.unwrap();
        let mut head = [0u8; 7];
        client.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"\x00\x05hello");
        // The loop dropping the writer closes the connection.
        drop(writer);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(matches!(rx.recv().await, Some(TcpEvent::Closed { .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_closed_after_the_first_frame_deadline() {
        let (listener, addr) = pair().await;
        let (tx, mut rx) = mpsc::channel(16);
        spawn_tcp(listener, tx);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(matches!(rx.recv().await, Some(TcpEvent::Opened { .. })));
        // Time moves on its own while everything waits (paused clock).
        assert!(matches!(rx.recv().await, Some(TcpEvent::Closed { .. })));
    }

    #[tokio::test]
    async fn frames_no_participant_accepts_close_the_connection() {
        let udp = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let mut net = Net::new(udp);
        let remote: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        let (writer, _queue) = mpsc::channel(1);
        net.opened(remote, writer);
        for _ in 0..MAX_UNROUTED_FRAMES - 1 {
            net.routed(remote, false);
        }
        net.routed(remote, true);
        for _ in 0..MAX_UNROUTED_FRAMES - 1 {
            net.routed(remote, false);
        }
        assert_eq!(net.tcp_connections(), 1, "a routed frame starts the count again");
        net.routed(remote, false);
        assert_eq!(net.tcp_connections(), 0);
    }
}
