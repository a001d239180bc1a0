//! A virtual headset: a private PulseAudio server whose two null sinks stand in for a sound
//! card, so `--audio device` can be driven through cpal and ALSA for real on a machine with
//! no audio hardware.
//!
//! - `speaker`: the default sink. sipterm plays the call into it; [`VirtualHeadset::listen`]
//!   records its monitor, which is what a person would hear.
//! - `micfeed`: its monitor is the default source, sipterm's microphone;
//!   [`VirtualHeadset::speak`] plays a WAV into it, which is what a person would say.
//!
//! sipterm reaches the server through ALSA's `pulse` plugin, selected by an ALSA configuration
//! of our own (`ALSA_CONFIG_PATH`) and a private socket (`PULSE_SERVER`), so nothing of the
//! machine's own audio setup is used or changed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::ports::ScratchDir;
use super::process::{wait_until, ChildGuard};
use super::sipterm::Sipterm;

/// The rate of both null sinks; sipterm resamples to and from the codec's rate.
pub const RATE: u32 = 48_000;

pub struct VirtualHeadset {
    server: ChildGuard,
    socket: PathBuf,
    alsa_conf: PathBuf,
    script: PathBuf,
    /// Servers started so far (each gets its own log files).
    starts: u32,
    // Last: the server stops before its directory goes.
    dir: ScratchDir,
}

impl VirtualHeadset {
    /// Starts the server and waits until it answers; panics with its log when it does not.
    pub fn start() -> VirtualHeadset {
        let dir = ScratchDir::new("pulse");
        let socket = dir.join("native");
        let script = dir.join("headset.pa");
        std::fs::write(
            &script,
            format!(
                "load-module module-null-sink sink_name=speaker rate={RATE} channels=1\n\
                 load-module module-null-sink sink_name=micfeed rate={RATE} channels=1\n\
                 set-default-sink speaker\n\
                 set-default-source micfeed.monitor\n\
                 load-module module-native-protocol-unix auth-anonymous=1 socket={}\n",
                socket.display()
            ),
        )
        .unwrap();
        let alsa_conf = dir.join("asound.conf");
        std::fs::write(
            &alsa_conf,
            "pcm.!default { type pulse }\nctl.!default { type pulse }\n",
        )
        .unwrap();
        let runtime = dir.join("runtime");
        std::fs::create_dir_all(&runtime).unwrap();
        let server = spawn_server(&dir, &script, "pulseaudio");
        let headset = VirtualHeadset {
            dir,
            server,
            socket,
            alsa_conf,
            script,
            starts: 1,
        };
        headset.wait_up();
        headset
    }

    fn wait_up(&self) {
        let up = wait_until(Duration::from_secs(10), || {
            self.pactl(&["info"])
                .is_some_and(|info| info.contains("Default Sink: speaker"))
        });
        assert!(up, "pulseaudio did not start:\n{}", self.server.stderr());
    }

    /// Stops the sound server at once (SIGKILL), as when a USB headset is pulled out.
    pub fn unplug(&mut self) {
        self.server.signal("KILL");
        let _ = self.server.wait_timeout(Duration::from_secs(5));
    }

    /// Starts the sound server again, same sinks, same socket: the headset plugged back in.
    pub fn replug(&mut self) {
        self.starts += 1;
        let name = format!("pulseaudio-{}", self.starts);
        self.server = spawn_server(&self.dir, &self.script, &name);
        self.wait_up();
    }

    /// What sipterm needs in its environment to use this headset as its sound card.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PULSE_SERVER", format!("unix:{}", self.socket.display())),
            ("ALSA_CONFIG_PATH", self.alsa_conf.display().to_string()),
        ]
    }

    /// sipterm with `args`, using this headset as its sound card.
    pub fn sipterm(&self, args: Vec<String>) -> Sipterm {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Sipterm::spawn_with_env(args, &env)
    }

    pub fn dir(&self) -> &ScratchDir {
        &self.dir
    }

    /// Plays `wav` into the microphone, once; the returned guard stops it on drop. A 20 ms
    /// latency makes the null sink run in small blocks, as a real microphone's would (paplay's
    /// default of seconds would hold back the start of the sound).
    pub fn speak(&self, wav: &Path) -> ChildGuard {
        let mut cmd = self.client("paplay");
        cmd.arg("--device=micfeed")
            .arg("--latency-msec=20")
            .arg(wav);
        ChildGuard::spawn("paplay", cmd, self.dir.path())
    }

    /// Records `duration` of what the speaker plays: mono samples at `rate` (shorter only if
    /// the recorder fails to deliver within `duration` + 10 s).
    pub fn listen(&self, duration: Duration, rate: u32) -> Vec<i16> {
        let mut cmd = self.client("parec");
        cmd.args([
            "--device=speaker.monitor",
            "--raw",
            "--format=s16le",
            "--channels=1",
        ])
        .arg(format!("--rate={rate}"));
        let mut recorder = ChildGuard::spawn("parec", cmd, self.dir.path());
        // Counted in audio, not wall time: on a loaded machine parec can take a second to
        // connect, and a fixed sleep would then return a short recording.
        let wanted = (duration.as_secs_f64() * f64::from(rate)) as usize * 2;
        let recorded = || std::fs::metadata(recorder.stdout_path()).map_or(0, |m| m.len() as usize);
        wait_until(duration + Duration::from_secs(10), || recorded() >= wanted);
        recorder.stop();
        let mut bytes = std::fs::read(recorder.stdout_path()).unwrap();
        bytes.truncate(wanted);
        bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }

    /// Feeds what the speaker plays back into the microphone with PulseAudio's own loopback
    /// (`latency_ms` is what it is asked to keep), as if the headset's earpiece were held to
    /// its microphone: audio from the caller comes straight back to the caller.
    pub fn loop_speaker_to_microphone(&self, latency_ms: u32) {
        let latency = format!("latency_msec={latency_ms}");
        let loaded = self.pactl(&[
            "load-module",
            "module-loopback",
            "source=speaker.monitor",
            "sink=micfeed",
            &latency,
        ]);
        assert!(loaded.is_some(), "module-loopback did not load");
    }

    /// Runs `pactl` against this server; its stdout, or None when it failed.
    pub fn pactl(&self, args: &[&str]) -> Option<String> {
        let out = self.client("pactl").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn client(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("PULSE_SERVER", format!("unix:{}", self.socket.display()))
            .env("HOME", self.dir.path());
        cmd
    }
}

/// One `pulseaudio` on `script`, keeping its state and cookie in `dir`, not the user's home.
fn spawn_server(dir: &ScratchDir, script: &Path, name: &str) -> ChildGuard {
    let mut cmd = Command::new("pulseaudio");
    cmd.args(["-n", "--daemonize=no", "--exit-idle-time=-1"])
        .args([
            "--use-pid-file=no",
            "--disable-shm=yes",
            "--log-target=stderr",
        ])
        .arg("-F")
        .arg(script)
        .env("HOME", dir.path())
        .env("XDG_RUNTIME_DIR", dir.join("runtime"))
        .env("XDG_CONFIG_HOME", dir.join("config"));
    ChildGuard::spawn(name, cmd, dir.path())
}
