//! The engine's sound card after start-up: saying when it dies (a USB headset pulled out, the
//! sound server gone) and opening it again when it comes back, so the call that had it and
//! every later one get their sound back without a restart.

use super::audio::Audio;
use super::Log;
use crate::media::device::{DeviceChoice, DeviceError, SoundCard};
use crate::vocab::CallId;
use std::sync::Arc;
use std::time::Duration;

/// How often a dead card is tried again.
const REOPEN_EVERY: Duration = Duration::from_secs(2);
/// A reopened card must work this long before a new failure is worth another warning: a
/// sound server that is still starting can drop the first streams it accepts.
const SETTLED_AFTER: Duration = Duration::from_secs(5);

/// A dead card: whether it was announced, and where reopening it stands.
#[derive(Debug, Default)]
pub struct Reopen {
    /// The current failure has been announced (once per outage is enough).
    warned: bool,
    /// A try is running on the blocking pool.
    in_flight: bool,
    /// No new try before this.
    next_try: Option<tokio::time::Instant>,
    /// When the current card was reopened, until it has settled.
    reopened_at: Option<tokio::time::Instant>,
}

impl Audio {
    /// Looks at the sound card (once a second per call): a failure is said once per outage
    /// and the card is tried again; its ports go on with silence meanwhile, so calls are not
    /// affected otherwise. Returns a reopening try to run on the blocking pool, when one is due.
    pub(super) fn watch_card(&mut self, log: &Log) -> Option<DeviceChoice> {
        let Some(why) = self.card.as_ref().and_then(|c| c.failed()) else {
            // Working: once a reopened card has lasted, its next failure is news again.
            if self
                .reopen
                .reopened_at
                .is_some_and(|t| t.elapsed() >= SETTLED_AFTER)
            {
                self.reopen.reopened_at = None;
                self.reopen.warned = false;
            }
            return None;
        };
        if !std::mem::replace(&mut self.reopen.warned, true) {
            log.warn(format!(
                "{why}; calls go on without the sound card (silence on that side) until it \
                 comes back"
            ));
        }
        let now = tokio::time::Instant::now();
        if self.reopen.in_flight || self.reopen.next_try.is_some_and(|t| now < t) {
            return None;
        }
        self.reopen.in_flight = true;
        Some(self.devices())
    }

    /// A reopening try has finished. On success the new card replaces the dead one, which is
    /// handed back to be dropped off the runtime (it joins its stream thread), with the call
    /// that held it, to be moved onto the new card.
    pub(super) fn card_reopened(
        &mut self,
        opened: Result<SoundCard, DeviceError>,
        log: &Log,
    ) -> Option<(Option<Arc<SoundCard>>, Option<CallId>)> {
        self.reopen.in_flight = false;
        let card = match opened {
            Ok(card) => card,
            Err(_) => {
                // Still gone: quietly, the warning was given when it died.
                self.reopen.next_try = Some(tokio::time::Instant::now() + REOPEN_EVERY);
                return None;
            }
        };
        log.success(format!("sound card back: {}", card.description()));
        let old = self.card.replace(Arc::new(card));
        self.reopen.next_try = None;
        self.reopen.reopened_at = Some(tokio::time::Instant::now());
        Some((old, self.card_holder))
    }
}
