//! What each subscriber gets, and what each publisher encodes: the per-subscriber layer
//! choice within its bandwidth ([`super::allocate`]), the `call_paused` notices, the
//! estimator's targets, and dynacast (`call_layers`).
//!
//! Why here and not on the packet path: these decisions change a few times a second (a
//! layout report, a new estimate, a layer that started or stopped, and a round every
//! [`RELAYOUT_EVERY`]), not per packet. The packet path only reads their result (each
//! `Receiving`'s target layer).

use super::allocate::{allocate, layers_to_encode, next_step, Demand, Importance, HEADROOM_PCT};
use super::simulcast::{layer_for_height, rank, Layer, AUDIO_DEFAULT_BPS};
use super::*;
use crate::protocol::TrackKind;

/// The layer names by rank, for a track whose layers are not known yet.
const RIDS: [&str; 3] = ["q", "h", "f"];
/// What audio costs with RED (each packet carrying the previous one too), against without.
const AUDIO_RED_PCT: u64 = 160;

impl Sfu {
    /// Recompute what `conn_id` gets of each track it receives: every audio track, then the
    /// video of its visible tiles in priority order, each at the layer its tile's size asks
    /// for, within its bandwidth estimate; video that does not fit is paused, and the
    /// participant is told which.
    pub(super) fn relayout(&mut self, conn_id: ConnId) {
        let now = Instant::now();
        let Some(peer) = self.peers.get(&conn_id) else { return };
        let mut audio_bps = 0;
        let mut audio_mids = Vec::new();
        let mut targets: Vec<(Mid, Option<Layer>)> = Vec::new();
        // Per video track allocated: its m-line, source, and its layers lowest first.
        let mut allocated: Vec<(Mid, RemoteTrack, Vec<Layer>)> = Vec::new();
        let mut demands = Vec::new();
        for (mid, r) in &peer.receiving {
            let published =
                self.source_mid(r.source).and_then(|(from, mid)| self.peers.get(&from)?.published.get(&mid));
            if !r.source.kind.is_video() {
                audio_bps += published.and_then(|p| p.layers.first()).and_then(|l| l.bps).unwrap_or(AUDIO_DEFAULT_BPS);
                audio_mids.push(*mid);
                targets.push((*mid, Some(None)));
                continue;
            }
            let tile = peer.tiles.iter().find(|t| t.from == r.source.from && t.kind == r.source.kind).copied();
            // A new m-line the browser has not reported on yet: a small tile until it does.
            let tile = tile.or_else(|| {
                (!r.laid_out).then_some(TileView {
                    from: r.source.from,
                    kind: r.source.kind,
                    width: 160,
                    height: 90,
                    pinned: false,
                    speaking: false,
                })
            });
            let Some(tile) = tile else {
                // Not on screen: nothing to send.
                targets.push((*mid, None));
                continue;
            };
            let layers = published.map(|p| p.layers.as_slice()).unwrap_or(&[]);
            // A publisher's layers start within moments of each other: while they start,
            // go by the tile's size rather than step through each layer.
            let warming = layers
                .iter()
                .map(|l| l.first_seen)
                .min()
                .is_none_or(|t| now.saturating_duration_since(t) < LAYER_WARMUP);
            let simulcast = layers.iter().all(|l| l.layer.is_some());
            let offered: Vec<(Layer, u64)> = match choose_layer(layers, now, tile.height, None) {
                Some(wanted) if !(warming && simulcast) => {
                    let mut up_to: Vec<&LayerInfo> =
                        layers.iter().filter(|l| l.available(now) && rank(&l.layer) <= rank(&wanted)).collect();
                    up_to.sort_by_key(|l| rank(&l.layer));
                    up_to.iter().map(|l| (l.layer.clone(), l.cost())).collect()
                }
                _ => {
                    let top = rank(&Some(layer_for_height(tile.height).to_string())) as usize;
                    RIDS[..=top]
                        .iter()
                        .map(|rid| {
                            let layer = Some(rid.to_string());
                            let cost = layers.iter().find(|l| l.layer == layer).map(LayerInfo::cost);
                            (layer.clone(), cost.unwrap_or_else(|| LayerInfo::new(layer, now).cost()))
                        })
                        .collect()
                }
            };
            let importance = if tile.kind == TrackKind::Screen {
                Importance::Screen
            } else if tile.pinned {
                Importance::Pinned
            } else if tile.speaking {
                Importance::Speaker
            } else {
                Importance::Other
            };
            let current = offered.iter().position(|(l, _)| r.forwarding.sending.as_ref() == Some(l));
            demands.push(Demand {
                importance,
                area: tile.width as u64 * tile.height as u64,
                layers: offered.iter().map(|(_, c)| *c).collect(),
                current,
                memory: r.alloc,
            });
            allocated.push((*mid, r.source, offered.into_iter().map(|(l, _)| l).collect()));
        }
        // Audio redundancy (RED) when the link has room for it and every tile's lowest layer:
        // it saves voice from random loss, but on a link too thin for that it would cost the
        // video it needs, where the allocator keeps the queue short anyway.
        let with_red = audio_bps * AUDIO_RED_PCT / 100;
        let lowest: u64 = demands.iter().map(|d| d.layers[0]).sum();
        // A tenth of hysteresis, so an estimate at the edge does not toggle it every round.
        let red_was = peer.red.as_ref().is_none_or(|(on, _)| *on);
        let red = peer.budget_bps.is_none_or(|e| {
            let room = e * HEADROOM_PCT / 100;
            if red_was { room >= with_red + lowest } else { room * 10 >= (with_red + lowest) * 11 }
        });
        let audio_bps = if red { with_red } else { audio_bps };
        let grants = allocate(peer.budget_bps, audio_bps, &demands, now);
        tracing::trace!(
            conn_id,
            estimate = ?peer.budget_bps,
            audio_bps,
            demands = ?demands.iter().map(|d| (&d.layers, d.current)).collect::<Vec<_>>(),
            grants = ?grants.iter().map(|g| g.layer).collect::<Vec<_>>(),
            "SFU allocation"
        );
        // What the estimator should aim at: what is sent now, and everything wanted.
        let sent: u64 = grants.iter().zip(&demands).filter_map(|(g, d)| g.layer.map(|i| d.layers[i])).sum();
        let wanted: u64 = demands.iter().map(|d| d.layers[d.layers.len() - 1]).sum();
        // The minimum keeps the link busy with enough for the next step (padding where media
        // is short), so the estimate can grow into it; the target is everything wanted.
        let bwe_target = (audio_bps + sent + next_step(&demands, &grants), audio_bps + wanted);
        let in_call = peer.call.is_some();

        let Some(peer) = self.peers.get_mut(&conn_id) else { return };
        let mut paused = Vec::new();
        for ((mid, source, layers), grant) in allocated.into_iter().zip(grants) {
            if grant.layer.is_none() {
                paused.push(source);
            }
            targets.push((mid, grant.layer.map(|i| layers[i].clone())));
            if let Some(r) = peer.receiving.get_mut(&mid) {
                r.alloc = grant.memory;
            }
        }
        for (mid, target) in targets {
            if let Some(r) = peer.receiving.get_mut(&mid) {
                r.forwarding.target = target;
            }
        }
        paused.sort();
        if in_call && paused != peer.paused {
            if !paused.is_empty() || !peer.paused.is_empty() {
                tracing::debug!(conn_id, ?paused, estimate = ?peer.budget_bps, "SFU video paused for bandwidth");
            }
            peer.tell(&crate::protocol::ServerMsg::CallPaused { tracks: paused.clone() });
            peer.paused = paused;
        }
        audio_mids.sort();
        let red_state = (red, audio_mids);
        if peer.red.as_ref() != Some(&red_state) {
            if let Some(rtc) = peer.rtc.as_mut() {
                for mid in &red_state.1 {
                    let _ = catch_unwind(AssertUnwindSafe(|| rtc.direct_api().set_red_send(*mid, red)));
                }
                peer.timeout = now;
                peer.red = Some(red_state);
            }
        }
        if bwe_target != peer.bwe_target {
            peer.bwe_target = bwe_target;
            if let Some(rtc) = peer.rtc.as_mut() {
                let (min, desired) = bwe_target;
                let set = catch_unwind(AssertUnwindSafe(|| {
                    rtc.bwe().set_bitrate(str0m::bwe::Bitrate::bps(min), str0m::bwe::Bitrate::bps(desired.max(min)))
                }));
                if set.is_err() {
                    tracing::warn!(conn_id, "SFU bandwidth target refused");
                }
                // str0m's rule: after a change, poll it (the loop does, on its next turn).
                peer.timeout = now;
            }
        }
    }

    /// Dynacast for `call`: tell each publisher which simulcast layers of its camera
    /// someone receives (or is about to), so it stops encoding the others.
    pub(super) fn dynacast(&mut self, call: &Arc<str>) {
        let now = Instant::now();
        let Some(members) = self.calls.get(call).cloned() else { return };
        for from in &members {
            let Some(publisher) = self.peers.get(from) else { continue };
            let mut changes = Vec::new();
            for (mid, track) in &publisher.published {
                let simulcast = track.layers.len() > 1 && track.layers.iter().all(|l| l.layer.is_some());
                if !track.kind.is_video() || !simulcast {
                    continue;
                }
                let source = RemoteTrack { from: *from, kind: track.kind };
                let wanted = members
                    .iter()
                    .filter_map(|id| self.peers.get(id))
                    .flat_map(|p| p.receiving.values())
                    .filter(|r| r.source == source)
                    .flat_map(|r| [r.forwarding.target.clone(), r.forwarding.sending.clone()])
                    .flatten()
                    .map(|l| rank(&l) as usize);
                let on = layers_to_encode(RIDS.len(), wanted);
                let mut rids: Vec<String> =
                    track.layers.iter().filter(|l| on[rank(&l.layer) as usize]).filter_map(|l| l.layer.clone()).collect();
                rids.sort_by_key(|r| rank(&Some(r.clone())));
                let all = track.layers.len() == rids.len();
                let told = track.encoding.as_ref();
                if told != Some(&rids) && !(told.is_none() && all) {
                    changes.push((*mid, track.kind, rids));
                }
            }
            let Some(publisher) = self.peers.get_mut(from) else { continue };
            for (mid, kind, rids) in changes {
                tracing::debug!(conn_id = *from, ?kind, ?rids, "SFU dynacast: layers to encode");
                publisher.tell(&crate::protocol::ServerMsg::CallLayers { kind, rids: rids.clone() });
                let Some(track) = publisher.published.get_mut(&mid) else { continue };
                for l in &mut track.layers {
                    let on = l.layer.as_ref().is_some_and(|rid| rids.contains(rid));
                    l.set_encoding(on, now);
                }
                track.encoding = Some(rids);
            }
        }
    }
}
