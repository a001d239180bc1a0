//! What a test run leaves behind for people and CI: `summary.json` (each call's verdict and
//! figures, and the same figures across calls) and a JUnit XML file in which each call is one
//! test case. Pure text builders; the driver writes the files.

mod junit;
mod summary;

use serde::Serialize;

use crate::vocab::{EndReason, Outcome, TurnTaking, Verdict};

pub use junit::junit_xml;
pub use summary::summary_json;

/// One call of a run, as judged when it ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallRecord {
    /// 1-based position in the run.
    pub index: usize,
    /// The engine's call id (`#7` in logs).
    pub call_id: u64,
    pub passed: bool,
    pub outcome: Outcome,
    /// Each expectation the call missed, one sentence each.
    pub failures: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<EndReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn_taking: Option<TurnTaking>,
    /// Paths of the call's stereo WAV and transcript, relative to the report folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
}

/// Nearest-rank percentile (the smallest value with at least `p`% of values at or below it), as
/// for a call's own gap figures; `None` for no values.
pub fn percentile(values: &[u64], p: u32) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (u64::from(p.min(100)) * sorted.len() as u64).div_ceil(100);
    let index = (rank as usize).saturating_sub(1).min(sorted.len() - 1);
    Some(sorted[index])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[700], 90), Some(700));
        let ten: Vec<u64> = (1..=10).map(|n| n * 100).collect();
        assert_eq!(percentile(&ten, 50), Some(500));
        assert_eq!(percentile(&ten, 90), Some(900));
        assert_eq!(percentile(&ten, 100), Some(1000));
        assert_eq!(percentile(&[900, 100, 500], 50), Some(500));
        assert_eq!(percentile(&[900, 100, 500], 0), Some(100));
    }
}
