//! The AI caller: the model's verdict, the limits that end a call undecided, the agent
//! hanging up first, and the verdict's place at the end of the transcript file.

use super::outgoing::{answer, placed};
use super::*;
use crate::vocab::{Outcome, Verdict};

fn caller(goal: Option<&str>, max_turns: Option<u32>, max_duration: Option<u64>) -> Policy {
    Policy {
        caller: Some(CallerPolicy {
            goal: goal.map(str::to_owned),
            max_turns,
            max_duration: max_duration.map(Duration::from_secs),
        }),
        ..policy()
    }
}

/// Dials, is answered, media runs (with a transcript file), and the bridge is on.
fn answered_and_bridged(s: &mut Script) -> (CallId, Vec<Effect>) {
    let (id, _) = s.dial("sip:agent@example.net");
    let mut all = s.on(Input::Answered {
        key: placed(1, 0),
        sdp: Some(answer()),
    });
    all.extend(s.on(Input::MediaStarted {
        call: id,
        result: Ok(MediaRunning {
            local_rtp: SocketAddr::new(IpAddr::from([192, 0, 2, 10]), 10_020),
            transcript: Some(PathBuf::from("/tmp/call-1.txt")),
        }),
    }));
    all.extend(s.on(Input::Command(Command::ToggleBridge(id))));
    all.extend(s.on(Input::BridgeStarted {
        call: id,
        result: Ok(()),
    }));
    (id, all)
}

fn bridge(s: &mut Script, id: CallId, event: BridgeEvent) -> Vec<Effect> {
    s.on(Input::Bridge {
        call: id,
        event,
        stats: BridgeStats::default(),
    })
}

fn turn(s: &mut Script, id: CallId) -> Vec<Effect> {
    bridge(s, id, BridgeEvent::Turn { latency_ms: 700 })
}

fn verdicts(effects: &[Effect]) -> Vec<&Verdict> {
    events(effects)
        .into_iter()
        .filter_map(|e| match e {
            Event::Verdict { verdict, .. } => Some(verdict),
            _ => None,
        })
        .collect()
}

fn waits_for_playing(effects: &[Effect], id: CallId) -> bool {
    effects.contains(&Effect::HangupWhenPlayed {
        call: id,
        within: GOODBYE_LIMIT,
    })
}

fn bye(effects: &[Effect]) -> bool {
    effects.iter().any(|e| matches!(e, Effect::Bye { .. }))
}

/// Our BYE went out: the dialog ends and the executor reports the teardown.
fn finish(s: &mut Script, id: CallId, why: Termination) -> Vec<Effect> {
    let mut all = s.on(Input::Terminated {
        key: placed(1, 0),
        why,
    });
    all.extend(s.on(Input::Finished {
        call: id,
        bridge: None,
        media: None,
    }));
    all
}

fn call_ended_verdict(effects: &[Effect]) -> Option<Verdict> {
    events(effects).into_iter().find_map(|e| match e {
        Event::CallEnded { verdict, .. } => verdict.clone(),
        _ => None,
    })
}

#[test]
fn the_goal_is_announced_with_the_call() {
    let mut s = Script::new(caller(Some("book a table"), None, None));
    let out = s.on(Input::Command(Command::Dial {
        target: "sip:agent@example.net".into(),
    }));
    assert!(
        matches!(events(&out)[0], Event::OutgoingCall { goal: Some(g), .. } if g == "book a table"),
        "{out:?}"
    );
}

#[test]
fn end_call_sets_the_verdict_and_hangs_up_once_the_goodbye_has_played() {
    let mut s = Script::new(caller(Some("book a table"), None, None));
    let (id, _) = answered_and_bridged(&mut s);
    let out = bridge(
        &mut s,
        id,
        BridgeEvent::EndCall {
            passed: true,
            reason: "Booked for 8 pm.".into(),
        },
    );
    let passed = Verdict {
        outcome: Outcome::Passed,
        reason: "Booked for 8 pm.".into(),
    };
    assert_eq!(verdicts(&out), [&passed]);
    assert!(waits_for_playing(&out, id), "{out:?}");
    assert!(!bye(&out), "not before the goodbye has played: {out:?}");
    let out = s.on(Input::PlayedOut { call: id });
    assert!(bye(&out), "{out:?}");
    assert!(verdicts(&out).is_empty());
    let out = finish(&mut s, id, Termination::LocalBye);
    assert!(out.contains(&Effect::AppendTranscript {
        path: PathBuf::from("/tmp/call-1.txt"),
        text: "verdict: passed — Booked for 8 pm.\n".into(),
    }));
    assert_eq!(call_ended_verdict(&out), Some(passed));
}

#[test]
fn a_second_end_call_does_not_change_the_verdict() {
    let mut s = Script::new(caller(Some("g"), None, None));
    let (id, _) = answered_and_bridged(&mut s);
    let end = |passed| BridgeEvent::EndCall {
        passed,
        reason: "r".into(),
    };
    bridge(&mut s, id, end(false));
    let out = bridge(&mut s, id, end(true));
    assert!(verdicts(&out).is_empty());
    assert!(!waits_for_playing(&out, id), "one wait is enough: {out:?}");
    assert_eq!(
        s.table
            .get(id)
            .and_then(|c| c.verdict.clone())
            .map(|v| v.outcome),
        Some(Outcome::Failed)
    );
}

#[test]
fn max_turns_hangs_up_undecided_after_the_last_reply_has_played() {
    let mut s = Script::new(caller(Some("g"), Some(3), None));
    let (id, _) = answered_and_bridged(&mut s);
    for _ in 0..2 {
        let out = turn(&mut s, id);
        assert!(!waits_for_playing(&out, id), "{out:?}");
    }
    let out = turn(&mut s, id);
    assert!(waits_for_playing(&out, id), "{out:?}");
    assert!(verdicts(&out).is_empty(), "the model may still decide");
    let out = s.on(Input::PlayedOut { call: id });
    assert_eq!(
        verdicts(&out),
        [&Verdict {
            outcome: Outcome::Undecided,
            reason: "reached --max-turns 3".into()
        }]
    );
    assert!(bye(&out));
}

#[test]
fn a_verdict_given_while_the_last_turn_plays_wins_over_max_turns() {
    let mut s = Script::new(caller(Some("g"), Some(1), None));
    let (id, _) = answered_and_bridged(&mut s);
    turn(&mut s, id);
    bridge(
        &mut s,
        id,
        BridgeEvent::EndCall {
            passed: true,
            reason: "done".into(),
        },
    );
    let out = s.on(Input::PlayedOut { call: id });
    assert!(verdicts(&out).is_empty());
    assert_eq!(
        s.table
            .get(id)
            .and_then(|c| c.verdict.clone())
            .map(|v| v.outcome),
        Some(Outcome::Passed)
    );
}

#[test]
fn max_duration_is_armed_at_the_answer_and_hangs_up_at_once() {
    let mut s = Script::new(caller(Some("g"), None, Some(30)));
    let (id, all) = answered_and_bridged(&mut s);
    assert!(all.contains(&Effect::Arm {
        timer: Timer::MaxDuration(id),
        after: Duration::from_secs(30),
    }));
    let out = s.on(Input::Timer(Timer::MaxDuration(id)));
    assert_eq!(verdicts(&out)[0].reason, "reached --max-duration 30 s");
    assert!(bye(&out));
}

#[test]
fn the_agent_hanging_up_first_leaves_the_goal_undecided() {
    let mut s = Script::new(caller(Some("g"), None, None));
    let (id, _) = answered_and_bridged(&mut s);
    let out = finish(&mut s, id, Termination::RemoteBye);
    let undecided = Verdict {
        outcome: Outcome::Undecided,
        reason: "the agent hung up before the goal was decided".into(),
    };
    assert_eq!(verdicts(&out), [&undecided]);
    assert_eq!(call_ended_verdict(&out), Some(undecided));
}

#[test]
fn a_persona_without_a_goal_has_no_verdict_but_keeps_its_limits() {
    let mut s = Script::new(caller(None, Some(1), None));
    let (id, _) = answered_and_bridged(&mut s);
    let out = bridge(
        &mut s,
        id,
        BridgeEvent::EndCall {
            passed: true,
            reason: "x".into(),
        },
    );
    assert!(verdicts(&out).is_empty());
    assert!(logs(&out)[0].contains("no goal"), "{out:?}");
    turn(&mut s, id);
    let out = s.on(Input::PlayedOut { call: id });
    assert!(verdicts(&out).is_empty());
    assert!(bye(&out));
    let out = finish(&mut s, id, Termination::LocalBye);
    assert_eq!(call_ended_verdict(&out), None);
}

#[test]
fn calls_we_answer_are_not_the_ai_callers() {
    let mut s = Script::new(caller(Some("g"), Some(1), None));
    let id = s.connected(1);
    let out = s.remote_bye(1, None);
    assert!(verdicts(&out).is_empty());
    assert_eq!(call_ended_verdict(&out), None);
    assert!(s.table.get(id).is_none());
}
