//! `summary.json`: the run's counts, the figures across calls, and every call's record.

use serde_json::{json, Value};

use super::{all_passed, percentile, CallRecord};
use crate::vocab::Outcome;

/// Across calls: the greeting delays of the calls (one each), every reply gap and every stop
/// latency of every call pooled (so a call with many turns weighs as many turns), and the sums
/// of the counters. `total_ms` is the run's wall-clock time.
pub fn summary_json(
    scenario_name: &str,
    started_at: &str,
    total_ms: u64,
    records: &[CallRecord],
) -> Value {
    let count = |o: Outcome| records.iter().filter(|r| r.outcome == o).count();
    let turns: Vec<_> = records
        .iter()
        .filter_map(|r| r.turn_taking.as_ref())
        .collect();
    let greetings: Vec<u64> = turns.iter().filter_map(|t| t.greeting_ms).collect();
    let gaps: Vec<u64> = turns
        .iter()
        .flat_map(|t| t.gaps_ms.iter().copied())
        .collect();
    let stops: Vec<u64> = turns
        .iter()
        .flat_map(|t| t.stop_latencies_ms.iter().copied())
        .collect();
    let durations: Vec<u64> = records.iter().map(|r| r.duration_ms).collect();
    let sum = |f: fn(&crate::vocab::TurnTaking) -> u32| turns.iter().map(|t| f(t)).sum::<u32>();
    json!({
        "scenario": scenario_name,
        "started_at": started_at,
        "duration_ms": total_ms,
        "all_passed": all_passed(records),
        "counts": {
            "calls": records.len(),
            "passed": count(Outcome::Passed),
            "failed": count(Outcome::Failed),
            "undecided": count(Outcome::Undecided),
        },
        "across_calls": {
            "greeting_ms": spread(&greetings),
            "gap_ms": spread(&gaps),
            "stop_latency_ms": spread(&stops),
            "call_duration_ms": spread(&durations),
            "barge_ins": sum(|t| t.barge_ins),
            "not_stopped_within_1s": sum(|t| t.not_stopped_within_1s),
            "double_talk": sum(|t| t.double_talk),
            "long_silences": sum(|t| t.long_silences),
        },
        "calls": records,
    })
}

/// `{n, p50, p90, max}`; the figures are null when there were no values.
fn spread(values: &[u64]) -> Value {
    json!({
        "n": values.len(),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "max": values.iter().max(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{EndReason, TurnTaking, Verdict};

    fn record(index: usize, outcome: Outcome, turns: Option<TurnTaking>) -> CallRecord {
        CallRecord {
            index,
            call_id: index as u64 + 10,
            passed: outcome == Outcome::Passed,
            outcome,
            failures: if outcome == Outcome::Passed {
                vec![]
            } else {
                vec!["turn gap p90 1340 ms is not below 1200 ms".into()]
            },
            verdict: None,
            duration_ms: 1000 * index as u64,
            end_reason: Some(EndReason::LocalHangup),
            turn_taking: turns,
            recording: Some(format!("call-{index:03}.wav")),
            transcript: None,
        }
    }

    fn turns(greeting: u64, gaps: &[u64], stops: &[u64]) -> Option<TurnTaking> {
        Some(TurnTaking {
            greeting_ms: Some(greeting),
            gaps_ms: gaps.to_vec(),
            stop_latencies_ms: stops.to_vec(),
            barge_ins: stops.len() as u32,
            not_stopped_within_1s: stops.iter().filter(|s| **s > 1000).count() as u32,
            ..TurnTaking::default()
        })
    }

    #[test]
    fn counts_and_figures_across_calls() {
        let mut undecided = record(3, Outcome::Undecided, None);
        undecided.verdict = Some(Verdict {
            outcome: Outcome::Undecided,
            reason: "max turns reached".into(),
        });
        let records = vec![
            record(1, Outcome::Passed, turns(800, &[700, 720, 760], &[])),
            record(2, Outcome::Failed, turns(1200, &[740, 1340], &[300, 1500])),
            undecided,
        ];
        let v = summary_json("booking", "2026-12-04T12:00:00Z", 9000, &records);
        assert_eq!(v["scenario"], "booking");
        assert_eq!(v["duration_ms"], 9000);
        assert_eq!(v["all_passed"], false);
        assert_eq!(v["counts"]["calls"], 3);
        assert_eq!(v["counts"]["passed"], 1);
        assert_eq!(v["counts"]["failed"], 1);
        assert_eq!(v["counts"]["undecided"], 1);
        let across = &v["across_calls"];
        assert_eq!(across["greeting_ms"]["n"], 2);
        assert_eq!(across["greeting_ms"]["p50"], 800);
        assert_eq!(across["greeting_ms"]["max"], 1200);
        // Five gaps pooled: 700 720 740 760 1340.
        assert_eq!(across["gap_ms"]["n"], 5);
        assert_eq!(across["gap_ms"]["p50"], 740);
        assert_eq!(across["gap_ms"]["p90"], 1340);
        assert_eq!(across["stop_latency_ms"]["p50"], 300);
        assert_eq!(across["barge_ins"], 2);
        assert_eq!(across["not_stopped_within_1s"], 1);
        assert_eq!(across["call_duration_ms"]["max"], 3000);
        let calls = v["calls"].as_array().map(Vec::len);
        assert_eq!(calls, Some(3));
        assert_eq!(v["calls"][1]["outcome"], "failed");
        assert_eq!(
            v["calls"][1]["failures"][0],
            "turn gap p90 1340 ms is not below 1200 ms"
        );
        assert_eq!(v["calls"][2]["verdict"]["reason"], "max turns reached");
        assert_eq!(v["calls"][0]["recording"], "call-001.wav");
    }

    #[test]
    fn no_figures_are_nulls_not_zeros() {
        let v = summary_json("s", "t", 0, &[record(1, Outcome::Passed, None)]);
        assert_eq!(v["all_passed"], true);
        assert_eq!(v["across_calls"]["gap_ms"]["n"], 0);
        assert!(v["across_calls"]["gap_ms"]["p90"].is_null());
        assert!(v["across_calls"]["greeting_ms"]["max"].is_null());
        let empty = summary_json("s", "t", 0, &[]);
        assert_eq!(empty["all_passed"], false);
        assert_eq!(empty["counts"]["calls"], 0);
    }
}
