//! Issue 13, suites: `sipterm test scenario.toml --repeat N --concurrency K --report DIR`
//! against an agent that behaves like one (a second sipterm answering every call with a
//! greeting after a known pause, then silence). The report folder is checked file by file:
//! a stereo WAV and a transcript per call, `summary.json`, and a JUnit file that must parse
//! and count every call. Bad scenarios are refused before any call, naming the line.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::wav::{read_wav, write_wav, Wav};
use support::{free_udp_port_block, ScratchDir, Sipterm};

const LONG: Duration = Duration::from_secs(90);
/// The agent's greeting starts this long after it answers.
const GREETING_AT_MS: usize = 600;

/// A WAV of `pattern`: (ms of silence, ms of a 500 Hz tone at half scale) pairs, 8 kHz.
fn pattern_wav(path: &Path, pattern: &[(usize, usize)]) {
    let mut samples = Vec::new();
    for &(silence, tone) in pattern {
        samples.extend(std::iter::repeat_n(0i16, silence * 8));
        samples.extend((0..tone * 8).map(|i| {
            let t = i as f64 / 8000.0;
            (16_000.0 * (2.0 * std::f64::consts::PI * 500.0 * t).sin()) as i16
        }));
    }
    write_wav(
        path,
        &Wav {
            rate: 8000,
            channels: 1,
            samples,
        },
    )
    .expect("write a pattern WAV");
}

/// A second sipterm standing in for a voice agent: answers every call at once and plays
/// `GREETING_AT_MS` of silence, an 800 ms greeting, then 6 s of silence (looped).
struct Agent {
    uri: String,
    process: Sipterm,
    _dir: ScratchDir,
}

impl Agent {
    fn start() -> Agent {
        let dir = ScratchDir::new("suite-agent");
        let wav = dir.join("agent.wav");
        pattern_wav(&wav, &[(GREETING_AT_MS, 800), (6000, 0)]);
        let rtp = free_udp_port_block(40);
        let (process, uri) = support::sipterm::spawn_agent(
            (rtp, rtp + 39),
            &["--play".into(), wav.display().to_string()],
        );
        Agent {
            uri,
            process,
            _dir: dir,
        }
    }
}

/// Writes `scenario.toml` (and the clip it plays) into `dir`.
fn write_scenario(dir: &ScratchDir, body: &str) -> std::path::PathBuf {
    pattern_wav(&dir.join("hello.wav"), &[(0, 400)]);
    let path = dir.join("scenario.toml");
    std::fs::write(&path, body).expect("write the scenario");
    path
}

fn scenario_for(agent: &Agent, greeting_within_ms: u64) -> String {
    format!(
        r#"name = "agent greets"

[call]
target = "{}"

[[step]]
wait_for_voice = {{ timeout_s = 5 }}

[[step]]
wait_for_silence = {{ ms = 300 }}

[[step]]
play = "hello.wav"

[[step]]
hang_up = true

[expect]
greeting_within_ms = {greeting_within_ms}
"#,
        agent.uri
    )
}

/// `sipterm test <scenario> <flags>`, headless, no account, on free ports.
fn run_test(scenario: &Path, flags: &[&str]) -> Sipterm {
    let rtp = free_udp_port_block(40);
    let mut args: Vec<String> = vec![
        "test".into(),
        scenario.display().to_string(),
        "--headless".into(),
        "--port".into(),
        "0".into(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--from".into(),
        "sip:tester@127.0.0.1".into(),
        "--audio".into(),
        "null".into(),
        "--rtp-ports".into(),
        format!("{rtp}-{}", rtp + 39),
    ];
    args.extend(flags.iter().map(|f| f.to_string()));
    Sipterm::spawn(args)
}

fn junit_counts(path: &Path) -> (usize, usize, Vec<String>) {
    let text = std::fs::read_to_string(path).expect("junit.xml");
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("junit.xml does not parse: {e}\n{text}"));
    let cases: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let failures = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .count();
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("a testsuite element");
    assert_eq!(
        suite.attribute("tests").and_then(|t| t.parse().ok()),
        Some(cases.len()),
        "tests attribute\n{text}"
    );
    let names = cases
        .iter()
        .filter_map(|c| c.attribute("name").map(str::to_owned))
        .collect();
    (cases.len(), failures, names)
}

#[test]
fn twenty_calls_five_at_once_write_a_report_a_ci_system_reads() {
    let agent = Agent::start();
    let dir = ScratchDir::new("suite-20");
    let scenario = write_scenario(&dir, &scenario_for(&agent, 2000));
    let report = dir.join("report");
    let report_arg = report.display().to_string();
    let mut run = run_test(
        &scenario,
        &[
            "--repeat",
            "20",
            "--concurrency",
            "5",
            "--report",
            &report_arg,
        ],
    );
    let code = run.exit_code(LONG);
    assert_eq!(code, 0, "every call should pass\n{}", run.report());

    let (tests, failures, names) = junit_counts(&report.join("junit.xml"));
    assert_eq!((tests, failures), (20, 0), "{names:?}");

    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(report.join("summary.json")).expect("summary.json"),
    )
    .expect("summary.json is JSON");
    let calls = summary["calls"].as_array().expect("summary.calls");
    assert_eq!(calls.len(), 20, "{summary:#}");
    for (i, call) in calls.iter().enumerate() {
        let greeting = call["turn_taking"]["greeting_ms"]
            .as_u64()
            .unwrap_or_else(|| panic!("call {i} has no greeting figure\n{call:#}"));
        // The agent's pause, counted from its own media start, which is ours give or take the
        // 200 OK's trip and one 20 ms frame either way, plus what the path adds.
        assert!(
            (GREETING_AT_MS as u64 - 40..GREETING_AT_MS as u64 + 200).contains(&greeting),
            "call {i}: greeting {greeting} ms\n{call:#}"
        );
    }
    for n in 1..=20 {
        let wav = report.join(format!("call-{n:03}.wav"));
        let recording = read_wav(&wav).unwrap_or_else(|e| panic!("{e}\n{}", run.report()));
        assert_eq!(recording.channels, 2, "{}", wav.display());
        assert!(recording.duration_secs() > 1.0, "{}", wav.display());
        let transcript = std::fs::read_to_string(report.join(format!("call-{n:03}.txt")))
            .unwrap_or_else(|e| panic!("call {n} transcript: {e}"));
        assert!(
            transcript.contains("agent start speaking") && transcript.contains("played"),
            "call {n}:\n{transcript}"
        );
    }
    // The agent really had five calls at once.
    let agent_out = agent.process.stdout();
    assert!(
        agent_out.matches("answered").count() >= 20,
        "agent saw fewer than 20 calls\n{agent_out}"
    );
}

#[test]
fn a_failed_expectation_fails_the_run_and_its_junit_test_cases() {
    let agent = Agent::start();
    let dir = ScratchDir::new("suite-fail");
    // No agent greets within 100 ms: each call fails its expectation.
    let scenario = write_scenario(&dir, &scenario_for(&agent, 100));
    let report = dir.join("report");
    let report_arg = report.display().to_string();
    let mut run = run_test(
        &scenario,
        &[
            "--repeat",
            "2",
            "--concurrency",
            "2",
            "--report",
            &report_arg,
        ],
    );
    assert_eq!(run.exit_code(LONG), 5, "{}", run.report());
    let (tests, failures, _) = junit_counts(&report.join("junit.xml"));
    assert_eq!((tests, failures), (2, 2));
    let junit = std::fs::read_to_string(report.join("junit.xml")).unwrap();
    assert!(junit.contains("greeting"), "{junit}");
}

#[test]
fn a_bad_scenario_is_refused_before_any_call_naming_the_line() {
    let dir = ScratchDir::new("suite-bad");
    // A listening UDP socket stands in for the target: nothing may reach it.
    let target = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    target
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let uri = format!("sip:agent@{}", target.local_addr().unwrap());
    let cases = [
        (
            "[call]\ntarget = \"URI\"\n\n[[step]]\nwait_for_vioce = { timeout_s = 5 }\n",
            "line 5",
            "wait_for_vioce",
        ),
        (
            "[call]\ntarget = \"URI\"\n\n[expect]\ntranscript = \"(unclosed\"\n",
            "line 5",
            "transcript",
        ),
    ];
    for (body, line, word) in cases {
        let path = write_scenario(&dir, &body.replace("URI", &uri));
        let mut run = run_test(&path, &[]);
        assert_eq!(run.exit_code(LONG), 2, "{}", run.report());
        let err = run.stderr();
        assert!(
            err.contains(line) && err.contains(word),
            "expected {line} and {word:?} in: {err}"
        );
        let mut buf = [0u8; 2048];
        assert!(
            target.recv_from(&mut buf).is_err(),
            "a refused scenario still sent SIP"
        );
    }
}

#[test]
fn a_scripted_call_past_its_max_duration_is_hung_up_and_failed() {
    let agent = Agent::start();
    let dir = ScratchDir::new("suite-max-duration");
    let scenario = write_scenario(
        &dir,
        &format!(
            "[call]\ntarget = \"{}\"\nmax_duration_s = 1\n\n[[step]]\npause_ms = 20000\n\n[[step]]\nhang_up = true\n",
            agent.uri
        ),
    );
    let started = std::time::Instant::now();
    let mut run = run_test(&scenario, &["--json"]);
    assert_eq!(run.exit_code(LONG), 5, "{}", run.report());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the 20 s pause was not cut at 1 s"
    );
    let judged = support::events::events(&run)
        .into_iter()
        .find(|e| support::events::is(e, "suite_call"))
        .unwrap_or_else(|| panic!("no suite_call\n{}", run.report()));
    assert_eq!(judged["outcome"], "failed");
    assert!(
        judged["failures"][0]
            .as_str()
            .is_some_and(|f| f.contains("max_duration_s = 1")),
        "{judged}"
    );
    let ended = support::events::events(&run)
        .into_iter()
        .find(|e| support::events::is(e, "call_ended"))
        .expect("call_ended");
    assert_eq!(ended["reason"], "local_hangup", "{ended}");
    let secs = ended["duration_ms"].as_u64().unwrap_or(0);
    assert!((900..2_000).contains(&secs), "{ended}");
}
