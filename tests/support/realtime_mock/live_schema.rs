//! The GPT-Live client events as live-notes §1 documents them (openai-python/-node `live`
//! types): strict shapes, so an unknown field anywhere in `session.start` is refused
//! `unknown_parameter` naming it (`session.turn_detection`), like the service. The shape
//! language and the error wording are shared with the GA mode (`schema.rs`).

use serde_json::Value;

use super::schema::{
    check, check_fields, invalid_value, missing, opt, req, ApiError, Field, Shape,
};

/// Every client event type the Live WebSocket accepts (live-notes §1, "Client events").
pub const CLIENT_EVENT_TYPES: &[&str] = &[
    "session.start",
    "session.update",
    "session.close",
    "session.input_audio.append",
    "session.input_audio.mute",
    "session.input_audio.unmute",
    "session.instructions.append",
    "session.thinking.append",
    "session.commentary.append",
    "response.item.create",
    "response.create",
];

/// The Live voice list (live-notes §1); `marin` is the default.
pub const VOICES: &[&str] = &[
    "alloy", "ash", "aube", "ballad", "beacon", "bossa", "brise", "cedar", "cinder", "coral",
    "delta", "echo", "flitz", "gleam", "harema", "juni", "marin", "meridian", "nira", "noeul",
    "nuri", "quartz", "ripple", "sage", "shimmer", "shitan", "sillage", "stone", "tempo", "verse",
    "vesper", "willow",
];

pub const DEFAULT_VOICE: &str = "marin";

/// `instructions` may hold 16,384 tokens and an append's `content` 500 (live-notes §1). The
/// mock counts a token as 4 characters, the usual rule of thumb for English.
const CHARS_PER_TOKEN: usize = 4;
const INSTRUCTIONS_TOKENS: usize = 16_384;
const CONTENT_TOKENS: usize = 500;
/// `input` holds at most 128 messages (live-notes §1).
const INPUT_MESSAGES: usize = 128;

/// `audio.format`, the same both ways. Every variant names its rate; the schema lists `rate`
/// with the G.711 types too (`{type:"audio/pcmu",rate:8000}`), and the mock requires it, the
/// strict reading (whether the service defaults a missing rate is unconfirmed).
pub const FORMAT: Shape = Shape::Tagged(&[
    ("audio/pcm", &[req("rate", Shape::IntIn(&[16000, 24000]))]),
    ("audio/pcmu", &[req("rate", Shape::IntIn(&[8000]))]),
    ("audio/pcma", &[req("rate", Shape::IntIn(&[8000]))]),
]);

const RESPONSES: Shape = Shape::Object(&[
    opt("model", Shape::Str),
    opt("instructions", Shape::Str),
    opt("tools", Shape::Array(&Shape::Any)),
    opt("tool_choice", Shape::Any),
    opt("reasoning", Shape::Any),
    opt("text", Shape::Any),
    opt("max_output_tokens", Shape::Int(1, i64::MAX)),
    opt("service_tier", Shape::Str),
    opt("parallel_tool_calls", Shape::Bool),
]);

/// Omitted, `null` or `{type:"client"}`: the app handles delegations; or Responses.
const DELEGATION: Shape = Shape::Nullable(&Shape::Tagged(&[
    ("client", &[]),
    ("responses", &[req("responses", RESPONSES)]),
]));

/// `session` of `session.start`. `voice` is a name or `{id}` (checked by `check_voice`).
/// `type: "live"` is not in the WebSocket's field list, but the SIP accept body carries it
/// (live-notes §4.4), so the mock lets it through (a guess).
const SESSION: Shape = Shape::Object(&[
    opt("type", Shape::Enum(&["live"])),
    req("model", Shape::Str),
    opt("instructions", Shape::Str),
    opt(
        "audio",
        Shape::Object(&[
            opt("format", FORMAT),
            opt("output", Shape::Object(&[opt("voice", Shape::Any)])),
        ]),
    ),
    opt("delegation", DELEGATION),
    opt("input", Shape::Array(&Shape::Any)),
    opt("store", Shape::Bool),
]);

/// `session` of `session.update`: only the delegation can change (live-notes §1).
const UPDATE: Shape = Shape::Object(&[opt("delegation", DELEGATION)]);

/// The fields (besides `type` and `event_id`) a client event of type `kind` may carry.
fn fields_of(kind: &str) -> &'static [Field] {
    match kind {
        "session.start" => const { &[req("session", SESSION)] },
        "session.update" => const { &[req("session", UPDATE)] },
        "session.input_audio.append" => const { &[req("audio", Shape::Str)] },
        "session.instructions.append" | "session.thinking.append" | "session.commentary.append" => {
            const {
                &[
                    req("content", Shape::Str),
                    req("delegation_id", Shape::Nullable(&Shape::Str)),
                ]
            }
        }
        "response.item.create" => const { &[req("item", Shape::Any)] },
        "response.create" => const { &[opt("response", Shape::Any)] },
        _ => &[],
    }
}

/// Checks one parsed client event; `Ok` means its shape is one the service accepts. An unknown
/// `type` is refused `invalid_value` on `type`, as the GA service words it (the Live wording
/// is not documented: a guess).
pub fn validate(event: &Value) -> Result<(), ApiError> {
    let Some(map) = event.as_object() else {
        return Err(ApiError::new(
            "invalid_type",
            "Invalid type for client event: expected an object.",
            None,
        ));
    };
    let kind = match map.get("type") {
        None => return Err(missing("type")),
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
        check(id, &Shape::Str, "event_id")?;
    }
    check_fields(event, fields_of(kind), &["type", "event_id"], "")?;
    let session = &event["session"];
    if kind == "session.start" {
        check_voice(&session["audio"]["output"]["voice"])?;
        check_length(
            &session["instructions"],
            INSTRUCTIONS_TOKENS,
            "session.instructions",
        )?;
        if session["input"].as_array().map_or(0, Vec::len) > INPUT_MESSAGES {
            return Err(ApiError::new(
                "array_above_max_length",
                format!("Invalid 'session.input': array too long. Expected an array with maximum length {INPUT_MESSAGES}."),
                Some("session.input"),
            ));
        }
    }
    check_length(&event["content"], CONTENT_TOKENS, "content")?;
    Ok(())
}

/// A voice is a name from the list or `{id}` (a custom voice); `null`/absent means `marin`.
fn check_voice(voice: &Value) -> Result<(), ApiError> {
    const PATH: &str = "session.audio.output.voice";
    match voice {
        Value::Null => Ok(()),
        Value::Object(_) => check_fields(voice, const { &[req("id", Shape::Str)] }, &[], PATH),
        _ => check(voice, &Shape::Enum(VOICES), PATH),
    }
}

fn check_length(value: &Value, tokens: usize, path: &str) -> Result<(), ApiError> {
    let Some(text) = value.as_str() else {
        return Ok(());
    };
    if text.chars().count() <= tokens * CHARS_PER_TOKEN {
        return Ok(());
    }
    Err(ApiError::new(
        "string_above_max_length",
        format!("Invalid '{path}': string too long. Expected at most {tokens} tokens."),
        Some(path),
    ))
}
