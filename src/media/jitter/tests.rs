use super::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

mod adaptation;
mod timeline;

const FRAME: u32 = 160;

/// What a tick played, with payloads reduced to the sequence number they carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    Frame(u16),
    Missing(Option<u16>),
    Buffering,
}

struct Sim {
    jb: JitterBuffer,
    t0: Instant,
}

fn payload(seq: u16) -> [u8; 160] {
    let mut p = [0x55; 160];
    p[..2].copy_from_slice(&seq.to_be_bytes());
    p
}

fn tag(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[0], p[1]])
}

impl Sim {
    fn new() -> Self {
        Self {
            jb: JitterBuffer::new(8000, FRAME),
            t0: Instant::now(),
        }
    }

    fn at(&self, ms: f64) -> Instant {
        self.t0 + Duration::from_micros((ms * 1000.0) as u64)
    }

    /// Packet `n` of a stream starting at `seq0`/`ts0`, arriving at `ms`.
    fn push_nth(&mut self, seq0: u16, ts0: u32, n: u32, ms: f64) -> PushOutcome {
        let seq = seq0.wrapping_add(n as u16);
        let at = self.at(ms);
        self.jb
            .push(seq, ts0.wrapping_add(n * FRAME), &payload(seq), at)
    }

    fn pop(&mut self, ms: f64) -> Out {
        let at = self.at(ms);
        match self.jb.pop(at) {
            Playout::Frame { payload, seq } => {
                assert_eq!(tag(payload), seq, "payload belongs to its frame");
                Out::Frame(seq)
            }
            Playout::Missing { next } => Out::Missing(next.map(tag)),
            Playout::Buffering => Out::Buffering,
        }
    }
}

/// Sends `count` packets every 20 ms (arriving `delay(n)` ms late, minus those in `lost`), ticks
/// every 20 ms at phase 5 ms, and returns every tick's output in order.
fn run(sim: &mut Sim, seq0: u16, count: u32, lost: &[u32], delay: impl Fn(u32) -> f64) -> Vec<Out> {
    let mut arrivals: Vec<(f64, u32)> = (0..count)
        .filter(|n| !lost.contains(n))
        .map(|n| (f64::from(n) * 20.0 + delay(n), n))
        .collect();
    arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut next = 0;
    let mut out = Vec::new();
    for tick in 0..count + 20 {
        let now = f64::from(tick) * 20.0 + 5.0;
        while next < arrivals.len() && arrivals[next].0 <= now {
            let (ms, n) = arrivals[next];
            sim.push_nth(seq0, 1000, n, ms);
            next += 1;
        }
        out.push(sim.pop(now));
    }
    out
}

fn frames(out: &[Out]) -> Vec<u16> {
    out.iter()
        .filter_map(|o| match o {
            Out::Frame(s) => Some(*s),
            _ => None,
        })
        .collect()
}

fn missing(out: &[Out]) -> usize {
    out.iter().filter(|o| matches!(o, Out::Missing(_))).count()
}

#[test]
fn in_order_stream_plays_every_frame_on_the_first_tick_10ms_after_it_is_due() {
    let mut sim = Sim::new();
    let out = run(&mut sim, 0, 500, &[], |_| 0.0);
    assert_eq!(frames(&out), (0..500).collect::<Vec<u16>>());
    // The tick 5 ms after frame 0 is due is too early for the 10 ms target; the next, 25 ms
    // after, plays it, then one frame per tick. (With the old 40 ms floor: two ticks later.)
    assert_eq!(out[0], Out::Buffering);
    assert_eq!(out[1], Out::Frame(0));
    assert_eq!(missing(&out[..501]), 0);
    let s = sim.jb.stats();
    assert_eq!((s.late, s.dropped_for_catch_up), (0, 0));
    assert_eq!(s.played, 500);
    assert_eq!(s.target_delay_ms, 10);
    // When the stream stops, three ticks are concealed in case it was late, then silence.
    assert_eq!(s.concealed, 3);
    assert_eq!(out.last(), Some(&Out::Buffering));
}

#[test]
fn shuffled_windows_play_in_order() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut sim = Sim::new();
    let t0 = sim.t0;
    let mut order: Vec<u32> = (0..400).collect();
    for window in order.chunks_mut(3) {
        window.shuffle(&mut rng);
    }
    // Each window of three arrives together, at the time its last packet was sent.
    let mut out = Vec::new();
    let mut sent = 0;
    for tick in 0..420u32 {
        let now = f64::from(tick) * 20.0 + 5.0;
        while sent < order.len() && (sent as u32 / 3) * 60 + 40 <= tick * 20 {
            let n = order[sent];
            sim.push_nth(100, 0, n, now - 1.0);
            sent += 1;
        }
        out.push(sim.pop(now));
    }
    assert_eq!(sim.t0, t0);
    // The first window lands with frame 100 already 41 ms old, before any jitter has been
    // seen: playout starts at the 10 ms target from frame 101 (with the old 40 ms floor it
    // started at 100). The second window's 40 ms lateness costs one held tick and raises the
    // target; none after that.
    assert_eq!(frames(&out), (101..500).collect::<Vec<u16>>());
    assert!(sim.jb.stats().target_delay_ms >= 40);
    assert_eq!(missing(&out[..10]), 1);
    assert_eq!(missing(&out[10..400]), 0);
    let s = sim.jb.stats();
    assert_eq!(s.late, 0);
    assert!(s.reorders > 100, "{s:?}");
}

#[test]
fn duplicates_are_dropped_before_and_after_playout() {
    let mut sim = Sim::new();
    assert_eq!(sim.push_nth(7, 0, 0, 0.0), PushOutcome::Accepted);
    assert_eq!(sim.push_nth(7, 0, 0, 1.0), PushOutcome::Duplicate);
    assert_eq!(sim.push_nth(7, 0, 1, 20.0), PushOutcome::Accepted);
    assert_eq!(sim.pop(25.0), Out::Frame(7));
    // A copy of a frame already played is a duplicate, not a late packet.
    assert_eq!(sim.push_nth(7, 0, 0, 30.0), PushOutcome::Duplicate);
    assert_eq!(sim.push_nth(7, 0, 2, 40.0), PushOutcome::Accepted);
    assert_eq!(sim.pop(45.0), Out::Frame(8));
    assert_eq!(sim.pop(65.0), Out::Frame(9));
    let s = sim.jb.stats();
    assert_eq!((s.duplicates, s.late, s.played), (2, 0, 3));
}

#[test]
fn a_lost_packet_gives_exactly_one_missing_with_the_next_payload() {
    let mut sim = Sim::new();
    let out = run(&mut sim, 0, 100, &[50], |_| 0.0);
    assert_eq!(missing(&out[..100]), 1);
    let at = out
        .iter()
        .position(|o| matches!(o, Out::Missing(_)))
        .unwrap();
    assert_eq!(out[at - 1], Out::Frame(49));
    assert_eq!(out[at], Out::Missing(Some(51)));
    assert_eq!(out[at + 1], Out::Frame(51));
    assert_eq!(sim.jb.stats().late, 0);
}

#[test]
fn missing_without_a_next_packet_offers_none() {
    let mut sim = Sim::new();
    // Two lost in a row, found 25 ms after frame 30 was due, before 32 has come: one tick
    // is held in case 30 is late (an underrun), then the holes are passed, the first with no
    // next payload, the second with 32's. (At the old 40 ms floor 32 was already there.)
    let out = run(&mut sim, 0, 60, &[30, 31], |_| 0.0);
    let at = out
        .iter()
        .position(|o| matches!(o, Out::Missing(_)))
        .unwrap();
    assert_eq!(
        out[at..at + 4],
        [
            Out::Missing(None),
            Out::Missing(None),
            Out::Missing(Some(32)),
            Out::Frame(32)
        ]
    );
}

#[test]
fn sequence_and_timestamp_wrap_around() {
    let mut sim = Sim::new();
    let seq0: u16 = 65_500;
    let ts0 = u32::MAX - 50 * FRAME + 7;
    let mut out = Vec::new();
    for n in 0..100u32 {
        let seq = seq0.wrapping_add(n as u16);
        let ms = f64::from(n) * 20.0;
        let at = sim.at(ms);
        let ts = ts0.wrapping_add(n * FRAME);
        assert_eq!(
            sim.jb.push(seq, ts, &payload(seq), at),
            PushOutcome::Accepted
        );
        out.push(sim.pop(ms + 5.0));
    }
    // All but the last, still due 25 ms after its arrival (the last two at a 40 ms floor).
    let expected: Vec<u16> = (0..99).map(|n| seq0.wrapping_add(n)).collect();
    assert_eq!(frames(&out), expected);
    assert_eq!(sim.jb.stats().concealed, 0);
}

#[test]
fn splits_g711_packets_of_several_frames() {
    let mut jb = JitterBuffer::new(8000, FRAME).split_payloads(160);
    let t0 = Instant::now();
    let mut packet = [0u8; 320];
    packet[..160].fill(1);
    packet[160..].fill(2);
    assert_eq!(jb.push(0, 0, &packet, t0), PushOutcome::Accepted);
    assert_eq!(
        jb.push(1, 320, &[3; 320], t0 + Duration::from_millis(40)),
        PushOutcome::Accepted
    );
    assert_eq!(jb.stats().depth_ms, 80);
    let mut got = Vec::new();
    for k in 0..4u64 {
        match jb.pop(t0 + Duration::from_millis(25 + 20 * k)) {
            Playout::Frame { payload, seq } => got.push((payload[0], payload.len(), seq)),
            other => panic!("tick {k}: {other:?}"),
        }
    }
    assert_eq!(got, [(1, 160, 0), (2, 160, 0), (3, 160, 1), (3, 160, 1)]);
    // 30 ms of G.711 is not a whole number of 20 ms frames.
    assert_eq!(jb.push(2, 640, &[0; 240], t0), PushOutcome::Rejected);
}

#[test]
fn rejects_empty_and_oversized_payloads() {
    let mut jb = JitterBuffer::new(48000, 960);
    let t0 = Instant::now();
    assert_eq!(jb.push(0, 0, &[], t0), PushOutcome::Rejected);
    assert_eq!(
        jb.push(0, 0, &[0; MAX_PAYLOAD + 1], t0),
        PushOutcome::Rejected
    );
    assert_eq!(jb.push(0, 0, &[0; MAX_PAYLOAD], t0), PushOutcome::Accepted);
    assert_eq!(jb.stats().rejected, 2);
}

#[test]
fn reset_starts_over() {
    let mut sim = Sim::new();
    run(
        &mut sim,
        0,
        50,
        &[10],
        |n| if n % 7 == 0 { 45.0 } else { 0.0 },
    );
    assert!(sim.jb.stats().target_delay_ms > 40);
    sim.jb.reset();
    assert_eq!(sim.pop(2000.0), Out::Buffering);
    assert_eq!(sim.jb.stats().target_delay_ms, 10);
    assert_eq!(sim.jb.stats().depth_ms, 0);
    // A new source with unrelated numbering plays from its first packet.
    let at = sim.at(2000.0);
    assert_eq!(
        sim.jb.push(9000, 777, &payload(9000), at),
        PushOutcome::Accepted
    );
    let at = sim.at(2020.0);
    assert_eq!(
        sim.jb.push(9001, 777 + FRAME, &payload(9001), at),
        PushOutcome::Accepted
    );
    assert_eq!(sim.pop(2025.0), Out::Frame(9000));
    assert_eq!(sim.jb.stats().resets, 1);
}

#[test]
fn pop_before_any_packet_is_buffering() {
    let mut jb = JitterBuffer::new(8000, FRAME);
    assert_eq!(jb.pop(Instant::now()), Playout::Buffering);
    assert_eq!(
        jb.stats(),
        JitterStats {
            target_delay_ms: 10,
            ..JitterStats::default()
        }
    );
}

#[test]
fn odd_clock_parameters_do_not_panic() {
    let t0 = Instant::now();
    for (rate, samples) in [(0, 0), (1, u32::MAX), (u32::MAX, 1), (8000, 1)] {
        let mut jb = JitterBuffer::new(rate, samples);
        for n in 0..200u32 {
            let at = t0 + Duration::from_millis(u64::from(n) * 20);
            jb.push(n as u16, n.wrapping_mul(samples), &[1, 2, 3], at);
            jb.pop(at);
        }
        jb.stats();
    }
}

#[test]
fn random_input_never_panics_and_keeps_its_bounds() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let t0 = Instant::now();
    for round in 0..20 {
        let mut jb = JitterBuffer::new(8000, FRAME);
        if round % 2 == 0 {
            jb = jb.split_payloads(160);
        }
        let mut clock = 0u64;
        for _ in 0..3000 {
            clock += rng.random_range(0..30);
            let at = t0 + Duration::from_millis(clock);
            if rng.random_bool(0.6) {
                let len = rng.random_range(0..700);
                let data = vec![0xAB; len];
                let ts = if rng.random_bool(0.8) {
                    (clock as u32)
                        .wrapping_mul(8)
                        .wrapping_add(rng.random_range(0..500))
                } else {
                    rng.random()
                };
                jb.push(rng.random(), ts, &data, at);
            } else {
                let earlier =
                    t0 + Duration::from_millis(clock.saturating_sub(rng.random_range(0..50)));
                match jb.pop(if rng.random_bool(0.9) { at } else { earlier }) {
                    Playout::Frame { payload, .. } => assert!(payload.len() <= MAX_PAYLOAD),
                    Playout::Missing { next: Some(p) } => assert!(p.len() <= MAX_PAYLOAD),
                    _ => {}
                }
            }
            if rng.random_bool(0.001) {
                jb.reset();
            }
            let s = jb.stats();
            assert!((10..=300).contains(&s.target_delay_ms), "{s:?}");
            assert!(s.depth_ms <= (CAPACITY as u32) * 20, "{s:?}");
            assert!(jb.ring.held() <= CAPACITY);
        }
    }
}

#[test]
fn each_played_frame_keeps_when_it_arrived_and_split_frames_are_spaced_back() {
    let mut sim = Sim::new();
    // Packets 0..5 arrive 20 ms apart with 7 ms of jitter on packet 2.
    for n in 0..5u32 {
        let late = if n == 2 { 7.0 } else { 0.0 };
        sim.push_nth(1000, 0, n, f64::from(n) * 20.0 + late);
    }
    let mut arrivals = Vec::new();
    for tick in 0..12 {
        if let Out::Frame(_) = sim.pop(25.0 + f64::from(tick) * 20.0) {
            let at = sim
                .jb
                .last_played_arrival()
                .expect("a played frame has an arrival");
            arrivals.push(at.duration_since(sim.t0).as_millis());
        }
    }
    assert_eq!(arrivals, vec![0, 20, 47, 60, 80]);

    // One 40 ms packet: its first frame counts as sent 20 ms before it arrived.
    let mut jb = JitterBuffer::new(8000, FRAME).split_payloads(160);
    let t0 = Instant::now() + Duration::from_millis(100);
    assert_eq!(jb.push(1, 0, &[0x55; 320], t0), PushOutcome::Accepted);
    let mut got = Vec::new();
    for tick in 0..8u64 {
        if let Playout::Frame { .. } = jb.pop(t0 + Duration::from_millis(20 * tick)) {
            let at = jb.last_played_arrival().unwrap();
            got.push(
                at.duration_since(t0 - Duration::from_millis(20))
                    .as_millis(),
            );
        }
    }
    assert_eq!(got, vec![0, 20]);
}
