//! How the server's long-lived work runs: the threads of its central tasks (the hub, the
//! store, the TURN server) and the one clock its rate limiters share.
//!
//! Why a module of its own: the hub, the store, the SFU, the TURN server and the
//! connections all need these, and none of them should import the router and start-up code
//! in `server/mod.rs` (which imports all of them) to get them.

use std::future::Future;

/// A rate limiter on the process's one clock. governor's default makes a new clock per
/// limiter, and calibrating it was 6 % of the server's time in a join storm (two limiters
/// per connection).
pub fn rate_limiter(quota: governor::Quota) -> governor::DefaultDirectRateLimiter {
    static CLOCK: std::sync::LazyLock<governor::clock::DefaultClock> = std::sync::LazyLock::new(Default::default);
    governor::RateLimiter::direct_with_clock(quota, CLOCK.clone())
}

/// Run `task` on a thread of its own (named `name`), with its own single-threaded runtime.
///
/// Why: under load the server's runtime has thousands of connection tasks ready to run, and
/// a task that every message passes through (the hub, the store) would wait behind all of
/// them each time it is woken. On its own thread the OS schedules it beside them, and it
/// reacts within a scheduler tick (measured in BENCHMARKS.md, "Chat fan-out").
pub fn spawn_thread<F>(name: &str, task: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name(name.into()).spawn(move || runtime.block_on(task))?;
    Ok(())
}
