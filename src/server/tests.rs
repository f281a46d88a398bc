use axum::http::{HeaderMap, Uri};

use super::edge::{host_without_port, origin_allowed, request_host};
use super::*;

fn allowed(origin: Option<&str>, host: &str, config: &Config) -> bool {
    let mut h = HeaderMap::new();
    if let Some(o) = origin {
        h.insert(header::ORIGIN, o.parse().unwrap());
    }
    origin_allowed(&h, host, config)
}

#[test]
fn origins() {
    let mut config = Config::default();
    assert!(allowed(Some("http://localhost:3000"), "localhost:3000", &config));
    assert!(allowed(Some("https://noom.test:3443"), "noom.test:3443", &config));
    assert!(allowed(None, "localhost:3000", &config));
    assert!(!allowed(Some("http://evil.example"), "localhost:3000", &config));
    assert!(!allowed(Some("http://localhost:3001"), "localhost:3000", &config));
    assert!(!allowed(Some("http://localhost:3000"), "", &config));
    config.allowed_origins = vec!["https://meet.example.com/".into()];
    assert!(allowed(Some("https://meet.example.com"), "10.0.0.5:3000", &config));
}

#[test]
fn the_host_is_read_from_the_host_header_or_the_http2_authority() {
    let uri: Uri = "https://noom.test:3443/ws".parse().unwrap();
    assert_eq!(request_host(&HeaderMap::new(), &uri), "noom.test:3443");
    let mut h = HeaderMap::new();
    h.insert(header::HOST, "a.example:1".parse().unwrap());
    assert_eq!(request_host(&h, &"/ws".parse().unwrap()), "a.example:1");
}

#[test]
fn redirects_keep_the_host_and_refuse_what_is_not_a_host() {
    assert_eq!(host_without_port("meet.example.com:80"), Some("meet.example.com"));
    assert_eq!(host_without_port("meet.example.com"), Some("meet.example.com"));
    assert_eq!(host_without_port("203.0.113.9:8080"), Some("203.0.113.9"));
    assert_eq!(host_without_port("[2001:db8::1]:80"), Some("[2001:db8::1]"));
    assert_eq!(host_without_port("evil.example/x?"), None);
    assert_eq!(host_without_port("a@b"), None);
    assert_eq!(host_without_port(""), None);
}

#[tokio::test]
async fn health_says_503_once_the_hub_has_stopped() {
    let (hub, inbox) = HubHandle::unserved(4);
    let (store, _replies) = StoreHandle::in_memory();
    let (_tx, shutdown) = watch::channel(false);
    let state = AppState {
        leptos_options: LeptosOptions::builder().output_name("noom").build(),
        hub,
        store,
        config: Arc::new(Config::default()),
        connections: Arc::new(Semaphore::new(1)),
        shutdown,
        sfu_stats: None,
        hsts: false,
    };
    let status = |r: Response| r.status();
    assert_eq!(status(healthz(State(state.clone())).await), StatusCode::OK);
    drop(inbox); // the hub's thread ended
    let down = healthz(State(state)).await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(down.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"hub stopped");
}
