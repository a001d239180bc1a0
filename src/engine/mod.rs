//! The engine: owns the account, the calls and their media, takes `Command`s and emits `Event`s.
//!
//! One task runs `Engine::run`; it reacts to commands from the front-end, SIP events from the
//! user agent and registration updates, and it never draws or reads keys. Slow SIP operations
//! (BYE waits for its answer) run in their own tasks so the loop stays responsive.

mod call;
mod types;

pub use types::*;

use crate::config::{AudioChoice, Config};
use crate::media::codec::Codec;
use crate::media::sdp;
use crate::sip::registration::{RegUpdate, RegistrationTask};
use crate::sip::trace::TraceDirection;
use crate::sip::ua::{DialogKey, Responder, SipEvent, Termination, UaError, UserAgent};
use call::Call;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for BYEs to be answered before giving up on them.
const HANGUP_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Sip(#[from] UaError),
    #[error("registration cannot start: {0}")]
    Registration(String),
}

/// Codecs the media layer can carry today; others in `--codecs` are skipped.
const SUPPORTED_CODECS: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

pub struct Engine {
    config: Config,
    events: broadcast::Sender<Event>,
    ua: UserAgent,
    bind_ip: IpAddr,
    codecs: Vec<Codec>,
    calls: BTreeMap<CallId, Call>,
    by_key: HashMap<DialogKey, CallId>,
    next_id: u64,
    /// BYEs in flight; shutdown waits for them.
    hangups: tokio::task::JoinSet<()>,
    /// Calls whose `--answer-after` delay has passed.
    due_answers: mpsc::UnboundedSender<CallId>,
}

impl Engine {
    /// Binds SIP, starts the user agent, and runs until `Command::Quit` or `--duration`.
    pub async fn run(
        config: Config,
        mut commands: mpsc::UnboundedReceiver<Command>,
        events: broadcast::Sender<Event>,
    ) -> Result<(), EngineError> {
        let bind_ip = match config.bind {
            Some(ip) => ip,
            None => route_to(&config.account.registrar.host_port()).await?,
        };
        let (sip_tx, mut sip_rx) = mpsc::unbounded_channel();
        let sip_cancel = CancellationToken::new();
        let ua = UserAgent::start(&config, bind_ip, sip_tx, sip_cancel.clone()).await?;
        let codecs: Vec<Codec> = config
            .codecs
            .iter()
            .copied()
            .filter(|c| SUPPORTED_CODECS.contains(c))
            .collect();
        let (due_tx, mut due_rx) = mpsc::unbounded_channel();
        let mut engine = Engine {
            config,
            events,
            ua,
            bind_ip,
            codecs,
            calls: BTreeMap::new(),
            by_key: HashMap::new(),
            next_id: 1,
            hangups: tokio::task::JoinSet::new(),
            due_answers: due_tx,
        };
        engine.announce_start();

        let (reg_tx, mut reg_rx) = mpsc::unbounded_channel();
        let registration = RegistrationTask::start(
            &engine.ua,
            &engine.config.account,
            engine.config.transport,
            reg_tx,
        )
        .map_err(EngineError::Registration)?;

        let deadline = engine
            .config
            .duration
            .map(|d| tokio::time::Instant::now() + d);
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Quit) | None => break,
                    Some(cmd) => engine.on_command(cmd).await,
                },
                Some(ev) = sip_rx.recv() => engine.on_sip(ev).await,
                Some(update) = reg_rx.recv() => engine.on_registration(update),
                Some(id) = due_rx.recv() => {
                    // The caller may have given up while it rang.
                    if engine.calls.get(&id).is_some_and(|c| c.state == CallState::Ringing) {
                        engine.answer(id).await;
                    }
                }
                _ = sleep_until(deadline) => {
                    engine.log(LogLevel::Info, LogKind::Cleanup, format!(
                        "--duration of {} s reached, stopping",
                        engine.config.duration.unwrap_or_default().as_secs()
                    ));
                    break;
                }
            }
        }

        engine.shutdown(&mut sip_rx).await;
        // Registration updates from the unregister are reported as they arrive.
        let reg_done = registration.stop();
        tokio::pin!(reg_done);
        loop {
            tokio::select! {
                _ = &mut reg_done => break,
                Some(update) = reg_rx.recv() => engine.on_registration(update),
            }
        }
        while let Ok(update) = reg_rx.try_recv() {
            engine.on_registration(update);
        }
        sip_cancel.cancel();
        engine.log(
            LogLevel::Info,
            LogKind::Cleanup,
            "clean-up finished, goodbye",
        );
        let _ = engine.events.send(Event::Stopped);
        Ok(())
    }

    fn announce_start(&self) {
        let c = &self.config;
        let _ = self.events.send(Event::Started {
            account: c.account.aor.to_string(),
            registrar: c.account.registrar.to_string(),
            transport: c.transport.as_str().to_string(),
            local_sip: crate::sip::ua::host_port(self.ua.local),
        });
        self.log(
            LogLevel::Info,
            LogKind::Startup,
            format!(
                "sipterm {} listening for SIP on {} over {}, registering {} at {}",
                env!("CARGO_PKG_VERSION"),
                crate::sip::ua::host_port(self.ua.local),
                c.transport.as_str(),
                c.account.aor,
                c.account.registrar
            ),
        );
        let skipped: Vec<&str> = c
            .codecs
            .iter()
            .filter(|codec| !SUPPORTED_CODECS.contains(codec))
            .map(|codec| codec.name())
            .collect();
        if !skipped.is_empty() {
            self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!(
                    "codec(s) {} not available in this build yet; offering {}",
                    skipped.join(", "),
                    self.codecs
                        .iter()
                        .map(|c| c.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        if c.audio == AudioChoice::Device {
            self.log(
                LogLevel::Warn,
                LogKind::Warning,
                "no sound-card support in this build yet: call audio uses --audio null (silence)",
            );
        }
        if c.play.is_some() || c.record.is_some() || c.bridge.enabled {
            self.log(
                LogLevel::Warn,
                LogKind::Warning,
                "--play, --record and --bridge are accepted but not active in this build yet",
            );
        }
    }

    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    fn log(&self, level: LogLevel, kind: LogKind, message: impl Into<String>) {
        self.emit(Event::Log {
            level,
            kind,
            message: message.into(),
        });
    }

    fn on_registration(&mut self, update: RegUpdate) {
        let (state, expires, reason) = match update {
            RegUpdate::Registering => (RegistrationState::Registering, None, None),
            RegUpdate::Registered { expires } => {
                self.log(
                    LogLevel::Info,
                    LogKind::Success,
                    format!(
                        "registered as {} (expires in {expires} s)",
                        self.config.account.aor
                    ),
                );
                (RegistrationState::Registered, Some(expires), None)
            }
            RegUpdate::Retrying { reason, retry_in } => {
                self.log(
                    LogLevel::Warn,
                    LogKind::Warning,
                    format!(
                        "registration: {reason}; waiting for the registrar, next try in {} s",
                        retry_in.as_secs()
                    ),
                );
                (RegistrationState::Retrying, None, Some(reason))
            }
            RegUpdate::Failed { reason } => {
                self.log(
                    LogLevel::Error,
                    LogKind::Error,
                    format!("registration failed: {reason}"),
                );
                (RegistrationState::Failed, None, Some(reason))
            }
            RegUpdate::Unregistering => (RegistrationState::Unregistering, None, None),
            RegUpdate::Unregistered => {
                self.log(LogLevel::Info, LogKind::Cleanup, "unregistered");
                (RegistrationState::Unregistered, None, None)
            }
            RegUpdate::UnregisterFailed { reason } => {
                self.log(
                    LogLevel::Warn,
                    LogKind::Warning,
                    format!("unregister was not confirmed: {reason}"),
                );
                (RegistrationState::Unregistered, None, Some(reason))
            }
        };
        self.emit(Event::Registration {
            state,
            expires,
            reason,
        });
    }

    async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Answer(id) => self.answer(id).await,
            Command::Reject { call, decline } => self.reject(call, if decline { 603 } else { 486 }),
            Command::Hangup(id) => self.hangup(id),
            Command::Quit => {}
        }
    }

    async fn on_sip(&mut self, event: SipEvent) {
        match event {
            SipEvent::Invite {
                key,
                from,
                display_name,
                to,
                offer,
            } => self.on_invite(key, from, display_name, to, offer).await,
            SipEvent::Confirmed { key, ack_sdp } => self.on_confirmed(key, ack_sdp).await,
            SipEvent::Reoffer {
                key,
                offer,
                responder,
            } => self.on_reoffer(key, offer, responder).await,
            SipEvent::Terminated { key, why } => self.on_terminated(key, why).await,
            SipEvent::Trace(line) => {
                if self.config.verbose {
                    let arrow = match line.direction {
                        TraceDirection::Sent => "sent to",
                        TraceDirection::Received => "received from",
                    };
                    self.log(
                        LogLevel::Debug,
                        LogKind::Sip,
                        format!(
                            "SIP {arrow} {}:\n{}",
                            line.peer.as_deref().unwrap_or("?"),
                            line.text.trim_end()
                        ),
                    );
                }
            }
        }
    }

    async fn on_invite(
        &mut self,
        key: DialogKey,
        from: String,
        display_name: Option<String>,
        to: String,
        offer: Option<String>,
    ) {
        let id = CallId(self.next_id);
        self.next_id += 1;
        let who = display_name
            .as_ref()
            .map(|d| format!("{d} <{from}>"))
            .unwrap_or_else(|| from.clone());
        // Decide on the offer before ringing: an unusable offer is refused at once.
        let parsed = match offer.as_deref().map(sdp::parse).transpose() {
            Ok(p) => p,
            Err(e) => {
                self.log(
                    LogLevel::Warn,
                    LogKind::Warning,
                    format!("call {id} from {who}: unreadable SDP offer ({e}); answering 400"),
                );
                self.ua.reject(&key, 400);
                return;
            }
        };
        if let Some(offer) = &parsed {
            let probe = sdp::LocalMedia {
                addr: self.bind_ip,
                port: 9,
                session_id: 0,
                session_version: 0,
            };
            if let Err(e) = sdp::answer(offer, &self.codecs, &probe) {
                let status = if e.is_not_acceptable() { 488 } else { 400 };
                self.log(
                    LogLevel::Warn,
                    LogKind::Warning,
                    format!("call {id} from {who}: {e}; answering {status}"),
                );
                self.ua.reject(&key, status);
                self.emit(Event::IncomingCall {
                    call: id,
                    from,
                    display_name,
                    to,
                });
                self.emit(Event::CallEnded {
                    call: id,
                    reason: if status == 488 {
                        EndReason::NoCommonCodec
                    } else {
                        EndReason::Failed {
                            reason: e.to_string(),
                        }
                    },
                    duration_ms: 0,
                    media: MediaSummary::default(),
                });
                return;
            }
        }
        // A call that gets its final answer at once needs no 180: sent microseconds before the
        // final response it only races it (a multi-worker proxy can reorder the two).
        let answered_at_once = self.config.auto_reject.is_some()
            || (self.config.auto_answer && self.config.answer_after.is_zero());
        if !answered_at_once {
            self.ua.ring(&key);
        }
        self.by_key.insert(key.clone(), id);
        self.calls
            .insert(id, Call::new(id, key, who.clone(), parsed));
        self.emit(Event::IncomingCall {
            call: id,
            from,
            display_name,
            to,
        });
        self.emit(Event::CallState {
            call: id,
            state: CallState::Ringing,
        });
        self.log(
            LogLevel::Info,
            LogKind::Call,
            format!("incoming call {id} from {who}"),
        );
        if let Some(status) = self.config.auto_reject {
            self.reject(id, status);
        } else if self.config.auto_answer {
            if self.config.answer_after.is_zero() {
                self.answer(id).await;
            } else {
                let due = self.due_answers.clone();
                let delay = self.config.answer_after;
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = due.send(id);
                });
            }
        }
    }

    async fn answer(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!("no call {id} to answer"),
            );
            return;
        };
        if call.state != CallState::Ringing {
            self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!("call {id} is not ringing, nothing to answer"),
            );
            return;
        }
        let socket = match crate::media::session::bind_rtp(
            self.bind_ip,
            self.config.rtp_ports.clone(),
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                self.log(
                    LogLevel::Error,
                    LogKind::Error,
                    format!("call {id}: no RTP port free ({e}); answering 500"),
                );
                let key = call.key.clone();
                self.ua.reject(&key, 500);
                return;
            }
        };
        let local = sdp::LocalMedia {
            addr: self.bind_ip,
            port: socket.local_addr().map(|a| a.port()).unwrap_or(0),
            session_id: rand::random::<u32>() as u64,
            session_version: 1,
        };
        let port = self.audio_port();
        let call = self.calls.get_mut(&id).expect("checked above");
        let (body, negotiated) = match &call.offer {
            Some(offer) => match sdp::answer(offer, &self.codecs, &local) {
                Ok((body, n)) => (body, Some(n)),
                Err(e) => {
                    // Checked at INVITE time; only reachable if the offer changed meanwhile.
                    let key = call.key.clone();
                    self.log(LogLevel::Error, LogKind::Error, format!("call {id}: {e}"));
                    self.ua.reject(&key, 488);
                    return;
                }
            },
            None => (sdp::offer(&self.codecs, &local), None),
        };
        if let Err(e) = self.ua.accept(&call.key, body) {
            self.log(
                LogLevel::Error,
                LogKind::Error,
                format!("call {id}: could not send 200 OK: {e}"),
            );
            return;
        }
        call.state = CallState::Answering;
        call.answered = Some(Instant::now());
        call.local = Some(local);
        match negotiated {
            Some(n) => {
                let media = crate::media::session::start(socket, n.clone(), port);
                call.media = Some(media);
                let started = call.media_started_event(&n);
                self.emit(started);
            }
            // Late offer: media starts when the ACK brings the caller's answer.
            None => call.pending_socket = Some(socket),
        }
        self.emit(Event::CallState {
            call: id,
            state: CallState::Answering,
        });
        self.log(LogLevel::Info, LogKind::Call, format!("answered call {id}"));
    }

    fn audio_port(&self) -> Box<dyn crate::media::audio::AudioPort> {
        let mode = match self.config.audio {
            AudioChoice::Echo => crate::media::audio::AudioMode::Echo,
            AudioChoice::Null | AudioChoice::Device => crate::media::audio::AudioMode::Null,
        };
        crate::media::audio::port_for(mode)
    }

    fn reject(&mut self, id: CallId, status: u16) {
        match self.calls.get_mut(&id) {
            Some(call) if call.state == CallState::Ringing => {
                call.ending = Some(EndReason::Rejected { status });
                let key = call.key.clone();
                self.ua.reject(&key, status);
                self.log(
                    LogLevel::Info,
                    LogKind::Call,
                    format!("rejected call {id} with {status}"),
                );
            }
            Some(_) => self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!("call {id} is not ringing; hang it up instead"),
            ),
            None => self.log(LogLevel::Warn, LogKind::Warning, format!("no call {id}")),
        }
    }

    fn hangup(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!("no call {id} to hang up"),
            );
            return;
        };
        if call.state == CallState::Ringing {
            self.reject(id, 486);
            return;
        }
        if call.ending.is_some() {
            return;
        }
        call.ending = Some(EndReason::LocalHangup);
        let key = call.key.clone();
        let ua = self.ua.clone();
        let events = self.events.clone();
        self.log(
            LogLevel::Info,
            LogKind::Call,
            format!("hanging up call {id}"),
        );
        self.hangups.spawn(async move {
            if let Err(e) = ua.bye(&key).await {
                let _ = events.send(Event::Log {
                    level: LogLevel::Warn,
                    kind: LogKind::Warning,
                    message: format!("call {id}: BYE failed: {e}"),
                });
            }
        });
    }

    async fn on_confirmed(&mut self, key: DialogKey, ack_sdp: Option<String>) {
        let Some(&id) = self.by_key.get(&key) else {
            return;
        };
        let codecs = self.codecs.clone();
        let port = self.audio_port();
        let call = self.calls.get_mut(&id).expect("indexed call exists");
        if let Some(socket) = call.pending_socket.take() {
            let negotiated = ack_sdp
                .as_deref()
                .ok_or_else(|| "the ACK carried no SDP answer".to_string())
                .and_then(|text| sdp::parse(text).map_err(|e| e.to_string()))
                .and_then(|answer| {
                    sdp::negotiate_answer(&answer, &codecs).map_err(|e| e.to_string())
                });
            match negotiated {
                Ok(n) => {
                    call.media = Some(crate::media::session::start(socket, n.clone(), port));
                    let started = call.media_started_event(&n);
                    self.emit(started);
                }
                Err(reason) => {
                    self.log(
                        LogLevel::Warn,
                        LogKind::Warning,
                        format!("call {id}: late-offer call has no usable answer ({reason}); hanging up"),
                    );
                    self.hangup(id);
                    return;
                }
            }
        }
        let call = self.calls.get_mut(&id).expect("indexed call exists");
        call.state = CallState::Active;
        self.emit(Event::CallState {
            call: id,
            state: CallState::Active,
        });
        self.log(
            LogLevel::Info,
            LogKind::Success,
            format!("call {id} connected"),
        );
    }

    async fn on_reoffer(&mut self, key: DialogKey, offer: Option<String>, responder: Responder) {
        let Some(call) = self.by_key.get(&key).and_then(|id| self.calls.get_mut(id)) else {
            responder.respond(481, None).await;
            return;
        };
        let id = call.id;
        let Some(local) = call.local.as_mut() else {
            // Offer before our answer was acknowledged (RFC 3261 §14.2: 491 Request Pending).
            responder.respond(491, None).await;
            return;
        };
        local.session_version += 1;
        let local = local.clone();
        let Some(text) = offer else {
            // A re-INVITE without SDP asks for our offer; the ACK's answer changes nothing for us.
            responder
                .respond(200, Some(sdp::offer(&self.codecs, &local)))
                .await;
            return;
        };
        let result = sdp::parse(&text)
            .map_err(|e| (400, e.to_string()))
            .and_then(|o| {
                sdp::answer(&o, &self.codecs, &local)
                    .map_err(|e| (if e.is_not_acceptable() { 488 } else { 400 }, e.to_string()))
            });
        match result {
            Ok((body, negotiated)) => {
                let held = matches!(
                    negotiated.direction,
                    sdp::MediaDirection::RecvOnly | sdp::MediaDirection::Inactive
                );
                if let Some(media) = &call.media {
                    media.update(negotiated);
                }
                let new_state = if held {
                    CallState::Held
                } else {
                    CallState::Active
                };
                let changed = call.state != new_state && call.state != CallState::Answering;
                if changed {
                    call.state = new_state;
                }
                responder.respond(200, Some(body)).await;
                if changed {
                    self.emit(Event::CallState {
                        call: id,
                        state: new_state,
                    });
                    let what = if held {
                        "put on hold by the remote side"
                    } else {
                        "resumed"
                    };
                    self.log(LogLevel::Info, LogKind::Call, format!("call {id} {what}"));
                }
            }
            Err((status, reason)) => {
                self.log(
                    LogLevel::Warn,
                    LogKind::Warning,
                    format!("call {id}: re-INVITE refused with {status}: {reason}"),
                );
                responder.respond(status, None).await;
            }
        }
    }

    async fn on_terminated(&mut self, key: DialogKey, why: Termination) {
        let Some(id) = self.by_key.remove(&key) else {
            return;
        };
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        let reason = call.ending.take().unwrap_or(match why {
            Termination::RemoteBye => EndReason::RemoteHangup,
            Termination::LocalBye => EndReason::LocalHangup,
            Termination::Cancelled => EndReason::Cancelled,
            Termination::Rejected(status) => EndReason::Rejected { status },
            Termination::Timeout => EndReason::Failed {
                reason: "no ACK or answer in time".into(),
            },
            Termination::Other(reason) => EndReason::Failed { reason },
        });
        let media = match call.media.take() {
            Some(m) => {
                let s = m.stop().await;
                MediaSummary {
                    packets_sent: s.packets_sent,
                    packets_received: s.packets_received,
                    packets_invalid: s.packets_invalid,
                }
            }
            None => MediaSummary::default(),
        };
        let duration_ms = call
            .answered
            .map(|t| t.elapsed().as_millis() as u64)
            .unwrap_or(0);
        let words = match &reason {
            EndReason::LocalHangup => "we hung up".to_string(),
            EndReason::RemoteHangup => "the caller hung up".to_string(),
            EndReason::Cancelled => "the caller cancelled before answer".to_string(),
            EndReason::Rejected { status } => format!("rejected with {status}"),
            EndReason::NoCommonCodec => "no common codec".to_string(),
            EndReason::Failed { reason } => format!("failed: {reason}"),
        };
        self.log(
            LogLevel::Info,
            LogKind::Call,
            format!("call {id} with {} ended: {words}", call.remote),
        );
        if call.answered.is_some() {
            self.log(
                LogLevel::Info,
                LogKind::Stats,
                format!(
                    "call {id}: {:.1} s, RTP sent {} / received {} packets, {} invalid",
                    duration_ms as f64 / 1000.0,
                    media.packets_sent,
                    media.packets_received,
                    media.packets_invalid
                ),
            );
        }
        self.emit(Event::CallState {
            call: id,
            state: CallState::Ended,
        });
        self.emit(Event::CallEnded {
            call: id,
            reason,
            duration_ms,
            media,
        });
    }

    /// Ends every call: BYE to connected ones, 480 to ringing ones, then waits (bounded) for
    /// the BYEs to be answered and the dialogs to report their end.
    async fn shutdown(&mut self, sip_rx: &mut mpsc::UnboundedReceiver<SipEvent>) {
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        if !ids.is_empty() {
            self.log(
                LogLevel::Info,
                LogKind::Cleanup,
                format!("ending {} live call(s)", ids.len()),
            );
        }
        for id in ids {
            if self.calls.get(&id).map(|c| c.state) == Some(CallState::Ringing) {
                self.reject(id, 480);
            } else {
                self.hangup(id);
            }
        }
        let deadline = tokio::time::Instant::now() + HANGUP_GRACE;
        while !self.calls.is_empty() || !self.hangups.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                Some(_) = self.hangups.join_next(), if !self.hangups.is_empty() => {}
                Some(ev) = sip_rx.recv() => self.on_sip(ev).await,
            }
        }
        // Whatever did not report its end in time is closed here, media included.
        let leftovers: Vec<DialogKey> = self.by_key.keys().cloned().collect();
        for key in leftovers {
            self.on_terminated(
                key,
                Termination::Other("no answer to BYE before exit".into()),
            )
            .await;
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The local address the OS would use to reach `host_port` (no packet is sent).
async fn route_to(host_port: &str) -> Result<IpAddr, EngineError> {
    let fail = |reason: String| {
        EngineError::Sip(UaError::Route {
            registrar: host_port.to_string(),
            reason,
        })
    };
    let target: SocketAddr = tokio::net::lookup_host(host_port)
        .await
        .map_err(|e| fail(format!("name lookup failed: {e}")))?
        .next()
        .ok_or_else(|| fail("the name has no address".into()))?;
    let any: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let probe = tokio::net::UdpSocket::bind(any)
        .await
        .map_err(|e| fail(e.to_string()))?;
    probe
        .connect(target)
        .await
        .map_err(|e| fail(format!("no route: {e}")))?;
    Ok(probe.local_addr().map_err(|e| fail(e.to_string()))?.ip())
}
