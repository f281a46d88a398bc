//! Bandwidth allocation, per subscriber: how the SFU spends what the link towards one
//! person can carry (str0m's TWCC estimate) across the tracks that person receives.
//!
//! Why audio first: a call in which people cannot hear each other has failed, one in which
//! a picture is missing has not. Audio is small (tens of kbit/s per person), so its cost is
//! taken off the estimate before any video is considered, and str0m's pacer sends audio
//! ahead of queued video, so a burst of video never pushes it out of a shallow queue.
//!
//! Why pause rather than send everything at the lowest layer: three 120p streams at
//! 150 kbit/s each do not fit a 300 kbit/s link, and sending them anyway makes the link drop
//! packets at random: every stream freezes, and audio breaks up too. Spending the estimate in
//! priority order — screen share, the pinned tile, the active speaker, then the others by
//! tile size — and pausing what does not fit keeps the tracks that matter smooth, and the
//! paused tiles say so instead of freezing.
//!
//! Why margins and back-off: the estimate moves. A track is resumed, or raised to a layer
//! above the one it gets now, only when it fits with [`UPGRADE_MARGIN_PCT`] to spare; a
//! track paused again soon after it resumed waits twice as long before the next try (2 s up
//! to 16 s). Lowering is immediate. So a link near the edge settles instead of flapping.
//!
//! Why trials: an estimate of a link that carries little stays near what it carries (in the
//! network lab, str0m's estimate of a 300 kbit/s link carrying only audio sat at 150–220
//! kbit/s), so waiting for it to show room would keep video paused for good. So the SFU
//! also asks for more: it sets the estimator's minimum to what it sends plus the next step
//! (str0m pads up to it) and its target to everything the tiles want; and when a paused
//! track's back-off is over and the estimate still shows no room, the most important one is
//! tried with media for [`TRIAL`]. If the estimate holds (falls by less than a fifth: it moves by a tenth on its own), the
//! track stays, for as long as the estimate stays near that level; if it falls, the track
//! pauses again and its next try waits twice as long. One track at a time is sent on such
//! credit: three proved one by one added up to more than the link carried (measured).
//!
//! Plain data and decisions, clock passed in, unit-tested without a network (like
//! [`super::simulcast::choose_layer`]).

use std::time::{Duration, Instant};

/// The share of the estimate that media may use (the rest absorbs the estimate's error,
/// RTCP and retransmissions).
pub const HEADROOM_PCT: u64 = 85;
/// Resuming a track, or raising it above the layer it gets now, needs this much of its
/// cost to fit (130: 30 % to spare).
pub const UPGRADE_MARGIN_PCT: u64 = 130;
/// The first wait before a paused track may resume, doubled after each failed try.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(2);
pub const MAX_BACKOFF: Duration = Duration::from_secs(16);
/// A track paused again within this time after resuming was a failed try.
pub const FAILED_RESUME_WITHIN: Duration = Duration::from_secs(10);
/// How long a trial resume is kept whatever the estimate says, unless it falls by a fifth.
pub const TRIAL: Duration = Duration::from_secs(3);

/// How much a track matters to the person receiving it (higher first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Importance {
    Other,
    Speaker,
    Pinned,
    Screen,
}

/// One video track a subscriber's tile wants.
#[derive(Debug, Clone)]
pub struct Demand {
    pub importance: Importance,
    /// The tile's area (device pixels): among equals, bigger tiles first.
    pub area: u64,
    /// The cost (bit/s) of each layer that may be sent, lowest first, up to the one the
    /// tile wants. Never empty.
    pub layers: Vec<u64>,
    /// The index in `layers` of the layer being sent now, if any.
    pub current: Option<usize>,
    /// What the allocator remembers of this track between rounds.
    pub memory: Memory,
}

/// The allocator's memory of one track: whether it paused it, and the back-off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    pub paused: bool,
    /// A paused track may not resume before this.
    pub resume_after: Option<Instant>,
    /// The wait that the next pause imposes (zero: the first).
    pub backoff: Duration,
    /// When the track last resumed.
    pub resumed_at: Option<Instant>,
    /// A trial resume under way: until when, and the estimate when it started.
    pub trial: Option<(Instant, u64)>,
    /// The estimate at which a trial showed the link carries this track: it is kept while
    /// the estimate stays within a fifth of that, whatever it says of the room left.
    pub proven: Option<u64>,
}

/// The decision for one track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The layer to send (an index into the demand's `layers`), or `None`: paused, it
    /// does not fit.
    pub layer: Option<usize>,
    pub memory: Memory,
}

/// Spend `estimate_bps` (`None`: not known yet, everything is granted) on `audio_bps` of
/// audio first, then on the video `demands` in priority order, at `now`. One grant per
/// demand, in the same order.
pub fn allocate(estimate_bps: Option<u64>, audio_bps: u64, demands: &[Demand], now: Instant) -> Vec<Grant> {
    let Some(estimate) = estimate_bps else {
        return demands
            .iter()
            .map(|d| Grant { layer: Some(d.layers.len() - 1), memory: remember(d.memory, false, now) })
            .collect();
    };
    let mut left = (estimate * HEADROOM_PCT / 100).saturating_sub(audio_bps);
    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(demands[i].importance), std::cmp::Reverse(demands[i].area), i));
    let mut layers: Vec<Option<usize>> = vec![None; demands.len()];
    let mut trials: Vec<Option<(Instant, u64)>> = vec![None; demands.len()];
    let mut proven: Vec<Option<u64>> = vec![None; demands.len()];
    // At most one track is sent beyond what the estimate shows room for, and only the most
    // important one that does not fit: on trial, or proved by one (more would add up to more
    // than the link carries, and a lesser track on credit would keep a pinned one paused).
    let mut credit_used = false;
    for &i in &order {
        let d = &demands[i];
        let m = &d.memory;
        let cost = d.layers[0];
        let waiting = m.paused && m.resume_after.is_some_and(|t| now < t);
        let need = if m.paused { with_margin(cost) } else { cost };
        let holds = |from: u64| estimate * 5 >= from * 4;
        if !waiting && need <= left {
            left -= cost;
            layers[i] = Some(0);
            // A trial the estimate grew into keeps what it proved, so the estimate's own
            // wobble later does not count as a failed try.
            match (m.trial, m.proven) {
                (Some((until, from)), _) if holds(from) && now < until => trials[i] = Some((until, from)),
                (Some((_, from)), _) | (None, Some(from)) if holds(from) => proven[i] = Some(from),
                _ => {}
            }
            continue;
        }
        if credit_used {
            continue;
        }
        credit_used = true;
        let credit = match (m.trial, m.proven) {
            // A trial under way is kept while the estimate holds; once over, the track is
            // proved, and kept while the estimate stays near where it was then.
            (Some((until, from)), _) if holds(from) => {
                if now < until {
                    trials[i] = Some((until, from));
                } else {
                    proven[i] = Some(from);
                }
                true
            }
            (None, Some(at)) if holds(at) => {
                proven[i] = Some(at);
                true
            }
            // The estimate shows no room, but an estimate of a link carrying little cannot:
            // it follows what is sent. So once its back-off is over, the track is tried
            // with media; if the estimate falls, it pauses again (a failed try).
            _ if m.paused && !waiting => {
                trials[i] = Some((now + TRIAL, estimate));
                true
            }
            _ => false,
        };
        if credit {
            left = left.saturating_sub(cost);
            layers[i] = Some(0);
        }
    }
    // Then raise each, in priority order, towards the layer its tile wants.
    for &i in &order {
        let d = &demands[i];
        let Some(mut at) = layers[i] else { continue };
        while at + 1 < d.layers.len() {
            let extra = d.layers[at + 1].saturating_sub(d.layers[at]);
            let above_current = d.current.is_none_or(|c| at + 1 > c);
            let need = if above_current { with_margin(extra) } else { extra };
            if need > left {
                break;
            }
            left -= extra;
            at += 1;
        }
        layers[i] = Some(at);
    }
    demands
        .iter()
        .zip(layers)
        .zip(trials.into_iter().zip(proven))
        .map(|((d, layer), (trial, proven))| Grant {
            layer,
            memory: Memory { trial, proven, ..remember(d.memory, layer.is_none(), now) },
        })
        .collect()
}

/// What the next step up would cost (bit/s): resuming the most important paused track at
/// its lowest layer, else raising the most important track below its wanted layer by one
/// layer; 0 when every track has what it wants. The SFU keeps the link busy with that much
/// more (str0m pads with probes up to the estimate), so the estimator can discover whether
/// the step fits — on a link carrying only what was granted, an estimate never grows.
pub fn next_step(demands: &[Demand], grants: &[Grant]) -> u64 {
    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(demands[i].importance), std::cmp::Reverse(demands[i].area), i));
    let step = |i: usize| {
        let d = &demands[i];
        match grants[i].layer {
            None => Some(d.layers[0]),
            Some(at) if at + 1 < d.layers.len() => Some(d.layers[at + 1].saturating_sub(d.layers[at])),
            Some(_) => None,
        }
    };
    order.into_iter().find_map(step).map(with_margin).unwrap_or(0)
}

fn with_margin(bps: u64) -> u64 {
    bps * UPGRADE_MARGIN_PCT / 100
}

/// The memory after a round that paused the track (`paused`) or not.
fn remember(mut m: Memory, paused: bool, now: Instant) -> Memory {
    match (m.paused, paused) {
        (false, true) => {
            // A pause soon after a resume means the last try failed: wait longer.
            let failed = m.resumed_at.is_some_and(|t| now.saturating_duration_since(t) < FAILED_RESUME_WITHIN);
            m.backoff = if failed { (m.backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF) } else { FIRST_BACKOFF };
            m.resume_after = Some(now + m.backoff);
            m.paused = true;
        }
        (true, false) => {
            m.paused = false;
            m.resumed_at = Some(now);
            m.resume_after = None;
        }
        _ => {}
    }
    m
}

/// Which simulcast layers (by rank, lowest first) a publisher should keep encoding:
/// those some subscriber is given or still receives, and always the lowest, so that a new
/// subscriber or a resumed tile starts at once. Dynacast: the others cost the publisher
/// uplink and CPU for nobody.
pub fn layers_to_encode(published: usize, wanted: impl IntoIterator<Item = usize>) -> Vec<bool> {
    let mut on = vec![false; published];
    if let Some(lowest) = on.first_mut() {
        *lowest = true;
    }
    for w in wanted {
        if let Some(l) = on.get_mut(w) {
            *l = true;
        }
    }
    on
}

#[cfg(test)]
#[path = "allocate_tests.rs"]
mod tests;
