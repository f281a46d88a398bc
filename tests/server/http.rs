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

