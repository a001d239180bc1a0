//! When a media socket's receive keeps failing. A UDP receive error is usually one ICMP report
//! (port unreachable while the remote is not listening yet) and the next receive works; but a
//! socket that fails every time (EBADF, a dead interface) is readable at once, again and again,
//! and a loop that retries at once spins a core. So: retry at once a few times, then pause that
//! socket's reception for a doubling, capped delay (the 20 ms send tick carries on), warn once,
//! and start over on the first datagram that arrives.

use std::time::Duration;

use tokio::time::Instant;

/// Consecutive failures retried at once: ICMP reports come one per packet we sent, so a
/// handful in a row is still ordinary.
pub(super) const FAILURES_BEFORE_PAUSE: u32 = 8;
/// One frame: datagrams that arrive meanwhile wait in the kernel's buffer, and the jitter
/// buffer absorbs that much delay.
pub(super) const FIRST_PAUSE: Duration = Duration::from_millis(20);
/// A socket failing for this long between tries costs nothing; one that recovers is read
/// again within this delay.
pub(super) const MAX_PAUSE: Duration = Duration::from_secs(1);

/// What the receive loop does after a failed receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AfterFailure {
    /// Try again straight away.
    Retry,
    /// Leave the socket alone for `wait`; `warn` is set the first time in the session, when
    /// the owner should hear that reception is in trouble.
    Pause { wait: Duration, warn: bool },
}

/// The failure count and pause of one socket's receive.
#[derive(Debug)]
pub(super) struct RecvBackoff {
    failures: u32,
    next_pause: Duration,
    resume_at: Option<Instant>,
    warned: bool,
}

impl Default for RecvBackoff {
    fn default() -> Self {
        RecvBackoff {
            failures: 0,
            next_pause: FIRST_PAUSE,
            resume_at: None,
            warned: false,
        }
    }
}

impl RecvBackoff {
    /// A receive failed at `now`.
    pub fn on_failure(&mut self, now: Instant) -> AfterFailure {
        self.failures = self.failures.saturating_add(1);
        if self.failures < FAILURES_BEFORE_PAUSE {
            return AfterFailure::Retry;
        }
        let wait = self.next_pause;
        self.next_pause = (wait * 2).min(MAX_PAUSE);
        self.resume_at = Some(now + wait);
        // One warning per session: a socket that flaps would otherwise flood the log.
        let warn = !std::mem::replace(&mut self.warned, true);
        AfterFailure::Pause { wait, warn }
    }

    /// A datagram arrived: the socket works, the next trouble starts from scratch.
    pub fn on_success(&mut self) {
        self.failures = 0;
        self.next_pause = FIRST_PAUSE;
        self.resume_at = None;
    }

    /// When the socket may be read again (None: now).
    pub fn resume_at(&self) -> Option<Instant> {
        self.resume_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail_times(b: &mut RecvBackoff, n: u32, now: Instant) -> Vec<AfterFailure> {
        (0..n).map(|_| b.on_failure(now)).collect()
    }

    #[test]
    fn a_few_failures_are_retried_at_once() {
        let mut b = RecvBackoff::default();
        let now = Instant::now();
        let after = fail_times(&mut b, FAILURES_BEFORE_PAUSE - 1, now);
        assert!(after.iter().all(|a| *a == AfterFailure::Retry), "{after:?}");
        assert_eq!(b.resume_at(), None);
    }

    #[test]
    fn persistent_failures_pause_doubling_up_to_the_cap_and_warn_once() {
        let mut b = RecvBackoff::default();
        let now = Instant::now();
        fail_times(&mut b, FAILURES_BEFORE_PAUSE - 1, now);
        let pauses = fail_times(&mut b, 8, now);
        let ms = |a: &AfterFailure| match a {
            AfterFailure::Pause { wait, .. } => wait.as_millis(),
            AfterFailure::Retry => panic!("retried at once after {FAILURES_BEFORE_PAUSE} failures"),
        };
        let waits: Vec<u128> = pauses.iter().map(ms).collect();
        assert_eq!(waits, [20, 40, 80, 160, 320, 640, 1000, 1000]);
        let warnings = pauses
            .iter()
            .filter(|a| matches!(a, AfterFailure::Pause { warn: true, .. }))
            .count();
        assert_eq!(warnings, 1);
        assert!(matches!(pauses[0], AfterFailure::Pause { warn: true, .. }));
        assert_eq!(b.resume_at(), Some(now + MAX_PAUSE));
    }

    #[test]
    fn a_datagram_resets_the_count_and_the_pause_but_not_the_warning() {
        let mut b = RecvBackoff::default();
        let now = Instant::now();
        fail_times(&mut b, FAILURES_BEFORE_PAUSE + 3, now);
        b.on_success();
        assert_eq!(b.resume_at(), None);
        let again = fail_times(&mut b, FAILURES_BEFORE_PAUSE, now);
        assert!(again[..again.len() - 1]
            .iter()
            .all(|a| *a == AfterFailure::Retry));
        assert_eq!(
            again.last(),
            Some(&AfterFailure::Pause {
                wait: FIRST_PAUSE,
                warn: false
            })
        );
    }
}
