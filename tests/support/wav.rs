//! Reading 16-bit PCM WAV files (baresip's sndfile dumps, sipterm's `--record`), tolerant of
//! a header whose sizes were never filled in (a writer killed before it closed the file).

use std::path::Path;

/// Interleaved 16-bit samples with their format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wav {
    pub rate: u32,
    pub channels: u16,
    /// Interleaved frames: `samples.len() == frames() * channels`.
    pub samples: Vec<i16>,
}

impl Wav {
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }

    pub fn duration_secs(&self) -> f64 {
        self.frames() as f64 / f64::from(self.rate.max(1))
    }

    /// The samples of one channel (0 = left).
    pub fn channel(&self, index: u16) -> Vec<i16> {
        assert!(index < self.channels, "no channel {index} in {self:?}");
        self.samples
            .iter()
            .skip(usize::from(index))
            .step_by(usize::from(self.channels))
            .copied()
            .collect()
    }

    /// The channels averaged into one.
    pub fn mono(&self) -> Vec<i16> {
        let n = usize::from(self.channels.max(1));
        self.samples
            .chunks_exact(n)
            .map(|frame| (frame.iter().map(|&s| i32::from(s)).sum::<i32>() / n as i32) as i16)
            .collect()
    }
}

/// Reads a RIFF/WAVE file of 16-bit PCM (format 1, or WAVE_FORMAT_EXTENSIBLE holding PCM).
pub fn read_wav(path: &Path) -> Result<Wav, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_wav(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses WAV bytes; see [`read_wav`]. A `data` chunk whose size is 0, 0xffffffff or beyond
/// the end of the bytes runs to the end of the bytes.
pub fn parse_wav(bytes: &[u8]) -> Result<Wav, String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file".into());
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let mut format: Option<(u16, u16, u32, u16)> = None;
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(at + 4) as usize;
        let body = at + 8;
        if id == b"fmt " {
            if body + 16 > bytes.len() {
                return Err("fmt chunk cut short".into());
            }
            let mut tag = u16_at(body);
            if tag == 0xfffe && size >= 40 && body + 26 <= bytes.len() {
                tag = u16_at(body + 24); // first two bytes of the sub-format GUID
            }
            format = Some((tag, u16_at(body + 2), u32_at(body + 4), u16_at(body + 14)));
        } else if id == b"data" {
            let (tag, channels, rate, bits) = format.ok_or("data chunk before fmt chunk")?;
            if tag != 1 || bits != 16 || channels == 0 {
                return Err(format!(
                    "only 16-bit PCM is supported (format tag {tag}, {bits} bits, {channels} channels)"
                ));
            }
            let available = bytes.len() - body;
            let len = if size == 0 || size == u32::MAX as usize || size > available {
                available
            } else {
                size
            };
            let frame = 2 * usize::from(channels);
            let len = len - len % frame;
            let samples = bytes[body..body + len]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            return Ok(Wav {
                rate,
                channels,
                samples,
            });
        }
        at = body + size + (size & 1);
    }
    Err("no data chunk".into())
}

/// Writes 16-bit PCM WAV (for tests that need an input file built from samples).
pub fn write_wav(path: &Path, wav: &Wav) -> std::io::Result<()> {
    let data_len = (wav.samples.len() * 2) as u32;
    let block = 2 * wav.channels;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend(b"RIFF");
    out.extend((36 + data_len).to_le_bytes());
    out.extend(b"WAVEfmt ");
    out.extend(16u32.to_le_bytes());
    out.extend(1u16.to_le_bytes());
    out.extend(wav.channels.to_le_bytes());
    out.extend(wav.rate.to_le_bytes());
    out.extend((wav.rate * u32::from(block)).to_le_bytes());
    out.extend(block.to_le_bytes());
    out.extend(16u16.to_le_bytes());
    out.extend(b"data");
    out.extend(data_len.to_le_bytes());
    for s in &wav.samples {
        out.extend(s.to_le_bytes());
    }
    std::fs::write(path, out)
}
