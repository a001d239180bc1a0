//! Hold from our side and blind transfer, against real peers on loopback: a sipp UAS that
//! checks the direction in each re-INVITE's SDP, and a second sipterm that takes the call,
//! is transferred, calls the target (a sipp UAS) and reports back with NOTIFYs.

mod support;

use std::time::Duration;
use support::events::{events, is};
use support::{free_udp_port, Sipp, Sipterm};

const LONG: Duration = Duration::from_secs(30);

/// sipterm placing one call to `target`, headless with JSON events, and `extra` flags.
fn call(target: &str, extra: &[&str]) -> Sipterm {
    let mut args = vec![
        "--headless",
        "--json",
        "--call",
        target,
        "--port",
        "0",
        "--audio",
        "null",
    ];
    args.extend_from_slice(extra);
    Sipterm::spawn(args)
}

/// The `hold` events: (ours, theirs).
fn holds(sipterm: &Sipterm) -> Vec<(bool, bool)> {
    events(sipterm)
        .iter()
        .filter(|e| is(e, "hold"))
        .map(|e| (e["ours"].as_bool().unwrap(), e["theirs"].as_bool().unwrap()))
        .collect()
}

fn states(sipterm: &Sipterm) -> Vec<String> {
    events(sipterm)
        .iter()
        .filter(|e| is(e, "call_state"))
        .map(|e| e["state"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn our_hold_is_a_sendonly_reinvite_and_resume_a_sendrecv_one() {
    let uas = Sipp::uas("uas_expect_hold.xml").spawn();
    let target = format!("sip:svc@127.0.0.1:{}", uas.local_port());
    let mut caller = call(
        &target,
        &["--hold-after", "1", "--hold-for", "1", "--duration", "4"],
    );
    assert_eq!(caller.exit_code(LONG), 0, "{}", caller.report());
    // sipp checked both re-INVITEs' directions (check_it) and answered the BYE.
    let run = uas.wait();
    run.assert_success();
    assert!(run.messages.contains("a=sendonly"), "{}", run.messages);
    let states = states(&caller);
    let held = states.iter().position(|s| s == "on_hold");
    let resumed = states.iter().rposition(|s| s == "active");
    assert!(
        matches!((held, resumed), (Some(h), Some(r)) if h < r),
        "on_hold then active: {states:?}"
    );
    assert_eq!(holds(&caller), vec![(true, false), (false, false)]);
}

/// The callee holds us (re-INVITE with a=sendonly) and resumes: we answer recvonly, then
/// sendrecv (sipp checks both), report `held` apart from our own hold, and send nothing
/// while held.
#[test]
fn the_callee_holds_and_resumes_the_call_we_placed() {
    let uas = Sipp::uas("uas_hold_caller.xml")
        .key("call_ms", 1000)
        .spawn();
    let target = format!("sip:svc@127.0.0.1:{}", uas.local_port());
    let mut caller = call(&target, &["--duration", "4"]);
    assert_eq!(caller.exit_code(LONG), 0, "{}", caller.report());
    uas.wait().assert_success();
    let states = states(&caller);
    let held = states.iter().position(|s| s == "held");
    let resumed = states.iter().rposition(|s| s == "active");
    assert!(
        matches!((held, resumed), (Some(h), Some(r)) if h < r),
        "held then active: {states:?}"
    );
    assert_eq!(holds(&caller), vec![(false, true), (false, false)]);
    // 4 s of call, 1 s of it held: about 150 packets sent, not 200.
    let ended = events(&caller)
        .into_iter()
        .find(|e| is(e, "call_ended"))
        .expect("call_ended");
    let sent = ended["media"]["packets_sent"].as_u64().unwrap_or(0);
    assert!((100..=185).contains(&sent), "sent {sent} packets\n{ended}");
}

#[test]
fn sipterm_calls_sipterm_which_is_transferred_to_sipp() {
    let target = Sipp::uas("uas_answer.xml").spawn();
    let target_uri = format!("sip:human@127.0.0.1:{}", target.local_port());
    let callee_port = free_udp_port();
    let callee_uri = format!("sip:agent@127.0.0.1:{callee_port}");
    let mut callee = Sipterm::spawn([
        "--headless",
        "--json",
        "--sip-uri",
        &callee_uri,
        "--no-register",
        "--bind",
        "127.0.0.1",
        "--port",
        &callee_port.to_string(),
        "--audio",
        "echo",
        "--duration",
        "8",
    ]);
    callee
        .wait_for_stdout("listening for SIP", LONG)
        .unwrap_or_else(|e| panic!("{e}\n{}", callee.report()));
    let mut caller = call(
        &callee_uri,
        &[
            "--transfer-to",
            &target_uri,
            "--transfer-after",
            "1",
            "--duration",
            "6",
        ],
    );
    // The caller's call ends with the transfer, and so does its run: answered, so exit 0.
    assert_eq!(caller.exit_code(LONG), 0, "{}", caller.report());
    let caller_events = events(&caller);
    let stages: Vec<&str> = caller_events
        .iter()
        .filter(|e| is(e, "transfer"))
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages.first(), Some(&"requested"), "{stages:?}");
    assert_eq!(stages.last(), Some(&"done"), "{stages:?}");
    let ended = caller_events
        .iter()
        .find(|e| is(e, "call_ended"))
        .expect("call_ended");
    assert_eq!(ended["direction"], "outgoing");
    assert_eq!(
        ended["reason"]["transferred"]["target"],
        target_uri.as_str()
    );

    // The transferee: REFER taken, the target called and answered, its first call ended.
    assert_eq!(callee.exit_code(LONG), 0, "{}", callee.report());
    let callee_events = events(&callee);
    let theirs: Vec<(&str, Option<u64>)> = callee_events
        .iter()
        .filter(|e| is(e, "transfer"))
        .map(|e| (e["stage"].as_str().unwrap(), e["status"].as_u64()))
        .collect();
    assert_eq!(
        theirs,
        vec![
            ("requested", None),
            ("trying", Some(100)),
            ("done", Some(200))
        ]
    );
    let placed = callee_events
        .iter()
        .find(|e| is(e, "outgoing_call"))
        .expect("the transferee calls the target");
    assert_eq!(placed["to"], target_uri.as_str());
    assert!(callee_events.iter().any(|e| is(e, "call_answered")));
    assert!(callee_events.iter().any(
        |e| is(e, "call_ended") && e["reason"]["transferred"]["target"] == target_uri.as_str()
    ));
    // The target saw the transferee's INVITE (From: the callee's account) and its BYE.
    let run = target.wait();
    run.assert_success();
    assert!(
        run.messages.contains("From: <sip:agent@127.0.0.1"),
        "{}",
        run.messages
    );
}
