//! Validating and walking compound RTCP datagrams (RFC 3550 §6.1 and the checks of A.2).
//!
//! Lenient where real stacks differ (a datagram may start with any packet type, as RFC 5506
//! reduced-size RTCP does; SR/RR profile extensions after the blocks are ignored), strict where
//! a wrong length would make us read another packet's bytes.

use super::{
    u32_at, NtpTime, Packet, ReportBlock, ReportBlocks, RtcpError, SdesItems, SenderInfo, Sources,
    BLOCK_LEN, PT_BYE, PT_RR, PT_SDES, PT_SR, SDES_CNAME,
};

/// A datagram whose every packet passed validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compound<'a> {
    buf: &'a [u8],
}

/// Checks a whole datagram. Any malformed packet rejects it: its lengths can no longer be
/// trusted to find the packets after it.
pub fn parse(buf: &[u8]) -> Result<Compound<'_>, RtcpError> {
    if buf.is_empty() {
        return Err(RtcpError::Empty);
    }
    let mut offset = 0;
    while offset < buf.len() {
        offset = packet_at(buf, offset)?.1;
    }
    Ok(Compound { buf })
}

impl<'a> Compound<'a> {
    /// The packets we understand, in order; other types are skipped.
    pub fn packets(&self) -> Packets<'a> {
        Packets {
            buf: self.buf,
            offset: 0,
        }
    }

    /// The first sender report's SSRC and sender info: its NTP time becomes our next LSR.
    pub fn sender_info(&self) -> Option<(u32, SenderInfo)> {
        self.packets().find_map(|p| match p {
            Packet::SenderReport { ssrc, info, .. } => Some((ssrc, info)),
            _ => None,
        })
    }

    /// The report block a peer sent about `ssrc` (our stream), from an SR or an RR.
    pub fn report_about(&self, ssrc: u32) -> Option<ReportBlock> {
        self.packets().find_map(|p| match p {
            Packet::SenderReport { mut reports, .. }
            | Packet::ReceiverReport { mut reports, .. } => reports.find(|r| r.ssrc == ssrc),
            _ => None,
        })
    }

    /// The first CNAME and the source it names.
    pub fn cname(&self) -> Option<(u32, &'a [u8])> {
        self.packets().find_map(|p| match p {
            Packet::SourceDescription(mut items) => items
                .find(|item| item.kind == SDES_CNAME)
                .map(|item| (item.ssrc, item.value)),
            _ => None,
        })
    }

    /// Whether a BYE names `ssrc`: that source has left (§6.6).
    pub fn says_bye(&self, ssrc: u32) -> bool {
        self.packets().any(|p| match p {
            Packet::Bye { mut sources, .. } => sources.any(|s| s == ssrc),
            _ => false,
        })
    }
}

/// Iterator over the packets of a validated datagram.
#[derive(Clone, Debug)]
pub struct Packets<'a> {
    buf: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for Packets<'a> {
    type Item = Packet<'a>;

    fn next(&mut self) -> Option<Packet<'a>> {
        while self.offset < self.buf.len() {
            match packet_at(self.buf, self.offset) {
                Ok((packet, next)) => {
                    self.offset = next;
                    if packet.is_some() {
                        return packet;
                    }
                }
                // Cannot happen after `parse`; stop rather than loop or panic.
                Err(_) => self.offset = self.buf.len(),
            }
        }
        None
    }
}

/// The packet starting at `offset` (None for types we skip) and where the next one starts.
fn packet_at(buf: &[u8], offset: usize) -> Result<(Option<Packet<'_>>, usize), RtcpError> {
    let rest = buf.get(offset..).unwrap_or_default();
    let &[first, packet_type, len_hi, len_lo, ..] = rest else {
        return Err(RtcpError::Truncated {
            offset,
            available: rest.len(),
        });
    };
    let version = first >> 6;
    if version != 2 {
        return Err(RtcpError::Version { offset, version });
    }
    let count = usize::from(first & 0x1F);
    // Length is in 32-bit words minus one, header included (§6.4.1).
    let claimed = (usize::from(u16::from_be_bytes([len_hi, len_lo])) + 1) * 4;
    if claimed > rest.len() {
        return Err(RtcpError::Length {
            offset,
            claimed,
            available: rest.len(),
        });
    }
    let mut body = &rest[4..claimed];
    if first & 0x20 != 0 {
        // Only the last packet of a compound may be padded; the last octet counts the padding.
        let padding = |reason| RtcpError::Padding { offset, reason };
        if offset + claimed != buf.len() {
            return Err(padding("only the last packet may be padded"));
        }
        let pad = usize::from(*body.last().ok_or(padding("no room for a padding count"))?);
        if pad == 0 || pad > body.len() {
            return Err(padding("padding count does not fit the packet"));
        }
        body = &body[..body.len() - pad];
    }
    let malformed = |kind, reason| RtcpError::Malformed {
        offset,
        kind,
        reason,
    };
    let blocks_len = count * BLOCK_LEN;
    let packet = match packet_type {
        PT_SR => {
            let reports = body
                .get(24..24 + blocks_len)
                .ok_or(malformed("SR", "shorter than its report count says"))?;
            Some(Packet::SenderReport {
                ssrc: u32_at(body, 0),
                info: SenderInfo {
                    ntp: NtpTime((u64::from(u32_at(body, 4)) << 32) | u64::from(u32_at(body, 8))),
                    rtp_timestamp: u32_at(body, 12),
                    packet_count: u32_at(body, 16),
                    octet_count: u32_at(body, 20),
                },
                reports: ReportBlocks(reports),
            })
        }
        PT_RR => {
            let reports = body
                .get(4..4 + blocks_len)
                .ok_or(malformed("RR", "shorter than its report count says"))?;
            Some(Packet::ReceiverReport {
                ssrc: u32_at(body, 0),
                reports: ReportBlocks(reports),
            })
        }
        PT_SDES => {
            check_sdes(body, count).map_err(|reason| malformed("SDES", reason))?;
            Some(Packet::SourceDescription(SdesItems {
                body,
                chunks_left: count,
                current: None,
            }))
        }
        PT_BYE => {
            let sources = body
                .get(..count * 4)
                .ok_or(malformed("BYE", "shorter than its source count says"))?;
            let reason = match body.get(count * 4) {
                None => None,
                Some(&len) => Some(
                    body.get(count * 4 + 1..count * 4 + 1 + usize::from(len))
                        .ok_or(malformed("BYE", "reason longer than the packet"))?,
                ),
            };
            Some(Packet::Bye {
                sources: Sources(sources),
                reason,
            })
        }
        _ => None,
    };
    Ok((packet, offset + claimed))
}

/// Each chunk: an SSRC, items (type, length, text) up to a null octet, then zeros to the
/// next 32-bit boundary (§6.5).
fn check_sdes(body: &[u8], chunks: usize) -> Result<(), &'static str> {
    let mut at = 0;
    for _ in 0..chunks {
        if body.len() < at + 4 {
            return Err("fewer chunks than its source count says");
        }
        let mut item = at + 4;
        loop {
            match body.get(item) {
                None => return Err("item list not terminated"),
                Some(0) => break,
                Some(_) => {
                    let len = usize::from(*body.get(item + 1).ok_or("item cut short")?);
                    if item + 2 + len > body.len() {
                        return Err("item longer than the packet");
                    }
                    item += 2 + len;
                }
            }
        }
        at = (item + 4) & !3;
    }
    Ok(())
}
