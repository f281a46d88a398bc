//! Benchmark: full TLS handshakes per second a Noom server completes (no session
//! resumption: the worst case, every connection a new visitor). `--concurrency` clients
//! each connect, finish the handshake and close, over and over, for `--secs` seconds.
//! Pin the server to one core to read "handshakes per core" (`scripts/bench-tls.sh`).
//!
//! `NOOM_BENCH_CA=data/tls/self-signed.crt cargo run --release --features ssr --example tls_handshakes -- --addr 127.0.0.1:3101`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "shared/connect.rs"]
mod connect;

#[derive(clap::Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:3101")]
    addr: String,
    /// The name the certificate is for.
    #[arg(long, default_value = "localhost")]
    name: String,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    secs: u64,
}

#[tokio::main]
async fn main() {
    let a = <Args as clap::Parser>::parse();
    let config = connect::tls_client(false);
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(a.secs);
    let mut tasks = Vec::new();
    let mut latencies = Vec::new();
    for _ in 0..a.concurrency {
        let (config, done, failed, addr, name) = (config.clone(), done.clone(), failed.clone(), a.addr.clone(), a.name.clone());
        tasks.push(tokio::spawn(async move {
            let mut took = Vec::new();
            while Instant::now() < end {
                let start = Instant::now();
                let Ok(tcp) = tokio::net::TcpStream::connect(&addr).await else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let server = rustls::pki_types::ServerName::try_from(name.clone()).unwrap();
                match tokio_rustls::TlsConnector::from(config.clone()).connect(server, tcp).await {
                    Ok(_) => {
                        done.fetch_add(1, Ordering::Relaxed);
                        took.push(start.elapsed().as_micros() as u32);
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            took
        }));
    }
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    latencies.sort_unstable();
    let q = |f: f64| latencies.get(((latencies.len() as f64 * f) as usize).min(latencies.len().saturating_sub(1))).map(|u| *u as f64 / 1000.0).unwrap_or(0.0);
    let n = done.load(Ordering::Relaxed);
    println!(
        "full TLS handshakes: {n} in {} s = {:.0}/s ({} concurrent), failed {}, connect+handshake p50 {:.2} ms p99 {:.2} ms",
        a.secs,
        n as f64 / a.secs as f64,
        a.concurrency,
        failed.load(Ordering::Relaxed),
        q(0.5),
        q(0.99)
    );
}
