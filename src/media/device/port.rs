//! The `AudioPort` a call gets from the sound card: converts between the codec rate and the
//! device rates and keeps the delay through each ring bounded.
//!
//! The sound card's clock and the remote's RTP clock never agree exactly, and a late tick on a
//! busy machine leaves audio behind in a ring for good, so each ring slowly fills. Rather than
//! let that become delay that never goes away, each direction watches the lowest level its
//! ring had at the ticks of the last second (`Lowest`): audio that stayed queued all that time
//! was not needed to ride out anything, and goes in one piece (one short skip now and then
//! instead of growing latency or a click on every frame). A ring holding more than about
//! 100 ms loses the excess at once.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use rtrb::{Consumer, Producer};

use super::callback::Shared;
use super::resample::LinearResampler;
use crate::media::audio::{AudioPort, FRAME_MS};
use crate::media::resample::Resampler;

/// Above this much queued audio the excess is dropped.
pub(super) const MAX_DELAY_MS: u32 = 100;
/// Microphone audio kept queued on top of one device period before the port starts reading,
/// and what a trim leaves behind: one frame, which each tick takes, plus a few ms for the
/// ticks' scheduling jitter.
pub(super) const CAPTURE_CUSHION_MS: u32 = FRAME_MS + 5;
/// What the speaker ring keeps at its lowest (just before a tick's frame lands) on top of one
/// device period, for the ticks' scheduling jitter; more than that for a second is dropped.
/// The playback callback waits for a frame more than this before it starts (see `stream`),
/// since the ring is at its lowest a frame after it is full.
pub(super) const PLAYBACK_CUSHION_MS: u32 = 5;
/// Ticks over which a ring's lowest level is watched (one second).
const WATCH_TICKS: u32 = 50;
/// Excess below this is left alone: not worth a skip.
const TRIM_AT_LEAST_MS: u32 = 3;
/// Ring capacity: far above `MAX_DELAY_MS`, so the trim (not a full ring) bounds the delay.
pub(super) const RING_MS: u32 = 500;

pub(super) fn ms_to_samples(rate: u32, ms: u32) -> usize {
    (u64::from(rate) * u64::from(ms) / 1000) as usize
}

/// The one place that picks a resampler: the shared rubato one, or plain linear interpolation
/// should it refuse the rate pair (it accepts 1 Hz to 768 kHz, so only a device with an absurd
/// rate gets here), because a call is better served rough than silent.
enum Converter {
    Shared(Resampler),
    Linear(LinearResampler),
}

impl Converter {
    fn new(from_hz: u32, to_hz: u32) -> Self {
        match Resampler::new(from_hz, to_hz) {
            Ok(r) => Converter::Shared(r),
            Err(_) => Converter::Linear(LinearResampler::new(from_hz, to_hz)),
        }
    }

    /// Appends the converted samples to `out`.
    fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        match self {
            Converter::Shared(r) => r.process(input, out),
            Converter::Linear(r) => r.process(input, out),
        }
    }
}

/// The port-side ends of the two rings, plus each direction's device rate. A card holds them
/// while no call is attached; a port owns them for the length of its call.
pub(super) struct PortEnds {
    pub input: Option<(Consumer<f32>, u32)>,
    pub output: Option<(Producer<f32>, u32)>,
}

pub(super) type Dock = Arc<Mutex<Option<PortEnds>>>;

pub(super) struct DevicePort {
    dock: Dock,
    ends: Option<PortEnds>,
    shared: Arc<Shared>,
    codec_rate: u32,
    to_device: Converter,
    from_device: Converter,
    /// Scratch buffers, reused so a call allocates only while they grow.
    scratch: Vec<f32>,
    converted: Vec<f32>,
    /// Codec-rate microphone audio converted but not yet sent.
    pending: VecDeque<f32>,
    input_primed: bool,
    capture_lowest: Lowest,
    playback_lowest: Lowest,
}

/// The lowest level a ring had at the ticks of one watch window: what stayed queued the
/// whole time and so was not needed to ride out anything.
#[derive(Debug)]
struct Lowest {
    level: usize,
    ticks: u32,
}

impl Lowest {
    const fn new() -> Self {
        Self {
            level: usize::MAX,
            ticks: 0,
        }
    }

    /// Notes the level at this tick. At the end of a window, returns how far the lowest
    /// level stayed above `keep` (when at least `least`; 0 otherwise) and starts another.
    fn excess(&mut self, level: usize, keep: usize, least: usize) -> usize {
        self.level = self.level.min(level);
        self.ticks += 1;
        if self.ticks < WATCH_TICKS {
            return 0;
        }
        let excess = self.level.saturating_sub(keep);
        *self = Self::new();
        if excess >= least.max(1) {
            excess
        } else {
            0
        }
    }
}

impl DevicePort {
    /// Takes the ends out of the dock; `None` if another port holds them.
    pub(super) fn attach(dock: &Dock, shared: &Arc<Shared>, codec_rate: u32) -> Option<Self> {
        if codec_rate == 0 {
            return None;
        }
        let mut ends = dock.lock().unwrap_or_else(PoisonError::into_inner).take()?;
        // Capture queued between calls (or before this one) is stale.
        if let Some((consumer, _)) = ends.input.as_mut() {
            if let Ok(stale) = consumer.read_chunk(consumer.slots()) {
                stale.commit_all();
            }
        }
        let input_rate = ends.input.as_ref().map_or(codec_rate, |(_, r)| *r);
        let output_rate = ends.output.as_ref().map_or(codec_rate, |(_, r)| *r);
        shared.reset_stats();
        shared.active.store(true, Ordering::Release);
        Some(Self {
            dock: dock.clone(),
            ends: Some(ends),
            shared: shared.clone(),
            codec_rate,
            to_device: Converter::new(codec_rate, output_rate),
            from_device: Converter::new(input_rate, codec_rate),
            scratch: Vec::new(),
            converted: Vec::new(),
            pending: VecDeque::new(),
            input_primed: false,
            capture_lowest: Lowest::new(),
            playback_lowest: Lowest::new(),
        })
    }
}

/// A device period as last seen, or one frame before the first callback.
fn period_or_frame(rate: u32, period: usize) -> usize {
    if period == 0 {
        ms_to_samples(rate, FRAME_MS)
    } else {
        period
    }
}

/// How much microphone audio to keep queued before reading, and the most allowed, for a
/// device period.
fn cushion_and_limit(rate: u32, period: usize) -> (usize, usize) {
    let period = period_or_frame(rate, period);
    let cushion = period + ms_to_samples(rate, CAPTURE_CUSHION_MS);
    // A device with a very long period needs room for a whole period plus two frames.
    let limit = ms_to_samples(rate, MAX_DELAY_MS).max(cushion + ms_to_samples(rate, 2 * FRAME_MS));
    (cushion, limit)
}

fn to_f32(sample: i16) -> f32 {
    f32::from(sample) / 32_768.0
}

fn to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * 32_767.0).round() as i16
}

impl AudioPort for DevicePort {
    fn sink(&mut self, remote_pcm: &[i16]) {
        let Some((producer, rate)) = self.ends.as_mut().and_then(|e| e.output.as_mut()) else {
            return;
        };
        self.scratch.clear();
        self.scratch.extend(remote_pcm.iter().map(|&s| to_f32(s)));
        self.converted.clear();
        self.to_device.process(&self.scratch, &mut self.converted);

        let period = self.shared.output_period.load(Ordering::Relaxed);
        let (_, limit) = cushion_and_limit(*rate, period);
        let queued = producer.buffer().capacity() - producer.slots();
        if queued + self.converted.len() > limit {
            // Only the playback callback may pop, so the excess is this packet: dropping it
            // whole leaves the queue a frame short of the limit, good for a long while.
            self.shared.output_trims.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Just before a frame lands the ring is at its lowest; one period and a few ms is
        // all the callback needs then. More than that for a whole second is delay: the
        // start of this packet goes (at most the packet, so never more than 20 ms at once).
        let keep = period_or_frame(*rate, period) + ms_to_samples(*rate, PLAYBACK_CUSHION_MS);
        let least = ms_to_samples(*rate, TRIM_AT_LEAST_MS);
        let mut skip = 0;
        if self.shared.output_primed.load(Ordering::Relaxed) {
            skip = self.playback_lowest.excess(queued, keep, least);
        } else {
            self.playback_lowest = Lowest::new();
        }
        let skip = skip.min(self.converted.len());
        if skip > 0 {
            self.shared.output_trims.fetch_add(1, Ordering::Relaxed);
            if skip == self.converted.len() {
                return;
            }
        }
        let (_, left_over) = producer.push_partial_slice(&self.converted[skip..]);
        // Only a device period near the ring's size could make the limit exceed it.
        let counter = if left_over.is_empty() {
            &self.shared.played_frames
        } else {
            &self.shared.output_trims
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn source(&mut self, out: &mut [i16]) {
        let Some((consumer, rate)) = self.ends.as_mut().and_then(|e| e.input.as_mut()) else {
            out.fill(0);
            return;
        };
        let period = self.shared.input_period.load(Ordering::Relaxed);
        let (cushion, limit) = cushion_and_limit(*rate, period);
        let queued = consumer.slots();
        if queued > limit {
            // We are the consumer here, so the oldest audio goes, down to the cushion.
            if let Ok(old) = consumer.read_chunk(queued - cushion) {
                old.commit_all();
            }
            self.shared.input_trims.fetch_add(1, Ordering::Relaxed);
        }
        if !self.input_primed {
            if consumer.slots() < cushion {
                out.fill(0);
                return;
            }
            self.input_primed = true;
            self.capture_lowest = Lowest::new();
        }
        // Audio that stayed queued beyond the cushion for a whole second is delay: the
        // oldest of it goes.
        let least = ms_to_samples(*rate, TRIM_AT_LEAST_MS);
        let excess = self.capture_lowest.excess(consumer.slots(), cushion, least);
        if excess > 0 {
            if let Ok(old) = consumer.read_chunk(excess) {
                old.commit_all();
            }
            self.shared.input_trims.fetch_add(1, Ordering::Relaxed);
        }
        while self.pending.len() < out.len() {
            let deficit = (out.len() - self.pending.len()) as u64;
            let wanted = (deficit * u64::from(*rate)).div_ceil(u64::from(self.codec_rate));
            let take = (wanted.max(1) as usize).min(consumer.slots());
            if take == 0 {
                // Ran dry mid-frame: send what we have and build the cushion up again.
                self.shared.input_underruns.fetch_add(1, Ordering::Relaxed);
                self.input_primed = false;
                break;
            }
            self.scratch.resize(take, 0.0);
            let (popped, _) = consumer.pop_partial_slice(&mut self.scratch);
            let popped = popped.len();
            self.converted.clear();
            self.from_device
                .process(&self.scratch[..popped], &mut self.converted);
            self.pending.extend(&self.converted);
        }
        let n = self.pending.len().min(out.len());
        for (slot, sample) in out.iter_mut().zip(self.pending.drain(..n)) {
            *slot = to_i16(sample);
        }
        out[n..].fill(0);
        if n == out.len() {
            self.shared.captured_frames.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for DevicePort {
    fn drop(&mut self) {
        self.shared.active.store(false, Ordering::Release);
        *self.dock.lock().unwrap_or_else(PoisonError::into_inner) = self.ends.take();
    }
}

#[cfg(test)]
mod tests {
    use rtrb::RingBuffer;

    use super::*;

    struct Rig {
        dock: Dock,
        shared: Arc<Shared>,
        /// The device's ends: we play the sound card's part.
        mic: Producer<f32>,
        speaker: Consumer<f32>,
    }

    impl Rig {
        /// Queues `n` samples of silence for the speaker, as earlier frames would have.
        fn speaker_fill(&mut self, n: usize) {
            let dock = self.dock.lock().unwrap().take();
            let mut ends = dock.expect("fill before attaching");
            let (producer, _) = ends.output.as_mut().unwrap();
            producer.push_entire_slice(&vec![0.0; n]).unwrap();
            *self.dock.lock().unwrap() = Some(ends);
        }
    }

    fn rig(rate: u32) -> Rig {
        let (mic, input) = RingBuffer::new(ms_to_samples(rate, RING_MS));
        let (output, speaker) = RingBuffer::new(ms_to_samples(rate, RING_MS));
        let ends = PortEnds {
            input: Some((input, rate)),
            output: Some((output, rate)),
        };
        Rig {
            dock: Arc::new(Mutex::new(Some(ends))),
            shared: Arc::new(Shared::default()),
            mic,
            speaker,
        }
    }

    #[test]
    fn a_second_attach_waits_for_the_first_port_to_go() {
        let r = rig(48_000);
        let first = DevicePort::attach(&r.dock, &r.shared, 8_000).unwrap();
        assert!(r.shared.active.load(Ordering::Relaxed));
        assert!(DevicePort::attach(&r.dock, &r.shared, 8_000).is_none());
        drop(first);
        assert!(!r.shared.active.load(Ordering::Relaxed));
        assert!(DevicePort::attach(&r.dock, &r.shared, 8_000).is_some());
    }

    #[test]
    fn source_is_silent_until_the_cushion_is_there_then_exact_frames() {
        let mut r = rig(8_000);
        let mut port = DevicePort::attach(&r.dock, &r.shared, 8_000).unwrap();
        let mut out = [1i16; 160];
        r.mic.push_entire_slice(&[0.5; 160]).unwrap();
        port.source(&mut out);
        assert!(
            out.iter().all(|&s| s == 0),
            "20 ms is below the 45 ms cushion (a period, a frame and 5 ms)"
        );
        r.mic.push_entire_slice(&[0.5; 200]).unwrap();
        port.source(&mut out);
        assert!(out.iter().all(|&s| s == 16_384), "{:?}", &out[..4]);
        assert_eq!(r.mic.slots() + 200, r.mic.buffer().capacity());
        assert_eq!(r.shared.stats().captured_frames, 1);
    }

    #[test]
    fn source_takes_one_frame_of_device_audio_per_codec_frame() {
        let mut r = rig(48_000);
        let mut port = DevicePort::attach(&r.dock, &r.shared, 8_000).unwrap();
        let tone: Vec<f32> = (0..4_800).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
        r.mic.push_entire_slice(&tone).unwrap();
        let mut out = [0i16; 160];
        for frame in 1..=3 {
            port.source(&mut out);
            let taken = r.mic.buffer().capacity() - r.mic.slots();
            assert_eq!(
                4_800 - taken,
                960 * frame,
                "48 kHz samples used by frame {frame}"
            );
        }
        assert!(
            out.iter().any(|&s| s.abs() > 4_000),
            "the tone comes through"
        );
        assert_eq!(r.shared.stats().captured_frames, 3);
    }

    #[test]
    fn stale_capture_is_discarded_on_attach() {
        let mut r = rig(8_000);
        r.mic.push_entire_slice(&[0.9; 400]).unwrap();
        let mut port = DevicePort::attach(&r.dock, &r.shared, 8_000).unwrap();
        r.mic.push_entire_slice(&[0.25; 360]).unwrap();
        let mut out = [0i16; 160];
        port.source(&mut out);
        assert!(out.iter().all(|&s| s == 8_192));
    }

    #[test]
    fn capture_beyond_100_ms_is_trimmed_to_the_cushion() {
        let mut r = rig(8_000);
        let mut port = DevicePort::attach(&r.dock, &r.shared, 8_000).unwrap();
        // 250 ms queued: old audio (0.1) then the most recent 45 ms (0.75).
        r.mic.push_entire_slice(&[0.1; 1640]).unwrap();
        r.mic.push_entire_slice(&[0.75; 360]).unwrap();
        let mut out = [0i16; 160];
        port.source(&mut out);
        assert!(out.iter().all(|&s| s == 24_575), "{:?}", &out[..4]);
        assert_eq!(r.shared.stats().input_trims, 1);
        // 25 ms left and nothing arriving: one more full frame, then 5 ms and an underrun.
        port.source(&mut out);
        port.source(&mut out);
        assert_eq!(r.shared.stats().input_underruns, 1);
        assert!(out[..40].iter().all(|&s| s == 24_575));
        assert!(out[40..].iter().all(|&s| s == 0));
    }

    #[test]
    fn capture_queued_beyond_the_cushion_for_a_whole_second_is_dropped() {
        let mut r = rig(8_000);
        // 5 ms device periods: the cushion is 5 + 25 ms, 240 samples.
        r.shared.input_period.store(40, Ordering::Relaxed);
        let mut port = DevicePort::attach(&r.dock, &r.shared, 8_000).unwrap();
        // A late start left 75 ms queued; from then on the card delivers a frame a tick.
        r.mic.push_entire_slice(&[0.5; 600]).unwrap();
        let mut out = [0i16; 160];
        let mut levels = Vec::new();
        for _ in 0..60 {
            levels.push(r.mic.buffer().capacity() - r.mic.slots());
            port.source(&mut out);
            r.mic.push_entire_slice(&[0.5; 160]).unwrap();
        }
        assert!(levels[..50].iter().all(|&l| l == 600), "{levels:?}");
        // After a second at 75 ms, back to the 30 ms cushion, in one skip.
        assert!(levels[50..].iter().all(|&l| l == 240), "{levels:?}");
        let stats = r.shared.stats();
        assert_eq!((stats.input_trims, stats.input_underruns), (1, 0));
        assert_eq!(stats.captured_frames, 60);
    }

    #[test]
    fn capture_within_the_cushion_is_left_alone() {
        let mut r = rig(8_000);
        r.shared.input_period.store(40, Ordering::Relaxed);
        let mut port = DevicePort::attach(&r.dock, &r.shared, 8_000).unwrap();
        r.mic.push_entire_slice(&[0.5; 250]).unwrap();
        let mut out = [0i16; 160];
        for _ in 0..200 {
            port.source(&mut out);
            r.mic.push_entire_slice(&[0.5; 160]).unwrap();
        }
        assert_eq!(r.shared.stats().input_trims, 0);
        assert_eq!(r.mic.buffer().capacity() - r.mic.slots(), 250);
    }

    /// Ticks of a call's speaker path: the port's frame lands, then the card plays a frame.
    fn play_ticks(r: &mut Rig, port: &mut DevicePort, ticks: usize) -> Vec<usize> {
        let mut levels = Vec::new();
        for _ in 0..ticks {
            levels.push(r.speaker.slots());
            port.sink(&[8_192; 160]);
            let played: Vec<f32> = (0..160).filter_map(|_| r.speaker.pop().ok()).collect();
            assert_eq!(played.len(), 160, "no underrun");
        }
        levels
    }

    #[test]
    fn speaker_audio_queued_beyond_the_cushion_for_a_whole_second_is_dropped() {
        let mut r = rig(8_000);
        r.shared.output_period.store(40, Ordering::Relaxed);
        r.shared.output_primed.store(true, Ordering::Relaxed);
        // 50 ms already queued when each frame lands; a period and 5 ms (80) is enough.
        r.speaker_fill(400);
        let mut port = DevicePort::attach(&r.dock, &r.shared, 8_000).unwrap();
        let levels = play_ticks(&mut r, &mut port, 60);
        assert!(levels[..50].iter().all(|&l| l == 400), "{levels:?}");
        // At most one packet's worth goes per second: 160 now, then 160 a second later.
        assert!(levels[51..].iter().all(|&l| l == 240), "{levels:?}");
        let levels = play_ticks(&mut r, &mut port, 50);
        assert_eq!(levels.last(), Some(&80), "{levels:?}");
        assert_eq!(r.shared.stats().output_trims, 2);
        // And no further: 80 is the cushion.
        play_ticks(&mut r, &mut port, 200);
        assert_eq!(r.shared.stats().output_trims, 2);
    }

    #[test]
    fn speaker_audio_is_not_judged_while_the_callback_waits_for_its_cushion() {
        let mut r = rig(8_000);
        r.shared.output_period.store(40, Ordering::Relaxed);
        r.speaker_fill(400);
        let mut port = DevicePort::attach(&r.dock, &r.shared, 8_000).unwrap();
        play_ticks(&mut r, &mut port, 120);
        assert_eq!(r.shared.stats().output_trims, 0);
    }

    #[test]
    fn sink_converts_to_the_device_rate() {
        let mut r = rig(48_000);
        let mut port = DevicePort::attach(&r.dock, &r.shared, 8_000).unwrap();
        for _ in 0..4 {
            port.sink(&[8_192; 160]);
        }
        assert_eq!(r.speaker.slots(), 4 * 960);
        let got: Vec<f32> = std::iter::from_fn(|| r.speaker.pop().ok()).collect();
        // Past the converter's start-up, a constant 0.25 stays 0.25.
        let settled = &got[2 * 960..];
        let mean = settled.iter().sum::<f32>() / settled.len() as f32;
        assert!((mean - 0.25).abs() < 0.01, "{mean}");
        assert_eq!(r.shared.stats().played_frames, 4);
    }

    #[test]
    fn playback_queue_never_holds_more_than_about_100_ms() {
        let r = rig(8_000);
        let mut port = DevicePort::attach(&r.dock, &r.shared, 8_000).unwrap();
        for _ in 0..10 {
            port.sink(&[100; 160]);
        }
        // Five frames fit under 100 ms; the other five were dropped whole.
        assert_eq!(r.speaker.slots(), 800);
        let stats = r.shared.stats();
        assert_eq!((stats.played_frames, stats.output_trims), (5, 5));
    }

    #[test]
    fn missing_directions_give_silence_and_swallow_audio() {
        let ends = PortEnds {
            input: None,
            output: None,
        };
        let dock: Dock = Arc::new(Mutex::new(Some(ends)));
        let shared = Arc::new(Shared::default());
        let mut port = DevicePort::attach(&dock, &shared, 48_000).unwrap();
        port.sink(&[5; 960]);
        let mut out = [3i16; 960];
        port.source(&mut out);
        assert!(out.iter().all(|&s| s == 0));
    }

    #[test]
    fn a_rate_pair_the_shared_resampler_refuses_still_converts() {
        let mut c = Converter::new(1_000_000, 8_000);
        assert!(matches!(c, Converter::Linear(_)));
        let mut out = Vec::new();
        c.process(&[0.5; 20_000], &mut out);
        assert_eq!(out.len(), 160);
        assert!(matches!(
            Converter::new(8_000, 48_000),
            Converter::Shared(_)
        ));
    }

    #[test]
    fn zero_codec_rate_is_refused() {
        let r = rig(8_000);
        assert!(DevicePort::attach(&r.dock, &r.shared, 0).is_none());
        assert!(DevicePort::attach(&r.dock, &r.shared, 8_000).is_some());
    }
}
