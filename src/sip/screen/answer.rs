//! Stateless answers built from a request's raw header values (RFC 3261 §8.2.6): every Via
//! in order, From, To (with a tag), Call-ID and CSeq echoed as received, never re-encoded.

use super::parse::{Field, Message};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// The standard reason phrase of the statuses we send ourselves.
pub fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        501 => "Not Implemented",
        505 => "Version Not Supported",
        _ => "Error",
    }
}

/// A response to the request in `msg` with `status`; `detail` goes into the reason phrase
/// in parentheses, `extra` are further header lines (`Name: value`).
pub fn build(msg: &Message<'_>, status: u16, detail: &str, extra: &[String]) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {status} {}", reason(status));
    if !detail.is_empty() {
        out.push_str(&format!(" ({})", phrase_safe(detail)));
    }
    out.push_str("\r\n");
    let fields = &msg.fields;
    let echo = |name: &'static str| fields.iter().filter(move |f| f.name == name);
    for f in echo("Via") {
        line(&mut out, f);
    }
    if let Some(f) = echo("From").next() {
        line(&mut out, f);
    }
    if let Some(f) = echo("To").next() {
        let mut to = f.value.clone();
        // §8.2.6.2: a final answer to a request without a To tag adds one; the same request
        // (a retransmission) must get the same tag, so it is derived from the request.
        if status >= 200 && !has_tag(&to) {
            to.push_str(";tag=");
            to.push_str(&tag_for(msg));
        }
        out.push_str(&format!("To: {to}\r\n"));
    }
    for name in ["Call-ID", "CSeq"] {
        if let Some(f) = echo(name).next() {
            line(&mut out, f);
        }
    }
    for h in extra {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out.into_bytes()
}

fn line(out: &mut String, f: &Field) {
    out.push_str(&format!("{}: {}\r\n", f.name, f.value));
}

/// A `tag` parameter after the URI, found without trusting the value to be well formed.
fn has_tag(to: &str) -> bool {
    let after_uri = to.rfind('>').map_or(to, |i| &to[i..]);
    after_uri.split(';').skip(1).any(|p| {
        p.split('=')
            .next()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case("tag"))
    })
}

fn tag_for(msg: &Message<'_>) -> String {
    let mut h = DefaultHasher::new();
    for f in &msg.fields {
        if matches!(f.name.as_str(), "Via" | "From" | "Call-ID" | "CSeq") {
            f.value.hash(&mut h);
        }
    }
    format!("st{:x}", h.finish())
}

/// The reason phrase may hold text, not line breaks or other control characters (§25.1).
fn phrase_safe(detail: &str) -> String {
    detail
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
