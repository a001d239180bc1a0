//! Wall-clock time of day for log and transcript lines (UTC, `HH:MM:SS.mmm`), without a
//! date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// The time of day of `at`.
pub fn time_of_day(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        since.subsec_millis()
    )
}

/// The time of day now.
pub fn now() -> String {
    time_of_day(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_utc_time_of_day_with_milliseconds() {
        let at = UNIX_EPOCH + Duration::from_millis(((13 * 60 + 4) * 60 + 5) * 1000 + 67);
        assert_eq!(time_of_day(at), "13:04:05.067");
        let next_day = at + Duration::from_secs(86_400);
        assert_eq!(time_of_day(next_day), "13:04:05.067");
    }
}
