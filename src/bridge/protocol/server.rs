//! Events the server sends. Everything beyond what the bridge acts on is optional or
//! defaulted, so a field the server drops or adds never costs us an event.

use serde::{Deserialize, Serialize};

use super::client::AudioFormat;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerEvent {
    #[serde(rename = "session.created")]
    SessionCreated { session: SessionInfo },
    #[serde(rename = "session.updated")]
    SessionUpdated { session: SessionInfo },
    #[serde(rename = "error")]
    Error { error: ApiError },
    /// Server VAD heard the caller start: the barge-in trigger.
    #[serde(rename = "input_audio_buffer.speech_started")]
    SpeechStarted {
        #[serde(default)]
        audio_start_ms: u32,
        #[serde(default)]
        item_id: String,
    },
    /// Server VAD heard the caller stop: the start of the turn's latency clock.
    #[serde(rename = "input_audio_buffer.speech_stopped")]
    SpeechStopped {
        #[serde(default)]
        audio_end_ms: u32,
        #[serde(default)]
        item_id: String,
    },
    #[serde(rename = "input_audio_buffer.committed")]
    InputCommitted {
        #[serde(default)]
        item_id: String,
        #[serde(default)]
        previous_item_id: Option<String>,
    },
    #[serde(rename = "conversation.item.added")]
    ItemAdded {
        #[serde(default)]
        previous_item_id: Option<String>,
        item: Item,
    },
    #[serde(rename = "conversation.item.done")]
    ItemDone {
        #[serde(default)]
        previous_item_id: Option<String>,
        item: Item,
    },
    #[serde(rename = "conversation.item.truncated")]
    ItemTruncated {
        item_id: String,
        #[serde(default)]
        content_index: u32,
        audio_end_ms: u32,
    },
    #[serde(rename = "conversation.item.input_audio_transcription.delta")]
    InputTranscriptDelta {
        item_id: String,
        #[serde(default)]
        content_index: u32,
        delta: String,
    },
    #[serde(rename = "conversation.item.input_audio_transcription.completed")]
    InputTranscriptCompleted {
        item_id: String,
        #[serde(default)]
        content_index: u32,
        transcript: String,
    },
    #[serde(rename = "conversation.item.input_audio_transcription.failed")]
    InputTranscriptFailed {
        item_id: String,
        #[serde(default)]
        content_index: u32,
        #[serde(default)]
        error: ApiError,
    },
    #[serde(rename = "response.created")]
    ResponseCreated { response: ResponseInfo },
    /// A chunk of model audio, base64 in the session's output format, of any length.
    #[serde(rename = "response.output_audio.delta")]
    AudioDelta {
        response_id: String,
        item_id: String,
        #[serde(default)]
        output_index: u32,
        #[serde(default)]
        content_index: u32,
        delta: String,
    },
    #[serde(rename = "response.output_audio.done")]
    AudioDone {
        response_id: String,
        item_id: String,
        #[serde(default)]
        output_index: u32,
        #[serde(default)]
        content_index: u32,
    },
    #[serde(rename = "response.output_audio_transcript.delta")]
    AudioTranscriptDelta {
        response_id: String,
        item_id: String,
        #[serde(default)]
        output_index: u32,
        #[serde(default)]
        content_index: u32,
        delta: String,
    },
    #[serde(rename = "response.output_audio_transcript.done")]
    AudioTranscriptDone {
        response_id: String,
        item_id: String,
        #[serde(default)]
        output_index: u32,
        #[serde(default)]
        content_index: u32,
        transcript: String,
    },
    #[serde(rename = "response.done")]
    ResponseDone { response: ResponseInfo },
    /// An output item begins; for a `function_call` item it names the function.
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        #[serde(default)]
        response_id: String,
        item: Item,
    },
    /// An output item is complete; a `function_call` item carries `call_id`, `name` and the
    /// whole `arguments`.
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        #[serde(default)]
        response_id: String,
        item: Item,
    },
    /// The model's arguments for a function call, complete (a JSON text). GA does not put
    /// the function's name here: it comes with the item (`response.output_item.added`).
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        #[serde(default)]
        response_id: String,
        #[serde(default)]
        item_id: String,
        call_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        arguments: String,
    },
    #[serde(rename = "rate_limits.updated")]
    RateLimitsUpdated {
        #[serde(default)]
        rate_limits: Vec<RateLimit>,
    },
    /// Any type not listed above (content parts, output items, GA-only extras, future events).
    #[serde(other)]
    Unknown,
}

/// The session object of `session.created` / `session.updated`. Its audio block is kept as raw
/// JSON: GA keeps adding options there, and a shape we cannot type must not lose the event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<serde_json::Value>,
}

impl SessionInfo {
    /// `audio.input.format`, when present and a format we know.
    pub fn input_format(&self) -> Option<AudioFormat> {
        self.format_at("input")
    }

    /// `audio.output.format`, when present and a format we know.
    pub fn output_format(&self) -> Option<AudioFormat> {
        self.format_at("output")
    }

    fn format_at(&self, side: &str) -> Option<AudioFormat> {
        let format = self.audio.as_ref()?.get(side)?.get("format")?;
        serde_json::from_value(format.clone()).ok()
    }
}

/// The body of an `error` event (and of failed transcriptions and responses).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub param: Option<String>,
    /// Echoes the `event_id` of the client event that caused it, when that had one.
    #[serde(default)]
    pub event_id: Option<String>,
}

/// A conversation item, reduced to what a transcript view needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default)]
    pub content: Vec<ContentPart>,
    /// `function_call` items: which call, which function, and its arguments (JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// One content part. GA names assistant parts `output_audio`/`output_text`, one live capture
/// showed `text`: the type stays a string so every spelling is accepted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseInfo {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub status: ResponseStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<StatusDetails>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    #[default]
    InProgress,
    Completed,
    Cancelled,
    Incomplete,
    Failed,
    #[serde(other)]
    Other,
}

/// Why a response ended early: `reason` is e.g. `turn_detected`, `client_cancelled`,
/// `max_output_tokens`, `content_filter`; `error` is set for failed responses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusDetails {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub limit: u64,
    #[serde(default)]
    pub remaining: u64,
    #[serde(default)]
    pub reset_seconds: f64,
}
