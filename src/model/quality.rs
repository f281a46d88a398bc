//! Connection quality: good, fair or poor, from what my own link does — packet loss and
//! round-trip time measured by the call engine (`MediaEvent::Link`, every 2 s), and whether
//! the SFU holds some of the others' video back from me (`call_paused`: I receive less than
//! my tiles want). Shown on my tile and, through my media state, on everyone's view of it.
//!
//! Why reported by each browser and not measured by the server: a peer-to-peer call has no
//! server on the media path, and the browser sees both directions (what it receives, and the
//! loss its peers report for what it sends). Why a level and not the numbers: people act on
//! "poor" (move closer to the Wi-Fi, turn the camera off), not on "7 % loss".
//!
//! Why it changes slowly: one bad sample would make the indicator flicker, and each change
//! is a frame to everyone in the call. Worse is shown at once; better only after it held for
//! [`BETTER_AFTER`] samples in a row.

use crate::protocol::Quality;

/// Loss (either direction) and round trip at which the link is fair, and poor.
pub const FAIR_LOSS_PCT: f64 = 2.0;
pub const POOR_LOSS_PCT: f64 = 8.0;
pub const FAIR_RTT_MS: u32 = 250;
pub const POOR_RTT_MS: u32 = 600;
/// Samples in a row a better level must hold before it is shown.
pub const BETTER_AFTER: u8 = 2;

/// One measurement of my link over the last interval, from `getStats`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LinkSample {
    /// Packets lost of those sent to me, in percent (`inbound-rtp`).
    pub loss_in_pct: f64,
    /// Packets lost of those I sent, as the far end reports it (`remote-inbound-rtp`).
    pub loss_out_pct: f64,
    /// The selected candidate pair's current round-trip time.
    pub rtt_ms: Option<u32>,
}

/// The level one sample shows; `held_back`: the SFU pauses some video towards me.
pub fn level(sample: &LinkSample, held_back: bool) -> Quality {
    let loss = sample.loss_in_pct.max(sample.loss_out_pct);
    let rtt = sample.rtt_ms.unwrap_or(0);
    if loss >= POOR_LOSS_PCT || rtt >= POOR_RTT_MS {
        Quality::Poor
    } else if loss >= FAIR_LOSS_PCT || rtt >= FAIR_RTT_MS || held_back {
        Quality::Fair
    } else {
        Quality::Good
    }
}

/// What is shown, and a better level waiting to be confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QualityMeter {
    pub shown: Quality,
    better: Option<(Quality, u8)>,
}

impl QualityMeter {
    /// Take one sample's level; true if what is shown changed.
    pub fn update(&mut self, level: Quality) -> bool {
        if level <= self.shown {
            // Worse (or the same): at once.
            self.better = None;
            let changed = level != self.shown;
            self.shown = level;
            return changed;
        }
        let seen = match self.better {
            Some((l, n)) if l == level => n + 1,
            _ => 1,
        };
        if seen >= BETTER_AFTER {
            self.better = None;
            self.shown = level;
            true
        } else {
            self.better = Some((level, seen));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(loss_in_pct: f64, loss_out_pct: f64, rtt_ms: u32) -> LinkSample {
        LinkSample { loss_in_pct, loss_out_pct, rtt_ms: Some(rtt_ms) }
    }

    #[test]
    fn loss_either_way_round_trip_and_held_back_video_set_the_level() {
        assert_eq!(level(&sample(0.0, 0.0, 40), false), Quality::Good);
        assert_eq!(level(&LinkSample::default(), false), Quality::Good, "nothing measured yet");
        assert_eq!(level(&sample(3.0, 0.0, 40), false), Quality::Fair);
        assert_eq!(level(&sample(0.0, 3.0, 40), false), Quality::Fair, "loss on what I send counts too");
        assert_eq!(level(&sample(0.0, 0.0, 300), false), Quality::Fair);
        assert_eq!(level(&sample(0.0, 0.0, 40), true), Quality::Fair, "the SFU pauses video towards me");
        assert_eq!(level(&sample(9.0, 0.0, 40), true), Quality::Poor);
        assert_eq!(level(&sample(0.0, 0.0, 700), false), Quality::Poor);
    }

    #[test]
    fn worse_shows_at_once_and_better_only_once_it_held() {
        let mut m = QualityMeter::default();
        assert!(!m.update(Quality::Good));
        assert!(m.update(Quality::Poor));
        assert_eq!(m.shown, Quality::Poor);
        assert!(!m.update(Quality::Good), "one good sample is not enough");
        assert!(!m.update(Quality::Poor));
        assert!(!m.update(Quality::Fair));
        assert!(m.update(Quality::Fair), "two in a row");
        assert_eq!(m.shown, Quality::Fair);
        assert!(!m.update(Quality::Good));
        assert!(!m.update(Quality::Fair), "the same level resets the wait for better");
        assert!(!m.update(Quality::Good));
        assert!(m.update(Quality::Good));
        assert_eq!(m.shown, Quality::Good);
    }
}
