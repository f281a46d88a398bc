//! What each browser is told about ICE servers: STUN, and TURN with a credential of its
//! own.
//!
//! Why per connection: TURN credentials are short-lived HMAC ones (`turn/credentials.rs`),
//! made for the connection that receives them, so a credential copied out of one page
//! opens no relay once it expires. And the built-in TURN server is named by the host the
//! browser itself used to reach Noom (its `Host`), which is the name a TURN-over-TLS
//! certificate carries and an address the browser knows it can reach.

use std::sync::Arc;

use crate::protocol::{ConnId, IceServer};
use crate::server::turn::credentials;

/// A TURN server whose credentials are made from a shared secret.
#[derive(Debug, Clone)]
pub struct RestTurn {
    /// URLs, where `{host}` stands for the host the browser reached Noom by.
    pub urls: Vec<String>,
    pub secret: Arc<Vec<u8>>,
    /// Seconds a credential opens new relays for.
    pub ttl: u64,
}

/// The ICE servers handed out, and whether browsers must relay everything.
#[derive(Debug, Clone, Default)]
pub struct IceConfig {
    pub stun: Vec<String>,
    /// `--turn-url` with static `--turn-username`/`--turn-credential`.
    pub static_turn: Option<IceServer>,
    /// The built-in TURN server, or an external one given `--turn-secret`.
    pub rest_turn: Vec<RestTurn>,
    /// `--ice-transport-policy relay`: browsers use TURN only, so nobody learns another's
    /// address.
    pub relay_only: bool,
}

impl IceConfig {
    /// The ICE servers for `conn_id`, which reached Noom as `host` (no port), at `unix_now`.
    pub fn servers(&self, conn_id: ConnId, host: &str, unix_now: u64) -> Vec<IceServer> {
        let mut servers = Vec::new();
        if !self.stun.is_empty() {
            servers.push(IceServer { urls: self.stun.clone(), username: None, credential: None });
        }
        servers.extend(self.static_turn.clone());
        for turn in &self.rest_turn {
            let urls: Vec<String> = turn
                .urls
                .iter()
                .filter(|u| !u.contains("{host}") || !host.is_empty())
                .map(|u| u.replace("{host}", host))
                .collect();
            if urls.is_empty() {
                continue;
            }
            let (username, password) = credentials::issue(&turn.secret, &conn_id.to_string(), unix_now, turn.ttl);
            servers.push(IceServer { urls, username: Some(username), credential: Some(password) });
        }
        servers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_connection_gets_its_own_expiring_turn_credential_at_the_host_it_used() {
        let ice = IceConfig {
            stun: vec!["stun:s:1".into()],
            static_turn: None,
            rest_turn: vec![RestTurn {
                urls: vec!["turn:{host}:3478?transport=udp".into(), "turns:{host}:5349?transport=tcp".into()],
                secret: Arc::new(b"k".to_vec()),
                ttl: 3600,
            }],
            relay_only: false,
        };
        let a = ice.servers(7, "meet.example.com", 1000);
        assert_eq!(a[0].urls, ["stun:s:1"]);
        assert_eq!(a[1].urls, ["turn:meet.example.com:3478?transport=udp", "turns:meet.example.com:5349?transport=tcp"]);
        assert_eq!(a[1].username.as_deref(), Some("4600:7"));
        assert_eq!(a[1].credential.as_deref(), Some(credentials::password(b"k", "4600:7").as_str()));
        let b = ice.servers(8, "203.0.113.9", 1000);
        assert_ne!(a[1].credential, b[1].credential);
        assert_eq!(b[1].urls[0], "turn:203.0.113.9:3478?transport=udp");
        // Without a host (not a browser), the built-in TURN cannot be named.
        assert_eq!(ice.servers(9, "", 1000).len(), 1);
    }
}
