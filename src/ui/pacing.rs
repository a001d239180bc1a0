//! When to draw next: as soon as something changed but no more than ~30 frames a second,
//! ~20 a second while meters move, and otherwise only when a shown figure ticks (a countdown,
//! a duration). An idle screen therefore wakes about once a second and draws almost nothing
//! (ratatui only writes the cells that changed).

use std::time::{Duration, Instant};

/// The frame cap (~30 fps).
pub const MIN_FRAME: Duration = Duration::from_millis(33);
/// Meter animation rate (~20 Hz), matching how often the engine publishes levels.
pub const ANIMATION_FRAME: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, Debug, Default)]
pub struct Pacer {
    last_draw: Option<Instant>,
}

impl Pacer {
    /// When the next frame is due, or `None` when nothing will change on its own.
    pub fn deadline(
        &self,
        now: Instant,
        dirty: bool,
        animating: bool,
        next_change: Option<Instant>,
    ) -> Option<Instant> {
        let Some(last) = self.last_draw else {
            return Some(now);
        };
        let mut due = next_change;
        if dirty {
            due = Some(now);
        }
        if animating {
            due = Some(due.map_or(last + ANIMATION_FRAME, |d| d.min(last + ANIMATION_FRAME)));
        }
        due.map(|d| d.max(last + MIN_FRAME))
    }

    pub fn drawn(&mut self, at: Instant) {
        self.last_draw = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn first_frame_is_immediate() {
        let now = Instant::now();
        assert_eq!(
            Pacer::default().deadline(now, false, false, None),
            Some(now)
        );
    }

    #[test]
    fn changes_are_capped_at_thirty_frames_a_second() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        p.drawn(t0);
        assert_eq!(
            p.deadline(t0 + ms(5), true, false, None),
            Some(t0 + MIN_FRAME)
        );
        assert_eq!(
            p.deadline(t0 + ms(90), true, false, None),
            Some(t0 + ms(90))
        );
    }

    #[test]
    fn idle_waits_for_the_next_tick_or_forever() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        p.drawn(t0);
        assert_eq!(p.deadline(t0, false, false, None), None);
        let tick = t0 + ms(700);
        assert_eq!(p.deadline(t0, false, false, Some(tick)), Some(tick));
    }

    #[test]
    fn moving_meters_draw_at_twenty_hertz() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        p.drawn(t0);
        let far = Some(t0 + Duration::from_secs(1));
        assert_eq!(
            p.deadline(t0 + ms(10), false, true, far),
            Some(t0 + ANIMATION_FRAME)
        );
    }
}
