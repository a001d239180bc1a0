//! Adaptive jitter buffer for one received RTP stream, played out by the call's 20 ms tick.
//!
//! Packets are filed by RTP timestamp (RFC 3550 §5.1: the timestamp, not the sequence number,
//! says where the audio belongs), one slot per 20 ms frame, in a fixed ring: no allocation
//! after `new`. The media task calls [`JitterBuffer::pop`] exactly once per tick and gets the
//! frame due, a hole to conceal, or silence while (re)buffering.
//!
//! Timing model: each frame `f` has an earliest plausible arrival `base + f·20 ms`, where
//! `base` is the smallest transit (arrival minus media time) seen recently. The playout delay
//! of the frame due now is `now − (base + f·20 ms)`; the buffer aims to keep it at a target
//! that covers the measured jitter: `max(3 × RFC 3550 jitter, decaying peak of late arrivals)`,
//! 10–300 ms. A clean path starts and stays at the 10 ms floor; the target grows at once when
//! a packet comes later than it allows and shrinks by a frame per 500 ms; the real
//! delay follows it up by holding (an underrun conceals without advancing) and down by
//! dropping one frame at most every 400 ms. The target is the least slack a frame gets: the
//! tick plays a frame on the first tick at or past it, so the delay a frame is played with
//! lies between the target and the target plus one frame, depending on the tick's phase
//! against the arrivals.
//! The RTP marker is not needed: a timestamp jump that matches the time that passed is a new
//! talkspurt (the buffer drains, then restarts at the target delay); one that does not, by
//! more than a second, is a new timeline once a few packets agree on it (two when the buffer
//! is idle, three while it plays: [`PushOutcome::Reset`]). Until then such packets are placed
//! by their sequence number when it follows the stream's ([`PushOutcome::Restamped`]), so a
//! sender whose timestamps jump on every packet still plays, and dropped otherwise
//! ([`PushOutcome::OffTimeline`]), so a flood of random timestamps cannot restart the buffer
//! (see `timing.rs`).
//!
//! Packets carrying more than 20 ms: with [`JitterBuffer::split_payloads`] (G.711: 160 bytes per
//! 20 ms at 8 kHz) a payload of k whole frames is split into k slots and anything else is
//! rejected; without it (opus, whose frames cannot be cut) each packet is one 20 ms frame, which
//! is what our `a=ptime:20` asks for.

use std::time::{Duration, Instant};

use candidates::Candidates;
use ring::Ring;
use timing::{Learned, Placement, Timeline};

mod candidates;
mod ring;
#[cfg(test)]
mod tests;
mod timing;

/// Frames the ring holds: 1.28 s, far more than the 300 ms ceiling, so a burst after a stall
/// fits before catch-up trims it.
const CAPACITY: usize = 64;
/// Largest payload one 20 ms slot holds (an Ethernet MTU; 20 ms of any codec we use is less).
pub const MAX_PAYLOAD: usize = 1500;
/// 10 ms: the least slack a frame gets on a clean path (scheduling noise on a loaded machine
/// is a few ms). It is not rounded to frames: the tick's phase adds 0–20 ms on top anyway,
/// so a whole-frame floor of 20 or 40 ms only added delay. Jitter raises it at once.
const MIN_TARGET_US: i64 = 10_000;
const INITIAL_TARGET_US: i64 = MIN_TARGET_US;
/// 300 ms: beyond this a conversation suffers more from delay than from the odd lost frame.
const MAX_TARGET_US: i64 = 300_000;
const SHRINK_INTERVAL_US: i64 = 500_000;
/// Catch-up drops one frame at a time, spaced so the gaps are not heard as a stutter.
const CATCH_UP_INTERVAL: Duration = Duration::from_millis(400);
/// Underrun ticks concealed while waiting for a late packet before calling the stream drained
/// (60 ms: by then the concealment has faded to silence anyway).
const MAX_HOLD_FRAMES: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    Accepted,
    /// This frame is already buffered or was already played.
    Duplicate,
    /// Its slot has been played (or concealed) already.
    TooLate,
    /// The packet did not fit the timeline; the buffer dropped what it held and restarted here.
    Reset,
    /// Its timestamp is off the timeline; it was filed where its sequence number says (its
    /// timestamp tells nothing about its timing).
    Restamped,
    /// Its timestamp is off the timeline and nothing placed it: dropped, nothing learnt.
    OffTimeline,
    /// Empty, too large, or (when splitting) not a whole number of frames.
    Rejected,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Playout<'a> {
    Frame {
        payload: &'a [u8],
        seq: u16,
    },
    /// Conceal this frame; `next` is the following frame if it is already here (opus FEC).
    Missing {
        next: Option<&'a [u8]>,
    },
    /// Not started, or drained (silence, end of a talkspurt): play silence.
    Buffering,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct JitterStats {
    pub target_delay_ms: u32,
    /// Audio queued from the frame due next to the newest one received.
    pub depth_ms: u32,
    /// Playout delay of the last frame played, measured from its earliest plausible arrival.
    pub playout_delay_ms: f64,
    /// RFC 3550 §6.4.1 interarrival jitter, in milliseconds.
    pub jitter_ms: f64,
    pub played: u64,
    pub late: u64,
    pub duplicates: u64,
    pub concealed: u64,
    pub dropped_for_catch_up: u64,
    pub reorders: u64,
    pub rejected: u64,
    pub resets: u64,
    /// Filed by sequence number, their timestamps being off the timeline.
    pub restamped: u64,
    /// Dropped for timestamps off the timeline.
    pub off_timeline: u64,
}

pub struct JitterBuffer {
    clock_rate: i64,
    frame_samples: i64,
    frame_us: i64,
    split: Option<usize>,
    ring: Ring,
    /// Next frame to play. Held frames always lie in `play..play + CAPACITY`.
    play: i64,
    anchored: bool,
    /// Anchored and nothing played since: an earlier packet may still move the start back.
    fresh: bool,
    playing: bool,
    holds: u32,
    above_since: Option<Instant>,
    timeline: Option<Timeline>,
    candidates: Candidates,
    /// The least playout delay wanted, µs (see the module's notes).
    target_us: i64,
    last_target_change_us: i64,
    stats: JitterStats,
    /// When each held frame came off the socket (by ring slot), and the last played one's:
    /// turn-taking times the remote's speech by arrival, not by playout.
    arrivals: [Option<Instant>; CAPACITY],
    last_arrival: Option<Instant>,
}

impl JitterBuffer {
    /// A buffer for frames of `frame_samples` at `clock_rate` (20 ms: 160 at 8 kHz, 960 at 48 kHz).
    pub fn new(clock_rate: u32, frame_samples: u32) -> Self {
        let clock_rate = i64::from(clock_rate.max(1));
        let frame_samples = i64::from(frame_samples.max(1));
        Self {
            clock_rate,
            frame_samples,
            frame_us: (frame_samples * 1_000_000 / clock_rate).max(1),
            split: None,
            ring: Ring::new(MAX_PAYLOAD),
            play: 0,
            anchored: false,
            fresh: false,
            playing: false,
            holds: 0,
            above_since: None,
            timeline: None,
            candidates: Candidates::new(),
            target_us: INITIAL_TARGET_US,
            last_target_change_us: 0,
            stats: JitterStats::default(),
            arrivals: [None; CAPACITY],
            last_arrival: None,
        }
    }

    /// Cuts payloads into `bytes_per_frame` pieces, one per 20 ms slot: for codecs whose bytes
    /// map to samples (G.711: 160), so peers sending 40 or 60 ms packets still play smoothly.
    pub fn split_payloads(mut self, bytes_per_frame: usize) -> Self {
        self.split = (bytes_per_frame > 0).then_some(bytes_per_frame);
        if let Some(n) = self.split {
            self.ring = Ring::new(n);
        }
        self
    }

    /// Files one received packet. `arrival` is when it came off the socket.
    pub fn push(
        &mut self,
        seq: u16,
        timestamp: u32,
        payload: &[u8],
        arrival: Instant,
    ) -> PushOutcome {
        let (frames, part) = match self.split {
            Some(n) if payload.len().is_multiple_of(n) => (payload.len() / n, n),
            Some(_) => (0, 0),
            None => (1, payload.len()),
        };
        if payload.is_empty() || frames == 0 || frames > CAPACITY || part > self.ring.slot_len() {
            self.stats.rejected += 1;
            return PushOutcome::Rejected;
        }
        let (clock_rate, frame_samples, frame_us) =
            (self.clock_rate, self.frame_samples, self.frame_us);
        let timeline = self
            .timeline
            .get_or_insert_with(|| Timeline::new(clock_rate, frame_samples, frame_us, arrival));
        if self.ring.knows(timeline.frame_of(timestamp)) {
            self.stats.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        let idle = self.ring.held() == 0 && !self.playing;
        let Learned {
            frame: first_frame,
            arrival_us,
            placement,
            reordered,
        } = timeline.learn(
            seq,
            timestamp,
            arrival,
            frames as i64,
            idle,
            &mut self.candidates,
        );
        if placement == Placement::Off {
            self.stats.off_timeline += 1;
            return PushOutcome::OffTimeline;
        }
        let needed_us = timeline.needed_us();
        self.adapt_target(needed_us, arrival_us);
        let mut reset = placement == Placement::Resync;
        let restamped = placement == Placement::Sequence;

        if reset {
            self.restart();
        }
        let mut outcome = PushOutcome::TooLate;
        for (i, chunk) in payload.chunks(part.max(1)).enumerate().take(frames) {
            let frame = first_frame + i as i64;
            match self.store(frame, seq, chunk) {
                PushOutcome::Accepted => {
                    // A packet of k frames is sent when its last is complete: the earlier
                    // ones would have left 20 ms apart before it with 20 ms packets.
                    let earlier = Duration::from_micros((frames - 1 - i) as u64 * frame_us as u64);
                    self.arrivals[frame.rem_euclid(CAPACITY as i64) as usize] =
                        arrival.checked_sub(earlier).or(Some(arrival));
                    outcome = PushOutcome::Accepted
                }
                PushOutcome::Reset => reset = true,
                other if outcome != PushOutcome::Accepted => outcome = other,
                _ => {}
            }
        }
        match outcome {
            _ if reset => {
                self.stats.resets += 1;
                PushOutcome::Reset
            }
            PushOutcome::Accepted if restamped => {
                self.stats.restamped += 1;
                PushOutcome::Restamped
            }
            // Late or a copy, by its sequence number: nothing trustworthy about it either way.
            _ if restamped => {
                self.stats.off_timeline += 1;
                PushOutcome::OffTimeline
            }
            PushOutcome::Accepted if reordered => {
                self.stats.reorders += 1;
                PushOutcome::Accepted
            }
            PushOutcome::TooLate => {
                self.stats.late += 1;
                PushOutcome::TooLate
            }
            PushOutcome::Duplicate => {
                self.stats.duplicates += 1;
                PushOutcome::Duplicate
            }
            other => other,
        }
    }

    /// Grows the target at once to what the jitter needs, shrinks it a frame at a time.
    fn adapt_target(&mut self, needed_us: f64, now_us: i64) {
        let needed = (needed_us.ceil() as i64).clamp(MIN_TARGET_US, MAX_TARGET_US);
        if needed > self.target_us {
            self.target_us = needed;
            self.last_target_change_us = now_us;
        } else if needed < self.target_us
            && now_us - self.last_target_change_us >= SHRINK_INTERVAL_US
        {
            self.target_us = (self.target_us - self.frame_us).max(needed);
            self.last_target_change_us = now_us;
        }
    }

    fn store(&mut self, frame: i64, seq: u16, chunk: &[u8]) -> PushOutcome {
        let mut outcome = PushOutcome::Accepted;
        if !self.anchored {
            self.anchor(frame);
        }
        let offset = frame - self.play;
        if offset < 0 {
            let fits = self.ring.held() == 0 || self.ring.newest() - frame < CAPACITY as i64;
            if !(self.fresh && fits) {
                return PushOutcome::TooLate;
            }
            // Nothing played since anchoring: a reordered earlier packet just starts sooner.
            self.play = frame;
        } else if offset >= CAPACITY as i64 {
            // Far ahead: a new talkspurt after silence if the ring is empty, else a jump.
            if self.ring.held() > 0 {
                self.ring.clear(false);
                outcome = PushOutcome::Reset;
            }
            self.anchor(frame);
        }
        if !self.ring.insert(frame, seq, chunk) {
            return PushOutcome::Duplicate;
        }
        outcome
    }

    fn anchor(&mut self, frame: i64) {
        self.play = frame;
        self.anchored = true;
        self.fresh = true;
        self.playing = false;
    }

    fn restart(&mut self) {
        self.ring.clear(true);
        self.anchored = false;
        self.playing = false;
        self.holds = 0;
        self.above_since = None;
    }

    /// The audio for this tick. Call exactly once per 20 ms: each call moves playout on.
    pub fn pop(&mut self, now: Instant) -> Playout<'_> {
        let Some(tl) = self.timeline else {
            return Playout::Buffering;
        };
        let frame_us = self.frame_us;
        let target_us = self.target_us;
        let due = |play: i64| tl.delay_us(now, play);
        if !self.playing {
            let Some(oldest) = self.ring.oldest_from(self.play) else {
                return Playout::Buffering;
            };
            self.play = oldest;
            let mut delay = due(self.play);
            if delay < target_us {
                return Playout::Buffering;
            }
            // Started late (a burst after a stall): skip to the frame the target delay wants.
            while delay - frame_us >= target_us && self.ring.held() > 1 {
                self.discard_head();
                delay -= frame_us;
            }
            self.playing = true;
            self.holds = 0;
            self.above_since = None;
        }

        let delay = due(self.play);
        if delay >= target_us + frame_us && self.ring.held() >= 2 {
            match self.above_since {
                None => self.above_since = Some(now),
                Some(since) if now.saturating_duration_since(since) >= CATCH_UP_INTERVAL => {
                    self.discard_head();
                    self.above_since = Some(now);
                }
                Some(_) => {}
            }
        } else {
            self.above_since = None;
        }
        self.stats.playout_delay_ms = due(self.play) as f64 / 1000.0;

        let play = self.play;
        if let Some(seq) = self.ring.take(play) {
            self.play += 1;
            self.holds = 0;
            self.fresh = false;
            self.stats.played += 1;
            self.last_arrival = self.arrivals[play.rem_euclid(CAPACITY as i64) as usize];
            return Playout::Frame {
                payload: self.ring.played(play),
                seq,
            };
        }
        if self.ring.held() > 0 {
            // Later frames are here, so this one is lost (or later than we can wait for).
            self.play += 1;
            self.holds = 0;
            self.fresh = false;
            self.stats.concealed += 1;
            return Playout::Missing {
                next: self.ring.peek(self.play),
            };
        }
        // Underrun: conceal without moving on, so a late packet still plays (the delay grows
        // by a frame) — unless the stream has stopped (silence suppression, hold).
        self.holds += 1;
        if self.holds > MAX_HOLD_FRAMES {
            self.playing = false;
            return Playout::Buffering;
        }
        self.fresh = false;
        self.stats.concealed += 1;
        Playout::Missing { next: None }
    }

    fn discard_head(&mut self) {
        if self.ring.discard(self.play) {
            self.stats.dropped_for_catch_up += 1;
        }
        self.play += 1;
    }

    /// Forgets the stream (a new SSRC): buffered frames, timing and target start over.
    /// The counters in [`JitterStats`] keep counting.
    pub fn reset(&mut self) {
        self.restart();
        self.timeline = None;
        self.candidates.clear();
        self.target_us = INITIAL_TARGET_US;
        self.last_target_change_us = 0;
        self.stats.resets += 1;
    }

    /// When the frame played last came off the socket (for a packet of several frames, when
    /// this one would have with 20 ms packets): what turns a playout time back into an
    /// arrival time.
    pub fn last_played_arrival(&self) -> Option<Instant> {
        self.last_arrival
    }

    pub fn stats(&self) -> JitterStats {
        let frame_ms = self.frame_us as f64 / 1000.0;
        let depth = if self.ring.held() > 0 {
            (self.ring.newest() - self.play + 1).max(0) as f64 * frame_ms
        } else {
            0.0
        };
        JitterStats {
            target_delay_ms: (self.target_us as f64 / 1000.0).round() as u32,
            depth_ms: depth.round() as u32,
            jitter_ms: self.timeline.map_or(0.0, |t| t.jitter_us() / 1000.0),
            ..self.stats
        }
    }
}
