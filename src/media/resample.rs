//! Streaming sample-rate conversion between device, file, bridge and codec rates.
//!
//! Accepts input of any length and appends whatever output it completes. Rate pairs with a
//! small rational ratio (every pair of 8/16/24/44.1/48 kHz, and the usual file rates) go
//! through our own polyphase FIR (`polyphase.rs`): a couple of milliseconds of delay and no
//! block to wait for, which matters on the sound-card path where a call crosses it twice.
//! Pairs that share almost no factor (e.g. 44 101 Hz, a misconfigured device or an odd WAV)
//! need thousands of phases; rubato's sinc resampler, on 20 ms blocks, serves those.
//! Mono f32 is the core; the i16 helpers convert on the way in and out so the media path
//! never holds a second f32 buffer.

use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{Async, FixedAsync, SincInterpolationParameters, WindowFunction};

use polyphase::Polyphase;

mod polyphase;

/// The fallback (rubato) runs on blocks of 20 ms of input, the size of a media frame, so a
/// frame-by-frame caller gets one block out per frame in.
const BLOCK_MS: u32 = 20;
/// Guards against absurd rates that would allocate huge blocks.
const MAX_RATE_HZ: u32 = 768_000;
/// Sinc filter length for the fallback: half rubato's default, about twice as fast, still
/// clean in the telephone band.
const SINC_LEN: usize = 128;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ResampleError {
    #[error("cannot resample {from_hz} Hz to {to_hz} Hz: rates must be 1 to {MAX_RATE_HZ} Hz")]
    RateOutOfRange { from_hz: u32, to_hz: u32 },
    #[error("cannot resample {from_hz} Hz to {to_hz} Hz: {reason}")]
    Rubato {
        from_hz: u32,
        to_hz: u32,
        reason: String,
    },
}

/// Converts a mono stream from one rate to another, in pieces of any size.
pub struct Resampler {
    from_hz: u32,
    to_hz: u32,
    /// `None` when the rates are equal: samples pass straight through.
    inner: Option<Engine>,
}

enum Engine {
    Polyphase(Polyphase),
    Rubato(Blocks),
}

/// Rubato with the input it is still collecting for a block.
struct Blocks {
    rubato: Box<dyn rubato::Resampler<f32>>,
    /// Input waiting for a full block; capacity is exactly one block, so it never grows.
    pending: Vec<f32>,
    block_in: usize,
    /// One block of output, sized once for the largest block rubato can produce.
    output: Vec<f32>,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from_hz", &self.from_hz)
            .field("to_hz", &self.to_hz)
            .field("latency_samples", &self.latency_samples())
            .finish()
    }
}

impl Resampler {
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, ResampleError> {
        let valid = 1..=MAX_RATE_HZ;
        if !valid.contains(&from_hz) || !valid.contains(&to_hz) {
            return Err(ResampleError::RateOutOfRange { from_hz, to_hz });
        }
        let inner = if from_hz == to_hz {
            None
        } else if let Some(p) = Polyphase::new(from_hz, to_hz) {
            Some(Engine::Polyphase(p))
        } else {
            Some(Engine::Rubato(Blocks::new(from_hz, to_hz).map_err(
                |reason| ResampleError::Rubato {
                    from_hz,
                    to_hz,
                    reason,
                },
            )?))
        };
        Ok(Self {
            from_hz,
            to_hz,
            inner,
        })
    }

    pub fn from_hz(&self) -> u32 {
        self.from_hz
    }

    pub fn to_hz(&self) -> u32 {
        self.to_hz
    }

    /// Appends to `out` every output sample that `input` (plus earlier leftovers) completes.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        match &mut self.inner {
            None => out.extend_from_slice(input),
            Some(Engine::Polyphase(p)) => p.process(input.iter().copied(), |s| out.push(s)),
            Some(Engine::Rubato(b)) => b.run(input, |s| s, |block| out.extend_from_slice(block)),
        }
    }

    /// [`process`](Self::process) for 16-bit PCM; output saturates rather than wraps, since
    /// the filter can overshoot a full-scale input slightly.
    pub fn process_i16(&mut self, input: &[i16], out: &mut Vec<i16>) {
        match &mut self.inner {
            None => out.extend_from_slice(input),
            Some(Engine::Polyphase(p)) => p.process(input.iter().map(|&s| i16_to_f32(s)), |s| {
                out.push(f32_to_i16(s))
            }),
            Some(Engine::Rubato(b)) => b.run(input, i16_to_f32, |block| {
                out.extend(block.iter().map(|&s| f32_to_i16(s)))
            }),
        }
    }

    /// Filter delay in output samples: a signal fed in appears this many samples later in the
    /// output stream (about 2 ms when one side is 8 kHz, less at higher rates). The rubato
    /// fallback also hands out output in whole blocks of 20 ms of input, so a caller feeding
    /// it less than that may get nothing back on a call.
    pub fn latency_samples(&self) -> usize {
        match &self.inner {
            None => 0,
            Some(Engine::Polyphase(p)) => (p.delay_secs() * f64::from(self.to_hz)).round() as usize,
            Some(Engine::Rubato(b)) => b.rubato.output_delay(),
        }
    }

    /// Input samples that complete one block: 0 when output follows every input sample
    /// (equal rates, or the polyphase filter), 20 ms of input for the rubato fallback.
    pub fn block_input_samples(&self) -> usize {
        match &self.inner {
            Some(Engine::Rubato(b)) => b.block_in,
            _ => 0,
        }
    }
}

impl Blocks {
    fn new(from_hz: u32, to_hz: u32) -> Result<Self, String> {
        let (from, to) = (from_hz as usize, to_hz as usize);
        let block = (from * BLOCK_MS as usize / 1000).max(1);
        let params = SincInterpolationParameters::new(SINC_LEN, WindowFunction::BlackmanHarris2);
        let rubato: Box<dyn rubato::Resampler<f32>> = Box::new(
            Async::<f32>::new_sinc(
                to as f64 / from as f64,
                1.0,
                &params,
                block,
                1,
                FixedAsync::Input,
            )
            .map_err(|e| e.to_string())?,
        );
        let block_in = rubato.input_frames_next();
        Ok(Self {
            pending: Vec::with_capacity(block_in),
            output: vec![0.0; rubato.output_frames_max()],
            block_in,
            rubato,
        })
    }

    fn run<T: Copy>(
        &mut self,
        mut input: &[T],
        to_f32: impl Fn(T) -> f32,
        mut emit: impl FnMut(&[f32]),
    ) {
        while !input.is_empty() {
            let take = (self.block_in - self.pending.len()).min(input.len());
            let (now, later) = input.split_at(take);
            self.pending.extend(now.iter().map(|&s| to_f32(s)));
            input = later;
            if self.pending.len() == self.block_in {
                let produced = self.convert_block();
                emit(&self.output[..produced]);
                self.pending.clear();
            }
        }
    }

    /// Resamples the full `pending` block into `output`, returning the samples produced.
    fn convert_block(&mut self) -> usize {
        let expected = self.rubato.output_frames_next().min(self.output.len());
        let result = SequentialSlice::new(&self.pending[..], 1, self.block_in)
            .ok()
            .zip(SequentialSlice::new_mut(&mut self.output[..], 1, expected).ok())
            .map(|(input, mut output)| self.rubato.process_into_buffer(&input, &mut output, None));
        match result {
            Some(Ok((_, produced))) => produced,
            // Sizes are fixed at construction, so this cannot happen; if it ever did, a block
            // of silence keeps the stream's timing instead of panicking on the media path.
            _ => {
                self.output[..expected].fill(0.0);
                expected
            }
        }
    }
}

pub fn i16_to_f32(s: i16) -> f32 {
    f32::from(s) / 32768.0
}

pub fn f32_to_i16(s: f32) -> i16 {
    // `as` saturates (and maps NaN to 0), so clamping is implicit.
    (s * 32768.0).round() as i16
}

/// Signal helpers shared by the media tests (tones in, frequency and energy out).
#[cfg(test)]
pub(crate) mod test_signal {
    use std::f64::consts::PI;

    pub fn sine(hz: f64, rate: u32, len: usize, amplitude: f64) -> Vec<f32> {
        (0..len)
            .map(|n| (amplitude * (2.0 * PI * hz * n as f64 / f64::from(rate)).sin()) as f32)
            .collect()
    }

    pub fn sine_i16(hz: f64, rate: u32, len: usize, amplitude: f64) -> Vec<i16> {
        sine(hz, rate, len, amplitude)
            .into_iter()
            .map(|s| s.round() as i16)
            .collect()
    }

    /// Frequency from interpolated rising zero crossings: exact for a clean tone, and any
    /// aliasing or images would add crossings and move it.
    pub fn dominant_hz(samples: &[f32], rate: u32) -> f64 {
        let crossings: Vec<f64> = samples
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
            .map(|(i, w)| i as f64 + f64::from(-w[0] / (w[1] - w[0])))
            .collect();
        let (first, last) = (crossings[0], crossings[crossings.len() - 1]);
        (crossings.len() - 1) as f64 * f64::from(rate) / (last - first)
    }

    /// Power of one frequency (Goertzel), normalised so a unit sine gives about 0.25.
    pub fn power_at(samples: &[f32], rate: u32, hz: f64) -> f64 {
        let coeff = 2.0 * (2.0 * PI * hz / f64::from(rate)).cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for &x in samples {
            let s0 = f64::from(x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let n = samples.len() as f64;
        (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (n * n)
    }

    pub fn rms(samples: &[f32]) -> f64 {
        let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
        (sum / samples.len() as f64).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::test_signal::*;
    use super::*;

    fn resample_in_frames(from: u32, to: u32, input: &[f32]) -> (Vec<f32>, usize) {
        let mut r = Resampler::new(from, to).unwrap();
        let mut out = Vec::new();
        for frame in input.chunks((from / 50) as usize) {
            r.process(frame, &mut out);
        }
        (out, r.latency_samples())
    }

    #[test]
    fn equal_rates_pass_through_untouched() {
        let mut r = Resampler::new(8000, 8000).unwrap();
        let mut out = Vec::new();
        r.process_i16(&[1, -2, 3], &mut out);
        assert_eq!(out, [1, -2, 3]);
        assert_eq!(r.latency_samples(), 0);
    }

    #[test]
    fn upsampling_8k_to_48k_keeps_a_1khz_tone() {
        let input = sine(1000.0, 8000, 8000, 0.5);
        let (out, latency) = resample_in_frames(8000, 48000, &input);
        assert!(out.len().abs_diff(48000) <= 960, "len {}", out.len());
        // About 2.3 ms of filter delay, and no 20 ms block to wait for.
        assert!((60..=120).contains(&latency), "latency {latency}");
        let steady = &out[latency + 960..out.len() - 960];
        let hz = dominant_hz(steady, 48000);
        assert!((hz - 1000.0).abs() < 1.0, "{hz} Hz");
        assert!((rms(steady) - 0.5 / 2f64.sqrt()).abs() < 0.01);
        // The 7 kHz image a naive upsampler leaves behind is filtered out.
        assert!(power_at(steady, 48000, 7000.0) < power_at(steady, 48000, 1000.0) * 1e-4);
    }

    #[test]
    fn downsampling_44k1_to_8k_keeps_a_1khz_tone() {
        let input = sine(1000.0, 44100, 44100, 0.5);
        let (out, latency) = resample_in_frames(44100, 8000, &input);
        assert!(out.len().abs_diff(8000) <= 160, "len {}", out.len());
        let steady = &out[latency + 160..out.len() - 160];
        let hz = dominant_hz(steady, 8000);
        assert!((hz - 1000.0).abs() < 1.0, "{hz} Hz");
    }

    #[test]
    fn downsampling_filters_what_the_lower_rate_cannot_carry() {
        // 6 kHz cannot exist at 8 kHz; without the anti-alias filter it would fold to 2 kHz.
        let input = sine(6000.0, 48000, 48000, 0.5);
        let (out, latency) = resample_in_frames(48000, 8000, &input);
        assert!(rms(&out[latency + 160..]) < 0.005, "rms {}", rms(&out));
    }

    #[test]
    fn odd_sized_pieces_give_exactly_what_one_big_piece_gives() {
        for (from, to) in [(8000, 48000), (48000, 8000), (44100, 8000), (16000, 48000)] {
            let input = sine(440.0, from, from as usize, 0.3);
            let mut whole = Resampler::new(from, to).unwrap();
            let mut expected = Vec::new();
            whole.process(&input, &mut expected);

            let mut pieces = Resampler::new(from, to).unwrap();
            let mut got = Vec::new();
            let mut rest = &input[..];
            for size in [1, 7, 13, 160, 333, 2, 999].into_iter().cycle() {
                let (now, later) = rest.split_at(size.min(rest.len()));
                pieces.process(now, &mut got);
                rest = later;
                if rest.is_empty() {
                    break;
                }
            }
            assert_eq!(got, expected, "{from} -> {to}");
        }
    }

    #[test]
    fn rates_without_a_common_block_fall_back_to_sinc() {
        // gcd(44101, 8000) = 1: the polyphase filter would need 8000 phases.
        let input = sine(1000.0, 44101, 44101, 0.5);
        let (out, latency) = resample_in_frames(44101, 8000, &input);
        assert!(out.len().abs_diff(8000) <= 160, "len {}", out.len());
        assert!(latency < 400, "latency {latency}");
        assert_eq!(r_block(44101, 8000), 882);
        let hz = dominant_hz(&out[latency + 160..out.len() - 160], 8000);
        assert!((hz - 1000.0).abs() < 1.0, "{hz} Hz");
    }

    #[test]
    fn i16_helpers_round_trip_and_saturate() {
        let input: Vec<i16> = sine_i16(1000.0, 8000, 1600, 30000.0);
        let mut up = Vec::new();
        Resampler::new(8000, 16000)
            .unwrap()
            .process_i16(&input, &mut up);
        assert_eq!(up.len(), 3200);
        assert_eq!(f32_to_i16(1.5), i16::MAX);
        assert_eq!(f32_to_i16(-1.5), i16::MIN);
        assert_eq!(f32_to_i16(f32::NAN), 0);
        assert_eq!(f32_to_i16(i16_to_f32(-1234)), -1234);
    }

    fn r_block(from: u32, to: u32) -> usize {
        Resampler::new(from, to).unwrap().block_input_samples()
    }

    #[test]
    fn every_codec_and_device_pair_streams_without_blocks() {
        for codec in [8_000, 16_000, 24_000, 48_000] {
            for device in [44_100, 48_000] {
                assert_eq!(r_block(codec, device), 0, "{codec} -> {device}");
                assert_eq!(r_block(device, codec), 0, "{device} -> {codec}");
            }
        }
        // Output follows input at once: one 8 kHz sample gives six at 48 kHz.
        let mut r = Resampler::new(8000, 48000).unwrap();
        let mut out = Vec::new();
        r.process(&[0.1], &mut out);
        assert_eq!(out.len(), 6);
    }

    #[test]
    fn the_fallback_reuses_its_buffers() {
        let mut r = Resampler::new(44101, 8000).unwrap();
        let mut out = Vec::with_capacity(160 * 4);
        let frame = vec![0.1f32; 882];
        r.process(&frame, &mut out);
        let buffers = |r: &Resampler| match r.inner.as_ref() {
            Some(Engine::Rubato(b)) => (b.pending.as_ptr(), b.output.as_ptr()),
            _ => panic!("44101 Hz goes to rubato"),
        };
        let before = buffers(&r);
        for _ in 0..3 {
            r.process(&frame[..77], &mut out);
            r.process(&frame[77..], &mut out);
        }
        assert_eq!(buffers(&r), before);
        assert!(out.len().abs_diff(4 * 160) <= 1, "{}", out.len());
    }

    #[test]
    fn rejects_zero_and_absurd_rates() {
        assert!(matches!(
            Resampler::new(0, 8000),
            Err(ResampleError::RateOutOfRange { from_hz: 0, .. })
        ));
        assert!(Resampler::new(8000, 10_000_000).is_err());
    }
}
