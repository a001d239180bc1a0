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
    assert_eq!(sim.pop(45.0), Out::Frame(0));
    assert_eq!(sim.pop(65.0), Out::Frame(1));
    assert_eq!(sim.pop(85.0), Out::Frame(2));
    assert_eq!(sim.pop(105.0), Out::Missing(Some(4)));
    assert_eq!(sim.push_nth(0, 0, 3, 110.0), PushOutcome::TooLate);
    assert_eq!(sim.pop(125.0), Out::Frame(4));
    let s = sim.jb.stats();
    assert_eq!(s.late, 1);
    // 50 ms late against a 40 ms target: the target grows to cover it at once.
    assert!(s.target_delay_ms >= 60, "{s:?}");
}

#[test]
fn an_underrun_waits_for_a_slightly_late_packet() {
    let mut sim = Sim::new();
    // From packet 20 on, packets come 50 ms late, 10 ms more than the 40 ms target covers:
    // one concealed tick while waiting, then all play, none is lost as late.
    let out = run(&mut sim, 0, 40, &[], |n| if n >= 20 { 50.0 } else { 0.0 });
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
    assert!(s.target_delay_ms <= 40, "target shrinks when calm: {s:?}");
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
        100 - 2,
        "all but the last two of the second spurt yet"
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
    assert_eq!(s.target_delay_ms, 40, "{s:?}");
    assert!(s.playout_delay_ms < 60.0, "{s:?}");
}
