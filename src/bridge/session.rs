//! One call's bridge: a tokio task that holds the WebSocket session (connect, configure,
//! stream, barge-in, reconnect; `task` for the Realtime API, `live` for GPT-Live) and a [`BridgePort`] that the call's media task uses as its
//! `AudioPort` (caller audio in, the model's audio out, paced by the media task's 20 ms clock).
//!
//! The task and the port share only a mutex-guarded [`OutputQueue`] plus counters: the port
//! takes frames (that is the played position), the task fills and clears the queue. Neither
//! holds the lock across an await or for more than a few hundred nanoseconds.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::media::meter::Level;
use crate::vocab::codec::Codec;
use crate::vocab::Speaker;

use super::api::Api;
use super::audio::{Converter, OutputQueue, WireFormat};
use super::protocol::{
    AudioInput, AudioOutput, ClientEvent, Modality, Session, SessionAudio, SessionType,
    Transcription, TurnDetection,
};

mod conn;
mod live;
mod port;
mod task;
#[cfg(test)]
mod tests;

pub use port::BridgePort;

/// How long `BridgeHandle::stop` waits for the session to close: the close itself is given
/// one second (`task::CLOSE_GRACE`), and a little more for the task to notice.
const STOP_GRACE: Duration = Duration::from_millis(1_500);
/// Caller frames waiting for the socket: one second. Beyond that the socket is stuck, and
/// late caller audio is worse than lost caller audio (it would trigger stale turns).
const CALLER_QUEUE_FRAMES: usize = 50;
/// The Realtime API's default model: one that will still answer in 2027 (`gpt-realtime` is
/// reported to shut down on 2027-01-20; the beta `gpt-4o-realtime-preview` family is gone).
pub const DEFAULT_MODEL: &str = super::api::REALTIME_MODELS[0];
/// The text of a caller turn the server could not transcribe: the turn happened, and a
/// transcript should not pretend otherwise.
pub const UNTRANSCRIBED: &str = "(not transcribed)";

/// An OpenAI API key. It has no `Display`, and its `Debug` prints no part of it, so it cannot
/// end up in a log line, an error or a panic message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// `None` for an empty or blank key, which can only be a configuration mistake.
    pub fn new(key: impl Into<String>) -> Option<ApiKey> {
        let key = key.into().trim().to_string();
        (!key.is_empty()).then_some(ApiKey(key))
    }

    fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced, for messages that echo a server's
    /// words (an HTTP body, an error event) which might quote the key back.
    pub(crate) fn redact(&self, text: &str) -> String {
        text.replace(self.expose(), "<redacted>")
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Server voice-activity detection, which decides when the caller has finished a turn.
/// Callers on speakerphone may need a higher threshold so the model's echo does not interrupt it.
#[derive(Clone, Debug, PartialEq)]
pub struct Vad {
    pub threshold: f64,
    pub prefix_padding_ms: u32,
    pub silence_duration_ms: u32,
    /// The server cancels its reply itself when the caller talks over it; with `false` the
    /// bridge sends `response.cancel` on barge-in.
    pub interrupt_response: bool,
}

impl Default for Vad {
    fn default() -> Self {
        Vad {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
            interrupt_response: true,
        }
    }
}

/// Reconnecting after a lost connection: the delay doubles from `first_delay` for at most
/// `max_tries` attempts in a row (the Python SDK's policy); `timeout` bounds each step of
/// setting a session up.
#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    pub first_delay: Duration,
    pub max_tries: u32,
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            first_delay: Duration::from_millis(500),
            max_tries: 5,
            timeout: Duration::from_secs(10),
        }
    }
}

impl Retry {
    /// After a lost session: the next try's number and the delay before it, or `Err` with
    /// the tries made once `max_tries` in a row have failed. `failures` counts them across
    /// calls; a `healthy` session (one that streamed for a while) starts the count afresh.
    pub(crate) fn next_try(
        &self,
        failures: &mut u32,
        healthy: bool,
    ) -> Result<(u32, Duration), u32> {
        if healthy {
            *failures = 0;
        }
        *failures += 1;
        if *failures > self.max_tries {
            return Err(*failures - 1);
        }
        Ok((
            *failures,
            self.first_delay * 2u32.saturating_pow(*failures - 1),
        ))
    }
}

#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// Which API `url` speaks.
    pub api: Api,
    /// The endpoint of `api` (`ws://` for a local server); `?model=` is added for Realtime.
    pub url: String,
    pub model: String,
    pub voice: String,
    pub instructions: Option<String>,
    pub api_key: Option<ApiKey>,
    /// The call's codec: PCMU/PCMA go through as they are, Opus calls use PCM16 at 24 kHz.
    pub codec: Codec,
    /// Model for caller transcripts (a separate pass); `None` leaves them off.
    pub transcription_model: Option<String>,
    pub vad: Vad,
    pub retry: Retry,
    /// The AI caller has a goal: declare the `end_call` function (`tool_choice: auto`).
    pub end_call_tool: bool,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            api: Api::Realtime,
            url: Api::Realtime.default_url().into(),
            model: DEFAULT_MODEL.into(),
            voice: "alloy".into(),
            instructions: None,
            api_key: None,
            codec: Codec::Pcmu,
            transcription_model: Some("gpt-4o-transcribe".into()),
            vad: Vad::default(),
            retry: Retry::default(),
            end_call_tool: false,
        }
    }
}

impl BridgeConfig {
    /// The one `session.update` each session gets: GA shape, the call's codec both ways,
    /// audio-only output, server VAD.
    pub fn session_update(&self) -> ClientEvent {
        let format = Some(WireFormat::for_codec(self.codec).format());
        let vad = &self.vad;
        ClientEvent::SessionUpdate {
            session: Session {
                kind: SessionType::Realtime,
                model: Some(self.model.clone()),
                instructions: self.instructions.clone(),
                output_modalities: Some(vec![Modality::Audio]),
                audio: Some(SessionAudio {
                    input: Some(AudioInput {
                        format,
                        transcription: self.transcription_model.clone().map(|model| {
                            Transcription {
                                model,
                                language: None,
                            }
                        }),
                        turn_detection: Some(TurnDetection::ServerVad {
                            threshold: Some(vad.threshold),
                            prefix_padding_ms: Some(vad.prefix_padding_ms),
                            silence_duration_ms: Some(vad.silence_duration_ms),
                            create_response: Some(true),
                            interrupt_response: Some(vad.interrupt_response),
                        }),
                    }),
                    output: Some(AudioOutput {
                        format,
                        voice: Some(self.voice.clone()),
                    }),
                }),
                tools: self
                    .end_call_tool
                    .then(|| vec![super::caller::end_call_tool()]),
                tool_choice: self.end_call_tool.then(|| "auto".to_owned()),
            },
        }
    }
}

/// What the bridge reports; the engine turns these into `Event`s for its call.
#[derive(Clone, Debug, PartialEq)]
pub enum BridgeEvent {
    /// The session is configured and audio flows (again, when `reconnected`).
    Ready {
        session_id: Option<String>,
        model: String,
        reconnected: bool,
    },
    /// Deltas (`final_: false`) extend the line of `item`; the final piece carries the
    /// whole text of the line. A caller turn opens with an empty delta when it is committed,
    /// because its words are transcribed on the side and often arrive after the AI's reply
    /// has started; if transcription fails, its final text is [`UNTRANSCRIBED`].
    Transcript {
        speaker: Speaker,
        text: String,
        item: String,
        final_: bool,
    },
    /// The caller talked over the model: its queued audio was dropped, and the item being
    /// heard was cut at `played_ms` (`None`: no audio of it had been played).
    Interrupted {
        item: Option<String>,
        played_ms: Option<u32>,
    },
    /// The model's first audio of a turn went out this long after the caller stopped talking.
    Turn { latency_ms: u32 },
    /// The connection was lost; a new session (without the old conversation) follows.
    Reconnecting {
        attempt: u32,
        delay: Duration,
        reason: String,
    },
    /// The model called `end_call`: the AI caller's verdict on its goal. Its goodbye may
    /// still be queued for playing (see [`BridgeHandle::is_idle`]).
    EndCall { passed: bool, reason: String },
    /// Worth a log line, but the bridge goes on (a recoverable server error, an odd reply).
    Warning(String),
    /// The bridge has ended for good; no events follow. The call itself may go on.
    Failed(BridgeError),
}

/// Where a bridge's events go, tagged (e.g. with the call id) so one channel serves every call.
#[derive(Clone, Debug)]
pub struct BridgeEvents {
    pub tag: u64,
    pub tx: mpsc::UnboundedSender<(u64, BridgeEvent)>,
}

impl BridgeEvents {
    fn send(&self, event: BridgeEvent) {
        let _ = self.tx.send((self.tag, event));
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BridgeError {
    #[error("no OpenAI API key: give --api-key or set OPENAI_API_KEY")]
    MissingApiKey,
    #[error("the OpenAI API key contains characters that cannot be sent in an HTTP header")]
    MalformedApiKey,
    #[error("the Realtime URL '{url}' cannot be used: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot prepare the bridge's audio: {0}")]
    Audio(String),
    #[error("the Realtime server refused the connection with HTTP {status}: {body}")]
    HttpRefused { status: u16, body: String },
    #[error("the Realtime server refused the session ({code}): {message}")]
    Refused { code: String, message: String },
    #[error("the Realtime server rejected the session settings ({code}): {message}")]
    SettingsRejected { code: String, message: String },
    #[error("the Realtime server closed the connection (code {code}{})", if reason.is_empty() { String::new() } else { format!(", {reason}") })]
    Closed { code: u16, reason: String },
    #[error("lost the Realtime connection and {tries} reconnection attempts failed; last: {last}")]
    GaveUp { tries: u32, last: String },
    /// GPT-Live refused to start or go on (key, account, balance, model); the message says
    /// what to do.
    #[error("the Live service refused the session ({code}): {message}")]
    LiveRefused { code: String, message: String },
    #[error(
        "the Live service rejected the session settings ({code}, parameter '{param}'): {message}"
    )]
    LiveSettingsRejected {
        code: String,
        param: String,
        message: String,
    },
    /// The Live service ended the session for a reason a new session would not fix.
    #[error("the Live session ended ({reason}): {message}")]
    LiveEnded { reason: String, message: String },
    #[error("lost the Live connection and {tries} reconnection attempts failed; last: {last}")]
    LiveGaveUp { tries: u32, last: String },
}

/// Figures for the statistics view, updated as the call goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Caller turns the model answered with audio (speech stopped, then AI audio sent).
    pub turns: u64,
    /// Times the caller talked over the model while its audio was playing or queued.
    pub barge_ins: u64,
    /// Sessions set up again after a lost connection.
    pub reconnects: u64,
    pub last_latency_ms: Option<u32>,
    pub total_latency_ms: u64,
    pub caller_frames_sent: u64,
    /// Caller frames dropped because the socket could not keep up.
    pub caller_frames_dropped: u64,
    /// Caller packets the model never got: lost on the way, or arriving too late to be put
    /// back in order.
    pub caller_frames_skipped: u64,
    pub ai_frames_sent: u64,
    /// 20 ms slots sent as silence in the middle of a reply (the model's audio came late).
    pub underrun_frames: u64,
    /// Model frames dropped unplayed because more than the output buffer's cap arrived
    /// (GPT-Live streams in real time; a burst beyond the cap would only add delay).
    pub ai_frames_dropped: u64,
}

impl BridgeStats {
    pub fn mean_latency_ms(&self) -> Option<u64> {
        (self.turns > 0).then(|| self.total_latency_ms / self.turns)
    }
}

/// Whether a bridge has model audio left to play: nothing queued, and no reply that is still
/// arriving.
#[derive(Clone, Debug)]
pub struct IdleProbe(Arc<port::Shared>);

impl IdleProbe {
    pub fn is_idle(&self) -> bool {
        let inner = self.0.lock();
        match inner.live_audible {
            Some(audible) => !audible,
            None => inner.queue.queued_ms() == 0 && !inner.queue.expecting_more(),
        }
    }
}

/// Starts a bridge for one call on the current tokio runtime. Fails at once, before any
/// connection, when the key is missing or the URL unusable; connection trouble afterwards
/// arrives as events. Give the port to the call's media task (alone, or in a `MixPort`).
pub fn start(
    config: BridgeConfig,
    events: BridgeEvents,
) -> Result<(BridgeHandle, BridgePort), BridgeError> {
    let key = config.api_key.clone().ok_or(BridgeError::MissingApiKey)?;
    conn::request(&config, &key)?;
    if let Some(successor) = super::api::successor(&config.model) {
        events.send(BridgeEvent::Warning(format!(
            "the model {} is reported to shut down on 2027-01-20; use --model {successor}",
            config.model
        )));
    }
    let converter = Converter::new(config.codec).map_err(|e| BridgeError::Audio(e.to_string()))?;
    let queue = match config.api {
        Api::Realtime => OutputQueue::new(converter.wire()),
        // Live audio comes at real-time pace: a short jitter buffer, no burst to absorb.
        Api::Live => OutputQueue::with_prebuffer(converter.wire(), live::PREBUFFER_MS),
    };
    let shared = Arc::new(port::Shared::new(queue));
    let (caller_tx, caller_rx) = mpsc::channel(CALLER_QUEUE_FRAMES);
    let cancel = CancellationToken::new();
    let (shared2, events2, cancel2) = (Arc::clone(&shared), events.clone(), cancel.clone());
    let task = match config.api {
        Api::Realtime => {
            let session = task::SessionTask::new(config, key, shared2, events2, caller_rx, cancel2);
            tokio::spawn(session.run())
        }
        Api::Live => {
            let session = live::LiveTask::new(config, key, shared2, events2, caller_rx, cancel2);
            tokio::spawn(session.run())
        }
    };
    let port = BridgePort::new(Arc::clone(&shared), converter, caller_tx, events);
    let handle = BridgeHandle {
        shared,
        task,
        stop_on_drop: cancel.drop_guard(),
    };
    Ok((handle, port))
}

/// The owner's grip on a bridge. Dropping it ends the session task too.
#[derive(Debug)]
pub struct BridgeHandle {
    shared: Arc<port::Shared>,
    task: JoinHandle<()>,
    stop_on_drop: DropGuard,
}

impl BridgeHandle {
    pub fn stats(&self) -> BridgeStats {
        self.shared.stats()
    }

    /// Level of the AI audio sent since the last call (for `Levels.ai`, about 20 times a second).
    pub fn take_ai_level(&self) -> Level {
        self.shared.take_level()
    }

    /// A probe that tells, from any task, whether the model's audio has all been played.
    pub fn idle_probe(&self) -> IdleProbe {
        IdleProbe(Arc::clone(&self.shared))
    }

    /// True while a configured session is exchanging audio.
    pub fn is_streaming(&self) -> bool {
        self.shared.is_streaming()
    }

    /// Closes the session politely and returns the final figures. Bounded: a task that has
    /// not ended within `STOP_GRACE` (a server that stopped reading leaves a send blocked) is
    /// cut off; the figures live outside it and are complete either way.
    pub async fn stop(self) -> BridgeStats {
        let BridgeHandle {
            shared,
            mut task,
            stop_on_drop,
        } = self;
        drop(stop_on_drop);
        match tokio::time::timeout(STOP_GRACE, &mut task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "bridge task ended abnormally"),
            Err(_) => {
                task.abort();
                tracing::warn!("bridge task did not stop within {STOP_GRACE:?}; cut off");
            }
        }
        shared.stats()
    }
}
