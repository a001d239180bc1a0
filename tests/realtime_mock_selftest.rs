//! Proves the Realtime mock before sipterm's bridge is tested against it, driving it with a
//! raw tokio-tungstenite client (`support::realtime_mock::RawClient`): a spoken µ-law turn (VAD, transcript, a tone reply in uneven
//! chunks faster than real time), a manual turn, every kind of validation error, barge-in with
//! truncation, and each scripted failure.

mod support;

#[path = "realtime_mock_selftest/live.rs"]
mod live;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Error as WsError;

use support::audio::{assert_tone, decode_alaw, decode_ulaw};
use support::realtime_mock::{
    AudioFormat, EndCall, Fault, KeyRefusal, MockConfig, Outcome, RawClient, ReadEnd, RealtimeMock,
    CLIENT_WAIT,
};

const WAIT: Duration = CLIENT_WAIT;

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn sine(hz: f64, ms: u32, rate: u32) -> Vec<i16> {
    let n = (rate * ms / 1000) as usize;
    (0..n)
        .map(|i| {
            (16000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin()) as i16
        })
        .collect()
}

fn audio_of(deltas: &[&Value]) -> Vec<u8> {
    deltas
        .iter()
        .flat_map(|d| BASE64.decode(d["delta"].as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn spoken_ulaw_turn_gets_transcript_and_tone_reply_faster_than_real_time() {
    let mock = RealtimeMock::start(MockConfig::default());
    let (mut client, created) = RawClient::open(&mock);
    let session = &created["session"];
    assert_eq!(
        session["audio"]["input"]["format"],
        json!({"type": "audio/pcm", "rate": 24000})
    );
    assert_eq!(session["audio"]["output"]["voice"], "alloy");
    assert_eq!(
        session["audio"]["input"]["turn_detection"]["type"],
        "server_vad"
    );
    assert_eq!(session["audio"]["input"]["transcription"], Value::Null);

    client.send(json!({"type": "session.update", "event_id": "evt_1", "session": {
        "type": "realtime", "output_modalities": ["audio"],
        "audio": {
            "input": {"format": {"type": "audio/pcmu"}, "transcription": {"model": "gpt-4o-transcribe"},
                      "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}},
            "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"}}}}));
    let updated = client.until("session.updated").pop().unwrap();
    let audio = &updated["session"]["audio"];
    assert_eq!(audio["input"]["format"], json!({"type": "audio/pcmu"}));
    assert_eq!(audio["output"]["voice"], "marin");
    assert_eq!(audio["input"]["turn_detection"]["silence_duration_ms"], 500);
    assert_eq!(
        audio["input"]["turn_detection"]["prefix_padding_ms"], 300,
        "kept from the defaults"
    );
    assert_eq!(
        audio["input"]["transcription"]["model"],
        "gpt-4o-transcribe"
    );
    assert_eq!(mock.session_updates().len(), 1);

    // 600 ms of a 440 Hz tone, then 800 ms of µ-law silence.
    let mut spoken = sine(440.0, 600, 8000);
    spoken.extend(std::iter::repeat_n(0i16, 6400));
    client.speak(AudioFormat::Pcmu, &spoken);

    let mut events = client.until("response.done");
    events.extend(client.until("rate_limits.updated"));
    let started = of_type(&events, "input_audio_buffer.speech_started")[0];
    assert_eq!(
        started["audio_start_ms"], 0,
        "includes the 300 ms prefix padding"
    );
    let stopped = of_type(&events, "input_audio_buffer.speech_stopped")[0];
    let end = stopped["audio_end_ms"].as_u64().unwrap();
    assert!(
        (1080..=1140).contains(&end),
        "speech ends after 600 ms + 500 ms silence: {end}"
    );
    let user_item = started["item_id"].as_str().unwrap();
    assert_eq!(stopped["item_id"], user_item);
    assert_eq!(
        of_type(&events, "input_audio_buffer.committed")[0]["item_id"],
        user_item
    );
    let added = of_type(&events, "conversation.item.added");
    assert_eq!(added[0]["item"]["role"], "user");
    assert_eq!(added[1]["item"]["role"], "assistant");

    // The caller transcript may land before or during the response, never after it ends here.
    let mut transcript = events.clone();
    if of_type(
        &events,
        "conversation.item.input_audio_transcription.completed",
    )
    .is_empty()
    {
        transcript.extend(client.until("conversation.item.input_audio_transcription.completed"));
    }
    let deltas = of_type(
        &transcript,
        "conversation.item.input_audio_transcription.delta",
    );
    let joined: String = deltas
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(joined, "hello from the caller");
    assert!(deltas.iter().all(|d| d["item_id"] == user_item));

    let order = types(&events);
    let at = |kind: &str| {
        order
            .iter()
            .position(|t| *t == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    assert!(at("response.created") < at("response.output_item.added"));
    assert!(at("response.output_item.added") < at("response.content_part.added"));
    assert!(at("response.content_part.added") < at("response.output_audio.delta"));
    assert!(at("response.output_audio.done") < at("response.output_audio_transcript.done"));
    assert!(at("response.content_part.done") < at("response.output_item.done"));
    assert!(at("response.output_item.done") < at("response.done"));
    let done = of_type(&events, "response.done")[0];
    assert_eq!(done["response"]["status"], "completed");

    // Audio deltas: uneven sizes, interleaved with the transcript, the configured tone.
    let audio = of_type(&events, "response.output_audio.delta");
    let sizes: Vec<usize> = audio
        .iter()
        .map(|d| BASE64.decode(d["delta"].as_str().unwrap()).unwrap().len())
        .collect();
    assert!(sizes.starts_with(&[37, 160, 411, 96, 1003]), "{sizes:?}");
    let first_audio = at("response.output_audio.delta");
    let last_audio = order
        .iter()
        .rposition(|t| *t == "response.output_audio.delta")
        .unwrap();
    let transcript_deltas: Vec<usize> = order
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == "response.output_audio_transcript.delta")
        .map(|(i, _)| i)
        .collect();
    assert!(
        transcript_deltas
            .iter()
            .any(|&i| i > first_audio && i < last_audio),
        "{order:?}"
    );
    let text: String = of_type(&events, "response.output_audio_transcript.delta")
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, mock.config().ai_text);
    let samples = decode_ulaw(&audio_of(&audio));
    assert_eq!(samples.len(), 12_000, "1500 ms at 8 kHz");
    assert_tone(&samples, 8000, 660.0, 5.0, "model audio");
    let item = audio[0]["item_id"].as_str().unwrap();
    assert!((mock.audio_sent_ms(item) - 1500.0).abs() < 1.0);
    let when = |i: usize| {
        client
            .received
            .iter()
            .find(|(_, e)| e["delta"] == audio[i]["delta"])
            .unwrap()
            .0
    };
    let span = when(audio.len() - 1) - when(0);
    assert!(
        span < Duration::from_millis(1000),
        "1500 ms of audio took {span:?} (4x real time expected)"
    );

    let appended = mock.appended_audio();
    assert_eq!(appended.appends.len(), 70);
    assert!((appended.total_ms() - 1400.0).abs() < 0.5);
    assert!(appended.byte_sizes().iter().all(|&b| b == 160));
    assert_eq!(appended.rate(), Some(8000));
    assert_tone(
        &appended.samples()[..4800],
        8000,
        440.0,
        5.0,
        "appended audio",
    );
    let connections = mock.connections();
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0].model.as_deref(), Some("gpt-realtime"));
    assert_eq!(connections[0].outcome, Outcome::Accepted);
    let log = mock.log();
    assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(mock.client_events().len(), 71);
}

#[test]
fn manual_turn_without_vad_and_alaw_reply() {
    let mock = RealtimeMock::start(MockConfig::default());
    let (mut client, _) = RawClient::open(&mock);
    client.send(
        json!({"type": "session.update", "session": {"type": "realtime",
        "audio": {"input": {"turn_detection": null},
                  "output": {"format": {"type": "audio/pcma"}}}}}),
    );
    let updated = client.until("session.updated").pop().unwrap();
    assert_eq!(
        updated["session"]["audio"]["input"]["turn_detection"],
        Value::Null
    );

    client.send(json!({"type": "input_audio_buffer.commit"}));
    let error = client.error();
    assert_eq!(error["code"], "input_audio_buffer_commit_empty");

    // PCM16 at 24 kHz is the input format still; no VAD events without turn detection.
    client.speak(AudioFormat::Pcm24k, &sine(300.0, 400, 24_000));
    client.send(json!({"type": "input_audio_buffer.commit"}));
    let events = client.until("conversation.item.done");
    assert!(of_type(&events, "input_audio_buffer.speech_started").is_empty());
    assert_eq!(types(&events)[0], "input_audio_buffer.committed");
    assert_eq!(
        mock.appended_audio().appends[0].bytes,
        960,
        "20 ms of PCM16 at 24 kHz"
    );

    client.send(json!({"type": "response.create"}));
    client.send(json!({"type": "response.create"}));
    let events = client.until("error");
    let created = of_type(&events, "response.created")[0];
    assert_eq!(
        events.last().unwrap()["error"]["code"],
        "conversation_already_has_active_response"
    );
    client.send(json!({"type": "response.cancel"}));
    let done = client.until("response.done").pop().unwrap();
    assert_eq!(done["response"]["id"], created["response"]["id"]);
    assert_eq!(done["response"]["status"], "cancelled");
    assert_eq!(
        done["response"]["status_details"]["reason"],
        "client_cancelled"
    );

    client.send(json!({"type": "response.create", "response": {"instructions": "Say hi."}}));
    let events = client.until("response.done");
    assert_eq!(events.last().unwrap()["response"]["status"], "completed");
    let samples = decode_alaw(&audio_of(&of_type(&events, "response.output_audio.delta")));
    assert_eq!(samples.len(), 12_000);
    assert_tone(&samples, 8000, 660.0, 5.0, "A-law model audio");
}

#[test]
fn pcm16_reply_is_a_24khz_tone() {
    let config = MockConfig {
        tone_hz: 1000.0,
        tone_ms: 400,
        pace: None,
        ..MockConfig::default()
    };
    let mock = RealtimeMock::start(config);
    let (mut client, _) = RawClient::open(&mock);
    client.send(json!({"type": "response.create"}));
    let events = client.until("response.done");
    let audio = of_type(&events, "response.output_audio.delta");
    let bytes = audio_of(&audio);
    assert_eq!(bytes.len(), 400 * 48, "400 ms of PCM16 at 24 kHz");
    let first = BASE64
        .decode(audio[0]["delta"].as_str().unwrap())
        .unwrap()
        .len();
    assert_eq!(first, 37 * 6, "chunk sizes scale with the format");
    let samples = AudioFormat::Pcm24k.decode(&bytes);
    assert_tone(&samples, 24_000, 1000.0, 5.0, "PCM16 model audio");
}

#[test]
fn invalid_client_events_get_the_services_errors_and_the_session_stays_open() {
    let mock = RealtimeMock::start(MockConfig::default());
    let (mut client, _) = RawClient::open(&mock);
    let pcm_no_rate =
        json!({"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcm"}}}});
    let cases: Vec<(Value, &str, Option<&str>, &str)> = vec![
        (json!({"type": "output_audio_buffer.clear"}), "invalid_value", Some("type"),
         "Invalid value: 'output_audio_buffer.clear'. Supported values are: 'session.update', "),
        (json!({"type": "session.update", "session": {"input_audio_format": "g711_ulaw", "voice": "alloy"}}),
         "unknown_parameter", Some("session.input_audio_format"),
         "Unknown parameter: 'session.input_audio_format'."),
        (json!({"type": "session.update", "session": {"type": "realtime", "temperature": 0.8}}),
         "unknown_parameter", Some("session.temperature"), "Unknown parameter: 'session.temperature'."),
        (json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": "pcm16"}}}}),
         "invalid_type", Some("session.audio.input.format"),
         "Invalid type for 'session.audio.input.format': expected an object, but got a string instead."),
        (json!({"type": "session.update", "session": pcm_no_rate}),
         "missing_required_parameter", Some("session.audio.output.format.rate"),
         "Missing required parameter: 'session.audio.output.format.rate'."),
        (json!({"type": "session.update", "session": {"instructions": "Be brief."}}),
         "missing_required_parameter", Some("session.type"), "Missing required parameter: 'session.type'."),
        (json!({"type": "session.update", "session": {"type": "realtime",
                "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}}),
         "invalid_value", Some("session.audio.input.format.rate"), "Invalid value: 16000. Supported values are: 24000."),
        (json!({"type": "session.update", "session": {"type": "realtime",
                "audio": {"input": {"format": {"type": "g711_ulaw"}}}}}),
         "invalid_value", Some("session.audio.input.format.type"),
         "Invalid value: 'g711_ulaw'. Supported values are: 'audio/pcm', 'audio/pcmu', and 'audio/pcma'."),
        (json!({"type": "session.update", "session": {"type": "realtime",
                "audio": {"input": {"transcription": {"enabled": true, "model": "whisper-1"}}}}}),
         "unknown_parameter", Some("session.audio.input.transcription.enabled"),
         "Unknown parameter: 'session.audio.input.transcription.enabled'."),
        (json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["audio", "text"]}}),
         "invalid_value", Some("session.output_modalities"), "Invalid modalities: "),
        (json!({"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"voice": "nova"}}}}),
         "invalid_value", Some("session.audio.output.voice"), "Invalid value: 'nova'. Supported values are: 'alloy', "),
        (json!({"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"speed": 2.0}}}}),
         "decimal_above_max_value", Some("session.audio.output.speed"),
         "Invalid 'session.audio.output.speed': decimal above maximum value. Expected a value <= 1.5, but got 2.0 instead."),
        (json!({"type": "session.update", "session": {"type": "realtime",
                "audio": {"input": {"turn_detection": {"silence_duration_ms": 500}}}}}),
         "missing_required_parameter", Some("session.audio.input.turn_detection.type"),
         "Missing required parameter: 'session.audio.input.turn_detection.type'."),
        (json!({"type": "session.update", "session": {"type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "create_response": "yes"}}}}}),
         "invalid_type", Some("session.audio.input.turn_detection.create_response"),
         "Invalid type for 'session.audio.input.turn_detection.create_response': expected a boolean, but got a string instead."),
        (json!({"type": "input_audio_buffer.append", "audio": "not base64!"}),
         "invalid_value", Some("audio"), "Invalid 'audio'. Expected base64-encoded audio bytes (mono PCM16 at 24kHz)"),
        (json!({"type": "input_audio_buffer.append"}),
         "missing_required_parameter", Some("audio"), "Missing required parameter: 'audio'."),
        (json!({"type": "input_audio_buffer.commit"}), "input_audio_buffer_commit_empty", None,
         "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has 0.00ms of audio."),
        (json!({"type": "conversation.item.truncate", "item_id": "item_nope", "content_index": 0, "audio_end_ms": 10}),
         "item_not_found", Some("item_id"), "Item with item_id not found: item_nope"),
        (json!({"type": "conversation.item.truncate", "item_id": "item_nope", "content_index": 0}),
         "missing_required_parameter", Some("audio_end_ms"), "Missing required parameter: 'audio_end_ms'."),
        (json!({"type": "response.cancel"}), "response_cancel_not_active", None,
         "Cancellation failed: no active response found"),
        (json!({"type": "response.create", "response": {"modalities": ["audio"]}}),
         "unknown_parameter", Some("response.modalities"), "Unknown parameter: 'response.modalities'."),
    ];
    for (i, (event, code, param, message)) in cases.into_iter().enumerate() {
        let mut event = event;
        let event_id = format!("evt_case_{i}");
        event["event_id"] = json!(event_id);
        client.send(event.clone());
        let error = client.error();
        assert_eq!(error["type"], "invalid_request_error", "{event}: {error}");
        assert_eq!(error["code"], code, "{event}: {error}");
        assert_eq!(error["param"].as_str(), param, "{event}: {error}");
        assert!(
            error["message"].as_str().unwrap().starts_with(message),
            "{event}: {error}"
        );
        assert_eq!(error["event_id"], event_id.as_str(), "{event}");
    }
    client.send_text("{not json");
    assert_eq!(client.error()["code"], "invalid_json");

    // None of that was fatal, and nothing was applied.
    client.send(
        json!({"type": "session.update", "session": {"type": "realtime", "instructions": "Hi."}}),
    );
    let updated = client.until("session.updated").pop().unwrap();
    assert_eq!(updated["session"]["audio"]["output"]["voice"], "alloy");
    assert_eq!(updated["session"]["audio"]["output"]["speed"], 1.0);
    assert_eq!(mock.errors_sent().len(), 22);
    assert!(mock.connections()[0].ended_at.is_none());
}

#[test]
fn barge_in_cancels_the_response_and_records_the_truncate() {
    let config = MockConfig {
        tone_ms: 4000,
        ..MockConfig::default()
    };
    let mock = RealtimeMock::start(config);
    let (mut client, _) = RawClient::open(&mock);
    let pcm = AudioFormat::Pcm24k;
    let mut turn = sine(440.0, 300, 24_000);
    turn.extend(std::iter::repeat_n(0i16, 24 * 400));
    client.speak(pcm, &turn);
    let mut events = client.until("response.output_audio.delta");
    let response_id = events.last().unwrap()["response_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let item_id = events.last().unwrap()["item_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The caller talks again while the reply streams.
    client.speak(pcm, &sine(440.0, 300, 24_000));
    events.extend(client.until("response.done"));
    let done = events.last().unwrap();
    assert_eq!(done["response"]["id"], response_id.as_str());
    assert_eq!(done["response"]["status"], "cancelled");
    assert_eq!(
        done["response"]["status_details"]["reason"],
        "turn_detected"
    );
    let order = types(&events);
    let second_start = order
        .iter()
        .rposition(|t| *t == "input_audio_buffer.speech_started")
        .unwrap();
    let cancelled_at = order.len() - 1;
    assert!(second_start < cancelled_at);
    assert_eq!(done["response"]["output"][0]["status"], "incomplete");

    // No deltas for the cancelled response after its response.done.
    let later = client.until("rate_limits.updated");
    assert!(
        of_type(&later, "response.output_audio.delta").is_empty(),
        "{later:?}"
    );
    let received_ms = AudioFormat::Pcm24k
        .ms_of_bytes(audio_of(&of_type(&events, "response.output_audio.delta")).len());
    assert!(received_ms > 0.0 && received_ms < 4000.0, "{received_ms}");
    assert!((mock.audio_sent_ms(&item_id) - received_ms).abs() < 0.01);

    // The client says how much it played; too much is refused with the service's words.
    let played = (received_ms as u64).min(200);
    client.send(
        json!({"type": "conversation.item.truncate", "item_id": item_id,
                       "content_index": 0, "audio_end_ms": played}),
    );
    let truncated = client.until("conversation.item.truncated").pop().unwrap();
    assert_eq!(truncated["audio_end_ms"], played);
    client.send(
        json!({"type": "conversation.item.truncate", "item_id": item_id,
                       "content_index": 0, "audio_end_ms": played + 500}),
    );
    let error = client.error();
    assert_eq!(error["code"], "invalid_value");
    assert_eq!(
        error["message"],
        format!(
            "Audio content of {played}ms is already shorter than {}ms",
            played + 500
        )
    );
    client.send(
        json!({"type": "conversation.item.truncate", "item_id": item_id,
                       "content_index": 0, "audio_end_ms": 0}),
    );
    assert_eq!(
        client.error()["message"],
        "Only model output audio messages can be truncated"
    );

    let truncates = mock.truncates();
    assert_eq!(truncates.len(), 3);
    assert_eq!(
        (truncates[0].item_id.as_str(), truncates[0].audio_end_ms),
        (item_id.as_str(), played)
    );
    assert_eq!(truncates[0].error, None);
    assert!((truncates[0].item_audio_ms.unwrap() - received_ms).abs() < 0.01);
    assert_eq!(truncates[1].error.as_deref(), Some("invalid_value"));
}

/// Connects as given and expects one `error` with `code`, then a close `code`/`<type>.<code>`.
#[track_caller]
fn assert_refused_in_band(url: &str, key: Option<&str>, beta: bool, code: &str, close: u16) {
    let mut client = RawClient::connect(url, key, beta).expect("the upgrade succeeds");
    let error = client.next().expect("an error event");
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["error"]["code"], code, "{error}");
    assert_eq!(
        client.next_or_end(WAIT),
        Err(ReadEnd::Close(
            close,
            format!("invalid_request_error.{code}")
        ))
    );
}

#[test]
fn bad_key_beta_header_and_model_problems_are_refused_in_band() {
    let mock = RealtimeMock::start(MockConfig::default());
    let url = format!("{}?model=gpt-realtime", mock.url());
    assert_refused_in_band(
        &url,
        Some("sk-wrong-key-000000"),
        false,
        "invalid_api_key",
        3000,
    );
    assert_refused_in_band(&url, None, false, "invalid_api_key", 3000);
    assert_refused_in_band(
        &url,
        Some(mock.api_key()),
        true,
        "beta_api_shape_disabled",
        4000,
    );
    assert_refused_in_band(
        &mock.url(),
        Some(mock.api_key()),
        false,
        "missing_model",
        4000,
    );
    let old = format!("{}?model=gpt-4o-realtime-preview", mock.url());
    assert_refused_in_band(&old, Some(mock.api_key()), false, "invalid_model", 4000);

    let connections = mock.connections();
    assert_eq!(connections.len(), 5);
    assert_eq!(
        connections[0].outcome,
        Outcome::RefusedInBand("invalid_api_key".into())
    );
    assert_eq!(
        connections[0].authorization.as_deref(),
        Some("Bearer sk-wrong-key-000000")
    );
    assert!(connections[2].beta_header);
    assert_eq!(
        connections[4].server_close,
        Some((4000, "invalid_request_error.invalid_model".into()))
    );
    let all_ended = || mock.connections().iter().all(|c| c.ended_at.is_some());
    assert!(
        support::wait_until(WAIT, all_ended),
        "{:#?}",
        mock.connections()
    );
    assert_eq!(
        mock.connections()[0].client_close.as_ref().map(|c| c.0),
        Some(3000),
        "the client echoed the close"
    );
    assert!(
        mock.log().iter().all(|e| e.kind == "error"),
        "no session.created for refused keys"
    );
}

#[test]
fn key_refused_at_the_upgrade_gets_401_with_a_json_body() {
    let config = MockConfig {
        fault: Some(Fault::RefuseKey(KeyRefusal::Http401)),
        ..MockConfig::default()
    };
    let mock = RealtimeMock::start(config);
    let url = format!("{}?model=gpt-realtime", mock.url());
    let Err(WsError::Http(response)) = RawClient::connect(&url, Some(mock.api_key()), false) else {
        panic!("the upgrade should be refused");
    };
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    let Err(WsError::Http(response)) = RawClient::connect(
        &format!("ws://127.0.0.1:{}/v1/other", mock.port()),
        None,
        false,
    ) else {
        panic!("a wrong path should be refused");
    };
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(mock.connections()[0].outcome, Outcome::RefusedHttp(401));
}

#[test]
fn dropped_socket_has_no_close_frame_and_the_next_connection_works() {
    let config = MockConfig {
        fault: Some(Fault::DropAfter(Duration::from_millis(300))),
        fault_connections: 1,
        ..MockConfig::default()
    };
    let mock = RealtimeMock::start(config);
    let (mut client, _) = RawClient::open(&mock);
    let opened = Instant::now();
    assert_eq!(client.next_or_end(WAIT), Err(ReadEnd::Reset));
    assert!(
        opened.elapsed() >= Duration::from_millis(250),
        "{:?}",
        opened.elapsed()
    );

    let (mut again, _) = RawClient::open(&mock);
    assert_eq!(
        again.next_or_end(Duration::from_millis(600)),
        Err(ReadEnd::Timeout),
        "stays up"
    );
    again.send(json!({"type": "session.update", "session": {"type": "realtime"}}));
    again.until("session.updated");
    let connections = mock.connections();
    assert_eq!(connections.len(), 2);
    assert!(connections[0].dropped && connections[0].server_close.is_none());
    assert!(!connections[1].dropped);
}

#[test]
fn expired_session_gets_session_expired_and_close_1001() {
    let config = MockConfig {
        fault: Some(Fault::ExpireAfter(Duration::from_millis(300))),
        ..MockConfig::default()
    };
    let mock = RealtimeMock::start(config);
    let (mut client, _) = RawClient::open(&mock);
    let error = client.until("error").pop().unwrap();
    assert_eq!(error["error"]["code"], "session_expired");
    assert_eq!(
        client.next_or_end(WAIT),
        Err(ReadEnd::Close(
            1001,
            "invalid_request_error.session_expired".into()
        ))
    );
    // The fault applies to every connection by default: the reconnect expires too.
    let (mut again, _) = RawClient::open(&mock);
    assert_eq!(
        again.until("error").pop().unwrap()["error"]["code"],
        "session_expired"
    );
    assert_eq!(mock.connections().len(), 2);
}

#[test]
fn text_only_responses_and_conversation_items() {
    let mock = RealtimeMock::start(MockConfig {
        pace: None,
        ..MockConfig::default()
    });
    let (mut client, _) = RawClient::open(&mock);
    client.send(json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}));
    client.until("session.updated");
    client.send(
        json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "What time is it?"}]}}),
    );
    let added = client.until("conversation.item.done");
    let item_id = added[0]["item"]["id"].as_str().unwrap().to_owned();
    client.send(json!({"type": "conversation.item.retrieve", "item_id": item_id}));
    let retrieved = client.until("conversation.item.retrieved").pop().unwrap();
    assert_eq!(retrieved["item"]["content"][0]["text"], "What time is it?");

    client.send(json!({"type": "response.create"}));
    let events = client.until("response.done");
    assert!(of_type(&events, "response.output_audio.delta").is_empty());
    let text: String = of_type(&events, "response.output_text.delta")
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, mock.config().ai_text);
    assert_eq!(
        of_type(&events, "response.output_text.done")[0]["text"],
        text.as_str()
    );

    client.send(json!({"type": "conversation.item.delete", "item_id": item_id}));
    assert_eq!(
        client.until("conversation.item.deleted").pop().unwrap()["item_id"],
        item_id.as_str()
    );
    client.send(json!({"type": "conversation.item.retrieve", "item_id": item_id}));
    assert_eq!(client.error()["code"], "item_not_found");
}

#[test]
fn an_ignored_close_gets_no_answer_and_the_socket_stays_open_until_the_mock_stops() {
    let mut mock = RealtimeMock::start(MockConfig {
        fault: Some(Fault::IgnoreClose),
        ..MockConfig::default()
    });
    let (mut client, _) = RawClient::open(&mock);
    client.send(json!({"type": "session.update", "session": {"type": "realtime"}}));
    client.until("session.updated");
    client.send_close();
    assert_eq!(
        client.next_or_end(Duration::from_millis(800)),
        Err(ReadEnd::Timeout),
        "neither a close frame nor a TCP close comes back"
    );
    let connection = mock.connections()[0].clone();
    assert!(connection.hung, "{connection:?}");
    assert_eq!(connection.client_close, Some((1000, String::new())));
    assert_eq!(connection.server_close, None);
    assert_eq!(connection.ended_at, None);

    mock.stop();
    assert_eq!(client.next_or_end(WAIT), Err(ReadEnd::Reset));
    assert!(mock.connections()[0].ended_at.is_some());
}

#[test]
fn a_hung_server_stops_reading_so_the_clients_writes_back_up_within_tens_of_kilobytes() {
    let mut mock = RealtimeMock::start(MockConfig {
        fault: Some(Fault::Hang),
        ..MockConfig::default()
    });
    let (mut client, _) = RawClient::open(&mock);
    assert_eq!(
        client.next_or_end(Duration::from_millis(300)),
        Err(ReadEnd::Timeout),
        "nothing after session.created while the client has not configured the session"
    );
    assert!(!mock.connections()[0].hung);
    client.send(json!({"type": "session.update", "session": {"type": "realtime"}}));
    client.until("session.updated");
    client.send(json!({"type": "input_audio_buffer.clear"}));
    assert_eq!(
        client.next_or_end(Duration::from_millis(600)),
        Err(ReadEnd::Timeout),
        "input_audio_buffer.cleared never comes"
    );
    assert!(mock.connections()[0].hung);

    // 20 ms of µ-law silence per event, as sipterm streams it, as fast as the socket takes it.
    let append = json!({"type": "input_audio_buffer.append", "audio": BASE64.encode([0xFF; 160])});
    let mut written = 0;
    while client.send_within(append.clone(), Duration::from_millis(500)) {
        written += append.to_string().len();
        assert!(written < 1_000_000, "still writing after {written} bytes");
    }
    assert!(
        written < 80_000,
        "{written} bytes went out before a write blocked: the path should hold tens of KB"
    );
    let appends_seen = mock.appended_audio().appends.len();
    assert_eq!(appends_seen, 0, "the mock read after it hung");

    mock.stop();
    assert_eq!(client.next_or_end(WAIT), Err(ReadEnd::Reset));
}

fn end_call_tool() -> Value {
    json!({"type": "function", "name": "end_call", "description": "End the call.",
           "parameters": {"type": "object", "properties": {"passed": {"type": "boolean"},
           "reason": {"type": "string"}}, "required": ["passed", "reason"]}})
}

fn end_call_mock() -> RealtimeMock {
    RealtimeMock::start(MockConfig {
        pace: None,
        tone_ms: 200,
        end_call: Some(EndCall {
            after_turns: 2,
            passed: true,
            reason: "Booked.".to_owned(),
        }),
        ..MockConfig::default()
    })
}

#[test]
fn end_call_comes_after_the_audio_of_the_chosen_response_when_the_tool_is_declared() {
    let mock = end_call_mock();
    let (mut client, _) = RawClient::open(&mock);
    client.send(
        json!({"type": "session.update", "session": {"type": "realtime",
        "tools": [end_call_tool()], "tool_choice": "auto"}}),
    );
    let updated = client.until("session.updated").pop().unwrap();
    assert_eq!(updated["session"]["tools"][0]["name"], "end_call");

    client.send(json!({"type": "response.create"}));
    let first = client.until("response.done");
    assert!(of_type(&first, "response.function_call_arguments.done").is_empty());

    client.send(json!({"type": "response.create"}));
    let second = client.until("response.done");
    let kinds = types(&second);
    let last_audio = kinds
        .iter()
        .rposition(|k| *k == "response.output_audio.delta")
        .unwrap();
    let args_done = kinds
        .iter()
        .position(|k| *k == "response.function_call_arguments.done")
        .expect("the function call");
    assert!(last_audio < args_done, "{kinds:?}");
    let done = of_type(&second, "response.function_call_arguments.done")[0];
    let arguments: Value = serde_json::from_str(done["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"passed": true, "reason": "Booked."}));
    let deltas: String = of_type(&second, "response.function_call_arguments.delta")
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, done["arguments"].as_str().unwrap());
    let added = of_type(&second, "response.output_item.added");
    assert_eq!(added[1]["item"]["type"], "function_call");
    assert_eq!(added[1]["item"]["name"], "end_call");
    let item = &of_type(&second, "response.output_item.done")[1]["item"];
    assert_eq!(item["call_id"], done["call_id"]);
    let output = &second.last().unwrap()["response"]["output"];
    assert_eq!(output[1]["type"], "function_call");

    let call_id = done["call_id"].as_str().unwrap();
    client.send(json!({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": call_id, "output": "ok"}}));
    let added = client.until("conversation.item.done").pop().unwrap();
    assert_eq!(added["item"]["type"], "function_call_output");
    assert!(mock.errors_sent().is_empty(), "{:?}", mock.errors_sent());
}

#[test]
fn without_the_tool_declared_no_function_is_called() {
    let mock = end_call_mock();
    let (mut client, _) = RawClient::open(&mock);
    for _ in 0..3 {
        client.send(json!({"type": "response.create"}));
        let events = client.until("response.done");
        assert!(of_type(&events, "response.output_item.added").len() == 1);
    }
}

#[test]
fn tools_tool_choice_and_function_outputs_are_validated_like_the_service() {
    let mock = RealtimeMock::start(MockConfig::default());
    let (mut client, _) = RawClient::open(&mock);
    let mut bad_tool = end_call_tool();
    bad_tool["strict"] = json!(true);
    for (session, param) in [
        (
            json!({"type": "realtime", "tools": [bad_tool]}),
            "session.tools[0].strict",
        ),
        (
            json!({"type": "realtime", "tools": [{"type": "retrieval"}]}),
            "session.tools[0].type",
        ),
        (
            json!({"type": "realtime", "tool_choice": "sometimes"}),
            "session.tool_choice",
        ),
        (
            json!({"type": "realtime", "tool_choice": {"type": "function"}}),
            "session.tool_choice.name",
        ),
    ] {
        client.send(json!({"type": "session.update", "session": session}));
        assert_eq!(client.error()["param"], param, "{session}");
    }
    for (item, param) in [
        (
            json!({"type": "function_call_output", "output": "ok"}),
            "item.call_id",
        ),
        (
            json!({"type": "function_call_output", "call_id": "c"}),
            "item.output",
        ),
        (
            json!({"type": "function_call_output", "call_id": "c", "output": "ok", "role": "user"}),
            "item.role",
        ),
        (
            json!({"type": "message", "role": "user", "output": "ok"}),
            "item.output",
        ),
    ] {
        client.send(json!({"type": "conversation.item.create", "item": item}));
        assert_eq!(client.error()["param"], param, "{item}");
    }
    client.send(
        json!({"type": "session.update", "session": {"type": "realtime",
        "tools": [end_call_tool()], "tool_choice": "required"}}),
    );
    client.until("session.updated");
}

#[test]
fn a_greeting_agent_speaks_first_after_its_session_is_configured() {
    let mock = RealtimeMock::start(MockConfig {
        pace: None,
        tone_ms: 200,
        greet_after: Some(Duration::from_millis(300)),
        ..MockConfig::default()
    });
    let (mut client, _) = RawClient::open(&mock);
    client.send(json!({"type": "session.update", "session": {"type": "realtime"}}));
    client.until("session.updated");
    let updated_at = Instant::now();
    let events = client.until("response.created");
    let waited = updated_at.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1000),
        "greeted after {waited:?}"
    );
    assert_eq!(types(&events), ["response.created"]);
    client.until("response.done");
    // Only once: a second session.update does not greet again.
    client.send(json!({"type": "session.update", "session": {"type": "realtime"}}));
    client.until("session.updated");
    let next = client.next_or_end(Duration::from_millis(600));
    assert!(
        next.as_ref()
            .map_or(true, |e| e["type"] != "response.created"),
        "{next:?}"
    );
}
