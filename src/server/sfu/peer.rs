//! One participant of an SFU call: its `Rtc` (str0m's sans-I/O peer connection), the
//! m-lines it publishes on and the ones it receives others' tracks on.
//!
//! Why the browser always offers and the SFU only answers: with one side offering, offers
//! can never cross (no glare to resolve, and str0m never holds a pending offer that a
//! crossing one would invalidate — the `ChangesOutOfOrder` panic of str0m's chat example),
//! and the header-extension ids, codecs and payload types are always the browser's: an
//! answerer must take the offerer's. When the SFU has something new to send, it says so
//! (`call_tracks`) and the browser adds a receive-only m-line and offers again. Each offer
//! lists what every m-line is for (`tracks`), so nothing is guessed from the SDP.

use std::collections::HashMap;
use std::sync::Arc;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota};

use str0m::change::SdpOffer;
use str0m::media::Mid;
use str0m::{Candidate, Rtc};
use tokio::sync::mpsc;

use super::allocate::Memory;
use super::simulcast::{Forwarding, LayerInfo, TimeRewrite};
use crate::limits::{MAX_PUBLISHED_TRACKS, MAX_TRACKS_PER_OFFER};
use crate::protocol::{
    ConnId, ErrorCode, RemoteTrack, SdpType, ServerMsg, SignalPayload, TileView, TrackKind, TrackMid, SFU_PEER,
};
use crate::server::wire::Frame;

/// A track this participant sends to the SFU.
pub struct Published {
    pub kind: TrackKind,
    /// The simulcast layers seen on it (one, `None`, without simulcast).
    pub layers: Vec<LayerInfo>,
    /// When a keyframe was last asked for, per layer (PLIs are throttled).
    pub last_keyframe_request: HashMap<Option<String>, Instant>,
    /// The layers the publisher was last told to encode (`call_layers`); `None`: never
    /// told, so all of them.
    pub encoding: Option<Vec<String>>,
}

/// An m-line on which this participant receives another's track.
pub struct Receiving {
    pub source: RemoteTrack,
    pub forwarding: Forwarding,
    pub time: TimeRewrite,
    /// Whether a layout came since this m-line was made. Until then its video is assumed
    /// visible and small, so the first frame does not wait for the browser's next report.
    pub laid_out: bool,
    /// The bandwidth allocator's memory of this track (paused, back-off).
    pub alloc: Memory,
}

pub struct Peer {
    pub conn_id: ConnId,
    /// The call (room) this participant is in; `None` while only prepared.
    pub call: Option<Arc<str>>,
    /// `None` until the first offer, and again after the media failed.
    pub rtc: Option<Rtc>,
    pub outbox: mpsc::Sender<Frame>,
    pub published: HashMap<Mid, Published>,
    pub receiving: HashMap<Mid, Receiving>,
    /// The video tiles the browser shows now (`call_layout`).
    pub tiles: Vec<TileView>,
    /// The track list last sent in `call_tracks`.
    pub announced: Vec<RemoteTrack>,
    /// When this `Rtc` next needs a timeout input.
    pub timeout: Instant,
    /// The bandwidth estimate towards this participant (TWCC), bits per second; the initial
    /// one until str0m's first.
    pub budget_bps: Option<u64>,
    /// The tracks last said to be paused towards this participant (`call_paused`).
    pub paused: Vec<RemoteTrack>,
    /// The (minimum, desired) rates last given to the bandwidth estimator.
    pub bwe_target: (u64, u64),
    /// Whether the audio sent to this participant carries redundancy (RED), and on which
    /// m-lines, once decided.
    pub red: Option<(bool, Vec<Mid>)>,
    /// `--max-publish-kbps` as a token bucket of bytes (one second's worth of burst).
    publish_limit: Option<DefaultDirectRateLimiter>,
    /// When this participant was last told it sends too much (at most every few seconds).
    limit_told: Option<Instant>,
}

/// Where the bandwidth estimate towards a participant starts, and what the allocator goes by
/// until str0m's first estimate: low, as browsers start, so a weak link is not flooded first.
pub const INITIAL_ESTIMATE_BPS: u64 = 300_000;

/// A participant over its publish limit is told so at most this often.
const LIMIT_NOTICE_EVERY: Duration = Duration::from_secs(10);

/// Why an offer could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    #[error("the offer is not valid SDP: {0}")]
    Sdp(String),
    #[error("the SFU could not accept the offer: {0}")]
    Rejected(String),
    #[error("an offer may publish at most {MAX_PUBLISHED_TRACKS} tracks")]
    TooManyTracks,
    #[error("an offer may have at most {MAX_TRACKS_PER_OFFER} m-lines (this one has {0})")]
    TooManyMLines(usize),
}

/// What an offer's SDP asks of the SFU, counted from its text alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferShape {
    /// Every m-line: audio, video, the data channel, rejected ones.
    pub m_lines: usize,
    /// Audio and video m-lines the browser would send on: `a=sendonly` or `a=sendrecv`,
    /// or no direction at all (SDP's default is `sendrecv`, also through a session-level
    /// direction). Rejected m-lines (port 0 outside the BUNDLE group) carry nothing.
    pub sending: usize,
}

/// Count what `sdp` describes, without parsing more than its `m=`, direction, `mid` and
/// BUNDLE lines. Malformed SDP is str0m's to refuse later; this only needs to be right
/// about the offers it lets through.
pub fn offer_shape(sdp: &str) -> OfferShape {
    #[derive(Default)]
    struct Section<'a> {
        av: bool,
        port_zero: bool,
        mid: Option<&'a str>,
        /// The first direction attribute (what str0m reads), or none.
        direction: Option<&'a str>,
        /// Whether any direction attribute says it sends (a second, contradicting one
        /// counts too: refusing is the safe side).
        any_send: bool,
    }
    fn is_direction(a: &str) -> bool {
        matches!(a, "sendonly" | "sendrecv" | "recvonly" | "inactive")
    }
    fn sends(a: &str) -> bool {
        matches!(a, "sendonly" | "sendrecv")
    }
    let mut session_direction: Option<&str> = None;
    let mut bundle: Vec<&str> = Vec::new();
    let mut sections: Vec<Section> = Vec::new();
    for line in sdp.split('\n').map(|l| l.trim_end_matches('\r')) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut words = m.split_whitespace();
            let kind = words.next().unwrap_or("");
            let port = words.next().unwrap_or("").split('/').next().unwrap_or("");
            sections.push(Section {
                av: kind.eq_ignore_ascii_case("audio") || kind.eq_ignore_ascii_case("video"),
                port_zero: port == "0",
                ..Section::default()
            });
            continue;
        }
        let Some(attr) = line.strip_prefix("a=") else { continue };
        let attr = attr.trim();
        match sections.last_mut() {
            None => {
                if is_direction(attr) {
                    session_direction.get_or_insert(attr);
                } else if let Some(group) = attr.strip_prefix("group:BUNDLE") {
                    bundle.extend(group.split_whitespace());
                }
            }
            Some(section) => {
                if is_direction(attr) {
                    section.direction.get_or_insert(attr);
                    section.any_send |= sends(attr);
                } else if let Some(mid) = attr.strip_prefix("mid:") {
                    section.mid = Some(mid.trim());
                }
            }
        }
    }
    let sending = sections
        .iter()
        .filter(|s| s.av)
        .filter(|s| !(s.port_zero && !s.mid.is_some_and(|mid| bundle.contains(&mid))))
        .filter(|s| s.any_send || (s.direction.is_none() && session_direction.is_none_or(sends)))
        .count();
    OfferShape { m_lines: sections.len(), sending }
}

/// Whether the SFU takes on an offer of this shape at all: at most
/// [`MAX_PUBLISHED_TRACKS`] m-lines that send and [`MAX_TRACKS_PER_OFFER`] in all. Checked
/// on the SDP text before str0m reads it, so a refused offer costs no `Rtc` state, whatever
/// its `tracks` list claims.
pub fn check_offer(sdp: &str) -> Result<OfferShape, OfferError> {
    let shape = offer_shape(sdp);
    if shape.sending > MAX_PUBLISHED_TRACKS {
        return Err(OfferError::TooManyTracks);
    }
    if shape.m_lines > MAX_TRACKS_PER_OFFER {
        return Err(OfferError::TooManyMLines(shape.m_lines));
    }
    Ok(shape)
}

impl Peer {
    pub fn new(
        conn_id: ConnId,
        call: Option<Arc<str>>,
        outbox: mpsc::Sender<Frame>,
        now: Instant,
        max_publish_kbps: u32,
    ) -> Peer {
        let bytes_per_second = NonZeroU32::new(max_publish_kbps.saturating_mul(125));
        Peer {
            conn_id,
            call,
            rtc: None,
            outbox,
            published: HashMap::new(),
            receiving: HashMap::new(),
            tiles: Vec::new(),
            announced: Vec::new(),
            timeout: now,
            budget_bps: Some(INITIAL_ESTIMATE_BPS),
            paused: Vec::new(),
            bwe_target: (0, 0),
            red: None,
            publish_limit: bytes_per_second.map(|b| crate::server::runtime::rate_limiter(Quota::per_second(b))),
            limit_told: None,
        }
    }

    /// Count `bytes` of `kind` this participant sent; false if it is video over the
    /// participant's publish limit (to be dropped). Audio always passes: it is small, and a
    /// call where nobody can be heard is worse than one where a picture stutters.
    pub fn within_publish_limit(&mut self, bytes: usize, kind: TrackKind, now: Instant) -> bool {
        let Some(limit) = &self.publish_limit else { return true };
        let n = NonZeroU32::new(bytes.min(u32::MAX as usize) as u32).unwrap_or(NonZeroU32::MIN);
        // A single frame bigger than a whole second's allowance can never pass.
        let allowed = matches!(limit.check_n(n), Ok(Ok(())));
        if allowed || !kind.is_video() {
            return true;
        }
        if self.limit_told.is_none_or(|t| now.saturating_duration_since(t) >= LIMIT_NOTICE_EVERY) {
            self.limit_told = Some(now);
            tracing::warn!(conn_id = self.conn_id, "publisher over the SFU's bitrate limit: video frames dropped");
            self.tell_error(
                ErrorCode::RateLimited,
                "You are sending more video than this server allows; others see it at a lower frame rate",
            );
        }
        false
    }

    /// Send a message to this participant's browser (never waits; a full outbox means the
    /// hub is about to drop the connection anyway).
    pub fn tell(&self, msg: &ServerMsg) {
        let _ = self.outbox.try_send(crate::server::wire::encode(msg));
    }

    /// Send an `error` frame (counted in `/metrics` like the hub's).
    pub fn tell_error(&self, code: ErrorCode, message: &str) {
        crate::server::metrics::error_sent(code);
        self.tell(&ServerMsg::Error { req_id: None, code, message: message.to_string() });
    }

    pub fn tell_failed(&self, why: &str) {
        self.tell_error(ErrorCode::MediaFailed, why);
    }

    /// The kinds this participant publishes now, as others see them.
    pub fn published_tracks(&self) -> impl Iterator<Item = RemoteTrack> + '_ {
        self.published.values().map(|p| RemoteTrack { from: self.conn_id, kind: p.kind })
    }

    /// Apply an offer: answer it (creating the `Rtc` on the first one) and take the
    /// m-lines' purposes from `tracks`. Returns the answer to send.
    pub fn accept_offer(
        &mut self,
        sdp: &str,
        tracks: &[TrackMid],
        candidates: &[Candidate],
        now: Instant,
    ) -> Result<String, OfferError> {
        if tracks.iter().filter(|t| t.from.is_none()).count() > MAX_PUBLISHED_TRACKS {
            return Err(OfferError::TooManyTracks);
        }
        // The SDP itself, not only what the browser says of it, before str0m builds anything.
        check_offer(sdp)?;
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| OfferError::Sdp(e.to_string()))?;
        let rtc = self.rtc.get_or_insert_with(|| new_rtc(candidates, now));
        let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| OfferError::Rejected(e.to_string()))?;
        self.timeout = now;

        let mut published = HashMap::new();
        let mut receiving = HashMap::new();
        for t in tracks {
            let mid = Mid::from(t.mid.as_str());
            match t.from {
                None => {
                    let entry = match self.published.remove(&mid) {
                        Some(p) if p.kind == t.kind => p,
                        _ => Published { kind: t.kind, layers: vec![], last_keyframe_request: HashMap::new(), encoding: None },
                    };
                    published.insert(mid, entry);
                }
                Some(from) if from != self.conn_id => {
                    let source = RemoteTrack { from, kind: t.kind };
                    let entry = match self.receiving.remove(&mid) {
                        Some(r) if r.source == source => r,
                        _ => Receiving {
                            source,
                            forwarding: Forwarding::default(),
                            time: TimeRewrite::default(),
                            laid_out: false,
                            alloc: Memory::default(),
                        },
                    };
                    receiving.insert(mid, entry);
                }
                Some(_) => {}
            }
        }
        self.published = published;
        self.receiving = receiving;
        Ok(answer.to_sdp_string())
    }

    /// A trickled ICE candidate from the browser. Unusable ones (mDNS names, say) are
    /// skipped: the browser's checks reach the SFU anyway and it learns the address then.
    pub fn add_candidate(&mut self, candidate: &str) {
        let Some(rtc) = self.rtc.as_mut() else { return };
        let line = candidate.trim_start_matches("a=");
        match Candidate::from_sdp_string(line) {
            Ok(c) => rtc.add_remote_candidate(c),
            Err(e) => tracing::debug!(conn_id = self.conn_id, "ignored ICE candidate {line:?}: {e}"),
        }
    }

    /// The media failed (ICE gave up, bad input inside str0m): drop the `Rtc` and what was
    /// negotiated on it. The participant stays in the call; its browser starts afresh.
    pub fn reset_media(&mut self) {
        self.rtc = None;
        self.red = None;
        self.budget_bps = Some(INITIAL_ESTIMATE_BPS);
        // A new `Rtc` starts with no targets: give it ours again.
        self.bwe_target = (0, 0);
        self.published.clear();
        self.receiving.clear();
    }

    pub fn answer_message(answer: String) -> ServerMsg {
        ServerMsg::Signal {
            from: SFU_PEER,
            payload: SignalPayload::Description { sdp_type: SdpType::Answer, sdp: answer, tracks: Vec::new() },
        }
    }
}

fn new_rtc(candidates: &[Candidate], now: Instant) -> Rtc {
    let mut rtc = Rtc::builder()
        // The SFU's own bandwidth estimate towards each subscriber decides what it gets. It
        // starts low, as browsers do, and str0m's initial probes raise it within a second
        // on a good link; starting high floods a weak link first, and the losses keep the
        // estimate down for long after (measured in the network lab, BENCHMARKS.md).
        .enable_bwe(Some(str0m::bwe::Bitrate::kbps(INITIAL_ESTIMATE_BPS / 1000)))
        // Opus with RED (RFC 2198) where the browser offers it: each packet also carries the
        // previous one, so a lost voice packet is recovered without a retransmission.
        .enable_opus(true, true)
        .build(now);
    for c in candidates {
        rtc.add_local_candidate(c.clone());
    }
    rtc
}

#[cfg(test)]
#[path = "peer_tests.rs"]
mod tests;
