//! One call of a suite: its scenario runner, what was seen on it (voice segments, words,
//! transfers, the verdict), its transcript (a timeline) and, once it ends, its record.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::report::CallRecord;
use crate::scenario::expect::{CallOutcome, Expect};
use crate::scenario::runner::{RunAction, RunInput, Runner};
use crate::scenario::Scenario;
use crate::vocab::{
    CallId, Command, EndReason, Event, Outcome, Side, Speaker, TurnTaking, Verdict,
};

pub(super) struct SuiteCall {
    index: usize,
    call: CallId,
    /// `None` for an AI caller's scenario without steps: the model leads the call.
    runner: Option<Runner>,
    expect: Expect,
    /// A scripted call's `max_duration_s`: hung up, and failed, when it runs that long.
    max_duration: Option<Duration>,
    placed_at: Duration,
    answered_at: Option<Duration>,
    hung_up: bool,
    timeline: Vec<String>,
    turn_taking: Option<TurnTaking>,
    transfers: Vec<String>,
    agent_words: String,
    verdict: Option<Verdict>,
    step_failure: Option<String>,
}

impl SuiteCall {
    pub(super) fn new(index: usize, call: CallId, scenario: &Scenario, now: Duration) -> SuiteCall {
        SuiteCall {
            index,
            call,
            runner: (!scenario.steps.is_empty()).then(|| Runner::new(scenario.steps.clone())),
            expect: scenario.expect.clone(),
            max_duration: (!scenario.call.bridge)
                .then_some(scenario.call.max_duration_ms)
                .flatten()
                .map(Duration::from_millis),
            placed_at: now,
            answered_at: None,
            hung_up: false,
            timeline: vec![format!(
                "{} call {index} ({call}) to {}",
                crate::vocab::clock::now(),
                scenario
                    .call
                    .target
                    .as_deref()
                    .unwrap_or("the --call target")
            )],
            turn_taking: None,
            transfers: Vec::new(),
            agent_words: String::new(),
            verdict: None,
            step_failure: None,
        }
    }

    /// Feeds an event about this call to its runner; returns the commands its steps ask for.
    pub(super) fn on_event(&mut self, event: &Event, now: Duration) -> Vec<Command> {
        let input = match event {
            Event::CallAnswered { answer_ms, .. } => {
                self.answered_at = Some(now);
                self.note(now, format!("answered ({answer_ms} ms after the INVITE)"));
                Some(RunInput::Answered)
            }
            Event::Voice {
                side,
                speaking,
                at_ms,
                ..
            } => {
                let who = match side {
                    Side::Remote => "agent",
                    Side::Local => "we",
                };
                let what = if *speaking { "start" } else { "stop" };
                self.timeline
                    .push(format!("{:>9} {who} {what} speaking", stamp(*at_ms)));
                Some(RunInput::Voice {
                    side: *side,
                    speaking: *speaking,
                    at_ms: *at_ms,
                })
            }
            Event::Played { file, ms, .. } => {
                self.note(now, format!("played {file} ({ms} ms)"));
                Some(RunInput::Played)
            }
            Event::TurnTaking { figures, .. } => {
                self.turn_taking = Some(figures.clone());
                None
            }
            Event::Transcript {
                speaker,
                text,
                final_: true,
                ..
            } => {
                // On a call we place, the bridge's "caller" is the far end: the agent.
                let who = match speaker {
                    Speaker::Caller => {
                        if !self.agent_words.is_empty() {
                            self.agent_words.push('\n');
                        }
                        self.agent_words.push_str(text);
                        "agent says"
                    }
                    Speaker::Ai => "AI caller says",
                    Speaker::System => "system",
                };
                self.note(now, format!("{who}: {text}"));
                None
            }
            Event::Transfer {
                target, by, stage, ..
            } => {
                if !self.transfers.contains(target) {
                    self.transfers.push(target.clone());
                }
                self.note(now, format!("transfer to {target} ({by:?}, {stage:?})"));
                None
            }
            Event::Verdict { verdict, .. } => {
                self.note(
                    now,
                    format!("verdict: {:?} — {}", verdict.outcome, verdict.reason),
                );
                self.verdict = Some(verdict.clone());
                None
            }
            Event::Dtmf { digit, .. } => {
                self.note(now, format!("DTMF {digit} received"));
                None
            }
            Event::CallEnded { .. } => {
                // Nothing left to hang up: the steps' last words only go in the record.
                self.hung_up = true;
                Some(RunInput::Ended)
            }
            _ => None,
        };
        match (input, self.runner.as_mut()) {
            (Some(input), Some(runner)) => {
                let actions = runner.on(input);
                self.commands(actions, now)
            }
            _ => Vec::new(),
        }
    }

    /// Lets waiting steps time out.
    pub(super) fn on_tick(&mut self, now: Duration) -> Vec<Command> {
        let Some(answered) = self.answered_at else {
            return Vec::new();
        };
        let since_answer = now.saturating_sub(answered);
        if let Some(limit) = self.max_duration.filter(|limit| since_answer >= *limit) {
            if !self.hung_up {
                let failure = format!(
                    "the call was still going after max_duration_s = {}",
                    limit.as_secs_f64()
                );
                self.note(now, failure.clone());
                self.step_failure.get_or_insert(failure);
                let mut out = Vec::new();
                self.hang_up(now, &mut out);
                return out;
            }
        }
        let now_ms = since_answer.as_millis() as u64;
        let Some(runner) = self.runner.as_mut() else {
            return Vec::new();
        };
        if runner.next_deadline_ms().is_none_or(|due| due > now_ms) {
            return Vec::new();
        }
        let actions = runner.on(RunInput::Tick { now_ms });
        self.commands(actions, now)
    }

    fn commands(&mut self, actions: Vec<RunAction>, now: Duration) -> Vec<Command> {
        let mut out = Vec::new();
        for action in actions {
            match action {
                RunAction::Play(file) => {
                    self.note(now, format!("playing {}", file.display()));
                    out.push(Command::Play {
                        call: self.call,
                        file,
                    });
                }
                RunAction::SendDtmf(digits) => {
                    self.note(now, format!("sending DTMF {digits}"));
                    out.push(Command::SendDtmf {
                        call: self.call,
                        digits,
                    });
                }
                RunAction::HangUp | RunAction::Finished => self.hang_up(now, &mut out),
                // The reason names the step and its line already.
                RunAction::Failed { reason, .. } => {
                    self.note(now, format!("failed: {reason}"));
                    self.step_failure.get_or_insert(reason);
                    self.hang_up(now, &mut out);
                }
            }
        }
        out
    }

    fn hang_up(&mut self, now: Duration, out: &mut Vec<Command>) {
        if !self.hung_up {
            self.hung_up = true;
            self.note(now, "hanging up".into());
            out.push(Command::Hangup(self.call));
        }
    }

    fn note(&mut self, now: Duration, text: String) {
        let at = match self.answered_at {
            Some(answered) if now >= answered => {
                stamp(now.saturating_sub(answered).as_millis() as u64)
            }
            _ => format!(
                "({:.3} s)",
                now.saturating_sub(self.placed_at).as_secs_f64()
            ),
        };
        self.timeline.push(format!("{at:>9} {text}"));
    }

    /// The record of a call that ended (`CallEnded`), its files moved into `report`.
    pub(super) fn finish(mut self, ended: &Event, report: Option<&Path>) -> CallRecord {
        let Event::CallEnded {
            reason,
            duration_ms,
            media,
            verdict,
            ..
        } = ended
        else {
            return self.abandon("the call ended without its summary", Duration::ZERO);
        };
        if let Some(t) = &media.turn_taking {
            self.turn_taking = Some(t.as_ref().clone());
        }
        if verdict.is_some() {
            self.verdict = verdict.clone();
        }
        let outcome_in = CallOutcome {
            answered: self.answered_at.is_some(),
            end_reason: Some(reason.clone()),
            turn_taking: self.turn_taking.clone(),
            transfers: self.transfers.clone(),
            agent_words: self.agent_words.clone(),
            verdict: self.verdict.clone(),
            step_failure: self.step_failure.clone(),
        };
        let mut record = CallRecord::judged(
            self.index,
            self.call.0,
            *duration_ms,
            &self.expect,
            &outcome_in,
        );
        self.timeline.push(format!(
            "ended: {} — {}",
            end_words(reason),
            crate::scenario::expect::outcome_word(record.outcome)
        ));
        for failure in &record.failures {
            self.timeline.push(format!("  ✗ {failure}"));
        }
        (record.recording, record.transcript) = match report {
            Some(dir) => self.file_away(dir, media.recording.as_deref()),
            None => (media.recording.clone(), None),
        };
        record
    }

    /// A call the run stopped under: failed, with what is known.
    pub(super) fn abandon(mut self, why: &str, now: Duration) -> CallRecord {
        self.note(now, why.to_string());
        let answered = self.answered_at.map(|a| now.saturating_sub(a));
        CallRecord {
            index: self.index,
            call_id: self.call.0,
            passed: false,
            outcome: Outcome::Failed,
            failures: vec![why.to_string()],
            verdict: self.verdict,
            duration_ms: answered.map_or(0, |d| d.as_millis() as u64),
            end_reason: None,
            turn_taking: self.turn_taking,
            recording: None,
            transcript: None,
        }
    }

    /// Moves the recording to `call-NNN.wav` and writes the timeline to `call-NNN.txt`; the
    /// bridge's own transcript (words only, already in the timeline) is folded in.
    fn file_away(&self, dir: &Path, recording: Option<&str>) -> (Option<String>, Option<String>) {
        let stem = format!("call-{:03}", self.index);
        let recording = recording.map(|from| {
            let from = PathBuf::from(from);
            let to = dir.join(format!("{stem}.wav"));
            let _ = std::fs::remove_file(from.with_extension("txt"));
            match std::fs::rename(&from, &to) {
                Ok(()) => to.display().to_string(),
                Err(e) => {
                    tracing::warn!(error = %e, from = %from.display(), "cannot move the recording");
                    from.display().to_string()
                }
            }
        });
        let path = dir.join(format!("{stem}.txt"));
        let text = self.timeline.join("\n") + "\n";
        let transcript = match std::fs::write(&path, text) {
            Ok(()) => Some(path.display().to_string()),
            Err(e) => {
                eprintln!("sipterm: cannot write {}: {e}", path.display());
                None
            }
        };
        (recording, transcript)
    }
}

/// A call of the suite that was asked for but never placed.
pub(super) fn never_placed(index: usize, why: &str) -> CallRecord {
    CallRecord {
        index,
        call_id: 0,
        passed: false,
        outcome: Outcome::Failed,
        failures: vec![why.to_string()],
        verdict: None,
        duration_ms: 0,
        end_reason: None,
        turn_taking: None,
        recording: None,
        transcript: None,
    }
}

/// `+1.240 s` after the answer.
fn stamp(ms: u64) -> String {
    format!("+{}.{:03} s", ms / 1000, ms % 1000)
}

fn end_words(reason: &EndReason) -> String {
    match reason {
        EndReason::LocalHangup => "we hung up".into(),
        EndReason::RemoteHangup => "the agent hung up".into(),
        EndReason::NotAnswered { status, phrase, .. } => format!("not answered: {status} {phrase}"),
        EndReason::Transferred { target } => format!("transferred to {target}"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_seconds_with_milliseconds() {
        assert_eq!(stamp(0), "+0.000 s");
        assert_eq!(stamp(12_345), "+12.345 s");
    }
}
