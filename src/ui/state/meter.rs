//! A level meter as the eye should see it: fast attack, slow release, and a peak mark that holds
//! for a moment before it falls.
//!
//! The engine publishes levels about 20 times a second. Drawing them raw makes bars flicker
//! between packets of speech, so the shown level rises at once but falls at a fixed rate (the
//! ballistics of a PPM). Everything here is a function of the stored sample and `now`, so the
//! view stays pure: the decay happens while drawing, not in a timer.

use crate::vocab::Level;
use std::time::{Duration, Instant};

/// The bottom of the scale; anything quieter is drawn as silence.
pub const FLOOR_DBFS: f32 = -60.0;
/// How fast a bar falls when the sound stops.
const RELEASE_DB_PER_S: f32 = 30.0;
/// How long the peak mark stays where it was before it starts to fall.
const PEAK_HOLD: Duration = Duration::from_millis(1500);
/// How fast the peak mark falls after the hold.
const PEAK_FALL_DB_PER_S: f32 = 20.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Meter {
    rms_dbfs: f32,
    rms_at: Instant,
    peak_dbfs: f32,
    peak_at: Instant,
}

impl Meter {
    pub fn new(level: Level, now: Instant) -> Meter {
        Meter {
            rms_dbfs: level.rms_dbfs,
            rms_at: now,
            peak_dbfs: level.peak_dbfs,
            peak_at: now,
        }
    }

    /// Takes a new sample: the bar jumps up to it, or keeps falling from where it was.
    pub fn update(&mut self, level: Level, now: Instant) {
        self.rms_dbfs = level.rms_dbfs.max(self.rms(now));
        self.rms_at = now;
        if level.peak_dbfs >= self.peak(now) {
            self.peak_dbfs = level.peak_dbfs;
            self.peak_at = now;
        }
    }

    /// The bar's level at `now`, in dBFS, never below the floor.
    pub fn rms(&self, now: Instant) -> f32 {
        let fallen = secs(now, self.rms_at) * RELEASE_DB_PER_S;
        (self.rms_dbfs - fallen).max(FLOOR_DBFS)
    }

    /// Where the peak-hold mark sits at `now`, in dBFS, never below the floor.
    pub fn peak(&self, now: Instant) -> f32 {
        let held = now.saturating_duration_since(self.peak_at);
        let falling = held.saturating_sub(PEAK_HOLD).as_secs_f32();
        (self.peak_dbfs - falling * PEAK_FALL_DB_PER_S).max(FLOOR_DBFS)
    }

    /// True while the bar or the peak mark would still move without new samples.
    pub fn moving(&self, now: Instant) -> bool {
        self.rms(now) > FLOOR_DBFS || self.peak(now) > FLOOR_DBFS
    }
}

fn secs(now: Instant, then: Instant) -> f32 {
    now.saturating_duration_since(then).as_secs_f32()
}

/// Where `dbfs` falls on the scale, from 0.0 (floor or below) to 1.0 (full scale).
pub fn fraction(dbfs: f32) -> f32 {
    ((dbfs - FLOOR_DBFS) / -FLOOR_DBFS).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(rms: f32, peak: f32) -> Level {
        Level {
            rms_dbfs: rms,
            peak_dbfs: peak,
        }
    }

    #[test]
    fn rises_at_once_and_falls_slowly() {
        let t0 = Instant::now();
        let mut m = Meter::new(level(-50.0, -40.0), t0);
        m.update(level(-10.0, -3.0), t0 + Duration::from_millis(50));
        assert_eq!(m.rms(t0 + Duration::from_millis(50)), -10.0);
        // Silence arrives 100 ms later: the bar has fallen 3 dB, not to the floor.
        let t = t0 + Duration::from_millis(150);
        m.update(level(-96.0, -96.0), t);
        assert!((m.rms(t) - -13.0).abs() < 0.01, "{}", m.rms(t));
        // And it reaches the floor, never below, once enough time has passed.
        assert_eq!(m.rms(t + Duration::from_secs(5)), FLOOR_DBFS);
    }

    #[test]
    fn peak_holds_then_falls() {
        let t0 = Instant::now();
        let mut m = Meter::new(level(-20.0, -6.0), t0);
        m.update(level(-30.0, -25.0), t0 + Duration::from_millis(500));
        assert_eq!(m.peak(t0 + Duration::from_millis(1400)), -6.0, "held");
        let later = t0 + PEAK_HOLD + Duration::from_millis(500);
        assert!((m.peak(later) - -16.0).abs() < 0.01, "{}", m.peak(later));
        assert!(m.moving(later));
        assert!(!m.moving(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn a_louder_peak_replaces_the_held_one() {
        let t0 = Instant::now();
        let mut m = Meter::new(level(-20.0, -12.0), t0);
        m.update(level(-20.0, -1.0), t0 + Duration::from_millis(100));
        assert_eq!(m.peak(t0 + Duration::from_millis(200)), -1.0);
    }

    #[test]
    fn fraction_maps_the_scale() {
        assert_eq!(fraction(-96.0), 0.0);
        assert_eq!(fraction(-30.0), 0.5);
        assert_eq!(fraction(3.0), 1.0);
    }
}
