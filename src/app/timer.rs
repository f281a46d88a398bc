//! The seam for waiting: the browser waits with a timer (gloo-timers); the server build,
//! which never has a reason to wait here, returns at once. Defined once per target with the
//! same signature (as `media.rs`), so components carry no `cfg`.

use std::time::Duration;

#[cfg(feature = "hydrate")]
pub async fn pause(duration: Duration) {
    gloo_timers::future::sleep(duration).await;
}

#[cfg(not(feature = "hydrate"))]
pub async fn pause(_duration: Duration) {}
