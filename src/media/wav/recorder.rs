//! Crash-safe call recording: a stereo WAV (left = remote, right = local) written on its own
//! thread and kept valid on disk while it grows.
//!
//! The media task hands frames over through a lock-free ring, so recording never blocks or
//! allocates on the call path. The writer rewrites the RIFF and data sizes in the header twice
//! a second, so a process killed mid-call leaves a readable file of everything up to the last
//! rewrite instead of a header claiming zero bytes.

use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rtrb::{Consumer, Producer, RingBuffer};

use super::WavError;

/// Ring size: two seconds of stereo audio, enough to ride out a slow disk.
const RING_SECONDS: usize = 2;
/// How often the writer wakes to drain the ring (it is also woken at the end).
const POLL: Duration = Duration::from_millis(50);
/// Header rewrites every half second keep the promised "at least once a second" even when
/// the writer thread is scheduled late.
const HEADER_EVERY: Duration = Duration::from_millis(500);

/// What a finished recording holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingSummary {
    pub path: PathBuf,
    /// Stereo sample frames written (one per sample period, both channels).
    pub frames: u64,
    pub duration_ms: u64,
    /// Pushes refused because the writer had fallen behind by a whole ring.
    pub dropped: u64,
}

/// Starts recordings; see [`RecorderHandle`] for feeding and stopping one.
#[derive(Debug)]
pub struct Recorder;

impl Recorder {
    /// Creates `path` (its directory must exist) and starts the writer thread.
    pub fn start(path: &Path, sample_rate: u32) -> Result<RecorderHandle, WavError> {
        Self::start_with_ring(path, sample_rate, sample_rate as usize * 2 * RING_SECONDS)
    }

    fn start_with_ring(
        path: &Path,
        sample_rate: u32,
        ring_samples: usize,
    ) -> Result<RecorderHandle, WavError> {
        let create_error = |reason: String| WavError::Create {
            path: path.to_path_buf(),
            reason,
        };
        if sample_rate == 0 {
            return Err(create_error("a sample rate of 0 Hz".into()));
        }
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        // Created here, not on the thread, so a missing directory or a read-only disk is
        // reported to the caller at once.
        let writer =
            hound::WavWriter::create(path, spec).map_err(|e| create_error(e.to_string()))?;
        let (producer, consumer) = RingBuffer::new(ring_samples);
        let thread_path = path.to_path_buf();
        let thread = thread::Builder::new()
            .name("recorder".into())
            .spawn(move || write_until_abandoned(consumer, writer, &thread_path))
            .map_err(|e| create_error(format!("cannot start the writer thread: {e}")))?;
        Ok(RecorderHandle {
            producer: Some(producer),
            thread: Some(thread),
            path: path.to_path_buf(),
            sample_rate,
            dropped: 0,
        })
    }
}

/// The media task's end of a recording. Stop it with [`finish`](Self::finish) on every exit
/// path that can; dropping it also finalizes the file (errors are then lost), and a killed
/// process leaves a valid file up to the last header rewrite.
#[derive(Debug)]
pub struct RecorderHandle {
    /// Dropping the producer is the writer's signal to drain, finalize and exit.
    producer: Option<Producer<i16>>,
    thread: Option<JoinHandle<Result<u64, WavError>>>,
    path: PathBuf,
    sample_rate: u32,
    dropped: u64,
}

impl RecorderHandle {
    /// Queues one frame per side. Never blocks and never allocates: when the ring is full the
    /// frame is counted as dropped instead. A shorter side is padded with silence.
    pub fn push(&mut self, remote: &[i16], local: &[i16]) {
        let Some(producer) = self.producer.as_mut() else {
            return;
        };
        let frame = remote.len().max(local.len());
        if frame == 0 {
            return;
        }
        let Ok(chunk) = producer.write_chunk_uninit(frame * 2) else {
            self.dropped += 1;
            return;
        };
        let side = |pcm: &[i16], i: usize| pcm.get(i).copied().unwrap_or(0);
        chunk.fill_from_iter((0..frame).flat_map(|i| [side(remote, i), side(local, i)]));
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames refused so far because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Writes what is queued, finalizes the header and reports what the file holds. Blocks
    /// for the final write (milliseconds): call it from `spawn_blocking` on a busy runtime.
    pub fn finish(mut self) -> Result<RecordingSummary, WavError> {
        let frames = self.stop()?;
        Ok(RecordingSummary {
            path: self.path.clone(),
            frames,
            duration_ms: frames * 1000 / u64::from(self.sample_rate),
            dropped: self.dropped,
        })
    }

    fn stop(&mut self) -> Result<u64, WavError> {
        drop(self.producer.take());
        let thread = self.thread.take().ok_or_else(|| WavError::WriterGone {
            path: self.path.clone(),
        })?;
        thread.thread().unpark();
        thread.join().unwrap_or_else(|_| {
            Err(WavError::WriterGone {
                path: self.path.clone(),
            })
        })
    }
}

impl Drop for RecorderHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            if let Err(error) = self.stop() {
                tracing::warn!(%error, "recording not finalized cleanly");
            }
        }
    }
}

/// The writer thread: drain, write, refresh the header now and then; once the handle is gone,
/// write the rest and finalize. Returns the number of stereo frames written.
fn write_until_abandoned(
    mut ring: Consumer<i16>,
    mut writer: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
    path: &Path,
) -> Result<u64, WavError> {
    let write_error = |e: hound::Error| WavError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut last_header = Instant::now();
    loop {
        // Checked before draining: everything pushed before the handle went away is then
        // already in the ring and gets written below.
        let abandoned = ring.is_abandoned();
        if let Ok(chunk) = ring.read_chunk(ring.slots()) {
            let (first, second) = chunk.as_slices();
            for &sample in first.iter().chain(second) {
                writer.write_sample(sample).map_err(write_error)?;
            }
            chunk.commit_all();
        }
        if abandoned {
            let frames = u64::from(writer.duration());
            writer.finalize().map_err(write_error)?;
            return Ok(frames);
        }
        if last_header.elapsed() >= HEADER_EVERY {
            // hound's flush seeks to the header, rewrites both sizes, flushes, seeks back.
            writer.flush().map_err(write_error)?;
            last_header = Instant::now();
        }
        thread::park_timeout(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::super::TestDir;
    use super::*;

    fn frame(n: usize, value: impl Fn(usize) -> i16) -> Vec<i16> {
        (0..160).map(|i| value(n * 160 + i)).collect()
    }

    fn read_stereo(path: &Path) -> (hound::WavSpec, Vec<i16>) {
        let mut reader = hound::WavReader::open(path).unwrap();
        let samples = reader.samples::<i16>().map(Result::unwrap).collect();
        (reader.spec(), samples)
    }

    #[test]
    fn one_second_finishes_as_a_stereo_wav_with_remote_left_and_local_right() {
        let dir = TestDir::new("rec-finish");
        let path = dir.0.join("call.wav");
        let mut handle = Recorder::start(&path, 8000).unwrap();
        for n in 0..50 {
            handle.push(&frame(n, |i| i as i16), &frame(n, |i| -(i as i16)));
        }
        let summary = handle.finish().unwrap();
        assert_eq!(
            summary,
            RecordingSummary {
                path: path.clone(),
                frames: 8000,
                duration_ms: 1000,
                dropped: 0
            }
        );
        let (spec, samples) = read_stereo(&path);
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (2, 8000, 16)
        );
        assert_eq!(samples.len(), 16000);
        for (i, pair) in samples.chunks(2).enumerate() {
            assert_eq!(pair, [i as i16, -(i as i16)], "frame {i}");
        }
    }

    #[test]
    fn a_killed_process_leaves_a_readable_file() {
        let dir = TestDir::new("rec-crash");
        let path = dir.0.join("crash.wav");
        let mut handle = Recorder::start(&path, 8000).unwrap();
        for n in 0..75 {
            handle.push(&frame(n, |_| 1000), &frame(n, |_| -1000));
        }
        thread::sleep(Duration::from_millis(1500));
        // Read while the writer is still running, as after a crash: nothing is finalized.
        let (spec, samples) = read_stereo(&path);
        assert_eq!(spec.channels, 2);
        assert!(samples.len() >= 2 * 8000, "only {} samples", samples.len());
        assert!(samples.chunks(2).all(|pair| pair == [1000, -1000]));
        // Never finished and never dropped: the header must not depend on clean-up.
        std::mem::forget(handle);
    }

    #[test]
    fn dropping_the_handle_finalizes_the_file() {
        let dir = TestDir::new("rec-drop");
        let path = dir.0.join("dropped.wav");
        let mut handle = Recorder::start(&path, 16000).unwrap();
        for _ in 0..10 {
            handle.push(&[5; 320], &[6; 320]);
        }
        drop(handle);
        let (spec, samples) = read_stereo(&path);
        assert_eq!(spec.sample_rate, 16000);
        assert_eq!(samples.len(), 2 * 3200);
    }

    #[test]
    fn a_full_ring_drops_frames_instead_of_blocking() {
        let dir = TestDir::new("rec-full");
        let path = dir.0.join("full.wav");
        // Room for five frames; 200 pushed in a burst cannot all fit.
        let mut handle = Recorder::start_with_ring(&path, 8000, 5 * 320).unwrap();
        let started = Instant::now();
        for n in 0..200 {
            handle.push(&frame(n, |_| 1), &frame(n, |_| 2));
        }
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "push blocked"
        );
        assert!(handle.dropped() > 0);
        let summary = handle.finish().unwrap();
        assert_eq!(summary.frames / 160 + summary.dropped, 200);
    }

    #[test]
    fn unequal_sides_are_padded_with_silence() {
        let dir = TestDir::new("rec-pad");
        let path = dir.0.join("pad.wav");
        let mut handle = Recorder::start(&path, 8000).unwrap();
        handle.push(&[7; 3], &[8; 2]);
        handle.push(&[], &[]);
        assert_eq!(handle.finish().unwrap().frames, 3);
        assert_eq!(read_stereo(&path).1, [7, 8, 7, 8, 7, 0]);
    }

    #[test]
    fn an_unwritable_path_fails_at_start_naming_it() {
        let dir = TestDir::new("rec-bad");
        let path = dir.0.join("no-such-dir").join("call.wav");
        let err = Recorder::start(&path, 8000).unwrap_err();
        assert!(matches!(err, WavError::Create { .. }), "{err}");
        assert!(err.to_string().contains("no-such-dir"), "{err}");
        assert!(Recorder::start(&dir.0.join("zero.wav"), 0).is_err());
    }
}
