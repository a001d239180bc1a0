//! The headless suite's progress bar: one line, redrawn on stderr while calls run.

use std::time::Duration;

const WIDTH: usize = 24;

/// `[██████████░░░░░░░░░░░░░░] 10/24 · 9 passed · 1 not · 5 running · 12 s`
pub fn progress_line(
    done: usize,
    total: usize,
    passed: usize,
    running: usize,
    elapsed: Duration,
) -> String {
    let filled = (done * WIDTH).checked_div(total).unwrap_or(0).min(WIDTH);
    format!(
        "[{}{}] {done}/{total} · {passed} passed · {} not · {running} running · {} s",
        "█".repeat(filled),
        "░".repeat(WIDTH - filled),
        done - passed.min(done),
        elapsed.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_calls_done() {
        let line = progress_line(10, 20, 9, 5, Duration::from_secs(12));
        assert_eq!(
            line,
            "[████████████░░░░░░░░░░░░] 10/20 · 9 passed · 1 not · 5 running · 12 s"
        );
        assert!(progress_line(0, 0, 0, 0, Duration::ZERO).starts_with("[░░░"));
        assert!(progress_line(3, 3, 3, 0, Duration::ZERO)
            .starts_with(&format!("[{}]", "█".repeat(WIDTH))));
    }
}
