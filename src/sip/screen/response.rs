//! Incoming responses: rsipstack matches them to transactions; only broken ones stop here.

use super::parse::{self, Message, StartLine};
use super::{cseq, framed_body, required, value, Verdict};
use std::borrow::Cow;

/// Responses are rsipstack's to match; only broken ones are dropped here (RFC 4475
/// §3.1.2.5, §3.1.2.19: a response with out-of-range numbers is discarded).
pub(super) fn screen_response<'a>(message: &'a [u8], msg: &Message<'a>) -> Verdict<'a> {
    let drop = |why: String| Verdict::Drop { why };
    let Ok(StartLine::Response { version, code, .. }) = parse::start_line(&msg.start) else {
        return drop("unreadable status line".into());
    };
    if version != "SIP/2.0" {
        return drop(format!(
            "response version {} is not SIP/2.0",
            parse::clip(version)
        ));
    }
    let in_range = code.len() == 3
        && parse::is_digits(code)
        && (100..=699).contains(&code.parse::<u16>().unwrap_or(0));
    if !in_range {
        return drop(format!("status code {} out of range", parse::clip(code)));
    }
    if let Some(flaw) = &msg.flaw {
        return drop(flaw.detail.clone());
    }
    if !msg.terminated {
        return drop("no empty line after the header fields".into());
    }
    let body = match framed_body(msg) {
        Ok(body) => body,
        Err(r) => return drop(r.problem.detail),
    };
    if let Err(r) = required(msg, &["Via", "From", "To", "Call-ID", "CSeq"]) {
        return drop(r.problem.detail);
    }
    if let Err(p) = cseq(&value(msg, "CSeq").unwrap_or_default()) {
        return drop(p.detail);
    }
    let end = msg.head_len + 4 + body.len();
    if value(msg, "Content-Length").is_none() && !body.is_empty() {
        // Without Content-Length rsipstack reads no body; over UDP it is the rest (§18.3).
        let mut out = message[..msg.head_len].to_vec();
        out.extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        return Verdict::Pass(Cow::Owned(out));
    }
    Verdict::Pass(Cow::Borrowed(&message[..end]))
}
