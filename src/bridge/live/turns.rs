//! Turns and barge-ins, derived from the audio itself: GPT-Live reports neither (no speech
//! events, no response boundaries; the model takes turns and stops itself, live-notes §1).
//!
//! The caller's frames (20 ms, continuous) and the model's deltas (continuous, silence
//! included) are judged loud or quiet by energy. A caller turn is speech of at least
//! [`MIN_SPEECH`]; it ends at the last loud frame, and it is answered when a new stretch of
//! audible model audio starts playing: that gap is the turn's latency. Caller speech lasting
//! [`BARGE_IN_SPEECH`] while the model's audio is audible is a barge-in, counted once per
//! stretch.

use std::time::{Duration, Instant};

use crate::bridge::audio::WireFormat;
use crate::media::g711;
use crate::media::meter::Meter;
use crate::vocab::Codec;

/// Caller frames above this level are speech. Telephone speech sits around -20 to -30 dBFS,
/// line noise well below -50.
pub const CALLER_SPEECH_DBFS: f64 = -40.0;
/// Model audio above this level is heard; the service pads its stream with digital silence.
pub const MODEL_AUDIBLE_DBFS: f64 = -50.0;
/// Shorter bursts (a click, a cough) are not a turn.
pub const MIN_SPEECH: Duration = Duration::from_millis(100);
/// Caller speech over the model this long is a barge-in.
pub const BARGE_IN_SPEECH: Duration = Duration::from_millis(200);
/// Quiet frames within a word do not end the speech.
const HANGOVER: Duration = Duration::from_millis(200);
/// Model audio resuming after this much silence is a new stretch (a new turn).
const MODEL_GAP: Duration = Duration::from_millis(300);
/// A caller turn not answered within this time is not waiting for an answer any more.
const TURN_EXPIRY: Duration = Duration::from_secs(15);
const FRAME: Duration = Duration::from_millis(crate::media::audio::FRAME_MS as u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Derived {
    /// The model's answer started playing `latency_ms` after the caller stopped.
    Turn { latency_ms: u32 },
    /// The caller talked over the model's audio.
    BargeIn,
}

#[derive(Debug, Default)]
pub struct Turns {
    /// Start of the caller's current speech, and its last loud frame.
    speech_since: Option<Instant>,
    last_loud: Option<Instant>,
    /// The caller spoke and stopped at this time; no answer has started since.
    pending: Option<Instant>,
    /// The current (or last) stretch of audible model audio, as it plays.
    stretch_start: Option<Instant>,
    audible_until: Option<Instant>,
    barged: bool,
    /// The caller's current speech began or went on while the model's audio was audible.
    over_model: bool,
}

impl Turns {
    /// A 20 ms caller frame that ended at `now`.
    pub fn caller_frame(&mut self, loud: bool, now: Instant) -> Option<Derived> {
        if !loud {
            let quiet_for = self
                .last_loud
                .map(|last| now.saturating_duration_since(last));
            if quiet_for.is_some_and(|q| q >= HANGOVER) {
                self.speech_since = None;
                self.over_model = false;
            }
            return None;
        }
        let since = *self.speech_since.get_or_insert(now);
        self.last_loud = Some(now);
        // The model stops itself soon after the caller starts (and its last audio drains
        // from our buffer), often before the caller has said enough to count: what counts
        // is that the speech began over the model, not that the model outlasted it.
        self.over_model |= self.model_audible(now);
        // Frames end at `now`: the run began one frame before its first frame's end.
        let spoken = now.saturating_duration_since(since) + FRAME;
        if spoken >= MIN_SPEECH {
            self.pending = Some(now);
        }
        if spoken >= BARGE_IN_SPEECH && !self.barged && self.over_model {
            self.barged = true;
            return Some(Derived::BargeIn);
        }
        None
    }

    /// The caller's words were transcribed, said up to `said_until`: a turn even when the
    /// caller was too quiet for the energy rule, unless the model has spoken since.
    pub fn caller_words(&mut self, said_until: Instant) {
        let after_model = self.stretch_start.is_none_or(|start| said_until > start);
        if after_model && self.pending.is_none_or(|p| p < said_until) {
            self.pending = Some(said_until);
        }
    }

    /// A delta of model audio arrived at `now`, lasting `duration`, to be played after the
    /// `queued` audio ahead of it.
    pub fn model_audio(
        &mut self,
        audible: bool,
        now: Instant,
        duration: Duration,
        queued: Duration,
    ) -> Option<Derived> {
        if !audible {
            return None;
        }
        let plays_at = now + queued;
        let new_stretch = self
            .audible_until
            .is_none_or(|until| plays_at > until + MODEL_GAP);
        self.audible_until = Some(plays_at + duration);
        if !new_stretch {
            return None;
        }
        self.stretch_start = Some(plays_at);
        self.barged = false;
        // An answer starts while the caller is quiet; the caller's own speech over it is
        // a barge-in, not its answer.
        let caller_quiet = self
            .last_loud
            .is_none_or(|last| now.saturating_duration_since(last) >= HANGOVER);
        let stopped = self.pending.filter(|_| caller_quiet)?;
        self.pending = None;
        let latency = plays_at.saturating_duration_since(stopped);
        (latency <= TURN_EXPIRY).then(|| Derived::Turn {
            latency_ms: u32::try_from(latency.as_millis()).unwrap_or(u32::MAX),
        })
    }

    fn model_audible(&self, now: Instant) -> bool {
        match (self.stretch_start, self.audible_until) {
            (Some(start), Some(until)) => start <= now && now < until,
            _ => false,
        }
    }
}

/// Whether wire audio has any 20 ms stretch above `threshold_dbfs`. `scratch` is reused
/// between calls.
pub fn is_loud(
    wire: WireFormat,
    bytes: &[u8],
    threshold_dbfs: f64,
    scratch: &mut Vec<i16>,
) -> bool {
    scratch.clear();
    match wire {
        WireFormat::Pcmu => {
            let _ = g711::decode(Codec::Pcmu, bytes, scratch);
        }
        WireFormat::Pcma => {
            let _ = g711::decode(Codec::Pcma, bytes, scratch);
        }
        WireFormat::Pcm24 => scratch.extend(
            bytes
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        ),
    }
    let frame = wire.frame_bytes() / if wire == WireFormat::Pcm24 { 2 } else { 1 };
    scratch.chunks(frame.max(1)).any(|chunk| {
        let mut meter = Meter::default();
        meter.push(chunk);
        f64::from(meter.take().rms_dbfs) > threshold_dbfs
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The caller loud for frames ending in `from..to` (ms after `t0`), quiet outside.
    fn speak(turns: &mut Turns, t0: Instant, from: u64, to: u64) -> Vec<Derived> {
        (from / 20..to / 20)
            .filter_map(|n| turns.caller_frame(true, t0 + ms(n * 20 + 20)))
            .collect()
    }

    fn quiet(turns: &mut Turns, t0: Instant, from: u64, to: u64) {
        for n in from / 20..to / 20 {
            assert_eq!(turns.caller_frame(false, t0 + ms(n * 20 + 20)), None);
        }
    }

    #[test]
    fn an_answer_after_the_caller_stops_is_a_turn_with_its_latency() {
        let t0 = Instant::now();
        let mut turns = Turns::default();
        assert!(speak(&mut turns, t0, 0, 1000).is_empty());
        quiet(&mut turns, t0, 1000, 1500);
        // Silence from the model changes nothing.
        assert_eq!(
            turns.model_audio(false, t0 + ms(1400), ms(100), ms(0)),
            None
        );
        // The reply arrives at 1.6 s and plays after 100 ms queued: 700 ms after the speech.
        assert_eq!(
            turns.model_audio(true, t0 + ms(1600), ms(100), ms(100)),
            Some(Derived::Turn { latency_ms: 700 })
        );
        // The rest of the same reply is not another turn.
        assert_eq!(
            turns.model_audio(true, t0 + ms(1700), ms(100), ms(100)),
            None
        );
    }

    #[test]
    fn the_model_speaking_first_or_after_a_click_is_no_turn() {
        let t0 = Instant::now();
        let mut turns = Turns::default();
        assert_eq!(turns.model_audio(true, t0, ms(100), ms(0)), None);
        let click = t0 + ms(2000);
        speak(&mut turns, click, 0, 40);
        quiet(&mut turns, click, 40, 600);
        assert_eq!(
            turns.model_audio(true, click + ms(700), ms(100), ms(0)),
            None
        );
    }

    #[test]
    fn talking_over_audible_model_audio_is_one_barge_in_per_stretch() {
        let t0 = Instant::now();
        let mut turns = Turns::default();
        speak(&mut turns, t0, 0, 600);
        quiet(&mut turns, t0, 600, 1000);
        let mut at = 1000;
        while at < 3000 {
            turns.model_audio(true, t0 + ms(at), ms(100), ms(0));
            at += 100;
        }
        // 180 ms of speech over the reply: not yet.
        assert!(speak(&mut turns, t0, 2000, 2180).is_empty());
        assert_eq!(speak(&mut turns, t0, 2180, 2400), vec![Derived::BargeIn]);
        assert!(
            speak(&mut turns, t0, 2400, 2800).is_empty(),
            "counted twice"
        );
        // The model stopped at 3.0 s; the caller's next words over silence are no barge-in.
        quiet(&mut turns, t0, 2800, 3400);
        assert!(speak(&mut turns, t0, 3400, 4000).is_empty());
        // The answer to the interrupting words is a turn.
        quiet(&mut turns, t0, 4000, 4400);
        assert_eq!(
            turns.model_audio(true, t0 + ms(4500), ms(100), ms(0)),
            Some(Derived::Turn { latency_ms: 500 })
        );
    }

    #[test]
    fn a_barge_in_counts_when_the_model_stops_before_the_caller_has_said_enough() {
        let t0 = Instant::now();
        let mut turns = Turns::default();
        let mut at = 1000;
        while at < 2100 {
            turns.model_audio(true, t0 + ms(at), ms(100), ms(0));
            at += 100;
        }
        // The caller starts at 2.0 s; the model falls silent at 2.1 s, as it does when it
        // hears the caller; 200 ms of speech are reached at 2.2 s.
        assert_eq!(speak(&mut turns, t0, 2000, 2400), vec![Derived::BargeIn]);
        // Speech that begins after the model stopped is no barge-in.
        quiet(&mut turns, t0, 2400, 3000);
        assert!(speak(&mut turns, t0, 3000, 3600).is_empty());
    }

    #[test]
    fn speech_before_queued_audio_plays_is_no_barge_in() {
        let t0 = Instant::now();
        let mut turns = Turns::default();
        // Audible audio arrives at 0 but plays from 300 ms on.
        turns.model_audio(true, t0, ms(100), ms(300));
        assert!(speak(&mut turns, t0, 0, 280).is_empty());
    }

    #[test]
    fn transcribed_words_make_a_turn_when_the_caller_was_too_quiet() {
        let t0 = Instant::now();
        let mut turns = Turns::default();
        quiet(&mut turns, t0, 0, 1000);
        turns.caller_words(t0 + ms(900));
        assert_eq!(
            turns.model_audio(true, t0 + ms(1500), ms(100), ms(0)),
            Some(Derived::Turn { latency_ms: 600 })
        );
        // Words said before that answer began do not make another turn.
        turns.caller_words(t0 + ms(1200));
        assert_eq!(turns.model_audio(true, t0 + ms(3000), ms(100), ms(0)), None);
    }

    #[test]
    fn loudness_is_judged_per_20_ms_in_every_wire_format() {
        let mut scratch = Vec::new();
        let silence = vec![g711::ULAW_SILENCE; 800];
        assert!(!is_loud(WireFormat::Pcmu, &silence, -50.0, &mut scratch));
        let mut tone = silence.clone();
        let loud: Vec<i16> = (0..160)
            .map(|n| if n % 2 == 0 { 8000 } else { -8000 })
            .collect();
        let mut encoded = Vec::new();
        g711::encode(Codec::Pcmu, &loud, &mut encoded).unwrap();
        tone[320..480].copy_from_slice(&encoded);
        assert!(is_loud(WireFormat::Pcmu, &tone, -50.0, &mut scratch));
        let alaw = vec![g711::ALAW_SILENCE; 160];
        assert!(!is_loud(WireFormat::Pcma, &alaw, -50.0, &mut scratch));
        let pcm: Vec<u8> = loud.iter().flat_map(|s| s.to_le_bytes()).collect();
        assert!(is_loud(WireFormat::Pcm24, &pcm, -40.0, &mut scratch));
        assert!(!is_loud(WireFormat::Pcm24, &[0; 960], -40.0, &mut scratch));
        assert!(!is_loud(WireFormat::Pcm24, &[], -40.0, &mut scratch));
    }
}
