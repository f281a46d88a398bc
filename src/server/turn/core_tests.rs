use turn_types::attribute::{ChannelNumber, Lifetime, RequestedTransport, XorRelayedAddress};
use turn_types::stun::attribute::{ErrorCode, Nonce, Realm, Username};
use turn_types::stun::message::{IntegrityAlgorithm, LongTermKeyCredentials};

use super::super::credentials;
use super::*;

const SECRET: &[u8] = b"turn-secret";
const CLIENT: Client = Client { transport: Transport::Udp, addr: SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 5)), 40000) };

struct Lab {
    core: TurnCore,
    clock: Clock,
    user: String,
    pass: String,
    nonce: Option<String>,
    /// The signed Allocate of the last `allocate()`.
    last_allocate: Option<Vec<u8>>,
}

enum A {
    Transport(u8),
    Peer(SocketAddr),
    Channel(u16),
    Lifetime(u32),
    Data(Vec<u8>),
}

impl Lab {
    fn new() -> Lab {
        let now = Instant::now();
        let clock = Clock { now, unix: 1_000_000 };
        let core = TurnCore::new(SECRET.to_vec(), [7; 32], Policy { allow_private: false, own: vec!["127.0.0.1:3479".parse().unwrap()] }, 100, now);
        let (user, pass) = credentials::issue(SECRET, "1", clock.unix, 3600);
        Lab { core, clock, user, pass, nonce: None, last_allocate: None }
    }

    fn build(&self, class: MessageClass, method: turn_types::stun::message::Method, attrs: &[A], sign: bool) -> Vec<u8> {
        let transaction = TransactionId::generate();
        let mut w = Message::builder(MessageType::from_class_method(class, method), transaction, MessageWriteVec::new());
        for a in attrs {
            let _ = match a {
                A::Transport(p) => w.add_attribute(&RequestedTransport::new(*p)),
                A::Peer(addr) => w.add_attribute(&XorPeerAddress::new(*addr, transaction)),
                A::Channel(n) => w.add_attribute(&ChannelNumber::new(*n)),
                A::Lifetime(l) => w.add_attribute(&Lifetime::new(*l)),
                A::Data(d) => w.add_attribute(&Data::new(d)),
            };
        }
        if sign {
            w.add_attribute(&Username::new(&self.user).unwrap()).unwrap();
            w.add_attribute(&Realm::new(REALM).unwrap()).unwrap();
            w.add_attribute(&Nonce::new(self.nonce.as_deref().unwrap_or("none")).unwrap()).unwrap();
            let creds: MessageIntegrityCredentials = LongTermKeyCredentials::new(self.user.clone(), self.pass.clone(), REALM.into()).into();
            w.add_message_integrity(&creds, IntegrityAlgorithm::Sha1).unwrap();
        }
        w.finish()
    }

    /// Send a request; returns the answer and whatever else came out.
    fn ask(&mut self, method: turn_types::stun::message::Method, attrs: &[A]) -> (Vec<u8>, Vec<Out>) {
        let data = self.build(MessageClass::Request, method, attrs, true);
        let mut out = Vec::new();
        self.core.from_client(self.clock, CLIENT, &data, &mut out);
        let pos = out.iter().position(|o| matches!(o, Out::ToClient { client, .. } if *client == CLIENT));
        let answer = match pos {
            Some(i) => match out.remove(i) {
                Out::ToClient { data, .. } => data,
                _ => unreachable!(),
            },
            None => Vec::new(),
        };
        (answer, out)
    }

    fn code(answer: &[u8]) -> Option<u16> {
        let msg = Message::from_bytes(answer).unwrap();
        msg.attribute::<ErrorCode>().ok().map(|e| e.code())
    }

    /// The nonce of a 401 challenge.
    fn learn_nonce(&mut self) {
        let data = self.build(MessageClass::Request, ALLOCATE, &[A::Transport(RequestedTransport::UDP)], false);
        let mut out = Vec::new();
        self.core.from_client(self.clock, CLIENT, &data, &mut out);
        let Some(Out::ToClient { data, .. }) = out.pop() else { panic!("no challenge") };
        let msg = Message::from_bytes(&data).unwrap();
        assert_eq!(msg.attribute::<ErrorCode>().unwrap().code(), 401);
        assert_eq!(msg.attribute::<Realm>().unwrap().realm(), REALM);
        self.nonce = Some(msg.attribute::<Nonce>().unwrap().nonce().to_string());
    }

    /// A full allocation; returns the relay's bound address.
    fn allocate(&mut self) -> SocketAddr {
        self.learn_nonce();
        let request = self.build(MessageClass::Request, ALLOCATE, &[A::Transport(RequestedTransport::UDP)], true);
        self.last_allocate = Some(request.clone());
        let mut out = Vec::new();
        self.core.from_client(self.clock, CLIENT, &request, &mut out);
        assert_eq!(out, [Out::Allocate { client: CLIENT }]);
        let bound: SocketAddr = "10.9.9.9:50000".parse().unwrap();
        let announced: SocketAddr = "198.51.100.1:50000".parse().unwrap();
        let mut out = Vec::new();
        self.core.allocated(self.clock, CLIENT, Ok((bound, announced)), &mut out);
        let Some(Out::ToClient { data, .. }) = out.pop() else { panic!("no answer") };
        let msg = Message::from_bytes(&data).unwrap();
        assert!(msg.has_class(MessageClass::Success), "{:?}", Lab::code(&data));
        let relayed = msg.attribute::<XorRelayedAddress>().unwrap().addr(msg.transaction_id());
        assert_eq!(relayed, announced);
        let creds: MessageIntegrityCredentials = LongTermKeyCredentials::new(self.user.clone(), self.pass.clone(), REALM.into()).into();
        assert!(msg.validate_integrity(&creds).is_ok(), "the answer is signed");
        bound
    }
}

#[test]
fn an_allocation_needs_the_nonce_and_a_credential_made_from_the_secret() {
    let mut lab = Lab::new();
    lab.learn_nonce();
    // Wrong password.
    lab.pass = "not-it".into();
    let (answer, out) = lab.ask(ALLOCATE, &[A::Transport(RequestedTransport::UDP)]);
    assert_eq!(Lab::code(&answer), Some(401));
    assert!(out.is_empty());
    // Expired credential, correctly signed.
    let (user, pass) = credentials::issue(SECRET, "1", lab.clock.unix - 7200, 3600);
    (lab.user, lab.pass) = (user, pass);
    let (answer, _) = lab.ask(ALLOCATE, &[A::Transport(RequestedTransport::UDP)]);
    assert_eq!(Lab::code(&answer), Some(401));
    // A forged nonce is stale; an old one too.
    let (user, pass) = credentials::issue(SECRET, "1", lab.clock.unix, 3600);
    (lab.user, lab.pass) = (user, pass);
    lab.nonce = Some("0000000000000000deadbeefdeadbeef".into());
    let (answer, _) = lab.ask(ALLOCATE, &[A::Transport(RequestedTransport::UDP)]);
    assert_eq!(Lab::code(&answer), Some(438));
    lab.learn_nonce();
    lab.clock.now += NONCE_LIFETIME;
    let (answer, _) = lab.ask(ALLOCATE, &[A::Transport(RequestedTransport::UDP)]);
    assert_eq!(Lab::code(&answer), Some(438));
    // TCP relays are not offered.
    lab.learn_nonce();
    let (answer, _) = lab.ask(ALLOCATE, &[A::Transport(RequestedTransport::TCP)]);
    assert_eq!(Lab::code(&answer), Some(442));
    assert_eq!(lab.core.allocations(), 0);
    lab.allocate();
    assert_eq!(lab.core.allocations(), 1);
    let (answer, _) = lab.ask(ALLOCATE, &[A::Transport(RequestedTransport::UDP)]);
    assert_eq!(Lab::code(&answer), Some(437), "one allocation per 5-tuple");
    // The Allocate that made it, sent again (its answer was lost): the same answer.
    let first = lab.last_allocate.clone().unwrap();
    let mut out = Vec::new();
    lab.core.from_client(lab.clock, CLIENT, &first, &mut out);
    let Some(Out::ToClient { data, .. }) = out.pop() else { panic!("no answer to the retransmission") };
    let msg = Message::from_bytes(&data).unwrap();
    assert!(msg.has_class(MessageClass::Success));
    assert_eq!(msg.attribute::<XorRelayedAddress>().unwrap().addr(msg.transaction_id()), "198.51.100.1:50000".parse().unwrap());
}

#[test]
fn relays_to_loopback_private_and_link_local_peers_are_refused_public_and_own_ones_allowed() {
    let mut lab = Lab::new();
    lab.allocate();
    for peer in ["127.0.0.2:9", "10.1.2.3:9", "192.168.1.1:9", "172.16.0.1:9", "169.254.1.1:9", "100.64.0.1:9", "[::1]:9", "[fd00::1]:9", "[::ffff:10.0.0.1]:9", "0.0.0.0:9", "224.0.0.1:9"] {
        let (answer, _) = lab.ask(CREATE_PERMISSION, &[A::Peer(peer.parse().unwrap())]);
        assert_eq!(Lab::code(&answer), Some(403), "{peer}");
        let (answer, _) = lab.ask(CHANNEL_BIND, &[A::Channel(0x4001), A::Peer(peer.parse().unwrap())]);
        assert_eq!(Lab::code(&answer), Some(403), "{peer}");
    }
    for peer in ["8.8.8.8:9", "198.51.100.1:50000"] {
        let (answer, _) = lab.ask(CREATE_PERMISSION, &[A::Peer(peer.parse().unwrap())]);
        assert_eq!(Lab::code(&answer), None, "{peer} allowed");
    }
    // The SFU's own loopback socket: a permission for its IP, but only its port passes.
    let relay = lab.core.allocations.get(&CLIENT).unwrap().bound;
    let (answer, _) = lab.ask(CREATE_PERMISSION, &[A::Peer("127.0.0.1:3479".parse().unwrap())]);
    assert_eq!(Lab::code(&answer), None, "the SFU");
    let mut out = Vec::new();
    for (port, passes) in [(3479u16, true), (53, false), (3478, false)] {
        let peer = SocketAddr::new([127, 0, 0, 1].into(), port);
        let send = lab.build(MessageClass::Indication, SEND, &[A::Peer(peer), A::Data(b"x".to_vec())], false);
        lab.core.from_client(lab.clock, CLIENT, &send, &mut out);
        assert_eq!(out.pop().is_some(), passes, "to 127.0.0.1:{port}");
        lab.core.from_peer(lab.clock, relay, peer, b"y", &mut out);
        assert_eq!(out.pop().is_some(), passes, "from 127.0.0.1:{port}");
    }
    let (answer, _) = lab.ask(CHANNEL_BIND, &[A::Channel(0x4005), A::Peer("127.0.0.1:53".parse().unwrap())]);
    assert_eq!(Lab::code(&answer), Some(403), "a channel names its port");
    lab.core.policy.allow_private = true;
    let (answer, _) = lab.ask(CREATE_PERMISSION, &[A::Peer("127.0.0.1:9".parse().unwrap())]);
    assert_eq!(Lab::code(&answer), None, "--turn-allow-private");
}

#[test]
fn an_allocation_holds_a_bounded_number_of_permissions() {
    let mut lab = Lab::new();
    lab.allocate();
    let peers: Vec<A> = (0..MAX_PERMISSIONS as u32).map(|i| A::Peer(SocketAddr::new(std::net::Ipv4Addr::from(0x0808_0000 + i).into(), 9))).collect();
    let (answer, _) = lab.ask(CREATE_PERMISSION, &peers);
    assert_eq!(Lab::code(&answer), None);
    let (answer, _) = lab.ask(CREATE_PERMISSION, &[A::Peer("9.9.9.9:9".parse().unwrap())]);
    assert_eq!(Lab::code(&answer), Some(508));
}

#[test]
fn data_flows_only_with_a_permission_by_indication_or_channel() {
    let mut lab = Lab::new();
    let relay = lab.allocate();
    let peer: SocketAddr = "8.8.8.8:5000".parse().unwrap();
    let mut out = Vec::new();
    // Before a permission, nothing passes either way.
    let send = lab.build(MessageClass::Indication, SEND, &[A::Peer(peer), A::Data(b"hi".to_vec())], false);
    lab.core.from_client(lab.clock, CLIENT, &send, &mut out);
    lab.core.from_peer(lab.clock, relay, peer, b"yo", &mut out);
    assert!(out.is_empty());
    let (answer, _) = lab.ask(CREATE_PERMISSION, &[A::Peer(peer)]);
    assert_eq!(Lab::code(&answer), None);
    lab.core.from_client(lab.clock, CLIENT, &send, &mut out);
    assert_eq!(out.pop(), Some(Out::ToPeer { relay, peer, data: b"hi".to_vec() }));
    lab.core.from_peer(lab.clock, relay, peer, b"yo", &mut out);
    let Some(Out::ToClient { data, .. }) = out.pop() else { panic!("no data indication") };
    let msg = Message::from_bytes(&data).unwrap();
    assert!(msg.has_method(DATA));
    assert_eq!(msg.attribute::<Data>().unwrap().data(), b"yo");
    // A channel: ChannelData both ways.
    let (answer, _) = lab.ask(CHANNEL_BIND, &[A::Channel(0x4002), A::Peer(peer)]);
    assert_eq!(Lab::code(&answer), None);
    lab.core.from_client(lab.clock, CLIENT, &channel_data(Transport::Udp, 0x4002, b"media"), &mut out);
    assert_eq!(out.pop(), Some(Out::ToPeer { relay, peer, data: b"media".to_vec() }));
    lab.core.from_peer(lab.clock, relay, peer, b"back", &mut out);
    assert_eq!(out.pop(), Some(Out::ToClient { client: CLIENT, data: channel_data(Transport::Udp, 0x4002, b"back") }));
    // Another peer without permission is not heard.
    lab.core.from_peer(lab.clock, relay, "9.9.9.9:1".parse().unwrap(), b"x", &mut out);
    assert!(out.is_empty());
    // Permissions end.
    lab.clock.now += CHANNEL_LIFETIME + Duration::from_secs(1);
    lab.core.from_peer(lab.clock, relay, peer, b"late", &mut out);
    assert!(out.is_empty());
}

#[test]
fn an_allocation_lives_until_its_lifetime_or_a_zero_refresh_and_an_expired_credential_may_keep_it() {
    let mut lab = Lab::new();
    let relay = lab.allocate();
    // The credential expires; refreshing the allocation it made still works.
    lab.clock.unix += 7200;
    let (answer, _) = lab.ask(REFRESH, &[A::Lifetime(600)]);
    assert_eq!(Lab::code(&answer), None);
    let mut out = Vec::new();
    lab.clock.now += Duration::from_secs(599);
    lab.core.expire(lab.clock, &mut out);
    assert!(out.is_empty());
    lab.clock.now += Duration::from_secs(2);
    lab.core.expire(lab.clock, &mut out);
    assert_eq!(out, [Out::Release { relay }]);
    assert_eq!(lab.core.allocations(), 0);
    // A zero refresh ends one at once (with a fresh credential and allocation).
    let mut lab = Lab::new();
    let relay = lab.allocate();
    let (answer, out) = lab.ask(REFRESH, &[A::Lifetime(0)]);
    assert_eq!(Lab::code(&answer), None);
    assert_eq!(out, [Out::Release { relay }]);
}

#[test]
fn channel_data_over_streams_is_padded_to_four_bytes() {
    assert_eq!(channel_data(Transport::Tcp, 0x4000, b"abcde").len(), 12);
    assert_eq!(channel_data(Transport::Udp, 0x4000, b"abcde").len(), 9);
    assert_eq!(channel_data(Transport::Tls, 0x4000, b"abcd").len(), 8);
}
