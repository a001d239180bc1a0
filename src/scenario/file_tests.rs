//! Tests of scenario parsing: every refusal names the right line.

use std::path::{Path, PathBuf};

use super::*;
use crate::scenario::Action;

/// A folder holding `hello.wav` (existence is all the parser checks), unique per test.
fn folder(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sipterm-scenario-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp folder");
    std::fs::write(dir.join("hello.wav"), b"RIFF").expect("temp wav");
    dir
}

fn parse_in(test: &str, src: &str) -> Result<Scenario, ScenarioError> {
    parse(src, &folder(test).join("scenario.toml"))
}

/// The line and problem of a refusal.
fn refused(test: &str, src: &str) -> (usize, Problem, String) {
    match parse_in(test, src) {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(e) => {
            let text = e.to_string();
            (
                e.line().unwrap_or(0),
                e.problem().cloned().expect("a line"),
                text,
            )
        }
    }
}

const HEAD: &str = "[call]\ntarget = \"sip:agent@127.0.0.1:5080\"\n";

#[test]
fn a_full_scenario_parses() {
    let src = r#"name = "booking"
[call]
target = "sip:agent@127.0.0.1:5080"
from = "sip:tester@example.com"
headers = { "X-Test-Run" = "42", "X-B" = "b" }
max_turns = 8
max_duration_s = 2.5
[suite]
repeat = 20
concurrency = 5
[[step]]
play = "hello.wav"
[[step]]
wait_for_voice = { timeout_s = 5 }
[[step]]
wait_for_silence = { ms = 800 }
[[step]]
dtmf = "12#a"
[[step]]
barge_in_after_ms = 1500
play = "hello.wav"
[[step]]
barge_in_after_ms = 0
[[step]]
pause_ms = 500
[[step]]
wait_for_voice = {}
[[step]]
hang_up = true
[expect]
greeting_within_ms = 3000
expect_turn_gap_p90_below_ms = 1200
transfer_to = "sip:human@example.com"
"#;
    let dir = folder("full");
    let s = parse(src, &dir.join("scenario.toml")).expect("valid");
    assert_eq!(s.name, "booking");
    assert_eq!(s.call.target.as_deref(), Some("sip:agent@127.0.0.1:5080"));
    assert_eq!(
        s.call.headers,
        vec![
            ("X-Test-Run".into(), "42".into()),
            ("X-B".into(), "b".into())
        ]
    );
    assert_eq!(s.call.max_turns, Some(8));
    assert_eq!(s.call.max_duration_ms, Some(2500));
    assert_eq!(s.suite.repeat, 20);
    assert_eq!(s.suite.concurrency, 5);
    let actions: Vec<Action> = s.steps.iter().map(|s| s.action.clone()).collect();
    let wav = dir.join("hello.wav");
    assert_eq!(
        actions,
        vec![
            Action::Play(wav.clone()),
            Action::WaitForVoice { timeout_ms: 5000 },
            Action::WaitForSilence {
                ms: 800,
                timeout_ms: 30_000
            },
            Action::Dtmf("12#A".into()),
            Action::BargeIn {
                after_ms: 1500,
                play: Some(wav)
            },
            Action::BargeIn {
                after_ms: 0,
                play: None
            },
            Action::Pause { ms: 500 },
            Action::WaitForVoice { timeout_ms: 30_000 },
            Action::HangUp,
        ]
    );
    let lines: Vec<usize> = s.steps.iter().map(|s| s.line).collect();
    assert_eq!(lines, vec![12, 14, 16, 18, 20, 23, 25, 27, 29]);
    assert_eq!(s.expect.greeting_within_ms, Some(3000));
    assert_eq!(s.expect.turn_gap_p90_below_ms, Some(1200));
    assert_eq!(
        s.expect.transfer_to.as_deref(),
        Some("sip:human@example.com")
    );
}

#[test]
fn the_example_in_assets_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/example-scenario.toml");
    let s = load(&path).expect("assets/example-scenario.toml is valid");
    assert_eq!(s.name, "agent greets, takes an interruption, and answers");
    assert_eq!(s.steps.len(), 9);
    assert_eq!(s.steps.last().map(|s| &s.action), Some(&Action::HangUp));
    assert_eq!(s.expect.greeting_within_ms, Some(3000));
}

#[test]
fn the_name_defaults_to_the_file_stem_and_the_issue_spelling_is_accepted() {
    let src = format!(
        "expect_greeting_within_ms = 2000\nexpect_transfer_to = \"sip:h@x\"\n{HEAD}[[step]]\nwait_for_voice = {{ timeout_s = 5 }}\n"
    );
    let s = parse(&src, &folder("stem").join("greets-fast.toml")).expect("valid");
    assert_eq!(s.name, "greets-fast");
    assert_eq!(s.expect.greeting_within_ms, Some(2000));
    assert_eq!(s.expect.transfer_to.as_deref(), Some("sip:h@x"));
    assert_eq!(s.suite, SuiteSpec::default());
}

#[test]
fn the_ai_caller_needs_no_steps() {
    let src = "[call]\ntarget = \"sip:a@b\"\nbridge = true\npersona = \"a hurried customer\"\ngoal = \"book a table for two\"\n[expect]\ntranscript = \"(?i)booking|reservation\"\nverdict = \"passed\"\n";
    let s = parse_in("ai", src).expect("valid");
    assert!(s.call.bridge);
    assert_eq!(s.call.goal.as_deref(), Some("book a table for two"));
    assert!(s.steps.is_empty());
    assert_eq!(s.expect.verdict, Some(crate::vocab::Outcome::Passed));
    let re = s.expect.transcript.expect("a regex");
    assert!(re.is_match("Your Reservation is confirmed"));
}

#[test]
fn unknown_step_names_the_line_and_the_choices() {
    let src = format!(
        "{HEAD}[[step]]\nplay = \"hello.wav\"\n\n[[step]]\nwait_for_vioce = {{ timeout_s = 5 }}\n"
    );
    let (line, problem, text) = refused("unknown-step", &src);
    assert_eq!(line, 7);
    assert_eq!(
        problem,
        Problem::UnknownStep {
            key: "wait_for_vioce".into()
        }
    );
    assert!(text.ends_with(
        "scenario.toml line 7: unknown step 'wait_for_vioce' (expected one of: play, wait_for_voice, wait_for_silence, dtmf, barge_in_after_ms, pause_ms, hang_up)"
    ), "{text}");
}

#[test]
fn unknown_keys_in_each_table() {
    let cases = [
        (
            "top",
            format!("{HEAD}[[steps]]\npause_ms = 1\n"),
            3,
            "steps",
            "at the top level",
        ),
        (
            "call",
            "[call]\ntarget = \"sip:a@b\"\ntarget_uri = \"x\"\n[[step]]\npause_ms = 1\n"
                .to_string(),
            3,
            "target_uri",
            "in [call]",
        ),
        (
            "suite",
            format!("{HEAD}[suite]\nrepeats = 3\n[[step]]\npause_ms = 1\n"),
            4,
            "repeats",
            "in [suite]",
        ),
        (
            "expect",
            format!("{HEAD}[[step]]\npause_ms = 1\n[expect]\ngreeting_ms = 3\n"),
            6,
            "greeting_ms",
            "in [expect]",
        ),
        (
            "voice",
            format!("{HEAD}[[step]]\nwait_for_voice = {{ timeout = 5 }}\n"),
            4,
            "timeout",
            "in wait_for_voice",
        ),
        (
            "silence",
            format!("{HEAD}[[step]]\nwait_for_silence = {{ ms = 5, max_s = 1 }}\n"),
            4,
            "max_s",
            "in wait_for_silence",
        ),
    ];
    for (test, src, want_line, want_key, want_table) in cases {
        let (line, problem, _) = refused(test, &src);
        assert_eq!(line, want_line, "{test}");
        match problem {
            Problem::UnknownKey { key, table, .. } => {
                assert_eq!(
                    (key.as_str(), table.as_str()),
                    (want_key, want_table),
                    "{test}"
                )
            }
            other => panic!("{test}: {other:?}"),
        }
    }
}

#[test]
fn two_actions_in_one_step_point_at_the_second() {
    let src = format!("{HEAD}[[step]]\npause_ms = 500\ndtmf = \"1\"\n");
    let (line, problem, _) = refused("two", &src);
    assert_eq!(line, 5);
    assert_eq!(
        problem,
        Problem::TwoActions {
            first: "pause_ms".into(),
            second: "dtmf".into()
        }
    );
    // barge_in pairs with play, with nothing else.
    let src =
        format!("{HEAD}[[step]]\nbarge_in_after_ms = 5\nplay = \"hello.wav\"\nhang_up = true\n");
    let (line, problem, _) = refused("two-barge", &src);
    assert_eq!(line, 6);
    assert!(matches!(problem, Problem::TwoActions { .. }));
}

#[test]
fn an_empty_step_is_refused_at_its_header() {
    let src = format!("{HEAD}[[step]]\npause_ms = 5\n[[step]]\n[[step]]\npause_ms = 5\n");
    let (line, problem, _) = refused("empty", &src);
    assert_eq!(line, 5);
    assert_eq!(problem, Problem::EmptyStep);
}

#[test]
fn wrong_types_are_refused_at_the_value() {
    let cases = [
        (
            "str-timeout",
            format!("{HEAD}[[step]]\nwait_for_voice = {{ timeout_s = \"5\" }}\n"),
            4,
            "timeout_s",
        ),
        (
            "float-ms",
            format!("{HEAD}[[step]]\npause_ms = 1.5\n"),
            4,
            "pause_ms",
        ),
        (
            "hang-up-false",
            format!("{HEAD}[[step]]\nhang_up = false\n"),
            4,
            "hang_up",
        ),
        (
            "silence-no-ms",
            format!("{HEAD}[[step]]\nwait_for_silence = {{ timeout_s = 3 }}\n"),
            4,
            "wait_for_silence",
        ),
        (
            "bridge-str",
            "[call]\nbridge = \"yes\"\n[[step]]\npause_ms = 1\n".to_string(),
            2,
            "bridge",
        ),
        (
            "verdict-word",
            format!(
                "{HEAD}bridge = true\npersona = \"p\"\ngoal = \"g\"\n[expect]\nverdict = \"ok\"\n"
            ),
            7,
            "verdict",
        ),
        (
            "header-name",
            "[call]\nheaders = { \"X Bad\" = \"1\" }\n[[step]]\npause_ms = 1\n".to_string(),
            2,
            "X Bad",
        ),
        (
            "header-crlf",
            "[call]\nheaders = { \"X-A\" = \"1\\r\\nVia: evil\" }\n[[step]]\npause_ms = 1\n"
                .to_string(),
            2,
            "X-A",
        ),
        (
            "empty-target",
            "[call]\ntarget = \"\"\n[[step]]\npause_ms = 1\n".to_string(),
            2,
            "target",
        ),
    ];
    for (test, src, want_line, want_key) in cases {
        let (line, problem, _) = refused(test, &src);
        assert_eq!(line, want_line, "{test}");
        match problem {
            Problem::WrongType { key, .. } => assert_eq!(key, want_key, "{test}"),
            other => panic!("{test}: {other:?}"),
        }
    }
}

#[test]
fn negative_or_absurd_numbers_are_refused() {
    let cases = [
        (
            "negative-pause",
            format!("{HEAD}[[step]]\npause_ms = -500\n"),
            4,
            "-500",
        ),
        (
            "huge-timeout",
            format!("{HEAD}[[step]]\nwait_for_voice = {{ timeout_s = 100000 }}\n"),
            4,
            "100000",
        ),
        (
            "zero-timeout",
            format!("{HEAD}[[step]]\nwait_for_voice = {{ timeout_s = 0 }}\n"),
            4,
            "0",
        ),
        (
            "zero-repeat",
            format!("{HEAD}[suite]\nrepeat = 0\n[[step]]\npause_ms = 1\n"),
            4,
            "0",
        ),
        (
            "overflow",
            format!("{HEAD}[[step]]\nbarge_in_after_ms = 99999999999999999999\n"),
            4,
            "99999999999999999999",
        ),
        (
            "greeting",
            format!("{HEAD}[[step]]\npause_ms = 1\n[expect]\ngreeting_within_ms = -1\n"),
            6,
            "-1",
        ),
    ];
    for (test, src, want_line, want_value) in cases {
        let (line, problem, text) = refused(test, &src);
        assert_eq!(line, want_line, "{test}: {text}");
        match problem {
            Problem::OutOfRange { value, .. } => assert_eq!(value, want_value, "{test}"),
            other => panic!("{test}: {other:?}"),
        }
    }
    let (_, _, text) = refused(
        "negative-text",
        &format!("{HEAD}[[step]]\npause_ms = -500\n"),
    );
    assert!(
        text.ends_with("line 4: 'pause_ms' = -500 is out of range (0 to 3600000 ms)"),
        "{text}"
    );
}

#[test]
fn a_bad_regex_is_refused_in_one_sentence() {
    let src = format!("{HEAD}bridge = true\npersona = \"p\"\ngoal = \"g\"\n\n[expect]\ntranscript = \"booking|(reservation\"\n");
    let (line, problem, text) = refused("regex", &src);
    assert_eq!(line, 8);
    assert_eq!(
        problem,
        Problem::BadRegex {
            key: "transcript".into(),
            reason: "unclosed group".into()
        }
    );
    assert!(!text.contains('\n'), "{text}");
}

#[test]
fn a_missing_wav_is_refused_with_where_it_was_looked_for() {
    let src = format!("{HEAD}[[step]]\nbarge_in_after_ms = 100\nplay = \"nope.wav\"\n");
    let (line, problem, _) = refused("missing-wav", &src);
    assert_eq!(line, 5);
    let want = folder("missing-wav").join("nope.wav").display().to_string();
    assert_eq!(
        problem,
        Problem::MissingFile {
            key: "play".into(),
            path: want
        }
    );
}

#[test]
fn bad_dtmf_names_the_character() {
    let (line, problem, _) = refused("dtmf", &format!("{HEAD}[[step]]\ndtmf = \"12x#\"\n"));
    assert_eq!(line, 4);
    assert_eq!(
        problem,
        Problem::BadDtmf {
            digits: "12x#".into(),
            bad: 'x'
        }
    );
}

#[test]
fn an_expectation_written_twice_is_refused_at_the_second() {
    let src = format!("expect_greeting_within_ms = 3000\n{HEAD}[[step]]\npause_ms = 1\n[expect]\ngreeting_within_ms = 2000\n");
    let (line, problem, _) = refused("twice", &src);
    assert_eq!(line, 7);
    assert_eq!(
        problem,
        Problem::Duplicate {
            key: "greeting_within_ms".into(),
            first: "expect_greeting_within_ms".into()
        }
    );
}

#[test]
fn persona_goal_transcript_and_verdict_need_the_bridge() {
    let (line, problem, _) = refused(
        "persona",
        &format!("{HEAD}persona = \"a customer\"\n[[step]]\npause_ms = 1\n"),
    );
    assert_eq!(line, 3);
    assert!(matches!(problem, Problem::NeedsBridge { key, .. } if key == "persona"));
    let (line, problem, _) = refused(
        "transcript",
        &format!("{HEAD}[[step]]\npause_ms = 1\n[expect]\ntranscript = \"hi\"\n"),
    );
    assert_eq!(line, 6);
    assert!(matches!(problem, Problem::NeedsBridge { key, .. } if key == "transcript"));
    let (line, problem, _) = refused(
        "verdict",
        &format!("expect_verdict = \"passed\"\n{HEAD}[[step]]\npause_ms = 1\n"),
    );
    assert_eq!(line, 1);
    assert!(matches!(problem, Problem::NeedsBridge { key, .. } if key == "expect_verdict"));
}

#[test]
fn the_bridge_needs_persona_and_goal_and_no_played_audio() {
    let (line, problem, _) = refused(
        "no-goal",
        &format!("{HEAD}bridge = true\npersona = \"p\"\n"),
    );
    assert_eq!(line, 3);
    assert_eq!(
        problem,
        Problem::BridgeWithoutPersonaOrGoal {
            missing: "goal".into()
        }
    );
    let (_, problem, _) = refused("no-both", &format!("{HEAD}bridge = true\n"));
    assert_eq!(
        problem,
        Problem::BridgeWithoutPersonaOrGoal {
            missing: "persona and goal".into()
        }
    );
    let src = format!("{HEAD}bridge = true\npersona = \"p\"\ngoal = \"g\"\n[[step]]\npause_ms = 1\n[[step]]\nplay = \"hello.wav\"\n");
    let (line, problem, _) = refused("bridge-play", &src);
    assert_eq!(line, 9);
    assert_eq!(problem, Problem::NotWithBridge { key: "play".into() });
}

#[test]
fn steps_after_hang_up_never_run() {
    let src = format!("{HEAD}[[step]]\nhang_up = true\n[[step]]\npause_ms = 5\n");
    let (line, problem, _) = refused("after-hang-up", &src);
    assert_eq!(line, 6);
    assert_eq!(problem, Problem::AfterHangUp { hang_up_line: 4 });
}

#[test]
fn a_scenario_with_nothing_to_do_is_refused() {
    let (line, problem, _) = refused("nothing", HEAD);
    assert_eq!(line, 1);
    assert_eq!(problem, Problem::NothingToDo);
}

#[test]
fn invalid_toml_names_its_line() {
    let src = format!("{HEAD}[[step]]\npause_ms = 5\nplay = \"a.wav\n");
    let (line, problem, text) = refused("syntax", &src);
    assert_eq!(line, 5);
    assert!(matches!(problem, Problem::Syntax(_)), "{problem:?}");
    assert!(!text.contains('\n'), "{text}");
    let (line, _, _) = refused(
        "dup-key",
        &format!("{HEAD}[[step]]\npause_ms = 5\npause_ms = 6\n"),
    );
    assert_eq!(line, 5);
}

#[test]
fn an_unreadable_file_says_which() {
    let err = load(Path::new("/nonexistent/sipterm/scenario.toml")).expect_err("no such file");
    assert_eq!(err.line(), None);
    assert!(err
        .to_string()
        .starts_with("cannot read /nonexistent/sipterm/scenario.toml: "));
}

#[test]
fn integers_may_use_underscores_and_hex() {
    let src = format!("{HEAD}[[step]]\npause_ms = 1_000\n[[step]]\npause_ms = 0x10\n");
    let s = parse_in("digits", &src).expect("valid");
    let actions: Vec<Action> = s.steps.into_iter().map(|s| s.action).collect();
    assert_eq!(
        actions,
        vec![Action::Pause { ms: 1000 }, Action::Pause { ms: 16 }]
    );
}
