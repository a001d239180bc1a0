//! One call's encoder and decoder, whatever the codec: G.711 is stateless table lookups (with
//! our own concealment), Opus carries libopus state (its own PLC and in-band FEC).

use super::g711;
use super::opus::{OpusDecoder, OpusEncoder, OpusError};
use super::plc::G711Concealer;
use crate::vocab::Codec;

#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error("cannot set up {codec}: {source}")]
    Setup { codec: Codec, source: OpusError },
}

pub enum Encoder {
    G711(Codec),
    Opus(Box<OpusEncoder>),
}

impl Encoder {
    pub fn new(codec: Codec) -> Result<Encoder, TranscodeError> {
        Ok(match codec {
            Codec::Pcmu | Codec::Pcma => Encoder::G711(codec),
            Codec::Opus => Encoder::Opus(Box::new(
                OpusEncoder::new().map_err(|source| TranscodeError::Setup { codec, source })?,
            )),
        })
    }

    /// Encodes one 20 ms frame into `out` (cleared first). False when the frame was unusable.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> bool {
        out.clear();
        match self {
            Encoder::G711(codec) => g711::encode(*codec, pcm, out).is_ok(),
            Encoder::Opus(enc) => enc.encode(pcm, out).is_ok(),
        }
    }
}

pub enum Decoder {
    G711(Codec, Box<G711Concealer>),
    Opus(Box<OpusDecoder>),
}

impl Decoder {
    pub fn new(codec: Codec) -> Result<Decoder, TranscodeError> {
        Ok(match codec {
            Codec::Pcmu | Codec::Pcma => Decoder::G711(codec, Box::default()),
            Codec::Opus => Decoder::Opus(Box::new(
                OpusDecoder::new().map_err(|source| TranscodeError::Setup { codec, source })?,
            )),
        })
    }

    /// Decodes one packet into `out` (cleared first). False for a payload the codec refuses.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> bool {
        out.clear();
        match self {
            Decoder::G711(codec, plc) => {
                let ok = g711::decode(*codec, payload, out).is_ok();
                if ok {
                    // Lets the concealer fade back in after a loss, and learn this frame.
                    plc.good(out);
                }
                ok
            }
            Decoder::Opus(dec) => dec.decode(payload, out).is_ok(),
        }
    }

    /// Forgets the previous stream (new SSRC).
    pub fn reset(&mut self) {
        match self {
            Decoder::G711(_, plc) => plc.reset(),
            // A fresh decoder state is the reset libopus offers.
            Decoder::Opus(dec) => {
                if let Ok(fresh) = OpusDecoder::new() {
                    **dec = fresh;
                }
            }
        }
    }

    /// Fills `out` with `frame_samples` of concealment for a lost packet; `next` is the
    /// packet after it when already received (Opus recovers the loss from its in-band FEC).
    pub fn conceal(&mut self, next: Option<&[u8]>, frame_samples: usize, out: &mut Vec<i16>) {
        out.clear();
        match self {
            Decoder::G711(_, plc) => {
                out.resize(frame_samples, 0);
                plc.conceal(out);
            }
            Decoder::Opus(dec) => {
                if dec.conceal(next, out).is_err() || out.is_empty() {
                    out.clear();
                    out.resize(frame_samples, 0);
                }
            }
        }
    }
}
