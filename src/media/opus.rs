//! Opus (RFC 6716, RTP payload RFC 7587): 20 ms frames of 48 kHz mono PCM to packets and back,
//! with loss concealment from in-band FEC or libopus packet-loss concealment.
//!
//! SDP always says `opus/48000/2` (RFC 7587 §7 requires the `/2`), but that only tells the
//! receiver it must be able to decode stereo; a mono encoder is allowed, and every Opus decoder
//! handles mono and stereo packets alike. We send mono and decode to mono, so a stereo packet
//! from the peer is downmixed by libopus.

use audiopus::coder::{Decoder, Encoder};
use audiopus::packet::Packet;
use audiopus::{Application, Bitrate, Channels, MutSignals, SampleRate, Signal};

/// Samples in one 20 ms frame at 48 kHz, the size the media path always uses.
pub const FRAME_SAMPLES: usize = 960;
/// Speech at 32 kb/s is transparent for a call and leaves room for the FEC copy.
const BITRATE_BPS: i32 = 32_000;
/// Telling the encoder to expect 10 % loss makes it spend bits on in-band FEC (LBRR) at all;
/// with 0 % it would carry none however FEC is configured.
const EXPECTED_LOSS_PERCENT: u8 = 10;
/// RFC 6716 §3.4: one frame is at most 1275 bytes, and a 20 ms packet holds one frame.
const MAX_PACKET_BYTES: usize = 1275;
/// The longest a packet may decode to (120 ms), in case the peer packs several frames.
const MAX_DECODED_SAMPLES: usize = 5760;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpusError {
    #[error("cannot set up the Opus {what}: {source}")]
    Setup {
        what: &'static str,
        source: audiopus::Error,
    },
    #[error("Opus frames are 2.5, 5, 10, 20, 40 or 60 ms; got {samples} samples at 48 kHz")]
    FrameSize { samples: usize },
    #[error("cannot encode {samples} samples as Opus: {source}")]
    Encode {
        samples: usize,
        source: audiopus::Error,
    },
    #[error("cannot decode a {len}-byte Opus packet (TOC byte {toc:#04x}): {source}")]
    Decode {
        len: usize,
        toc: u8,
        source: audiopus::Error,
    },
    #[error("cannot conceal a lost Opus frame: {source}")]
    Conceal { source: audiopus::Error },
}

fn setup(what: &'static str) -> impl Fn(audiopus::Error) -> OpusError {
    move |source| OpusError::Setup { what, source }
}

/// 48 kHz mono Opus encoder tuned for calls.
pub struct OpusEncoder {
    encoder: Encoder,
    packet: [u8; MAX_PACKET_BYTES],
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder").finish_non_exhaustive()
    }
}

impl OpusEncoder {
    pub fn new() -> Result<Self, OpusError> {
        let mut encoder = Encoder::new(SampleRate::Hz48000, Channels::Mono, Application::Voip)
            .map_err(setup("encoder"))?;
        encoder
            .set_bitrate(Bitrate::BitsPerSecond(BITRATE_BPS))
            .map_err(setup("encoder bitrate"))?;
        // FEC lives in the SILK layer; the voice hint keeps the encoder there for speech.
        encoder
            .set_signal(Signal::Voice)
            .map_err(setup("encoder signal type"))?;
        encoder
            .set_inband_fec(true)
            .map_err(setup("encoder in-band FEC"))?;
        encoder
            .set_packet_loss_perc(EXPECTED_LOSS_PERCENT)
            .map_err(setup("encoder expected loss"))?;
        Ok(Self {
            encoder,
            packet: [0; MAX_PACKET_BYTES],
        })
    }

    /// Appends one packet encoding `pcm` (normally [`FRAME_SAMPLES`]) to `out`.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), OpusError> {
        // libopus would reject other sizes too, but with a bare "bad argument".
        if ![120, 240, 480, 960, 1920, 2880].contains(&pcm.len()) {
            return Err(OpusError::FrameSize { samples: pcm.len() });
        }
        let len = self
            .encoder
            .encode(pcm, &mut self.packet)
            .map_err(|source| OpusError::Encode {
                samples: pcm.len(),
                source,
            })?;
        out.extend_from_slice(&self.packet[..len]);
        Ok(())
    }
}

/// 48 kHz mono Opus decoder with loss concealment.
pub struct OpusDecoder {
    decoder: Decoder,
    /// Decoded audio lands here first so `out` only grows by what was really decoded.
    scratch: Vec<i16>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder").finish_non_exhaustive()
    }
}

impl OpusDecoder {
    pub fn new() -> Result<Self, OpusError> {
        let decoder =
            Decoder::new(SampleRate::Hz48000, Channels::Mono).map_err(setup("decoder"))?;
        Ok(Self {
            decoder,
            scratch: vec![0; MAX_DECODED_SAMPLES],
        })
    }

    /// Appends the audio in `packet` to `out`: 960 samples for a 20 ms packet, more if the
    /// peer packs 40 or 60 ms. A malformed or empty packet is an error, and `out` is untouched.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<i16>) -> Result<(), OpusError> {
        let fail = |source| OpusError::Decode {
            len: packet.len(),
            toc: packet.first().copied().unwrap_or(0),
            source,
        };
        let input = Packet::try_from(packet).map_err(fail)?;
        let output = MutSignals::try_from(&mut self.scratch[..]).map_err(fail)?;
        let samples = self
            .decoder
            .decode(Some(input), output, false)
            .map_err(fail)?;
        out.extend_from_slice(&self.scratch[..samples]);
        Ok(())
    }

    /// Appends one 20 ms frame standing in for a lost packet. When the packet after the gap has
    /// arrived, its in-band FEC copy of the lost frame is decoded (the jitter buffer should pass
    /// it); without it, or if it carries no usable FEC, libopus extrapolates from the past (PLC).
    /// Either way the next packet must still be decoded normally afterwards.
    pub fn conceal(&mut self, next: Option<&[u8]>, out: &mut Vec<i16>) -> Result<(), OpusError> {
        let frame = &mut self.scratch[..FRAME_SAMPLES];
        let from_fec = next
            .and_then(|packet| Packet::try_from(packet).ok())
            .and_then(|packet| {
                let output = MutSignals::try_from(&mut frame[..]).ok()?;
                // A garbled next packet is not this frame's problem: fall back to PLC, and the
                // error surfaces when that packet is decoded in its own turn.
                self.decoder.decode(Some(packet), output, true).ok()
            });
        let samples = match from_fec {
            Some(samples) => samples,
            None => {
                let output = MutSignals::try_from(&mut frame[..])
                    .map_err(|source| OpusError::Conceal { source })?;
                self.decoder
                    .decode(None, output, false)
                    .map_err(|source| OpusError::Conceal { source })?
            }
        };
        out.extend_from_slice(&self.scratch[..samples]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::resample::test_signal::{dominant_hz, power_at, rms, sine_i16};

    fn to_f32(pcm: &[i16]) -> Vec<f32> {
        pcm.iter().map(|&s| f32::from(s) / 32768.0).collect()
    }

    /// A voiced-speech stand-in: 150 Hz buzz with harmonics, slowly swelling, so the encoder
    /// treats it as speech (SILK, where the FEC lives).
    fn buzz(frames: usize) -> Vec<i16> {
        (0..frames * FRAME_SAMPLES)
            .map(|n| {
                let t = n as f64 / 48000.0;
                let envelope = 0.6 + 0.4 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
                let voice: f64 = (1..=8)
                    .map(|h| (2.0 * std::f64::consts::PI * 150.0 * h as f64 * t).sin() / h as f64)
                    .sum();
                (6000.0 * envelope * voice) as i16
            })
            .collect()
    }

    fn encode_all(pcm: &[i16]) -> Vec<Vec<u8>> {
        let mut encoder = OpusEncoder::new().unwrap();
        pcm.chunks(FRAME_SAMPLES)
            .map(|frame| {
                let mut packet = Vec::new();
                encoder.encode(frame, &mut packet).unwrap();
                packet
            })
            .collect()
    }

    #[test]
    fn a_1khz_tone_survives_the_round_trip() {
        let input = sine_i16(1000.0, 48000, 50 * FRAME_SAMPLES, 10000.0);
        let mut decoder = OpusDecoder::new().unwrap();
        let mut output = Vec::new();
        for packet in encode_all(&input) {
            assert!(packet.len() < 200, "{} bytes at 32 kb/s", packet.len());
            decoder.decode(&packet, &mut output).unwrap();
        }
        assert_eq!(output.len(), input.len());
        // Skip the codec delay (6.5 ms) and the encoder's first few frames settling.
        let steady = to_f32(&output[5 * FRAME_SAMPLES..]);
        let hz = dominant_hz(&steady, 48000);
        assert!((hz - 1000.0).abs() < 2.0, "{hz} Hz");
        let expected_rms = 10000.0 / 32768.0 / 2f64.sqrt();
        assert!(
            (rms(&steady) / expected_rms - 1.0).abs() < 0.2,
            "rms {}",
            rms(&steady)
        );
        assert!(power_at(&steady, 48000, 1000.0) > 100.0 * power_at(&steady, 48000, 3000.0));
    }

    fn correlation(a: &[i16], b: &[i16]) -> f64 {
        let dot: f64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum();
        let norm = |s: &[i16]| s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        dot / (norm(a) * norm(b))
    }

    /// Decodes packets 0..20, loses packet 20, and conceals it with or without packet 21.
    fn conceal_frame_20(packets: &[Vec<u8>], next: Option<&[u8]>) -> Vec<i16> {
        let mut decoder = OpusDecoder::new().unwrap();
        let mut output = Vec::new();
        for packet in &packets[..20] {
            decoder.decode(packet, &mut output).unwrap();
        }
        let mut concealed = Vec::new();
        decoder.conceal(next, &mut concealed).unwrap();
        // The stream carries on normally after the gap.
        decoder.decode(&packets[21], &mut output).unwrap();
        concealed
    }

    #[test]
    fn fec_from_the_next_packet_rebuilds_a_lost_frame() {
        let packets = encode_all(&buzz(30));
        // What frame 20 sounds like when it is not lost.
        let mut decoder = OpusDecoder::new().unwrap();
        let mut clean = Vec::new();
        for packet in &packets[..21] {
            decoder.decode(packet, &mut clean).unwrap();
        }
        let clean = &clean[20 * FRAME_SAMPLES..];

        let from_fec = conceal_frame_20(&packets, Some(&packets[21]));
        assert_eq!(from_fec.len(), FRAME_SAMPLES);
        assert!(rms(&to_f32(&from_fec)) > rms(&to_f32(clean)) * 0.5);
        // The FEC copy is the real frame at a lower bit rate; PLC only guesses from the past.
        let plc = conceal_frame_20(&packets, None);
        let (fec_match, plc_match) = (correlation(&from_fec, clean), correlation(&plc, clean));
        assert!(fec_match > 0.98, "FEC correlation {fec_match}");
        assert!(fec_match > plc_match, "FEC {fec_match} vs PLC {plc_match}");
    }

    #[test]
    fn plc_fills_a_gap_without_the_next_packet() {
        let packets = encode_all(&buzz(10));
        let mut decoder = OpusDecoder::new().unwrap();
        let mut output = Vec::new();
        for packet in &packets[..8] {
            decoder.decode(packet, &mut output).unwrap();
        }
        let mut concealed = Vec::new();
        decoder.conceal(None, &mut concealed).unwrap();
        assert_eq!(concealed.len(), FRAME_SAMPLES);
        assert!(rms(&to_f32(&concealed)) > 0.01);
    }

    #[test]
    fn malformed_packets_are_errors_and_leave_out_untouched() {
        let mut decoder = OpusDecoder::new().unwrap();
        let mut out = vec![7];
        // Code 3 (arbitrary frame count) with a count of zero frames is invalid (RFC 6716 §3.2.5).
        let err = decoder.decode(&[0x03, 0x00], &mut out).unwrap_err();
        assert!(
            matches!(
                err,
                OpusError::Decode {
                    len: 2,
                    toc: 0x03,
                    ..
                }
            ),
            "{err}"
        );
        // Code 1 (two equal frames) needs an even number of bytes after the TOC.
        assert!(decoder.decode(&[0x01, 1, 2, 3], &mut out).is_err());
        assert!(decoder.decode(&[], &mut out).is_err());
        assert_eq!(out, [7]);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut decoder = OpusDecoder::new().unwrap();
        let mut out = Vec::new();
        let mut state = 0x2545_f491_u32;
        for len in 0..400 {
            let packet: Vec<u8> = (0..len % 97)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect();
            out.clear();
            if decoder.decode(&packet, &mut out).is_ok() {
                assert!(out.len() <= MAX_DECODED_SAMPLES);
            }
            let _ = decoder.conceal(Some(&packet), &mut out);
        }
    }

    #[test]
    fn wrong_frame_size_is_refused() {
        let mut encoder = OpusEncoder::new().unwrap();
        let mut out = Vec::new();
        let err = encoder.encode(&[0; 160], &mut out).unwrap_err();
        assert_eq!(err, OpusError::FrameSize { samples: 160 });
        assert!(out.is_empty());
    }
}
