//! Packets through the SFU: what comes in from the network (demultiplexed to the `Rtc` that
//! accepts it), str0m's timeouts, and draining each `Rtc` of what it has to say — its
//! packets out, and the media and keyframe requests it passes to the others (forwarding,
//! with the simulcast layer choice per subscriber).
//!
//! Why apart from `mod.rs`: this is the hot path, per packet; `mod.rs` is the per-call
//! control (who is in which call, signalling, failures).

use super::*;

/// Work that touches one participant's `Rtc`, done one at a time so every mutation is
/// followed by a full drain (str0m's rule), and events of one `Rtc` never mutate another
/// while it is borrowed.
pub(super) enum Work {
    Forward { from: ConnId, mid: Mid, data: MediaData },
    KeyframeRequest { to: ConnId, mid: Mid, layer: Option<String> },
}

impl Sfu {
    /// One packet from `source` (UDP, or a frame of an ICE-TCP connection); false if no
    /// participant's `Rtc` accepts it.
    pub(super) fn packet(&mut self, data: &[u8], source: SocketAddr, proto: Protocol, net: &Net) -> bool {
        self.stats.packets_in.fetch_add(1, Ordering::Relaxed);
        let Ok(contents) = data.try_into() else { return false };
        let mut destination = self.local_addr_for(source);
        if proto == Protocol::Tcp {
            destination.set_port(self.tcp_port.unwrap_or(destination.port()));
        }
        let now = Instant::now();
        let input = Input::Receive(now, Receive { proto, source, destination, contents });
        let owner = self
            .routes
            .get(&(proto, source))
            .copied()
            .filter(|id| self.peers.get(id).and_then(|p| p.rtc.as_ref()).is_some_and(|r| r.accepts(&input)))
            .or_else(|| {
                self.peers.values().find(|p| p.rtc.as_ref().is_some_and(|r| r.accepts(&input))).map(|p| p.conn_id)
            });
        let Some(conn_id) = owner else {
            tracing::trace!(%source, ?proto, "packet for no participant");
            return false;
        };
        self.routes.insert((proto, source), conn_id);
        let Some(rtc) = self.peers.get_mut(&conn_id).and_then(|p| p.rtc.as_mut()) else { return false };
        match catch_unwind(AssertUnwindSafe(|| rtc.handle_input(input))) {
            Ok(Ok(())) => self.drain(conn_id, net),
            Ok(Err(e)) => self.fail(conn_id, &format!("media error: {e}")),
            Err(_) => self.fail(conn_id, "the SFU failed on this participant's media"),
        }
        true
    }

    /// The local address a packet from `source` was sent to: the loopback candidate for
    /// loopback sources, else the first of the same family.
    pub(super) fn local_addr_for(&self, source: SocketAddr) -> SocketAddr {
        let loopback = source.ip().is_loopback();
        self.candidates
            .iter()
            .find(|c| c.ip().is_loopback() == loopback && c.is_ipv4() == source.is_ipv4())
            .or_else(|| self.candidates.iter().find(|c| c.is_ipv4() == source.is_ipv4()))
            .or(self.candidates.first())
            .copied()
            .unwrap_or(source)
    }

    pub(super) fn timeouts(&mut self, net: &Net) {
        let now = Instant::now();
        let due: Vec<ConnId> =
            self.peers.values().filter(|p| p.rtc.is_some() && p.timeout <= now).map(|p| p.conn_id).collect();
        for conn_id in due {
            let Some(rtc) = self.peers.get_mut(&conn_id).and_then(|p| p.rtc.as_mut()) else { continue };
            match catch_unwind(AssertUnwindSafe(|| rtc.handle_input(Input::Timeout(now)))) {
                Ok(Ok(())) => self.drain(conn_id, net),
                Ok(Err(e)) => self.fail(conn_id, &format!("media error: {e}")),
                Err(_) => self.fail(conn_id, "the SFU failed on this participant's media"),
            }
        }
        if now >= self.next_relayout {
            self.next_relayout = now + RELAYOUT_EVERY;
            let ids: Vec<ConnId> = self.peers.keys().copied().collect();
            for id in ids {
                self.relayout(id);
            }
            let calls: Vec<Arc<str>> = self.calls.keys().cloned().collect();
            for call in calls {
                self.dynacast(&call);
            }
        }
    }

    /// Poll one `Rtc` until it has nothing more to say: send its packets, then act on its
    /// events (which may touch other participants, each drained in turn).
    pub(super) fn drain(&mut self, conn_id: ConnId, net: &Net) {
        let mut work = std::collections::VecDeque::new();
        self.drain_one(conn_id, net, &mut work);
        while let Some(item) = work.pop_front() {
            match item {
                Work::Forward { from, mid, data } => self.forward(from, mid, data, net, &mut work),
                Work::KeyframeRequest { to, mid, layer } => {
                    self.request_keyframe(to, mid, layer);
                    self.drain_one(to, net, &mut work);
                }
            }
        }
    }

    fn drain_one(&mut self, conn_id: ConnId, net: &Net, work: &mut std::collections::VecDeque<Work>) {
        let Some(peer) = self.peers.get_mut(&conn_id) else { return };
        let Some(rtc) = peer.rtc.as_mut() else { return };
        let mut events = Vec::new();
        let stats = &self.stats;
        let polled = catch_unwind(AssertUnwindSafe(|| loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break Ok(t),
                Ok(Output::Transmit(t)) => {
                    let counter = if net.send(&t) { &stats.packets_out } else { &stats.send_errors };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Output::Event(e)) => events.push(e),
                Err(e) => break Err(e.to_string()),
            }
        }));
        match polled {
            Ok(Ok(t)) => peer.timeout = t,
            Ok(Err(e)) => return self.fail(conn_id, &format!("media error: {e}")),
            Err(_) => return self.fail(conn_id, "the SFU failed on this participant's media"),
        }
        if !rtc.is_alive() {
            return self.fail(conn_id, "the media connection was lost");
        }
        let _ = peer;
        for event in events {
            match event {
                Event::MediaData(data) => {
                    work.push_back(Work::Forward { from: conn_id, mid: data.mid, data });
                }
                Event::KeyframeRequest(req) => {
                    // A subscriber's decoder needs a keyframe: ask the track's publisher.
                    let Some(r) = self.peers.get(&conn_id).and_then(|p| p.receiving.get(&req.mid)) else { continue };
                    let layer = r.forwarding.sending.clone().or_else(|| r.forwarding.target.clone()).flatten();
                    if let Some((to, mid)) = self.source_mid(r.source) {
                        work.push_back(Work::KeyframeRequest { to, mid, layer });
                    }
                }
                Event::EgressBitrateEstimate(str0m::bwe::BweKind::Twcc { estimate, .. }) => {
                    if let Some(peer) = self.peers.get_mut(&conn_id) {
                        peer.budget_bps = Some(estimate.as_u64());
                    }
                }
                Event::IceConnectionStateChange(state) => {
                    tracing::debug!(conn_id, ?state, "SFU ICE state");
                }
                Event::Connected => tracing::info!(conn_id, "SFU media connected"),
                _ => {}
            }
        }
    }

    /// The publisher and m-line of a track, if it is being published.
    pub(super) fn source_mid(&self, track: RemoteTrack) -> Option<(ConnId, Mid)> {
        let peer = self.peers.get(&track.from)?;
        peer.published.iter().find(|(_, p)| p.kind == track.kind).map(|(mid, _)| (track.from, *mid))
    }

    /// A frame arrived from `from` on `mid`: give it to every subscriber that wants it.
    fn forward(
        &mut self,
        from: ConnId,
        mid: Mid,
        data: MediaData,
        net: &Net,
        work: &mut std::collections::VecDeque<Work>,
    ) {
        self.stats.frames_in.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let Some(publisher) = self.peers.get_mut(&from) else { return };
        let Some(track) = publisher.published.get_mut(&mid) else { return };
        let kind = track.kind;
        let layer: Option<String> = data.rid.map(|r| r.to_string());
        let keyframe = !kind.is_video() || data.is_keyframe();
        let mut new_layer = false;
        {
            // Audio is measured too: its cost comes first in each subscriber's budget.
            let size = if kind.is_video() && keyframe { vp8_keyframe_size(&data.data) } else { None };
            match track.layers.iter_mut().find(|l| l.layer == layer) {
                Some(info) => info.saw_frame(now, data.data.len(), size),
                None => {
                    let mut info = LayerInfo::new(layer.clone(), now);
                    info.saw_frame(now, data.data.len(), size);
                    track.layers.push(info);
                    new_layer = true;
                }
            }
        }
        // A prepared connection not in a call yet forwards nothing.
        let Some(call) = publisher.call.clone() else { return };
        let source = RemoteTrack { from, kind };
        if !publisher.within_publish_limit(data.data.len(), kind, now) {
            self.stats.frames_policed.fetch_add(1, Ordering::Relaxed);
            // Whoever was getting this layer lost a frame its decoder needs: they wait for
            // (and ask for) the next keyframe instead of showing garbage until then.
            let members = self.calls.get(&call).cloned().unwrap_or_default();
            for id in members {
                let Some(sub) = self.peers.get_mut(&id) else { continue };
                for r in sub.receiving.values_mut().filter(|r| r.source == source) {
                    if r.forwarding.sending.as_ref() == Some(&layer) {
                        r.forwarding.sending = None;
                    }
                }
            }
            return;
        }
        let Some(members) = self.calls.get(&call).cloned() else { return };
        if new_layer {
            // A layer started (or came back): the choices may change.
            for id in &members {
                self.relayout(*id);
            }
        }
        let mut want_keyframe = false;
        for sub_id in members.into_iter().filter(|id| *id != from) {
            let Some(sub) = self.peers.get_mut(&sub_id) else { continue };
            let Some(rtc) = sub.rtc.as_mut() else { continue };
            let mut wrote = false;
            let mut failed = None;
            for (out_mid, r) in sub.receiving.iter_mut().filter(|(_, r)| r.source == source) {
                if r.forwarding.target.is_none() && !kind.is_video() {
                    r.forwarding.target = Some(None);
                }
                match r.forwarding.decide(&layer, keyframe) {
                    Decision::Forward { switched } => {
                        let freq = data.time.frequency();
                        let out = r.time.rewrite(data.time.numer(), data.network_time, switched, freq.get() as u64);
                        let time = str0m::media::MediaTime::new(out, freq);
                        let written = catch_unwind(AssertUnwindSafe(|| {
                            let Some(writer) = rtc.writer(*out_mid) else { return Ok(false) };
                            let Some(pt) = writer.match_params(data.params) else { return Ok(false) };
                            writer.write(pt, data.network_time, time, data.data.clone()).map(|_| true)
                        }));
                        match written {
                            Ok(Ok(true)) => {
                                wrote = true;
                                self.stats.frames_forwarded.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(Ok(false)) => {}
                            Ok(Err(e)) => failed = Some(format!("media error: {e}")),
                            Err(_) => failed = Some("the SFU failed writing to this participant".into()),
                        }
                    }
                    Decision::NeedKeyframe => want_keyframe = true,
                    Decision::Drop => {}
                }
                if failed.is_some() {
                    break;
                }
            }
            if let Some(why) = failed {
                self.fail(sub_id, &why);
            } else if wrote {
                self.drain_one(sub_id, net, work);
            }
        }
        if want_keyframe {
            self.request_keyframe(from, mid, layer);
            self.drain_one(from, net, work);
        }
    }

    /// Ask `to` for a keyframe of `layer` on its published `mid`, at most every
    /// [`KEYFRAME_REQUEST_EVERY`].
    pub(super) fn request_keyframe(&mut self, to: ConnId, mid: Mid, layer: Option<String>) {
        let now = Instant::now();
        let Some(peer) = self.peers.get_mut(&to) else { return };
        let Some(track) = peer.published.get_mut(&mid) else { return };
        if track.last_keyframe_request.get(&layer).is_some_and(|t| now.duration_since(*t) < KEYFRAME_REQUEST_EVERY) {
            return;
        }
        track.last_keyframe_request.insert(layer.clone(), now);
        let Some(rtc) = peer.rtc.as_mut() else { return };
        let rid = layer.as_deref().map(Rid::from);
        let requested = catch_unwind(AssertUnwindSafe(|| {
            rtc.writer(mid).map(|mut w| w.request_keyframe(rid, KeyframeRequestKind::Pli))
        }));
        if let Ok(Some(Ok(()))) = requested {
            self.stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
        }
    }
}
