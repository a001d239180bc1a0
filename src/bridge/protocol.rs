//! The OpenAI Realtime API's GA wire protocol, as far as a phone bridge needs it.
//!
//! Every message is one JSON text frame with a `type`. We own these ~20 shapes rather than
//! pull in an SDK: the GA/beta split made most crates' types unreliable, and a bridge needs
//! only a handful. Server events are parsed leniently (unknown types become
//! [`ServerEvent::Unknown`], unknown fields are ignored: GA adds e.g. `obfuscation` padding to
//! deltas); client events are exact, because the server rejects fields it does not know.
//! Both directions derive `Serialize` and `Deserialize`, so a test server can reuse them.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

mod client;
mod server;
#[cfg(test)]
mod tests;

pub use client::{
    AudioFormat, AudioInput, AudioOutput, ClientEvent, Modality, NewItem, Session, SessionAudio,
    SessionType, Tool, Transcription, TurnDetection,
};
pub use server::{
    ApiError, ContentPart, Item, RateLimit, ResponseInfo, ResponseStatus, ServerEvent, SessionInfo,
    StatusDetails,
};

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// Not JSON, or a known event type whose required fields are missing or mistyped. The
    /// message names the event type when it could be read, never the (possibly huge) text.
    #[error("unreadable Realtime event{}: {source}", kind.as_ref().map(|k| format!(" '{k}'")).unwrap_or_default())]
    Json {
        kind: Option<String>,
        #[source]
        source: serde_json::Error,
    },
    #[error("Realtime audio is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
}

impl ServerEvent {
    /// Parses one text frame from the server.
    pub fn parse(text: &str) -> Result<ServerEvent, ProtocolError> {
        serde_json::from_str(text).map_err(|source| ProtocolError::Json {
            kind: event_type(text),
            source,
        })
    }
}

impl ClientEvent {
    /// The JSON text frame for this event.
    pub fn to_json(&self) -> String {
        // Our own types hold only strings, numbers and maps with string keys: cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a client event (for test servers that check what the bridge sends).
    pub fn parse(text: &str) -> Result<ClientEvent, ProtocolError> {
        serde_json::from_str(text).map_err(|source| ProtocolError::Json {
            kind: event_type(text),
            source,
        })
    }

    /// An `input_audio_buffer.append` carrying `audio` in the session's input format.
    pub fn append(audio: &[u8]) -> ClientEvent {
        ClientEvent::InputAudioBufferAppend {
            audio: encode_audio(audio),
        }
    }
}

/// The `type` of an event that failed to parse, for the error message.
pub(crate) fn event_type(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_str::<Typed>(text).ok().map(|t| t.kind)
}

pub fn encode_audio(audio: &[u8]) -> String {
    BASE64.encode(audio)
}

pub fn decode_audio(text: &str) -> Result<Vec<u8>, ProtocolError> {
    Ok(BASE64.decode(text)?)
}
