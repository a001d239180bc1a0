//! RFC 6263 keep-alives for a call's RTP port while we must not send media (the peer holds
//! us: our direction is recvonly or inactive). Without them a NAT router forgets the mapping
//! our SDP named, and the call's audio cannot come back when the hold ends.
//!
//! The form is RFC 6263 §4.6's, the one the RFC recommends when RTCP is not multiplexed: an RTP
//! packet with no payload and a dynamic payload type that was not negotiated, so the peer
//! drops it; the sequence number goes on from the media's, the timestamp is the one a media
//! packet would carry now, and the marker is clear. One goes out when nothing was sent for
//! `Tr` = 15 s (RFC 6263's default for UDP), and at once when the call starts on hold, so
//! the router opens the way before the peer's first packet.

use crate::media::sdp::Negotiated;

/// RFC 6263's Tr, in 20 ms frames.
pub(super) const EVERY_FRAMES: u64 = 15_000 / 20;

/// When our RTP port last sent anything, and so when the next keep-alive is due.
#[derive(Debug, Default)]
pub(super) struct KeepaliveClock {
    last_sent: Option<u64>,
}

impl KeepaliveClock {
    /// Something (media or a keep-alive) went out on frame `frame`.
    pub(super) fn sent(&mut self, frame: u64) {
        self.last_sent = Some(frame);
    }

    /// Whether a keep-alive is due on frame `frame` of a call that sends no media.
    pub(super) fn due(&self, frame: u64) -> bool {
        self.last_sent
            .is_none_or(|last| frame.saturating_sub(last) >= EVERY_FRAMES)
    }
}

/// A dynamic payload type (96-127) that the call did not negotiate.
pub(super) fn payload_type(params: &Negotiated) -> u8 {
    (96..=127u8)
        .rev()
        .find(|&pt| pt != params.payload_type && Some(pt) != params.dtmf_payload_type)
        .unwrap_or(127)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::sdp::MediaDirection;
    use crate::vocab::codec::Codec;

    #[test]
    fn due_at_once_then_every_fifteen_seconds_of_silence() {
        let mut clock = KeepaliveClock::default();
        assert!(clock.due(0), "never sent: open the way at once");
        clock.sent(0);
        assert!(!clock.due(EVERY_FRAMES - 1));
        assert!(clock.due(EVERY_FRAMES));
        clock.sent(1000); // media went out: the clock starts again
        assert!(!clock.due(1000 + EVERY_FRAMES - 1));
    }

    #[test]
    fn the_payload_type_is_one_the_call_does_not_use() {
        let mut p = Negotiated {
            codec: Codec::Opus,
            payload_type: 127,
            dtmf_payload_type: Some(126),
            remote: "192.0.2.1:4000".parse().unwrap(),
            direction: MediaDirection::RecvOnly,
            ptime_ms: 20,
            srtp: None,
        };
        assert_eq!(payload_type(&p), 125);
        p.payload_type = 0;
        p.dtmf_payload_type = Some(101);
        assert_eq!(payload_type(&p), 127);
    }
}
