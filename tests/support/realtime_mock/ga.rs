//! The documented GA shapes of the client events the WebSocket accepts (openai-python
//! `types/realtime/`, realtime-notes §2 and §4), and the event-level checks built on them.

use serde_json::Value;

use super::schema::{check_fields, invalid_value, opt, req, ApiError, Field, Shape};

/// Every client event type the live WebSocket names as supported (notes §4: its list also
/// holds `session.close` and `session.input_audio_buffer.append`; `output_audio_buffer.clear`
/// is WebRTC/SIP only and is rejected like any unknown type).
pub const CLIENT_EVENT_TYPES: &[&str] = &[
    "session.update",
    "session.close",
    "input_audio_buffer.append",
    "session.input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
];

pub const VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar",
];

const TRANSCRIPTION_MODELS: &[&str] = &[
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-transcribe-diarize",
];

/// `{"type":"audio/pcm","rate":24000}` | `{"type":"audio/pcmu"}` | `{"type":"audio/pcma"}`.
pub const FORMAT: Shape = Shape::Tagged(&[
    ("audio/pcm", &[req("rate", Shape::IntIn(&[24000]))]),
    ("audio/pcmu", &[]),
    ("audio/pcma", &[]),
]);

const TURN_DETECTION: Shape = Shape::Tagged(&[
    (
        "server_vad",
        &[
            opt("threshold", Shape::Num(0.0, 1.0)),
            opt("prefix_padding_ms", Shape::Int(0, 10_000)),
            opt("silence_duration_ms", Shape::Int(0, 10_000)),
            opt("create_response", Shape::Bool),
            opt("interrupt_response", Shape::Bool),
            opt(
                "idle_timeout_ms",
                Shape::Nullable(&Shape::Int(5_000, 30_000)),
            ),
        ],
    ),
    (
        "semantic_vad",
        &[
            opt("eagerness", Shape::Enum(&["low", "medium", "high", "auto"])),
            opt("create_response", Shape::Bool),
            opt("interrupt_response", Shape::Bool),
        ],
    ),
]);

const TRANSCRIPTION: Shape = Shape::Object(&[
    opt("model", Shape::Enum(TRANSCRIPTION_MODELS)),
    opt("language", Shape::Str),
    opt("prompt", Shape::Str),
]);

const AUDIO_INPUT: Shape = Shape::Object(&[
    opt("format", FORMAT),
    opt("transcription", Shape::Nullable(&TRANSCRIPTION)),
    opt(
        "noise_reduction",
        Shape::Nullable(&Shape::Tagged(&[("near_field", &[]), ("far_field", &[])])),
    ),
    opt("turn_detection", Shape::Nullable(&TURN_DETECTION)),
]);

const AUDIO_OUTPUT: Shape = Shape::Object(&[
    opt("format", FORMAT),
    opt("voice", Shape::Enum(VOICES)),
    opt("speed", Shape::Num(0.25, 1.5)),
]);

/// GA `RealtimeFunctionTool`: every field optional in the type, none beyond these accepted.
const TOOL: Shape = Shape::Tagged(&[(
    "function",
    &[
        opt("name", Shape::Str),
        opt("description", Shape::Str),
        opt("parameters", Shape::Any),
    ],
)]);

const MODALITIES: Shape = Shape::Array(&Shape::Enum(&["text", "audio"]));

/// `session` of `session.update` (`type: "realtime"` is required; `temperature` is gone).
const SESSION: Shape = Shape::Tagged(&[(
    "realtime",
    &[
        opt("model", Shape::Str),
        opt("instructions", Shape::Str),
        opt("output_modalities", MODALITIES),
        opt(
            "audio",
            Shape::Object(&[opt("input", AUDIO_INPUT), opt("output", AUDIO_OUTPUT)]),
        ),
        opt(
            "include",
            Shape::Nullable(&Shape::Array(&Shape::Enum(&[
                "item.input_audio_transcription.logprobs",
            ]))),
        ),
        opt("max_output_tokens", Shape::IntOrInf(1, 4096)),
        opt("prompt", Shape::Nullable(&Shape::Any)),
        opt("tool_choice", Shape::Any),
        opt("tools", Shape::Array(&TOOL)),
        opt("tracing", Shape::Nullable(&Shape::Any)),
        opt("truncation", Shape::Any),
    ],
)]);

const CONTENT_PART: Shape = Shape::Tagged(&[
    ("input_text", &[opt("text", Shape::Str)]),
    (
        "input_audio",
        &[
            opt("audio", Shape::Str),
            opt("transcript", Shape::Nullable(&Shape::Str)),
        ],
    ),
    (
        "input_image",
        &[opt("image_url", Shape::Str), opt("detail", Shape::Str)],
    ),
    ("output_text", &[opt("text", Shape::Str)]),
    (
        "output_audio",
        &[
            opt("audio", Shape::Str),
            opt("transcript", Shape::Nullable(&Shape::Str)),
        ],
    ),
    ("text", &[opt("text", Shape::Str)]),
]);

const ITEM: Shape = Shape::Object(&[
    opt("id", Shape::Str),
    req(
        "type",
        Shape::Enum(&["message", "function_call", "function_call_output"]),
    ),
    opt("object", Shape::Enum(&["realtime.item"])),
    opt(
        "status",
        Shape::Enum(&["completed", "incomplete", "in_progress"]),
    ),
    opt("role", Shape::Enum(&["user", "assistant", "system"])),
    opt("content", Shape::Array(&CONTENT_PART)),
    opt("call_id", Shape::Str),
    opt("name", Shape::Str),
    opt("arguments", Shape::Str),
    opt("output", Shape::Str),
]);

const RESPONSE: Shape = Shape::Object(&[
    opt("conversation", Shape::Str),
    opt("instructions", Shape::Str),
    opt("output_modalities", MODALITIES),
    opt(
        "audio",
        Shape::Object(&[opt(
            "output",
            Shape::Object(&[opt("format", FORMAT), opt("voice", Shape::Enum(VOICES))]),
        )]),
    ),
    opt("max_output_tokens", Shape::IntOrInf(1, 4096)),
    opt("metadata", Shape::Nullable(&Shape::Any)),
    opt("prompt", Shape::Nullable(&Shape::Any)),
    opt("tool_choice", Shape::Any),
    opt("tools", Shape::Array(&Shape::Any)),
    opt("input", Shape::Array(&Shape::Any)),
]);

/// The fields (besides `type` and `event_id`) a client event of type `kind` may carry.
fn fields_of(kind: &str) -> &'static [Field] {
    match kind {
        "session.update" => const { &[req("session", SESSION)] },
        "input_audio_buffer.append" | "session.input_audio_buffer.append" => {
            const { &[req("audio", Shape::Str)] }
        }
        "conversation.item.create" => {
            const {
                &[
                    opt("previous_item_id", Shape::Nullable(&Shape::Str)),
                    req("item", ITEM),
                ]
            }
        }
        "conversation.item.retrieve" | "conversation.item.delete" => {
            const { &[req("item_id", Shape::Str)] }
        }
        "conversation.item.truncate" => {
            const {
                &[
                    req("item_id", Shape::Str),
                    req("content_index", Shape::Int(0, i64::MAX)),
                    req("audio_end_ms", Shape::Int(0, i64::MAX)),
                ]
            }
        }
        "response.create" => const { &[opt("response", RESPONSE)] },
        "response.cancel" => const { &[opt("response_id", Shape::Str)] },
        _ => &[],
    }
}

/// Checks one parsed client event; `Ok` means its shape is one the service accepts.
pub fn validate(event: &Value) -> Result<(), ApiError> {
    let Some(map) = event.as_object() else {
        return Err(ApiError::new(
            "invalid_type",
            "Invalid type for client event: expected an object.",
            None,
        ));
    };
    let kind = match map.get("type") {
        None => return Err(super::schema::missing("type")),
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(invalid_value("(not a string)", CLIENT_EVENT_TYPES, "type")),
    };
    if !CLIENT_EVENT_TYPES.contains(&kind) {
        return Err(invalid_value(
            &format!("'{kind}'"),
            CLIENT_EVENT_TYPES,
            "type",
        ));
    }
    if let Some(id) = map.get("event_id") {
        super::schema::check(id, &Shape::Str, "event_id")?;
    }
    check_fields(event, fields_of(kind), &["type", "event_id"], "")?;
    check_modalities(event)?;
    check_tool_choice(&event["session"]["tool_choice"], "session.tool_choice")?;
    check_tool_choice(&event["response"]["tool_choice"], "response.tool_choice")?;
    if kind == "conversation.item.create" {
        check_item(&event["item"])?;
    }
    Ok(())
}

/// `"none"`, `"auto"`, `"required"`, or `{"type":"function","name":…}` (GA
/// `RealtimeToolChoiceConfig`; the MCP form is not modelled).
fn check_tool_choice(value: &Value, path: &str) -> Result<(), ApiError> {
    const FUNCTION: Shape = Shape::Tagged(&[("function", &[req("name", Shape::Str)])]);
    match value {
        Value::Null => Ok(()),
        Value::String(_) => {
            super::schema::check(value, &Shape::Enum(&["none", "auto", "required"]), path)
        }
        _ => super::schema::check(value, &FUNCTION, path),
    }
}

/// The fields each item type needs and allows (GA `ConversationItem` variants): a
/// `function_call_output` carries `call_id` and `output` and no message fields.
fn check_item(item: &Value) -> Result<(), ApiError> {
    let (needs, refuses): (&[&str], &[&str]) = match item["type"].as_str() {
        Some("function_call_output") => (
            &["call_id", "output"],
            &["role", "content", "name", "arguments"],
        ),
        Some("function_call") => (
            &["call_id", "name", "arguments"],
            &["role", "content", "output"],
        ),
        _ => (&[], &["call_id", "name", "arguments", "output"]),
    };
    if let Some(name) = refuses.iter().find(|n| item.get(**n).is_some()) {
        return Err(super::schema::unknown(&format!("item.{name}")));
    }
    if let Some(name) = needs.iter().find(|n| item.get(**n).is_none()) {
        return Err(super::schema::missing(&format!("item.{name}")));
    }
    Ok(())
}

/// GA allows `["audio"]` (audio with its transcript) or `["text"]`, never both.
fn check_modalities(event: &Value) -> Result<(), ApiError> {
    for (value, path) in [
        (
            &event["session"]["output_modalities"],
            "session.output_modalities",
        ),
        (
            &event["response"]["output_modalities"],
            "response.output_modalities",
        ),
    ] {
        if let Some(items) = value.as_array() {
            if items.len() != 1 {
                return Err(ApiError::new(
                    "invalid_value",
                    format!(
                        "Invalid modalities: {value}. Supported combinations are: [\"text\"] and [\"audio\"]."
                    ),
                    Some(path),
                ));
            }
        }
    }
    Ok(())
}
