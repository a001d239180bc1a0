//! What the mock remembers for assertions: every event both ways, connections, appended audio,
//! truncations and the assistant audio sent per item, each stamped with the time since start,
//! and the GPT-Live output stream's totals (speech, silence, barge-ins).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::audio::AudioFormat;
use super::handshake::Api;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A client event the mock received (also ones it rejected).
    FromClient,
    /// A server event the mock sent.
    FromServer,
}

/// One event on the wire. Unparseable client text is logged with `kind` `"<invalid json>"` and
/// the raw text as a JSON string.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub at: Duration,
    /// Index of the connection (0 for the first).
    pub connection: usize,
    pub direction: Direction,
    /// The event's `type`.
    pub kind: String,
    pub json: Value,
}

/// How the mock answered an upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A session was opened (`session.created`, or on Live `session.started`, sent).
    Accepted,
    /// Live only: upgraded, and the client's `session.start` not answered yet.
    AwaitingStart,
    /// The upgrade was refused with this HTTP status.
    RefusedHttp(u16),
    /// The upgrade succeeded, then an `error` with this code and a close (or, for Live's
    /// `credit_balance_exhausted`, a dropped socket) followed. On Live this includes a
    /// `session.start` refused for its content (`unknown_parameter`, `invalid_model`, …).
    RefusedInBand(String),
}

/// One TCP connection that reached the WebSocket handshake.
#[derive(Debug, Clone)]
pub struct Connection {
    pub index: usize,
    pub at: Duration,
    /// The API the request path named.
    pub api: Api,
    /// The request path and query, e.g. `/v1/realtime?model=gpt-realtime`.
    pub uri: String,
    /// The model: `?model=` on Realtime, `session.start`'s `session.model` on Live.
    pub model: Option<String>,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// Whether an `OpenAI-Beta` header was present.
    pub beta_header: bool,
    pub outcome: Outcome,
    /// The close the mock sent (code, reason), if it closed with a frame.
    pub server_close: Option<(u16, String)>,
    /// The close frame the client sent, if any.
    pub client_close: Option<(u16, String)>,
    /// When the connection ended (either side), `None` while open.
    pub ended_at: Option<Duration>,
    /// True when the mock dropped the TCP connection without a close frame (scripted fault).
    pub dropped: bool,
    /// True when the mock went silent and stopped reading, holding the connection open
    /// (scripted faults `IgnoreClose` and `Hang`).
    pub hung: bool,
}

/// The GPT-Live output streams' totals over every connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveStats {
    /// `session.output_audio.delta` events sent.
    pub deltas: usize,
    /// Milliseconds of the model's voice (the tone) sent, and of silence.
    pub speech_ms: f64,
    pub silence_ms: f64,
    /// Turns the model started speaking (after the caller's speech, or a spoken commentary).
    pub replies: usize,
    /// Times the model stopped itself because the caller spoke over it: the rest of its tone
    /// was dropped and the stream went back to silence.
    pub barge_ins: usize,
}

/// One `input_audio_buffer.append` (Live: `session.input_audio.append`), decoded in the input format in force when it arrived.
#[derive(Debug, Clone)]
pub struct Append {
    pub at: Duration,
    pub connection: usize,
    /// Size of the decoded (base64-free) payload.
    pub bytes: usize,
    pub format: AudioFormat,
    pub samples: Vec<i16>,
}

impl Append {
    pub fn duration_ms(&self) -> f64 {
        self.samples.len() as f64 * 1000.0 / f64::from(self.format.rate())
    }
}

/// All appends so far, with the sums and gaps the tests assert on.
#[derive(Debug, Clone, Default)]
pub struct AppendedAudio {
    pub appends: Vec<Append>,
}

impl AppendedAudio {
    /// Milliseconds of audio appended in total.
    pub fn total_ms(&self) -> f64 {
        self.appends.iter().map(Append::duration_ms).sum()
    }

    /// The longest time between two consecutive appends (zero for fewer than two).
    pub fn max_gap(&self) -> Duration {
        self.appends
            .windows(2)
            .map(|w| w[1].at.saturating_sub(w[0].at))
            .max()
            .unwrap_or_default()
    }

    /// Every decoded sample, in order (formats are not converted: keep to one per test).
    pub fn samples(&self) -> Vec<i16> {
        self.appends
            .iter()
            .flat_map(|a| a.samples.iter().copied())
            .collect()
    }

    /// The sample rate of the last append, if any.
    pub fn rate(&self) -> Option<u32> {
        self.appends.last().map(|a| a.format.rate())
    }

    /// Sizes in bytes of the decoded payloads, in order.
    pub fn byte_sizes(&self) -> Vec<usize> {
        self.appends.iter().map(|a| a.bytes).collect()
    }
}

/// One `conversation.item.truncate` the client sent (also rejected ones).
#[derive(Debug, Clone, PartialEq)]
pub struct Truncate {
    pub at: Duration,
    pub connection: usize,
    pub item_id: String,
    pub content_index: u64,
    pub audio_end_ms: u64,
    /// Milliseconds of audio the mock had sent for the item when the truncate arrived.
    pub item_audio_ms: Option<f64>,
    /// The error code the mock answered with, `None` when it sent `conversation.item.truncated`.
    pub error: Option<String>,
}

#[derive(Debug)]
pub struct Recorder {
    started: Instant,
    /// Wall-clock time of `started`, to line the `at` stamps up with other clocks (captures).
    pub started_wall: std::time::SystemTime,
    pub log: Vec<LogEntry>,
    pub connections: Vec<Connection>,
    pub appends: Vec<Append>,
    pub truncates: Vec<Truncate>,
    /// Assistant audio sent per item id, in ms.
    pub audio_sent: HashMap<String, f64>,
    pub live: LiveStats,
    next_id: u64,
}

impl Recorder {
    pub fn new() -> Recorder {
        // Ids differ between runs like the service's do, yet stay unique within a mock.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        Recorder {
            started: Instant::now(),
            started_wall: std::time::SystemTime::now(),
            log: Vec::new(),
            connections: Vec::new(),
            appends: Vec::new(),
            truncates: Vec::new(),
            audio_sent: HashMap::new(),
            live: LiveStats::default(),
            next_id: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 8,
        }
    }

    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// A fresh id such as `item_C4x9...`: the prefix and 20 base-62 characters.
    pub fn id(&mut self, prefix: &str) -> String {
        const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        self.next_id = self.next_id.wrapping_add(1);
        // An odd multiplier is a bijection on u64, and 11 base-62 digits hold any u64: unique.
        let mixed = self.next_id.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let mut text = String::with_capacity(prefix.len() + 21);
        text.push_str(prefix);
        text.push('_');
        for mut n in [mixed, mixed.rotate_left(29) ^ 0x5DEE_CE66_D1CE_4E5B] {
            for _ in 0..10 {
                text.push(DIGITS[(n % 62) as usize] as char);
                n /= 62;
            }
        }
        text.push(DIGITS[(mixed / 62u64.pow(10)) as usize % 62] as char);
        text
    }

    pub fn log_event(&mut self, connection: usize, direction: Direction, json: &Value) {
        let kind = json["type"].as_str().unwrap_or("<invalid json>").to_owned();
        let at = self.now();
        self.log.push(LogEntry {
            at,
            connection,
            direction,
            kind,
            json: json.clone(),
        });
    }

    pub fn connection(&mut self, index: usize) -> &mut Connection {
        &mut self.connections[index]
    }
}
