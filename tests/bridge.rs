//! The voice bridge end to end: sipp calls sipterm through Kamailio with `--auto-answer
//! --bridge`, and the Realtime API is the faithful mock in tests/support (CI cannot reach the
//! real one; the real URL stays sipterm's default). Failures must never end the call, and the
//! API key must never be printed.

mod support;

use std::time::Duration;
use support::audio::assert_tone;
use support::events::{events, is, wait_call_ended, wait_event, wait_registered};
use support::realtime_mock::{Fault, KeyRefusal, MockConfig, RealtimeMock};
use support::sipterm::{registered_args, sip_port};
use support::wav::{read_wav, write_wav, Wav};
use support::{Baresip, BaresipConfig, Kamailio, RtpCapture, Sipp, Sipterm, Tone, Transport};

const ALICE: (&str, &str) = ("alice", "wonderland");

/// The last `bridge_stats` event of call 1: the figures as the bridge ended.
fn final_bridge_stats(sipterm: &Sipterm) -> serde_json::Value {
    events(sipterm)
        .into_iter()
        .rfind(|e| is(e, "bridge_stats") && e["call"] == 1)
        .unwrap_or_else(|| panic!("no bridge_stats event:\n{}", sipterm.report()))
}

/// Headless, JSON, no sound card, every answered call bridged to `mock` with `key`.
fn bridged_args(
    kamailio: &Kamailio,
    mock: &RealtimeMock,
    key: &str,
    extra: &[&str],
) -> Vec<String> {
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
    args
}

fn bridged_alice(kamailio: &Kamailio, mock: &RealtimeMock, key: &str, extra: &[&str]) -> Sipterm {
    let mut sipterm = Sipterm::spawn(bridged_args(kamailio, mock, key, extra));
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
    // The caller's words land after the model's whole reply (about 525 ms after the commit),
    // as they often do with the real service.
    let mock = RealtimeMock::start(MockConfig {
        transcription_delay: Duration::from_millis(1000),
        ..MockConfig::default()
    });
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
    // A stall would last seconds; a few frames' delay is the shared machine's scheduling (a
    // full CI run saw 120 ms while other tests compiled), so the bound is 250 ms.
    assert!(
        appended.max_gap() <= Duration::from_millis(250),
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
    // In conversation order, although the caller's words arrive after the reply has begun.
    let caller_at = text.find("caller: hello from the caller");
    let ai_at = text.find("AI: ");
    assert!(
        caller_at.is_some() && ai_at.is_some() && caller_at < ai_at,
        "{text}"
    );
    let first = |speaker: &str| {
        all.iter()
            .position(|e| is(e, "transcript") && e["speaker"] == speaker)
    };
    assert!(
        first("caller") < first("ai"),
        "the caller's turn did not open before the reply:\n{}",
        sipterm.report()
    );
    assert!(read_wav(std::path::Path::new(wav)).is_ok());
    assert!(all.iter().any(|e| is(e, "bridge") && e["on"] == true));
    assert!(
        all.iter()
            .any(|e| is(e, "levels") && e["ai"]["rms_dbfs"].as_f64() > Some(-40.0)),
        "the AI meter never moved"
    );

    // Per-turn latency and the counts: live events, then the 📊 line at hang-up.
    let stats = final_bridge_stats(&sipterm);
    let turns = stats["turns"].as_u64().unwrap();
    assert!(turns >= 1, "{stats}");
    let mean = stats["mean_latency_ms"].as_u64().expect("a mean latency");
    assert!(mean > 0 && mean < 5000, "{stats}");
    assert_eq!(
        (stats["barge_ins"].as_u64(), stats["reconnects"].as_u64()),
        (Some(0), Some(0))
    );
    let live = all
        .iter()
        .filter(|e| is(e, "bridge_stats") && e["turns"].as_u64() >= Some(1))
        .count();
    assert!(
        live >= 2,
        "no bridge_stats while the call was up:\n{}",
        sipterm.report()
    );
    assert!(
        sipterm.stdout().contains(&format!(
            "{turns} turns, 0 barge-ins, 0 reconnects, mean answer latency {mean} ms"
        )),
        "{}",
        sipterm.report()
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
fn unknown_model_is_named_never_retried_and_the_call_survives() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mock = RealtimeMock::start(MockConfig::default());
    let mut sipterm = bridged_alice(
        &kamailio,
        &mock,
        mock.api_key(),
        &["--model", "gpt-4o-realtime-preview"],
    );
    let sipp = talking_caller(&kamailio, 4000).spawn();
    let failure = wait_event(&mut sipterm, "the bridge failing", |e| {
        is(e, "bridge") && e["on"] == false
    });
    let reason = failure["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("gpt-4o-realtime-preview")
            && reason.contains("try --model gpt-realtime-2.1"),
        "{failure}"
    );
    let run = sipp.wait();
    assert!(run.success(), "the call did not survive\n{run}");
    wait_call_ended(&mut sipterm);
    assert_eq!(mock.connections().len(), 1, "an unknown model was retried");
    let secret = mock.api_key().to_string();
    assert!(!sipterm.stdout().contains(&secret) && !sipterm.stderr().contains(&secret));
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
        let stats = final_bridge_stats(&sipterm);
        assert!(
            stats["reconnects"].as_u64() >= Some(1),
            "{fault:?}: {stats}"
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

/// µ-law silence is 0xFF: a frame of nothing else carries no AI audio.
fn is_silent_ulaw(payload: &[u8]) -> bool {
    payload.iter().all(|&b| b == 0xFF)
}

#[test]
fn barge_in_truncates_at_what_the_caller_heard_and_stops_the_reply() {
    const FRAME_MS: u64 = 20;
    let kamailio = Kamailio::start(&[ALICE]);
    // A long reply (8 s of tone, streamed at 4x): most of it is queued, not yet played, when the
    // caller talks again.
    let mock = RealtimeMock::start(MockConfig {
        tone_ms: 8000,
        pace: Some(4.0),
        ..MockConfig::default()
    });
    let mut sipterm = bridged_alice(&kamailio, &mock, mock.api_key(), &[]);
    let media_port = support::free_udp_port_block(4);
    let capture = RtpCapture::start(media_port);
    // 1 s of voice, 2.4 s of silence, looped. Turn 1 ends 500 ms (silence_duration_ms) after the
    // burst, the reply is created 150 ms later (about 1.65 s into the call), and the second burst
    // starts at 3.4 s: speech_started about 100 ms later, with ~1.8 s of the reply played.
    let run = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(ALICE.0)
        .key("call_ms", 6500)
        .tone_bursts(1.0, 2.4)
        .media_port(media_port)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    wait_call_ended(&mut sipterm);
    let packets = capture.stop();

    // The mock's records and the capture on one clock: wall time since the epoch.
    let origin = mock
        .started_at()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let wall = |at: Duration| origin + at;
    let log = mock.log();
    let server = |kind: &str| {
        log.iter()
            .filter(|e| e.direction == support::realtime_mock::Direction::FromServer)
            .filter(|e| e.kind == kind)
            .cloned()
            .collect::<Vec<_>>()
    };
    let created = server("response.created");
    let speech = server("input_audio_buffer.speech_started");
    let timeline: Vec<String> = log
        .iter()
        .filter(|e| {
            e.kind.starts_with("input_audio_buffer.speech")
                || e.kind == "response.created"
                || e.kind == "response.done"
                || e.kind.starts_with("conversation.item.truncate")
        })
        .map(|e| format!("{:>6} ms {}", e.at.as_millis(), e.kind))
        .collect();
    let timeline = timeline.join("\n");
    assert!(
        created.len() >= 2,
        "no reply after the barge-in:\n{timeline}"
    );
    assert!(speech.len() >= 2, "the caller spoke once only:\n{timeline}");
    let first = &created[0];
    let reply_id = first.json["response"]["id"].as_str().unwrap().to_string();
    let item_id = server("response.output_item.added")
        .iter()
        .find(|e| e.json["response_id"] == reply_id.as_str())
        .and_then(|e| e.json["item"]["id"].as_str().map(str::to_string))
        .expect("the first reply's item");
    let next_reply = created
        .iter()
        .find(|e| e.at > first.at)
        .expect("a second reply")
        .at;

    // The barge-in landed while the reply was playing (not before it, not after its end).
    let barge_in = speech.iter().find(|e| e.at > first.at).unwrap().at;
    let into_reply = barge_in - first.at;
    assert!(
        into_reply >= Duration::from_millis(1000) && into_reply <= Duration::from_millis(3500),
        "speech_started {into_reply:?} into the reply:\n{timeline}"
    );

    // One truncate, for that item, accepted, cutting the item short of what was streamed.
    let truncates: Vec<_> = mock
        .truncates()
        .into_iter()
        .filter(|t| t.item_id == item_id)
        .collect();
    assert_eq!(truncates.len(), 1, "{truncates:?}\n{timeline}");
    let truncate = &truncates[0];
    assert_eq!(truncate.error, None, "{truncate:?}");
    assert_eq!(truncate.content_index, 0);
    let streamed = mock.audio_sent_ms(&item_id);
    assert!(
        (truncate.audio_end_ms as f64) < streamed && truncate.audio_end_ms >= 500,
        "audio_end_ms {} of {streamed:.0} ms streamed\n{timeline}",
        truncate.audio_end_ms
    );
    let done = server("response.done");
    let done = done
        .iter()
        .find(|e| e.json["response"]["id"] == reply_id.as_str())
        .expect("response.done for the interrupted reply");
    assert_eq!(
        done.json["response"]["status"], "cancelled",
        "{}",
        done.json
    );

    // What the caller really got: sipterm's non-silent packets at sipp's media port.
    let ai_packets: Vec<&support::RtpPacket> = packets
        .iter()
        .filter(|p| p.payload_type == 0 && !is_silent_ulaw(&p.payload))
        .collect();
    let in_window = |from: Duration, to: Duration| {
        ai_packets
            .iter()
            .filter(|p| p.time >= from && p.time < to)
            .count() as u64
    };
    let (start, cut, end) = (wall(first.at), wall(truncate.at), wall(next_reply));
    let before_cut = in_window(start, cut);
    let whole_reply = in_window(start, end);
    let report = format!(
        "audio_end_ms {}, {before_cut} AI packets before the truncate, {whole_reply} before the next \
         reply (streamed {streamed:.0} ms)\n{timeline}",
        truncate.audio_end_ms
    );
    eprintln!("barge-in: {report}");
    let diff = |packets: u64| (packets * FRAME_MS).abs_diff(truncate.audio_end_ms);
    assert!(diff(before_cut) <= 40, "played vs truncated: {report}");
    assert!(
        diff(whole_reply) <= 40,
        "heard in total vs truncated: {report}"
    );
    // Nothing of the interrupted reply after the cut (two frames of slack for the packet that
    // was already on its way), until the next reply starts.
    let late = in_window(cut + Duration::from_millis(2 * FRAME_MS), end);
    assert_eq!(
        late, 0,
        "AI audio reached the caller after the truncate: {report}"
    );
    // The caller's next turn was answered and heard.
    assert!(
        in_window(end, Duration::MAX) > 0,
        "the reply after the barge-in never played: {report}"
    );
    let stats = final_bridge_stats(&sipterm);
    assert_eq!(stats["barge_ins"].as_u64(), Some(1), "{stats}");
    assert!(stats["turns"].as_u64() >= Some(2), "{stats}");
}

#[test]
fn opus_call_with_baresip_is_bridged_as_pcm_at_24_khz_both_ways() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mock = RealtimeMock::start(MockConfig::default());
    let args = bridged_args(&kamailio, &mock, mock.api_key(), &[]);
    // baresip calls sipterm directly, at its SIP port.
    let port = sip_port(&args);
    let mut sipterm = Sipterm::spawn(args);
    wait_registered(&mut sipterm);

    // bob says something (1 s of 440 Hz) and listens (2.5 s), over and over, in Opus.
    let dir = support::ScratchDir::new("bridge-opus");
    let voice = dir.join("bursts.wav");
    write_wav(&voice, &bursts(440.0, 1.0, 2.5, 30.0, 48_000)).unwrap();
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
    std::thread::sleep(Duration::from_secs(3));
    baresip.hangup();
    wait_call_ended(&mut sipterm);

    // PCM16 at 24 kHz both ways, and the caller's bursts reached the model at that rate.
    let update = mock
        .session_updates()
        .into_iter()
        .next()
        .expect("a session.update");
    for way in ["input", "output"] {
        let format = &update["audio"][way]["format"];
        assert_eq!(
            (format["type"].as_str(), format["rate"].as_u64()),
            (Some("audio/pcm"), Some(24_000)),
            "{update}"
        );
    }
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

    // The model's voice reached bob through Opus.
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

/// `tone_secs` of a sine, then `silence_secs` of silence, repeated for `total_secs`.
fn bursts(hz: f64, tone_secs: f64, silence_secs: f64, total_secs: f64, rate: u32) -> Wav {
    let period = tone_secs + silence_secs;
    let samples = (0..(total_secs * f64::from(rate)) as usize)
        .map(|n| {
            let t = n as f64 / f64::from(rate);
            if t % period < tone_secs {
                (16_000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
            } else {
                0
            }
        })
        .collect();
    Wav {
        rate,
        channels: 1,
        samples,
    }
}

#[test]
fn ctrl_c_during_a_bridged_call_hangs_up_closes_the_bridge_and_keeps_the_transcript() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mock = RealtimeMock::start(MockConfig::default());
    let dir = support::ScratchDir::new("bridge-sigint");
    let record = dir.path().display().to_string();
    let mut sipterm = bridged_alice(&kamailio, &mock, mock.api_key(), &["--record", &record]);
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

    // The bridge said goodbye with a normal close, not a dropped socket.
    let connections = mock.connections();
    assert_eq!(connections.len(), 1);
    assert_eq!(
        connections[0].client_close.as_ref().map(|(code, _)| *code),
        Some(1000),
        "{:?}",
        connections[0]
    );
    // The figures and the words were not lost on the way out.
    assert!(
        sipterm
            .stdout()
            .lines()
            .any(|l| l.contains("call #1 voice bridge: ") && l.contains(" turns, ")),
        "no 📊 line for the bridge:\n{}",
        sipterm.report()
    );
    let ended = events(&sipterm)
        .into_iter()
        .find(|e| is(e, "call_ended"))
        .expect("call_ended before exit");
    let wav = ended["media"]["recording"].as_str().expect("a recording");
    let text = std::fs::read_to_string(std::path::Path::new(wav).with_extension("txt")).unwrap();
    assert!(text.contains("caller: ") && text.contains("AI: "), "{text}");
    assert!(
        kamailio.contacts(ALICE.0).is_empty(),
        "still registered after Ctrl+C"
    );
}
