//! TURN credentials in the "TURN REST" scheme (the one coturn's `use-auth-secret` and
//! LiveKit use): the username is `<expiry unix seconds>:<tag>`, the password is
//! base64(HMAC-SHA1(secret, username)). Whoever knows the secret can check a credential
//! without storing it, so Noom hands out a fresh one per connection and the TURN server
//! (built in, or an external coturn given the same `--turn-secret`) needs no user list.
//! A leaked credential stops opening relays at its expiry.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The password of `username` under `secret`.
pub fn password(secret: &[u8], username: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A credential for `tag` (Noom uses the connection id) valid until `now + ttl` (seconds).
pub fn issue(secret: &[u8], tag: &str, now: u64, ttl: u64) -> (String, String) {
    let username = format!("{}:{tag}", now + ttl);
    let password = password(secret, &username);
    (username, password)
}

/// When a REST username expires (Unix seconds), if it is one.
pub fn expiry(username: &str) -> Option<u64> {
    username.split_once(':').and_then(|(t, _)| t.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_hmac_of_the_username_and_the_username_carries_its_expiry() {
        let (user, pass) = issue(b"s3cret", "42", 1_000, 3_600);
        assert_eq!(user, "4600:42");
        assert_eq!(expiry(&user), Some(4600));
        assert_eq!(pass, password(b"s3cret", "4600:42"));
        assert_ne!(pass, password(b"other", "4600:42"));
        assert_ne!(pass, password(b"s3cret", "4601:42"));
        // The value coturn computes for the same secret and username (RFC 2104 HMAC-SHA1).
        assert_eq!(password(b"key", "The quick brown fox jumps over the lazy dog"), "3nybhbi3iqa8ino29wqQcBydtNk=");
        assert_eq!(expiry("nouser"), None);
        assert_eq!(expiry("x:y"), None);
    }
}
