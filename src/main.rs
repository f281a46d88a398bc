//! The Noom server binary: parse the config, start logging, serve until Ctrl-C or SIGTERM.

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    use clap::Parser;
    use noom::server::config::LogFormat;
    use noom::server::{listen, serve, Config};

    let mut config = Config::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|_| "info".into()));
    match config.log_format {
        LogFormat::Text => logs.init(),
        // One JSON object per line (time, level, target, message and fields), for collectors.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    // Every WebSocket is a file descriptor, and Debian's default soft limit is 1024: raise it
    // towards the hard limit, enough for --max-connections plus what the other listeners may
    // hold at their caps (TLS handshakes, ICE-TCP connections, TURN streams and relays), the
    // database and some slack. Where the hard limit is lower, serve fewer WebSockets rather
    // than fail accepts, and say so.
    let others = 256
        + noom::server::tls::MAX_PENDING_HANDSHAKES as u64
        + noom::server::sfu::MAX_TCP_CONNECTIONS as u64
        + 2 * noom::server::turn::MAX_STREAMS as u64
        + config.turn_max_allocations as u64;
    let wanted = config.max_connections as u64 + others;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(got) if got < wanted => {
            // Better to refuse the connection beyond it cleanly (1013) than to fail accepts.
            // The other listeners get what they would use at their caps, but at most a
            // quarter of the limit: WebSockets (the people) come first.
            config.max_connections = got.saturating_sub(others.min(got / 4)).max(1) as usize;
            tracing::warn!(
                limit = got,
                max_connections = config.max_connections,
                "open-files limit below --max-connections + {others} (other sockets): serving fewer (raise it with ulimit -Hn / LimitNOFILE)"
            );
        }
        Ok(got) => tracing::debug!(limit = got, "open-files limit"),
        Err(e) => tracing::warn!("cannot raise the open-files limit: {e}"),
    }
    let run = async {
        let leptos_options = config.leptos_options().map_err(std::io::Error::other)?;
        let addr = leptos_options.site_addr;
        let listener = listen(addr)?;
        serve(listener, config, leptos_options, shutdown_signal()).await
    };
    match run.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Said plainly (the path and the reason), for whoever started the server.
            eprintln!("noom: {e}");
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "ssr")]
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

#[cfg(not(feature = "ssr"))]
pub fn main() {
    // The browser build has no binary: see lib.rs's `hydrate()`.
}
