//! What runs on cpal's audio threads, and the counters they share with the port.
//!
//! The data callbacks only move samples between the device buffer and an `rtrb` ring: no
//! locks, no allocation, no logging, no blocking. What they have to report goes into atomics
//! that the tokio side reads. The error callback is not on the real-time path (cpal calls it
//! between periods) and may format a message once, when the device fails.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use cpal::{FromSample, Sample};
use rtrb::{Consumer, Producer};

use super::quiet;
use super::DeviceStats;

/// State shared by the streams' callbacks, the port and the `SoundCard`.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// True while a port is attached; idle streams neither queue capture nor play stale audio.
    pub active: AtomicBool,
    /// Frames per callback as last seen, so the port can size its cushions to the device.
    pub input_period: AtomicUsize,
    pub output_period: AtomicUsize,
    /// The playback callback is playing (not waiting for its cushion): the port judges the
    /// speaker ring's level only then.
    pub output_primed: AtomicBool,
    pub input_overruns: AtomicU64,
    pub output_underruns: AtomicU64,
    pub xruns: AtomicU64,
    pub input_underruns: AtomicU64,
    pub input_trims: AtomicU64,
    pub output_trims: AtomicU64,
    pub captured_frames: AtomicU64,
    pub played_frames: AtomicU64,
    /// The first fatal stream error; set once, never cleared.
    failure: OnceLock<String>,
}

impl Shared {
    pub fn stats(&self) -> DeviceStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DeviceStats {
            captured_frames: get(&self.captured_frames),
            played_frames: get(&self.played_frames),
            input_overruns: get(&self.input_overruns),
            input_underruns: get(&self.input_underruns),
            output_underruns: get(&self.output_underruns),
            input_trims: get(&self.input_trims),
            output_trims: get(&self.output_trims),
            xruns: get(&self.xruns),
        }
    }

    /// Counters describe the current call: zeroed when a port attaches.
    pub fn reset_stats(&self) {
        for c in [
            &self.captured_frames,
            &self.played_frames,
            &self.input_overruns,
            &self.input_underruns,
            &self.output_underruns,
            &self.input_trims,
            &self.output_trims,
            &self.xruns,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    pub fn failure(&self) -> Option<String> {
        self.failure.get().cloned()
    }

    /// Called from a stream's error callback.
    pub fn report(&self, direction: &str, err: &cpal::Error) {
        use cpal::ErrorKind;
        match err.kind() {
            ErrorKind::Xrun => {
                self.xruns.fetch_add(1, Ordering::Relaxed);
            }
            // Not failures: the stream keeps running (rerouted, promotion refused, or a
            // transient busy that cpal retries).
            ErrorKind::RealtimeDenied | ErrorKind::DeviceChanged | ErrorKind::DeviceBusy => {}
            _ => {
                // A dead device can report in a loop; only the first message is kept, and
                // checking first avoids formatting one each time.
                if self.failure.get().is_none() {
                    let _ = self.failure.set(format!(
                        "the sound card's {direction} stopped working (unplugged, or its \
                             sound server went away): {err}"
                    ));
                }
            }
        }
    }
}

/// The capture callback's state: downmixes to mono and queues for the port.
pub(super) struct InputSide {
    producer: Producer<f32>,
    channels: usize,
    scale: f32,
    shared: Arc<Shared>,
    silenced: bool,
}

impl InputSide {
    pub fn new(producer: Producer<f32>, channels: u16, shared: Arc<Shared>) -> Self {
        let channels = usize::from(channels.max(1));
        Self {
            producer,
            channels,
            scale: 1.0 / channels as f32,
            shared,
            silenced: false,
        }
    }

    pub fn process<T>(&mut self, data: &[T])
    where
        T: Sample,
        f32: FromSample<T>,
    {
        if !self.silenced {
            quiet::silence_this_thread();
            self.silenced = true;
        }
        let frames = data.len() / self.channels;
        self.shared.input_period.store(frames, Ordering::Relaxed);
        if !self.shared.active.load(Ordering::Acquire) {
            return;
        }
        let room = self.producer.slots();
        let n = frames.min(room);
        if n < frames {
            // The port is not keeping up; the newest audio is what we lose.
            self.shared.input_overruns.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(chunk) = self.producer.write_chunk_uninit(n) {
            let scale = self.scale;
            chunk.fill_from_iter(
                data.chunks_exact(self.channels)
                    .map(|frame| frame.iter().map(|&s| f32::from_sample(s)).sum::<f32>() * scale),
            );
        }
    }
}

/// The playback callback's state: plays the port's mono queue on every channel.
pub(super) struct OutputSide {
    consumer: Consumer<f32>,
    channels: usize,
    /// Extra queued audio (beyond one callback's worth) required before playing starts, so
    /// that a callback period that does not divide 20 ms does not underrun every time.
    cushion: usize,
    primed: bool,
    shared: Arc<Shared>,
    silenced: bool,
}

impl OutputSide {
    pub fn new(
        consumer: Consumer<f32>,
        channels: u16,
        cushion: usize,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            consumer,
            channels: usize::from(channels.max(1)),
            cushion,
            primed: false,
            shared,
            silenced: false,
        }
    }

    pub fn process<T>(&mut self, data: &mut [T])
    where
        T: Sample + FromSample<f32>,
    {
        if !self.silenced {
            quiet::silence_this_thread();
            self.silenced = true;
        }
        let frames = data.len() / self.channels;
        self.shared.output_period.store(frames, Ordering::Relaxed);
        let available = self.consumer.slots();
        if !self.shared.active.load(Ordering::Acquire) {
            // Whatever a finished call left behind must not start the next one.
            if let Ok(stale) = self.consumer.read_chunk(available) {
                stale.commit_all();
            }
            self.set_primed(false);
            data.fill(T::EQUILIBRIUM);
            return;
        }
        if !self.primed {
            if available < frames + self.cushion {
                data.fill(T::EQUILIBRIUM);
                return;
            }
            self.set_primed(true);
        }
        let n = frames.min(available);
        let mut slots = data.chunks_exact_mut(self.channels);
        if let Ok(chunk) = self.consumer.read_chunk(n) {
            // The chunk goes first: `zip` would otherwise take (and skip) one more frame
            // from `slots` when the chunk runs out, leaving it unwritten.
            for (sample, frame) in chunk.into_iter().zip(&mut slots) {
                frame.fill(T::from_sample(sample));
            }
        }
        for frame in slots {
            frame.fill(T::EQUILIBRIUM);
        }
        if n < frames {
            // Ran dry: wait for a full cushion again rather than crackling on every period.
            self.shared.output_underruns.fetch_add(1, Ordering::Relaxed);
            self.set_primed(false);
        }
    }

    fn set_primed(&mut self, primed: bool) {
        self.primed = primed;
        self.shared.output_primed.store(primed, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use rtrb::RingBuffer;

    use super::*;

    fn active() -> Arc<Shared> {
        let shared = Arc::new(Shared::default());
        shared.active.store(true, Ordering::Relaxed);
        shared
    }

    #[test]
    fn capture_is_downmixed_to_mono() {
        let shared = active();
        let (producer, mut consumer) = RingBuffer::new(16);
        let mut side = InputSide::new(producer, 2, shared.clone());
        side.process(&[0.5f32, 0.25, -1.0, 1.0, 1.0, 1.0]);
        let got: Vec<f32> = std::iter::from_fn(|| consumer.pop().ok()).collect();
        assert_eq!(got, vec![0.375, 0.0, 1.0]);
        assert_eq!(shared.input_period.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn integer_capture_is_scaled_to_unit_range() {
        let shared = active();
        let (producer, mut consumer) = RingBuffer::new(4);
        let mut side = InputSide::new(producer, 1, shared);
        side.process(&[i16::MIN, 16_384i16]);
        assert_eq!(consumer.pop(), Ok(-1.0));
        assert_eq!(consumer.pop(), Ok(0.5));
    }

    #[test]
    fn full_capture_queue_drops_and_counts() {
        let shared = active();
        let (producer, consumer) = RingBuffer::new(4);
        let mut side = InputSide::new(producer, 1, shared.clone());
        side.process(&[0.1f32; 3]);
        side.process(&[0.2f32; 3]);
        assert_eq!(consumer.slots(), 4);
        assert_eq!(shared.input_overruns.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn idle_capture_queues_nothing() {
        let shared = Arc::new(Shared::default());
        let (producer, consumer) = RingBuffer::new(8);
        let mut side = InputSide::new(producer, 1, shared.clone());
        side.process(&[0.1f32; 4]);
        assert_eq!(consumer.slots(), 0);
        assert_eq!(shared.input_overruns.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn playback_waits_for_a_cushion_then_fills_every_channel() {
        let shared = active();
        let (mut producer, consumer) = RingBuffer::new(32);
        let mut side = OutputSide::new(consumer, 2, 2, shared.clone());
        producer.push_entire_slice(&[0.5, -0.5, 0.25]).unwrap();
        let mut out = [9.0f32; 4];
        // Two frames wanted plus a cushion of two: three queued is not enough yet.
        side.process(&mut out);
        assert_eq!(out, [0.0; 4]);
        producer.push(0.125).unwrap();
        side.process(&mut out);
        assert_eq!(out, [0.5, 0.5, -0.5, -0.5]);
        side.process(&mut out);
        assert_eq!(out, [0.25, 0.25, 0.125, 0.125]);
        assert_eq!(shared.output_underruns.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn playback_underrun_is_silence_and_counted() {
        let shared = active();
        let (mut producer, consumer) = RingBuffer::new(32);
        let mut side = OutputSide::new(consumer, 1, 0, shared.clone());
        producer.push_entire_slice(&[0.5; 4]).unwrap();
        let mut out = [1i16; 3];
        side.process(&mut out);
        assert!(out.iter().all(|&s| s == 16_384));
        side.process(&mut out);
        assert_eq!(out, [16_384, 0, 0]);
        assert_eq!(shared.output_underruns.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn idle_playback_discards_leftovers_and_plays_silence() {
        let shared = Arc::new(Shared::default());
        let (mut producer, consumer) = RingBuffer::new(32);
        let mut side = OutputSide::new(consumer, 1, 0, shared.clone());
        producer.push_entire_slice(&[0.5; 10]).unwrap();
        let mut out = [7u16; 4];
        side.process(&mut out);
        assert_eq!(out, [32_768; 4]);
        assert_eq!(producer.slots(), 32);
        assert_eq!(shared.output_underruns.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn only_the_first_failure_is_kept_and_xruns_are_counted() {
        let shared = Shared::default();
        shared.report("input", &cpal::Error::new(cpal::ErrorKind::Xrun));
        assert_eq!(shared.failure(), None);
        assert_eq!(shared.xruns.load(Ordering::Relaxed), 1);
        shared.report(
            "output",
            &cpal::Error::new(cpal::ErrorKind::DeviceNotAvailable),
        );
        shared.report("input", &cpal::Error::new(cpal::ErrorKind::BackendError));
        let failure = shared.failure().unwrap();
        assert!(
            failure.starts_with("the sound card's output stopped working"),
            "{failure}"
        );
    }
}
