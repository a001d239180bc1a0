//! The audio codecs sipterm knows, their RTP/SDP facts, and the `--codecs` preference list.
//! Frame sizes follow `media::audio::FRAME_MS` (20 ms).

use std::fmt;
use std::str::FromStr;

/// An audio codec as SDP and RTP name it. Frames are always 20 ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
    Opus,
}

impl Codec {
    pub const ALL: [Codec; 3] = [Codec::Pcmu, Codec::Pcma, Codec::Opus];

    /// Encoding name as written in `a=rtpmap` (RFC 3551 §6; RFC 7587 for opus, lower case).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Opus => "opus",
        }
    }

    /// RFC 3551 static payload type; opus always uses a dynamic one (96-127).
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            Codec::Opus => None,
        }
    }

    /// RTP clock rate. Opus always advertises 48 kHz whatever it encodes internally (RFC 7587 §4.1).
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::Opus => 48000,
        }
    }

    /// Channel count in the rtpmap. RFC 7587 §7 requires `opus/48000/2` even for mono streams.
    pub fn channels(self) -> u8 {
        match self {
            Codec::Pcmu | Codec::Pcma => 1,
            Codec::Opus => 2,
        }
    }

    /// Samples (per channel, at the clock rate) in one 20 ms frame: the RTP timestamp step.
    pub fn samples_per_frame(self) -> usize {
        (self.clock_rate() / 50) as usize
    }
}

/// Serialised as its SDP name (`"PCMU"`, `"PCMA"`, `"opus"`), as the JSON events always had it.
impl serde::Serialize for Codec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown codec \"{name}\" (expected pcmu, pcma or opus)")]
pub struct UnknownCodec {
    pub name: String,
}

impl FromStr for Codec {
    type Err = UnknownCodec;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Codec::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownCodec {
                name: name.to_string(),
            })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecListError {
    #[error("the codec list is empty")]
    Empty,
    #[error("the codec list \"{list}\" has an empty entry")]
    EmptyEntry { list: String },
    #[error(transparent)]
    Unknown(#[from] UnknownCodec),
    #[error("codec {codec} is listed twice in \"{list}\"")]
    Duplicate { codec: Codec, list: String },
}

/// Parses a comma-separated preference list such as `pcmu,pcma,opus` (first = most preferred).
pub fn parse_codec_list(s: &str) -> Result<Vec<Codec>, CodecListError> {
    if s.trim().is_empty() {
        return Err(CodecListError::Empty);
    }
    let mut codecs = Vec::new();
    for entry in s.split(',') {
        if entry.trim().is_empty() {
            return Err(CodecListError::EmptyEntry {
                list: s.to_string(),
            });
        }
        let codec: Codec = entry.parse()?;
        if codecs.contains(&codec) {
            return Err(CodecListError::Duplicate {
                codec,
                list: s.to_string(),
            });
        }
        codecs.push(codec);
    }
    Ok(codecs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_facts_match_the_rfcs() {
        assert_eq!(Codec::Pcmu.name(), "PCMU");
        assert_eq!(Codec::Pcma.name(), "PCMA");
        assert_eq!(Codec::Opus.name(), "opus");
        assert_eq!(Codec::Pcmu.static_payload_type(), Some(0));
        assert_eq!(Codec::Pcma.static_payload_type(), Some(8));
        assert_eq!(Codec::Opus.static_payload_type(), None);
        assert_eq!(Codec::Pcmu.clock_rate(), 8000);
        assert_eq!(Codec::Opus.clock_rate(), 48000);
        assert_eq!(Codec::Pcma.channels(), 1);
        assert_eq!(Codec::Opus.channels(), 2);
        assert_eq!(Codec::Pcmu.samples_per_frame(), 160);
        assert_eq!(Codec::Pcma.samples_per_frame(), 160);
        assert_eq!(Codec::Opus.samples_per_frame(), 960);
    }

    #[test]
    fn parses_names_case_insensitively() {
        assert_eq!("pcmu".parse(), Ok(Codec::Pcmu));
        assert_eq!("PCMA".parse(), Ok(Codec::Pcma));
        assert_eq!("Opus".parse(), Ok(Codec::Opus));
        let err = "g729".parse::<Codec>().unwrap_err();
        assert_eq!(err.name, "g729");
        assert!(err.to_string().contains("g729"));
    }

    #[test]
    fn parses_a_preference_list_in_order() {
        assert_eq!(
            parse_codec_list("pcmu,pcma,opus"),
            Ok(vec![Codec::Pcmu, Codec::Pcma, Codec::Opus])
        );
        assert_eq!(
            parse_codec_list(" opus , PCMU "),
            Ok(vec![Codec::Opus, Codec::Pcmu])
        );
    }

    #[test]
    fn rejects_bad_lists_with_clear_errors() {
        assert_eq!(parse_codec_list(""), Err(CodecListError::Empty));
        assert_eq!(parse_codec_list("  "), Err(CodecListError::Empty));
        assert!(matches!(
            parse_codec_list("pcmu,,pcma"),
            Err(CodecListError::EmptyEntry { .. })
        ));
        assert_eq!(
            parse_codec_list("pcmu,g722"),
            Err(CodecListError::Unknown(UnknownCodec {
                name: "g722".into()
            }))
        );
        let dup = parse_codec_list("pcmu,pcma,PCMU").unwrap_err();
        assert_eq!(
            dup,
            CodecListError::Duplicate {
                codec: Codec::Pcmu,
                list: "pcmu,pcma,PCMU".into()
            }
        );
        assert_eq!(
            dup.to_string(),
            "codec PCMU is listed twice in \"pcmu,pcma,PCMU\""
        );
    }
}
