//! Giving memory back after a burst of calls. glibc's allocator keeps freed memory in its
//! per-thread arenas: after a thousand calls the peak stayed resident for good. Once the last
//! call of a burst is torn down, `malloc_trim` returns what is free to the system.

/// Calls live at once before the end of a burst is worth a trim (a trim walks every arena).
const BURST: usize = 10;

/// Watches the number of live calls for the end of a burst.
#[derive(Debug, Default)]
pub struct Trimmer {
    peak: usize,
}

impl Trimmer {
    /// `live` calls now; true when a burst has just ended and memory should go back.
    pub fn on_calls(&mut self, live: usize) -> bool {
        self.peak = self.peak.max(live);
        if live == 0 && self.peak >= BURST {
            self.peak = 0;
            return true;
        }
        false
    }
}

/// Returns free heap memory to the system (glibc only; elsewhere the allocator does its own).
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_end_of_a_burst_asks_for_a_trim() {
        let mut t = Trimmer::default();
        assert!(!t.on_calls(3));
        assert!(!t.on_calls(0), "a few calls are no burst");
        for live in [5, 12, 30, 8] {
            assert!(!t.on_calls(live));
        }
        assert!(t.on_calls(0), "30 calls came and went");
        assert!(!t.on_calls(0), "once per burst");
    }

    #[test]
    fn releasing_is_safe_at_any_time() {
        let garbage: Vec<Vec<u8>> = (0..1000).map(|n| vec![n as u8; 4096]).collect();
        drop(garbage);
        release();
    }
}
