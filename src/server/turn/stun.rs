//! The STUN answers the TURN core builds: success and error responses (signed with the
//! request's credential when there is one), a request header, and what the client asked
//! for. No state: bytes in, bytes out.

use std::net::SocketAddr;
use std::time::Duration;

use turn_types::attribute::{Lifetime, XorRelayedAddress};
use turn_types::stun::attribute::{ErrorCode, Nonce, Realm, XorMappedAddress};
use turn_types::stun::message::{
    IntegrityAlgorithm, Message, MessageClass, MessageIntegrityCredentials, MessageType, MessageWriteVec, TransactionId,
};
use turn_types::stun::prelude::{MessageWrite, MessageWriteExt};


/// The realm in every challenge.
pub const REALM: &str = "noom";

/// A refusal: the STUN error code and its reason phrase.
pub(super) type Refusal = (u16, &'static str);

pub(super) fn requested_lifetime(msg: &Message<'_>) -> Option<Duration> {
    msg.attribute::<Lifetime>().ok().map(|l| Duration::from_secs(l.seconds().into()))
}

/// Attributes of a success answer.
pub(super) enum Attr {
    Relayed(SocketAddr),
    Mapped(SocketAddr),
    Lifetime(u32),
}

pub(super) fn success(msg: &Message<'_>, attrs: Vec<Attr>, credentials: &MessageIntegrityCredentials) -> Vec<u8> {
    let transaction = msg.transaction_id();
    let mut w = Message::builder_success(msg, MessageWriteVec::new());
    for a in attrs {
        let _ = match a {
            Attr::Relayed(addr) => w.add_attribute(&XorRelayedAddress::new(addr, transaction)),
            Attr::Mapped(addr) => w.add_attribute(&XorMappedAddress::new(addr, transaction)),
            Attr::Lifetime(secs) => w.add_attribute(&Lifetime::new(secs)),
        };
    }
    let _ = w.add_message_integrity(credentials, IntegrityAlgorithm::Sha1);
    let _ = w.add_fingerprint();
    w.finish()
}

/// An error answer; a challenge (`nonce`) carries the realm and a fresh nonce, an answer to
/// an authenticated request is signed.
pub(super) fn error(msg: &Message<'_>, (code, reason): Refusal, signed: Option<&MessageIntegrityCredentials>, nonce: Option<String>) -> Vec<u8> {
    let mut w = Message::builder_error(msg, MessageWriteVec::new());
    if let Ok(e) = ErrorCode::new(code, reason) {
        let _ = w.add_attribute(&e);
    }
    if let Some(nonce) = nonce {
        if let (Ok(realm), Ok(nonce)) = (Realm::new(REALM), Nonce::new(&nonce)) {
            let _ = w.add_attribute(&realm);
            let _ = w.add_attribute(&nonce);
        }
    }
    if let Some(c) = signed {
        let _ = w.add_message_integrity(c, IntegrityAlgorithm::Sha1);
    }
    let _ = w.add_fingerprint();
    w.finish()
}

/// A bare request header (method, transaction), to answer a request after the fact.
pub(super) fn request_header(method: turn_types::stun::message::Method, transaction: TransactionId) -> Vec<u8> {
    Message::builder(MessageType::from_class_method(MessageClass::Request, method), transaction, MessageWriteVec::new()).finish()
}
