//! sipp runs with scenarios from `tests/scenarios/`, every port free and on 127.0.0.1,
//! every trace in a scratch dir, and a global timeout so nothing hangs.
//!
//! sipp 3.6.1 notes that shaped this module:
//! - it binds a control socket (default UDP 8888 on 0.0.0.0), so each run gets `-ci/-cp`;
//! - `-mp p` binds p (audio) and p + 2 (video), and `rtp_stream` sends from p;
//! - `rtp_stream="file,..."` is not keyword-substituted and is read when the scenario loads,
//!   so the tone file is generated into the run's scratch dir, which is also its cwd;
//! - `<pause milliseconds="[key]"/>` is not substituted either: scenarios turn a key into a
//!   variable (`assignstr` + `todouble`) and use `<pause variable=.../>`;
//! - `[media_ip]` is what `-mi` binds, so the address a scenario advertises in its SDP is a
//!   key of its own, `sdp_media_ip` (default 127.0.0.1; 127.0.0.2 puts an `RtpRelay` in front);
//! - `play_pcap_audio` replays a pcap's payloads with its timing from `-mp` to the peer's
//!   media address (over a raw socket: root or CAP_NET_RAW), so DTMF comes as a generated pcap.
//!
//! `run.rs` holds [`SippRun`] (what a run did); `register.rs` registers a sipp UAS at Kamailio.

mod register;
mod run;

pub use register::{register, spawn_registered_uas, unregister};
pub use run::SippRun;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use super::audio::{write_tone_alaw, write_tone_ulaw};
use super::dtmf::{write_dtmf_pcap, DtmfStream};
use super::ports::{free_udp_port, free_udp_port_block, free_udp_tcp_port, ScratchDir};
use super::process::{read_lossy, require_tool, ChildGuard};

/// Default values passed as `-key` to every run (a scenario uses the ones it needs).
pub const DEFAULT_KEYS: &[(&str, &str)] = &[
    ("call_ms", "3000"),
    ("hold_ms", "1000"),
    ("expected_status", "486"),
    ("expires", "3600"),
    ("sdp_media_ip", "127.0.0.1"),
    ("early_ms", "1500"),
    ("x_value", "sipterm"),
    ("refer_to", "sip:nobody@127.0.0.1"),
    ("redirect_to", "sip:nobody@127.0.0.1"),
    ("auth_user", "carol"),
    ("auth_password", "secret"),
];

/// The DTMF keys in `dtmf.pcap`, which `uac_dtmf.xml` plays: the harness writes it into the
/// run's directory with [`write_dtmf_pcap`] (other keys: [`Sipp::dtmf_digits`]).
pub const DEFAULT_DTMF_DIGITS: &str = "1234#";

/// Extra seconds the harness waits beyond sipp's own `-timeout` before killing it.
const KILL_MARGIN: Duration = Duration::from_secs(15);

/// The directory holding the sipp scenarios.
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("scenarios")
}

/// SIP transport for sipp (`-t u1` / `-t t1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    fn sipp_flag(self) -> &'static str {
        match self {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
        }
    }

    /// `udp` / `tcp`, as sipterm's `--transport` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// A sipp invocation being built. `Sipp::uac` places calls to `remote`; `Sipp::uas` waits
/// for them. Then `run()` (blocking) or `spawn()`.
#[derive(Debug, Clone)]
pub struct Sipp {
    scenario: String,
    remote: Option<SocketAddr>,
    service: Option<String>,
    transport: Transport,
    keys: Vec<(String, String)>,
    calls: u32,
    rate: Option<(f64, u32)>,
    limit: Option<u32>,
    timeout: Duration,
    auth: Option<(String, String)>,
    local_port: Option<u16>,
    media_port: Option<u16>,
    trace_messages: bool,
    extra_args: Vec<String>,
    dtmf: DtmfStream,
    /// `uac_tone` streams `tone` seconds of 1 kHz then `silence` seconds of silence, looped
    /// (speech-like bursts for a voice-activity detector) instead of a continuous tone.
    bursts: Option<(f64, f64)>,
    /// Run inside this network namespace, on this address (see `netlab`).
    netns: Option<(String, String)>,
    /// Files written into the run's directory before sipp starts (a scenario's `rtp_stream`
    /// audio, which sipp reads when it loads the scenario).
    files: Vec<(String, Vec<u8>)>,
}

impl Sipp {
    fn new(scenario: &str, remote: Option<SocketAddr>) -> Sipp {
        let path = scenarios_dir().join(scenario);
        assert!(path.is_file(), "no sipp scenario {}", path.display());
        Sipp {
            scenario: scenario.to_owned(),
            remote,
            service: None,
            transport: Transport::Udp,
            keys: Vec::new(),
            calls: 1,
            rate: None,
            limit: None,
            timeout: Duration::from_secs(30),
            auth: None,
            local_port: None,
            media_port: None,
            trace_messages: true,
            extra_args: Vec::new(),
            dtmf: DtmfStream::new(DEFAULT_DTMF_DIGITS),
            bursts: None,
            netns: None,
            files: Vec::new(),
        }
    }

    /// Run in network namespace `ns` on address `ip` there (signalling, media and SDP).
    pub fn netns(mut self, ns: &str, ip: &str) -> Self {
        self.netns = Some((ns.to_owned(), ip.to_owned()));
        self
    }

    /// Client mode: `scenario` (a file name in tests/scenarios) sends to `remote`.
    pub fn uac(scenario: &str, remote: SocketAddr) -> Sipp {
        Sipp::new(scenario, Some(remote))
    }

    /// Server mode: `scenario` waits for requests on `local_port()` of the spawned process.
    pub fn uas(scenario: &str) -> Sipp {
        Sipp::new(scenario, None)
    }

    /// `-s`: the user part called / registered (`[service]`).
    pub fn service(mut self, user: &str) -> Self {
        self.service = Some(user.to_owned());
        self
    }

    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    pub fn tcp(self) -> Self {
        self.transport(Transport::Tcp)
    }

    /// `-key name value` (overrides [`DEFAULT_KEYS`]).
    pub fn key(mut self, name: &str, value: impl ToString) -> Self {
        self.keys.retain(|(k, _)| k != name);
        self.keys.push((name.to_owned(), value.to_string()));
        self
    }

    /// `-m`: calls to complete before sipp exits (default 1).
    pub fn calls(mut self, calls: u32) -> Self {
        self.calls = calls;
        self
    }

    /// `-r calls -rp period_ms`: call rate.
    pub fn rate(mut self, calls: f64, period_ms: u32) -> Self {
        self.rate = Some((calls, period_ms));
        self
    }

    /// `-l`: simultaneous calls at most.
    pub fn limit(mut self, calls: u32) -> Self {
        self.limit = Some(calls);
        self
    }

    /// sipp's global `-timeout` (with `-timeout_error`), default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `-au user -ap password`: credentials for `[authentication]`.
    pub fn auth(mut self, user: &str, password: &str) -> Self {
        self.auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// `-p`: local SIP port (default: a free one).
    pub fn local_port(mut self, port: u16) -> Self {
        self.local_port = Some(port);
        self
    }

    /// `-mp`: local media port (default: a free even port with p..p+3 free). sipp advertises
    /// it as `[media_port]` and streams from it.
    pub fn media_port(mut self, port: u16) -> Self {
        self.media_port = Some(port);
        self
    }

    /// Whether to write the message trace (default on; turn off for load runs, where it
    /// costs time and disk).
    pub fn trace_messages(mut self, on: bool) -> Self {
        self.trace_messages = on;
        self
    }

    /// The keys `uac_dtmf.xml` sends as RFC 4733 events (default [`DEFAULT_DTMF_DIGITS`]).
    pub fn dtmf_digits(self, digits: &str) -> Self {
        self.dtmf_stream(DtmfStream::new(digits))
    }

    /// Tone bursts instead of a continuous tone for `uac_tone` (see the field).
    pub fn tone_bursts(mut self, tone_secs: f64, silence_secs: f64) -> Self {
        self.bursts = Some((tone_secs, silence_secs));
        self
    }

    /// Writes `bytes` as `name` into the run's directory (its cwd) before sipp starts.
    pub fn file(mut self, name: &str, bytes: Vec<u8>) -> Self {
        self.files.push((name.to_owned(), bytes));
        self
    }

    /// The whole stream `uac_dtmf.xml` plays (timing, tone, SSRC...).
    pub fn dtmf_stream(mut self, stream: DtmfStream) -> Self {
        self.dtmf = stream;
        self
    }

    /// Any other sipp argument, appended as given.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Runs sipp to completion (or its timeout) and returns what happened.
    pub fn run(self) -> SippRun {
        self.spawn().wait()
    }

    /// Starts sipp and returns at once; sipp is stopped when the result is dropped.
    pub fn spawn(self) -> SippProcess {
        require_tool("sipp");
        let dir = ScratchDir::new(self.scenario.trim_end_matches(".xml"));
        let local_port = self.local_port.unwrap_or_else(|| match self.transport {
            Transport::Udp => free_udp_port(),
            Transport::Tcp => free_udp_tcp_port(),
        });
        let media_port = self.media_port.unwrap_or_else(|| free_udp_port_block(4));
        let scenario_path = scenarios_dir().join(&self.scenario);
        let scenario_text = read_lossy(&scenario_path);
        if scenario_text.contains("rtp_stream=\"tone_1khz.ulaw") {
            let file = dir.join("tone_1khz.ulaw");
            match self.bursts {
                None => write_tone_ulaw(&file, 1000.0, 4.0),
                Some((tone, silence)) => {
                    write_tone_ulaw(&file, 1000.0, tone);
                    // µ-law 0xFF is silence; sipp loops the whole file.
                    let mut bytes = std::fs::read(&file).expect("read the tone file");
                    bytes.extend(std::iter::repeat_n(0xFFu8, (silence * 8000.0) as usize));
                    std::fs::write(&file, bytes).expect("write the tone file");
                }
            }
        }
        for (name, bytes) in &self.files {
            std::fs::write(dir.join(name), bytes).expect("write a file for sipp");
        }
        if scenario_text.contains("rtp_stream=\"tone_1khz.alaw") {
            write_tone_alaw(&dir.join("tone_1khz.alaw"), 1000.0, 4.0);
        }
        if scenario_text.contains("play_pcap_audio=\"dtmf.pcap") {
            write_dtmf_pcap(&dir.join("dtmf.pcap"), &self.dtmf);
        }
        let mut keys: Vec<(String, String)> = DEFAULT_KEYS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        keys.push(("contact_port".into(), local_port.to_string()));
        for (name, value) in &self.keys {
            keys.retain(|(k, _)| k != name);
            keys.push((name.clone(), value.clone()));
        }

        let (mut command, ip) = match &self.netns {
            Some((ns, ip)) => {
                keys.retain(|(k, _)| k != "sdp_media_ip");
                keys.push(("sdp_media_ip".into(), ip.clone()));
                (super::netlab::NatLab::command(ns, "sipp"), ip.clone())
            }
            None => (Command::new("sipp"), "127.0.0.1".to_string()),
        };
        command.current_dir(dir.path());
        command.arg("-sf").arg(&scenario_path);
        command.args(["-i", &ip, "-mi", &ip, "-ci", &ip]);
        command.arg("-p").arg(local_port.to_string());
        command.arg("-mp").arg(media_port.to_string());
        command.arg("-cp").arg(free_udp_port().to_string());
        command.arg("-t").arg(self.transport.sipp_flag());
        command.arg("-m").arg(self.calls.to_string());
        if let Some((calls, period_ms)) = self.rate {
            command
                .arg("-r")
                .arg(calls.to_string())
                .arg("-rp")
                .arg(period_ms.to_string());
        }
        if let Some(limit) = self.limit {
            command.arg("-l").arg(limit.to_string());
        }
        if let Some(service) = &self.service {
            command.arg("-s").arg(service);
        }
        if let Some((user, password)) = &self.auth {
            command.arg("-au").arg(user).arg("-ap").arg(password);
        }
        for (name, value) in &keys {
            command.arg("-key").arg(name).arg(value);
        }
        let secs = self.timeout.as_secs().max(1);
        command
            .arg("-timeout")
            .arg(format!("{secs}s"))
            .arg("-timeout_error");
        command.arg("-nostdin");
        if self.trace_messages {
            command
                .args(["-trace_msg", "-message_file"])
                .arg(dir.join("messages.log"));
        }
        command
            .args(["-trace_err", "-error_file"])
            .arg(dir.join("errors.log"));
        command
            .args(["-trace_logs", "-log_file"])
            .arg(dir.join("actions.log"));
        command
            .args(["-trace_screen", "-screen_file"])
            .arg(dir.join("screen.log"));
        command.args(&self.extra_args);
        if let Some(remote) = self.remote {
            command.arg(remote.to_string());
        }
        let command_line = format!("{command:?}");
        let child = ChildGuard::spawn("sipp", command, dir.path());
        SippProcess {
            scenario: self.scenario,
            child,
            local_port,
            media_port,
            deadline: Instant::now() + Duration::from_secs(secs) + KILL_MARGIN,
            command_line,
            dir,
        }
    }
}

/// A running sipp; killed on drop. `wait()` collects its [`SippRun`].
#[derive(Debug)]
pub struct SippProcess {
    scenario: String,
    child: ChildGuard,
    local_port: u16,
    media_port: u16,
    deadline: Instant,
    command_line: String,
    // Last: the process stops before its directory goes.
    dir: ScratchDir,
}

impl SippProcess {
    /// Its SIP port (`-p`); for a UAS this is where INVITEs go.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Its media port (`-mp`): `[media_port]` in its SDP, where its RTP arrives.
    pub fn media_port(&self) -> u16 {
        self.media_port
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.is_running()
    }

    /// The message trace so far.
    pub fn messages(&self) -> String {
        read_lossy(&self.dir.join("messages.log"))
    }

    /// Waits for sipp to finish (its own timeout, plus a margin after which it is killed).
    pub fn wait(mut self) -> SippRun {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let status = match self.child.wait_timeout(left) {
            Some(status) => Some(status),
            None => {
                self.child.stop();
                None
            }
        };
        self.collect(status)
    }

    /// Waits at most `timeout`; `None` if sipp is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<SippRun> {
        let status = self.child.wait_timeout(timeout)?;
        Some(self.collect(Some(status)))
    }

    /// Stops sipp (SIGTERM, then SIGKILL) and returns what it had done.
    pub fn stop(mut self) -> SippRun {
        let status = self.child.stop();
        self.collect(Some(status))
    }

    fn collect(&self, status: Option<ExitStatus>) -> SippRun {
        SippRun {
            scenario: self.scenario.clone(),
            status,
            messages: read_lossy(&self.dir.join("messages.log")),
            errors: read_lossy(&self.dir.join("errors.log")),
            actions: read_lossy(&self.dir.join("actions.log")),
            screen: read_lossy(&self.dir.join("screen.log")),
            stderr: self.child.stderr(),
            command_line: self.command_line.clone(),
        }
    }
}
