//! DTMF as RFC 4733 telephone-events: turning received event packets into digits, and sending
//! queued digits as event packets in place of audio, one per 20 ms tick.
//!
//! Payload (§2.3): event code, then E (end) bit, R bit and 6-bit volume, then a 16-bit duration
//! in timestamp units. All packets of one event carry the event's start timestamp; the first
//! has the RTP marker set, the last ones the E bit, and the final packet is sent three times
//! because it is the one that matters most and UDP may lose it (§2.5.1.4).
//!
//! Clocks: events share the audio's SSRC, sequence and timestamp line, so their timestamps are
//! points on the audio's clock (48 kHz with Opus). Durations count in those same units, even
//! when the SDP says `telephone-event/8000` next to `opus/48000/2` (what baresip offers): see
//! [`DtmfSender::new`] for why.

use std::collections::VecDeque;

/// Digits in RFC 4733 §3.2 order: events 0-9, then * (10), # (11), A-D (12-15).
const DIGITS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];
/// Power level −10 dBm0 (the 6-bit field holds the attenuation), loud enough for any IVR.
pub const VOLUME: u8 = 10;
const END_BIT: u8 = 0x80;
/// Tone length: 100 ms, comfortably above the 40 ms that Q.24 receivers need.
const TONE_MS: u32 = 100;
/// Copies of the end packet.
const END_COPIES: u32 = 3;
/// Audio ticks between two digits (60 ms of inter-digit pause).
const PAUSE_TICKS: u32 = 3;
/// A long event is cut into segments of at most this duration (§2.5.1.3).
const MAX_DURATION: u32 = u16::MAX as u32;
/// The largest ratio of stream clock to event clock we negotiate (48 kHz Opus with
/// telephone-event/8000). A sender that counts durations by the event's own clock starts a
/// long press's next segment up to this many times further on than its duration says.
const MAX_CLOCK_RATIO: u32 = 48_000 / 8_000;

/// The event code of a DTMF character (`a`-`d` accepted as `A`-`D`).
pub fn digit_code(c: char) -> Option<u8> {
    let c = c.to_ascii_uppercase();
    DIGITS.iter().position(|&d| d == c).map(|i| i as u8)
}

/// The character of a DTMF event code; None for other events (flash, tones).
pub fn code_digit(code: u8) -> Option<char> {
    DIGITS.get(usize::from(code)).copied()
}

/// One telephone-event packet to send this tick, instead of audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfPacket {
    pub payload: [u8; 4],
    /// Set on the first packet of an event.
    pub marker: bool,
    /// The event's start: the same in every packet of one event.
    pub timestamp: u32,
}

/// Recognises digits in received telephone-event packets. It needs no clock rate: events are
/// told apart by their start timestamp, marker and E bit, so durations counted on the stream's
/// clock (baresip, pjsip, us) and on the event's own (`telephone-event/8000` taken literally
/// next to Opus) decode alike; only long presses compare durations with timestamps.
#[derive(Clone, Debug, Default)]
pub struct DtmfReceiver {
    last: Option<Event>,
}

#[derive(Clone, Copy, Debug)]
struct Event {
    timestamp: u32,
    code: u8,
    duration: u16,
    ended: bool,
}

impl DtmfReceiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the digit when this packet is the first one seen of a new event. Updates,
    /// end packets and their copies carry the event's timestamp again and return None, as do
    /// stragglers of an older event, non-DTMF events and payloads shorter than 4 bytes.
    pub fn on_packet(&mut self, rtp_timestamp: u32, marker: bool, payload: &[u8]) -> Option<char> {
        let &[code, flags, hi, lo, ..] = payload else {
            return None;
        };
        let event = Event {
            timestamp: rtp_timestamp,
            code,
            duration: u16::from_be_bytes([hi, lo]),
            ended: flags & END_BIT != 0,
        };
        if let Some(last) = &mut self.last {
            if rtp_timestamp == last.timestamp {
                last.duration = last.duration.max(event.duration);
                last.ended |= event.ended;
                return None;
            }
            let ahead = rtp_timestamp.wrapping_sub(last.timestamp);
            if (ahead as i32) < 0 {
                return None; // a late packet of an earlier event
            }
            // A long key press continues in a new segment that starts where the previous one's
            // maximal duration ended, without marker (§2.5.1.3): the same digit, not a new one.
            // "Where it ended" is on the stream's clock; a sender that counted the duration on
            // the event's clock (8 kHz next to 48 kHz Opus) starts it up to 6 times further on.
            let continues = !marker
                && code == last.code
                && !last.ended
                && u32::from(last.duration) >= MAX_DURATION - 0xFF
                && ahead <= (MAX_DURATION + 1) * MAX_CLOCK_RATIO;
            if continues {
                *last = event;
                return None;
            }
        }
        self.last = Some(event);
        code_digit(code)
    }
}

/// What `,` queues: not an event code (those end at 16), a 500 ms pause.
const PAUSE_CODE: u8 = 0xff;
/// 500 ms in 20 ms ticks.
const COMMA_TICKS: u32 = 25;

/// Sends queued digits. The media task calls [`tick`](Self::tick) every 20 ms with the RTP
/// timestamp audio would carry, and sends the packet it returns instead of audio (with the
/// telephone-event payload type) or audio when it returns None.
#[derive(Clone, Debug)]
pub struct DtmfSender {
    /// Timestamp units per 20 ms tick.
    step: u32,
    tone: u32,
    queue: VecDeque<u8>,
    state: SendState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendState {
    Idle,
    Tone {
        code: u8,
        start: u32,
        duration: u32,
    },
    End {
        code: u8,
        start: u32,
        duration: u32,
        copies_sent: u32,
    },
    Pause {
        ticks_left: u32,
    },
}

impl DtmfSender {
    /// `clock_rate` is the RTP clock of the stream the events go in: the audio codec's (8000
    /// for G.711, 48000 for Opus), not the rate in the telephone-event's rtpmap. The two differ
    /// when a peer offers `telephone-event/8000` next to `opus/48000/2` (baresip does), and
    /// the stream's clock wins because:
    /// - an event's timestamp is a point on the audio's timeline (same SSRC and sequence, one
    ///   timestamp base): it must be the audio clock, or jitter buffers and RTCP see it jump;
    /// - RFC 4733 counts durations "in timestamp units", and long events continue at
    ///   `start + duration` (§2.5.1.3), which only adds up in the timestamps' own units;
    /// - it is what the peers we interoperate with do: baresip sets its telev clock to the
    ///   codec's (`telev_set_srate(.., ac->crate)`, so a 180 ms key is 8640 at 48 kHz), and
    ///   pjsip grows durations by the audio packet's timestamp step and converts received ones
    ///   to milliseconds with the audio clock. Durations by the event's clock would read as a
    ///   sixth of the real length there; our receiver copes with either (see `DtmfReceiver`).
    pub fn new(clock_rate: u32) -> Self {
        let step = (clock_rate / 50).clamp(1, MAX_DURATION);
        Self {
            step,
            tone: (clock_rate.saturating_mul(TONE_MS) / 1000).clamp(step, MAX_DURATION),
            queue: VecDeque::with_capacity(32),
            state: SendState::Idle,
        }
    }

    /// Queues digits to send after those already queued; `,` is a 500 ms pause (as phones
    /// dial it). Refuses the whole string, naming the first character that is neither.
    pub fn queue(&mut self, digits: &str) -> Result<(), char> {
        let code = |c: char| {
            if c == ',' {
                Some(PAUSE_CODE)
            } else {
                digit_code(c)
            }
        };
        if let Some(bad) = digits.chars().find(|&c| code(c).is_none()) {
            return Err(bad);
        }
        self.queue.extend(digits.chars().filter_map(code));
        Ok(())
    }

    /// Whether digits are being sent or wait to be.
    pub fn is_active(&self) -> bool {
        self.state != SendState::Idle || !self.queue.is_empty()
    }

    /// The packet for this tick, or None to send audio.
    pub fn tick(&mut self, rtp_timestamp_now: u32) -> Option<DtmfPacket> {
        if let SendState::Pause { ticks_left } = self.state {
            self.state = match ticks_left {
                0 | 1 => SendState::Idle,
                n => SendState::Pause { ticks_left: n - 1 },
            };
            return None;
        }
        if self.state == SendState::Idle {
            let code = self.queue.pop_front()?;
            if code == PAUSE_CODE {
                // This tick is the pause's first.
                self.state = SendState::Pause {
                    ticks_left: COMMA_TICKS - 1,
                };
                return None;
            }
            self.state = SendState::Tone {
                code,
                start: rtp_timestamp_now,
                duration: 0,
            };
        }
        match self.state {
            SendState::Tone {
                code,
                start,
                duration,
            } => {
                // Each packet reports the tone so far, including the 20 ms it stands for.
                let duration = (duration + self.step).min(self.tone);
                let first = duration <= self.step;
                if duration >= self.tone {
                    self.state = SendState::End {
                        code,
                        start,
                        duration,
                        copies_sent: 1,
                    };
                    return Some(packet(code, start, duration, true, first));
                }
                self.state = SendState::Tone {
                    code,
                    start,
                    duration,
                };
                Some(packet(code, start, duration, false, first))
            }
            SendState::End {
                code,
                start,
                duration,
                copies_sent,
            } => {
                self.state = if copies_sent + 1 >= END_COPIES {
                    SendState::Pause {
                        ticks_left: PAUSE_TICKS,
                    }
                } else {
                    SendState::End {
                        code,
                        start,
                        duration,
                        copies_sent: copies_sent + 1,
                    }
                };
                Some(packet(code, start, duration, true, false))
            }
            SendState::Idle | SendState::Pause { .. } => None,
        }
    }
}

fn packet(code: u8, start: u32, duration: u32, end: bool, marker: bool) -> DtmfPacket {
    let flags = if end { END_BIT | VOLUME } else { VOLUME };
    let [hi, lo] = (duration.min(MAX_DURATION) as u16).to_be_bytes();
    DtmfPacket {
        payload: [code, flags, hi, lo],
        marker,
        timestamp: start,
    }
}

#[cfg(test)]
mod tests;
