//! Integration tests: the real server on an ephemeral loopback port, real HTTP requests,
//! several real WebSocket clients (tokio-tungstenite) and, for the SFU, real WebRTC peers
//! (str0m) sending media over loopback UDP. One test binary, cut by subject.

#![allow(unused_imports)] // `common` re-exports what any test module may use

mod acme;
mod call;
mod chat;
mod common;
mod durability;
mod http;
mod moderation;
mod operations;
mod passwords;
mod sfu;
mod tls;
mod turn;
