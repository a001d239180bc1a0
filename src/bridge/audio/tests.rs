use super::*;
use crate::media::resample::test_signal::{dominant_hz, sine_i16};

fn pcmu() -> OutputQueue {
    OutputQueue::new(WireFormat::Pcmu)
}

fn drain(queue: &mut OutputQueue) -> Vec<Frame> {
    std::iter::from_fn(|| queue.take_frame()).collect()
}

#[test]
fn frame_sizes_follow_the_wire_format() {
    assert_eq!(WireFormat::Pcmu.frame_bytes(), 160);
    assert_eq!(WireFormat::Pcma.frame_bytes(), 160);
    // 20 ms at 24 kHz is 480 samples, 960 bytes.
    assert_eq!(WireFormat::Pcm24.frame_bytes(), 960);
    assert_eq!(WireFormat::for_codec(Codec::Opus), WireFormat::Pcm24);
    assert_eq!(
        WireFormat::for_codec(Codec::Pcma).format(),
        AudioFormat::Pcma
    );
    assert_eq!(WireFormat::Pcm24.ms(4800), 100);
}

#[test]
fn uneven_deltas_come_out_as_exact_frames_in_order() {
    let mut queue = pcmu();
    let audio: Vec<u8> = (0..800u32).map(|n| (n % 251) as u8).collect();
    let mut rest = &audio[..];
    for size in [1, 77, 300, 13, 159, 250] {
        let (now, later) = rest.split_at(size.min(rest.len()));
        assert!(queue.push("resp_1", "item_1", now));
        rest = later;
    }
    assert!(rest.is_empty());
    let frames = drain(&mut queue);
    assert_eq!(frames.len(), 5);
    assert!(frames.iter().all(|f| f.bytes.len() == 160));
    let joined: Vec<u8> = frames.iter().flat_map(|f| f.bytes.clone()).collect();
    assert_eq!(joined, audio);
    assert_eq!(&*frames[0].item_id, "item_1");
}

#[test]
fn pcm_frames_are_960_bytes() {
    let mut queue = OutputQueue::new(WireFormat::Pcm24);
    queue.push("r", "i", &vec![1u8; 2000]);
    assert_eq!(queue.take_frame().unwrap().bytes.len(), 960);
    assert_eq!(queue.take_frame().unwrap().bytes.len(), 960);
    // 80 bytes wait for more audio rather than going out short.
    assert_eq!(queue.take_frame(), None);
    assert_eq!(queue.queued_ms(), 1);
}

#[test]
fn the_tail_of_an_item_is_padded_with_codec_silence_when_it_ends() {
    let mut queue = pcmu();
    queue.push("r", "i", &[0x10; 200]);
    assert_eq!(drain(&mut queue).len(), 1);
    queue.finish_item("i");
    let tail = queue.take_frame().unwrap();
    assert_eq!(&tail.bytes[..40], &[0x10; 40]);
    assert!(
        tail.bytes[40..].iter().all(|&b| b == 0xFF),
        "µ-law silence is 0xFF"
    );
    let mut alaw = OutputQueue::new(WireFormat::Pcma);
    alaw.push("r", "i", &[0x10; 10]);
    alaw.finish_item("i");
    assert_eq!(alaw.take_frame().unwrap().bytes[10], 0xD5);
}

#[test]
fn a_frame_never_mixes_two_items() {
    let mut queue = pcmu();
    queue.push("r", "a", &[1; 100]);
    queue.push("r", "b", &[2; 160]);
    let frames = drain(&mut queue);
    assert_eq!(frames.len(), 2);
    assert_eq!(
        (
            &*frames[0].item_id,
            frames[0].bytes[99],
            frames[0].bytes[100]
        ),
        ("a", 1, 0xFF)
    );
    assert_eq!((&*frames[1].item_id, frames[1].bytes[0]), ("b", 2));
}

#[test]
fn played_counts_only_frames_taken_and_received_counts_bytes() {
    let mut queue = pcmu();
    queue.push("r", "i", &[0; 8 * 1000]);
    for _ in 0..10 {
        queue.take_frame();
    }
    assert_eq!(queue.played_ms("i"), 200);
    assert_eq!(queue.received_ms("i"), 1000);
    assert_eq!(queue.queued_ms(), 800);
    assert_eq!(queue.played_ms("other"), 0);
}

#[test]
fn clear_reports_the_playing_item_and_drops_the_rest() {
    let mut queue = pcmu();
    queue.push("r1", "i1", &[0; 8 * 1000]);
    queue.push("r1", "i2", &[0; 8 * 500 + 3]);
    for _ in 0..12 {
        queue.take_frame();
    }
    let cleared = queue.clear();
    assert_eq!(cleared.item_id.as_deref(), Some("i1"));
    assert_eq!((cleared.played_ms, cleared.received_ms), (240, 1000));
    assert_eq!(cleared.dropped_ms, 760 + 500);
    assert_eq!(cleared.truncate_at(), Some(("i1", 240)));
    assert_eq!(queue.take_frame(), None);
    assert_eq!(queue.queued_ms(), 0);
    // Late deltas of the interrupted response, or of a dropped item, are ignored.
    assert!(!queue.push("r1", "i1", &[0; 160]));
    assert!(!queue.push("r1", "i3", &[0; 160]));
    assert_eq!(queue.take_frame(), None);
    // The next reply plays normally.
    assert!(queue.push("r2", "i4", &[0; 160]));
    assert!(queue.take_frame().is_some());
}

#[test]
fn clear_before_anything_played_asks_for_no_truncation() {
    let mut queue = pcmu();
    queue.push("r", "i", &[0; 1600]);
    let cleared = queue.clear();
    assert!(cleared.interrupted());
    assert_eq!(cleared.item_id, None);
    assert_eq!(cleared.truncate_at(), None);
    assert_eq!(cleared.dropped_ms, 200);
    assert!(!queue.push("r", "i", &[0; 160]), "still filtered");
}

#[test]
fn clear_after_the_item_played_to_its_end_interrupts_nothing() {
    let mut queue = pcmu();
    queue.push("r", "i", &[0; 320]);
    queue.finish_item("i");
    drain(&mut queue);
    let cleared = queue.clear();
    assert!(!cleared.interrupted());
    assert_eq!(cleared.truncate_at(), None);
    assert!(
        queue.push("r", "i", &[0; 1]),
        "a finished reply is not marked cancelled"
    );
}

#[test]
fn clear_while_the_played_item_is_still_streaming_truncates_at_what_played() {
    // All received audio played, but the item is not done: the model is still talking.
    let mut queue = pcmu();
    queue.push("r", "i", &[0; 320]);
    drain(&mut queue);
    assert!(queue.expecting_more());
    let cleared = queue.clear();
    assert_eq!(cleared.truncate_at(), Some(("i", 40)));
}

#[test]
fn a_padded_last_frame_is_clamped_to_the_audio_received() {
    let mut queue = pcmu();
    queue.push("r", "i", &[0; 8 * 30]);
    drain(&mut queue);
    queue.push("r", "i", &[0; 8 * 5]);
    // 35 ms received; the tail goes out as a whole padded frame, so 40 ms "played".
    queue.finish_item("i");
    queue.push("r", "j", &[0; 1600]);
    queue.take_frame();
    assert_eq!(queue.played_ms("i"), 40);
    let cleared = queue.clear();
    assert_eq!(cleared.item_id.as_deref(), None, "i ended; j never started");
    assert_eq!(
        truncation(queue.played_ms("i"), queue.received_ms("i")),
        Some(35)
    );
}

#[test]
fn truncation_needs_played_audio_and_never_exceeds_what_was_received() {
    assert_eq!(truncation(0, 1500), None);
    assert_eq!(truncation(0, 0), None);
    assert_eq!(truncation(600, 1500), Some(600));
    assert_eq!(truncation(1520, 1500), Some(1500));
}

#[test]
fn cancel_response_drops_only_that_response() {
    let mut queue = pcmu();
    queue.push("old", "a", &[1; 400]);
    queue.push("new", "b", &[2; 160]);
    assert_eq!(queue.cancel_response("old"), 60);
    let frames = drain(&mut queue);
    assert_eq!(frames.len(), 1);
    assert_eq!(&*frames[0].response_id, "new");
    assert!(!queue.push("old", "c", &[1; 160]));
    assert!(queue.is_cancelled("old"));
}

#[test]
fn memory_of_items_and_cancellations_is_bounded() {
    let mut queue = pcmu();
    for n in 0..100 {
        let (r, i) = (format!("r{n}"), format!("i{n}"));
        queue.push(&r, &i, &[0; 160]);
        queue.cancel_response(&r);
    }
    let (tallies, cancelled) = queue.memory_len();
    assert!(tallies <= 32 && cancelled <= 32, "{tallies} {cancelled}");
    assert!(queue.is_cancelled("r99") && !queue.is_cancelled("r0"));
}

#[test]
fn g711_round_trip_is_bit_exact() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let mut conv = Converter::new(codec).unwrap();
        assert_eq!(conv.wire(), WireFormat::for_codec(codec));
        // Every code except µ-law's negative zero (0x7F, which decodes to 0 like 0xFF).
        let codes: Vec<u8> = (0..=255u8)
            .filter(|&c| !(codec == Codec::Pcmu && c == 0x7F))
            .collect();
        let mut pcm = Vec::new();
        conv.from_wire(&codes, &mut pcm);
        assert_eq!(pcm.len(), codes.len());
        let mut again = Vec::new();
        conv.to_wire(&pcm, &mut again);
        assert_eq!(again, codes, "{codec}");
    }
}

#[test]
fn opus_calls_convert_48k_frames_to_24k_wire_frames_and_back() {
    let mut conv = Converter::new(Codec::Opus).unwrap();
    assert_eq!(conv.wire(), WireFormat::Pcm24);
    let tone = sine_i16(1000.0, 48_000, 48_000, 8000.0);
    let mut wire = Vec::new();
    for frame in tone.chunks(960) {
        let before = wire.len();
        conv.to_wire(frame, &mut wire);
        assert_eq!(
            wire.len() - before,
            960,
            "one 20 ms wire frame per call frame"
        );
    }
    let mut back = Vec::new();
    for frame in wire.chunks(960) {
        let before = back.len();
        conv.from_wire(frame, &mut back);
        assert_eq!(back.len() - before, 960, "one 48 kHz frame per wire frame");
    }
    let steady: Vec<f32> = back[4800..43200].iter().map(|&s| f32::from(s)).collect();
    let hz = dominant_hz(&steady, 48_000);
    assert!((hz - 1000.0).abs() < 1.0, "{hz} Hz");
    let wire_pcm: Vec<f32> = wire
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    let hz = dominant_hz(&wire_pcm[2400..21600], 24_000);
    assert!((hz - 1000.0).abs() < 1.0, "wire {hz} Hz");
}

#[test]
fn a_prebuffered_queue_waits_for_its_jitter_buffer_and_again_after_running_dry() {
    let mut queue = OutputQueue::with_prebuffer(WireFormat::Pcmu, 120);
    queue.push("live", "live", &[1; 800]);
    assert_eq!(queue.take_frame(), None, "played before 120 ms were queued");
    queue.push("live", "live", &[2; 800]);
    for _ in 0..10 {
        assert!(queue.take_frame().is_some());
    }
    assert_eq!(queue.take_frame(), None);
    queue.push("live", "live", &[3; 160]);
    assert_eq!(queue.take_frame(), None, "played at once after running dry");
    let fresh = queue.fresh();
    assert_eq!((fresh.queued_ms(), fresh.format()), (0, WireFormat::Pcmu));
}

#[test]
fn trimming_drops_the_oldest_frames_beyond_the_cap() {
    let mut queue = OutputQueue::new(WireFormat::Pcmu);
    for n in 0..5u8 {
        queue.push("live", "live", &[n; 800]);
    }
    assert_eq!(queue.queued_ms(), 500);
    assert_eq!(queue.trim_to(300), 10);
    assert_eq!(queue.queued_ms(), 300);
    assert_eq!(
        queue.take_frame().unwrap().bytes[0],
        2,
        "the newest audio kept"
    );
    assert_eq!(queue.trim_to(300), 0);
}
