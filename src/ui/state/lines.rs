//! The rolling text the screen shows: log lines, transcript lines, SIP messages, and the clock
//! that turns their arrival `Instant`s into times of day.

use crate::vocab::{CallId, LogKind, LogLevel, SipDirection, Speaker};
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const LOG_KEPT: usize = 500;
pub const TRANSCRIPT_KEPT: usize = 300;
/// Per call, and for the messages outside calls (REGISTER, OPTIONS).
pub const SIP_KEPT: usize = 300;

/// Converts `Instant`s to UTC times of day. Anchored once, so rendering reads no clock and the
/// tests can pin the time (headless log lines use UTC too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallClock {
    origin: Instant,
    /// Milliseconds since midnight UTC at `origin`.
    origin_ms: u64,
}

impl WallClock {
    pub fn new(origin: Instant, ms_since_midnight_utc: u64) -> WallClock {
        WallClock {
            origin,
            origin_ms: ms_since_midnight_utc % 86_400_000,
        }
    }

    /// Reads the system clock once; for the real terminal, not for tests.
    pub fn system(origin: Instant) -> WallClock {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        WallClock::new(origin, since_epoch.as_millis() as u64)
    }

    fn ms_of_day(&self, at: Instant) -> u64 {
        let delta = at.saturating_duration_since(self.origin).as_millis() as u64;
        (self.origin_ms + delta) % 86_400_000
    }

    /// `HH:MM:SS`
    pub fn hms(&self, at: Instant) -> String {
        let s = self.ms_of_day(at) / 1000;
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    }

    /// `HH:MM:SS.mmm`, for SIP messages that arrive within the same second.
    pub fn hms_millis(&self, at: Instant) -> String {
        format!("{}.{:03}", self.hms(at), self.ms_of_day(at) % 1000)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub at: Instant,
    pub level: LogLevel,
    pub kind: LogKind,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TranscriptLine {
    pub at: Instant,
    pub call: CallId,
    pub speaker: Speaker,
    pub text: String,
    /// The engine's id for this utterance; later pieces with the same id extend this line.
    pub item: Option<String>,
    pub done: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SipEntry {
    pub at: Instant,
    pub direction: SipDirection,
    pub peer: Option<String>,
    pub summary: String,
    pub text: String,
}

impl SipEntry {
    /// The ladder's label: `INVITE sip:a@b` for requests, `200 OK (INVITE)` for responses.
    pub fn label(&self) -> String {
        let summary = self.summary.trim();
        if let Some(status) = summary.strip_prefix("SIP/2.0 ") {
            match cseq_method(&self.text) {
                Some(method) => format!("{status} ({method})"),
                None => status.to_string(),
            }
        } else {
            summary.trim_end_matches("SIP/2.0").trim_end().to_string()
        }
    }
}

/// The method named in the CSeq header (`CSeq: 2 INVITE` → `INVITE`).
fn cseq_method(text: &str) -> Option<&str> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("cseq") {
            value.split_whitespace().nth(1)
        } else {
            None
        }
    })
}

/// Appends to a bounded queue, dropping the oldest.
pub fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, cap: usize) {
    if queue.len() >= cap {
        queue.pop_front();
    }
    queue.push_back(item);
}

/// Whether a log line passes the filter (`Debug` shows everything, `Error` only errors).
pub fn passes(line: LogLevel, filter: LogLevel) -> bool {
    rank(line) <= rank(filter)
}

fn rank(level: LogLevel) -> u8 {
    match level {
        LogLevel::Error => 0,
        LogLevel::Warn => 1,
        LogLevel::Info => 2,
        LogLevel::Debug => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(summary: &str, text: &str) -> SipEntry {
        SipEntry {
            at: Instant::now(),
            direction: SipDirection::Received,
            peer: None,
            summary: summary.into(),
            text: text.into(),
        }
    }

    #[test]
    fn labels_name_the_request_or_the_answered_method() {
        assert_eq!(
            entry("INVITE sip:alice@10.0.0.1 SIP/2.0", "").label(),
            "INVITE sip:alice@10.0.0.1"
        );
        let ok = "SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n";
        assert_eq!(entry("SIP/2.0 200 OK", ok).label(), "200 OK (INVITE)");
        assert_eq!(entry("SIP/2.0 100 Trying", "").label(), "100 Trying");
    }

    #[test]
    fn clock_formats_time_of_day() {
        let t0 = Instant::now();
        let c = WallClock::new(t0, (9 * 3600 + 41 * 60 + 7) * 1000 + 250);
        assert_eq!(c.hms(t0), "09:41:07");
        assert_eq!(
            c.hms_millis(t0 + Duration::from_millis(800)),
            "09:41:08.050"
        );
    }

    #[test]
    fn bounded_queue_drops_the_oldest() {
        let mut q = VecDeque::new();
        for i in 0..5 {
            push_bounded(&mut q, i, 3);
        }
        assert_eq!(q, [2, 3, 4]);
    }

    #[test]
    fn filter_ranks_levels() {
        assert!(passes(LogLevel::Error, LogLevel::Warn));
        assert!(!passes(LogLevel::Debug, LogLevel::Info));
        assert!(passes(LogLevel::Debug, LogLevel::Debug));
    }
}
