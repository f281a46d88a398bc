use super::*;

/// An offer as a browser in an SFU call makes it: the data channel of the prepared
/// connection, microphone and camera sent, two remote tracks received, a stopped one.
fn browser_offer(extra: &str) -> String {
    let mut sdp = String::from(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2 3 4\r\na=msid-semantic: WMS\r\n",
    );
    let sections = [
        ("application", "9", "0", None),
        ("audio", "9", "1", Some("sendonly")),
        ("video", "9", "2", Some("sendonly")),
        ("video", "9", "3", Some("recvonly")),
        ("audio", "9", "4", Some("recvonly")),
        ("video", "0", "5", Some("inactive")),
    ];
    for (kind, port, mid, direction) in sections {
        sdp += &format!("m={kind} {port} UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\n");
        if let Some(d) = direction {
            sdp += &format!("a={d}\r\n");
        }
        sdp += "a=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n";
    }
    sdp + extra
}

fn video(mid: usize, direction: &str) -> String {
    format!("m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\n{direction}a=rtpmap:96 VP8/90000\r\n")
}

#[test]
fn a_browsers_offer_sends_on_its_own_tracks_only() {
    let shape = check_offer(&browser_offer("")).expect("a browser's offer is taken");
    assert_eq!(shape, OfferShape { m_lines: 6, sending: 2 });
    // Microphone, camera, screen and its sound: four, the most there may be.
    let four = browser_offer(&(video(6, "a=sendonly\r\n") + &video(7, "a=sendrecv\r\n")));
    assert_eq!(check_offer(&four).unwrap().sending, 4);
    // Without `\r`, too.
    assert_eq!(offer_shape(&browser_offer("").replace("\r\n", "\n")), shape);
}

#[test]
fn sending_m_lines_beyond_four_are_refused_whatever_the_track_list_says() {
    let hostile: String =
        "v=0\r\ns=-\r\nt=0 0\r\n".to_string() + &(0..300).map(|i| video(i, "a=sendonly\r\n")).collect::<String>();
    assert_eq!(offer_shape(&hostile), OfferShape { m_lines: 300, sending: 300 });
    assert!(matches!(check_offer(&hostile), Err(OfferError::TooManyTracks)));
    // A fifth: one too many.
    let five = browser_offer(&(0..3).map(|i| video(10 + i, "a=sendonly\r\n")).collect::<String>());
    assert!(matches!(check_offer(&five), Err(OfferError::TooManyTracks)));
    // No direction means sendrecv; so does a session-level one the section keeps.
    let bare = browser_offer(&(0..3).map(|i| video(10 + i, "")).collect::<String>());
    assert!(matches!(check_offer(&bare), Err(OfferError::TooManyTracks)));
    let session_level = (0..5).map(|i| video(i, "")).collect::<String>();
    let recv = format!("v=0\r\ns=-\r\nt=0 0\r\na=recvonly\r\n{session_level}");
    assert_eq!(offer_shape(&recv).sending, 0, "a session-level recvonly is every section's default");
    let send = format!("v=0\r\ns=-\r\nt=0 0\r\na=sendonly\r\n{session_level}");
    assert_eq!(offer_shape(&send).sending, 5);
    // A contradicting second direction does not hide a sending one.
    let both = browser_offer(&(0..3).map(|i| video(10 + i, "a=recvonly\r\na=sendonly\r\n")).collect::<String>());
    assert!(matches!(check_offer(&both), Err(OfferError::TooManyTracks)));
}

#[test]
fn rejected_m_lines_send_nothing_but_bundled_port_zero_ones_do() {
    // Port 0 outside BUNDLE: rejected (a stopped transceiver), whatever its direction.
    let stopped = browser_offer(&(0..5).map(|i| video(10 + i, "a=sendonly\r\n").replace(" 9 ", " 0 ")).collect::<String>());
    assert_eq!(offer_shape(&stopped).sending, 2);
    // Port 0 inside BUNDLE (max-bundle): a live m-line that str0m would use.
    let bundled = (0..5).map(|i| video(i, "a=sendonly\r\n").replace(" 9 ", " 0 ")).collect::<String>();
    let sdp = format!("v=0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2 3 4\r\n{bundled}");
    assert!(matches!(check_offer(&sdp), Err(OfferError::TooManyTracks)));
}

#[test]
fn more_m_lines_than_an_offer_may_have_are_refused() {
    let many = |n: usize| {
        "v=0\r\ns=-\r\nt=0 0\r\n".to_string() + &(0..n).map(|i| video(i, "a=recvonly\r\n")).collect::<String>()
    };
    assert!(check_offer(&many(MAX_TRACKS_PER_OFFER)).is_ok());
    let err = check_offer(&many(MAX_TRACKS_PER_OFFER + 1)).unwrap_err();
    assert!(matches!(err, OfferError::TooManyMLines(n) if n == MAX_TRACKS_PER_OFFER + 1), "{err}");
}

#[test]
fn a_refused_offer_leaves_no_rtc_behind() {
    let (tx, _rx) = mpsc::channel(8);
    let mut peer = Peer::new(1, None, tx, Instant::now(), 0);
    let hostile: String =
        "v=0\r\ns=-\r\nt=0 0\r\n".to_string() + &(0..300).map(|i| video(i, "a=sendonly\r\n")).collect::<String>();
    let err = peer.accept_offer(&hostile, &[], &[], Instant::now()).unwrap_err();
    assert!(matches!(err, OfferError::TooManyTracks), "{err}");
    assert!(peer.rtc.is_none(), "nothing was built for it");
}

#[test]
fn video_over_the_publish_limit_is_refused_audio_never_and_the_sender_is_told_once() {
    let (tx, mut rx) = mpsc::channel(8);
    // 8 kbit/s: 1 000 bytes a second.
    let mut peer = Peer::new(1, None, tx, Instant::now(), 8);
    let now = Instant::now();
    assert!(peer.within_publish_limit(800, TrackKind::Video, now));
    assert!(!peer.within_publish_limit(800, TrackKind::Video, now), "over the second's allowance");
    assert!(peer.within_publish_limit(800, TrackKind::Audio, now), "audio passes anyway");
    assert!(!peer.within_publish_limit(800, TrackKind::Screen, now));
    let told: Vec<ServerMsg> =
        std::iter::from_fn(|| rx.try_recv().ok()).map(|f| serde_json::from_str(f.as_str()).unwrap()).collect();
    assert!(
        matches!(told.as_slice(), [ServerMsg::Error { code: ErrorCode::RateLimited, .. }]),
        "told once: {told:?}"
    );

    let (tx, _rx) = mpsc::channel(8);
    let mut unlimited = Peer::new(2, None, tx, Instant::now(), 0);
    assert!((0..100).all(|_| unlimited.within_publish_limit(100_000, TrackKind::Video, now)), "0: no limit");
}
