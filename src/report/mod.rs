//! What a test run leaves behind for people and CI: `summary.json` (each call's verdict and
//! figures, and the same figures across calls) and a JUnit XML file in which each call is one
//! test case. Pure text builders; the driver writes the files.

mod junit;
mod summary;

use serde::Serialize;

use crate::scenario::{CallOutcome, Expect};
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

impl CallRecord {
    /// A finished call judged against the scenario's expectations; the driver fills in
    /// `recording` and `transcript` when it wrote them.
    pub fn judged(
        index: usize,
        call_id: u64,
        duration_ms: u64,
        expect: &Expect,
        call: &CallOutcome,
    ) -> CallRecord {
        let (outcome, failures) = expect.judge(call);
        CallRecord {
            index,
            call_id,
            passed: outcome == Outcome::Passed,
            outcome,
            failures,
            verdict: call.verdict.clone(),
            duration_ms,
            end_reason: call.end_reason.clone(),
            turn_taking: call.turn_taking.clone(),
            recording: None,
            transcript: None,
        }
    }
}

/// The run's exit status is 0 only when this holds: at least one call, and every call passed.
pub fn all_passed(records: &[CallRecord]) -> bool {
    !records.is_empty() && records.iter().all(|r| r.passed)
}

/// Nearest-rank percentile (the smallest value with at least `p`% of values at or below it), as
/// for a call's own gap figures; `None` for no values.
pub fn percentile(values: &[u64], p: u32) -> Option<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    crate::vocab::turns::nearest_rank(&sorted, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_judged_call_carries_its_failures_and_figures() {
        let expect = Expect {
            greeting_within_ms: Some(1000),
            ..Expect::default()
        };
        let call = CallOutcome {
            answered: true,
            end_reason: Some(EndReason::RemoteHangup),
            turn_taking: Some(TurnTaking {
                greeting_ms: Some(1500),
                ..TurnTaking::default()
            }),
            ..CallOutcome::default()
        };
        let r = CallRecord::judged(3, 7, 4200, &expect, &call);
        assert_eq!((r.index, r.call_id, r.duration_ms), (3, 7, 4200));
        assert!(!r.passed);
        assert_eq!(r.outcome, Outcome::Failed);
        assert_eq!(
            r.failures,
            vec!["greeting after 1500 ms is not within 1000 ms"]
        );
        assert_eq!(r.end_reason, Some(EndReason::RemoteHangup));
        assert!(!all_passed(std::slice::from_ref(&r)));
        let ok = CallRecord::judged(1, 1, 10, &Expect::default(), &call);
        assert!(ok.passed);
        assert!(all_passed(std::slice::from_ref(&ok)));
        assert!(!all_passed(&[ok, r]));
        assert!(!all_passed(&[]), "an empty run did not pass");
    }

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
