//! Who is speaking, from the incoming audio as the browser measures it.
//!
//! Why integrated energy: `getStats()` gives each incoming audio stream's
//! `totalAudioEnergy` and `totalSamplesDuration` (the RTP audio level, integrated), so their
//! growth since the last poll is the mean power over the whole interval. Unlike a single
//! `audioLevel` sample, a short word between two polls is not missed. A tile stays
//! highlighted for [`SPEAKING_HOLD_MS`] after the last loud interval, so it does not flicker.
//! In a peer-to-peer call each connection is one person; on the SFU connection each
//! incoming audio m-line is (its `mid` says who).

use std::cell::RefCell;
use std::collections::HashMap;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::RtcPeerConnection;

use super::engine::{report, with_engine};
use crate::client::port::Model;
use crate::model::MediaEvent;
use crate::protocol::ConnId;

/// Mean audio power (level², level in 0..1) above which a participant counts as speaking:
/// a level of about 0.01, well above the silence a muted microphone sends.
const SPEAKING_POWER: f64 = 0.0001;
/// How often the incoming audio energy is read.
const SPEAKING_POLL_MS: i32 = 300;
/// How long a tile stays highlighted after the last loud interval.
const SPEAKING_HOLD_MS: f64 = 700.0;

#[derive(Default)]
struct Loudness {
    energy: f64,
    duration: f64,
    loud_at: f64,
}

thread_local! {
    static LOUDNESS: RefCell<HashMap<ConnId, Loudness>> = RefCell::new(HashMap::new());
}

/// Start afresh for `conn_id` (a new connection's counters start at zero).
pub fn forget(conn_id: ConnId) {
    LOUDNESS.with(|l| l.borrow_mut().remove(&conn_id));
}

/// Poll the audio energy a few times a second (once per page).
pub fn watch_speaking(model: Model) {
    let poll = Closure::<dyn FnMut()>::new(move || {
        if !model.read(|s| s.call.in_call) {
            return;
        }
        let (mesh, sfu): (Vec<(ConnId, RtcPeerConnection)>, Option<RtcPeerConnection>) = with_engine(|e| {
            (e.peers.iter().map(|(id, p)| (*id, p.pc.clone())).collect(), e.sfu.as_ref().map(|l| l.pc()))
        });
        leptos::task::spawn_local(async move {
            let mut totals: HashMap<ConnId, (f64, f64)> = HashMap::new();
            for (id, pc) in mesh {
                let Ok(report) = JsFuture::from(pc.get_stats()).await else { continue };
                for (_, energy, duration) in inbound_audio(&report) {
                    let t = totals.entry(id).or_default();
                    t.0 += energy;
                    t.1 += duration;
                }
            }
            if let Some(pc) = sfu {
                if let Ok(report) = JsFuture::from(pc.get_stats()).await {
                    for (mid, energy, duration) in inbound_audio(&report) {
                        let from = mid.and_then(|m| with_engine(|e| e.sfu.as_ref()?.source_of_mid(&m)));
                        if let Some(track) = from {
                            let t = totals.entry(track.from).or_default();
                            t.0 += energy;
                            t.1 += duration;
                        }
                    }
                }
            }
            let now = js_sys::Date::now();
            let mut speaking: Vec<ConnId> = LOUDNESS.with(|l| {
                let mut l = l.borrow_mut();
                totals
                    .into_iter()
                    .filter(|(id, (energy, duration))| {
                        let last = l.entry(*id).or_default();
                        let (de, dd) = (energy - last.energy, duration - last.duration);
                        last.energy = *energy;
                        last.duration = *duration;
                        if dd > 0.0 && de / dd > SPEAKING_POWER {
                            last.loud_at = now;
                        }
                        now - last.loud_at < SPEAKING_HOLD_MS
                    })
                    .map(|(id, _)| id)
                    .collect()
            });
            speaking.sort_unstable();
            if model.read(|s| s.devices.speaking.clone()) != speaking {
                report(model, MediaEvent::Speaking(speaking));
            }
        });
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(poll.as_ref().unchecked_ref(), SPEAKING_POLL_MS);
    }
    poll.forget();
}

/// `(mid, totalAudioEnergy, totalSamplesDuration)` of each incoming audio stream.
fn inbound_audio(report: &JsValue) -> Vec<(Option<String>, f64, f64)> {
    let field = |v: &JsValue, k: &str| js_sys::Reflect::get(v, &k.into()).ok();
    let mut out = Vec::new();
    let Ok(Some(entries)) = js_sys::try_iter(report) else { return out };
    for entry in entries.flatten() {
        let stat = js_sys::Array::from(&entry).get(1);
        let is_inbound_audio = field(&stat, "type").and_then(|t| t.as_string()).as_deref() == Some("inbound-rtp")
            && field(&stat, "kind").and_then(|k| k.as_string()).as_deref() == Some("audio");
        if is_inbound_audio {
            out.push((
                field(&stat, "mid").and_then(|m| m.as_string()),
                field(&stat, "totalAudioEnergy").and_then(|v| v.as_f64()).unwrap_or(0.0),
                field(&stat, "totalSamplesDuration").and_then(|v| v.as_f64()).unwrap_or(0.0),
            ));
        }
    }
    out
}
