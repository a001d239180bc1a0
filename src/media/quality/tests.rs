use super::*;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// Packets every 20 ms at 8 kHz: sequence `seq0 + n`, timestamp `160 n`, arriving on time.
fn feed(stats: &mut ReceiveStats, t0: Instant, seq0: u16, ns: impl IntoIterator<Item = u32>) {
    for n in ns {
        let at = t0 + Duration::from_millis(u64::from(n) * 20);
        stats.on_packet(seq0.wrapping_add(n as u16), n.wrapping_mul(160), at);
    }
}

#[test]
fn an_unbroken_stream_loses_nothing() {
    let mut s = ReceiveStats::new(8000);
    assert_eq!(
        (s.expected(), s.received(), s.lost(), s.loss_fraction()),
        (0, 0, 0, 0.0)
    );
    feed(&mut s, Instant::now(), 1000, 0..500);
    assert_eq!((s.expected(), s.received(), s.lost()), (500, 500, 0));
    assert_eq!(s.jitter_ms(), 0.0);
    let b = s.report_block(42, 0, 0);
    assert_eq!((b.ssrc, b.fraction_lost, b.cumulative_lost), (42, 0, 0));
    assert_eq!(b.highest_seq, 1499);
}

#[test]
fn counts_losses_across_the_sequence_wrap() {
    let mut s = ReceiveStats::new(8000);
    // 65530 .. 65535, 0 .. 193 with every tenth packet missing.
    feed(
        &mut s,
        Instant::now(),
        65_530,
        (0..200).filter(|n| n % 10 != 5),
    );
    assert_eq!(s.expected(), 200);
    assert_eq!(s.lost(), 20);
    assert!((s.loss_fraction() - 0.1).abs() < 1e-9);
    let b = s.report_block(1, 0, 0);
    assert_eq!(b.highest_seq, (1 << 16) + 193, "one cycle in the high half");
    assert_eq!(b.cumulative_lost, 20);
    assert_eq!(b.fraction_lost, 25, "10 % is 25.6/256, truncated");
}

#[test]
fn fraction_lost_covers_only_the_last_interval() {
    let mut s = ReceiveStats::new(8000);
    let t0 = Instant::now();
    feed(&mut s, t0, 0, (0..100).filter(|n| n % 4 != 1)); // 25 % lost
    assert_eq!(s.report_block(1, 0x1234_5678, 99).fraction_lost, 64);
    feed(&mut s, t0, 0, 100..200);
    let b = s.report_block(1, 0x1234_5678, 99);
    assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 25));
    assert_eq!((b.lsr, b.dlsr), (0x1234_5678, 99));
    // Nothing new since: nothing expected in the interval, fraction 0.
    assert_eq!(s.report_block(1, 0, 0).fraction_lost, 0);
}

#[test]
fn duplicates_and_reordering_are_not_loss() {
    let mut s = ReceiveStats::new(8000);
    let t0 = Instant::now();
    feed(&mut s, t0, 10, [0, 2, 1, 3, 3, 3, 4, 1]);
    assert_eq!((s.expected(), s.received(), s.lost()), (5, 5, 0));
    assert_eq!(s.duplicates(), 3);
    assert_eq!(s.loss_fraction(), 0.0);
    assert_eq!(s.report_block(1, 0, 0).cumulative_lost, 0);
}

#[test]
fn a_telephone_event_end_sent_three_times_counts_once() {
    // RFC 4733 §2.5.1.4: the final packet of an event goes out three times; senders that
    // retransmit it unchanged repeat its sequence number too.
    let mut s = ReceiveStats::new(8000);
    let t0 = Instant::now();
    feed(&mut s, t0, 500, 0..10);
    for seq in 510..515 {
        assert_eq!(s.on_untimed_packet(seq), Arrival::New);
    }
    for _ in 0..2 {
        assert_eq!(s.on_untimed_packet(514), Arrival::Duplicate);
    }
    feed(&mut s, t0, 500, 15..40);
    assert_eq!((s.expected(), s.received(), s.lost()), (40, 40, 0));
    assert_eq!(s.duplicates(), 2);
    let b = s.report_block(7, 0, 0);
    assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 0));
}

#[test]
fn a_packet_from_before_the_first_never_reports_negative_loss() {
    let mut s = ReceiveStats::new(8000);
    let t0 = Instant::now();
    // The first packet to arrive was not the first sent: an earlier one comes late.
    feed(&mut s, t0, 100, 1..20);
    feed(&mut s, t0, 100, [0]);
    assert_eq!((s.expected(), s.received()), (19, 20));
    assert_eq!(
        s.lost(),
        0,
        "clamped: more received than expected is no loss"
    );
    assert_eq!(s.report_block(1, 0, 0).cumulative_lost, 0);
}

#[test]
fn duplicates_are_recognised_across_the_sequence_wrap_and_in_the_window_only() {
    let mut s = ReceiveStats::new(8000);
    let t0 = Instant::now();
    feed(&mut s, t0, 65_500, 0..100);
    // 65_500 + 99 wrapped to 63; 65_530 is 69 behind, inside the window.
    assert_eq!(s.on_untimed_packet(65_530), Arrival::Duplicate);
    assert_eq!(s.on_untimed_packet(63), Arrival::Duplicate);
    assert_eq!(s.on_untimed_packet(64), Arrival::New);
    assert_eq!((s.expected(), s.received(), s.lost()), (101, 101, 0));
}

#[test]
fn a_restarted_sender_is_followed_after_two_sequential_packets() {
    let mut s = ReceiveStats::new(8000);
    let t0 = Instant::now();
    feed(&mut s, t0, 100, 0..50);
    // One stray packet far away is ignored...
    s.on_packet(40_000, 0, t0 + Duration::from_secs(1));
    assert_eq!((s.expected(), s.received()), (50, 50));
    // ...but two in a row mean the numbering restarted there.
    s.on_packet(30_000, 0, t0 + Duration::from_secs(2));
    s.on_packet(30_001, 160, t0 + Duration::from_millis(2020));
    s.on_packet(30_002, 320, t0 + Duration::from_millis(2040));
    assert_eq!((s.expected(), s.received(), s.lost()), (2, 2, 0));
    assert_eq!(s.report_block(1, 0, 0).highest_seq, 30_002);
}

#[test]
fn telephone_events_count_for_loss_but_not_for_jitter() {
    let mut s = ReceiveStats::new(8000);
    let t0 = Instant::now();
    feed(&mut s, t0, 0, 0..10);
    // Seven event packets take sequence numbers 10..16, all stamped with the event's start.
    for seq in 10..17 {
        s.on_untimed_packet(seq);
    }
    feed(&mut s, t0, 0, 17..30);
    assert_eq!((s.expected(), s.received(), s.lost()), (30, 30, 0));
    assert_eq!(s.jitter_ms(), 0.0);
}

#[test]
fn jitter_follows_rfc3550() {
    let mut s = ReceiveStats::new(8000);
    let t0 = Instant::now();
    // Every other packet 10 ms late: |D| is always 10 ms, so J converges to 10 ms (80 units).
    for n in 0..400u32 {
        let late = if n % 2 == 1 { 10 } else { 0 };
        s.on_packet(
            n as u16,
            n * 160,
            t0 + Duration::from_millis(u64::from(n) * 20 + late),
        );
    }
    assert!((s.jitter_ms() - 10.0).abs() < 0.1, "{}", s.jitter_ms());
    assert!((79..=80).contains(&s.report_block(1, 0, 0).jitter));
    // 48 kHz clock: same milliseconds, six times the units.
    let mut s = ReceiveStats::new(48_000);
    for n in 0..400u32 {
        let late = if n % 2 == 1 { 10 } else { 0 };
        s.on_packet(
            n as u16,
            n * 960,
            t0 + Duration::from_millis(u64::from(n) * 20 + late),
        );
    }
    assert!((s.jitter_ms() - 10.0).abs() < 0.1);
    assert!((479..=480).contains(&s.report_block(1, 0, 0).jitter));
}

#[test]
fn a_timestamp_jump_is_not_jitter() {
    let mut s = ReceiveStats::new(8000);
    let t0 = Instant::now();
    feed(&mut s, t0, 0, 0..50);
    // The same stream, 10 s ahead in media time from packet 50 on.
    for n in 50..100u32 {
        let at = t0 + Duration::from_millis(u64::from(n) * 20);
        s.on_packet(n as u16, 80_000 + n * 160, at);
    }
    assert_eq!(s.jitter_ms(), 0.0);
}

#[test]
fn cumulative_loss_saturates_at_24_bits() {
    let mut s = ReceiveStats::new(8000);
    let t0 = Instant::now();
    let mut seq = 0u16;
    for _ in 0..3000 {
        s.on_packet(seq, 0, t0);
        seq = seq.wrapping_add(2999);
    }
    assert!(s.lost() > 0x7F_FFFF);
    assert_eq!(s.report_block(1, 0, 0).cumulative_lost, 0x7F_FFFF);
    s.reset();
    assert_eq!(s.expected(), 0);
}

#[test]
fn random_packets_never_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let t0 = Instant::now();
    let mut s = ReceiveStats::new(8000);
    for i in 0..50_000u64 {
        let at = t0 + Duration::from_millis(i * rng.random_range(0..40));
        s.on_packet(rng.random(), rng.random(), at);
        if i % 1000 == 0 {
            let b = s.report_block(rng.random(), rng.random(), rng.random());
            assert!((-0x80_0000..=0x7F_FFFF).contains(&b.cumulative_lost));
            assert!((0.0..=1.0).contains(&s.loss_fraction()));
        }
    }
}

#[test]
fn mos_of_a_clean_g711_call_is_about_4_4() {
    let mos = estimate_mos(0.0, 0.0, 20.0, Codec::Pcmu);
    assert!((4.38..=4.42).contains(&mos), "{mos}");
    assert_eq!(
        estimate_mos(0.0, 2.0, 40.0, Codec::Pcma),
        mos,
        "under 100 ms delay costs nothing"
    );
}

#[test]
fn loss_delay_and_jitter_lower_the_mos() {
    let clean = estimate_mos(0.0, 5.0, 40.0, Codec::Pcmu);
    let lossy = estimate_mos(5.0, 5.0, 40.0, Codec::Pcmu);
    assert!(lossy < clean - 0.3 && lossy > 3.0, "{lossy}");
    // R falls to 77 at 5 % loss: MOS 3.9 ("satisfied" ends near R 80).
    assert!((3.85..3.97).contains(&lossy), "{lossy}");
    let mut previous = f64::MAX;
    for loss in 0..=40 {
        let mos = estimate_mos(f64::from(loss), 5.0, 40.0, Codec::Pcmu);
        assert!(mos <= previous, "loss {loss}");
        previous = mos;
    }
    let mut previous = f64::MAX;
    for rtt in (0..2000).step_by(50) {
        let mos = estimate_mos(1.0, 10.0, f64::from(rtt), Codec::Opus);
        assert!(mos <= previous, "rtt {rtt}");
        previous = mos;
    }
    assert!(estimate_mos(0.0, 0.0, 600.0, Codec::Pcmu) < 4.0);
    assert!(
        estimate_mos(0.0, 100.0, 40.0, Codec::Pcmu) < estimate_mos(0.0, 10.0, 40.0, Codec::Pcmu)
    );
}

#[test]
fn opus_trades_a_little_clean_quality_for_loss_robustness() {
    assert!(estimate_mos(0.0, 0.0, 20.0, Codec::Opus) < estimate_mos(0.0, 0.0, 20.0, Codec::Pcmu));
    assert!(
        estimate_mos(20.0, 0.0, 20.0, Codec::Opus) > estimate_mos(20.0, 0.0, 20.0, Codec::Pcmu)
    );
}

#[test]
fn mos_stays_in_range_for_any_input() {
    for loss in [-5.0, 0.0, 50.0, 100.0, 1e9, f64::NAN, f64::INFINITY] {
        for rtt in [-1.0, 0.0, 1e6, f64::NAN] {
            let mos = estimate_mos(loss, rtt, rtt, Codec::Pcma);
            assert!((1.0..=4.5).contains(&mos), "{loss} {rtt} {mos}");
        }
    }
    assert_eq!(
        estimate_mos(100.0, 0.0, 0.0, Codec::Pcmu),
        mos_from_r(93.2 - 95.0 * 100.0 / 125.1)
    );
    assert_eq!(mos_from_r(-3.0), 1.0);
    assert_eq!(mos_from_r(120.0), 4.5);
}
