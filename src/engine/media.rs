//! The engine's side of call media: which audio port a call gets (sound card, `--play` file,
//! echo, silence), starting and stopping its RTP session with recording, and turning media
//! events into engine events and log lines.

use super::*;
use crate::media::audio::{port_for, AudioMode, AudioPort, DuplexPort};
use crate::media::sdp::Negotiated;
use crate::media::session::{self, MediaEvent, MediaEvents, MediaOptions, MediaReport};
use crate::media::wav::{recording_name, PlayPort, Recorder};

impl Engine {
    /// Starts the RTP session of an answered call with the negotiated parameters.
    pub(super) fn start_media(&mut self, id: CallId, n: Negotiated) {
        let port = self.audio_port(id, n.codec.clock_rate());
        let (recorder, transcript) = match self.start_recorder(id, n.codec.clock_rate()) {
            Some((handle, path)) => (Some(handle), Some(path.with_extension("txt"))),
            None => (None, None),
        };
        let events = MediaEvents {
            tag: id.0,
            tx: self.media_events.clone(),
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some((rtp, rtcp)) = call.sockets.take() else {
            return;
        };
        let options = MediaOptions {
            rtcp: Some(rtcp),
            events: Some(events),
            recorder,
        };
        call.codec = Some(n.codec);
        call.transcript = transcript;
        match session::start_with(rtp, n.clone(), port, options) {
            Ok(media) => {
                call.media = Some(media);
                let started = call.media_started_event(&n);
                self.emit(started);
                self.log(
                    LogLevel::Info,
                    LogKind::Audio,
                    format!("call {id}: {} audio to {}", n.codec.name(), n.remote),
                );
                if self.config.bridge.enabled {
                    self.start_bridge(id);
                }
            }
            Err(e) => self.log(
                LogLevel::Error,
                LogKind::Error,
                format!("call {id}: media cannot start: {e}"),
            ),
        }
    }

    /// The call's audio: `--play` as the microphone if given, and the sound card, the echo
    /// loop or silence for the rest. The sound card serves one call at a time.
    pub(super) fn audio_port(&self, id: CallId, rate: u32) -> Box<dyn AudioPort> {
        let base: Box<dyn AudioPort> = match self.config.audio {
            AudioChoice::Echo => port_for(AudioMode::Echo),
            AudioChoice::Null => port_for(AudioMode::Null),
            AudioChoice::Device => match self.sound_card.as_ref().map(|c| c.attach(rate)) {
                Some(Some(port)) => {
                    self.card_holder
                        .store(id.0, std::sync::atomic::Ordering::Relaxed);
                    port
                }
                Some(None) => {
                    self.log(
                        LogLevel::Warn,
                        LogKind::Warning,
                        format!("call {id}: the sound card is busy with another call; this one is silent"),
                    );
                    port_for(AudioMode::Null)
                }
                None => port_for(AudioMode::Null),
            },
        };
        let Some(clip) = &self.play_clip else {
            return base;
        };
        match PlayPort::new(clip, rate) {
            Ok(play) => Box::new(DuplexPort {
                source: Box::new(play),
                sink: base,
            }),
            Err(e) => {
                self.log(
                    LogLevel::Warn,
                    LogKind::Warning,
                    format!("call {id}: --play cannot be used at {rate} Hz: {e}"),
                );
                base
            }
        }
    }

    fn start_recorder(
        &self,
        id: CallId,
        rate: u32,
    ) -> Option<(crate::media::wav::RecorderHandle, std::path::PathBuf)> {
        let dir = self.config.record.as_ref()?;
        let remote = self
            .calls
            .get(&id)
            .map(|c| c.remote_uri.as_str())
            .unwrap_or("unknown");
        let path = dir.join(recording_name(remote, std::time::SystemTime::now()));
        match Recorder::start(&path, rate) {
            Ok(handle) => {
                self.log(
                    LogLevel::Info,
                    LogKind::Audio,
                    format!("call {id}: recording to {}", path.display()),
                );
                Some((handle, path))
            }
            Err(e) => {
                self.log(
                    LogLevel::Warn,
                    LogKind::Warning,
                    format!("call {id}: cannot record: {e}"),
                );
                None
            }
        }
    }

    pub(super) fn on_media_event(&mut self, tag: u64, event: MediaEvent) {
        let call = CallId(tag);
        if !self.calls.contains_key(&call) {
            return;
        }
        match event {
            MediaEvent::Levels { remote, local } => self.emit(Event::Levels {
                call,
                remote,
                local,
                ai: self
                    .calls
                    .get(&call)
                    .and_then(|c| c.bridge.as_ref())
                    .map(|b| b.take_ai_level()),
            }),
            MediaEvent::Quality(quality) => {
                // Once a second per call: also when a dead sound card is noticed and retried.
                self.watch_sound_card();
                self.emit(Event::Quality { call, quality });
            }
            MediaEvent::Dtmf(digit) => {
                self.emit(Event::Dtmf { call, digit });
                self.log(
                    LogLevel::Info,
                    LogKind::Audio,
                    format!("call {call}: DTMF digit {digit} received"),
                );
            }
            MediaEvent::Latched(addr) => self.log(
                LogLevel::Debug,
                LogKind::Audio,
                format!("call {call}: media from {addr}"),
            ),
            MediaEvent::Warning(text) => self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!("call {call}: {text}"),
            ),
        }
    }

    /// The figures of a finished session in the engine's terms, logged as the 📊 line.
    pub(super) fn summarize_media(&self, id: CallId, report: MediaReport) -> MediaSummary {
        let s = report.stats;
        let recording = match report.recording {
            Some(Ok(summary)) => {
                self.log(
                    LogLevel::Info,
                    LogKind::Audio,
                    format!(
                        "call {id}: recording saved to {} ({:.1} s)",
                        summary.path.display(),
                        summary.duration_ms as f64 / 1000.0
                    ),
                );
                Some(summary.path.display().to_string())
            }
            Some(Err(e)) => {
                self.log(
                    LogLevel::Error,
                    LogKind::Error,
                    format!("call {id}: the recording could not be finished: {e}"),
                );
                None
            }
            None => None,
        };
        MediaSummary {
            stats: s,
            recording,
        }
    }
}
