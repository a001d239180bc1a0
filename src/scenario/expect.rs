//! A scenario's assertions and how a finished call is judged against them: each failure is one
//! plain sentence with the measured figure and the limit, so a report reads without the file.

use regex::Regex;

use crate::vocab::{EndReason, Outcome, TurnTaking, Verdict};

/// What `[expect]` asks of a call. Every field is optional.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    /// Answer → the agent's first speech, at most this long.
    pub greeting_within_ms: Option<u64>,
    /// The p90 of the reply gaps strictly below this.
    pub turn_gap_p90_below_ms: Option<u64>,
    /// A transfer (REFER, either way) to this target happened.
    pub transfer_to: Option<String>,
    /// Matches somewhere in the agent's words (needs the bridge's transcript).
    pub transcript: Option<Regex>,
    /// The AI caller's verdict. When unset and the call has a verdict, `passed` is expected.
    pub verdict: Option<Outcome>,
}

/// What the driver learned about one call, gathered from its events.
#[derive(Clone, Debug, Default)]
pub struct CallOutcome {
    pub answered: bool,
    pub end_reason: Option<EndReason>,
    pub turn_taking: Option<TurnTaking>,
    /// Targets of transfers that happened (REFER accepted, ours or theirs).
    pub transfers: Vec<String>,
    /// Everything the agent said, in order (the bridge's transcript of the remote side).
    pub agent_words: String,
    pub verdict: Option<Verdict>,
    /// The runner's `Failed` reason, when a step failed.
    pub step_failure: Option<String>,
}

impl Expect {
    /// Every way the call missed its expectations; empty when it passed.
    pub fn check(&self, call: &CallOutcome) -> Vec<String> {
        self.judge(call).1
    }

    /// The call's outcome and failures: passed when nothing failed, undecided when the only
    /// failure is that the AI caller could not decide, failed otherwise.
    pub fn judge(&self, call: &CallOutcome) -> (Outcome, Vec<String>) {
        if !call.answered {
            // Nothing else can be measured on a call that never started.
            let why = match &call.end_reason {
                Some(EndReason::NotAnswered {
                    status,
                    phrase,
                    explained,
                }) => format!(" ({status} {phrase}: {explained})"),
                Some(EndReason::RingTimeout { secs }) => format!(" (it rang for {secs} s)"),
                Some(EndReason::Failed { reason }) => format!(" ({reason})"),
                _ => String::new(),
            };
            return (
                Outcome::Failed,
                vec![format!("the call was never answered{why}")],
            );
        }
        let mut failures = Vec::new();
        if let Some(step) = &call.step_failure {
            failures.push(step.clone());
        }
        let turns = call.turn_taking.as_ref();
        if let Some(limit) = self.greeting_within_ms {
            match turns.and_then(|t| t.greeting_ms) {
                None => failures.push(format!(
                    "the agent never spoke (expected a greeting within {limit} ms)"
                )),
                Some(ms) if ms > limit => {
                    failures.push(format!("greeting after {ms} ms is not within {limit} ms"))
                }
                Some(_) => {}
            }
        }
        if let Some(limit) = self.turn_gap_p90_below_ms {
            match turns.and_then(|t| t.gap_p90_ms) {
                None => failures.push(format!(
                    "no turn gap was measured (expected a p90 below {limit} ms)"
                )),
                Some(ms) if ms >= limit => {
                    failures.push(format!("turn gap p90 {ms} ms is not below {limit} ms"))
                }
                Some(_) => {}
            }
        }
        if let Some(target) = &self.transfer_to {
            let mut seen: Vec<&str> = call.transfers.iter().map(String::as_str).collect();
            if let Some(EndReason::Transferred { target }) = &call.end_reason {
                seen.push(target);
            }
            if !seen.iter().any(|s| same_target(s, target)) {
                let seen = if seen.is_empty() {
                    "none".to_string()
                } else {
                    seen.join(", ")
                };
                failures.push(format!("no transfer to {target} (transfers: {seen})"));
            }
        }
        if let Some(re) = &self.transcript {
            if !re.is_match(&call.agent_words) {
                let heard = call.agent_words.trim();
                let heard = if heard.is_empty() {
                    "the agent said nothing".to_string()
                } else {
                    format!("heard \"{}\"", shorten(heard, 80))
                };
                failures.push(format!(
                    "the agent's words do not match /{}/ ({heard})",
                    re.as_str()
                ));
            }
        }
        let mut undecided_only = false;
        let wanted = self
            .verdict
            .or(call.verdict.as_ref().map(|_| Outcome::Passed));
        if let Some(wanted) = wanted {
            match &call.verdict {
                None => failures.push(format!(
                    "the AI caller gave no verdict (expected {})",
                    outcome_word(wanted)
                )),
                Some(v) if v.outcome != wanted => {
                    undecided_only = failures.is_empty() && v.outcome == Outcome::Undecided;
                    failures.push(format!(
                        "verdict {} ({}) is not {}",
                        outcome_word(v.outcome),
                        v.reason,
                        outcome_word(wanted)
                    ))
                }
                Some(_) => {}
            }
        }
        let outcome = match (failures.is_empty(), undecided_only) {
            (true, _) => Outcome::Passed,
            (false, true) => Outcome::Undecided,
            (false, false) => Outcome::Failed,
        };
        (outcome, failures)
    }
}

/// "passed", "failed", "undecided": the words the file and the reports use.
pub fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "passed",
        Outcome::Failed => "failed",
        Outcome::Undecided => "undecided",
    }
}

/// A transfer target as seen on the wire (`<sip:human@host;transport=udp>`) against the one
/// expected (`sip:human@host`): brackets, case and URI parameters do not matter.
fn same_target(seen: &str, wanted: &str) -> bool {
    let clean = |s: &str| {
        let s = s.trim().trim_start_matches('<').trim_end_matches('>');
        let s = s.split([';', '?']).next().unwrap_or(s);
        s.to_ascii_lowercase()
    };
    clean(seen) == clean(wanted)
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(turns: TurnTaking) -> CallOutcome {
        CallOutcome {
            answered: true,
            end_reason: Some(EndReason::LocalHangup),
            turn_taking: Some(turns),
            ..CallOutcome::default()
        }
    }

    fn verdict(outcome: Outcome, reason: &str) -> Option<Verdict> {
        Some(Verdict {
            outcome,
            reason: reason.to_string(),
        })
    }

    #[test]
    fn a_call_never_answered_fails_with_the_reason() {
        let call = CallOutcome {
            answered: false,
            end_reason: Some(EndReason::NotAnswered {
                status: 486,
                phrase: "Busy Here".into(),
                explained: "the callee is busy".into(),
            }),
            step_failure: Some("the call ended before it was answered".into()),
            ..CallOutcome::default()
        };
        let (outcome, failures) = Expect::default().judge(&call);
        assert_eq!(outcome, Outcome::Failed);
        assert_eq!(
            failures,
            vec!["the call was never answered (486 Busy Here: the callee is busy)"]
        );
    }

    #[test]
    fn no_expectations_and_an_answer_pass() {
        let (outcome, failures) = Expect::default().judge(&answered(TurnTaking::default()));
        assert_eq!(outcome, Outcome::Passed);
        assert!(failures.is_empty());
    }

    #[test]
    fn greeting_limit_is_inclusive_and_missing_greeting_fails() {
        let expect = Expect {
            greeting_within_ms: Some(3000),
            ..Expect::default()
        };
        let on_time = TurnTaking {
            greeting_ms: Some(3000),
            ..TurnTaking::default()
        };
        assert!(expect.check(&answered(on_time)).is_empty());
        let late = TurnTaking {
            greeting_ms: Some(3420),
            ..TurnTaking::default()
        };
        assert_eq!(
            expect.check(&answered(late)),
            vec!["greeting after 3420 ms is not within 3000 ms"]
        );
        assert_eq!(
            expect.check(&answered(TurnTaking::default())),
            vec!["the agent never spoke (expected a greeting within 3000 ms)"]
        );
    }

    #[test]
    fn gap_p90_must_be_strictly_below() {
        let expect = Expect {
            turn_gap_p90_below_ms: Some(1200),
            ..Expect::default()
        };
        let gaps = |p90| TurnTaking {
            gap_p90_ms: Some(p90),
            ..TurnTaking::default()
        };
        assert!(expect.check(&answered(gaps(1180))).is_empty());
        assert_eq!(
            expect.check(&answered(gaps(1200))),
            vec!["turn gap p90 1200 ms is not below 1200 ms"]
        );
        assert_eq!(
            expect.check(&answered(gaps(1340))),
            vec!["turn gap p90 1340 ms is not below 1200 ms"]
        );
        assert_eq!(
            expect.check(&answered(TurnTaking::default())),
            vec!["no turn gap was measured (expected a p90 below 1200 ms)"]
        );
    }

    #[test]
    fn transfer_matches_ignoring_brackets_case_and_parameters() {
        let expect = Expect {
            transfer_to: Some("sip:human@example.com".into()),
            ..Expect::default()
        };
        let mut call = answered(TurnTaking::default());
        assert_eq!(
            expect.check(&call),
            vec!["no transfer to sip:human@example.com (transfers: none)"]
        );
        call.transfers = vec!["sip:other@example.com".into()];
        assert_eq!(
            expect.check(&call),
            vec!["no transfer to sip:human@example.com (transfers: sip:other@example.com)"]
        );
        call.transfers
            .push("<sip:Human@Example.com;transport=udp>".into());
        assert!(expect.check(&call).is_empty());
        // A transfer that ended the call counts too.
        let mut ended = answered(TurnTaking::default());
        ended.end_reason = Some(EndReason::Transferred {
            target: "sip:human@example.com".into(),
        });
        assert!(expect.check(&ended).is_empty());
    }

    #[test]
    fn transcript_regex_runs_on_the_agent_words() {
        let expect = Expect {
            transcript: Regex::new("booking|reservation").ok(),
            ..Expect::default()
        };
        let mut call = answered(TurnTaking::default());
        call.agent_words = "Hello, I can take your reservation.".into();
        assert!(expect.check(&call).is_empty());
        call.agent_words = "Hello, how can I help?".into();
        assert_eq!(
            expect.check(&call),
            vec!["the agent's words do not match /booking|reservation/ (heard \"Hello, how can I help?\")"]
        );
        call.agent_words = String::new();
        assert_eq!(
            expect.check(&call),
            vec!["the agent's words do not match /booking|reservation/ (the agent said nothing)"]
        );
    }

    #[test]
    fn a_verdict_must_be_passed_unless_the_file_says_otherwise() {
        let mut call = answered(TurnTaking::default());
        call.verdict = verdict(Outcome::Failed, "no table was booked");
        let (outcome, failures) = Expect::default().judge(&call);
        assert_eq!(outcome, Outcome::Failed);
        assert_eq!(
            failures,
            vec!["verdict failed (no table was booked) is not passed"]
        );
        // A negative test: the agent is supposed to refuse.
        let expect_failed = Expect {
            verdict: Some(Outcome::Failed),
            ..Expect::default()
        };
        assert_eq!(expect_failed.judge(&call).0, Outcome::Passed);
        call.verdict = None;
        assert_eq!(
            expect_failed.check(&call),
            vec!["the AI caller gave no verdict (expected failed)"]
        );
    }

    #[test]
    fn undecided_only_when_nothing_else_failed() {
        let mut call = answered(TurnTaking::default());
        call.verdict = verdict(Outcome::Undecided, "max turns reached");
        let (outcome, failures) = Expect::default().judge(&call);
        assert_eq!(outcome, Outcome::Undecided);
        assert_eq!(
            failures,
            vec!["verdict undecided (max turns reached) is not passed"]
        );
        call.step_failure = Some("step 2 (wait_for_voice, line 9) timed out after 5000 ms".into());
        let (outcome, failures) = Expect::default().judge(&call);
        assert_eq!(outcome, Outcome::Failed);
        assert_eq!(failures.len(), 2);
        assert_eq!(
            failures[0],
            "step 2 (wait_for_voice, line 9) timed out after 5000 ms"
        );
    }
}
