//! The AI caller as the call table sees it: a call we placed, bridged, whose model pursues a
//! goal. It ends with a verdict — the model's own (`end_call`), or `undecided` when
//! `--max-turns` or `--max-duration` is reached or the agent hangs up first. An undecided
//! call is not put to the model once more: its session is closing with the call, and a
//! verdict that needs another request could be lost with it.

use super::*;
use crate::sip::ua::Termination;
use crate::vocab::{Outcome, Verdict};

/// The policy is resolved by `config` (which sits below the engine); the table applies it.
pub use crate::config::CallerPolicy;

/// How long the model's goodbye may take to play out before we hang up regardless.
pub const GOODBYE_LIMIT: Duration = Duration::from_secs(5);

/// The line the transcript file ends with.
pub fn verdict_line(verdict: &Verdict) -> String {
    format!(
        "verdict: {} — {}\n",
        outcome_word(verdict.outcome),
        verdict.reason
    )
}

pub fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "passed",
        Outcome::Failed => "failed",
        Outcome::Undecided => "undecided",
    }
}

impl CallTable {
    /// The caller policy, when `id` is a call we placed and the model is its caller.
    pub(super) fn caller_of(&self, id: CallId) -> Option<&CallerPolicy> {
        let call = self.calls.get(&id)?;
        call.placed.as_ref()?;
        self.policy.caller.as_ref()
    }

    /// The goal of a call, for the call panel.
    pub(super) fn goal_of(&self, id: CallId) -> Option<String> {
        self.caller_of(id).and_then(|c| c.goal.clone())
    }

    /// Sets the call's verdict once, and reports it.
    fn decide(&mut self, id: CallId, outcome: Outcome, reason: String, out: &mut Out) {
        let Some(call) = self.calls.get_mut(&id).filter(|c| c.verdict.is_none()) else {
            return;
        };
        let verdict = Verdict { outcome, reason };
        call.verdict = Some(verdict.clone());
        out.emit(Event::Verdict { call: id, verdict });
    }

    /// The model called `end_call`: its verdict stands, and the call ends once its goodbye
    /// has played.
    pub(super) fn on_end_call(&mut self, id: CallId, passed: bool, reason: String, out: &mut Out) {
        if self.caller_of(id).is_none_or(|c| c.goal.is_none()) {
            out.warn(format!(
                "call {id}: the model called end_call, but this call has no goal; ignored"
            ));
            return;
        }
        let outcome = if passed {
            Outcome::Passed
        } else {
            Outcome::Failed
        };
        self.decide(id, outcome, reason, out);
        self.hang_up_when_played(id, out);
    }

    /// One more reply of the model has started playing: at `--max-turns`, the call ends once
    /// it has played.
    pub(super) fn count_turn(&mut self, id: CallId, out: &mut Out) {
        let Some(max) = self.caller_of(id).and_then(|c| c.max_turns) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id).filter(|c| !c.is_ending()) else {
            return;
        };
        call.ai_turns += 1;
        if call.ai_turns == max {
            call.limit = Some(format!("reached --max-turns {max}"));
            self.hang_up_when_played(id, out);
        }
    }

    fn hang_up_when_played(&mut self, id: CallId, out: &mut Out) {
        let Some(call) = self.calls.get_mut(&id).filter(|c| !c.is_ending()) else {
            return;
        };
        if !std::mem::replace(&mut call.awaiting_goodbye, true) {
            out.push(Effect::HangupWhenPlayed {
                call: id,
                within: GOODBYE_LIMIT,
            });
        }
    }

    /// The model's audio has played (or `GOODBYE_LIMIT` passed): hang up, undecided when a
    /// limit brought us here and the model gave no verdict meanwhile.
    pub(super) fn on_played_out(&mut self, id: CallId, out: &mut Out) {
        let Some(call) = self.calls.get_mut(&id).filter(|c| !c.is_ending()) else {
            return;
        };
        call.awaiting_goodbye = false;
        if let Some(limit) = call.limit.clone() {
            if self.goal_of(id).is_some() {
                self.decide(id, Outcome::Undecided, limit, out);
            }
        }
        self.end_call(id, EndReason::LocalHangup, out);
    }

    /// `--max-duration` after the answer: hang up at once.
    pub(super) fn on_max_duration(&mut self, id: CallId, out: &mut Out) {
        let Some(secs) = self
            .caller_of(id)
            .and_then(|c| c.max_duration)
            .map(|d| d.as_secs())
        else {
            return;
        };
        if self.calls.get(&id).is_none_or(Call::is_ending) {
            return;
        }
        if self.goal_of(id).is_some() {
            let reason = format!("reached --max-duration {secs} s");
            self.decide(id, Outcome::Undecided, reason, out);
        }
        self.end_call(id, EndReason::LocalHangup, out);
    }

    /// The timers the answer starts for the AI caller.
    pub(super) fn arm_caller(&self, id: CallId, out: &mut Out) {
        if let Some(after) = self.caller_of(id).and_then(|c| c.max_duration) {
            out.push(Effect::Arm {
                timer: Timer::MaxDuration(id),
                after,
            });
        }
    }

    /// The dialog of an answered AI-caller call ended: without a verdict yet it is
    /// undecided, and the transcript file gets the verdict as its last line.
    pub(super) fn settle_verdict(&mut self, id: CallId, why: &Termination, out: &mut Out) {
        if self.goal_of(id).is_none() || !self.is_answered(id) {
            return;
        }
        let reason = match why {
            Termination::RemoteBye => "the agent hung up before the goal was decided",
            _ => "the call ended before the goal was decided",
        };
        self.decide(id, Outcome::Undecided, reason.to_owned(), out);
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if let (Some(path), Some(verdict)) = (call.transcript.clone(), &call.verdict) {
            out.push(Effect::AppendTranscript {
                path,
                text: verdict_line(verdict),
            });
        }
    }
}
