//! RTP capture on the loopback interface with dumpcap (file parsed by `pcap.rs`).
//!
//! `RtpCapture::start(port)` records every UDP datagram sent to 127.0.0.1:<port>, whether or
//! not anything listens there (so it also sees what arrives at a sipp media port).
//!
//! libpcap on Linux hands packets to dumpcap in blocks (TPACKET_V3) with a timeout, so the
//! file lags the wire by up to about a second, and a plain SIGINT loses the last block.
//! Hence probes: a datagram to a port of our own marks "everything before this is on the
//! wire"; we wait until the marker shows up in the file before reading or stopping.

use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::audio::decode_g711;
pub use super::pcap::{parse_pcap, read_pcap, UdpDatagram};
use super::ports::{ScratchDir, LOCALHOST};
use super::process::{require_tool, tail, wait_until, ChildGuard};

const PROBE: &[u8] = b"sipterm-capture-probe";
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// One RTP packet (RFC 3550) from a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub marker: bool,
    pub csrc: Vec<u32>,
    /// Payload without header, CSRCs, extension or padding.
    pub payload: Vec<u8>,
    pub time: Duration,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
}

/// Which datagrams a capture keeps (besides its own probes).
#[derive(Debug, Clone)]
enum Selection {
    /// Sent to 127.0.0.1 at one of these ports.
    To(RangeInclusive<u16>),
    /// Sent from one of these ports to 127.0.0.1:`to` (one side of many calls to one peer).
    FromTo(RangeInclusive<u16>, u16),
}

impl Selection {
    fn keeps(&self, d: &UdpDatagram) -> bool {
        match self {
            Selection::To(ports) => ports.contains(&d.dst.port()),
            Selection::FromTo(from, to) => from.contains(&d.src.port()) && d.dst.port() == *to,
        }
    }

    fn bpf(&self) -> String {
        match self {
            Selection::To(ports) => format!("dst portrange {}-{}", ports.start(), ports.end()),
            Selection::FromTo(from, to) => format!(
                "(src portrange {}-{} and dst port {to})",
                from.start(),
                from.end()
            ),
        }
    }
}

/// A running dumpcap; stopped on drop (`stop()` to get the packets).
#[derive(Debug)]
pub struct RtpCapture {
    child: ChildGuard,
    ports: RangeInclusive<u16>,
    selection: Selection,
    probe: UdpSocket,
    probe_port: u16,
    markers: u32,
    file: PathBuf,
    dir: ScratchDir,
}

impl RtpCapture {
    /// Starts capturing UDP to 127.0.0.1:`port` and returns once packets are being recorded
    /// (proved by a probe datagram sent to a port of our own, which `stop()` leaves out).
    pub fn start(port: u16) -> RtpCapture {
        RtpCapture::start_range(port..=port)
    }

    /// Like `start`, for every port in `ports` (e.g. sipterm's `--rtp-ports`, when the
    /// port it will pick is not known in advance).
    pub fn start_range(ports: RangeInclusive<u16>) -> RtpCapture {
        RtpCapture::start_selection(Selection::To(ports), &[])
    }

    /// For load runs: every datagram sent from a port in `from` to 127.0.0.1:`to` (what a UA
    /// sends to sipp's one media port in all its calls), keeping only the first `snaplen`
    /// bytes of each frame (96 holds the RTP header and the probes) and giving dumpcap a
    /// kernel buffer of `buffer_mb` MB so a burst of tens of thousands of packets a second
    /// is not dropped before it is written.
    pub fn start_sent_from(
        from: RangeInclusive<u16>,
        to: u16,
        snaplen: u32,
        buffer_mb: u32,
    ) -> RtpCapture {
        let (snaplen, buffer_mb) = (snaplen.to_string(), buffer_mb.to_string());
        RtpCapture::start_selection(
            Selection::FromTo(from, to),
            &["-s", &snaplen, "-B", &buffer_mb],
        )
    }

    fn start_selection(selection: Selection, extra_args: &[&str]) -> RtpCapture {
        require_tool("dumpcap");
        let ports = match &selection {
            Selection::To(ports) | Selection::FromTo(ports, _) => ports.clone(),
        };
        let (first, last) = (*ports.start(), *ports.end());
        assert!(first <= last, "empty capture port range {first}-{last}");
        let dir = ScratchDir::new(&format!("capture-{first}"));
        let file = dir.join("capture.pcap");
        // Bound for the capture's lifetime so nothing else gets the probes.
        let probe = UdpSocket::bind((LOCALHOST, 0)).expect("bind the capture probe socket");
        let probe_port = probe.local_addr().expect("probe address").port();
        let filter = format!(
            "udp and dst host 127.0.0.1 and ({} or dst port {probe_port})",
            selection.bpf()
        );
        let mut command = Command::new("dumpcap");
        command
            .args(["-i", "lo", "-f", &filter, "-P", "-q"])
            .args(extra_args)
            .arg("-w")
            .arg(&file)
            .current_dir(dir.path());
        let child = ChildGuard::spawn("dumpcap", command, dir.path());
        let mut capture = RtpCapture {
            child,
            ports,
            selection,
            probe,
            probe_port,
            markers: 0,
            file,
            dir,
        };
        if !capture.sync(START_TIMEOUT) || !capture.child.is_running() {
            let log = capture.child.stderr();
            capture.child.stop();
            panic!(
                "dumpcap did not start capturing on lo (needs root or CAP_NET_RAW):\n{}",
                tail(&log, 20)
            );
        }
        capture
    }

    /// The (first) port captured.
    pub fn port(&self) -> u16 {
        *self.ports.start()
    }

    /// The scratch dir holding the pcap file and dumpcap's output.
    pub fn dir(&self) -> &ScratchDir {
        &self.dir
    }

    /// Path of the pcap file (it lives as long as this capture).
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Sends a marker to the probe port until it appears in the file (re-sending every
    /// 100 ms in case the first went out before the capture did); false on timeout or if
    /// dumpcap died. Afterwards the file holds everything sent to `port` before the call.
    fn sync(&mut self, timeout: Duration) -> bool {
        self.markers += 1;
        // The trailing dot keeps marker 1 from matching inside marker 10.
        let marker = format!("{}-{}.", String::from_utf8_lossy(PROBE), self.markers);
        let mut last_send: Option<std::time::Instant> = None;
        // The file only grows, and the marker is unique: look for its bytes in what was
        // written since now (parsing the whole file each time costs seconds in a load run).
        let from = std::fs::metadata(&self.file).map_or(0, |m| m.len());
        wait_until(timeout, || {
            if !self.child.is_running() {
                return true;
            }
            if last_send.is_none_or(|t| t.elapsed() >= Duration::from_millis(100)) {
                let _ = self
                    .probe
                    .send_to(marker.as_bytes(), (LOCALHOST, self.probe_port));
                last_send = Some(std::time::Instant::now());
            }
            read_from(&self.file, from).is_some_and(|tail| contains(&tail, marker.as_bytes()))
        }) && self.child.is_running()
    }

    /// The datagrams to the captured port(s) so far (waits for the file to catch up, up to 10 s).
    pub fn datagrams_so_far(&mut self) -> Vec<UdpDatagram> {
        self.sync(Duration::from_secs(10));
        self.filter(read_pcap(&self.file).unwrap_or_default())
    }

    /// The RTP packets to the captured port(s) so far.
    pub fn packets_so_far(&mut self) -> Vec<RtpPacket> {
        self.datagrams_so_far()
            .iter()
            .filter_map(parse_rtp)
            .collect()
    }

    /// Stops dumpcap and returns every UDP datagram sent to the captured port(s).
    pub fn stop_datagrams(mut self) -> Vec<UdpDatagram> {
        if !self.sync(Duration::from_secs(10)) {
            eprintln!(
                "warning: capture on ports {:?} did not catch up; the last packets may be missing",
                self.ports
            );
        }
        // SIGINT makes dumpcap finish the file cleanly.
        self.child.interrupt();
        if self.child.wait_timeout(Duration::from_secs(5)).is_none() {
            self.child.stop();
        }
        let datagrams = read_pcap(&self.file).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e}\ndumpcap: {}",
                self.file.display(),
                self.child.stderr()
            )
        });
        self.filter(datagrams)
    }

    /// Stops dumpcap and returns the RTP packets sent to the captured port(s), in capture order
    /// (non-RTP datagrams and RTCP are left out).
    pub fn stop(self) -> Vec<RtpPacket> {
        self.stop_datagrams().iter().filter_map(parse_rtp).collect()
    }

    fn filter(&self, datagrams: Vec<UdpDatagram>) -> Vec<UdpDatagram> {
        datagrams
            .into_iter()
            .filter(|d| self.selection.keeps(d) && d.dst.port() != self.probe_port)
            .collect()
    }
}

/// The bytes of `file` from `offset` on.
fn read_from(file: &Path, offset: u64) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(file).ok()?;
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The audio of the first SSRC seen with a G.711 payload type (0 or 8), decoded in capture
/// order; other streams and payload types (telephone-event, ...) are ignored.
pub fn decode_audio(packets: &[RtpPacket]) -> Vec<i16> {
    let Some(first) = packets
        .iter()
        .find(|p| p.payload_type == 0 || p.payload_type == 8)
    else {
        return Vec::new();
    };
    packets
        .iter()
        .filter(|p| p.ssrc == first.ssrc)
        .filter_map(|p| decode_g711(p.payload_type, &p.payload))
        .flatten()
        .collect()
}

/// Parses an RTP packet from a datagram; `None` if it is not RTP version 2 or is RTCP.
pub fn parse_rtp(datagram: &UdpDatagram) -> Option<RtpPacket> {
    let b = &datagram.payload;
    if b.len() < 12 || b[0] >> 6 != 2 {
        return None;
    }
    let padding = b[0] & 0x20 != 0;
    let extension = b[0] & 0x10 != 0;
    let csrc_count = usize::from(b[0] & 0x0f);
    let marker = b[1] & 0x80 != 0;
    let payload_type = b[1] & 0x7f;
    // RTCP packet types 200..=204 look like marker + payload type 72..=76 (RFC 5761).
    if (72..=76).contains(&payload_type) && marker {
        return None;
    }
    let mut offset = 12 + 4 * csrc_count;
    if b.len() < offset {
        return None;
    }
    let csrc = (0..csrc_count).map(|i| be32(&b[12 + 4 * i..])).collect();
    if extension {
        if b.len() < offset + 4 {
            return None;
        }
        let words = usize::from(u16::from_be_bytes([b[offset + 2], b[offset + 3]]));
        offset += 4 + 4 * words;
        if b.len() < offset {
            return None;
        }
    }
    let mut end = b.len();
    if padding {
        let pad = usize::from(*b.last()?);
        if pad == 0 || offset + pad > end {
            return None;
        }
        end -= pad;
    }
    Some(RtpPacket {
        payload_type,
        seq: u16::from_be_bytes([b[2], b[3]]),
        timestamp: be32(&b[4..]),
        ssrc: be32(&b[8..]),
        marker,
        csrc,
        payload: b[offset..end].to_vec(),
        time: datagram.time,
        src: datagram.src,
        dst: datagram.dst,
    })
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Sends `payload` to 127.0.0.1:`port` from an ephemeral socket (handy for parser tests).
pub fn send_udp(port: u16, payload: &[u8]) -> SocketAddr {
    let socket = UdpSocket::bind((LOCALHOST, 0)).expect("bind a UDP socket");
    socket
        .send_to(payload, (LOCALHOST, port))
        .expect("send a UDP datagram");
    socket.local_addr().expect("local address")
}
