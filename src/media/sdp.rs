//! SDP for audio calls: the parsed form (RFC 4566) and offer/answer (RFC 3264).
//!
//! Only what a softphone needs is modelled: origin, connection addresses, media lines with
//! their rtpmap/fmtp/ptime/direction attributes. Everything else is skipped, so SDP from
//! WebRTC gateways or video phones still parses and gets an answer for its audio.

use std::net::IpAddr;

use crate::vocab::Codec;

mod negotiate;
mod parse;
#[cfg(test)]
mod tests;

pub use negotiate::{answer, negotiate_answer, offer, LocalMedia, Negotiated};
pub use parse::parse;

/// A parsed session description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin: Origin,
    /// Session-level `c=`; a media-level one overrides it.
    pub connection: Option<IpAddr>,
    /// Session-level direction attribute, the default for media lines without their own.
    pub direction: Option<MediaDirection>,
    pub media: Vec<MediaSection>,
}

/// The `o=` line. Kept as text: only its shape is checked, we never interpret another
/// party's session id (some exceed 64 bits) or its address (may be a host name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: String,
    pub session_version: String,
    pub address: String,
}

/// One `m=` line and the attributes that follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaSection {
    /// `audio`, `video`, `image`, ...
    pub kind: String,
    pub port: u16,
    /// `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, `udptl`, ...
    pub proto: String,
    /// Format tokens as written: payload type numbers for RTP, anything for other protocols.
    pub formats: Vec<String>,
    pub connection: Option<IpAddr>,
    pub rtpmaps: Vec<RtpMap>,
    /// `a=fmtp:<format> <parameters>`, kept verbatim.
    pub fmtps: Vec<(String, String)>,
    pub ptime_ms: Option<u32>,
    pub direction: Option<MediaDirection>,
}

impl MediaSection {
    pub fn is_audio(&self) -> bool {
        self.kind.eq_ignore_ascii_case("audio")
    }

    /// The `a=rtpmap` for a payload type, if the description gave one.
    pub fn rtpmap(&self, payload_type: u8) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|m| m.payload_type == payload_type)
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u8>,
}

/// A stream's direction from one side's point of view (RFC 3264 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaDirection {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl MediaDirection {
    /// The attribute name as written in SDP (`a=sendrecv`, ...).
    pub fn attribute(self) -> &'static str {
        match self {
            MediaDirection::SendRecv => "sendrecv",
            MediaDirection::SendOnly => "sendonly",
            MediaDirection::RecvOnly => "recvonly",
            MediaDirection::Inactive => "inactive",
        }
    }

    pub fn from_attribute(name: &str) -> Option<Self> {
        [
            MediaDirection::SendRecv,
            MediaDirection::SendOnly,
            MediaDirection::RecvOnly,
            MediaDirection::Inactive,
        ]
        .into_iter()
        .find(|d| d.attribute().eq_ignore_ascii_case(name))
    }

    /// The other side's view of the same stream: what they send, we receive.
    pub fn reversed(self) -> Self {
        match self {
            MediaDirection::SendOnly => MediaDirection::RecvOnly,
            MediaDirection::RecvOnly => MediaDirection::SendOnly,
            other => other,
        }
    }

    pub fn sends(self) -> bool {
        matches!(self, MediaDirection::SendRecv | MediaDirection::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, MediaDirection::SendRecv | MediaDirection::RecvOnly)
    }

    /// This direction without sending (used when the peer gave no address to send to).
    pub fn without_sending(self) -> Self {
        match self {
            MediaDirection::SendRecv | MediaDirection::RecvOnly => MediaDirection::RecvOnly,
            MediaDirection::SendOnly | MediaDirection::Inactive => MediaDirection::Inactive,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("the SDP body is empty")]
    Empty,
    #[error("SDP line {number} \"{line}\": {reason}")]
    BadLine {
        number: usize,
        line: String,
        reason: &'static str,
    },
    #[error("the SDP has no {0}= line")]
    MissingLine(char),
    #[error("the SDP has no usable audio stream (media: {offered})")]
    NoAudio { offered: String },
    #[error("no codec in common: they offered \"{offered}\", we accept {ours}")]
    NoCommonCodec { offered: String, ours: String },
    #[error("the audio stream \"{media}\" has no c= address at session or media level")]
    MissingConnection { media: String },
}

impl SdpError {
    /// The offer was readable but we cannot take part in its audio: the engine answers 488.
    pub fn is_no_common_codec(&self) -> bool {
        matches!(self, SdpError::NoCommonCodec { .. })
    }

    /// Any reason to answer 488 Not Acceptable Here rather than 400 Bad Request: no codec in
    /// common, or no audio stream at all (e.g. a video-only or fax-only offer).
    pub fn is_not_acceptable(&self) -> bool {
        matches!(
            self,
            SdpError::NoCommonCodec { .. } | SdpError::NoAudio { .. }
        )
    }
}

/// `PCMU, PCMA` — for error messages.
fn codec_names(prefs: &[Codec]) -> String {
    if prefs.is_empty() {
        return "no codecs".to_string();
    }
    prefs
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}
