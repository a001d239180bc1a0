//! One model response as the GA service streams it (realtime-notes §5): `response.created`,
//! the output item and content part, audio deltas in uneven chunks faster than real time with
//! transcript deltas between them, the `.done` events, `response.done`, `rate_limits.updated`.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};

use super::audio::{tone, uneven_chunks, AudioFormat};
use super::session_config::Effective;
use super::MockConfig;

/// The service sends `rate_limits.updated` about this long after `response.done` (live).
pub const RATE_LIMITS_DELAY: Duration = Duration::from_millis(40);

/// What sending a step means for the response's progress.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    None,
    /// An audio delta of this many ms for the response's item.
    Audio(f64),
    /// A transcript (or text) delta.
    Transcript(String),
    /// `response.done`: the response is no longer active.
    Finished,
}

/// A server event due `offset` after the response was created.
#[derive(Debug, Clone)]
pub struct Step {
    pub offset: Duration,
    pub event: Value,
    pub effect: Effect,
}

/// Ids and settings of one response.
#[derive(Debug, Clone)]
pub struct Spec {
    pub id: String,
    pub item_id: String,
    pub conversation_id: String,
    pub previous_item_id: Option<String>,
    pub output: AudioFormat,
    pub voice: String,
    pub text_only: bool,
}

impl Spec {
    pub fn new(
        id: String,
        item_id: String,
        conversation_id: String,
        previous: Option<String>,
        eff: &Effective,
    ) -> Spec {
        Spec {
            id,
            item_id,
            conversation_id,
            previous_item_id: previous,
            output: eff.output,
            voice: eff.voice.clone(),
            text_only: eff.text_only,
        }
    }

    fn ids(&self) -> Value {
        json!({"response_id": self.id, "item_id": self.item_id, "output_index": 0, "content_index": 0})
    }

    fn event(&self, kind: &str, extra: Value) -> Value {
        let mut event = self.ids();
        event["type"] = json!(kind);
        if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
            event.extend(extra.clone());
        }
        event
    }

    fn item(&self, status: &str, content: Vec<Value>) -> Value {
        json!({
            "id": self.item_id, "object": "realtime.item", "type": "message",
            "status": status, "role": "assistant", "content": content,
        })
    }

    fn part(&self, text: &str) -> Value {
        if self.text_only {
            json!({"type": "text", "text": text})
        } else {
            json!({"type": "audio", "transcript": text})
        }
    }

    fn content(&self, text: &str) -> Value {
        if self.text_only {
            json!({"type": "output_text", "text": text})
        } else {
            json!({"type": "output_audio", "transcript": text})
        }
    }

    /// The `response` object in `response.created` / `response.done`.
    pub fn response(
        &self,
        status: &str,
        details: Value,
        output: Vec<Value>,
        usage: Value,
    ) -> Value {
        json!({
            "object": "realtime.response", "id": self.id, "status": status,
            "status_details": details, "output": output,
            "conversation_id": self.conversation_id,
            "output_modalities": [if self.text_only { "text" } else { "audio" }],
            "max_output_tokens": "inf",
            "audio": {"output": {"format": self.output.to_json(), "voice": self.voice}},
            "usage": usage, "metadata": null,
        })
    }

    /// Events sent at once when the response starts.
    pub fn prelude(&self) -> Vec<Value> {
        let item = self.item("in_progress", vec![]);
        vec![
            json!({"type": "response.created",
                   "response": self.response("in_progress", Value::Null, vec![], Value::Null)}),
            json!({"type": "response.output_item.added", "response_id": self.id,
                   "output_index": 0, "item": item}),
            json!({"type": "conversation.item.added",
                   "previous_item_id": self.previous_item_id, "item": item}),
            self.event(
                "response.content_part.added",
                json!({"part": self.part("")}),
            ),
        ]
    }

    /// Everything after the prelude for a response that runs to completion.
    pub fn steps(&self, config: &MockConfig) -> Vec<Step> {
        let pace = |ms: f64| match config.pace {
            Some(speed) if speed > 0.0 => Duration::from_secs_f64(ms / 1000.0 / speed),
            _ => Duration::ZERO,
        };
        let pieces = words(&config.ai_text);
        let mut steps = Vec::new();
        let kind = if self.text_only {
            "response.output_text.delta"
        } else {
            "response.output_audio_transcript.delta"
        };
        let transcript_step = |offset, piece: &String| Step {
            offset,
            event: self.event(kind, json!({"delta": piece})),
            effect: Effect::Transcript(piece.clone()),
        };
        let mut end_ms = 0.0;
        if self.text_only {
            for (i, piece) in pieces.iter().enumerate() {
                steps.push(transcript_step(pace(20.0 * i as f64), piece));
            }
            end_ms = 20.0 * pieces.len() as f64;
        } else {
            let rate = self.output.rate();
            let samples = tone(config.tone_hz, config.tone_ms, rate, config.tone_amplitude);
            // Sizes are given for 8 kHz G.711; PCM16 at 24 kHz has 6 bytes per such byte.
            let scale = self.output.bytes_per_sample() * rate as usize / 8000;
            let sizes: Vec<usize> = config.chunk_sizes.iter().map(|s| s * scale).collect();
            let chunks = uneven_chunks(&self.output.encode(&samples), &sizes);
            let count = chunks.len().max(1);
            let mut next_piece = 0;
            for (i, chunk) in chunks.iter().enumerate() {
                let ms = self.output.ms_of_bytes(chunk.len());
                steps.push(Step {
                    offset: pace(end_ms),
                    event: self.event(
                        "response.output_audio.delta",
                        json!({"delta": BASE64.encode(chunk), "obfuscation": obfuscation(i)}),
                    ),
                    effect: Effect::Audio(ms),
                });
                end_ms += ms;
                // Spread the transcript over the audio, one piece after every few chunks.
                while next_piece < pieces.len() && next_piece * count / pieces.len() <= i {
                    steps.push(transcript_step(pace(end_ms), &pieces[next_piece]));
                    next_piece += 1;
                }
            }
            for piece in &pieces[next_piece..] {
                steps.push(transcript_step(pace(end_ms), piece));
            }
        }
        let text = config.ai_text.clone();
        let usage = json!({
            "total_tokens": 180, "input_tokens": 120, "output_tokens": 60,
            "input_token_details": {"text_tokens": 100, "audio_tokens": 20, "cached_tokens": 0},
            "output_token_details": {"text_tokens": 15, "audio_tokens": 45},
        });
        let end = pace(end_ms);
        let mut tail = self.tail(&text, "completed", Value::Null, usage);
        let last = tail.pop().expect("tail ends with response.done");
        steps.extend(tail.into_iter().map(|event| Step {
            offset: end,
            event,
            effect: Effect::None,
        }));
        steps.push(Step {
            offset: end,
            event: last,
            effect: Effect::Finished,
        });
        steps.push(Step {
            offset: end + RATE_LIMITS_DELAY,
            event: rate_limits(),
            effect: Effect::None,
        });
        steps
    }

    /// The closing events; `text` is the transcript (or text) sent so far. The item is
    /// `incomplete` unless the response completed.
    pub fn tail(&self, text: &str, status: &str, details: Value, usage: Value) -> Vec<Value> {
        let item_status = if status == "completed" {
            "completed"
        } else {
            "incomplete"
        };
        let item = self.item(item_status, vec![self.content(text)]);
        let mut events = Vec::new();
        if self.text_only {
            events.push(self.event("response.output_text.done", json!({"text": text})));
        } else {
            events.push(self.event("response.output_audio.done", json!({})));
            events.push(self.event(
                "response.output_audio_transcript.done",
                json!({"transcript": text}),
            ));
        }
        events.push(self.event(
            "response.content_part.done",
            json!({"part": self.part(text)}),
        ));
        events.push(json!({"type": "conversation.item.done", "previous_item_id": self.previous_item_id, "item": item}));
        events.push(
            json!({"type": "response.output_item.done", "response_id": self.id,
                           "output_index": 0, "item": item}),
        );
        events.push(json!({"type": "response.done",
                           "response": self.response(status, details, vec![item], usage)}));
        events
    }
}

/// A quota snapshot shaped like the live one.
pub fn rate_limits() -> Value {
    json!({"type": "rate_limits.updated", "rate_limits": [
        {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
        {"name": "tokens", "limit": 40000, "remaining": 39820, "reset_seconds": 0.27},
    ]})
}

/// `text` cut after each space, so the pieces join back to it.
pub fn words(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if c == ' ' {
            pieces.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// GA pads deltas with a random-length `obfuscation` string; clients must ignore it.
fn obfuscation(i: usize) -> String {
    "Zq3xP0wLm8Kd"
        .chars()
        .cycle()
        .skip(i % 5)
        .take(4 + i % 9)
        .collect()
}
