//! RTCP (RFC 3550 §6): the sender and receiver reports, CNAME and BYE that a softphone sends
//! next to its RTP, and a parser for the compound packets peers send back.
//!
//! Builders append to a caller's reused `Vec<u8>`, so a compound packet (§6.1: a report first,
//! then SDES with CNAME) is several calls into one buffer. The parser validates the whole
//! datagram before handing out borrowed views; it never panics and never allocates. Packet
//! types we do not use (APP, feedback, XR) are skipped.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(test)]
mod tests;

pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;
/// SDES item type of the canonical name (§6.5.1), the only item every participant sends.
pub const SDES_CNAME: u8 = 1;
/// Report count, source count: five bits in the header.
const MAX_COUNT: usize = 31;
const BLOCK_LEN: usize = 24;
/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp (RFC 5905): seconds since 1900 in the high half, fraction in the low.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpTime(pub u64);

impl NtpTime {
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Times before 1970 map to the Unix epoch; the seconds wrap in 2036 like NTP's own era.
    pub fn from_system_time(t: SystemTime) -> Self {
        let since_unix = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let seconds = since_unix.as_secs().wrapping_add(NTP_UNIX_OFFSET) & 0xFFFF_FFFF;
        let fraction = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
        Self((seconds << 32) | fraction)
    }

    pub fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    pub fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// The middle 32 bits (16.16 fixed point): what LSR echoes back (§6.4.1).
    pub fn middle32(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// Round-trip time from a report block about our stream (§6.4.1, A.8): the arrival time minus
/// the LSR it echoes minus the DLSR the peer held it, all in 1/65536 s and modulo 2^32.
/// None when the peer has had no SR from us yet (LSR 0) or the result is negative, which only
/// clock trouble or a bogus report produces.
pub fn rtt(now_middle32: u32, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let units = now_middle32.wrapping_sub(lsr).wrapping_sub(dlsr);
    if units >= 0x8000_0000 {
        return None;
    }
    Some(Duration::from_nanos(
        u64::from(units) * 1_000_000_000 / 65_536,
    ))
}

/// DLSR for a report block: the time since the peer's last SR arrived, in 1/65536 s.
pub fn dlsr(since_last_sr: Duration) -> u32 {
    let units = since_last_sr.as_nanos() * 65_536 / 1_000_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// The sender information in an SR (§6.4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderInfo {
    pub ntp: NtpTime,
    /// The same instant as `ntp`, on the RTP clock of the stream.
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    /// Payload octets only, no headers or padding.
    pub octet_count: u32,
}

/// One reception report block (§6.4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Loss since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative lost packets: 24-bit signed on the wire (duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles in the high 16 bits).
    pub highest_seq: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    pub lsr: u32,
    pub dlsr: u32,
}

const CUMULATIVE_MAX: i32 = 0x7F_FFFF;
const CUMULATIVE_MIN: i32 = -0x80_0000;

impl ReportBlock {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        let lost = self.cumulative_lost.clamp(CUMULATIVE_MIN, CUMULATIVE_MAX) as u32 & 0xFF_FFFF;
        out.extend_from_slice(&((u32::from(self.fraction_lost) << 24) | lost).to_be_bytes());
        for word in [self.highest_seq, self.jitter, self.lsr, self.dlsr] {
            out.extend_from_slice(&word.to_be_bytes());
        }
    }

    fn read(b: &[u8]) -> Self {
        let lost = u32_at(b, 4) & 0xFF_FFFF;
        Self {
            ssrc: u32_at(b, 0),
            fraction_lost: b[4],
            // Sign-extend the 24-bit field.
            cumulative_lost: ((lost << 8) as i32) >> 8,
            highest_seq: u32_at(b, 8),
            jitter: u32_at(b, 12),
            lsr: u32_at(b, 16),
            dlsr: u32_at(b, 20),
        }
    }
}

/// Callers pass slices whose length was checked; short ones read as zero rather than panic.
fn u32_at(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Writes a common header; the length is patched by `finish` once the body is known.
fn begin(out: &mut Vec<u8>, count: usize, packet_type: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0x80 | count.min(MAX_COUNT) as u8, packet_type, 0, 0]);
    start
}

/// Pads to 32 bits with zeros and fills in the length in words minus one (§6.4.1).
fn finish(out: &mut Vec<u8>, start: usize) {
    while !(out.len() - start).is_multiple_of(4) {
        out.push(0);
    }
    let words = ((out.len() - start) / 4 - 1) as u16;
    out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
}

/// Appends a sender report. At most 31 blocks fit one SR; extra ones are left out.
pub fn build_sr(out: &mut Vec<u8>, ssrc: u32, info: &SenderInfo, reports: &[ReportBlock]) {
    let reports = &reports[..reports.len().min(MAX_COUNT)];
    let start = begin(out, reports.len(), PT_SR);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&info.ntp.0.to_be_bytes());
    for word in [info.rtp_timestamp, info.packet_count, info.octet_count] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    reports.iter().for_each(|r| r.write(out));
    finish(out, start);
}

/// Appends a receiver report; with no blocks it is the empty RR that must still open a
/// compound packet when we neither send nor receive (§6.1).
pub fn build_rr(out: &mut Vec<u8>, ssrc: u32, reports: &[ReportBlock]) {
    let reports = &reports[..reports.len().min(MAX_COUNT)];
    let start = begin(out, reports.len(), PT_RR);
    out.extend_from_slice(&ssrc.to_be_bytes());
    reports.iter().for_each(|r| r.write(out));
    finish(out, start);
}

/// Appends an SDES packet with one chunk carrying our CNAME (at most 255 bytes, cut at a
/// character boundary). The chunk ends with a null item and zero padding (§6.5).
pub fn build_sdes_cname(out: &mut Vec<u8>, ssrc: u32, cname: &str) {
    let start = begin(out, 1, PT_SDES);
    out.extend_from_slice(&ssrc.to_be_bytes());
    let text = truncate_utf8(cname, 255);
    out.extend_from_slice(&[SDES_CNAME, text.len() as u8]);
    out.extend_from_slice(text.as_bytes());
    out.push(0); // end of the item list; `finish` pads the rest with more zeros
    finish(out, start);
}

/// Appends a BYE for our source with an optional reason (at most 255 bytes).
pub fn build_bye(out: &mut Vec<u8>, ssrc: u32, reason: Option<&str>) {
    let start = begin(out, 1, PT_BYE);
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some(reason) = reason {
        let text = truncate_utf8(reason, 255);
        out.push(text.len() as u8);
        out.extend_from_slice(text.as_bytes());
    }
    finish(out, start);
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    #[error("empty RTCP datagram")]
    Empty,
    #[error("RTCP header at byte {offset} is cut short ({available} bytes left)")]
    Truncated { offset: usize, available: usize },
    #[error("RTCP version {version} at byte {offset} (expected 2)")]
    Version { offset: usize, version: u8 },
    #[error("RTCP packet at byte {offset} claims {claimed} bytes but {available} are left")]
    Length {
        offset: usize,
        claimed: usize,
        available: usize,
    },
    #[error("RTCP padding at byte {offset} is invalid: {reason}")]
    Padding { offset: usize, reason: &'static str },
    #[error("RTCP {kind} at byte {offset} is malformed: {reason}")]
    Malformed {
        offset: usize,
        kind: &'static str,
        reason: &'static str,
    },
}

/// One packet of a compound datagram, borrowing from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    SenderReport {
        ssrc: u32,
        info: SenderInfo,
        reports: ReportBlocks<'a>,
    },
    ReceiverReport {
        ssrc: u32,
        reports: ReportBlocks<'a>,
    },
    SourceDescription(SdesItems<'a>),
    Bye {
        sources: Sources<'a>,
        /// Raw bytes: RFC 3550 says UTF-8 but peers send what they like.
        reason: Option<&'a [u8]>,
    },
}

/// The report blocks of an SR or RR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportBlocks<'a>(&'a [u8]);

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        let (block, rest) = self.0.split_at_checked(BLOCK_LEN)?;
        self.0 = rest;
        Some(ReportBlock::read(block))
    }
}

/// The SSRCs a BYE names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sources<'a>(&'a [u8]);

impl Iterator for Sources<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let (word, rest) = self.0.split_at_checked(4)?;
        self.0 = rest;
        Some(u32_at(word, 0))
    }
}

/// One SDES item with the source its chunk describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdesItem<'a> {
    pub ssrc: u32,
    pub kind: u8,
    pub value: &'a [u8],
}

/// Every item of every chunk of an SDES packet, in order (validated by `parse`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdesItems<'a> {
    body: &'a [u8],
    chunks_left: usize,
    /// The current chunk's SSRC and where its next item starts, once inside a chunk.
    current: Option<(u32, usize)>,
}

impl<'a> Iterator for SdesItems<'a> {
    type Item = SdesItem<'a>;

    fn next(&mut self) -> Option<SdesItem<'a>> {
        loop {
            let Some((ssrc, at)) = self.current else {
                if self.chunks_left == 0 || self.body.len() < 4 {
                    return None;
                }
                self.chunks_left -= 1;
                self.current = Some((u32_at(self.body, 0), 4));
                continue;
            };
            match *self.body.get(at)? {
                0 => {
                    // End of this chunk's items; the next chunk starts on a 32-bit boundary.
                    let next = (at + 4) & !3;
                    self.body = self.body.get(next..).unwrap_or_default();
                    self.current = None;
                }
                kind => {
                    let len = usize::from(*self.body.get(at + 1)?);
                    let value = self.body.get(at + 2..at + 2 + len)?;
                    self.current = Some((ssrc, at + 2 + len));
                    return Some(SdesItem { ssrc, kind, value });
                }
            }
        }
    }
}

mod parse;
pub use parse::{parse, Compound, Packets};
