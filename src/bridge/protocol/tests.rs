//! Shapes checked against JSON written from realtime-notes.md (GA), not from our own output.

use serde_json::{json, Value};

use super::*;

fn as_value(event: &ClientEvent) -> Value {
    serde_json::from_str(&event.to_json()).unwrap()
}

fn pcmu_session() -> Session {
    Session {
        kind: SessionType::Realtime,
        model: Some("gpt-realtime".into()),
        instructions: Some("Be brief.".into()),
        output_modalities: Some(vec![Modality::Audio]),
        audio: Some(SessionAudio {
            input: Some(AudioInput {
                format: Some(AudioFormat::Pcmu),
                transcription: Some(Transcription {
                    model: "gpt-4o-transcribe".into(),
                    language: None,
                }),
                turn_detection: Some(TurnDetection::ServerVad {
                    threshold: Some(0.5),
                    prefix_padding_ms: Some(300),
                    silence_duration_ms: Some(500),
                    create_response: Some(true),
                    interrupt_response: Some(true),
                }),
            }),
            output: Some(AudioOutput {
                format: Some(AudioFormat::Pcmu),
                voice: Some("alloy".into()),
            }),
        }),
        tools: None,
        tool_choice: None,
    }
}

#[test]
fn session_update_has_the_ga_nested_shape() {
    let event = ClientEvent::SessionUpdate {
        session: pcmu_session(),
    };
    let expected = json!({"type":"session.update","session":{"type":"realtime","model":"gpt-realtime",
        "instructions":"Be brief.","output_modalities":["audio"],
        "audio":{"input":{"format":{"type":"audio/pcmu"},"transcription":{"model":"gpt-4o-transcribe"},
                          "turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,
                                            "silence_duration_ms":500,"create_response":true,
                                            "interrupt_response":true}},
                 "output":{"format":{"type":"audio/pcmu"},"voice":"alloy"}}}});
    assert_eq!(as_value(&event), expected);
    assert_eq!(ClientEvent::parse(&event.to_json()).unwrap(), event);
}

#[test]
fn session_update_never_carries_beta_fields() {
    let text = ClientEvent::SessionUpdate {
        session: pcmu_session(),
    }
    .to_json();
    for beta in [
        "input_audio_format",
        "output_audio_format",
        "input_audio_transcription",
        "\"modalities\"",
        "temperature",
        "g711_ulaw",
    ] {
        assert!(!text.contains(beta), "{beta} in {text}");
    }
}

#[test]
fn audio_formats_are_objects() {
    let cases = [
        (AudioFormat::Pcmu, json!({"type":"audio/pcmu"})),
        (AudioFormat::Pcma, json!({"type":"audio/pcma"})),
        (
            AudioFormat::Pcm { rate: 24000 },
            json!({"type":"audio/pcm","rate":24000}),
        ),
    ];
    for (format, expected) in cases {
        assert_eq!(serde_json::to_value(format).unwrap(), expected);
        assert_eq!(
            serde_json::from_value::<AudioFormat>(expected).unwrap(),
            format
        );
    }
}

#[test]
fn small_client_events_match_the_reference() {
    let cases = [
        (
            ClientEvent::append(&[0xFF, 0x7F, 0x00]),
            json!({"type":"input_audio_buffer.append","audio":"/38A"}),
        ),
        (
            ClientEvent::ResponseCancel { response_id: None },
            json!({"type":"response.cancel"}),
        ),
        (
            ClientEvent::ConversationItemTruncate {
                item_id: "item_9".into(),
                content_index: 0,
                audio_end_ms: 1240,
            },
            json!({"type":"conversation.item.truncate","item_id":"item_9","content_index":0,"audio_end_ms":1240}),
        ),
        (
            ClientEvent::ResponseCreate,
            json!({"type":"response.create"}),
        ),
    ];
    for (event, expected) in cases {
        assert_eq!(as_value(&event), expected);
        assert_eq!(ClientEvent::parse(&expected.to_string()).unwrap(), event);
    }
}

#[test]
fn session_created_reads_id_model_and_formats() {
    let text = r#"{"type":"session.created","event_id":"event_1","session":{"type":"realtime",
        "object":"realtime.session","id":"sess_1","model":"gpt-realtime","output_modalities":["audio"],
        "audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":null,
                          "noise_reduction":null,"turn_detection":{"type":"server_vad","threshold":0.5,
                          "prefix_padding_ms":300,"silence_duration_ms":200,"idle_timeout_ms":null,
                          "create_response":true,"interrupt_response":true}},
                 "output":{"format":{"type":"audio/pcm","rate":24000},"voice":"alloy","speed":1.0}}}}"#;
    let ServerEvent::SessionCreated { session } = ServerEvent::parse(text).unwrap() else {
        panic!("not session.created");
    };
    assert_eq!(session.id.as_deref(), Some("sess_1"));
    assert_eq!(session.model.as_deref(), Some("gpt-realtime"));
    assert_eq!(
        session.output_format(),
        Some(AudioFormat::Pcm { rate: 24000 })
    );
    assert_eq!(
        session.input_format(),
        Some(AudioFormat::Pcm { rate: 24000 })
    );
}

#[test]
fn an_unknown_format_in_the_session_does_not_lose_the_event() {
    let text = r#"{"type":"session.updated","session":{"audio":{"output":{"format":{"type":"audio/flac"}}}}}"#;
    let ServerEvent::SessionUpdated { session } = ServerEvent::parse(text).unwrap() else {
        panic!("not session.updated");
    };
    assert_eq!(session.output_format(), None);
}

#[test]
fn error_event_carries_all_five_fields() {
    let text = r#"{"type":"error","event_id":"event_7","error":{"type":"invalid_request_error",
        "code":"invalid_api_key","message":"Incorrect API key provided.","param":null,"event_id":"c1"}}"#;
    assert_eq!(
        ServerEvent::parse(text).unwrap(),
        ServerEvent::Error {
            error: ApiError {
                kind: "invalid_request_error".into(),
                code: Some("invalid_api_key".into()),
                message: "Incorrect API key provided.".into(),
                param: None,
                event_id: Some("c1".into()),
            }
        }
    );
}

#[test]
fn vad_and_transcription_events_parse() {
    let cases = [
        (
            r#"{"type":"input_audio_buffer.speech_started","event_id":"e","audio_start_ms":1000,"item_id":"item_2"}"#,
            ServerEvent::SpeechStarted {
                audio_start_ms: 1000,
                item_id: "item_2".into(),
            },
        ),
        (
            r#"{"type":"input_audio_buffer.speech_stopped","audio_end_ms":2300,"item_id":"item_2"}"#,
            ServerEvent::SpeechStopped {
                audio_end_ms: 2300,
                item_id: "item_2".into(),
            },
        ),
        (
            r#"{"type":"input_audio_buffer.committed","previous_item_id":null,"item_id":"item_2"}"#,
            ServerEvent::InputCommitted {
                item_id: "item_2".into(),
                previous_item_id: None,
            },
        ),
        (
            r#"{"type":"conversation.item.input_audio_transcription.delta","item_id":"item_2","content_index":0,"delta":"Hel"}"#,
            ServerEvent::InputTranscriptDelta {
                item_id: "item_2".into(),
                content_index: 0,
                delta: "Hel".into(),
            },
        ),
        (
            r#"{"type":"conversation.item.input_audio_transcription.completed","item_id":"item_2","content_index":0,"transcript":"Hello.","usage":{"type":"tokens","total_tokens":9}}"#,
            ServerEvent::InputTranscriptCompleted {
                item_id: "item_2".into(),
                content_index: 0,
                transcript: "Hello.".into(),
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(ServerEvent::parse(text).unwrap(), expected, "{text}");
    }
    let failed = r#"{"type":"conversation.item.input_audio_transcription.failed","item_id":"item_2",
        "content_index":0,"error":{"type":"transcription_error","code":"audio_unintelligible","message":"…","param":null}}"#;
    let ServerEvent::InputTranscriptFailed { error, .. } = ServerEvent::parse(failed).unwrap()
    else {
        panic!("not failed");
    };
    assert_eq!(error.code.as_deref(), Some("audio_unintelligible"));
}

#[test]
fn output_audio_delta_ignores_obfuscation_and_decodes() {
    let text = r#"{"type":"response.output_audio.delta","event_id":"event_5","response_id":"resp_1",
        "item_id":"item_3","output_index":0,"content_index":0,"delta":"/38A","obfuscation":"x1y2"}"#;
    let ServerEvent::AudioDelta {
        response_id,
        item_id,
        delta,
        ..
    } = ServerEvent::parse(text).unwrap()
    else {
        panic!("not a delta");
    };
    assert_eq!(
        (response_id.as_str(), item_id.as_str()),
        ("resp_1", "item_3")
    );
    assert_eq!(decode_audio(&delta).unwrap(), [0xFF, 0x7F, 0x00]);
}

#[test]
fn response_lifecycle_and_transcripts_parse() {
    let created = r#"{"type":"response.created","response":{"object":"realtime.response","id":"resp_1",
        "status":"in_progress","status_details":null,"output":[],"usage":null}}"#;
    let ServerEvent::ResponseCreated { response } = ServerEvent::parse(created).unwrap() else {
        panic!("not response.created");
    };
    assert_eq!(
        (response.id.as_str(), response.status),
        ("resp_1", ResponseStatus::InProgress)
    );

    let done = r#"{"type":"response.done","response":{"id":"resp_1","status":"cancelled",
        "status_details":{"type":"cancelled","reason":"turn_detected"},"output":[],"usage":{"total_tokens":50}}}"#;
    let ServerEvent::ResponseDone { response } = ServerEvent::parse(done).unwrap() else {
        panic!("not response.done");
    };
    assert_eq!(response.status, ResponseStatus::Cancelled);
    assert_eq!(
        response.status_details.and_then(|d| d.reason).as_deref(),
        Some("turn_detected")
    );

    let odd = r#"{"type":"response.done","response":{"id":"r","status":"paused_for_lunch"}}"#;
    let ServerEvent::ResponseDone { response } = ServerEvent::parse(odd).unwrap() else {
        panic!("not response.done");
    };
    assert_eq!(response.status, ResponseStatus::Other);

    let transcript = r#"{"type":"response.output_audio_transcript.done","response_id":"resp_1",
        "item_id":"item_3","output_index":0,"content_index":0,"transcript":"Hi there."}"#;
    assert!(matches!(
        ServerEvent::parse(transcript).unwrap(),
        ServerEvent::AudioTranscriptDone { transcript, .. } if transcript == "Hi there."
    ));
    let audio_done = r#"{"type":"response.output_audio.done","response_id":"resp_1","item_id":"item_3","output_index":0,"content_index":0}"#;
    assert!(matches!(
        ServerEvent::parse(audio_done).unwrap(),
        ServerEvent::AudioDone { .. }
    ));
}

#[test]
fn items_and_rate_limits_parse() {
    let added = r#"{"type":"conversation.item.added","previous_item_id":"item_2","item":{"id":"item_3",
        "object":"realtime.item","type":"message","status":"in_progress","role":"assistant",
        "content":[{"type":"output_audio","transcript":null}]}}"#;
    let ServerEvent::ItemAdded {
        item,
        previous_item_id,
    } = ServerEvent::parse(added).unwrap()
    else {
        panic!("not item.added");
    };
    assert_eq!(previous_item_id.as_deref(), Some("item_2"));
    assert_eq!(
        (item.id.as_str(), item.role.as_deref()),
        ("item_3", Some("assistant"))
    );
    assert_eq!(item.content[0].kind, "output_audio");

    let limits = r#"{"type":"rate_limits.updated","rate_limits":[{"name":"requests","limit":1000,
        "remaining":999,"reset_seconds":0.06},{"name":"tokens","limit":50000,"remaining":49000,"reset_seconds":1.2}]}"#;
    let ServerEvent::RateLimitsUpdated { rate_limits } = ServerEvent::parse(limits).unwrap() else {
        panic!("not rate_limits.updated");
    };
    assert_eq!(rate_limits.len(), 2);
    assert_eq!(rate_limits[1].remaining, 49000);
}

#[test]
fn unknown_types_become_unknown() {
    for text in [
        r#"{"type":"response.content_part.added","part":{"type":"output_audio"}}"#,
        r#"{"type":"output_audio_buffer.started","response_id":"r"}"#,
        r#"{"type":"some.future.event","anything":[1,2,3]}"#,
    ] {
        assert_eq!(
            ServerEvent::parse(text).unwrap(),
            ServerEvent::Unknown,
            "{text}"
        );
    }
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    for text in [
        "",
        "not json",
        "{\"type\":",
        "[]",
        "{}",
        r#"{"no_type":true}"#,
        r#"{"type":42}"#,
        r#"{"type":"response.output_audio.delta","response_id":"r","item_id":"i"}"#,
        r#"{"type":"error","error":"flat string"}"#,
    ] {
        assert!(ServerEvent::parse(text).is_err(), "{text:?} parsed");
    }
    let err = ServerEvent::parse(r#"{"type":"response.output_audio.delta"}"#).unwrap_err();
    assert!(
        err.to_string().contains("'response.output_audio.delta'"),
        "{err}"
    );
    assert!(decode_audio("not base64!").is_err());
}

#[test]
fn a_function_tool_and_its_output_have_the_ga_shapes() {
    let mut session = pcmu_session();
    session.tools = Some(vec![Tool::Function {
        name: "end_call".into(),
        description: "End the call.".into(),
        parameters: json!({"type":"object","properties":{},"required":[]}),
    }]);
    session.tool_choice = Some("auto".into());
    let value = as_value(&ClientEvent::SessionUpdate { session });
    assert_eq!(
        value["session"]["tools"],
        json!([{"type":"function","name":"end_call","description":"End the call.",
                "parameters":{"type":"object","properties":{},"required":[]}}])
    );
    assert_eq!(value["session"]["tool_choice"], "auto");
    let output = ClientEvent::ConversationItemCreate {
        item: NewItem::FunctionCallOutput {
            call_id: "call_1".into(),
            output: "ok".into(),
        },
    };
    assert_eq!(
        as_value(&output),
        json!({"type":"conversation.item.create",
               "item":{"type":"function_call_output","call_id":"call_1","output":"ok"}})
    );
}

#[test]
fn function_call_events_parse_with_and_without_a_name() {
    let done = r#"{"type":"response.function_call_arguments.done","event_id":"e1","response_id":"r1",
        "item_id":"fc_1","output_index":1,"call_id":"call_1","arguments":"{\"passed\":true}"}"#;
    assert_eq!(
        ServerEvent::parse(done).unwrap(),
        ServerEvent::FunctionCallArgumentsDone {
            response_id: "r1".into(),
            item_id: "fc_1".into(),
            call_id: "call_1".into(),
            name: None,
            arguments: r#"{"passed":true}"#.into(),
        }
    );
    let item_done = r#"{"type":"response.output_item.done","event_id":"e2","response_id":"r1",
        "output_index":1,"item":{"id":"fc_1","object":"realtime.item","type":"function_call",
        "status":"completed","name":"end_call","call_id":"call_1","arguments":"{}"}}"#;
    let ServerEvent::OutputItemDone { item, .. } = ServerEvent::parse(item_done).unwrap() else {
        panic!("output_item.done");
    };
    assert_eq!(item.kind, "function_call");
    assert_eq!(item.name.as_deref(), Some("end_call"));
    assert_eq!(item.call_id.as_deref(), Some("call_1"));
    assert_eq!(item.arguments.as_deref(), Some("{}"));
}
