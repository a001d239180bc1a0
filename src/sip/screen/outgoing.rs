//! Repairs to what rsipstack sends: its double escaping in To, and our stand-in From tags.
//!
//! rsipstack keeps a URI's user part as received (`%75se%72`) but percent-encodes it again
//! when it writes a typed To header, which it does whenever it adds the To tag: `%75` goes
//! out as `%2575`, a different URI (RFC 3261 §19.1.4), so the answer's To no longer equals
//! the request's (§8.2.6.2). A literal `%` cannot appear in a user part except as an escape
//! introducer, so `%25` followed by two hex digits there is the doubled form and is undone.
//!
//! An RFC 2543 peer sends no From tag; screening adds one ([`tag_for_2543`]) so rsipstack can
//! key the transaction, and it is removed here from From and To so the peer sees its own
//! header fields back.

use super::parse::find;
use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// Marks the From tags screening made up; no real tag starts like this.
const TAG_2543: &str = "sipterm-2543-";

/// The stand-in From tag for a request without one: the same for every request of that
/// caller, so its ACK and BYE find the dialog its INVITE made.
pub fn tag_for_2543(from_uri: &str) -> String {
    let mut h = DefaultHasher::new();
    from_uri.hash(&mut h);
    format!("{TAG_2543}{:x}", h.finish())
}

/// `message` as it should go on the wire: in a response's To, `%25HH` turned back into
/// `%HH` in the URI's user part; in From and To, a stand-in tag removed.
pub fn repair_outgoing(message: &[u8]) -> Cow<'_, [u8]> {
    let escapes = message.starts_with(b"SIP/") && find(message, b"%25").is_some();
    if !escapes && find(message, TAG_2543.as_bytes()).is_none() {
        return Cow::Borrowed(message);
    }
    let head_len = find(message, b"\r\n\r\n").unwrap_or(message.len());
    let Ok(head) = std::str::from_utf8(&message[..head_len]) else {
        return Cow::Borrowed(message);
    };
    let mut changed = false;
    let lines: Vec<String> = head
        .split("\r\n")
        .map(|line| {
            let name = line.split_once(':').map_or("", |(name, _)| name.trim());
            let is_to = name.eq_ignore_ascii_case("to") || name.eq_ignore_ascii_case("t");
            let is_from = name.eq_ignore_ascii_case("from") || name.eq_ignore_ascii_case("f");
            if !is_to && !is_from {
                return line.to_string();
            }
            let mut fixed = drop_stand_in_tag(line);
            if is_to && escapes {
                fixed = repair_line(&fixed);
            }
            changed |= fixed != line;
            fixed
        })
        .collect();
    if !changed {
        return Cow::Borrowed(message);
    }
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(&message[head_len..]);
    Cow::Owned(out)
}

fn repair_line(line: &str) -> String {
    // The URI starts after `<`, or after the colon of the header name; its user part runs
    // from the scheme's colon to the `@`.
    let (name, value) = line.split_once(':').unwrap_or((line, ""));
    let uri_start = value.find('<').map_or(0, |i| i + 1);
    let uri_end = value[uri_start..]
        .find('>')
        .map_or(value.len(), |i| uri_start + i);
    let uri = &value[uri_start..uri_end];
    let (Some(colon), Some(at)) = (uri.find(':'), uri.rfind('@')) else {
        return line.to_string();
    };
    if at < colon {
        return line.to_string();
    }
    let user = &uri[colon + 1..at];
    let mut fixed_user = String::with_capacity(user.len());
    let mut rest = user;
    while let Some(i) = rest.find("%25") {
        let hex = rest.get(i + 3..i + 5);
        fixed_user.push_str(&rest[..i]);
        if hex.is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())) {
            fixed_user.push('%');
        } else {
            fixed_user.push_str("%25");
        }
        rest = &rest[i + 3..];
    }
    fixed_user.push_str(rest);
    format!(
        "{name}:{}{}{}{}",
        &value[..uri_start + colon + 1],
        fixed_user,
        &uri[at..],
        &value[uri_end..]
    )
}

fn drop_stand_in_tag(line: &str) -> String {
    let Some(at) = line.find(&format!(";tag={TAG_2543}")) else {
        return line.to_string();
    };
    let end = line[at + 1..].find(';').map_or(line.len(), |i| at + 1 + i);
    format!("{}{}", &line[..at], &line[end..])
}
