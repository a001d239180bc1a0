//! sipterm's full-screen UI end to end: the real binary in a real terminal (tmux), registered at
//! Kamailio, called by sipp, driven by the keys a person presses; after it quits the shell is
//! back and the terminal is sane (main screen, cursor shown, not raw).

mod support;

use std::time::Duration;

use support::realtime_mock::{MockConfig, RealtimeMock};
use support::tmux::{AfterExit, Tmux};
use support::tui::{
    ai_level_cells, bridged_tui, remote_level_cells, shows_word, statuses_received, statuses_sent,
    tui_command,
};
use support::{wait_until, Kamailio, Sipp, SippProcess};

const ALICE: (&str, &str) = ("alice", "wonderland");
const WAIT: Duration = Duration::from_secs(20);

/// sipterm registered as alice at `kamailio`, in the TUI, echoing audio.
fn sipterm_command(kamailio: &Kamailio) -> Vec<String> {
    tui_command(kamailio, ALICE.0, ALICE.1, &["--audio", "echo"])
}

/// sipp calling alice through Kamailio with a looped 1 kHz tone until it gets a BYE. The
/// timeout leaves time for the keys the test presses.
fn call_alice(kamailio: &Kamailio) -> SippProcess {
    Sipp::uac("uac_wait_bye.xml", kamailio.addr())
        .service(ALICE.0)
        .timeout(Duration::from_secs(60))
        .spawn()
}

#[track_caller]
fn wait_screen(tmux: &Tmux, what: &str, test: impl Fn(&str) -> bool) -> String {
    tmux.wait_until(what, WAIT, test)
        .unwrap_or_else(|why| panic!("{why}"))
}

#[track_caller]
fn wait_registered(tmux: &Tmux) -> String {
    wait_screen(tmux, "the registered state", |s| {
        shows_word(s, "registered")
    })
}

/// Waits for the ringing call from sipp and checks sipterm has not answered it by itself.
#[track_caller]
fn wait_ringing(tmux: &Tmux, sipp: &SippProcess) -> String {
    let screen = wait_screen(tmux, "a ringing call from sipp", |s| {
        shows_word(s, "ringing") && s.contains("sipp")
    });
    // The screen can show the call before sipp has logged the 180 that went out with it.
    assert!(
        wait_until(WAIT, || statuses_received(&sipp.messages()).contains(&180)),
        "sipp got no 180 Ringing\n{}",
        sipp.messages()
    );
    let statuses = statuses_received(&sipp.messages());
    assert!(
        !statuses.contains(&200),
        "answered without a key: {statuses:?}"
    );
    screen
}

/// Presses `a` and waits for sipp's 200 OK and the active call on screen.
#[track_caller]
fn answer(tmux: &Tmux, sipp: &SippProcess) -> String {
    tmux.send_key("a");
    assert!(
        wait_until(WAIT, || statuses_received(&sipp.messages()).contains(&200)),
        "sipp got no 200 OK after `a`\n{}\n== sipp messages:\n{}",
        tmux.report(),
        sipp.messages()
    );
    wait_screen(tmux, "the active call", |s| shows_word(s, "active"))
}

#[track_caller]
fn assert_exited_sane(tmux: &Tmux) -> AfterExit {
    let after = tmux
        .wait_for_exit(WAIT)
        .unwrap_or_else(|why| panic!("{why}"));
    assert_eq!(
        after.exit_status, 0,
        "sipterm exit status\n{}",
        after.screen
    );
    assert!(
        !after.screen.contains("panicked"),
        "panic on screen\n{}",
        after.screen
    );
    after.assert_sane();
    after
}

#[test]
fn answers_and_hangs_up_from_the_keyboard_then_quits_sane() {
    let kamailio = Kamailio::start(&[ALICE]);
    let tmux = Tmux::start((80, 24), &sipterm_command(&kamailio), &[]);
    wait_registered(&tmux);
    kamailio
        .wait_for_contacts(ALICE.0, |c| !c.is_empty(), WAIT)
        .unwrap_or_else(|why| panic!("not bound at Kamailio: {why}"));

    let sipp = call_alice(&kamailio);
    wait_ringing(&tmux, &sipp);
    let first = answer(&tmux, &sipp);

    // sipp streams a tone: the remote meter fills, and the screen keeps updating (the
    // call's clock ticks).
    let with_level = wait_screen(&tmux, "a level on the remote meter", |s| {
        remote_level_cells(s) > 0
    });
    wait_screen(&tmux, "the call panel updating", |s| {
        s != first && s != with_level
    });

    tmux.send_key("h");
    let run = sipp.wait();
    assert!(run.success(), "{run}\n{}", tmux.report());
    assert!(run.received_requests().iter().any(|r| r == "BYE"), "{run}");
    wait_screen(&tmux, "the call gone from the active state", |s| {
        !shows_word(s, "active")
    });

    // No live call now: `q` quits without asking.
    tmux.send_key("q");
    assert_exited_sane(&tmux);
    assert!(
        wait_until(WAIT, || kamailio.contacts(ALICE.0).is_empty()),
        "still bound after quit: {:?}",
        kamailio.contacts(ALICE.0)
    );
}

/// `d`, a URI, Enter: the callee (a sipp UAS) rings and answers, the panel goes active; `o`
/// holds and `o` resumes (sipp checks the re-INVITEs say sendonly, then sendrecv); `h` hangs
/// up. After a restart, `d` and ↑ bring the URI back from the dial history.
#[test]
fn dials_from_the_keyboard_holds_hangs_up_and_remembers_the_number() {
    let kamailio = Kamailio::start(&[ALICE]);
    let state = support::ScratchDir::new("tui-dial-state");
    let state_home = state.path().display().to_string();
    let env = [("XDG_STATE_HOME", state_home.as_str())];
    let tmux = Tmux::start((100, 30), &sipterm_command(&kamailio), &env);
    wait_registered(&tmux);
    let sipp = Sipp::uas("uas_expect_hold.xml")
        .timeout(Duration::from_secs(60))
        .spawn();
    let target = format!("sip:svc@127.0.0.1:{}", sipp.local_port());

    tmux.send_key("d");
    wait_screen(&tmux, "the dial prompt", |s| s.contains("dial:"));
    tmux.send_keys(&target);
    tmux.send_key("Enter");
    assert!(
        wait_until(WAIT, || statuses_sent(&sipp.messages()).contains(&180)),
        "the callee did not ring\n{}\n{}",
        tmux.report(),
        sipp.messages()
    );
    wait_screen(&tmux, "our call active", |s| {
        shows_word(s, "active") && s.contains("svc@127.0.0.1")
    });

    // The panel's first line carries the state (the log below says it in words too).
    let panel = |s: &str, state: &str| s.lines().any(|l| l.contains("#1") && l.contains(state));
    tmux.send_key("o");
    wait_screen(&tmux, "our call on hold", |s| panel(s, "on hold"));
    tmux.send_key("o");
    wait_screen(&tmux, "our call resumed", |s| panel(s, "active"));
    tmux.send_key("h");
    let run = sipp.wait();
    assert!(run.success(), "{run}\n{}", tmux.report());
    assert!(run.messages.contains("a=sendonly"), "{run}");
    tmux.send_key("q");
    assert_exited_sane(&tmux);

    let history = std::fs::read_to_string(state.join("sipterm/dial_history")).unwrap_or_default();
    assert_eq!(history.lines().next(), Some(target.as_str()), "{history}");
    let again = Tmux::start((100, 30), &sipterm_command(&kamailio), &env);
    wait_registered(&again);
    again.send_key("d");
    wait_screen(&again, "the dial prompt", |s| s.contains("dial:"));
    again.send_key("Up");
    wait_screen(&again, "the URI recalled from the history", |s| {
        s.lines()
            .any(|l| l.contains("dial:") && l.contains(target.as_str()))
    });
    again.send_key("Escape");
    again.send_key("q");
    assert_exited_sane(&again);
}

#[test]
fn rejects_a_ringing_call_with_486_from_the_keyboard() {
    let kamailio = Kamailio::start(&[ALICE]);
    let tmux = Tmux::start((80, 24), &sipterm_command(&kamailio), &[]);
    wait_registered(&tmux);
    let sipp = Sipp::uac("uac_expect_status.xml", kamailio.addr())
        .service(ALICE.0)
        .key("expected_status", 486)
        .spawn();
    wait_ringing(&tmux, &sipp);
    tmux.send_key("r");
    let run = sipp.wait();
    assert!(run.success(), "{run}\n{}", tmux.report());
    tmux.send_key("q");
    assert_exited_sane(&tmux);
}

#[test]
fn quit_asks_during_a_call_and_ctrl_c_hangs_up_and_restores_the_terminal() {
    let kamailio = Kamailio::start(&[ALICE]);
    let tmux = Tmux::start((160, 48), &sipterm_command(&kamailio), &[]);
    wait_registered(&tmux);
    let sipp = call_alice(&kamailio);
    wait_ringing(&tmux, &sipp);
    answer(&tmux, &sipp);

    // `q` with a live call asks first; `n` keeps the call.
    tmux.send_key("q");
    wait_screen(&tmux, "the quit question", |s| {
        s.contains("Quit?") && s.contains("1 call is still up")
    });
    tmux.send_key("n");
    wait_screen(&tmux, "the question gone and the call still active", |s| {
        !s.contains("Quit?") && shows_word(s, "active")
    });
    assert!(
        !sipp.messages().contains("BYE sip:"),
        "a BYE went out after `n`"
    );

    // Ctrl+C quits at once, hanging up the call on the way out.
    tmux.send_key("C-c");
    let run = sipp.wait();
    assert!(run.success(), "{run}\n{}", tmux.report());
    assert!(run.received_requests().iter().any(|r| r == "BYE"), "{run}");
    assert_exited_sane(&tmux);
    assert!(
        kamailio.contacts(ALICE.0).is_empty(),
        "still bound after Ctrl+C: {:?}",
        kamailio.contacts(ALICE.0)
    );
}

#[test]
fn b_bridges_the_call_and_the_panel_shows_the_bridge_figures() {
    let kamailio = Kamailio::start(&[ALICE]);
    // The Realtime API is the mock on loopback; the key is the mock's.
    let mock = RealtimeMock::start(MockConfig::default());
    let tmux = bridged_tui(&kamailio, ALICE, &mock, (120, 40));
    wait_registered(&tmux);
    // The caller talks in bursts, so the model hears turns end and answers each one.
    let sipp = Sipp::uac("uac_wait_bye.xml", kamailio.addr())
        .service(ALICE.0)
        .tone_bursts(1.0, 2.0)
        .timeout(Duration::from_secs(60))
        .spawn();
    wait_ringing(&tmux, &sipp);
    answer(&tmux, &sipp);

    tmux.send_key("b");
    wait_screen(&tmux, "the bridge on", |s| s.contains("bridge ● on"));
    let screen = wait_screen(&tmux, "two answered turns in the call panel", |s| {
        bridge_turns(s) >= Some(2) && ai_level_cells(s) > 0
    });
    // The caller's bursts may cut a reply short, so barge-ins are not fixed; no session was lost.
    assert!(
        screen.contains("barge-ins ") && screen.contains("reconnects 0"),
        "{screen}"
    );

    // Off again: the human has the call back, and the last figures stay readable.
    tmux.send_key("b");
    let screen = wait_screen(&tmux, "the bridge off", |s| s.contains("bridge ○ off"));
    assert!(bridge_turns(&screen) >= Some(2), "{screen}");

    tmux.send_key("h");
    let run = sipp.wait();
    assert!(run.success(), "{run}\n{}", tmux.report());
    tmux.send_key("q");
    assert_exited_sane(&tmux);
}

/// The `turns N` figure of the bridge line in a call panel, if one is shown.
fn bridge_turns(screen: &str) -> Option<u64> {
    let line = screen.lines().find(|l| l.contains("AI answers "))?;
    let rest = &line[line.find("turns ")? + "turns ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}
