//! SIP messages for the TUI's trace view: each message tied to its call by Call-ID. The
//! first INVITE is traced before the engine has created its call, so messages of a Call-ID
//! not yet known wait here (bounded) until the call appears.

use super::sip_side::SipSide;
use super::Engine;
use crate::sip::trace::TraceLine;
use crate::vocab::{CallId, Event, LogKind, LogLevel, SipDirection};
use std::collections::{HashMap, VecDeque};

/// Call-IDs whose messages may wait for their call; older ones are forgotten (stray OPTIONS,
/// REGISTER transactions and garbage never become calls).
const WAITING_CALL_IDS: usize = 32;
/// Calls remembered for routing.
const KNOWN_CALLS: usize = 1024;
/// Messages kept per waiting Call-ID.
const WAITING_PER_CALL: usize = 16;

#[derive(Default)]
pub(super) struct TraceRouter {
    calls: HashMap<String, CallId>,
    waiting: VecDeque<(String, Vec<TraceLine>)>,
}

impl TraceRouter {
    /// A call was created for this Call-ID: the messages that waited for it come out.
    pub fn bind(&mut self, call_id: &str, call: CallId) -> Vec<TraceLine> {
        // Late messages (the 200 to our BYE) still find ended calls; very old ones are dropped.
        if self.calls.len() >= KNOWN_CALLS {
            self.calls
                .retain(|_, c| c.0 + (KNOWN_CALLS as u64) / 2 > call.0);
        }
        self.calls.insert(call_id.to_string(), call);
        match self.waiting.iter().position(|(id, _)| id == call_id) {
            Some(i) => self
                .waiting
                .remove(i)
                .map(|(_, lines)| lines)
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// The call a message belongs to, `Ok(None)` for messages outside calls (REGISTER,
    /// OPTIONS), or `Err(line)` back when it was kept to wait for its call.
    pub fn route(&mut self, line: TraceLine) -> Result<(Option<CallId>, TraceLine), ()> {
        let Some(call_id) = line.call_id.clone() else {
            return Ok((None, line));
        };
        if let Some(call) = self.calls.get(&call_id) {
            return Ok((Some(*call), line));
        }
        let invite_related = line.text.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            (l.starts_with("cseq:") && (l.contains("invite") || l.contains("cancel")))
                || l.starts_with("invite ")
        });
        if !invite_related {
            return Ok((None, line));
        }
        match self.waiting.iter_mut().find(|(id, _)| *id == call_id) {
            Some((_, lines)) if lines.len() < WAITING_PER_CALL => lines.push(line),
            Some(_) => {}
            None => {
                if self.waiting.len() == WAITING_CALL_IDS {
                    self.waiting.pop_front();
                }
                self.waiting.push_back((call_id, vec![line]));
            }
        }
        Err(())
    }
}

impl<S: SipSide> Engine<S> {
    pub(super) fn on_trace(&mut self, line: TraceLine) {
        if self.config.verbose {
            let arrow = match line.direction {
                SipDirection::Sent => "sent to",
                SipDirection::Received => "received from",
            };
            self.log.line(
                LogLevel::Debug,
                LogKind::Sip,
                format!(
                    "SIP {arrow} {}:\n{}",
                    line.peer.as_deref().unwrap_or("?"),
                    line.text.trim_end()
                ),
            );
        }
        if !self.config.sip_trace_events {
            return;
        }
        if let Ok((call, line)) = self.traces.route(line) {
            self.emit_trace(call, line);
        }
    }

    /// Called when a call is created: its earlier messages (the INVITE) are sent out.
    pub(super) fn bind_trace(&mut self, call_id: &str, call: CallId) {
        if !self.config.sip_trace_events {
            return;
        }
        for line in self.traces.bind(call_id, call) {
            self.emit_trace(Some(call), line);
        }
    }

    fn emit_trace(&self, call: Option<CallId>, line: TraceLine) {
        self.log.emit(Event::SipMessage {
            call,
            direction: line.direction,
            peer: line.peer,
            summary: line.summary,
            text: line.text,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(call_id: Option<&str>, text: &str) -> TraceLine {
        TraceLine {
            direction: SipDirection::Received,
            peer: None,
            summary: text.lines().next().unwrap_or_default().to_string(),
            call_id: call_id.map(str::to_string),
            text: text.to_string(),
        }
    }

    #[test]
    fn invite_waits_for_its_call_then_later_messages_route_directly() {
        let mut r = TraceRouter::default();
        let invite = line(Some("abc"), "INVITE sip:a@b SIP/2.0\r\nCSeq: 1 INVITE\r\n");
        assert!(r.route(invite).is_err(), "kept until the call exists");
        let flushed = r.bind("abc", CallId(7));
        assert_eq!(flushed.len(), 1);
        let bye = line(Some("abc"), "BYE sip:a@b SIP/2.0\r\nCSeq: 2 BYE\r\n");
        assert_eq!(r.route(bye).unwrap().0, Some(CallId(7)));
    }

    #[test]
    fn messages_outside_calls_are_not_kept() {
        let mut r = TraceRouter::default();
        let reg = line(
            Some("reg"),
            "REGISTER sip:b SIP/2.0\r\nCSeq: 1 REGISTER\r\n",
        );
        assert_eq!(r.route(reg).unwrap().0, None);
        assert_eq!(r.route(line(None, "garbage")).unwrap().0, None);
    }

    #[test]
    fn waiting_is_bounded() {
        let mut r = TraceRouter::default();
        for i in 0..100 {
            for _ in 0..40 {
                let _ = r.route(line(Some(&i.to_string()), "INVITE x SIP/2.0\r\n"));
            }
        }
        assert_eq!(r.waiting.len(), WAITING_CALL_IDS);
        assert!(r.waiting.iter().all(|(_, l)| l.len() == WAITING_PER_CALL));
    }
}
