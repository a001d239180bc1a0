//! The media task's side of the bridge: an `AudioPort` over the shared output queue.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{BridgeEvent, BridgeEvents, BridgeStats};
use crate::bridge::audio::{Converter, OutputQueue};
use crate::media::audio::AudioPort;
use crate::media::meter::{Level, Meter};

/// State the session task and the port both touch.
pub(super) struct Shared {
    inner: Mutex<Inner>,
    /// Set between `session.updated` and the end of that session: caller audio is only worth
    /// sending to a configured session (the formats apply from then on).
    streaming: AtomicBool,
}

pub(super) struct Inner {
    pub queue: OutputQueue,
    /// When the caller last stopped talking, until the model's first frame of the reply goes out.
    pub turn_started: Option<Instant>,
    pub stats: BridgeStats,
    meter: Meter,
}

impl std::fmt::Debug for Shared {
    // The queue holds audio: a debug print shows only the figures.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("streaming", &self.is_streaming())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub fn new(queue: OutputQueue) -> Shared {
        Shared {
            inner: Mutex::new(Inner {
                queue,
                turn_started: None,
                stats: BridgeStats::default(),
                meter: Meter::default(),
            }),
            streaming: AtomicBool::new(false),
        }
    }

    /// Nothing panics while holding the lock, but a poisoned lock must not silence the call.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn stats(&self) -> BridgeStats {
        self.lock().stats.clone()
    }

    pub fn take_level(&self) -> Level {
        self.lock().meter.take()
    }

    pub fn is_streaming(&self) -> bool {
        self.streaming.load(Ordering::Relaxed)
    }

    pub fn set_streaming(&self, on: bool) {
        self.streaming.store(on, Ordering::Relaxed);
        if !on {
            // The session's conversation is gone with it: its unplayed audio and its ids too.
            let mut inner = self.lock();
            inner.queue = OutputQueue::new(inner.queue.format());
            inner.turn_started = None;
        }
    }
}

/// The bridge as an `AudioPort`: `sink` hands the caller's audio to the session, `source`
/// gives the model's next 20 ms frame, or silence when there is none.
pub struct BridgePort {
    shared: Arc<Shared>,
    converter: Converter,
    caller_tx: mpsc::Sender<Vec<u8>>,
    events: BridgeEvents,
    pcm: Vec<i16>,
}

impl std::fmt::Debug for BridgePort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgePort")
            .field("converter", &self.converter)
            .finish_non_exhaustive()
    }
}

impl BridgePort {
    pub(super) fn new(
        shared: Arc<Shared>,
        converter: Converter,
        caller_tx: mpsc::Sender<Vec<u8>>,
        events: BridgeEvents,
    ) -> BridgePort {
        BridgePort {
            shared,
            converter,
            caller_tx,
            events,
            pcm: Vec::with_capacity(960),
        }
    }
}

impl AudioPort for BridgePort {
    fn sink(&mut self, remote_pcm: &[i16]) {
        if !self.shared.is_streaming() {
            return;
        }
        let mut wire = Vec::with_capacity(self.converter.wire().frame_bytes());
        self.converter.to_wire(remote_pcm, &mut wire);
        if wire.is_empty() {
            return;
        }
        // Never wait here: this runs on the media task's 20 ms clock.
        if let Err(mpsc::error::TrySendError::Full(_)) = self.caller_tx.try_send(wire) {
            self.shared.lock().stats.caller_frames_dropped += 1;
        }
    }

    fn source(&mut self, out: &mut [i16]) {
        let mut latency = None;
        let frame = {
            let mut inner = self.shared.lock();
            let frame = inner.queue.take_frame();
            if frame.is_some() {
                inner.stats.ai_frames_sent += 1;
                if let Some(started) = inner.turn_started.take() {
                    let ms = duration_ms(started.elapsed());
                    inner.stats.turns += 1;
                    inner.stats.last_latency_ms = Some(ms);
                    inner.stats.total_latency_ms += u64::from(ms);
                    latency = Some(ms);
                }
            } else if inner.queue.expecting_more() {
                inner.stats.underrun_frames += 1;
            }
            frame
        };
        self.pcm.clear();
        if let Some(frame) = frame {
            self.converter.from_wire(&frame.bytes, &mut self.pcm);
        }
        let n = self.pcm.len().min(out.len());
        out[..n].copy_from_slice(&self.pcm[..n]);
        out[n..].fill(0);
        self.shared.lock().meter.push(out);
        if let Some(latency_ms) = latency {
            self.events.send(BridgeEvent::Turn { latency_ms });
        }
    }
}

fn duration_ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}
