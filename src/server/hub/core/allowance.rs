//! A rate allowance computed from clock values: a burst, then one every interval.
//!
//! Why not `governor` here: its limiter reads a clock itself, and the core reads none.
//! This is the same rule (GCRA, as governor's `Quota::per_second(1).allow_burst(5)`): a
//! "theoretical arrival time" moves one interval on with each use, and a use is allowed
//! while it is no further ahead of now than the burst allows.

use std::time::{Duration, Instant};

/// One connection's allowance.
#[derive(Debug, Clone, Copy)]
pub struct Allowance {
    /// When the allowance would be fully used up again at the steady rate.
    tat: Instant,
}

impl Allowance {
    /// A full allowance at `now`.
    pub fn new(now: Instant) -> Allowance {
        Allowance { tat: now }
    }

    /// Use one at `now`, if there is one left of `burst` at one per `every`.
    pub fn take(&mut self, now: Instant, burst: u32, every: Duration) -> bool {
        let tolerance = every * burst.saturating_sub(1);
        let tat = self.tat.max(now);
        if tat.saturating_duration_since(now) > tolerance {
            return false;
        }
        self.tat = tat + every;
        true
    }
}
