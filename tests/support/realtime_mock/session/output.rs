//! The model's side of a session: starting a response, cancelling it (barge-in or
//! `response.cancel`), and truncating an assistant item to what the caller heard.

use std::time::Instant;

use serde_json::{json, Value};

use super::super::record::Truncate;
use super::super::response::{rate_limits, Effect, Spec, Step, RATE_LIMITS_DELAY};
use super::super::schema::ApiError;
use super::{Action, Active, Item, Session};

impl Session {
    pub(super) fn start_response(&mut self, now: Instant) {
        let previous = self.items.last().map(|i| i.id.clone());
        let spec = Spec::new(
            self.id("resp"),
            self.id("item"),
            self.conversation_id.clone(),
            previous,
            &self.eff,
        );
        self.out.extend(spec.prelude());
        let item = spec.prelude()[1]["item"].clone();
        let audio_ms = (!spec.text_only).then_some(0.0);
        self.items.push(Item {
            id: spec.item_id.clone(),
            json: item,
            audio_ms,
        });
        self.responses += 1;
        let mut steps = spec.steps(&self.config);
        if let Some(end) = self.config.end_call.clone() {
            if end.after_turns == self.responses && self.declares_end_call() {
                let call = self.end_call_item(&end);
                self.items.push(Item {
                    id: call["id"].as_str().unwrap_or_default().to_owned(),
                    json: call.clone(),
                    audio_ms: None,
                });
                with_function_call(&mut steps, &spec, &call);
            }
        }
        for step in steps {
            self.at(
                now + step.offset,
                Some(spec.id.clone()),
                Some(step.event),
                Action::Effect(step.effect),
            );
        }
        self.active = Some(Active {
            spec,
            text: String::new(),
        });
    }

    /// The session's tools name `end_call`.
    fn declares_end_call(&self) -> bool {
        self.session["tools"]
            .as_array()
            .is_some_and(|tools| tools.iter().any(|t| t["name"] == "end_call"))
    }

    /// The completed `function_call` item of an `end_call`.
    fn end_call_item(&self, end: &super::super::EndCall) -> Value {
        let arguments = json!({"passed": end.passed, "reason": end.reason}).to_string();
        json!({"id": self.id("item"), "object": "realtime.item", "type": "function_call",
               "status": "completed", "name": "end_call", "call_id": self.id("call"),
               "arguments": arguments})
    }

    /// Cancels the active response: its remaining deltas are dropped, the closing events
    /// carry what was sent so far, and `response.done` says `cancelled` with `reason`.
    pub(super) fn cancel(&mut self, reason: &str, now: Instant) {
        let Some(active) = self.active.take() else {
            return;
        };
        let id = active.spec.id.clone();
        self.schedule
            .retain(|_, s| s.owner.as_deref() != Some(id.as_str()));
        let details = json!({"type": "cancelled", "reason": reason});
        let tail = active
            .spec
            .tail(&active.text, "cancelled", details, Value::Null);
        if let Some(item) = self.items.iter_mut().find(|i| i.id == active.spec.item_id) {
            item.json = tail[tail.len() - 2]["item"].clone();
        }
        self.out.extend(tail);
        self.at(
            now + RATE_LIMITS_DELAY,
            None,
            Some(rate_limits()),
            Action::Effect(Effect::None),
        );
    }

    pub(super) fn truncate(&mut self, event: &Value) -> Result<(), ApiError> {
        let item_id = event["item_id"].as_str().unwrap_or_default().to_owned();
        let content_index = event["content_index"].as_u64().unwrap_or_default();
        let audio_end_ms = event["audio_end_ms"].as_u64().unwrap_or_default();
        let found = self.items.iter().position(|i| i.id == item_id);
        let item_audio_ms = found.and_then(|i| self.items[i].audio_ms);
        let outcome = match (found, item_audio_ms) {
            (None, _) => self.find(&item_id).map(|_| ()),
            (Some(_), audio) if audio.unwrap_or(0.0) <= 0.0 || audio_end_ms == 0 => {
                Err(ApiError::new(
                    "unsupported_content_type",
                    "Only model output audio messages can be truncated",
                    None,
                ))
            }
            (Some(_), _) if content_index != 0 => Err(ApiError::new(
                "invalid_value",
                format!(
                    "Invalid 'content_index': item {item_id} has no content part {content_index}."
                ),
                Some("content_index"),
            )),
            (Some(_), Some(audio)) if audio_end_ms > audio.floor() as u64 => Err(ApiError::new(
                "invalid_value",
                format!(
                    "Audio content of {}ms is already shorter than {audio_end_ms}ms",
                    audio.floor()
                ),
                Some("audio_end_ms"),
            )),
            (Some(i), _) => {
                self.items[i].audio_ms = Some(audio_end_ms as f64);
                self.out.push(
                    json!({"type": "conversation.item.truncated", "item_id": item_id,
                                     "content_index": content_index, "audio_end_ms": audio_end_ms}),
                );
                Ok(())
            }
        };
        let mut rec = self.rec.lock().unwrap();
        let at = rec.now();
        rec.truncates.push(Truncate {
            at,
            connection: self.connection,
            item_id,
            content_index,
            audio_end_ms,
            item_audio_ms,
            error: outcome.as_ref().err().map(|e| e.code.clone()),
        });
        outcome
    }
}

/// Adds a function call as the response's second output item, after its audio and before
/// `response.done` (whose `output` lists it too), as GA streams one: `output_item.added`,
/// `conversation.item.added`, the arguments' deltas and `.done`, `output_item.done`,
/// `conversation.item.done`.
fn with_function_call(steps: &mut Vec<Step>, spec: &Spec, call: &Value) {
    let Some(done) = steps
        .iter()
        .position(|s| s.event["type"] == "response.done")
    else {
        return;
    };
    let offset = steps[done].offset;
    let arguments = call["arguments"].as_str().unwrap_or_default().to_owned();
    let (first, rest) = arguments.split_at(arguments.len() / 2);
    let mut started = call.clone();
    started["status"] = json!("in_progress");
    started["arguments"] = json!("");
    let ids = json!({"response_id": spec.id, "item_id": call["id"], "output_index": 1,
                     "call_id": call["call_id"]});
    let with_ids = |kind: &str, extra: Value| {
        let mut event = ids.clone();
        event["type"] = json!(kind);
        if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
            event.extend(extra.clone());
        }
        event
    };
    let events = [
        json!({"type": "response.output_item.added", "response_id": spec.id,
               "output_index": 1, "item": started}),
        json!({"type": "conversation.item.added", "previous_item_id": spec.item_id,
               "item": started}),
        with_ids(
            "response.function_call_arguments.delta",
            json!({"delta": first}),
        ),
        with_ids(
            "response.function_call_arguments.delta",
            json!({"delta": rest}),
        ),
        with_ids(
            "response.function_call_arguments.done",
            json!({"arguments": arguments}),
        ),
        json!({"type": "response.output_item.done", "response_id": spec.id,
               "output_index": 1, "item": call}),
        json!({"type": "conversation.item.done", "previous_item_id": spec.item_id,
               "item": call}),
    ];
    if let Some(output) = steps[done].event["response"]["output"].as_array_mut() {
        output.push(call.clone());
    }
    let inserted = events.into_iter().map(|event| Step {
        offset,
        event,
        effect: Effect::None,
    });
    steps.splice(done..done, inserted);
}
