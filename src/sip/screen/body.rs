//! Session bodies: which an INVITE or UPDATE may carry, the SDP part of a multipart/mixed
//! body (RFC 2046 §5.1.1, as RFC 5621 uses it in SIP), and whether Accept allows SDP.

use super::parse::{self, find, Message};
use super::{count, refuse, values, Refusal};
use std::borrow::Cow;

/// The content of the first `application/sdp` part, if the body has one.
pub fn sdp_part(content_type: &str, body: &[u8]) -> Option<Vec<u8>> {
    let boundary = content_type.split(';').skip(1).find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
    })?;
    if boundary.is_empty() {
        return None;
    }
    let delimiter = format!("--{boundary}");
    // A CRLF before a delimiter belongs to the delimiter; prefixing one finds the first too.
    let mut text = b"\r\n".to_vec();
    text.extend_from_slice(body);
    let marker = format!("\r\n{delimiter}").into_bytes();
    let mut rest = &text[..];
    while let Some(at) = find(rest, &marker) {
        let after = &rest[at + marker.len()..];
        if after.starts_with(b"--") {
            return None; // the closing delimiter
        }
        let line_end = find(after, b"\r\n")?;
        let part = &after[line_end + 2..];
        let part_end = find(part, &marker).unwrap_or(part.len());
        let (headers, content) = match find(&part[..part_end], b"\r\n\r\n") {
            Some(h) => (&part[..h], &part[h + 4..part_end]),
            // No headers at all: the part starts with the empty line (text/plain by default).
            None => (
                &part[..0],
                part[..part_end].strip_prefix(b"\r\n").unwrap_or(&[]),
            ),
        };
        let is_sdp = String::from_utf8_lossy(headers).split("\r\n").any(|line| {
            line.split_once(':').is_some_and(|(name, value)| {
                let name = name.trim();
                (name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("c"))
                    && value
                        .split(';')
                        .next()
                        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/sdp"))
            })
        });
        if is_sdp {
            return Some(content.to_vec());
        }
        rest = &part[part_end..];
    }
    None
}

/// The body of an INVITE or UPDATE must be SDP (RFC 3261 §8.2.3: 415 otherwise, listing what
/// we accept). A multipart/mixed body is valid too (RFC 4475 §3.1.1.11, RFC 5621): its SDP
/// part is taken and the rest (ISUP from gateways, say) ignored.
pub(super) fn session_body<'a>(
    body: &'a [u8],
    content_type: Option<String>,
) -> Result<(Cow<'a, [u8]>, Option<String>), Refusal> {
    if body.is_empty() {
        return Ok((Cow::Borrowed(body), content_type));
    }
    let unsupported = |what: &str| {
        refuse(
            415,
            format!("{} body", parse::clip(what)),
            vec!["Accept: application/sdp".to_string()],
        )
    };
    let Some(ct) = content_type else {
        return Err(unsupported("untyped"));
    };
    let kind = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match kind.as_str() {
        "application/sdp" => Ok((Cow::Borrowed(body), Some(ct))),
        "multipart/mixed" => match sdp_part(&ct, body) {
            Some(sdp) => Ok((Cow::Owned(sdp), Some("application/sdp".into()))),
            None => Err(unsupported("multipart/mixed without SDP")),
        },
        other => Err(unsupported(other)),
    }
}

/// No Accept means SDP is fine (RFC 3261 §20.1); otherwise one range must cover it.
pub(super) fn accepts_sdp(msg: &Message<'_>) -> bool {
    let mut ranges = values(msg, "Accept")
        .flat_map(super::fields::split_list)
        .peekable();
    if ranges.peek().is_none() && count(msg, "Accept") == 0 {
        return true;
    }
    ranges.any(|r| {
        let range = r
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        matches!(range.as_str(), "application/sdp" | "application/*" | "*/*")
    })
}
