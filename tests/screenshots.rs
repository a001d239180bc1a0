//! Screenshots of sipterm's full-screen UI from a real run: the binary in a 120x40 tmux
//! terminal, registered at Kamailio, called by sipp, driven by keys. Each scene's screen is
//! written as `<name>.ansi` (`capture-pane -e -p`) and `<name>.html` (the same cells as HTML)
//! into `$SIPTERM_SCREENSHOTS_OUT`; scripts/screenshots.sh turns the HTML into PNGs.
//!
//! Ignored in the test suite (it writes files and proves nothing new); run it with
//! `bash scripts/screenshots.sh`.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::ansi_html::to_html;
use support::realtime_mock::{MockConfig, RealtimeMock};
use support::tmux::Tmux;
use support::tui::{
    ai_level_cells, bridged_tui, remote_level_cells, shows_word, statuses_received,
};
use support::{wait_until, Kamailio, Sipp};

/// The smallest size at which each call gets a full panel with meters.
const SIZE: (u16, u16) = (120, 40);
const ALICE: (&str, &str) = ("alice", "wonderland");
const WAIT: Duration = Duration::from_secs(20);

/// Where the scenes go: `$SIPTERM_SCREENSHOTS_OUT`, else `target/screenshots`.
fn out_dir() -> PathBuf {
    let dir = std::env::var_os("SIPTERM_SCREENSHOTS_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots"));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

fn save(tmux: &Tmux, name: &str) {
    let dir = out_dir();
    let ansi = tmux.capture_ansi();
    std::fs::write(dir.join(format!("{name}.ansi")), &ansi).expect("write the ANSI dump");
    let html = to_html(&ansi, SIZE.0, SIZE.1, &format!("sipterm: {name}"));
    std::fs::write(dir.join(format!("{name}.html")), html).expect("write the HTML");
    eprintln!("screenshot scene: {name}");
}

#[track_caller]
fn wait_screen(tmux: &Tmux, what: &str, test: impl Fn(&str) -> bool) -> String {
    tmux.wait_until(what, WAIT, test)
        .unwrap_or_else(|why| panic!("{why}"))
}

/// A scene that may not exist in this build: waits up to `timeout` and says so instead of
/// failing.
fn maybe_screen(tmux: &Tmux, what: &str, timeout: Duration, test: impl Fn(&str) -> bool) -> bool {
    match tmux.wait_until(what, timeout, test) {
        Ok(_) => true,
        Err(_) => {
            eprintln!("screenshot scene skipped: no {what} in this build");
            false
        }
    }
}

#[test]
#[ignore = "writes screenshots; run by scripts/screenshots.sh"]
fn screenshots_of_a_real_run() {
    let kamailio = Kamailio::start(&[ALICE]);
    // The voice bridge talks to the Realtime mock on loopback, never to the network.
    let mock = RealtimeMock::start(MockConfig::default());
    let tmux = bridged_tui(&kamailio, ALICE, &mock, SIZE);

    wait_screen(&tmux, "the registered state", |s| {
        shows_word(s, "registered")
    });
    // Let the header's expiry countdown tick once so the scene is not mid-draw.
    std::thread::sleep(Duration::from_millis(1500));
    save(&tmux, "idle");

    // The caller talks in bursts (1 s of tone, 3 s of silence), so that the bridged model
    // hears turns end and answers.
    let sipp = Sipp::uac("uac_wait_bye.xml", kamailio.addr())
        .service(ALICE.0)
        .tone_bursts(1.0, 3.0)
        .timeout(Duration::from_secs(120))
        .spawn();
    wait_screen(&tmux, "a ringing call", |s| {
        shows_word(s, "ringing") && s.contains("sipp")
    });
    std::thread::sleep(Duration::from_millis(1500));
    save(&tmux, "ringing");

    tmux.send_key("a");
    assert!(
        wait_until(WAIT, || statuses_received(&sipp.messages()).contains(&200)),
        "sipp got no 200 OK\n{}",
        tmux.report()
    );
    wait_screen(&tmux, "the call active with a remote level", |s| {
        shows_word(s, "active") && remote_level_cells(s) > 0
    });
    // A few seconds of audio: duration, meters and quality figures filled in; taken while
    // the caller talks.
    std::thread::sleep(Duration::from_secs(4));
    wait_screen(&tmux, "the caller talking", |s| remote_level_cells(s) > 0);
    save(&tmux, "call");

    // The bridge on: the model answers each burst (the AI meter moves, the transcript fills).
    tmux.send_key("b");
    if maybe_screen(&tmux, "live bridged call", WAIT, |s| {
        s.contains("bridge ● on") && ai_level_cells(s) > 0
    }) {
        // A couple of turns, then a moment when the model speaks.
        std::thread::sleep(Duration::from_secs(5));
        wait_screen(&tmux, "the model speaking", |s| ai_level_cells(s) > 0);
        save(&tmux, "bridged");
    }

    tmux.send_key("v");
    wait_screen(&tmux, "the SIP trace", |s| s.contains("INVITE sip:"));
    std::thread::sleep(Duration::from_millis(500));
    save(&tmux, "sip_trace");
    tmux.send_key("Escape");
    wait_screen(&tmux, "the calls again", |s| !s.contains("INVITE sip:"));

    tmux.send_key("?");
    if maybe_screen(&tmux, "help", Duration::from_secs(5), |s| {
        s.contains(" Keys ")
    }) {
        save(&tmux, "help");
    }
    tmux.send_key("Escape");

    // A second caller while the first call is live: two calls, the new one ringing.
    let second = Sipp::uac("uac_expect_status.xml", kamailio.addr())
        .service(ALICE.0)
        .key("expected_status", 486)
        .spawn();
    wait_screen(&tmux, "a second call ringing beside the live one", |s| {
        shows_word(s, "ringing") && shows_word(s, "active")
    });
    std::thread::sleep(Duration::from_millis(1500));
    save(&tmux, "two_calls");
    tmux.send_key("r");
    let run = second.wait();
    assert!(run.success(), "{run}\n{}", tmux.report());

    tmux.send_key("h");
    let run = sipp.wait();
    assert!(run.success(), "{run}\n{}", tmux.report());

    // Placing a call: the dial prompt with a URI typed, then early media (the callee's 183
    // plays its tone for a while before the 200).
    let callee = Sipp::uas("uas_early_media.xml")
        .key("early_ms", 8000)
        .timeout(Duration::from_secs(60))
        .spawn();
    wait_screen(&tmux, "the first call gone", |s| !shows_word(s, "active"));
    tmux.send_key("d");
    wait_screen(&tmux, "the dial prompt", |s| s.contains("dial:"));
    tmux.send_keys(&format!("sip:agent@127.0.0.1:{}", callee.local_port()));
    std::thread::sleep(Duration::from_millis(500));
    save(&tmux, "dialling");
    tmux.send_key("Enter");
    wait_screen(&tmux, "early media with a remote level", |s| {
        s.contains("early media") && remote_level_cells(s) > 0
    });
    std::thread::sleep(Duration::from_secs(2));
    save(&tmux, "early_media");
    wait_screen(&tmux, "the call we placed answered", |s| {
        shows_word(s, "active")
    });
    tmux.send_key("h");
    let run = callee.wait();
    assert!(run.success(), "{run}\n{}", tmux.report());
    tmux.send_key("q");
    tmux.wait_for_exit(WAIT)
        .unwrap_or_else(|why| panic!("{why}"))
        .assert_sane();
}

/// The AI caller in the full-screen UI: sipterm calls an agent (a second sipterm, headless,
/// bridged to its own mock that greets first and replies after 700 ms) with a persona and a
/// goal; the panel shows the goal, the turn-taking line and the transcript as they talk, and
/// the verdict once the caller's model ends the call.
#[test]
#[ignore = "writes screenshots; run by scripts/screenshots.sh"]
fn screenshot_of_an_ai_caller_call() {
    use support::free_udp_port_block;
    use support::realtime_mock::EndCall;

    let agent_mock = RealtimeMock::start(MockConfig {
        greet_after: Some(Duration::from_millis(400)),
        response_latency: Duration::from_millis(700),
        tone_ms: 900,
        ai_text: "Thanks for calling Luigi's, how can I help?".into(),
        ..MockConfig::default()
    });
    let rtp = free_udp_port_block(8);
    let (_agent, agent_uri) = support::sipterm::spawn_agent(
        (rtp, rtp + 3),
        &[
            "--bridge".into(),
            "--realtime-url".into(),
            agent_mock.url(),
            "--api-key".into(),
            agent_mock.api_key().into(),
        ],
    );
    let caller_mock = RealtimeMock::start(MockConfig {
        tone_ms: 900,
        ai_text: "Hi, I'd like a table for two at eight tonight, please.".into(),
        caller_transcript: "Thanks for calling Luigi's, how can I help?".into(),
        end_call: Some(EndCall {
            after_turns: 5,
            passed: true,
            reason: "Table for two at 8 pm booked under Sam, reference 4411.".into(),
        }),
        ..MockConfig::default()
    });
    let command = vec![
        support::sipterm::binary().display().to_string(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--port".into(),
        "0".into(),
        "--rtp-ports".into(),
        format!("{}-{}", rtp + 4, rtp + 7),
        "--audio".into(),
        "null".into(),
        "--from".into(),
        "sip:tester@127.0.0.1".into(),
        "--call".into(),
        agent_uri,
        "--bridge".into(),
        "--realtime-url".into(),
        caller_mock.url(),
        "--persona".into(),
        "Sam, a regular who speaks briefly and politely".into(),
        "--goal".into(),
        "Book a table for two at 8 pm tonight and get a reference number".into(),
    ];
    let tmux = Tmux::start(SIZE, &command, &[("OPENAI_API_KEY", caller_mock.api_key())]);
    wait_screen(&tmux, "the AI caller talking with turn figures", |s| {
        s.contains("goal") && s.contains("gap p50") && ai_level_cells(s) > 0
    });
    std::thread::sleep(Duration::from_secs(3));
    wait_screen(&tmux, "the model speaking", |s| ai_level_cells(s) > 0);
    save(&tmux, "ai_caller");
    wait_screen(&tmux, "the verdict", |s| s.contains("passed"));
    std::thread::sleep(Duration::from_millis(800));
    save(&tmux, "ai_caller_verdict");
    tmux.send_key("q");
    let _ = tmux.wait_for_exit(WAIT);
}
