//! Where calls' audio comes from and goes to, for the executor: the sound card (one call at a
//! time), the `--play` clip (resampled once per codec rate, at start-up, off the runtime), the
//! echo loop or silence; and the recorder that writes each call's WAV.

use super::card::Reopen;
use super::Log;
use crate::config::{AudioChoice, Config};
use crate::media::audio::{port_for, AudioMode, AudioPort, DuplexPort};
use crate::media::device::{DeviceChoice, SoundCard};
use crate::media::wav::{recording_name, PlayPort, Recorder, RecorderHandle};
use crate::vocab::{CallId, Codec};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("--play: {0}")]
    Play(#[from] crate::media::wav::WavError),
    #[error("{0}")]
    SoundCard(#[from] crate::media::device::DeviceError),
    #[error("audio set-up stopped unexpectedly: {0}")]
    SetUp(#[from] tokio::task::JoinError),
}

pub struct Audio {
    choice: AudioChoice,
    devices: DeviceChoice,
    record: Option<PathBuf>,
    /// Opened at start with `--audio device`; `None` when there is no card.
    pub(super) card: Option<Arc<SoundCard>>,
    /// The call whose port came from the sound card last.
    pub(super) card_holder: Option<CallId>,
    pub(super) reopen: Reopen,
    /// `--play` at each codec rate, ready to be copied for a call.
    play: HashMap<u32, PlayPort>,
}

impl Audio {
    /// Loads `--play` and opens the sound card, both on the blocking pool. A missing card is
    /// not fatal (calls fall back to silence, with one warning); a device the user named that
    /// does not exist is.
    pub async fn open(config: &Config, codecs: &[Codec], log: &Log) -> Result<Audio, AudioError> {
        let mut play = HashMap::new();
        if let Some(path) = config.play.clone() {
            let rates: Vec<u32> = codecs.iter().map(|c| c.clock_rate()).collect();
            let ports = tokio::task::spawn_blocking(move || {
                let clip = crate::media::wav::load(&path)?;
                rates
                    .into_iter()
                    .map(|rate| Ok((rate, PlayPort::new(&clip, rate))))
                    .collect::<Result<Vec<_>, crate::media::wav::WavError>>()
            })
            .await??;
            for (rate, port) in ports {
                match port {
                    Ok(port) => {
                        play.insert(rate, port);
                    }
                    Err(e) => log.warn(format!("--play cannot be used at {rate} Hz: {e}")),
                }
            }
        }
        let devices = DeviceChoice {
            input: config.input_device.clone(),
            output: config.output_device.clone(),
        };
        let mut card = None;
        if config.audio == AudioChoice::Device {
            let named = devices.input.is_some() || devices.output.is_some();
            let choice = devices.clone();
            match tokio::task::spawn_blocking(move || SoundCard::open(&choice)).await? {
                Ok(opened) => {
                    log.info_audio(format!("sound card: {}", opened.description()));
                    card = Some(Arc::new(opened));
                }
                Err(e) if named => return Err(e.into()),
                Err(e) => log.warn(format!("{e}: calls use --audio null (silence) instead")),
            }
        }
        Ok(Audio {
            choice: config.audio,
            devices,
            record: config.record.clone(),
            card,
            card_holder: None,
            reopen: Reopen::default(),
            play,
        })
    }

    pub(super) fn devices(&self) -> DeviceChoice {
        self.devices.clone()
    }

    /// The call's audio: `--play` as the microphone if given, and the sound card, the echo
    /// loop or silence for the rest. The sound card serves one call at a time.
    pub fn port(&mut self, id: CallId, rate: u32, log: &Log) -> Box<dyn AudioPort> {
        let base: Box<dyn AudioPort> = match self.choice {
            AudioChoice::Echo => port_for(AudioMode::Echo),
            AudioChoice::Null => port_for(AudioMode::Null),
            AudioChoice::Device => match self.card.as_ref().map(|c| c.attach(rate)) {
                Some(Some(port)) => {
                    self.card_holder = Some(id);
                    port
                }
                Some(None) => {
                    log.warn(format!(
                        "call {id}: the sound card is busy with another call; this one is silent"
                    ));
                    port_for(AudioMode::Null)
                }
                None => port_for(AudioMode::Null),
            },
        };
        match self.play.get(&rate) {
            Some(play) => Box::new(DuplexPort {
                source: Box::new(play.clone()),
                sink: base,
            }),
            None => base,
        }
    }

    /// With `--record`: the call's recorder and the WAV's path.
    pub fn recorder(
        &self,
        id: CallId,
        remote_uri: &str,
        rate: u32,
        log: &Log,
    ) -> Option<(RecorderHandle, PathBuf)> {
        let dir = self.record.as_ref()?;
        let path = unused_path(dir.join(recording_name(remote_uri, std::time::SystemTime::now())));
        match Recorder::start(&path, rate) {
            Ok(handle) => {
                log.info_audio(format!("call {id}: recording to {}", path.display()));
                Some((handle, path))
            }
            Err(e) => {
                log.warn(format!("call {id}: cannot record: {e}"));
                None
            }
        }
    }
}

/// `path`, or `name-2.wav`, `name-3.wav`, ... when it is taken: calls to the same party that
/// start within the same second (a suite's, or a transfer's) must not overwrite each other's
/// recording. Recorders are created one at a time by the engine, so checking is enough.
fn unused_path(path: PathBuf) -> PathBuf {
    if !path.exists() {
        return path;
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    (2..)
        .map(|n| path.with_file_name(format!("{stem}-{n}.wav")))
        .find(|p| !p.exists())
        .unwrap_or(path)
}

#[cfg(test)]
mod unused_path_tests {
    use super::unused_path;

    #[test]
    fn a_taken_recording_name_gets_a_number() {
        let dir = std::env::temp_dir().join(format!("sipterm-unused-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = dir.join("20261204-120000-agent.wav");
        assert_eq!(unused_path(first.clone()), first);
        std::fs::write(&first, b"x").unwrap();
        let second = unused_path(first.clone());
        assert_eq!(second, dir.join("20261204-120000-agent-2.wav"));
        std::fs::write(&second, b"x").unwrap();
        assert_eq!(unused_path(first), dir.join("20261204-120000-agent-3.wav"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
