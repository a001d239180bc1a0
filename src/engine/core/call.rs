//! One call as the call table tracks it: its dialog, where it is in its life, what was
//! negotiated, and its two mute states. Handles (sockets, media task, bridge) live with the
//! executor; this is only what the logic decides on.

use super::super::transcript::TranscriptOrder;
use crate::media::sdp::{LocalMedia, Negotiated, SessionDescription};
use crate::sip::ua::DialogKey;
use crate::vocab::{CallId, CallState, Codec, Direction, EndReason};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

/// Where answering a call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answering {
    /// Not asked to answer.
    No,
    /// RTP sockets are being bound.
    Binding,
    /// The 200 OK is being sent.
    Accepting,
}

/// Where a call's voice bridge stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bridge {
    Off,
    /// Asked for; the executor has not said yet whether it started.
    Starting,
    On,
}

#[derive(Debug)]
pub struct Call {
    pub id: CallId,
    pub key: DialogKey,
    /// The caller's URI alone (names recordings).
    pub remote_uri: String,
    pub state: CallState,
    /// The caller's SDP offer; `None` for a late-offer INVITE.
    pub offer: Option<SessionDescription>,
    pub answering: Answering,
    /// Our side of the SDP, once answered.
    pub local: Option<LocalMedia>,
    pub answered_at: Option<Instant>,
    /// What the answer negotiated, until media starts with it.
    pub pending_media: Option<Negotiated>,
    /// We answered a late offer with ours; the ACK brings the caller's answer.
    pub awaiting_ack_answer: bool,
    /// Media runs (started by the executor).
    pub media: bool,
    pub codec: Option<Codec>,
    /// The SRTP suite in use; `None` is plain RTP.
    pub srtp: Option<crate::vocab::SrtpSuite>,
    /// Our RTP address and the remote's as negotiated, once media runs.
    pub local_rtp: Option<SocketAddr>,
    pub remote_rtp: Option<SocketAddr>,
    pub bridge: Bridge,
    /// The caller hears silence from our microphone.
    pub mic_muted: bool,
    /// While bridged, we do not hear the conversation; kept across bridges.
    pub listen_muted: bool,
    /// RTP packets received by the last quality report, and since when that has not grown.
    pub rtp_received: u64,
    pub rtp_idle_since: Option<Instant>,
    /// With `--record`: the transcript file beside the WAV.
    pub transcript: Option<PathBuf>,
    /// Final transcript lines waiting for an earlier caller turn's words.
    pub transcript_order: TranscriptOrder,
    /// Set when we started ending the call, so the dialog's end is reported in our terms.
    pub ending: Option<EndReason>,
    /// The dialog has ended and the executor is stopping the call's media and bridge.
    pub torn_down: bool,
    /// A call we placed: its target, timings and redirect.
    pub placed: Option<super::outgoing::Placed>,
    /// We put the other side on hold (our `a=sendonly` re-INVITE was answered).
    pub held_by_us: bool,
    /// The other side holds us (their `sendonly`/`inactive` offer).
    pub held_by_them: bool,
    /// Our hold (`true`) or resume re-INVITE is waiting for its answer.
    pub hold_pending: Option<bool>,
    /// A transfer of this call in progress (theirs or ours).
    pub transfer: Option<super::transfer::Transfer>,
    /// This call was placed for the other side's transfer of that call.
    pub transfer_for: Option<CallId>,
    /// When the talking stopped: our BYE or theirs (the call's duration ends here, not when
    /// the BYE is answered).
    pub hung_up_at: Option<Instant>,
    /// Their transfer succeeded: the call ends, once the final NOTIFY is answered.
    pub end_after_notify: Option<EndReason>,
    /// The AI caller's verdict on its goal (set once; reported in `call_ended`).
    pub verdict: Option<crate::vocab::Verdict>,
    /// The AI caller: the model's replies so far (for `--max-turns`).
    pub ai_turns: u32,
    /// The AI caller reached a limit; the reason, for an undecided verdict.
    pub limit: Option<String>,
    /// The AI caller hangs up once the model's audio has played.
    pub awaiting_goodbye: bool,
}

impl Call {
    /// The other side's SDP answer to our offer, read against what we offered: our codecs,
    /// and the keys of our offer (none when we have not offered yet).
    pub fn read_answer(
        &self,
        text: &str,
        codecs: &[Codec],
        srtp: crate::media::srtp::SrtpMode,
    ) -> Result<Negotiated, String> {
        let keys = self.local.as_ref().map_or_else(
            || crate::media::srtp::LocalSrtp::unkeyed(srtp),
            |l| l.srtp.clone(),
        );
        let answer = crate::media::sdp::parse(text).map_err(|e| e.to_string())?;
        crate::media::sdp::negotiate_answer(&answer, codecs, &keys).map_err(|e| e.to_string())
    }

    /// Incoming or placed by us.
    pub fn direction(&self) -> Direction {
        if self.placed.is_some() {
            Direction::Outgoing
        } else {
            Direction::Incoming
        }
    }

    /// Our RTP address as our SDP gave it, when that is not `socket` (behind NAT, from STUN,
    /// or `--media-address`): the panel shows both.
    pub fn advertised_rtp(&self, socket: SocketAddr) -> Option<String> {
        self.local
            .as_ref()
            .map(|l| SocketAddr::new(l.addr, l.port))
            .filter(|sdp| *sdp != socket)
            .map(|sdp| sdp.to_string())
    }

    pub fn new(
        id: CallId,
        key: DialogKey,
        remote_uri: String,
        offer: Option<SessionDescription>,
    ) -> Call {
        Call {
            id,
            key,
            remote_uri,
            state: CallState::Ringing,
            offer,
            answering: Answering::No,
            local: None,
            answered_at: None,
            pending_media: None,
            awaiting_ack_answer: false,
            media: false,
            codec: None,
            local_rtp: None,
            remote_rtp: None,
            srtp: None,
            bridge: Bridge::Off,
            mic_muted: false,
            listen_muted: false,
            rtp_received: 0,
            rtp_idle_since: None,
            transcript: None,
            transcript_order: TranscriptOrder::default(),
            ending: None,
            torn_down: false,
            placed: None,
            held_by_us: false,
            held_by_them: false,
            hold_pending: None,
            transfer: None,
            transfer_for: None,
            end_after_notify: None,
            verdict: None,
            ai_turns: 0,
            limit: None,
            awaiting_goodbye: false,
            hung_up_at: None,
        }
    }

    /// An incoming call that rings, and nobody has started answering or refusing it.
    pub fn is_ringing(&self) -> bool {
        self.direction() == Direction::Incoming
            && self.state == CallState::Ringing
            && self.answering == Answering::No
            && !self.is_ending()
    }

    /// A call we placed that has no answer yet (hanging up means CANCEL).
    pub fn is_unanswered_outgoing(&self) -> bool {
        self.direction() == Direction::Outgoing && self.answered_at.is_none() && !self.is_ending()
    }

    /// We are ending it, or its dialog has ended.
    pub fn is_ending(&self) -> bool {
        self.ending.is_some() || self.torn_down
    }

    pub fn is_bridged(&self) -> bool {
        self.bridge != Bridge::Off
    }
}
