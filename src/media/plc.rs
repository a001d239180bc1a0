//! Packet loss concealment for G.711: what to play for a 20 ms frame the jitter buffer reports
//! missing.
//!
//! G.711 has no concealment of its own (opus has, in its decoder). This is the simple form
//! G.711 Appendix I improves on: repeat the last good frame, fading −6 dB per consecutive lost
//! frame and reaching silence after 60 ms, because repeating a sound for longer turns into an
//! audible buzz. The seams are smoothed so that concealment never starts or ends with a click.
//! No allocation: the last frame lives in a fixed array.

/// Largest frame remembered: 20 ms at 48 kHz. Longer frames keep their first 960 samples.
pub const MAX_FRAME: usize = 960;
/// Crossfade at the seams: 2 ms at 8 kHz, short enough not to smear speech.
const OVERLAP: usize = 16;
/// Gain at the end of the n-th consecutive concealed frame: −6 dB, −12 dB, then silence.
const GAINS: [f32; 4] = [1.0, 0.5, 0.25, 0.0];

/// Conceals lost G.711 frames from the last good one. Feed it every decoded frame through
/// [`good`](Self::good) and ask [`conceal`](Self::conceal) for each missing one.
#[derive(Clone, Debug)]
pub struct G711Concealer {
    /// The last good frame made loopable: its tail is crossfaded into its head so that
    /// repeating it has no step at the wrap (see `good`).
    pattern: [i16; MAX_FRAME],
    pattern_len: usize,
    /// Where the repetition continues.
    position: usize,
    /// Last sample actually played, the anchor for the first seam.
    last_sample: i16,
    /// Frames concealed in a row.
    lost: usize,
}

impl Default for G711Concealer {
    fn default() -> Self {
        Self::new()
    }
}

impl G711Concealer {
    pub fn new() -> Self {
        Self {
            pattern: [0; MAX_FRAME],
            pattern_len: 0,
            position: 0,
            last_sample: 0,
            lost: 0,
        }
    }

    /// A frame decoded from a real packet. Remembers it and, after a concealment, fades it in
    /// from where the concealment was, so the return of the real signal does not click.
    pub fn good(&mut self, pcm: &mut [i16]) {
        if pcm.is_empty() {
            return;
        }
        if self.lost > 0 && self.pattern_len > 0 {
            let gain = self.gain_after_losses();
            let n = OVERLAP.min(pcm.len());
            for (i, sample) in pcm.iter_mut().take(n).enumerate() {
                let w = (i + 1) as f32 / (n + 1) as f32;
                let was = f32::from(self.pattern[self.position]) * gain;
                *sample = mix(was, f32::from(*sample), w);
                self.position = (self.position + 1) % self.pattern_len;
            }
        }
        let len = pcm.len().min(MAX_FRAME);
        let frame = &pcm[..len];
        self.last_sample = frame[len - 1];
        // A loop of len − OVERLAP samples whose head blends from the frame's tail: the wrap then
        // goes from x[len−OVERLAP−1] to (mostly) x[len−OVERLAP], neighbours in the original.
        let overlap = if len >= 4 * OVERLAP { OVERLAP } else { 0 };
        let loop_len = len - overlap;
        // Done for every good frame: the blend is kept to the head, the rest is a plain copy.
        let (head, rest) = self.pattern[..loop_len].split_at_mut(overlap);
        for (i, out) in head.iter_mut().enumerate() {
            let w = i as f32 / overlap as f32;
            *out = mix(f32::from(frame[loop_len + i]), f32::from(frame[i]), w);
        }
        rest.copy_from_slice(&frame[overlap..loop_len]);
        self.pattern_len = loop_len;
        // Taking the loop as one period, x[len−1] sits at loop index overlap−1: continue after it.
        self.position = overlap % loop_len;
        self.lost = 0;
    }

    /// Fills `out` with the concealment for one lost frame.
    pub fn conceal(&mut self, out: &mut [i16]) {
        self.lost = self.lost.saturating_add(1);
        if self.pattern_len == 0 || self.lost >= GAINS.len() || out.is_empty() {
            out.fill(0);
            return;
        }
        let (from, to) = (GAINS[self.lost - 1], GAINS[self.lost]);
        let n = out.len() as f32;
        let first = self.lost == 1;
        let anchor = f32::from(self.last_sample);
        for (i, sample) in out.iter_mut().enumerate() {
            let gain = from + (to - from) * (i as f32 / n);
            let mut value = f32::from(self.pattern[self.position]) * gain;
            if first && i < OVERLAP {
                // The repetition need not continue the last real sample: glide into it.
                value = f32::from(mix(anchor, value, (i + 1) as f32 / (OVERLAP + 1) as f32));
            }
            *sample = value as i16;
            self.position = (self.position + 1) % self.pattern_len;
        }
    }

    /// Forgets the last frame (a new stream).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Frames concealed since the last good one.
    pub fn consecutive_losses(&self) -> usize {
        self.lost
    }

    fn gain_after_losses(&self) -> f32 {
        GAINS.get(self.lost).copied().unwrap_or(0.0)
    }
}

/// `(1 − w)·a + w·b`, saturated to 16 bits.
fn mix(a: f32, b: f32, w: f32) -> i16 {
    (a + (b - a) * w).clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn sine(len: usize, phase: usize) -> Vec<i16> {
        (0..len)
            .map(|i| {
                let t = (i + phase) as f32 / 8000.0;
                (8000.0 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()) as i16
            })
            .collect()
    }

    fn rms(x: &[i16]) -> f32 {
        (x.iter().map(|&s| f32::from(s).powi(2)).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn nothing_heard_yet_conceals_with_silence() {
        let mut plc = G711Concealer::new();
        let mut out = [7i16; 160];
        plc.conceal(&mut out);
        assert!(out.iter().all(|&s| s == 0));
    }

    #[test]
    fn fades_six_db_per_frame_to_silence_after_60ms() {
        let mut plc = G711Concealer::new();
        let mut good = sine(160, 0);
        plc.good(&mut good);
        let reference = rms(&good);
        let mut levels = Vec::new();
        for _ in 0..5 {
            let mut out = [0i16; 160];
            plc.conceal(&mut out);
            levels.push(rms(&out) / reference);
        }
        // Each frame ramps between the gains, so its level sits between them.
        assert!((0.5..1.0).contains(&levels[0]), "{levels:?}");
        assert!((0.25..0.5).contains(&levels[1]), "{levels:?}");
        assert!(
            (0.0..0.25).contains(&levels[2]) && levels[2] > 0.0,
            "{levels:?}"
        );
        assert_eq!(levels[3..], [0.0, 0.0]);
        assert_eq!(plc.consecutive_losses(), 5);
    }

    #[test]
    fn concealment_starts_without_a_step() {
        let mut plc = G711Concealer::new();
        let mut good = sine(160, 0);
        plc.good(&mut good);
        let mut out = [0i16; 160];
        plc.conceal(&mut out);
        let step = (i32::from(out[0]) - i32::from(good[159])).abs();
        // A 440 Hz sine at 8000 moves at most ~2800 per sample; the seam stays within that.
        assert!(step < 2800, "step {step}");
        // And the repetition's own wrap is smooth too.
        let max_step = out
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap();
        assert!(max_step < 3500, "max step {max_step}");
    }

    #[test]
    fn the_real_signal_fades_back_in() {
        let mut plc = G711Concealer::new();
        plc.good(&mut sine(160, 0));
        for _ in 0..4 {
            plc.conceal(&mut [0i16; 160]);
        }
        let original = sine(160, 800);
        let mut back = original.clone();
        plc.good(&mut back);
        // After silence the first samples ramp up from zero; the rest is untouched.
        assert!(back[0].unsigned_abs() <= original[0].unsigned_abs() / 8 + 1);
        assert_eq!(back[OVERLAP..], original[OVERLAP..]);
        assert_eq!(plc.consecutive_losses(), 0);
    }

    #[test]
    fn handles_any_frame_length() {
        let mut plc = G711Concealer::new();
        plc.good(&mut []);
        plc.good(&mut sine(40, 0));
        let mut long = [0i16; 400];
        plc.conceal(&mut long);
        assert!(long.iter().any(|&s| s != 0));
        plc.good(&mut sine(2000, 0));
        plc.conceal(&mut []);
        plc.reset();
        let mut out = [1i16; 160];
        plc.conceal(&mut out);
        assert!(out.iter().all(|&s| s == 0));
    }

    #[test]
    fn random_frames_never_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut plc = G711Concealer::new();
        for _ in 0..2000 {
            let len = rng.random_range(0..1200);
            let mut frame: Vec<i16> = (0..len).map(|_| rng.random()).collect();
            if rng.random_bool(0.5) {
                plc.good(&mut frame);
            } else {
                plc.conceal(&mut frame);
            }
        }
    }
}
