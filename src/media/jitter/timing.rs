//! Arrival timing of one RTP stream, for the jitter buffer: where each packet belongs on the
//! 20 ms frame grid, when each frame could have arrived at the earliest, how much the delay
//! varies, and when the timeline broke.
//!
//! Times are microseconds since the first packet. A frame's transit is its arrival minus its
//! media time on the grid; the smallest recent transit (`base`) is the network's fixed delay,
//! and a packet's excess over it is the jitter it suffered.
//!
//! A packet whose timestamp puts it more than a second off the timeline is not believed at
//! once: a sender that jumps on every packet, or a flood with random timestamps, would
//! otherwise restart the buffer with every packet and nothing would ever play. Instead:
//! - if its sequence number follows the last packet's closely, and the frame that number gives
//!   fits the timeline, it goes there ([`Placement::Sequence`]): a stream whose timestamps
//!   are garbage still plays, in order;
//! - off-timeline packets that agree among themselves (`RESYNC_CONFIRM` in a row, found by
//!   `candidates.rs`; two when the buffer has nothing to play) are a real jump: the timeline
//!   moves to them, without a gap when the sequence numbers carried the audio across, by a
//!   restart otherwise ([`Placement::Resync`]);
//! - anything else is dropped ([`Placement::Off`]) before it can touch the timing figures.

use std::time::Instant;

use super::candidates::Candidates;

/// The RFC 3550 estimate is a mean deviation; three times it covers most of a spread.
const JITTER_FACTOR: f64 = 3.0;
/// How fast a one-off late arrival stops mattering.
const PEAK_HALF_LIFE_US: f64 = 2_000_000.0;
/// A packet whose timing is off by more than this belongs to another timeline (a timestamp
/// jump, a source switched behind the same SSRC, or junk): see the module's notes.
const RESYNC_US: i64 = 1_000_000;
/// The minimum transit is kept over two such windows, so it follows clock drift and route
/// changes within 5–10 s.
const BASE_WINDOW_US: i64 = 5_000_000;
/// Off-timeline packets that must agree before the timeline moves to them: one is a stray,
/// three in a row (60 ms of audio) are a sender that really jumped. Two do when the buffer is
/// idle, where moving costs nothing audible.
const RESYNC_CONFIRM: u32 = 3;
const IDLE_RESYNC_CONFIRM: u32 = 2;
/// The widest step in sequence numbers over which a packet with an untrustworthy timestamp is
/// placed by its number: a few lost or reordered packets. Kept small, so that a flood with
/// random numbers lands here only by rare chance (8 in 65 536).
const MAX_SEQ_STEP: i16 = 4;
/// How early a packet placed by its sequence number may come: a few frames of a burst. Its
/// number is all that vouches for it, and a run of numbers arriving at once must not claim
/// frames far ahead.
const MAX_EARLY_BY_SEQUENCE_US: i64 = 100_000;
/// How far one packet placed by its sequence number may lower the base (the smallest transit):
/// enough to follow clock drift (well under a millisecond per window), too little for a burst
/// of numbers to walk the base, and with it the frames they claim, ahead.
const SEQUENCE_BASE_SLACK_US: i64 = 2_000;

/// Where a packet goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Placement {
    /// Where its timestamp says.
    Timeline,
    /// Its timestamp is off the timeline: where its sequence number says, counting from the
    /// last packet placed.
    Sequence,
    /// A new timeline, confirmed by packets that agree: numbering restarted from it.
    Resync,
    /// Off the timeline and nowhere to put it: dropped, nothing learnt.
    Off,
}

/// What the timeline learnt from one packet.
pub(super) struct Learned {
    /// Frame number of the packet's first 20 ms (meaningless when `Off`).
    pub frame: i64,
    pub arrival_us: i64,
    pub placement: Placement,
    /// Its sequence number is below the highest seen (RFC 3550 A.1 style comparison).
    pub reordered: bool,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Timeline {
    clock_rate: i64,
    frame_samples: i64,
    frame_us: i64,
    epoch: Instant,
    last_ts: u32,
    last_ext: i64,
    /// The packet with the highest sequence number placed: its number, first frame and length
    /// in frames (where the next number's audio belongs).
    highest_seq: u16,
    highest_frame: i64,
    highest_frames: i64,
    prev_arrival_us: i64,
    prev_ext: i64,
    min_current: i64,
    min_previous: i64,
    window_start_us: i64,
    jitter_us: f64,
    peak_us: f64,
    peak_at_us: i64,
}

impl Timeline {
    /// Starts at the first packet; `learn` must follow with the same packet.
    pub fn new(clock_rate: i64, frame_samples: i64, frame_us: i64, first: Instant) -> Self {
        Self {
            clock_rate,
            frame_samples,
            frame_us,
            epoch: first,
            last_ts: 0,
            last_ext: 0,
            highest_seq: 0,
            highest_frame: 0,
            highest_frames: 1,
            prev_arrival_us: 0,
            prev_ext: 0,
            min_current: i64::MAX,
            min_previous: i64::MAX,
            window_start_us: 0,
            jitter_us: 0.0,
            peak_us: 0.0,
            peak_at_us: 0,
        }
    }

    fn started(&self) -> bool {
        self.min_current != i64::MAX
    }

    /// Extends the 32-bit timestamp: a difference below 2^31 is the stream moving on or back.
    fn extend(&self, timestamp: u32) -> i64 {
        if !self.started() {
            return i64::from(timestamp);
        }
        self.last_ext + i64::from(timestamp.wrapping_sub(self.last_ts) as i32)
    }

    /// The frame a timestamp falls in, without learning anything (for duplicate checks).
    pub fn frame_of(&self, timestamp: u32) -> i64 {
        self.extend(timestamp).div_euclid(self.frame_samples)
    }

    /// Places one packet of `frames` 20 ms frames. `idle`: the buffer holds nothing and is not
    /// playing, so a new timeline costs nothing audible. `candidates` holds the off-timeline
    /// packets that may make a new timeline; it is cleared when the timeline moves.
    pub fn learn(
        &mut self,
        seq: u16,
        timestamp: u32,
        arrival: Instant,
        frames: i64,
        idle: bool,
        candidates: &mut Candidates,
    ) -> Learned {
        let arrival_us = micros_since(arrival, self.epoch);
        if !self.started() {
            return self.restart_at(seq, timestamp, arrival_us, frames, Placement::Timeline);
        }
        let ext = self.extend(timestamp);
        let frame = ext.div_euclid(self.frame_samples);
        if self.fits(arrival_us, frame) {
            if ext > self.last_ext {
                self.last_ext = ext;
                self.last_ts = timestamp;
            }
            return self.place(seq, ext, frame, arrival_us, frames, Placement::Timeline);
        }
        let agreeing = candidates.follow(seq, timestamp, arrival_us, self.clock_rate);
        let needed = if idle {
            IDLE_RESYNC_CONFIRM
        } else {
            RESYNC_CONFIRM
        };
        let confirmed = agreeing >= needed;
        if confirmed {
            candidates.clear();
        }
        let by_sequence = self.frame_by_sequence(seq).filter(|&f| {
            let excess = arrival_us - f * self.frame_us - self.base();
            (-MAX_EARLY_BY_SEQUENCE_US..=RESYNC_US).contains(&excess)
        });
        if let Some(frame) = by_sequence {
            // On the grid's phase, so the next timestamp of a rebased stream lands one on.
            let ext = frame * self.frame_samples + self.last_ext.rem_euclid(self.frame_samples);
            if confirmed {
                // The new timestamps agree among themselves and the numbering carried the
                // audio across the jump: map them here from now on, without a gap.
                self.last_ts = timestamp;
                self.last_ext = ext;
            }
            return self.place(seq, ext, frame, arrival_us, frames, Placement::Sequence);
        }
        if confirmed {
            return self.restart_at(seq, timestamp, arrival_us, frames, Placement::Resync);
        }
        Learned {
            frame,
            arrival_us,
            placement: Placement::Off,
            reordered: false,
        }
    }

    /// Whether a frame arriving now lies within reach of the timeline.
    fn fits(&self, arrival_us: i64, frame: i64) -> bool {
        let transit = arrival_us - frame * self.frame_us;
        (transit - self.base()).abs() <= RESYNC_US
    }

    /// The frame the packet numbered `seq` carries, counting from the highest placed.
    fn frame_by_sequence(&self, seq: u16) -> Option<i64> {
        let step = seq.wrapping_sub(self.highest_seq) as i16;
        (step != 0 && (-MAX_SEQ_STEP..=MAX_SEQ_STEP).contains(&step))
            .then(|| self.highest_frame + i64::from(step) * self.highest_frames)
    }

    /// Numbers frames afresh from this packet (which also keeps the extended timestamp from
    /// creeping towards overflow under hostile jumps).
    fn restart_at(
        &mut self,
        seq: u16,
        timestamp: u32,
        arrival_us: i64,
        frames: i64,
        placement: Placement,
    ) -> Learned {
        let ext = i64::from(timestamp);
        let frame = ext.div_euclid(self.frame_samples);
        let transit = arrival_us - frame * self.frame_us;
        self.last_ext = ext;
        self.last_ts = timestamp;
        self.min_current = transit;
        self.min_previous = i64::MAX;
        self.window_start_us = arrival_us;
        self.prev_arrival_us = arrival_us;
        self.prev_ext = ext;
        self.highest_seq = seq;
        self.highest_frame = frame;
        self.highest_frames = frames.max(1);
        Learned {
            frame,
            arrival_us,
            placement,
            reordered: false,
        }
    }

    /// Learns from a packet placed at `frame` (`ext` on the timeline's clock).
    fn place(
        &mut self,
        seq: u16,
        ext: i64,
        frame: i64,
        arrival_us: i64,
        frames: i64,
        placement: Placement,
    ) -> Learned {
        // Transit against the frame grid, so the same grid gives each frame's due time.
        let transit = arrival_us - frame * self.frame_us;
        let sample = if placement == Placement::Sequence {
            transit.max(self.base() - SEQUENCE_BASE_SLACK_US)
        } else {
            transit
        };
        // RFC 3550 §6.4.1 / A.8: J += (|D| − J) / 16, D the change in transit.
        let media_us = (ext - self.prev_ext) as f64 * 1e6 / self.clock_rate as f64;
        let d = (arrival_us - self.prev_arrival_us) as f64 - media_us;
        self.jitter_us += (d.abs() - self.jitter_us) / 16.0;
        if arrival_us - self.window_start_us >= BASE_WINDOW_US {
            self.min_previous = self.min_current;
            self.min_current = sample;
            self.window_start_us = arrival_us;
        }
        self.min_current = self.min_current.min(sample);
        let excess = (transit - self.base()) as f64;
        let age = (arrival_us - self.peak_at_us).max(0) as f64;
        self.peak_us *= 0.5f64.powf(age / PEAK_HALF_LIFE_US);
        self.peak_at_us = arrival_us;
        self.peak_us = self.peak_us.max(excess);
        self.prev_arrival_us = arrival_us;
        self.prev_ext = ext;
        let reordered = (seq.wrapping_sub(self.highest_seq) as i16) < 0;
        if !reordered {
            self.highest_seq = seq;
            self.highest_frame = frame;
            self.highest_frames = frames.max(1);
        }
        Learned {
            frame,
            arrival_us,
            placement,
            reordered,
        }
    }

    fn base(&self) -> i64 {
        self.min_current.min(self.min_previous)
    }

    /// How long ago `frame` could have arrived at the earliest: the delay it is played with.
    pub fn delay_us(&self, now: Instant, frame: i64) -> i64 {
        micros_since(now, self.epoch) - (self.base() + frame * self.frame_us)
    }

    /// The delay the measured jitter asks for.
    pub fn needed_us(&self) -> f64 {
        (JITTER_FACTOR * self.jitter_us).max(self.peak_us)
    }

    pub fn jitter_us(&self) -> f64 {
        self.jitter_us
    }
}

/// Signed microseconds from `epoch` to `t` (callers may pass instants out of order).
fn micros_since(t: Instant, epoch: Instant) -> i64 {
    match t.checked_duration_since(epoch) {
        Some(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        None => -i64::try_from((epoch - t).as_micros()).unwrap_or(i64::MAX),
    }
}
