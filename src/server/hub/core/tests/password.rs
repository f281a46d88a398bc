//! Room passwords: checks come back as inputs (no Argon2 here), the back-off is clock
//! values.

use super::*;

fn protected_hub() -> TestHub {
    let mut hub = TestHub::new(CallLimits::default());
    hub.core.passwords.insert("r".into(), "the hash".into());
    hub
}

fn join_with(req_id: ReqId, password: &str) -> ClientMsg {
    ClientMsg::Join { req_id: Some(req_id), room: "r".into(), since: None, epoch: None, device: None, password: Some(password.into()) }
}

#[test]
fn a_connection_has_one_password_check_at_a_time_and_waits_after_wrong_ones() {
    let mut hub = protected_hub();
    hub.connect(1, 64);
    hub.drain(1);
    hub.req(1, join_with(1, "wrong"));
    // While it is checked, another try is turned away, not queued.
    hub.req(1, join_with(2, "pw"));
    assert_eq!(code(hub.drain(1)), ErrorCode::RateLimited);
    assert_eq!(hub.jobs.len(), 1);
    hub.checked(false);
    assert_eq!(code(hub.drain(1)), ErrorCode::WrongPassword);
    for req_id in 3..5 {
        hub.req(1, join_with(req_id, "wrong"));
        hub.checked(false);
        assert_eq!(code(hub.drain(1)), ErrorCode::WrongPassword);
    }
    // Three wrong: the next try waits a second, right or not, and is not even checked.
    hub.req(1, join_with(5, "pw"));
    let msgs = hub.drain(1);
    assert!(matches!(&msgs[..], [ServerMsg::Error { code: ErrorCode::TooManyTries, message, .. }] if message.contains("1 s")), "{msgs:?}");
    assert!(hub.jobs.is_empty());
    hub.advance(Duration::from_millis(999));
    hub.req(1, join_with(6, "pw"));
    assert_eq!(code(hub.drain(1)), ErrorCode::TooManyTries);
    hub.advance(Duration::from_millis(1));
    hub.req(1, join_with(7, "pw"));
    hub.checked(true);
    hub.settle();
    let msgs = hub.drain(1);
    assert!(matches!(&msgs[..], [ServerMsg::Joined { req_id: Some(7), protected: true, .. }]), "{msgs:?}");
}

#[test]
fn the_wait_doubles_with_each_wrong_try() {
    let mut hub = protected_hub();
    hub.connect(1, 64);
    for req_id in 1..=4 {
        hub.req(1, join_with(req_id, "wrong"));
        hub.checked(false);
        hub.advance(Duration::from_secs(1));
    }
    hub.drain(1);
    // Four wrong: two seconds from the fourth, one of which has passed.
    hub.req(1, join_with(5, "pw"));
    let msgs = hub.drain(1);
    assert!(matches!(&msgs[..], [ServerMsg::Error { code: ErrorCode::TooManyTries, message, .. }] if message.contains("1 s")), "{msgs:?}");
    hub.advance(Duration::from_secs(1));
    hub.req(1, join_with(6, "pw"));
    assert_eq!(hub.jobs.len(), 1, "checked again once the wait is over");
}

#[test]
fn no_password_or_the_room_going_elsewhere_meanwhile() {
    let mut hub = protected_hub();
    hub.connect(1, 64);
    hub.drain(1);
    hub.req(1, join("r"));
    assert_eq!(code(hub.drain(1)), ErrorCode::PasswordRequired);
    // A check that comes back after its connection went to the home page counts for nothing.
    hub.req(1, join_with(2, "pw"));
    hub.req(1, ClientMsg::WatchRooms { req_id: None });
    hub.drain(1);
    hub.checked(true);
    assert!(hub.drain(1).is_empty());
    assert!(hub.core.conns[&1].room.is_none());
}

#[test]
fn a_host_sets_a_password_hashed_off_the_core_and_stored_before_it_holds() {
    let mut hub = TestHub::new(CallLimits::default());
    hub.connect_to(1, "r");
    hub.connect_to(2, "r");
    hub.drain(1);
    hub.req(2, ClientMsg::SetPassword { req_id: Some(1), password: Some("pw".into()) });
    assert_eq!(code(hub.drain(2)), ErrorCode::NotHost);
    hub.req(1, ClientMsg::SetPassword { req_id: Some(2), password: Some("pw".into()) });
    hub.hashed();
    assert!(hub.drain(2).is_empty(), "not before the store wrote it");
    hub.settle();
    assert!(matches!(&hub.drain(2)[..], [ServerMsg::PasswordChanged { protected: true, by: 1, .. }]));
    assert_eq!(hub.core.passwords["r"].as_ref(), "hash of pw");
    assert!(matches!(hub.drain(1).last(), Some(ServerMsg::Ack { req_id: 2, .. })));
}
