//! linphonec (Debian's `linphone-cli`, liblinphone 5.1) as a softphone driven at its prompt.
//!
//! What this build needs (found by running it here):
//! - `-c <rc>` with our settings, and `HOME` in a scratch dir that already holds
//!   `.local/share/linphone/`: without it the database cannot be opened and the core never
//!   binds its SIP port (`ports` says `sip port = 0`, every call fails "no channel available");
//! - `sip_tcp_port=0` / `sip_tls_port=0` (UDP only), `use_ipv6=0`, and `bind_address=127.0.0.1`
//!   in `[sip]` and `[rtp]`: otherwise its SDP offers the host's global address (IPv6 first);
//! - no sound card: `soundcard use files`, then `play <wav>` (the microphone: a 16-bit mono
//!   WAV) and `record <wav>` (what it hears, 48 kHz mono for Opus calls), set before the call;
//! - commands: `call <uri>`, `pause` / `resume` (re-INVITE with `a=sendonly`, then
//!   `sendrecv`), `terminate`; a line holding only a key (`1`, `#`) sends it as an RFC 4733
//!   telephone-event (its default, `use_rfc2833=1`);
//! - it prints `Call 1 with <uri> connected.`, `Receiving tone <key> from <uri>`,
//!   `Call 1 with <uri> is now paused.`, `Call 1 with <uri> ended (<reason>).`;
//! - it offers Opus first, with telephone-event at 48000, 16000 and 8000.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::ports::{free_udp_port, free_udp_port_block, ScratchDir};
use super::process::require_tool;
use super::stdio_peer::StdioPeer;
use super::wav::{read_wav, Wav};

/// How long to wait for linphonec's answer to a command that goes over the network.
pub const TIMEOUT: Duration = Duration::from_secs(20);
/// Gap between two typed keys: each is a separate command and a separate event.
const KEY_GAP: Duration = Duration::from_millis(300);

#[derive(Debug)]
pub struct Linphone {
    peer: StdioPeer,
    sip_port: u16,
    rtp_port: u16,
    recording: Option<PathBuf>,
    // Last: the process stops before its directory goes.
    dir: ScratchDir,
}

impl Linphone {
    /// Starts linphonec as `user` on free ports, sending `play` (a 16-bit mono WAV longer
    /// than the calls) and, with `record`, recording what it hears.
    pub fn start(user: &str, play: &Path, record: bool) -> Linphone {
        require_tool("linphonec");
        let dir = ScratchDir::new(&format!("linphone-{user}"));
        std::fs::create_dir_all(dir.join(".local/share/linphone"))
            .expect("create linphone's data dir");
        let sip_port = free_udp_port();
        let rtp_port = free_udp_port_block(4);
        let rc = dir.join("linphonerc");
        std::fs::write(&rc, linphonerc(user, sip_port, rtp_port)).expect("write linphonerc");
        let mut command = Command::new("linphonec");
        command
            .arg("-c")
            .arg(&rc)
            .args(["-d", "0"])
            .env("HOME", dir.path())
            .current_dir(dir.path());
        let mut peer = StdioPeer::spawn("linphonec", command, &dir);
        peer.send("soundcard use files");
        peer.send(&format!("play {}", play.display()));
        let recording = record.then(|| dir.join("heard.wav"));
        if let Some(path) = &recording {
            peer.send(&format!("record {}", path.display()));
        }
        peer.send("ports");
        peer.expect(&format!("sip port = {sip_port}"), 1, TIMEOUT);
        Linphone {
            peer,
            sip_port,
            rtp_port,
            recording,
            dir,
        }
    }

    pub fn sip_port(&self) -> u16 {
        self.sip_port
    }

    /// The first of its RTP ports (it uses this one and the next for RTCP).
    pub fn rtp_port(&self) -> u16 {
        self.rtp_port
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

    /// Waits until `n` calls have been connected (200 OK to its INVITE).
    #[track_caller]
    pub fn wait_connected(&mut self, n: usize) {
        self.peer.expect(" connected.", n, TIMEOUT);
    }

    /// Sends each key as an RFC 4733 telephone-event (its default DTMF mode).
    pub fn send_dtmf(&self, keys: &str) {
        for key in keys.chars() {
            self.peer.send(&key.to_string());
            std::thread::sleep(KEY_GAP);
        }
    }

    /// The keys it reported receiving (`Receiving tone <key> from ...`), in order.
    pub fn received_dtmf(&self) -> String {
        self.peer
            .stdout()
            .lines()
            .filter_map(|l| l.split("Receiving tone ").nth(1))
            .filter_map(|rest| rest.chars().next())
            .collect()
    }

    /// Puts the call on hold and waits until it says so.
    #[track_caller]
    pub fn pause(&mut self) {
        self.peer.send("pause");
        self.peer.expect("is now paused.", 1, TIMEOUT);
    }

    pub fn resume(&self) {
        self.peer.send("resume");
    }

    pub fn terminate(&self) {
        self.peer.send("terminate");
    }

    /// Waits until `n` calls have ended (by either side).
    #[track_caller]
    pub fn wait_ended(&mut self, n: usize) {
        self.peer.expect(" ended (", n, TIMEOUT);
    }

    /// What it heard in the call it recorded (complete once that call has ended).
    pub fn received_audio(&self) -> Result<Wav, String> {
        let path = self
            .recording
            .as_ref()
            .ok_or("linphonec was started without recording")?;
        read_wav(path)
    }

    pub fn report(&self) -> String {
        self.peer.report()
    }
}

fn linphonerc(user: &str, sip_port: u16, rtp_port: u16) -> String {
    format!(
        "[sip]\n\
         sip_port={sip_port}\n\
         sip_tcp_port=0\n\
         sip_tls_port=0\n\
         bind_address=127.0.0.1\n\
         use_ipv6=0\n\
         ipv6_migration_done=1\n\
         auto_net_state_mon=0\n\
         guess_hostname=0\n\
         contact=sip:{user}@127.0.0.1\n\
         [rtp]\n\
         bind_address=127.0.0.1\n\
         audio_rtp_port={rtp_port}-{}\n\
         [sound]\n\
         echocancellation=0\n\
         [video]\n\
         display=0\n\
         capture=0\n\
         automatically_initiate=0\n\
         automatically_accept=0\n",
        rtp_port + 1
    )
}
