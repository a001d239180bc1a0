//! The command line, as DESIGN.md §2 fixes it: every flag, its help text and its env var.
//!
//! Only syntax lives here; meaning (defaults derived from other flags, cross-checks, file
//! access) is decided once in `config.rs`.

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "sipterm",
    version,
    about = "A terminal SIP softphone for testing SIP accounts and voice-AI phone agents",
    long_about = "sipterm registers a SIP account, waits for calls and shows them in a full-screen \
terminal UI, or runs headless for scripts and CI. Calls can be answered, rejected, echoed, \
recorded, and bridged to OpenAI's Realtime API."
)]
pub struct Cli {
    /// Read profiles from this TOML file [default: $XDG_CONFIG_HOME/sipterm/config.toml,
    /// else ~/.config/sipterm/config.toml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Take the flags of this [profiles.NAME] table of the config file [default: the file's
    /// `default`]. Flags on the command line override it.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Print the settings (command line, profile, environment and defaults merged, secrets
    /// redacted), each with where it came from, and exit.
    #[arg(long)]
    pub print_config: bool,

    /// Your SIP address, e.g. sip:alice@pbx.example.com (port optional). Not needed with
    /// --call when there is no account: the call then goes straight to its URI.
    // Required unless --call/--scenario/--list-devices/--print-config, but only once a
    // profile had its chance to supply it: see `command_requiring_sip_uri`.
    #[arg(long, value_name = "URI")]
    pub sip_uri: Option<String>,

    /// Registrar to REGISTER with [default: host and port of --sip-uri].
    #[arg(long, value_name = "URI")]
    pub registrar_uri: Option<String>,

    /// Authentication user name [default: the user part of --sip-uri].
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,

    /// Authentication password.
    #[arg(
        long,
        value_name = "PASS",
        env = "SIP_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,

    /// SIP transport [default: tls for a sips: URI or ;transport=tls, else the URI's
    /// ;transport=, else udp].
    #[arg(long, value_name = "udp|tcp|tls", ignore_case = true)]
    pub transport: Option<TransportArg>,

    /// With TLS: also trust the certificate authorities in this PEM file (a private CA), as
    /// well as the public ones.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Place a call to this SIP URI (or a number or user at the account's domain): once
    /// registered, or at once without an account or with --no-register. Headless runs end
    /// with the call (exit 0 when it was answered, 4 when not; with --goal 0 passed,
    /// 5 failed, 6 undecided).
    #[arg(long, value_name = "URI")]
    pub call: Option<String>,

    /// The From address of calls we place [default: --sip-uri, or sip:sipterm@<local IP>].
    #[arg(long, value_name = "URI")]
    pub from: Option<String>,

    /// Display name on the From of calls we place.
    #[arg(long, value_name = "NAME")]
    pub display_name: Option<String>,

    /// Do not register, even with a password (calls still answer digest challenges).
    #[arg(long)]
    pub no_register: bool,

    /// Send calls we place through this proxy (a loose Route), e.g. sip:proxy.example.com:5060.
    #[arg(long, value_name = "URI")]
    pub outbound_proxy: Option<String>,

    /// An extra header on the INVITEs we send, "Name: value" (repeatable), e.g.
    /// --header "X-Test-Case: 42".
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// CANCEL a call we placed that is not answered within this many seconds (0 = wait).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub ring_timeout: u32,

    /// What to do when the other side asks us to transfer (REFER): accept (call the target,
    /// hang up when it answers), reject (603), or report (log the target, answer 603).
    #[arg(
        long,
        value_name = "accept|reject|report",
        default_value = "accept",
        ignore_case = true
    )]
    pub on_refer: OnReferArg,

    /// Put every answered call on hold this many seconds after the answer (once), for
    /// --hold-for seconds, then resume: the headless way to test hold.
    #[arg(long, value_name = "SECS")]
    pub hold_after: Option<f64>,

    /// With --hold-after: how long the hold lasts.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub hold_for: f64,

    /// Blind-transfer every answered call to this URI (or number), --transfer-after seconds
    /// after the answer: the headless way to test transfer.
    #[arg(long, value_name = "URI")]
    pub transfer_to: Option<String>,

    /// With --transfer-to: seconds after the answer.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub transfer_after: f64,

    /// Local SIP port (0 picks any free port).
    #[arg(long, value_name = "N", default_value_t = 5060)]
    pub port: u16,

    /// Stop after this many seconds (0 = run until quit).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub duration: u64,

    /// Show SIP messages in the log.
    #[arg(short, long)]
    pub verbose: bool,

    /// The OpenAI voice API the bridge speaks: the Realtime API, or GPT-Live (the model takes
    /// turns by itself; no VAD settings, cancel or truncate).
    #[arg(
        long,
        value_name = "realtime|live",
        default_value = "realtime",
        ignore_case = true
    )]
    pub api: ApiArg,

    /// Model used by the voice bridge (any name the service knows) [default:
    /// gpt-realtime-2.1 with --api realtime, gpt-live-1 with --api live].
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,

    /// Voice of the model [default: alloy with --api realtime, marin with --api live].
    /// Realtime: alloy ash ballad cedar coral echo marin sage shimmer verse. GPT-Live: those and
    /// aube beacon bossa brise cinder delta flitz gleam harema juni meridian nira noeul nuri
    /// quartz ripple shitan sillage stone tempo vesper willow.
    #[arg(long, value_name = "NAME")]
    pub voice: Option<String>,

    /// System instructions for the model.
    #[arg(long, value_name = "TEXT")]
    pub instructions: Option<String>,

    /// With --call and --bridge, the model is the caller: who it is and how it speaks.
    #[arg(long, value_name = "TEXT")]
    pub persona: Option<String>,

    /// With --call and --bridge, what the model (the caller) must get done. It ends the call
    /// with a verdict (passed or failed, and why) through its end_call tool.
    #[arg(long, value_name = "TEXT")]
    pub goal: Option<String>,

    /// The AI caller hangs up after the model's Nth reply has played (verdict undecided).
    #[arg(long, value_name = "N")]
    pub max_turns: Option<u32>,

    /// The AI caller hangs up this many seconds after the answer (verdict undecided).
    #[arg(long, value_name = "SECS")]
    pub max_duration: Option<u64>,

    /// OpenAI API key (needed only when a bridge starts).
    #[arg(
        long,
        value_name = "KEY",
        env = "OPENAI_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,

    /// Local IP address for SIP and RTP [default: the address that routes to the registrar].
    #[arg(long, value_name = "IP")]
    pub bind: Option<String>,

    /// No full-screen UI: log lines on stdout (chosen automatically when stdout is not a terminal).
    #[arg(long)]
    pub headless: bool,

    /// With headless: one JSON object per event per line instead of log lines.
    #[arg(long)]
    pub json: bool,

    /// Answer every incoming call (default on in headless mode).
    #[arg(long)]
    pub auto_answer: bool,

    /// With auto-answer: let calls ring this many seconds before answering.
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    pub answer_after: f64,

    /// Hang up an active call that receives no RTP for this many seconds (a caller that
    /// vanished without a BYE); 0 turns it off. Held calls are exempt.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub rtp_timeout: u32,

    /// Close an inbound SIP-over-TCP connection after this many seconds without traffic.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub tcp_idle: u32,

    /// Every this many seconds, send an RFC 5626 CRLF keep-alive to the registrar (keeps a NAT
    /// mapping or the TCP or TLS connection open); every fourth time also check that it still holds
    /// our registration and where it sees us. 0 turns it off.
    #[arg(long, value_name = "SECS", default_value_t = 25)]
    pub keepalive: u32,

    /// Reject every incoming call instead of answering it: busy (486) or decline (603).
    #[arg(long, value_name = "busy|decline", ignore_case = true)]
    pub reject: Option<RejectArg>,

    /// Connect every answered call to the Realtime API.
    #[arg(long)]
    pub bridge: bool,

    /// The API's WebSocket URL (ws:// allowed for local servers) [default:
    /// wss://api.openai.com/v1/realtime, or wss://api.openai.com/v1/live/sessions with
    /// --api live].
    #[arg(long, value_name = "URL")]
    pub realtime_url: Option<String>,

    /// Address announced in SDP for RTP instead of the bind address (NAT with port forwarding).
    #[arg(long, value_name = "IP")]
    pub media_address: Option<String>,

    /// STUN server (RFC 5389) that tells each call's RTP port's public address for SDP.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub stun: Option<String>,

    /// Where call audio goes and comes from: sound card, nothing, or back to the caller.
    #[arg(
        long,
        value_name = "device|null|echo",
        default_value = "device",
        ignore_case = true
    )]
    pub audio: AudioArg,

    /// Sound card input to use with --audio device, by name from --list-devices (or a unique
    /// description) [default: the system default].
    #[arg(long, value_name = "NAME")]
    pub input_device: Option<String>,

    /// Sound card output to use with --audio device, by name from --list-devices (or a unique
    /// description) [default: the system default].
    #[arg(long, value_name = "NAME")]
    pub output_device: Option<String>,

    /// List the sound devices and exit.
    #[arg(long)]
    pub list_devices: bool,

    /// Send these DTMF digits (0-9 * # A-D, RFC 4733; `,` pauses 500 ms) after each call is
    /// answered.
    #[arg(long, value_name = "DIGITS")]
    pub send_dtmf: Option<String>,

    /// With --send-dtmf: wait this many seconds after the answer before the first digit.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub dtmf_delay: f64,

    /// A WAV file (any rate, mono or stereo) used as the microphone, looped.
    #[arg(long, value_name = "WAV")]
    pub play: Option<PathBuf>,

    /// Run the calls a scenario file describes (steps, assertions, target); the same as
    /// `sipterm test FILE`. Its [call] table fills the flags not given here.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,

    /// With a scenario: place this many calls in all [default: the scenario's, or 1].
    #[arg(long, value_name = "N", requires = "scenario", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub repeat: Option<u32>,

    /// With a scenario: keep this many calls going at once [default: the scenario's, or 1].
    #[arg(long, value_name = "K", requires = "scenario", value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub concurrency: Option<u32>,

    /// With a scenario: write the report here (per call a stereo WAV and a transcript;
    /// summary.json; junit.xml). The folder is created if needed.
    #[arg(long, value_name = "DIR", requires = "scenario")]
    pub report: Option<PathBuf>,

    /// Write one stereo WAV per call (left: remote, right: sent) into this directory.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,

    /// Codecs to use: our offers list them in this order; answering, the caller's first codec
    /// that is in the list is taken (telephone-event is always offered).
    #[arg(long, value_name = "LIST", default_value = "pcmu,pcma,opus")]
    pub codecs: String,

    /// UDP port range for RTP.
    #[arg(long, value_name = "LO-HI", default_value = "10000-20000")]
    pub rtp_ports: String,

    /// SRTP with SDES keys (RFC 4568): off, optional (take it when offered) or mandatory
    /// (refuse unencrypted calls with 488). Keys travel in SDP, so only over TLS signalling.
    /// Default: mandatory over TLS, off otherwise.
    #[arg(long, value_name = "off|optional|mandatory", ignore_case = true)]
    pub srtp: Option<SrtpArg>,
}

/// The flags that may go without --sip-uri.
const SIP_URI_NOT_NEEDED_WITH: [&str; 4] = ["list_devices", "call", "scenario", "print_config"];

/// The command with every rule, including the one the first look at the arguments leaves
/// out (a profile may supply --sip-uri).
pub fn command_requiring_sip_uri() -> clap::Command {
    Cli::command().mut_arg("sip_uri", |arg| {
        arg.required_unless_present_any(SIP_URI_NOT_NEEDED_WITH)
    })
}

/// Parses a complete argument list (the user's plus a profile's) with every rule applied.
pub fn parse_final(args: &[OsString]) -> Result<(Cli, ArgMatches), clap::Error> {
    let mut command = command_requiring_sip_uri();
    let matches = command.try_get_matches_from_mut(args.iter())?;
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
    Ok((cli, matches))
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SrtpArg {
    Off,
    Optional,
    Mandatory,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    Udp,
    Tcp,
    Tls,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnReferArg {
    Accept,
    Reject,
    Report,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum RejectArg {
    Busy,
    Decline,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum AudioArg {
    Device,
    Null,
    Echo,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ApiArg {
    Realtime,
    Live,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let args: Vec<OsString> = std::iter::once("sipterm")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        parse_final(&args).map(|(cli, _)| cli)
    }

    #[test]
    fn seed_options_parse_with_defaults() {
        let cli = parse(&["--sip-uri", "sip:alice@example.com"]).unwrap();
        assert_eq!(cli.transport, None, "decided in config.rs from the URIs");
        assert_eq!(cli.port, 5060);
        assert_eq!(cli.duration, 0);
        assert_eq!(cli.api, ApiArg::Realtime);
        assert_eq!(cli.model, None, "decided in config.rs from --api");
        assert_eq!(cli.voice, None, "checked in config.rs against --api");
        assert_eq!(cli.audio, AudioArg::Device);
        assert_eq!(cli.codecs, "pcmu,pcma,opus");
        assert_eq!(cli.rtp_ports, "10000-20000");
    }

    #[test]
    fn transport_and_api_are_case_insensitive() {
        let cli = parse(&[
            "--sip-uri",
            "sip:a@b",
            "--transport",
            "TCP",
            "--api",
            "Live",
        ])
        .unwrap();
        assert_eq!(cli.transport, Some(TransportArg::Tcp));
        assert_eq!(cli.api, ApiArg::Live);
        let cli = parse(&["--sip-uri", "sip:a@b", "--transport", "Tls"]).unwrap();
        assert_eq!(cli.transport, Some(TransportArg::Tls));
    }

    #[test]
    fn unknown_transport_and_api_are_refused() {
        assert!(parse(&["--sip-uri", "sip:a@b", "--transport", "sctp"]).is_err());
        assert!(parse(&["--sip-uri", "sip:a@b", "--api", "beta"]).is_err());
        assert!(parse(&["--sip-uri", "sip:a@b", "--port", "70000"]).is_err());
    }

    #[test]
    fn sip_uri_is_required_unless_calling() {
        assert!(parse(&[]).is_err());
        let cli = parse(&["--call", "sip:agent@example.com"]).unwrap();
        assert_eq!(cli.sip_uri, None);
        assert_eq!(cli.ring_timeout, 60);
        assert_eq!(cli.on_refer, OnReferArg::Accept);
        assert!(parse(&["--print-config"]).is_ok());
        // The first look (before a profile is read) does not insist.
        assert!(Cli::try_parse_from(["sipterm"]).is_ok());
    }

    #[test]
    fn headers_repeat() {
        let cli = parse(&[
            "--call", "sip:a@b", "--header", "X-One: 1", "--header", "X-Two: 2",
        ])
        .unwrap();
        assert_eq!(cli.headers, vec!["X-One: 1", "X-Two: 2"]);
    }
}

/// `sipterm test FILE [flags]` is `sipterm --scenario FILE [flags]`: the subcommand reads
/// well in CI scripts, while every other flag stays a plain flag. Anything else is left alone.
pub fn expand_test_subcommand(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    if args.get(1).map(|a| a == "test") != Some(true) {
        return args;
    }
    let mut out = vec![args[0].clone()];
    match args.get(2) {
        // `sipterm test --help`: the whole help, which explains --scenario.
        Some(a) if a == "--help" || a == "-h" => {}
        // The file comes right after `test` (a flag there leaves clap to say it is missing).
        _ => out.push("--scenario".into()),
    }
    out.extend(args.into_iter().skip(2));
    out
}

#[cfg(test)]
mod expand_tests {
    use super::expand_test_subcommand;
    use std::ffi::OsString;

    fn expand(args: &[&str]) -> Vec<String> {
        expand_test_subcommand(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn test_file_becomes_the_scenario_flag_and_other_flags_stay() {
        assert_eq!(
            expand(&["sipterm", "test", "s.toml", "--repeat", "20"]),
            ["sipterm", "--scenario", "s.toml", "--repeat", "20"]
        );
        assert_eq!(expand(&["sipterm", "test"]), ["sipterm", "--scenario"]);
        assert_eq!(
            expand(&["sipterm", "test", "--help"]),
            ["sipterm", "--help"]
        );
        assert_eq!(
            expand(&["sipterm", "--call", "test"]),
            ["sipterm", "--call", "test"]
        );
    }
}
