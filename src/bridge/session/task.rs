//! The session task: connect, configure, stream, and start over when the connection is lost.

use std::collections::{HashMap, HashSet};
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
use super::{ApiKey, BridgeConfig, BridgeError, BridgeEvent, BridgeEvents, UNTRANSCRIBED};
use crate::bridge::audio::WireFormat;
use crate::bridge::caller::{parse_end_call, END_CALL};
use crate::bridge::protocol::{
    ApiError, ClientEvent, NewItem, ResponseStatus, ServerEvent, SessionInfo,
};
use crate::vocab::Speaker;

/// How long a polite close may take when the owner stops the bridge.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// A session that streamed this long was healthy: losing it starts the retry count afresh.
/// A shorter one counts as a failed try, so a server that accepts and drops every session is
/// not reconnected to forever.
const HEALTHY_SESSION: Duration = Duration::from_secs(10);

/// A function call the model made, from whichever event told us first.
struct FunctionCall {
    response_id: String,
    call_id: String,
    name: Option<String>,
    arguments: String,
}

pub(super) struct SessionTask {
    config: BridgeConfig,
    key: ApiKey,
    shared: Arc<Shared>,
    events: BridgeEvents,
    caller_rx: mpsc::Receiver<Vec<u8>>,
    /// False once the port is gone (the call's media ended): nothing more to append.
    caller_open: bool,
    cancel: CancellationToken,
    sessions: u64,
    /// The last session streamed for at least `HEALTHY_SESSION`.
    healthy: bool,
    /// The model's transcript so far of each item whose `.done` has not come, so that a
    /// reply cut off by the end of the session still gets its line.
    open_lines: Vec<(String, String)>,
}

/// What one streaming session remembers between events.
#[derive(Default)]
struct Turn {
    /// The response being generated, so a barge-in can discard its late deltas.
    active_response: Option<String>,
    /// The last `error` event: it explains the close that follows it.
    last_error: Option<ApiError>,
    /// Function names by item id, from `response.output_item.added` (GA's
    /// `function_call_arguments.done` does not repeat the name).
    functions: HashMap<String, String>,
    /// Function calls answered, by `call_id`: the arguments' `.done` and the item's
    /// `output_item.done` both carry a call, and it is answered once.
    answered: HashSet<String>,
    /// A reply to ask for once this response is done: the model must try its function
    /// call again (a `response.create` while it is active would be refused).
    respond_after: Option<String>,
}

impl SessionTask {
    pub fn new(
        config: BridgeConfig,
        key: ApiKey,
        shared: Arc<Shared>,
        events: BridgeEvents,
        caller_rx: mpsc::Receiver<Vec<u8>>,
        cancel: CancellationToken,
    ) -> SessionTask {
        SessionTask {
            config,
            key,
            shared,
            events,
            caller_rx,
            caller_open: true,
            cancel,
            sessions: 0,
            healthy: false,
            open_lines: Vec::new(),
        }
    }

    pub async fn run(mut self) {
        // Failed attempts since the last healthy session.
        let mut failures = 0u32;
        loop {
            self.healthy = false;
            let ended = self.one_session().await;
            self.shared.set_streaming(false);
            self.close_open_lines();
            let gave_up = |tries, last| BridgeError::GaveUp { tries, last };
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
            opened = conn::open(&self.config, &self.key) => opened,
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

    async fn stream(&mut self, mut socket: Socket, info: SessionInfo) -> Ended {
        // Caller audio queued while no session was configured is stale now.
        while self.caller_rx.try_recv().is_ok() {}
        self.shared.set_streaming(true);
        let reconnected = self.sessions > 0;
        self.sessions += 1;
        if reconnected {
            self.shared.lock().stats.reconnects += 1;
        }
        let expected = WireFormat::for_codec(self.config.codec).format();
        if info.output_format().is_some_and(|f| f != expected) {
            self.warn(format!(
                "the server kept output audio as {:?} instead of {expected:?}",
                info.output_format()
            ));
        }
        tracing::info!(session = ?info.id, reconnected, "voice bridge streaming");
        self.events.send(BridgeEvent::Ready {
            session_id: info.id,
            model: info.model.unwrap_or_else(|| self.config.model.clone()),
            reconnected,
        });
        let mut turn = Turn::default();
        let cancel = self.cancel.clone();
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    let bye = CloseFrame {
                        code: CloseCode::Normal,
                        reason: "".into(),
                    };
                    let _ = timeout(CLOSE_GRACE, socket.close(Some(bye))).await;
                    return Ended::Stopped;
                }
                // The caller's audio first: it comes about 50 times a second, so it cannot
                // starve the server's events, and a burst of deltas must not hold it back.
                frame = self.caller_rx.recv(), if self.caller_open => match frame {
                    Some(audio) => {
                        if let Err(ended) = conn::send(&mut socket, ClientEvent::append(&audio).to_json()).await {
                            return ended;
                        }
                        self.shared.lock().stats.caller_frames_sent += 1;
                    }
                    None => self.caller_open = false,
                },
                message = socket.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Err(ended) = self.on_event(&mut socket, text.as_str(), &mut turn).await {
                            return ended;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return conn::closed(frame.as_ref(), turn.last_error.as_ref(), &self.key);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Ended::Lost(self.key.redact(&e.to_string())),
                    None => return Ended::Lost("the connection dropped".into()),
                },
            }
        }
    }

    async fn on_event(
        &mut self,
        socket: &mut Socket,
        text: &str,
        turn: &mut Turn,
    ) -> Result<(), Ended> {
        let event = match ServerEvent::parse(text) {
            Ok(event) => event,
            Err(e) => {
                tracing::debug!(error = %e, "ignoring unreadable event");
                return Ok(());
            }
        };
        match event {
            ServerEvent::SpeechStarted { .. } => self.barge_in(socket, turn).await?,
            ServerEvent::SpeechStopped { .. } => {
                self.shared.lock().turn_started = Some(Instant::now());
            }
            ServerEvent::ResponseCreated { response } => turn.active_response = Some(response.id),
            ServerEvent::AudioDelta {
                response_id,
                item_id,
                delta,
                ..
            } => match crate::bridge::protocol::decode_audio(&delta) {
                Ok(audio) => {
                    self.shared
                        .lock()
                        .queue
                        .push(&response_id, &item_id, &audio);
                }
                Err(e) => tracing::debug!(error = %e, item = %item_id, "dropping a bad delta"),
            },
            ServerEvent::AudioDone { item_id, .. } => {
                self.shared.lock().queue.finish_item(&item_id)
            }
            // After a barge-in the caller never heard the rest: the `Interrupted` event ends
            // that item's line, and the server drops the unheard words from its history too.
            ServerEvent::AudioTranscriptDelta { item_id, delta, .. } if self.heard(&item_id) => {
                match self
                    .open_lines
                    .iter_mut()
                    .find(|(item, _)| *item == item_id)
                {
                    Some((_, text)) => text.push_str(&delta),
                    None => self.open_lines.push((item_id.clone(), delta.clone())),
                }
                self.transcript(Speaker::Ai, delta, item_id, false);
            }
            ServerEvent::AudioTranscriptDone {
                item_id,
                transcript,
                ..
            } if self.heard(&item_id) => {
                self.open_lines.retain(|(item, _)| *item != item_id);
                self.transcript(Speaker::Ai, transcript, item_id, true);
            }
            // The caller's words are transcribed on the side and usually land after the reply
            // has started; an empty line opened at commit keeps the caller's turn before it.
            ServerEvent::InputCommitted { item_id, .. } if !item_id.is_empty() => {
                self.transcript(Speaker::Caller, String::new(), item_id, false);
            }
            ServerEvent::InputTranscriptDelta { item_id, delta, .. } => {
                self.transcript(Speaker::Caller, delta, item_id, false);
            }
            ServerEvent::InputTranscriptCompleted {
                item_id,
                transcript,
                ..
            } => {
                self.transcript(Speaker::Caller, transcript, item_id, true);
            }
            ServerEvent::InputTranscriptFailed { item_id, error, .. } => {
                self.warn(format!("caller transcription failed: {}", error.message));
                self.transcript(Speaker::Caller, UNTRANSCRIBED.to_owned(), item_id, true);
            }
            ServerEvent::OutputItemAdded { item, .. } if item.kind == "function_call" => {
                if let Some(name) = item.name {
                    turn.functions.insert(item.id, name);
                }
            }
            ServerEvent::FunctionCallArgumentsDone {
                response_id,
                item_id,
                call_id,
                name,
                arguments,
            } => {
                let name = name.or_else(|| turn.functions.get(&item_id).cloned());
                let call = FunctionCall {
                    response_id,
                    call_id,
                    name,
                    arguments,
                };
                self.function_call(socket, turn, call).await?;
            }
            ServerEvent::OutputItemDone { response_id, item } if item.kind == "function_call" => {
                let call = FunctionCall {
                    response_id,
                    call_id: item.call_id.unwrap_or_default(),
                    name: item.name.or_else(|| turn.functions.get(&item.id).cloned()),
                    arguments: item.arguments.unwrap_or_default(),
                };
                self.function_call(socket, turn, call).await?;
            }
            ServerEvent::ResponseDone { response } => {
                if turn.active_response.as_deref() == Some(response.id.as_str()) {
                    turn.active_response = None;
                }
                if turn.respond_after.as_deref() == Some(response.id.as_str()) {
                    turn.respond_after = None;
                    conn::send(socket, ClientEvent::ResponseCreate.to_json()).await?;
                }
                if response.status == ResponseStatus::Failed {
                    let why = response
                        .status_details
                        .and_then(|d| d.error)
                        .map(|e| e.message);
                    self.warn(format!(
                        "the model's reply failed: {}",
                        why.unwrap_or_default()
                    ));
                }
            }
            ServerEvent::Error { error } => self.on_error(error, turn)?,
            _ => {}
        }
        Ok(())
    }

    /// Answers a function call the model made: `end_call` with good arguments becomes the
    /// verdict; anything else gets an output saying what was wrong, and a new reply is asked
    /// for so the model can try again.
    async fn function_call(
        &mut self,
        socket: &mut Socket,
        turn: &mut Turn,
        call: FunctionCall,
    ) -> Result<(), Ended> {
        if call.call_id.is_empty() || !turn.answered.insert(call.call_id.clone()) {
            return Ok(());
        }
        let output = match call.name.as_deref() {
            Some(END_CALL) => match parse_end_call(&call.arguments) {
                Ok((passed, reason)) => {
                    tracing::info!(passed, %reason, "the model ended the call");
                    self.events.send(BridgeEvent::EndCall { passed, reason });
                    "Verdict recorded; the call is being ended.".to_owned()
                }
                Err(e) => {
                    self.warn(format!(
                        "the model called {END_CALL} with bad arguments: {e}"
                    ));
                    turn.respond_after = Some(call.response_id);
                    format!(
                        "Error: {e}. Call {END_CALL} again with {{\"passed\": true or false, \
                         \"reason\": \"one sentence\"}}."
                    )
                }
            },
            other => {
                let name = other.unwrap_or("(no name)");
                self.warn(format!("the model called an unknown function '{name}'"));
                turn.respond_after = Some(call.response_id);
                format!("Error: there is no function '{name}'; the only one is {END_CALL}.")
            }
        };
        let item = NewItem::FunctionCallOutput {
            call_id: call.call_id,
            output,
        };
        conn::send(
            socket,
            ClientEvent::ConversationItemCreate { item }.to_json(),
        )
        .await
    }

    /// The caller talks over the model: drop what was not heard, tell the server where the
    /// caller stopped listening, and cancel the reply when the server will not.
    async fn barge_in(&mut self, socket: &mut Socket, turn: &mut Turn) -> Result<(), Ended> {
        let cleared = {
            let mut inner = self.shared.lock();
            inner.turn_started = None;
            let cleared = inner.queue.clear();
            if let Some(response) = &turn.active_response {
                inner.queue.cancel_response(response);
            }
            if cleared.interrupted() {
                inner.stats.barge_ins += 1;
            }
            cleared
        };
        if let Some((item, audio_end_ms)) = cleared.truncate_at() {
            let truncate = ClientEvent::ConversationItemTruncate {
                item_id: item.to_string(),
                content_index: 0,
                audio_end_ms,
            };
            conn::send(socket, truncate.to_json()).await?;
        }
        if !self.config.vad.interrupt_response && turn.active_response.is_some() {
            // Harmless if the reply just finished: the server answers response_cancel_not_active.
            conn::send(
                socket,
                ClientEvent::ResponseCancel { response_id: None }.to_json(),
            )
            .await?;
        }
        // A cut reply's line ends with the `Interrupted` event: the caller never heard the
        // rest, so it is not written out as cut off later.
        let open_lines = std::mem::take(&mut self.open_lines);
        self.open_lines = open_lines
            .into_iter()
            .filter(|(item, _)| self.heard(item))
            .collect();
        if cleared.interrupted() {
            let played_ms = cleared.truncate_at().map(|(_, ms)| ms);
            self.events.send(BridgeEvent::Interrupted {
                item: cleared.item_id,
                played_ms,
            });
        }
        Ok(())
    }

    fn on_error(&self, error: ApiError, turn: &mut Turn) -> Result<(), Ended> {
        let code = error.code.as_deref().unwrap_or_default();
        if conn::is_fatal_code(Some(code)) {
            return Err(Ended::Fatal(conn::refused(&error, &self.key)));
        }
        match code {
            // We cancelled a reply that had just finished: nothing was wrong.
            "response_cancel_not_active" => {}
            // Expected at the 60-minute limit; the close that follows starts a new session.
            "session_expired" => tracing::info!("Realtime session expired"),
            _ => self.warn(format!(
                "the Realtime server reported {code}: {}",
                self.key.redact(&error.message)
            )),
        }
        turn.last_error = Some(error);
        Ok(())
    }

    /// False for an item cut by a barge-in: the caller never heard the rest of it.
    fn heard(&self, item_id: &str) -> bool {
        !self.shared.lock().queue.is_cancelled(item_id)
    }

    /// The session ended (stopped, lost or failed) in the middle of replies: each gets its
    /// line with the words so far, marked as cut off.
    fn close_open_lines(&mut self) {
        for (item, text) in std::mem::take(&mut self.open_lines) {
            let text = text.trim();
            if !text.is_empty() {
                self.transcript(Speaker::Ai, format!("{text} …"), item, true);
            }
        }
    }

    fn transcript(&self, speaker: Speaker, text: String, item: String, final_: bool) {
        self.events.send(BridgeEvent::Transcript {
            speaker,
            text,
            item,
            final_,
        });
    }

    fn warn(&self, message: String) {
        tracing::warn!(%message, "voice bridge");
        self.events.send(BridgeEvent::Warning(message));
    }
}
