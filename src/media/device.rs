//! The sound card as an `AudioPort` (`--audio device`): the default or named input and output
//! opened through cpal for the whole process, lent to one call at a time.
//!
//! cpal's audio threads and the call's tokio task meet only at two lock-free `rtrb` rings of
//! mono f32 at the device rate (see `callback`); the port converts to and from the codec rate
//! and keeps the delay bounded (see `port`). The cpal streams live on a thread of their own
//! (see `open`), so `SoundCard` is `Send + Sync`. Nothing here prints: alsa-lib's own stderr
//! messages are silenced per thread (see `quiet`), and failures come back as `DeviceError`s,
//! counters and `SoundCard::failed`.

mod callback;
mod listing;
mod open;
mod port;
mod quiet;
mod resample;
mod stream;

use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use self::callback::Shared;
use self::open::Side;
use self::port::{DevicePort, Dock};
use crate::media::audio::AudioPort;

/// Which devices to open: names from `--input-device` / `--output-device`, `None` for the
/// default. A name is what `--list-devices` shows first on each line (the host's device id),
/// or a device's description when that is unique.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceChoice {
    pub input: Option<String>,
    pub output: Option<String>,
}

/// One line of `--list-devices`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// What `--input-device` / `--output-device` accept (on ALSA the PCM name).
    pub name: String,
    /// The host's human-readable name for it, which need not be unique.
    pub description: String,
    pub input: bool,
    pub output: bool,
    pub default_input: bool,
    pub default_output: bool,
    /// E.g. "8000-48000 Hz", or "in 48000 Hz, out 44100, 48000 Hz" when the directions differ.
    pub sample_rates: String,
    /// E.g. "1-2", or "in 1, out 2".
    pub channels: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("no sound card found")]
    NoSoundCard,
    #[error("no {direction} device named '{name}'; available: {available}")]
    NoSuchDevice {
        direction: &'static str,
        name: String,
        available: String,
    },
    #[error("cannot open the {direction} device '{name}': {source}")]
    Open {
        direction: &'static str,
        name: String,
        #[source]
        source: cpal::Error,
    },
    #[error("no audio system is available on this machine")]
    NoAudioSystem,
    #[error("cannot start the audio thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("the sound card did not answer within {} s", open::OPEN_TIMEOUT.as_secs())]
    Timeout,
    #[error("the audio thread stopped while opening the sound card")]
    ThreadDied,
}

/// How audio moved through the card during the current (or last) call; zeroed on `attach`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// 20 ms frames that `source` filled from the microphone (the others were silence).
    pub captured_frames: u64,
    /// Packets that `sink` queued for the speaker.
    pub played_frames: u64,
    /// Capture periods that found the queue full and lost audio.
    pub input_overruns: u64,
    /// Frames `source` could not fill completely.
    pub input_underruns: u64,
    /// Playback periods that ran out of audio and played silence.
    pub output_underruns: u64,
    /// Times queued microphone audio beyond the ~100 ms delay bound was dropped.
    pub input_trims: u64,
    /// Packets dropped because the speaker queue already held ~100 ms (clock drift, bursts).
    pub output_trims: u64,
    /// Over- and underruns the driver itself reported.
    pub xruns: u64,
}

/// Lists what the audio host offers (for `--list-devices`). A machine without a sound card
/// gives an empty list, not an error; nothing is printed.
pub fn list_devices() -> Result<Vec<DeviceInfo>, DeviceError> {
    listing::list_devices()
}

/// `--list-devices` output, ready for `print!`: one device a line with its defaults marked, or
/// one sentence saying there is no sound card (or why the list could not be made). Every line,
/// the last included, ends in a newline.
pub fn list_devices_text() -> String {
    let mut text = match list_devices() {
        Ok(devices) => listing::format_device_list(&devices),
        Err(e) => e.to_string(),
    };
    text.push('\n');
    text
}

/// The opened input and output streams, for the whole process. Either direction may be
/// missing when only the default was asked for and the machine has just the other one; the
/// port then sends silence or discards.
pub struct SoundCard {
    shared: Arc<Shared>,
    dock: Dock,
    input: Option<Side>,
    output: Option<Side>,
    /// Dropping the sender wakes the device thread, which drops the streams and ends.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

// The engine keeps the card in an `Arc` and hands ports to call tasks.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SoundCard>();
};

impl SoundCard {
    /// Opens the chosen (or default) devices and starts both streams. Blocks while the host
    /// probes (milliseconds, at most `OPEN_TIMEOUT`), so call it before the runtime starts or
    /// through `spawn_blocking`.
    pub fn open(choice: &DeviceChoice) -> Result<SoundCard, DeviceError> {
        let shared = Arc::new(Shared::default());
        let (opened, stop, thread) = open::spawn(choice.clone(), shared.clone())?;
        Ok(SoundCard {
            shared,
            dock: Arc::new(Mutex::new(Some(opened.ends))),
            input: opened.input,
            output: opened.output,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The port for one call at `codec_rate` (8000 or 48000). `None` while another call holds
    /// the card; dropping the port gives it back.
    pub fn attach(&self, codec_rate: u32) -> Option<Box<dyn AudioPort>> {
        DevicePort::attach(&self.dock, &self.shared, codec_rate)
            .map(|port| Box::new(port) as Box<dyn AudioPort>)
    }

    /// `input: <name> @ 48000 Hz, output: <name> @ 48000 Hz` (`none` for a missing direction).
    pub fn description(&self) -> String {
        let side = |s: &Option<Side>| match s {
            Some(s) => format!("{} @ {} Hz", s.name, s.rate),
            None => "none".to_owned(),
        };
        format!(
            "input: {}, output: {}",
            side(&self.input),
            side(&self.output)
        )
    }

    /// Set once a stream reports a fatal error (device unplugged, sound server gone): one
    /// sentence saying which side failed and why. Ports keep working, with silence.
    pub fn failed(&self) -> Option<String> {
        self.shared.failure()
    }

    pub fn stats(&self) -> DeviceStats {
        self.shared.stats()
    }
}

impl std::fmt::Debug for SoundCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoundCard")
            .field("input", &self.input)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl Drop for SoundCard {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            // Dropping the streams joins cpal's threads: a few milliseconds.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(input: Option<Side>, output: Option<Side>) -> SoundCard {
        let ends = port::PortEnds {
            input: None,
            output: None,
        };
        SoundCard {
            shared: Arc::new(Shared::default()),
            dock: Arc::new(Mutex::new(Some(ends))),
            input,
            output,
            stop: None,
            thread: None,
        }
    }

    fn side(name: &str, rate: u32) -> Side {
        Side {
            name: name.to_owned(),
            rate,
            channels: 2,
        }
    }

    #[test]
    fn description_names_both_sides() {
        let c = card(
            Some(side("default", 48_000)),
            Some(side("hw:CARD=PCH,DEV=0", 44_100)),
        );
        assert_eq!(
            c.description(),
            "input: default @ 48000 Hz, output: hw:CARD=PCH,DEV=0 @ 44100 Hz"
        );
        let c = card(None, Some(side("default", 48_000)));
        assert_eq!(c.description(), "input: none, output: default @ 48000 Hz");
    }

    #[test]
    fn the_card_serves_one_call_at_a_time() {
        let c = card(None, None);
        let port = c.attach(8_000).unwrap();
        assert!(c.attach(8_000).is_none());
        drop(port);
        assert!(c.attach(48_000).is_some());
    }

    #[test]
    fn errors_read_as_one_sentence() {
        assert_eq!(DeviceError::NoSoundCard.to_string(), "no sound card found");
        let missing = DeviceError::NoSuchDevice {
            direction: "input",
            name: "X".to_owned(),
            available: "default, hw:CARD=PCH,DEV=0".to_owned(),
        };
        assert_eq!(
            missing.to_string(),
            "no input device named 'X'; available: default, hw:CARD=PCH,DEV=0"
        );
        assert_eq!(
            DeviceError::Timeout.to_string(),
            "the sound card did not answer within 5 s"
        );
    }

    #[test]
    fn a_new_call_starts_with_fresh_counters() {
        let c = card(None, None);
        c.shared
            .xruns
            .store(3, std::sync::atomic::Ordering::Relaxed);
        let _port = c.attach(8_000).unwrap();
        assert_eq!(c.stats(), DeviceStats::default());
    }
}
