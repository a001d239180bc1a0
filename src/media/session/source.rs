//! Which RTP source (SSRC) a call listens to, among the packets from the latched address.
//!
//! The first source is taken at once: SDP announced it (so is the first after a re-INVITE
//! moved the media elsewhere, see [`Sources::release`]). Another SSRC may be the same call moved
//! elsewhere (a transfer, a B2BUA switching media servers), or junk: a stale stream, a buggy
//! sender changing SSRC on every packet, someone spraying the port from the caller's own
//! address. So a new SSRC must prove itself before it replaces the current one, much as RFC
//! 3550 A.1 keeps a source on probation until `MIN_SEQUENTIAL` packets in sequence: it needs
//! [`MIN_SEQUENTIAL`] packets numbered in a row, and the current source must have fallen
//! silent for [`CURRENT_QUIET`]. Until then its packets are dropped and the current stream
//! keeps playing. A source changing on every packet, or one interleaved with a live stream,
//! never takes over.
//!
//! Newcomers are followed in a small table indexed by a hash of their SSRC, overwritten freely:
//! a real new stream arriving amid junk with other SSRCs loses its place only when junk hashes
//! to the same slot (40 junk packets between two of its own: 15 % of the time), so it still
//! proves itself within a few packets, at the cost of one lookup per packet and no allocation.

use std::time::{Duration, Instant};

/// Packets in sequence a new source must show (RFC 3550 A.1 uses 2; one more, as our test
/// for the stream being gone is time).
const MIN_SEQUENTIAL: u32 = 3;
/// How long the current source must have been silent for another to replace it: five
/// packets' time, longer than the loss bursts a live stream has.
const CURRENT_QUIET: Duration = Duration::from_millis(100);
/// Slots for newcomers, a power of two.
const CANDIDATES: usize = 256;

/// What to do with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admit {
    /// The call's first source, or the current one.
    Current,
    /// A new source that has proved itself and replaces the current one from this packet.
    Switched,
    /// Another source, on probation: drop the packet.
    Probation,
}

#[derive(Clone, Copy, Debug, Default)]
struct Candidate {
    ssrc: u32,
    next_seq: u16,
    /// Packets numbered in a row, up to the last one; 0 for an empty slot.
    run: u32,
}

#[derive(Debug, Default)]
pub(super) struct Sources {
    /// The source listened to, and when it was last heard.
    current: Option<(u32, Instant)>,
    /// The media moved: the next source heard replaces the current one at once.
    released: bool,
    /// Empty until a second source shows up: most calls never see one.
    candidates: Vec<Candidate>,
}

impl Sources {
    /// The current source, once there is one.
    pub fn current(&self) -> Option<u32> {
        self.current.map(|(ssrc, _)| ssrc)
    }

    /// The remote's media address changed (re-INVITE): whatever source is heard next is the
    /// call's, with no probation.
    pub fn release(&mut self) {
        self.released = true;
    }

    /// Decides about one packet of source `ssrc`, numbered `seq`, arriving `now`.
    pub fn admit(&mut self, ssrc: u32, seq: u16, now: Instant) -> Admit {
        let released = std::mem::take(&mut self.released);
        let (current, last_heard) = match &mut self.current {
            None => {
                self.current = Some((ssrc, now));
                return Admit::Current;
            }
            Some((current, heard)) if *current == ssrc => {
                *heard = now;
                return Admit::Current;
            }
            Some(_) if released => {
                self.current = Some((ssrc, now));
                self.candidates.fill(Candidate::default());
                return Admit::Switched;
            }
            Some((current, heard)) => (*current, *heard),
        };
        if self.candidates.is_empty() {
            self.candidates = vec![Candidate::default(); CANDIDATES];
        }
        let candidate = &mut self.candidates[slot(ssrc)];
        let run = if candidate.run > 0 && candidate.ssrc == ssrc && candidate.next_seq == seq {
            candidate.run.saturating_add(1)
        } else {
            1
        };
        *candidate = Candidate {
            ssrc,
            next_seq: seq.wrapping_add(1),
            run,
        };
        let quiet = now.saturating_duration_since(last_heard) >= CURRENT_QUIET;
        if run >= MIN_SEQUENTIAL && quiet {
            tracing::debug!(old = current, new = ssrc, "RTP source changed");
            self.current = Some((ssrc, now));
            self.candidates.fill(Candidate::default());
            return Admit::Switched;
        }
        Admit::Probation
    }
}

/// Fibonacci hashing: SSRCs that differ in any bits spread over the table.
fn slot(ssrc: u32) -> usize {
    (ssrc.wrapping_mul(0x9E37_79B9) >> 16) as usize % CANDIDATES
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: u32 = 0xA;
    const B: u32 = 0xB;
    const FRAME: Duration = Duration::from_millis(20);

    #[test]
    fn the_first_source_is_taken_at_once_and_kept() {
        let mut s = Sources::default();
        let t0 = Instant::now();
        assert_eq!(s.admit(A, 100, t0), Admit::Current);
        assert_eq!(s.admit(A, 101, t0 + FRAME), Admit::Current);
        assert_eq!(s.current(), Some(A));
    }

    #[test]
    fn a_new_source_takes_over_once_the_old_is_silent_and_it_is_in_sequence() {
        let mut s = Sources::default();
        let t0 = Instant::now();
        s.admit(A, 100, t0);
        // B starts 20 ms after A's last packet: on probation until A has been silent 100 ms
        // and B has three in a row.
        let admitted: Vec<Admit> = (1..=6u32)
            .map(|n| s.admit(B, 5000 + n as u16, t0 + FRAME * n))
            .collect();
        assert_eq!(
            admitted,
            [
                Admit::Probation,
                Admit::Probation,
                Admit::Probation,
                Admit::Probation,
                Admit::Switched,
                Admit::Current,
            ]
        );
        assert_eq!(s.current(), Some(B));
        // A is now the newcomer.
        assert_eq!(s.admit(A, 101, t0 + FRAME * 7), Admit::Probation);
    }

    #[test]
    fn after_the_media_moved_the_next_source_is_taken_at_once() {
        let mut s = Sources::default();
        let t0 = Instant::now();
        s.admit(A, 100, t0);
        s.release();
        assert_eq!(s.admit(B, 7, t0 + FRAME), Admit::Switched);
        assert_eq!(s.admit(A, 101, t0 + FRAME * 2), Admit::Probation);
        // The same source on the new path simply carries on.
        s.release();
        assert_eq!(s.admit(B, 8, t0 + FRAME * 3), Admit::Current);
        assert_eq!(s.admit(A, 102, t0 + FRAME * 4), Admit::Probation);
    }

    #[test]
    fn a_source_interleaved_with_the_live_one_never_takes_over() {
        let mut s = Sources::default();
        let t0 = Instant::now();
        for n in 0..500u32 {
            let at = t0 + FRAME * n;
            assert_eq!(s.admit(A, n as u16, at), Admit::Current);
            // In sequence itself, and even through a 60 ms burst of loss on A.
            assert_eq!(
                s.admit(B, 9000 + n as u16, at + FRAME / 2),
                Admit::Probation
            );
        }
        assert_eq!(s.current(), Some(A));
    }

    #[test]
    fn a_new_ssrc_on_every_packet_never_takes_over_even_alone() {
        let mut s = Sources::default();
        let t0 = Instant::now();
        s.admit(A, 0, t0);
        for n in 1..1000u32 {
            let admitted = s.admit(0xB000_0000 + n, n as u16, t0 + FRAME * n);
            assert_eq!(admitted, Admit::Probation);
        }
        assert_eq!(s.current(), Some(A));
    }

    #[test]
    fn out_of_sequence_packets_restart_the_probation() {
        let mut s = Sources::default();
        let t0 = Instant::now();
        s.admit(A, 0, t0);
        let later = t0 + Duration::from_secs(1);
        for (i, seq) in [10u16, 11, 13, 14].into_iter().enumerate() {
            assert_eq!(s.admit(B, seq, later + FRAME * i as u32), Admit::Probation);
        }
        assert_eq!(s.admit(B, 15, later + FRAME * 4), Admit::Switched);
    }

    #[test]
    fn a_new_stream_is_found_amid_junk_with_other_ssrcs() {
        let mut s = Sources::default();
        let t0 = Instant::now();
        s.admit(A, 0, t0);
        let mut switched = None;
        for n in 0..100u32 {
            let at = t0 + Duration::from_secs(1) + FRAME * n;
            // Ten packets of junk, each with a new SSRC, around every packet of B.
            for k in 0..10 {
                s.admit(0xC000_0000 + n * 10 + k, k as u16, at);
            }
            if s.admit(B, n as u16, at) == Admit::Switched {
                switched = Some(n);
                break;
            }
        }
        let n = switched.expect("B took over");
        assert!(n < 20, "after {n} packets");
    }
}
