//! The soak's tools: a stranger that floods sipterm's SIP and RTP ports with mutated
//! datagrams (seeded, so a failure can be replayed), and a process's RSS and open files.
//!
//! Every datagram goes to 127.0.0.1, and none can send sipterm elsewhere: the lines that carry
//! an address (Request-URI, Via, Contact, SDP `o=`/`c=`) are never mutated, only kept whole or
//! cut off whole, so whatever sipterm answers or sends goes back to loopback.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What /proc says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessFigures {
    /// Resident set (`VmRSS` in /proc/PID/status).
    pub rss_kib: u64,
    /// Entries in /proc/PID/fd.
    pub fds: usize,
}

/// The figures of `pid` now; panics if it has gone.
pub fn process_figures(pid: u32) -> ProcessFigures {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("process {pid} has gone: {e}"));
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for process {pid}"));
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("cannot list the open files of {pid}: {e}"))
        .count();
    ProcessFigures { rss_kib, fds }
}

/// Where and how hard to flood.
#[derive(Debug, Clone)]
pub struct FloodPlan {
    pub sip: SocketAddr,
    /// The live call's RTP port; a quarter of the media datagrams go to the port above (RTCP).
    pub rtp: SocketAddr,
    pub duration: Duration,
    /// Datagrams a second, SIP and RTP alternating, on an absolute schedule.
    pub per_second: u32,
    pub seed: u64,
}

/// What a flood did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flooded {
    pub sip: u64,
    pub rtp: u64,
    /// Datagrams that came back to the stranger (sipterm's responses).
    pub answers: u64,
    pub elapsed: Duration,
}

/// Sends mutated datagrams from one socket on 127.0.0.1 for `plan.duration`; blocks.
pub fn flood(plan: &FloodPlan) -> Flooded {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the stranger's socket");
    socket.set_nonblocking(true).unwrap();
    let from = socket.local_addr().unwrap();
    let mut mutator = Mutator::new(plan.seed, from, plan.sip);
    let rtcp = SocketAddr::new(plan.rtp.ip(), plan.rtp.port() + 1);
    let mut done = Flooded::default();
    let start = Instant::now();
    let period = Duration::from_secs(1) / plan.per_second.max(1);
    let mut buffer = vec![0u8; 65_536];
    for n in 0u32.. {
        let due = start + period * n;
        if due.duration_since(start) >= plan.duration {
            break;
        }
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // A full socket buffer or an ICMP error from a closed port is not the test's concern.
        if n % 2 == 0 {
            let _ = socket.send_to(&mutator.sip(), plan.sip);
            done.sip += 1;
        } else {
            let to = if mutator.rng.random_ratio(1, 4) {
                rtcp
            } else {
                plan.rtp
            };
            let _ = socket.send_to(&mutator.rtp(), to);
            done.rtp += 1;
        }
        while socket.recv_from(&mut buffer).is_ok() {
            done.answers += 1;
        }
    }
    done.elapsed = start.elapsed();
    done
}

/// Makes the datagrams: SIP requests (and a stray response) built fresh each time, then
/// mutated one or more ways; RTP and RTCP-looking packets with wrong or broken fields.
pub struct Mutator {
    pub rng: StdRng,
    from: SocketAddr,
    to: SocketAddr,
    serial: u64,
}

const METHODS: [&str; 8] = [
    "INVITE", "REINVITE", "BYE", "INFO", "OPTIONS", "CANCEL", "ACK", "RESPONSE",
];

impl Mutator {
    pub fn new(seed: u64, from: SocketAddr, to: SocketAddr) -> Mutator {
        Mutator {
            rng: StdRng::seed_from_u64(seed),
            from,
            to,
            serial: 0,
        }
    }

    /// One SIP datagram: a real-looking message, then mutated (or, once in ten, left valid).
    pub fn sip(&mut self) -> Vec<u8> {
        let kind = METHODS[self.rng.random_range(0..METHODS.len())];
        let mut message = self.message(kind);
        let rounds = match self.rng.random_range(0..10) {
            0 => 0,
            1..=6 => 1,
            _ => 2,
        };
        for _ in 0..rounds {
            message = self.mutate(message);
        }
        message
    }

    fn message(&mut self, kind: &str) -> Vec<u8> {
        self.serial += 1;
        let n = self.serial;
        let tag: u32 = self.rng.random();
        let (to, from) = (self.to, self.from);
        // An offer sipterm cannot take (G.729 only): a valid INVITE is refused with 488
        // rather than answered, so the flood does not turn into hundreds of real calls.
        let sdp = format!(
            "v=0\r\no=fuzz {n} {n} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 18 101\r\na=rtpmap:18 G729/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n",
            from.port()
        );
        let (start, method, to_tag, body, content_type) = match kind {
            "INVITE" => (
                format!("INVITE sip:alice@{to} SIP/2.0"),
                "INVITE",
                String::new(),
                sdp,
                "application/sdp",
            ),
            "REINVITE" => (
                format!("INVITE sip:alice@{to} SIP/2.0"),
                "INVITE",
                format!(";tag=t{tag}"),
                sdp.replace("a=sendrecv", "a=sendonly"),
                "application/sdp",
            ),
            "INFO" => (
                format!("INFO sip:alice@{to} SIP/2.0"),
                "INFO",
                format!(";tag=t{tag}"),
                "Signal=5\r\nDuration=160\r\n".into(),
                "application/dtmf-relay",
            ),
            "RESPONSE" => (
                "SIP/2.0 200 OK".into(),
                "INVITE",
                format!(";tag=t{tag}"),
                sdp,
                "application/sdp",
            ),
            other => (
                format!("{other} sip:alice@{to} SIP/2.0"),
                other,
                if other == "BYE" {
                    format!(";tag=t{tag}")
                } else {
                    String::new()
                },
                String::new(),
                "",
            ),
        };
        let mut text = format!(
            "{start}\r\n\
             Via: SIP/2.0/UDP {from};branch=z9hG4bK{n}x{tag};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:fuzz@fuzz.invalid>;tag=f{tag}\r\n\
             To: <sip:alice@fuzz.invalid>{to_tag}\r\n\
             Call-ID: soak-{n}-{tag}\r\n\
             CSeq: {} {method}\r\n\
             Contact: <sip:fuzz@{from}>\r\n\
             Subject: soak {n}\r\n\
             User-Agent: sipterm-soak\r\n",
            n % 100_000 + 1
        );
        if !content_type.is_empty() {
            text.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        text.into_bytes()
    }

    fn mutate(&mut self, mut m: Vec<u8>) -> Vec<u8> {
        if m.is_empty() {
            // An earlier round cut it all away.
            return (0..self.rng.random_range(1..100))
                .map(|_| self.rng.random())
                .collect();
        }
        let protected = protected_ranges(&m);
        match self.rng.random_range(0..9) {
            // Flipped bytes, anywhere but the address lines.
            0 | 1 => {
                for _ in 0..self.rng.random_range(1..=8) {
                    let at = self.rng.random_range(0..m.len());
                    if !inside(&protected, at) {
                        m[at] ^= 1 << self.rng.random_range(0..8);
                    }
                }
            }
            // Truncated: cut before an address line rather than inside it.
            2 => {
                let mut at = self.rng.random_range(0..m.len());
                if let Some(r) = protected.iter().find(|r| r.contains(&at)) {
                    at = r.start;
                }
                m.truncate(at);
            }
            // A header line repeated, up to a few hundred times.
            3 => {
                let lines = header_lines(&m, &protected);
                if let Some(&(s, e)) = lines.get(self.rng.random_range(0..lines.len().max(1))) {
                    let line = m[s..e].to_vec();
                    let times = self.rng.random_range(1..300);
                    let repeated: Vec<u8> = std::iter::repeat_n(line, times).flatten().collect();
                    m.splice(e..e, repeated);
                }
            }
            // A huge value: a long header, or numbers out of range.
            4 => {
                let huge = match self.rng.random_range(0..4) {
                    0 => format!(
                        "Subject: {}\r\n",
                        "x".repeat(self.rng.random_range(1000..60_000))
                    ),
                    1 => "CSeq: 99999999999999999999999 INVITE\r\n".into(),
                    2 => "Max-Forwards: 4294967296\r\n".into(),
                    _ => format!("Content-Length: {}\r\n", u64::MAX),
                };
                let at = first_header_end(&m);
                let huge = &huge.as_bytes()[..huge.len().min(60_000)];
                m.splice(at..at, huge.iter().copied());
            }
            // Garbage SDP: the body replaced with random bytes or shuffled SDP lines.
            5 => {
                if let Some(body) = find(&m, b"\r\n\r\n").map(|i| i + 4) {
                    m.truncate(body);
                    let len = self.rng.random_range(0..1400);
                    if self.rng.random_bool(0.5) {
                        m.extend((0..len).map(|_| self.rng.random::<u8>()));
                    } else {
                        for _ in 0..len / 20 {
                            let line = SDP_JUNK[self.rng.random_range(0..SDP_JUNK.len())];
                            m.extend_from_slice(line.as_bytes());
                        }
                    }
                }
            }
            // Content-Length that lies.
            6 => {
                let claim = self.rng.random_range(0..5000u32).to_string();
                if let Some(at) = find(&m, b"Content-Length: ") {
                    let start = at + 16;
                    let end = start + m[start..].iter().take_while(|b| b.is_ascii_digit()).count();
                    m.splice(start..end, claim.bytes());
                }
            }
            // Bytes that are not UTF-8 (or not text) inside a header.
            7 => {
                let at = first_header_end(&m);
                let junk: Vec<u8> = (0..self.rng.random_range(1..64))
                    .map(|_| self.rng.random_range(0x80..=0xff))
                    .chain(*b"\r\n")
                    .collect();
                m.splice(at..at, [b"X-Junk: ".as_slice(), &junk].concat());
            }
            // Not SIP at all.
            _ => {
                let len = self.rng.random_range(0..2000);
                m = (0..len).map(|_| self.rng.random()).collect();
            }
        }
        m
    }

    /// One media datagram: RTP with wrong or broken fields, RTCP-looking junk, or noise.
    pub fn rtp(&mut self) -> Vec<u8> {
        let pt: u8 = match self.rng.random_range(0..6) {
            0 => 0,
            1 => 8,
            2 => 101,
            3 => self.rng.random_range(72..=76), // where RTCP's 200..204 land with the M bit
            _ => self.rng.random_range(0..128),
        };
        let mut p = vec![0x80, pt | if self.rng.random_bool(0.1) { 0x80 } else { 0 }];
        p.extend(self.rng.random::<u16>().to_be_bytes());
        p.extend(self.rng.random::<u32>().to_be_bytes());
        p.extend(self.rng.random::<u32>().to_be_bytes()); // an SSRC nobody negotiated
        let payload = self.rng.random_range(0..400);
        p.extend((0..payload).map(|_| self.rng.random::<u8>()));
        match self.rng.random_range(0..8) {
            0 => p[0] = self.rng.random(), // any version, flags, CSRC count
            1 => p[0] = 0x8f,              // 15 CSRCs that are not there
            2 => p[0] = 0x90,              // an extension of random length
            3 => p[0] = 0xa0,              // padding that may exceed the packet
            4 => p.truncate(self.rng.random_range(0..12)), // shorter than a header
            5 => p[1] = self.rng.random_range(200..=204), // an RTCP packet type
            6 => {
                p = (0..self.rng.random_range(0..1500))
                    .map(|_| self.rng.random())
                    .collect()
            }
            _ => {} // well formed, from a stranger
        }
        p
    }
}

const SDP_JUNK: [&str; 10] = [
    "v=0\r\n",
    "m=audio 0 RTP/AVP\r\n",
    "m=audio 99999 RTP/AVP 0 8 101 256 -1\r\n",
    "a=rtpmap:0 PCMU/0\r\n",
    "a=rtpmap:101 telephone-event/4294967296\r\n",
    "a=fmtp:101 0-99999\r\n",
    "a=sendonly\r\na=recvonly\r\n",
    "b=AS:-1\r\n",
    "a=ptime:0\r\n",
    "t=x y\r\n",
];

/// Byte ranges of the lines that name an address (they hold 127.0.0.1), ends included.
fn protected_ranges(m: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for (i, &b) in m.iter().enumerate() {
        if b == b'\n' || i + 1 == m.len() {
            let line = &m[start..=i];
            if find(line, b"127.0.0.1").is_some() {
                ranges.push(start..i + 1);
            }
            start = i + 1;
        }
    }
    ranges
}

fn inside(ranges: &[std::ops::Range<usize>], at: usize) -> bool {
    ranges.iter().any(|r| r.contains(&at))
}

/// (start, end) of each header line (with its CRLF) that is not protected.
fn header_lines(m: &[u8], protected: &[std::ops::Range<usize>]) -> Vec<(usize, usize)> {
    let end = find(m, b"\r\n\r\n").unwrap_or(m.len());
    let mut lines = Vec::new();
    let mut start = match find(m, b"\r\n") {
        Some(i) => i + 2,
        None => return lines,
    };
    while start < end {
        let stop = find(&m[start..], b"\r\n").map_or(m.len(), |i| start + i + 2);
        if !inside(protected, start) {
            lines.push((start, stop));
        }
        start = stop;
    }
    lines
}

/// Just after the start line (where a new header can go).
fn first_header_end(m: &[u8]) -> usize {
    find(m, b"\r\n").map_or(m.len(), |i| i + 2)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
