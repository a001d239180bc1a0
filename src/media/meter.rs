//! Audio level meters: RMS and peak in dBFS for one direction of a call.
//!
//! The media task pushes every frame it handles and takes a reading about 20 times a second
//! (DESIGN.md §4), so the UI gets levels at a rate the eye can follow rather than per packet.

pub use crate::vocab::{Level, SILENCE_DBFS};

/// Full scale for 16-bit PCM: a square wave at ±32768 reads 0 dBFS.
const FULL_SCALE: f64 = 32768.0;

/// Accumulates samples between readings; `push` is a few adds per sample and never allocates.
#[derive(Clone, Debug, Default)]
pub struct Meter {
    /// Sum of squares in integers: exact, and a u64 holds 2^34 full-scale samples (days of
    /// audio at 48 kHz), far beyond the 50 ms between readings.
    sum_squares: u64,
    samples: u64,
    peak: u32,
}

impl Meter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, pcm: &[i16]) {
        for &s in pcm {
            let magnitude = i32::from(s).unsigned_abs();
            self.sum_squares = self
                .sum_squares
                .saturating_add(u64::from(magnitude * magnitude));
            self.peak = self.peak.max(magnitude);
        }
        self.samples += pcm.len() as u64;
    }

    /// The level over everything pushed since the last call, and a fresh start.
    pub fn take(&mut self) -> Level {
        let level = if self.samples == 0 {
            Level::SILENCE
        } else {
            let mean_square = self.sum_squares as f64 / self.samples as f64;
            Level {
                rms_dbfs: to_dbfs(mean_square.sqrt()),
                peak_dbfs: to_dbfs(f64::from(self.peak)),
            }
        };
        *self = Self::default();
        level
    }
}

fn to_dbfs(magnitude: f64) -> f32 {
    if magnitude <= 0.0 {
        return SILENCE_DBFS;
    }
    ((20.0 * (magnitude / FULL_SCALE).log10()) as f32).max(SILENCE_DBFS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn close(actual: f32, expected: f32, tolerance: f32) -> bool {
        (actual - expected).abs() <= tolerance
    }

    #[test]
    fn full_scale_sine_reads_minus_3_dbfs_rms_and_0_peak() {
        // 997 Hz rather than 1 kHz so the samples sweep every phase and one lands on the crest.
        let sine: Vec<i16> = (0..8000)
            .map(|n| (32767.0 * (2.0 * PI * 997.0 * f64::from(n) / 8000.0).sin()) as i16)
            .collect();
        let mut meter = Meter::new();
        meter.push(&sine);
        let level = meter.take();
        assert!(close(level.rms_dbfs, -3.01, 0.1), "{level:?}");
        assert!(close(level.peak_dbfs, 0.0, 0.1), "{level:?}");
    }

    #[test]
    fn silence_reads_the_floor() {
        let mut meter = Meter::new();
        meter.push(&[0; 160]);
        assert_eq!(meter.take(), Level::SILENCE);
        // Nothing pushed at all is silence too, not NaN.
        assert_eq!(meter.take(), Level::SILENCE);
    }

    #[test]
    fn half_scale_square_reads_minus_6_dbfs() {
        let square: Vec<i16> = (0..160)
            .map(|n| if n % 20 < 10 { 16384 } else { -16384 })
            .collect();
        let mut meter = Meter::new();
        meter.push(&square);
        let level = meter.take();
        assert!(close(level.rms_dbfs, -6.02, 0.01), "{level:?}");
        assert!(close(level.peak_dbfs, -6.02, 0.01), "{level:?}");
    }

    #[test]
    fn most_negative_sample_is_full_scale() {
        let mut meter = Meter::new();
        meter.push(&[i16::MIN; 10]);
        let level = meter.take();
        assert_eq!(level.peak_dbfs, 0.0);
        assert_eq!(level.rms_dbfs, 0.0);
    }

    #[test]
    fn take_covers_only_what_came_since_the_last_take() {
        let mut meter = Meter::new();
        meter.push(&[16384; 160]);
        meter.take();
        meter.push(&[1; 160]);
        let level = meter.take();
        // One LSB: -90.3 dBFS, nowhere near the earlier half-scale frame.
        assert!(close(level.peak_dbfs, -90.31, 0.01), "{level:?}");
    }

    #[test]
    fn readings_accumulate_across_frames() {
        let mut meter = Meter::new();
        meter.push(&[16384; 80]);
        meter.push(&[0; 80]);
        let level = meter.take();
        // Half the samples at -6.02 dBFS: mean square halves, so -3.01 dB lower.
        assert!(close(level.rms_dbfs, -9.03, 0.01), "{level:?}");
        assert!(close(level.peak_dbfs, -6.02, 0.01), "{level:?}");
    }
}
