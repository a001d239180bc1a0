//! The voice bridge on GPT-Live end to end: sipp calls sipterm through Kamailio with
//! `--auto-answer --bridge --api live`, and the mock in tests/support speaks GPT-Live on its
//! `/v1/live/sessions` path. As with the Realtime bridge (tests/bridge.rs): failures never end
//! the call, refusals are never retried, a dropped socket starts a new session, and the API
//! key is never printed.

mod support;

use std::time::Duration;
use support::audio::assert_tone;
use support::events::{events, is, wait_call_ended, wait_event, wait_registered};
use support::realtime_mock::{Fault, KeyRefusal, MockConfig, RealtimeMock};
use support::sipterm::{registered_args, sip_port};
use support::wav::{write_wav, Wav};
use support::{Baresip, BaresipConfig, Kamailio, RtpCapture, Sipp, Sipterm, Tone, Transport};

const ALICE: (&str, &str) = ("alice", "wonderland");

/// The last `bridge_stats` event of call 1: the figures as the bridge ended.
fn final_bridge_stats(sipterm: &Sipterm) -> serde_json::Value {
    events(sipterm)
        .into_iter()
        .rfind(|e| is(e, "bridge_stats") && e["call"] == 1)
        .unwrap_or_else(|| panic!("no bridge_stats event:\n{}", sipterm.report()))
}

/// Headless, JSON, no sound card, every answered call bridged to the mock's Live endpoint.
fn live_alice(kamailio: &Kamailio, mock: &RealtimeMock, key: &str, extra: &[&str]) -> Sipterm {
    let mut sipterm = Sipterm::spawn(live_args(kamailio, mock, key, extra));
    wait_registered(&mut sipterm);
    sipterm
}

fn live_args(kamailio: &Kamailio, mock: &RealtimeMock, key: &str, extra: &[&str]) -> Vec<String> {
    let mut args = registered_args(kamailio, ALICE.0, ALICE.1, Transport::Udp);
    args.extend(
        [
            "--json",
            "--audio",
            "null",
            "--bridge",
            "--api",
            "live",
            "--realtime-url",
            &mock.live_url(),
            "--api-key",
            key,
        ]
        .map(String::from),
    );
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// A caller that says something (1 s of tone) and then listens (3 s of silence), looped.
fn talking_caller(kamailio: &Kamailio, call_ms: u64) -> Sipp {
    Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(ALICE.0)
        .key("call_ms", call_ms)
        .tone_bursts(1.0, 3.0)
}

fn assert_key_hidden(sipterm: &Sipterm, key: &str, what: &str) {
    let everything = format!("{}{}", sipterm.stdout(), sipterm.stderr());
    assert!(!everything.contains(key), "{what}: the key was printed");
}

/// The bridge's failure event and its reason, lower-cased.
fn bridge_failure(sipterm: &mut Sipterm) -> String {
    let failure = wait_event(sipterm, "the bridge failing", |e| {
        is(e, "bridge") && e["on"] == false
    });
    failure["reason"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase()
}

#[test]
fn live_call_streams_both_ways_with_transcripts_and_turns() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mock = RealtimeMock::start(MockConfig::default());
    let dir = support::ScratchDir::new("bridge-live-rec");
    let record = dir.path().display().to_string();
    let mut sipterm = live_alice(
        &kamailio,
        &mock,
        mock.api_key(),
        &[
            "--voice",
            "juni",
            "--instructions",
            "Be brief.",
            "--record",
            &record,
        ],
    );
    let media_port = support::free_udp_port_block(4);
    let capture = RtpCapture::start(media_port);
    let run = talking_caller(&kamailio, 7000).media_port(media_port).run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(&mut sipterm);

    // What the session was started with: the voice, the instructions, G.711 as it is.
    let starts = mock.live_starts();
    let start = starts.first().expect("a session.start");
    assert_eq!(start["model"], "gpt-live-1", "{start}");
    assert_eq!(start["audio"]["output"]["voice"], "juni", "{start}");
    assert_eq!(start["instructions"], "Be brief.", "{start}");
    assert_eq!(
        (
            start["audio"]["format"]["type"].as_str(),
            start["audio"]["format"]["rate"].as_u64()
        ),
        (Some("audio/pcmu"), Some(8000)),
        "{start}"
    );
    let connections = mock.connections();
    assert_eq!(connections.len(), 1);
    assert!(
        !connections[0].uri.contains('?'),
        "a query on the Live path: {}",
        connections[0].uri
    );

    // The caller's audio streamed continuously, silence included, for the whole call.
    let appended = mock.appended_audio();
    let call_ms = ended["duration_ms"].as_f64().unwrap();
    let total = appended.total_ms();
    assert!(
        (total - call_ms).abs() <= call_ms * 0.05,
        "appended {total:.0} ms of audio in a {call_ms:.0} ms call"
    );
    assert!(
        appended.max_gap() <= Duration::from_millis(250),
        "a gap of {:?} between appends",
        appended.max_gap()
    );
    let loud = appended
        .samples()
        .chunks(160)
        .filter(|frame| support::rms_dbfs(frame) > -40.0)
        .count();
    assert!(
        loud >= 40,
        "only {loud} loud caller frames reached the mock"
    );

    // The model's voice reached the caller: non-silent RTP carrying its tone.
    let packets = capture.stop();
    let heard: Vec<i16> = support::decode_audio(&packets)
        .chunks(160)
        .filter(|frame| support::rms_dbfs(frame) > -40.0)
        .flatten()
        .copied()
        .collect();
    assert!(
        heard.len() >= 8000,
        "only {} samples of AI audio at sipp\n{}",
        heard.len(),
        sipterm.report()
    );
    assert_tone(
        &heard,
        8000,
        mock.config().tone_hz,
        15.0,
        "the model's voice at sipp",
    );
    assert!(mock.live_stats().replies >= 1);

    // Both sides' words, as whole lines.
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

    // Every line that began was closed, the one cut off by the hang-up too: nothing is lost.
    for speaker in ["caller", "ai"] {
        let items = |finals_only: bool| {
            all.iter()
                .filter(|e| is(e, "transcript") && e["speaker"] == speaker)
                .filter(|e| !finals_only || e["final"] == true)
                .filter_map(|e| e["item"].as_str().map(str::to_owned))
                .collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(items(false), items(true), "{speaker}'s lines left open");
    }

    // The transcript file beside the recording, in conversation order.
    let wav = ended["media"]["recording"].as_str().expect("a recording");
    let text = std::fs::read_to_string(std::path::Path::new(wav).with_extension("txt")).unwrap();
    let caller_at = text.find("caller: hello from the caller");
    let ai_at = text.find("AI: Hello! This is the mock assistant.");
    assert!(
        caller_at.is_some() && ai_at.is_some() && caller_at < ai_at,
        "{text}"
    );

    // Turns derived from the audio; nobody talked over anybody.
    let stats = final_bridge_stats(&sipterm);
    assert!(stats["turns"].as_u64() >= Some(1), "{stats}");
    let mean = stats["mean_latency_ms"].as_u64().expect("a mean latency");
    assert!(mean > 0 && mean < 3000, "{stats}");
    assert_eq!(
        (stats["barge_ins"].as_u64(), stats["reconnects"].as_u64()),
        (Some(0), Some(0)),
        "{stats}"
    );
    // The loss counts are reported (their values depend on how busy the machine is).
    assert!(stats["ai_frames_dropped"].as_u64().is_some(), "{stats}");
    assert!(stats["caller_frames_lost"].as_u64().is_some(), "{stats}");
    assert_key_hidden(&sipterm, mock.api_key(), "a good call");
}

#[test]
fn live_barge_in_is_counted_when_the_caller_talks_over_the_model() {
    let kamailio = Kamailio::start(&[ALICE]);
    // A long reply: the caller's next burst lands in the middle of it.
    let mock = RealtimeMock::start(MockConfig {
        tone_ms: 6000,
        ..MockConfig::default()
    });
    let mut sipterm = live_alice(&kamailio, &mock, mock.api_key(), &[]);
    let run = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(ALICE.0)
        .key("call_ms", 6500)
        .tone_bursts(1.0, 2.4)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    wait_call_ended(&mut sipterm);
    assert!(mock.live_barge_ins() >= 1, "{:?}", mock.live_stats());
    let stats = final_bridge_stats(&sipterm);
    assert!(stats["barge_ins"].as_u64() >= Some(1), "{stats}");
    assert!(
        sipterm.stdout().contains("the caller interrupted the AI"),
        "{}",
        sipterm.report()
    );
}

#[test]
fn refused_key_on_live_is_explained_never_retried_and_the_call_survives() {
    let kamailio = Kamailio::start(&[ALICE]);
    for refusal in [KeyRefusal::InBand, KeyRefusal::Http401] {
        let mock = RealtimeMock::start(MockConfig {
            key_refusal: refusal,
            ..MockConfig::default()
        });
        let key = "sk-wrong-live-key-4242424242";
        let mut sipterm = live_alice(&kamailio, &mock, key, &[]);
        let sipp = talking_caller(&kamailio, 4000).spawn();
        let reason = bridge_failure(&mut sipterm);
        assert!(
            reason.contains("--api-key") && reason.contains("live"),
            "{refusal:?}: {reason}"
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
        assert_key_hidden(&sipterm, key, &format!("{refusal:?}"));
    }
}

#[test]
fn exhausted_balance_and_content_endings_are_explained_and_never_retried() {
    let kamailio = Kamailio::start(&[ALICE]);
    for (fault, words) in [
        (Fault::CreditExhausted, "credit"),
        (
            Fault::LiveClosedAfter(Duration::from_millis(1000), "content"),
            "content policy",
        ),
    ] {
        let mock = RealtimeMock::start(MockConfig {
            fault: Some(fault),
            ..MockConfig::default()
        });
        let mut sipterm = live_alice(&kamailio, &mock, mock.api_key(), &[]);
        // Long enough for a retry to show: the mock drops the refused socket 2 s later.
        let sipp = talking_caller(&kamailio, 5000).spawn();
        let reason = bridge_failure(&mut sipterm);
        assert!(reason.contains(words), "{fault:?}: {reason}");
        let run = sipp.wait();
        assert!(run.success(), "{fault:?}: the call did not survive\n{run}");
        wait_call_ended(&mut sipterm);
        assert_eq!(mock.connections().len(), 1, "{fault:?}: retried");
        assert_key_hidden(&sipterm, mock.api_key(), &format!("{fault:?}"));
    }
}

#[test]
fn unknown_live_model_names_the_live_model_and_is_not_retried() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mock = RealtimeMock::start(MockConfig::default());
    let mut sipterm = live_alice(
        &kamailio,
        &mock,
        mock.api_key(),
        &["--model", "gpt-realtime-2.1"],
    );
    let sipp = talking_caller(&kamailio, 3000).spawn();
    let reason = bridge_failure(&mut sipterm);
    assert!(
        reason.contains("try --model gpt-live-1") && reason.contains("--api realtime"),
        "{reason}"
    );
    let run = sipp.wait();
    assert!(run.success(), "the call did not survive\n{run}");
    wait_call_ended(&mut sipterm);
    assert_eq!(mock.connections().len(), 1, "an unknown model was retried");
}

#[test]
fn dropped_and_expired_live_sessions_start_anew_and_the_call_goes_on() {
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
        let mut sipterm = live_alice(&kamailio, &mock, mock.api_key(), &[]);
        let run = talking_caller(&kamailio, 6000).run();
        assert!(run.success(), "{fault:?}: the call did not survive\n{run}");
        wait_call_ended(&mut sipterm);
        assert!(mock.connections().len() >= 2, "{fault:?}: no reconnect");
        assert!(
            mock.live_starts().len() >= 2,
            "{fault:?}: no second session.start"
        );
        let readies = events(&sipterm)
            .iter()
            .filter(|e| is(e, "bridge") && e["on"] == true)
            .count();
        assert!(readies >= 2, "{fault:?}: {}", sipterm.report());
        assert!(
            sipterm.stdout().contains("reconnecting as a new session"),
            "{fault:?}: {}",
            sipterm.report()
        );
        let stats = final_bridge_stats(&sipterm);
        assert!(
            stats["reconnects"].as_u64() >= Some(1),
            "{fault:?}: {stats}"
        );
        assert_key_hidden(&sipterm, mock.api_key(), &format!("{fault:?}"));
    }
}

#[test]
fn ctrl_c_closes_the_live_session_politely() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mock = RealtimeMock::start(MockConfig::default());
    let mut sipterm = live_alice(&kamailio, &mock, mock.api_key(), &[]);
    let sipp = Sipp::uac("uac_wait_bye.xml", kamailio.addr())
        .service(ALICE.0)
        .tone_bursts(1.0, 3.0)
        .timeout(Duration::from_secs(60))
        .spawn();
    wait_event(&mut sipterm, "the AI's first words", |e| {
        is(e, "transcript") && e["speaker"] == "ai" && e["final"] == true
    });
    sipterm.interrupt();
    assert_eq!(
        sipterm.exit_code(Duration::from_secs(20)),
        0,
        "{}",
        sipterm.report()
    );
    let run = sipp.wait();
    assert!(run.success(), "the caller got no BYE\n{run}");
    let closes = mock
        .client_events()
        .iter()
        .filter(|e| e.kind == "session.close")
        .count();
    assert_eq!(closes, 1, "no session.close");
    assert_eq!(mock.connections().len(), 1);
}

#[test]
fn opus_call_on_live_is_pcm_at_24_khz_both_ways() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mock = RealtimeMock::start(MockConfig::default());
    let args = live_args(&kamailio, &mock, mock.api_key(), &[]);
    let port = sip_port(&args);
    let mut sipterm = Sipterm::spawn(args);
    wait_registered(&mut sipterm);

    // bob talks (1 s of 440 Hz) and listens (2.5 s), over and over, in Opus.
    let dir = support::ScratchDir::new("bridge-live-opus");
    let voice = dir.join("talk.wav");
    write_wav(&voice, &talk_and_listen(440.0, 48_000)).unwrap();
    let baresip = Baresip::start(
        BaresipConfig::new("bob")
            .codecs(&["opus/48000/2"])
            .tone(Tone::File(voice))
            .record(true),
    );
    baresip.dial(&format!("sip:alice@127.0.0.1:{port}"));
    baresip.expect_event("CALL_ESTABLISHED", Duration::from_secs(20));
    let started = wait_event(&mut sipterm, "media_started", |e| is(e, "media_started"));
    assert_eq!(started["codec"], "opus");
    wait_event(&mut sipterm, "the AI's first words", |e| {
        is(e, "transcript") && e["speaker"] == "ai" && e["final"] == true
    });
    std::thread::sleep(Duration::from_secs(2));
    baresip.hangup();
    wait_call_ended(&mut sipterm);

    let start = mock
        .live_starts()
        .into_iter()
        .next()
        .expect("a session.start");
    assert_eq!(
        start["audio"]["format"],
        serde_json::json!({"type": "audio/pcm", "rate": 24000}),
        "{start}"
    );
    let appended = mock.appended_audio();
    assert_eq!(appended.rate(), Some(24_000));
    let loud: Vec<i16> = appended
        .samples()
        .chunks(480)
        .filter(|frame| support::rms_dbfs(frame) > -40.0)
        .flatten()
        .copied()
        .collect();
    assert_tone(
        &loud,
        24_000,
        440.0,
        15.0,
        "the caller's voice at the model",
    );

    let theirs = baresip.received_audio().unwrap();
    let heard: Vec<i16> = theirs
        .channel(0)
        .chunks(960)
        .filter(|frame| support::rms_dbfs(frame) > -40.0)
        .flatten()
        .copied()
        .collect();
    assert!(
        heard.len() >= theirs.rate as usize / 2,
        "only {} samples of AI audio at baresip",
        heard.len()
    );
    assert_tone(
        &heard,
        theirs.rate,
        mock.config().tone_hz,
        15.0,
        "the model's voice at baresip",
    );
}

/// 30 s of a caller who says something for 1 s (a sine at `hz`) and listens for 2.5 s.
fn talk_and_listen(hz: f64, rate: u32) -> Wav {
    let period = (3.5 * f64::from(rate)) as usize;
    let talking = rate as usize;
    let samples = (0..30 * rate as usize)
        .map(|n| {
            if n % period >= talking {
                return 0;
            }
            let t = n as f64 / f64::from(rate);
            (16_000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect();
    Wav {
        rate,
        channels: 1,
        samples,
    }
}

#[test]
fn a_hung_live_server_is_left_for_a_new_session_and_the_call_ends_promptly() {
    let kamailio = Kamailio::start(&[ALICE]);
    // The first session hangs right after session.started: nothing is read or answered, and
    // the caller's audio backs up within some three seconds.
    let mock = RealtimeMock::start(MockConfig {
        fault: Some(Fault::Hang),
        fault_connections: 1,
        ..MockConfig::default()
    });
    let mut sipterm = live_alice(&kamailio, &mock, mock.api_key(), &[]);
    let run = talking_caller(&kamailio, 14_000).run();
    assert!(run.success(), "the call did not survive\n{run}");
    let hung_up = std::time::Instant::now();
    wait_call_ended(&mut sipterm);
    assert!(
        hung_up.elapsed() < Duration::from_secs(3),
        "the call's end waited {:?} for the bridge",
        hung_up.elapsed()
    );
    assert!(
        mock.connections().len() >= 2 && mock.live_starts().len() >= 2,
        "the hung session was never left:\n{}",
        sipterm.report()
    );
    let stats = final_bridge_stats(&sipterm);
    assert!(stats["reconnects"].as_u64() >= Some(1), "{stats}");
}
