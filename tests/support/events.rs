//! sipterm's `--json` events as the tests read them: parse stdout, wait for one that matches.

use serde_json::Value;
use std::time::Duration;

use super::process::wait_until;
use super::sipterm::Sipterm;

/// How long a test waits for an event before failing with sipterm's output.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Every JSON event sipterm printed so far, in order.
pub fn events(sipterm: &Sipterm) -> Vec<Value> {
    sipterm
        .stdout()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn is(event: &Value, name: &str) -> bool {
    event["event"] == name
}

/// Waits until an event matching `pred` is printed; panics with sipterm's output otherwise.
#[track_caller]
pub fn wait_event(sipterm: &mut Sipterm, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let mut found = None;
    wait_until(EVENT_TIMEOUT, || {
        found = events(sipterm).into_iter().find(|e| pred(e));
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("sipterm never reported {what}\n{}", sipterm.report()))
}

#[track_caller]
pub fn wait_registered(sipterm: &mut Sipterm) {
    wait_event(sipterm, "registered", |e| {
        is(e, "registration") && e["state"] == "registered"
    });
}

#[track_caller]
pub fn wait_call_ended(sipterm: &mut Sipterm) -> Value {
    wait_event(sipterm, "call_ended", |e| is(e, "call_ended"))
}
