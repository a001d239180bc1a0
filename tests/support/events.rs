//! sipterm's `--json` events as the tests read them: parse stdout, wait for one that matches.

use serde_json::Value;
use std::time::{Duration, Instant};

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

/// An event and the moment its line reached the test.
#[derive(Debug, Clone)]
pub struct StampedEvent {
    pub at: Instant,
    pub event: Value,
}

/// Every JSON event so far with its arrival time, in order; needs a sipterm started with
/// `Sipterm::spawn_stamped` (others have no stamps: the list is empty).
pub fn stamped_events(sipterm: &Sipterm) -> Vec<StampedEvent> {
    let mut log = EventLog::default();
    log.update(sipterm);
    log.events
}

/// A stamped sipterm's events, read incrementally: each line is parsed once, so a test can
/// poll every few milliseconds without the parsing itself loading the machine it measures.
#[derive(Debug, Default)]
pub struct EventLog {
    lines_read: usize,
    events: Vec<StampedEvent>,
}

impl EventLog {
    /// Takes in what sipterm printed since the last update; returns every event so far.
    pub fn update(&mut self, sipterm: &Sipterm) -> &[StampedEvent] {
        let new = sipterm.stamped_stdout_from(self.lines_read);
        self.lines_read += new.len();
        self.events.extend(new.into_iter().filter_map(|l| {
            let event = serde_json::from_str(&l.line).ok()?;
            Some(StampedEvent { at: l.at, event })
        }));
        &self.events
    }

    /// Every event read so far.
    pub fn events(&self) -> &[StampedEvent] {
        &self.events
    }
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
