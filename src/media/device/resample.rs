//! The device port's fallback sample-rate converter, for a rate pair the shared
//! `media::resample::Resampler` refuses: linear interpolation stepped in exact rational
//! arithmetic, so a long call does not drift. Same shape as the shared one (`new(from_hz,
//! to_hz)`, `process(input, &mut out)` appending to `out`).

pub(super) struct LinearResampler {
    /// Input and output rates divided by their gcd; the next output sample sits at input
    /// position `phase / to` in the sequence `[last, input...]`.
    from: u64,
    to: u64,
    phase: u64,
    /// The final sample of the previous block, so interpolation spans block boundaries.
    last: f32,
}

impl LinearResampler {
    pub(super) fn new(from_hz: u32, to_hz: u32) -> Self {
        let (from, to) = (u64::from(from_hz.max(1)), u64::from(to_hz.max(1)));
        let g = gcd(from, to);
        Self {
            from: from / g,
            to: to / g,
            phase: 0,
            last: 0.0,
        }
    }

    /// Converts `input` and appends the result to `out`.
    pub(super) fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.from == self.to {
            out.extend_from_slice(input);
            return;
        }
        let n = input.len() as u64;
        let at = |k: u64| {
            if k == 0 {
                self.last
            } else {
                input[(k - 1) as usize]
            }
        };
        // Index k in [last, input...] needs k + 1 <= n to interpolate towards the next sample.
        while self.phase / self.to < n {
            let k = self.phase / self.to;
            let frac = (self.phase % self.to) as f32 / self.to as f32;
            let (a, b) = (at(k), at(k + 1));
            out.push(a + (b - a) * frac);
            self.phase += self.from;
        }
        if let Some(&last) = input.last() {
            self.last = last;
            self.phase -= n * self.to;
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(from: u32, to: u32, input: &[f32], chunk: usize) -> Vec<f32> {
        let mut r = LinearResampler::new(from, to);
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            r.process(piece, &mut out);
        }
        out
    }

    #[test]
    fn equal_rates_pass_through() {
        let input: Vec<f32> = (0..100).map(|i| i as f32).collect();
        assert_eq!(run(48_000, 48_000, &input, 7), input);
    }

    #[test]
    fn upsampling_8k_to_48k_gives_six_times_as_many_samples_per_frame() {
        let mut r = LinearResampler::new(8_000, 48_000);
        let mut out = Vec::new();
        for _ in 0..10 {
            out.clear();
            r.process(&[0.25; 160], &mut out);
            assert_eq!(out.len(), 960);
        }
        // DC stays DC once past the first interpolated step from the initial zero.
        assert!(out.iter().all(|&s| (s - 0.25).abs() < 1e-6));
    }

    #[test]
    fn downsampling_48k_to_8k_gives_one_sixth_per_frame() {
        let mut r = LinearResampler::new(48_000, 8_000);
        let mut out = Vec::new();
        for _ in 0..10 {
            out.clear();
            r.process(&[-0.5; 960], &mut out);
            assert_eq!(out.len(), 160);
        }
        assert!(out.iter().all(|&s| (s + 0.5).abs() < 1e-6));
    }

    #[test]
    fn odd_ratio_keeps_exact_count_over_a_second() {
        // 44.1 kHz to 8 kHz: one second in 20 ms pieces must give exactly 8000 samples.
        let out = run(44_100, 8_000, &vec![0.0; 44_100], 882);
        assert_eq!(out.len(), 8_000);
    }

    #[test]
    fn chunking_does_not_change_the_result() {
        let input: Vec<f32> = (0..960).map(|i| (i as f32 * 0.05).sin()).collect();
        let whole = run(48_000, 16_000, &input, 960);
        let pieces = run(48_000, 16_000, &input, 37);
        assert_eq!(whole.len(), pieces.len());
        for (a, b) in whole.iter().zip(&pieces) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn interpolates_between_samples() {
        // 1 kHz to 2 kHz: every second output lies halfway between two inputs.
        let out = run(1_000, 2_000, &[0.0, 1.0, 2.0, 3.0], 4);
        assert_eq!(out, vec![0.0, 0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
    }
}
