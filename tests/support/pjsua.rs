//! pjsua (pjproject 2.15 through the `pjsua2` module of the `pjsua2-python` package) as a
//! softphone: `pjsua_peer.py` beside this file, run by the virtualenv's Python that
//! scripts/setup.sh makes (`.venv-pjsua/`), commanded and observed in lines (see the script).
//!
//! - null sound device; `--play <wav>` loops into the call, `--record <wav>` keeps what it
//!   heard (16 kHz mono, the bridge's rate), closed when the call ends (`recorded` line);
//! - DTMF: `dialDtmf`, RFC 4733 telephone-events (its default); received keys print as
//!   `dtmf <key> rfc2833` (or `info` for SIP INFO);
//! - hold: `setHold` re-INVITEs with `a=sendonly`; resume: a re-INVITE with
//!   `PJSUA_CALL_UNHOLD` (`a=sendrecv`);
//! - its default codec order offers speex, iLBC, GSM before PCMU, so a sipterm with the default
//!   `--codecs` answers PCMU.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::ports::{free_udp_port, free_udp_port_block, ScratchDir};
use super::stdio_peer::StdioPeer;
use super::wav::{read_wav, Wav};

pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The Python that has `pjsua2`: `$SIPTERM_PJSUA_PYTHON`, or the virtualenv setup.sh makes.
pub fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("SIPTERM_PJSUA_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-pjsua/bin/python");
    assert!(
        venv.is_file(),
        "{} is missing: run scripts/setup.sh (it makes a virtualenv with pjsua2-python)",
        venv.display()
    );
    venv
}

#[derive(Debug)]
pub struct Pjsua {
    peer: StdioPeer,
    sip_port: u16,
    recording: Option<PathBuf>,
    // Last: the process stops before its directory goes.
    dir: ScratchDir,
}

impl Pjsua {
    /// Starts the driver as `user` on free ports, playing `play` (looped) and, with
    /// `record`, recording the first call it has.
    pub fn start(user: &str, play: &Path, record: bool) -> Pjsua {
        let dir = ScratchDir::new(&format!("pjsua-{user}"));
        let sip_port = free_udp_port();
        let rtp_port = free_udp_port_block(4);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pjsua_peer.py");
        let recording = record.then(|| dir.join("heard.wav"));
        let mut command = Command::new(python());
        command
            .arg(script)
            .args(["--user", user])
            .args(["--port", &sip_port.to_string()])
            .args(["--rtp-port", &rtp_port.to_string()])
            .arg("--play")
            .arg(play)
            .current_dir(dir.path());
        if let Some(path) = &recording {
            command.arg("--record").arg(path);
        }
        let mut peer = StdioPeer::spawn("pjsua", command, &dir);
        peer.expect("ready ", 1, TIMEOUT);
        Pjsua {
            peer,
            sip_port,
            recording,
            dir,
        }
    }

    pub fn sip_port(&self) -> u16 {
        self.sip_port
    }

    pub fn pid(&self) -> u32 {
        self.peer.pid()
    }

    pub fn dir(&self) -> &ScratchDir {
        &self.dir
    }

    pub fn call(&self, uri: &str) {
        self.peer.send(&format!("call {uri}"));
    }

    /// Waits until `n` calls have been confirmed (ACK sent).
    #[track_caller]
    pub fn wait_confirmed(&mut self, n: usize) {
        self.peer.expect("state CONFIRMED", n, TIMEOUT);
    }

    pub fn send_dtmf(&self, keys: &str) {
        self.peer.send(&format!("dtmf {keys}"));
    }

    /// Received keys and how each came (`rfc2833`, `info`): `("1234#", ["rfc2833", ...])`.
    pub fn received_dtmf(&self) -> (String, Vec<String>) {
        let mut keys = String::new();
        let mut methods = Vec::new();
        for line in self.peer.stdout().lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("dtmf") {
                continue;
            }
            if let (Some(key), Some(method)) = (words.next(), words.next()) {
                keys.push_str(key);
                methods.push(method.to_owned());
            }
        }
        (keys, methods)
    }

    /// Puts the call on hold and waits until its media says so.
    #[track_caller]
    pub fn hold(&mut self) {
        self.peer.send("hold");
        self.peer.expect("media local_hold", 1, TIMEOUT);
    }

    /// Takes the call off hold and waits until its media is active again.
    #[track_caller]
    pub fn resume(&mut self) {
        let active = self.peer.count("media active");
        self.peer.send("resume");
        self.peer.expect("media active", active + 1, TIMEOUT);
    }

    pub fn hangup(&self) {
        self.peer.send("hangup");
    }

    /// Waits until `n` calls have ended; returns the last `ended <code> <reason>` line.
    #[track_caller]
    pub fn wait_ended(&mut self, n: usize) -> String {
        self.peer.expect("ended ", n, TIMEOUT);
        self.peer
            .stdout()
            .lines()
            .rfind(|l| l.starts_with("ended "))
            .unwrap_or_default()
            .to_owned()
    }

    /// What it heard in the first call (waits for the recording to be closed).
    pub fn received_audio(&mut self) -> Result<Wav, String> {
        let path = self
            .recording
            .clone()
            .ok_or("pjsua was started without recording")?;
        self.peer.wait_for("recorded", 1, TIMEOUT)?;
        read_wav(&path)
    }

    pub fn report(&self) -> String {
        self.peer.report()
    }
}
