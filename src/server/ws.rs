//! One WebSocket connection: a reader and a writer, as in axum's chat example, run as two
//! futures of one task (a task each cost memory and wake-ups, for no parallelism a
//! connection needs).
//!
//! The reader turns frames into hub commands, answering bad input itself (error frames and
//! close codes) so the hub only ever sees valid requests. The writer owns the socket's sink
//! and forwards the hub's frames, the reader's answers, pings and the final close frame.
//! [`serve_socket`] is generic over `Sink`/`Stream`, so it is tested without a network.
//!
//! Why the writer batches: a room's burst reaches a member as many queued frames. They are
//! fed into the WebSocket's write buffer and flushed once, so a burst costs a few socket
//! writes instead of one per frame (the send syscalls were 59 % of the server's time at
//! 200 k deliveries/s; BENCHMARKS.md, "Chat fan-out").
//!
//! Why chat can be refused here: the hub's inbox is bounded. When it is full the server is
//! behind, and a `chat` frame gets `overloaded` (the client sends it again later) instead
//! of waiting and making every connection's reader wait; a new connection is closed with
//! 1013. Joins, leaves, calls and disconnects still wait their turn: they are few, and
//! losing one would leave the room state wrong.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures::channel::mpsc as replies;
use futures::{Sink, SinkExt, Stream, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::hub::{Command, HubHandle, OUTBOX_CAPACITY};
use super::runtime::rate_limiter;
use crate::limits::{
    MAX_FRAME_BYTES, MAX_SIGNAL_FRAME_BYTES, RATE_BURST, RATE_PER_SECOND, RATE_STRIKES_BEFORE_CLOSE,
    SIGNAL_RATE_BURST, SIGNAL_RATE_PER_SECOND,
};
use crate::protocol::{close, parse_client, ClientMsg, ConnId, ErrorCode, ReqId, ServerMsg};

/// How often the server pings; browsers answer pings by themselves.
const PING_EVERY: Duration = Duration::from_secs(20);
/// A connection silent this long (not even a pong) is taken as lost: the tab is gone.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time the writer gets to deliver a final close frame after the reader stopped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// At most this many queued frames go out in one flush (the outbox holds 256), so pings
/// and the reader's answers are not held behind a long burst.
const MAX_BATCH: usize = 64;
/// The WebSocket write buffer: frames collect in it up to this size before they are
/// written to the socket. Bigger batches mean fewer writes, but the buffer keeps its
/// largest size for the connection's life (see BENCHMARKS.md, memory per connection).
pub const WRITE_BUFFER_BYTES: usize = 8 * 1024;

/// What the reader asks the writer to send.
enum Reply {
    Frame(Utf8Bytes),
    Close(u16, &'static str),
}

/// Serve one connection until either side ends it, then tell the hub it is gone.
///
/// `write_timeout`: a socket that takes longer than this to take one frame is not being
/// read (the client is gone or stuck); the connection is dropped as too slow. This is the
/// only "too slow" rule: a client merely behind a busy server is caught up by the hub.
pub async fn serve_socket<W, R, E>(
    sink: W,
    stream: R,
    hub: HubHandle,
    shutdown: watch::Receiver<bool>,
    write_timeout: Duration,
    host: std::sync::Arc<str>,
) where
    W: Sink<Message> + Unpin + Send + 'static,
    R: Stream<Item = Result<Message, E>> + Unpin + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let conn_id = hub.next_conn_id();
    if hub.overloaded() {
        tracing::warn!(conn_id, "hub overloaded: new connection refused");
        super::metrics::closed(close::TRY_AGAIN_LATER);
        let mut sink = sink;
        let frame = CloseFrame { code: close::TRY_AGAIN_LATER, reason: "server overloaded, try again".into() };
        let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
        return;
    }
    let (outbox_tx, outbox) = mpsc::channel(OUTBOX_CAPACITY);
    if !hub.send(Command::Connect { conn_id, outbox: outbox_tx, host }).await {
        tracing::error!(conn_id, "the hub has stopped: connection refused");
        super::metrics::closed(close::INTERNAL_ERROR);
        let mut sink = sink;
        let frame = CloseFrame { code: close::INTERNAL_ERROR, reason: "server error".into() };
        let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
        return;
    }
    tracing::info!(conn_id, "connected");
    metrics::counter!("noom_connections_total").increment(1);
    // futures' channel allocates per message, not a block up front: the reader's answers
    // (errors, a close) are rare, and an idle connection should not pay for them.
    let (reply_tx, replies) = replies::channel(8);
    let writer = write_loop(conn_id, sink, outbox, replies, shutdown, write_timeout);
    let reader = read_loop(conn_id, stream, hub.clone(), reply_tx);
    tokio::pin!(writer, reader);
    // Whichever side ends first, the other gets a grace period: the writer to send the
    // reader's last words (a close code), the reader to take the client's answer to the
    // writer's close frame (a socket dropped with unread input is reset, losing the code).
    tokio::select! {
        _ = &mut writer => {
            let _ = tokio::time::timeout(CLOSE_GRACE, &mut reader).await;
        }
        _ = &mut reader => {
            let _ = tokio::time::timeout(CLOSE_GRACE, &mut writer).await;
        }
    }
    hub.send(Command::Disconnect { conn_id }).await;
    tracing::info!(conn_id, "disconnected");
}

async fn write_loop<W: Sink<Message> + Unpin>(
    conn_id: ConnId,
    mut sink: W,
    mut outbox: mpsc::Receiver<Utf8Bytes>,
    mut replies: replies::Receiver<Reply>,
    mut shutdown: watch::Receiver<bool>,
    write_timeout: Duration,
) {
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let close_with = |code: u16, reason: &'static str| {
        super::metrics::closed(code);
        Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
    };
    enum Event {
        Shutdown,
        Reply(Option<Reply>),
        Hub(Option<Utf8Bytes>),
        Ping,
    }
    loop {
        let event = tokio::select! {
            biased;
            _ = shutdown.wait_for(|down| *down) => Event::Shutdown,
            reply = replies.next() => Event::Reply(reply),
            frame = outbox.recv() => Event::Hub(frame),
            _ = ping.tick() => Event::Ping,
        };
        let message = match event {
            Event::Shutdown => close_with(close::GOING_AWAY, "server shutting down"),
            Event::Reply(Some(Reply::Frame(text))) => Message::Text(text),
            Event::Reply(Some(Reply::Close(code, reason))) => {
                // Deliver what the hub already queued before saying goodbye.
                while let Ok(text) = outbox.try_recv() {
                    if sink.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                close_with(code, reason)
            }
            // The reader ended (the client went away): nothing more to say.
            Event::Reply(None) => break,
            Event::Hub(Some(text)) => Message::Text(text),
            // The hub let go of this connection while it was open: handling one of its
            // requests failed (the hub dropped it), or the hub itself stopped. Not a
            // shutdown (that is `Shutdown`, first in the select), nor the client's doing.
            Event::Hub(None) => close_with(close::INTERNAL_ERROR, "server error"),
            Event::Ping => Message::Ping(Default::default()),
        };
        let last = matches!(message, Message::Close(_));
        // Whatever else the hub queued meanwhile goes out with it: frames are fed into the
        // WebSocket's write buffer (which writes to the socket whenever it holds
        // `WRITE_BUFFER_BYTES`) and flushed once, so a burst to this connection costs a few
        // writes instead of one per frame.
        let write = async {
            sink.feed(message).await?;
            if !last {
                for _ in 1..MAX_BATCH {
                    let Ok(text) = outbox.try_recv() else { break };
                    sink.feed(Message::Text(text)).await?;
                }
            }
            sink.flush().await
        };
        match tokio::time::timeout(write_timeout, write).await {
            Ok(Ok(())) if !last => {}
            Ok(_) => break,
            Err(_) => {
                tracing::warn!(conn_id, secs = write_timeout.as_secs_f32(), "socket not read: dropped as too slow");
                super::metrics::closed(close::POLICY_VIOLATION);
                break;
            }
        }
    }
    tracing::debug!(conn_id, "writer done");
}

/// Counts throttled frames; a client that keeps flooding after being told is closed.
struct Throttle {
    limiter: DefaultDirectRateLimiter,
    strikes: u32,
    last_strike: Option<Instant>,
}

impl Throttle {
    fn new(per_second: u32, burst: u32) -> Throttle {
        let rate = NonZeroU32::new(per_second).expect("non-zero");
        let burst = NonZeroU32::new(burst).expect("non-zero");
        Throttle { limiter: rate_limiter(Quota::per_second(rate).allow_burst(burst)), strikes: 0, last_strike: None }
    }

    /// Ok if the frame may go through; Err(strikes) if it is throttled.
    fn check(&mut self) -> Result<(), u32> {
        let now = Instant::now();
        if self.limiter.check().is_ok() {
            // A second of calm forgives earlier strikes.
            if self.last_strike.is_some_and(|t| now - t > Duration::from_secs(1)) {
                self.strikes = 0;
            }
            return Ok(());
        }
        self.strikes += 1;
        self.last_strike = Some(now);
        Err(self.strikes)
    }
}

fn error_frame(req_id: Option<ReqId>, code: ErrorCode, message: impl Into<String>) -> Reply {
    super::metrics::error_sent(code);
    let msg = ServerMsg::Error { req_id, code, message: message.into() };
    Reply::Frame(super::wire::encode(&msg))
}

async fn read_loop<R, E>(conn_id: ConnId, mut stream: R, hub: HubHandle, mut replies: replies::Sender<Reply>)
where
    R: Stream<Item = Result<Message, E>> + Unpin,
    E: std::fmt::Display,
{
    // WebRTC signalling comes in bursts (an offer, then a dozen ICE candidates per peer,
    // three peers at once when joining a call of four): it gets its own, larger allowance
    // so a call never loses a candidate to the chat limit.
    let mut throttle = Throttle::new(RATE_PER_SECOND, RATE_BURST);
    let mut signal_throttle = Throttle::new(SIGNAL_RATE_PER_SECOND, SIGNAL_RATE_BURST);
    loop {
        let frame = match tokio::time::timeout(IDLE_TIMEOUT, stream.next()).await {
            Err(_) => {
                tracing::info!(conn_id, "idle timeout");
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                // The WebSocket layer refuses frames beyond its own limit before we see them.
                let oversized = e.to_string().contains("too long") || e.to_string().contains("too big");
                if !oversized {
                    // Usually a lost network or a closed tab: part of life, not a server fault.
                    tracing::info!(conn_id, error = %e, "connection lost");
                    break;
                }
                tracing::warn!(conn_id, error = %e, "frame over the WebSocket layer's limit");
                return say_goodbye(stream, &mut replies, close::MESSAGE_TOO_BIG, "frame too large").await;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Binary(_) => {
                tracing::warn!(conn_id, "binary frame refused");
                return say_goodbye(stream, &mut replies, close::UNSUPPORTED_DATA, "binary frames are not supported").await;
            }
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        // Offers and answers may exceed the chat frame limit; they get a larger one, and
        // the SDP inside is checked by `ClientMsg::validated` (error frame, not a close).
        if text.len() > MAX_FRAME_BYTES && (text.len() > MAX_SIGNAL_FRAME_BYTES || !is_signal(text.as_str())) {
            tracing::warn!(conn_id, bytes = text.len(), "frame too large");
            return say_goodbye(stream, &mut replies, close::MESSAGE_TOO_BIG, "frame larger than 16 KiB").await;
        }
        let parsed = parse_client(text.as_str());
        let (bucket, limit) = match parsed {
            Ok(ClientMsg::Signal { .. }) => (&mut signal_throttle, SIGNAL_RATE_PER_SECOND),
            _ => (&mut throttle, RATE_PER_SECOND),
        };
        if let Err(strikes) = bucket.check() {
            if strikes >= RATE_STRIKES_BEFORE_CLOSE {
                tracing::warn!(conn_id, strikes, "flooding: closing");
                return say_goodbye(stream, &mut replies, close::POLICY_VIOLATION, "too many messages").await;
            }
            tracing::debug!(conn_id, strikes, "throttled");
            let req_id = parsed.ok().and_then(|m| m.req_id());
            let message = format!("too many messages: at most {limit} per second; this one was dropped");
            let _ = replies.send(error_frame(req_id, ErrorCode::RateLimited, message)).await;
            continue;
        }
        match parsed.and_then(|msg| msg.validated()) {
            // Chat is what floods: refused at the door when the hub is behind.
            Ok(msg @ ClientMsg::Chat { .. }) => match hub.try_send(Command::Request { conn_id, msg }) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(Command::Request { msg, .. })) => {
                    tracing::debug!(conn_id, "hub overloaded: chat refused");
                    let message = "the server is overloaded; this message was not taken, send it again in a moment";
                    if replies.send(error_frame(msg.req_id(), ErrorCode::Overloaded, message)).await.is_err() {
                        break;
                    }
                }
                Err(_) => break,
            },
            Ok(msg) => {
                if !hub.send(Command::Request { conn_id, msg }).await {
                    break;
                }
            }
            Err(e) => {
                tracing::info!(conn_id, code = ?e.code, error = %e.message, "request refused");
                if replies.send(error_frame(e.req_id, e.code, e.message)).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Whether a (large) frame is a `signal`, the only type allowed past [`MAX_FRAME_BYTES`].
fn is_signal(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Type<'a> {
        #[serde(rename = "type", borrow)]
        ty: Option<&'a str>,
    }
    serde_json::from_str::<Type>(text).ok().and_then(|t| t.ty) == Some("signal")
}

/// Close with `code`, then keep reading (and ignoring) until the client answers the close
/// or a grace period passes. Dropping a socket with unread input makes the kernel reset
/// the connection, and the client would never see the close code.
async fn say_goodbye<R, E>(mut stream: R, replies: &mut replies::Sender<Reply>, code: u16, reason: &'static str)
where
    R: Stream<Item = Result<Message, E>> + Unpin,
{
    if replies.send(Reply::Close(code, reason)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests;
