//! The mock's audio: the GA formats (and GPT-Live's extra PCM16 at 16 kHz), G.711 coding, the
//! reply tone, and a small energy voice-activity detector that stands in for the service's VAD.

use serde_json::{json, Value};

use super::super::audio::{alaw_to_linear, linear_to_ulaw, rms_dbfs, ulaw_to_linear};

/// An audio format: GA's `session.audio.{input,output}.format` or Live's `session.audio.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    /// `{"type":"audio/pcm","rate":24000}`: 16-bit little-endian mono at 24 kHz.
    Pcm24k,
    /// `{"type":"audio/pcm","rate":16000}`: 16-bit little-endian mono at 16 kHz (GPT-Live only).
    Pcm16k,
    /// `{"type":"audio/pcmu"}`: G.711 µ-law at 8 kHz.
    Pcmu,
    /// `{"type":"audio/pcma"}`: G.711 A-law at 8 kHz.
    Pcma,
}

impl AudioFormat {
    /// The format named by a (validated) format object; `Pcm24k` for anything else.
    pub fn from_json(format: &Value) -> AudioFormat {
        match (format["type"].as_str(), format["rate"].as_u64()) {
            (Some("audio/pcmu"), _) => AudioFormat::Pcmu,
            (Some("audio/pcma"), _) => AudioFormat::Pcma,
            (Some("audio/pcm"), Some(16_000)) => AudioFormat::Pcm16k,
            _ => AudioFormat::Pcm24k,
        }
    }

    /// The GA shape: G.711 formats carry no rate.
    pub fn to_json(self) -> Value {
        match self {
            AudioFormat::Pcm24k | AudioFormat::Pcm16k => {
                json!({"type": "audio/pcm", "rate": self.rate()})
            }
            AudioFormat::Pcmu => json!({"type": "audio/pcmu"}),
            AudioFormat::Pcma => json!({"type": "audio/pcma"}),
        }
    }

    /// The GPT-Live shape (live-notes §1): every format names its rate, G.711 too.
    pub fn to_live_json(self) -> Value {
        let kind = match self {
            AudioFormat::Pcm24k | AudioFormat::Pcm16k => "audio/pcm",
            AudioFormat::Pcmu => "audio/pcmu",
            AudioFormat::Pcma => "audio/pcma",
        };
        json!({"type": kind, "rate": self.rate()})
    }

    pub fn rate(self) -> u32 {
        match self {
            AudioFormat::Pcm24k => 24_000,
            AudioFormat::Pcm16k => 16_000,
            AudioFormat::Pcmu | AudioFormat::Pcma => 8_000,
        }
    }

    pub fn bytes_per_sample(self) -> usize {
        match self {
            AudioFormat::Pcm24k | AudioFormat::Pcm16k => 2,
            AudioFormat::Pcmu | AudioFormat::Pcma => 1,
        }
    }

    /// Milliseconds of audio in `bytes` bytes of this format.
    pub fn ms_of_bytes(self, bytes: usize) -> f64 {
        (bytes / self.bytes_per_sample()) as f64 * 1000.0 / f64::from(self.rate())
    }

    /// Wire bytes to linear samples (a trailing odd PCM byte is ignored).
    pub fn decode(self, bytes: &[u8]) -> Vec<i16> {
        match self {
            AudioFormat::Pcm24k | AudioFormat::Pcm16k => bytes
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect(),
            AudioFormat::Pcmu => bytes.iter().map(|&b| ulaw_to_linear(b)).collect(),
            AudioFormat::Pcma => bytes.iter().map(|&b| alaw_to_linear(b)).collect(),
        }
    }

    /// Linear samples to wire bytes.
    pub fn encode(self, samples: &[i16]) -> Vec<u8> {
        match self {
            AudioFormat::Pcm24k | AudioFormat::Pcm16k => {
                samples.iter().flat_map(|s| s.to_le_bytes()).collect()
            }
            AudioFormat::Pcmu => samples.iter().map(|&s| linear_to_ulaw(s)).collect(),
            AudioFormat::Pcma => samples.iter().map(|&s| linear_to_alaw(s)).collect(),
        }
    }

    /// The words the error texts use for this format.
    pub fn describe(self) -> &'static str {
        match self {
            AudioFormat::Pcm24k => "mono PCM16 at 24kHz",
            AudioFormat::Pcm16k => "mono PCM16 at 16kHz",
            AudioFormat::Pcmu => "G.711 u-law at 8kHz",
            AudioFormat::Pcma => "G.711 A-law at 8kHz",
        }
    }
}

/// Linear sample to A-law (G.711): 13-bit magnitude, segment number and 4 mantissa bits,
/// with the even bits inverted (XOR 0x55); the sign bit is set for positive samples.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let (sign, magnitude) = if sample >= 0 {
        (0x80u8, i32::from(sample))
    } else {
        (0x00u8, (-i32::from(sample)).min(32767))
    };
    let (segment, mantissa) = if magnitude < 256 {
        (0u8, (magnitude >> 4) as u8)
    } else {
        // Segment e covers magnitudes 256 << (e - 1) .. 512 << (e - 1).
        let segment = (31 - magnitude.leading_zeros()) as u8 - 7;
        (segment, ((magnitude >> (segment + 3)) & 0x0f) as u8)
    };
    (sign | (segment << 4) | mantissa) ^ 0x55
}

/// `ms` milliseconds of a sine at `hz` at `rate`, peak `amplitude` (0..1 of full scale).
pub fn tone(hz: f64, ms: u32, rate: u32, amplitude: f64) -> Vec<i16> {
    let count = (u64::from(rate) * u64::from(ms) / 1000) as usize;
    let peak = amplitude.clamp(0.0, 1.0) * 32767.0;
    (0..count)
        .map(|n| {
            let phase = 2.0 * std::f64::consts::PI * hz * n as f64 / f64::from(rate);
            (peak * phase.sin()).round() as i16
        })
        .collect()
}

/// Splits `bytes` into chunks whose sizes cycle through `sizes` (zero sizes are skipped).
pub fn uneven_chunks(bytes: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let sizes: Vec<usize> = sizes.iter().copied().filter(|&s| s > 0).collect();
    let sizes = if sizes.is_empty() { vec![160] } else { sizes };
    let mut chunks = Vec::new();
    let mut at = 0;
    for &size in sizes.iter().cycle() {
        if at >= bytes.len() {
            break;
        }
        let end = (at + size).min(bytes.len());
        chunks.push(bytes[at..end].to_vec());
        at = end;
    }
    chunks
}

/// What the detector reports, on the session's audio timeline (ms since the first append).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VadEvent {
    Started { audio_start_ms: u64 },
    Stopped { audio_end_ms: u64 },
}

/// Energy VAD over 20 ms frames: a frame louder than `threshold_dbfs` is voiced; speech starts
/// after `start_ms` of consecutive voiced frames and stops after `silence_ms` of unvoiced ones.
#[derive(Debug)]
pub struct Vad {
    pub threshold_dbfs: f64,
    pub start_ms: u32,
    pending: Vec<i16>,
    pending_rate: u32,
    /// End of the last whole frame analysed, in ms of session audio.
    position_ms: f64,
    voiced_run_ms: f64,
    run_start_ms: f64,
    silence_ms: f64,
    in_speech: bool,
}

impl Vad {
    pub fn new(threshold_dbfs: f64, start_ms: u32) -> Vad {
        Vad {
            threshold_dbfs,
            start_ms,
            pending: Vec::new(),
            pending_rate: 0,
            position_ms: 0.0,
            voiced_run_ms: 0.0,
            run_start_ms: 0.0,
            silence_ms: 0.0,
            in_speech: false,
        }
    }

    pub fn in_speech(&self) -> bool {
        self.in_speech
    }

    /// During speech, the end of its last voiced frame (ms of session audio).
    pub fn voiced_until_ms(&self) -> f64 {
        self.position_ms - self.silence_ms
    }

    /// Forgets any speech in progress (buffer cleared, turn detection switched off).
    pub fn reset(&mut self) {
        self.voiced_run_ms = 0.0;
        self.silence_ms = 0.0;
        self.in_speech = false;
    }

    /// Advances the timeline over audio the detector does not analyse (turn detection off).
    pub fn skip(&mut self, samples: usize, rate: u32) {
        self.position_ms += samples as f64 * 1000.0 / f64::from(rate);
        self.pending.clear();
    }

    /// Feeds decoded input audio; `prefix_ms` is subtracted from the reported speech start the
    /// way the service includes `prefix_padding_ms`, and the reported end includes the silence.
    pub fn feed(
        &mut self,
        samples: &[i16],
        rate: u32,
        silence_ms: u32,
        prefix_ms: u32,
    ) -> Vec<VadEvent> {
        if rate != self.pending_rate {
            self.pending.clear();
            self.pending_rate = rate;
        }
        self.pending.extend_from_slice(samples);
        let frame = (rate / 50) as usize;
        let mut events = Vec::new();
        let mut used = 0;
        while self.pending.len() - used >= frame {
            let voiced = rms_dbfs(&self.pending[used..used + frame]) > self.threshold_dbfs;
            used += frame;
            let frame_start = self.position_ms;
            self.position_ms += 20.0;
            if self.in_speech {
                self.silence_ms = if voiced { 0.0 } else { self.silence_ms + 20.0 };
                if self.silence_ms >= f64::from(silence_ms.max(20)) {
                    self.reset();
                    events.push(VadEvent::Stopped {
                        audio_end_ms: self.position_ms.round() as u64,
                    });
                }
            } else if voiced {
                if self.voiced_run_ms == 0.0 {
                    self.run_start_ms = frame_start;
                }
                self.voiced_run_ms += 20.0;
                if self.voiced_run_ms >= f64::from(self.start_ms.max(20)) {
                    self.in_speech = true;
                    self.silence_ms = 0.0;
                    let start = (self.run_start_ms - f64::from(prefix_ms)).max(0.0);
                    events.push(VadEvent::Started {
                        audio_start_ms: start.round() as u64,
                    });
                }
            } else {
                self.voiced_run_ms = 0.0;
            }
        }
        self.pending.drain(..used);
        events
    }
}
