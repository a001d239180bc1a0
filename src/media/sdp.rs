//! SDP for audio calls: the parsed form (RFC 4566) and offer/answer (RFC 3264).
//!
//! Only what a softphone needs is modelled: origin, connection addresses, media lines with
//! their rtpmap/fmtp/ptime/direction attributes. Everything else is skipped, so SDP from
//! WebRTC gateways or video phones still parses and gets an answer for its audio.
//!
//! Liberal where we can be (issue 10, item 11): an attribute we cannot read spoils only what
//! depends on it (an unreadable `a=rtpmap` disables its payload type, an unreadable `a=ptime`
//! is ignored, a `c=` host name matters only if the stream we choose needs it), each noted
//! with `tracing::debug` so `-v` shows why. Strict where the SDP would be meaningless or a
//! guess could misroute audio: `v=`, `o=` and `m=` lines must be well formed, and the audio
//! stream we answer needs a codec in common and an IP address.

use std::net::IpAddr;

use crate::vocab::Codec;

mod negotiate;
mod parse;
#[cfg(test)]
mod srtp_tests;
#[cfg(test)]
mod tests;

pub use negotiate::{
    answer, answer_preferring, negotiate_answer, offer, offer_with, LocalMedia, Negotiated,
};
pub use parse::parse;

/// A parsed session description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin: Origin,
    /// Session-level `c=`; a media-level one overrides it.
    pub connection: Option<Connection>,
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
    pub connection: Option<Connection>,
    pub rtpmaps: Vec<RtpMap>,
    /// Payload types whose `a=rtpmap` could not be read (`a=rtpmap:31 LPC`, `PCMU/0`): never
    /// chosen, not even by their static meaning, since the peer meant something we cannot tell.
    pub unreadable_rtpmaps: Vec<u8>,
    /// `a=fmtp:<format> <parameters>`, kept verbatim.
    pub fmtps: Vec<(String, String)>,
    pub ptime_ms: Option<u32>,
    pub direction: Option<MediaDirection>,
    /// `a=crypto` values as written (SDES, RFC 4568); read when the stream is negotiated, so
    /// one bad line spoils only itself (see `media::srtp::parse_crypto`).
    pub crypto: Vec<String>,
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

/// A `c=` address (RFC 4566 §5.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    Ip(IpAddr),
    /// Anything but an IP literal, as written: a host name (RFC 4566 allows an FQDN) or a line
    /// we could not read. Refused only when the stream we answer depends on it: resolving a
    /// name is I/O that does not belong in offer/answer (see `SdpError::UnusableConnection`).
    Other(String),
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
    #[error(
        "the audio stream \"{media}\" has c= address \"{address}\", which is not an IP address \
         (sipterm does not resolve host names in SDP)"
    )]
    UnusableConnection { media: String, address: String },
    #[error(
        "the audio stream \"{media}\" is not encrypted (no RTP/SAVP, no usable a=crypto) \
         and --srtp is mandatory"
    )]
    SrtpRequired { media: String },
    #[error("the audio stream \"{media}\" asks for SRTP (RTP/SAVP) and --srtp is off")]
    SrtpRefused { media: String },
    #[error("the audio stream \"{media}\" has no usable a=crypto line ({reasons})")]
    NoUsableCrypto { media: String, reasons: String },
}

impl SdpError {
    /// The offer was readable but we cannot take part in its audio: the engine answers 488.
    pub fn is_no_common_codec(&self) -> bool {
        matches!(self, SdpError::NoCommonCodec { .. })
    }

    /// Any reason to answer 488 Not Acceptable Here rather than 400 Bad Request: no codec in
    /// common, no audio stream at all (e.g. a video-only or fax-only offer), or an audio
    /// address we cannot use (a host name): the SDP is valid, we just cannot take part.
    pub fn is_not_acceptable(&self) -> bool {
        matches!(
            self,
            SdpError::NoCommonCodec { .. }
                | SdpError::NoAudio { .. }
                | SdpError::UnusableConnection { .. }
                | SdpError::SrtpRequired { .. }
                | SdpError::SrtpRefused { .. }
                | SdpError::NoUsableCrypto { .. }
        )
    }

    /// The offer was refused over SRTP (the Warning and the log say which way).
    pub fn is_srtp(&self) -> bool {
        matches!(
            self,
            SdpError::SrtpRequired { .. }
                | SdpError::SrtpRefused { .. }
                | SdpError::NoUsableCrypto { .. }
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
