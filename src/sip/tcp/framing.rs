//! Cuts a TCP byte stream into SIP messages (RFC 3261 §18.3: the header block ends at the first
//! empty line, the body is `Content-Length` octets) and RFC 5626 keep-alives (a CRLF pair is a
//! ping, a lone CRLF its pong). Pure: bytes in, frames out.

/// The largest message we buffer. RFC 3261 sets no limit for streams; 64 kB is what UDP can
/// carry and far more than any call needs, and it bounds what a peer can make us hold.
pub const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A CRLF pair: the peer asks whether the flow is alive; answer with one CRLF.
    Ping,
    /// A lone CRLF: the answer to our ping (or padding before a message, RFC 3261 §7.5).
    Pong,
    /// One whole message: the header block and its body.
    Message(Vec<u8>),
}

/// The stream cannot be cut any further: after these the flow has to be closed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("Content-Length {0:?} is not a number of octets")]
    BadContentLength(String),
    #[error("a message larger than {limit} octets")]
    TooLarge { limit: usize },
}

impl FrameError {
    /// The header block of the message that broke framing, when there is one to answer.
    pub fn head<'a>(&self, framer: &'a Framer) -> Option<&'a [u8]> {
        let end = find(&framer.buf, b"\r\n\r\n")?;
        Some(&framer.buf[..end + 4])
    }
}

#[derive(Default)]
pub struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Octets of a message that has begun but not ended (keep-alive padding aside).
    pub fn partial(&self) -> bool {
        self.buf.iter().any(|b| !matches!(b, b'\r' | b'\n'))
    }

    /// The next complete frame, `None` while more bytes are needed.
    pub fn next(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.drain(..4);
            return Ok(Some(Frame::Ping));
        }
        if self.buf.starts_with(b"\r\n") && self.buf.len() > 2 {
            self.buf.drain(..2);
            return Ok(Some(Frame::Pong));
        }
        if self.buf.starts_with(b"\r\n") {
            return Ok(None); // maybe the first half of a ping
        }
        let Some(end) = find(&self.buf, b"\r\n\r\n") else {
            return if self.buf.len() > MAX_MESSAGE {
                Err(FrameError::TooLarge { limit: MAX_MESSAGE })
            } else {
                Ok(None)
            };
        };
        let head_len = end + 4;
        let body_len = content_length(&self.buf[..head_len])?;
        let total = head_len + body_len;
        if total > MAX_MESSAGE {
            return Err(FrameError::TooLarge { limit: MAX_MESSAGE });
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let rest = self.buf.split_off(total);
        let message = std::mem::replace(&mut self.buf, rest);
        // A burst of traffic can leave a large buffer behind; give it back once drained.
        if self.buf.is_empty() && self.buf.capacity() > 4096 {
            self.buf = Vec::new();
        }
        Ok(Some(Frame::Message(message)))
    }
}

/// The body length the header block announces; none at all means no body (RFC 3261 makes it
/// mandatory on streams, but a message without one still has an unambiguous end here).
fn content_length(head: &[u8]) -> Result<usize, FrameError> {
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim(&line[..colon]);
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = String::from_utf8_lossy(trim(&line[colon + 1..])).into_owned();
        return value
            .parse::<usize>()
            .map_err(|_| FrameError::BadContentLength(value.chars().take(40).collect()));
    }
    Ok(0)
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = bytes.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(s), Some(e)) => &bytes[s..=e],
        _ => &[],
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framer: &mut Framer) -> Vec<Frame> {
        std::iter::from_fn(|| framer.next().unwrap()).collect()
    }

    #[test]
    fn messages_split_and_coalesced_come_out_whole() {
        let one = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 4\r\n\r\nbody".to_vec();
        let two = b"BYE sip:a@b SIP/2.0\r\nl:0\r\n\r\n".to_vec();
        let mut all = one.clone();
        all.extend_from_slice(&two);
        let mut f = Framer::default();
        for chunk in all.chunks(7) {
            f.push(chunk);
        }
        assert_eq!(
            frames(&mut f),
            vec![Frame::Message(one), Frame::Message(two)]
        );
        assert!(!f.partial());
    }

    #[test]
    fn a_message_waits_for_its_whole_body() {
        let mut f = Framer::default();
        f.push(b"INFO sip:a@b SIP/2.0\r\nContent-Length : 10\r\n\r\n12345");
        assert_eq!(f.next(), Ok(None));
        assert!(f.partial());
        f.push(b"67890");
        assert!(matches!(f.next(), Ok(Some(Frame::Message(_)))));
    }

    #[test]
    fn crlf_pairs_are_pings_and_lone_crlfs_pongs() {
        let mut f = Framer::default();
        f.push(b"\r\n");
        assert_eq!(f.next(), Ok(None), "half a ping waits");
        f.push(b"\r\n\r\nBYE sip:a@b SIP/2.0\r\n\r\n");
        assert_eq!(f.next(), Ok(Some(Frame::Ping)));
        assert_eq!(f.next(), Ok(Some(Frame::Pong)));
        assert!(matches!(f.next(), Ok(Some(Frame::Message(_)))));
    }

    #[test]
    fn a_negative_content_length_breaks_framing_and_names_the_value() {
        let mut f = Framer::default();
        f.push(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n");
        let err = f.next().unwrap_err();
        assert_eq!(err, FrameError::BadContentLength("-999".into()));
        assert!(err.head(&f).unwrap().starts_with(b"INVITE"));
    }

    #[test]
    fn endless_headers_and_huge_bodies_are_refused_before_they_are_buffered() {
        let mut f = Framer::default();
        f.push(&vec![b'a'; MAX_MESSAGE + 1]);
        assert_eq!(f.next(), Err(FrameError::TooLarge { limit: MAX_MESSAGE }));
        let mut f = Framer::default();
        f.push(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n");
        assert_eq!(f.next(), Err(FrameError::TooLarge { limit: MAX_MESSAGE }));
    }
}
