//! The structured header values screening reads: Via (RFC 3261 §20.42), addresses in
//! From, To, Contact and Route (§20.10, §25.1), and their `;name=value` parameters. Each
//! reads liberally where RFC 4475 says a receiver must (LWS around separators, odd but legal
//! characters) and returns a [`Problem`] where it names a message malformed.

use super::parse::{clip, is_token_char, scheme, Problem};
use std::fmt::Write as _;

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
        // Values are read liberally (tokens, hosts, IPv6 addresses, quoted strings alike);
        // only what cannot be one value is refused.
        let value_ok = |v: &str| {
            (v.starts_with('"') && v.len() >= 2 && v.ends_with('"'))
                || (!v.is_empty() && !v.contains([' ', '\t', '"']))
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
        .all(|c| c.is_ascii_alphanumeric() || "-_.:[]".contains(c))
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
    } else if let Some(lt) = find_unquoted(value, '<') {
        let name = value[..lt].trim_matches([' ', '\t']);
        let words: Vec<&str> = name.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
        // Separators make an unquoted display name ambiguous (RFC 4475 §3.1.2.16); letters
        // beyond ASCII do not, and phones send them, so those pass.
        let word_char = |c: char| is_token_char(c) || !c.is_ascii();
        if words.iter().any(|w| !w.chars().all(word_char)) {
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

/// Index of the first `wanted` outside quoted strings.
fn find_unquoted(s: &str, wanted: char) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == wanted && !quoted => return Some(i),
            _ => {}
        }
    }
    None
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
