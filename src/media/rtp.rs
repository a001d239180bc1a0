//! RTP packets for one call: numbering what we send, sorting what we receive.
//!
//! The wire format is rtp-rs's; this module adds the RFC 3550/3551 rules a sender must keep
//! (random SSRC, sequence and timestamp origins; timestamp in sample clock; marker on the
//! first packet of a talkspurt) and the checks that keep garbage out of the decoder.

use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};

/// RTP fixed header without CSRCs or extensions, which we never send.
pub const HEADER_LEN: usize = 12;

/// Numbering state of our outgoing stream.
#[derive(Clone, Debug)]
pub struct RtpSender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    marker_pending: bool,
}

impl RtpSender {
    /// A new stream with random SSRC, sequence and timestamp origins (RFC 3550 §5.1: random
    /// starts make known-plaintext attacks on encrypted streams harder and SSRCs unique).
    pub fn new() -> Self {
        Self::with_origin(rand::random(), rand::random(), rand::random())
    }

    pub fn with_origin(ssrc: u32, sequence: u16, timestamp: u32) -> Self {
        Self {
            ssrc,
            sequence,
            timestamp,
            marker_pending: true,
        }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The timestamp the next audio packet will carry.
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Writes a telephone-event packet (RFC 4733 §2.3: every packet of one event carries the
    /// event's start timestamp) with the stream's SSRC and next sequence number.
    pub fn write_event(
        &mut self,
        payload_type: u8,
        payload: &[u8],
        timestamp: u32,
        marker: bool,
        out: &mut [u8],
    ) -> Result<usize, rtp_rs::RtpPacketBuildError> {
        let len = RtpPacketBuilder::new()
            .payload_type(payload_type)
            .marked(marker)
            .sequence(Seq::from(self.sequence))
            .timestamp(timestamp)
            .ssrc(self.ssrc)
            .payload(payload)
            .build_into(out)?;
        self.sequence = self.sequence.wrapping_add(1);
        Ok(len)
    }

    /// Time passes by `samples` at the clock rate, whether or not a packet went out: after hold
    /// or a stall the timestamp still matches the wall clock (RFC 3550 §5.1).
    pub fn advance(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
    }

    /// Leaves `packets` sequence numbers unused: packets that were due and never sent, so a
    /// receiver counts them as lost (RFC 3550 A.3) rather than seeing the timestamp jump alone.
    pub fn skip(&mut self, packets: u16) {
        self.sequence = self.sequence.wrapping_add(packets);
    }

    /// Sets the marker on the next packet: the start of a talkspurt (RFC 3551 §4.1), which is
    /// how we flag the first packet after resuming from hold.
    pub fn mark_next(&mut self) {
        self.marker_pending = true;
    }

    /// Writes the next packet into `out` and returns its length. The sequence number steps by
    /// one per packet; the timestamp only moves with `advance`.
    pub fn write(
        &mut self,
        payload_type: u8,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, rtp_rs::RtpPacketBuildError> {
        let len = RtpPacketBuilder::new()
            .payload_type(payload_type)
            .marked(self.marker_pending)
            .sequence(Seq::from(self.sequence))
            .timestamp(self.timestamp)
            .ssrc(self.ssrc)
            .payload(payload)
            .build_into(out)?;
        self.sequence = self.sequence.wrapping_add(1);
        self.marker_pending = false;
        Ok(len)
    }
}

impl Default for RtpSender {
    fn default() -> Self {
        Self::new()
    }
}

/// A datagram that passed the checks, with the header fields the receive path needs.
#[derive(Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub kind: Received<'a>,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub marker: bool,
}

/// What a valid packet carries.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// Audio in the negotiated payload type.
    Audio(&'a [u8]),
    /// An RFC 4733 telephone-event packet.
    TelephoneEvent(&'a [u8]),
}

/// Why a datagram on the RTP port was not for us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("not an RTP version 2 packet ({len} bytes)")]
    NotRtp { len: usize },
    #[error("unexpected payload type {0}")]
    PayloadType(u8),
}

/// Checks one datagram against the negotiated payload types. Never panics: rtp-rs validates
/// lengths (header, CSRCs, extension, padding) before giving access to the payload.
pub fn classify(
    datagram: &[u8],
    audio_pt: u8,
    dtmf_pt: Option<u8>,
) -> Result<Packet<'_>, Rejected> {
    let reader = RtpReader::new(datagram).map_err(|_| Rejected::NotRtp {
        len: datagram.len(),
    })?;
    let pt = reader.payload_type();
    let kind = if pt == audio_pt {
        Received::Audio(reader.payload())
    } else if Some(pt) == dtmf_pt {
        Received::TelephoneEvent(reader.payload())
    } else {
        return Err(Rejected::PayloadType(pt));
    };
    Ok(Packet {
        kind,
        seq: reader.sequence_number().into(),
        timestamp: reader.timestamp(),
        ssrc: reader.ssrc(),
        marker: reader.mark(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn packets_carry_our_numbering() {
        let mut tx = RtpSender::with_origin(0xDEADBEEF, 65535, u32::MAX - 100);
        let mut buf = [0u8; 64];
        let len = tx.write(0, &[0xFF; 4], &mut buf).unwrap();
        assert_eq!(len, HEADER_LEN + 4);
        let first = RtpReader::new(&buf[..len]).unwrap();
        assert_eq!(first.version(), 2);
        assert!(first.mark());
        assert_eq!(first.payload_type(), 0);
        assert_eq!(u16::from(first.sequence_number()), 65535);
        assert_eq!(first.timestamp(), u32::MAX - 100);
        assert_eq!(first.ssrc(), 0xDEADBEEF);
        assert_eq!(first.payload(), [0xFF; 4]);

        tx.advance(160);
        let len = tx.write(0, &[0xFF; 4], &mut buf).unwrap();
        let second = RtpReader::new(&buf[..len]).unwrap();
        assert!(!second.mark());
        // Both counters wrap.
        assert_eq!(u16::from(second.sequence_number()), 0);
        assert_eq!(second.timestamp(), 59);
    }

    #[test]
    fn marker_returns_when_asked() {
        let mut tx = RtpSender::with_origin(1, 0, 0);
        let mut buf = [0u8; 32];
        let marks: Vec<bool> = (0..4)
            .map(|i| {
                if i == 2 {
                    tx.mark_next();
                }
                let len = tx.write(8, &[0xD5], &mut buf).unwrap();
                RtpReader::new(&buf[..len]).unwrap().mark()
            })
            .collect();
        assert_eq!(marks, [true, false, true, false]);
    }

    #[test]
    fn random_origins_differ() {
        let a = RtpSender::new();
        let b = RtpSender::new();
        assert_ne!(a.ssrc(), b.ssrc());
    }

    #[test]
    fn too_small_a_buffer_is_an_error() {
        let mut tx = RtpSender::new();
        assert!(tx.write(0, &[0; 160], &mut [0u8; 100]).is_err());
    }

    #[test]
    fn classifies_audio_dtmf_and_garbage() {
        let mut tx = RtpSender::with_origin(1, 0, 0);
        let mut buf = [0u8; 32];
        let len = tx.write(0, &[1, 2, 3], &mut buf).unwrap();
        let audio = classify(&buf[..len], 0, Some(101)).unwrap();
        assert_eq!(audio.kind, Received::Audio(&[1, 2, 3]));
        assert_eq!((audio.seq, audio.timestamp, audio.ssrc), (0, 0, 1));
        assert!(audio.marker);
        tx.advance(160);
        let len = tx.write(101, &[9, 0, 0, 160], &mut buf).unwrap();
        let event = classify(&buf[..len], 0, Some(101)).unwrap();
        assert_eq!(event.kind, Received::TelephoneEvent(&[9, 0, 0, 160]));
        assert_eq!((event.seq, event.timestamp), (1, 160));
        assert!(!event.marker);
        assert_eq!(
            classify(&buf[..len], 0, None),
            Err(Rejected::PayloadType(101))
        );
        assert_eq!(
            classify(b"hello", 0, None),
            Err(Rejected::NotRtp { len: 5 })
        );
        let mut v1 = buf;
        v1[0] = 0x40; // version 1
        assert_eq!(classify(&v1[..len], 0, None), Err(Rejected::NotRtp { len }));
    }

    #[test]
    fn random_datagrams_never_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..5000 {
            let len = rng.random_range(0..80);
            let mut d: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if len > 0 && rng.random_bool(0.7) {
                d[0] = 0x80 | (d[0] & 0x3F); // mostly version 2, to reach the deeper checks
            }
            if let Ok(Packet {
                kind: Received::Audio(p) | Received::TelephoneEvent(p),
                ..
            }) = classify(&d, 0, Some(101))
            {
                assert!(p.len() <= d.len());
            }
        }
    }
}
