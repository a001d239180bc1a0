//! The caller's side of a Live session: appended audio (recorded like on Realtime), the energy
//! VAD standing in for the model's ears, the input transcript deltas while the caller talks,
//! and the turn-taking: a reply after the caller stops, a stop when the caller talks over it.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::json;

use super::super::audio::VadEvent;
use super::super::record::Append;
use super::super::response::words;
use super::super::schema::ApiError;
use super::output::CallerTurn;
use super::LiveSession;

/// While the caller talks, one input transcript word per this much of their audio (the
/// service streams input transcripts as the caller speaks; its pace is the mock's choice).
const INPUT_WORD_MS: f64 = 300.0;

impl LiveSession {
    pub(super) fn append(&mut self, audio: &str, now: Instant) -> Result<(), ApiError> {
        let format = self.format;
        let bytes = BASE64.decode(audio.trim()).map_err(|_| {
            let message = format!(
                "Invalid 'audio'. Expected base64-encoded audio bytes ({}) but got an invalid value.",
                format.describe()
            );
            ApiError::new("invalid_value", message, Some("audio"))
        })?;
        let samples = format.decode(&bytes);
        let rate = format.rate();
        self.input_ms += samples.len() as f64 * 1000.0 / f64::from(rate);
        let events = if self.muted {
            // Muted input is not heard (live-notes §1: `session.input_audio.mute`).
            self.vad.skip(samples.len(), rate);
            Vec::new()
        } else {
            let silence = self.config.live_silence_ms;
            self.vad.feed(&samples, rate, silence, 0)
        };
        {
            let mut rec = self.rec();
            let at = rec.now();
            let connection = self.connection;
            rec.appends.push(Append {
                at,
                connection,
                bytes: bytes.len(),
                format,
                samples,
            });
        }
        for event in events {
            self.on_vad(event, now);
        }
        self.transcribe_so_far();
        Ok(())
    }

    fn on_vad(&mut self, event: VadEvent, now: Instant) {
        match event {
            VadEvent::Started { audio_start_ms } => {
                self.stop_talking();
                self.caller = Some(CallerTurn {
                    start_ms: audio_start_ms as f64,
                    words: words(&self.config.caller_transcript),
                    sent: 0,
                    last_end_ms: audio_start_ms as f64,
                });
            }
            VadEvent::Stopped { audio_end_ms } => {
                let speech_end = audio_end_ms as f64 - f64::from(self.config.live_silence_ms);
                if let Some(turn) = self.caller.take() {
                    self.say_rest(turn, speech_end);
                }
                self.reply_after_latency(now);
            }
        }
    }

    /// While the caller talks, a word per `INPUT_WORD_MS` of their speech (up to its last
    /// voiced frame, not into the pause that may end it), keeping the last word for the end
    /// of the turn.
    fn transcribe_so_far(&mut self) {
        let Some(turn) = self.caller.as_mut() else {
            return;
        };
        let voiced_until = self.vad.voiced_until_ms();
        let mut said = Vec::new();
        while turn.sent + 1 < turn.words.len()
            && voiced_until >= turn.start_ms + (turn.sent + 1) as f64 * INPUT_WORD_MS
        {
            let end = turn.start_ms + (turn.sent + 1) as f64 * INPUT_WORD_MS;
            said.push(input_delta(&turn.words[turn.sent], turn.last_end_ms, end));
            turn.last_end_ms = end;
            turn.sent += 1;
        }
        self.out.extend(said);
    }

    /// The words not yet sent, spread over the rest of the caller's speech.
    fn say_rest(&mut self, turn: CallerTurn, speech_end: f64) {
        let rest = &turn.words[turn.sent..];
        let from = turn.last_end_ms;
        let span = (speech_end - from).max(0.0) / rest.len().max(1) as f64;
        for (i, word) in rest.iter().enumerate() {
            let start = from + span * i as f64;
            self.out.push(input_delta(word, start, start + span));
        }
    }
}

fn input_delta(word: &str, start_ms: f64, end_ms: f64) -> serde_json::Value {
    json!({"type": "session.input_transcript.delta", "delta": word,
           "start_ms": start_ms.round() as u64, "end_ms": end_ms.round() as u64})
}
