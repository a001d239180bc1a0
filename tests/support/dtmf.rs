//! RFC 4733 telephone-events: decoding them from captured RTP, and a generated RTP stream
//! (PCMU audio with DTMF events in it, one SSRC) written as a pcap for sipp's
//! `play_pcap_audio` (`uac_dtmf.xml`).
//!
//! Payload (RFC 4733 §2.3): event (8 bits), E (end) bit, R bit, volume (6 bits, -dBm0),
//! duration (16 bits, in timestamp units since the event's RTP timestamp). Every packet of
//! one event carries the timestamp of the event's start; the first has the marker bit.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use super::audio::linear_to_ulaw;
use super::capture::RtpPacket;
use super::pcap::{write_pcap, UdpDatagram};

/// The payload type the scenarios offer for telephone-event.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// RFC 4733 §3.2 event code of a DTMF key (`0-9 * # A-D`).
pub fn event_code(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// The key of a DTMF event code (0..=15).
pub fn event_digit(code: u8) -> Option<char> {
    match code {
        0..=9 => Some((b'0' + code) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + code - 12) as char),
        _ => None,
    }
}

/// One telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    pub event: u8,
    pub end: bool,
    /// Power level in -dBm0 (0..=63).
    pub volume: u8,
    /// Timestamp units (8 kHz: 160 per 20 ms).
    pub duration: u16,
}

impl EventPayload {
    pub fn parse(payload: &[u8]) -> Option<EventPayload> {
        (payload.len() >= 4).then(|| EventPayload {
            event: payload[0],
            end: payload[1] & 0x80 != 0,
            volume: payload[1] & 0x3f,
            duration: u16::from_be_bytes([payload[2], payload[3]]),
        })
    }

    pub fn to_bytes(self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3f),
            d0,
            d1,
        ]
    }
}

/// One DTMF event as a receiver reconstructs it: all packets with its RTP timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtmfEvent {
    /// `None` for an event code that is not a DTMF key (e.g. 16 = flash).
    pub digit: Option<char>,
    pub event: u8,
    pub ssrc: u32,
    pub timestamp: u32,
    /// The largest duration seen (timestamp units).
    pub duration: u16,
    pub volume: u8,
    /// Packets seen for this event, and how many of them had the E bit.
    pub packets: usize,
    pub end_packets: usize,
    /// Whether the first packet seen had the marker bit.
    pub marker: bool,
}

impl DtmfEvent {
    pub fn ended(&self) -> bool {
        self.end_packets > 0
    }
}

/// The telephone-events among `packets` (those with payload type `payload_type`), one per
/// (SSRC, timestamp), in order of first appearance. Retransmitted end packets and updates
/// fold into their event, so each key press appears once.
pub fn dtmf_events(packets: &[RtpPacket], payload_type: u8) -> Vec<DtmfEvent> {
    let mut events: Vec<DtmfEvent> = Vec::new();
    for packet in packets.iter().filter(|p| p.payload_type == payload_type) {
        let Some(payload) = EventPayload::parse(&packet.payload) else {
            continue;
        };
        match events
            .iter_mut()
            .find(|e| e.ssrc == packet.ssrc && e.timestamp == packet.timestamp)
        {
            Some(event) => {
                event.duration = event.duration.max(payload.duration);
                event.packets += 1;
                event.end_packets += usize::from(payload.end);
            }
            None => events.push(DtmfEvent {
                digit: event_digit(payload.event),
                event: payload.event,
                ssrc: packet.ssrc,
                timestamp: packet.timestamp,
                duration: payload.duration,
                volume: payload.volume,
                packets: 1,
                end_packets: usize::from(payload.end),
                marker: packet.marker,
            }),
        }
    }
    events
}

/// The keys sent as telephone-events, each event once (`"1234#"`).
pub fn dtmf_digits(packets: &[RtpPacket], payload_type: u8) -> String {
    dtmf_events(packets, payload_type)
        .iter()
        .filter_map(|e| e.digit)
        .collect()
}

/// How [`dtmf_rtp_stream`] lays out a stream: PCMU tone, then per key an event of
/// `event_ms` (an update every 20 ms, the first with the marker bit, the final one sent
/// three times per RFC 4733 §2.5.1.4, each with its own sequence number), then `gap_ms` of
/// tone; `lead_ms` of tone before the first key and `tail_ms` after the last.
#[derive(Debug, Clone)]
pub struct DtmfStream {
    pub digits: String,
    pub event_ms: u32,
    pub gap_ms: u32,
    pub lead_ms: u32,
    pub tail_ms: u32,
    /// Frequency of the PCMU tone between events (half of full scale).
    pub tone_hz: f64,
    pub ssrc: u32,
    pub first_seq: u16,
    pub first_timestamp: u32,
    /// Volume of the events in -dBm0.
    pub volume: u8,
    /// Send the two extra copies of each end packet unchanged, sequence number included (as
    /// some phones do), instead of numbering each copy afresh.
    pub end_copies_share_seq: bool,
}

impl DtmfStream {
    /// The defaults `uac_dtmf.xml` plays: 120 ms events, 120 ms gaps, 400 ms lead, 300 ms
    /// tail, 1 kHz tone, volume 10.
    pub fn new(digits: &str) -> DtmfStream {
        assert!(
            digits.chars().all(|d| event_code(d).is_some()),
            "not DTMF keys: {digits:?}"
        );
        DtmfStream {
            digits: digits.to_owned(),
            event_ms: 120,
            gap_ms: 120,
            lead_ms: 400,
            tail_ms: 300,
            tone_hz: 1000.0,
            ssrc: 0x5349_5054, // "SIPT"
            first_seq: 1000,
            first_timestamp: 16000,
            volume: 10,
            end_copies_share_seq: false,
        }
    }

    /// How long the stream plays.
    pub fn duration(&self) -> Duration {
        let keys = self.digits.chars().count() as u32;
        // Each event takes its updates plus two more slots for the end retransmissions.
        let per_key = self.event_ms + 40 + self.gap_ms;
        Duration::from_millis(u64::from(self.lead_ms + keys * per_key + self.tail_ms))
    }
}

/// The RTP packets of `stream` (payload type 0 audio, [`TELEPHONE_EVENT_PT`] events), each
/// with its send time from the start: one packet every 20 ms.
pub fn dtmf_rtp_stream(stream: &DtmfStream) -> Vec<(Duration, Vec<u8>)> {
    let mut writer = StreamWriter {
        stream,
        slot: 0,
        seq: stream.first_seq,
        out: Vec::new(),
    };
    writer.audio(stream.lead_ms);
    for digit in stream.digits.chars() {
        let event = event_code(digit).expect("checked in DtmfStream::new");
        let start_ts = writer.timestamp();
        let updates = stream.event_ms.div_ceil(20).max(1);
        let payload = |n: u32| EventPayload {
            event,
            end: n == updates,
            volume: stream.volume,
            duration: (n * FRAME) as u16,
        };
        for n in 1..=updates {
            writer.push(TELEPHONE_EVENT_PT, n == 1, start_ts, &payload(n).to_bytes());
        }
        for _ in 0..2 {
            if stream.end_copies_share_seq {
                writer.repeat_last();
            } else {
                writer.push(
                    TELEPHONE_EVENT_PT,
                    false,
                    start_ts,
                    &payload(updates).to_bytes(),
                );
            }
        }
        writer.audio(stream.gap_ms);
    }
    writer.audio(stream.tail_ms);
    writer.out
}

/// 20 ms at 8 kHz.
const FRAME: u32 = 160;

struct StreamWriter<'a> {
    stream: &'a DtmfStream,
    /// 20 ms slots since the start.
    slot: u32,
    seq: u16,
    out: Vec<(Duration, Vec<u8>)>,
}

impl StreamWriter<'_> {
    /// The RTP timestamp of the current slot (the clock runs on during events).
    fn timestamp(&self) -> u32 {
        self.stream.first_timestamp.wrapping_add(self.slot * FRAME)
    }

    fn push(&mut self, payload_type: u8, marker: bool, timestamp: u32, payload: &[u8]) {
        let mut packet = vec![0x80, (u8::from(marker) << 7) | payload_type];
        packet.extend(self.seq.to_be_bytes());
        packet.extend(timestamp.to_be_bytes());
        packet.extend(self.stream.ssrc.to_be_bytes());
        packet.extend(payload);
        self.out
            .push((Duration::from_millis(u64::from(self.slot) * 20), packet));
        self.seq = self.seq.wrapping_add(1);
        self.slot += 1;
    }

    /// The previous packet again, byte for byte, in the next slot.
    fn repeat_last(&mut self) {
        let (_, packet) = self.out.last().expect("a packet to repeat").clone();
        self.out
            .push((Duration::from_millis(u64::from(self.slot) * 20), packet));
        self.slot += 1;
    }

    /// `ms` of PCMU tone; the stream's first packet (a talkspurt's start) has the marker.
    fn audio(&mut self, ms: u32) {
        for _ in 0..ms.div_ceil(20) {
            let first_sample = self.slot * FRAME;
            let payload: Vec<u8> = (0..FRAME)
                .map(|i| {
                    let n = f64::from(first_sample + i);
                    let phase = 2.0 * std::f64::consts::PI * self.stream.tone_hz * n / 8000.0;
                    linear_to_ulaw((phase.sin() * 16384.0) as i16)
                })
                .collect();
            self.push(0, self.slot == 0, self.timestamp(), &payload);
        }
    }
}

/// Writes `stream` as a pcap (from 10.0.0.1:4000 to 10.0.0.2:4000; sipp replaces both).
pub fn write_dtmf_pcap(path: &Path, stream: &DtmfStream) {
    let datagrams: Vec<UdpDatagram> = dtmf_rtp_stream(stream)
        .into_iter()
        .map(|(time, payload)| UdpDatagram {
            time: Duration::from_secs(1_700_000_000) + time,
            src: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 4000),
            dst: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 4000),
            payload,
        })
        .collect();
    write_pcap(path, &datagrams).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
