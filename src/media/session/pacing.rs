//! The send schedule of a call's media task: frame n is due at start + n × 20 ms (absolute,
//! so it never drifts), and a tick that comes late says which frames it must still do.
//!
//! A task kept from running (a starved process) does every frame that came due meanwhile, in
//! a burst, up to `MAX_CATCH_UP_FRAMES`; older ones are skipped. Skipping is never silent: the
//! task counts those frames and leaves their sequence numbers unused, so a receiver counts
//! them as lost instead of seeing the timestamp jump alone.

use std::time::Duration;

use super::FRAME;

/// Frames a late send tick may still send, in a burst, when the task was kept from running
/// (200 ms: a starved process). Older ones are skipped, counted, and their sequence numbers
/// left out, so the receiver counts them as lost rather than hearing time jump.
const MAX_CATCH_UP_FRAMES: u64 = 10;

/// The 20 ms slot since the start that `since_start` falls in.
pub(super) fn frame_index(since_start: Duration) -> u64 {
    (since_start.as_micros() / FRAME.as_micros()) as u64
}

/// The send schedule: which frame is next, and what a tick at a given slot must do.
#[derive(Debug, Default)]
pub(super) struct Pacing {
    next: u64,
}

/// What one tick does: skip `skipped` frames (too late to send), then do `frames`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Due {
    pub skipped: u64,
    pub frames: std::ops::Range<u64>,
}

impl Due {
    pub fn count(&self) -> u64 {
        self.skipped + (self.frames.end - self.frames.start)
    }
}

impl Pacing {
    /// The tick woke in slot `now`. It fired, so the next frame is due even if the clock
    /// reads a hair early; frames further back than `MAX_CATCH_UP_FRAMES` are skipped.
    pub fn due(&mut self, now: u64) -> Due {
        let last = now.max(self.next);
        let first = self
            .next
            .max((last + 1).saturating_sub(MAX_CATCH_UP_FRAMES));
        let skipped = first - self.next;
        self.next = last + 1;
        Due {
            skipped,
            frames: first..last + 1,
        }
    }

    pub fn next(&self) -> u64 {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_does_every_due_frame_within_the_catch_up_bound() {
        let mut pacing = Pacing::default();
        assert_eq!(
            pacing.due(0),
            Due {
                skipped: 0,
                frames: 0..1
            }
        );
        // A timer that fires a hair early still does the frame it was set for.
        assert_eq!(
            pacing.due(0),
            Due {
                skipped: 0,
                frames: 1..2
            }
        );
        assert_eq!(
            pacing.due(4),
            Due {
                skipped: 0,
                frames: 2..5
            }
        );
        assert_eq!(
            pacing.due(5 + MAX_CATCH_UP_FRAMES - 1).count(),
            MAX_CATCH_UP_FRAMES
        );
        let late = pacing.due(100);
        assert_eq!(late.frames.end - late.frames.start, MAX_CATCH_UP_FRAMES);
        assert_eq!(late.frames.end, 101);
        assert_eq!(
            late.skipped,
            101 - MAX_CATCH_UP_FRAMES - (5 + MAX_CATCH_UP_FRAMES)
        );
        assert_eq!(pacing.next(), 101);
    }

    #[test]
    fn a_slot_is_the_whole_frames_since_the_start() {
        assert_eq!(frame_index(Duration::ZERO), 0);
        assert_eq!(frame_index(Duration::from_micros(19_999)), 0);
        assert_eq!(frame_index(Duration::from_millis(20)), 1);
        assert_eq!(frame_index(Duration::from_millis(1_001)), 50);
    }
}
