//! SIP message tracing: every message sent or received, as text, for `--verbose` and the TUI's
//! trace view. rsipstack calls the inspector synchronously on its transport path, so it only
//! formats and forwards; it never blocks.

use crate::sip::ua::SipEvent;
use crate::vocab::SipDirection;
use rsipstack::sip::SipMessage;
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transport::SipAddr;
use serde::Serialize;
use tokio::sync::mpsc;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceLine {
    pub direction: SipDirection,
    /// The other end, when the stack knows it.
    pub peer: Option<String>,
    /// Request line or status line, e.g. `INVITE sip:alice@host SIP/2.0`.
    pub summary: String,
    pub call_id: Option<String>,
    pub text: String,
}

pub struct TraceInspector {
    events: mpsc::UnboundedSender<SipEvent>,
}

impl TraceInspector {
    pub fn new(events: mpsc::UnboundedSender<SipEvent>) -> Self {
        TraceInspector { events }
    }

    fn emit(&self, direction: SipDirection, msg: &SipMessage, peer: Option<&SipAddr>) {
        let text = msg.to_string();
        let summary = text.lines().next().unwrap_or_default().to_string();
        let call_id = text
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                let name = name.trim();
                (name.eq_ignore_ascii_case("call-id") || name == "i").then(|| value.trim())
            })
            .map(str::to_string);
        let _ = self.events.send(SipEvent::Trace(TraceLine {
            direction,
            peer: peer.map(|p| p.to_string()),
            summary,
            call_id,
            text,
        }));
    }
}

impl MessageInspector for TraceInspector {
    fn before_send(&self, msg: SipMessage, dest: Option<&SipAddr>) -> SipMessage {
        self.emit(SipDirection::Sent, &msg, dest);
        msg
    }

    fn after_received(&self, msg: SipMessage, from: Option<&SipAddr>) -> SipMessage {
        self.emit(SipDirection::Received, &msg, from);
        msg
    }
}
