use crate::server::certs::SELF_SIGNED_DAYS;
use super::listener::looks_like_http;
use super::*;

fn write_pair(dir: &Path, name: &str, names: &[&str], days: (i64, i64)) -> (PathBuf, PathBuf) {
    let mut params = rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(days.0);
    params.not_after = now + time::Duration::days(days.1);
    let pair = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&pair).unwrap();
    let (c, k) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, pair.serialize_pem()).unwrap();
    (c, k)
}

#[test]
fn a_good_pair_loads_with_its_names_and_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = write_pair(dir.path(), "a", &["noom.test", "10.1.2.3"], (-1, 90));
    let loaded = load_pair(&c, &k, SystemTime::now()).unwrap();
    assert_eq!(loaded.names, ["noom.test", "10.1.2.3"]);
    assert_eq!(loaded.fingerprint.len(), 32 * 3 - 1);
    assert_eq!(loaded.fingerprint, fingerprint(loaded.key.end_entity_cert().unwrap()));
}

#[test]
fn unreadable_mismatched_expired_and_future_certificates_are_refused_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = write_pair(dir.path(), "a", &["noom.test"], (-1, 90));
    let (c2, k2) = write_pair(dir.path(), "b", &["noom.test"], (-1, 90));
    let now = SystemTime::now();
    let missing = dir.path().join("missing.crt");
    let e = load_pair(&missing, &k, now).unwrap_err().to_string();
    assert!(e.contains("missing.crt") && e.contains("cannot read"), "{e}");
    let e = load_pair(&c, &k2, now).unwrap_err();
    assert!(matches!(e, CertError::Mismatch { .. }), "{e}");
    assert!(e.to_string().contains("b.key") && e.to_string().contains("a.crt"), "{e}");
    let e = load_pair(&k, &k, now).unwrap_err().to_string();
    assert!(e.contains("a.key") && e.contains("no PEM certificate"), "{e}");
    let e = load_pair(&c, &c2, now).unwrap_err().to_string();
    assert!(e.contains("b.crt") && e.contains("no PEM private key"), "{e}");
    let (old_c, old_k) = write_pair(dir.path(), "old", &["noom.test"], (-90, -1));
    let e = load_pair(&old_c, &old_k, now).unwrap_err().to_string();
    assert!(e.contains("old.crt") && e.contains("expired on"), "{e}");
    let (new_c, new_k) = write_pair(dir.path(), "new", &["noom.test"], (2, 90));
    assert!(matches!(load_pair(&new_c, &new_k, now), Err(CertError::NotYetValid { .. })));
    assert!(load_pair(&c2, &k2, now).is_ok());
}

#[test]
fn a_self_signed_certificate_is_kept_until_a_name_is_missing_or_it_nears_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let first = self_signed(dir.path(), &names, now).unwrap();
    assert_eq!(first.names, names);
    let again = self_signed(dir.path(), &names, now).unwrap();
    assert_eq!(again.fingerprint, first.fingerprint, "kept, not made anew");
    let more = vec!["localhost".to_string(), "127.0.0.1".to_string(), "meet.lan".to_string()];
    let grown = self_signed(dir.path(), &more, now).unwrap();
    assert_ne!(grown.fingerprint, first.fingerprint);
    assert!(grown.names.contains(&"meet.lan".to_string()));
    let later = now + Duration::from_secs((SELF_SIGNED_DAYS as u64 - 10) * 86_400);
    let renewed = self_signed(dir.path(), &more, later).unwrap();
    assert_ne!(renewed.fingerprint, grown.fingerprint, "made anew near its end");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("self-signed.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key is private");
    }
}

#[test]
fn replaced_files_are_served_from_the_next_handshake_and_broken_ones_keep_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = write_pair(dir.path(), "live", &["noom.test"], (-1, 90));
    let first = load_pair(&c, &k, SystemTime::now()).unwrap();
    let certs = Certificates::files(&first, c.clone(), k.clone());
    let current = || fingerprint(certs.current.read().unwrap().end_entity_cert().unwrap());
    certs.refresh();
    assert_eq!(current(), first.fingerprint);
    // Half-written renewal: a new certificate beside the old key.
    let (c2, k2) = write_pair(dir.path(), "next", &["noom.test"], (-1, 90));
    std::fs::copy(&c2, &c).unwrap();
    certs.refresh();
    assert_eq!(current(), first.fingerprint, "a mismatched pair is not used");
    std::fs::copy(&k2, &k).unwrap();
    certs.refresh();
    let second = load_pair(&c2, &k2, SystemTime::now()).unwrap();
    assert_eq!(current(), second.fingerprint);
}

#[test]
fn plain_http_is_told_from_tls_and_garbage_by_its_request_line() {
    assert!(looks_like_http(b"GET / HT"));
    assert!(looks_like_http(b"OPTIONS "));
    assert!(looks_like_http(b"DELE"), "a request line still arriving");
    assert!(!looks_like_http(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]));
    assert!(!looks_like_http(b"BBBBBBBB"));
    assert!(!looks_like_http(b"GE"));
}

#[test]
fn machine_names_cover_localhost_the_address_and_extras() {
    let names = machine_names("192.0.2.7:443".parse().unwrap(), &["Meet.Example.com".into()]);
    for n in ["localhost", "meet.example.com", "127.0.0.1", "192.0.2.7"] {
        assert!(names.contains(&n.to_string()), "{n} in {names:?}");
    }
    let all = machine_names("0.0.0.0:443".parse().unwrap(), &[]);
    assert!(all.contains(&"127.0.0.1".to_string()));
}
