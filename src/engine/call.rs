//! One call as the engine tracks it: SIP dialog key, state, timing, negotiated media.

use super::{CallId, CallState, EndReason, Event};
use crate::media::sdp::{LocalMedia, Negotiated, SessionDescription};
use crate::media::session::MediaHandle;
use crate::sip::ua::DialogKey;
use std::time::Instant;

pub(super) struct Call {
    pub id: CallId,
    pub key: DialogKey,
    /// Caller as shown to the user (display name and URI).
    pub remote: String,
    /// The caller's URI alone (names recordings).
    pub remote_uri: String,
    pub state: CallState,
    /// The caller's SDP offer; `None` for a late-offer INVITE.
    pub offer: Option<SessionDescription>,
    pub local: Option<LocalMedia>,
    pub answered: Option<Instant>,
    pub media: Option<MediaHandle>,
    /// RTP and RTCP sockets bound at answer, until media starts (at once, or at the ACK for a
    /// late offer).
    pub sockets: Option<(tokio::net::UdpSocket, tokio::net::UdpSocket)>,
    /// Negotiated codec, once media runs.
    pub codec: Option<crate::vocab::codec::Codec>,
    /// The voice bridge, while on.
    pub bridge: Option<crate::bridge::BridgeHandle>,
    /// While bridged, `m` mutes what the person at the keyboard hears (the listen-in).
    pub listen_muted: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// With `--record`: the transcript file beside the WAV.
    pub transcript: Option<std::path::PathBuf>,
    /// Final transcript lines waiting for an earlier caller turn's words.
    pub transcript_order: super::transcript::TranscriptOrder,
    /// Set when we started ending the call, so the dialog's end is reported in our terms.
    pub ending: Option<EndReason>,
}

impl Call {
    pub fn new(
        id: CallId,
        key: DialogKey,
        remote: String,
        remote_uri: String,
        offer: Option<SessionDescription>,
    ) -> Call {
        Call {
            id,
            key,
            remote,
            remote_uri,
            state: CallState::Ringing,
            offer,
            local: None,
            answered: None,
            media: None,
            sockets: None,
            codec: None,
            bridge: None,
            listen_muted: Default::default(),
            transcript: None,
            transcript_order: Default::default(),
            ending: None,
        }
    }

    pub fn media_started_event(&self, n: &Negotiated) -> Event {
        Event::MediaStarted {
            call: self.id,
            codec: n.codec,
            local_rtp: self
                .media
                .as_ref()
                .map(|m| m.local_addr().to_string())
                .unwrap_or_default(),
            remote_rtp: n.remote.to_string(),
        }
    }
}
