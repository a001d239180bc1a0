//! The engine's sound card after start-up: saying when it dies (a USB headset pulled out, the
//! sound server gone) and opening it again when it comes back, so the call that had it and
//! every later one get their sound back without a restart.

use super::*;
use crate::media::device::{DeviceChoice, DeviceError, SoundCard};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// How often a dead card is tried again.
const REOPEN_EVERY: Duration = Duration::from_secs(2);
/// A reopened card must work this long before a new failure is worth another warning: a
/// sound server that is still starting can drop the first streams it accepts.
const SETTLED_AFTER: Duration = Duration::from_secs(5);

/// A dead card: whether it was announced, and where reopening it stands.
#[derive(Debug, Default)]
pub(super) struct Reopen {
    /// The current failure has been announced (once per outage is enough).
    warned: bool,
    /// A try is running on the blocking pool.
    in_flight: bool,
    /// No new try before this.
    next_try: Option<tokio::time::Instant>,
    /// When the current card was reopened, until it has settled.
    reopened_at: Option<tokio::time::Instant>,
}

impl Engine {
    /// Looks at the sound card (once a second per call): a failure is said once per outage
    /// and the card is tried again; its ports go on with silence meanwhile, so calls are not
    /// affected otherwise.
    pub(super) fn watch_sound_card(&mut self) {
        let Some(why) = self.sound_card.as_ref().and_then(|c| c.failed()) else {
            // Working: once a reopened card has lasted, its next failure is news again.
            if self
                .card_reopen
                .reopened_at
                .is_some_and(|t| t.elapsed() >= SETTLED_AFTER)
            {
                self.card_reopen.reopened_at = None;
                self.card_reopen.warned = false;
            }
            return;
        };
        if !std::mem::replace(&mut self.card_reopen.warned, true) {
            self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!(
                    "{why}; calls go on without the sound card (silence on that side) until \
                     it comes back"
                ),
            );
        }
        self.reopen_dead_card();
    }

    /// Tries to open the dead card again every `REOPEN_EVERY`, off the engine task (probing
    /// takes milliseconds, up to a second or so for a sound server).
    fn reopen_dead_card(&mut self) {
        let now = tokio::time::Instant::now();
        if self.card_reopen.in_flight || self.card_reopen.next_try.is_some_and(|t| now < t) {
            return;
        }
        self.card_reopen.in_flight = true;
        let choice = DeviceChoice {
            input: self.config.input_device.clone(),
            output: self.config.output_device.clone(),
        };
        let tx = self.card_reopened.clone();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(SoundCard::open(&choice));
        });
    }

    /// A reopening try has finished. On success the new card replaces the dead one and the
    /// call that held the old one is moved onto it.
    pub(super) fn on_card_reopened(&mut self, opened: Result<SoundCard, DeviceError>) {
        self.card_reopen.in_flight = false;
        let card = match opened {
            Ok(card) => card,
            Err(_) => {
                // Still gone: quietly, the warning was given when it died.
                self.card_reopen.next_try = Some(tokio::time::Instant::now() + REOPEN_EVERY);
                return;
            }
        };
        self.log(
            LogLevel::Info,
            LogKind::Success,
            format!("sound card back: {}", card.description()),
        );
        self.sound_card = Some(Arc::new(card));
        self.card_reopen.next_try = None;
        self.card_reopen.reopened_at = Some(tokio::time::Instant::now());

        let holder = CallId(self.card_holder.load(Ordering::Relaxed));
        let Some(call) = self.calls.get(&holder) else {
            return;
        };
        let (Some(codec), Some(_)) = (call.codec, &call.media) else {
            return;
        };
        let bridged = call.bridge.is_some();
        let port = self.audio_port(holder, codec.clock_rate());
        if let Some(media) = self.calls.get(&holder).and_then(|c| c.media.as_ref()) {
            // A bridged call keeps its AI side and only gets its listen-in back.
            if bridged {
                media.set_listener(port);
            } else {
                media.set_port(port);
            }
        }
        self.log(
            LogLevel::Info,
            LogKind::Audio,
            format!("call {holder}: back on the sound card"),
        );
    }
}
