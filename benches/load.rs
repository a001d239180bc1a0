//! Load: N simultaneous 20 s PCMU echo calls from sipp through Kamailio, first to sipterm
//! (`--headless --json --audio echo --auto-answer`), then, one after the other, to baresip
//! 1.0 with its echo module (at most 250 calls: baresip stops near 255).
//!
//! Per UA it prints failed calls (sipp's count, or a call with no RTP on the wire), frames
//! lost per call (checked on the wire: the frames the RTP timestamps say were due against
//! the sequence numbers that arrived, so a skipped send tick counts), CPU per call-second
//! while all calls were up (/proc), RSS idle, VmHWM growth per call and RSS 10 s after the
//! calls, and the send pacing's |deviation from 20 ms| p50/p99; then sipterm's figures as a
//! ratio of baresip's. Asserts nothing about time; panics only when the harness fails.
//!
//! Run: `cargo bench --bench load` (N = 200), or `scripts/load.sh 1000` on a release build;
//! N also from `SIPTERM_LOAD_CALLS`, the call length from `SIPTERM_LOAD_SECS` (default 20).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use support::baresip::{Answer, Baresip, BaresipConfig, Tone};
use support::load::{measure, sipterm_echo_args, wait_for_call_ended, LoadFigures, Target};
use support::{Kamailio, Sipterm};

/// baresip 1.0 refuses calls beyond about 255 (its file descriptor set).
const BARESIP_MAX_CALLS: u32 = 250;
/// Registered and idle this long before the idle memory is read.
const SETTLE: Duration = Duration::from_secs(2);

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. a filter) is ignored on purpose.
    let calls = env_number("SIPTERM_LOAD_CALLS", 200);
    let call_len = Duration::from_secs(u64::from(env_number("SIPTERM_LOAD_SECS", 20)));

    let (ours, ended) = load_sipterm(calls, call_len);
    let baresip_calls = calls.min(BARESIP_MAX_CALLS);
    if baresip_calls < calls {
        println!("load: baresip runs {baresip_calls} calls (its cap is about 255)");
    }
    let theirs = load_baresip(baresip_calls, call_len);
    println!("{}", ours.line("sipterm"));
    println!("load: sipterm printed {ended} call_ended events for {calls} calls");
    println!("{}", theirs.line("baresip"));
    println!("{}", ratio_line(&ours, &theirs));
}

/// sipterm's figures and how many `call_ended` events it printed.
fn load_sipterm(calls: u32, call_len: Duration) -> (LoadFigures, usize) {
    let kamailio = Kamailio::start(&[("alice", "wonderland")]);
    let (args, rtp_ports) = sipterm_echo_args(&kamailio, "alice", "wonderland", calls);
    let mut sipterm = Sipterm::spawn(args);
    sipterm
        .wait_for_stdout(r#""state":"registered""#, Duration::from_secs(30))
        .unwrap_or_else(|why| panic!("load: sipterm did not register: {why}"));
    std::thread::sleep(SETTLE);
    let target = Target {
        pid: sipterm.pid(),
        user: "alice".into(),
        rtp_ports,
    };
    let figures = measure(&kamailio, &target, calls, call_len);
    // Ten seconds have passed since the last BYE: every call_ended should be out already.
    let ended = wait_for_call_ended(&sipterm, calls, Duration::from_secs(5));
    sipterm.interrupt();
    sipterm.wait(Duration::from_secs(10));
    (figures, ended)
}

fn load_baresip(calls: u32, call_len: Duration) -> LoadFigures {
    let kamailio = Kamailio::start(&[("bob", "builder")]);
    let config = BaresipConfig::new("bob")
        .codecs(&["PCMU"])
        .tone(Tone::Echo)
        .answer(Answer::Manual)
        .registrar(kamailio.addr(), "bob", "builder")
        .rtp_port_count(u16::try_from(calls * 4 + 16).unwrap_or(u16::MAX))
        .config_line("call_max_calls 255");
    let baresip = Baresip::start(config);
    baresip
        .wait_registered(Duration::from_secs(30))
        .unwrap_or_else(|why| panic!("load: {why}"));
    std::thread::sleep(SETTLE);
    let target = Target {
        pid: baresip.pid(),
        user: "bob".into(),
        rtp_ports: baresip.rtp_ports(),
    };
    measure(&kamailio, &target, calls, call_len)
}

/// sipterm's figures over baresip's (below 1 is better for sipterm).
fn ratio_line(ours: &LoadFigures, theirs: &LoadFigures) -> String {
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "n/a".into(),
    };
    let cpu = |f: &LoadFigures| f.cpu_per_call_second().map(|d| d.as_secs_f64());
    let p99 = |f: &LoadFigures| f.wire.pacing_dev(99.0).map(|d| d.as_secs_f64());
    format!(
        "load: sipterm/baresip (N={} / {}): CPU per call-second {}, memory per call {}, RSS idle \
         {}, pacing p99 {}",
        ours.calls,
        theirs.calls,
        ratio(cpu(ours), cpu(theirs)),
        ratio(
            Some(ours.hwm_growth_per_call_kib()),
            Some(theirs.hwm_growth_per_call_kib())
        ),
        ratio(
            Some(ours.idle.rss_kib as f64),
            Some(theirs.idle.rss_kib as f64)
        ),
        ratio(p99(ours), p99(theirs)),
    )
}

/// A positive number from the environment, else `default`.
fn env_number(name: &str, default: u32) -> u32 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("{name}={v:?} is not a positive number")),
        Err(_) => default,
    }
}
