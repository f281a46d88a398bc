use super::challenges::{challenge_certificate, reverse_dns_ip};
use super::manager::{humane, why};
use super::*;

#[test]
fn names_are_domains_or_addresses_and_wildcards_are_refused() {
    assert_eq!(parse_name("Meet.Example.com.").unwrap(), "meet.example.com");
    assert_eq!(parse_name("203.0.113.9").unwrap(), "203.0.113.9");
    assert_eq!(parse_name("[2001:db8::1]").unwrap(), "2001:db8::1");
    assert!(parse_name("*.example.com").unwrap_err().contains("DNS-01"));
    for bad in ["", "localhost", "a b.example", "-x.example", "x..example", "https://x.example"] {
        assert!(parse_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn the_short_lived_profile_is_chosen_for_ip_addresses_when_the_ca_offers_it() {
    let dns = vec![Identifier::Dns("meet.example.com".into())];
    let ip = vec![Identifier::Dns("meet.example.com".into()), Identifier::Ip("203.0.113.9".parse().unwrap())];
    let le = ["classic", "shortlived", "tlsserver"];
    assert_eq!(choose_profile(&ip, le), Some("shortlived"));
    assert_eq!(choose_profile(&dns, le), None, "domains keep the CA's default");
    assert_eq!(choose_profile(&ip, ["classic"]), None, "a CA without it gets a plain order");
    assert_eq!(choose_profile(&ip, []), None);
}

#[test]
fn renewal_comes_at_two_thirds_of_a_long_life_and_half_of_a_short_one() {
    let day = 86_400;
    assert_eq!(renew_at(0, 90 * day), 60 * day);
    assert_eq!(renew_at(0, 6 * day), 3 * day);
    assert_eq!(renew_at(1000, 1000 + 160 * 3600), 1000 + 80 * 3600, "160 h: Let's Encrypt's short-lived");
    assert_eq!(renew_at(0, 30), 15);
    assert_eq!(renew_at(50, 10), 50, "nonsense dates renew at once");
}

#[test]
fn retries_back_off_from_ten_seconds_to_an_hour() {
    assert_eq!(retry_delay(1), Duration::from_secs(10));
    assert_eq!(retry_delay(2), Duration::from_secs(20));
    assert_eq!(retry_delay(5), Duration::from_secs(160));
    assert_eq!(retry_delay(12), Duration::from_secs(3600));
    assert_eq!(retry_delay(1000), Duration::from_secs(3600));
}

#[test]
fn errors_show_their_causes_and_durations_read_well() {
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
    let e = instant_acme::Error::Other(Box::new(io));
    assert_eq!(why(&e), "Connection refused");
    let e = instant_acme::Error::Other(Box::new(instant_acme::Error::Other("inner".into())));
    assert!(why(&e).contains("inner"), "{}", why(&e));
    assert_eq!(humane(40), "40 s");
    assert_eq!(humane(25 * 60), "25 min");
    assert_eq!(humane(7 * 3600), "7 h");
    assert_eq!(humane(29 * 86_400 + 5), "29 days");
}

#[test]
fn random_points_stay_in_their_window() {
    for _ in 0..100 {
        let at = random_in(100, 200);
        assert!((100..200).contains(&at), "{at}");
    }
    assert_eq!(random_in(7, 7), 7);
    assert_eq!(random_in(9, 3), 9);
}

#[test]
fn each_ca_has_its_own_directory() {
    let a = store_dir(Path::new("/d/acme"), LETS_ENCRYPT);
    let b = store_dir(Path::new("/d/acme"), "https://acme-staging-v02.api.letsencrypt.org/directory");
    assert!(a.to_string_lossy().starts_with("/d/acme/acme-v02.api.letsencrypt.org-"), "{a:?}");
    assert_ne!(a, b);
    let local = store_dir(Path::new("/a"), "https://127.0.0.1:14000/dir");
    assert!(local.to_string_lossy().starts_with("/a/127.0.0.1_14000-"), "{local:?}");
}

#[test]
fn reverse_dns_names_map_back_to_addresses() {
    assert_eq!(reverse_dns_ip("1.0.0.127.in-addr.arpa"), Some("127.0.0.1".parse().unwrap()));
    let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
    assert_eq!(reverse_dns_ip(v6), Some("2001:db8::1".parse().unwrap()));
    assert_eq!(reverse_dns_ip("noom.test"), None);
    assert_eq!(reverse_dns_ip("300.0.0.127.in-addr.arpa"), None);
}

#[test]
fn challenge_certificates_are_found_by_name_reverse_name_or_the_one_ip() {
    let challenges = Challenges::default();
    let digest = [7u8; 32];
    let dns = challenge_certificate("noom.test", &digest).unwrap();
    let ip = challenge_certificate("127.0.0.1", &digest).unwrap();
    challenges.tls_alpn.write().unwrap().insert("noom.test".into(), dns.clone());
    challenges.tls_alpn.write().unwrap().insert("127.0.0.1".into(), ip.clone());
    let same = |a: Option<Arc<CertifiedKey>>, b: &Arc<CertifiedKey>| a.is_some_and(|a| Arc::ptr_eq(&a, b));
    assert!(same(challenges.tls_alpn(Some("NOOM.test")), &dns));
    assert!(same(challenges.tls_alpn(Some("1.0.0.127.in-addr.arpa")), &ip));
    assert!(same(challenges.tls_alpn(None), &ip));
    assert!(challenges.tls_alpn(Some("other.test")).is_none());
    // The certificate carries the digest in a critical acmeIdentifier extension.
    let (_, parsed) = x509_parser::parse_x509_certificate(dns.end_entity_cert().unwrap()).unwrap();
    let ext = parsed.extensions().iter().find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31").expect("acmeIdentifier");
    assert!(ext.critical);
    assert!(ext.value.ends_with(&digest));
    challenges.clear();
    assert!(challenges.tls_alpn(Some("noom.test")).is_none());
}
