//! A mock of the OpenAI Realtime API (GA protocol, realtime-notes.md) for integration tests:
//! a WebSocket server on 127.0.0.1 that checks the upgrade like the live service, validates
//! every client event against the GA shapes and answers errors the way the service words them,
//! runs an energy VAD on the appended audio, transcribes (a fixed text), answers with a tone in
//! uneven chunks faster than real time, cancels on barge-in, fails on script, and records
//! everything for assertions.
//!
//! The same server speaks GPT-Live (live-notes.md §1–2) on `/v1/live/sessions`
//! (`RealtimeMock::live_url`): it waits for the client's `session.start`, checks it strictly,
//! streams output audio at real time with silence included, takes turns by itself and stops
//! talking when the caller speaks over it (see `live.rs`).
//!
//! It runs on its own thread (a current-thread tokio runtime), so sync tests can use it;
//! dropping the mock stops it and closes every connection.
//!
//! ```ignore
//! let mock = RealtimeMock::start(MockConfig::default());
//! // point sipterm at mock.url() with OPENAI_API_KEY = mock.api_key() ...
//! let turn = mock.wait_for(Duration::from_secs(5), |e| e.kind == "response.done");
//! // ... or at mock.live_url() with --api live:
//! let reply = mock.wait_for(WAIT, |e| e.kind == "session.output_transcript.delta");
//! assert_eq!(mock.live_starts()[0]["audio"]["format"]["type"], "audio/pcmu");
//! ```

mod audio;
mod client;
mod conn;
mod ga;
mod handshake;
mod live;
mod live_conn;
mod live_schema;
mod record;
mod response;
mod schema;
mod session;
mod session_config;
mod sockopt;

use std::net::TcpListener as StdListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use audio::{linear_to_alaw, AudioFormat};
pub use client::{RawClient, ReadEnd, CLIENT_WAIT};
pub use handshake::Api;
pub use live_schema::VOICES as LIVE_VOICES;
pub use record::{
    Append, AppendedAudio, Connection, Direction, LiveStats, LogEntry, Outcome, Truncate,
};

use conn::Shared;
use record::Recorder;

/// How a bad (or scripted-refused) API key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// Live behaviour: the upgrade succeeds, then `error` `invalid_api_key` and close 3000.
    /// On GPT-Live the `error` answers the client's first event (its `session.start`) in place
    /// of `session.started`; the close code there is undocumented, 3000 is a guess.
    InBand,
    /// The upgrade is answered `401 Unauthorized` with a JSON error body.
    Http401,
}

/// A scripted failure for the first `MockConfig::fault_connections` connections; each applies
/// to both APIs unless it says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Refuse the key whatever it is.
    RefuseKey(KeyRefusal),
    /// Close the TCP connection without a close frame this long after the upgrade.
    DropAfter(Duration),
    /// Realtime: `error` `session_expired` then close 1001, this long after the upgrade.
    /// Live: `session.closed {reason:"expired"}` then close 1000, this long after
    /// `session.started` (a client should start a new session).
    ExpireAfter(Duration),
    /// Live only (ignored on Realtime): `session.closed` with this `reason` (`content`,
    /// `remote_hangup`, `connection_lost`, …: live-notes §1) then close 1000, this long after
    /// `session.started`.
    LiveClosedAfter(Duration, &'static str),
    /// Never answer the client's close frame: on receiving it, stop reading and sending but
    /// hold the TCP connection open, silent, until the mock stops.
    IgnoreClose,
    /// Hang as soon as the session is configured (right after the first `session.updated`
    /// went out): stop reading and sending, so the close frame is never answered either, and
    /// hold the TCP connection open until the mock stops — a server that froze, or a path that
    /// black-holes. With this fault the listening socket also advertises a WAN-sized MSS and a
    /// small receive buffer, so that, as over a real network, the client's writes back up
    /// after some 40 KB (three seconds of µ-law audio); over loopback's 64 KB segments they
    /// would back up only after megabytes. Hanging this early matters too: the client's send
    /// buffer grows with its congestion window, which grows while the server reads.
    /// On Live the hang starts right after `session.started` went out.
    Hang,
    /// Live only (ignored on Realtime): `error` `credit_balance_exhausted` (type
    /// `insufficient_quota`, a guess) in place of `session.started`, then the TCP connection
    /// is dropped about 2 s later without a close frame (live-notes §1, an unconfirmed
    /// capture). A client must not retry it.
    CreditExhausted,
}

/// The mock as the AI caller's model: it ends the call through the `end_call` function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndCall {
    /// On this response (1 = the first), after its audio.
    pub after_turns: usize,
    pub passed: bool,
    pub reason: String,
}

/// What the mock accepts, says and plays. `Default` gives the values documented per field.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// The key accepted in `Authorization: Bearer <key>` (`"sk-mock-realtime-0123456789"`).
    pub api_key: String,
    /// How a missing or wrong key is refused (`InBand`, like the live service).
    pub key_refusal: KeyRefusal,
    /// Models accepted in `?model=` (`gpt-realtime`, `gpt-realtime-mini`, `gpt-realtime-1.5`,
    /// `gpt-realtime-2025-08-28`, `gpt-realtime-2`, `gpt-realtime-2.1`,
    /// `gpt-realtime-2.1-mini`); others get `invalid_model` and close 4000.
    pub models: Vec<String>,
    /// Models accepted in Live's `session.start` (`gpt-live-1`, `gpt-live-1.1`); others get
    /// `invalid_model` instead of `session.started`, then close 4000. On `/v1/realtime` these
    /// get `invalid_model` too (live-notes §1).
    pub live_models: Vec<String>,
    /// A scripted failure (none).
    pub fault: Option<Fault>,
    /// How many connections, counted from the first, get `fault` (all).
    pub fault_connections: usize,
    /// What the caller "said", sent as the input transcription when it is enabled.
    pub caller_transcript: String,
    /// What the model "says": the transcript deltas of each response.
    pub ai_text: String,
    /// The model's audio: a sine of this frequency (660 Hz) ...
    pub tone_hz: f64,
    /// ... lasting this long (1500 ms) ...
    pub tone_ms: u32,
    /// ... at this peak level, 0..1 of full scale (0.5).
    pub tone_amplitude: f64,
    /// Audio delta sizes, cycled, in bytes of 8 kHz G.711 (×6 for PCM16 at 24 kHz so a chunk
    /// lasts as long): 37, 160, 411, 96, 1003, 251, 640 — irregular, not 20 ms multiples.
    /// Realtime only: Live deltas always hold 100 ms.
    pub chunk_sizes: Vec<usize>,
    /// Speed of the audio deltas relative to real time (`Some(4.0)`); `None` sends them as fast
    /// as the socket takes them. Realtime only: Live streams at real time.
    pub pace: Option<f64>,
    /// From `speech_stopped` to `response.created` (150 ms); on Live, from the end of the
    /// caller's turn to the first delta of the model's tone.
    pub response_latency: Duration,
    /// From the commit to the first input transcription delta (250 ms), so the transcript
    /// usually lands while the response streams, as it does live. Realtime only: Live sends
    /// input transcript deltas while the caller talks.
    pub transcription_delay: Duration,
    /// A 20 ms frame louder than this is voiced (−35 dBFS).
    pub vad_threshold_dbfs: f64,
    /// Voiced time before `speech_started` (100 ms). Speech stops after the session's
    /// `silence_duration_ms` (200 ms by default) of unvoiced frames.
    pub vad_start_ms: u32,
    /// Call `end_call` (only when the session declared it) on the given response (none).
    pub end_call: Option<EndCall>,
    /// Start a response by itself this long after the first `session.updated`: a voice
    /// agent that greets first (none).
    pub greet_after: Option<Duration>,
    /// Live: the caller's turn ends after this much unvoiced audio (500 ms); the model then
    /// replies after `response_latency` with the tone and `ai_text`.
    pub live_silence_ms: u32,
    /// Live: `session.usage.updated` comes this often after `session.started` (5 s).
    pub live_usage_interval: Duration,
}

impl Default for MockConfig {
    fn default() -> MockConfig {
        MockConfig {
            api_key: "sk-mock-realtime-0123456789".to_owned(),
            key_refusal: KeyRefusal::InBand,
            models: [
                "gpt-realtime",
                "gpt-realtime-mini",
                "gpt-realtime-1.5",
                "gpt-realtime-2025-08-28",
                "gpt-realtime-2",
                "gpt-realtime-2.1",
                "gpt-realtime-2.1-mini",
            ]
            .map(str::to_owned)
            .to_vec(),
            live_models: ["gpt-live-1", "gpt-live-1.1"].map(str::to_owned).to_vec(),
            fault: None,
            fault_connections: usize::MAX,
            caller_transcript: "hello from the caller".to_owned(),
            ai_text: "Hello! This is the mock assistant. How can I help you today?".to_owned(),
            tone_hz: 660.0,
            tone_ms: 1500,
            tone_amplitude: 0.5,
            chunk_sizes: vec![37, 160, 411, 96, 1003, 251, 640],
            pace: Some(4.0),
            response_latency: Duration::from_millis(150),
            transcription_delay: Duration::from_millis(250),
            vad_threshold_dbfs: -35.0,
            vad_start_ms: 100,
            end_call: None,
            greet_after: None,
            live_silence_ms: 500,
            live_usage_interval: Duration::from_secs(5),
        }
    }
}

/// The running mock; stops on drop.
pub struct RealtimeMock {
    port: u16,
    config: Arc<MockConfig>,
    rec: Arc<Mutex<Recorder>>,
    shutdown: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl RealtimeMock {
    /// Binds a free port on 127.0.0.1 and starts serving.
    pub fn start(config: MockConfig) -> RealtimeMock {
        let listener =
            StdListener::bind("127.0.0.1:0").expect("bind the Realtime mock on 127.0.0.1");
        let port = listener.local_addr().expect("mock's local address").port();
        if config.fault == Some(Fault::Hang) {
            sockopt::narrow_buffers(&listener);
        }
        listener
            .set_nonblocking(true)
            .expect("non-blocking mock listener");
        let config = Arc::new(config);
        let rec = Arc::new(Mutex::new(Recorder::new()));
        let (shutdown, stop) = watch::channel(false);
        let shared = Shared {
            config: config.clone(),
            rec: rec.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("realtime-mock-{port}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime for the Realtime mock");
                runtime.block_on(accept_loop(listener, shared, stop));
            })
            .expect("spawn the Realtime mock thread");
        RealtimeMock {
            port,
            config,
            rec,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `ws://127.0.0.1:<port>/v1/realtime` (the client adds `?model=`).
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/v1/realtime", self.port)
    }

    /// `ws://127.0.0.1:<port>/v1/live/sessions`: GPT-Live (no query; the model goes in
    /// `session.start`).
    pub fn live_url(&self) -> String {
        format!("ws://127.0.0.1:{}{}", self.port, handshake::LIVE_PATH)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The key the mock accepts.
    pub fn api_key(&self) -> &str {
        &self.config.api_key
    }

    pub fn config(&self) -> &MockConfig {
        &self.config
    }

    fn rec(&self) -> MutexGuard<'_, Recorder> {
        self.rec.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wall-clock time that every `at` stamp counts from (for lining the mock's records up
    /// with capture timestamps, which are wall clock since the epoch).
    pub fn started_at(&self) -> std::time::SystemTime {
        self.rec().started_wall
    }

    /// Every event received and sent so far, in order.
    pub fn log(&self) -> Vec<LogEntry> {
        self.rec().log.clone()
    }

    /// Events the client sent.
    pub fn client_events(&self) -> Vec<LogEntry> {
        self.log()
            .into_iter()
            .filter(|e| e.direction == Direction::FromClient)
            .collect()
    }

    /// Events the mock sent.
    pub fn server_events(&self) -> Vec<LogEntry> {
        self.log()
            .into_iter()
            .filter(|e| e.direction == Direction::FromServer)
            .collect()
    }

    /// The `session` object of every `session.update` received.
    pub fn session_updates(&self) -> Vec<Value> {
        let log = self.client_events();
        log.into_iter()
            .filter(|e| e.kind == "session.update")
            .map(|e| e.json["session"].clone())
            .collect()
    }

    /// Live: the `session` object of every `session.start` received (also refused ones), in
    /// order; `[0]["audio"]["output"]["voice"]`, `["instructions"]`, `["audio"]["format"]`.
    pub fn live_starts(&self) -> Vec<Value> {
        let log = self.client_events();
        log.into_iter()
            .filter(|e| e.kind == "session.start")
            .map(|e| e.json["session"].clone())
            .collect()
    }

    /// Live: the output streams' totals (deltas, speech and silence sent, replies, barge-ins).
    pub fn live_stats(&self) -> LiveStats {
        self.rec().live.clone()
    }

    /// Live: how often the model stopped itself because the caller spoke over it.
    pub fn live_barge_ins(&self) -> usize {
        self.rec().live.barge_ins
    }

    /// The `error` objects the mock sent.
    pub fn errors_sent(&self) -> Vec<Value> {
        let log = self.server_events();
        log.into_iter()
            .filter(|e| e.kind == "error")
            .map(|e| e.json["error"].clone())
            .collect()
    }

    pub fn appended_audio(&self) -> AppendedAudio {
        AppendedAudio {
            appends: self.rec().appends.clone(),
        }
    }

    pub fn truncates(&self) -> Vec<Truncate> {
        self.rec().truncates.clone()
    }

    /// Every connection that reached the upgrade, in order.
    pub fn connections(&self) -> Vec<Connection> {
        self.rec().connections.clone()
    }

    /// Milliseconds of model audio sent in deltas for `item_id` (0 for unknown items).
    pub fn audio_sent_ms(&self, item_id: &str) -> f64 {
        self.rec()
            .audio_sent
            .get(item_id)
            .copied()
            .unwrap_or_default()
    }

    /// Waits until a logged event matches `pred`; returns the first match.
    pub fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&LogEntry) -> bool,
    ) -> Option<LogEntry> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.rec().log.iter().find(|e| pred(e)) {
                return Some(found.clone());
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops serving and closes every connection (also done on drop).
    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RealtimeMock {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(listener: StdListener, shared: Shared, mut stop: watch::Receiver<bool>) {
    let listener = TcpListener::from_std(listener).expect("tokio listener for the Realtime mock");
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                if let Ok((tcp, _)) = accepted {
                    let _ = tcp.set_nodelay(true);
                    connections.spawn(conn::serve(tcp, shared.clone(), stop.clone()));
                }
            }
        }
    }
    // Each session returns on the stop signal; give them a moment to close, then abort.
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}
