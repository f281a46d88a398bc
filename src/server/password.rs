//! Room passwords: Argon2id hashes, made and checked off the hub's thread.
//!
//! Why Argon2id with its default cost (19 MiB, 2 passes): a stolen database must not give
//! the passwords away, so each guess has to cost real time and memory (the OWASP
//! recommendation). That cost is also why the hub never hashes: one check takes tens of
//! milliseconds of a core, during which every room would stand still. The hub hands the
//! work to [`Passwords`], which runs it on tokio's blocking threads, at most
//! [`CONCURRENT_CHECKS`] at a time (so a crowd of wrong guesses cannot take every core,
//! nor 19 MiB per guess), and sends the outcome back to the hub like any other event.
//!
//! What a stored hash looks like: a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`),
//! which carries its own salt and parameters, so raising the cost later keeps old hashes
//! readable.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

/// Hashes made or checked at once, server-wide; more wait their turn.
pub const CONCURRENT_CHECKS: usize = 2;

/// A room password's stored form (a PHC string).
pub type PasswordHashString = Arc<str>;

/// Hash `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

/// Whether `password` is the one `stored` was made from. A hash that cannot be read
/// (a damaged database row) lets nobody in.
pub fn verify(stored: &str, password: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(e) => {
            tracing::error!("a stored room password hash cannot be read: {e}");
            false
        }
    }
}

/// Runs hashes and checks on blocking threads, a few at a time.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
}

impl Default for Passwords {
    fn default() -> Self {
        Passwords { permits: Arc::new(Semaphore::new(CONCURRENT_CHECKS)) }
    }
}

impl Passwords {
    /// Run `work` (a hash or a check) when a permit is free; `done` gets its result.
    /// Spawned on the caller's runtime, so the caller goes on at once.
    pub fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static, done: impl FnOnce(T) + Send + 'static) {
        let permits = self.permits.clone();
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else { return };
            match tokio::task::spawn_blocking(work).await {
                Ok(result) => done(result),
                Err(e) => tracing::error!("password hashing failed: {e}"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_checks_its_own_password_only_and_is_salted() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(!a.contains("correct horse"));
        assert!(verify(&a, "correct horse") && verify(&b, "correct horse"));
        assert!(!verify(&a, "correct horse "));
        assert!(!verify("not a hash", "correct horse"));
    }
}
