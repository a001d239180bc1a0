//! WAV files in and out of a call: `--play` clips as a looping microphone, and `--record`
//! stereo call recordings (`recorder.rs`) with their file names (`name.rs`).
//!
//! A clip is loaded whole and resampled once, so playing it is a copy per frame; recordings
//! are written on their own thread so the media task never touches the disk.

mod name;
mod recorder;

pub use name::{days_to_civil, recording_name};
pub use recorder::{Recorder, RecorderHandle, RecordingSummary};

use std::path::{Path, PathBuf};

use super::audio::AudioPort;
use super::resample::{f32_to_i16, ResampleError, Resampler};

#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a WAV file ({reason})", path.display())]
    NotWav { path: PathBuf, reason: String },
    #[error("{} uses an unsupported WAV format: {detail}", path.display())]
    Unsupported { path: PathBuf, detail: String },
    #[error("{} holds no audio", path.display())]
    Empty { path: PathBuf },
    #[error("cannot read {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("cannot play {} at {codec_rate} Hz: {source}", path.display())]
    Resample {
        path: PathBuf,
        codec_rate: u32,
        source: ResampleError,
    },
    #[error("cannot create the recording {}: {reason}", path.display())]
    Create { path: PathBuf, reason: String },
    #[error("cannot write the recording {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
    #[error("the recorder writing {} stopped unexpectedly", path.display())]
    WriterGone { path: PathBuf },
}

/// Sorts hound's errors into what a user can act on: wrong file, unsupported flavour, I/O.
fn read_error(path: &Path, error: hound::Error) -> WavError {
    let path = path.to_path_buf();
    match error {
        hound::Error::IoError(source) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
            WavError::Read {
                path,
                reason: "the file ends in the middle of its audio".into(),
            }
        }
        hound::Error::IoError(source) => WavError::Open { path, source },
        hound::Error::FormatError(reason) => WavError::NotWav {
            path,
            reason: reason.into(),
        },
        other => WavError::Unsupported {
            path,
            detail: other.to_string(),
        },
    }
}

/// A whole sound file, mixed down to mono, as floats in -1.0..=1.0 at its own rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub path: PathBuf,
    pub sample_rate: u32,
    pub samples: Vec<f32>,
}

impl Clip {
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 * 1000 / u64::from(self.sample_rate.max(1))
    }
}

impl Clip {
    /// The clip resampled to `codec_rate` as 16-bit samples (for playing it once).
    pub fn at_rate(&self, codec_rate: u32) -> Result<Vec<i16>, WavError> {
        PlayPort::new(self, codec_rate).map(PlayPort::into_samples)
    }
}

/// Loads a WAV of any rate and channel count (mixed down to mono): 8 to 32-bit integer PCM or
/// 32-bit float.
pub fn load(path: impl AsRef<Path>) -> Result<Clip, WavError> {
    let path = path.as_ref();
    let mut reader = hound::WavReader::open(path).map_err(|e| read_error(path, e))?;
    let spec = reader.spec();
    let unsupported = |detail: String| WavError::Unsupported {
        path: path.to_path_buf(),
        detail,
    };
    if spec.sample_rate == 0 || spec.channels == 0 {
        return Err(unsupported(format!(
            "{} Hz, {} channels",
            spec.sample_rate, spec.channels
        )));
    }
    let channels = usize::from(spec.channels);
    // The header's length is only a hint: a corrupt one must not reserve gigabytes.
    let mut interleaved = Vec::with_capacity((reader.len() as usize).min(1 << 22));
    match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, bits @ 1..=32) => {
            let scale = 1.0 / f64::from(1u32 << (bits - 1));
            for sample in reader.samples::<i32>() {
                let sample = sample.map_err(|e| read_error(path, e))?;
                interleaved.push((f64::from(sample) * scale) as f32);
            }
        }
        (hound::SampleFormat::Float, 32) => {
            for sample in reader.samples::<f32>() {
                let sample = sample.map_err(|e| read_error(path, e))?;
                // NaN or infinities in a file would poison the resampler: treat them as silence.
                interleaved.push(if sample.is_finite() { sample } else { 0.0 });
            }
        }
        (format, bits) => return Err(unsupported(format!("{bits}-bit {format:?} samples"))),
    }
    let samples: Vec<f32> = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    if samples.is_empty() {
        return Err(WavError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(Clip {
        path: path.to_path_buf(),
        sample_rate: spec.sample_rate,
        samples,
    })
}

/// `--play`: a clip as the microphone, looped without a gap; what the caller says is dropped.
#[derive(Clone, Debug)]
pub struct PlayPort {
    /// One loop of the clip at the codec rate.
    samples: Vec<i16>,
    position: usize,
}

impl PlayPort {
    pub fn new(clip: &Clip, codec_rate: u32) -> Result<Self, WavError> {
        let resample_error = |source| WavError::Resample {
            path: clip.path.clone(),
            codec_rate,
            source,
        };
        let len = clip.samples.len();
        if len == 0 || clip.sample_rate == 0 {
            return Err(WavError::Empty {
                path: clip.path.clone(),
            });
        }
        let (from, to) = (u64::from(clip.sample_rate), u64::from(codec_rate));
        let mut resampler = Resampler::new(clip.sample_rate, codec_rate).map_err(resample_error)?;
        let loop_len = ((len as u64 * to + from / 2) / from).max(1) as usize;

        // Resample the clip as if it had been looping forever: start a little before the loop
        // point (`lead` samples of its tail) and keep going into the next round, so the filter
        // sees the real neighbours on both sides of the seam instead of silence. `lead` is a
        // whole number of rate-ratio units, so it maps to an exact number of output samples.
        let unit = from / gcd(from, to);
        let lead = (from / 10).div_ceil(unit) * unit;
        let lead_out = (lead * to / from) as usize;
        let wanted = resampler.latency_samples() + lead_out + loop_len;
        let start = (len - (lead as usize % len)) % len;
        let mut source = clip.samples.iter().copied().cycle().skip(start);
        // The resampler keeps what does not fill its own block, so any piece size works.
        const PIECE: usize = 4096;
        let mut input = Vec::with_capacity(PIECE);
        let mut output = Vec::with_capacity(wanted + PIECE * (to / from + 1) as usize);
        // Bounded even if the resampler were to hold output back: twice what should be needed.
        let pieces = 2 * (wanted as u64 * from / to) as usize / PIECE + 4;
        for _ in 0..pieces {
            if output.len() >= wanted {
                break;
            }
            input.clear();
            input.extend(source.by_ref().take(PIECE));
            resampler.process(&input, &mut output);
        }
        if output.len() < wanted {
            output.resize(wanted, 0.0);
        }
        let first = wanted - loop_len;
        let samples = output[first..wanted]
            .iter()
            .map(|&s| f32_to_i16(s))
            .collect();
        Ok(Self {
            samples,
            position: 0,
        })
    }

    /// The clip at the codec rate, for playing once.
    pub fn into_samples(self) -> Vec<i16> {
        self.samples
    }

    /// Length of one loop at the codec rate.
    pub fn loop_samples(&self) -> usize {
        self.samples.len()
    }
}

impl AudioPort for PlayPort {
    fn sink(&mut self, _remote_pcm: &[i16]) {}

    fn source(&mut self, out: &mut [i16]) {
        let mut filled = 0;
        while filled < out.len() {
            let take = (self.samples.len() - self.position).min(out.len() - filled);
            out[filled..filled + take]
                .copy_from_slice(&self.samples[self.position..self.position + take]);
            filled += take;
            self.position = (self.position + take) % self.samples.len();
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A scratch directory per test, removed when dropped.
#[cfg(test)]
pub(crate) struct TestDir(pub PathBuf);

#[cfg(test)]
impl TestDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sipterm-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

#[cfg(test)]
impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::resample::test_signal::{dominant_hz, sine};

    fn write_wav(path: &Path, spec: hound::WavSpec, frames: &[f32]) {
        let mut writer = hound::WavWriter::create(path, spec).unwrap();
        for &value in frames {
            for channel in 0..spec.channels {
                // Right channel at half level: the downmix must average, not pick one side.
                let v = if channel == 0 { value } else { value * 0.5 };
                match (spec.sample_format, spec.bits_per_sample) {
                    (hound::SampleFormat::Float, _) => writer.write_sample(v).unwrap(),
                    (_, bits) => {
                        let full = ((1i64 << (bits - 1)) - 1) as f32;
                        writer.write_sample((v * full).round() as i32).unwrap();
                    }
                }
            }
        }
        writer.finalize().unwrap();
    }

    fn spec(channels: u16, rate: u32, bits: u16, format: hound::SampleFormat) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    #[test]
    fn loads_every_supported_sample_format_to_the_same_values() {
        let dir = TestDir::new("formats");
        let values = [0.0, 0.5, -0.5, 0.25, -1.0 + 1.0 / 64.0];
        for (bits, format) in [
            (8, hound::SampleFormat::Int),
            (16, hound::SampleFormat::Int),
            (24, hound::SampleFormat::Int),
            (32, hound::SampleFormat::Int),
            (32, hound::SampleFormat::Float),
        ] {
            let path = dir.0.join(format!("{bits}-{format:?}.wav"));
            write_wav(&path, spec(2, 22050, bits, format), &values);
            let clip = load(&path).unwrap();
            assert_eq!(clip.sample_rate, 22050);
            assert_eq!(clip.samples.len(), values.len());
            for (got, v) in clip.samples.iter().zip(values) {
                assert!(
                    (got - v * 0.75).abs() < 0.02,
                    "{bits}-bit {format:?}: {got} vs {v}"
                );
            }
        }
    }

    #[test]
    fn load_errors_name_the_file_and_the_problem() {
        let dir = TestDir::new("errors");
        let text = dir.0.join("notes.wav");
        std::fs::write(&text, "this is not audio").unwrap();
        let err = load(&text).unwrap_err();
        assert!(matches!(err, WavError::NotWav { .. }), "{err}");
        assert!(err.to_string().contains("notes.wav"), "{err}");

        let missing = dir.0.join("missing.wav");
        let err = load(&missing).unwrap_err();
        assert!(matches!(err, WavError::Open { .. }), "{err}");
        assert!(err.to_string().contains("missing.wav"), "{err}");

        let empty = dir.0.join("empty.wav");
        write_wav(&empty, spec(1, 8000, 16, hound::SampleFormat::Int), &[]);
        let err = load(&empty).unwrap_err();
        assert!(matches!(err, WavError::Empty { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!("{} holds no audio", empty.display())
        );
    }

    #[test]
    fn a_clip_to_play_once_comes_at_the_codec_rate_with_its_length_and_pitch() {
        let dir = TestDir::new("play-once");
        let path = dir.0.join("greeting.wav");
        // 0.75 s of 1 kHz, stereo at 16 kHz, into a 48 kHz (Opus) and an 8 kHz call.
        write_wav(
            &path,
            spec(2, 16000, 16, hound::SampleFormat::Int),
            &sine(1000.0, 16000, 12000, 0.5),
        );
        let clip = load(&path).unwrap();
        for rate in [8000, 48000] {
            let samples = clip.at_rate(rate).unwrap();
            assert_eq!(samples.len() as u32, rate * 3 / 4, "{rate} Hz");
            let floats: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
            let hz = dominant_hz(&floats, rate);
            assert!((hz - 1000.0).abs() < 1.0, "{hz} Hz at {rate}");
        }
    }

    #[test]
    fn a_44k1_stereo_tone_plays_at_8k_with_its_pitch_and_no_seam() {
        let dir = TestDir::new("play");
        let path = dir.0.join("tone.wav");
        // Half a second of 440 Hz is exactly 220 cycles, so the loop itself is seamless and
        // any glitch at the wrap is ours.
        let tone = sine(440.0, 44100, 22050, 0.5);
        write_wav(&path, spec(2, 44100, 16, hound::SampleFormat::Int), &tone);
        let mut port = PlayPort::new(&load(&path).unwrap(), 8000).unwrap();
        assert_eq!(port.loop_samples(), 4000);

        let mut played = Vec::new();
        let mut frame = [0i16; 160];
        for _ in 0..150 {
            port.source(&mut frame);
            played.extend(frame.iter().map(|&s| f32::from(s) / 32768.0));
        }
        let hz = dominant_hz(&played, 8000);
        assert!((hz - 440.0).abs() < 0.5, "{hz} Hz");
        // Amplitude 0.375 after the downmix: one step moves at most 2π·440/8000 of that.
        let max_step = 2.0 * std::f32::consts::PI * 440.0 / 8000.0 * 0.375;
        for (i, pair) in played.windows(2).enumerate() {
            let step = (pair[1] - pair[0]).abs();
            assert!(
                step < max_step * 1.1,
                "jump {step} at sample {i} (loop of 4000)"
            );
        }
    }

    #[test]
    fn looping_wraps_sample_exactly_at_the_codec_rate() {
        let clip = Clip {
            path: PathBuf::from("ramp.wav"),
            sample_rate: 8000,
            samples: (1..=100).map(|n| n as f32 / 32768.0).collect(),
        };
        let mut port = PlayPort::new(&clip, 8000).unwrap();
        port.sink(&[1; 160]);
        let mut frame = [0i16; 160];
        port.source(&mut frame);
        let expected: Vec<i16> = (1..=100).chain(1..=60).collect();
        assert_eq!(frame[..], expected[..]);
        port.source(&mut frame);
        assert_eq!(frame[0], 61);
        assert_eq!(frame[40], 1);
    }

    #[test]
    fn ports_and_recorders_can_move_to_the_media_task() {
        fn assert_send<T: Send>() {}
        assert_send::<PlayPort>();
        assert_send::<RecorderHandle>();
        assert_send::<crate::media::opus::OpusEncoder>();
        assert_send::<crate::media::opus::OpusDecoder>();
        assert_send::<Resampler>();
    }

    #[test]
    fn an_empty_clip_is_refused() {
        let clip = Clip {
            path: PathBuf::from("nothing.wav"),
            sample_rate: 8000,
            samples: Vec::new(),
        };
        assert!(matches!(
            PlayPort::new(&clip, 8000),
            Err(WavError::Empty { .. })
        ));
    }
}
