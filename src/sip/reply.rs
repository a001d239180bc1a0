//! Answers built from a request's raw header block, for requests the SIP library never sees:
//! ones whose framing broke, or that arrive over a limit. RFC 3261 §8.2.6: a response copies
//! the Via headers (all, in order), From, To (adding a tag), Call-ID and CSeq.

/// The response text for `head`, or `None` when it is not a request we may answer (a
/// response, an ACK, or no Via/CSeq to send it back by).
pub fn stateless(head: &[u8], code: u16, reason: &str, extra: &[String]) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let request_line = lines.next()?;
    let method = request_line.split(' ').next()?;
    if method.starts_with("SIP/") || method.eq_ignore_ascii_case("ACK") {
        return None;
    }
    let mut copied = Vec::new();
    let (mut has_via, mut has_cseq) = (false, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let canonical = match name.as_str() {
            "via" | "v" => "Via",
            "from" | "f" => "From",
            "to" | "t" => "To",
            "call-id" | "i" => "Call-ID",
            "cseq" => "CSeq",
            _ => continue,
        };
        let mut value = value.trim().to_string();
        has_via |= canonical == "Via";
        has_cseq |= canonical == "CSeq";
        if canonical == "To" && code > 100 && !value.to_ascii_lowercase().contains(";tag=") {
            value.push_str(&format!(";tag={:08x}", rand::random::<u32>()));
        }
        copied.push(format!("{canonical}: {value}"));
    }
    if !(has_via && has_cseq) {
        return None;
    }
    let reason: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for line in copied.iter().chain(extra) {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_transaction_headers_and_tags_the_to() {
        let head = b"INVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/TCP h:5060;branch=z9hG4bK1\r\n\
                     Via: SIP/2.0/TCP p:5060;branch=z9hG4bK2\r\nf: <sip:c@d>;tag=1\r\nt: <sip:a@b>\r\n\
                     i: x@y\r\nCSeq: 1 INVITE\r\nContent-Length: -999\r\n\r\n";
        let out = String::from_utf8(stateless(head, 400, "Bad Request", &[]).unwrap()).unwrap();
        assert!(out.starts_with("SIP/2.0 400 Bad Request\r\n"));
        let vias: Vec<_> = out.lines().filter(|l| l.starts_with("Via:")).collect();
        assert_eq!(vias.len(), 2);
        assert!(vias[0].contains("z9hG4bK1"), "{out}");
        assert!(out.contains("To: <sip:a@b>;tag="), "{out}");
        assert!(out.contains("Call-ID: x@y\r\n"));
        assert!(out.ends_with("Content-Length: 0\r\n\r\n"));
    }

    #[test]
    fn never_answers_an_ack_or_a_response() {
        let ack = b"ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\nCSeq: 1 ACK\r\n\r\n";
        assert!(stateless(ack, 400, "x", &[]).is_none());
        let resp = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h\r\nCSeq: 1 INVITE\r\n\r\n";
        assert!(stateless(resp, 400, "x", &[]).is_none());
    }
}
