//! The SDP part of a multipart/mixed body (RFC 2046 §5.1.1, as RFC 5621 uses it in SIP).

use super::parse::find;

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
