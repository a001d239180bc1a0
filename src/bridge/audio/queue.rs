//! The model-audio FIFO: deltas of any size in, exact 20 ms frames out, with per-item counts
//! of what was received and what was taken for sending (the played position).

use std::collections::VecDeque;
use std::sync::Arc;

use super::{truncation, WireFormat};
use crate::media::audio::FRAME_MS;

/// How many items and cancelled ids are remembered. A reply has a few items; anything older
/// than this is long finished and its late deltas long gone.
const MEMORY: usize = 32;

/// One 20 ms frame of model audio in the wire format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub bytes: Vec<u8>,
    pub response_id: Arc<str>,
    pub item_id: Arc<str>,
}

/// What a barge-in dropped, and where the interrupted item should be cut.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cleared {
    /// The assistant item the caller was hearing, when it had not finished playing.
    pub item_id: Option<String>,
    /// Milliseconds of that item taken for sending.
    pub played_ms: u32,
    /// Milliseconds of that item received from the server.
    pub received_ms: u32,
    /// Queued audio thrown away, all items together.
    pub dropped_ms: u32,
}

impl Cleared {
    /// True when model audio was playing or waiting: the caller really talked over the model.
    pub fn interrupted(&self) -> bool {
        self.item_id.is_some() || self.dropped_ms > 0
    }

    /// The `audio_end_ms` for `conversation.item.truncate`, when a truncation is due.
    pub fn truncate_at(&self) -> Option<(&str, u32)> {
        let item = self.item_id.as_deref()?;
        truncation(self.played_ms, self.received_ms).map(|ms| (item, ms))
    }
}

#[derive(Debug)]
struct Tally {
    response_id: Arc<str>,
    item_id: Arc<str>,
    received_bytes: usize,
    taken_frames: u32,
    /// `response.output_audio.done` seen: no more audio will come for this item.
    done: bool,
}

#[derive(Debug)]
pub struct OutputQueue {
    format: WireFormat,
    frames: VecDeque<Frame>,
    /// Bytes short of a whole frame, and the tally (index into `tallies`) they belong to.
    partial: Vec<u8>,
    partial_tally: Option<usize>,
    tallies: Vec<Tally>,
    /// The item of the frame taken last: what the caller is hearing now.
    playing: Option<Arc<str>>,
    cancelled: VecDeque<Arc<str>>,
    /// Audio to gather before playing starts, and again after the queue ran dry: a jitter
    /// buffer for a stream that arrives at real-time pace (GPT-Live). 0: play at once.
    prebuffer_ms: u32,
    primed: bool,
}

impl OutputQueue {
    pub fn new(format: WireFormat) -> OutputQueue {
        OutputQueue {
            format,
            frames: VecDeque::new(),
            partial: Vec::with_capacity(format.frame_bytes()),
            partial_tally: None,
            tallies: Vec::new(),
            playing: None,
            cancelled: VecDeque::new(),
            prebuffer_ms: 0,
            primed: false,
        }
    }

    /// A queue that starts playing only once `ms` of audio are waiting (see `prebuffer_ms`).
    pub fn with_prebuffer(format: WireFormat, ms: u32) -> OutputQueue {
        OutputQueue {
            prebuffer_ms: ms,
            ..OutputQueue::new(format)
        }
    }

    /// An empty queue with the same settings, for a new session.
    pub fn fresh(&self) -> OutputQueue {
        OutputQueue::with_prebuffer(self.format, self.prebuffer_ms)
    }

    /// Drops the oldest whole frames until at most `max_ms` are queued, for a stream that
    /// must not fall behind real time. Returns the frames dropped.
    pub fn trim_to(&mut self, max_ms: u32) -> u32 {
        let mut dropped = 0;
        while self.queued_ms() > max_ms && self.frames.pop_front().is_some() {
            dropped += 1;
        }
        dropped
    }

    pub fn format(&self) -> WireFormat {
        self.format
    }

    /// Queues a delta. False (and nothing queued) when its response or item was cancelled.
    pub fn push(&mut self, response_id: &str, item_id: &str, audio: &[u8]) -> bool {
        if self.is_cancelled(response_id) || self.is_cancelled(item_id) {
            return false;
        }
        let tally = self.tally_for(response_id, item_id);
        self.tallies[tally].received_bytes += audio.len();
        // A frame never mixes two items: the previous item's tail goes out padded.
        if self.partial_tally.is_some_and(|t| t != tally) {
            self.flush_partial();
        }
        self.partial_tally = Some(tally);
        let frame_bytes = self.format.frame_bytes();
        let mut rest = audio;
        while !rest.is_empty() {
            let take = (frame_bytes - self.partial.len()).min(rest.len());
            self.partial.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.partial.len() == frame_bytes {
                self.emit_partial(tally);
            }
        }
        true
    }

    /// No more audio for `item_id` (`response.output_audio.done`): its last partial frame is
    /// padded with silence and queued, instead of waiting for bytes that will never come.
    pub fn finish_item(&mut self, item_id: &str) {
        if let Some(t) = self.find(item_id) {
            self.tallies[t].done = true;
            if self.partial_tally == Some(t) {
                self.flush_partial();
            }
        }
    }

    /// The next frame to send, counted as played for its item.
    pub fn take_frame(&mut self) -> Option<Frame> {
        if self.prebuffer_ms > 0 {
            if self.frames.is_empty() {
                self.primed = false;
            }
            if !self.primed && self.queued_ms() < self.prebuffer_ms {
                return None;
            }
            self.primed = true;
        }
        let frame = self.frames.pop_front()?;
        if let Some(t) = self.find(&frame.item_id) {
            self.tallies[t].taken_frames += 1;
        }
        self.playing = Some(Arc::clone(&frame.item_id));
        Some(frame)
    }

    /// Drops everything queued for `response_id` and ignores its later deltas (a reply the
    /// server or we cancelled). Returns the milliseconds dropped.
    pub fn cancel_response(&mut self, response_id: &str) -> u32 {
        let before = self.frames.len();
        self.frames.retain(|f| &*f.response_id != response_id);
        let mut dropped = (before - self.frames.len()) as u32 * FRAME_MS;
        if let Some(t) = self.partial_tally {
            if &*self.tallies[t].response_id == response_id {
                dropped += self.format.ms(self.partial.len());
                self.partial.clear();
                self.partial_tally = None;
            }
        }
        self.remember_cancelled(Arc::from(response_id));
        dropped
    }

    /// Barge-in: drops every queued frame, remembers the dropped responses and items so their
    /// late deltas are ignored, and reports the interrupted item's played and received time.
    pub fn clear(&mut self) -> Cleared {
        let mut cleared = Cleared {
            dropped_ms: self.queued_ms(),
            ..Cleared::default()
        };
        let mut ids: Vec<Arc<str>> = Vec::new();
        for frame in self.frames.drain(..) {
            ids.push(frame.response_id);
            ids.push(frame.item_id);
        }
        if let Some(t) = self.partial_tally.take() {
            ids.push(Arc::clone(&self.tallies[t].response_id));
            ids.push(Arc::clone(&self.tallies[t].item_id));
        }
        self.partial.clear();
        if let Some(item) = self.playing.take() {
            if let Some(t) = self.find(&item) {
                let tally = &self.tallies[t];
                let unheard = tally.received_bytes
                    > tally.taken_frames as usize * self.format.frame_bytes()
                    || ids.contains(&tally.item_id);
                // An item that played to its end was heard whole: nothing to cut.
                if unheard || !tally.done {
                    cleared.item_id = Some(item.to_string());
                    cleared.played_ms = tally.taken_frames * FRAME_MS;
                    cleared.received_ms = self.format.ms(tally.received_bytes);
                    ids.push(Arc::clone(&tally.response_id));
                    ids.push(item);
                }
            }
        }
        for id in ids {
            if !self.is_cancelled(&id) {
                self.remember_cancelled(id);
            }
        }
        cleared
    }

    /// Milliseconds of `item_id` taken for sending so far.
    pub fn played_ms(&self, item_id: &str) -> u32 {
        self.find(item_id)
            .map_or(0, |t| self.tallies[t].taken_frames * FRAME_MS)
    }

    /// Milliseconds of `item_id` received so far.
    pub fn received_ms(&self, item_id: &str) -> u32 {
        self.find(item_id)
            .map_or(0, |t| self.format.ms(self.tallies[t].received_bytes))
    }

    /// Audio waiting to be sent, including a partial frame.
    pub fn queued_ms(&self) -> u32 {
        self.frames.len() as u32 * FRAME_MS + self.format.ms(self.partial.len())
    }

    pub fn is_cancelled(&self, id: &str) -> bool {
        self.cancelled.iter().any(|c| &**c == id)
    }

    /// True while the item being played may still get more audio (an empty queue then is an
    /// underrun, not the end of the reply).
    pub fn expecting_more(&self) -> bool {
        let playing = self.playing.as_deref().and_then(|item| self.find(item));
        playing.is_some_and(|t| !self.tallies[t].done)
    }

    /// Items and cancelled ids remembered, for tests of the bound.
    #[cfg(test)]
    pub(super) fn memory_len(&self) -> (usize, usize) {
        (self.tallies.len(), self.cancelled.len())
    }

    fn tally_for(&mut self, response_id: &str, item_id: &str) -> usize {
        if let Some(t) = self.find(item_id) {
            return t;
        }
        if self.tallies.len() >= MEMORY {
            self.forget_oldest_tally();
        }
        self.tallies.push(Tally {
            response_id: Arc::from(response_id),
            item_id: Arc::from(item_id),
            received_bytes: 0,
            taken_frames: 0,
            done: false,
        });
        self.tallies.len() - 1
    }

    fn forget_oldest_tally(&mut self) {
        self.tallies.remove(0);
        self.partial_tally = match self.partial_tally {
            Some(0) => {
                self.partial.clear();
                None
            }
            other => other.map(|t| t - 1),
        };
    }

    fn find(&self, item_id: &str) -> Option<usize> {
        self.tallies.iter().rposition(|t| &*t.item_id == item_id)
    }

    fn flush_partial(&mut self) {
        if let Some(t) = self.partial_tally.take() {
            if !self.partial.is_empty() {
                self.partial
                    .resize(self.format.frame_bytes(), self.format.silence_byte());
                self.emit_partial(t);
            }
        }
    }

    fn emit_partial(&mut self, tally: usize) {
        let bytes = std::mem::replace(
            &mut self.partial,
            Vec::with_capacity(self.format.frame_bytes()),
        );
        let t = &self.tallies[tally];
        self.frames.push_back(Frame {
            bytes,
            response_id: Arc::clone(&t.response_id),
            item_id: Arc::clone(&t.item_id),
        });
    }

    fn remember_cancelled(&mut self, id: Arc<str>) {
        if self.cancelled.len() >= MEMORY {
            self.cancelled.pop_front();
        }
        self.cancelled.push_back(id);
    }
}
