//! baresip (Debian's 1.0.0) as a second softphone: a generated config dir, SIP on a free
//! 127.0.0.1 port, no sound card, driven and observed through `ctrl_tcp`.
//!
//! What this build needs (found by running it here):
//! - `-f <dir>` with our `config`/`accounts`/`contacts`, stdin from /dev/null;
//! - `net_interface 127.0.0.1` (an address: naming `lo` fails under gVisor), so its SDP says
//!   127.0.0.1; it listens for SIP on UDP+TCP `p` and TLS on TCP `p + 1`;
//! - audio source `ausine,<Hz>` only runs at 48 kHz stereo, so `ausrc_srate 48000` and
//!   `ausrc_channels 2` (baresip resamples to the codec); `aufile,<wav>` needs the source
//!   rate and channels to equal the file's, so those follow the file;
//! - no sound card: the player is `aubridge` to a device nothing reads from;
//! - recording: the `sndfile` filter writes `<snd_path>/dump-<local time to the second>-dec.wav`
//!   (received audio, after decoding, at the codec's rate and channels: 48 kHz stereo for
//!   Opus, 8 kHz mono for G.711) and `...-enc.wav` (sent) per call; the header is finished when
//!   the call closes. Two calls in the same second overwrite each other's dumps;
//! - commands (menu module, through ctrl_tcp): `dial <uri>`, `hangup`, `accept`, `reginfo`,
//!   `sndcode <keys>` (sends each key as an RFC 4733 event, PT 101: 9 updates and 3 end
//!   packets, 180 ms);
//! - SDP: Opus is PT 96 `opus/48000/2` (`stereo=1;sprop-stereo=1`), telephone-event is PT 101
//!   `telephone-event/8000` even in Opus calls, where the events' durations nonetheless count
//!   at 48 kHz (8640 for 180 ms): judge keys by event start and E bit, not by duration;
//! - events: `CALL_INCOMING`, `CALL_RINGING`, `CALL_ESTABLISHED`, `CALL_RTPESTAB`,
//!   `CALL_CLOSED` (param = the reason: "Connection reset by peer" after the other side's
//!   BYE), `CALL_DTMF_START` (param = the key), `CALL_DTMF_END`, `REGISTER_OK` (often sent
//!   before our ctrl connection exists, hence `reginfo`), `AUDIO_ERROR`, ...;
//! - SIGTERM makes it unregister and wait; the tests do not need that, so it is killed after
//!   a short grace.

mod config;
mod ctrl;

pub use config::{Answer, BaresipConfig, Registrar, Tone, SILENCE_SECS};
pub use ctrl::{parse_netstring, CtrlClient};

use config::{write_config_dir, Ports};

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::ports::{free_tcp_port, free_udp_port_block, free_udp_tcp_port_block, ScratchDir};
use super::process::{require_tool, tail, ChildGuard};
use super::wav::{read_wav, Wav};

/// Grace between SIGTERM and SIGKILL when a baresip is dropped.
pub const KILL_GRACE: Duration = Duration::from_millis(300);
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running baresip with a ctrl_tcp connection; killed on drop.
#[derive(Debug)]
pub struct Baresip {
    ctrl: CtrlClient,
    child: ChildGuard,
    sip_port: u16,
    ctrl_port: u16,
    rtp_ports: RangeInclusive<u16>,
    aor: String,
    recordings: Option<PathBuf>,
    // Last: the process stops before its directory goes.
    dir: ScratchDir,
}

impl Baresip {
    /// Writes the config, starts baresip and connects to its ctrl_tcp (panicking with its
    /// output if it does not come up). With a registrar, call [`wait_registered`] next.
    ///
    /// [`wait_registered`]: Baresip::wait_registered
    pub fn start(config: BaresipConfig) -> Baresip {
        require_tool("baresip");
        let dir = ScratchDir::new(&format!("baresip-{}", config.user));
        let sip_port = free_udp_tcp_port_block(2);
        let ctrl_port = free_tcp_port();
        let count = config.rtp_port_count;
        let rtp = free_udp_port_block(count);
        let rtp_ports = rtp..=rtp + (count - 1);
        let recordings = config.record.then(|| dir.join("recordings"));
        if let Some(path) = &recordings {
            std::fs::create_dir_all(path).expect("create the recordings dir");
        }
        let ports = Ports {
            sip: sip_port,
            ctrl: ctrl_port,
            rtp: rtp_ports.clone(),
        };
        let aor = write_config_dir(&config, &ports, recordings.as_deref(), dir.path());
        let mut command = Command::new("baresip");
        command
            .arg("-f")
            .arg(dir.path())
            .current_dir(dir.path())
            .envs(config.env.iter().map(|(k, v)| (k, v)));
        let mut child = ChildGuard::spawn("baresip", command, dir.path());
        let ctrl = match CtrlClient::connect(
            SocketAddr::from(([127, 0, 0, 1], ctrl_port)),
            START_TIMEOUT,
            || child.is_running(),
        ) {
            Ok(ctrl) => ctrl,
            Err(why) => {
                child.stop_with_grace(KILL_GRACE);
                panic!(
                    "baresip did not come up: {why}\n== stdout:\n{}\n== stderr:\n{}",
                    tail(&clean(&child.stdout()), 40),
                    tail(&child.stderr(), 20)
                );
            }
        };
        Baresip {
            ctrl,
            child,
            sip_port,
            ctrl_port,
            rtp_ports,
            aor,
            recordings,
            dir,
        }
    }

    /// Its SIP port (UDP and TCP) on 127.0.0.1.
    pub fn sip_port(&self) -> u16 {
        self.sip_port
    }

    pub fn sip_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.sip_port))
    }

    /// Where to call it directly: `sip:<user>@127.0.0.1:<sip port>`.
    pub fn uri(&self) -> String {
        let user = self
            .aor
            .strip_prefix("sip:")
            .and_then(|rest| rest.split('@').next())
            .unwrap_or("baresip");
        format!("sip:{user}@127.0.0.1:{}", self.sip_port)
    }

    /// Its AoR (at the registrar, if it has one).
    pub fn aor(&self) -> &str {
        &self.aor
    }

    /// The ports its RTP and RTCP use (`rtp_ports`; it picks an even one inside), for a
    /// capture: `RtpCapture::start_range(b.rtp_ports())`.
    pub fn rtp_ports(&self) -> RangeInclusive<u16> {
        self.rtp_ports.clone()
    }

    pub fn ctrl_port(&self) -> u16 {
        self.ctrl_port
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    pub fn dir(&self) -> &ScratchDir {
        &self.dir
    }

    pub fn ctrl(&self) -> &CtrlClient {
        &self.ctrl
    }

    /// Any ctrl_tcp command; `Ok(data)` if baresip accepted it.
    pub fn command(&self, command: &str, params: Option<&str>) -> Result<String, String> {
        self.ctrl.command(command, params)
    }

    /// Places a call (`dial <uri>`); panics if baresip refuses the command.
    #[track_caller]
    pub fn dial(&self, uri: &str) {
        self.must("dial", Some(uri));
    }

    /// Hangs up the current call.
    #[track_caller]
    pub fn hangup(&self) {
        self.must("hangup", None);
    }

    /// Answers the ringing call (with [`Answer::Manual`]).
    #[track_caller]
    pub fn accept(&self) {
        self.must("accept", None);
    }

    /// Sends `keys` (`0-9*#A-D`) in the current call as RFC 4733 telephone-events
    /// (`sndcode`); baresip queues them and plays them one after another.
    #[track_caller]
    pub fn send_dtmf(&self, keys: &str) {
        self.must("sndcode", Some(keys));
    }

    #[track_caller]
    fn must(&self, command: &str, params: Option<&str>) {
        if let Err(why) = self.ctrl.command(command, params) {
            panic!("{why}\n{}", self.report());
        }
    }

    /// Every ctrl_tcp event so far.
    pub fn events(&self) -> Vec<Value> {
        self.ctrl.events()
    }

    /// The next event of type `kind` (`"CALL_ESTABLISHED"`, ...) not returned before.
    pub fn wait_for_event(&self, kind: &str, timeout: Duration) -> Result<Value, String> {
        self.ctrl
            .take_event(timeout, |e| e["type"] == kind)
            .ok_or_else(|| {
                format!(
                    "baresip {} reported no {kind} within {timeout:?}\n{}",
                    self.aor,
                    self.report()
                )
            })
    }

    /// Waits for the next event of type `kind`; panics with the report otherwise.
    #[track_caller]
    pub fn expect_event(&self, kind: &str, timeout: Duration) -> Value {
        self.wait_for_event(kind, timeout)
            .unwrap_or_else(|why| panic!("{why}"))
    }

    /// The keys received as telephone-events so far (one per `CALL_DTMF_START`).
    pub fn received_dtmf(&self) -> String {
        self.events()
            .iter()
            .filter(|e| e["type"] == "CALL_DTMF_START")
            .filter_map(|e| e["param"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits until its registration is confirmed (`REGISTER_OK`, or a `reginfo` showing
    /// OK, since the event may have come before the ctrl connection did).
    pub fn wait_registered(&self, timeout: Duration) -> Result<(), String> {
        let mut ok = false;
        super::process::wait_until(timeout, || {
            ok = self
                .ctrl
                .take_event(Duration::ZERO, |e| e["type"] == "REGISTER_OK")
                .is_some()
                || self
                    .command("reginfo", None)
                    // "> sip:alice@127.0.0.1:5060  \x1b[32mOK \x1b[;m ... Expires 600s"
                    .is_ok_and(|info| info.contains("OK "));
            ok
        });
        if ok {
            Ok(())
        } else {
            Err(format!(
                "baresip {} never registered\n{}",
                self.aor,
                self.report()
            ))
        }
    }

    /// The received-audio dumps (`*-dec.wav`), oldest first; empty without `record`.
    pub fn received_recordings(&self) -> Vec<PathBuf> {
        self.recordings("-dec.wav")
    }

    /// The sent-audio dumps (`*-enc.wav`), oldest first.
    pub fn sent_recordings(&self) -> Vec<PathBuf> {
        self.recordings("-enc.wav")
    }

    fn recordings(&self, suffix: &str) -> Vec<PathBuf> {
        let Some(dir) = &self.recordings else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().ends_with(suffix))
                    .collect()
            })
            .unwrap_or_default();
        // Names hold the local time (yyyy-mm-dd-hh-mm-ss), so they sort by age.
        files.sort();
        files
    }

    /// The audio received in the last call (its `-dec.wav`). Read it after `CALL_CLOSED`:
    /// sndfile finishes the header then (the reader copes with an unfinished one anyway).
    pub fn received_audio(&self) -> Result<Wav, String> {
        let path = self.received_recordings().pop().ok_or_else(|| {
            format!(
                "baresip {} has no received-audio recording (record: true?)",
                self.aor
            )
        })?;
        read_wav(&path)
    }

    /// Its stdout so far, status-line carriage returns turned into newlines.
    pub fn log(&self) -> String {
        clean(&self.child.stdout())
    }

    /// The end of its output, for failure messages.
    pub fn report(&self) -> String {
        format!(
            "== baresip {} stdout:\n{}\n== stderr:\n{}",
            self.aor,
            tail(&self.log(), 60),
            tail(&self.child.stderr(), 20)
        )
    }

    /// Kills it (SIGTERM, then SIGKILL after [`KILL_GRACE`]).
    pub fn stop(&mut self) {
        self.child.stop_with_grace(KILL_GRACE);
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        self.stop();
    }
}

/// baresip's status line redraws itself with `\r`; make that readable, and drop colours.
fn clean(text: &str) -> String {
    text.replace('\r', "\n")
        .replace("\x1b[31m", "")
        .replace("\x1b[;m", "")
}
