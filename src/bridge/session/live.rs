//! The GPT-Live session task, beside the Realtime one (`task.rs`) and behind the same
//! `start()`, port and events: connect (no `?model=`), `session.start` → `session.started`,
//! stream caller audio continuously and play the model's as it arrives through a short
//! jitter buffer, derive turns, lines and barge-ins (`bridge::live`), `session.close` at the
//! end, and a new session when the connection drops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::conn::{self, Ended, Socket};
use super::port::Shared;
use super::{ApiKey, BridgeConfig, BridgeError, BridgeEvent, BridgeEvents};
use crate::bridge::audio::WireFormat;
use crate::bridge::live::ending::{self, OnError, Outcome};
use crate::bridge::live::lines::{Lines, Piece};
use crate::bridge::live::protocol::{
    LiveAudio, LiveClientEvent, LiveFormat, LiveOutput, LiveServerEvent, LiveSession,
    LiveSessionInfo,
};
use crate::bridge::live::turns::{self, Derived, Turns};
use crate::bridge::protocol::decode_audio;
use crate::media::audio::FRAME_MS;
use crate::vocab::Speaker;

/// Gathered before the model's audio starts playing (and after it ran dry): the service
/// sends 100 ms deltas at real-time pace, so a little more than one delta rides out jitter.
pub(super) const PREBUFFER_MS: u32 = 120;
/// The most model audio kept waiting; beyond it the oldest is dropped, since GPT-Live has
/// no truncate and a longer queue would only delay every answer and barge-in.
const QUEUE_CAP_MS: u32 = 300;
/// The output queue's ids: GPT-Live's audio is one stream with no items.
const STREAM: &str = "live";
/// How often quiet transcript lines are closed.
const TICK: Duration = Duration::from_millis(100);
/// Time for the server's `session.closed` after our `session.close` when stopping, and then
/// for the closing handshake (within `STOP_GRACE`).
const DRAIN_GRACE: Duration = Duration::from_millis(700);
const CLOSE_GRACE: Duration = Duration::from_millis(500);
/// See `task::HEALTHY_SESSION`.
const HEALTHY_SESSION: Duration = Duration::from_secs(10);

/// The `session.start` of every session of this bridge.
pub(super) fn session_start(config: &BridgeConfig) -> LiveClientEvent {
    LiveClientEvent::SessionStart {
        session: LiveSession {
            model: config.model.clone(),
            instructions: config.instructions.clone(),
            audio: LiveAudio {
                format: LiveFormat::for_wire(WireFormat::for_codec(config.codec)),
                output: LiveOutput {
                    voice: config.voice.clone(),
                },
            },
        },
    }
}

pub(super) struct LiveTask {
    config: BridgeConfig,
    key: ApiKey,
    shared: Arc<Shared>,
    events: BridgeEvents,
    caller_rx: mpsc::Receiver<Vec<u8>>,
    caller_open: bool,
    cancel: CancellationToken,
    sessions: u64,
    healthy: bool,
    wire: WireFormat,
    lines: Lines,
    turns: Turns,
    scratch: Vec<i16>,
}

/// What one streaming session remembers between events.
#[derive(Default)]
struct Stream {
    /// When the first caller audio went to this session: the origin of transcript times.
    audio_origin: Option<Instant>,
    /// The explanation for the socket's end, from `session.closed` or a fatal error.
    verdict: Option<Outcome>,
    dropped_reported: bool,
}

impl LiveTask {
    pub fn new(
        config: BridgeConfig,
        key: ApiKey,
        shared: Arc<Shared>,
        events: BridgeEvents,
        caller_rx: mpsc::Receiver<Vec<u8>>,
        cancel: CancellationToken,
    ) -> LiveTask {
        shared.lock().live_audible = Some(false);
        LiveTask {
            wire: WireFormat::for_codec(config.codec),
            config,
            key,
            shared,
            events,
            caller_rx,
            caller_open: true,
            cancel,
            sessions: 0,
            healthy: false,
            lines: Lines::default(),
            turns: Turns::default(),
            scratch: Vec::with_capacity(960),
        }
    }

    /// Sessions until stopped or failed for good; the same retry policy as the Realtime task.
    pub async fn run(mut self) {
        let mut failures = 0u32;
        loop {
            self.healthy = false;
            let ended = self.one_session().await;
            self.shared.set_streaming(false);
            self.shared.lock().live_audible = Some(false);
            let pieces = self.lines.flush();
            self.send_pieces(pieces);
            self.turns = Turns::default();
            let gave_up = |tries, last| BridgeError::LiveGaveUp { tries, last };
            let (retry, events, cancel) = (&self.config.retry, &self.events, &self.cancel);
            let again = conn::retry_after(
                ended,
                retry,
                events,
                cancel,
                &mut failures,
                self.healthy,
                gave_up,
            );
            if !again.await {
                return;
            }
        }
    }

    async fn one_session(&mut self) -> Ended {
        let cancel = self.cancel.clone();
        let opened = tokio::select! {
            _ = cancel.cancelled() => return Ended::Stopped,
            opened = self.open() => opened,
        };
        match opened {
            Ok((socket, info)) => {
                let started = Instant::now();
                let ended = self.stream(socket, info).await;
                self.healthy = started.elapsed() >= HEALTHY_SESSION;
                ended
            }
            Err(ended) => ended,
        }
    }

    /// Connects, sends `session.start` and waits for `session.started`.
    async fn open(&self) -> Result<(Socket, LiveSessionInfo), Ended> {
        let limit = self.config.retry.timeout;
        let late = |what: &str| Ended::Lost(format!("no {what} within {} s", limit.as_secs_f32()));
        let request = conn::request(&self.config, &self.key).map_err(Ended::Fatal)?;
        let mut socket = timeout(limit, conn::connect(request, &self.key))
            .await
            .map_err(|_| late("answer to the WebSocket upgrade"))?
            .map_err(live_refusal)?;
        conn::send(&mut socket, session_start(&self.config).to_json()).await?;
        let info = timeout(limit, self.wait_started(&mut socket))
            .await
            .map_err(|_| late("session.started"))??;
        Ok((socket, info))
    }

    async fn wait_started(&self, socket: &mut Socket) -> Result<LiveSessionInfo, Ended> {
        loop {
            let text = match socket.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => {
                    let frame = frame
                        .as_ref()
                        .map(|f| (u16::from(f.code), f.reason.as_str()));
                    return Err(ended(ending::on_socket_closed(frame, &self.key)));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(Ended::Lost(self.key.redact(&e.to_string()))),
                None => return Err(Ended::Lost("the connection closed during set-up".into())),
            };
            match LiveServerEvent::parse(text.as_str()) {
                Ok(LiveServerEvent::SessionStarted { session }) => return Ok(session),
                // An error before `session.started` means the start failed (pipecat's rule).
                Ok(LiveServerEvent::Error { error }) => {
                    return Err(match ending::on_error(&error, false, &self.key) {
                        OnError::End(outcome) => ended(outcome),
                        OnError::Warn(message) => Ended::Lost(message),
                    });
                }
                Ok(LiveServerEvent::SessionClosed { reason, .. }) => {
                    return Err(ended(ending::on_closed(reason.as_deref(), false)));
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "ignoring unreadable event during set-up"),
            }
        }
    }

    async fn stream(&mut self, mut socket: Socket, info: LiveSessionInfo) -> Ended {
        // Caller audio queued while no session was started is stale now.
        while self.caller_rx.try_recv().is_ok() {}
        self.shared.set_streaming(true);
        let reconnected = self.sessions > 0;
        self.sessions += 1;
        if reconnected {
            self.shared.lock().stats.reconnects += 1;
        }
        tracing::info!(session = ?info.id, reconnected, "Live bridge streaming");
        self.events.send(BridgeEvent::Ready {
            session_id: info.id,
            model: info.model.unwrap_or_else(|| self.config.model.clone()),
            reconnected,
        });
        let mut state = Stream::default();
        let mut tick = tokio::time::interval(TICK);
        let cancel = self.cancel.clone();
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return self.close(socket).await,
                // Every frame goes, silence included: the model hears the caller stop.
                frame = self.caller_rx.recv(), if self.caller_open => match frame {
                    Some(audio) => {
                        let append = LiveClientEvent::append(&audio).to_json();
                        if let Err(ended) = conn::send(&mut socket, append).await {
                            return ended;
                        }
                        state.audio_origin.get_or_insert_with(Instant::now);
                        self.shared.lock().stats.caller_frames_sent += 1;
                        self.caller_audio(&audio);
                    }
                    None => self.caller_open = false,
                },
                message = socket.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(end) = self.on_event(text.as_str(), &mut state) {
                            return end;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let frame = frame.as_ref().map(|f| (u16::from(f.code), f.reason.as_str()));
                        let outcome = state
                            .verdict
                            .take()
                            .unwrap_or_else(|| ending::on_socket_closed(frame, &self.key));
                        return ended(outcome);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        return state.verdict.take().map_or_else(
                            || Ended::Lost(self.key.redact(&e.to_string())),
                            ended,
                        );
                    }
                    None => {
                        let outcome = state
                            .verdict
                            .take()
                            .unwrap_or_else(|| ending::on_socket_closed(None, &self.key));
                        return ended(outcome);
                    }
                },
                _ = tick.tick() => {
                    let pieces = self.lines.tick(Instant::now());
                    self.send_pieces(pieces);
                }
            }
        }
    }

    /// One server event; `Some` when it ends the session.
    fn on_event(&mut self, text: &str, state: &mut Stream) -> Option<Ended> {
        let event = match LiveServerEvent::parse(text) {
            Ok(event) => event,
            Err(e) => {
                tracing::debug!(error = %e, "ignoring unreadable event");
                return None;
            }
        };
        let now = Instant::now();
        match event {
            LiveServerEvent::OutputAudioDelta { delta } => match decode_audio(&delta) {
                Ok(audio) => self.model_audio(&audio, now, state),
                Err(e) => tracing::debug!(error = %e, "dropping a bad delta"),
            },
            LiveServerEvent::InputTranscriptDelta { delta, end_ms, .. } => {
                let said_until = match (state.audio_origin, end_ms) {
                    (Some(origin), Some(end)) => origin + Duration::from_millis(end),
                    _ => now,
                };
                self.turns.caller_words(said_until.min(now));
                let pieces = self.lines.delta(Speaker::Caller, &delta, now);
                self.send_pieces(pieces);
            }
            LiveServerEvent::OutputTranscriptDelta { delta, .. } => {
                let pieces = self.lines.delta(Speaker::Ai, &delta, now);
                self.send_pieces(pieces);
            }
            LiveServerEvent::Error { error } => match ending::on_error(&error, true, &self.key) {
                OnError::Warn(message) => self.warn(message),
                // Fatal at once: the service may hold the socket open for seconds.
                OnError::End(Outcome::Fatal(error)) => return Some(Ended::Fatal(error)),
                OnError::End(outcome) => state.verdict = Some(outcome),
            },
            LiveServerEvent::SessionClosed { reason, .. } => {
                let outcome = ending::on_closed(reason.as_deref(), false);
                tracing::info!(?reason, "Live session closed by the service");
                if let Outcome::Fatal(error) = outcome {
                    return Some(Ended::Fatal(error));
                }
                state.verdict = Some(outcome);
            }
            LiveServerEvent::UsageUpdated { usage } => {
                tracing::debug!(seconds = usage.seconds, "Live usage");
            }
            LiveServerEvent::Info { message } => {
                tracing::info!(
                    message = message.as_deref().unwrap_or_default(),
                    "Live service info"
                );
            }
            LiveServerEvent::SessionStarted { .. } | LiveServerEvent::Unknown => {}
        }
        None
    }

    /// A delta of model audio: queued to play (capped), and judged for turns.
    fn model_audio(&mut self, audio: &[u8], now: Instant, state: &mut Stream) {
        let audible = turns::is_loud(
            self.wire,
            audio,
            turns::MODEL_AUDIBLE_DBFS,
            &mut self.scratch,
        );
        let duration = Duration::from_millis(u64::from(self.wire.ms(audio.len())));
        let (queued, dropped) = {
            let mut inner = self.shared.lock();
            let queued = inner.queue.queued_ms();
            inner.queue.push(STREAM, STREAM, audio);
            let dropped = inner.queue.trim_to(QUEUE_CAP_MS);
            inner.live_audible = Some(audible);
            inner.stats.ai_frames_dropped += u64::from(dropped);
            (queued, dropped)
        };
        if dropped > 0 && !state.dropped_reported {
            state.dropped_reported = true;
            self.warn(format!(
                "the model's audio arrived faster than it plays; {} ms beyond the {QUEUE_CAP_MS} ms \
                 buffer were dropped (further drops are only counted)",
                dropped * FRAME_MS
            ));
        }
        let queued = Duration::from_millis(u64::from(queued));
        if let Some(derived) = self.turns.model_audio(audible, now, duration, queued) {
            self.derived(derived);
        }
    }

    fn caller_audio(&mut self, audio: &[u8]) {
        let loud = turns::is_loud(
            self.wire,
            audio,
            turns::CALLER_SPEECH_DBFS,
            &mut self.scratch,
        );
        if let Some(derived) = self.turns.caller_frame(loud, Instant::now()) {
            self.derived(derived);
        }
    }

    fn derived(&mut self, derived: Derived) {
        match derived {
            Derived::Turn { latency_ms } => {
                {
                    let mut inner = self.shared.lock();
                    inner.stats.turns += 1;
                    inner.stats.last_latency_ms = Some(latency_ms);
                    inner.stats.total_latency_ms += u64::from(latency_ms);
                }
                self.events.send(BridgeEvent::Turn { latency_ms });
            }
            // The model hears the caller and stops by itself; there is nothing to cancel.
            Derived::BargeIn => {
                self.shared.lock().stats.barge_ins += 1;
                self.events.send(BridgeEvent::Interrupted {
                    item: self.lines.open_item(Speaker::Ai),
                    played_ms: None,
                });
            }
        }
    }

    /// `session.close`, the server's `session.closed` (it drains first), then the closing
    /// handshake; bounded, since the owner waits.
    async fn close(&mut self, mut socket: Socket) -> Ended {
        // The whole drain is bounded: a server that stopped reading must not hold the send.
        let drained = timeout(DRAIN_GRACE, async {
            let close = LiveClientEvent::SessionClose.to_json();
            if conn::send(&mut socket, close).await.is_err() {
                return;
            }
            while let Some(Ok(message)) = socket.next().await {
                match message {
                    Message::Close(_) => return,
                    Message::Text(text) => {
                        if let Ok(LiveServerEvent::SessionClosed { .. }) =
                            LiveServerEvent::parse(text.as_str())
                        {
                            return;
                        }
                    }
                    _ => {}
                }
            }
        });
        let _ = drained.await;
        let bye = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        let _ = timeout(CLOSE_GRACE, socket.close(Some(bye))).await;
        Ended::Stopped
    }

    fn send_pieces(&self, pieces: Vec<Piece>) {
        for piece in pieces {
            self.events.send(BridgeEvent::Transcript {
                speaker: piece.speaker,
                text: piece.text,
                item: piece.item,
                final_: piece.final_,
            });
        }
    }

    fn warn(&self, message: String) {
        tracing::warn!(%message, "voice bridge");
        self.events.send(BridgeEvent::Warning(message));
    }
}

fn ended(outcome: Outcome) -> Ended {
    match outcome {
        Outcome::Normal => Ended::Stopped,
        Outcome::Reconnect(reason) => Ended::Lost(reason),
        Outcome::Fatal(error) => Ended::Fatal(error),
    }
}

/// A refused upgrade, named for the Live service: HTTP 401 is a key problem.
fn live_refusal(ended: Ended) -> Ended {
    match ended {
        Ended::Fatal(BridgeError::HttpRefused { status, body }) => {
            let advice = match status {
                401 => "the API key was refused: check --api-key or OPENAI_API_KEY; ",
                _ => "",
            };
            Ended::Fatal(BridgeError::LiveRefused {
                code: format!("HTTP {status}"),
                message: format!("{advice}the server said: {body}"),
            })
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Codec;

    #[test]
    fn session_start_follows_the_call_codec_and_the_settings() {
        let config = BridgeConfig {
            api: crate::bridge::Api::Live,
            model: "gpt-live-1".into(),
            voice: "juni".into(),
            instructions: Some("Be brief.".into()),
            codec: Codec::Pcma,
            ..BridgeConfig::default()
        };
        let json: serde_json::Value =
            serde_json::from_str(&session_start(&config).to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type":"session.start","session":{"model":"gpt-live-1",
                "instructions":"Be brief.",
                "audio":{"format":{"type":"audio/pcma","rate":8000},"output":{"voice":"juni"}}}})
        );
        let opus = BridgeConfig {
            codec: Codec::Opus,
            ..config
        };
        let json: serde_json::Value =
            serde_json::from_str(&session_start(&opus).to_json()).unwrap();
        assert_eq!(
            json["session"]["audio"]["format"],
            serde_json::json!({"type":"audio/pcm","rate":24000})
        );
    }

    #[test]
    fn a_refused_upgrade_is_named_for_the_live_service_and_hides_nothing_else() {
        let refused = live_refusal(Ended::Fatal(BridgeError::HttpRefused {
            status: 401,
            body: "Incorrect API key provided (invalid_api_key)".into(),
        }));
        match refused {
            Ended::Fatal(e) => {
                let text = e.to_string();
                assert!(
                    text.starts_with("the Live service refused the session (HTTP 401)"),
                    "{text}"
                );
                assert!(text.contains("--api-key"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            live_refusal(Ended::Lost("x".into())),
            Ended::Lost(_)
        ));
    }
}
