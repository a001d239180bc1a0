//! The voice bridge end to end: sipp calls sipterm through Kamailio with `--auto-answer
//! --bridge`, and the Realtime API is the faithful mock in tests/support (CI cannot reach the
//! real one; the real URL stays sipterm's default). Failures must never end the call, and the
//! API key must never be printed.

mod support;

use std::time::Duration;
use support::audio::assert_tone;
use support::events::{events, is, wait_call_ended, wait_event, wait_registered};
use support::realtime_mock::{Fault, KeyRefusal, MockConfig, RealtimeMock};
use support::sipterm::registered_args;
use support::wav::read_wav;
use support::{Kamailio, RtpCapture, Sipp, Sipterm, Transport};

const ALICE: (&str, &str) = ("alice", "wonderland");

fn bridged_alice(kamailio: &Kamailio, mock: &RealtimeMock, key: &str, extra: &[&str]) -> Sipterm {
    let mut args = registered_args(kamailio, ALICE.0, ALICE.1, Transport::Udp);
    args.extend(
        [
            "--json",
            "--audio",
            "null",
            "--bridge",
            "--realtime-url",
            &mock.url(),
            "--api-key",
            key,
        ]
        .map(String::from),
    );
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut sipterm = Sipterm::spawn(args);
    wait_registered(&mut sipterm);
    sipterm
}

/// A caller that says something (1 s of tone) and then listens (3 s of silence), looped.
fn talking_caller(kamailio: &Kamailio, call_ms: u64) -> Sipp {
    Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(ALICE.0)
        .key("call_ms", call_ms)
        .tone_bursts(1.0, 3.0)
}

#[test]
fn bridged_call_talks_to_the_model_with_transcripts_everywhere() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mock = RealtimeMock::start(MockConfig::default());
    let dir = support::ScratchDir::new("bridge-rec");
    let record = dir.path().display().to_string();
    let mut sipterm = bridged_alice(
        &kamailio,
        &mock,
        mock.api_key(),
        &[
            "--voice",
            "shimmer",
            "--instructions",
            "Be brief.",
            "--record",
            &record,
        ],
    );
    let media_port = support::free_udp_port_block(4);
    let capture = RtpCapture::start(media_port);
    let run = talking_caller(&kamailio, 6000).media_port(media_port).run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(&mut sipterm);

    // What the model was asked for.
    let update = mock
        .session_updates()
        .into_iter()
        .next()
        .expect("a session.update");
    assert_eq!(update["audio"]["output"]["voice"], "shimmer", "{update}");
    assert_eq!(update["instructions"], "Be brief.", "{update}");
    assert_eq!(
        update["audio"]["input"]["format"]["type"], "audio/pcmu",
        "{update}"
    );
    assert_eq!(
        update["audio"]["output"]["format"]["type"], "audio/pcmu",
        "{update}"
    );

    // The caller's audio streamed continuously, in real time, for the whole call.
    let appended = mock.appended_audio();
    let call_ms = ended["duration_ms"].as_f64().unwrap();
    let total = appended.total_ms();
    assert!(
        (total - call_ms).abs() <= call_ms * 0.05,
        "appended {total:.0} ms of audio in a {call_ms:.0} ms call"
    );
    assert!(
        appended.max_gap() <= Duration::from_millis(100),
        "a gap of {:?} between appends",
        appended.max_gap()
    );

    // The model's reply reached the caller.
    let packets = capture.stop();
    let heard: Vec<i16> = support::decode_audio(&packets)
        .chunks(160)
        .filter(|frame| support::rms_dbfs(frame) > -40.0)
        .flatten()
        .copied()
        .collect();
    assert!(
        heard.len() >= 8000,
        "only {} samples of AI audio at sipp",
        heard.len()
    );
    assert_tone(
        &heard,
        8000,
        mock.config().tone_hz,
        15.0,
        "the model's voice at sipp",
    );

    // Both sides' words: JSON events and the transcript file beside the recording.
    let all = events(&sipterm);
    let finals = |speaker: &str| {
        all.iter()
            .filter(|e| is(e, "transcript") && e["speaker"] == speaker && e["final"] == true)
            .map(|e| e["text"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    assert!(
        finals("caller")
            .iter()
            .any(|t| t.contains(&mock.config().caller_transcript)),
        "{}",
        sipterm.report()
    );
    assert!(
        finals("ai").iter().any(|t| t.contains("mock assistant")),
        "{}",
        sipterm.report()
    );
    let wav = ended["media"]["recording"].as_str().expect("a recording");
    let text = std::fs::read_to_string(std::path::Path::new(wav).with_extension("txt")).unwrap();
    assert!(text.contains("caller: hello from the caller"), "{text}");
    assert!(text.contains("AI: "), "{text}");
    assert!(read_wav(std::path::Path::new(wav)).is_ok());
    assert!(all.iter().any(|e| is(e, "bridge") && e["on"] == true));
    assert!(
        all.iter()
            .any(|e| is(e, "levels") && e["ai"]["rms_dbfs"].as_f64() > Some(-40.0)),
        "the AI meter never moved"
    );
}

#[test]
fn refused_key_is_explained_never_retried_and_the_call_survives() {
    let kamailio = Kamailio::start(&[ALICE]);
    for refusal in [KeyRefusal::InBand, KeyRefusal::Http401] {
        let mock = RealtimeMock::start(MockConfig {
            key_refusal: refusal,
            ..MockConfig::default()
        });
        let key = "sk-wrong-key-4242424242";
        let mut sipterm = bridged_alice(&kamailio, &mock, key, &[]);
        let sipp = talking_caller(&kamailio, 4000).spawn();
        let failure = wait_event(&mut sipterm, "the bridge failing", |e| {
            is(e, "bridge") && e["on"] == false
        });
        let reason = failure["reason"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        assert!(
            reason.contains("key") || reason.contains("401"),
            "{refusal:?}: {failure}"
        );
        let run = sipp.wait();
        assert!(
            run.success(),
            "{refusal:?}: the call did not survive\n{run}"
        );
        let ended = wait_call_ended(&mut sipterm);
        assert_eq!(ended["reason"], "remote_hangup");
        assert_eq!(
            mock.connections().len(),
            1,
            "{refusal:?}: a refused key was retried"
        );
        sipterm.interrupt();
        assert_eq!(sipterm.exit_code(Duration::from_secs(20)), 0);
        let everything = format!("{}{}", sipterm.stdout(), sipterm.stderr());
        assert!(
            !everything.contains(key),
            "{refusal:?}: the key was printed"
        );
    }
}

#[test]
fn dropped_and_expired_sessions_reconnect_and_the_call_goes_on() {
    let kamailio = Kamailio::start(&[ALICE]);
    for fault in [
        Fault::DropAfter(Duration::from_millis(1500)),
        Fault::ExpireAfter(Duration::from_millis(1500)),
    ] {
        let mock = RealtimeMock::start(MockConfig {
            fault: Some(fault),
            fault_connections: 1,
            ..MockConfig::default()
        });
        let mut sipterm = bridged_alice(&kamailio, &mock, mock.api_key(), &[]);
        let run = talking_caller(&kamailio, 6000).run();
        assert!(run.success(), "{fault:?}: the call did not survive\n{run}");
        wait_call_ended(&mut sipterm);
        assert!(mock.connections().len() >= 2, "{fault:?}: no reconnect");
        let all = events(&sipterm);
        let readies = all
            .iter()
            .filter(|e| is(e, "bridge") && e["on"] == true)
            .count();
        assert!(readies >= 2, "{fault:?}: {}", sipterm.report());
        assert!(
            sipterm.stdout().contains("reconnecting as a new session"),
            "{fault:?}: {}",
            sipterm.report()
        );
        let secret = mock.api_key().to_string();
        assert!(!sipterm.stdout().contains(&secret) && !sipterm.stderr().contains(&secret));
    }
}

#[test]
fn missing_key_is_explained_when_the_bridge_starts() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mock = RealtimeMock::start(MockConfig::default());
    let mut args = registered_args(&kamailio, ALICE.0, ALICE.1, Transport::Udp);
    args.extend(
        [
            "--json",
            "--audio",
            "echo",
            "--bridge",
            "--realtime-url",
            &mock.url(),
        ]
        .map(String::from),
    );
    let mut sipterm = Sipterm::spawn(args);
    wait_registered(&mut sipterm);
    let run = talking_caller(&kamailio, 2000).run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let failure = wait_event(&mut sipterm, "the bridge failing", |e| {
        is(e, "bridge") && e["on"] == false
    });
    assert!(
        failure["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("OPENAI_API_KEY")
            || failure["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("key"),
        "{failure}"
    );
    assert!(mock.connections().is_empty(), "connected without a key");
}
