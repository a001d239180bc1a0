//! One GPT-Live session (live-notes §1–2): it waits for the client's `session.start`, checks
//! it strictly and answers `session.started`, then streams `session.output_audio.delta` at real
//! time, 100 ms per delta, silence included, from the start to the end; it runs the energy VAD
//! on the appended audio and takes turns by itself (input transcript deltas while the caller
//! talks, a tone with output transcript deltas after the caller stops), and stops talking when
//! the caller speaks over it. Like `Session` it does no I/O: the connection loop feeds it text
//! and the clock, and sends what it queues.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::audio::{AudioFormat, Vad};
use super::live_schema::{validate, DEFAULT_VOICE};
use super::record::{Direction, Recorder};
use super::schema::ApiError;
use super::MockConfig;

mod input;
mod output;

/// Each output delta holds this much audio ("100 ms deltas, zeros": live-notes §1 [X], an
/// unconfirmed capture; the SDKs only say "real-time pace, silence included").
pub const DELTA: Duration = Duration::from_millis(100);

/// Until `session.start` is accepted the session has no `session` object.
pub struct LiveSession {
    config: Arc<MockConfig>,
    rec: Arc<Mutex<Recorder>>,
    connection: usize,
    /// The `session` object of `session.started`, `None` before.
    session: Option<Value>,
    format: AudioFormat,
    started_at: Option<Instant>,
    /// Output deltas sent: the output timeline is `ticks * 100 ms`.
    ticks: u64,
    next_usage: Option<Instant>,
    vad: Vad,
    /// Milliseconds of caller audio appended (the input timeline).
    input_ms: f64,
    muted: bool,
    caller: Option<output::CallerTurn>,
    talk: Option<output::Talk>,
    /// When the model starts its reply (after the caller stopped).
    reply_at: Option<Instant>,
    out: Vec<Value>,
    /// Set when the session ends (closed on request, expired, or a refused start): the
    /// connection loop sends what is queued, then closes with this code and reason.
    pub close: Option<(u16, String)>,
}

impl LiveSession {
    pub fn new(config: Arc<MockConfig>, rec: Arc<Mutex<Recorder>>, connection: usize) -> Self {
        LiveSession {
            vad: Vad::new(config.vad_threshold_dbfs, config.vad_start_ms),
            config,
            rec,
            connection,
            session: None,
            format: AudioFormat::Pcm24k,
            started_at: None,
            ticks: 0,
            next_usage: None,
            input_ms: 0.0,
            muted: false,
            caller: None,
            talk: None,
            reply_at: None,
            out: Vec::new(),
            close: None,
        }
    }

    /// Events to send now, in order.
    pub fn take_out(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.out)
    }

    /// Handles one text frame from the client.
    pub fn on_text(&mut self, text: &str, now: Instant) {
        let event: Value = match serde_json::from_str(text) {
            Ok(event) => event,
            Err(e) => {
                self.log(&json!(text));
                let message = format!("We could not parse the JSON body of your event: {e}");
                return self.error(&ApiError::new("invalid_json", message, None), None);
            }
        };
        self.log(&event);
        let event_id = event["event_id"].as_str().map(str::to_owned);
        let starting = self.session.is_none() && event["type"] == "session.start";
        if let Err(error) = validate(&event).and_then(|()| self.dispatch(&event, now)) {
            self.error(&error, event_id.as_deref());
            if starting {
                // An error before `session.started` is a failed start (live-notes §1 [6]).
                // The close code is undocumented; 4000 `<type>.<code>` as on Realtime (a guess).
                self.refused(&error.code);
                self.close = Some((4000, format!("{}.{}", error.kind, error.code)));
            }
        }
    }

    fn log(&self, event: &Value) {
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        rec.log_event(self.connection, Direction::FromClient, event);
    }

    fn refused(&self, code: &str) {
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        rec.connection(self.connection).outcome = super::Outcome::RefusedInBand(code.to_owned());
    }

    fn error(&mut self, error: &ApiError, client_event_id: Option<&str>) {
        self.out.push(error_event(error, client_event_id));
    }

    fn dispatch(&mut self, event: &Value, now: Instant) -> Result<(), ApiError> {
        let kind = event["type"].as_str().unwrap_or_default();
        if kind == "session.start" {
            if self.session.is_some() {
                // Wording and code are the mock's (undocumented).
                return Err(ApiError::new(
                    "session_already_started",
                    "The session has already started; session.start may be sent only once.",
                    None,
                ));
            }
            return self.start(&event["session"], now);
        }
        let Some(session) = self.session.as_mut() else {
            // Undocumented: the mock refuses anything before the start, and keeps waiting.
            return Err(ApiError::new(
                "session_not_started",
                format!("'{kind}' was sent before session.start; send session.start first and wait for session.started."),
                None,
            ));
        };
        match kind {
            "session.update" => {
                if let Some(delegation) = event["session"].get("delegation") {
                    session["delegation"] = delegation.clone();
                }
                let session = session.clone();
                self.out
                    .push(json!({"type": "session.updated", "session": session}));
            }
            "session.input_audio.append" => {
                self.append(event["audio"].as_str().unwrap_or_default(), now)?
            }
            "session.input_audio.mute" | "session.input_audio.unmute" => {
                self.muted = kind.ends_with(".mute");
                if self.muted {
                    self.vad.reset();
                }
                let ack = format!("{kind}d");
                self.out.push(json!({"type": ack}));
            }
            "session.instructions.append"
            | "session.thinking.append"
            | "session.commentary.append" => {
                let content = event["content"].as_str().unwrap_or_default();
                let (start_ms, end_ms) = if kind == "session.commentary.append" {
                    // Commentary is spoken: the model says it (as its tone) unless it is
                    // already talking, when the mock lets it pass unspoken.
                    self.speak(content)
                } else {
                    let at = self.output_ms();
                    (at, at)
                };
                let ack = kind.replace(".append", ".appended");
                self.out
                    .push(json!({"type": ack, "start_ms": start_ms, "end_ms": end_ms,
                                     "delegation_id": event["delegation_id"]}));
            }
            "response.item.create" | "response.create"
                if session["delegation"]["type"] != "responses" =>
            {
                // The mock's wording and code (undocumented).
                return Err(ApiError::new(
                    "invalid_value",
                    format!("'{kind}' is only available with Responses delegation (session.delegation.type 'responses')."),
                    Some("type"),
                ));
            }
            // With Responses delegation: accepted; the mock runs no Responses model.
            "session.close" => self.finish("close_requested"),
            _ => {}
        }
        Ok(())
    }

    /// Accepts a validated `session.start` payload, or refuses its model.
    fn start(&mut self, request: &Value, now: Instant) -> Result<(), ApiError> {
        let model = request["model"].as_str().unwrap_or_default();
        if !self.config.live_models.iter().any(|m| m == model) {
            let supported: Vec<String> = self
                .config
                .live_models
                .iter()
                .map(|m| format!("'{m}'"))
                .collect();
            let hint = if self.config.models.iter().any(|m| m == model) {
                " Realtime models are served at /v1/realtime."
            } else {
                ""
            };
            // Live-notes §1 [10] documents `invalid_model` for the reverse case; the mock
            // refuses a Realtime model in `session.start` the same way (wording a guess).
            let message = format!(
                "Invalid model: '{model}'. Supported GPT-Live models are {}.{hint}",
                supported.join(", ")
            );
            return Err(ApiError::new(
                "invalid_model",
                message,
                Some("session.model"),
            ));
        }
        let audio = &request["audio"];
        // Without `audio.format` the mock assumes PCM16 at 24 kHz (the default is undocumented).
        self.format = match audio.get("format") {
            Some(format) if format.is_object() => AudioFormat::from_json(format),
            _ => AudioFormat::Pcm24k,
        };
        let voice = match &audio["output"]["voice"] {
            Value::Null => json!(DEFAULT_VOICE),
            voice => voice.clone(),
        };
        let id = self
            .rec
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .id("sess");
        // `expires_at` is in the session (documented); the duration is unconfirmed: an hour.
        let expires_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() + 3600)
            .unwrap_or_default();
        let mut session = json!({
            "id": id, "object": "live.session", "model": model, "expires_at": expires_at,
            "instructions": request.get("instructions").cloned().unwrap_or(Value::Null),
            "audio": {"format": self.format.to_live_json(), "output": {"voice": voice}},
            "delegation": request.get("delegation").cloned().unwrap_or(Value::Null),
        });
        if let Some(store) = request.get("store") {
            session["store"] = store.clone();
        }
        {
            let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
            rec.connection(self.connection).model = Some(model.to_owned());
        }
        self.out
            .push(json!({"type": "session.started", "session": session}));
        self.session = Some(session);
        self.started_at = Some(now);
        self.next_usage = Some(now + self.config.live_usage_interval);
        Ok(())
    }

    /// `session.closed` with `reason`; the connection then closes with 1000, which the SDKs
    /// use for a normal end (live-notes §1 [9]; the service's own codes are undocumented).
    pub fn finish(&mut self, reason: &str) {
        if self.close.is_some() {
            return;
        }
        self.out
            .push(json!({"type": "session.closed", "reason": reason,
                             "session": self.session, "usage": self.usage()}));
        self.close = Some((1000, String::new()));
    }

    /// Cumulative billed seconds: whole seconds of the output stream so far.
    fn usage(&self) -> Value {
        json!({"seconds": self.ticks / 10})
    }
}

/// A Live `error` event: like GA's, but the client's `event_id` comes back as
/// `error.client_event_id` (live-notes §1, §2).
pub fn error_event(error: &ApiError, client_event_id: Option<&str>) -> Value {
    json!({"type": "error", "error": {
        "type": error.kind, "code": error.code, "message": error.message,
        "param": error.param, "client_event_id": client_event_id,
    }})
}
