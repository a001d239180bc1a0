//! The media task's side of the bridge: an `AudioPort` that forwards the caller's packets as
//! they arrive and plays the model's audio from the shared output queue.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{BridgeEvent, BridgeEvents, BridgeStats};
use crate::bridge::audio::{Converter, OutputQueue, WireFormat};
use crate::bridge::reorder::Reorder;
use crate::media::audio::{Arrival, AudioPort};
use crate::media::meter::{Level, Meter};
use crate::media::transcode::Decoder;
use crate::vocab::Codec;

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
    /// GPT-Live only: whether the model's latest audio was audible. Its stream never ends
    /// (silence included), so this, not the queue, tells whether the model has finished.
    pub live_audible: Option<bool>,
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
                live_audible: None,
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
            inner.queue = inner.queue.fresh();
            inner.turn_started = None;
        }
    }
}

/// Caller audio silent this long (no packet at all: silence suppression, a stalled path) is
/// filled with silence on the playout clock, so the server's VAD still hears the caller stop.
/// Well above the reorder hold and ordinary jitter, so a live stream is never padded.
const IDLE_FILL: Duration = Duration::from_millis(100);

/// The bridge as an `AudioPort`: the caller's packets go to the session as they arrive
/// (`arrived`, put in order by [`Reorder`]); `source` gives the model's next 20 ms frame, or
/// silence when there is none.
///
/// `sink` (playout, every 20 ms) forwards the played-out audio only until the first packet has
/// arrived, for a media path that does not call `arrived`; after that it is the clock that
/// ends a reorder hold and fills a caller's silence.
pub struct BridgePort {
    shared: Arc<Shared>,
    uplink: Uplink,
    reorder: Reorder,
    /// The codec and time of the last packet that arrived; `None` before the first.
    last_arrival: Option<(Codec, Instant)>,
    events: BridgeEvents,
    pcm: Vec<i16>,
}

/// The caller's audio on its way to the session task, in wire format.
struct Uplink {
    shared: Arc<Shared>,
    converter: Converter,
    caller_tx: mpsc::Sender<Vec<u8>>,
    /// For payloads that do not pass through (Opus calls, or a G.711 law changed by a
    /// re-INVITE after the session was configured); made on the first such packet.
    decoder: Option<(Codec, Decoder)>,
    pcm: Vec<i16>,
}

impl std::fmt::Debug for BridgePort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgePort")
            .field("converter", &self.uplink.converter)
            .field("reorder", &self.reorder)
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
            uplink: Uplink {
                shared: Arc::clone(&shared),
                converter,
                caller_tx,
                decoder: None,
                pcm: Vec::with_capacity(960),
            },
            shared,
            reorder: Reorder::default(),
            last_arrival: None,
            events,
            pcm: Vec::with_capacity(960),
        }
    }

    /// Counts the packets the reorder passed over since it last looked.
    fn note_skipped(&self, before: u64) {
        let skipped = self.reorder.skipped();
        if skipped != before {
            self.shared.lock().stats.caller_frames_skipped += skipped - before;
        }
    }
}

impl Uplink {
    /// One payload of the call's codec, in order: as it is when the session takes that codec.
    fn payload(&mut self, codec: Codec, payload: &[u8]) {
        if !self.shared.is_streaming() {
            return;
        }
        let passes_through = matches!(
            (codec, self.converter.wire()),
            (Codec::Pcmu, WireFormat::Pcmu) | (Codec::Pcma, WireFormat::Pcma)
        );
        if passes_through {
            self.send(payload.to_vec());
            return;
        }
        let decoder = match &mut self.decoder {
            Some((made_for, decoder)) if *made_for == codec => decoder,
            slot => match Decoder::new(codec) {
                Ok(decoder) => &mut slot.insert((codec, decoder)).1,
                Err(e) => {
                    tracing::debug!(error = %e, "caller audio not forwarded");
                    return;
                }
            },
        };
        if decoder.decode(payload, &mut self.pcm) {
            let mut wire = Vec::with_capacity(self.converter.wire().frame_bytes());
            self.converter.to_wire(&self.pcm, &mut wire);
            self.send(wire);
        }
    }

    /// Played-out PCM at the codec's rate.
    fn pcm(&mut self, pcm: &[i16]) {
        if !self.shared.is_streaming() {
            return;
        }
        let mut wire = Vec::with_capacity(self.converter.wire().frame_bytes());
        self.converter.to_wire(pcm, &mut wire);
        self.send(wire);
    }

    /// 20 ms of silence, straight in wire format.
    fn silence(&mut self) {
        if !self.shared.is_streaming() {
            return;
        }
        let wire = self.converter.wire();
        self.send(vec![wire.silence_byte(); wire.frame_bytes()]);
    }

    fn send(&mut self, wire: Vec<u8>) {
        if wire.is_empty() {
            return;
        }
        // Never wait here: this runs on the media task.
        if let Err(mpsc::error::TrySendError::Full(_)) = self.caller_tx.try_send(wire) {
            self.shared.lock().stats.caller_frames_dropped += 1;
        }
    }
}

impl AudioPort for BridgePort {
    fn arrived(&mut self, packet: &Arrival<'_>) {
        self.last_arrival = Some((packet.codec, packet.at));
        let before = self.reorder.skipped();
        let uplink = &mut self.uplink;
        let codec = packet.codec;
        self.reorder.push(
            packet.ssrc,
            packet.seq,
            packet.payload,
            packet.at,
            &mut |payload| uplink.payload(codec, payload),
        );
        self.note_skipped(before);
    }

    fn sink(&mut self, remote_pcm: &[i16]) {
        let Some((codec, last)) = self.last_arrival else {
            self.uplink.pcm(remote_pcm);
            return;
        };
        let now = Instant::now();
        let before = self.reorder.skipped();
        let uplink = &mut self.uplink;
        self.reorder
            .expire(now, &mut |payload| uplink.payload(codec, payload));
        self.note_skipped(before);
        if now.saturating_duration_since(last) >= IDLE_FILL {
            self.uplink.silence();
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
            self.uplink.converter.from_wire(&frame.bytes, &mut self.pcm);
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
