//! The engine: owns the account, the calls and their media, takes `Command`s and emits `Event`s.
//!
//! One task runs `Engine::run`; it reacts to commands from the front-end, SIP events from the
//! user agent and registration updates, and it never draws or reads keys. Slow SIP operations
//! (BYE waits for its answer) run in their own tasks so the loop stays responsive.

mod account;
mod bridge;
mod call;
mod calls;
mod card;
mod media;
mod trace;
mod transcript;

use crate::vocab::*;

use crate::config::{AudioChoice, Config};
use crate::media::sdp;
use crate::sip::registration::RegistrationTask;
use crate::sip::ua::{DialogKey, Responder, SipEvent, Termination, UaError, UserAgent};
use crate::vocab::codec::Codec;
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
    #[error("--play: {0}")]
    Play(String),
    #[error("{0}")]
    SoundCard(String),
}

/// Codecs the media layer can carry; others in `--codecs` are skipped.
const SUPPORTED_CODECS: [Codec; 3] = [Codec::Pcmu, Codec::Pcma, Codec::Opus];

/// Work the engine scheduled for later.
#[derive(Clone, Copy, Debug)]
enum Due {
    /// `--answer-after` has passed for a ringing call.
    Answer(CallId),
    /// `--send-dtmf` is due on an answered call.
    Dtmf(CallId),
}

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
    timers: mpsc::UnboundedSender<Due>,
    media_events: mpsc::UnboundedSender<(u64, crate::media::session::MediaEvent)>,
    /// Opened once at start with `--audio device`; `None` when there is no card.
    sound_card: Option<std::sync::Arc<crate::media::device::SoundCard>>,
    /// The call whose port came from the sound card last (0: none yet).
    card_holder: std::sync::atomic::AtomicU64,
    card_reopen: card::Reopen,
    card_reopened: mpsc::UnboundedSender<
        Result<crate::media::device::SoundCard, crate::media::device::DeviceError>,
    >,
    /// `--play`, loaded once.
    play_clip: Option<crate::media::wav::Clip>,
    traces: trace::TraceRouter,
    bridge_events: mpsc::UnboundedSender<(u64, crate::bridge::BridgeEvent)>,
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
        let (media_tx, mut media_rx) = mpsc::unbounded_channel();
        let (bridge_tx, mut bridge_rx) = mpsc::unbounded_channel();
        let (card_tx, mut card_rx) = mpsc::unbounded_channel();
        let play_clip = match &config.play {
            Some(path) => {
                Some(crate::media::wav::load(path).map_err(|e| EngineError::Play(e.to_string()))?)
            }
            None => None,
        };
        let (sound_card, card_warning) = open_sound_card(&config).await?;
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
            timers: due_tx,
            media_events: media_tx,
            sound_card,
            card_holder: Default::default(),
            card_reopen: Default::default(),
            card_reopened: card_tx,
            play_clip,
            traces: trace::TraceRouter::default(),
            bridge_events: bridge_tx,
        };
        engine.announce_start();
        if let Some(warning) = card_warning {
            engine.log(LogLevel::Warn, LogKind::Warning, warning);
        }
        if let Some(card) = &engine.sound_card {
            engine.log(
                LogLevel::Info,
                LogKind::Audio,
                format!("sound card: {}", card.description()),
            );
        }

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
                Some(due) = due_rx.recv() => engine.on_due(due).await,
                Some((tag, event)) = media_rx.recv() => engine.on_media_event(tag, event),
                Some((tag, event)) = bridge_rx.recv() => engine.on_bridge_event(tag, event),
                Some(opened) = card_rx.recv() => engine.on_card_reopened(opened),
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
    }

    async fn on_due(&mut self, due: Due) {
        match due {
            // The caller may have given up while it rang.
            Due::Answer(id) => {
                if self
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.state == CallState::Ringing)
                {
                    self.answer(id).await;
                }
            }
            Due::Dtmf(id) => {
                if let Some(digits) = self.config.send_dtmf.clone() {
                    if self.calls.contains_key(&id) {
                        self.send_dtmf(id, &digits);
                    }
                }
            }
        }
    }

    fn mute(&mut self, id: CallId, muted: bool) {
        let call = self.calls.get(&id);
        if let Some(call) = call.filter(|c| c.bridge.is_some()) {
            // Bridged, the microphone is not sent anyway: mute what we listen to instead.
            call.listen_muted
                .store(muted, std::sync::atomic::Ordering::Relaxed);
            self.emit(Event::Muted {
                call: id,
                microphone: false,
                listen_in: muted,
            });
            let what = if muted { "muted" } else { "unmuted" };
            self.log(
                LogLevel::Info,
                LogKind::Audio,
                format!("call {id}: listen-in {what}"),
            );
            return;
        }
        match call.and_then(|c| c.media.as_ref()) {
            Some(media) => {
                media.set_muted(muted);
                self.emit(Event::Muted {
                    call: id,
                    microphone: muted,
                    listen_in: false,
                });
                let what = if muted { "muted" } else { "unmuted" };
                self.log(
                    LogLevel::Info,
                    LogKind::Audio,
                    format!("call {id}: microphone {what}"),
                );
            }
            None => self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!("call {id} has no media to mute"),
            ),
        }
    }

    fn send_dtmf(&mut self, id: CallId, digits: &str) {
        match self.calls.get(&id).and_then(|c| c.media.as_ref()) {
            Some(media) => {
                media.send_dtmf(digits);
                self.log(
                    LogLevel::Info,
                    LogKind::Audio,
                    format!("call {id}: sending DTMF {digits}"),
                );
            }
            None => self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!("call {id} has no media yet; DTMF not sent"),
            ),
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

    async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Answer(id) => self.answer(id).await,
            Command::Reject { call, decline } => self.reject(call, if decline { 603 } else { 486 }),
            Command::Hangup(id) => self.hangup(id),
            Command::SendDtmf { call, digits } => self.send_dtmf(call, &digits),
            Command::MuteMicrophone { call, muted } => self.mute(call, muted),
            Command::MuteListenIn { call, muted } => self.mute(call, muted),
            Command::ToggleBridge(call) => self.toggle_bridge(call),
            Command::Quit => {}
        }
    }

    async fn on_sip(&mut self, event: SipEvent) {
        match event {
            SipEvent::Invite {
                key,
                call_id,
                from,
                display_name,
                to,
                offer,
            } => {
                if let Some(id) = self.on_invite(key, from, display_name, to, offer).await {
                    self.bind_trace(&call_id, id);
                }
            }
            SipEvent::Confirmed { key, ack_sdp } => self.on_confirmed(key, ack_sdp).await,
            SipEvent::Reoffer {
                key,
                offer,
                responder,
            } => self.on_reoffer(key, offer, responder).await,
            SipEvent::Terminated { key, why } => self.on_terminated(key, why).await,
            SipEvent::Trace(line) => self.on_trace(line),
        }
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

/// Opens the sound card for `--audio device`. A missing card is not fatal (calls fall back
/// to silence, with one warning); a device the user named that does not exist is.
async fn open_sound_card(
    config: &Config,
) -> Result<
    (
        Option<std::sync::Arc<crate::media::device::SoundCard>>,
        Option<String>,
    ),
    EngineError,
> {
    use crate::media::device::{DeviceChoice, SoundCard};
    if config.audio != AudioChoice::Device {
        return Ok((None, None));
    }
    let choice = DeviceChoice {
        input: config.input_device.clone(),
        output: config.output_device.clone(),
    };
    let named = choice.input.is_some() || choice.output.is_some();
    let opened = tokio::task::spawn_blocking(move || SoundCard::open(&choice))
        .await
        .map_err(|e| EngineError::SoundCard(format!("sound card set-up failed: {e}")))?;
    match opened {
        Ok(card) => Ok((Some(std::sync::Arc::new(card)), None)),
        Err(e) if named => Err(EngineError::SoundCard(e.to_string())),
        Err(e) => Ok((
            None,
            Some(format!("{e}: calls use --audio null (silence) instead")),
        )),
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
