//! One call's teardown must not stall the others (issue 9, point 2). sipterm answers two
//! calls through Kamailio and bridges both to the Realtime mock; the mock makes call A's
//! session hard to close, and while A ends, call B's `levels` events (one every 60 ms, every
//! third 20 ms frame) must keep coming with no gap over 100 ms. A's end must still be reported in full
//! (`call_ended`, the final `bridge_stats`), and sipterm must exit 0.
//!
//! Two ways a Realtime session can be slow to close:
//! - the server never answers the close frame (`Fault::IgnoreClose`): a client that waits
//!   for the answer, as RFC 6455 §7.1.1 would have it, waits for its timeout;
//! - the server hangs, stops reading and never answers anything (`Fault::Hang`): a
//!   frozen server or a path that black-holes. The client's writes back up, and the close
//!   frame itself cannot go out.
//!
//! The bridge as it is sends its close frame and drops the connection without waiting for the
//! answer, so only the hang holds it up; the first scenario guards a bridge that completes
//! the closing handshake.
//!
//! Arrival times are the harness's: sipterm's stdout is read through a pipe and each line is
//! stamped as it arrives (`Sipterm::spawn_stamped`).

mod support;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::events::{is, wait_registered, EventLog, StampedEvent};
use support::realtime_mock::{Fault, MockConfig, RealtimeMock};
use support::sipterm::registered_args;
use support::{wait_until, Kamailio, Sipp, SippProcess, Sipterm, Transport};

const ALICE: (&str, &str) = ("alice", "wonderland");

/// `levels` come every 60 ms per call: a longer silence means they were held up.
const MAX_GAP: Duration = Duration::from_millis(100);
/// B's levels are watched from this long before A's BYE ...
const BEFORE_END: Duration = Duration::from_secs(1);
/// ... to this long after A's `call_ended`.
const AFTER_END: Duration = Duration::from_secs(2);
/// A's `call_ended` must come this soon after its BYE: the bridge promises a polite close
/// bounded to about a second.
const ENDED_WITHIN: Duration = Duration::from_secs(3);
/// When A's end is not reported in time the test stops the mock (its connections close) to
/// see whether sipterm recovers and how long B's events were held up; this long for that.
const RECOVERY: Duration = Duration::from_secs(5);

/// These tests judge event timing to 100 ms on a 2-core machine; two at once, each with its
/// own sipterm, Kamailio and sipp, would measure the machine. So they take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn take_turn() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

#[test]
fn a_slow_bridge_close_does_not_stall_other_calls() {
    let _turn = take_turn();
    // The server hangs as soon as A's bridge has configured its session. At about 13 KB/s of
    // caller audio the ~40 KB path (see the mock's `sockopt`) is full some three seconds
    // later, well before A's BYE at 8 s: by then even the close frame cannot be written.
    two_bridged_calls_while_a_ends(Scenario {
        fault: Fault::Hang,
        a_call: Duration::from_secs(8),
        b_call: Duration::from_secs(14),
    });
}

#[test]
fn a_bridge_close_the_server_never_answers_does_not_stall_other_calls() {
    let _turn = take_turn();
    two_bridged_calls_while_a_ends(Scenario {
        fault: Fault::IgnoreClose,
        a_call: Duration::from_secs(4),
        b_call: Duration::from_secs(10),
    });
}

struct Scenario {
    /// Applied to the mock's first connection: call A's bridge.
    fault: Fault,
    /// From answer to the caller's BYE.
    a_call: Duration,
    b_call: Duration,
}

/// A caller streaming a continuous tone for `call`, then BYE. The tone never pauses, so the
/// mock's VAD never ends a turn: no response, no intermediate `bridge_stats`.
fn caller(kamailio: &Kamailio, call: Duration) -> SippProcess {
    Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(ALICE.0)
        .key("call_ms", call.as_millis())
        .timeout(call + Duration::from_secs(20))
        .spawn()
}

fn call_id(event: &Value) -> u64 {
    event["call"]
        .as_u64()
        .unwrap_or_else(|| panic!("no call id in {event}"))
}

fn of_call<'a>(
    events: &'a [StampedEvent],
    name: &'a str,
    call: u64,
) -> impl Iterator<Item = &'a StampedEvent> + 'a {
    events
        .iter()
        .filter(move |e| is(&e.event, name) && e.event["call"] == call)
}

/// The first event matching `pred`, waiting up to `until`.
fn first_event(
    log: &mut EventLog,
    sipterm: &Sipterm,
    until: Instant,
    pred: impl Fn(&StampedEvent) -> bool,
) -> Option<StampedEvent> {
    let mut found = None;
    wait_until(until.saturating_duration_since(Instant::now()), || {
        found = log.update(sipterm).iter().find(|e| pred(e)).cloned();
        found.is_some()
    });
    found
}

/// When the first event matching `pred` arrived, waiting up to `until`.
fn stamp_of(
    log: &mut EventLog,
    sipterm: &Sipterm,
    until: Instant,
    pred: impl Fn(&StampedEvent) -> bool,
) -> Option<Instant> {
    first_event(log, sipterm, until, pred).map(|e| e.at)
}

/// The longest time without an arrival in `from..to`, counting both edges, and where it
/// started (relative to `from`).
fn largest_gap(arrivals: &[Instant], from: Instant, to: Instant) -> (Duration, Duration) {
    let mut points: Vec<Instant> = vec![from];
    points.extend(arrivals.iter().copied().filter(|t| *t > from && *t < to));
    points.push(to);
    points
        .windows(2)
        .map(|w| (w[1] - w[0], w[0] - from))
        .max()
        .unwrap_or_default()
}

/// Milliseconds from `from` to `to`, negative when `to` is earlier.
fn ms_since(from: Instant, to: Instant) -> i128 {
    match to.checked_duration_since(from) {
        Some(d) => d.as_millis() as i128,
        None => -((from - to).as_millis() as i128),
    }
}

fn two_bridged_calls_while_a_ends(scenario: Scenario) {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut mock = RealtimeMock::start(MockConfig {
        fault: Some(scenario.fault),
        fault_connections: 1,
        ..MockConfig::default()
    });
    let mut args = registered_args(&kamailio, ALICE.0, ALICE.1, Transport::Udp);
    args.extend(
        [
            "--json",
            "--audio",
            "null",
            "--bridge",
            "--realtime-url",
            &mock.url(),
            "--api-key",
            mock.api_key(),
        ]
        .map(String::from),
    );
    let mut sipterm = Sipterm::spawn_stamped(args);
    wait_registered(&mut sipterm);
    let mut log = EventLog::default();
    let setup = Duration::from_secs(10);
    let event = |log: &mut EventLog, what: &str, pred: &dyn Fn(&Value) -> bool| {
        first_event(log, &sipterm, Instant::now() + setup, |e| pred(&e.event))
            .unwrap_or_else(|| panic!("sipterm never reported {what}\n{}", sipterm.report()))
    };

    // Call A first, and bridged (the mock's connection 0) before B comes in.
    let caller_a = caller(&kamailio, scenario.a_call);
    let a = call_id(&event(&mut log, "call A", &|e| is(e, "incoming_call")).event);
    let a_active = event(&mut log, "call A active", &|e| {
        is(e, "call_state") && e["call"] == a && e["state"] == "active"
    })
    .at;
    let a_bridged = mock.wait_for(setup, |e| e.connection == 0 && e.kind == "session.updated");
    assert!(
        a_bridged.is_some(),
        "call {a}'s bridge never got its session configured\n{}",
        sipterm.report()
    );

    let caller_b = caller(&kamailio, scenario.b_call);
    let b = call_id(
        &event(&mut log, "call B", &|e| {
            is(e, "incoming_call") && e["call"] != a
        })
        .event,
    );
    let b_active = event(&mut log, "call B active", &|e| {
        is(e, "call_state") && e["call"] == b && e["state"] == "active"
    })
    .at;

    // sipp sends A's BYE `a_call` after its ACK, which is when sipterm reports A active.
    let a_bye = a_active + scenario.a_call;
    let b_bye = b_active + scenario.b_call;
    let watch_from = a_bye - BEFORE_END;
    let mut failures = Vec::new();

    let a_ended_in_time = stamp_of(&mut log, &sipterm, a_bye + ENDED_WITHIN, |e| {
        is(&e.event, "call_ended") && e.event["call"] == a
    });
    let a_ended = match a_ended_in_time {
        Some(at) => Some(at),
        None => {
            failures.push(format!(
                "call {a}'s call_ended did not come within {ENDED_WITHIN:?} of its BYE, so the \
                 test stopped the Realtime mock (closing its connections) to see the rest; a \
                 gap in call {b}'s levels that lasts until then would have lasted as long as the \
                 server hung"
            ));
            mock.stop();
            let recovered = stamp_of(&mut log, &sipterm, Instant::now() + RECOVERY, |e| {
                is(&e.event, "call_ended") && e.event["call"] == a
            });
            if recovered.is_none() {
                failures.push(format!(
                    "call {a}'s call_ended did not come within {RECOVERY:?} after that either"
                ));
            }
            recovered
        }
    };
    let watch_to = a_ended.unwrap_or_else(Instant::now) + AFTER_END;
    std::thread::sleep(watch_to.saturating_duration_since(Instant::now()));
    if a_ended_in_time.is_some() && watch_to + Duration::from_millis(500) > b_bye {
        failures.push(format!(
            "the scenario's timing is off: call {b}'s BYE ({:?} after call {a}'s) falls inside \
             the window",
            b_bye.saturating_duration_since(a_bye)
        ));
    }

    // The measurement: B's levels while A ends.
    let events = log.update(&sipterm);
    let b_levels: Vec<Instant> = of_call(events, "levels", b).map(|e| e.at).collect();
    let (gap, gap_at) = largest_gap(&b_levels, watch_from, watch_to);
    let gap_from_bye = ms_since(a_bye, watch_from + gap_at);
    let a_ended_from_bye =
        a_ended.map_or("never".into(), |at| format!("{} ms", ms_since(a_bye, at)));
    // For comparison, the same while nothing ends: what this machine's load alone does.
    let (calm, _) = largest_gap(&b_levels, b_active + Duration::from_millis(500), watch_from);
    let measured = format!(
        "call {b}'s largest gap between levels events from 1 s before call {a}'s BYE to 2 s \
         after its call_ended: {} ms, starting {gap_from_bye} ms from that BYE (before that \
         window: {} ms); call {a}'s call_ended came at {a_ended_from_bye} from its BYE",
        gap.as_millis(),
        calm.as_millis()
    );
    eprintln!("{measured}");
    if gap > MAX_GAP {
        failures.push(format!("{measured}: more than {MAX_GAP:?}"));
    }

    // B ends by its own BYE, then Ctrl+C.
    let b_ended = stamp_of(&mut log, &sipterm, b_bye + ENDED_WITHIN + RECOVERY, |e| {
        is(&e.event, "call_ended") && e.event["call"] == b
    });
    if b_ended.is_none() {
        failures.push(format!("call {b}'s call_ended never came"));
    }
    sipterm.interrupt();
    match sipterm.wait(Duration::from_secs(10)) {
        Some(status) if status.code() == Some(0) => {}
        Some(status) => failures.push(format!("sipterm exited with {status}, not 0")),
        None => {
            failures.push("sipterm was still running 10 s after Ctrl+C".into());
            sipterm.stop();
        }
    }

    // A's bridge figures as it ended are not lost: a `bridge_stats` for A around its end (the
    // continuous tone leaves no turns, so there are no earlier ones), before `stopped`. The
    // harness may still be reading sipterm's last lines from the pipe.
    let _ = first_event(
        &mut log,
        &sipterm,
        Instant::now() + Duration::from_secs(2),
        |e| is(&e.event, "stopped"),
    );
    let events = log.update(&sipterm);
    let stopped = events
        .iter()
        .position(|e| is(&e.event, "stopped"))
        .unwrap_or(events.len());
    let final_stats = events[..stopped]
        .iter()
        .any(|e| is(&e.event, "bridge_stats") && e.event["call"] == a && e.at >= watch_from);
    if !final_stats {
        failures.push(format!(
            "no bridge_stats for call {a} as it ended, before sipterm stopped"
        ));
    }

    // The fault did what the scenario says.
    let connection = &mock.connections()[0];
    if !connection.hung {
        failures.push(format!("the mock never went silent on call {a}'s bridge"));
    }
    if scenario.fault == Fault::IgnoreClose && connection.client_close.is_none() {
        failures.push(format!(
            "sipterm never sent call {a}'s bridge a close frame"
        ));
    }
    drop(caller_a);
    drop(caller_b);
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        sipterm.report()
    );
}
