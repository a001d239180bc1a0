//! G.711 decoding, tone measurement and test audio made with sox.

use std::path::Path;
use std::process::Command;

use super::process::require_tool;

/// ITU-T G.711 µ-law byte to a 16-bit linear sample.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    let value = if u & 0x80 != 0 { -magnitude } else { magnitude };
    value as i16
}

/// ITU-T G.711 A-law byte to a 16-bit linear sample.
pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let exponent = (a >> 4) & 0x07;
    let mantissa = i32::from(a & 0x0f);
    let magnitude = match exponent {
        0 => (mantissa << 4) + 8,
        e => ((mantissa << 4) + 0x108) << (e - 1),
    };
    let value = if a & 0x80 != 0 { magnitude } else { -magnitude };
    value as i16
}

/// Linear sample to µ-law (G.711), for building test payloads.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !((sign | (exponent << 4) | mantissa) as u8)
}

pub fn decode_ulaw(payload: &[u8]) -> Vec<i16> {
    payload.iter().map(|&b| ulaw_to_linear(b)).collect()
}

pub fn decode_alaw(payload: &[u8]) -> Vec<i16> {
    payload.iter().map(|&b| alaw_to_linear(b)).collect()
}

/// Decodes a G.711 payload by RTP payload type: 0 PCMU, 8 PCMA; `None` for others.
pub fn decode_g711(payload_type: u8, payload: &[u8]) -> Option<Vec<i16>> {
    match payload_type {
        0 => Some(decode_ulaw(payload)),
        8 => Some(decode_alaw(payload)),
        _ => None,
    }
}

/// RMS level in dBFS (full scale = 32768); `-inf` for silence or no samples.
pub fn rms_dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (sum / samples.len() as f64).sqrt();
    if rms == 0.0 {
        f64::NEG_INFINITY
    } else {
        20.0 * (rms / 32768.0).log10()
    }
}

/// Power of `frequency` in `samples` (Goertzel), on a Hann-windowed buffer.
fn goertzel_power(windowed: &[f64], rate: u32, frequency: f64) -> f64 {
    let omega = 2.0 * std::f64::consts::PI * frequency / f64::from(rate);
    let coeff = 2.0 * omega.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in windowed {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// The strongest frequency between 50 and 3900 Hz (capped below Nyquist): a 5 Hz Goertzel
/// scan, then 0.5 Hz steps around the peak. Uses at most one second from the middle of
/// `samples` (the ends of a call hold ramps and silence). 0.0 for fewer than 400 samples.
pub fn dominant_frequency(samples: &[i16], rate: u32) -> f64 {
    if samples.len() < 400 || rate == 0 {
        return 0.0;
    }
    let len = samples.len().min(rate as usize);
    let start = (samples.len() - len) / 2;
    let window = &samples[start..start + len];
    let n = window.len() as f64;
    let windowed: Vec<f64> = window
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let hann = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1.0)).cos();
            f64::from(s) * hann
        })
        .collect();
    let top = 3900.0f64.min(f64::from(rate) / 2.0 - 10.0);
    let best = |from: f64, to: f64, step: f64| {
        let mut best = (from, f64::MIN);
        let mut f = from;
        while f <= to {
            let p = goertzel_power(&windowed, rate, f);
            if p > best.1 {
                best = (f, p);
            }
            f += step;
        }
        best.0
    };
    let coarse = best(50.0, top, 5.0);
    best((coarse - 5.0).max(50.0), (coarse + 5.0).min(top), 0.5)
}

/// The share of the signal's energy that is a tone at `hz` (0.0..=1.0): a Goertzel at `hz` on
/// each 100 ms block (a whole number of cycles for tones on a 10 Hz grid, so a clean sine
/// scores 1.0), summed over the blocks and divided by the total energy. Codec noise,
/// another tone or clicks lower it; silent blocks count for nothing either way.
pub fn tone_share(samples: &[i16], rate: u32, hz: f64) -> f64 {
    let block = (rate / 10) as usize;
    let (mut tone, mut total) = (0.0f64, 0.0f64);
    for chunk in samples.chunks_exact(block.max(1)) {
        let x: Vec<f64> = chunk.iter().map(|&s| f64::from(s)).collect();
        tone += 2.0 * goertzel_power(&x, rate, hz) / x.len() as f64;
        total += x.iter().map(|v| v * v).sum::<f64>();
    }
    if total == 0.0 {
        0.0
    } else {
        tone / total
    }
}

/// Writes `seconds` of a sine at `frequency` Hz as raw 8 kHz µ-law (what sipp's rtp_stream
/// plays), half of full scale, with sox.
pub fn write_tone_ulaw(path: &Path, frequency: f64, seconds: f64) {
    sox_synth(
        path,
        &["-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw"],
        frequency,
        seconds,
    );
}

/// Writes `seconds` of a sine at `frequency` Hz as raw 8 kHz A-law (for `rtp_stream` with
/// payload type 8), half of full scale, with sox.
pub fn write_tone_alaw(path: &Path, frequency: f64, seconds: f64) {
    sox_synth(
        path,
        &["-r", "8000", "-c", "1", "-e", "a-law", "-t", "raw"],
        frequency,
        seconds,
    );
}

/// Writes a 16-bit PCM WAV sine (mono at `rate` Hz) with sox, e.g. for `--play`.
pub fn write_tone_wav(path: &Path, frequency: f64, seconds: f64, rate: u32) {
    let rate = rate.to_string();
    sox_synth(
        path,
        &[
            "-r", &rate, "-c", "1", "-e", "signed", "-b", "16", "-t", "wav",
        ],
        frequency,
        seconds,
    );
}

fn sox_synth(path: &Path, format: &[&str], frequency: f64, seconds: f64) {
    require_tool("sox");
    let output = Command::new("sox")
        .arg("-n")
        .args(format)
        .arg(path)
        .args([
            "synth",
            &seconds.to_string(),
            "sine",
            &frequency.to_string(),
            "vol",
            "0.5",
        ])
        .output()
        .expect("run sox");
    assert!(
        output.status.success(),
        "sox could not write {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts that `samples` carry a tone at `hz` (± `tolerance_hz`) loud enough to be a tone
/// rather than noise or silence; the message says what was found instead.
#[track_caller]
pub fn assert_tone(samples: &[i16], rate: u32, hz: f64, tolerance_hz: f64, what: &str) {
    let found = dominant_frequency(samples, rate);
    let level = rms_dbfs(samples);
    assert!(
        (found - hz).abs() <= tolerance_hz,
        "{what}: dominant frequency {found:.1} Hz, expected {hz} Hz ({} samples at {rate} Hz, {level:.1} dBFS)",
        samples.len()
    );
    assert!(
        level > -35.0,
        "{what}: {level:.1} dBFS is too quiet for a tone"
    );
}
