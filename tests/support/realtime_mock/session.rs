//! One accepted connection's session: it validates each client event, keeps the conversation,
//! runs the VAD on appended audio, starts, streams and cancels responses. It does no I/O: the
//! connection loop feeds it text and the clock, and sends what it queues.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};

use super::audio::Vad;
use super::ga::validate;
use super::record::{Direction, Recorder};
use super::response::{Effect, Spec};
use super::schema::ApiError;
use super::session_config::{apply_update, initial_session, Effective};
use super::MockConfig;

mod input;
mod output;

/// A scheduled server event (or action) and what it does when it fires.
struct Scheduled {
    /// The response it belongs to: cancelling that response drops it.
    owner: Option<String>,
    event: Option<Value>,
    action: Action,
}

enum Action {
    Effect(Effect),
    StartResponse,
}

struct Item {
    id: String,
    json: Value,
    /// Assistant audio held by the item in ms (`None` for items without model audio).
    audio_ms: Option<f64>,
}

struct Active {
    spec: Spec,
    text: String,
}

pub struct Session {
    config: Arc<MockConfig>,
    rec: Arc<Mutex<Recorder>>,
    connection: usize,
    session: Value,
    eff: Effective,
    conversation_id: String,
    vad: Vad,
    speech_item: Option<String>,
    buffered_ms: f64,
    items: Vec<Item>,
    active: Option<Active>,
    schedule: BTreeMap<(Instant, u64), Scheduled>,
    seq: u64,
    out: Vec<Value>,
    /// Set by `session.close`: the connection loop closes with this code.
    pub close: Option<u16>,
    /// Responses started so far (for `MockConfig::end_call`).
    responses: usize,
    /// The greeting (`MockConfig::greet_after`) is scheduled.
    greeted: bool,
}

impl Session {
    /// A new session; `session.created` is queued.
    pub fn new(
        config: Arc<MockConfig>,
        rec: Arc<Mutex<Recorder>>,
        connection: usize,
        model: &str,
    ) -> Session {
        let (id, conversation_id) = {
            let mut r = rec.lock().unwrap();
            (r.id("sess"), r.id("conv"))
        };
        let expires_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() + 3600)
            .unwrap_or_default();
        let session = initial_session(&id, model, expires_at);
        let mut s = Session {
            vad: Vad::new(config.vad_threshold_dbfs, config.vad_start_ms),
            eff: Effective::of(&session),
            config,
            rec,
            connection,
            session,
            conversation_id,
            speech_item: None,
            buffered_ms: 0.0,
            items: Vec::new(),
            active: None,
            schedule: BTreeMap::new(),
            seq: 0,
            out: Vec::new(),
            close: None,
            responses: 0,
            greeted: false,
        };
        let created = json!({"type": "session.created", "session": s.session});
        s.out.push(created);
        s
    }

    /// Events to send now, in order.
    pub fn take_out(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.out)
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.schedule.keys().next().map(|(at, _)| *at)
    }

    fn id(&self, prefix: &str) -> String {
        self.rec.lock().unwrap().id(prefix)
    }

    fn at(&mut self, due: Instant, owner: Option<String>, event: Option<Value>, action: Action) {
        self.seq += 1;
        self.schedule.insert(
            (due, self.seq),
            Scheduled {
                owner,
                event,
                action,
            },
        );
    }

    /// Moves every scheduled event due by `now` to the outgoing queue.
    pub fn fire_due(&mut self, now: Instant) {
        while let Some(entry) = self.schedule.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let Scheduled { event, action, .. } = entry.remove();
            match action {
                Action::StartResponse => {
                    if self.active.is_none() {
                        self.start_response(now);
                    }
                }
                Action::Effect(effect) => self.apply(effect),
            }
            self.out.extend(event);
        }
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::None => {}
            Effect::Audio(ms) => {
                let Some(active) = &self.active else { return };
                let item_id = active.spec.item_id.clone();
                if let Some(item) = self.items.iter_mut().find(|i| i.id == item_id) {
                    *item.audio_ms.get_or_insert(0.0) += ms;
                }
                *self
                    .rec
                    .lock()
                    .unwrap()
                    .audio_sent
                    .entry(item_id)
                    .or_default() += ms;
            }
            Effect::Transcript(piece) => {
                if let Some(active) = self.active.as_mut() {
                    active.text.push_str(&piece);
                }
            }
            Effect::Finished => {
                let Some(Active { spec, text }) = self.active.take() else {
                    return;
                };
                let tail = spec.tail(&text, "completed", Value::Null, Value::Null);
                if let Some(item) = self.items.iter_mut().find(|i| i.id == spec.item_id) {
                    item.json = tail[tail.len() - 2]["item"].clone();
                }
            }
        }
    }

    /// Handles one text frame from the client.
    pub fn on_text(&mut self, text: &str, now: Instant) {
        let event: Value = match serde_json::from_str(text) {
            Ok(event) => event,
            Err(e) => {
                self.rec.lock().unwrap().log_event(
                    self.connection,
                    Direction::FromClient,
                    &json!(text),
                );
                let message = format!("We could not parse the JSON body of your event: {e}");
                return self.error(&ApiError::new("invalid_json", message, None), None);
            }
        };
        self.rec
            .lock()
            .unwrap()
            .log_event(self.connection, Direction::FromClient, &event);
        let event_id = event["event_id"].as_str().map(str::to_owned);
        if let Err(error) = validate(&event).and_then(|()| self.dispatch(&event, now)) {
            self.error(&error, event_id.as_deref());
        }
    }

    fn error(&mut self, error: &ApiError, event_id: Option<&str>) {
        self.out.push(json!({"type": "error", "error": {
            "type": error.kind, "code": error.code, "message": error.message,
            "param": error.param, "event_id": event_id,
        }}));
    }

    fn dispatch(&mut self, event: &Value, now: Instant) -> Result<(), ApiError> {
        match event["type"].as_str().unwrap_or_default() {
            "session.update" => {
                apply_update(&mut self.session, &event["session"]);
                let eff = Effective::of(&self.session);
                if eff.turn.is_none() || eff.input != self.eff.input {
                    self.vad.reset();
                    self.speech_item = None;
                }
                self.eff = eff;
                self.out
                    .push(json!({"type": "session.updated", "session": self.session}));
                if let (Some(after), false) = (self.config.greet_after, self.greeted) {
                    self.greeted = true;
                    self.at(now + after, None, None, Action::StartResponse);
                }
            }
            "input_audio_buffer.append" | "session.input_audio_buffer.append" => {
                self.append(event["audio"].as_str().unwrap_or_default(), now)?
            }
            "input_audio_buffer.commit" => {
                if self.buffered_ms < 100.0 {
                    let message = format!(
                        "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has {:.2}ms of audio.",
                        self.buffered_ms
                    );
                    return Err(ApiError::new(
                        "input_audio_buffer_commit_empty",
                        message,
                        None,
                    ));
                }
                self.vad.reset();
                let item_id = self.speech_item.take().unwrap_or_else(|| self.id("item"));
                self.commit(&item_id, now);
            }
            "input_audio_buffer.clear" => {
                self.buffered_ms = 0.0;
                self.vad.reset();
                self.speech_item = None;
                self.out.push(json!({"type": "input_audio_buffer.cleared"}));
            }
            "conversation.item.create" => {
                let mut item = event["item"].clone();
                let id = item["id"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| self.id("item"));
                item["id"] = json!(id);
                item["object"] = json!("realtime.item");
                item["status"] = json!("completed");
                self.add_item(Item {
                    id,
                    json: item,
                    audio_ms: None,
                });
            }
            "conversation.item.retrieve" => {
                let item = self.find(event["item_id"].as_str().unwrap_or_default())?;
                let item = self.items[item].json.clone();
                self.out
                    .push(json!({"type": "conversation.item.retrieved", "item": item}));
            }
            "conversation.item.delete" => {
                let item = self.find(event["item_id"].as_str().unwrap_or_default())?;
                let item = self.items.remove(item);
                self.out
                    .push(json!({"type": "conversation.item.deleted", "item_id": item.id}));
            }
            "conversation.item.truncate" => self.truncate(event)?,
            "response.create" => {
                if let Some(active) = &self.active {
                    let message = format!(
                        "Conversation already has an active response in progress: {}. Wait until the response is finished before creating a new one.",
                        active.spec.id
                    );
                    return Err(ApiError::new(
                        "conversation_already_has_active_response",
                        message,
                        None,
                    ));
                }
                self.start_response(now);
            }
            "response.cancel" => {
                let wanted = event["response_id"].as_str();
                let active = self.active.as_ref().map(|a| a.spec.id.as_str());
                if active.is_none() || wanted.is_some_and(|w| Some(w) != active) {
                    let message = "Cancellation failed: no active response found";
                    return Err(ApiError::new("response_cancel_not_active", message, None));
                }
                self.cancel("client_cancelled", now);
            }
            "session.close" => self.close = Some(1000),
            _ => {}
        }
        Ok(())
    }

    fn find(&self, item_id: &str) -> Result<usize, ApiError> {
        self.items
            .iter()
            .position(|i| i.id == item_id)
            .ok_or_else(|| {
                let message = format!("Item with item_id not found: {item_id}");
                ApiError::new("item_not_found", message, Some("item_id"))
            })
    }

    fn add_item(&mut self, item: Item) {
        let previous = self.items.last().map(|i| i.id.clone());
        for kind in ["conversation.item.added", "conversation.item.done"] {
            self.out
                .push(json!({"type": kind, "previous_item_id": previous, "item": item.json}));
        }
        self.items.push(item);
    }
}
