//! SIP message tracing: every message sent or received, as text, for `--verbose` and the TUI's
//! trace view. rsipstack calls the inspector synchronously on its transport path, so it only
//! formats and forwards; it never blocks.

use crate::sip::ua::SipEvent;
use crate::vocab::SipDirection;
use rsipstack::sip::SipMessage;
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transport::SipAddr;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The final status each of our BYEs got, by Call-ID: rsipstack's `bye()` does not say, and a
/// refused BYE (404, 481) is worth a warning.
pub type ByeAnswers = Arc<Mutex<HashMap<String, u16>>>;

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

/// How much of a message rsipstack never sees (screened, dropped) the trace shows.
pub const TRACE_LIMIT: usize = 4096;

/// A trace line for raw bytes from the wire, with our `note` on what became of them.
pub fn raw_line(
    direction: SipDirection,
    peer: String,
    bytes: &[u8],
    note: Option<&str>,
) -> TraceLine {
    let mut text = printable(&bytes[..bytes.len().min(TRACE_LIMIT)]);
    if bytes.len() > TRACE_LIMIT {
        text.push_str("\n…");
    }
    if let Some(note) = note {
        text.push_str(&format!("\n[sipterm: {note}]"));
    }
    let summary = text.lines().next().unwrap_or_default().to_string();
    let call_id = text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("call-id") || name == "i").then(|| value.trim().to_string())
    });
    TraceLine {
        direction,
        peer: Some(peer),
        summary,
        call_id,
        text,
    }
}

/// Peer bytes as text for the trace: invalid UTF-8 replaced, control characters other than
/// line breaks and tabs shown as `?`, so a torture message cannot garble the terminal.
pub fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| match c {
            '\r' | '\n' | '\t' => c,
            c if c.is_control() => '?',
            c => c,
        })
        .collect()
}

/// Whether anyone reads the trace (`--verbose`, the TUI's trace view). When nobody does,
/// messages are not formatted at all: the inspector runs on the transport path, and the text
/// of the INVITE and of our 200 OK would otherwise be built and queued before the 200 leaves.
pub type TraceWanted = Arc<AtomicBool>;

pub struct TraceInspector {
    events: mpsc::UnboundedSender<SipEvent>,
    bye_answers: ByeAnswers,
    wanted: TraceWanted,
}

impl TraceInspector {
    pub fn new(
        events: mpsc::UnboundedSender<SipEvent>,
        bye_answers: ByeAnswers,
        wanted: TraceWanted,
    ) -> Self {
        TraceInspector {
            events,
            bye_answers,
            wanted,
        }
    }

    fn note_bye_answer(&self, msg: &SipMessage) {
        use rsipstack::sip::prelude::HeadersExt;
        let SipMessage::Response(resp) = msg else {
            return;
        };
        let code = resp.status_code.code();
        let is_bye = resp
            .cseq_header()
            .ok()
            .and_then(|c| c.method().ok())
            .is_some_and(|m| m == rsipstack::sip::Method::Bye);
        if code >= 200 && is_bye {
            if let Ok(call_id) = resp.call_id_header() {
                let mut answers = self.bye_answers.lock().expect("bye answers");
                // Answers nobody asked for (a BYE that crossed the caller's) are not kept
                // forever: the one that matters is taken within the BYE's transaction.
                if answers.len() >= 1024 {
                    answers.clear();
                }
                answers.insert(call_id.value().to_string(), code);
            }
        }
    }

    fn emit(&self, direction: SipDirection, msg: &SipMessage, peer: Option<&SipAddr>) {
        if !self.wanted.load(Ordering::Relaxed) {
            return;
        }
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
        self.note_bye_answer(&msg);
        self.emit(SipDirection::Received, &msg, from);
        msg
    }
}
