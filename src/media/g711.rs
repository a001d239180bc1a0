//! G.711 µ-law (PCMU) and A-law (PCMA): 16-bit linear PCM to 8-bit codes and back.
//!
//! Written from the ITU-T G.711 segment tables: each code is sign, a 3-bit segment (exponent)
//! and a 4-bit step inside it; decoding returns the middle of the step, so the error is at most
//! half a step. Opus is not handled here (it is a separate library, a later milestone).

use crate::vocab::Codec;

/// µ-law code for digital silence (a zero sample).
pub const ULAW_SILENCE: u8 = 0xFF;
/// A-law code for digital silence (the smallest positive step).
pub const ALAW_SILENCE: u8 = 0xD5;

/// µ-law works on a biased magnitude so every segment boundary is a power of two.
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude that still fits segment 7 once the bias is added.
const ULAW_CLIP: i32 = 32635;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{codec} is not a G.711 codec")]
pub struct NotG711 {
    pub codec: Codec,
}

pub fn ulaw_encode(sample: i16) -> u8 {
    let negative = sample < 0;
    let magnitude = (i32::from(sample).abs().min(ULAW_CLIP) + ULAW_BIAS) as u32;
    // Biased magnitudes run from 2^7 to just under 2^15, so the top bit picks segment 0..=7.
    let top_bit = 31 - magnitude.leading_zeros();
    let segment = top_bit - 7;
    let step = (magnitude >> (segment + 3)) & 0x0F;
    let code = (u32::from(negative) << 7) | (segment << 4) | step;
    // G.711 transmits µ-law codes inverted (keeps long runs of zero bits off the old T1 lines).
    !(code as u8)
}

pub fn ulaw_decode(code: u8) -> i16 {
    let code = !code;
    let segment = u32::from((code >> 4) & 0x07);
    let step = i32::from(code & 0x0F);
    let magnitude = (((step << 3) + ULAW_BIAS) << segment) - ULAW_BIAS;
    let value = if code & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    };
    value as i16
}

pub fn alaw_encode(sample: i16) -> u8 {
    // A-law works on 13 bits; negative values use one's complement so -1..-8 share a code
    // with the smallest negative step instead of folding onto +0.
    let (sign, magnitude) = if sample < 0 {
        (0x00u8, (!sample as u16) >> 3)
    } else {
        (0x80u8, (sample as u16) >> 3)
    };
    let (segment, step) = if magnitude < 32 {
        (0u16, magnitude >> 1)
    } else {
        let top_bit = 15 - magnitude.leading_zeros() as u16;
        let segment = top_bit - 4;
        (segment, (magnitude >> segment) & 0x0F)
    };
    let code = sign | ((segment as u8) << 4) | step as u8;
    // G.711 inverts the even bits of A-law codes on the line.
    code ^ 0x55
}

pub fn alaw_decode(code: u8) -> i16 {
    let code = code ^ 0x55;
    let segment = u32::from((code >> 4) & 0x07);
    let step = i32::from(code & 0x0F) << 4;
    let magnitude = match segment {
        0 => step + 8,
        _ => (step + 0x108) << (segment - 1),
    };
    let value = if code & 0x80 != 0 {
        magnitude
    } else {
        -magnitude
    };
    value as i16
}

/// Appends the G.711 encoding of `pcm` to `out` (one byte per sample).
pub fn encode(codec: Codec, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), NotG711> {
    let f = match codec {
        Codec::Pcmu => ulaw_encode,
        Codec::Pcma => alaw_encode,
        Codec::Opus => return Err(NotG711 { codec }),
    };
    out.extend(pcm.iter().map(|&s| f(s)));
    Ok(())
}

/// Appends the linear PCM decoded from G.711 `payload` to `out` (one sample per byte).
pub fn decode(codec: Codec, payload: &[u8], out: &mut Vec<i16>) -> Result<(), NotG711> {
    let f = match codec {
        Codec::Pcmu => ulaw_decode,
        Codec::Pcma => alaw_decode,
        Codec::Opus => return Err(NotG711 { codec }),
    };
    out.extend(payload.iter().map(|&b| f(b)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_samples() -> impl Iterator<Item = i16> {
        i16::MIN..=i16::MAX
    }

    #[test]
    fn zero_encodes_to_the_itu_silence_codes() {
        assert_eq!(ulaw_encode(0), ULAW_SILENCE);
        assert_eq!(alaw_encode(0), ALAW_SILENCE);
        assert_eq!(ulaw_decode(ULAW_SILENCE), 0);
        assert_eq!(alaw_decode(ALAW_SILENCE), 8);
    }

    #[test]
    fn known_values_from_the_g711_tables() {
        // Full-scale positive and negative codes and their decoded peaks.
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        // µ-law's "negative zero" also decodes to 0.
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(alaw_decode(0x55), -8);
    }

    #[test]
    fn every_ulaw_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            let expected = if code == 0x7F { ULAW_SILENCE } else { code };
            assert_eq!(ulaw_encode(ulaw_decode(code)), expected, "code {code:#04x}");
        }
    }

    #[test]
    fn every_alaw_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(code)), code, "code {code:#04x}");
        }
    }

    #[test]
    fn ulaw_round_trip_error_is_within_half_a_step() {
        for s in all_samples() {
            let back = ulaw_decode(ulaw_encode(s));
            let magnitude = i32::from(s).abs();
            if magnitude > ULAW_CLIP {
                // Clipped: comes back as the largest code's value, same sign.
                assert_eq!(i32::from(back).abs(), 32124);
                assert_eq!(back.signum(), s.signum());
                continue;
            }
            let err = (i32::from(back) - i32::from(s)).abs();
            // Half a step in segment e is 2^(e+2), and the segment starts at 2^(e+7) - bias.
            let bound = (magnitude + ULAW_BIAS) / 32 + 1;
            assert!(
                err <= bound,
                "sample {s}: decoded {back}, error {err} > {bound}"
            );
        }
    }

    #[test]
    fn alaw_round_trip_error_is_within_half_a_step() {
        for s in all_samples() {
            let back = alaw_decode(alaw_encode(s));
            let err = (i32::from(back) - i32::from(s)).abs();
            let bound = (i32::from(s).abs() / 32).max(8) + 1;
            assert!(
                err <= bound,
                "sample {s}: decoded {back}, error {err} > {bound}"
            );
        }
    }

    #[test]
    fn encoding_preserves_sign_and_order() {
        let mut previous = ulaw_decode(ulaw_encode(i16::MIN));
        for s in all_samples().step_by(7) {
            let now = ulaw_decode(ulaw_encode(s));
            assert!(now >= previous, "µ-law not monotonic at {s}");
            previous = now;
        }
        let mut previous = alaw_decode(alaw_encode(i16::MIN));
        for s in all_samples().step_by(7) {
            let now = alaw_decode(alaw_encode(s));
            assert!(now >= previous, "A-law not monotonic at {s}");
            previous = now;
        }
    }

    #[test]
    fn slice_helpers_append_and_refuse_opus() {
        let pcm = [0i16, 1000, -1000, 0];
        let mut bytes = vec![0xAB];
        encode(Codec::Pcmu, &pcm, &mut bytes).unwrap();
        assert_eq!(bytes.len(), 5);
        assert_eq!(bytes[0], 0xAB);
        assert_eq!(bytes[1], ULAW_SILENCE);
        encode(Codec::Pcma, &pcm, &mut bytes).unwrap();
        assert_eq!(bytes[5], ALAW_SILENCE);

        let mut back = Vec::new();
        decode(Codec::Pcmu, &bytes[1..5], &mut back).unwrap();
        decode(Codec::Pcma, &bytes[5..], &mut back).unwrap();
        assert_eq!(back.len(), 8);
        assert!((back[1] - 1000).abs() < 40 && (back[6] + 1000).abs() < 40);

        assert_eq!(
            encode(Codec::Opus, &pcm, &mut bytes),
            Err(NotG711 { codec: Codec::Opus })
        );
        assert_eq!(
            decode(Codec::Opus, &[1, 2], &mut back),
            Err(NotG711 { codec: Codec::Opus })
        );
    }
}
