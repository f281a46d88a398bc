//! The browser's WebSocket (gloo-net): connect, pump messages both ways, reconnect.
//!
//! Why a loop with backoff: a meeting app must survive a server restart or a flaky network
//! without a reload. Each new socket is reported as `Input::Connected`, and the model
//! replays what matters (nickname, place, unacked chat lines); the server's `joined`
//! history fills the gap. The socket decides nothing about messages: each goes to the
//! model as `Input::Server`, and the model says which the call engine needs.

use std::time::Duration;

use futures::channel::mpsc;
use futures::future::{select, Either};
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
use gloo_timers::future::sleep;

use super::port::dispatch;
use crate::model::Input;
use crate::protocol::{ClientMsg, ServerMsg};

thread_local! {
    /// The open socket's writer, while there is one.
    static LINK: std::cell::RefCell<Option<mpsc::UnboundedSender<ClientMsg>>> = const { std::cell::RefCell::new(None) };
}

/// Send on the open socket (the model sends only while connected).
pub fn send(msg: ClientMsg) {
    LINK.with(|l| {
        if let Some(tx) = l.borrow().as_ref() {
            let _ = tx.unbounded_send(msg);
        }
    });
}

const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(5);

fn socket_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" { "wss" } else { "ws" };
    Some(format!("{scheme}://{}/ws", location.host().ok()?))
}

pub async fn run() {
    let Some(url) = socket_url() else { return };
    let mut retry = FIRST_RETRY;
    loop {
        match WebSocket::open(&url) {
            Ok(ws) => {
                let (mut sink, mut stream) = ws.split();
                let (tx, mut rx) = mpsc::unbounded::<ClientMsg>();
                LINK.with(|l| *l.borrow_mut() = Some(tx));
                dispatch(Input::Connected);
                let writer = Box::pin(async move {
                    while let Some(msg) = rx.next().await {
                        let text = serde_json::to_string(&msg).expect("client messages serialize");
                        if sink.send(Message::Text(text)).await.is_err() {
                            break;
                        }
                    }
                });
                let mut got_welcome = false;
                let mut close = None;
                let reader = Box::pin(async {
                    while let Some(frame) = stream.next().await {
                        match frame {
                            Ok(Message::Text(text)) => match serde_json::from_str::<ServerMsg>(&text) {
                                Ok(msg) => {
                                    got_welcome |= matches!(msg, ServerMsg::Welcome { .. });
                                    dispatch(Input::Server(msg));
                                }
                                Err(e) => leptos::logging::warn!("unreadable server message: {e}"),
                            },
                            Ok(Message::Bytes(_)) => {}
                            Err(WebSocketError::ConnectionClose(ev)) => {
                                leptos::logging::log!("socket closed: {} {}", ev.code, ev.reason);
                                close = Some((ev.code, ev.reason));
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
                LINK.with(|l| *l.borrow_mut() = None);
                dispatch(Input::Disconnected { close });
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
