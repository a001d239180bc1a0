//! Proves the tmux harness (tests/support/tmux.rs) with stand-in programs before sipterm's TUI
//! relies on it: keys reach the program, the screen comes back with colours, exit statuses are
//! read, a program that restores the terminal passes the sanity check, one that leaves it raw
//! or on the alternate screen fails it, and nothing is left running after drop.

mod support;

use std::time::Duration;

use support::process::process_exists;
use support::tmux::{stty_flag, Tmux, EXITED_MARKER};

const WAIT: Duration = Duration::from_secs(10);

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

/// A full-screen stand-in that behaves: alternate screen, hidden cursor, raw mode, waits for
/// one key, then restores all of it.
const POLITE_TUI: &str = r#"
tput smcup; tput civis; stty raw -echo
printf '\033[1;32mSTANDIN READY\033[0m size %sx%s\r\n' "$(tput cols)" "$(tput lines)"
key=$(dd bs=1 count=1 2>/dev/null)
printf 'got key %s\r\n' "$key"
sleep 0.3
stty sane; tput cnorm; tput rmcup
echo "standin done"
"#;

/// The same stand-in, but it exits leaving raw mode, no echo, the alternate screen and a
/// hidden cursor.
const RUDE_TUI: &str = r#"
tput smcup; tput civis; stty raw -echo
printf 'STANDIN READY\r\n'
key=$(dd bs=1 count=1 2>/dev/null)
exit 0
"#;

#[test]
fn polite_standin_reads_keys_and_leaves_the_terminal_sane() {
    let tmux = Tmux::start((100, 30), &sh(POLITE_TUI), &[]);
    assert_eq!(tmux.size(), (100, 30));
    let screen = tmux.wait_for("STANDIN READY", WAIT).unwrap();
    assert!(screen.contains("size 100x30"), "{screen}");
    assert_eq!(tmux.display("#{alternate_on}").unwrap(), "1");
    let colours = tmux.capture_ansi();
    assert!(
        colours.contains("\u{1b}[") && colours.contains("STANDIN READY"),
        "no escapes in the ANSI capture:\n{colours:?}"
    );
    assert!(tmux.program_pid().is_some(), "the stand-in is not running");

    tmux.send_key("q");
    tmux.wait_for("got key q", WAIT).unwrap();
    let after = tmux.wait_for_exit(WAIT).unwrap();
    assert_eq!(after.exit_status, 0, "{}", after.screen);
    after.assert_sane();
    // Back on the main screen: what the program drew on the alternate one is gone.
    assert!(!after.screen.contains("STANDIN READY"), "{}", after.screen);
    assert!(after.screen.contains("standin done"), "{}", after.screen);
    assert!(after.screen.contains(&format!("{EXITED_MARKER}0")));
    assert_eq!(stty_flag(&after.stty, "icanon"), Some(true));
    assert_eq!(stty_flag(&after.stty, "echo"), Some(true));
    assert!(tmux.program_pid().is_none());
}

#[test]
fn rude_standin_is_caught_leaving_the_terminal_raw() {
    let tmux = Tmux::start((80, 24), &sh(RUDE_TUI), &[]);
    tmux.wait_for("STANDIN READY", WAIT).unwrap();
    tmux.send_keys("x");
    let after = tmux.wait_for_exit(WAIT).unwrap();
    assert_eq!(after.exit_status, 0);
    let problems = after.problems().join("\n");
    for expected in [
        "alternate screen is still on",
        "cursor is hidden",
        "-icanon",
        "-echo",
        "-opost",
    ] {
        assert!(
            problems.contains(expected),
            "not detected: {expected}\nproblems:\n{problems}\nstty:\n{}",
            after.stty
        );
    }
    let caught = std::panic::catch_unwind(|| after.assert_sane());
    assert!(caught.is_err(), "assert_sane passed a raw terminal");
}

#[test]
fn exit_status_is_reported_with_and_without_the_wrapper() {
    let wrapped = Tmux::start((80, 24), &sh("exit 3"), &[]);
    assert_eq!(wrapped.wait_for_exit(WAIT).unwrap().exit_status, 3);
    assert_eq!(wrapped.exit_status(), Some(3));
    assert!(!wrapped.pane_dead(), "the wrapper's shell keeps the pane");

    let bare = Tmux::start_bare((80, 24), &sh("sleep 0.2; exit 7"), &[]);
    assert!(!bare.pane_dead());
    assert!(support::wait_until(WAIT, || bare.pane_dead()));
    assert_eq!(bare.exit_status(), Some(7));
}

#[test]
fn environment_reaches_the_program_and_keys_are_literal() {
    let tmux = Tmux::start(
        (80, 24),
        &sh(r#"echo "var=$SIPTERM_TMUX_TEST term=$TERM"; read line; echo "line=[$line]""#),
        &[("SIPTERM_TMUX_TEST", "hello world")],
    );
    tmux.wait_for("var=hello world term=tmux-256color", WAIT)
        .unwrap();
    // Key names are not interpreted in literal mode.
    tmux.send_keys("Enter C-c é");
    tmux.send_key("Enter");
    tmux.wait_for("line=[Enter C-c é]", WAIT).unwrap();
    assert_eq!(tmux.wait_for_exit(WAIT).unwrap().exit_status, 0);
}

#[test]
fn ctrl_c_key_reaches_a_cooked_program_as_sigint() {
    let tmux = Tmux::start((80, 24), &sh("echo waiting; exec sleep 60"), &[]);
    tmux.wait_for("waiting", WAIT).unwrap();
    tmux.send_key("C-c");
    let after = tmux.wait_for_exit(WAIT).unwrap();
    assert_eq!(after.exit_status, 130, "128 + SIGINT\n{}", after.screen);
    after.assert_sane();
}

#[test]
fn drop_kills_the_server_and_the_program() {
    let tmux = Tmux::start((80, 24), &sh("trap '' HUP; echo up; exec sleep 300"), &[]);
    tmux.wait_for("up", WAIT).unwrap();
    let program = tmux.program_pid().expect("sleep is running");
    let server: u32 = tmux.display("#{pid}").unwrap().parse().unwrap();
    let socket = tmux.dir().join("sock");
    drop(tmux);
    assert!(
        !process_exists(program),
        "the program outlived the tmux server"
    );
    assert!(!process_exists(server), "the tmux server outlived drop");
    assert!(!socket.exists(), "the scratch dir outlived drop");
}

#[test]
fn resize_reaches_the_program() {
    let tmux = Tmux::start(
        (80, 24),
        &sh(
            r#"trap 'echo "resized to $(tput cols)x$(tput lines)"' WINCH; echo ready; while :; do sleep 0.1; done"#,
        ),
        &[],
    );
    tmux.wait_for("ready", WAIT).unwrap();
    tmux.resize((160, 48));
    assert_eq!(tmux.size(), (160, 48));
    tmux.wait_for("resized to 160x48", WAIT).unwrap();
}

/// Draws colours, reverse video, a box and wide characters, as a TUI would.
const PAINTER: &str = r#"
printf '\033[1;32mgreen bold\033[0m \033[38;5;208morange\033[0m \033[38;2;10;20;250mrgb\033[0m\n'
printf '\033[7m reversed bar  \033[0m|\033[44m blue bg \033[0m\n'
printf '┌──────┐\n│📞 ok │\n└──────┘\n'
printf 'PAINTED\n'
exec sleep 30
"#;

#[test]
fn ansi_capture_becomes_html_on_the_cell_grid() {
    use support::ansi_html::{cell_width, page_size, to_html};
    assert_eq!(cell_width('a'), 1);
    assert_eq!(cell_width('─'), 1);
    assert_eq!(cell_width('📞'), 2);
    assert_eq!(cell_width('\u{fe0f}'), 0);

    let tmux = Tmux::start((40, 10), &sh(PAINTER), &[]);
    tmux.wait_for("PAINTED", WAIT).unwrap();
    let ansi = tmux.capture_ansi();
    let html = to_html(&ansi, 40, 10, "painter");
    let (w, h) = page_size(40, 10);
    assert!(html.starts_with(&format!("<!-- window-size: {w},{h} -->")));
    for expected in [
        "color:#23d18b;", // bold green drawn bright
        "font-weight:bold",
        "color:#ff8700;",                    // 256-colour 208
        "color:#0a14fa;",                    // 24-bit
        "color:#1e1e1e;background:#cccccc;", // reverse video on defaults
        "background:#2472c8;",
        "width:2ch\">📞</span>",
        "┌──────┐",
    ] {
        assert!(
            html.contains(expected),
            "no {expected:?} in\n{html}\nfrom\n{ansi:?}"
        );
    }
    if let Ok(dir) = std::env::var("SIPTERM_TMUX_SELFTEST_HTML") {
        std::fs::write(format!("{dir}/painter.html"), &html).unwrap();
    }
}
