//! The mock's GPT-Live mode (live-notes §1–2), driven by the raw client: the strict
//! `session.start`, silence before it, the continuous real-time output stream, a spoken turn
//! and a barge-in, the other client events, the ending, and each failure mode.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Error as WsError;

use super::{of_type, sine, WAIT};
use crate::support;
use crate::support::audio::{assert_tone, rms_dbfs};
use crate::support::realtime_mock::{
    Api, AudioFormat, Fault, KeyRefusal, MockConfig, Outcome, RawClient, ReadEnd, RealtimeMock,
};

fn ulaw_start() -> Value {
    json!({"model": "gpt-live-1", "instructions": "Be brief.",
           "audio": {"format": {"type": "audio/pcmu", "rate": 8000}, "output": {"voice": "cedar"}}})
}

fn pcm16k_start() -> Value {
    json!({"model": "gpt-live-1.1", "audio": {"format": {"type": "audio/pcm", "rate": 16000}}})
}

fn delta_bytes(event: &Value) -> Vec<u8> {
    BASE64.decode(event["delta"].as_str().unwrap()).unwrap()
}

/// Reads events for `span`; returns them with their arrival times.
fn read_for(client: &mut RawClient, span: Duration) -> Vec<(Instant, Value)> {
    let end = Instant::now() + span;
    let mut events = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match client.next_or_end(left) {
            Ok(event) => events.push((Instant::now(), event)),
            Err(ReadEnd::Timeout) => break,
            Err(other) => panic!("the stream ended: {other:?} after {events:#?}"),
        }
    }
    events
}

/// Connects, sends `session.start` with `session`, expects an `error` with `code` naming
/// `param` (and echoing the event id), then a close 4000 — a failed start.
#[track_caller]
fn assert_start_refused(mock: &RealtimeMock, session: Value, code: &str, param: &str) {
    let mut client = RawClient::connect(&mock.live_url(), Some(mock.api_key()), false).unwrap();
    client.send(json!({"type": "session.start", "event_id": "evt_start", "session": session}));
    let event = client.next().expect("an error");
    assert_eq!(event["type"], "error", "{event}");
    let error = &event["error"];
    assert_eq!(error["code"], code, "{error}");
    assert_eq!(error["param"], param, "{error}");
    assert_eq!(error["client_event_id"], "evt_start", "{error}");
    assert_eq!(
        client.next_or_end(WAIT),
        Err(ReadEnd::Close(
            4000,
            format!("invalid_request_error.{code}")
        ))
    );
}

#[test]
fn live_sends_nothing_before_session_start_and_refuses_unknown_fields_by_name() {
    let mock = RealtimeMock::start(MockConfig::default());
    let mut client = RawClient::connect(&mock.live_url(), Some(mock.api_key()), false).unwrap();
    assert_eq!(
        client.next_or_end(Duration::from_millis(500)),
        Err(ReadEnd::Timeout),
        "the client speaks first"
    );
    assert_eq!(mock.connections()[0].outcome, Outcome::AwaitingStart);
    assert_eq!(mock.connections()[0].api, Api::Live);
    drop(client);

    let mut with_vad = ulaw_start();
    with_vad["turn_detection"] = json!({"type": "server_vad"});
    assert_start_refused(
        &mock,
        with_vad,
        "unknown_parameter",
        "session.turn_detection",
    );
    let mut ga_audio = ulaw_start();
    ga_audio["audio"]["input"] = json!({"format": {"type": "audio/pcmu"}});
    assert_start_refused(&mock, ga_audio, "unknown_parameter", "session.audio.input");
    let mut bad_voice = ulaw_start();
    bad_voice["audio"]["output"]["voice"] = json!("nova");
    assert_start_refused(
        &mock,
        bad_voice,
        "invalid_value",
        "session.audio.output.voice",
    );
    let mut no_rate = ulaw_start();
    no_rate["audio"]["format"] = json!({"type": "audio/pcmu"});
    assert_start_refused(
        &mock,
        no_rate,
        "missing_required_parameter",
        "session.audio.format.rate",
    );
    let mut pcm8k = ulaw_start();
    pcm8k["audio"]["format"] = json!({"type": "audio/pcm", "rate": 8000});
    assert_start_refused(&mock, pcm8k, "invalid_value", "session.audio.format.rate");
    let mut realtime_model = ulaw_start();
    realtime_model["model"] = json!("gpt-realtime");
    assert_start_refused(&mock, realtime_model, "invalid_model", "session.model");
    assert_start_refused(
        &mock,
        json!({"instructions": "hi"}),
        "missing_required_parameter",
        "session.model",
    );

    let connections = mock.connections();
    assert_eq!(
        connections[1].outcome,
        Outcome::RefusedInBand("unknown_parameter".into())
    );
    assert_eq!(
        connections[6].outcome,
        Outcome::RefusedInBand("invalid_model".into())
    );
    assert!(
        mock.server_events().iter().all(|e| e.kind == "error"),
        "no session.started for a refused start"
    );
    assert_eq!(mock.live_starts().len(), 7);
    assert_eq!(
        mock.live_starts()[0]["turn_detection"]["type"],
        "server_vad"
    );
}

#[test]
fn live_start_gets_session_started_then_output_streams_at_real_time_with_silence() {
    let mock = RealtimeMock::start(MockConfig::default());
    let (mut client, started) = RawClient::open_live(&mock, ulaw_start());
    let session = &started["session"];
    assert_eq!(session["model"], "gpt-live-1");
    assert!(session["id"].as_str().unwrap().starts_with("sess_"));
    assert!(session["expires_at"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(
        session["audio"]["format"],
        json!({"type": "audio/pcmu", "rate": 8000})
    );
    assert_eq!(session["audio"]["output"]["voice"], "cedar");
    assert_eq!(session["instructions"], "Be brief.");

    // The caller is silent: the model streams silence, 100 ms per delta, at real-time pace.
    let events = read_for(&mut client, Duration::from_millis(1050));
    let deltas: Vec<&Value> = events
        .iter()
        .map(|(_, e)| e)
        .filter(|e| e["type"] == "session.output_audio.delta")
        .collect();
    assert!(
        (8..=12).contains(&deltas.len()),
        "{} deltas in ~1 s",
        deltas.len()
    );
    for delta in &deltas {
        let bytes = delta_bytes(delta);
        assert_eq!(bytes.len(), 800, "100 ms of µ-law");
        assert!(bytes.iter().all(|&b| b == 0xFF), "µ-law silence");
        assert_eq!(
            delta.as_object().unwrap().len(),
            3,
            "type, event_id, delta: {delta}"
        );
    }

    let start = &mock.live_starts()[0];
    assert_eq!(start["audio"]["output"]["voice"], "cedar");
    assert_eq!(start["instructions"], "Be brief.");
    assert_eq!(start["audio"]["format"]["type"], "audio/pcmu");
    let connection = &mock.connections()[0];
    assert_eq!(connection.outcome, Outcome::Accepted);
    assert_eq!(connection.model.as_deref(), Some("gpt-live-1"));
    assert_eq!(connection.uri, "/v1/live/sessions");

    client.send(json!({"type": "session.close", "event_id": "evt_bye"}));
    let closed = client.until("session.closed").pop().unwrap();
    assert_eq!(closed["reason"], "close_requested");
    assert!(closed["usage"]["seconds"].is_u64(), "{closed}");
    assert_eq!(
        client.next_or_end(WAIT),
        Err(ReadEnd::Close(1000, String::new()))
    );
    let stats = mock.live_stats();
    assert!(stats.deltas >= 8 && stats.speech_ms == 0.0, "{stats:?}");
}

#[test]
fn live_spoken_turn_gets_input_transcript_then_a_tone_with_its_transcript() {
    let mock = RealtimeMock::start(MockConfig {
        tone_ms: 800,
        ..MockConfig::default()
    });
    let (mut client, _) = RawClient::open_live(&mock, pcm16k_start());
    let format = AudioFormat::Pcm16k;
    // 700 ms of a 440 Hz "voice", then 700 ms of silence: the turn ends 500 ms into it.
    let mut spoken = sine(440.0, 700, 16_000);
    spoken.extend(std::iter::repeat_n(0i16, 16 * 700));
    client.live_speak(format, &spoken);

    let events: Vec<Value> = read_for(&mut client, Duration::from_millis(1800))
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let inputs = of_type(&events, "session.input_transcript.delta");
    let heard: String = inputs
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(heard, mock.config().caller_transcript);
    let mut last_end = 0;
    for delta in &inputs {
        let (start, end) = (
            delta["start_ms"].as_u64().unwrap(),
            delta["end_ms"].as_u64().unwrap(),
        );
        assert!(start >= last_end && end >= start, "{inputs:#?}");
        assert!(end <= 720, "within the 700 ms of speech: {delta}");
        last_end = end;
    }
    let outputs = of_type(&events, "session.output_transcript.delta");
    let said: String = outputs
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(said, mock.config().ai_text);
    assert!(outputs
        .iter()
        .all(|d| d["start_ms"].is_u64() && d["end_ms"].is_u64()));

    let position = |pred: &dyn Fn(&Value) -> bool| events.iter().position(pred).unwrap();
    let audio = |e: &Value| -> Vec<i16> { format.decode(&delta_bytes(e)) };
    let is_voiced =
        |e: &Value| e["type"] == "session.output_audio.delta" && rms_dbfs(&audio(e)) > -30.0;
    let first_voiced = position(&is_voiced);
    let last_input = events
        .iter()
        .rposition(|e| e["type"] == "session.input_transcript.delta")
        .unwrap();
    assert!(last_input < first_voiced, "the model waits for the caller");
    let voiced: Vec<i16> = events
        .iter()
        .filter(|e| is_voiced(e))
        .flat_map(audio)
        .collect();
    assert!(
        (12_800..=14_400).contains(&voiced.len()),
        "800 ms of tone in 100 ms deltas: {}",
        voiced.len()
    );
    assert_tone(&voiced, 16_000, 660.0, 5.0, "model audio");
    assert!(events
        .iter()
        .all(|e| e.get("response_id").is_none() && e.get("item_id").is_none()));
    assert!(of_type(&events, "error").is_empty(), "{events:#?}");

    let appended = mock.appended_audio();
    assert_eq!(appended.rate(), Some(16_000));
    assert!((appended.total_ms() - 1400.0).abs() < 0.5);
    assert_eq!(&appended.samples()[..spoken.len()], &spoken[..]);
    let stats = mock.live_stats();
    assert_eq!((stats.replies, stats.barge_ins), (1, 0), "{stats:?}");
    assert!((stats.speech_ms - 800.0).abs() < 0.5, "{stats:?}");
}

#[test]
fn live_caller_speaking_over_the_model_makes_it_stop() {
    let mock = RealtimeMock::start(MockConfig::default());
    let (mut client, _) = RawClient::open_live(&mock, ulaw_start());
    let mut spoken = sine(440.0, 500, 8000);
    spoken.extend(std::iter::repeat_n(0i16, 8 * 600));
    client.live_speak(AudioFormat::Pcmu, &spoken);
    let voiced = |e: &Value| {
        e["type"] == "session.output_audio.delta"
            && rms_dbfs(&AudioFormat::Pcmu.decode(&delta_bytes(e))) > -30.0
    };
    // Wait for the model to talk, hear 300 ms of it, then talk over it (no pause after).
    let mut seen = 0;
    while seen < 3 {
        let event = client.next().expect("the model's reply");
        if voiced(&event) {
            seen += 1;
        }
    }
    client.live_speak(AudioFormat::Pcmu, &sine(300.0, 400, 8000));
    let after: Vec<Value> = read_for(&mut client, Duration::from_millis(800))
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let deltas = of_type(&after, "session.output_audio.delta");
    assert!(deltas.len() >= 6, "the stream goes on: {}", deltas.len());
    let still_voiced = deltas.iter().filter(|e| voiced(e)).count();
    assert!(
        still_voiced <= 2,
        "at most the deltas in flight: {still_voiced}"
    );
    assert_eq!(mock.live_barge_ins(), 1);
    let stats = mock.live_stats();
    assert!(
        stats.speech_ms < 800.0,
        "the rest of the 1500 ms tone was dropped: {stats:?}"
    );
    let said: String = client
        .received
        .iter()
        .filter(|(_, e)| e["type"] == "session.output_transcript.delta")
        .map(|(_, e)| e["delta"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !said.is_empty() && said.len() < mock.config().ai_text.len(),
        "the transcript stops with the audio: {said:?}"
    );
}

#[test]
fn live_client_events_are_validated_and_acknowledged() {
    let mock = RealtimeMock::start(MockConfig {
        live_usage_interval: Duration::from_millis(300),
        ..MockConfig::default()
    });
    let mut client = RawClient::connect(&mock.live_url(), Some(mock.api_key()), false).unwrap();
    client.send(json!({"type": "session.input_audio.append", "event_id": "e0", "audio": ""}));
    let early = client.error();
    assert_eq!(early["code"], "session_not_started");
    assert_eq!(early["client_event_id"], "e0");
    client.send(json!({"type": "session.start", "session": ulaw_start()}));
    client.until("session.started");
    assert_eq!(mock.connections()[0].outcome, Outcome::Accepted);

    let refused = |client: &mut RawClient, event: Value| -> Value {
        client.send(event);
        client.error()
    };
    let e = refused(
        &mut client,
        json!({"type": "input_audio_buffer.append", "audio": ""}),
    );
    assert_eq!(
        (e["code"].as_str(), e["param"].as_str()),
        (Some("invalid_value"), Some("type"))
    );
    let e = refused(
        &mut client,
        json!({"type": "session.start", "session": ulaw_start()}),
    );
    assert_eq!(e["code"], "session_already_started");
    let e = refused(
        &mut client,
        json!({"type": "session.update", "session": {"instructions": "x"}}),
    );
    assert_eq!(e["param"], "session.instructions");
    let e = refused(
        &mut client,
        json!({"type": "session.instructions.append", "content": "x"}),
    );
    assert_eq!(e["code"], "missing_required_parameter");
    assert_eq!(e["param"], "delegation_id");
    let e = refused(
        &mut client,
        json!({"type": "session.input_audio.append", "audio": "***"}),
    );
    assert_eq!(e["param"], "audio");
    let e = refused(&mut client, json!({"type": "response.create"}));
    assert_eq!(e["param"], "type");
    client.send_text("{not json");
    assert_eq!(client.error()["code"], "invalid_json");

    client.send(json!({"type": "session.input_audio.mute"}));
    client.until("session.input_audio.muted");
    client.send(json!({"type": "session.input_audio.unmute"}));
    client.until("session.input_audio.unmuted");
    client.send(
        json!({"type": "session.thinking.append", "content": "The caller is Bob.",
                       "delegation_id": null}),
    );
    let appended = client.until("session.thinking.appended").pop().unwrap();
    assert!(appended["start_ms"].is_u64() && appended["end_ms"] == appended["start_ms"]);
    client.send(json!({"type": "session.update", "session": {"delegation": {"type": "client"}}}));
    let updated = client.until("session.updated").pop().unwrap();
    assert_eq!(updated["session"]["delegation"]["type"], "client");
    let usage = client.until("session.usage.updated").pop().unwrap();
    assert!(usage["usage"]["seconds"].is_u64(), "{usage}");

    // A spoken commentary: the model says it, with its transcript.
    client.send(
        json!({"type": "session.commentary.append", "content": "One moment please.",
                       "delegation_id": "del_1"}),
    );
    let ack = client.until("session.commentary.appended").pop().unwrap();
    let span = ack["end_ms"].as_u64().unwrap() - ack["start_ms"].as_u64().unwrap();
    assert_eq!(span, 1500, "the tone's length: {ack}");
    let mut said = String::new();
    while said != "One moment please." {
        let delta = client
            .until("session.output_transcript.delta")
            .pop()
            .unwrap();
        said.push_str(delta["delta"].as_str().unwrap());
    }
    assert_eq!(mock.live_stats().replies, 1);
}

#[test]
fn live_refused_key_is_answered_to_session_start_and_an_exhausted_balance_drops_the_socket() {
    let mock = RealtimeMock::start(MockConfig::default());
    let mut client = RawClient::connect(&mock.live_url(), Some("sk-wrong-000000"), false).unwrap();
    assert_eq!(
        client.next_or_end(Duration::from_millis(300)),
        Err(ReadEnd::Timeout),
        "the refusal answers session.start"
    );
    client.send(json!({"type": "session.start", "event_id": "s1", "session": ulaw_start()}));
    let error = client.error();
    assert_eq!(error["code"], "invalid_api_key");
    assert_eq!(error["client_event_id"], "s1");
    assert!(!error["message"]
        .as_str()
        .unwrap()
        .contains("sk-wrong-000000"));
    assert_eq!(
        client.next_or_end(WAIT),
        Err(ReadEnd::Close(
            3000,
            "invalid_request_error.invalid_api_key".into()
        ))
    );
    assert_eq!(mock.live_starts().len(), 1, "the refused start is logged");

    let http = RealtimeMock::start(MockConfig {
        fault: Some(Fault::RefuseKey(KeyRefusal::Http401)),
        ..MockConfig::default()
    });
    let Err(WsError::Http(response)) =
        RawClient::connect(&http.live_url(), Some(http.api_key()), false)
    else {
        panic!("the upgrade should be refused");
    };
    assert_eq!(response.status().as_u16(), 401);
    let query = format!("{}?model=gpt-live-1", mock.live_url());
    let Err(WsError::Http(response)) = RawClient::connect(&query, Some(mock.api_key()), false)
    else {
        panic!("a query on the Live path should be refused");
    };
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'model'"),
        "{body}"
    );
    let live_on_realtime = format!("{}?model=gpt-live-1", mock.url());
    let mut client = RawClient::connect(&live_on_realtime, Some(mock.api_key()), false).unwrap();
    assert_eq!(client.error()["code"], "invalid_model");

    let broke = RealtimeMock::start(MockConfig {
        fault: Some(Fault::CreditExhausted),
        ..MockConfig::default()
    });
    let mut client = RawClient::connect(&broke.live_url(), Some(broke.api_key()), false).unwrap();
    client.send(json!({"type": "session.start", "session": ulaw_start()}));
    let sent = Instant::now();
    assert_eq!(client.error()["code"], "credit_balance_exhausted");
    client.live_append(&[0xFF; 160]);
    assert_eq!(
        client.next_or_end(WAIT),
        Err(ReadEnd::Reset),
        "no close frame"
    );
    let waited = sent.elapsed();
    assert!(
        (Duration::from_millis(1800)..Duration::from_millis(3000)).contains(&waited),
        "{waited:?}"
    );
    let connection = &broke.connections()[0];
    assert!(
        connection.dropped && connection.server_close.is_none(),
        "{connection:?}"
    );
    assert_eq!(
        connection.outcome,
        Outcome::RefusedInBand("credit_balance_exhausted".into())
    );
    assert_eq!(
        broke.client_events().len(),
        2,
        "what came after the error is logged too"
    );
}

#[test]
fn live_expiry_drop_and_hang_faults() {
    let expiring = RealtimeMock::start(MockConfig {
        fault: Some(Fault::ExpireAfter(Duration::from_millis(300))),
        ..MockConfig::default()
    });
    let (mut client, _) = RawClient::open_live(&expiring, ulaw_start());
    let closed = client.until("session.closed").pop().unwrap();
    assert_eq!(closed["reason"], "expired");
    assert_eq!(
        client.next_or_end(WAIT),
        Err(ReadEnd::Close(1000, String::new()))
    );
    let hung_up = RealtimeMock::start(MockConfig {
        fault: Some(Fault::LiveClosedAfter(
            Duration::from_millis(200),
            "content",
        )),
        ..MockConfig::default()
    });
    let (mut client, _) = RawClient::open_live(&hung_up, ulaw_start());
    let closed = client.until("session.closed").pop().unwrap();
    assert_eq!(closed["reason"], "content");
    assert_eq!(
        client.next_or_end(WAIT),
        Err(ReadEnd::Close(1000, String::new()))
    );

    let dropping = RealtimeMock::start(MockConfig {
        fault: Some(Fault::DropAfter(Duration::from_millis(400))),
        fault_connections: 1,
        ..MockConfig::default()
    });
    let (mut client, _) = RawClient::open_live(&dropping, ulaw_start());
    let end = loop {
        match client.next_or_end(WAIT) {
            Ok(_) => continue,
            Err(end) => break end,
        }
    };
    assert_eq!(end, ReadEnd::Reset);
    let (mut again, _) = RawClient::open_live(&dropping, ulaw_start());
    assert_eq!(
        again.until("session.output_audio.delta").len(),
        1,
        "the reconnect works"
    );
    assert!(dropping.connections()[0].dropped);

    let mut hanging = RealtimeMock::start(MockConfig {
        fault: Some(Fault::Hang),
        ..MockConfig::default()
    });
    let (mut client, _) = RawClient::open_live(&hanging, ulaw_start());
    assert_eq!(
        client.next_or_end(Duration::from_millis(400)),
        Err(ReadEnd::Timeout),
        "no output after session.started"
    );
    assert!(hanging.connections()[0].hung);
    hanging.stop();
    assert!(support::wait_until(WAIT, || hanging.connections()[0]
        .ended_at
        .is_some()));
}

#[test]
fn live_silence_and_delta_sizes_follow_the_sessions_format() {
    let mock = RealtimeMock::start(MockConfig::default());
    let cases = [
        (json!({"type": "audio/pcma", "rate": 8000}), 800, 0xD5),
        (json!({"type": "audio/pcmu", "rate": 8000}), 800, 0xFF),
        (json!({"type": "audio/pcm", "rate": 16000}), 3200, 0x00),
        (json!({"type": "audio/pcm", "rate": 24000}), 4800, 0x00),
    ];
    for (format, size, silence) in cases {
        let start = json!({"model": "gpt-live-1", "audio": {"format": format}});
        let (mut client, started) = RawClient::open_live(&mock, start);
        assert_eq!(started["session"]["audio"]["format"], format);
        assert_eq!(
            started["session"]["audio"]["output"]["voice"], "marin",
            "the default"
        );
        let delta = client.until("session.output_audio.delta").pop().unwrap();
        let bytes = delta_bytes(&delta);
        assert_eq!(bytes.len(), size, "100 ms of {format}");
        assert!(bytes.iter().all(|&b| b == silence), "silence in {format}");
    }
}
