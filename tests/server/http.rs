//! HTTP: pages, static files, compression, shutdown.

use crate::common::*;

#[tokio::test]
async fn pages_are_server_rendered_unknown_paths_redirect_and_responses_are_compressed() {
    let addr = start().await;
    let (status, _, body) = get(addr, "/", "").await;
    assert_eq!(status, 200);
    for needle in ["Nickname", "Save", "Room name", "Enter", "aria-label=\"Open rooms\"", "/pkg/noom.js"] {
        assert!(body.contains(needle), "home page lacks {needle}");
    }

    let (status, head, _) = get(addr, "/foo/bar", "").await;
    assert!((300..400).contains(&status), "status {status}");
    assert!(head.contains("location: /\r\n"), "{head}");

    let (status, _, body) = get(addr, "/room/My%20Room", "").await;
    assert_eq!(status, 200);
    assert!(body.contains("My Room"), "room page does not name the room");
    assert!(body.contains(">Leave<"));

    let (status, _, body) = get(addr, "/healthz", "").await;
    assert_eq!((status, body.as_str()), (200, "ok"));

    let (_, head, _) = get(addr, "/", "Accept-Encoding: br\r\n").await;
    assert!(head.contains("content-encoding: br"), "{head}");
    let (_, head, _) = get(addr, "/", "Accept-Encoding: gzip\r\n").await;
    assert!(head.contains("content-encoding: gzip"), "{head}");
}

#[tokio::test]
async fn the_page_is_rendered_in_the_browsers_language_or_the_one_chosen() {
    let addr = start().await;
    let (_, _, body) = get(addr, "/", "Accept-Language: ko-KR,ko;q=0.9,en;q=0.8\r\n").await;
    assert!(body.contains("<html lang=\"ko\""), "{}", &body[..200.min(body.len())]);
    assert!(body.contains("열린 방") && body.contains("닉네임"), "not in Korean");
    assert!(!body.contains("Open rooms"));
    // English by default, and for anyone who asks for it.
    for headers in ["", "Accept-Language: en-US,en;q=0.9\r\n", "Accept-Language: fr-FR\r\n"] {
        let (_, _, body) = get(addr, "/", headers).await;
        assert!(body.contains("<html lang=\"en\"") && body.contains("Open rooms"), "{headers:?}");
    }
    // The switch's choice (a cookie) wins over the browser's languages.
    let (_, _, body) = get(addr, "/", "Accept-Language: ko-KR\r\nCookie: i18n_pref_locale=en\r\n").await;
    assert!(body.contains("<html lang=\"en\"") && body.contains("Open rooms"));
}

/// A header's value from a lower-cased head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

#[tokio::test]
async fn pages_carry_a_nonce_csp_and_every_response_the_security_headers() {
    let addr = start().await;
    let (_, head, body) = get(addr, "/room/ops", "").await;
    let csp = header(&head, "content-security-policy").unwrap_or_else(|| panic!("no CSP: {head}"));
    // The one inline script (hydration) carries the nonce the policy names.
    let nonce = csp.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect("a nonce in the policy");
    assert!(nonce.len() >= 16, "{nonce}");
    // Inline scripts with something to run (an empty `<script></script>` runs nothing).
    let inline_scripts: Vec<&str> = body
        .split("<script")
        .skip(1)
        .filter(|s| !s.trim_start().starts_with("src"))
        .filter(|s| s.split_once('>').is_some_and(|(_, rest)| !rest.starts_with("</script")))
        .collect();
    assert!(!inline_scripts.is_empty());
    for script in inline_scripts {
        let attrs = script.split('>').next().unwrap();
        assert!(attrs.to_lowercase().contains(&format!("nonce=\"{nonce}\"")), "inline script without the nonce: {attrs}");
    }
    for directive in ["default-src 'self'", "script-src 'self'", "'wasm-unsafe-eval'", "frame-ancestors 'none'", "object-src 'none'"] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // A fresh nonce for every response.
    let (_, again, _) = get(addr, "/room/ops", "").await;
    assert_ne!(header(&again, "content-security-policy"), Some(csp));

    for path in ["/", "/healthz"] {
        let (_, head, _) = get(addr, path, "").await;
        assert_eq!(header(&head, "x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(header(&head, "referrer-policy"), Some("same-origin"), "{path}");
        assert_eq!(header(&head, "x-frame-options"), Some("deny"), "{path}");
        let permissions = header(&head, "permissions-policy").unwrap_or_default();
        for feature in ["camera=(self)", "microphone=(self)", "display-capture=(self)", "geolocation=()"] {
            assert!(permissions.contains(feature), "{path}: {feature} missing from {permissions:?}");
        }
    }
}

#[tokio::test]
async fn precompressed_files_are_served_as_they_are() {
    let root = std::env::temp_dir().join(format!("noom-site-{}", std::process::id()));
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("pkg/app.js"), "console.log('plain');".repeat(20)).unwrap();
    std::fs::write(root.join("pkg/app.js.br"), b"BROTLI-BYTES").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = LeptosOptions::builder().output_name("noom").site_root(root.to_string_lossy().to_string()).build();
    let config = Config { precompressed: true, ..config() };
    tokio::spawn(serve(listener, config, options, std::future::pending()));

    let (status, head, body) = get(addr, "/pkg/app.js", "Accept-Encoding: br\r\n").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-encoding: br"), "{head}");
    assert_eq!(body, "BROTLI-BYTES");
    // No .gz next to it: gzip is made on the fly instead.
    let (_, head, _) = get(addr, "/pkg/app.js", "Accept-Encoding: gzip\r\n").await;
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let (_, head, body) = get(addr, "/pkg/app.js", "").await;
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(body.starts_with("console.log"));
    std::fs::remove_dir_all(root).ok();
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = LeptosOptions::builder().output_name("noom").site_root("target/site").build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, config(), options, async {
        let _ = stopped.await;
    }));
    let mut a = Client::in_room(addr, "A", "r").await;
    let mut b = Client::connect(addr).await;
    stop.send(()).unwrap();
    assert_eq!(a.close_code().await, 1001);
    assert_eq!(b.close_code().await, 1001);
    tokio::time::timeout(WAIT, server).await.expect("server did not stop").unwrap().unwrap();
}

