//! One `RTCPeerConnection` and its negotiation, shared by peer-to-peer calls (one per other
//! participant) and SFU calls (one, to the server).
//!
//! Why "perfect negotiation": when two peers need to (re)negotiate at the same moment — both
//! add tracks on joining, or one shares a screen while the other switches camera — both
//! send offers. One side of every pair is *polite* (here: the one with the higher
//! connection id): it rolls back its own offer and answers; the impolite side ignores the
//! colliding offer. No deadlock, no lost negotiation, whatever the timing. (The SFU never
//! offers, so on that connection there is nothing to collide with.)
//!
//! Why signals go through a per-peer queue: each signal is applied with awaits (set the
//! remote description, then create and set an answer). A candidate handled before its offer
//! finished would fail, so every peer processes its signals strictly in order.
//!
//! Why ICE restarts itself: a network change (Wi-Fi to mobile, a VPN) or a few seconds
//! without packets leave ICE `disconnected` and then `failed`. After a short grace the
//! connection calls `restartIce()`, which renegotiates new candidates on the same
//! connection: the call recovers without leaving and rejoining.

use std::cell::Cell;
use std::rc::Rc;

use futures::channel::mpsc;
use futures::StreamExt;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    RtcConfiguration, RtcIceCandidateInit, RtcIceConnectionState, RtcPeerConnection, RtcPeerConnectionIceEvent,
    RtcSdpType, RtcSessionDescriptionInit, RtcSignalingState, RtcTrackEvent,
};

use super::js::err_text;
use crate::client::port::Model;
use crate::model::{Input, MediaEvent};
use crate::protocol::{ConnId, IceServer, SdpType, SignalPayload, TrackMid};

/// How long ICE may stay `disconnected` before the connection restarts it.
const ICE_RESTART_AFTER_MS: i32 = 2500;

pub struct Peer {
    pub pc: RtcPeerConnection,
    pub signals: mpsc::UnboundedSender<SignalPayload>,
    /// Kept alive as long as the connection: the JS callbacks.
    _callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Peer {
    pub fn close(&self) {
        self.pc.close();
    }
}

/// Describes each offer's m-lines (SFU offers carry what each is for).
pub type Describe = Rc<dyn Fn(&RtcPeerConnection) -> Vec<TrackMid>>;

/// How one connection behaves.
pub struct Setup {
    /// The other side: a participant, or [`crate::protocol::SFU_PEER`].
    pub other: ConnId,
    pub polite: bool,
    pub ice: IceSetup,
    pub describe: Option<Describe>,
    pub on_track: Option<Box<dyn FnMut(RtcTrackEvent)>>,
    /// Runs just before the first remote offer is answered (a newcomer adds its tracks
    /// then, so they ride on the offered transceivers).
    pub before_first_answer: Option<Box<dyn FnOnce(&RtcPeerConnection)>>,
}

/// The ICE servers the server handed out, and whether all media must be relayed.
#[derive(Debug, Clone, Default)]
pub struct IceSetup {
    pub servers: Vec<IceServer>,
    /// `iceTransportPolicy: "relay"`: no candidate reveals this browser's own address.
    pub relay_only: bool,
}

/// Give an open connection fresh ICE servers: TURN credentials expire, and an ICE restart
/// later in a long call must not present stale ones.
pub fn refresh_ice(pc: &RtcPeerConnection, ice: &IceSetup) {
    if let Err(e) = pc.set_configuration_with_configuration(&ice_config(ice)) {
        leptos::logging::warn!("setConfiguration: {e:?}");
    }
}

fn ice_config(ice: &IceSetup) -> RtcConfiguration {
    let config = RtcConfiguration::new();
    if let Ok(list) = js_sys::JSON::parse(&serde_json::to_string(&ice.servers).unwrap_or_else(|_| "[]".into())) {
        config.set_ice_servers(&list);
    }
    if ice.relay_only {
        config.set_ice_transport_policy(web_sys::RtcIceTransportPolicy::Relay);
    }
    config
}

/// Open a connection: trickle ICE, offers on `negotiationneeded`, ICE restarts, and a task
/// applying the other side's signals in order.
pub fn open(model: Model, setup: Setup) -> Option<Peer> {
    let Setup { other, polite, ice, describe, on_track, before_first_answer } = setup;
    let Ok(pc) = RtcPeerConnection::new_with_configuration(&ice_config(&ice)) else {
        model.dispatch(Input::Media(MediaEvent::WebrtcUnavailable));
        return None;
    };
    let making_offer = Rc::new(Cell::new(false));
    let mut callbacks: Vec<Closure<dyn FnMut(JsValue)>> = Vec::new();

    // Trickle ICE: each local candidate goes to the other side as soon as it is found.
    callbacks.push(Closure::new(move |ev: JsValue| {
        let ev: RtcPeerConnectionIceEvent = ev.unchecked_into();
        if let Some(c) = ev.candidate() {
            let payload =
                SignalPayload::Candidate { candidate: c.candidate(), sdp_mid: c.sdp_mid(), sdp_m_line_index: c.sdp_m_line_index() };
            model.dispatch(Input::Media(MediaEvent::Signal { to: other, payload }));
        }
    }));
    pc.set_onicecandidate(Some(callbacks.last().unwrap().as_ref().unchecked_ref()));

    if let Some(mut on_track) = on_track {
        callbacks.push(Closure::new(move |ev: JsValue| on_track(ev.unchecked_into())));
        pc.set_ontrack(Some(callbacks.last().unwrap().as_ref().unchecked_ref()));
    }

    {
        let pc2 = pc.clone();
        let making_offer = making_offer.clone();
        callbacks.push(Closure::new(move |_| {
            let pc = pc2.clone();
            let making_offer = making_offer.clone();
            let describe = describe.clone();
            leptos::task::spawn_local(async move {
                making_offer.set(true);
                let result = async {
                    set_local_description(&pc).await?;
                    // A remote offer may have been applied meanwhile (then we answered it).
                    if pc.signaling_state() == RtcSignalingState::HaveLocalOffer {
                        let tracks = describe.as_ref().map(|d| d(&pc)).unwrap_or_default();
                        send_local_description(model, &pc, other, tracks);
                    }
                    Ok::<_, JsValue>(())
                }
                .await;
                making_offer.set(false);
                if let Err(e) = result {
                    leptos::logging::warn!("offer to {other} failed: {}", err_text(&e));
                }
            });
        }));
        pc.set_onnegotiationneeded(Some(callbacks.last().unwrap().as_ref().unchecked_ref()));
    }

    {
        let pc2 = pc.clone();
        let restart = Closure::<dyn FnMut()>::new({
            let pc = pc.clone();
            move || {
                let state = pc.ice_connection_state();
                if matches!(state, RtcIceConnectionState::Disconnected | RtcIceConnectionState::Failed) {
                    restart_ice(&pc);
                }
            }
        });
        let restart: js_sys::Function = restart.into_js_value().unchecked_into();
        callbacks.push(Closure::new(move |_| match pc2.ice_connection_state() {
            RtcIceConnectionState::Failed => restart_ice(&pc2),
            RtcIceConnectionState::Disconnected => {
                if let Some(w) = web_sys::window() {
                    let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&restart, ICE_RESTART_AFTER_MS);
                }
            }
            _ => {}
        }));
        pc.set_oniceconnectionstatechange(Some(callbacks.last().unwrap().as_ref().unchecked_ref()));
    }

    let mut negotiator =
        Negotiator { model, pc: pc.clone(), other, polite, making_offer, ignore_offer: false, before_first_answer };
    let (tx, mut rx) = mpsc::unbounded::<SignalPayload>();
    leptos::task::spawn_local(async move {
        while let Some(signal) = rx.next().await {
            if let Err(e) = negotiator.apply(signal).await {
                leptos::logging::warn!("signal from {other} failed: {}", err_text(&e));
            }
        }
    });
    Some(Peer { pc, signals: tx, _callbacks: callbacks })
}

fn restart_ice(pc: &RtcPeerConnection) {
    if pc.signaling_state() == RtcSignalingState::Closed {
        return;
    }
    leptos::logging::log!("ICE {:?}: restarting", pc.ice_connection_state());
    if let Ok(restart) = js_sys::Reflect::get(pc, &"restartIce".into()) {
        if let Ok(restart) = restart.dyn_into::<js_sys::Function>() {
            let _ = restart.call0(pc);
        }
    }
}

/// `setLocalDescription()` without arguments: the browser creates the offer or answer that
/// fits the signalling state at that moment, so a glare can never leave a stale offer
/// behind (the binding in web-sys needs an argument, hence the call by name).
async fn set_local_description(pc: &RtcPeerConnection) -> Result<(), JsValue> {
    let method: js_sys::Function = js_sys::Reflect::get(pc, &"setLocalDescription".into())?.dyn_into()?;
    let promise: js_sys::Promise = method.call0(pc)?.dyn_into()?;
    JsFuture::from(promise).await?;
    Ok(())
}

fn send_local_description(model: Model, pc: &RtcPeerConnection, to: ConnId, tracks: Vec<TrackMid>) {
    if let Some(desc) = pc.local_description() {
        let sdp_type = match desc.type_() {
            RtcSdpType::Offer => SdpType::Offer,
            RtcSdpType::Answer => SdpType::Answer,
            _ => return,
        };
        let payload = SignalPayload::Description { sdp_type, sdp: desc.sdp(), tracks };
        model.dispatch(Input::Media(MediaEvent::Signal { to, payload }));
    }
}

/// The perfect-negotiation state of one peer connection, owned by that peer's signal task.
struct Negotiator {
    model: Model,
    pc: RtcPeerConnection,
    other: ConnId,
    polite: bool,
    /// Set by the `negotiationneeded` handler while it makes an offer.
    making_offer: Rc<Cell<bool>>,
    /// The last remote offer was ignored (impolite side of a glare), and so are its candidates.
    ignore_offer: bool,
    before_first_answer: Option<Box<dyn FnOnce(&RtcPeerConnection)>>,
}

impl Negotiator {
    async fn apply(&mut self, signal: SignalPayload) -> Result<(), JsValue> {
        let pc = &self.pc;
        match signal {
            SignalPayload::Description { sdp_type, sdp, .. } => {
                let is_offer = sdp_type == SdpType::Offer;
                let collision =
                    is_offer && (self.making_offer.get() || pc.signaling_state() != RtcSignalingState::Stable);
                self.ignore_offer = !self.polite && collision;
                if self.ignore_offer {
                    return Ok(());
                }
                if !is_offer && pc.signaling_state() != RtcSignalingState::HaveLocalOffer {
                    // An answer to an offer we rolled back: nothing to apply.
                    return Ok(());
                }
                // On the polite side of a glare, this rolls back my own offer implicitly.
                let desc = RtcSessionDescriptionInit::new(if is_offer { RtcSdpType::Offer } else { RtcSdpType::Answer });
                desc.set_sdp(&sdp);
                JsFuture::from(pc.set_remote_description(&desc)).await?;
                if is_offer {
                    if let Some(hook) = self.before_first_answer.take() {
                        hook(pc);
                    }
                    set_local_description(pc).await?;
                    send_local_description(self.model, pc, self.other, Vec::new());
                }
            }
            SignalPayload::Candidate { candidate, sdp_mid, sdp_m_line_index } => {
                let init = RtcIceCandidateInit::new(&candidate);
                init.set_sdp_mid(sdp_mid.as_deref());
                init.set_sdp_m_line_index(sdp_m_line_index);
                let added = JsFuture::from(pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init))).await;
                // Candidates of an offer we ignored are expected to fail.
                if added.is_err() && !self.ignore_offer {
                    added?;
                }
            }
        }
        Ok(())
    }
}

/// Keep the callbacks' types in one place for the modules that build on this one.
pub type TrackCallback = Box<dyn FnMut(RtcTrackEvent)>;
