//! baresip's configuration: what a test asks for ([`BaresipConfig`]) and the `config`,
//! `accounts` and `contacts` files made from it.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use super::super::wav::{read_wav, write_wav, Wav};

/// Length of the silence [`Tone::Silence`] plays before baresip hangs up.
pub const SILENCE_SECS: usize = 300;

/// What baresip sends as its audio.
#[derive(Debug, Clone, PartialEq)]
pub enum Tone {
    /// A sine at this frequency (10..=20000 Hz), from the `ausine` module.
    Sine(u32),
    /// A 16-bit PCM WAV, from the `aufile` module, played once: at its end baresip hangs up
    /// (events `AUDIO_ERROR`, then `CALL_CLOSED` with param "end of file"), so make it
    /// longer than the call (or use that as "play a prompt, then hang up").
    File(PathBuf),
    /// Digital silence: a generated silent WAV ([`SILENCE_SECS`] long) played by `aufile`.
    Silence,
    /// Each caller's own audio, sent back: the `echo` module, which answers every incoming
    /// call itself (so use [`Answer::Manual`], or the menu answers too) and gives each call
    /// an `aubridge` device of its own as player and source, at 8 kHz mono (G.711's rate,
    /// so nothing is resampled).
    Echo,
}

/// When baresip answers an incoming call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// At once (`answermode=auto`).
    Auto,
    /// When told to (`accept()`), after `CALL_INCOMING`.
    Manual,
}

/// Where baresip registers, if anywhere (`regint=0` otherwise: direct calls only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registrar {
    /// The registrar / proxy, e.g. `kamailio.addr()`; it becomes the AoR's domain.
    pub addr: SocketAddr,
    pub user: String,
    pub password: String,
}

/// Settings for [`Baresip::start`]. ctrl_tcp is always on: every method goes through it.
#[derive(Debug, Clone)]
pub struct BaresipConfig {
    /// The user part of its AoR (`sip:<user>@127.0.0.1:<port>` without a registrar).
    pub user: String,
    /// `audio_codecs` in preference order, as baresip names them: `opus/48000/2`, `PCMU`,
    /// `PCMA`, `G722`... (baresip adds telephone-event/8000 by itself).
    pub codecs: Vec<String>,
    pub tone: Tone,
    /// Dump received (and sent) audio as WAV; see [`Baresip::received_audio`].
    pub record: bool,
    pub answer: Answer,
    pub registrar: Option<Registrar>,
    /// More lines for the `config` file, after ours (baresip reads the first occurrence of a
    /// key, so these add settings rather than replace them).
    pub extra_config: Vec<String>,
    /// Extra environment for the process (e.g. a virtual sound card's).
    pub env: Vec<(String, String)>,
    /// See [`BaresipConfig::sound_card`].
    pub sound_card: bool,
    /// The account's `mediaenc` (e.g. `srtp-mand`), with baresip's srtp module loaded.
    pub media_enc: Option<String>,
    /// How many ports `rtp_ports` spans (default 4: two calls' RTP and RTCP).
    pub rtp_port_count: u16,
}

impl BaresipConfig {
    /// `user`, Opus only, silence, no recording, auto-answer, no registrar.
    pub fn new(user: &str) -> BaresipConfig {
        BaresipConfig {
            user: user.to_owned(),
            codecs: vec!["opus/48000/2".into()],
            tone: Tone::Silence,
            record: false,
            answer: Answer::Auto,
            registrar: None,
            extra_config: Vec::new(),
            env: Vec::new(),
            sound_card: false,
            media_enc: None,
            rtp_port_count: 4,
        }
    }

    pub fn codecs(mut self, codecs: &[&str]) -> Self {
        self.codecs = codecs.iter().map(|c| c.to_string()).collect();
        self
    }

    pub fn tone(mut self, tone: Tone) -> Self {
        self.tone = tone;
        self
    }

    pub fn record(mut self, on: bool) -> Self {
        self.record = on;
        self
    }

    pub fn answer(mut self, answer: Answer) -> Self {
        self.answer = answer;
        self
    }

    /// Register at `addr` as `user`/`password` (digest).
    pub fn registrar(mut self, addr: SocketAddr, user: &str, password: &str) -> Self {
        self.registrar = Some(Registrar {
            addr,
            user: user.to_owned(),
            password: password.to_owned(),
        });
        self
    }

    /// Encrypts media: `srtp` (SDES on RTP/AVP, best effort), `srtp-mand` (RTP/SAVP, SDES
    /// required) or `srtp-mandf` (RTP/SAVPF); loads the srtp module.
    pub fn media_enc(mut self, mode: &str) -> Self {
        self.media_enc = Some(mode.to_owned());
        self
    }

    /// Room for this many RTP ports (RTP and RTCP of `count / 2` calls); see
    /// [`super::Baresip::rtp_ports`].
    pub fn rtp_port_count(mut self, count: u16) -> Self {
        self.rtp_port_count = count.max(2);
        self
    }

    pub fn config_line(mut self, line: &str) -> Self {
        self.extra_config.push(line.to_owned());
        self
    }

    /// The default ALSA device as microphone and speaker (module `alsa`), mono at 48 kHz,
    /// instead of the tone and the `aubridge` sink. (baresip reads the first `audio_source`
    /// line, so this cannot be done with `config_line`.)
    pub fn sound_card(mut self) -> Self {
        self.sound_card = true;
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// The ports a baresip was given.
#[derive(Debug, Clone)]
pub(super) struct Ports {
    pub sip: u16,
    pub ctrl: u16,
    pub rtp: RangeInclusive<u16>,
}

/// Writes `config`, `accounts` and `contacts` into `dir`; returns the account's AoR.
pub(super) fn write_config_dir(
    config: &BaresipConfig,
    ports: &Ports,
    recordings: Option<&Path>,
    dir: &Path,
) -> String {
    let (sip_port, ctrl_port) = (ports.sip, ports.ctrl);
    let (source, srate, channels) = if config.sound_card {
        ("alsa,default".to_owned(), 48000, 1)
    } else {
        audio_source(&config.tone, dir)
    };
    let player = if config.sound_card {
        "alsa,default"
    } else if config.tone == Tone::Echo {
        // The echo module renames the device per call, so source and player meet.
        "aubridge,echo"
    } else {
        "aubridge,sink"
    };
    let mut text = String::new();
    for line in [
        "poll_method epoll".to_string(),
        format!("sip_listen 127.0.0.1:{sip_port}"),
        "net_interface 127.0.0.1".into(),
        format!("audio_source {source}"),
        format!("audio_player {player}"),
        format!("audio_alert {player}"),
        format!("ausrc_srate {srate}"),
        format!("ausrc_channels {channels}"),
        format!("rtp_ports {}-{}", ports.rtp.start(), ports.rtp.end()),
        "rtcp_mux no".into(),
        "jitter_buffer_delay 1-10".into(),
        format!("ctrl_tcp_listen 127.0.0.1:{ctrl_port}"),
        "module_path /usr/lib/baresip/modules".into(),
        "module g711.so".into(),
        "module opus.so".into(),
        "module g722.so".into(),
        "module aubridge.so".into(),
        "module ausine.so".into(),
        "module aufile.so".into(),
        "module alsa.so".into(),
        "module_tmp account.so".into(),
        "module_app menu.so".into(),
        "module_app ctrl_tcp.so".into(),
    ] {
        writeln!(text, "{line}").unwrap();
    }
    if config.sound_card || config.tone == Tone::Echo {
        // The card plays mono at its own rate, as sipterm's device port does; the echo's
        // player must match its source.
        writeln!(text, "auplay_srate {srate}\nauplay_channels {channels}").unwrap();
    }
    if config.tone == Tone::Echo {
        writeln!(text, "module_app echo.so").unwrap();
    }
    if config.media_enc.is_some() {
        writeln!(text, "module srtp.so").unwrap();
    }
    if let Some(path) = recordings {
        writeln!(text, "module sndfile.so\nsnd_path {}", path.display()).unwrap();
    }
    for line in &config.extra_config {
        writeln!(text, "{line}").unwrap();
    }
    std::fs::write(dir.join("config"), text).expect("write baresip's config");
    let aor = match &config.registrar {
        Some(r) => format!("sip:{}@{}", r.user, r.addr),
        None => format!("sip:{}@127.0.0.1:{sip_port}", config.user),
    };
    let mut account = format!("<{aor}>");
    match &config.registrar {
        Some(r) => write!(account, ";auth_pass={};regint=600", r.password).unwrap(),
        None => account.push_str(";regint=0"),
    }
    let mode = match config.answer {
        Answer::Auto => "auto",
        Answer::Manual => "manual",
    };
    write!(
        account,
        ";answermode={mode};audio_codecs={}",
        config.codecs.join(",")
    )
    .unwrap();
    if let Some(mode) = &config.media_enc {
        write!(account, ";mediaenc={mode}").unwrap();
    }
    std::fs::write(dir.join("accounts"), format!("{account}\n")).expect("write accounts");
    std::fs::write(dir.join("contacts"), "").expect("write contacts");

    aor
}

/// `audio_source` and the source's rate and channels for `tone`.
fn audio_source(tone: &Tone, dir: &Path) -> (String, u32, u16) {
    match tone {
        Tone::Sine(hz) => {
            assert!(
                (10..=20000).contains(hz),
                "ausine takes 10..=20000 Hz, not {hz}"
            );
            (format!("ausine,{hz}"), 48000, 2)
        }
        Tone::File(path) => {
            let wav = read_wav(path).unwrap_or_else(|e| panic!("baresip tone file: {e}"));
            (format!("aufile,{}", path.display()), wav.rate, wav.channels)
        }
        Tone::Echo => ("aubridge,echo".to_owned(), 8000, 1),
        Tone::Silence => {
            let path = dir.join("silence.wav");
            let silence = Wav {
                rate: 8000,
                channels: 1,
                samples: vec![0; 8000 * SILENCE_SECS],
            };
            write_wav(&path, &silence).expect("write silence.wav");
            (format!("aufile,{}", path.display()), 8000, 1)
        }
    }
}
