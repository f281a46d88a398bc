//! My link, as the browser measures it, for the connection-quality indicator: every
//! [`LINK_POLL_MS`] in a call, loss on what I receive (`inbound-rtp`, since the last poll),
//! loss the far ends report on what I send (`remote-inbound-rtp`'s `fractionLost`) and the
//! selected candidate pair's round trip, over every connection of the call (the worst
//! counts). The numbers go to the model (`MediaEvent::Link`), which decides the level
//! (`crate::model::level`): the engine only measures.

use std::cell::RefCell;
use std::collections::HashMap;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::RtcPeerConnection;

use super::engine::{report, with_engine};
use crate::client::port::Model;
use crate::model::{LinkSample, MediaEvent};
use crate::protocol::{ConnId, SFU_PEER};

/// How often the link is measured in a call.
const LINK_POLL_MS: i32 = 2000;

thread_local! {
    /// Packets lost and received so far, per connection, at the last poll.
    static LAST: RefCell<HashMap<ConnId, (f64, f64)>> = RefCell::new(HashMap::new());
}

/// Measure the link every [`LINK_POLL_MS`] while in a call (once per page).
pub fn watch_link(model: Model) {
    let poll = Closure::<dyn FnMut()>::new(move || {
        if !model.read(|s| s.call.in_call) {
            LAST.with(|l| l.borrow_mut().clear());
            return;
        }
        let pcs: Vec<(ConnId, RtcPeerConnection)> = with_engine(|e| {
            let mut pcs: Vec<_> = e.peers.iter().map(|(id, p)| (*id, p.pc.clone())).collect();
            pcs.extend(e.sfu.as_ref().map(|l| (SFU_PEER, l.pc())));
            pcs
        });
        leptos::task::spawn_local(async move {
            let mut sample = LinkSample::default();
            let (mut lost, mut got) = (0.0, 0.0);
            for (id, pc) in pcs {
                let Ok(stats) = JsFuture::from(pc.get_stats()).await else { continue };
                let m = measure(&stats);
                let (prev_lost, prev_got) = LAST.with(|l| l.borrow_mut().insert(id, (m.lost, m.received))).unwrap_or_default();
                // A new connection's counters start again from zero.
                if m.lost >= prev_lost && m.received >= prev_got {
                    lost += m.lost - prev_lost;
                    got += m.received - prev_got;
                }
                sample.loss_out_pct = sample.loss_out_pct.max(m.fraction_lost_out * 100.0);
                if let Some(rtt) = m.rtt_ms {
                    sample.rtt_ms = Some(sample.rtt_ms.map_or(rtt, |r| r.max(rtt)));
                }
            }
            if lost + got > 0.0 {
                sample.loss_in_pct = 100.0 * lost / (lost + got);
            }
            report(model, MediaEvent::Link(sample));
        });
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(poll.as_ref().unchecked_ref(), LINK_POLL_MS);
    }
    poll.forget();
}

#[derive(Default)]
struct Measured {
    lost: f64,
    received: f64,
    fraction_lost_out: f64,
    rtt_ms: Option<u32>,
}

/// What one connection's `getStats()` report says of its link.
fn measure(report: &JsValue) -> Measured {
    let field = |v: &JsValue, k: &str| js_sys::Reflect::get(v, &k.into()).ok();
    let number = |v: &JsValue, k: &str| field(v, k).and_then(|n| n.as_f64());
    let mut m = Measured::default();
    let Ok(Some(entries)) = js_sys::try_iter(report) else { return m };
    for entry in entries.flatten() {
        let stat = js_sys::Array::from(&entry).get(1);
        match field(&stat, "type").and_then(|t| t.as_string()).as_deref() {
            Some("inbound-rtp") => {
                m.lost += number(&stat, "packetsLost").unwrap_or(0.0).max(0.0);
                m.received += number(&stat, "packetsReceived").unwrap_or(0.0);
            }
            Some("remote-inbound-rtp") => {
                m.fraction_lost_out = m.fraction_lost_out.max(number(&stat, "fractionLost").unwrap_or(0.0));
            }
            Some("candidate-pair") if field(&stat, "nominated").and_then(|n| n.as_bool()) == Some(true) => {
                if let Some(rtt) = number(&stat, "currentRoundTripTime") {
                    m.rtt_ms = Some((rtt * 1000.0) as u32);
                }
            }
            _ => {}
        }
    }
    m
}
