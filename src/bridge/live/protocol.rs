//! GPT-Live's WebSocket wire protocol, as far as a phone bridge needs it (live-notes §1).
//!
//! The client speaks first (`session.start`), streams caller audio continuously and closes
//! with `session.close`. Client events are exact and carry no field beyond these: the
//! service rejects unknown fields in `session.start` (`unknown_parameter`). Server events are
//! parsed leniently: unknown types become [`LiveServerEvent::Unknown`], unknown fields are
//! ignored, and every field the bridge does not need is optional.

use serde::{Deserialize, Serialize};

use crate::bridge::audio::WireFormat;
use crate::bridge::protocol::{encode_audio, event_type, ProtocolError};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum LiveClientEvent {
    /// The first message of every session; the server answers `session.started`.
    #[serde(rename = "session.start")]
    SessionStart { session: LiveSession },
    /// Caller audio in the session's format, base64; no answer. Silence too: the model
    /// takes turns by itself and needs to hear the caller stop.
    #[serde(rename = "session.input_audio.append")]
    InputAudioAppend { audio: String },
    /// The server drains, answers `session.closed` and closes the socket.
    #[serde(rename = "session.close")]
    SessionClose,
}

/// `session.start`'s session: everything in it is fixed for the session's life.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSession {
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    pub audio: LiveAudio,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveAudio {
    /// One format for both directions.
    pub format: LiveFormat,
    pub output: LiveOutput,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveOutput {
    pub voice: String,
}

/// Live formats always name their rate: `audio/pcm` at 16000 or 24000, G.711 at 8000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum LiveFormat {
    #[serde(rename = "audio/pcm")]
    Pcm { rate: u32 },
    #[serde(rename = "audio/pcmu")]
    Pcmu { rate: u32 },
    #[serde(rename = "audio/pcma")]
    Pcma { rate: u32 },
}

impl LiveFormat {
    /// The same bytes as on the Realtime side: G.711 passes through, Opus calls use PCM16
    /// at 24 kHz.
    pub fn for_wire(wire: WireFormat) -> LiveFormat {
        match wire {
            WireFormat::Pcmu => LiveFormat::Pcmu { rate: 8000 },
            WireFormat::Pcma => LiveFormat::Pcma { rate: 8000 },
            WireFormat::Pcm24 => LiveFormat::Pcm {
                rate: crate::bridge::audio::PCM_RATE,
            },
        }
    }
}

impl LiveClientEvent {
    pub fn to_json(&self) -> String {
        // Only strings and numbers: cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a client event strictly (for test servers that check what the bridge sends).
    pub fn parse(text: &str) -> Result<LiveClientEvent, ProtocolError> {
        serde_json::from_str(text).map_err(|source| ProtocolError::Json {
            kind: event_type(text),
            source,
        })
    }

    pub fn append(audio: &[u8]) -> LiveClientEvent {
        LiveClientEvent::InputAudioAppend {
            audio: encode_audio(audio),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum LiveServerEvent {
    #[serde(rename = "session.started")]
    SessionStarted {
        #[serde(default)]
        session: LiveSessionInfo,
    },
    /// The session is over; the socket closes next.
    #[serde(rename = "session.closed")]
    SessionClosed {
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        session: LiveSessionInfo,
    },
    /// Model audio at real-time pace, silence included.
    #[serde(rename = "session.output_audio.delta")]
    OutputAudioDelta { delta: String },
    /// The caller's words; no turn markers, no `.done`.
    #[serde(rename = "session.input_transcript.delta")]
    InputTranscriptDelta {
        #[serde(default)]
        delta: String,
        #[serde(default)]
        start_ms: Option<u64>,
        #[serde(default)]
        end_ms: Option<u64>,
    },
    #[serde(rename = "session.output_transcript.delta")]
    OutputTranscriptDelta {
        #[serde(default)]
        delta: String,
        #[serde(default)]
        start_ms: Option<u64>,
        #[serde(default)]
        end_ms: Option<u64>,
    },
    /// Cumulative billed seconds.
    #[serde(rename = "session.usage.updated")]
    UsageUpdated {
        #[serde(default)]
        usage: Usage,
    },
    #[serde(rename = "error")]
    Error {
        #[serde(default)]
        error: LiveApiError,
    },
    /// Informational notices; the shape is undocumented, so only a message is read.
    #[serde(rename = "info")]
    Info {
        #[serde(default)]
        message: Option<String>,
    },
    #[serde(other)]
    Unknown,
}

impl LiveServerEvent {
    pub fn parse(text: &str) -> Result<LiveServerEvent, ProtocolError> {
        serde_json::from_str(text).map_err(|source| ProtocolError::Json {
            kind: event_type(text),
            source,
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveSessionInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub seconds: f64,
}

/// The body of an `error` event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveApiError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// The `event_id` of the client event that caused it, when that had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_event_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn as_value(event: &LiveClientEvent) -> Value {
        serde_json::from_str(&event.to_json()).unwrap()
    }

    fn start(format: LiveFormat, instructions: Option<&str>) -> LiveClientEvent {
        LiveClientEvent::SessionStart {
            session: LiveSession {
                model: "gpt-live-1".into(),
                instructions: instructions.map(str::to_owned),
                audio: LiveAudio {
                    format,
                    output: LiveOutput {
                        voice: "marin".into(),
                    },
                },
            },
        }
    }

    #[test]
    fn session_start_for_a_pcmu_call_is_exactly_the_documented_shape() {
        let event = start(LiveFormat::for_wire(WireFormat::Pcmu), Some("Be brief."));
        assert_eq!(
            as_value(&event),
            json!({"type":"session.start","session":{"model":"gpt-live-1",
                "instructions":"Be brief.",
                "audio":{"format":{"type":"audio/pcmu","rate":8000},"output":{"voice":"marin"}}}})
        );
        assert_eq!(LiveClientEvent::parse(&event.to_json()).unwrap(), event);
    }

    #[test]
    fn pcma_and_opus_calls_name_their_formats_and_no_instructions_means_no_field() {
        let pcma = as_value(&start(LiveFormat::for_wire(WireFormat::Pcma), None));
        assert_eq!(
            pcma["session"]["audio"]["format"],
            json!({"type":"audio/pcma","rate":8000})
        );
        assert!(pcma["session"].get("instructions").is_none(), "{pcma}");
        let pcm = as_value(&start(LiveFormat::for_wire(WireFormat::Pcm24), None));
        assert_eq!(
            pcm["session"]["audio"]["format"],
            json!({"type":"audio/pcm","rate":24000})
        );
    }

    #[test]
    fn append_and_close_carry_nothing_else() {
        assert_eq!(
            as_value(&LiveClientEvent::append(&[0xFF, 0x7F])),
            json!({"type":"session.input_audio.append","audio":"/38="})
        );
        assert_eq!(
            as_value(&LiveClientEvent::SessionClose),
            json!({"type":"session.close"})
        );
    }

    #[test]
    fn a_strict_reader_refuses_unknown_fields_as_the_service_does() {
        let text = r#"{"type":"session.start","session":{"model":"gpt-live-1","turn_detection":{},
            "audio":{"format":{"type":"audio/pcmu","rate":8000},"output":{"voice":"marin"}}}}"#;
        assert!(LiveClientEvent::parse(text).is_err());
    }

    #[test]
    fn server_events_parse_leniently() {
        let parse = |v: Value| LiveServerEvent::parse(&v.to_string()).unwrap();
        assert_eq!(
            parse(json!({"type":"session.started","event_id":"e1",
                "session":{"id":"sess_1","model":"gpt-live-1","expires_at":1790000000,"extra":1}})),
            LiveServerEvent::SessionStarted {
                session: LiveSessionInfo {
                    id: Some("sess_1".into()),
                    model: Some("gpt-live-1".into()),
                    expires_at: Some(1_790_000_000),
                }
            }
        );
        assert_eq!(
            parse(json!({"type":"session.closed","reason":"expired","usage":{"seconds":3.0}})),
            LiveServerEvent::SessionClosed {
                reason: Some("expired".into()),
                session: LiveSessionInfo::default(),
            }
        );
        assert_eq!(
            parse(json!({"type":"session.output_audio.delta","delta":"AAA="})),
            LiveServerEvent::OutputAudioDelta {
                delta: "AAA=".into()
            }
        );
        assert_eq!(
            parse(
                json!({"type":"session.input_transcript.delta","delta":"hel","start_ms":100,"end_ms":400})
            ),
            LiveServerEvent::InputTranscriptDelta {
                delta: "hel".into(),
                start_ms: Some(100),
                end_ms: Some(400),
            }
        );
        assert_eq!(
            parse(json!({"type":"session.output_transcript.delta","delta":"Hi"})),
            LiveServerEvent::OutputTranscriptDelta {
                delta: "Hi".into(),
                start_ms: None,
                end_ms: None,
            }
        );
        assert_eq!(
            parse(
                json!({"type":"session.usage.updated","usage":{"seconds":12.5,"context_window":{}}})
            ),
            LiveServerEvent::UsageUpdated {
                usage: Usage { seconds: 12.5 }
            }
        );
        assert_eq!(
            parse(
                json!({"type":"error","event_id":"e9","error":{"type":"invalid_request_error",
                "code":"unknown_parameter","message":"Unknown parameter: 'session.foo'.",
                "param":"session.foo","client_event_id":"c1"}})
            ),
            LiveServerEvent::Error {
                error: LiveApiError {
                    kind: "invalid_request_error".into(),
                    code: Some("unknown_parameter".into()),
                    message: "Unknown parameter: 'session.foo'.".into(),
                    param: Some("session.foo".into()),
                    client_event_id: Some("c1".into()),
                }
            }
        );
        assert_eq!(
            parse(json!({"type":"info","message":"hello","x":1})),
            LiveServerEvent::Info {
                message: Some("hello".into())
            }
        );
        assert_eq!(
            parse(json!({"type":"session.delegation.created","delegation":{}})),
            LiveServerEvent::Unknown
        );
        assert!(LiveServerEvent::parse("not json").is_err());
        assert!(LiveServerEvent::parse(r#"{"type":"session.output_audio.delta"}"#).is_err());
    }
}
