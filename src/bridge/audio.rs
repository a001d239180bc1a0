//! The audio pump's pure parts: the Realtime side's wire format, the queue that re-frames the
//! model's audio into 20 ms frames and knows how much of each item was really played, the
//! barge-in truncation rule, and conversion between the wire and the call's PCM frames.
//!
//! No I/O and no clocks here, so the rules the notes warn about (truncate at what was
//! *played*, never past what was *received*; drop late deltas of a cancelled reply) are tested
//! on their own.

use crate::media::audio::FRAME_MS;
use crate::media::g711;
use crate::media::resample::{ResampleError, Resampler};
use crate::vocab::codec::Codec;

use super::protocol::AudioFormat;

mod queue;
#[cfg(test)]
mod tests;

pub use queue::{Cleared, Frame, OutputQueue};

/// The Realtime API accepts PCM only at this rate.
pub const PCM_RATE: u32 = 24_000;

/// Audio as it travels on the WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireFormat {
    /// G.711 µ-law, 8 kHz: the call's own payload, no transcoding.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
    /// 16-bit little-endian mono PCM at 24 kHz, for calls whose codec the API cannot take (Opus).
    Pcm24,
}

impl WireFormat {
    /// PCMU/PCMA calls ask for their own codec both ways (lowest latency, no resampler);
    /// Opus calls use PCM16 at 24 kHz.
    pub fn for_codec(codec: Codec) -> WireFormat {
        match codec {
            Codec::Pcmu => WireFormat::Pcmu,
            Codec::Pcma => WireFormat::Pcma,
            Codec::Opus => WireFormat::Pcm24,
        }
    }

    pub fn format(self) -> AudioFormat {
        match self {
            WireFormat::Pcmu => AudioFormat::Pcmu,
            WireFormat::Pcma => AudioFormat::Pcma,
            WireFormat::Pcm24 => AudioFormat::Pcm { rate: PCM_RATE },
        }
    }

    pub fn bytes_per_ms(self) -> usize {
        match self {
            WireFormat::Pcmu | WireFormat::Pcma => 8,
            WireFormat::Pcm24 => 2 * PCM_RATE as usize / 1000,
        }
    }

    /// One 20 ms frame: 160 bytes of G.711, 960 bytes (480 samples) of PCM16 at 24 kHz.
    pub fn frame_bytes(self) -> usize {
        self.bytes_per_ms() * FRAME_MS as usize
    }

    /// The byte that decodes to a zero sample: 0x00 is a loud sample in both G.711 laws.
    pub fn silence_byte(self) -> u8 {
        match self {
            WireFormat::Pcmu => g711::ULAW_SILENCE,
            WireFormat::Pcma => g711::ALAW_SILENCE,
            WireFormat::Pcm24 => 0,
        }
    }

    /// Whole milliseconds that `bytes` of audio last.
    pub fn ms(self, bytes: usize) -> u32 {
        u32::try_from(bytes / self.bytes_per_ms()).unwrap_or(u32::MAX)
    }
}

/// Where to cut an interrupted assistant item: the milliseconds the caller heard, clamped to
/// the audio received for it (the server rejects an `audio_end_ms` beyond the item's length,
/// and measures that length slightly shorter than the bytes it sent). `None` when nothing was
/// played: the server refuses to truncate an item no audio of which was heard.
pub fn truncation(played_ms: u32, received_ms: u32) -> Option<u32> {
    (played_ms > 0 && received_ms > 0).then(|| played_ms.min(received_ms))
}

/// Converts between the call's 20 ms PCM frames (at the codec's clock rate, as the media task
/// hands them to an `AudioPort`) and wire audio.
///
/// For G.711 the media task has already decoded the payload; encoding it again gives back the
/// caller's exact bytes (decoding yields the middle of each step, which encodes to the same
/// code), so the model hears the call's payload untouched. Opus calls run at 48 kHz, the API's
/// PCM at 24 kHz: one resampler each way.
pub struct Converter {
    wire: WireFormat,
    codec: Codec,
    to_wire: Option<Resampler>,
    from_wire: Option<Resampler>,
    scratch: Vec<i16>,
}

impl std::fmt::Debug for Converter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Converter")
            .field("codec", &self.codec)
            .field("wire", &self.wire)
            .finish()
    }
}

impl Converter {
    pub fn new(codec: Codec) -> Result<Converter, ResampleError> {
        let wire = WireFormat::for_codec(codec);
        let (to_wire, from_wire) = match wire {
            WireFormat::Pcm24 => (
                Some(Resampler::new(codec.clock_rate(), PCM_RATE)?),
                Some(Resampler::new(PCM_RATE, codec.clock_rate())?),
            ),
            WireFormat::Pcmu | WireFormat::Pcma => (None, None),
        };
        Ok(Converter {
            wire,
            codec,
            to_wire,
            from_wire,
            scratch: Vec::with_capacity(2 * codec.samples_per_frame()),
        })
    }

    pub fn wire(&self) -> WireFormat {
        self.wire
    }

    /// Appends the wire bytes for call PCM `pcm` to `out`. The resampler works in 20 ms blocks,
    /// so a 20 ms frame in gives one 20 ms wire frame out.
    pub fn to_wire(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        match (&mut self.to_wire, self.codec) {
            (Some(resampler), _) => {
                self.scratch.clear();
                resampler.process_i16(pcm, &mut self.scratch);
                out.extend(self.scratch.iter().flat_map(|s| s.to_le_bytes()));
            }
            (None, codec) => {
                // Only G.711 reaches here (see `new`), so this cannot fail.
                let _ = g711::encode(codec, pcm, out);
            }
        }
    }

    /// Appends the call PCM for wire bytes `wire` to `out` (an odd trailing PCM byte is ignored).
    pub fn from_wire(&mut self, wire: &[u8], out: &mut Vec<i16>) {
        match (&mut self.from_wire, self.codec) {
            (Some(resampler), _) => {
                self.scratch.clear();
                self.scratch.extend(
                    wire.chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]])),
                );
                resampler.process_i16(&self.scratch, out);
            }
            (None, codec) => {
                let _ = g711::decode(codec, wire, out);
            }
        }
    }
}
