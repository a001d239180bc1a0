//! Classic pcap files (what `dumpcap -P` writes) to UDP datagrams, in plain Rust.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

/// One UDP datagram from a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpDatagram {
    /// Capture time since the Unix epoch.
    pub time: Duration,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: Vec<u8>,
}

/// Reads the UDP-over-IPv4 datagrams of a classic pcap file (µs or ns, either byte order;
/// link types Ethernet, Linux cooked SLL and SLL2, BSD loopback, raw IP). A file cut short
/// by a capture still running yields the whole records before the cut.
pub fn read_pcap(path: &Path) -> std::io::Result<Vec<UdpDatagram>> {
    parse_pcap(&std::fs::read(path)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Parses classic pcap bytes; see [`read_pcap`].
pub fn parse_pcap(data: &[u8]) -> Result<Vec<UdpDatagram>, String> {
    if data.len() < 24 {
        return Ok(Vec::new());
    }
    let magic = [data[0], data[1], data[2], data[3]];
    let (little, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => {
            return Err(format!(
                "not a classic pcap file (magic {magic:02x?}); pcapng?"
            ))
        }
    };
    let u32_at = |b: &[u8], at: usize| {
        let raw = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        }
    };
    let link_type = u32_at(data, 20) & 0x0fff_ffff;
    let mut datagrams = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let secs = u32_at(data, at);
        let frac = u32_at(data, at + 4);
        let caplen = u32_at(data, at + 8) as usize;
        let start = at + 16;
        if start + caplen > data.len() {
            break;
        }
        let frame = &data[start..start + caplen];
        at = start + caplen;
        let time = Duration::from_secs(u64::from(secs))
            + if nanos {
                Duration::from_nanos(u64::from(frac))
            } else {
                Duration::from_micros(u64::from(frac))
            };
        if let Some(ip) = ipv4_of_frame(link_type, frame, little) {
            if let Some((src, dst, payload)) = udp_of_ipv4(ip) {
                datagrams.push(UdpDatagram {
                    time,
                    src,
                    dst,
                    payload: payload.to_vec(),
                });
            }
        }
    }
    Ok(datagrams)
}

/// The IPv4 packet inside a link-layer frame, if it carries one.
fn ipv4_of_frame(link_type: u32, frame: &[u8], little: bool) -> Option<&[u8]> {
    const ETH_IPV4: u16 = 0x0800;
    let ethertype_at = |at: usize| Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]));
    let ip = match link_type {
        // DLT_EN10MB (what libpcap gives for "lo"), with optional 802.1Q tags.
        1 => {
            let mut at = 12;
            let mut ethertype = ethertype_at(at)?;
            while ethertype == 0x8100 || ethertype == 0x88a8 {
                at += 4;
                ethertype = ethertype_at(at)?;
            }
            (ethertype == ETH_IPV4).then(|| frame.get(at + 2..))??
        }
        // DLT_LINUX_SLL ("any"): protocol at 14, header 16 bytes.
        113 => (ethertype_at(14)? == ETH_IPV4).then(|| frame.get(16..))??,
        // DLT_LINUX_SLL2: protocol at 0, header 20 bytes.
        276 => (ethertype_at(0)? == ETH_IPV4).then(|| frame.get(20..))??,
        // DLT_NULL: 4-byte address family in the capturing host's byte order.
        0 => {
            let raw = [
                *frame.first()?,
                *frame.get(1)?,
                *frame.get(2)?,
                *frame.get(3)?,
            ];
            let family = if little {
                u32::from_le_bytes(raw)
            } else {
                u32::from_be_bytes(raw)
            };
            (family == 2).then(|| frame.get(4..))??
        }
        // DLT_RAW (12 on some systems, 101 as LINKTYPE_RAW) and LINKTYPE_IPV4.
        12 | 101 | 228 => frame,
        _ => return None,
    };
    (ip.first()? >> 4 == 4).then_some(ip)
}

/// (source, destination, payload) of a UDP-in-IPv4 packet that is not a later fragment.
fn udp_of_ipv4(ip: &[u8]) -> Option<(SocketAddrV4, SocketAddrV4, &[u8])> {
    let header_len = usize::from(ip.first()? & 0x0f) * 4;
    if header_len < 20 || ip.len() < header_len + 8 || ip[9] != 17 {
        return None;
    }
    let fragment_offset = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff;
    if fragment_offset != 0 {
        return None;
    }
    let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]])).clamp(header_len + 8, ip.len());
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let udp = &ip[header_len..total_len];
    let src_port = u16::from_be_bytes([udp[0], udp[1]]);
    let dst_port = u16::from_be_bytes([udp[2], udp[3]]);
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]])).clamp(8, udp.len());
    Some((
        SocketAddrV4::new(src_ip, src_port),
        SocketAddrV4::new(dst_ip, dst_port),
        &udp[8..udp_len],
    ))
}

/// Classic pcap bytes (µs timestamps, little-endian, Ethernet link type) holding each
/// datagram as Ethernet/IPv4/UDP with valid IP and UDP checksums: the kind of file sipp's
/// `play_pcap_audio` replays (it keeps the payloads and the timing, and sends them from its
/// media port to the peer's, whatever addresses the file holds).
pub fn pcap_bytes(datagrams: &[UdpDatagram]) -> Vec<u8> {
    let mut file = Vec::new();
    file.extend(0xa1b2_c3d4u32.to_le_bytes());
    file.extend(2u16.to_le_bytes());
    file.extend(4u16.to_le_bytes());
    file.extend(0i32.to_le_bytes()); // thiszone
    file.extend(0u32.to_le_bytes()); // sigfigs
    file.extend(65535u32.to_le_bytes()); // snaplen
    file.extend(1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (id, datagram) in datagrams.iter().enumerate() {
        let frame = ethernet_frame(datagram, id as u16);
        file.extend((datagram.time.as_secs() as u32).to_le_bytes());
        file.extend(datagram.time.subsec_micros().to_le_bytes());
        file.extend((frame.len() as u32).to_le_bytes());
        file.extend((frame.len() as u32).to_le_bytes());
        file.extend(frame);
    }
    file
}

/// Writes [`pcap_bytes`] to `path`.
pub fn write_pcap(path: &Path, datagrams: &[UdpDatagram]) -> std::io::Result<()> {
    std::fs::write(path, pcap_bytes(datagrams))
}

fn ethernet_frame(datagram: &UdpDatagram, id: u16) -> Vec<u8> {
    let udp_len = 8 + datagram.payload.len();
    let total_len = 20 + udp_len;
    assert!(total_len <= 65535, "datagram too large for IPv4");
    let (src, dst) = (datagram.src.ip().octets(), datagram.dst.ip().octets());
    let mut ip = vec![0x45, 0];
    ip.extend((total_len as u16).to_be_bytes());
    ip.extend(id.to_be_bytes());
    ip.extend([0x40, 0]); // don't fragment
    ip.extend([64, 17, 0, 0]); // TTL, UDP, checksum (below)
    ip.extend(src);
    ip.extend(dst);
    let checksum = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());

    let mut udp = Vec::with_capacity(udp_len);
    udp.extend(datagram.src.port().to_be_bytes());
    udp.extend(datagram.dst.port().to_be_bytes());
    udp.extend((udp_len as u16).to_be_bytes());
    udp.extend([0, 0]);
    udp.extend(&datagram.payload);
    let mut pseudo = Vec::with_capacity(12 + udp.len());
    pseudo.extend(src);
    pseudo.extend(dst);
    pseudo.extend([0, 17]);
    pseudo.extend((udp_len as u16).to_be_bytes());
    pseudo.extend(&udp);
    let checksum = match internet_checksum(&pseudo) {
        0 => 0xffff, // RFC 768: a computed zero is sent as all ones
        c => c,
    };
    udp[6..8].copy_from_slice(&checksum.to_be_bytes());

    // Locally administered MACs; the addresses of a loopback frame do not matter.
    let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    frame.extend(ip);
    frame.extend(udp);
    frame
}

/// RFC 1071 one's-complement checksum.
fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Which end of a call a SIP port is, for [`invite_to_200`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// The INVITE leaves this port and its 200 arrives there.
    Caller,
    /// The INVITE arrives at this port and its 200 leaves it.
    Callee,
}

/// Per call (paired by Call-ID), the time from the first INVITE to the first 200 for it, as
/// seen at `port`.
pub fn invite_to_200(datagrams: &[UdpDatagram], port: u16, end: CallEnd) -> Vec<Duration> {
    use std::collections::HashMap;
    let mut invites: HashMap<String, Duration> = HashMap::new();
    let mut answers: HashMap<String, Duration> = HashMap::new();
    for d in datagrams {
        let text = String::from_utf8_lossy(&d.payload);
        let Some(call_id) = sip_header(&text, "call-id") else {
            continue;
        };
        let (out, inbound) = (d.src.port() == port, d.dst.port() == port);
        let (invite_here, answer_here) = match end {
            CallEnd::Caller => (out, inbound),
            CallEnd::Callee => (inbound, out),
        };
        let answers_invite = sip_header(&text, "cseq").is_some_and(|c| c.ends_with("INVITE"));
        if invite_here && text.starts_with("INVITE ") {
            invites.entry(call_id).or_insert(d.time);
        } else if answer_here && text.starts_with("SIP/2.0 200") && answers_invite {
            answers.entry(call_id).or_insert(d.time);
        }
    }
    invites
        .iter()
        .filter_map(|(id, sent)| answers.get(id).map(|got| got.saturating_sub(*sent)))
        .collect()
}

/// A SIP header's value (the first with that name, case-insensitive).
pub fn sip_header(message: &str, name: &str) -> Option<String> {
    message.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}
