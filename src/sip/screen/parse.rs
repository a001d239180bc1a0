//! A tolerant reader for one SIP message, used only to screen it before rsipstack sees it.
//!
//! It follows RFC 3261 §7 and §25 where RFC 4475 says a receiver must accept odd but valid
//! forms (line folding, LWS around `:` `;` `=` `/`, compact header names, leading zeros) and
//! reports a [`Problem`] where RFC 4475 says a message is malformed. This part splits a
//! message into start line, unfolded header fields and body; `fields.rs` reads the values.

/// What is wrong with a message, as the status we would answer and a short explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: u16,
    pub detail: String,
}

impl Problem {
    pub fn bad(detail: impl Into<String>) -> Problem {
        Problem {
            status: 400,
            detail: detail.into(),
        }
    }
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<'a> {
    Request {
        method: &'a str,
        uri: &'a str,
        version: &'a str,
    },
    Response {
        version: &'a str,
        code: &'a str,
        reason: &'a str,
    },
}

/// One header field, unfolded, its name in canonical spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: String,
}

/// A message split into its parts; the body is everything after the blank line.
#[derive(Debug)]
pub struct Message<'a> {
    pub start: String,
    pub fields: Vec<Field>,
    pub body: &'a [u8],
    /// Where the header section ends (the body starts four bytes later).
    pub head_len: usize,
    /// The header section ended with an empty line (RFC 3261 §7).
    pub terminated: bool,
    /// The first line we could not read (it is left out of `fields`).
    pub flaw: Option<Problem>,
}

/// Splits `bytes` into start line, unfolded header fields and body. Lines it cannot read
/// are skipped and the first is kept in `flaw`, so a request can still be answered.
pub fn split(bytes: &[u8]) -> Message<'_> {
    let (head_len, body, terminated) = match find(bytes, b"\r\n\r\n") {
        Some(at) => (at, &bytes[at + 4..], true),
        None => (bytes.len(), &bytes[bytes.len()..], false),
    };
    let mut flaw = None;
    let head = match std::str::from_utf8(&bytes[..head_len]) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => {
            flaw = Some(Problem::bad("header section is not UTF-8 text"));
            String::from_utf8_lossy(&bytes[..head_len])
        }
    };
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default().to_string();
    let mut fields: Vec<Field> = Vec::new();
    let mut note = |p: Problem| {
        flaw.get_or_insert(p);
    };
    for line in lines {
        if line.starts_with([' ', '\t']) {
            // RFC 3261 §7.3.1: a line starting with white space continues the previous one.
            match fields.last_mut() {
                Some(f) => {
                    if !f.value.is_empty() {
                        f.value.push(' ');
                    }
                    f.value.push_str(line.trim_matches([' ', '\t']));
                }
                None => note(Problem::bad("header section starts with a folded line")),
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            note(Problem::bad(format!(
                "header line without a colon: {}",
                clip(line)
            )));
            continue;
        };
        let name = name.trim_end_matches([' ', '\t']);
        if name.is_empty() || !name.chars().all(is_token_char) {
            note(Problem::bad(format!("bad header name: {}", clip(name))));
            continue;
        }
        fields.push(Field {
            name: canonical_name(name),
            value: value.trim_matches([' ', '\t']).to_string(),
        });
    }
    Message {
        start,
        fields,
        body,
        head_len,
        terminated,
        flaw,
    }
}

/// Reads the start line strictly: single spaces between the parts (RFC 3261 §7.1; RFC 4475
/// §3.1.2.9 and §3.1.2.10 allow rejecting anything else).
pub fn start_line(line: &str) -> Result<StartLine<'_>, Problem> {
    if line.starts_with("SIP/") {
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let code = parts.next().unwrap_or_default();
        let reason = parts.next().unwrap_or_default();
        return Ok(StartLine::Response {
            version,
            code,
            reason,
        });
    }
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(Problem::bad("extra white space in the request line"));
    }
    match parts.as_slice() {
        [method, uri, version] => Ok(StartLine::Request {
            method,
            uri,
            version,
        }),
        _ => Err(Problem::bad(
            "request line is not method, Request-URI and version",
        )),
    }
}

/// `SIP/x.y` with any digits: the form of a SIP version, whatever its number.
pub fn looks_like_version(version: &str) -> bool {
    let Some(number) = version
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .and(version.get(4..))
    else {
        return false;
    };
    match number.split_once('.') {
        Some((major, minor)) => is_digits(major) && is_digits(minor),
        None => false,
    }
}

pub fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// RFC 3261 §25.1 `token` characters.
pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// The scheme of a URI (`sip`, `tel`, ...), if it starts with a well-formed one.
pub fn scheme(uri: &str) -> Option<&str> {
    let (scheme, _) = uri.split_once(':')?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))).then_some(scheme)
}

/// RFC 3261 §7.3.3 compact forms, and one spelling for every header we look at.
fn canonical_name(name: &str) -> String {
    const KNOWN: &[(&str, &str)] = &[
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("e", "Content-Encoding"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("f", "From"),
        ("s", "Subject"),
        ("k", "Supported"),
        ("t", "To"),
        ("v", "Via"),
        ("call-id", "Call-ID"),
        ("contact", "Contact"),
        ("content-length", "Content-Length"),
        ("content-type", "Content-Type"),
        ("cseq", "CSeq"),
        ("from", "From"),
        ("to", "To"),
        ("via", "Via"),
        ("max-forwards", "Max-Forwards"),
        ("require", "Require"),
        ("accept", "Accept"),
        ("route", "Route"),
        ("record-route", "Record-Route"),
        ("subject", "Subject"),
        ("supported", "Supported"),
    ];
    let lower = name.to_ascii_lowercase();
    KNOWN
        .iter()
        .find(|(k, _)| *k == lower)
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| name.to_string())
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Peer text made safe to show: at most 60 characters, control characters as `?`.
pub fn clip(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(60)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
}
