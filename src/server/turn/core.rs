//! The TURN server's rules (RFC 8656, UDP relays), without I/O or a clock of its own: the
//! loop hands it what arrived with the time ([`Clock`]) and sends what it returns ([`Out`]),
//! as str0m's `Rtc` works. STUN and TURN messages are read and written with the
//! `stun-types`/`turn-types` crates (the sans-I/O parsers `turn-server-proto` is built
//! on); the allocation rules are ours because the server needs three things that crate
//! cannot be told: credentials checked from a secret rather than a user list, refusing
//! peers by address, and forgetting expired users.
//!
//! What it does: Binding (for STUN), Allocate (a UDP relay per client 5-tuple), Refresh,
//! CreatePermission, ChannelBind, Send indications and ChannelData from clients; data from
//! peers goes back as ChannelData or Data indications, only from peers with a permission.
//!
//! Why peers are checked: a relay is a way into the network the server sits in. Unless
//! told otherwise (`allow_private`), a permission or channel to a loopback, private,
//! link-local, shared (CGNAT), multicast or unspecified address is refused with 403. The
//! one exception is Noom's own sockets, by exact address and port: the SFU's UDP candidates
//! and the relays of this server (two browsers that both relay must reach each other). A
//! permission is per IP (RFC 8656), so for such an address every datagram is checked again
//! against the exact list: a permission for the SFU's 127.0.0.1 opens 127.0.0.1:3479, not
//! another service on that machine.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use turn_types::attribute::{Data, XorPeerAddress};
use turn_types::channel::ChannelData;
use turn_types::message::{ALLOCATE, CHANNEL_BIND, CREATE_PERMISSION, DATA, REFRESH, SEND};
use turn_types::stun::attribute::XorMappedAddress;
use turn_types::stun::message::{
    Message, MessageClass, MessageIntegrityCredentials, MessageType,
    MessageWriteVec, TransactionId, BINDING,
};
use turn_types::stun::prelude::{MessageWrite, MessageWriteExt};

pub use super::policy::{is_public, Policy, MAX_PERMISSIONS};
use super::stun::*;

pub use super::stun::REALM;
/// An allocation lives this long unless refreshed; at most [`MAX_LIFETIME`].
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);
pub const MAX_LIFETIME: Duration = Duration::from_secs(3600);
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
/// A nonce is good for this long, then the client is told it is stale (438).
pub const NONCE_LIFETIME: Duration = Duration::from_secs(600);
/// Allocations one credential may hold (a browser makes one per ICE component and
/// transport, a few per call).
pub const MAX_ALLOCATIONS_PER_USER: usize = 16;

/// How a client reached the TURN server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

/// A client: its transport and address (for TCP and TLS, one connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client {
    pub transport: Transport,
    pub addr: SocketAddr,
}

/// The time, from outside: `now` for lifetimes, `unix` (seconds) for credential expiry.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: Instant,
    pub unix: u64,
}

/// What the loop must do.
#[derive(Debug, PartialEq, Eq)]
pub enum Out {
    /// Send to a client (already framed for its transport).
    ToClient { client: Client, data: Vec<u8> },
    /// Send from the relay socket bound at `relay` to `peer`.
    ToPeer { relay: SocketAddr, peer: SocketAddr, data: Vec<u8> },
    /// Bind a UDP relay socket for `client` and report it with [`TurnCore::allocated`].
    Allocate { client: Client },
    /// Close the relay socket bound at `relay`.
    Release { relay: SocketAddr },
}

pub(super) struct Allocation {
    /// The relay socket's bound address (the loop's key) and the address announced.
    pub(super) bound: SocketAddr,
    pub(super) announced: SocketAddr,
    /// The Allocate that made it: a retransmission of it (its answer was lost) gets the
    /// same answer, not 437.
    pub(super) transaction: TransactionId,
    pub(super) username: String,
    pub(super) expires: Instant,
    pub(super) permissions: HashMap<IpAddr, Instant>,
    pub(super) channels: HashMap<u16, (SocketAddr, Instant)>,
}

pub(super) struct Pending {
    pub(super) transaction: TransactionId,
    pub(super) username: String,
    pub(super) credentials: MessageIntegrityCredentials,
    pub(super) lifetime: Duration,
}

/// The TURN server's state.
pub struct TurnCore {
    pub(super) secret: Vec<u8>,
    pub(super) nonce_key: [u8; 32],
    pub(super) started: Instant,
    pub(super) policy: Policy,
    pub(super) max_allocations: usize,
    pub(super) allocations: HashMap<Client, Allocation>,
    pub(super) by_relay: HashMap<SocketAddr, Client>,
    pub(super) pending: HashMap<Client, Pending>,
    /// The addresses announced for this server's relays (a peer may be another relay).
    pub(super) announced: Vec<SocketAddr>,
}


impl TurnCore {
    /// `secret` checks credentials; `nonce_key` (random) makes nonces nobody can forge.
    pub fn new(secret: Vec<u8>, nonce_key: [u8; 32], policy: Policy, max_allocations: usize, started: Instant) -> TurnCore {
        TurnCore {
            secret,
            nonce_key,
            started,
            policy,
            max_allocations,
            allocations: HashMap::new(),
            by_relay: HashMap::new(),
            pending: HashMap::new(),
            announced: Vec::new(),
        }
    }

    pub fn allocations(&self) -> usize {
        self.allocations.len()
    }

    /// Add a socket of Noom's own that relays may always reach.
    pub fn allow_own(&mut self, addr: SocketAddr) {
        if !self.policy.own.contains(&addr) {
            self.policy.own.push(addr);
        }
    }

    /// Bytes from a client (one datagram, or one framed message of a stream).
    pub fn from_client(&mut self, clock: Clock, client: Client, data: &[u8], out: &mut Vec<Out>) {
        if let Ok(channel) = ChannelData::parse(data) {
            return self.channel_from_client(clock, client, channel.id(), channel.data(), out);
        }
        let Ok(msg) = Message::from_bytes(data) else {
            tracing::trace!(?client, "TURN: neither STUN nor channel data");
            return;
        };
        if msg.has_class(MessageClass::Indication) {
            if msg.has_method(SEND) {
                self.send_indication(clock, client, &msg, out);
            }
            return;
        }
        if !msg.has_class(MessageClass::Request) {
            return;
        }
        if msg.has_method(BINDING) {
            let mut w = Message::builder_success(&msg, MessageWriteVec::new());
            let _ = w.add_attribute(&XorMappedAddress::new(client.addr, msg.transaction_id()));
            let _ = w.add_fingerprint();
            return out.push(reply(client, w.finish()));
        }
        let known = [ALLOCATE, REFRESH, CREATE_PERMISSION, CHANNEL_BIND];
        if !known.iter().any(|m| msg.has_method(*m)) {
            return out.push(reply(client, error(&msg, (400, "Unsupported request"), None, None)));
        }
        let (username, credentials) = match self.authenticate(clock, client, &msg) {
            Ok(auth) => auth,
            Err(answer) => return out.push(reply(client, answer)),
        };
        let signed = Some(&credentials);
        let retransmitted = self.allocations.get(&client).filter(|a| a.transaction == msg.transaction_id() && a.username == username);
        if let (true, Some(a)) = (msg.has_method(ALLOCATE), retransmitted) {
            let lifetime = a.expires.saturating_duration_since(clock.now).as_secs() as u32;
            let attrs = vec![Attr::Relayed(a.announced), Attr::Mapped(client.addr), Attr::Lifetime(lifetime)];
            return out.push(reply(client, success(&msg, attrs, &credentials)));
        }
        let result = if msg.has_method(ALLOCATE) {
            match self.allocate(clock, client, &msg, username, credentials.clone(), out) {
                Ok(()) => return,
                Err(e) => Err(e),
            }
        } else if msg.has_method(REFRESH) {
            self.refresh(clock, client, &msg, &username, out)
        } else if msg.has_method(CREATE_PERMISSION) {
            self.create_permission(clock, client, &msg, &username)
        } else {
            self.channel_bind(clock, client, &msg, &username)
        };
        let answer = match result {
            Ok(attrs) => success(&msg, attrs, &credentials),
            Err(refusal) => error(&msg, refusal, signed, None),
        };
        out.push(reply(client, answer));
    }

    /// The relay socket bound for `client` (or why not): answer its Allocate.
    pub fn allocated(&mut self, clock: Clock, client: Client, bound: std::io::Result<(SocketAddr, SocketAddr)>, out: &mut Vec<Out>) {
        let Some(p) = self.pending.remove(&client) else {
            if let Ok((bound, _)) = bound {
                out.push(Out::Release { relay: bound });
            }
            return;
        };
        let request = request_header(ALLOCATE, p.transaction);
        let Ok(msg) = Message::from_bytes(&request) else { return };
        let (bound, announced) = match bound {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(?client, "TURN relay socket: {e}");
                let answer = error(&msg, (508, "Insufficient Capacity"), Some(&p.credentials), None);
                return out.push(reply(client, answer));
            }
        };
        self.announced.push(announced);
        let lifetime = p.lifetime;
        self.allocations.insert(
            client,
            Allocation {
                bound,
                announced,
                transaction: p.transaction,
                username: p.username,
                expires: clock.now + lifetime,
                permissions: HashMap::new(),
                channels: HashMap::new(),
            },
        );
        self.by_relay.insert(bound, client);
        metrics::counter!("noom_turn_allocations_total").increment(1);
        let attrs = vec![
            Attr::Relayed(announced),
            Attr::Mapped(client.addr),
            Attr::Lifetime(lifetime.as_secs() as u32),
        ];
        out.push(reply(client, success(&msg, attrs, &p.credentials)));
    }

    /// A datagram that arrived on the relay socket bound at `relay` from `peer`.
    pub fn from_peer(&mut self, clock: Clock, relay: SocketAddr, peer: SocketAddr, data: &[u8], out: &mut Vec<Out>) {
        let Some(client) = self.by_relay.get(&relay).copied() else { return };
        if !self.policy.allows(peer, &self.announced) {
            return;
        }
        let Some(a) = self.allocations.get(&client) else { return };
        if a.expires <= clock.now || !a.permissions.get(&peer.ip()).is_some_and(|t| *t > clock.now) {
            return;
        }
        let channel = a.channels.iter().find(|(_, (addr, until))| *addr == peer && *until > clock.now).map(|(n, _)| *n);
        let framed = match channel {
            Some(number) => channel_data(client.transport, number, data),
            None => {
                let mtype = MessageType::from_class_method(MessageClass::Indication, DATA);
                let transaction = TransactionId::generate();
                let mut w = Message::builder(mtype, transaction, MessageWriteVec::new());
                let _ = w.add_attribute(&XorPeerAddress::new(peer, transaction));
                let _ = w.add_attribute(&Data::new(data));
                w.finish()
            }
        };
        out.push(Out::ToClient { client, data: framed });
    }

    /// A stream client went away, or a relay socket failed: forget its allocation.
    pub fn client_gone(&mut self, client: Client, out: &mut Vec<Out>) {
        self.pending.remove(&client);
        if let Some(a) = self.allocations.remove(&client) {
            self.by_relay.remove(&a.bound);
            self.announced.retain(|x| *x != a.announced);
            out.push(Out::Release { relay: a.bound });
        }
    }

    /// Drop what expired. Returns when to be called again at the latest.
    pub fn expire(&mut self, clock: Clock, out: &mut Vec<Out>) -> Instant {
        let gone: Vec<Client> = self.allocations.iter().filter(|(_, a)| a.expires <= clock.now).map(|(c, _)| *c).collect();
        for c in gone {
            self.client_gone(c, out);
        }
        let mut next = clock.now + Duration::from_secs(60);
        for a in self.allocations.values_mut() {
            a.permissions.retain(|_, until| *until > clock.now);
            a.channels.retain(|_, (_, until)| *until > clock.now);
            next = next.min(a.expires);
        }
        next
    }

    fn channel_from_client(&mut self, clock: Clock, client: Client, number: u16, data: &[u8], out: &mut Vec<Out>) {
        let Some(a) = self.allocations.get(&client) else { return };
        let Some((peer, until)) = a.channels.get(&number) else { return };
        if *until > clock.now && a.expires > clock.now && self.policy.allows(*peer, &self.announced) {
            out.push(Out::ToPeer { relay: a.bound, peer: *peer, data: data.to_vec() });
        }
    }

    fn send_indication(&mut self, clock: Clock, client: Client, msg: &Message<'_>, out: &mut Vec<Out>) {
        let Some(a) = self.allocations.get(&client) else { return };
        let (Ok(peer), Ok(data)) = (msg.attribute::<XorPeerAddress>(), msg.attribute::<Data>()) else { return };
        let peer = peer.addr(msg.transaction_id());
        let allowed = self.policy.allows(peer, &self.announced);
        if allowed && a.expires > clock.now && a.permissions.get(&peer.ip()).is_some_and(|t| *t > clock.now) {
            out.push(Out::ToPeer { relay: a.bound, peer, data: data.data().to_vec() });
        }
    }

}

/// An answer to `client`.
pub(super) fn reply(client: Client, data: Vec<u8>) -> Out {
    Out::ToClient { client, data }
}

/// ChannelData for `transport`: over TCP and TLS padded to a multiple of four bytes
/// (RFC 8656 §12.5), so the next message starts aligned.
pub fn channel_data(transport: Transport, number: u16, data: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(data.len() + 7);
    framed.extend_from_slice(&number.to_be_bytes());
    framed.extend_from_slice(&(data.len() as u16).to_be_bytes());
    framed.extend_from_slice(data);
    if transport != Transport::Udp {
        while framed.len() % 4 != 0 {
            framed.push(0);
        }
    }
    framed
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
