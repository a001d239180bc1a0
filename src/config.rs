//! The validated configuration: the only place where command-line flags are interpreted.
//!
//! `Config::from_cli` turns raw flags into plain values (derived defaults filled in, ranges
//! checked, files probed) so that everything downstream can trust them. Each failure is one
//! sentence that names the flag and the bad value; `main` exits with status 2 on them.

use crate::bridge::api::VoiceError;
pub use crate::bridge::Api;
use crate::cli::{ApiArg, AudioArg, Cli, OnReferArg, RejectArg, SrtpArg, TransportArg};
pub use crate::media::srtp::SrtpMode;
pub use crate::sip::account::{Account, Transport};
use crate::sip::tcp::TcpLimits;
use crate::sip::tls::{Trust, TrustError};
use crate::sip::uri::SipUri;
use crate::vocab::codec::{parse_codec_list, Codec};
use std::io::Read;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudioChoice {
    Device,
    Null,
    Echo,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontEnd {
    Tui,
    Headless { json: bool },
}

#[derive(Clone)]
pub struct BridgeConfig {
    pub enabled: bool,
    pub api: Api,
    pub model: String,
    pub voice: String,
    pub instructions: Option<String>,
    pub api_key: Option<String>,
    pub url: String,
}

/// `--on-refer`: what a REFER from the other side gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnRefer {
    Accept,
    Reject,
    Report,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub account: Account,
    /// Register the account (no with `--no-register`, or without `--sip-uri`).
    pub register: bool,
    /// There is a real account (`--sip-uri`): dialled numbers take its domain.
    pub has_account: bool,
    /// `--call`: the URI to call, resolved.
    pub call: Option<String>,
    /// `--from`: the From of calls we place (default: the account, or sip:sipterm@<our IP>).
    pub from: Option<String>,
    pub display_name: Option<String>,
    pub outbound_proxy: Option<String>,
    /// `--header`: extra INVITE headers, name and value.
    pub headers: Vec<(String, String)>,
    pub ring_timeout: Option<Duration>,
    pub on_refer: OnRefer,
    /// `--hold-after`, `--hold-for`.
    pub hold_once: Option<(Duration, Duration)>,
    /// `--transfer-to` (resolved), `--transfer-after`.
    pub transfer_to: Option<(String, Duration)>,
    pub transport: Transport,
    /// Local SIP port; 0 means any free port.
    pub sip_port: u16,
    /// Local address for SIP and RTP; `None` means "the one that routes to the registrar".
    pub bind: Option<IpAddr>,
    /// Announced in SDP instead of the bind address.
    pub media_address: Option<IpAddr>,
    /// `--stun`: asked for each call's public RTP address.
    pub stun: Option<StunServer>,
    pub duration: Option<Duration>,
    pub verbose: bool,
    pub front_end: FrontEnd,
    /// Emit every SIP message as an event (the TUI's trace view wants them).
    pub sip_trace_events: bool,
    pub auto_answer: bool,
    /// With auto-answer: how long a call rings first.
    pub answer_after: Duration,
    /// Hang up an active call that receives nothing for this long (`None`: never).
    pub rtp_timeout: Option<Duration>,
    /// What inbound TCP may cost us (`--tcp-idle`; the caps are fixed).
    pub tcp_limits: TcpLimits,
    /// How often a CRLF keep-alive goes to the registrar (UDP and TCP alike), the binding
    /// query every fourth time (`--keepalive`, default 25 s).
    pub keepalive: Option<Duration>,
    /// Reject every call with this status (486 or 603) instead of answering.
    pub auto_reject: Option<u16>,
    pub audio: AudioChoice,
    pub input_device: Option<String>,
    pub output_device: Option<String>,
    /// Digits sent `dtmf_delay` after each call is answered.
    pub send_dtmf: Option<String>,
    pub dtmf_delay: Duration,
    pub play: Option<PathBuf>,
    pub record: Option<PathBuf>,
    pub codecs: Vec<Codec>,
    pub rtp_ports: RangeInclusive<u16>,
    /// `--srtp`, resolved against the transport (see [`srtp_mode`]).
    pub srtp: SrtpMode,
    pub bridge: BridgeConfig,
    /// `--persona`/`--goal`: the model is the caller of the calls we place.
    pub caller: Option<CallerPolicy>,
    /// The config-file profile in use (shown in the TUI header and the start-up line); set
    /// by `main` after the profile is resolved.
    pub profile: Option<String>,
    /// Warnings about the config file, for the engine to log once the front-end is up.
    pub startup_warnings: Vec<String>,
}

// Secrets never reach logs, panics or `{:?}`: printed by hand (the account's too).
impl std::fmt::Debug for BridgeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeConfig")
            .field("enabled", &self.enabled)
            .field("api", &self.api)
            .field("model", &self.model)
            .field("voice", &self.voice)
            .field("instructions", &self.instructions)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("url", &self.url)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Voice(#[from] VoiceError),
    #[error(
        "--goal needs the Realtime API: the model gives its verdict through a function call, \
         which GPT-Live does not offer to a voice session (use --api realtime, or --persona alone)"
    )]
    GoalOnLive,
    #[error("--sip-uri: {0}")]
    SipUri(crate::sip::uri::UriError),
    #[error("--registrar-uri: {0}")]
    RegistrarUri(crate::sip::uri::UriError),
    #[error("--sip-uri '{0}' has no user part, so --username is required")]
    NoUsername(String),
    #[error("--bind '{0}' is not an IP address")]
    Bind(String),
    #[error("--media-address '{0}' is not an IP address")]
    MediaAddress(String),
    #[error("--stun '{0}' is not HOST or HOST:PORT (a port from 1 to 65535)")]
    Stun(String),
    #[error(
        "--send-dtmf '{digits}' has '{bad}', which is not a DTMF digit (0-9 * # A-D) or a \
         pause (,)"
    )]
    Dtmf { digits: String, bad: char },
    #[error(
        "--rtp-ports '{0}' must look like LO-HI with 1024 <= LO < HI <= 65535, e.g. 10000-20000"
    )]
    RtpPorts(String),
    #[error("--codecs: {0}")]
    Codecs(String),
    #[error("--play '{path}' cannot be used: {why}")]
    Play { path: String, why: String },
    #[error("--record '{path}' cannot be used: {why}")]
    Record { path: String, why: String },
    #[error("{0} '{1}' must be a number of seconds between 0 and 3600")]
    Seconds(&'static str, f64),
    #[error("--transfer-to: {0}")]
    TransferTo(crate::sip::dial::DialError),
    #[error("--dtmf-delay '{0}' must be a number of seconds between 0 and 3600")]
    DtmfDelay(f64),
    #[error("--answer-after '{0}' must be a number of seconds between 0 and 3600")]
    AnswerAfter(f64),
    #[error("--reject and --auto-answer contradict each other; pick one")]
    RejectAndAnswer,
    #[error(
        "--srtp {0} needs TLS signalling (--transport tls): SDES keys travel in the SDP, \
         and over {1} anyone on the path could read them"
    )]
    SrtpWithoutTls(&'static str, &'static str),
    #[error("--json needs headless mode (add --headless, or redirect stdout)")]
    JsonWithoutHeadless,
    #[error("'{uri}' asks for transport '{value}', which is not udp, tcp or tls")]
    UnknownTransport { uri: String, value: String },
    #[error("--transport {given} contradicts {uri}, which asks for {implied}")]
    TransportConflict {
        given: &'static str,
        uri: String,
        implied: &'static str,
    },
    #[error("--call: {0}")]
    Call(crate::sip::dial::DialError),
    #[error("--from: {0}")]
    From(crate::sip::uri::UriError),
    #[error("--outbound-proxy: {0}")]
    OutboundProxy(crate::sip::uri::UriError),
    #[error(
        "--header '{0}' must be 'Name: value' with a header name of letters, digits and -          (e.g. \"X-Test-Case: 42\")"
    )]
    Header(String),
    #[error("--header '{0}' would replace a header sipterm writes itself; use an X- header")]
    ReservedHeader(String),
    #[error("--ca-file '{path}' {why}")]
    CaFile { path: String, why: TrustError },
    #[error(
        "--ca-file is for TLS, but the transport is {0} (add --transport tls or use a sips: URI)"
    )]
    CaFileWithoutTls(&'static str),
    #[error("{0} is for the AI caller: it needs --call (the call the model places)")]
    CallerWithoutCall(&'static str),
    #[error("{0} is for the AI caller: it needs --bridge (the model speaks through the bridge)")]
    CallerWithoutBridge(&'static str),
    #[error("{0} limits the AI caller: give --goal or --persona too")]
    LimitWithoutCaller(&'static str),
    #[error("{0} must not be empty")]
    EmptyCallerText(&'static str),
    #[error("--max-turns must be at least 1")]
    MaxTurnsZero,
    #[error("--max-duration '{0}' must be a number of seconds between 1 and 3600")]
    MaxDuration(u64),
    #[error(
        "the AI caller (--persona/--goal) needs an OpenAI API key: give --api-key or set \
         OPENAI_API_KEY; nothing was dialled"
    )]
    CallerWithoutKey,
}

impl Config {
    /// `stdout_is_terminal` decides the front-end when `--headless` is not given.
    pub fn from_cli(cli: &Cli, stdout_is_terminal: bool) -> Result<Config, ConfigError> {
        let from = cli
            .from
            .as_deref()
            .map(|f| SipUri::parse(f).map(|_| f.trim().to_string()))
            .transpose()
            .map_err(ConfigError::From)?;
        let outbound_proxy = cli
            .outbound_proxy
            .as_deref()
            .map(|p| SipUri::parse(p).map(|_| p.trim().to_string()))
            .transpose()
            .map_err(ConfigError::OutboundProxy)?;
        let headers = cli
            .headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<Vec<_>, _>>()?;
        let has_account = cli.sip_uri.is_some();
        let (sip_uri, call) = match &cli.sip_uri {
            Some(uri) => {
                let aor = SipUri::parse(uri).map_err(ConfigError::SipUri)?;
                let call = cli
                    .call
                    .as_deref()
                    .map(|c| crate::sip::dial::resolve(c, Some(&aor.host_port())))
                    .transpose()
                    .map_err(ConfigError::Call)?;
                (uri.clone(), call)
            }
            // No account: the call's URI stands in for the registrar (its host is where
            // SIP goes and which transport it asks for), and nothing is registered.
            None => {
                let call = crate::sip::dial::resolve(cli.call.as_deref().unwrap_or_default(), None)
                    .map_err(ConfigError::Call)?;
                let target = SipUri::parse(&call)
                    .map_err(|e| ConfigError::Call(crate::sip::dial::DialError::Uri(e)))?;
                let host = SipUri {
                    user: Some("sipterm".into()),
                    ..target.clone()
                };
                (host.to_string(), Some(call))
            }
        };
        let aor = SipUri::parse(&sip_uri).map_err(ConfigError::SipUri)?;
        let mut registrar = match (&cli.registrar_uri, &outbound_proxy, has_account) {
            (Some(r), _, _) => SipUri::parse(r).map_err(ConfigError::RegistrarUri)?,
            // Without an account the proxy, when given, is where SIP goes first.
            (None, Some(p), false) => SipUri::parse(p)
                .map_err(ConfigError::OutboundProxy)?
                .registrar(),
            _ => aor.registrar(),
        };
        let transport = choose_transport(
            cli.transport,
            &aor,
            cli.registrar_uri.is_some().then_some(&registrar),
        )?;
        if transport == Transport::Tls && registrar.port.is_none() {
            registrar.port = Some(transport.default_port());
        }
        let trust = match &cli.ca_file {
            Some(_) if transport != Transport::Tls => {
                return Err(ConfigError::CaFileWithoutTls(transport.as_str()))
            }
            Some(path) => Trust::from_pem_file(path).map_err(|why| ConfigError::CaFile {
                path: path.display().to_string(),
                why,
            })?,
            None => Trust::default(),
        };
        let username = match (&cli.username, &aor.user) {
            (Some(u), _) if !u.is_empty() => u.clone(),
            (_, Some(u)) => u.clone(),
            _ => return Err(ConfigError::NoUsername(sip_uri)),
        };
        let bind = cli
            .bind
            .as_deref()
            .map(|b| {
                b.parse::<IpAddr>()
                    .map_err(|_| ConfigError::Bind(b.to_string()))
            })
            .transpose()?;
        let media_address = cli
            .media_address
            .as_deref()
            .map(|b| {
                b.parse::<IpAddr>()
                    .map_err(|_| ConfigError::MediaAddress(b.to_string()))
            })
            .transpose()?;
        let stun = cli
            .stun
            .as_deref()
            .map(|s| StunServer::parse(s).ok_or_else(|| ConfigError::Stun(s.to_string())))
            .transpose()?;
        if let Some(digits) = &cli.send_dtmf {
            if let Some(bad) = digits.chars().find(|c| !is_dtmf_digit(*c)) {
                return Err(ConfigError::Dtmf {
                    digits: digits.clone(),
                    bad,
                });
            }
        }
        let rtp_ports = parse_port_range(&cli.rtp_ports)
            .ok_or_else(|| ConfigError::RtpPorts(cli.rtp_ports.clone()))?;
        let codecs =
            parse_codec_list(&cli.codecs).map_err(|e| ConfigError::Codecs(e.to_string()))?;
        if let Some(path) = &cli.play {
            check_wav(path)?;
        }
        if let Some(dir) = &cli.record {
            check_record_dir(dir)?;
        }
        let seconds = |flag: &'static str, v: f64| {
            (0.0..=3600.0)
                .contains(&v)
                .then(|| Duration::from_secs_f64(v))
                .ok_or(ConfigError::Seconds(flag, v))
        };
        let hold_once = match cli.hold_after {
            Some(after) => Some((
                seconds("--hold-after", after)?,
                seconds("--hold-for", cli.hold_for)?,
            )),
            None => None,
        };
        let domain = has_account.then(|| aor.host_port());
        let transfer_to = match &cli.transfer_to {
            Some(t) => Some((
                crate::sip::dial::resolve(t, domain.as_deref()).map_err(ConfigError::TransferTo)?,
                seconds("--transfer-after", cli.transfer_after)?,
            )),
            None => None,
        };
        if !(0.0..=3600.0).contains(&cli.dtmf_delay) {
            return Err(ConfigError::DtmfDelay(cli.dtmf_delay));
        }
        if !(0.0..=3600.0).contains(&cli.answer_after) {
            return Err(ConfigError::AnswerAfter(cli.answer_after));
        }
        if cli.reject.is_some() && cli.auto_answer {
            return Err(ConfigError::RejectAndAnswer);
        }
        let headless = cli.headless || !stdout_is_terminal;
        let srtp = srtp_mode(cli.srtp, transport)?;
        if cli.json && !headless {
            return Err(ConfigError::JsonWithoutHeadless);
        }
        let api = match cli.api {
            ApiArg::Realtime => Api::Realtime,
            ApiArg::Live => Api::Live,
        };
        let voice = api.check_voice(cli.voice.as_deref().unwrap_or(api.default_voice()))?;
        if api == Api::Live && cli.goal.is_some() {
            return Err(ConfigError::GoalOnLive);
        }
        let caller = caller_policy(cli)?;
        let instructions = match &caller {
            Some(_) => Some(crate::bridge::caller::instructions(
                cli.persona.as_deref(),
                cli.goal.as_deref(),
                cli.instructions.as_deref(),
            )),
            None => cli.instructions.clone(),
        };
        let front_end = if headless {
            FrontEnd::Headless { json: cli.json }
        } else {
            FrontEnd::Tui
        };
        Ok(Config {
            profile: None,
            startup_warnings: Vec::new(),
            register: has_account && !cli.no_register,
            hold_once,
            transfer_to,
            has_account,
            call,
            from,
            display_name: cli.display_name.clone(),
            outbound_proxy,
            headers,
            ring_timeout: (cli.ring_timeout > 0)
                .then(|| Duration::from_secs(cli.ring_timeout.into())),
            on_refer: match cli.on_refer {
                OnReferArg::Accept => OnRefer::Accept,
                OnReferArg::Reject => OnRefer::Reject,
                OnReferArg::Report => OnRefer::Report,
            },
            account: Account {
                aor,
                registrar,
                username,
                password: cli.password.clone(),
                trust,
            },
            transport,
            sip_port: cli.port,
            bind,
            media_address,
            stun,
            duration: (cli.duration > 0).then(|| Duration::from_secs(cli.duration)),
            verbose: cli.verbose,
            front_end,
            sip_trace_events: front_end == FrontEnd::Tui,
            // Headless has nobody to press a key, so it answers by default (the seed's behaviour).
            auto_answer: (cli.auto_answer || headless) && cli.reject.is_none(),
            answer_after: Duration::from_secs_f64(cli.answer_after),
            rtp_timeout: (cli.rtp_timeout > 0).then(|| Duration::from_secs(cli.rtp_timeout.into())),
            tcp_limits: TcpLimits {
                idle: Duration::from_secs(cli.tcp_idle.max(1).into()),
                ..TcpLimits::default()
            },
            keepalive: (cli.keepalive > 0).then(|| Duration::from_secs(cli.keepalive.into())),
            auto_reject: cli.reject.map(|r| match r {
                RejectArg::Busy => 486,
                RejectArg::Decline => 603,
            }),
            audio: match cli.audio {
                AudioArg::Device => AudioChoice::Device,
                AudioArg::Null => AudioChoice::Null,
                AudioArg::Echo => AudioChoice::Echo,
            },
            input_device: cli.input_device.clone(),
            output_device: cli.output_device.clone(),
            send_dtmf: cli.send_dtmf.clone(),
            dtmf_delay: Duration::from_secs_f64(cli.dtmf_delay),
            play: cli.play.clone(),
            record: cli.record.clone(),
            codecs,
            rtp_ports,
            srtp,
            bridge: BridgeConfig {
                enabled: cli.bridge,
                api,
                model: cli
                    .model
                    .clone()
                    .unwrap_or_else(|| api.default_model().to_owned()),
                voice,
                instructions,
                api_key: cli.api_key.clone(),
                url: cli
                    .realtime_url
                    .clone()
                    .unwrap_or_else(|| api.default_url().to_owned()),
            },
            caller,
        })
    }
}

/// What `--persona`, `--goal`, `--max-turns` and `--max-duration` ask of the calls we place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallerPolicy {
    /// What the model must get done; `None`: a persona without a goal (no verdict).
    pub goal: Option<String>,
    /// Hang up after the model's Nth reply has played.
    pub max_turns: Option<u32>,
    /// Hang up this long after the answer.
    pub max_duration: Option<Duration>,
}

/// `--persona`, `--goal`, `--max-turns`, `--max-duration`: the AI caller, checked against
/// `--call`, `--bridge` and the API key (missing, it is said now rather than after dialling).
fn caller_policy(cli: &Cli) -> Result<Option<CallerPolicy>, ConfigError> {
    let texts = [("--persona", &cli.persona), ("--goal", &cli.goal)];
    let limits = [
        ("--max-turns", cli.max_turns.is_some()),
        ("--max-duration", cli.max_duration.is_some()),
    ];
    let given = texts
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(flag, _)| *flag)
        .chain(limits.iter().filter(|(_, on)| *on).map(|(flag, _)| *flag))
        .next();
    let Some(first) = given else {
        return Ok(None);
    };
    if cli.call.is_none() {
        return Err(ConfigError::CallerWithoutCall(first));
    }
    if !cli.bridge {
        return Err(ConfigError::CallerWithoutBridge(first));
    }
    for (flag, text) in texts {
        if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ConfigError::EmptyCallerText(flag));
        }
    }
    if cli.persona.is_none() && cli.goal.is_none() {
        return Err(ConfigError::LimitWithoutCaller(first));
    }
    if cli.max_turns == Some(0) {
        return Err(ConfigError::MaxTurnsZero);
    }
    if let Some(secs) = cli.max_duration.filter(|s| !(1..=3600).contains(s)) {
        return Err(ConfigError::MaxDuration(secs));
    }
    if cli.api_key.as_deref().is_none_or(|k| k.trim().is_empty()) {
        return Err(ConfigError::CallerWithoutKey);
    }
    Ok(Some(CallerPolicy {
        goal: cli.goal.as_deref().map(|g| g.trim().to_owned()),
        max_turns: cli.max_turns,
        max_duration: cli.max_duration.map(Duration::from_secs),
    }))
}

/// `--header "Name: value"`: a token name (RFC 3261 §25.1) and any value on one line; the
/// headers sipterm writes itself are refused rather than sent twice.
fn parse_header(text: &str) -> Result<(String, String), ConfigError> {
    const OURS: [&str; 14] = [
        "via",
        "from",
        "to",
        "call-id",
        "cseq",
        "contact",
        "content-length",
        "content-type",
        "max-forwards",
        "route",
        "record-route",
        "authorization",
        "proxy-authorization",
        "allow",
    ];
    let bad = || ConfigError::Header(text.to_string());
    let (name, value) = text.split_once(':').ok_or_else(bad)?;
    let name = name.trim();
    let value = value.trim();
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        || value.chars().any(|c| c == '\r' || c == '\n')
    {
        return Err(bad());
    }
    if OURS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(ConfigError::ReservedHeader(text.to_string()));
    }
    Ok((name.to_string(), value.to_string()))
}

/// The transport: `--transport` if given, else what the URIs ask for (`sips:` or
/// `;transport=`, an explicit registrar's before the address of record's), else UDP. A
/// `--transport` that contradicts a URI is an error rather than a silent choice.
fn choose_transport(
    given: Option<TransportArg>,
    aor: &SipUri,
    registrar: Option<&SipUri>,
) -> Result<Transport, ConfigError> {
    let asked = |uri: &SipUri| -> Result<Option<Transport>, ConfigError> {
        let from_param = match uri.transport_param().as_deref() {
            None => None,
            Some("udp") => Some(Transport::Udp),
            Some("tcp") => Some(Transport::Tcp),
            Some("tls") => Some(Transport::Tls),
            Some(other) => {
                return Err(ConfigError::UnknownTransport {
                    uri: uri.to_string(),
                    value: other.to_string(),
                })
            }
        };
        // RFC 3261 §26.2.2: a sips: URI is reached over TLS, whatever else it says.
        Ok(if uri.secure {
            Some(Transport::Tls)
        } else {
            from_param
        })
    };
    let implied = match registrar.map(asked).transpose()?.flatten() {
        Some(t) => registrar.map(|r| (t, r)),
        None => asked(aor)?.map(|t| (t, aor)),
    };
    let given = given.map(|g| match g {
        TransportArg::Udp => Transport::Udp,
        TransportArg::Tcp => Transport::Tcp,
        TransportArg::Tls => Transport::Tls,
    });
    match (given, implied) {
        (Some(g), Some((i, uri))) if g != i => Err(ConfigError::TransportConflict {
            given: g.as_str(),
            uri: uri.to_string(),
            implied: i.as_str(),
        }),
        (Some(g), _) => Ok(g),
        (None, Some((i, _))) => Ok(i),
        (None, None) => Ok(Transport::Udp),
    }
}

/// Whether SIP runs over TLS: the one place that knows which transports are encrypted.
/// Exhaustive on purpose, so a new transport has to be classified here.
pub fn signalling_is_tls(transport: Transport) -> bool {
    match transport {
        Transport::Udp | Transport::Tcp => false,
        Transport::Tls => true,
    }
}

/// `--srtp` against the transport: absent, it is mandatory over TLS and off otherwise; keys
/// are never offered (nor accepted) over plain signalling, so asking for them there is an
/// error rather than a silent downgrade.
pub fn srtp_mode(arg: Option<SrtpArg>, transport: Transport) -> Result<SrtpMode, ConfigError> {
    let tls = signalling_is_tls(transport);
    let mode = match arg {
        None if tls => SrtpMode::Mandatory,
        None | Some(SrtpArg::Off) => SrtpMode::Off,
        Some(SrtpArg::Optional) => SrtpMode::Optional,
        Some(SrtpArg::Mandatory) => SrtpMode::Mandatory,
    };
    if mode != SrtpMode::Off && !tls {
        return Err(ConfigError::SrtpWithoutTls(mode.name(), transport.as_str()));
    }
    Ok(mode)
}

/// A digit for `--send-dtmf`, or `,` (a 500 ms pause).
fn is_dtmf_digit(c: char) -> bool {
    c.is_ascii_digit()
        || matches!(
            c.to_ascii_uppercase(),
            '*' | '#' | 'A' | 'B' | 'C' | 'D' | ','
        )
}

fn parse_port_range(text: &str) -> Option<RangeInclusive<u16>> {
    let (lo, hi) = text.trim().split_once('-')?;
    let lo: u16 = lo.trim().parse().ok()?;
    let hi: u16 = hi.trim().parse().ok()?;
    // RTP wants an even port and usually the odd one above it for RTCP: at least two ports.
    (lo >= 1024 && lo < hi).then_some(lo..=hi)
}

fn check_wav(path: &std::path::Path) -> Result<(), ConfigError> {
    let fail = |why: String| ConfigError::Play {
        path: path.display().to_string(),
        why,
    };
    let mut file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut header = [0u8; 12];
    file.read_exact(&mut header)
        .map_err(|_| fail("the file is too short to be a WAV file".into()))?;
    if &header[0..4] != b"RIFF" || &header[8..12] != b"WAVE" {
        return Err(fail("it is not a WAV file (no RIFF/WAVE header)".into()));
    }
    Ok(())
}

fn check_record_dir(dir: &std::path::Path) -> Result<(), ConfigError> {
    let fail = |why: String| ConfigError::Record {
        path: dir.display().to_string(),
        why,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let probe = dir.join(format!(".sipterm-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| fail(format!("not writable: {e}")))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// A STUN server as given: a name or address, and a port (3478 unless given). Looked up
/// when used, so a name that moves is followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StunServer {
    pub host: String,
    pub port: u16,
}

impl StunServer {
    /// `HOST`, `HOST:PORT`, `[V6]` or `[V6]:PORT`; a bare IPv6 address is taken whole.
    fn parse(text: &str) -> Option<StunServer> {
        let text = text.trim();
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Some(StunServer {
                host: ip.to_string(),
                port: crate::media::stun::DEFAULT_PORT,
            });
        }
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') => (host, Some(port)),
            _ => (text, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|&p| p > 0)?,
            None => crate::media::stun::DEFAULT_PORT,
        };
        let sane = |c: char| c.is_ascii_alphanumeric() || ".-:_".contains(c);
        (!host.is_empty() && host.chars().all(sane)).then(|| StunServer {
            host: host.to_string(),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> Result<Config, ConfigError> {
        let cli = Cli::try_parse_from(std::iter::once("sipterm").chain(args.iter().copied()))
            .expect("clap accepts the arguments");
        Config::from_cli(&cli, false)
    }

    /// The AI caller's flags, with the API key given (`Some`) or absent whatever the
    /// environment holds (`None`).
    fn caller_config(args: &[&str], key: Option<&str>) -> Result<Config, ConfigError> {
        let mut cli = Cli::try_parse_from(std::iter::once("sipterm").chain(args.iter().copied()))
            .expect("clap accepts the arguments");
        cli.api_key = key.map(str::to_owned);
        Config::from_cli(&cli, false)
    }

    #[test]
    fn model_url_and_voice_follow_the_api() {
        let realtime = config(&["--sip-uri", "sip:a@127.0.0.1"]).unwrap().bridge;
        assert_eq!(
            (
                realtime.api,
                realtime.model.as_str(),
                realtime.voice.as_str()
            ),
            (Api::Realtime, "gpt-realtime-2.1", "alloy")
        );
        assert_eq!(realtime.url, "wss://api.openai.com/v1/realtime");
        let live = config(&["--sip-uri", "sip:a@127.0.0.1", "--api", "live"])
            .unwrap()
            .bridge;
        assert_eq!(
            (live.api, live.model.as_str(), live.voice.as_str()),
            (Api::Live, "gpt-live-1", "marin")
        );
        assert_eq!(live.url, "wss://api.openai.com/v1/live/sessions");
        let given = config(&[
            "--sip-uri",
            "sip:a@127.0.0.1",
            "--api",
            "live",
            "--model",
            "gpt-live-1.1",
            "--voice",
            "Juni",
            "--realtime-url",
            "ws://127.0.0.1:9/v1/live/sessions",
        ])
        .unwrap()
        .bridge;
        assert_eq!(
            (
                given.model.as_str(),
                given.voice.as_str(),
                given.url.as_str()
            ),
            ("gpt-live-1.1", "juni", "ws://127.0.0.1:9/v1/live/sessions")
        );
    }

    #[test]
    fn a_voice_the_api_lacks_is_refused_before_anything_starts() {
        let err = config(&["--sip-uri", "sip:a@127.0.0.1", "--voice", "juni"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("choose --api live"), "{err}");
        let err = config(&["--sip-uri", "sip:a@127.0.0.1", "--voice", "robot"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("its voices are: alloy"), "{err}");
    }

    #[test]
    fn a_goal_needs_the_realtime_api() {
        let err = caller_config(
            &[
                "--call",
                "sip:agent@127.0.0.1",
                "--bridge",
                "--api",
                "live",
                "--goal",
                "book a table",
            ],
            Some("sk-x"),
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::GoalOnLive), "{err}");
    }

    #[test]
    fn the_ai_caller_builds_its_instructions_and_limits() {
        let c = caller_config(
            &[
                "--call",
                "sip:agent@127.0.0.1",
                "--bridge",
                "--persona",
                "Dana",
                "--goal",
                "book a table",
                "--instructions",
                "Speak French.",
                "--max-turns",
                "4",
                "--max-duration",
                "90",
            ],
            Some("sk-x"),
        )
        .unwrap();
        let caller = c.caller.expect("the AI caller");
        assert_eq!(caller.goal.as_deref(), Some("book a table"));
        assert_eq!(caller.max_turns, Some(4));
        assert_eq!(caller.max_duration, Some(Duration::from_secs(90)));
        let text = c.bridge.instructions.expect("instructions");
        assert!(text.starts_with("You are the caller"), "{text}");
        assert!(
            text.contains("Dana") && text.contains("book a table"),
            "{text}"
        );
        assert!(text.ends_with("Speak French."), "{text}");
        let plain = caller_config(&["--call", "sip:a@127.0.0.1", "--bridge"], None).unwrap();
        assert!(plain.caller.is_none());
    }

    #[test]
    fn the_ai_caller_refuses_bad_combinations_in_one_sentence() {
        let call = ["--call", "sip:agent@127.0.0.1"];
        let cases: &[(&[&str], &str)] = &[
            (
                &["--sip-uri", "sip:a@127.0.0.1", "--bridge", "--goal", "g"],
                "--goal is for the AI caller: it needs --call",
            ),
            (
                &[call[0], call[1], "--persona", "p"],
                "--persona is for the AI caller: it needs --bridge",
            ),
            (
                &[call[0], call[1], "--bridge", "--max-turns", "3"],
                "--max-turns limits the AI caller: give --goal or --persona too",
            ),
            (
                &[
                    call[0],
                    call[1],
                    "--bridge",
                    "--goal",
                    "g",
                    "--max-turns",
                    "0",
                ],
                "--max-turns must be at least 1",
            ),
            (
                &[
                    call[0],
                    call[1],
                    "--bridge",
                    "--goal",
                    "g",
                    "--max-duration",
                    "0",
                ],
                "--max-duration '0' must be",
            ),
            (
                &[call[0], call[1], "--bridge", "--goal", " "],
                "--goal must not be empty",
            ),
        ];
        for (args, says) in cases {
            let e = caller_config(args, Some("sk-x")).unwrap_err().to_string();
            assert!(e.starts_with(says), "{args:?}: {e}");
        }
    }

    #[test]
    fn the_ai_caller_without_an_api_key_is_refused_before_dialling() {
        let args = ["--call", "sip:agent@127.0.0.1", "--bridge", "--goal", "g"];
        for key in [None, Some("  ")] {
            let e = caller_config(&args, key).unwrap_err().to_string();
            assert!(e.contains("needs an OpenAI API key"), "{e}");
            assert!(e.contains("nothing was dialled"), "{e}");
        }
    }

    #[test]
    fn srtp_defaults_off_without_tls_and_refuses_keys_over_plain_signalling() {
        let c = config(&["--sip-uri", "sip:alice@127.0.0.1"]).unwrap();
        assert_eq!(c.srtp, SrtpMode::Off);
        let c = config(&["--sip-uri", "sip:a@127.0.0.1", "--srtp", "OFF"]).unwrap();
        assert_eq!(c.srtp, SrtpMode::Off);
        for mode in ["optional", "mandatory"] {
            for transport in ["udp", "tcp"] {
                let e = config(&[
                    "--sip-uri",
                    "sip:a@127.0.0.1",
                    "--transport",
                    transport,
                    "--srtp",
                    mode,
                ])
                .unwrap_err();
                let text = e.to_string();
                assert!(matches!(e, ConfigError::SrtpWithoutTls(..)), "{text}");
                assert!(
                    text.starts_with(&format!("--srtp {mode} needs TLS")),
                    "{text}"
                );
                assert!(text.contains(&transport.to_ascii_uppercase()), "{text}");
            }
        }
    }

    #[test]
    fn srtp_is_mandatory_over_tls_unless_told_otherwise() {
        for tls in [
            &["--sip-uri", "sips:alice@127.0.0.1"][..],
            &["--sip-uri", "sip:alice@127.0.0.1", "--transport", "tls"],
        ] {
            assert_eq!(config(tls).unwrap().srtp, SrtpMode::Mandatory, "{tls:?}");
            for (flag, mode) in [
                ("off", SrtpMode::Off),
                ("optional", SrtpMode::Optional),
                ("Mandatory", SrtpMode::Mandatory),
            ] {
                let args: Vec<&str> = tls.iter().copied().chain(["--srtp", flag]).collect();
                assert_eq!(config(&args).unwrap().srtp, mode, "{args:?}");
            }
        }
        assert!(signalling_is_tls(Transport::Tls));
        assert!(!signalling_is_tls(Transport::Udp) && !signalling_is_tls(Transport::Tcp));
    }

    #[test]
    fn registrar_and_username_default_from_sip_uri() {
        let c = config(&["--sip-uri", "sip:alice@127.0.0.1:5070"]).unwrap();
        assert_eq!(c.account.username, "alice");
        assert_eq!(c.account.registrar.to_string(), "sip:127.0.0.1:5070");
        assert!(c.auto_answer, "headless answers by default");
        assert_eq!(c.front_end, FrontEnd::Headless { json: false });
        assert_eq!(c.rtp_ports, 10000..=20000);
        assert_eq!(c.keepalive, Some(Duration::from_secs(25)));
        assert_eq!(c.stun, None);
    }

    #[test]
    fn explicit_values_win() {
        let c = config(&[
            "--sip-uri",
            "sip:alice@example.com",
            "--registrar-uri",
            "sip:reg.example.com:5080",
            "--username",
            "auth-alice",
            "--duration",
            "5",
            "--rtp-ports",
            "30000-30100",
            "--codecs",
            "pcma,pcmu",
        ])
        .unwrap();
        assert_eq!(c.account.registrar.host_port(), "reg.example.com:5080");
        assert_eq!(c.account.username, "auth-alice");
        assert_eq!(c.duration, Some(Duration::from_secs(5)));
        assert_eq!(c.rtp_ports, 30000..=30100);
        assert_eq!(c.codecs, vec![Codec::Pcma, Codec::Pcmu]);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        let e = config(&["--sip-uri", "alice@example.com"]).unwrap_err();
        assert!(e.to_string().starts_with("--sip-uri"), "{e}");
        let e = config(&["--sip-uri", "sip:a@b", "--rtp-ports", "20000-10000"]).unwrap_err();
        assert!(e.to_string().contains("--rtp-ports '20000-10000'"), "{e}");
        let e = config(&["--sip-uri", "sip:a@b", "--rtp-ports", "80-90"]).unwrap_err();
        assert!(matches!(e, ConfigError::RtpPorts(_)));
        let e = config(&["--sip-uri", "sip:a@b", "--codecs", "g729"]).unwrap_err();
        assert!(e.to_string().starts_with("--codecs"), "{e}");
        let e = config(&["--sip-uri", "sip:a@b", "--bind", "nope"]).unwrap_err();
        assert!(matches!(e, ConfigError::Bind(_)));
        let e = config(&["--sip-uri", "sip:a@b", "--media-address", "x"]).unwrap_err();
        assert!(matches!(e, ConfigError::MediaAddress(_)));
        for bad in ["stun.example.org:0", "stun.example.org:99999", "", "a b"] {
            let e = config(&["--sip-uri", "sip:a@b", "--stun", bad]).unwrap_err();
            assert!(matches!(e, ConfigError::Stun(_)), "{bad}: {e}");
        }
        let c = config(&["--sip-uri", "sip:a@b", "--stun", "stun.example.org"]).unwrap();
        assert_eq!(
            c.stun.map(|s| (s.host, s.port)),
            Some(("stun.example.org".into(), 3478))
        );
        let c = config(&["--sip-uri", "sip:a@b", "--stun", "[2001:db8::1]:3479"]).unwrap();
        assert_eq!(
            c.stun.map(|s| (s.host, s.port)),
            Some(("2001:db8::1".into(), 3479))
        );
        let e = config(&["--sip-uri", "sip:a@b", "--send-dtmf", "12x"]).unwrap_err();
        assert!(e.to_string().contains("'x'"), "{e}");
        let e = config(&["--sip-uri", "sip:example.com"]).unwrap_err();
        assert!(matches!(e, ConfigError::NoUsername(_)));
    }

    #[test]
    fn play_file_must_be_a_readable_wav() {
        let e = config(&["--sip-uri", "sip:a@b", "--play", "/nonexistent/x.wav"]).unwrap_err();
        assert!(
            e.to_string().starts_with("--play '/nonexistent/x.wav'"),
            "{e}"
        );
        let dir = std::env::temp_dir().join(format!("sipterm-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_wav = dir.join("x.wav");
        std::fs::write(&not_wav, b"this is not audio at all").unwrap();
        let e = config(&["--sip-uri", "sip:a@b", "--play", not_wav.to_str().unwrap()]).unwrap_err();
        assert!(e.to_string().contains("not a WAV"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn reject_policy_turns_auto_answer_off() {
        let c = config(&["--sip-uri", "sip:a@b", "--reject", "decline"]).unwrap();
        assert_eq!(c.auto_reject, Some(603));
        assert!(!c.auto_answer);
        let e = config(&["--sip-uri", "sip:a@b", "--reject", "busy", "--auto-answer"]).unwrap_err();
        assert!(matches!(e, ConfigError::RejectAndAnswer));
        let e = config(&["--sip-uri", "sip:a@b", "--answer-after=-1"]).unwrap_err();
        assert!(matches!(e, ConfigError::AnswerAfter(_)));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let c = config(&[
            "--sip-uri",
            "sip:a@b",
            "--password",
            "hunter2-pass",
            "--api-key",
            "sk-secret-123",
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2-pass") && !shown.contains("sk-secret-123"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn tls_comes_from_the_flag_a_sips_uri_or_transport_tls_with_port_5061() {
        for args in [
            vec![
                "--sip-uri",
                "sip:alice@pbx.example.com",
                "--transport",
                "tls",
            ],
            vec!["--sip-uri", "sips:alice@pbx.example.com"],
            vec!["--sip-uri", "sip:alice@pbx.example.com;transport=tls"],
            vec![
                "--sip-uri",
                "sip:alice@example.com",
                "--registrar-uri",
                "sips:pbx.example.com",
            ],
        ] {
            let c = config(&args).unwrap();
            assert_eq!(c.transport, Transport::Tls, "{args:?}");
            assert_eq!(c.account.registrar.port, Some(5061), "{args:?}");
            assert_eq!(c.account.registrar.host, "pbx.example.com");
        }
        let c = config(&["--sip-uri", "sips:alice@pbx.example.com:5071"]).unwrap();
        assert_eq!(c.account.registrar.to_string(), "sips:pbx.example.com:5071");
        // Without TLS the port stays unsaid (5060), and ;transport=tcp is heard too.
        let c = config(&["--sip-uri", "sip:alice@pbx.example.com;transport=TCP"]).unwrap();
        assert_eq!(c.transport, Transport::Tcp);
        assert_eq!(c.account.registrar.port_or_default(), 5060);
        let c = config(&["--sip-uri", "sip:alice@pbx.example.com"]).unwrap();
        assert_eq!(c.transport, Transport::Udp);
    }

    #[test]
    fn contradicting_transports_and_unknown_ones_are_refused() {
        let e = config(&["--sip-uri", "sips:a@b", "--transport", "udp"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--transport UDP contradicts sips:a@b, which asks for TLS"
        );
        let e = config(&["--sip-uri", "sip:a@b;transport=sctp"]).unwrap_err();
        assert!(matches!(e, ConfigError::UnknownTransport { .. }), "{e}");
        let e = config(&["--sip-uri", "sip:a@b", "--ca-file", "/x.pem"]).unwrap_err();
        assert!(matches!(e, ConfigError::CaFileWithoutTls("UDP")), "{e}");
        let e = config(&["--sip-uri", "sips:a@b", "--ca-file", "/nonexistent.pem"]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--ca-file '/nonexistent.pem' cannot be read"),
            "{e}"
        );
    }

    #[test]
    fn json_needs_headless() {
        let cli = Cli::try_parse_from(["sipterm", "--sip-uri", "sip:a@b", "--json"]).unwrap();
        assert!(matches!(
            Config::from_cli(&cli, true),
            Err(ConfigError::JsonWithoutHeadless)
        ));
        assert!(Config::from_cli(&cli, false).is_ok());
    }

    #[test]
    fn call_without_an_account_registers_nothing_and_goes_to_the_uri() {
        let c = config(&["--call", "sip:agent@sip.example.com:5070"]).unwrap();
        assert!(!c.register && !c.has_account);
        assert_eq!(c.call.as_deref(), Some("sip:agent@sip.example.com:5070"));
        assert_eq!(c.account.registrar.host_port(), "sip.example.com:5070");
        assert_eq!(c.transport, Transport::Udp);
        // sips: asks for TLS, even with no account.
        let c = config(&["--call", "sips:agent@sip.example.com"]).unwrap();
        assert_eq!(c.transport, Transport::Tls);
        // A number needs an account's domain.
        let e = config(&["--call", "1001"]).unwrap_err();
        assert!(e.to_string().starts_with("--call: "), "{e}");
    }

    #[test]
    fn call_with_an_account_completes_numbers_and_registers_unless_told_not_to() {
        let c = config(&["--sip-uri", "sip:alice@pbx.example.com", "--call", "1001"]).unwrap();
        assert!(c.register && c.has_account);
        assert_eq!(c.call.as_deref(), Some("sip:1001@pbx.example.com:5060"));
        let c = config(&[
            "--sip-uri",
            "sip:alice@pbx.example.com",
            "--call",
            "1001",
            "--no-register",
        ])
        .unwrap();
        assert!(!c.register);
    }

    #[test]
    fn a_bad_call_uri_names_the_flag() {
        for bad in ["not a uri", "sip:", "sip:agent@", "sip:a@host:99999"] {
            let e = config(&["--call", bad]).unwrap_err();
            assert!(e.to_string().starts_with("--call: "), "{bad}: {e}");
        }
        let e = config(&["--call", "sip:a@b", "--from", "nope"]).unwrap_err();
        assert!(e.to_string().starts_with("--from: "), "{e}");
        let e = config(&["--call", "sip:a@b", "--outbound-proxy", "nope"]).unwrap_err();
        assert!(e.to_string().starts_with("--outbound-proxy: "), "{e}");
    }

    #[test]
    fn headers_are_name_colon_value_and_ours_are_refused() {
        let c = config(&[
            "--call",
            "sip:a@b",
            "--header",
            "X-Test-Case: refund-42",
            "--header",
            "X-Empty:",
        ])
        .unwrap();
        assert_eq!(
            c.headers,
            vec![
                ("X-Test-Case".to_string(), "refund-42".to_string()),
                ("X-Empty".to_string(), String::new())
            ]
        );
        for bad in ["no colon", ": value", "X Bad: 1", "X-\u{e9}: 1"] {
            let e = config(&["--call", "sip:a@b", "--header", bad]).unwrap_err();
            assert!(matches!(e, ConfigError::Header(_)), "{bad}: {e}");
        }
        let e = config(&["--call", "sip:a@b", "--header", "Call-ID: x"]).unwrap_err();
        assert!(matches!(e, ConfigError::ReservedHeader(_)), "{e}");
    }

    #[test]
    fn dtmf_takes_commas_and_the_timers_take_seconds() {
        let c = config(&[
            "--sip-uri",
            "sip:a@b",
            "--send-dtmf",
            "12,,#",
            "--dtmf-delay",
            "0.5",
            "--hold-after",
            "3",
            "--transfer-to",
            "2002",
        ])
        .unwrap();
        assert_eq!(c.dtmf_delay, Duration::from_millis(500));
        assert_eq!(
            c.hold_once,
            Some((Duration::from_secs(3), Duration::from_secs(2)))
        );
        assert_eq!(
            c.transfer_to,
            Some(("sip:2002@b:5060".to_string(), Duration::from_secs(2)))
        );
        let e = config(&["--sip-uri", "sip:a@b", "--hold-after", "9999"]).unwrap_err();
        assert!(e.to_string().starts_with("--hold-after '9999'"), "{e}");
    }
}
