//! The command line as a user meets it: bad values exit with status 2 and one plain sentence,
//! `--help` documents every flag of the contract. No peers needed.

mod support;

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(support::sipterm::binary())
        .args(args)
        .env_remove("SIP_PASSWORD")
        .env_remove("OPENAI_API_KEY")
        // Not the developer's config file: no profile fills what a test leaves out.
        .env(
            "XDG_CONFIG_HOME",
            std::env::temp_dir().join("sipterm-no-config"),
        )
        .output()
        .expect("run sipterm");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn assert_refused(args: &[&str], expected: &str) {
    let mut full = vec!["--headless"];
    full.extend_from_slice(args);
    let (code, _, stderr) = run(&full);
    assert_eq!(code, 2, "{args:?} → {stderr}");
    assert!(
        stderr.contains(expected),
        "{args:?}: {stderr:?} lacks {expected:?}"
    );
}

#[test]
fn bad_values_exit_2_with_a_plain_sentence() {
    assert_refused(&["--sip-uri", "alice@example.com"], "is not a SIP URI");
    assert_refused(&["--sip-uri", "sip:a@b", "--transport", "sctp"], "sctp");
    assert_refused(&["--sip-uri", "sip:a@b", "--port", "70000"], "70000");
    assert_refused(
        &["--sip-uri", "sip:a@b", "--rtp-ports", "20000-10000"],
        "--rtp-ports '20000-10000'",
    );
    assert_refused(
        &["--sip-uri", "sip:a@b", "--play", "/nonexistent/tone.wav"],
        "--play '/nonexistent/tone.wav' cannot be used",
    );
    assert_refused(&["--sip-uri", "sip:a@b", "--codecs", "g729"], "--codecs");
    assert_refused(&["--sip-uri", "sip:a@b", "--voice", "robot"], "robot");
    assert_refused(
        &["--sip-uri", "sip:a@b", "--voice", "juni"],
        "--voice 'juni' is a voice of the GPT-Live API but not of the Realtime API (choose --api live",
    );
    assert_refused(&["--sip-uri", "sip:a@b", "--api", "beta"], "beta");
    assert_refused(&[], "--sip-uri");
    // Our own errors are one line.
    let (_, _, stderr) = run(&["--headless", "--sip-uri", "sip:a@b", "--rtp-ports", "x"]);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn the_ai_callers_flags_are_refused_in_bad_combinations() {
    let call = ["--call", "sip:agent@127.0.0.1:5999"];
    assert_refused(
        &["--sip-uri", "sip:a@b", "--bridge", "--goal", "g"],
        "--goal is for the AI caller: it needs --call",
    );
    assert_refused(
        &[call[0], call[1], "--persona", "p"],
        "--persona is for the AI caller: it needs --bridge",
    );
    let with_key = [
        call[0],
        call[1],
        "--bridge",
        "--api-key",
        "sk-x",
        "--goal",
        "g",
    ];
    assert_refused(
        &[&with_key[..], &["--max-turns", "0"]].concat(),
        "--max-turns must be at least 1",
    );
    assert_refused(
        &[&with_key[..], &["--max-duration", "0"]].concat(),
        "--max-duration '0' must be a number of seconds between 1 and 3600",
    );
    assert_refused(
        &[call[0], call[1], "--bridge", "--goal", "g"],
        "the AI caller (--persona/--goal) needs an OpenAI API key",
    );
    let (_, stdout, _) = run(&["--help"]);
    for flag in ["--persona", "--goal", "--max-turns", "--max-duration"] {
        assert!(stdout.contains(flag), "--help lacks {flag}");
    }
    assert!(stdout.contains("5 failed, 6 undecided"), "{stdout}");
}

#[test]
fn help_documents_every_contract_flag() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--sip-uri",
        "--registrar-uri",
        "--username",
        "--password",
        "--transport",
        "--port",
        "--duration",
        "--verbose",
        "--api",
        "--model",
        "--voice",
        "--instructions",
        "--api-key",
        "--bind",
        "--headless",
        "--json",
        "--auto-answer",
        "--bridge",
        "--realtime-url",
        "--audio",
        "--play",
        "--record",
        "--codecs",
        "--rtp-ports",
    ] {
        assert!(stdout.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn sip_port_in_use_exits_1_with_the_reason() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, _, stderr) = run(&[
        "--headless",
        "--sip-uri",
        "sip:a@127.0.0.1",
        "--bind",
        "127.0.0.1",
        "--port",
        &port,
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot use local address 127.0.0.1:{port} for SIP over UDP"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
