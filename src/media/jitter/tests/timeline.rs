//! Timestamps that leave the timeline: a real jump (a B2BUA switching sources behind one SSRC),
//! a sender whose timestamps are garbage on every packet, and a flood of random packets.

use super::*;

/// Packet `seq` with timestamp `ts` arriving at `ms`.
fn push(sim: &mut Sim, seq: u16, ts: u32, ms: f64) -> PushOutcome {
    let at = sim.at(ms);
    sim.jb.push(seq, ts, &payload(seq), at)
}

#[test]
fn a_timestamp_jump_carried_by_the_sequence_plays_on_without_a_gap() {
    let mut sim = Sim::new();
    let mut out = Vec::new();
    for n in 0..10 {
        sim.push_nth(0, 0, n, f64::from(n) * 20.0);
        out.push(sim.pop(f64::from(n) * 20.0 + 5.0));
    }
    // Same SSRC, new timeline (a B2BUA switched sources): 10 s ahead in media time at once,
    // the sequence numbers running on.
    let jump = 80_000 + 10 * FRAME;
    let mut outcomes = Vec::new();
    for n in 10..40u32 {
        let ms = f64::from(n) * 20.0;
        outcomes.push(push(&mut sim, n as u16, jump + (n - 10) * FRAME, ms));
        out.push(sim.pop(ms + 5.0));
    }
    // Placed by number until three agree on the new timeline, which then takes over.
    assert_eq!(outcomes[..3], [PushOutcome::Restamped; 3]);
    assert!(outcomes[3..].iter().all(|o| *o == PushOutcome::Accepted));
    assert_eq!(frames(&out), (0..39).collect::<Vec<u16>>());
    assert_eq!(missing(&out), 0, "{out:?}");
    let s = sim.jb.stats();
    assert_eq!((s.resets, s.restamped, s.off_timeline), (0, 3, 0), "{s:?}");
}

#[test]
fn a_jump_in_timestamp_and_sequence_restarts_once_three_packets_agree() {
    let mut sim = Sim::new();
    let mut out = Vec::new();
    for n in 0..10 {
        sim.push_nth(0, 0, n, f64::from(n) * 20.0);
        out.push(sim.pop(f64::from(n) * 20.0 + 5.0));
    }
    let (seq0, ts0) = (30_000u16, 123_456_789u32);
    let mut outcomes = Vec::new();
    for k in 0..6u32 {
        let ms = f64::from(10 + k) * 20.0;
        outcomes.push(push(
            &mut sim,
            seq0.wrapping_add(k as u16),
            ts0 + k * FRAME,
            ms,
        ));
        out.push(sim.pop(ms + 5.0));
    }
    assert_eq!(
        outcomes,
        [
            PushOutcome::OffTimeline,
            PushOutcome::OffTimeline,
            PushOutcome::Reset,
            PushOutcome::Accepted,
            PushOutcome::Accepted,
            PushOutcome::Accepted,
        ]
    );
    // The old stream's buffered frames played on while the new one proved itself.
    let played = frames(&out);
    assert!(played.starts_with(&(0..9).collect::<Vec<u16>>()), "{out:?}");
    assert!(played.contains(&(seq0 + 2)), "{out:?}");
    let s = sim.jb.stats();
    assert_eq!((s.resets, s.off_timeline), (1, 2), "{s:?}");
}

#[test]
fn after_silence_a_new_timeline_starts_with_its_second_packet() {
    let mut sim = Sim::new();
    for n in 0..10 {
        sim.push_nth(0, 0, n, f64::from(n) * 20.0);
        sim.pop(f64::from(n) * 20.0 + 5.0);
    }
    // 200 ms without packets: the buffer drains and stops.
    let mut out = Vec::new();
    for tick in 10..20 {
        out.push(sim.pop(f64::from(tick) * 20.0 + 5.0));
    }
    assert_eq!(out.last(), Some(&Out::Buffering));
    // One packet alone could be a stray; the next agreeing with it starts the new timeline.
    assert_eq!(
        push(&mut sim, 9_000, 5_000_000, 400.0),
        PushOutcome::OffTimeline
    );
    assert_eq!(
        push(&mut sim, 9_001, 5_000_000 + FRAME, 420.0),
        PushOutcome::Reset
    );
    assert_eq!(
        push(&mut sim, 9_002, 5_000_000 + 2 * FRAME, 440.0),
        PushOutcome::Accepted
    );
    assert_eq!(sim.pop(445.0), Out::Frame(9_001));
}

#[test]
fn timestamps_jumping_on_every_packet_play_in_sequence_order() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    let mut sim = Sim::new();
    let mut out = Vec::new();
    for n in 0..300u32 {
        let ms = f64::from(n) * 20.0;
        push(&mut sim, 500 + n as u16, rng.random(), ms);
        out.push(sim.pop(ms + 5.0));
    }
    assert_eq!(frames(&out), (500..799).collect::<Vec<u16>>());
    assert_eq!(missing(&out), 0);
    let s = sim.jb.stats();
    assert_eq!((s.resets, s.restamped, s.late), (0, 299, 0), "{s:?}");
}

#[test]
fn any_sequence_step_with_a_wild_timestamp_is_handled() {
    let mut sim = Sim::new();
    for n in 0..10 {
        sim.push_nth(0, 0, n, f64::from(n) * 20.0);
    }
    // Every distance from the highest number, half the circle (i16::MIN) included.
    for step in 0..=u16::MAX {
        let seq = 9u16.wrapping_add(step);
        let outcome = push(&mut sim, seq, 3_000_000_000, 200.0);
        assert!(
            matches!(
                outcome,
                PushOutcome::OffTimeline | PushOutcome::Restamped | PushOutcome::Duplicate
            ),
            "step {step}: {outcome:?}"
        );
    }
    let s = sim.jb.stats();
    assert_eq!(s.resets, 0, "{s:?}");
    // A run of numbers arriving at once claims only a few frames ahead (100 ms).
    assert!(s.restamped <= 6, "{s:?}");
}

#[test]
fn a_flood_of_random_numbers_and_timestamps_leaves_the_stream_alone() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let mut sim = Sim::new();
    let (mut real, mut garbage, mut concealed) = (0, 0, 0);
    for n in 0..300u32 {
        let ms = f64::from(n) * 20.0;
        // 40 packets of noise around each real one, on its SSRC (2 000 a second).
        for k in 0..40 {
            if k == 20 {
                sim.push_nth(7_000, 1_000, n, ms);
            }
            let (seq, ts) = (rng.random(), rng.random());
            sim.jb.push(seq, ts, &[0xAA; 160], sim.at(ms));
        }
        match sim.jb.pop(sim.at(ms + 5.0)) {
            Playout::Frame { payload, .. } if payload[2] == 0x55 => real += 1,
            Playout::Frame { .. } => garbage += 1,
            Playout::Missing { .. } => concealed += 1,
            Playout::Buffering => {}
        }
    }
    let s = sim.jb.stats();
    assert!(real >= 295, "{real} real, {garbage} garbage, {s:?}");
    // Only noise that happens to be numbered next to the stream is placed (8 in 65 536).
    assert!(
        garbage + concealed <= 3,
        "{garbage} garbage, {concealed} concealed"
    );
    // The very first packet was noise and started the timeline; three real packets in a row
    // moved it, once.
    assert_eq!(s.resets, 1, "{s:?}");
    assert!(s.off_timeline >= 11_900, "{s:?}");
    assert_eq!(
        s.target_delay_ms, 10,
        "the noise does not count as jitter: {s:?}"
    );
}
