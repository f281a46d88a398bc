use super::*;

/// The keys the server (Leptos.toml) and cargo-leptos (Cargo.toml) both read must agree,
/// or the server would look for a site somewhere other than where it was built.
#[test]
fn leptos_toml_and_cargo_toml_agree() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |file: &str| {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        leptos::config::get_config_from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
    };
    let (runtime, build) = (read("Leptos.toml"), read("Cargo.toml"));
    assert_eq!(runtime.output_name, build.output_name);
    assert_eq!(runtime.site_root, build.site_root);
    assert_eq!(runtime.site_pkg_dir, build.site_pkg_dir);
    assert_eq!(runtime.site_addr, build.site_addr);
    assert_eq!(runtime.reload_port, build.reload_port);
    assert_eq!(&*runtime.output_name, "noom");
}

#[test]
fn the_address_comes_from_leptos_toml_unless_given() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let toml = root.join("Leptos.toml").to_string_lossy().to_string();
    let config = Config::parse_from(["noom", "--leptos-toml", &toml]);
    assert_eq!(config.leptos_options().unwrap().site_addr.to_string(), "127.0.0.1:3000");
    let config = Config::parse_from(["noom", "--leptos-toml", &toml, "--addr", "127.0.0.1:4321"]);
    assert_eq!(config.leptos_options().unwrap().site_addr.to_string(), "127.0.0.1:4321");
    let missing = Config::parse_from(["noom", "--leptos-toml", "/nonexistent/Leptos.toml"]).leptos_options().unwrap_err();
    assert!(missing.contains("/nonexistent/Leptos.toml"), "{missing}");
}

#[test]
fn loopback_is_plain_http_and_beyond_it_https_unless_told_otherwise() {
    use crate::server::tls::TlsMode;
    let mode = |args: &[&str], addr: &str| {
        let mut all = vec!["noom"];
        all.extend_from_slice(args);
        Config::parse_from(all).tls_mode(addr.parse().unwrap())
    };
    assert_eq!(mode(&[], "127.0.0.1:3000"), TlsMode::Plain);
    assert_eq!(mode(&[], "[::1]:3000"), TlsMode::Plain);
    assert!(matches!(mode(&[], "0.0.0.0:3000"), TlsMode::SelfSigned { .. }));
    assert_eq!(mode(&["--plain-http"], "0.0.0.0:3000"), TlsMode::Plain);
    let TlsMode::SelfSigned { dir, names } =
        mode(&["--self-signed", "--tls-name", "noom.test", "--data-dir", "/d", "--rtc-public-ip", "203.0.113.9"], "127.0.0.1:1")
    else {
        panic!("--self-signed on loopback")
    };
    assert_eq!(dir, std::path::Path::new("/d/tls"));
    assert!(names.contains(&"noom.test".into()) && names.contains(&"203.0.113.9".into()), "{names:?}");
    let files = mode(&["--tls-cert", "c.pem", "--tls-key", "k.pem"], "127.0.0.1:3000");
    assert_eq!(files, TlsMode::Files { cert: "c.pem".into(), key: "k.pem".into() });
    assert!(Config::try_parse_from(["noom", "--tls-cert", "c.pem"]).is_err(), "a certificate needs its key");
    assert!(Config::try_parse_from(["noom", "--tls-cert", "c", "--tls-key", "k", "--plain-http"]).is_err());
}

#[test]
fn acme_takes_names_and_picks_its_challenge_by_the_ports_there_are() {
    use crate::server::acme::{ChallengeKind, LETS_ENCRYPT};
    use crate::server::tls::TlsMode;
    let parse = |args: &[&str]| {
        let mut all = vec!["noom"];
        all.extend_from_slice(args);
        Config::try_parse_from(all)
    };
    let c = parse(&["--acme", "Meet.Example.com,203.0.113.9", "--acme-email", "ops@example.com", "--data-dir", "/d"]).unwrap();
    let TlsMode::Acme(acme) = c.tls_mode("127.0.0.1:443".parse().unwrap()) else { panic!("--acme is ACME, even on loopback") };
    assert_eq!(acme.names, ["meet.example.com", "203.0.113.9"]);
    assert_eq!(acme.email.as_deref(), Some("ops@example.com"));
    assert_eq!(acme.directory, LETS_ENCRYPT);
    assert_eq!(acme.dir, std::path::Path::new("/d/acme"));
    assert_eq!(acme.challenge, ChallengeKind::TlsAlpn01);
    let c = parse(&["--acme", "meet.example.com", "--http-redirect-addr", "0.0.0.0:80", "--acme-directory", "https://ca.lan/dir"]).unwrap();
    let TlsMode::Acme(acme) = c.tls_mode("0.0.0.0:443".parse().unwrap()) else { panic!() };
    assert_eq!(acme.challenge, ChallengeKind::Http01);
    assert_eq!(acme.directory, "https://ca.lan/dir");
    assert!(parse(&["--acme", "*.example.com"]).unwrap_err().to_string().contains("DNS-01"));
    assert!(parse(&["--acme", "not a name"]).is_err());
    assert!(parse(&["--acme", "a.example", "--plain-http"]).is_err());
    assert!(parse(&["--acme", "a.example", "--self-signed"]).is_err());
    assert!(parse(&["--acme", "a.example", "--tls-cert", "c", "--tls-key", "k"]).is_err());
    assert!(parse(&["--acme-email", "ops@example.com"]).is_err(), "ACME settings without --acme");
}

#[test]
fn ice_servers_from_flags() {
    let secret = Arc::new(b"s".to_vec());
    let servers = |c: &Config| c.ice(None, &secret).servers(1, "h", 100);
    assert_eq!(servers(&Config::default())[0].urls, ["stun:stun.l.google.com:19302"]);
    assert!(servers(&Config::parse_from(["noom", "--no-stun"])).is_empty());
    let c = Config::parse_from([
        "noom", "--stun", "stun:a:1,stun:b:2", "--turn-url", "turn:t:3478", "--turn-username", "u", "--turn-credential", "p",
    ]);
    let ice = servers(&c);
    assert_eq!(ice[0].urls, ["stun:a:1", "stun:b:2"]);
    assert_eq!((ice[1].urls[0].as_str(), ice[1].username.as_deref(), ice[1].credential.as_deref()), ("turn:t:3478", Some("u"), Some("p")));
    // An external coturn with the shared secret: per-connection REST credentials.
    let c = Config::parse_from(["noom", "--no-stun", "--turn-url", "turn:t:3478", "--turn-secret", "s"]);
    let ice = servers(&c);
    assert_eq!(ice[0].username.as_deref(), Some("3700:1"));
    assert_eq!(ice[0].credential.as_deref(), Some(crate::server::turn::credentials::password(b"s", "3700:1").as_str()));
    // The built-in server, named by the host the browser used.
    let turn = crate::server::turn::TurnHandle { udp: Some("0.0.0.0:3478".parse().unwrap()), tcp: Some("0.0.0.0:3478".parse().unwrap()), tls: None };
    let c = Config::parse_from(["noom", "--no-stun", "--ice-transport-policy", "relay"]);
    let ice = c.ice(Some(&turn), &secret);
    assert!(ice.relay_only);
    assert_eq!(ice.servers(1, "meet.example", 100)[0].urls, ["turn:meet.example:3478?transport=udp", "turn:meet.example:3478?transport=tcp"]);
}
