use super::*;
use rand::{Rng, SeedableRng};

/// Runs the sender for `ticks` ticks of 20 ms at 8 kHz; None where audio goes out.
fn drive(tx: &mut DtmfSender, ts0: u32, ticks: u32) -> Vec<Option<DtmfPacket>> {
    (0..ticks)
        .map(|i| tx.tick(ts0.wrapping_add(i * 160)))
        .collect()
}

#[test]
fn codes_follow_rfc4733() {
    let all = "0123456789*#ABCD";
    for (code, c) in all.chars().enumerate() {
        assert_eq!(digit_code(c), Some(code as u8));
        assert_eq!(code_digit(code as u8), Some(c));
    }
    assert_eq!(digit_code('b'), Some(13));
    assert_eq!(digit_code('E'), None);
    assert_eq!(digit_code(' '), None);
    assert_eq!(code_digit(16), None, "flash is not a digit");
    assert_eq!(code_digit(255), None);
}

#[test]
fn one_digit_is_100ms_of_events_then_a_pause() {
    let mut tx = DtmfSender::new(8000);
    assert!(!tx.is_active());
    tx.queue("5").unwrap();
    assert!(tx.is_active());
    let out = drive(&mut tx, 1000, 12);
    let packets: Vec<DtmfPacket> = out.iter().map_while(|p| *p).collect();
    assert_eq!(
        packets.len(),
        7,
        "5 tone packets, the last with E, then 2 more copies of it"
    );
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(p.timestamp, 1000, "the event's start timestamp throughout");
        assert_eq!(p.marker, i == 0);
        assert_eq!(p.payload[0], 5);
        let end = i >= 4;
        assert_eq!(p.payload[1], if end { 0x80 | 10 } else { 10 }, "packet {i}");
        let duration = u16::from_be_bytes([p.payload[2], p.payload[3]]);
        assert_eq!(u32::from(duration), 160 * (i as u32 + 1).min(5));
    }
    assert!(out[7..].iter().all(Option::is_none));
    assert!(!tx.is_active());
}

#[test]
fn digits_are_separated_by_at_least_60ms_of_audio() {
    let mut tx = DtmfSender::new(8000);
    tx.queue("12").unwrap();
    let out = drive(&mut tx, 0, 30);
    let second = out
        .iter()
        .position(|p| p.is_some_and(|p| p.payload[0] == 2))
        .unwrap();
    assert_eq!(second, 10);
    assert!(out[7..10].iter().all(Option::is_none));
    assert_eq!(out[10].unwrap().timestamp, 1600);
    assert!(out[10].unwrap().marker);
}

#[test]
fn durations_follow_a_48khz_clock() {
    let mut tx = DtmfSender::new(48_000);
    tx.queue("#").unwrap();
    let p: Vec<DtmfPacket> = (0..7).filter_map(|i| tx.tick(i * 960)).collect();
    let durations: Vec<u16> = p
        .iter()
        .map(|p| u16::from_be_bytes([p.payload[2], p.payload[3]]))
        .collect();
    assert_eq!(durations, [960, 1920, 2880, 3840, 4800, 4800, 4800]);
    assert_eq!(p[0].payload[0], 11);
}

#[test]
fn odd_clock_rates_do_not_panic() {
    for rate in [0, 1, 49, u32::MAX] {
        let mut tx = DtmfSender::new(rate);
        tx.queue("1").unwrap();
        let sent = (0..20).filter_map(|i| tx.tick(i)).count();
        assert!(sent >= 3, "rate {rate}: {sent}");
        assert!(!tx.is_active());
    }
}

#[test]
fn queue_refuses_unknown_characters_whole() {
    let mut tx = DtmfSender::new(8000);
    assert_eq!(tx.queue("12x4y"), Err('x'));
    assert!(!tx.is_active(), "nothing of a refused string is queued");
    assert_eq!(tx.queue("1 2"), Err(' '));
    tx.queue("").unwrap();
    assert!(!tx.is_active());
}

#[test]
fn receiver_decodes_the_senders_output_once_per_digit() {
    let digits = "0123456789*#ABCD55";
    let mut tx = DtmfSender::new(8000);
    tx.queue(digits).unwrap();
    let mut rx = DtmfReceiver::new();
    let mut heard = String::new();
    // Start near the timestamp wrap so events straddle it.
    for p in drive(&mut tx, u32::MAX - 5000, 400).into_iter().flatten() {
        // The network duplicates every packet.
        for _ in 0..2 {
            heard.extend(rx.on_packet(p.timestamp, p.marker, &p.payload));
        }
    }
    assert_eq!(heard, digits);
}

#[test]
fn lost_first_packet_still_reports_the_digit_once() {
    let mut tx = DtmfSender::new(8000);
    tx.queue("7").unwrap();
    let packets: Vec<DtmfPacket> = drive(&mut tx, 0, 10).into_iter().flatten().collect();
    let mut rx = DtmfReceiver::new();
    let heard: Vec<char> = packets[1..]
        .iter()
        .filter_map(|p| rx.on_packet(p.timestamp, p.marker, &p.payload))
        .collect();
    assert_eq!(heard, ['7']);
}

#[test]
fn receiver_ignores_repeats_stragglers_and_garbage() {
    let mut rx = DtmfReceiver::new();
    assert_eq!(rx.on_packet(100, true, &[1, 10, 0, 160]), Some('1'));
    assert_eq!(rx.on_packet(100, false, &[1, 10, 1, 64]), None);
    assert_eq!(rx.on_packet(100, false, &[1, 0x8A, 3, 32]), None);
    assert_eq!(rx.on_packet(100, false, &[1, 0x8A, 3, 32]), None);
    // A new event, then a late end packet of the previous one.
    assert_eq!(rx.on_packet(2000, true, &[11, 10, 0, 160]), Some('#'));
    assert_eq!(rx.on_packet(100, false, &[1, 0x8A, 3, 32]), None);
    // The same digit pressed again is a new event with a new timestamp.
    assert_eq!(rx.on_packet(4000, true, &[11, 10, 0, 160]), Some('#'));
    // Short payloads and non-DTMF events (16 = flash).
    assert_eq!(rx.on_packet(6000, true, &[]), None);
    assert_eq!(rx.on_packet(6000, true, &[1, 10, 0]), None);
    assert_eq!(rx.on_packet(7000, true, &[16, 10, 0, 160]), None);
    assert_eq!(rx.on_packet(7000, false, &[16, 10, 1, 64]), None);
    // Extra bytes after the first event block are ignored.
    assert_eq!(
        rx.on_packet(9000, true, &[3, 10, 0, 160, 9, 9, 9, 9]),
        Some('3')
    );
}

#[test]
fn a_long_press_split_into_segments_is_one_digit() {
    let mut rx = DtmfReceiver::new();
    assert_eq!(rx.on_packet(0, true, &[9, 10, 0, 160]), Some('9'));
    assert_eq!(rx.on_packet(0, false, &[9, 10, 0xFF, 0xFF]), None);
    // §2.5.1.3: the next segment starts at 0xFFFF, no marker, same event.
    assert_eq!(rx.on_packet(0xFFFF, false, &[9, 10, 0, 160]), None);
    assert_eq!(rx.on_packet(0xFFFF, false, &[9, 0x8A, 0, 200]), None);
    // After it ended, the same digit again is a new press.
    assert_eq!(
        rx.on_packet(0xFFFF + 4000, true, &[9, 10, 0, 160]),
        Some('9')
    );
}

/// Opus with telephone-event/8000 (baresip's offer): the sender counts on the 48 kHz stream
/// clock, as baresip and pjsip do: timestamps on the audio's line, durations in the same units.
#[test]
fn with_opus_events_count_on_the_48khz_stream_clock_whatever_the_rtpmap_says() {
    let mut tx = DtmfSender::new(48_000);
    tx.queue("12").unwrap();
    let out: Vec<Option<DtmfPacket>> = (0..20u32).map(|i| tx.tick(7_000 + i * 960)).collect();
    let first: Vec<DtmfPacket> = out[..7].iter().map(|p| p.unwrap()).collect();
    assert!(first.iter().all(|p| p.timestamp == 7_000));
    let durations: Vec<u16> = first
        .iter()
        .map(|p| u16::from_be_bytes([p.payload[2], p.payload[3]]))
        .collect();
    assert_eq!(durations, [960, 1920, 2880, 3840, 4800, 4800, 4800]);
    assert!(out[7..10].iter().all(Option::is_none));
    let second = out[10].unwrap();
    assert_eq!((second.payload[0], second.timestamp), (2, 7_000 + 10 * 960));
    assert!(second.marker);
}

/// Events on a 48 kHz Opus stream, with durations counted at 48 kHz (baresip: 8640 for its
/// 180 ms keys) or at the rtpmap's 8 kHz (1440), decode to the same digits, once each.
#[test]
fn receiver_reads_events_on_a_48khz_stream_in_either_duration_unit() {
    for unit_rate in [48_000u32, 8_000] {
        let mut rx = DtmfReceiver::new();
        let mut heard = String::new();
        for (i, code) in [1u8, 2, 3, 4, 11, 11].into_iter().enumerate() {
            // A key every 500 ms of the 48 kHz stream.
            let start = 1_000_000 + i as u32 * 24_000;
            for n in 1..=12u32 {
                let end = n > 9;
                let duration = (unit_rate * 20 * n.min(9) / 1000) as u16;
                let [hi, lo] = duration.to_be_bytes();
                let flags = if end { 0x80 | 10 } else { 10 };
                heard.extend(rx.on_packet(start, n == 1, &[code, flags, hi, lo]));
            }
        }
        assert_eq!(heard, "1234##", "durations at {unit_rate} Hz");
    }
}

#[test]
fn a_long_press_counted_on_the_8khz_event_clock_over_48khz_opus_is_one_digit() {
    let mut rx = DtmfReceiver::new();
    assert_eq!(rx.on_packet(0, true, &[9, 10, 0, 160]), Some('9'));
    assert_eq!(rx.on_packet(0, false, &[9, 10, 0xFF, 0xFF]), None);
    // 0xFFFF units of 8 kHz are 6 × 0xFFFF of the 48 kHz stream: the next segment starts there.
    assert_eq!(rx.on_packet(6 * 0xFFFF, false, &[9, 10, 0, 160]), None);
    assert_eq!(rx.on_packet(6 * 0xFFFF, false, &[9, 0x8A, 0, 200]), None);
    assert_eq!(
        rx.on_packet(6 * 0xFFFF + 48_000, true, &[9, 10, 0, 160]),
        Some('9')
    );
}

#[test]
fn random_payloads_never_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let mut rx = DtmfReceiver::new();
    let mut heard = 0;
    for _ in 0..20_000 {
        let len = rng.random_range(0..8);
        let payload: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if let Some(c) = rx.on_packet(rng.random(), rng.random(), &payload) {
            assert!(digit_code(c).is_some());
            heard += 1;
        }
    }
    assert!(heard > 0);
}

/// The ticks at which each event starts (its first packet, marked) when `digits` are sent.
fn event_starts(digits: &str) -> Vec<usize> {
    let mut tx = DtmfSender::new(8000);
    tx.queue(digits).unwrap();
    drive(&mut tx, 0, 200)
        .iter()
        .enumerate()
        .filter(|(_, p)| p.as_ref().is_some_and(|p| p.marker))
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn a_comma_is_a_half_second_pause() {
    let with = event_starts("1,2");
    let without = event_starts("12");
    assert_eq!(with.len(), 2, "two digits, the comma sends nothing");
    assert_eq!(
        (with[1] - with[0]) - (without[1] - without[0]),
        25,
        "25 ticks of 20 ms"
    );
}
