//! Running the sipterm binary under test: stdout/stderr to files in a scratch dir, waiting
//! for a line to appear, Ctrl+C, and always stopped on drop.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use super::kamailio::Kamailio;
use super::ports::{free_udp_port_block, free_udp_tcp_port, ScratchDir};
use super::process::{tail, wait_until, ChildGuard, StampedLine};
use super::sipp::Transport;

/// The sipterm binary Cargo built for these tests. Panics outside the sipterm package
/// (Cargo sets `CARGO_BIN_EXE_sipterm` only for the package's own integration tests).
pub fn binary() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_sipterm") {
        Some(path) => PathBuf::from(path),
        None => panic!("CARGO_BIN_EXE_sipterm is not set: run these tests in the sipterm package"),
    }
}

/// The arguments that register `user` at `kamailio` headless, on free SIP and RTP ports:
/// `--sip-uri sip:<user>@127.0.0.1:<kamailio port> --password <password> --transport <t>
/// --port <free> --bind 127.0.0.1 --rtp-ports <free block of 20> --headless`. Append what
/// the test is about (`--audio echo`, `--duration 5`, ...); clap refuses a flag given twice.
/// The SIP port sipterm's `args` give with `--port`.
pub fn sip_port(args: &[String]) -> u16 {
    let at = args
        .iter()
        .position(|a| a == "--port")
        .expect("sipterm's arguments name --port");
    args[at + 1].parse().expect("--port is a number")
}

pub fn registered_args(
    kamailio: &Kamailio,
    user: &str,
    password: &str,
    transport: Transport,
) -> Vec<String> {
    let rtp = free_udp_port_block(20);
    vec![
        "--sip-uri".into(),
        kamailio.uri(user),
        "--password".into(),
        password.into(),
        "--transport".into(),
        transport.as_str().into(),
        "--port".into(),
        free_udp_tcp_port().to_string(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--rtp-ports".into(),
        format!("{rtp}-{}", rtp + 19),
        "--headless".into(),
    ]
}

/// Like [`registered_args`] but with `--rtp-ports <lo>-<lo + 1>`: one even port and its
/// RTCP neighbour, so sipterm's RTP port is `lo`, known before the call (to put an
/// `RtpRelay::in_front_of(lo, ..)` there, with `--media-address 127.0.0.2`). Returns the
/// arguments and `lo`.
pub fn registered_args_with_rtp_port(
    kamailio: &Kamailio,
    user: &str,
    password: &str,
    transport: Transport,
) -> (Vec<String>, u16) {
    let mut args = registered_args(kamailio, user, password, transport);
    let rtp = free_udp_port_block(2);
    let at = args
        .iter()
        .position(|a| a == "--rtp-ports")
        .expect("registered_args passes --rtp-ports");
    args[at + 1] = format!("{rtp}-{}", rtp + 1);
    (args, rtp)
}

/// A running sipterm (or any program standing in for it); stopped on drop.
#[derive(Debug)]
pub struct Sipterm {
    child: ChildGuard,
    dir: ScratchDir,
}

impl Sipterm {
    /// Starts the sipterm binary with `args`.
    pub fn spawn<I, S>(args: I) -> Sipterm
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Sipterm::spawn_program(&binary(), args)
    }

    /// Starts the sipterm binary with `args` and extra environment variables.
    pub fn spawn_with_env<I, S>(args: I, env: &[(&str, &str)]) -> Sipterm
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Sipterm::spawn_full(&binary(), args, env)
    }

    /// Starts the sipterm binary with `args`, its stdout lines stamped as they arrive (see
    /// [`Sipterm::stamped_stdout`] and `events::stamped_events`).
    pub fn spawn_stamped<I, S>(args: I) -> Sipterm
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Sipterm::spawn_inner(&binary(), args, &[], true)
    }

    /// Starts another program the same way (the harness self-test uses a shell stand-in).
    pub fn spawn_program<I, S>(program: &Path, args: I) -> Sipterm
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Sipterm::spawn_full(program, args, &[])
    }

    fn spawn_full<I, S>(program: &Path, args: I, env: &[(&str, &str)]) -> Sipterm
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Sipterm::spawn_inner(program, args, env, false)
    }

    fn spawn_inner<I, S>(program: &Path, args: I, env: &[(&str, &str)], stamped: bool) -> Sipterm
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let dir = ScratchDir::new("sipterm");
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1");
        command.envs(env.iter().copied());
        // Keep the key out of the child unless a test passes one on purpose.
        command.env_remove("OPENAI_API_KEY");
        // The developer's own config file (and its default profile) stays out of tests.
        if !env.iter().any(|(k, _)| *k == "XDG_CONFIG_HOME") {
            command.env("XDG_CONFIG_HOME", dir.path());
        }
        let child = if stamped {
            ChildGuard::spawn_stamped("sipterm", command, dir.path())
        } else {
            ChildGuard::spawn("sipterm", command, dir.path())
        };
        Sipterm { child, dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Its working directory (for `--record` and the like) and where its output goes.
    pub fn dir(&self) -> &ScratchDir {
        &self.dir
    }

    pub fn stdout(&self) -> String {
        self.child.stdout()
    }

    pub fn stderr(&self) -> String {
        self.child.stderr()
    }

    /// Stdout lines with the moment each arrived; empty unless started with
    /// [`Sipterm::spawn_stamped`].
    pub fn stamped_stdout(&self) -> Vec<StampedLine> {
        self.child.stamped_stdout()
    }

    /// The stamped stdout lines from the `first`-th on.
    pub fn stamped_stdout_from(&self, first: usize) -> Vec<StampedLine> {
        self.child.stamped_stdout_from(first)
    }

    /// Waits until stdout contains `needle`; `Err` with its output if it does not within
    /// `timeout` or the process ends first.
    pub fn wait_for_stdout(&mut self, needle: &str, timeout: Duration) -> Result<(), String> {
        let mut ended = None;
        wait_until(timeout, || {
            ended = self.child.try_wait();
            ended.is_some() || self.stdout().contains(needle)
        });
        if self.stdout().contains(needle) {
            return Ok(());
        }
        let why = match ended {
            Some(status) => format!("it exited ({status}) first"),
            None => format!("not within {timeout:?}"),
        };
        Err(format!(
            "sipterm never printed {needle:?}: {why}\n{}",
            self.report()
        ))
    }

    /// Sends SIGINT (Ctrl+C).
    pub fn interrupt(&mut self) {
        self.child.interrupt();
    }

    /// Sends SIGTERM (what service managers and `kill` send).
    pub fn terminate(&mut self) {
        self.child.signal("TERM");
    }

    /// Waits for it to exit; `None` if it is still running after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.child.wait_timeout(timeout)
    }

    /// Waits for it to exit and returns its exit code; panics with its output otherwise.
    #[track_caller]
    pub fn exit_code(&mut self, timeout: Duration) -> i32 {
        match self.child.wait_timeout(timeout) {
            Some(status) => match status.code() {
                Some(code) => code,
                None => panic!("sipterm died by a signal ({status})\n{}", self.report()),
            },
            None => panic!("sipterm still running after {timeout:?}\n{}", self.report()),
        }
    }

    /// Stops it (SIGTERM, then SIGKILL) and returns its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.child.stop()
    }

    /// The end of its stdout and stderr, for failure messages.
    pub fn report(&self) -> String {
        format!(
            "== sipterm stdout:\n{}\n== sipterm stderr:\n{}",
            tail(&self.stdout(), 60),
            tail(&self.stderr(), 40)
        )
    }
}

/// A second sipterm standing in for a voice agent: headless, no account, listening on
/// 127.0.0.1 (`--sip-uri sip:agent@127.0.0.1:<free port> --no-register`), RTP on
/// `rtp.0..=rtp.1`, no sound card, answering every call; then `extra` (`--bridge …`, `--play
/// …`). Returns once it listens, with the URI to call.
pub fn spawn_agent(rtp: (u16, u16), extra: &[String]) -> (Sipterm, String) {
    let port = super::ports::free_udp_port();
    let uri = format!("sip:agent@127.0.0.1:{port}");
    let mut args: Vec<String> = vec![
        "--headless".into(),
        "--sip-uri".into(),
        uri.clone(),
        "--no-register".into(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
        "--rtp-ports".into(),
        format!("{}-{}", rtp.0, rtp.1),
        "--audio".into(),
        "null".into(),
    ];
    args.extend(extra.iter().cloned());
    let mut agent = Sipterm::spawn(args);
    agent
        .wait_for_stdout("listening for SIP", Duration::from_secs(40))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.report()));
    (agent, uri)
}
