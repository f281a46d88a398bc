//! The SFU's counters: atomics bumped on the packet path, read from any thread (tests,
//! benchmarks) and published to `/metrics` when Prometheus scrapes.

use std::sync::atomic::{AtomicU64, Ordering};

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

impl SfuStats {
    /// Put the counters in the process's metrics recorder (at scrape time: nothing is
    /// counted twice on the packet path).
    pub fn publish(&self) {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        metrics::counter!("noom_sfu_packets_in_total").absolute(read(&self.packets_in));
        metrics::counter!("noom_sfu_packets_out_total").absolute(read(&self.packets_out));
        metrics::counter!("noom_sfu_send_errors_total").absolute(read(&self.send_errors));
        metrics::counter!("noom_sfu_frames_forwarded_total").absolute(read(&self.frames_forwarded));
        metrics::counter!("noom_sfu_frames_policed_total").absolute(read(&self.frames_policed));
        metrics::counter!("noom_sfu_keyframe_requests_total").absolute(read(&self.keyframe_requests));
        metrics::counter!("noom_sfu_media_failures_total").absolute(read(&self.media_failures));
        metrics::gauge!("noom_sfu_tcp_connections").set(read(&self.tcp_connections) as f64);
    }
}
