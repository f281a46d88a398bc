//! A synthetic participant for tests and load measurements: a str0m peer on loopback UDP
//! that publishes made-up VP8 frames (optionally in three simulcast layers) and/or
//! receives RTP from the SFU, recording what arrived.
//!
//! Why frames that only look like VP8: the SFU never decodes video, it reads the VP8
//! payload header (keyframe or not, and a keyframe's size). So each synthetic frame carries
//! a real VP8 frame tag and, after it, a marker (`NOOM`, the layer, a frame counter and the
//! keyframe flag) that a receiver can read back from the RTP payload to check what it was
//! given: which layer, whether a switch happened on a keyframe, sequence numbers without
//! gaps.
//!
//! Signalling is the caller's (over the WebSocket, like a browser): [`Bot::offer`] gives
//! the SDP and the `tracks` list, [`Bot::accept_answer`] takes the SFU's answer.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::protocol::{RemoteTrack, TrackKind, TrackMid};

/// The simulcast layers a bot publishes, lowest first, with their frame heights.
pub const LAYERS: [(&str, u32); 3] = [("q", 90), ("h", 180), ("f", 360)];
const MARKER: &[u8; 4] = b"NOOM";

/// A frame as a receiving bot read it back from the RTP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Index into [`LAYERS`] (0 for a track without simulcast).
    pub layer: u8,
    pub frame: u32,
    pub keyframe: bool,
    /// The RTP sequence number (extended) and timestamp it arrived with.
    pub seq: u64,
    pub rtp_time: u32,
}

pub struct Bot {
    pub rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    /// The m-lines and what they are for.
    pub tracks: Vec<TrackMid>,
    /// Keyframes asked for by the SFU, per layer: the next frame of it is one.
    keyframe_wanted: HashMap<Option<String>, bool>,
    frame_counter: u32,
    /// Frames received, per m-line (RTP mode only).
    pub received: HashMap<Mid, Vec<Seen>>,
    pub connected: bool,
    /// How many times the connection was established (ICE + DTLS).
    pub connects: u32,
    /// Size of each synthetic frame in bytes (at least the header and marker).
    pub frame_bytes: usize,
    timeout: Instant,
    buf: Vec<u8>,
}

impl Bot {
    /// A publishing bot (frame level) or, with `receiver`, one that records raw RTP.
    pub fn new(receiver: bool) -> std::io::Result<Bot> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let now = Instant::now();
        let mut rtc = Rtc::builder().set_rtp_mode(receiver).build(now);
        if let Ok(c) = Candidate::host(local, "udp") {
            rtc.add_local_candidate(c);
        }
        Ok(Bot {
            rtc,
            socket,
            local,
            pending: None,
            tracks: Vec::new(),
            keyframe_wanted: HashMap::new(),
            frame_counter: 0,
            received: HashMap::new(),
            connected: false,
            connects: 0,
            frame_bytes: 0,
            timeout: now,
            buf: vec![0; 2000],
        })
    }

    /// An offer publishing `publish` (video in three layers when `simulcast`) and receiving
    /// `subscribe`. Returns the SDP and the `tracks` list for the `signal`.
    pub fn offer(&mut self, publish: &[TrackKind], simulcast: bool, subscribe: &[RemoteTrack]) -> (String, Vec<TrackMid>) {
        let connected = self.rtc.is_connected();
        let mut change = self.rtc.sdp_api();
        let mut tracks = Vec::new();
        for kind in publish {
            let media_kind = if kind.is_video() { MediaKind::Video } else { MediaKind::Audio };
            let layers = (simulcast && *kind == TrackKind::Video).then(|| {
                let mut s = Simulcast::new();
                for (rid, _) in LAYERS {
                    s.add_send_layer(SimulcastLayer::new(rid));
                }
                s
            });
            let mid = change.add_media(media_kind, Direction::SendOnly, Some("bot".into()), None, layers);
            tracks.push(TrackMid { mid: mid.to_string(), kind: *kind, from: None });
        }
        for track in subscribe {
            let media_kind = if track.kind.is_video() { MediaKind::Video } else { MediaKind::Audio };
            let mid = change.add_media(media_kind, Direction::RecvOnly, None, None, None);
            tracks.push(TrackMid { mid: mid.to_string(), kind: track.kind, from: Some(track.from) });
        }
        if publish.is_empty() && subscribe.is_empty() && !connected {
            // Nothing to send or receive yet: a data channel carries the connection (as a
            // browser's prepared connection does).
            change.add_channel("noom".into());
        }
        let (offer, pending) = change.apply().expect("the offer has changes");
        self.pending = Some(pending);
        self.tracks.extend(tracks.iter().cloned());
        (offer.to_sdp_string(), self.tracks.clone())
    }

    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), String> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| e.to_string())?;
        let pending = self.pending.take().ok_or("no offer pending")?;
        self.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| e.to_string())?;
        self.timeout = Instant::now();
        Ok(())
    }

    /// The m-line this bot receives `track` on.
    pub fn mid_of(&self, track: RemoteTrack) -> Option<Mid> {
        self.tracks.iter().find(|t| t.from == Some(track.from) && t.kind == track.kind).map(|t| Mid::from(t.mid.as_str()))
    }

    /// Do all pending I/O and timers without waiting: read every queued datagram, drive
    /// time, send what the `Rtc` wants sent, record what arrived.
    pub fn pump(&mut self) {
        loop {
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, source)) => {
                    let Ok(contents) = self.buf[..n].try_into() else { continue };
                    let input = Input::Receive(
                        Instant::now(),
                        Receive { proto: Protocol::Udp, source, destination: self.local, contents },
                    );
                    if self.rtc.handle_input(input).is_ok() {
                        self.drain();
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
        let now = Instant::now();
        if now >= self.timeout {
            let _ = self.rtc.handle_input(Input::Timeout(now));
        }
        self.drain();
    }

    fn drain(&mut self) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.timeout = t;
                    break;
                }
                Ok(Output::Transmit(t)) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(e)) => self.event(e),
                Err(_) => break,
            }
        }
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::Connected => {
                self.connected = true;
                self.connects += 1;
            }
            Event::KeyframeRequest(req) => {
                self.keyframe_wanted.insert(req.rid.map(|r| r.to_string()), true);
            }
            Event::RtpPacket(p) => {
                let payload = &p.payload[..];
                let Some(at) = payload.windows(4).position(|w| w == MARKER) else { return };
                let m = &payload[at + 4..];
                if m.len() < 6 {
                    return;
                }
                let seen = Seen {
                    layer: m[0],
                    frame: u32::from_be_bytes([m[1], m[2], m[3], m[4]]),
                    keyframe: m[5] == 1,
                    seq: *p.seq_no,
                    rtp_time: p.header.timestamp,
                };
                if let Some(mid) = self.mid_for_ssrc(p.header.ssrc) {
                    self.received.entry(mid).or_default().push(seen);
                }
            }
            _ => {}
        }
    }

    fn mid_for_ssrc(&mut self, ssrc: str0m::rtp::Ssrc) -> Option<Mid> {
        self.rtc.direct_api().stream_rx(&ssrc).map(|s| s.mid())
    }

    /// Publish one frame of video on every layer (or the only one), a keyframe every
    /// `keyframe_every` frames or when the SFU asked for one.
    pub fn send_video_frame(&mut self, keyframe_every: u32) {
        let Some(t) = self.tracks.iter().find(|t| t.from.is_none() && t.kind == TrackKind::Video).cloned() else {
            return;
        };
        let mid = Mid::from(t.mid.as_str());
        self.frame_counter += 1;
        let n = self.frame_counter;
        let now = Instant::now();
        let time = MediaTime::from_90khz(n as u64 * 3000);
        let simulcast = self.rtc.media(mid).is_some_and(|m| matches!(m.rids_tx(), str0m::media::Rids::Specific(r) if !r.is_empty()));
        let layers: Vec<(Option<&str>, u8, u32)> = if simulcast {
            LAYERS.iter().enumerate().map(|(i, (rid, h))| (Some(*rid), i as u8, *h)).collect()
        } else {
            vec![(None, 0, LAYERS[2].1)]
        };
        for (rid, index, height) in layers {
            let wanted = self.keyframe_wanted.remove(&rid.map(str::to_string)).unwrap_or(false);
            let keyframe = n == 1 || n % keyframe_every.max(1) == 0 || wanted;
            let mut frame = synthetic_frame(index, n, keyframe, height);
            if frame.len() < self.frame_bytes {
                frame.resize(self.frame_bytes, 0xab);
            }
            let Some(writer) = self.rtc.writer(mid) else { return };
            let Some(pt) = writer.payload_params().find(|p| p.spec().codec == Codec::Vp8).map(|p| p.pt()) else {
                return;
            };
            let writer = match rid {
                Some(r) => writer.rid(Rid::from(r)),
                None => writer,
            };
            if writer.write(pt, now, time, frame).is_ok() {
                self.drain();
            }
        }
    }

    /// Frames published so far (per layer).
    pub fn frames_sent(&self) -> u32 {
        self.frame_counter
    }

    /// Send `count` datagrams of garbage at `to` (a misbehaving client).
    pub fn send_garbage(&self, to: SocketAddr, count: usize) {
        for i in 0..count {
            let _ = self.socket.send_to(&[0x80 | (i as u8 & 0x3f), 0xff, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9], to);
        }
    }

    /// Pump for `d`, sleeping a millisecond between rounds (async: the server may run on
    /// the same runtime).
    pub async fn pump_for(bots: &mut [&mut Bot], d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            for b in bots.iter_mut() {
                b.pump();
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A VP8 frame tag (keyframe with start code and size, or inter frame) followed by the
/// marker a receiving bot reads back.
pub fn synthetic_frame(layer: u8, n: u32, keyframe: bool, height: u32) -> Vec<u8> {
    let width = height * 16 / 9;
    let mut f = if keyframe {
        let mut f = vec![0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a];
        f.extend_from_slice(&(width as u16).to_le_bytes());
        f.extend_from_slice(&(height as u16).to_le_bytes());
        f
    } else {
        vec![0x11, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0]
    };
    f.extend_from_slice(MARKER);
    f.push(layer);
    f.extend_from_slice(&n.to_be_bytes());
    f.push(keyframe as u8);
    f.resize(f.len() + 40 + 20 * layer as usize, 0xab);
    f
}
