//! The adaptive part: how the target delay and the playout follow jitter, late packets,
//! silence and stalls.

use super::*;

#[test]
fn late_packet_is_counted_not_played() {
    let mut sim = Sim::new();
    for n in 0..3 {
        sim.push_nth(0, 0, n, f64::from(n) * 20.0);
    }
    sim.push_nth(0, 0, 4, 80.0);
    assert_eq!(sim.pop(25.0), Out::Frame(0));
    assert_eq!(sim.pop(45.0), Out::Frame(1));
    assert_eq!(sim.pop(65.0), Out::Frame(2));
    assert_eq!(sim.pop(85.0), Out::Missing(Some(4)));
    assert_eq!(sim.push_nth(0, 0, 3, 90.0), PushOutcome::TooLate);
    assert_eq!(sim.pop(105.0), Out::Frame(4));
    let s = sim.jb.stats();
    assert_eq!(s.late, 1);
    // 30 ms late against a 10 ms target: the target grows to cover it at once.
    assert!(s.target_delay_ms >= 30, "{s:?}");
}

#[test]
fn an_underrun_waits_for_a_slightly_late_packet() {
    let mut sim = Sim::new();
    // From packet 20 on, packets come 30 ms late, 5 ms more than the 25 ms they are played
    // after on this tick phase: one concealed tick while waiting, then all play, none is
    // lost as late. (50 ms late with the old 40 ms floor.)
    let out = run(&mut sim, 0, 40, &[], |n| if n >= 20 { 30.0 } else { 0.0 });
    assert_eq!(frames(&out), (0..40).collect::<Vec<u16>>());
    assert_eq!(missing(&out[..40]), 1);
    assert_eq!(sim.jb.stats().late, 0);
}

#[test]
fn adapts_to_heavy_jitter_then_shrinks_when_calm() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let delays: Vec<f64> = (0..1500).map(|_| rng.random_range(0.0..60.0)).collect();
    let mut sim = Sim::new();
    // 30 s: ±30 ms around a 30 ms base, then 30 s of a calm network.
    let out = run(&mut sim, 0, 3000, &[], |n| {
        delays.get(n as usize).copied().unwrap_or(30.0)
    });
    let jittery = missing(&out[150..1500]);
    assert!(jittery <= 5, "{jittery} concealments after adapting");
    let s = sim.jb.stats();
    assert!(s.target_delay_ms <= 20, "target shrinks when calm: {s:?}");
    assert!(s.dropped_for_catch_up >= 1, "{s:?}");

    // The same jitter on its own: the target has grown to cover ±30 ms.
    let mut sim = Sim::new();
    let out = run(&mut sim, 0, 1500, &[], |n| delays[n as usize]);
    assert!(missing(&out[150..1500]) <= 5);
    let s = sim.jb.stats();
    assert!((60..=120).contains(&s.target_delay_ms), "{s:?}");
    assert!(s.jitter_ms > 10.0, "{s:?}");
}

#[test]
fn silence_between_talkspurts_is_not_loss() {
    let mut sim = Sim::new();
    let mut out = Vec::new();
    // 1 s of speech, 2 s of silence (no packets; timestamps keep counting), 1 s of speech.
    for tick in 0..200u32 {
        let ms = f64::from(tick) * 20.0;
        if !(50..150).contains(&tick) {
            assert_eq!(
                sim.push_nth(0, 0, tick, ms),
                PushOutcome::Accepted,
                "tick {tick}"
            );
        }
        out.push(sim.pop(ms + 5.0));
    }
    let played = frames(&out);
    assert_eq!(
        played.len(),
        100 - 1,
        "all but the last of the second spurt yet (two with the old 40 ms floor)"
    );
    assert!(played.contains(&150));
    // A few ticks concealed while waiting at the end of the first spurt, then silence.
    assert!(missing(&out) <= 3, "{out:?}");
    assert_eq!(sim.jb.stats().resets, 0);
}

#[test]
fn recovers_from_a_stall() {
    let mut sim = Sim::new();
    let mut out = Vec::new();
    for n in 0..20u32 {
        sim.push_nth(0, 0, n, f64::from(n) * 20.0);
        out.push(sim.pop(f64::from(n) * 20.0 + 5.0));
    }
    // 600 ms of nothing, then those 30 packets at once, then a calm stream for 15 s.
    for tick in 20..50u32 {
        out.push(sim.pop(f64::from(tick) * 20.0 + 5.0));
    }
    for n in 20..50 {
        sim.push_nth(0, 0, n, 1000.0);
    }
    for n in 50..800u32 {
        sim.push_nth(0, 0, n, f64::from(n) * 20.0);
        out.push(sim.pop(f64::from(n) * 20.0 + 5.0));
        if n == 50 {
            // The stale start of the burst is skipped: playout resumes at the 300 ms ceiling.
            let s = sim.jb.stats();
            assert_eq!(s.target_delay_ms, 300, "{s:?}");
            assert!((300.0..320.0).contains(&s.playout_delay_ms), "{s:?}");
            assert!(s.dropped_for_catch_up >= 10, "{s:?}");
        }
    }
    // Played in order, without holes, and the delay has come back down.
    let played = frames(&out);
    assert!(played.windows(2).all(|w| w[1] > w[0]));
    assert_eq!(missing(&out[50..]), 0);
    let s = sim.jb.stats();
    assert_eq!(s.target_delay_ms, 10, "{s:?}");
    assert!(s.playout_delay_ms < 30.0, "{s:?}");
}

#[test]
fn a_clean_path_stays_at_the_floor_whatever_the_tick_phase() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let noise: Vec<f64> = (0..3000).map(|_| rng.random_range(0.0..3.0)).collect();
    for phase in [0.5, 5.0, 11.0, 19.5] {
        let mut sim = Sim::new();
        let mut out = Vec::new();
        for tick in 0..3000u32 {
            let ms = f64::from(tick) * 20.0;
            sim.push_nth(0, 0, tick, ms + noise[tick as usize]);
            out.push(sim.pop(ms + phase));
        }
        assert_eq!(missing(&out), 0, "phase {phase}");
        let s = sim.jb.stats();
        assert_eq!(s.target_delay_ms, 10, "phase {phase}: {s:?}");
        // Played on the first tick at least 10 ms after the frame was due: never 40 ms.
        assert!(
            (10.0..30.0).contains(&s.playout_delay_ms),
            "phase {phase}: {s:?}"
        );
        assert_eq!((s.late, s.dropped_for_catch_up), (0, 0), "{s:?}");
    }
}

#[test]
fn a_jittery_path_grows_the_target_then_plays_without_underruns_and_shrinks_back_slowly() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    // 20 s with 0–35 ms of jitter, then 20 s clean.
    let delays: Vec<f64> = (0..1000).map(|_| rng.random_range(0.0..35.0)).collect();
    let mut sim = Sim::new();
    let mut out = Vec::new();
    let mut targets = Vec::new();
    for tick in 0..2000u32 {
        let ms = f64::from(tick) * 20.0;
        let late = delays.get(tick as usize).copied().unwrap_or(0.0);
        sim.push_nth(0, 0, tick, ms + late);
        out.push(sim.pop(ms + 5.0));
        targets.push(sim.jb.stats().target_delay_ms);
    }
    // A few underruns while it learns, none once grown.
    assert!(missing(&out[..100]) <= 3, "{}", missing(&out[..100]));
    assert_eq!(missing(&out[100..1000]), 0);
    assert!(targets[999] >= 30, "{}", targets[999]);
    // Back at the floor once calm, but no faster than a frame each half second.
    assert_eq!(targets[1999], 10);
    for (i, w) in targets[1000..].windows(26).enumerate() {
        assert!(
            w[0].saturating_sub(w[25]) <= 20,
            "tick {}: {} -> {}",
            1000 + i,
            w[0],
            w[25]
        );
    }
}
