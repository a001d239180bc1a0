//! Issue 13: turn-taking measured on the wire. sipterm calls a sipp UAS that plays an agent's
//! turns (tone bursts at known times, `uas_turns.xml`) while sipterm's `--play` WAV speaks at
//! known times of its own; the greeting delay, each reply gap, the barge-ins and the agent's
//! stop latencies are therefore known, and what sipterm reports in `call_ended` must match
//! within ±40 ms (two frames). The measured errors are printed for the notes.

mod support;

use serde_json::Value;
use support::audio::linear_to_ulaw;
use support::events::{events, is};
use support::wav::{write_wav, Wav};
use support::{free_udp_port_block, rms_dbfs, RtpCapture, RtpPacket, ScratchDir, Sipp, Sipterm};

/// The agent's speech (sipp), in ms from the answer: a greeting, three replies, then two long
/// turns we talk over.
const REMOTE: &[(u64, u64)] = &[
    (1000, 2000),
    (3200, 4000),
    (5300, 6000),
    (7000, 7700),
    (8200, 9500),
    (10000, 11800),
];
/// Our speech (the `--play` WAV): three turns the agent replies to, two barge-ins.
const LOCAL: &[(u64, u64)] = &[
    (2200, 2600),
    (4200, 4500),
    (6100, 6300),
    (8600, 9000),
    (10300, 10600),
];
const TOLERANCE_MS: i64 = 40;
/// Seconds the call lasts: the 5 s silence after the last turn must pass.
const CALL_SECS: u64 = 17;

/// 8 kHz samples of a tone at −12 dBFS during `spans`, silence elsewhere, `total_ms` long.
fn pattern(spans: &[(u64, u64)], hz: f64, total_ms: u64) -> Vec<i16> {
    let n = (total_ms * 8) as usize;
    let mut pcm = vec![0i16; n];
    for &(from, to) in spans {
        for (i, s) in pcm
            .iter_mut()
            .enumerate()
            .take((to * 8) as usize)
            .skip((from * 8) as usize)
        {
            let t = i as f64 / 8000.0;
            *s = (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
        }
    }
    pcm
}

/// Speech segments as the wire carried them (from a capture): `[first voiced packet's time,
/// last voiced packet's time + 20 ms)`, in ms since `origin`; one voiced packet after an
/// unvoiced one starts a segment (the streams are clean tones, so no hangover is needed).
fn wire_segments(packets: &[RtpPacket], origin: std::time::Duration) -> Vec<(i64, i64)> {
    let mut audio: Vec<&RtpPacket> = packets
        .iter()
        .filter(|p| p.payload_type == 0 && p.payload.len() == 160)
        .collect();
    audio.sort_by_key(|p| p.time);
    let ms = |t: std::time::Duration| (t.as_micros() as i64 - origin.as_micros() as i64) / 1000;
    let mut segments = Vec::new();
    let mut open: Option<(i64, i64)> = None;
    for p in audio {
        let pcm = support::audio::decode_ulaw(&p.payload);
        let voiced = rms_dbfs(&pcm) >= -45.0;
        open = match (open, voiced) {
            (None, true) => Some((ms(p.time), ms(p.time) + 20)),
            (Some((s, _)), true) => Some((s, ms(p.time) + 20)),
            (Some(seg), false) => {
                segments.push(seg);
                None
            }
            (None, false) => None,
        };
    }
    segments.extend(open);
    segments
}

fn figure(t: &Value, name: &str) -> i64 {
    t[name]
        .as_i64()
        .unwrap_or_else(|| panic!("no {name} in {t}"))
}

fn list(t: &Value, name: &str) -> Vec<i64> {
    t[name]
        .as_array()
        .unwrap_or_else(|| panic!("no {name} in {t}"))
        .iter()
        .filter_map(Value::as_i64)
        .collect()
}

#[test]
fn greeting_reply_gaps_and_stop_latencies_match_the_known_pattern() {
    let dir = ScratchDir::new("turn-taking");
    let total_ms = (CALL_SECS + 5) * 1000;
    let remote: Vec<u8> = pattern(REMOTE, 1000.0, total_ms)
        .into_iter()
        .map(linear_to_ulaw)
        .collect();
    let wav = dir.join("ours.wav");
    write_wav(
        &wav,
        &Wav {
            rate: 8000,
            channels: 1,
            samples: pattern(LOCAL, 440.0, total_ms),
        },
    )
    .expect("write our WAV");

    let callee = Sipp::uas("uas_turns.xml")
        .file("turns.ulaw", remote)
        .spawn();
    let rtp = free_udp_port_block(20);
    // What each side sent, as the wire carried it: to sipterm (the agent's turns) and to
    // sipp (ours, whose first packet leaves at the media's frame 0).
    let to_us = RtpCapture::start_range(rtp..=rtp + 19);
    let to_agent = RtpCapture::start(callee.media_port());
    let target = format!("sip:agent@127.0.0.1:{}", callee.local_port());
    let args: Vec<String> = [
        "--headless",
        "--json",
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--from",
        "sip:tester@127.0.0.1",
        "--audio",
        "null",
        "--call",
        &target,
        "--play",
        &wav.display().to_string(),
        "--duration",
        &CALL_SECS.to_string(),
        "--rtp-ports",
        &format!("{rtp}-{}", rtp + 19),
    ]
    .map(String::from)
    .into();
    let mut sipterm = Sipterm::spawn(args);
    let code = sipterm.exit_code(std::time::Duration::from_secs(40));
    assert_eq!(code, 0, "sipterm's exit status\n{}", sipterm.report());
    let run = callee.wait();
    assert!(run.success(), "{run}\n{}", sipterm.report());

    let all = events(&sipterm);
    let ended = all
        .iter()
        .find(|e| is(e, "call_ended"))
        .unwrap_or_else(|| panic!("no call_ended\n{}", sipterm.report()));
    let t = &ended["media"]["turn_taking"];
    // Live figures came too, and voice changes for both sides.
    assert!(all.iter().any(|e| is(e, "turn_taking")), "no live figures");
    let voice = |side: &str| {
        all.iter()
            .filter(|e| is(e, "voice") && e["side"] == side)
            .count()
    };
    assert_eq!(voice("remote"), 2 * REMOTE.len(), "{}", sipterm.report());
    assert_eq!(voice("local"), 2 * LOCAL.len(), "{}", sipterm.report());

    let mut errors = Vec::new();
    let mut check = |what: &str, got: i64, want: u64| {
        let error = got - want as i64;
        errors.push(format!(
            "{what}: expected {want} ms, measured {got} ms, error {error:+} ms"
        ));
        assert!(
            error.abs() <= TOLERANCE_MS,
            "{what}: expected {want} ms, got {got} ms\n{t}"
        );
    };
    check("greeting", figure(t, "greeting_ms"), REMOTE[0].0);
    let gaps = list(t, "gaps_ms");
    let want_gaps = [
        REMOTE[1].0 - LOCAL[0].1,
        REMOTE[2].0 - LOCAL[1].1,
        REMOTE[3].0 - LOCAL[2].1,
    ];
    assert_eq!(gaps.len(), want_gaps.len(), "{t}");
    for (i, (&got, &want)) in gaps.iter().zip(&want_gaps).enumerate() {
        check(&format!("gap {}", i + 1), got, want);
    }
    assert_eq!(figure(t, "barge_ins"), 2, "{t}");
    let stops = list(t, "stop_latencies_ms");
    assert_eq!(stops.len(), 2, "{t}");
    check("stop latency 1", stops[0], REMOTE[4].1 - LOCAL[3].0);
    check("stop latency 2", stops[1], REMOTE[5].1 - LOCAL[4].0);
    assert_eq!(figure(t, "not_stopped_within_1s"), 1, "{t}");
    assert_eq!(figure(t, "double_talk"), 2, "{t}");
    check(
        "double talk",
        figure(t, "double_talk_ms"),
        (LOCAL[3].1 - LOCAL[3].0) + (LOCAL[4].1 - LOCAL[4].0),
    );
    assert_eq!(figure(t, "long_silences"), 1, "{t}");
    eprintln!(
        "turn-taking errors against the known pattern:\n  {}",
        errors.join("\n  ")
    );

    // Against the wire: the same figures from the capture's packet times, with our first
    // packet as the origin. sipterm must agree to about one frame.
    let ours = to_agent.stop();
    let origin = ours
        .iter()
        .filter(|p| p.payload_type == 0)
        .map(|p| p.time)
        .min()
        .expect("sipterm's RTP reached sipp");
    let local = wire_segments(&ours, origin);
    let remote = wire_segments(&to_us.stop(), origin);
    assert_eq!(
        local.len(),
        LOCAL.len(),
        "our speech on the wire: {local:?}"
    );
    assert_eq!(
        remote.len(),
        REMOTE.len(),
        "the agent's on the wire: {remote:?}"
    );
    let wire = [
        ("greeting", figure(t, "greeting_ms"), remote[0].0),
        ("gap 1", gaps[0], remote[1].0 - local[0].1),
        ("gap 2", gaps[1], remote[2].0 - local[1].1),
        ("gap 3", gaps[2], remote[3].0 - local[2].1),
        ("stop latency 1", stops[0], remote[4].1 - local[3].0),
        ("stop latency 2", stops[1], remote[5].1 - local[4].0),
    ];
    let mut lines = Vec::new();
    for (what, got, on_wire) in wire {
        lines.push(format!(
            "{what}: wire {on_wire} ms, sipterm {got} ms, error {:+} ms",
            got - on_wire
        ));
    }
    eprintln!(
        "turn-taking errors against the capture:\n  {}",
        lines.join("\n  ")
    );
    eprintln!("wire segments: ours {local:?}, the agent's {remote:?}");
    // Our boundaries are on the frame grid; the agent's are rounded to the nearest frame
    // (±10 ms), plus a millisecond or two of timer and capture noise.
    for (what, got, on_wire) in wire {
        assert!(
            (got - on_wire).abs() <= 20,
            "{what}: the wire says {on_wire} ms, sipterm {got} ms\n{}",
            lines.join("\n")
        );
    }
}
