use super::*;

const Q: u64 = 150_000;
const H: u64 = 500_000;
const F: u64 = 1_500_000;

fn demand(importance: Importance, area: u64, layers: &[u64]) -> Demand {
    Demand { importance, area, layers: layers.to_vec(), current: None, memory: Memory::default() }
}

fn layers(grants: &[Grant]) -> Vec<Option<usize>> {
    grants.iter().map(|g| g.layer).collect()
}

/// Feed the grants back as the next round's state, as the SFU does.
fn next_round(demands: &mut [Demand], grants: &[Grant]) {
    for (d, g) in demands.iter_mut().zip(grants) {
        d.memory = g.memory;
        d.current = g.layer;
    }
}

#[test]
fn without_an_estimate_every_tile_gets_the_layer_it_wants() {
    let now = Instant::now();
    let d = [demand(Importance::Other, 100, &[Q, H, F]), demand(Importance::Other, 100, &[Q])];
    assert_eq!(layers(&allocate(None, 0, &d, now)), [Some(2), Some(0)]);
}

#[test]
fn audio_is_paid_for_first_and_video_that_does_not_fit_is_paused_not_squeezed() {
    let now = Instant::now();
    // 500 kbit/s: 425 usable, 3 × 60 of audio: 245 left, one 150 kbit/s video fits.
    let d = [
        demand(Importance::Other, 100, &[Q]),
        demand(Importance::Speaker, 100, &[Q]),
        demand(Importance::Other, 100, &[Q]),
    ];
    let g = allocate(Some(500_000), 180_000, &d, now);
    assert_eq!(layers(&g), [None, Some(0), None], "the speaker's video is the one kept");
    assert!(g[0].memory.paused && g[2].memory.paused && !g[1].memory.paused);
    // Without the audio taken off first, two would have been sent.
    assert_eq!(layers(&allocate(Some(500_000), 0, &d, now)), [Some(0), Some(0), None]);
}

#[test]
fn priority_is_screen_then_pinned_then_speaker_then_bigger_tiles() {
    let now = Instant::now();
    let d = [
        demand(Importance::Other, 100, &[Q]),
        demand(Importance::Other, 400, &[Q]),
        demand(Importance::Speaker, 100, &[Q]),
        demand(Importance::Pinned, 100, &[Q]),
        demand(Importance::Screen, 100, &[Q]),
    ];
    // Room for k videos of Q (at 85 % of the estimate): the k most important get one.
    let for_k = |k: u64| (k * Q * 100).div_ceil(HEADROOM_PCT);
    assert_eq!(layers(&allocate(Some(for_k(1)), 0, &d, now)), [None, None, None, None, Some(0)]);
    assert_eq!(layers(&allocate(Some(for_k(2)), 0, &d, now)), [None, None, None, Some(0), Some(0)]);
    assert_eq!(layers(&allocate(Some(for_k(3)), 0, &d, now)), [None, None, Some(0), Some(0), Some(0)]);
    assert_eq!(layers(&allocate(Some(for_k(4)), 0, &d, now)), [None, Some(0), Some(0), Some(0), Some(0)]);
}

#[test]
fn a_cheaper_track_further_down_still_fits_where_an_expensive_one_did_not() {
    let now = Instant::now();
    let d = [demand(Importance::Screen, 100, &[F]), demand(Importance::Other, 100, &[Q])];
    assert_eq!(layers(&allocate(Some(400_000), 0, &d, now)), [None, Some(0)]);
}

#[test]
fn every_tile_gets_its_lowest_layer_before_any_is_raised() {
    let now = Instant::now();
    let d = [demand(Importance::Pinned, 900, &[Q, H, F]), demand(Importance::Other, 100, &[Q, H])];
    // 1 Mbit/s: 850 usable: both at Q (300), then the pinned one up to H (+350 × 1.3 fits).
    assert_eq!(layers(&allocate(Some(1_000_000), 0, &d, now)), [Some(1), Some(0)]);
    // Plenty: each gets the layer its tile wants.
    assert_eq!(layers(&allocate(Some(10_000_000), 0, &d, now)), [Some(2), Some(1)]);
}

#[test]
fn going_above_the_layer_sent_now_needs_a_margin_but_keeping_it_does_not() {
    let now = Instant::now();
    let mut d = [demand(Importance::Other, 100, &[Q, H])];
    // Exactly enough for H (500 at 85 %), but not with 30 % to spare on the step up: Q.
    let exact = (H * 100).div_ceil(HEADROOM_PCT);
    assert_eq!(layers(&allocate(Some(exact), 0, &d, now)), [Some(0)]);
    // Already at H: it stays at H on the same estimate.
    d[0].current = Some(1);
    assert_eq!(layers(&allocate(Some(exact), 0, &d, now)), [Some(1)]);
}

#[test]
fn a_paused_track_resumes_only_after_its_back_off_and_with_room_to_spare() {
    let t0 = Instant::now();
    let mut d = [demand(Importance::Other, 100, &[Q])];
    let g = allocate(Some(100_000), 0, &d, t0);
    assert_eq!(g[0].layer, None);
    assert_eq!(g[0].memory.resume_after, Some(t0 + FIRST_BACKOFF));
    next_round(&mut d, &g);
    // The link recovers at once, but the back-off holds the pause.
    let plenty = Some(1_000_000);
    let g = allocate(plenty, 0, &d, t0 + Duration::from_millis(500));
    assert_eq!(g[0].layer, None);
    next_round(&mut d, &g);
    // After the back-off, exactly Q's cost is not enough to resume (no margin)…
    let at = t0 + FIRST_BACKOFF;
    let exact = Some((Q * 100).div_ceil(HEADROOM_PCT));
    assert_eq!(allocate(exact, 0, &d, at)[0].layer, None);
    // …with room to spare it is.
    let g = allocate(plenty, 0, &d, at);
    assert_eq!(g[0].layer, Some(0));
    assert_eq!(g[0].memory.resumed_at, Some(at));
}

#[test]
fn a_track_that_pauses_again_soon_after_resuming_waits_twice_as_long_up_to_a_limit() {
    let mut now = Instant::now();
    let mut d = [demand(Importance::Other, 100, &[Q])];
    let mut waits = Vec::new();
    for _ in 0..6 {
        // Too little: paused.
        let g = allocate(Some(50_000), 0, &d, now);
        assert_eq!(g[0].layer, None);
        let wait = g[0].memory.resume_after.unwrap() - now;
        waits.push(wait.as_secs());
        next_round(&mut d, &g);
        // It resumes as soon as it may, and fails again a second later.
        now += wait;
        let g = allocate(Some(1_000_000), 0, &d, now);
        assert_eq!(g[0].layer, Some(0));
        next_round(&mut d, &g);
        now += Duration::from_secs(1);
    }
    assert_eq!(waits, [2, 4, 8, 16, 16, 16]);
    // A resume that held for longer than FAILED_RESUME_WITHIN starts the back-off afresh.
    now += FAILED_RESUME_WITHIN;
    let g = allocate(Some(50_000), 0, &d, now);
    assert_eq!(g[0].memory.resume_after, Some(now + FIRST_BACKOFF));
}

#[test]
fn lowering_is_immediate() {
    let now = Instant::now();
    let mut d = [demand(Importance::Other, 100, &[Q, H, F])];
    d[0].current = Some(2);
    assert_eq!(allocate(Some(700_000), 0, &d, now)[0].layer, Some(1));
    assert_eq!(allocate(Some(200_000), 0, &d, now)[0].layer, Some(0));
}

#[test]
fn dynacast_keeps_the_lowest_layer_and_the_ones_someone_gets() {
    assert_eq!(layers_to_encode(3, []), [true, false, false]);
    assert_eq!(layers_to_encode(3, [2, 0]), [true, false, true]);
    assert_eq!(layers_to_encode(3, [1, 1, 7]), [true, true, false], "out of range is ignored");
    assert_eq!(layers_to_encode(0, [0]), Vec::<bool>::new());
}
