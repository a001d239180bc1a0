//! Where a NAT router shows one of our UDP ports to the outside: an RFC 5389 Binding request
//! sent from that very socket, and the XOR-MAPPED-ADDRESS of the answer (`--stun`).
//!
//! Only the Binding request and its answers are spoken: no authentication, no FINGERPRINT,
//! no attribute we would not read. That is about a hundred lines with no crypto in them, so
//! they are written here rather than pulling in a STUN crate (those carry the ICE/TURN
//! machinery and its dependencies into a build that needs none of it).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// RFC 5389 §6: the fixed cookie in every message of this protocol generation.
const MAGIC_COOKIE: u32 = 0x2112_A442;
const HEADER_LEN: usize = 20;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const BINDING_ERROR: u16 = 0x0111;
const MAPPED_ADDRESS: u16 = 0x0001;
const ERROR_CODE: u16 = 0x0009;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;

/// The port a STUN server listens on unless told otherwise (RFC 5389 §9).
pub const DEFAULT_PORT: u16 = 3478;

/// First retransmission after this long, then doubling (RFC 5389 §7.2.1 suggests 500 ms; a
/// caller is waiting for our answer here, and a lost datagram on a working path is rare).
const FIRST_RTO: Duration = Duration::from_millis(250);
/// The whole lookup gives up after this: three requests (at 0, 250 and 750 ms) and a last
/// wait. A call should not ring longer because a STUN server is gone.
pub const LOOKUP_LIMIT: Duration = Duration::from_millis(1500);

pub type TransactionId = [u8; 12];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StunError {
    #[error("not a STUN message ({0})")]
    NotStun(&'static str),
    #[error("an answer to another request")]
    OtherTransaction,
    #[error("the STUN server refused the request ({code} {reason})")]
    Refused { code: u16, reason: String },
    #[error("the STUN answer carries no mapped address")]
    NoAddress,
    #[error("no answer from the STUN server {server} within {} ms", waited.as_millis())]
    Timeout {
        server: SocketAddr,
        waited: Duration,
    },
    #[error("cannot talk to the STUN server {server}: {reason}")]
    Io { server: SocketAddr, reason: String },
}

/// A Binding request with no attributes.
pub fn binding_request(id: &TransactionId) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[0..2].copy_from_slice(&BINDING_REQUEST.to_be_bytes());
    // Length 0: no attributes.
    out[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out[8..20].copy_from_slice(id);
    out
}

/// The mapped address in the answer to request `id`: XOR-MAPPED-ADDRESS, or the older
/// MAPPED-ADDRESS when a (RFC 3489-era) server sends only that.
pub fn parse_binding_answer(msg: &[u8], id: &TransactionId) -> Result<SocketAddr, StunError> {
    if msg.len() < HEADER_LEN {
        return Err(StunError::NotStun("shorter than a STUN header"));
    }
    let kind = u16::from_be_bytes([msg[0], msg[1]]);
    let len = usize::from(u16::from_be_bytes([msg[2], msg[3]]));
    if kind & 0xC000 != 0 || msg[4..8] != MAGIC_COOKIE.to_be_bytes() {
        return Err(StunError::NotStun("no magic cookie"));
    }
    if len % 4 != 0 || HEADER_LEN + len > msg.len() {
        return Err(StunError::NotStun("bad message length"));
    }
    if msg[8..20] != id[..] {
        return Err(StunError::OtherTransaction);
    }
    let mut mapped = None;
    let mut xor_mapped = None;
    let mut error = None;
    let mut rest = &msg[HEADER_LEN..HEADER_LEN + len];
    while rest.len() >= 4 {
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let Some(value) = rest.get(4..4 + len) else {
            return Err(StunError::NotStun("attribute runs past the message"));
        };
        match kind {
            XOR_MAPPED_ADDRESS => xor_mapped = address(value, Some(id)),
            MAPPED_ADDRESS => mapped = address(value, None),
            ERROR_CODE if value.len() >= 4 => {
                let code = u16::from(value[2] & 0x07) * 100 + u16::from(value[3]);
                let reason = String::from_utf8_lossy(&value[4..]).into_owned();
                error = Some((code, reason));
            }
            _ => {}
        }
        // Values are padded to a multiple of four (RFC 5389 §15).
        let padded = 4 + len.div_ceil(4) * 4;
        rest = rest.get(padded..).unwrap_or_default();
    }
    match kind {
        BINDING_SUCCESS => xor_mapped.or(mapped).ok_or(StunError::NoAddress),
        BINDING_ERROR => {
            let (code, reason) = error.unwrap_or((0, "no ERROR-CODE".into()));
            let reason: String = reason
                .chars()
                .filter(|c| !c.is_control())
                .take(80)
                .collect();
            Err(StunError::Refused { code, reason })
        }
        _ => Err(StunError::NotStun("not a Binding answer")),
    }
}

/// A (XOR-)MAPPED-ADDRESS value (RFC 5389 §15.1, §15.2). With `xor`, port and address are
/// XORed with the cookie (and, for IPv6, the transaction id) so that routers rewriting
/// addresses inside payloads leave them alone.
fn address(value: &[u8], xor: Option<&TransactionId>) -> Option<SocketAddr> {
    let family = *value.get(1)?;
    let mut port = u16::from_be_bytes([*value.get(2)?, *value.get(3)?]);
    let mut key = [0u8; 16];
    key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    if let Some(id) = xor {
        port ^= (MAGIC_COOKIE >> 16) as u16;
        key[4..].copy_from_slice(id);
    }
    let ip = match family {
        0x01 => {
            let mut a: [u8; 4] = value.get(4..8)?.try_into().ok()?;
            if xor.is_some() {
                a.iter_mut().zip(key).for_each(|(b, k)| *b ^= k);
            }
            IpAddr::V4(Ipv4Addr::from(a))
        }
        0x02 => {
            let mut a: [u8; 16] = value.get(4..20)?.try_into().ok()?;
            if xor.is_some() {
                a.iter_mut().zip(key).for_each(|(b, k)| *b ^= k);
            }
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// What a lookup found, and how long it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub public: SocketAddr,
    pub took: Duration,
}

/// Asks `server` where it sees `socket`, retransmitting on a doubling timer and giving up
/// after [`LOOKUP_LIMIT`]. Datagrams that are not the answer (early RTP from a peer, stray
/// STUN) are read and dropped: media has not started on this socket yet.
pub async fn discover(socket: &UdpSocket, server: SocketAddr) -> Result<Mapping, StunError> {
    let id: TransactionId = rand::random();
    let request = binding_request(&id);
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + LOOKUP_LIMIT;
    let io = |e: std::io::Error| StunError::Io {
        server,
        reason: e.to_string(),
    };
    let mut rto = FIRST_RTO;
    let mut buf = [0u8; 576];
    loop {
        socket.send_to(&request, server).await.map_err(io)?;
        let resend_at = (tokio::time::Instant::now() + rto).min(deadline);
        rto *= 2;
        loop {
            let received =
                match tokio::time::timeout_at(resend_at, socket.recv_from(&mut buf)).await {
                    Err(_) => break,
                    Ok(received) => received,
                };
            let (len, from) = match received {
                Ok(got) => got,
                // ICMP unreachable from an earlier send shows up here: wait for the timer.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(io(e)),
            };
            if from != server {
                continue;
            }
            match parse_binding_answer(&buf[..len], &id) {
                Ok(public) => {
                    return Ok(Mapping {
                        public,
                        took: started.elapsed(),
                    })
                }
                Err(e @ StunError::Refused { .. }) => return Err(e),
                Err(_) => continue,
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StunError::Timeout {
                server,
                waited: LOOKUP_LIMIT,
            });
        }
    }
}

#[cfg(test)]
mod tests;
