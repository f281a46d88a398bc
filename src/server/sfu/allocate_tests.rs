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
    // After the back-off, with room to spare it resumes for good…
    let at = t0 + FIRST_BACKOFF;
    let g = allocate(plenty, 0, &d, at);
    assert_eq!(g[0].layer, Some(0));
    assert_eq!(g[0].memory.resumed_at, Some(at));
    assert_eq!(g[0].memory.trial, None);
    // …with exactly its cost (no margin), only as a trial.
    let exact = Some((Q * 100).div_ceil(HEADROOM_PCT));
    let g = allocate(exact, 0, &d, at);
    assert_eq!(g[0].layer, Some(0));
    assert_eq!(g[0].memory.trial, Some((at + TRIAL, exact.unwrap())));
}

#[test]
fn a_paused_track_is_tried_with_media_one_at_a_time_and_kept_only_if_the_estimate_holds() {
    let t0 = Instant::now();
    // Two tiles; the link has room for neither (an estimate of a link carrying audio only).
    let mut d = [demand(Importance::Pinned, 100, &[Q]), demand(Importance::Other, 100, &[Q])];
    let low = Some(100_000);
    let g = allocate(low, 0, &d, t0);
    assert_eq!(layers(&g), [None, None]);
    next_round(&mut d, &g);
    // After the back-off: the pinned one is tried, the other waits its turn.
    let t1 = t0 + FIRST_BACKOFF;
    let g = allocate(low, 0, &d, t1);
    assert_eq!(layers(&g), [Some(0), None]);
    assert_eq!(g[0].memory.trial, Some((t1 + TRIAL, 100_000)));
    next_round(&mut d, &g);
    // During the trial it is kept while the estimate holds (within a fifth)…
    let g = allocate(Some(82_000), 0, &d, t1 + Duration::from_secs(1));
    assert_eq!(layers(&g), [Some(0), None]);
    next_round(&mut d, &g);
    // …and once it is over, kept as proven: the link carried it without the estimate
    // falling, though the estimate still shows no room for it.
    let g = allocate(Some(95_000), 0, &d, t1 + TRIAL);
    assert_eq!((g[0].memory.trial, g[0].memory.proven), (None, Some(100_000)));
    assert_eq!(layers(&g), [Some(0), None], "one track on credit at a time: the other waits for room");
    assert!(!g[0].memory.paused);
    next_round(&mut d, &g);
    assert_eq!(allocate(Some(81_000), 0, &d, t1 + TRIAL * 2)[0].layer, Some(0), "kept while the estimate holds");
    let g = allocate(Some(75_000), 0, &d, t1 + TRIAL * 2);
    assert_eq!(g[0].layer, None, "the estimate fell by more than a fifth: paused");
    assert!(g[0].memory.paused);

    // Another trial in which the estimate falls: paused again at once, and it was a
    // failed try (the next waits twice as long).
    let mut d = [demand(Importance::Pinned, 100, &[Q])];
    let g = allocate(low, 0, &d, t0);
    next_round(&mut d, &g);
    let g = allocate(low, 0, &d, t1);
    assert_eq!(g[0].layer, Some(0));
    next_round(&mut d, &g);
    let fell = t1 + Duration::from_secs(1);
    let g = allocate(Some(70_000), 0, &d, fell);
    assert_eq!(g[0].layer, None);
    assert_eq!(g[0].memory.resume_after, Some(fell + FIRST_BACKOFF * 2));
}

#[test]
fn a_trial_the_estimate_grew_into_is_not_undone_by_the_estimates_wobble() {
    let t0 = Instant::now();
    let mut d = [demand(Importance::Other, 100, &[Q])];
    let g = allocate(Some(100_000), 0, &d, t0);
    next_round(&mut d, &g);
    let t1 = t0 + FIRST_BACKOFF;
    let g = allocate(Some(100_000), 0, &d, t1);
    assert_eq!(g[0].memory.trial, Some((t1 + TRIAL, 100_000)));
    next_round(&mut d, &g);
    // The estimate grows with the video: it fits on its own now, and keeps its proof.
    let fits = (Q * 100).div_ceil(HEADROOM_PCT);
    let g = allocate(Some(fits), 0, &d, t1 + TRIAL);
    assert_eq!((g[0].layer, g[0].memory.proven), (Some(0), Some(100_000)));
    next_round(&mut d, &g);
    // A dip of a tenth: no room by the estimate, but the proof holds.
    let g = allocate(Some(fits * 9 / 10), 0, &d, t1 + TRIAL * 2);
    assert_eq!(g[0].layer, Some(0));
    assert!(!g[0].memory.paused);
}

#[test]
fn a_lesser_track_is_never_tried_while_a_more_important_one_waits_for_its_turn() {
    let t0 = Instant::now();
    let mut d = [demand(Importance::Pinned, 100, &[Q]), demand(Importance::Other, 100, &[Q])];
    let g = allocate(Some(100_000), 0, &d, t0);
    next_round(&mut d, &g);
    // The pinned one failed a try earlier and waits longer; the other's back-off is over.
    d[0].memory.resume_after = Some(t0 + MAX_BACKOFF);
    let g = allocate(Some(100_000), 0, &d, t0 + FIRST_BACKOFF);
    assert_eq!(layers(&g), [None, None], "the credit is the pinned tile's, even while it waits");
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
fn the_next_step_is_the_most_important_track_not_yet_where_it_wants_to_be() {
    let now = Instant::now();
    let grant = |layer: Option<usize>| Grant { layer, memory: Memory::default() };
    // d[0] another tile, d[1] the pinned one; both want H.
    let d = [demand(Importance::Other, 100, &[Q, H]), demand(Importance::Pinned, 100, &[Q, H])];
    assert_eq!(next_step(&d, &allocate(None, 0, &d, now)), 0, "everything granted: nothing to probe for");
    // The pinned tile paused: resuming it comes first (with the margin a resume needs).
    assert_eq!(next_step(&d, &[grant(Some(0)), grant(None)]), Q * UPGRADE_MARGIN_PCT / 100);
    // The pinned tile at Q, the other paused: raising the pinned one comes first.
    assert_eq!(next_step(&d, &[grant(None), grant(Some(0))]), (H - Q) * UPGRADE_MARGIN_PCT / 100);
    // The pinned one where it wants to be: then the other.
    assert_eq!(next_step(&d, &[grant(None), grant(Some(1))]), Q * UPGRADE_MARGIN_PCT / 100);
}

#[test]
fn dynacast_keeps_the_lowest_layer_and_the_ones_someone_gets() {
    assert_eq!(layers_to_encode(3, []), [true, false, false]);
    assert_eq!(layers_to_encode(3, [2, 0]), [true, false, true]);
    assert_eq!(layers_to_encode(3, [1, 1, 7]), [true, true, false], "out of range is ignored");
    assert_eq!(layers_to_encode(0, [0]), Vec::<bool>::new());
}
