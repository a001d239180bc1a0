//! Call quality: RFC 3550 receive statistics for the stream we get (loss, interarrival jitter,
//! the figures of an RTCP report block) and an ITU-T G.107 E-model estimate of the MOS.
//!
//! Pure bookkeeping, no I/O: the media task feeds every valid RTP packet of the current source
//! to [`ReceiveStats::on_packet`] and asks for a report block when it sends RTCP.
//!
//! Duplicates are not received packets: RFC 3550 A.3 counts packets received to compare them
//! with packets expected, and a copy of one already counted (an RFC 4733 end packet repeated
//! with its sequence number, a path that duplicates) would make the loss negative. The last
//! 128 sequence numbers are remembered in a bitmap, which covers everything A.1 accepts as
//! reordered (`MAX_MISORDER`).

use std::time::Instant;

use super::rtcp::ReportBlock;
use crate::vocab::Codec;

#[cfg(test)]
mod tests;

/// RFC 3550 A.1: a forward jump up to this many is loss, not a restart.
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: this far behind the highest is a late or duplicate packet.
const MAX_MISORDER: u16 = 100;
const SEQ_MOD: u64 = 1 << 16;
/// Sequence numbers remembered for duplicate detection: one bit each, back from the highest.
const SEEN_WINDOW: u16 = 128;
const _: () = assert!(MAX_MISORDER < SEEN_WINDOW);

/// What one packet was to the statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Counted as received.
    New,
    /// Its sequence number was already counted: not received again.
    Duplicate,
    /// Far from the stream's numbering (A.1's "bad" packet): not counted unless the next
    /// one confirms that the sender restarted there.
    Stray,
}

/// Reception statistics of one source (RFC 3550 §6.4.1, A.1, A.3, A.8). Start a new one (or
/// call [`reset`](Self::reset)) when the SSRC changes.
///
/// Deviation from A.1: no probation. The source was announced by SDP, so its first packet
/// counts at once; a restart inside the stream (two sequential packets after a jump) is still
/// recognised.
#[derive(Clone, Debug)]
pub struct ReceiveStats {
    clock_rate: u32,
    state: Option<SeqState>,
    /// The sequence number after a big jump; if it comes next, the source restarted.
    bad_seq: Option<u16>,
    epoch: Option<Instant>,
    /// Previous transit time (arrival minus RTP timestamp) in timestamp units, mod 2^32.
    transit: Option<u32>,
    /// Interarrival jitter in timestamp units (A.8, kept unscaled as a float).
    jitter: f64,
    duplicates: u64,
}

#[derive(Clone, Copy, Debug)]
struct SeqState {
    base_seq: u16,
    max_seq: u16,
    /// Wraps of the sequence number, times 2^16.
    cycles: u64,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Bit i set: `max_seq - i` has been counted (i < SEEN_WINDOW).
    seen: u128,
}

impl SeqState {
    fn new(seq: u16) -> Self {
        Self {
            base_seq: seq,
            max_seq: seq,
            cycles: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            seen: 1,
        }
    }

    /// Whether `seq`, at or behind the highest, was already counted. None when it lies ahead
    /// or beyond the window.
    fn seen(&self, seq: u16) -> Option<bool> {
        let back = self.max_seq.wrapping_sub(seq);
        (back < SEEN_WINDOW).then(|| self.seen & (1u128 << back) != 0)
    }

    fn extended_max(&self) -> u64 {
        self.cycles + u64::from(self.max_seq)
    }

    fn expected(&self) -> u64 {
        self.extended_max() + 1 - u64::from(self.base_seq)
    }
}

impl ReceiveStats {
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            state: None,
            bad_seq: None,
            epoch: None,
            transit: None,
            jitter: 0.0,
            duplicates: 0,
        }
    }

    /// Forgets everything (a new SSRC).
    pub fn reset(&mut self) {
        *self = Self::new(self.clock_rate);
    }

    /// One valid RTP packet of this source, with the time it came off the socket.
    pub fn on_packet(&mut self, seq: u16, rtp_timestamp: u32, arrival: Instant) -> Arrival {
        let arrived = self.track_sequence(seq);
        if arrived == Arrival::New {
            self.update_jitter(rtp_timestamp, arrival);
        }
        arrived
    }

    /// A packet of this source whose timestamp does not follow the media clock: RFC 4733
    /// telephone-events share the audio's SSRC and sequence numbers but carry their event's
    /// start time, so they count for loss and not for jitter.
    pub fn on_untimed_packet(&mut self, seq: u16) -> Arrival {
        self.track_sequence(seq)
    }

    /// Whether a packet with this sequence number has been counted already (recently: the
    /// last 128 numbers). Looks only; the packet is counted by `on_packet`.
    pub fn is_duplicate(&self, seq: u16) -> bool {
        self.state.and_then(|s| s.seen(seq)).unwrap_or(false)
    }

    /// Copies of packets already counted, since the last reset.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// A.1 sequence tracking, plus duplicate detection.
    fn track_sequence(&mut self, seq: u16) -> Arrival {
        let Some(state) = &mut self.state else {
            let mut state = SeqState::new(seq);
            state.received = 1;
            self.state = Some(state);
            return Arrival::New;
        };
        if state.seen(seq) == Some(true) {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        let delta = seq.wrapping_sub(state.max_seq);
        if delta < MAX_DROPOUT {
            // In order, perhaps with a gap. A smaller number means the 16 bits wrapped.
            if seq < state.max_seq {
                state.cycles += SEQ_MOD;
            }
            state.max_seq = seq;
            state.seen = state.seen.checked_shl(u32::from(delta)).unwrap_or(0) | 1;
        } else if delta <= u16::MAX - MAX_MISORDER {
            // A big jump. Twice in a row from the same place: the sender restarted (A.1).
            if self.bad_seq != Some(seq) {
                self.bad_seq = Some(seq.wrapping_add(1));
                return Arrival::Stray;
            }
            *state = SeqState::new(seq);
            self.transit = None;
        } else {
            // Reordered, within MAX_MISORDER behind the highest (so inside the window), and
            // not seen before. One from before the first packet counted makes received exceed
            // expected; what we report is clamped at zero (see `lost`).
            state.seen |= 1u128 << state.max_seq.wrapping_sub(seq);
        }
        self.bad_seq = None;
        state.received += 1;
        Arrival::New
    }

    /// A.8: transit = arrival on the RTP clock − timestamp; J += (|D| − J) / 16.
    fn update_jitter(&mut self, rtp_timestamp: u32, arrival: Instant) {
        let epoch = *self.epoch.get_or_insert(arrival);
        let elapsed = arrival.saturating_duration_since(epoch);
        let ticks = elapsed.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000;
        let transit = (ticks as u32).wrapping_sub(rtp_timestamp);
        if let Some(previous) = self.transit {
            let d = (transit.wrapping_sub(previous) as i32).unsigned_abs();
            // A change of more than a second is the timeline jumping (the jitter buffer has
            // resynchronised or re-stamped the stream), not delay varying: counting it would
            // report seconds of jitter for the next hundred packets.
            if d <= self.clock_rate {
                self.jitter += (f64::from(d) - self.jitter) / 16.0;
            }
        }
        self.transit = Some(transit);
    }

    /// Packets expected from the first sequence number to the highest (A.3).
    pub fn expected(&self) -> u64 {
        self.state.map_or(0, |s| s.expected())
    }

    pub fn received(&self) -> u64 {
        self.state.map_or(0, |s| s.received)
    }

    /// Expected minus received, never below zero. With duplicates no longer counted, received
    /// exceeds expected only when packets from before the first one arrive late; RFC 3550
    /// §6.4.1 lets the figure go negative then, but peers (linphone) flag a negative loss as
    /// an error, and common practice is to report zero.
    pub fn lost(&self) -> i64 {
        (self.expected() as i64 - self.received() as i64).max(0)
    }

    /// Cumulative loss as a fraction 0..=1.
    pub fn loss_fraction(&self) -> f64 {
        match self.expected() {
            0 => 0.0,
            expected => (self.lost().max(0) as f64 / expected as f64).min(1.0),
        }
    }

    pub fn jitter_ms(&self) -> f64 {
        self.jitter * 1000.0 / f64::from(self.clock_rate)
    }

    /// A report block about this source; the loss fraction covers the time since the previous
    /// call (A.3). `lsr`/`dlsr` come from the last SR this source's sender sent us (0 if none).
    pub fn report_block(&mut self, ssrc: u32, lsr: u32, dlsr: u32) -> ReportBlock {
        let jitter = self.jitter.min(f64::from(u32::MAX)) as u32;
        let Some(state) = &mut self.state else {
            return ReportBlock {
                ssrc,
                lsr,
                dlsr,
                ..ReportBlock::default()
            };
        };
        let expected = state.expected();
        let expected_interval = expected - state.expected_prior;
        let received_interval = state.received - state.received_prior;
        state.expected_prior = expected;
        state.received_prior = state.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval as u64) * 256 / expected_interval).min(255) as u8
        };
        let lost = expected as i64 - state.received as i64;
        ReportBlock {
            ssrc,
            fraction_lost,
            // 24-bit signed on the wire: clamp rather than wrap (§6.4.1), and at zero below
            // (see `lost`).
            cumulative_lost: lost.clamp(0, 0x7F_FFFF) as i32,
            highest_seq: state.extended_max() as u32,
            jitter,
            lsr,
            dlsr,
        }
    }
}

/// The E-model's basic signal-to-noise rating with all default parameters (G.107 §7.2).
const R_DEFAULT: f64 = 93.2;

/// Equipment impairment Ie and packet-loss robustness Bpl of a codec (G.113 Appendix I).
///
/// - G.711: Ie 0; Bpl 25.1, G.113's figure for G.711 with PLC, since every lost frame is
///   concealed (our repetition is cruder than G.711 Appendix I, so heavy loss is rated a bit
///   kindly).
/// - Opus: G.113 has no entry. On this narrowband scale it is close to transparent; Ie 5 allows
///   for the low-bitrate modes a peer may choose. Its PLC and in-band FEC are built for loss,
///   like iLBC (Bpl 32 in G.113) and better than G.711 Appendix I (25.1): Bpl 30. With the
///   suggested Bpl 20 opus would rate below G.711 at every loss rate, which is not what
///   listeners hear; with 30 it overtakes G.711 above about 15 % loss (the Ie of 5 costs it
///   below that), and we do not credit its FEC.
fn codec_impairment(codec: Codec) -> (f64, f64) {
    match codec {
        Codec::Pcmu | Codec::Pcma => (0.0, 25.1),
        Codec::Opus => (5.0, 30.0),
    }
}

/// Mean opinion score (1.0 to 4.5) from a simplified G.107 E-model: R = 93.2 − Idd − Ie,eff.
///
/// One-way delay Ta = rtt/2 + jitter buffer (taken as 2 × jitter) + 20 ms packetization.
/// Idd is G.107's pure-delay impairment (zero up to 100 ms); echo impairments (Idte, Idle) are
/// taken as zero, as for a terminal with echo control. Loss is taken as random (BurstR = 1).
/// Non-finite or negative inputs count as zero.
pub fn estimate_mos(loss_percent: f64, jitter_ms: f64, rtt_ms: f64, codec: Codec) -> f64 {
    let clean = |x: f64| if x.is_finite() { x.max(0.0) } else { 0.0 };
    let loss = clean(loss_percent).min(100.0);
    let delay = clean(rtt_ms) / 2.0 + 2.0 * clean(jitter_ms) + 20.0;
    let (ie, bpl) = codec_impairment(codec);
    let ie_eff = ie + (95.0 - ie) * loss / (loss + bpl);
    mos_from_r(R_DEFAULT - delay_impairment(delay) - ie_eff)
}

/// G.107 (06/2015) §7.4 Idd for one-way delay `ta` in ms, with the default mT = 100 ms, sT = 1.
fn delay_impairment(ta: f64) -> f64 {
    if ta <= 100.0 {
        return 0.0;
    }
    let x = (ta / 100.0).log2();
    let sixth = |v: f64| v.powf(1.0 / 6.0);
    25.0 * (sixth(1.0 + x.powi(6)) - 3.0 * sixth(1.0 + (x / 3.0).powi(6)) + 2.0)
}

/// G.107 Annex B: R to MOS (conversational quality, 1 to 4.5).
fn mos_from_r(r: f64) -> f64 {
    if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        (1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6).clamp(1.0, 4.5)
    }
}
