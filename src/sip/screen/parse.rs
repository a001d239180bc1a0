//! A tolerant reader for one SIP message, used only to screen it before rsipstack sees it.
//!
//! It follows RFC 3261 §7 and §25 where RFC 4475 says a receiver must accept odd but valid
//! forms (line folding, LWS around `:` `;` `=` `/`, compact header names, leading zeros) and
//! reports a [`Problem`] where RFC 4475 says a message is malformed. Values come back in one
//! canonical spelling that rsipstack's parser reads.

use std::fmt::Write as _;

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

/// One `;name[=value]` parameter, LWS around `;` and `=` already removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
}

/// One Via value (RFC 3261 §20.42), in parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViaValue {
    pub protocol: String,
    pub transport: String,
    pub sent_by: String,
    pub params: Vec<Param>,
}

impl ViaValue {
    pub fn canonical(&self) -> String {
        let mut out = format!("{}/{} {}", self.protocol, self.transport, self.sent_by);
        push_params(&mut out, &self.params);
        out
    }
}

/// An address (`name-addr` or `addr-spec`, RFC 3261 §20.10) with its header parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// As written: a quoted string with its quotes, or tokens joined by single spaces.
    pub display: Option<String>,
    pub uri: String,
    pub params: Vec<Param>,
}

impl Address {
    /// Always the `name-addr` form, which also keeps URI parameters apart from header ones.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        if let Some(d) = &self.display {
            let _ = write!(out, "{d} ");
        }
        let _ = write!(out, "<{}>", self.uri);
        push_params(&mut out, &self.params);
        out
    }

    pub fn tag(&self) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case("tag"))
            .and_then(|p| p.value.as_deref())
    }
}

fn push_params(out: &mut String, params: &[Param]) {
    for p in params {
        out.push(';');
        out.push_str(&p.name);
        if let Some(v) = &p.value {
            out.push('=');
            out.push_str(v);
        }
    }
}

/// Splits a header value at commas that are outside quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut escaped, mut angle, mut from) = (false, false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(value[from..i].trim_matches([' ', '\t']));
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[from..].trim_matches([' ', '\t']));
    parts
}

/// Reads `;name[=value]` parameters; `rest` must start with `;` or be blank.
pub fn params(rest: &str, what: &str) -> Result<Vec<Param>, Problem> {
    let rest = rest.trim_matches([' ', '\t']);
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = rest.strip_prefix(';') else {
        return Err(Problem::bad(format!(
            "{what}: unexpected text {}",
            clip(rest)
        )));
    };
    let mut out = Vec::new();
    for piece in split_params(rest) {
        let (name, value) = match piece.split_once('=') {
            Some((n, v)) => (
                n.trim_matches([' ', '\t']),
                Some(v.trim_matches([' ', '\t'])),
            ),
            None => (piece.trim_matches([' ', '\t']), None),
        };
        if name.is_empty() || !name.chars().all(is_token_char) {
            return Err(Problem::bad(format!("{what}: empty or bad parameter")));
        }
        let value_ok = |v: &str| {
            (v.starts_with('"') && v.len() >= 2 && v.ends_with('"'))
                || (!v.is_empty() && v.chars().all(|c| is_token_char(c) || "[]:".contains(c)))
        };
        if let Some(v) = value {
            if !value_ok(v) {
                return Err(Problem::bad(format!(
                    "{what}: bad value for parameter {name}"
                )));
            }
        }
        out.push(Param {
            name: name.to_string(),
            value: value.map(str::to_string),
        });
    }
    Ok(out)
}

/// Splits parameters at `;` outside quoted strings.
fn split_params(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut escaped, mut from) = (false, false, 0);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                parts.push(&s[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[from..]);
    parts
}

/// Reads one Via value: `SIP / 2.0 / UDP host[:port] *(; param)`, LWS allowed around `/`.
pub fn via(value: &str) -> Result<ViaValue, Problem> {
    let bad = || Problem::bad(format!("unreadable Via: {}", clip(value)));
    let mut pieces = value.splitn(3, '/');
    let name = pieces.next().ok_or_else(bad)?.trim_matches([' ', '\t']);
    let version = pieces.next().ok_or_else(bad)?.trim_matches([' ', '\t']);
    let rest = pieces
        .next()
        .ok_or_else(bad)?
        .trim_start_matches([' ', '\t']);
    let transport_end = rest.find([' ', '\t']).ok_or_else(bad)?;
    let transport = &rest[..transport_end];
    let rest = rest[transport_end..].trim_start_matches([' ', '\t']);
    let host_end = rest.find([';', ' ', '\t']).unwrap_or(rest.len());
    let sent_by = &rest[..host_end];
    let token = |s: &str| !s.is_empty() && s.chars().all(is_token_char);
    if !token(name) || !token(version) || !token(transport) || sent_by.is_empty() {
        return Err(bad());
    }
    if !sent_by
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
    {
        return Err(bad());
    }
    Ok(ViaValue {
        protocol: format!("{name}/{version}"),
        transport: transport.to_string(),
        sent_by: sent_by.to_string(),
        params: params(&rest[host_end..], "Via")?,
    })
}

/// Reads one address value (From, To, one Contact or Route entry).
pub fn address(value: &str, what: &str) -> Result<Address, Problem> {
    let value = value.trim_matches([' ', '\t']);
    let (display, rest) = if let Some(q) = value.strip_prefix('"') {
        let end = closing_quote(q)
            .ok_or_else(|| Problem::bad(format!("{what}: unterminated quoted display name")))?;
        (Some(format!("\"{}\"", &q[..end])), &q[end + 1..])
    } else if let Some(lt) = value.find('<') {
        let name = value[..lt].trim_matches([' ', '\t']);
        let words: Vec<&str> = name.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
        if words.iter().any(|w| !w.chars().all(is_token_char)) {
            return Err(Problem::bad(format!(
                "{what}: display name needs quotes (it has non-token characters)"
            )));
        }
        ((!words.is_empty()).then(|| words.join(" ")), &value[lt..])
    } else {
        // addr-spec: the URI ends at the first `;`, and then may not hold `,` `?` (§20).
        let end = value.find(';').unwrap_or(value.len());
        let uri = value[..end].trim_matches([' ', '\t']);
        if uri.contains([',', '?', ' ', '\t']) {
            return Err(Problem::bad(format!(
                "{what}: URI with `,` `?` or spaces must be enclosed in <>"
            )));
        }
        check_uri(uri, what)?;
        return Ok(Address {
            display: None,
            uri: uri.to_string(),
            params: params(&value[end..], what)?,
        });
    };
    let rest = rest.trim_start_matches([' ', '\t']);
    let inner = rest
        .strip_prefix('<')
        .ok_or_else(|| Problem::bad(format!("{what}: expected <URI> after the display name")))?;
    let close = inner
        .find('>')
        .ok_or_else(|| Problem::bad(format!("{what}: unclosed <")))?;
    let uri = &inner[..close];
    if uri.contains([' ', '\t']) {
        return Err(Problem::bad(format!("{what}: white space inside <URI>")));
    }
    check_uri(uri, what)?;
    Ok(Address {
        display,
        uri: uri.to_string(),
        params: params(&inner[close + 1..], what)?,
    })
}

fn check_uri(uri: &str, what: &str) -> Result<(), Problem> {
    match scheme(uri) {
        Some(_) => Ok(()),
        None => Err(Problem::bad(format!(
            "{what}: no URI scheme in {}",
            clip(uri)
        ))),
    }
}

/// Index of the closing `"` in `s` (which follows an opening one), honouring `\` escapes.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
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
