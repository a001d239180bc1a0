//! What the full-screen UI costs when nothing happens: sipterm in a real terminal (tmux,
//! 120x40), registered at Kamailio on loopback, no calls. After 5 s to settle, its CPU time
//! (user + system, /proc/<pid>/stat) over 60 s is printed as a share of one core. A figure,
//! never an assertion on time.
//!
//! Ignored in the test suite (it takes a minute); run it with `bash scripts/idle_cpu.sh`.

mod support;

use std::time::Duration;

use support::cpu::CpuMeter;
use support::tmux::Tmux;
use support::tui::{shows_word, tui_command};
use support::Kamailio;

const ALICE: (&str, &str) = ("alice", "wonderland");
const SETTLE: Duration = Duration::from_secs(5);
const MEASURE: Duration = Duration::from_secs(60);

#[test]
#[ignore = "a one-minute measurement; run by scripts/idle_cpu.sh"]
fn idle_tui_cpu() {
    let kamailio = Kamailio::start(&[ALICE]);
    let command = tui_command(&kamailio, ALICE.0, ALICE.1, &["--audio", "null"]);
    let tmux = Tmux::start((120, 40), &command, &[]);
    tmux.wait_until("the registered state", Duration::from_secs(30), |s| {
        shows_word(s, "registered")
    })
    .unwrap_or_else(|why| panic!("{why}"));
    let pid = tmux
        .program_pid()
        .unwrap_or_else(|| panic!("sipterm is not running\n{}", tmux.report()));
    std::thread::sleep(SETTLE);

    let meter = CpuMeter::start(pid);
    std::thread::sleep(MEASURE);
    let usage = meter.usage();
    let screen = tmux.capture();
    assert!(
        shows_word(&screen, "registered"),
        "no longer registered after the measurement\n{screen}"
    );
    println!(
        "idle_tui_cpu: {:.2} % of a core over {} s ({} ms of CPU; {} build, pid {pid})",
        usage.share() * 100.0,
        usage.wall.as_secs(),
        usage.cpu.as_millis(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );

    tmux.send_key("q");
    tmux.wait_for_exit(Duration::from_secs(20))
        .unwrap_or_else(|why| panic!("{why}"))
        .assert_sane();
}
