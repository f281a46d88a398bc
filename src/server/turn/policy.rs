//! Which peers a relay may reach: public addresses only, so a TURN credential cannot be used
//! to reach services on the server's own networks, except the addresses Noom itself
//! announced (its SFU).

use std::net::{IpAddr, SocketAddr};

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
    pub(super) fn allows_ip(&self, ip: IpAddr, announced: &[SocketAddr]) -> bool {
        self.allow_private || is_public(ip) || self.own.iter().any(|a| a.ip() == ip) || announced.iter().any(|a| a.ip() == ip)
    }

    /// Whether a datagram may go to (or come from) `peer`.
    pub(super) fn allows(&self, peer: SocketAddr, announced: &[SocketAddr]) -> bool {
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
