//! The step runner: a pure state machine that the driver feeds with a call's events and clock
//! ticks, and that answers with what to do next. Time is milliseconds since the answer.
//!
//! Rules, decided here once:
//! - A step starts when the previous one completes. A step that completes at a deadline
//!   (`pause_ms`, a silence long enough) completes *at* that deadline even when the tick comes
//!   later, so a script keeps an absolute schedule.
//! - `wait_for_voice` completes at the remote's speech start, or at once when the remote is
//!   already talking as the step starts (waiting for a *next* start would hang on an agent that
//!   talks long and then waits for us). It fails after its timeout.
//! - `wait_for_silence` completes once the remote has been silent for `ms`: counted from its
//!   last segment end, or from the step's start when it was silent already then. It fails when
//!   that has not happened within its timeout.
//! - `barge_in_after_ms` waits (up to 30 s) for the remote's speech start `s` (the current
//!   segment's start when it is already talking), plays at `s + after_ms` (at once if that is
//!   past), and completes when the file has gone out. If the remote stopped before then, it
//!   still plays: measuring how the agent reacts is the driver's job, not a step failure.
//! - `dtmf` completes as soon as the digits are handed over; `play` on `Played`.
//! - Every run ends with exactly one `Finished` or `Failed`, after which the driver hangs up if
//!   the call is still up. `hang_up` emits `HangUp` then `Finished`.
//! - The call ending early (the remote hung up, or the call failed) is fine when everything left
//!   is passive (`wait_for_silence`, `pause_ms`, `hang_up`): an agent that says goodbye and
//!   hangs up has passed a script that ends by waiting for silence. Anything else left (a play,
//!   a wait for voice, DTMF, a barge-in) fails the step in progress.
//! - Voice events are those of `Event::Voice`: their `at_ms` is the true time, reported after
//!   the voice detector has decided (up to ~300 ms late for an end). Only the remote side's
//!   count; timeouts are judged on what has been reported by then.

use std::path::PathBuf;

use super::{Action, Step, BUILTIN_GREETING};
use crate::vocab::Side;

const BARGE_IN_WAIT_MS: u64 = 30_000;

/// What the driver tells the runner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunInput {
    /// The call was answered: time 0, the first step starts.
    Answered,
    /// `Event::Voice` for this call.
    Voice {
        side: Side,
        speaking: bool,
        at_ms: u64,
    },
    /// `Event::Played`: the file asked for by the last `Play` has gone out.
    Played,
    /// The clock, at least by [`Runner::next_deadline_ms`].
    Tick { now_ms: u64 },
    /// The call is over (either side hung up, or it failed).
    Ended,
}

/// What the runner asks of the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunAction {
    /// Send this WAV (`Command::Play`); answer with `RunInput::Played` when it has gone out.
    Play(PathBuf),
    SendDtmf(String),
    HangUp,
    /// A step failed; `step` is 1-based, `line` is its line in the file.
    Failed {
        step: usize,
        line: usize,
        reason: String,
    },
    /// Every step is done.
    Finished,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the answer.
    Waiting,
    /// The current step has started and waits for an event or a deadline.
    Playing,
    Voice {
        fail_at: u64,
    },
    /// `quiet_from`: when the remote's current silence began (None while it talks).
    Silence {
        quiet_from: Option<u64>,
        ms: u64,
        fail_at: u64,
    },
    Pause {
        until: u64,
    },
    BargeWait {
        after_ms: u64,
        fail_at: u64,
    },
    BargeAt {
        at: u64,
    },
    /// Finished or Failed has been emitted.
    Done,
}

/// See the module's documentation for the rules.
#[derive(Debug)]
pub struct Runner {
    steps: Vec<Step>,
    current: usize,
    state: State,
    now: u64,
    remote_speaking: bool,
    remote_started: Option<u64>,
    remote_ended: Option<u64>,
    default_play: PathBuf,
}

impl Runner {
    pub fn new(steps: Vec<Step>) -> Runner {
        Runner {
            steps,
            current: 0,
            state: State::Waiting,
            now: 0,
            remote_speaking: false,
            remote_started: None,
            remote_ended: None,
            default_play: PathBuf::from(BUILTIN_GREETING),
        }
    }

    /// The WAV a barge-in step plays when it names none (default [`BUILTIN_GREETING`]).
    pub fn with_default_play(mut self, path: PathBuf) -> Runner {
        self.default_play = path;
        self
    }

    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// The step in progress (1-based), the number of steps, and the step, for a progress
    /// line; `None` before the answer and once done.
    pub fn current(&self) -> Option<(usize, usize, &Step)> {
        match self.state {
            State::Waiting | State::Done => None,
            _ => self
                .steps
                .get(self.current)
                .map(|s| (self.current + 1, self.steps.len(), s)),
        }
    }

    /// When the driver must send the next `Tick`, if the current step has a deadline.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        match self.state {
            State::Voice { fail_at } | State::BargeWait { fail_at, .. } => Some(fail_at),
            State::Silence {
                quiet_from,
                ms,
                fail_at,
            } => Some(quiet_from.map_or(fail_at, |q| (q + ms).min(fail_at))),
            State::Pause { until } => Some(until),
            State::BargeAt { at } => Some(at),
            State::Waiting | State::Playing | State::Done => None,
        }
    }

    pub fn on(&mut self, input: RunInput) -> Vec<RunAction> {
        let mut out = Vec::new();
        match input {
            RunInput::Answered => {
                if self.state == State::Waiting {
                    self.now = 0;
                    self.start_step(0, 0, &mut out);
                }
            }
            RunInput::Voice {
                side: Side::Remote,
                speaking,
                at_ms,
            } => {
                self.now = self.now.max(at_ms);
                // Deadlines that fell before this event's arrival are settled first, with the
                // remote's state as it was then.
                self.run_deadlines(&mut out);
                self.remote_speaking = speaking;
                if speaking {
                    self.remote_started = Some(at_ms);
                } else {
                    self.remote_ended = Some(at_ms);
                }
                self.on_voice(speaking, at_ms, &mut out);
            }
            RunInput::Voice {
                side: Side::Local, ..
            } => {}
            RunInput::Played => {
                if self.state == State::Playing {
                    self.complete(self.now, &mut out);
                }
            }
            RunInput::Tick { now_ms } => {
                self.now = self.now.max(now_ms);
                self.run_deadlines(&mut out);
            }
            RunInput::Ended => self.on_ended(&mut out),
        }
        out
    }

    fn on_voice(&mut self, speaking: bool, at_ms: u64, out: &mut Vec<RunAction>) {
        match (self.state, speaking) {
            (State::Voice { .. }, true) => self.complete(self.now, out),
            (State::Silence { ms, fail_at, .. }, _) => {
                self.state = State::Silence {
                    quiet_from: (!speaking).then_some(at_ms),
                    ms,
                    fail_at,
                };
                self.run_deadlines(out);
            }
            (State::BargeWait { after_ms, .. }, true) => {
                self.state = State::BargeAt {
                    at: at_ms + after_ms,
                };
                self.run_deadlines(out);
            }
            _ => {}
        }
    }

    /// Settle every deadline up to `now`, in order, starting the steps that follow.
    fn run_deadlines(&mut self, out: &mut Vec<RunAction>) {
        loop {
            let Some(deadline) = self.next_deadline_ms() else {
                return;
            };
            if deadline > self.now {
                return;
            }
            match self.state {
                State::Voice { .. } => {
                    let ms = self.step_timeout();
                    self.fail(format!("the remote did not start talking within {ms} ms"), out)
                }
                State::Silence {
                    quiet_from,
                    ms,
                    fail_at,
                } => match quiet_from {
                    Some(q) if q + ms <= fail_at => self.complete(q + ms, out),
                    _ => {
                        let timeout = self.step_timeout();
                        self.fail(
                            format!(
                                "the remote was not silent for {ms} ms within {timeout} ms"
                            ),
                            out,
                        )
                    }
                },
                State::Pause { until } => self.complete(until, out),
                State::BargeWait { .. } => self.fail(
                    format!("the remote did not start talking within {BARGE_IN_WAIT_MS} ms, so there was nothing to talk over"),
                    out,
                ),
                State::BargeAt { .. } => {
                    out.push(RunAction::Play(self.barge_in_file()));
                    self.state = State::Playing;
                }
                State::Waiting | State::Playing | State::Done => return,
            }
        }
    }

    fn step_timeout(&self) -> u64 {
        match self.steps.get(self.current).map(|s| &s.action) {
            Some(Action::WaitForVoice { timeout_ms })
            | Some(Action::WaitForSilence { timeout_ms, .. }) => *timeout_ms,
            _ => BARGE_IN_WAIT_MS,
        }
    }

    fn barge_in_file(&self) -> PathBuf {
        match self.steps.get(self.current).map(|s| &s.action) {
            Some(Action::BargeIn { play: Some(p), .. }) => p.clone(),
            _ => self.default_play.clone(),
        }
    }

    /// The current step is done at `at`; start the next.
    fn complete(&mut self, at: u64, out: &mut Vec<RunAction>) {
        self.start_step(self.current + 1, at, out);
    }

    fn start_step(&mut self, index: usize, at: u64, out: &mut Vec<RunAction>) {
        self.current = index;
        let Some(step) = self.steps.get(index) else {
            out.push(RunAction::Finished);
            self.state = State::Done;
            return;
        };
        match &step.action {
            Action::Play(path) => {
                out.push(RunAction::Play(path.clone()));
                self.state = State::Playing;
            }
            Action::WaitForVoice { timeout_ms } => {
                if self.remote_speaking {
                    return self.complete(at, out);
                }
                self.state = State::Voice {
                    fail_at: at + timeout_ms,
                };
            }
            Action::WaitForSilence { ms, timeout_ms } => {
                let quiet_from =
                    (!self.remote_speaking).then(|| self.remote_ended.unwrap_or(0).max(at));
                self.state = State::Silence {
                    quiet_from,
                    ms: *ms,
                    fail_at: at + timeout_ms,
                };
            }
            Action::Dtmf(digits) => {
                out.push(RunAction::SendDtmf(digits.clone()));
                return self.complete(at, out);
            }
            Action::BargeIn { after_ms, .. } => {
                self.state = match (self.remote_speaking, self.remote_started) {
                    (true, Some(s)) => State::BargeAt { at: s + after_ms },
                    _ => State::BargeWait {
                        after_ms: *after_ms,
                        fail_at: at + BARGE_IN_WAIT_MS,
                    },
                };
            }
            Action::Pause { ms } => {
                self.state = State::Pause { until: at + ms };
            }
            Action::HangUp => {
                out.push(RunAction::HangUp);
                out.push(RunAction::Finished);
                self.state = State::Done;
                return;
            }
        }
        self.run_deadlines(out);
    }

    fn on_ended(&mut self, out: &mut Vec<RunAction>) {
        match self.state {
            State::Done => {}
            State::Waiting => {
                out.push(RunAction::Failed {
                    step: 1,
                    line: self.steps.first().map_or(0, |s| s.line),
                    reason: "the call ended before it was answered".to_string(),
                });
                self.state = State::Done;
            }
            _ => {
                self.run_deadlines(out);
                if self.state == State::Done {
                    return;
                }
                let passive = self.steps[self.current..].iter().all(|s| {
                    matches!(
                        s.action,
                        Action::WaitForSilence { .. } | Action::Pause { .. } | Action::HangUp
                    )
                });
                if passive {
                    out.push(RunAction::Finished);
                    self.state = State::Done;
                } else {
                    self.fail("the call ended before this step was done".to_string(), out);
                }
            }
        }
    }

    fn fail(&mut self, why: String, out: &mut Vec<RunAction>) {
        let (line, name) = self
            .steps
            .get(self.current)
            .map_or((0, "step"), |s| (s.line, s.action.name()));
        let step = self.current + 1;
        out.push(RunAction::Failed {
            step,
            line,
            reason: format!("step {step} ({name}, line {line}): {why}"),
        });
        self.state = State::Done;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(actions: Vec<Action>) -> Vec<Step> {
        actions
            .into_iter()
            .enumerate()
            .map(|(i, action)| Step {
                line: 10 + 2 * i,
                action,
            })
            .collect()
    }

    fn remote(speaking: bool, at_ms: u64) -> RunInput {
        RunInput::Voice {
            side: Side::Remote,
            speaking,
            at_ms,
        }
    }

    fn tick(now_ms: u64) -> RunInput {
        RunInput::Tick { now_ms }
    }

    fn wav(name: &str) -> PathBuf {
        PathBuf::from(name)
    }

    #[test]
    fn play_completes_on_played_and_the_run_finishes() {
        let mut r = Runner::new(steps(vec![
            Action::Play(wav("a.wav")),
            Action::Play(wav("b.wav")),
        ]));
        assert_eq!(r.on(tick(100)), vec![], "nothing before the answer");
        assert_eq!(r.current(), None);
        assert_eq!(
            r.on(RunInput::Answered),
            vec![RunAction::Play(wav("a.wav"))]
        );
        assert_eq!(r.next_deadline_ms(), None);
        assert_eq!(
            r.current().map(|(i, n, s)| (i, n, s.line)),
            Some((1, 2, 10))
        );
        assert_eq!(r.on(RunInput::Played), vec![RunAction::Play(wav("b.wav"))]);
        assert_eq!(r.on(RunInput::Played), vec![RunAction::Finished]);
        assert!(r.done());
        assert_eq!(r.current(), None);
        assert_eq!(r.on(RunInput::Played), vec![]);
        assert_eq!(r.on(RunInput::Ended), vec![]);
    }

    #[test]
    fn no_steps_finish_at_the_answer() {
        let mut r = Runner::new(vec![]);
        assert_eq!(r.on(RunInput::Answered), vec![RunAction::Finished]);
        assert!(r.done());
    }

    #[test]
    fn wait_for_voice_completes_at_the_remote_speech_start() {
        let mut r = Runner::new(steps(vec![
            Action::WaitForVoice { timeout_ms: 5000 },
            Action::Pause { ms: 500 },
        ]));
        assert_eq!(r.on(RunInput::Answered), vec![]);
        assert_eq!(r.next_deadline_ms(), Some(5000));
        assert_eq!(r.on(tick(1000)), vec![]);
        // Our own voice does not count.
        let local = RunInput::Voice {
            side: Side::Local,
            speaking: true,
            at_ms: 1100,
        };
        assert_eq!(r.on(local), vec![]);
        assert_eq!(r.on(remote(true, 1200)), vec![]);
        // The pause started when the voice was reported: 1200 + 500.
        assert_eq!(r.next_deadline_ms(), Some(1700));
        assert_eq!(r.on(tick(1699)), vec![]);
        assert_eq!(r.on(tick(1700)), vec![RunAction::Finished]);
    }

    #[test]
    fn wait_for_voice_fails_at_its_timeout() {
        let mut r = Runner::new(steps(vec![
            Action::Pause { ms: 100 },
            Action::WaitForVoice { timeout_ms: 5000 },
        ]));
        r.on(RunInput::Answered);
        assert_eq!(r.on(tick(100)), vec![]);
        assert_eq!(r.next_deadline_ms(), Some(5100));
        assert_eq!(r.on(tick(5099)), vec![]);
        assert_eq!(
            r.on(tick(5100)),
            vec![RunAction::Failed {
                step: 2,
                line: 12,
                reason: "step 2 (wait_for_voice, line 12): the remote did not start talking within 5000 ms".into()
            }]
        );
        assert!(r.done());
        assert_eq!(r.on(remote(true, 5200)), vec![]);
    }

    #[test]
    fn wait_for_voice_is_done_at_once_when_the_remote_already_talks() {
        let mut r = Runner::new(steps(vec![
            Action::Play(wav("hello.wav")),
            Action::WaitForVoice { timeout_ms: 5000 },
            Action::Dtmf("1".into()),
        ]));
        r.on(RunInput::Answered);
        r.on(remote(true, 300));
        assert_eq!(
            r.on(RunInput::Played),
            vec![RunAction::SendDtmf("1".into()), RunAction::Finished]
        );
    }

    #[test]
    fn a_deadline_passed_before_a_voice_event_is_settled_first() {
        let mut r = Runner::new(steps(vec![
            Action::Pause { ms: 1000 },
            Action::WaitForVoice { timeout_ms: 5000 },
            Action::Pause { ms: 100 },
        ]));
        r.on(RunInput::Answered);
        // No tick at 1000: the voice at 1200 ends the pause, then the wait.
        assert_eq!(r.on(remote(true, 1200)), vec![]);
        assert_eq!(r.next_deadline_ms(), Some(1300));
    }

    #[test]
    fn wait_for_silence_counts_from_the_last_segment_end() {
        let mut r = Runner::new(steps(vec![
            Action::WaitForSilence {
                ms: 800,
                timeout_ms: 30_000,
            },
            Action::Pause { ms: 100 },
        ]));
        r.on(RunInput::Answered);
        r.on(remote(true, 500));
        assert_eq!(
            r.next_deadline_ms(),
            Some(30_000),
            "talking: only the timeout"
        );
        r.on(remote(false, 2000));
        assert_eq!(r.next_deadline_ms(), Some(2800));
        // It starts again before 800 ms of silence: the count restarts at the next end.
        r.on(remote(true, 2500));
        assert_eq!(r.next_deadline_ms(), Some(30_000));
        r.on(remote(false, 3000));
        assert_eq!(r.on(tick(3799)), vec![]);
        assert_eq!(r.on(tick(3850)), vec![]);
        // Completed at 3800 (not at the late tick), so the pause ends at 3900.
        assert_eq!(r.next_deadline_ms(), Some(3900));
        assert_eq!(r.on(tick(3900)), vec![RunAction::Finished]);
    }

    #[test]
    fn wait_for_silence_when_already_silent_counts_from_the_step_start() {
        let mut r = Runner::new(steps(vec![
            Action::Pause { ms: 3000 },
            Action::WaitForSilence {
                ms: 800,
                timeout_ms: 30_000,
            },
        ]));
        r.on(RunInput::Answered);
        r.on(remote(true, 200));
        r.on(remote(false, 1000));
        assert_eq!(r.on(tick(3000)), vec![]);
        assert_eq!(r.next_deadline_ms(), Some(3800));
        assert_eq!(r.on(tick(3800)), vec![RunAction::Finished]);
    }

    #[test]
    fn a_late_reported_end_counts_from_its_true_time() {
        let mut r = Runner::new(steps(vec![
            Action::Pause { ms: 3000 },
            Action::WaitForSilence {
                ms: 800,
                timeout_ms: 30_000,
            },
        ]));
        r.on(RunInput::Answered);
        r.on(remote(true, 200));
        r.on(tick(3000));
        // The detector decides at 3100 that speech ended at 2900.
        r.on(tick(3100));
        assert_eq!(r.on(remote(false, 2900)), vec![]);
        assert_eq!(r.next_deadline_ms(), Some(3700));
    }

    #[test]
    fn wait_for_silence_fails_when_the_remote_never_pauses() {
        let mut r = Runner::new(steps(vec![Action::WaitForSilence {
            ms: 800,
            timeout_ms: 2000,
        }]));
        r.on(RunInput::Answered);
        r.on(remote(true, 100));
        r.on(remote(false, 1500));
        // 1500 + 800 = 2300 is past the 2000 ms timeout.
        assert_eq!(r.next_deadline_ms(), Some(2000));
        assert_eq!(
            r.on(tick(2000)),
            vec![RunAction::Failed {
                step: 1,
                line: 10,
                reason: "step 1 (wait_for_silence, line 10): the remote was not silent for 800 ms within 2000 ms".into()
            }]
        );
    }

    #[test]
    fn dtmf_is_handed_over_and_the_next_step_starts_at_once() {
        let mut r = Runner::new(steps(vec![
            Action::Dtmf("12#".into()),
            Action::Play(wav("a.wav")),
        ]));
        assert_eq!(
            r.on(RunInput::Answered),
            vec![
                RunAction::SendDtmf("12#".into()),
                RunAction::Play(wav("a.wav"))
            ]
        );
    }

    #[test]
    fn barge_in_plays_after_ms_into_the_remote_speech() {
        let mut r = Runner::new(steps(vec![
            Action::BargeIn {
                after_ms: 1500,
                play: Some(wav("interrupt.wav")),
            },
            Action::Pause { ms: 10 },
        ]));
        r.on(RunInput::Answered);
        assert_eq!(r.next_deadline_ms(), Some(30_000));
        // The start at 1000 is reported at 1080.
        r.on(tick(1080));
        assert_eq!(r.on(remote(true, 1000)), vec![]);
        assert_eq!(r.next_deadline_ms(), Some(2500));
        assert_eq!(r.on(tick(2499)), vec![]);
        assert_eq!(
            r.on(tick(2500)),
            vec![RunAction::Play(wav("interrupt.wav"))]
        );
        assert_eq!(r.next_deadline_ms(), None);
        r.on(tick(4000));
        assert_eq!(r.on(RunInput::Played), vec![]);
        assert_eq!(r.next_deadline_ms(), Some(4010));
    }

    #[test]
    fn barge_in_plays_even_if_the_remote_stopped_and_defaults_to_the_greeting() {
        let mut r = Runner::new(steps(vec![Action::BargeIn {
            after_ms: 1500,
            play: None,
        }]))
        .with_default_play(wav("builtin.wav"));
        r.on(RunInput::Answered);
        r.on(remote(true, 1000));
        r.on(remote(false, 1400));
        assert_eq!(r.on(tick(2500)), vec![RunAction::Play(wav("builtin.wav"))]);
        assert_eq!(r.on(RunInput::Played), vec![RunAction::Finished]);
    }

    #[test]
    fn barge_in_counts_from_the_segment_already_under_way() {
        let mut r = Runner::new(steps(vec![
            Action::Pause { ms: 1000 },
            Action::BargeIn {
                after_ms: 300,
                play: Some(wav("x.wav")),
            },
        ]));
        r.on(RunInput::Answered);
        r.on(remote(true, 800));
        // 800 + 300 = 1100, after the pause ends at 1000.
        assert_eq!(r.on(tick(1000)), vec![]);
        assert_eq!(r.next_deadline_ms(), Some(1100));
        // Already past: play as soon as the step starts.
        let mut late = Runner::new(steps(vec![
            Action::Pause { ms: 1000 },
            Action::BargeIn {
                after_ms: 100,
                play: Some(wav("x.wav")),
            },
        ]));
        late.on(RunInput::Answered);
        late.on(remote(true, 500));
        assert_eq!(late.on(tick(1000)), vec![RunAction::Play(wav("x.wav"))]);
    }

    #[test]
    fn barge_in_fails_when_the_remote_never_talks() {
        let mut r = Runner::new(steps(vec![Action::BargeIn {
            after_ms: 100,
            play: None,
        }]));
        r.on(RunInput::Answered);
        let out = r.on(tick(30_000));
        assert!(
            matches!(&out[..], [RunAction::Failed { step: 1, line: 10, reason }]
                if reason.contains("did not start talking within 30000 ms")),
            "{out:?}"
        );
    }

    #[test]
    fn pauses_keep_an_absolute_schedule() {
        let mut r = Runner::new(steps(vec![
            Action::Pause { ms: 500 },
            Action::Pause { ms: 500 },
            Action::Dtmf("5".into()),
        ]));
        r.on(RunInput::Answered);
        assert_eq!(r.next_deadline_ms(), Some(500));
        assert_eq!(r.on(tick(520)), vec![]);
        assert_eq!(r.next_deadline_ms(), Some(1000));
        // One late tick settles both.
        let mut r2 = Runner::new(steps(vec![
            Action::Pause { ms: 500 },
            Action::Pause { ms: 500 },
            Action::Dtmf("5".into()),
        ]));
        r2.on(RunInput::Answered);
        assert_eq!(
            r2.on(tick(1200)),
            vec![RunAction::SendDtmf("5".into()), RunAction::Finished]
        );
        let mut zero = Runner::new(steps(vec![Action::Pause { ms: 0 }]));
        assert_eq!(zero.on(RunInput::Answered), vec![RunAction::Finished]);
    }

    #[test]
    fn hang_up_hangs_up_and_finishes() {
        let mut r = Runner::new(steps(vec![Action::Dtmf("1".into()), Action::HangUp]));
        assert_eq!(
            r.on(RunInput::Answered),
            vec![
                RunAction::SendDtmf("1".into()),
                RunAction::HangUp,
                RunAction::Finished
            ]
        );
        assert!(r.done());
        assert_eq!(r.on(RunInput::Ended), vec![]);
    }

    #[test]
    fn the_remote_hanging_up_during_passive_steps_is_fine() {
        let mut r = Runner::new(steps(vec![
            Action::WaitForSilence {
                ms: 800,
                timeout_ms: 30_000,
            },
            Action::Pause { ms: 500 },
            Action::HangUp,
        ]));
        r.on(RunInput::Answered);
        r.on(remote(true, 100));
        assert_eq!(r.on(RunInput::Ended), vec![RunAction::Finished]);
        assert!(r.done());
    }

    #[test]
    fn the_remote_hanging_up_before_a_wait_for_voice_fails_it() {
        let mut r = Runner::new(steps(vec![
            Action::Pause { ms: 500 },
            Action::WaitForVoice { timeout_ms: 5000 },
        ]));
        r.on(RunInput::Answered);
        assert_eq!(
            r.on(RunInput::Ended),
            vec![RunAction::Failed {
                step: 1,
                line: 10,
                reason: "step 1 (pause_ms, line 10): the call ended before this step was done"
                    .into()
            }]
        );
        // While playing, too.
        let mut playing = Runner::new(steps(vec![Action::Play(wav("a.wav"))]));
        playing.on(RunInput::Answered);
        assert!(matches!(
            &playing.on(RunInput::Ended)[..],
            [RunAction::Failed { step: 1, .. }]
        ));
    }

    #[test]
    fn ending_before_the_answer_fails() {
        let mut r = Runner::new(steps(vec![Action::WaitForVoice { timeout_ms: 5000 }]));
        assert_eq!(
            r.on(RunInput::Ended),
            vec![RunAction::Failed {
                step: 1,
                line: 10,
                reason: "the call ended before it was answered".into()
            }]
        );
        assert_eq!(r.on(RunInput::Answered), vec![]);
    }
}
