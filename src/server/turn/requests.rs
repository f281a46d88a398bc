//! The TURN requests that change an allocation (Allocate, Refresh, CreatePermission,
//! ChannelBind), the long-term credential check in front of them, and the STUN answers
//! they build. Part of the sans-I/O [`TurnCore`](super::core::TurnCore): a clock and bytes
//! in, answers out.

use std::net::SocketAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use turn_types::attribute::{ChannelNumber, RequestedTransport, XorPeerAddress};
use turn_types::message::ALLOCATE;
use turn_types::stun::attribute::{Nonce, Realm, Username};
use turn_types::stun::message::{
    LongTermKeyCredentials, Message, MessageIntegrityCredentials,
};
use turn_types::stun::prelude::{Attribute, AttributeStaticType};

use super::core::*;
use super::stun::*;
use super::credentials;

impl TurnCore {
    /// The long-term credential check (RFC 8489 §9.2) with REST credentials: 401 with a
    /// nonce to start, 438 when the nonce is stale, 401 for a wrong or expired credential.
    pub(super) fn authenticate(
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
    pub(super) fn nonce(&self, clock: Clock, client: Client) -> String {
        let made = clock.now.saturating_duration_since(self.started).as_secs();
        format!("{made:016x}{}", self.nonce_mac(made, client))
    }

    pub(super) fn nonce_mac(&self, made: u64, client: Client) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.nonce_key).expect("any key length");
        mac.update(&made.to_be_bytes());
        mac.update(client.addr.to_string().as_bytes());
        mac.finalize().into_bytes()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(super) fn nonce_valid(&self, clock: Clock, client: Client, nonce: &str) -> bool {
        let Some(made) = nonce.get(..16).and_then(|h| u64::from_str_radix(h, 16).ok()) else { return false };
        let age = clock.now.saturating_duration_since(self.started).as_secs().saturating_sub(made);
        nonce.get(16..) == Some(self.nonce_mac(made, client).as_str()) && age < NONCE_LIFETIME.as_secs()
    }

    pub(super) fn allocate(
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

    pub(super) fn refresh(&mut self, clock: Clock, client: Client, msg: &Message<'_>, username: &str, out: &mut Vec<Out>) -> Result<Vec<Attr>, Refusal> {
        let a = self.owned(client, username)?;
        let lifetime = requested_lifetime(msg).unwrap_or(DEFAULT_LIFETIME).min(MAX_LIFETIME);
        if lifetime.is_zero() {
            self.client_gone(client, out);
            return Ok(vec![Attr::Lifetime(0)]);
        }
        a.expires = clock.now + lifetime;
        Ok(vec![Attr::Lifetime(lifetime.as_secs() as u32)])
    }

    pub(super) fn create_permission(&mut self, clock: Clock, client: Client, msg: &Message<'_>, username: &str) -> Result<Vec<Attr>, Refusal> {
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

    pub(super) fn channel_bind(&mut self, clock: Clock, client: Client, msg: &Message<'_>, username: &str) -> Result<Vec<Attr>, Refusal> {
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
    pub(super) fn check_peers(&self, peers: &[SocketAddr], exact: bool) -> Result<(), Refusal> {
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
    pub(super) fn owned(&mut self, client: Client, username: &str) -> Result<&mut Allocation, Refusal> {
        match self.allocations.get_mut(&client) {
            Some(a) if a.username == username => Ok(a),
            Some(_) => Err((441, "Wrong Credentials")),
            None => Err((437, "Allocation Mismatch")),
        }
    }
}

