//! The caller's side of a session: appended audio, the VAD's turns, commits and the caller
//! transcription.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::json;

use super::super::audio::VadEvent;
use super::super::record::Append;
use super::super::response::{words, Effect};
use super::super::schema::ApiError;
use super::{Action, Item, Session};

impl Session {
    pub(super) fn append(&mut self, audio: &str, now: Instant) -> Result<(), ApiError> {
        let format = self.eff.input;
        let bytes = BASE64.decode(audio.trim()).map_err(|_| {
            let message = format!(
                "Invalid 'audio'. Expected base64-encoded audio bytes ({}) but got an invalid value.",
                format.describe()
            );
            ApiError::new("invalid_value", message, Some("audio"))
        })?;
        let samples = format.decode(&bytes);
        self.buffered_ms += samples.len() as f64 * 1000.0 / f64::from(format.rate());
        let events = match self.eff.turn {
            Some(turn) => self
                .vad
                .feed(&samples, format.rate(), turn.silence_ms, turn.prefix_ms),
            None => {
                self.vad.skip(samples.len(), format.rate());
                Vec::new()
            }
        };
        {
            let mut rec = self.rec.lock().unwrap();
            let at = rec.now();
            let append = Append {
                at,
                connection: self.connection,
                bytes: bytes.len(),
                format,
                samples,
            };
            rec.appends.push(append);
        }
        for event in events {
            self.on_vad(event, now);
        }
        Ok(())
    }

    fn on_vad(&mut self, event: VadEvent, now: Instant) {
        let Some(turn) = self.eff.turn else { return };
        match event {
            VadEvent::Started { audio_start_ms } => {
                let item_id = self.id("item");
                self.out
                    .push(json!({"type": "input_audio_buffer.speech_started",
                                     "audio_start_ms": audio_start_ms, "item_id": item_id}));
                self.speech_item = Some(item_id);
                if turn.interrupt_response {
                    self.schedule
                        .retain(|_, s| !matches!(s.action, Action::StartResponse));
                    if self.active.is_some() {
                        self.cancel("turn_detected", now);
                    }
                }
            }
            VadEvent::Stopped { audio_end_ms } => {
                let item_id = self.speech_item.take().unwrap_or_else(|| self.id("item"));
                self.out
                    .push(json!({"type": "input_audio_buffer.speech_stopped",
                                     "audio_end_ms": audio_end_ms, "item_id": item_id}));
                self.commit(&item_id, now);
                if turn.create_response {
                    self.at(
                        now + self.config.response_latency,
                        None,
                        None,
                        Action::StartResponse,
                    );
                }
            }
        }
    }

    /// Commits the input buffer as a user item; schedules its transcription when enabled.
    pub(super) fn commit(&mut self, item_id: &str, now: Instant) {
        let previous = self.items.last().map(|i| i.id.clone());
        self.out.push(json!({"type": "input_audio_buffer.committed",
                             "previous_item_id": previous, "item_id": item_id}));
        self.buffered_ms = 0.0;
        let item = json!({"id": item_id, "object": "realtime.item", "type": "message",
                          "status": "completed", "role": "user",
                          "content": [{"type": "input_audio", "transcript": null}]});
        self.add_item(Item {
            id: item_id.to_owned(),
            json: item,
            audio_ms: None,
        });
        if !self.eff.transcription {
            return;
        }
        let transcript = self.config.caller_transcript.clone();
        let mut due = now + self.config.transcription_delay;
        for piece in words(&transcript) {
            let delta = json!({"type": "conversation.item.input_audio_transcription.delta",
                               "item_id": item_id, "content_index": 0, "delta": piece});
            self.at(due, None, Some(delta), Action::Effect(Effect::None));
            due += std::time::Duration::from_millis(15);
        }
        let completed = json!({"type": "conversation.item.input_audio_transcription.completed",
                               "item_id": item_id, "content_index": 0, "transcript": transcript,
                               "usage": {"type": "tokens", "total_tokens": 24, "input_tokens": 16,
                                         "output_tokens": 8}});
        self.at(due, None, Some(completed), Action::Effect(Effect::None));
    }
}
