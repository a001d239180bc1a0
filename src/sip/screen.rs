//! Screening of every incoming SIP message before rsipstack parses it.
//!
//! rsipstack drops what it cannot parse without a word and accepts some malformed messages.
//! [`screen`] decides per RFC 3261 and the RFC 4475 torture tests: pass the message on
//! (rewritten in a canonical spelling rsipstack reads), answer it here with the status the
//! RFCs name, or drop it (responses and ACKs are never answered). It is pure and does not
//! know the transport: the UDP socket in `udp.rs` and the TCP transport both call it.

mod answer;
mod body;
mod fields;
mod outgoing;
mod parse;
mod response;

pub use outgoing::repair_outgoing;

use crate::sip::ua::ALLOW;
use fields::Address;
use parse::{Field, Message, Problem, StartLine};
use std::borrow::Cow;

/// What to do with one incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Hand these bytes to rsipstack: the message itself or a canonical rewrite of it.
    Pass(Cow<'a, [u8]>),
    /// Send `response` back to the sender and give rsipstack nothing.
    Answer { response: Vec<u8>, why: String },
    /// Nothing can or should be answered; `why` is for the log.
    Drop { why: String },
}

/// Methods RFC 3261 and its extensions define; one we do not handle gets 405, any other 501.
const KNOWN_METHODS: &[&str] = &[
    "INVITE",
    "ACK",
    "CANCEL",
    "BYE",
    "OPTIONS",
    "REGISTER",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "INFO",
    "REFER",
    "MESSAGE",
    "UPDATE",
];

/// Decides what happens to one message (a whole UDP datagram or one framed TCP message).
pub fn screen(message: &[u8]) -> Verdict<'_> {
    // CRLF keep-alives (RFC 5626 §3.5.1) are rsipstack's business.
    if message.iter().all(u8::is_ascii_whitespace) {
        return Verdict::Pass(Cow::Borrowed(message));
    }
    let msg = parse::split(message);
    if msg.start.starts_with("SIP/") {
        return response::screen_response(message, &msg);
    }
    let method = msg.start.split(' ').next().unwrap_or_default().to_string();
    let answerable = method != "ACK" && msg.fields.iter().any(|f| f.name == "Via");
    match check_request(&msg) {
        Ok(bytes) => Verdict::Pass(Cow::Owned(bytes)),
        Err(Refusal { problem, extra }) => {
            let why = format!("{} {}", problem.status, problem.detail);
            if answerable {
                Verdict::Answer {
                    response: answer::build(&msg, problem.status, &problem.detail, &extra),
                    why,
                }
            } else {
                let who = if method == "ACK" {
                    "an ACK is never answered"
                } else {
                    "no Via to answer to"
                };
                Verdict::Drop {
                    why: format!("{why} ({who})"),
                }
            }
        }
    }
}

/// A status to answer with, and header lines it needs (Allow, Unsupported, Accept...).
struct Refusal {
    problem: Problem,
    extra: Vec<String>,
}

impl From<Problem> for Refusal {
    fn from(problem: Problem) -> Refusal {
        Refusal {
            problem,
            extra: Vec::new(),
        }
    }
}

fn refuse(status: u16, detail: impl Into<String>, extra: Vec<String>) -> Refusal {
    Refusal {
        problem: Problem {
            status,
            detail: detail.into(),
        },
        extra,
    }
}

/// Checks a request in the order of RFC 3261 §8.2 and returns its canonical bytes.
fn check_request(msg: &Message<'_>) -> Result<Vec<u8>, Refusal> {
    let StartLine::Request {
        method,
        uri,
        version,
    } = parse::start_line(&msg.start)?
    else {
        return Err(Problem::bad("not a request line").into());
    };
    if !parse::looks_like_version(version) {
        return Err(Problem::bad(format!("bad SIP version {}", parse::clip(version))).into());
    }
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(refuse(
            505,
            format!("{} is not SIP/2.0", parse::clip(version)),
            vec![],
        ));
    }
    if !method.chars().all(parse::is_token_char) {
        return Err(Problem::bad("method is not a token").into());
    }
    if let Some(flaw) = &msg.flaw {
        return Err(flaw.clone().into());
    }
    if !msg.terminated {
        return Err(Problem::bad("no empty line after the header fields").into());
    }
    let body = framed_body(msg)?;
    required(msg, &["Via", "From", "To", "Call-ID", "CSeq"])?;
    for name in [
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Max-Forwards",
        "Content-Type",
    ] {
        if count(msg, name) > 1 {
            return Err(Problem::bad(format!("more than one {name} header")).into());
        }
    }
    let (seq, cseq_method) = cseq(&value(msg, "CSeq").unwrap_or_default())?;
    let max_forwards = match value(msg, "Max-Forwards") {
        Some(v) => Some(max_forwards(&v)?),
        None => None,
    };
    // Every structured header is read now, so a malformed one is a 400 whatever the method.
    let mut lines = Vec::with_capacity(msg.fields.len() + 2);
    let mut content_type = None;
    for f in &msg.fields {
        lines.extend(canonical_field(f)?);
        if f.name == "Content-Type" {
            content_type = Some(f.value.clone());
        }
    }
    request_uri_syntax(uri)?;

    let allow = || vec![format!("Allow: {ALLOW}")];
    if !ALLOW.split(", ").any(|m| m == method) {
        return Err(if KNOWN_METHODS.contains(&method) {
            refuse(405, format!("{method} is not handled here"), allow())
        } else {
            refuse(501, "unknown method", allow())
        });
    }
    if cseq_method != method {
        return Err(Problem::bad("CSeq method differs from the request method").into());
    }
    let scheme = parse::scheme(uri).unwrap_or_default().to_ascii_lowercase();
    if scheme != "sip" && scheme != "sips" {
        return Err(refuse(
            416,
            format!("{} URIs are not served here", parse::clip(&scheme)),
            vec![],
        ));
    }
    if method != "ACK" && method != "CANCEL" {
        let tags: Vec<String> = values(msg, "Require")
            .flat_map(|v| fields::split_list(v).into_iter().map(str::to_string))
            .filter(|t| !t.is_empty())
            .collect();
        if !tags.is_empty() {
            let list = tags.join(", ");
            return Err(refuse(
                420,
                "unsupported Require",
                vec![format!("Unsupported: {list}")],
            ));
        }
    }
    let (body, content_type) = if matches!(method, "INVITE" | "UPDATE") {
        body::session_body(body, content_type)?
    } else {
        (Cow::Borrowed(body), content_type)
    };
    if method == "INVITE" && !body::accepts_sdp(msg) {
        return Err(refuse(
            406,
            "Accept leaves out application/sdp",
            vec![
                "Accept: application/sdp".to_string(),
                "Warning: 399 sipterm \"answers are application/sdp only\"".to_string(),
            ],
        ));
    }

    if method == "INVITE" && count(msg, "Contact") == 0 {
        lines.push(("Contact".into(), stand_in_contact(msg)?));
    }

    let mut out = format!("{method} {uri} SIP/2.0\r\n");
    for (name, value) in lines {
        let value = match name.as_str() {
            "CSeq" => format!("{seq} {method}"),
            "Max-Forwards" => max_forwards.map(|m| m.to_string()).unwrap_or(value),
            "Content-Type" => content_type.clone().unwrap_or(value),
            "Content-Length" => continue,
            _ => value,
        };
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// The body as Content-Length frames it (RFC 3261 §18.3: extra bytes are discarded, too few
/// are an error); without Content-Length, all that follows the header section.
fn framed_body<'a>(msg: &Message<'a>) -> Result<&'a [u8], Refusal> {
    if count(msg, "Content-Length") > 1 {
        return Err(Problem::bad("more than one Content-Length").into());
    }
    let Some(v) = value(msg, "Content-Length") else {
        return Ok(msg.body);
    };
    if v.strip_prefix('-').is_some_and(parse::is_digits) {
        return Err(Problem::bad(format!("Content-Length {} is negative", parse::clip(&v))).into());
    }
    if !parse::is_digits(&v) {
        return Err(Problem::bad(format!(
            "Content-Length {} is not a number",
            parse::clip(&v)
        ))
        .into());
    }
    match v.parse::<usize>() {
        Ok(n) if n <= msg.body.len() => Ok(&msg.body[..n]),
        _ => Err(Problem::bad(format!(
            "Content-Length {} is more than the {} bytes received",
            parse::clip(&v),
            msg.body.len()
        ))
        .into()),
    }
}

fn required(msg: &Message<'_>, names: &[&str]) -> Result<(), Refusal> {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| count(msg, n) == 0)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Problem::bad(format!("missing {}", missing.join(", "))).into())
    }
}

/// `CSeq: number method`; the number must fit 32 bits (RFC 3261 §8.1.1.5, RFC 4475 §3.1.2.4).
fn cseq(v: &str) -> Result<(u32, String), Problem> {
    let mut parts = v.split([' ', '\t']).filter(|p| !p.is_empty());
    let (Some(number), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Problem::bad(format!("unreadable CSeq {}", parse::clip(v))));
    };
    if !parse::is_digits(number) || !method.chars().all(parse::is_token_char) {
        return Err(Problem::bad(format!("unreadable CSeq {}", parse::clip(v))));
    }
    let seq = number.parse::<u32>().map_err(|_| {
        Problem::bad(format!(
            "CSeq number {} is out of range",
            parse::clip(number)
        ))
    })?;
    Ok((seq, method.to_string()))
}

fn max_forwards(v: &str) -> Result<u8, Problem> {
    match v.parse::<u8>() {
        Ok(n) if parse::is_digits(v) => Ok(n),
        _ => Err(Problem::bad(format!(
            "Max-Forwards {} is not a number up to 255",
            parse::clip(v)
        ))),
    }
}

/// The Request-URI needs a scheme and no brackets (RFC 4475 §3.1.2.7); a SIP URI there
/// may not carry headers (RFC 3261 §19.1.1 table, RFC 4475 §3.1.2.11).
fn request_uri_syntax(uri: &str) -> Result<(), Problem> {
    if uri.starts_with('<') {
        return Err(Problem::bad("Request-URI is enclosed in <>"));
    }
    let scheme = parse::scheme(uri)
        .ok_or_else(|| Problem::bad(format!("Request-URI {} has no scheme", parse::clip(uri))))?;
    let sip = scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips");
    // `?` is allowed in the user part (§25.1 user-unreserved); after the host it starts headers.
    let host_part = uri[scheme.len() + 1..]
        .rsplit('@')
        .next()
        .unwrap_or_default();
    if sip && host_part.contains('?') {
        return Err(Problem::bad("Request-URI carries escaped headers"));
    }
    if sip && host_part.is_empty() {
        return Err(Problem::bad("Request-URI has no host"));
    }
    Ok(())
}

/// One header field as canonical lines: Via values one per line, addresses as name-addr,
/// everything else as received (unfolded). A From without a tag (an RFC 2543 peer, RFC 3261
/// §12.1.1) gets one made up, which rsipstack needs to key the transaction; it is taken off
/// again on the way out by [`repair_outgoing`].
fn canonical_field(f: &Field) -> Result<Vec<(String, String)>, Problem> {
    let one = |v: String| vec![(f.name.clone(), v)];
    Ok(match f.name.as_str() {
        "Via" => fields::split_list(&f.value)
            .into_iter()
            .map(|v| fields::via(v).map(|v| ("Via".to_string(), v.canonical())))
            .collect::<Result<_, _>>()?,
        "From" => {
            let mut from = fields::address(&f.value, "From")?;
            if from.tag().is_none() {
                from.params.push(fields::Param {
                    name: "tag".into(),
                    value: Some(outgoing::tag_for_2543(&from.uri)),
                });
            }
            one(from.canonical())
        }
        "To" => one(fields::address(&f.value, "To")?.canonical()),
        "Contact" if f.value == "*" => one(f.value.clone()),
        "Contact" | "Route" | "Record-Route" => one(fields::split_list(&f.value)
            .into_iter()
            .map(|v| fields::address(v, &f.name).map(|a: Address| a.canonical()))
            .collect::<Result<Vec<_>, _>>()?
            .join(", ")),
        _ => one(f.value.clone()),
    })
}

/// RFC 2543 let an INVITE go without Contact (its inv2543 example in RFC 4475 §3.4.1 does);
/// rsipstack needs one for the dialog's remote target. The top Via's sent-by is where that
/// peer takes responses, so it stands in.
fn stand_in_contact(msg: &Message<'_>) -> Result<String, Problem> {
    let top = value(msg, "Via").unwrap_or_default();
    let via = fields::via(
        fields::split_list(&top)
            .first()
            .copied()
            .unwrap_or_default(),
    )?;
    Ok(format!("<sip:{}>", via.sent_by))
}

fn count(msg: &Message<'_>, name: &str) -> usize {
    msg.fields.iter().filter(|f| f.name == name).count()
}

fn values<'m>(msg: &'m Message<'_>, name: &'m str) -> impl Iterator<Item = &'m str> + 'm {
    msg.fields
        .iter()
        .filter(move |f| f.name == name)
        .map(|f| f.value.as_str())
}

fn value(msg: &Message<'_>, name: &str) -> Option<String> {
    values(msg, name).next().map(str::to_string)
}

#[cfg(test)]
mod tests;
