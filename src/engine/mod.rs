//! The engine: owns the account, the calls and their media, takes `Command`s and emits `Event`s.
//!
//! Two halves. [`core`] is the call logic as a pure state machine (`CallTable::on(input, now)
//! -> effects`). This file is the executor around it: one task whose loop only dispatches —
//! commands, SIP events, media and bridge events, timers and the results of its own tasks go
//! into the table, and the effects that come out are performed against the SIP side
//! ([`sip_side`]), the media sessions, the bridge and the sound card. Nothing in the loop
//! waits on the network or the disk: BYEs, in-dialog answers, bridge stops and call teardowns
//! run as tasks the executor owns (a `JoinSet`), whose results come back as inputs; timers are
//! a `DelayQueue` in the same loop; transcript files are written by their own thread.

mod account;
mod audio;
mod card;
pub mod core;
mod memory;
mod nat;
mod perform;
mod resources;
pub mod sip_side;
mod trace;
mod transcript;
mod writer;

#[cfg(test)]
mod tests;

use self::core::{CallTable, Input, Now, Policy, Timer};
use crate::bridge::BridgeEvent;
use crate::config::Config;
use crate::media::device::{DeviceError, SoundCard};
use crate::media::session::MediaEvent;
use crate::sip::registration::{RegUpdate, RegistrationError, RegistrationTask};
use crate::sip::ua::{UaError, UserAgent};
use crate::vocab::bus::Publisher;
use crate::vocab::{CallId, Codec, Command, Event, LogKind, LogLevel};
use audio::{Audio, AudioError};
use futures_util::StreamExt;
use resources::Resources;
use sip_side::{SipIn, SipSide, UaSide};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::time::DelayQueue;

/// How long shutdown waits for BYEs to be answered before giving up on them.
const HANGUP_GRACE: Duration = Duration::from_secs(3);
/// How long shutdown waits for torn-down calls to report their figures (a bridge's close
/// takes at most a second).
const TEARDOWN_GRACE: Duration = Duration::from_secs(3);

/// Codecs the media layer can carry; others in `--codecs` are skipped.
const SUPPORTED_CODECS: [Codec; 3] = [Codec::Pcmu, Codec::Pcma, Codec::Opus];

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Sip(#[from] UaError),
    #[error("registration cannot start: {0}")]
    Registration(#[from] RegistrationError),
    #[error(transparent)]
    Audio(#[from] AudioError),
}

/// Log lines from the executor's own edges (sound card, files), beside the table's.
#[derive(Clone, Debug)]
pub struct Log(Publisher);

impl Log {
    fn emit(&self, event: Event) {
        self.0.send(event);
    }

    fn line(&self, level: LogLevel, kind: LogKind, message: String) {
        self.emit(Event::Log {
            level,
            kind,
            message,
        });
    }

    fn warn(&self, message: String) {
        self.line(LogLevel::Warn, LogKind::Warning, message);
    }

    fn info_audio(&self, message: String) {
        self.line(LogLevel::Info, LogKind::Audio, message);
    }

    fn success(&self, message: String) {
        self.line(LogLevel::Info, LogKind::Success, message);
    }
}

/// What an owned task reports when it ends.
pub(crate) enum Done {
    /// An input for the call table (a BYE's answer, a teardown's figures, ...).
    Table(Input),
    /// A try at reopening the dead sound card.
    Card(Result<SoundCard, DeviceError>),
    /// A call's STUN lookup (`--stun`) ended.
    Stun(Box<nat::StunDone>),
    Nothing,
}

/// How a run ended, for the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Quit, `--duration`, Ctrl+C, or the `--call` call was answered and ended.
    Normal,
    /// The `--call` call was refused or never answered, or failed after the answer.
    CallNotAnswered,
    /// The `--call` call of the AI caller ended with this verdict on its goal.
    Verdict(crate::vocab::Outcome),
}

/// The `--call` call: waiting to be placed, then followed to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OneCall {
    None,
    /// Placed once registered (or at once when nothing registers).
    Pending(String),
    /// Dialled; the id once the table has given it, and whether it was answered.
    Placed(Option<CallId>, bool),
    Done(Ended),
}

/// The executor: the call table, and the handles that carry out its effects.
struct Engine<S: SipSide> {
    one_call: OneCall,
    config: Config,
    log: Log,
    sip: S,
    bind_ip: IpAddr,
    table: CallTable,
    /// Sockets, media session and bridge of each call.
    resources: Resources,
    /// BYEs, in-dialog answers, bridge stops, teardowns and sound-card tries.
    tasks: JoinSet<Done>,
    timers: DelayQueue<Timer>,
    media_events: mpsc::UnboundedSender<(u64, MediaEvent)>,
    media_rx: mpsc::UnboundedReceiver<(u64, MediaEvent)>,
    bridge_events: mpsc::UnboundedSender<(u64, BridgeEvent)>,
    bridge_rx: mpsc::UnboundedReceiver<(u64, BridgeEvent)>,
    audio: Audio,
    /// How often media sessions publish levels: thinned as calls add up, off when the
    /// front-end shows none (plain headless output).
    levels: crate::media::session::LevelRate,
    trimmer: memory::Trimmer,
    traces: trace::TraceRouter,
    transcripts: writer::TranscriptWriter,
}

/// Binds SIP, starts the user agent, and runs until `Command::Quit` or `--duration`.
pub async fn run(
    config: Config,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: Publisher,
) -> Result<Ended, EngineError> {
    let log = Log(events);
    let bind_ip = match config.bind {
        Some(ip) => ip,
        None => route_to(&config.account.registrar.host_port()).await?,
    };
    let outbound = outbound(&config, bind_ip);
    let (sip_tx, mut sip_rx) = mpsc::unbounded_channel();
    let sip_cancel = CancellationToken::new();
    let ua = UserAgent::start(
        &config.account,
        config.transport,
        config.sip_port,
        bind_ip,
        config.tcp_limits,
        sip_tx,
        sip_cancel.clone(),
    )
    .await?;
    ua.trace_messages(config.verbose || config.sip_trace_events);
    announce_start(&config, &ua, &log);
    let audio = Audio::open(&config, &supported_codecs(&config), &log).await?;
    let (reg_tx, mut reg_rx) = mpsc::unbounded_channel();
    let registration = if config.register {
        Some(RegistrationTask::spawn(
            &ua,
            &config.account,
            config.transport,
            config.keepalive,
            reg_tx,
        )?)
    } else {
        drop(reg_tx);
        None
    };
    let mut engine = Engine::new(
        config,
        log.clone(),
        UaSide::new(ua.clone(), outbound),
        bind_ip,
        audio,
    );
    if registration.is_none() {
        engine.place_pending_call().await;
    }
    engine.serve(&mut commands, &mut sip_rx, &mut reg_rx).await;
    engine.shutdown(&mut sip_rx).await;
    // Registration updates from the unregister are reported as they arrive.
    if let Some(registration) = registration {
        let reg_done = registration.stop();
        tokio::pin!(reg_done);
        loop {
            tokio::select! {
                _ = &mut reg_done => break,
                Some(update) = reg_rx.recv() => log.emit(account::event(update)),
            }
        }
        while let Ok(update) = reg_rx.try_recv() {
            log.emit(account::event(update));
        }
    }
    if let Err(e) = ua.stop().await {
        log.warn(format!("SIP clean-up: {e}"));
    }
    let ended = engine.ended();
    engine.finish().await;
    Ok(ended)
}

/// What every call we place carries: From (the account, `--from`, or us by address),
/// display name, proxy, headers, and the account's credentials for challenges.
fn outbound(config: &Config, bind_ip: IpAddr) -> crate::sip::ua::Outbound {
    crate::sip::ua::Outbound {
        from: from_uri(config, bind_ip),
        display_name: config.display_name.clone(),
        proxy: config.outbound_proxy.clone(),
        headers: config.headers.clone(),
        credential: config
            .account
            .password
            .clone()
            .map(|p| (config.account.username.clone(), p)),
        registrar_flow: (config.register && config.transport.is_stream())
            .then(|| config.account.registrar_over(config.transport).to_string()),
    }
}

/// The From of the calls we place: `--from`, else the account, else us by address.
fn from_uri(config: &Config, bind_ip: IpAddr) -> String {
    config.from.clone().unwrap_or_else(|| {
        if config.has_account {
            config.account.aor.to_string()
        } else {
            let host = crate::sip::ua::host_port(SocketAddr::new(bind_ip, 0));
            format!("sip:sipterm@{}", host.trim_end_matches(":0"))
        }
    })
}

/// The codecs of `--codecs` the media layer can carry, in the user's order.
fn supported_codecs(config: &Config) -> Vec<Codec> {
    config
        .codecs
        .iter()
        .copied()
        .filter(|c| SUPPORTED_CODECS.contains(c))
        .collect()
}

impl<S: SipSide> Engine<S> {
    fn new(config: Config, log: Log, sip: S, bind_ip: IpAddr, audio: Audio) -> Engine<S> {
        let policy = Policy {
            codecs: supported_codecs(&config),
            sdp_address: config.media_address.unwrap_or(bind_ip),
            auto_answer: config.auto_answer,
            answer_after: config.answer_after,
            auto_reject: config.auto_reject,
            send_dtmf: config.send_dtmf.clone(),
            dtmf_delay: config.dtmf_delay,
            rtp_timeout: config.rtp_timeout,
            auto_bridge: config.bridge.enabled,
            bridge_model: match config.bridge.api {
                crate::config::Api::Realtime => config.bridge.model.clone(),
                api => format!("{} on the {}", config.bridge.model, api.title()),
            },
            bridge_voice: config.bridge.voice.clone(),
            srtp: config.srtp,
            domain: config.has_account.then(|| config.account.aor.host_port()),
            from: from_uri(&config, bind_ip),
            ring_timeout: config.ring_timeout,
            on_refer: config.on_refer,
            hold_once: config.hold_once,
            transfer_to: config.transfer_to.clone(),
            caller: config.caller.clone(),
        };
        let one_call = match &config.call {
            Some(uri) => OneCall::Pending(uri.clone()),
            None => OneCall::None,
        };
        let (media_events, media_rx) = mpsc::unbounded_channel();
        let (bridge_events, bridge_rx) = mpsc::unbounded_channel();
        Engine {
            one_call,
            sip,
            bind_ip,
            table: CallTable::new(policy),
            resources: Resources::default(),
            tasks: JoinSet::new(),
            timers: DelayQueue::new(),
            media_events,
            media_rx,
            bridge_events,
            bridge_rx,
            audio,
            levels: match config.front_end {
                crate::config::FrontEnd::Headless { json: false } => {
                    crate::media::session::LevelRate::off()
                }
                _ => crate::media::session::LevelRate::default(),
            },
            trimmer: memory::Trimmer::default(),
            traces: trace::TraceRouter::default(),
            transcripts: writer::TranscriptWriter::start(log.clone()),
            log,
            config,
        }
    }

    /// The loop: until `Quit` (or the front-end gone) or `--duration`, every source of input
    /// is dispatched; nothing here waits for anything but the next input.
    async fn serve(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        sip_rx: &mut mpsc::UnboundedReceiver<S::Event>,
        reg_rx: &mut mpsc::UnboundedReceiver<RegUpdate>,
    ) {
        let deadline = self
            .config
            .duration
            .map(|d| tokio::time::Instant::now() + d);
        // Headless runs end with the `--call` call; the TUI stays for the next one.
        let headless = matches!(
            self.config.front_end,
            crate::config::FrontEnd::Headless { .. }
        );
        loop {
            if headless && matches!(self.one_call, OneCall::Done(_)) {
                break;
            }
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Quit) | None => break,
                    Some(cmd) => self.feed(Input::Command(cmd)).await,
                },
                Some(ev) = sip_rx.recv() => self.on_sip(ev).await,
                Some(update) = reg_rx.recv() => {
                    let registered = matches!(update, RegUpdate::Registered { .. });
                    self.on_registration(update);
                    if registered {
                        self.place_pending_call().await;
                    }
                }
                Some((tag, event)) = self.media_rx.recv() => {
                    self.on_media_event(CallId(tag), event).await
                }
                Some((tag, event)) = self.bridge_rx.recv() => {
                    self.on_bridge_event(CallId(tag), event).await
                }
                Some(due) = self.timers.next() => self.feed(Input::Timer(due.into_inner())).await,
                Some(done) = self.tasks.join_next() => self.on_task_done(done).await,
                _ = sleep_until(deadline) => {
                    self.log.line(LogLevel::Info, LogKind::Cleanup, format!(
                        "--duration of {} s reached, stopping",
                        self.config.duration.unwrap_or_default().as_secs()
                    ));
                    break;
                }
            }
        }
    }

    /// The last words: transcripts written, the sound card let go, `Stopped`.
    async fn finish(self) {
        self.transcripts.finish().await;
        if let Some(card) = self.audio.card {
            let _ = tokio::task::spawn_blocking(move || drop(card)).await;
        }
        self.log.line(
            LogLevel::Info,
            LogKind::Cleanup,
            "clean-up finished, goodbye".into(),
        );
        self.log.emit(Event::Stopped);
    }

    /// One input into the table, then its effects, then the inputs those effects answered
    /// with, until nothing is left.
    async fn feed(&mut self, input: Input) {
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            for effect in self.table.on(input, Now::system()) {
                self.watch_one_call(&effect);
                if let Some(answer) = self.perform(effect).await {
                    queue.push_back(answer);
                }
            }
        }
    }

    /// `--call`: dial it (once), now that we may.
    async fn place_pending_call(&mut self) {
        let OneCall::Pending(target) = &self.one_call else {
            return;
        };
        let target = target.clone();
        self.one_call = OneCall::Placed(None, false);
        self.feed(Input::Command(Command::Dial { target })).await;
    }

    /// Follows the `--call` call through the events about it: the run ends with it.
    fn watch_one_call(&mut self, effect: &self::core::Effect) {
        let self::core::Effect::Emit(event) = effect else {
            return;
        };
        match (&self.one_call, event) {
            (OneCall::Placed(None, _), Event::OutgoingCall { call, .. }) => {
                self.one_call = OneCall::Placed(Some(*call), false);
            }
            (OneCall::Placed(Some(id), _), Event::CallAnswered { call, .. }) if id == call => {
                self.one_call = OneCall::Placed(Some(*id), true);
            }
            (
                OneCall::Placed(Some(id), answered),
                Event::CallEnded {
                    call,
                    reason,
                    verdict,
                    ..
                },
            ) if id == call => {
                // Answered, then ended by a failure (no RTP, a protocol error): failed too.
                let failed = matches!(
                    reason,
                    crate::vocab::EndReason::RtpTimeout { .. }
                        | crate::vocab::EndReason::Failed { .. }
                );
                // The other side transferred us: the run follows the call to the target.
                if let Some(next) = self.table.placed_for_transfer_of(*call) {
                    self.one_call = OneCall::Placed(Some(next), self.table.is_answered(next));
                    return;
                }
                if let (true, Some(verdict)) = (*answered, verdict) {
                    self.one_call = OneCall::Done(Ended::Verdict(verdict.outcome));
                    return;
                }
                self.one_call = OneCall::Done(if *answered && !failed {
                    Ended::Normal
                } else {
                    Ended::CallNotAnswered
                });
            }
            _ => {}
        }
    }

    /// How the run ended: the `--call` call's outcome counts in headless runs, which end
    /// with it; in the TUI the user ends the run.
    fn ended(&self) -> Ended {
        if !matches!(
            self.config.front_end,
            crate::config::FrontEnd::Headless { .. }
        ) {
            return Ended::Normal;
        }
        match self.one_call {
            OneCall::Done(ended) => ended,
            OneCall::Placed(_, true) | OneCall::None => Ended::Normal,
            // Quit before the call was answered, or before it could be placed.
            OneCall::Placed(_, false) | OneCall::Pending(_) => Ended::CallNotAnswered,
        }
    }

    fn on_registration(&mut self, update: RegUpdate) {
        if let RegUpdate::BehindNat { public, .. } = &update {
            self.log.emit(Event::PublicAddress {
                public: crate::sip::ua::host_port(*public),
            });
            // Without --media-address, media goes where the registrar saw us too: callers on
            // the far side of the NAT cannot reach our private address (RFC 3581's address;
            // without --stun the RTP port is assumed kept by the NAT, as most do). Whether
            // an address is "public" is not judged by its range: labs use documentation ones.
            if self.config.media_address.is_none() {
                self.table.use_sdp_address(public.ip());
                let stun = if self.config.stun.is_some() {
                    " (and when a call's STUN lookup fails)"
                } else {
                    ""
                };
                self.log.line(
                    LogLevel::Info,
                    LogKind::Audio,
                    format!(
                        "SDP now offers {} for media{stun}: the address the registrar saw, not \
                         our own {}",
                        public.ip(),
                        self.bind_ip
                    ),
                );
            }
        }
        self.log.emit(account::event(update));
    }

    async fn on_sip(&mut self, event: S::Event) {
        match self.sip.translate(event) {
            SipIn::Input(input) => self.feed(input).await,
            SipIn::Trace(line) => self.on_trace(line),
            SipIn::Warning(text) => self.log.warn(text),
        }
    }

    async fn on_media_event(&mut self, call: CallId, event: MediaEvent) {
        let ai = match &event {
            MediaEvent::Levels { .. } => self.resources.ai_level(call),
            MediaEvent::Quality(_) => {
                // Once a second per call: also when a dead sound card is noticed and retried.
                if let Some(choice) = self.audio.watch_card(&self.log) {
                    self.tasks
                        .spawn_blocking(move || Done::Card(SoundCard::open(&choice)));
                }
                None
            }
            _ => None,
        };
        self.feed(Input::Media { call, event, ai }).await;
    }

    async fn on_bridge_event(&mut self, call: CallId, event: BridgeEvent) {
        let stats = self.resources.bridge_stats(call).unwrap_or_default();
        self.feed(Input::Bridge { call, event, stats }).await;
    }

    async fn on_task_done(&mut self, done: Result<Done, tokio::task::JoinError>) {
        match done {
            Ok(Done::Table(input)) => {
                let finished = matches!(input, Input::Finished { .. });
                if finished {
                    // A stopped bridge's last events (the transcript lines it closed) were
                    // sent before its task ended: they belong before the call's end.
                    while let Ok((tag, event)) = self.bridge_rx.try_recv() {
                        self.on_bridge_event(CallId(tag), event).await;
                    }
                }
                self.feed(input).await;
                if finished && self.trimmer.on_calls(self.resources.len()) {
                    tokio::task::spawn_blocking(memory::release);
                }
            }
            Ok(Done::Card(opened)) => self.on_card_reopened(opened),
            Ok(Done::Stun(done)) => {
                if let Some(input) = self.on_stun(*done) {
                    self.feed(input).await;
                }
            }
            Ok(Done::Nothing) => {}
            Err(e) if e.is_cancelled() => {}
            Err(e) => self
                .log
                .warn(format!("an engine task stopped unexpectedly: {e}")),
        }
    }

    /// A reopened sound card takes back the call that held the dead one.
    fn on_card_reopened(&mut self, opened: Result<SoundCard, DeviceError>) {
        let Some((old, holder)) = self.audio.card_reopened(opened, &self.log) else {
            return;
        };
        if let Some(old) = old {
            self.tasks.spawn_blocking(move || {
                drop(old);
                Done::Nothing
            });
        }
        let Some(holder) = holder else {
            return;
        };
        let Some(call) = self.table.get(holder).filter(|c| c.media && !c.torn_down) else {
            return;
        };
        let (Some(codec), bridged) = (call.codec, call.is_bridged()) else {
            return;
        };
        let port = self.audio.port(holder, codec.clock_rate(), &self.log);
        if let Some(media) = self.resources.media(holder) {
            // A bridged call keeps its AI side and only gets its listen-in back.
            if bridged {
                media.set_listener(port);
            } else {
                media.set_port(port);
            }
            self.log
                .info_audio(format!("call {holder}: back on the sound card"));
        }
    }

    /// Ends every call: BYE to connected ones, 480 to ringing ones, then waits (bounded) for
    /// the BYEs to be answered and the dialogs to report their end, and for every teardown
    /// to report its figures.
    async fn shutdown(&mut self, sip_rx: &mut mpsc::UnboundedReceiver<S::Event>) {
        self.timers.clear();
        self.feed(Input::Shutdown).await;
        let grace = tokio::time::Instant::now() + HANGUP_GRACE;
        let mut abandoned = false;
        let mut last_call = tokio::time::Instant::now() + HANGUP_GRACE + TEARDOWN_GRACE;
        while !self.table.is_empty() || !self.tasks.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep_until(grace), if !abandoned => {
                    abandoned = true;
                    last_call = tokio::time::Instant::now() + TEARDOWN_GRACE;
                    self.feed(Input::Abandon).await;
                }
                _ = tokio::time::sleep_until(last_call) => break,
                Some(done) = self.tasks.join_next() => self.on_task_done(done).await,
                Some(ev) = sip_rx.recv() => self.on_sip(ev).await,
            }
        }
        // Anything still running is cut short: its owner is going away.
        self.tasks.abort_all();
    }
}

fn announce_start(config: &Config, ua: &UserAgent, log: &Log) {
    let codecs = supported_codecs(config);
    log.emit(Event::Started {
        // Empty without an account: the front-ends say so, and complete no numbers.
        account: if config.has_account {
            config.account.aor.to_string()
        } else {
            String::new()
        },
        registrar: config.account.registrar.to_string(),
        transport: config.transport.as_str().to_string(),
        local_sip: crate::sip::ua::host_port(ua.local),
        profile: config.profile.clone(),
    });
    log.line(
        LogLevel::Info,
        LogKind::Startup,
        format!(
            "sipterm {}{} listening for SIP on {} over {}, {}",
            env!("CARGO_PKG_VERSION"),
            match &config.profile {
                Some(name) => format!(" (profile {name})"),
                None => String::new(),
            },
            crate::sip::ua::host_port(ua.local),
            config.transport.as_str(),
            match (config.register, config.has_account) {
                (true, _) => format!(
                    "registering {} at {}",
                    config.account.aor, config.account.registrar
                ),
                (false, true) => format!("not registering {} (--no-register)", config.account.aor),
                (false, false) => "no account (calls go straight to their URI)".to_string(),
            }
        ),
    );
    // Found before the front-end was up (a config file's plain password others can read):
    // told here so the TUI shows them too.
    for warning in &config.startup_warnings {
        log.warn(warning.clone());
    }
    let skipped: Vec<&str> = config
        .codecs
        .iter()
        .filter(|codec| !SUPPORTED_CODECS.contains(codec))
        .map(|codec| codec.name())
        .collect();
    if !skipped.is_empty() {
        log.warn(format!(
            "codec(s) {} not available in this build yet; offering {}",
            skipped.join(", "),
            codecs
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
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
    let any = SocketAddr::new(
        if target.is_ipv4() {
            IpAddr::from([0, 0, 0, 0])
        } else {
            IpAddr::from([0u16; 8])
        },
        0,
    );
    let probe = tokio::net::UdpSocket::bind(any)
        .await
        .map_err(|e| fail(e.to_string()))?;
    probe
        .connect(target)
        .await
        .map_err(|e| fail(format!("no route: {e}")))?;
    Ok(probe.local_addr().map_err(|e| fail(e.to_string()))?.ip())
}
