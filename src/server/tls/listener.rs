//! The HTTPS listener: accept, hand each handshake to its own task with a deadline, and
//! give axum finished streams (see the module doc of `tls` for why).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;

use super::{Tls, ACME_TLS_ALPN, HANDSHAKE_TIMEOUT, MAX_PENDING_HANDSHAKES};

/// A listener that yields finished TLS connections; handshakes run concurrently, each
/// with its deadline (see the module doc).
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

/// Accept on `tcp`, apply `tune` to each socket, and hand the handshakes to tasks. The
/// accept task ends when the returned listener is dropped (the server stopped).
pub fn listener(tcp: TcpListener, tls: Arc<Tls>, tune: fn(&mut TcpStream)) -> std::io::Result<TlsListener> {
    let local_addr = tcp.local_addr()?;
    let (tx, ready) = mpsc::channel(64);
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    tokio::spawn(async move {
        let mut tcp = tcp;
        loop {
            let (mut stream, peer) = tokio::select! {
                _ = tx.closed() => return,
                accepted = axum::serve::Listener::accept(&mut tcp) => accepted,
            };
            tune(&mut stream);
            let Ok(permit) = pending.clone().try_acquire_owned() else {
                metrics::counter!("noom_tls_handshake_failures_total", "reason" => "too_many").increment(1);
                tracing::debug!(%peer, "{MAX_PENDING_HANDSHAKES} TLS handshakes in flight: connection closed");
                continue;
            };
            let (tx, tls) = (tx.clone(), tls.clone());
            tokio::spawn(async move {
                let _permit = permit;
                // Someone typed http:// for this HTTPS port: send them to https:// instead
                // of closing on them (a TLS ClientHello starts with 0x16).
                // One deadline for the whole handshake, the first bytes included.
                let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
                let mut first = [0u8; 8];
                if let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
                    if looks_like_http(&first[..n]) {
                        return redirect_plain_http(stream, local_addr.port()).await;
                    }
                }
                match tokio::time::timeout_at(deadline, tls.accept(stream)).await {
                    Ok(Ok(mut stream)) if stream.get_ref().1.alpn_protocol() == Some(ACME_TLS_ALPN) => {
                        // A CA validating TLS-ALPN-01 only looks at the certificate: done.
                        tracing::debug!(%peer, "TLS-ALPN-01 validation handshake answered");
                        let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio::io::AsyncWriteExt::shutdown(&mut stream)).await;
                    }
                    Ok(Ok(stream)) => {
                        let _ = tx.send((stream, peer)).await;
                    }
                    Ok(Err(e)) => {
                        metrics::counter!("noom_tls_handshake_failures_total", "reason" => "error").increment(1);
                        tracing::debug!(%peer, "TLS handshake failed: {e}");
                    }
                    Err(_) => {
                        metrics::counter!("noom_tls_handshake_failures_total", "reason" => "timeout").increment(1);
                        tracing::debug!(%peer, "TLS handshake not finished within {HANDSHAKE_TIMEOUT:?}: closed");
                    }
                }
            });
        }
    });
    Ok(TlsListener { ready, local_addr })
}

/// Whether the first bytes of a connection are an HTTP request line (a method and a space)
/// rather than a TLS ClientHello.
pub(super) fn looks_like_http(first: &[u8]) -> bool {
    const METHODS: [&[u8]; 8] = [b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT "];
    METHODS.iter().any(|m| first.starts_with(m) || (m.len() > first.len() && m.starts_with(first) && first.len() >= 4))
}

/// Answer a plain HTTP request on the HTTPS port with a redirect to the same host and path
/// over HTTPS, then close. Anything unreadable within the handshake deadline is dropped.
async fn redirect_plain_http(mut stream: TcpStream, https_port: u16) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::with_capacity(1024);
    let read = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        while head.len() < 8 * 1024 {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            head.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&head) {
                Ok(httparse::Status::Complete(_)) => {
                    let host = request.headers.iter().find(|h| h.name.eq_ignore_ascii_case("host")).and_then(|h| std::str::from_utf8(h.value).ok())?;
                    let host = crate::server::edge::host_without_port(host)?.to_string();
                    let path = request.path.filter(|p| p.starts_with('/')).unwrap_or("/").to_string();
                    return Some((host, path));
                }
                Ok(httparse::Status::Partial) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await;
    metrics::counter!("noom_tls_handshake_failures_total", "reason" => "plain_http").increment(1);
    let Ok(Some((host, path))) = read else { return };
    let port = if https_port == 443 { String::new() } else { format!(":{https_port}") };
    let answer = format!(
        "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://{host}{port}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.write_all(answer.as_bytes())).await;
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept task only ends once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
