//! Puts the caller's RTP packets back in sequence as they arrive, for the bridge: the model
//! needs the caller's audio in order, not smoothly paced, so a packet is handed on the moment
//! everything before it has been, and held only while the one before it may still come.
//!
//! The hold is short on both counts: at most `HOLD` packets wait, each for at most `max_hold`;
//! then the gap is skipped (the missing packet is lost as far as the model is concerned, and
//! dropped if it turns up later). A jump of more than `HOLD`, or a new SSRC, is a gap no
//! reordering will fill: it is skipped at once. Pure: the caller passes the time in.

use std::time::{Duration, Instant};

/// Packets held while an earlier one is missing. Two cover the reordering a real path does
/// (a swap of neighbours, now and then one more) without a delay worth speaking of.
pub const HOLD: usize = 2;
/// A held packet waits at most this long for the gap before it.
pub const MAX_HOLD: Duration = Duration::from_millis(15);
/// A packet this far behind is not late but the start of a new numbering (a sender restart
/// without a new SSRC): start over at it.
const RESTART_BEHIND: i16 = 64;

/// One packet waiting for the gap before it to be filled; the buffer is reused.
#[derive(Debug, Default)]
struct Slot {
    held: Option<(u16, Instant)>,
    payload: Vec<u8>,
}

#[derive(Debug)]
pub struct Reorder {
    /// The sequence number handed on next, once the first packet has come.
    next: Option<u16>,
    ssrc: Option<u32>,
    slots: [Slot; HOLD],
    max_hold: Duration,
    /// Sequence numbers passed over: lost, or arriving after their gap was skipped.
    skipped: u64,
}

impl Default for Reorder {
    fn default() -> Self {
        Reorder::new(MAX_HOLD)
    }
}

impl Reorder {
    pub fn new(max_hold: Duration) -> Reorder {
        Reorder {
            next: None,
            ssrc: None,
            slots: Default::default(),
            max_hold,
            skipped: 0,
        }
    }

    /// Packets passed over so far (lost on the way, or too late to be put back in place).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Takes packet `seq` of stream `ssrc` at `now`, and calls `emit` with every payload that
    /// is now in order, oldest first. An empty payload (an RFC 4733 event, which takes a
    /// sequence number but is no audio) is put in order but not emitted.
    pub fn push(
        &mut self,
        ssrc: u32,
        seq: u16,
        payload: &[u8],
        now: Instant,
        emit: &mut impl FnMut(&[u8]),
    ) {
        if self.ssrc != Some(ssrc) {
            // A new stream owes nothing to the old one's numbering; what the old one had
            // waiting was good audio, and comes first.
            self.release_all(emit);
            self.ssrc = Some(ssrc);
            self.next = None;
        }
        self.expire(now, emit);
        let Some(next) = self.next else {
            self.hand_on(seq, payload, emit);
            return;
        };
        let ahead = seq.wrapping_sub(next) as i16;
        match ahead {
            0 => {
                self.hand_on(seq, payload, emit);
                self.release_run(emit);
            }
            // Its gap was skipped already (or it is a copy): too late to be put in place.
            behind if behind < 0 && behind > -RESTART_BEHIND => {}
            ahead if ahead > 0 && ahead as usize <= HOLD => self.hold(seq, payload, now),
            // Beyond what reordering fills, or a new numbering: skip to it at once.
            _ => {
                self.release_all(emit);
                if let Some(next) = self.next {
                    self.skip_to(next, seq);
                }
                self.hand_on(seq, payload, emit);
            }
        }
    }

    /// Skips the gaps of packets held longer than `max_hold`; call it on a clock (the media
    /// task's 20 ms tick) so that a gap at the end of a stream does not hold its last packets.
    pub fn expire(&mut self, now: Instant, emit: &mut impl FnMut(&[u8])) {
        let max_hold = self.max_hold;
        let overdue = |slot: &Slot| {
            slot.held
                .is_some_and(|(_, since)| now.saturating_duration_since(since) >= max_hold)
        };
        while self.slots.iter().any(overdue) {
            let Some(first) = self.first_held() else {
                return;
            };
            if let Some(next) = self.next {
                self.skip_to(next, first);
            }
            self.next = Some(first);
            self.release_run(emit);
        }
    }

    fn hand_on(&mut self, seq: u16, payload: &[u8], emit: &mut impl FnMut(&[u8])) {
        if !payload.is_empty() {
            emit(payload);
        }
        self.next = Some(seq.wrapping_add(1));
    }

    fn hold(&mut self, seq: u16, payload: &[u8], now: Instant) {
        if self
            .slots
            .iter()
            .any(|s| s.held.is_some_and(|(held, _)| held == seq))
        {
            return; // a copy of one already waiting
        }
        // Seqs held lie in next+1..=next+HOLD, so with HOLD slots there is always room.
        if let Some(slot) = self.slots.iter_mut().find(|s| s.held.is_none()) {
            slot.held = Some((seq, now));
            slot.payload.clear();
            slot.payload.extend_from_slice(payload);
        }
    }

    /// Hands on held packets for as long as they follow on from `next`.
    fn release_run(&mut self, emit: &mut impl FnMut(&[u8])) {
        while let Some(next) = self.next {
            let Some(slot) = self
                .slots
                .iter_mut()
                .find(|s| s.held.is_some_and(|(seq, _)| seq == next))
            else {
                return;
            };
            slot.held = None;
            if !slot.payload.is_empty() {
                emit(&slot.payload);
            }
            self.next = Some(next.wrapping_add(1));
        }
    }

    /// Hands on everything held, in order, skipping the gaps between.
    fn release_all(&mut self, emit: &mut impl FnMut(&[u8])) {
        while let Some(first) = self.first_held() {
            if let Some(next) = self.next {
                self.skip_to(next, first);
            }
            self.next = Some(first);
            self.release_run(emit);
        }
    }

    /// The held packet that comes first after `next`.
    fn first_held(&self) -> Option<u16> {
        let next = self.next.unwrap_or(0);
        self.slots
            .iter()
            .filter_map(|s| s.held.map(|(seq, _)| seq))
            .min_by_key(|seq| seq.wrapping_sub(next))
    }

    /// Counts the sequence numbers from `next` up to (not including) `seq` as skipped, when
    /// `seq` lies ahead; a restart behind counts nothing.
    fn skip_to(&mut self, next: u16, seq: u16) {
        let ahead = seq.wrapping_sub(next) as i16;
        if ahead > 0 {
            self.skipped += ahead as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes `(seq, byte)` packets at `at_ms` each, collecting the first byte of what comes out.
    struct Run {
        reorder: Reorder,
        start: Instant,
        out: Vec<u8>,
    }

    impl Run {
        fn new() -> Run {
            Run {
                reorder: Reorder::default(),
                start: Instant::now(),
                out: Vec::new(),
            }
        }

        fn push_on(&mut self, ssrc: u32, seq: u16, byte: u8, at_ms: u64) -> &mut Run {
            let now = self.start + Duration::from_millis(at_ms);
            let out = &mut self.out;
            let payload: &[u8] = if byte == 0 { &[] } else { &[byte, byte] };
            self.reorder
                .push(ssrc, seq, payload, now, &mut |p| out.push(p[0]));
            self
        }

        fn push(&mut self, seq: u16, byte: u8, at_ms: u64) -> &mut Run {
            self.push_on(1, seq, byte, at_ms)
        }

        fn tick(&mut self, at_ms: u64) -> &mut Run {
            let now = self.start + Duration::from_millis(at_ms);
            let out = &mut self.out;
            self.reorder.expire(now, &mut |p| out.push(p[0]));
            self
        }
    }

    #[test]
    fn packets_in_order_go_straight_through() {
        let mut run = Run::new();
        run.push(10, 1, 0);
        assert_eq!(run.out, [1]);
        run.push(11, 2, 20).push(12, 3, 40);
        assert_eq!(run.out, [1, 2, 3]);
        assert_eq!(run.reorder.skipped(), 0);
    }

    #[test]
    fn a_swapped_pair_is_put_back_in_order_when_the_first_arrives() {
        let mut run = Run::new();
        run.push(10, 1, 0).push(12, 3, 20);
        assert_eq!(run.out, [1], "12 waits for 11");
        run.push(11, 2, 22);
        assert_eq!(run.out, [1, 2, 3]);
        assert_eq!(run.reorder.skipped(), 0);
    }

    #[test]
    fn a_lost_packet_holds_the_next_one_for_at_most_max_hold() {
        let mut run = Run::new();
        run.push(10, 1, 0).push(12, 3, 40);
        run.tick(40 + MAX_HOLD.as_millis() as u64 - 1);
        assert_eq!(run.out, [1]);
        run.tick(40 + MAX_HOLD.as_millis() as u64);
        assert_eq!(run.out, [1, 3]);
        assert_eq!(run.reorder.skipped(), 1);
        // 11 turns up after all: its place is gone.
        run.push(11, 2, 60).push(13, 4, 60);
        assert_eq!(run.out, [1, 3, 4]);
    }

    #[test]
    fn the_next_packet_after_the_hold_expired_skips_the_gap_without_a_tick() {
        let mut run = Run::new();
        run.push(10, 1, 0).push(12, 3, 40).push(13, 4, 60);
        assert_eq!(run.out, [1, 3, 4]);
        assert_eq!(run.reorder.skipped(), 1);
    }

    #[test]
    fn a_gap_wider_than_the_hold_is_skipped_at_once() {
        let mut run = Run::new();
        run.push(10, 1, 0).push(12, 3, 20);
        // 11 and 13..=15 lost: 16 is more than HOLD ahead of 11, and 12 goes with it.
        run.push(16, 7, 25);
        assert_eq!(run.out, [1, 3, 7]);
        assert_eq!(run.reorder.skipped(), 4);
        run.push(17, 8, 45);
        assert_eq!(run.out, [1, 3, 7, 8]);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut run = Run::new();
        run.push(65_535, 1, 0).push(1, 3, 20).push(0, 2, 21);
        assert_eq!(run.out, [1, 2, 3]);
    }

    #[test]
    fn copies_are_dropped_whether_held_or_already_handed_on() {
        let mut run = Run::new();
        run.push(10, 1, 0)
            .push(10, 1, 1)
            .push(12, 3, 20)
            .push(12, 3, 21);
        run.push(11, 2, 22);
        assert_eq!(run.out, [1, 2, 3]);
    }

    #[test]
    fn an_event_packet_fills_its_place_in_the_numbering_without_audio() {
        let mut run = Run::new();
        run.push(10, 1, 0).push(12, 3, 20);
        run.push(11, 0, 21);
        assert_eq!(run.out, [1, 3]);
        assert_eq!(run.reorder.skipped(), 0);
    }

    #[test]
    fn a_new_ssrc_or_numbering_starts_over_after_what_was_held() {
        let mut run = Run::new();
        run.push(10, 1, 0).push(12, 3, 20);
        run.push_on(2, 500, 9, 25);
        assert_eq!(run.out, [1, 3, 9]);
        run.push_on(2, 501, 8, 45);
        assert_eq!(run.out, [1, 3, 9, 8]);
        // Far behind on the same SSRC: a restarted sender, not a late packet.
        run.push_on(2, 100, 7, 65).push_on(2, 101, 6, 85);
        assert_eq!(run.out, [1, 3, 9, 8, 7, 6]);
    }
}
