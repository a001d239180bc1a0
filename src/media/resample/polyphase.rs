//! Low-delay rational resampling for the fixed rate pairs a call meets (8/16/24/48 kHz codecs
//! and bridge against 44.1/48 kHz sound cards and files): a polyphase windowed-sinc FIR.
//!
//! Going from `from` to `to` Hz with `to/from = L/M` (reduced) is, in principle, inserting
//! L−1 zeros between input samples, low-pass filtering at the lower of the two Nyquist rates,
//! and keeping every M-th sample. Only the taps that meet a real input sample are ever
//! multiplied: output `m` sits at virtual position `m·M`, uses phase `p = m·M mod L` of the
//! filter and the K input samples ending at `⌊m·M/L⌋`. The L phase tables (K taps each) are
//! computed once in `new`; `process` only multiplies and adds, and allocates nothing once its
//! history buffer has grown to the largest input it is given.
//!
//! The filter is linear-phase, so its delay is half its length: about 2.3 ms when one side is
//! 8 kHz, 1.1 ms at 16 kHz, 0.75 ms at 24 kHz ([`Polyphase::delay_secs`]). The FFT resampler
//! it replaces for these pairs cost about 10 ms each way (half its 20 ms block) plus the wait
//! for the block to fill.

use std::f64::consts::PI;

/// Stop-band attenuation of the Kaiser design. 60 dB puts aliases and images below what
/// G.711's own quantisation noise (about 38 dB SNR) lets anyone hear.
const ATTENUATION_DB: f64 = 60.0;
/// The −6 dB point, as a fraction of the lower rate: 3.76 kHz when one side is 8 kHz.
const CUTOFF: f64 = 0.47;
/// Transition band, as a fraction of the lower rate: 3.36 kHz (flat) to 4.16 kHz (stopped)
/// at 8 kHz. What leaks between 4 and 4.16 kHz folds to 3.84–4 kHz, above the telephone band.
/// A narrower band would need a longer filter, and so more delay.
const TRANSITION: f64 = 0.10;
/// Largest L (phases) and table size accepted; 8 kHz to 44.1 kHz needs 441 phases of 37
/// taps. Rate pairs that share almost no factor (e.g. 44 101 Hz) go elsewhere.
pub(super) const MAX_PHASES: u64 = 1024;
const MAX_TABLE: usize = 1 << 18;

/// A streaming polyphase resampler for one rate pair.
pub(super) struct Polyphase {
    /// Up (L) and down (M) factors, `to/from = up/down` in lowest terms.
    up: usize,
    down: usize,
    /// Taps per phase (input samples each output looks at).
    taps: usize,
    /// `up` phase tables of `taps` taps each, stored oldest-sample-first so that an output is
    /// the dot product of one table with a contiguous slice of `history`.
    table: Box<[f32]>,
    /// Input not yet fully used: the `taps − 1` samples before the next output's newest
    /// sample, then whatever has arrived since.
    history: Vec<f32>,
    /// The next output's position on the virtual (L × input rate) grid, counted from
    /// `history[0]`.
    position: usize,
    delay_secs: f64,
}

impl Polyphase {
    /// `None` when the pair needs more phases than is reasonable (see [`MAX_PHASES`]) or
    /// either rate is 0.
    pub(super) fn new(from_hz: u32, to_hz: u32) -> Option<Self> {
        let (from, to) = (u64::from(from_hz), u64::from(to_hz));
        if from == 0 || to == 0 {
            return None;
        }
        let g = gcd(from, to);
        let (up, down) = (to / g, from / g);
        if up > MAX_PHASES {
            return None;
        }
        let (up, down) = (up as usize, down as usize);
        let low = from.min(to) as f64;
        // Kaiser's estimate of the length a transition band this wide needs, as a time span.
        let span_secs = (ATTENUATION_DB - 7.95) / (2.285 * 2.0 * PI * TRANSITION * low);
        let taps = ((span_secs * from as f64).ceil() as usize).max(2);
        if taps * up > MAX_TABLE {
            return None;
        }
        let table = design(up, taps, CUTOFF * low / (from as f64 * up as f64));
        let length = (taps * up) as f64;
        Some(Self {
            up,
            down,
            taps,
            table,
            history: vec![0.0; taps - 1],
            position: (taps - 1) * up,
            delay_secs: (length - 1.0) / 2.0 / (from as f64 * up as f64),
        })
    }

    /// How much later a signal comes out than it went in (the filter's group delay).
    pub(super) fn delay_secs(&self) -> f64 {
        self.delay_secs
    }

    /// Feeds `input` and calls `emit` with every output sample it completes, in order.
    pub(super) fn process(
        &mut self,
        input: impl IntoIterator<Item = f32>,
        mut emit: impl FnMut(f32),
    ) {
        self.history.extend(input);
        let (up, taps) = (self.up, self.taps);
        loop {
            let newest = self.position / up;
            if newest >= self.history.len() {
                break;
            }
            let phase = self.position % up;
            let window = &self.history[newest + 1 - taps..=newest];
            let coefficients = &self.table[phase * taps..(phase + 1) * taps];
            emit(dot(window, coefficients));
            self.position += self.down;
        }
        // Keep only what the next output still needs (when downsampling by a lot, the next
        // output may lie beyond the input so far: what arrives before it is dropped then).
        let first_needed = self.position / up + 1 - taps;
        let drop = first_needed.min(self.history.len());
        self.history.drain(..drop);
        self.position -= drop * up;
    }
}

/// The `up` phase tables of a Kaiser-windowed sinc low-pass of `up × taps` taps at the virtual
/// rate, `cutoff` in cycles per virtual sample. Each phase is normalised to sum to exactly 1,
/// so silence stays silence and DC stays DC whatever the phase (no ripple at the input rate).
fn design(up: usize, taps: usize, cutoff: f64) -> Box<[f32]> {
    let length = up * taps;
    let centre = (length as f64 - 1.0) / 2.0;
    let beta = 0.1102 * (ATTENUATION_DB - 8.7);
    let norm = bessel_i0(beta);
    let prototype: Vec<f64> = (0..length)
        .map(|n| {
            let t = n as f64 - centre;
            let sinc = if t == 0.0 {
                2.0 * cutoff
            } else {
                (2.0 * PI * cutoff * t).sin() / (PI * t)
            };
            let r = t / centre.max(0.5);
            let window = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / norm;
            sinc * window
        })
        .collect();
    let mut table = vec![0.0f32; length];
    for phase in 0..up {
        // Tap j of this phase meets input sample `newest − j`; stored reversed (oldest first).
        let sum: f64 = (0..taps).map(|j| prototype[phase + j * up]).sum();
        let scale = if sum.abs() > 1e-12 { 1.0 / sum } else { 0.0 };
        for j in 0..taps {
            table[phase * taps + (taps - 1 - j)] = (prototype[phase + j * up] * scale) as f32;
        }
    }
    table.into_boxed_slice()
}

/// Dot product in eight independent lanes, which the compiler turns into vector code (a
/// single running sum must be added in order and cannot be).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The zeroth-order modified Bessel function of the first kind, by its power series (which
/// converges fast for the β values a Kaiser window uses).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > sum * 1e-12 {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::super::test_signal::{dominant_hz, power_at, rms, sine};
    use super::*;

    fn run(from: u32, to: u32, input: &[f32], chunk: usize) -> (Vec<f32>, f64) {
        let mut r = Polyphase::new(from, to).unwrap();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            r.process(piece.iter().copied(), |s| out.push(s));
        }
        (out, r.delay_secs())
    }

    /// Largest difference between `out` and the input tone delayed by `delay` seconds, after
    /// the filter has filled.
    fn error_against_delayed(out: &[f32], rate: u32, hz: f64, amplitude: f64, delay: f64) -> f64 {
        let start = (0.01 * f64::from(rate)) as usize;
        out[start..]
            .iter()
            .enumerate()
            .map(|(i, &y)| {
                let t = (start + i) as f64 / f64::from(rate) - delay;
                (f64::from(y) - amplitude * (2.0 * PI * hz * t).sin()).abs()
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn the_delay_is_a_few_milliseconds_at_most() {
        for (from, to, most_ms) in [
            (8_000, 48_000, 2.5),
            (48_000, 8_000, 2.5),
            (8_000, 44_100, 2.5),
            (44_100, 8_000, 2.5),
            (16_000, 48_000, 1.3),
            (24_000, 48_000, 0.9),
            (48_000, 24_000, 0.9),
        ] {
            let ms = Polyphase::new(from, to).unwrap().delay_secs() * 1000.0;
            assert!(ms > 0.5 && ms <= most_ms, "{from} -> {to}: {ms} ms");
        }
    }

    #[test]
    fn a_tone_comes_out_at_its_level_and_exactly_the_stated_delay_later() {
        // Checked sample by sample against the ideal tone shifted by `delay_secs`: a wrong
        // delay of even 0.1 ms would show as an error of 0.5 × sin(2π·1000·0.0001) ≈ 0.3.
        for (from, to) in [
            (8_000, 48_000),
            (48_000, 8_000),
            (8_000, 44_100),
            (44_100, 8_000),
            (16_000, 48_000),
            (48_000, 16_000),
            (24_000, 48_000),
            (48_000, 24_000),
        ] {
            let input = sine(1000.0, from, from as usize / 4, 0.5);
            let (out, delay) = run(from, to, &input, (from / 50) as usize);
            let err = error_against_delayed(&out, to, 1000.0, 0.5, delay);
            assert!(err < 0.01, "{from} -> {to}: error {err}");
        }
    }

    #[test]
    fn up_and_down_again_keeps_frequency_and_level() {
        for (rate, device) in [(8_000, 48_000), (8_000, 44_100), (16_000, 48_000)] {
            let input = sine(1000.0, rate, rate as usize, 0.5);
            let (up, _) = run(rate, device, &input, (rate / 50) as usize);
            let (back, delay) = run(device, rate, &up, (device / 50) as usize);
            assert_eq!(back.len(), input.len(), "{rate} <-> {device}");
            let steady = &back[(rate / 50) as usize..];
            let hz = dominant_hz(steady, rate);
            assert!((hz - 1000.0).abs() < 0.5, "{rate} <-> {device}: {hz} Hz");
            let level = rms(steady) / (0.5 / 2f64.sqrt());
            assert!(
                (level - 1.0).abs() < 0.01,
                "{rate} <-> {device}: gain {level}"
            );
            assert!(delay < 0.003);
        }
    }

    #[test]
    fn aliases_above_the_new_nyquist_are_stopped() {
        // 4.5 kHz and 6 kHz cannot exist at 8 kHz; unfiltered they would fold to 3.5 and 2 kHz.
        for device in [48_000, 44_100] {
            for hz in [4_500.0, 6_000.0, 15_000.0] {
                let input = sine(hz, device, device as usize / 2, 0.5);
                let (out, _) = run(device, 8_000, &input, (device / 50) as usize);
                let level = rms(&out[80..]) / (0.5 / 2f64.sqrt());
                assert!(level < 1e-3, "{device} -> 8000, {hz} Hz: {level}");
            }
        }
        // The passband is untouched up to 3.3 kHz.
        let input = sine(3_300.0, 48_000, 24_000, 0.5);
        let (out, _) = run(48_000, 8_000, &input, 960);
        let level = rms(&out[80..]) / (0.5 / 2f64.sqrt());
        assert!((level - 1.0).abs() < 0.01, "3.3 kHz: {level}");
    }

    #[test]
    fn upsampling_leaves_no_images() {
        // A naive 8 -> 48 kHz upsampler repeats the 1 kHz tone at 7, 9, 15, 17 kHz ...
        let input = sine(1000.0, 8_000, 4_000, 0.5);
        let (out, _) = run(8_000, 48_000, &input, 160);
        let steady = &out[960..];
        let tone = power_at(steady, 48_000, 1000.0);
        for image in [7_000.0, 9_000.0, 15_000.0, 17_000.0] {
            let p = power_at(steady, 48_000, image);
            assert!(p < tone * 1e-6, "{image} Hz at {}", p / tone);
        }
    }

    #[test]
    fn exact_counts_frame_by_frame_and_any_chunking_gives_the_same_samples() {
        for (from, to) in [
            (8_000, 48_000),
            (48_000, 8_000),
            (44_100, 8_000),
            (8_000, 44_100),
        ] {
            let frame_in = (from / 50) as usize;
            let mut r = Polyphase::new(from, to).unwrap();
            let mut whole = Vec::new();
            let input = sine(440.0, from, frame_in * 10, 0.3);
            for frame in input.chunks(frame_in) {
                let before = whole.len();
                r.process(frame.iter().copied(), |s| whole.push(s));
                assert_eq!(whole.len() - before, (to / 50) as usize, "{from} -> {to}");
            }
            for chunk in [1, 7, 333] {
                let (pieces, _) = run(from, to, &input, chunk);
                assert_eq!(pieces, whole, "{from} -> {to} in pieces of {chunk}");
            }
        }
    }

    #[test]
    fn steady_state_does_not_reallocate() {
        let mut r = Polyphase::new(48_000, 8_000).unwrap();
        let frame = vec![0.25f32; 960];
        let mut n = 0;
        r.process(frame.iter().copied(), |_| n += 1);
        let buffer = r.history.as_ptr();
        for _ in 0..50 {
            r.process(frame.iter().copied(), |s| {
                n += 1;
                assert!((s - 0.25).abs() < 1e-3 || n < 100);
            });
        }
        assert_eq!(r.history.as_ptr(), buffer);
        assert_eq!(n, 51 * 160);
    }

    #[test]
    fn refuses_what_it_cannot_do_cheaply() {
        assert!(Polyphase::new(44_101, 8_000).is_none());
        assert!(Polyphase::new(0, 8_000).is_none());
        assert!(Polyphase::new(8_000, 8_000).is_some());
    }
}
