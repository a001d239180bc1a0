//! Arrival timing of one RTP stream, for the jitter buffer: where each packet belongs on the
//! 20 ms frame grid, when each frame could have arrived at the earliest, how much the delay
//! varies, and when the timeline broke.
//!
//! Times are microseconds since the first packet. A frame's transit is its arrival minus its
//! media time on the grid; the smallest recent transit (`base`) is the network's fixed delay,
//! and a packet's excess over it is the jitter it suffered.

use std::time::Instant;

/// The RFC 3550 estimate is a mean deviation; three times it covers most of a spread.
const JITTER_FACTOR: f64 = 3.0;
/// How fast a one-off late arrival stops mattering.
const PEAK_HALF_LIFE_US: f64 = 2_000_000.0;
/// A packet whose timing is off by more than this belongs to another timeline (a timestamp
/// jump or a source switched behind the same SSRC): start over from it.
const RESYNC_US: i64 = 1_000_000;
/// The minimum transit is kept over two such windows, so it follows clock drift and route
/// changes within 5–10 s.
const BASE_WINDOW_US: i64 = 5_000_000;

/// What the timeline learnt from one packet.
pub(super) struct Learned {
    /// Frame number of the packet's first 20 ms.
    pub frame: i64,
    pub arrival_us: i64,
    /// The packet did not fit the timeline; numbering restarted from it.
    pub reset: bool,
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
    highest_seq: u16,
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

    pub fn learn(&mut self, seq: u16, timestamp: u32, arrival: Instant) -> Learned {
        let arrival_us = micros_since(arrival, self.epoch);
        let mut ext = self.extend(timestamp);
        let mut frame = ext.div_euclid(self.frame_samples);
        // Transit against the frame grid, so the same grid gives each frame's due time.
        let mut transit = arrival_us - frame * self.frame_us;
        let reset = self.started() && (transit - self.base()).abs() > RESYNC_US;
        let reordered = self.started() && (seq.wrapping_sub(self.highest_seq) as i16) < 0;
        if !self.started() || reset {
            // Number frames afresh from this packet (which also keeps the extended timestamp
            // from creeping towards overflow under hostile jumps).
            ext = i64::from(timestamp);
            frame = ext.div_euclid(self.frame_samples);
            transit = arrival_us - frame * self.frame_us;
            self.last_ext = ext;
            self.last_ts = timestamp;
            self.min_current = transit;
            self.min_previous = i64::MAX;
            self.window_start_us = arrival_us;
        } else {
            if ext > self.last_ext {
                self.last_ext = ext;
                self.last_ts = timestamp;
            }
            // RFC 3550 §6.4.1 / A.8: J += (|D| − J) / 16, D the change in transit.
            let media_us = (ext - self.prev_ext) as f64 * 1e6 / self.clock_rate as f64;
            let d = (arrival_us - self.prev_arrival_us) as f64 - media_us;
            self.jitter_us += (d.abs() - self.jitter_us) / 16.0;
            if arrival_us - self.window_start_us >= BASE_WINDOW_US {
                self.min_previous = self.min_current;
                self.min_current = transit;
                self.window_start_us = arrival_us;
            }
            self.min_current = self.min_current.min(transit);
            let excess = (transit - self.base()) as f64;
            let age = (arrival_us - self.peak_at_us).max(0) as f64;
            self.peak_us *= 0.5f64.powf(age / PEAK_HALF_LIFE_US);
            self.peak_at_us = arrival_us;
            self.peak_us = self.peak_us.max(excess);
        }
        self.prev_arrival_us = arrival_us;
        self.prev_ext = ext;
        if !reordered {
            self.highest_seq = seq;
        }
        Learned {
            frame,
            arrival_us,
            reset,
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
