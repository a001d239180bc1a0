//! How much delay the voice bridge adds, measured on the wire during a 60 s bridged call (sipp
//! calls sipterm through Kamailio with `--auto-answer --bridge`; the Realtime API is the mock):
//!
//! - rtp_in->append: an RTP packet from the caller arriving at sipterm's RTP port (dumpcap) to
//!   the `input_audio_buffer.append` carrying the same bytes at the mock (µ-law passes through
//!   unchanged). The caller plays bursts of noise that never repeat, so each 20 ms frame is
//!   matched by content. sipterm forwards each packet as it arrives once it is in order (no
//!   jitter buffer on this path; on loopback nothing is reordered, so nothing is held).
//! - delta->rtp_out: the mock sending a `response.output_audio.delta` to the first RTP packet
//!   carrying its first byte leaving sipterm for sipp's media port (dumpcap), matched by content
//!   (the mock's tone is set to 480.9 Hz, whose 20 ms frames do not repeat within a reply).
//!   Reported for the first delta of each reply (nothing queued: the bridge's own delay) and
//!   for every delta (later ones wait behind the reply's earlier audio, as the mock streams at
//!   4x real time).
//!
//! Clocks: capture timestamps are wall clock; the mock's stamps are offsets from its start,
//! made wall clock with `RealtimeMock::started_at`. Prints medians and p99 (and for rtp_in->append
//! p90, p95 and the slowest frames with when they arrived); no pass/fail.
//! Run: `cargo bench --bench bridge_latency`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use support::audio::linear_to_ulaw;
use support::realtime_mock::{Direction, MockConfig, RealtimeMock};
use support::sipterm::registered_args;
use support::{Kamailio, RtpCapture, RtpPacket, ScratchDir, Sipp, Sipterm, Transport};

const CALL_MS: u64 = 60_000;
/// Caller: this much noise, then silence, repeated (a turn every 2.5 s).
const BURST_S: f64 = 0.5;
const PAUSE_S: f64 = 2.0;
const FRAME_BYTES: usize = 160;

fn main() {
    let kamailio = Kamailio::start(&[("alice", "wonderland")]);
    let mock = RealtimeMock::start(MockConfig {
        tone_hz: 480.9,
        tone_ms: 800,
        ..MockConfig::default()
    });
    let mut args = registered_args(&kamailio, "alice", "wonderland", Transport::Udp);
    let rtp = args.iter().position(|a| a == "--rtp-ports").unwrap() + 1;
    let (lo, hi) = args[rtp].split_once('-').unwrap();
    let rtp_ports = lo.parse::<u16>().unwrap()..=hi.parse::<u16>().unwrap();
    args.extend(
        [
            "--json",
            "--audio",
            "null",
            "--auto-answer",
            "--bridge",
            "--realtime-url",
            &mock.url(),
            "--api-key",
            mock.api_key(),
        ]
        .map(String::from),
    );
    let mut sipterm = Sipterm::spawn(args);
    sipterm
        .wait_for_stdout(r#""state":"registered""#, Duration::from_secs(30))
        .unwrap();

    let dir = ScratchDir::new("bridge-latency");
    let scenario = caller_scenario(&dir);
    let media_port = support::free_udp_port_block(4);
    let to_sipterm = RtpCapture::start_range(rtp_ports);
    let to_sipp = RtpCapture::start(media_port);
    let run = Sipp::uac(scenario.to_str().unwrap(), kamailio.addr())
        .service("alice")
        .key("call_ms", CALL_MS)
        .media_port(media_port)
        .timeout(Duration::from_millis(CALL_MS) + Duration::from_secs(60))
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    sipterm
        .wait_for_stdout(r#""event":"call_ended""#, Duration::from_secs(20))
        .unwrap();
    let caller_packets = to_sipterm.stop();
    let ai_packets = to_sipp.stop();
    sipterm.interrupt();
    sipterm.wait(Duration::from_secs(10));

    let origin = mock.started_at().duration_since(UNIX_EPOCH).unwrap();
    let log = mock.log();

    // (a) Caller RTP in -> append out.
    let mut arrivals: HashMap<&[u8], Duration> = HashMap::new();
    for p in caller_packets
        .iter()
        .filter(|p| p.payload_type == 0 && p.src.port() == media_port)
    {
        arrivals.entry(&p.payload).or_insert(p.time);
    }
    let mut inbound = Vec::new();
    let mut inbound_at = Vec::new();
    let mut voiced_appends = 0;
    for e in log
        .iter()
        .filter(|e| e.direction == Direction::FromClient && e.kind == "input_audio_buffer.append")
    {
        let bytes = BASE64
            .decode(e.json["audio"].as_str().unwrap_or_default())
            .unwrap_or_default();
        if silent(&bytes) {
            continue;
        }
        voiced_appends += 1;
        if let Some(&arrived) = arrivals.get(bytes.as_slice()) {
            inbound.push((origin + e.at).saturating_sub(arrived));
            inbound_at.push(arrived);
        }
    }

    // (b) Delta in -> first RTP packet out carrying it, reply by reply.
    let server: Vec<_> = log
        .iter()
        .filter(|e| e.direction == Direction::FromServer)
        .collect();
    let created: Vec<_> = server
        .iter()
        .filter(|e| e.kind == "response.created")
        .collect();
    let out: Vec<&RtpPacket> = ai_packets
        .iter()
        .filter(|p| p.payload_type == 0 && !silent(&p.payload))
        .collect();
    let (mut first_deltas, mut all_deltas, mut unmatched) = (Vec::new(), Vec::new(), 0);
    for (i, reply) in created.iter().enumerate() {
        let id = reply.json["response"]["id"].as_str().unwrap_or_default();
        let from = origin + reply.at;
        let to = created
            .get(i + 1)
            .map_or(Duration::MAX, |next| origin + next.at);
        let deltas: Vec<(Duration, Vec<u8>)> = server
            .iter()
            .filter(|e| e.kind == "response.output_audio.delta" && e.json["response_id"] == id)
            .map(|e| {
                let bytes = BASE64
                    .decode(e.json["delta"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                (origin + e.at, bytes)
            })
            .collect();
        let stream: Vec<u8> = deltas.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        let mut frames: Vec<Vec<u8>> = stream.chunks(FRAME_BYTES).map(<[u8]>::to_vec).collect();
        if let Some(last) = frames.last_mut() {
            last.resize(FRAME_BYTES, 0xFF);
        }
        // Frame k goes out after frame k-1: match in order inside the reply's window.
        let window: Vec<&&RtpPacket> = out
            .iter()
            .filter(|p| p.time >= from && p.time < to)
            .collect();
        let mut sent_at = Vec::with_capacity(frames.len());
        let mut next = 0;
        for frame in &frames {
            match window[next..].iter().position(|p| p.payload == *frame) {
                Some(found) => {
                    sent_at.push(Some(window[next + found].time));
                    next += found + 1;
                }
                None => sent_at.push(None),
            }
        }
        let mut offset = 0;
        for (n, (at, bytes)) in deltas.iter().enumerate() {
            match sent_at.get(offset / FRAME_BYTES).copied().flatten() {
                Some(sent) => {
                    let latency = sent.saturating_sub(*at);
                    all_deltas.push(latency);
                    if n == 0 {
                        first_deltas.push(latency);
                    }
                }
                None => unmatched += 1,
            }
            offset += bytes.len();
        }
    }

    assert!(
        inbound.len() * 10 >= voiced_appends * 9 && !inbound.is_empty(),
        "matched only {} of {voiced_appends} voiced appends to caller packets",
        inbound.len()
    );
    assert!(
        !first_deltas.is_empty() && unmatched * 10 <= all_deltas.len(),
        "{} deltas matched to RTP packets, {unmatched} not",
        all_deltas.len()
    );
    // The slowest frames and when they arrived: frames that arrived together and went out
    // together late point at a stalled process (a loaded machine), not at a hold.
    if let Some(&first) = inbound_at.iter().min() {
        let mut slow: Vec<_> = inbound.iter().zip(&inbound_at).collect();
        slow.sort_by(|x, y| y.0.cmp(x.0));
        let listed: Vec<String> = slow
            .iter()
            .take(6)
            .map(|(latency, at)| {
                format!(
                    "{:.1} ms at {:.2} s",
                    latency.as_secs_f64() * 1000.0,
                    (**at - first).as_secs_f64()
                )
            })
            .collect();
        println!(
            "bridge_latency: rtp_in->append p90 {:.1} ms p95 {:.1} ms; slowest: {}",
            quantile(&inbound, 0.90),
            quantile(&inbound, 0.95),
            listed.join(", ")
        );
    }
    let (a, b, f) = (stats(inbound), stats(all_deltas), stats(first_deltas));
    println!(
        "bridge_latency: rtp_in->append median {:.1} ms p99 {:.1} ms over {} frames; \
         delta->rtp_out median {:.1} ms p99 {:.1} ms over {} deltas",
        a.0, a.1, a.2, b.0, b.1, b.2
    );
    println!(
        "bridge_latency: first delta of a reply->rtp_out median {:.1} ms p99 {:.1} ms over {} replies \
         ({} deltas unmatched)",
        f.0, f.1, f.2, unmatched
    );
}

/// A copy of uac_tone.xml streaming `caller.ulaw` (absolute path) instead of the 1 kHz tone:
/// bursts of noise from a never-repeating generator, so every voiced frame is unique.
fn caller_scenario(dir: &ScratchDir) -> std::path::PathBuf {
    let audio = dir.join("caller.ulaw");
    let mut bytes = Vec::new();
    let mut seed: u64 = 0x5EED_1234_ABCD_0001;
    let total_s = CALL_MS as f64 / 1000.0 + 5.0;
    let cycles = (total_s / (BURST_S + PAUSE_S)).ceil() as usize;
    for _ in 0..cycles {
        for _ in 0..(BURST_S * 8000.0) as usize {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let sample = ((seed >> 48) as i16) / 4; // about -15 dBFS
            bytes.push(linear_to_ulaw(sample));
        }
        bytes.extend(std::iter::repeat_n(0xFFu8, (PAUSE_S * 8000.0) as usize));
    }
    std::fs::write(&audio, bytes).expect("write the caller's audio");
    let template = support::sipp::scenarios_dir().join("uac_tone.xml");
    let text = std::fs::read_to_string(&template).expect("read uac_tone.xml");
    let needle = "rtp_stream=\"tone_1khz.ulaw,";
    assert!(
        text.contains(needle),
        "uac_tone.xml no longer streams its tone file"
    );
    let text = text.replace(needle, &format!("rtp_stream=\"{},", audio.display()));
    let scenario = dir.join("uac_bridge_latency.xml");
    std::fs::write(&scenario, text).expect("write the scenario");
    scenario
}

fn silent(payload: &[u8]) -> bool {
    payload.iter().all(|&b| b == 0xFF)
}

/// The `q` quantile of `values` (nearest rank) in ms; 0 for none.
fn quantile(values: &[Duration], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort();
    let i = ((sorted.len().max(1) - 1) as f64 * q).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// (median, p99, count) in ms.
fn stats(mut values: Vec<Duration>) -> (f64, f64, usize) {
    values.sort();
    let pick = |q: f64| {
        let i = ((values.len() - 1) as f64 * q).round() as usize;
        values[i].as_secs_f64() * 1000.0
    };
    (pick(0.5), pick(0.99), values.len())
}
