//! The browser's WebSocket (gloo-net): connect, pump messages both ways, reconnect.
//!
//! Why a loop with backoff: a meeting app must survive a server restart or a flaky network
//! without a reload. Each new socket replays the session (nickname, place, unacked chat
//! lines; see `Session::on_connected`), and the server's `joined` history fills the gap.

use std::time::Duration;

use futures::channel::mpsc;
use futures::future::{select, Either};
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
use gloo_timers::future::sleep;
use leptos::prelude::Set;

use super::call_queue::CallEvent;
use crate::app::session::Session;
use crate::protocol::{ClientMsg, ErrorCode, ServerMsg};

const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(5);

fn socket_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" { "wss" } else { "ws" };
    Some(format!("{scheme}://{}/ws", location.host().ok()?))
}

pub async fn run(session: Session) {
    let Some(url) = socket_url() else { return };
    let mut retry = FIRST_RETRY;
    loop {
        match WebSocket::open(&url) {
            Ok(ws) => {
                let (mut sink, mut stream) = ws.split();
                let (tx, mut rx) = mpsc::unbounded::<ClientMsg>();
                session.on_connected(tx);
                let writer = Box::pin(async move {
                    while let Some(msg) = rx.next().await {
                        let text = serde_json::to_string(&msg).expect("client messages serialize");
                        if sink.send(Message::Text(text)).await.is_err() {
                            break;
                        }
                    }
                });
                let mut got_welcome = false;
                let reader = Box::pin(async {
                    while let Some(frame) = stream.next().await {
                        match frame {
                            Ok(Message::Text(text)) => match serde_json::from_str::<ServerMsg>(&text) {
                                Ok(msg) => {
                                    got_welcome |= matches!(msg, ServerMsg::Welcome { .. });
                                    let for_call = matches!(
                                        msg,
                                        ServerMsg::Joined { .. }
                                            | ServerMsg::CallJoined { .. }
                                            | ServerMsg::CallModeChanged { .. }
                                            | ServerMsg::CallTracks { .. }
                                            | ServerMsg::CallParticipantJoined { .. }
                                            | ServerMsg::CallParticipantLeft { .. }
                                            | ServerMsg::Signal { .. }
                                            | ServerMsg::Error { code: ErrorCode::MediaFailed, .. }
                                    );
                                    if for_call {
                                        session.apply(msg.clone());
                                        super::call_queue::send(CallEvent::Message(msg));
                                    } else {
                                        session.apply(msg);
                                    }
                                }
                                Err(e) => leptos::logging::warn!("unreadable server message: {e}"),
                            },
                            Ok(Message::Bytes(_)) => {}
                            Err(WebSocketError::ConnectionClose(ev)) => {
                                leptos::logging::log!("socket closed: {} {}", ev.code, ev.reason);
                                // Closed by policy (flooding, too big, server full): say why.
                                if ev.code != 1000 && ev.code != 1001 && ev.code != 1006 && !ev.reason.is_empty() {
                                    session.error.set(Some(ev.reason));
                                }
                                break;
                            }
                            Err(e) => {
                                leptos::logging::log!("socket error: {e}");
                                break;
                            }
                        }
                    }
                });
                match select(writer, reader).await {
                    Either::Left(_) | Either::Right(_) => {}
                }
                session.on_disconnected();
                // Our connection id dies with the socket: peers are rebuilt after re-joining.
                super::call_queue::send(CallEvent::Disconnected);
                if got_welcome {
                    retry = FIRST_RETRY;
                }
            }
            Err(e) => leptos::logging::warn!("cannot open socket: {e}"),
        }
        sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}
