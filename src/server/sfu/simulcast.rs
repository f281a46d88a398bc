//! Simulcast, per subscriber: which layer of a video track each subscriber gets, when it
//! may switch, and how the stream it sees stays one continuous stream.
//!
//! Why a layer per subscriber: a publisher sends its camera up to three times (`rid` q, h,
//! f: a quarter, half and full resolution). Someone who shows that camera as a thumbnail
//! needs the quarter; someone who pinned it needs the full one; a tile that is not on screen
//! needs nothing. The subscriber's browser reports its visible tiles and their sizes
//! (`call_layout`), and its bandwidth estimate (TWCC) caps the choice.
//!
//! Why switches wait for a keyframe: a decoder can only start a new layer at a keyframe of
//! that layer; switching on any other frame shows garbage until the next one. So the
//! subscriber keeps getting the old layer until a keyframe of the new one arrives (asked for
//! with a throttled PLI), then switches on exactly that frame.
//!
//! Why timestamps are rewritten: each layer has its own RTP timestamp base, so the forwarded
//! stream gets an offset chosen at every switch that makes it continue where it left off.
//! Sequence numbers and VP8 picture ids need no rewriting here: the SFU forwards *frames*
//! and str0m packetizes them anew for each subscriber, numbering every outgoing stream
//! itself, so a receiver always sees one gapless sequence.
//!
//! Everything here is plain data and decisions, unit-tested without any network.

use std::time::{Duration, Instant};

/// A simulcast layer: its `rid`, or `None` for a track sent without simulcast.
pub type Layer = Option<String>;

/// Rough bitrate of each layer when nothing was measured yet (bits per second).
const DEFAULT_LAYER_BPS: [u64; 3] = [150_000, 500_000, 1_500_000];
/// A layer not seen for this long is not offered to subscribers any more (the publisher
/// stopped sending it: bandwidth, CPU, or a camera too small for three layers).
pub const LAYER_STALE: Duration = Duration::from_secs(2);
/// A layer the publisher was told to encode again but did not send (its uplink or CPU
/// cannot) is offered again only after this long, so it is not asked for every round.
pub const RETRY_UNSTARTED: Duration = Duration::from_secs(10);
/// Audio's cost when nothing was measured yet (bits per second, headers included).
pub const AUDIO_DEFAULT_BPS: u64 = 60_000;
/// What packet headers add (IP, UDP, SRTP, RTP and its extensions): about this many bytes
/// per packet, with a packet per frame and one more per this many bytes of a frame.
const HEADER_BYTES: u64 = 60;
const PACKET_BYTES: u64 = 1100;

/// Why a layer is not being encoded: the SFU told the publisher to stop it (dynacast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suspended {
    pub at: Instant,
    /// Whether it was arriving when stopped: then it can surely be started again.
    pub was_live: bool,
}

/// The order of the layers a browser may send, lowest first.
pub fn rank(layer: &Layer) -> u8 {
    match layer.as_deref() {
        Some("q") => 0,
        None | Some("h") => 1,
        Some("f") => 2,
        Some(_) => 1,
    }
}

/// The layer to start with for a tile `height` device pixels high, before the publisher's
/// layers are known.
pub fn layer_for_height(height: u32) -> &'static str {
    match height {
        0..=200 => "q",
        201..=400 => "h",
        _ => "f",
    }
}

/// What the SFU knows of one layer of a published video track.
#[derive(Debug, Clone)]
pub struct LayerInfo {
    pub layer: Layer,
    /// Frame size from the last keyframe (VP8 keyframes carry it), if one was seen.
    pub height: Option<u32>,
    pub width: Option<u32>,
    pub last_seen: Instant,
    pub first_seen: Instant,
    /// Bytes in the current one-second window, and the rate measured over the
    /// last one (headers included, see [`LayerInfo::cost`]).
    window_start: Instant,
    window_bytes: u64,
    pub bps: Option<u64>,
    /// Set while the publisher is told not to encode this layer (dynacast).
    pub suspended: Option<Suspended>,
}

impl LayerInfo {
    pub fn new(layer: Layer, now: Instant) -> LayerInfo {
        LayerInfo {
            layer,
            height: None,
            width: None,
            last_seen: now,
            first_seen: now,
            window_start: now,
            window_bytes: 0,
            bps: None,
            suspended: None,
        }
    }

    /// Whether the layer is arriving now.
    pub fn live(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_seen) < LAYER_STALE
    }

    /// Whether a subscriber may be given this layer: it is arriving, or the SFU stopped it
    /// and can start it again (one that did not start when last asked waits a while).
    pub fn available(&self, now: Instant) -> bool {
        self.live(now)
            || self.suspended.is_some_and(|s| s.was_live || now.saturating_duration_since(s.at) >= RETRY_UNSTARTED)
    }

    /// The publisher was told to stop (`false`) or to encode again (`true`) this layer.
    pub fn set_encoding(&mut self, on: bool, now: Instant) {
        match (on, self.suspended) {
            (false, None) => self.suspended = Some(Suspended { at: now, was_live: self.live(now) }),
            (true, Some(_)) => {
                self.suspended = None;
                // Give it the time a layer has to show up before it counts as stopped.
                self.last_seen = now;
            }
            _ => {}
        }
    }

    /// Account for one frame of this layer.
    pub fn saw_frame(&mut self, now: Instant, bytes: usize, size: Option<(u32, u32)>) {
        self.last_seen = now;
        if let Some((w, h)) = size {
            self.width = Some(w);
            self.height = Some(h);
        }
        let bytes = bytes as u64;
        self.window_bytes += bytes + HEADER_BYTES * (1 + bytes / PACKET_BYTES);
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= Duration::from_secs(1) {
            self.bps = Some(self.window_bytes * 8 * 1000 / elapsed.as_millis().max(1) as u64);
            self.window_bytes = 0;
            self.window_start = now;
        }
    }

    /// What forwarding this layer costs (bits per second, headers included): measured over
    /// the last second, else a typical figure for its rank.
    pub fn cost(&self) -> u64 {
        self.bps.unwrap_or(DEFAULT_LAYER_BPS[rank(&self.layer) as usize])
    }
}

/// The frame size in a VP8 keyframe's header (RFC 6386 §9.1), if `frame` is one.
pub fn vp8_keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    if frame.len() < 10 || frame[0] & 0x01 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let h = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    Some((w as u32, h as u32))
}

/// Pick the layer a subscriber should get of a track shown `tile_height` device pixels
/// high, from the layers the publisher is sending now (or was told to stop and can start
/// again), within `budget_bps` if known.
/// `None` when nothing is being sent.
pub fn choose_layer(layers: &[LayerInfo], now: Instant, tile_height: u32, budget_bps: Option<u64>) -> Option<Layer> {
    let mut live: Vec<&LayerInfo> = layers.iter().filter(|l| l.available(now)).collect();
    live.sort_by_key(|l| rank(&l.layer));
    if live.is_empty() {
        return None;
    }
    // The smallest layer tall enough for the tile (by rank when sizes are unknown). Three
    // quarters of the tile's height is enough: so slight an upscale does not show, while
    // the next layer up costs about three times the bandwidth.
    let wanted_rank = rank(&Some(layer_for_height(tile_height).to_string()));
    let mut pick = live
        .iter()
        .position(|l| match l.height {
            Some(h) => h * 4 >= tile_height * 3,
            None => rank(&l.layer) >= wanted_rank,
        })
        .unwrap_or(live.len() - 1);
    if let Some(budget) = budget_bps {
        while pick > 0 && live[pick].cost() > budget {
            pick -= 1;
        }
    }
    Some(live[pick].layer.clone())
}

/// What to do with one incoming frame for one subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward it. `switched`: it starts a new layer (rewrite the timestamp base).
    Forward { switched: bool },
    /// Drop it.
    Drop,
    /// Drop it, and ask the publisher for a keyframe of the target layer.
    NeedKeyframe,
}

/// One subscriber's forwarding state for one video (or audio) track.
#[derive(Debug, Clone, Default)]
pub struct Forwarding {
    /// The layer the subscriber is receiving now (`None`: nothing yet, or paused).
    pub sending: Option<Layer>,
    /// The layer it should receive (`None`: paused, the tile is not visible).
    pub target: Option<Layer>,
}

impl Forwarding {
    /// Decide for a frame of `layer`. A switch happens only on a keyframe of the target.
    pub fn decide(&mut self, layer: &Layer, keyframe: bool) -> Decision {
        let Some(target) = &self.target else {
            self.sending = None;
            return Decision::Drop;
        };
        if target == layer {
            if self.sending.as_ref() == Some(layer) {
                return Decision::Forward { switched: false };
            }
            if keyframe {
                self.sending = Some(layer.clone());
                return Decision::Forward { switched: true };
            }
            return Decision::NeedKeyframe;
        }
        if self.sending.as_ref() == Some(layer) {
            // Keep the old layer going until the new one can start.
            return Decision::Forward { switched: false };
        }
        Decision::Drop
    }
}

/// Keeps one outgoing stream's media time continuous across layer switches and source
/// changes: out = in + offset, with the offset chosen at each switch.
#[derive(Debug, Clone, Default)]
pub struct TimeRewrite {
    offset: u64,
    /// The last media time sent and when (network time of its frame).
    last: Option<(u64, Instant)>,
}

impl TimeRewrite {
    /// The outgoing media time (in `clock_rate` units) for a frame of media time `input`
    /// that arrived at `at`.
    pub fn rewrite(&mut self, input: u64, at: Instant, switched: bool, clock_rate: u64) -> u64 {
        if switched || self.last.is_none() {
            self.offset = match self.last {
                Some((last, last_at)) => {
                    let gap = at.saturating_duration_since(last_at);
                    let ticks = (gap.as_micros() as u64 * clock_rate / 1_000_000).max(1);
                    last.wrapping_add(ticks).wrapping_sub(input)
                }
                None => 0,
            };
        }
        let out = input.wrapping_add(self.offset);
        self.last = Some((out, at));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(rid: &str) -> Layer {
        Some(rid.to_string())
    }

    #[test]
    fn switches_only_on_a_keyframe_of_the_target_layer() {
        let mut f = Forwarding { sending: None, target: Some(layer("q")) };
        assert_eq!(f.decide(&layer("q"), false), Decision::NeedKeyframe);
        assert_eq!(f.decide(&layer("h"), true), Decision::Drop);
        assert_eq!(f.decide(&layer("q"), true), Decision::Forward { switched: true });
        assert_eq!(f.decide(&layer("q"), false), Decision::Forward { switched: false });

        f.target = Some(layer("f"));
        // Until f's keyframe: q keeps flowing, f's delta frames are dropped.
        assert_eq!(f.decide(&layer("f"), false), Decision::NeedKeyframe);
        assert_eq!(f.decide(&layer("q"), false), Decision::Forward { switched: false });
        assert_eq!(f.decide(&layer("f"), true), Decision::Forward { switched: true });
        assert_eq!(f.decide(&layer("q"), false), Decision::Drop);
        assert_eq!(f.sending, Some(layer("f")));

        f.target = None;
        assert_eq!(f.decide(&layer("f"), true), Decision::Drop);
        assert_eq!(f.sending, None);
    }

    #[test]
    fn timestamps_continue_across_a_switch() {
        let t0 = Instant::now();
        let mut r = TimeRewrite::default();
        assert_eq!(r.rewrite(1000, t0, true, 90_000), 1000);
        assert_eq!(r.rewrite(4000, t0 + Duration::from_millis(33), false, 90_000), 4000);
        // Another layer with a far-away base, 33 ms later: continues 33 ms after the last.
        let out = r.rewrite(9_000_000, t0 + Duration::from_millis(66), true, 90_000);
        assert_eq!(out, 4000 + 2970);
        assert_eq!(r.rewrite(9_003_000, t0 + Duration::from_millis(99), false, 90_000), out + 3000);
    }

    #[test]
    fn layer_follows_tile_size_and_budget() {
        let now = Instant::now();
        let mut layers: Vec<LayerInfo> = ["q", "h", "f"].iter().map(|r| LayerInfo::new(layer(r), now)).collect();
        for (l, h) in layers.iter_mut().zip([180, 360, 720]) {
            l.saw_frame(now, 100, Some((h * 16 / 9, h)));
        }
        assert_eq!(choose_layer(&layers, now, 120, None), Some(layer("q")));
        assert_eq!(choose_layer(&layers, now, 240, None), Some(layer("q")), "a 3/4 upscale is fine");
        assert_eq!(choose_layer(&layers, now, 300, None), Some(layer("h")));
        assert_eq!(choose_layer(&layers, now, 700, None), Some(layer("f")));
        assert_eq!(choose_layer(&layers, now, 2000, None), Some(layer("f")));
        // Not enough bandwidth for f (1.5 Mb/s assumed): h.
        assert_eq!(choose_layer(&layers, now, 700, Some(600_000)), Some(layer("h")));
        // A layer the publisher stopped sending is not chosen.
        let later = now + LAYER_STALE + Duration::from_millis(1);
        layers[0].last_seen = later;
        layers[1].last_seen = later;
        assert_eq!(choose_layer(&layers, later, 700, None), Some(layer("h")));
        assert_eq!(choose_layer(&[], later, 700, None), None);
    }

    #[test]
    fn vp8_keyframe_header_gives_the_size() {
        let mut key = vec![0x10, 0, 0, 0x9d, 0x01, 0x2a];
        key.extend_from_slice(&640u16.to_le_bytes());
        key.extend_from_slice(&360u16.to_le_bytes());
        assert_eq!(vp8_keyframe_size(&key), Some((640, 360)));
        key[0] = 0x11; // inter frame
        assert_eq!(vp8_keyframe_size(&key), None);
        assert_eq!(vp8_keyframe_size(&[0x10]), None);
    }
}
