//! The session object the mock keeps per connection: GA defaults as `session.created` shows
//! them live (pcm 24 kHz both ways, voice alloy, server_vad 0.5/300/200 ms, no transcription),
//! how a `session.update` changes it (only fields present; `null` switches a feature off), and
//! the few settings the mock acts on.

use serde_json::{json, Value};

use super::audio::AudioFormat;

/// The `session` object of `session.created` for a new connection.
pub fn initial_session(id: &str, model: &str, expires_at: u64) -> Value {
    json!({
        "type": "realtime",
        "object": "realtime.session",
        "id": id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "You are a helpful, witty, and friendly AI.",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": null,
        "truncation": "auto",
        "prompt": null,
        "expires_at": expires_at,
        "audio": {
            "input": {
                "format": AudioFormat::Pcm24k.to_json(),
                "transcription": null,
                "noise_reduction": null,
                "turn_detection": turn_detection_defaults("server_vad"),
            },
            "output": {
                "format": AudioFormat::Pcm24k.to_json(),
                "voice": "alloy",
                "speed": 1.0,
            },
        },
        "include": null,
    })
}

fn turn_detection_defaults(kind: &str) -> Value {
    match kind {
        "semantic_vad" => json!({
            "type": "semantic_vad", "eagerness": "auto",
            "create_response": true, "interrupt_response": true,
        }),
        _ => json!({
            "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
            "silence_duration_ms": 200, "idle_timeout_ms": null,
            "create_response": true, "interrupt_response": true,
        }),
    }
}

/// Applies a validated `session.update` payload to `session`.
pub fn apply_update(session: &mut Value, update: &Value) {
    // A turn detection of another type starts from that type's defaults.
    let mut update = update.clone();
    if let Some(new) = update.pointer_mut("/audio/input/turn_detection") {
        if new.is_object() {
            let current = session.pointer("/audio/input/turn_detection").cloned();
            let same_type = current.as_ref().map(|c| &c["type"]) == Some(&new["type"]);
            if !same_type {
                let mut fresh = turn_detection_defaults(new["type"].as_str().unwrap_or_default());
                merge(&mut fresh, new);
                *new = fresh;
            }
        }
    }
    merge(session, &update);
}

/// Deep merge, except that format objects (tagged unions) and arrays are replaced whole.
fn merge(target: &mut Value, update: &Value) {
    let (Some(target), Some(update)) = (target.as_object_mut(), update.as_object()) else {
        return;
    };
    for (key, value) in update {
        match target.get_mut(key) {
            Some(current) if current.is_object() && value.is_object() && key != "format" => {
                merge(current, value)
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Turn detection settings the mock's VAD uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Turn {
    pub silence_ms: u32,
    pub prefix_ms: u32,
    pub create_response: bool,
    pub interrupt_response: bool,
}

/// What the mock does with a session object.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub input: AudioFormat,
    pub output: AudioFormat,
    pub voice: String,
    /// `None` when `turn_detection` is null (the client commits and asks for responses).
    pub turn: Option<Turn>,
    pub transcription: bool,
    pub text_only: bool,
}

impl Effective {
    pub fn of(session: &Value) -> Effective {
        let input = &session["audio"]["input"];
        let td = &input["turn_detection"];
        let flag = |name: &str| td[name].as_bool().unwrap_or(true);
        let turn = td.is_object().then(|| Turn {
            // Semantic VAD waits longer the less eager it is; the mock approximates it by silence.
            silence_ms: match (td["type"].as_str(), td["eagerness"].as_str()) {
                (Some("semantic_vad"), Some("low")) => 800,
                (Some("semantic_vad"), Some("high")) => 250,
                (Some("semantic_vad"), _) => 500,
                _ => td["silence_duration_ms"].as_u64().unwrap_or(200) as u32,
            },
            prefix_ms: td["prefix_padding_ms"].as_u64().unwrap_or(300) as u32,
            create_response: flag("create_response"),
            interrupt_response: flag("interrupt_response"),
        });
        Effective {
            input: AudioFormat::from_json(&input["format"]),
            output: AudioFormat::from_json(&session["audio"]["output"]["format"]),
            voice: session["audio"]["output"]["voice"]
                .as_str()
                .unwrap_or("alloy")
                .to_owned(),
            turn,
            transcription: input["transcription"].is_object(),
            text_only: session["output_modalities"] == json!(["text"]),
        }
    }
}
