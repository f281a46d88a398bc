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

use hmac::{Hmac, Mac};
use sha1::Sha1;
use turn_types::attribute::{ChannelNumber, Data, Lifetime, RequestedTransport, XorPeerAddress, XorRelayedAddress};
use turn_types::channel::ChannelData;
use turn_types::message::{ALLOCATE, CHANNEL_BIND, CREATE_PERMISSION, DATA, REFRESH, SEND};
use turn_types::stun::attribute::{ErrorCode, Nonce, Realm, Username, XorMappedAddress};
use turn_types::stun::message::{
    IntegrityAlgorithm, LongTermKeyCredentials, Message, MessageClass, MessageIntegrityCredentials, MessageType,
    MessageWriteVec, TransactionId, BINDING,
};
use turn_types::stun::prelude::{Attribute, AttributeStaticType, MessageWrite, MessageWriteExt};

use super::credentials;

/// The realm in every challenge.
pub const REALM: &str = "noom";
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

/// Which peers a relay may reach.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Relay to loopback and private addresses too (tests on one machine, a LAN-only server).
    pub allow_private: bool,
    /// Noom's own sockets (the SFU's UDP candidates): always allowed, by exact address.
    pub own: Vec<SocketAddr>,
}

impl Policy {
    /// Whether a permission for `ip` may be installed.
    fn allows_ip(&self, ip: IpAddr, announced: &[SocketAddr]) -> bool {
        self.allow_private || is_public(ip) || self.own.iter().any(|a| a.ip() == ip) || announced.iter().any(|a| a.ip() == ip)
    }

    /// Whether a datagram may go to (or come from) `peer`.
    fn allows(&self, peer: SocketAddr, announced: &[SocketAddr]) -> bool {
        self.allow_private || is_public(peer.ip()) || self.own.contains(&peer) || announced.contains(&peer)
    }
}

/// Permissions one allocation may hold (a browser needs one per remote candidate address).
pub const MAX_PERMISSIONS: usize = 256;

/// An address on the public internet: not loopback, private, link-local, shared (CGNAT),
/// multicast, broadcast, unspecified or documentation.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10, shared address space
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

struct Allocation {
    /// The relay socket's bound address (the loop's key) and the address announced.
    bound: SocketAddr,
    announced: SocketAddr,
    /// The Allocate that made it: a retransmission of it (its answer was lost) gets the
    /// same answer, not 437.
    transaction: TransactionId,
    username: String,
    expires: Instant,
    permissions: HashMap<IpAddr, Instant>,
    channels: HashMap<u16, (SocketAddr, Instant)>,
}

struct Pending {
    transaction: TransactionId,
    username: String,
    credentials: MessageIntegrityCredentials,
    lifetime: Duration,
}

/// The TURN server's state.
pub struct TurnCore {
    secret: Vec<u8>,
    nonce_key: [u8; 32],
    started: Instant,
    policy: Policy,
    max_allocations: usize,
    allocations: HashMap<Client, Allocation>,
    by_relay: HashMap<SocketAddr, Client>,
    pending: HashMap<Client, Pending>,
    /// The addresses announced for this server's relays (a peer may be another relay).
    announced: Vec<SocketAddr>,
}

/// An error answer: code and reason.
type Refusal = (u16, &'static str);

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

    /// The long-term credential check (RFC 8489 §9.2) with REST credentials: 401 with a
    /// nonce to start, 438 when the nonce is stale, 401 for a wrong or expired credential.
    fn authenticate(
        &self,
        clock: Clock,
        client: Client,
        msg: &Message<'_>,
    ) -> Result<(String, MessageIntegrityCredentials), Vec<u8>> {
        let challenge = |refusal: Refusal| error(msg, refusal, None, Some(self.nonce(clock, client)));
        let (Ok(user), Ok(_realm), Ok(nonce)) = (msg.attribute::<Username>(), msg.attribute::<Realm>(), msg.attribute::<Nonce>())
        else {
            return Err(challenge((401, "Unauthorized")));
        };
        if !self.nonce_valid(clock, client, nonce.nonce()) {
            return Err(challenge((438, "Stale Nonce")));
        }
        let username = user.username().to_string();
        let Some(expiry) = credentials::expiry(&username) else {
            return Err(challenge((401, "Unauthorized")));
        };
        let password = credentials::password(&self.secret, &username);
        let creds: MessageIntegrityCredentials = LongTermKeyCredentials::new(username.clone(), password, REALM.into()).into();
        if msg.validate_integrity(&creds).is_err() {
            metrics::counter!("noom_turn_refused_total", "reason" => "credential").increment(1);
            return Err(challenge((401, "Unauthorized")));
        }
        // An expired credential opens nothing new; an allocation it opened in time may be
        // kept up (a call longer than the credential's life goes on).
        let keeping = self.allocations.get(&client).is_some_and(|a| a.username == username) && !msg.has_method(ALLOCATE);
        if expiry < clock.unix && !keeping {
            metrics::counter!("noom_turn_refused_total", "reason" => "expired").increment(1);
            return Err(challenge((401, "Unauthorized")));
        }
        Ok((username, creds))
    }

    /// A nonce: when it was made and a MAC over that and the client, in hex.
    fn nonce(&self, clock: Clock, client: Client) -> String {
        let made = clock.now.saturating_duration_since(self.started).as_secs();
        format!("{made:016x}{}", self.nonce_mac(made, client))
    }

    fn nonce_mac(&self, made: u64, client: Client) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.nonce_key).expect("any key length");
        mac.update(&made.to_be_bytes());
        mac.update(client.addr.to_string().as_bytes());
        mac.finalize().into_bytes()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    fn nonce_valid(&self, clock: Clock, client: Client, nonce: &str) -> bool {
        let Some(made) = nonce.get(..16).and_then(|h| u64::from_str_radix(h, 16).ok()) else { return false };
        let age = clock.now.saturating_duration_since(self.started).as_secs().saturating_sub(made);
        nonce.get(16..) == Some(self.nonce_mac(made, client).as_str()) && age < NONCE_LIFETIME.as_secs()
    }

    fn allocate(
        &mut self,
        clock: Clock,
        client: Client,
        msg: &Message<'_>,
        username: String,
        credentials: MessageIntegrityCredentials,
        out: &mut Vec<Out>,
    ) -> Result<(), Refusal> {
        if self.allocations.contains_key(&client) || self.pending.contains_key(&client) {
            return Err((437, "Allocation Mismatch"));
        }
        match msg.attribute::<RequestedTransport>() {
            Ok(t) if t.protocol() == RequestedTransport::UDP => {}
            Ok(_) => return Err((442, "Unsupported Transport Protocol")),
            Err(_) => return Err((400, "Bad Request")),
        }
        if self.allocations.len() + self.pending.len() >= self.max_allocations {
            metrics::counter!("noom_turn_refused_total", "reason" => "capacity").increment(1);
            return Err((508, "Insufficient Capacity"));
        }
        if self.allocations.values().filter(|a| a.username == username).count() >= MAX_ALLOCATIONS_PER_USER {
            metrics::counter!("noom_turn_refused_total", "reason" => "quota").increment(1);
            return Err((486, "Allocation Quota Reached"));
        }
        let lifetime = requested_lifetime(msg).unwrap_or(DEFAULT_LIFETIME).clamp(Duration::from_secs(60), MAX_LIFETIME);
        let _ = clock;
        self.pending.insert(client, Pending { transaction: msg.transaction_id(), username, credentials, lifetime });
        out.push(Out::Allocate { client });
        Ok(())
    }

    fn refresh(&mut self, clock: Clock, client: Client, msg: &Message<'_>, username: &str, out: &mut Vec<Out>) -> Result<Vec<Attr>, Refusal> {
        let a = self.owned(client, username)?;
        let lifetime = requested_lifetime(msg).unwrap_or(DEFAULT_LIFETIME).min(MAX_LIFETIME);
        if lifetime.is_zero() {
            self.client_gone(client, out);
            return Ok(vec![Attr::Lifetime(0)]);
        }
        a.expires = clock.now + lifetime;
        Ok(vec![Attr::Lifetime(lifetime.as_secs() as u32)])
    }

    fn create_permission(&mut self, clock: Clock, client: Client, msg: &Message<'_>, username: &str) -> Result<Vec<Attr>, Refusal> {
        let transaction = msg.transaction_id();
        let mut peers = Vec::new();
        for (_, raw) in msg.iter_attributes() {
            if raw.get_type() == XorPeerAddress::TYPE {
                let peer = XorPeerAddress::try_from(&raw).map_err(|_| (400, "Bad Request"))?;
                peers.push(peer.addr(transaction));
            }
        }
        if peers.is_empty() {
            return Err((400, "Bad Request"));
        }
        self.check_peers(&peers, false)?;
        let a = self.owned(client, username)?;
        let new = peers.iter().filter(|p| !a.permissions.contains_key(&p.ip())).count();
        if a.permissions.len() + new > MAX_PERMISSIONS {
            return Err((508, "Insufficient Capacity"));
        }
        for peer in peers {
            a.permissions.insert(peer.ip(), clock.now + PERMISSION_LIFETIME);
        }
        Ok(Vec::new())
    }

    fn channel_bind(&mut self, clock: Clock, client: Client, msg: &Message<'_>, username: &str) -> Result<Vec<Attr>, Refusal> {
        let (Ok(number), Ok(peer)) = (msg.attribute::<ChannelNumber>(), msg.attribute::<XorPeerAddress>()) else {
            return Err((400, "Bad Request"));
        };
        let (number, peer) = (number.channel(), peer.addr(msg.transaction_id()));
        if !(0x4000..=0x4fff).contains(&number) {
            return Err((400, "Bad Request"));
        }
        self.check_peers(&[peer], true)?;
        let a = self.owned(client, username)?;
        if !a.permissions.contains_key(&peer.ip()) && a.permissions.len() >= MAX_PERMISSIONS {
            return Err((508, "Insufficient Capacity"));
        }
        let clash = a.channels.iter().any(|(n, (addr, _))| (*n == number) != (*addr == peer));
        if clash {
            return Err((400, "Bad Request"));
        }
        a.channels.insert(number, (peer, clock.now + CHANNEL_LIFETIME));
        a.permissions.insert(peer.ip(), clock.now + PERMISSION_LIFETIME);
        Ok(Vec::new())
    }

    /// Refuse peers the policy does not allow: by IP for a permission, by exact address
    /// for a channel (which names one).
    fn check_peers(&self, peers: &[SocketAddr], exact: bool) -> Result<(), Refusal> {
        let allowed = |p: &SocketAddr| {
            if exact {
                self.policy.allows(*p, &self.announced)
            } else {
                self.policy.allows_ip(p.ip(), &self.announced)
            }
        };
        if let Some(p) = peers.iter().find(|p| !allowed(p)) {
            tracing::debug!(peer = %p, "TURN: relay to a private or loopback address refused");
            metrics::counter!("noom_turn_refused_total", "reason" => "peer").increment(1);
            return Err((403, "Forbidden"));
        }
        Ok(())
    }

    /// The client's allocation, if `username` made it.
    fn owned(&mut self, client: Client, username: &str) -> Result<&mut Allocation, Refusal> {
        match self.allocations.get_mut(&client) {
            Some(a) if a.username == username => Ok(a),
            Some(_) => Err((441, "Wrong Credentials")),
            None => Err((437, "Allocation Mismatch")),
        }
    }
}

fn requested_lifetime(msg: &Message<'_>) -> Option<Duration> {
    msg.attribute::<Lifetime>().ok().map(|l| Duration::from_secs(l.seconds().into()))
}

/// Attributes of a success answer.
enum Attr {
    Relayed(SocketAddr),
    Mapped(SocketAddr),
    Lifetime(u32),
}

fn success(msg: &Message<'_>, attrs: Vec<Attr>, credentials: &MessageIntegrityCredentials) -> Vec<u8> {
    let transaction = msg.transaction_id();
    let mut w = Message::builder_success(msg, MessageWriteVec::new());
    for a in attrs {
        let _ = match a {
            Attr::Relayed(addr) => w.add_attribute(&XorRelayedAddress::new(addr, transaction)),
            Attr::Mapped(addr) => w.add_attribute(&XorMappedAddress::new(addr, transaction)),
            Attr::Lifetime(secs) => w.add_attribute(&Lifetime::new(secs)),
        };
    }
    let _ = w.add_message_integrity(credentials, IntegrityAlgorithm::Sha1);
    let _ = w.add_fingerprint();
    w.finish()
}

/// An error answer; a challenge (`nonce`) carries the realm and a fresh nonce, an answer to
/// an authenticated request is signed.
fn error(msg: &Message<'_>, (code, reason): Refusal, signed: Option<&MessageIntegrityCredentials>, nonce: Option<String>) -> Vec<u8> {
    let mut w = Message::builder_error(msg, MessageWriteVec::new());
    if let Ok(e) = ErrorCode::new(code, reason) {
        let _ = w.add_attribute(&e);
    }
    if let Some(nonce) = nonce {
        if let (Ok(realm), Ok(nonce)) = (Realm::new(REALM), Nonce::new(&nonce)) {
            let _ = w.add_attribute(&realm);
            let _ = w.add_attribute(&nonce);
        }
    }
    if let Some(c) = signed {
        let _ = w.add_message_integrity(c, IntegrityAlgorithm::Sha1);
    }
    let _ = w.add_fingerprint();
    w.finish()
}

/// A bare request header (method, transaction), to answer a request after the fact.
fn request_header(method: turn_types::stun::message::Method, transaction: TransactionId) -> Vec<u8> {
    Message::builder(MessageType::from_class_method(MessageClass::Request, method), transaction, MessageWriteVec::new()).finish()
}

fn reply(client: Client, data: Vec<u8>) -> Out {
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
mod tests {
    use super::*;
    use turn_types::stun::attribute::ErrorCode;

    const SECRET: &[u8] = b"turn-secret";
    const CLIENT: Client = Client { transport: Transport::Udp, addr: SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 5)), 40000) };

    struct Lab {
        core: TurnCore,
        clock: Clock,
        user: String,
        pass: String,
        nonce: Option<String>,
        /// The signed Allocate of the last `allocate()`.
        last_allocate: Option<Vec<u8>>,
    }

    enum A {
        Transport(u8),
        Peer(SocketAddr),
        Channel(u16),
        Lifetime(u32),
        Data(Vec<u8>),
    }

    impl Lab {
        fn new() -> Lab {
            let now = Instant::now();
            let clock = Clock { now, unix: 1_000_000 };
            let core = TurnCore::new(SECRET.to_vec(), [7; 32], Policy { allow_private: false, own: vec!["127.0.0.1:3479".parse().unwrap()] }, 100, now);
            let (user, pass) = credentials::issue(SECRET, "1", clock.unix, 3600);
            Lab { core, clock, user, pass, nonce: None, last_allocate: None }
        }

        fn build(&self, class: MessageClass, method: turn_types::stun::message::Method, attrs: &[A], sign: bool) -> Vec<u8> {
            let transaction = TransactionId::generate();
            let mut w = Message::builder(MessageType::from_class_method(class, method), transaction, MessageWriteVec::new());
            for a in attrs {
                let _ = match a {
                    A::Transport(p) => w.add_attribute(&RequestedTransport::new(*p)),
                    A::Peer(addr) => w.add_attribute(&XorPeerAddress::new(*addr, transaction)),
                    A::Channel(n) => w.add_attribute(&ChannelNumber::new(*n)),
                    A::Lifetime(l) => w.add_attribute(&Lifetime::new(*l)),
                    A::Data(d) => w.add_attribute(&Data::new(d)),
                };
            }
            if sign {
                w.add_attribute(&Username::new(&self.user).unwrap()).unwrap();
                w.add_attribute(&Realm::new(REALM).unwrap()).unwrap();
                w.add_attribute(&Nonce::new(self.nonce.as_deref().unwrap_or("none")).unwrap()).unwrap();
                let creds: MessageIntegrityCredentials = LongTermKeyCredentials::new(self.user.clone(), self.pass.clone(), REALM.into()).into();
                w.add_message_integrity(&creds, IntegrityAlgorithm::Sha1).unwrap();
            }
            w.finish()
        }

        /// Send a request; returns the answer and whatever else came out.
        fn ask(&mut self, method: turn_types::stun::message::Method, attrs: &[A]) -> (Vec<u8>, Vec<Out>) {
            let data = self.build(MessageClass::Request, method, attrs, true);
            let mut out = Vec::new();
            self.core.from_client(self.clock, CLIENT, &data, &mut out);
            let pos = out.iter().position(|o| matches!(o, Out::ToClient { client, .. } if *client == CLIENT));
            let answer = match pos {
                Some(i) => match out.remove(i) {
                    Out::ToClient { data, .. } => data,
                    _ => unreachable!(),
                },
                None => Vec::new(),
            };
            (answer, out)
        }

        fn code(answer: &[u8]) -> Option<u16> {
            let msg = Message::from_bytes(answer).unwrap();
            msg.attribute::<ErrorCode>().ok().map(|e| e.code())
        }

        /// The nonce of a 401 challenge.
        fn learn_nonce(&mut self) {
            let data = self.build(MessageClass::Request, ALLOCATE, &[A::Transport(RequestedTransport::UDP)], false);
            let mut out = Vec::new();
            self.core.from_client(self.clock, CLIENT, &data, &mut out);
            let Some(Out::ToClient { data, .. }) = out.pop() else { panic!("no challenge") };
            let msg = Message::from_bytes(&data).unwrap();
            assert_eq!(msg.attribute::<ErrorCode>().unwrap().code(), 401);
            assert_eq!(msg.attribute::<Realm>().unwrap().realm(), REALM);
            self.nonce = Some(msg.attribute::<Nonce>().unwrap().nonce().to_string());
        }

        /// A full allocation; returns the relay's bound address.
        fn allocate(&mut self) -> SocketAddr {
            self.learn_nonce();
            let request = self.build(MessageClass::Request, ALLOCATE, &[A::Transport(RequestedTransport::UDP)], true);
            self.last_allocate = Some(request.clone());
            let mut out = Vec::new();
            self.core.from_client(self.clock, CLIENT, &request, &mut out);
            assert_eq!(out, [Out::Allocate { client: CLIENT }]);
            let bound: SocketAddr = "10.9.9.9:50000".parse().unwrap();
            let announced: SocketAddr = "198.51.100.1:50000".parse().unwrap();
            let mut out = Vec::new();
            self.core.allocated(self.clock, CLIENT, Ok((bound, announced)), &mut out);
            let Some(Out::ToClient { data, .. }) = out.pop() else { panic!("no answer") };
            let msg = Message::from_bytes(&data).unwrap();
            assert!(msg.has_class(MessageClass::Success), "{:?}", Lab::code(&data));
            let relayed = msg.attribute::<XorRelayedAddress>().unwrap().addr(msg.transaction_id());
            assert_eq!(relayed, announced);
            let creds: MessageIntegrityCredentials = LongTermKeyCredentials::new(self.user.clone(), self.pass.clone(), REALM.into()).into();
            assert!(msg.validate_integrity(&creds).is_ok(), "the answer is signed");
            bound
        }
    }

    #[test]
    fn an_allocation_needs_the_nonce_and_a_credential_made_from_the_secret() {
        let mut lab = Lab::new();
        lab.learn_nonce();
        // Wrong password.
        lab.pass = "not-it".into();
        let (answer, out) = lab.ask(ALLOCATE, &[A::Transport(RequestedTransport::UDP)]);
        assert_eq!(Lab::code(&answer), Some(401));
        assert!(out.is_empty());
        // Expired credential, correctly signed.
        let (user, pass) = credentials::issue(SECRET, "1", lab.clock.unix - 7200, 3600);
        (lab.user, lab.pass) = (user, pass);
        let (answer, _) = lab.ask(ALLOCATE, &[A::Transport(RequestedTransport::UDP)]);
        assert_eq!(Lab::code(&answer), Some(401));
        // A forged nonce is stale; an old one too.
        let (user, pass) = credentials::issue(SECRET, "1", lab.clock.unix, 3600);
        (lab.user, lab.pass) = (user, pass);
        lab.nonce = Some("0000000000000000deadbeefdeadbeef".into());
        let (answer, _) = lab.ask(ALLOCATE, &[A::Transport(RequestedTransport::UDP)]);
        assert_eq!(Lab::code(&answer), Some(438));
        lab.learn_nonce();
        lab.clock.now += NONCE_LIFETIME;
        let (answer, _) = lab.ask(ALLOCATE, &[A::Transport(RequestedTransport::UDP)]);
        assert_eq!(Lab::code(&answer), Some(438));
        // TCP relays are not offered.
        lab.learn_nonce();
        let (answer, _) = lab.ask(ALLOCATE, &[A::Transport(RequestedTransport::TCP)]);
        assert_eq!(Lab::code(&answer), Some(442));
        assert_eq!(lab.core.allocations(), 0);
        lab.allocate();
        assert_eq!(lab.core.allocations(), 1);
        let (answer, _) = lab.ask(ALLOCATE, &[A::Transport(RequestedTransport::UDP)]);
        assert_eq!(Lab::code(&answer), Some(437), "one allocation per 5-tuple");
        // The Allocate that made it, sent again (its answer was lost): the same answer.
        let first = lab.last_allocate.clone().unwrap();
        let mut out = Vec::new();
        lab.core.from_client(lab.clock, CLIENT, &first, &mut out);
        let Some(Out::ToClient { data, .. }) = out.pop() else { panic!("no answer to the retransmission") };
        let msg = Message::from_bytes(&data).unwrap();
        assert!(msg.has_class(MessageClass::Success));
        assert_eq!(msg.attribute::<XorRelayedAddress>().unwrap().addr(msg.transaction_id()), "198.51.100.1:50000".parse().unwrap());
    }

    #[test]
    fn relays_to_loopback_private_and_link_local_peers_are_refused_public_and_own_ones_allowed() {
        let mut lab = Lab::new();
        lab.allocate();
        for peer in ["127.0.0.2:9", "10.1.2.3:9", "192.168.1.1:9", "172.16.0.1:9", "169.254.1.1:9", "100.64.0.1:9", "[::1]:9", "[fd00::1]:9", "[::ffff:10.0.0.1]:9", "0.0.0.0:9", "224.0.0.1:9"] {
            let (answer, _) = lab.ask(CREATE_PERMISSION, &[A::Peer(peer.parse().unwrap())]);
            assert_eq!(Lab::code(&answer), Some(403), "{peer}");
            let (answer, _) = lab.ask(CHANNEL_BIND, &[A::Channel(0x4001), A::Peer(peer.parse().unwrap())]);
            assert_eq!(Lab::code(&answer), Some(403), "{peer}");
        }
        for peer in ["8.8.8.8:9", "198.51.100.1:50000"] {
            let (answer, _) = lab.ask(CREATE_PERMISSION, &[A::Peer(peer.parse().unwrap())]);
            assert_eq!(Lab::code(&answer), None, "{peer} allowed");
        }
        // The SFU's own loopback socket: a permission for its IP, but only its port passes.
        let relay = lab.core.allocations.get(&CLIENT).unwrap().bound;
        let (answer, _) = lab.ask(CREATE_PERMISSION, &[A::Peer("127.0.0.1:3479".parse().unwrap())]);
        assert_eq!(Lab::code(&answer), None, "the SFU");
        let mut out = Vec::new();
        for (port, passes) in [(3479u16, true), (53, false), (3478, false)] {
            let peer = SocketAddr::new([127, 0, 0, 1].into(), port);
            let send = lab.build(MessageClass::Indication, SEND, &[A::Peer(peer), A::Data(b"x".to_vec())], false);
            lab.core.from_client(lab.clock, CLIENT, &send, &mut out);
            assert_eq!(out.pop().is_some(), passes, "to 127.0.0.1:{port}");
            lab.core.from_peer(lab.clock, relay, peer, b"y", &mut out);
            assert_eq!(out.pop().is_some(), passes, "from 127.0.0.1:{port}");
        }
        let (answer, _) = lab.ask(CHANNEL_BIND, &[A::Channel(0x4005), A::Peer("127.0.0.1:53".parse().unwrap())]);
        assert_eq!(Lab::code(&answer), Some(403), "a channel names its port");
        lab.core.policy.allow_private = true;
        let (answer, _) = lab.ask(CREATE_PERMISSION, &[A::Peer("127.0.0.1:9".parse().unwrap())]);
        assert_eq!(Lab::code(&answer), None, "--turn-allow-private");
    }

    #[test]
    fn an_allocation_holds_a_bounded_number_of_permissions() {
        let mut lab = Lab::new();
        lab.allocate();
        let peers: Vec<A> = (0..MAX_PERMISSIONS as u32).map(|i| A::Peer(SocketAddr::new(std::net::Ipv4Addr::from(0x0808_0000 + i).into(), 9))).collect();
        let (answer, _) = lab.ask(CREATE_PERMISSION, &peers);
        assert_eq!(Lab::code(&answer), None);
        let (answer, _) = lab.ask(CREATE_PERMISSION, &[A::Peer("9.9.9.9:9".parse().unwrap())]);
        assert_eq!(Lab::code(&answer), Some(508));
    }

    #[test]
    fn data_flows_only_with_a_permission_by_indication_or_channel() {
        let mut lab = Lab::new();
        let relay = lab.allocate();
        let peer: SocketAddr = "8.8.8.8:5000".parse().unwrap();
        let mut out = Vec::new();
        // Before a permission, nothing passes either way.
        let send = lab.build(MessageClass::Indication, SEND, &[A::Peer(peer), A::Data(b"hi".to_vec())], false);
        lab.core.from_client(lab.clock, CLIENT, &send, &mut out);
        lab.core.from_peer(lab.clock, relay, peer, b"yo", &mut out);
        assert!(out.is_empty());
        let (answer, _) = lab.ask(CREATE_PERMISSION, &[A::Peer(peer)]);
        assert_eq!(Lab::code(&answer), None);
        lab.core.from_client(lab.clock, CLIENT, &send, &mut out);
        assert_eq!(out.pop(), Some(Out::ToPeer { relay, peer, data: b"hi".to_vec() }));
        lab.core.from_peer(lab.clock, relay, peer, b"yo", &mut out);
        let Some(Out::ToClient { data, .. }) = out.pop() else { panic!("no data indication") };
        let msg = Message::from_bytes(&data).unwrap();
        assert!(msg.has_method(DATA));
        assert_eq!(msg.attribute::<Data>().unwrap().data(), b"yo");
        // A channel: ChannelData both ways.
        let (answer, _) = lab.ask(CHANNEL_BIND, &[A::Channel(0x4002), A::Peer(peer)]);
        assert_eq!(Lab::code(&answer), None);
        lab.core.from_client(lab.clock, CLIENT, &channel_data(Transport::Udp, 0x4002, b"media"), &mut out);
        assert_eq!(out.pop(), Some(Out::ToPeer { relay, peer, data: b"media".to_vec() }));
        lab.core.from_peer(lab.clock, relay, peer, b"back", &mut out);
        assert_eq!(out.pop(), Some(Out::ToClient { client: CLIENT, data: channel_data(Transport::Udp, 0x4002, b"back") }));
        // Another peer without permission is not heard.
        lab.core.from_peer(lab.clock, relay, "9.9.9.9:1".parse().unwrap(), b"x", &mut out);
        assert!(out.is_empty());
        // Permissions end.
        lab.clock.now += CHANNEL_LIFETIME + Duration::from_secs(1);
        lab.core.from_peer(lab.clock, relay, peer, b"late", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn an_allocation_lives_until_its_lifetime_or_a_zero_refresh_and_an_expired_credential_may_keep_it() {
        let mut lab = Lab::new();
        let relay = lab.allocate();
        // The credential expires; refreshing the allocation it made still works.
        lab.clock.unix += 7200;
        let (answer, _) = lab.ask(REFRESH, &[A::Lifetime(600)]);
        assert_eq!(Lab::code(&answer), None);
        let mut out = Vec::new();
        lab.clock.now += Duration::from_secs(599);
        lab.core.expire(lab.clock, &mut out);
        assert!(out.is_empty());
        lab.clock.now += Duration::from_secs(2);
        lab.core.expire(lab.clock, &mut out);
        assert_eq!(out, [Out::Release { relay }]);
        assert_eq!(lab.core.allocations(), 0);
        // A zero refresh ends one at once (with a fresh credential and allocation).
        let mut lab = Lab::new();
        let relay = lab.allocate();
        let (answer, out) = lab.ask(REFRESH, &[A::Lifetime(0)]);
        assert_eq!(Lab::code(&answer), None);
        assert_eq!(out, [Out::Release { relay }]);
    }

    #[test]
    fn channel_data_over_streams_is_padded_to_four_bytes() {
        assert_eq!(channel_data(Transport::Tcp, 0x4000, b"abcde").len(), 12);
        assert_eq!(channel_data(Transport::Udp, 0x4000, b"abcde").len(), 9);
        assert_eq!(channel_data(Transport::Tls, 0x4000, b"abcd").len(), 8);
    }
}
