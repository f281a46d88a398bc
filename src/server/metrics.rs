//! `/metrics`: what an operator watches, in Prometheus text format (the `metrics` facade
//! with `metrics-exporter-prometheus`).
//!
//! Why most figures are taken at scrape time: open connections (the connection limit's
//! permits in use), the hub's queue depth and the SFU's packet counters already exist
//! elsewhere; reading them when Prometheus asks costs nothing between scrapes. What only
//! the hub knows (rooms, people, people in calls) it publishes once a second
//! ([`publish_rooms`]). Events are counted where they happen: chat messages stored and
//! delivered, acks, errors by code, closes by code; latencies are histograms (hub command,
//! store write) with the store's batch sizes.
//!
//! Why one recorder per process: `metrics` has one global recorder. The first server to
//! start installs it ([`handle`]); others in the same process (tests) share it, so tests
//! read differences, never absolute values.
//!
//! | metric | kind | what |
//! |---|---|---|
//! | `noom_connections_open` | gauge | WebSockets open now |
//! | `noom_connections_total` | counter | WebSockets accepted |
//! | `noom_rooms`, `noom_room_members`, `noom_call_participants`, `noom_waiting` | gauge | rooms open, people in rooms, in calls, in waiting rooms |
//! | `noom_chat_messages_total` | counter | chat messages stored (rate: messages/s) |
//! | `noom_chat_deliveries_total` | counter | chat messages put in members' outboxes |
//! | `noom_acks_total` | counter | requests acknowledged |
//! | `noom_errors_total{code}` | counter | `error` frames sent, by code |
//! | `noom_closes_total{code}` | counter | connections the server closed, by close code |
//! | `noom_hub_queue_depth` | gauge | commands waiting for the hub |
//! | `noom_hub_command_seconds` | histogram | time the hub took for one command |
//! | `noom_store_write_seconds`, `noom_store_batch_size` | histogram | one group commit: its time and messages |
//! | `noom_sfu_packets_in_total`, `noom_sfu_packets_out_total` | counter | RTP/RTCP through the SFU |
//! | `noom_sfu_send_errors_total` | counter | packets the SFU failed to send (its own forwarding loss) |
//! | `noom_sfu_tcp_connections` | gauge | ICE-TCP connections to the SFU open now |
//! | `noom_sfu_tcp_refused_total{reason}` | counter | ICE-TCP connections closed: `too_many`, `timeout` (silent), `unrouted` (frames nobody accepts) |
//! | `noom_tls_handshake_failures_total{reason}` | counter | TLS handshakes that failed: `error`, `timeout`, `too_many` |
//! | `noom_tls_certificate_expiry_timestamp_seconds` | gauge | when the certificate being served expires (Unix time): alert well before it |
//! | `noom_acme_orders_total{result}` | counter | ACME orders: `ok`, `failed` (each failure is retried with a back-off) |
//! | `noom_sfu_frames_forwarded_total`, `noom_sfu_frames_policed_total`, `noom_sfu_keyframe_requests_total`, `noom_sfu_media_failures_total` | counter | SFU frame work |

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::protocol::ErrorCode;

/// Buckets for latencies in seconds: 10 µs to 2.5 s.
const SECONDS: &[f64] = &[1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5];
/// Buckets for the store's batch sizes.
const BATCH: &[f64] = &[1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1024.0];

/// The process's recorder, installed by the first caller (and its upkeep task started).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full("noom_store_batch_size".into()), BATCH));
            let handle = match builder.map(PrometheusBuilder::install_recorder) {
                Ok(Ok(handle)) => handle,
                // Another recorder is installed (an embedding program's): render ours anyway.
                Ok(Err(e)) | Err(e) => {
                    tracing::warn!("metrics recorder not installed: {e}");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            };
            let upkeep = handle.clone();
            // Histograms are drained into their buckets by upkeep.
            let _ = std::thread::Builder::new().name("noom-metrics".into()).spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            });
            handle
        })
        .clone()
}

/// `GET /metrics`, with the figures read at scrape time: WebSockets open, commands waiting
/// for the hub (the SFU's counters are published by `SfuStats::publish` just before).
pub fn render(connections_open: usize, hub_queue_depth: usize) -> impl IntoResponse {
    metrics::gauge!("noom_connections_open").set(connections_open as f64);
    metrics::gauge!("noom_hub_queue_depth").set(hub_queue_depth as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle().render())
}


/// The hub's view of the rooms, once a second.
pub fn publish_rooms(rooms: usize, members: usize, in_calls: usize, waiting: usize) {
    metrics::gauge!("noom_rooms").set(rooms as f64);
    metrics::gauge!("noom_room_members").set(members as f64);
    metrics::gauge!("noom_call_participants").set(in_calls as f64);
    metrics::gauge!("noom_waiting").set(waiting as f64);
}

/// An `error` frame went out.
pub fn error_sent(code: ErrorCode) {
    let name = serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    metrics::counter!("noom_errors_total", "code" => name).increment(1);
}

/// The server closed a connection with `code`.
pub fn closed(code: u16) {
    metrics::counter!("noom_closes_total", "code" => code.to_string()).increment(1);
}
