//! The model's side of a Live session: the continuous output stream (a delta every 100 ms on
//! an absolute schedule, silence when the model is quiet), its replies (the configured tone
//! with output transcript deltas as the audio goes out) and the usage updates.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::json;

use super::super::audio::tone;
use super::super::response::words;
use super::{LiveSession, DELTA};

/// What the caller is saying, on the input timeline.
pub(super) struct CallerTurn {
    pub start_ms: f64,
    pub words: Vec<String>,
    pub sent: usize,
    /// `end_ms` of the last input transcript delta sent.
    pub last_end_ms: f64,
}

/// The model talking: its samples, how many went out, and its words.
pub(super) struct Talk {
    samples: Vec<i16>,
    played: usize,
    words: Vec<String>,
    said: usize,
    /// Output timeline position of its first sample.
    start_ms: f64,
}

impl Talk {
    /// Index of the sample where word `i` starts (words spread evenly over the audio).
    fn word_start(&self, i: usize) -> usize {
        i * self.samples.len() / self.words.len().max(1)
    }
}

/// What fires next.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Reply,
    Usage,
    Delta,
}

impl LiveSession {
    /// The next instant something is due (`None` before the start and after the end).
    pub fn next_due(&self) -> Option<Instant> {
        self.due_list().into_iter().map(|(at, _)| at).min()
    }

    fn due_list(&self) -> Vec<(Instant, Due)> {
        let Some(started) = self.started_at.filter(|_| self.close.is_none()) else {
            return Vec::new();
        };
        let delta = started + DELTA * self.ticks as u32;
        let mut due = vec![(delta, Due::Delta)];
        due.extend(self.reply_at.map(|at| (at, Due::Reply)));
        due.extend(self.next_usage.map(|at| (at, Due::Usage)));
        due
    }

    /// Queues everything due by `now`, in time order (several deltas when the loop ran late,
    /// so the stream keeps real-time pace on average).
    pub fn fire_due(&mut self, now: Instant) {
        while let Some((at, what)) = self.due_list().into_iter().min() {
            if at > now {
                break;
            }
            match what {
                Due::Reply => {
                    self.reply_at = None;
                    let text = self.config.ai_text.clone();
                    self.speak(&text);
                }
                Due::Usage => {
                    self.next_usage = Some(at + self.config.live_usage_interval.max(DELTA));
                    self.out
                        .push(json!({"type": "session.usage.updated", "usage": self.usage()}));
                }
                Due::Delta => self.send_delta(),
            }
        }
    }

    /// The output timeline now: ms of output audio sent.
    pub(super) fn output_ms(&self) -> u64 {
        self.ticks * DELTA.as_millis() as u64
    }

    /// Starts the model talking (the tone, saying `text`), from the next delta on; returns the
    /// talk's span on the output timeline. Already talking: nothing new, an empty span now.
    pub(super) fn speak(&mut self, text: &str) -> (u64, u64) {
        let start = self.output_ms();
        if self.talk.is_some() {
            return (start, start);
        }
        let c = &self.config;
        let rate = self.format.rate();
        let talk = Talk {
            samples: tone(c.tone_hz, c.tone_ms, rate, c.tone_amplitude),
            played: 0,
            words: words(text),
            said: 0,
            start_ms: start as f64,
        };
        let end = start + u64::from(c.tone_ms);
        self.talk = Some(talk);
        self.rec().live.replies += 1;
        (start, end)
    }

    /// The caller spoke over the model: it stops itself, the rest of the tone and its words
    /// are dropped, the stream goes back to silence (live-notes §1: "the model hears while
    /// talking and stops itself"). A reply not yet begun is dropped too.
    pub(super) fn stop_talking(&mut self) {
        self.reply_at = None;
        if self.talk.take().is_some() {
            self.rec().live.barge_ins += 1;
        }
    }

    /// One 100 ms delta: the model's tone where it talks, zeros (µ-law 0xFF, A-law 0xD5)
    /// elsewhere; then the transcript words whose audio just went out.
    fn send_delta(&mut self) {
        let rate = self.format.rate();
        let count = (rate as u128 * DELTA.as_millis() / 1000) as usize;
        let mut samples = vec![0i16; count];
        let mut voiced = 0;
        let mut said = Vec::new();
        if let Some(talk) = self.talk.as_mut() {
            let from = talk.played;
            voiced = count.min(talk.samples.len() - from);
            samples[..voiced].copy_from_slice(&talk.samples[from..from + voiced]);
            talk.played += voiced;
            let ms_of = |sample: usize| talk.start_ms + sample as f64 * 1000.0 / f64::from(rate);
            while talk.said < talk.words.len() && talk.word_start(talk.said) < talk.played {
                let i = talk.said;
                said.push(json!({"type": "session.output_transcript.delta",
                                 "delta": talk.words[i],
                                 "start_ms": ms_of(talk.word_start(i)).round() as u64,
                                 "end_ms": ms_of(talk.word_start(i + 1)).round() as u64}));
                talk.said += 1;
            }
            if talk.played >= talk.samples.len() {
                self.talk = None;
            }
        }
        let delta = BASE64.encode(self.format.encode(&samples));
        self.out
            .push(json!({"type": "session.output_audio.delta", "delta": delta}));
        self.out.extend(said);
        self.ticks += 1;
        let ms = |n: usize| n as f64 * 1000.0 / f64::from(rate);
        let mut rec = self.rec();
        rec.live.deltas += 1;
        rec.live.speech_ms += ms(voiced);
        rec.live.silence_ms += ms(count - voiced);
    }

    pub(super) fn rec(&self) -> std::sync::MutexGuard<'_, super::super::record::Recorder> {
        self.rec.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Schedules the model's reply `response_latency` from `now`.
    pub(super) fn reply_after_latency(&mut self, now: Instant) {
        self.reply_at = Some(now + self.config.response_latency);
    }
}
