//! Reading SDP text into a `SessionDescription`.
//!
//! Tolerant where real peers differ (`\n` or `\r\n`, trailing spaces, unknown lines and
//! attributes, blank lines, attributes we cannot read) and strict where the description would
//! be meaningless: `v=`, `o=` and `m=` must be well formed (an answer mirrors every `m=` line,
//! so a broken one cannot be skipped). What we skip is logged at debug level, for `-v`.

use std::net::IpAddr;

use super::{
    Connection, MediaDirection, MediaSection, Origin, RtpMap, SdpError, SessionDescription,
};

/// Error messages quote the offending line, cut to this many characters.
const QUOTE_MAX: usize = 80;

pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    let mut version_seen = false;
    let mut origin = None;
    let mut connection = None;
    let mut direction = None;
    let mut media: Vec<MediaSection> = Vec::new();

    for (index, raw) in text.split('\n').enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |reason| SdpError::BadLine {
            number: index + 1,
            line: quote(line),
            reason,
        };
        let (kind, value) = split_type(line).ok_or_else(|| bad("not a <type>=<value> line"))?;
        match kind {
            'v' if value.trim() == "0" => version_seen = true,
            'v' => return Err(bad("only SDP version 0 exists")),
            'o' => {
                let parsed = parse_origin(value).ok_or_else(|| bad("malformed origin"))?;
                origin.get_or_insert(parsed);
            }
            'c' => {
                let addr = parse_connection(value);
                if let Connection::Other(address) = &addr {
                    tracing::debug!(
                        number = index + 1,
                        line,
                        address = address.as_str(),
                        "SDP: c= is not an IP address; only a stream that needs it is refused"
                    );
                }
                match media.last_mut() {
                    Some(m) => m.connection = Some(addr),
                    None => connection = Some(addr),
                }
            }
            'm' => media.push(parse_media(value).map_err(bad)?),
            'a' => {
                let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                let name = name.trim();
                if let Some(d) = MediaDirection::from_attribute(name) {
                    match media.last_mut() {
                        Some(m) => m.direction = Some(d),
                        None => direction = Some(d),
                    }
                } else if let Some(m) = media.last_mut() {
                    if let Err(skipped) = parse_media_attribute(m, name, arg.trim()) {
                        tracing::debug!(
                            number = index + 1,
                            line,
                            skipped,
                            "SDP: attribute skipped"
                        );
                    }
                }
            }
            _ => {}
        }
    }

    if !version_seen {
        return Err(
            if origin.is_none() && media.is_empty() && connection.is_none() {
                SdpError::Empty
            } else {
                SdpError::MissingLine('v')
            },
        );
    }
    Ok(SessionDescription {
        origin: origin.ok_or(SdpError::MissingLine('o'))?,
        connection,
        direction,
        media,
    })
}

fn quote(line: &str) -> String {
    match line.char_indices().nth(QUOTE_MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// `x=value` with a single ASCII letter type (RFC 4566 §5).
fn split_type(line: &str) -> Option<(char, &str)> {
    let mut chars = line.chars();
    let kind = chars.next().filter(char::is_ascii_alphabetic)?;
    let value = chars.as_str().strip_prefix('=')?;
    Some((kind, value))
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
fn parse_origin(value: &str) -> Option<Origin> {
    let fields: Vec<&str> = value.split_whitespace().collect();
    let [username, session_id, session_version, _net, _addr_type, address] = fields[..] else {
        return None;
    };
    Some(Origin {
        username: username.to_string(),
        session_id: session_id.to_string(),
        session_version: session_version.to_string(),
        address: address.to_string(),
    })
}

/// `c=IN IP4 <addr>[/<ttl>[/<count>]]`. An IP literal is taken even under the wrong address
/// type (`IN IP6 192.0.2.1` cannot mean anything else); anything else is kept as text, and the
/// negotiation refuses it only if the stream it chooses depends on it.
fn parse_connection(value: &str) -> Connection {
    let fields: Vec<&str> = value.split_whitespace().collect();
    let &[net, _addr_type, addr] = fields.as_slice() else {
        return Connection::Other(value.trim().to_string());
    };
    let host = addr.split('/').next().unwrap_or(addr);
    match host.parse::<IpAddr>() {
        Ok(ip) if net.eq_ignore_ascii_case("IN") => Connection::Ip(ip),
        _ => Connection::Other(host.to_string()),
    }
}

/// `m=<media> <port>[/<count>] <proto> <fmt> ...`
fn parse_media(value: &str) -> Result<MediaSection, &'static str> {
    let mut fields = value.split_whitespace();
    let kind = fields.next().ok_or("media line has no media type")?;
    let port = fields.next().ok_or("media line has no port")?;
    let port = port
        .split('/')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or("port is not a number from 0 to 65535")?;
    let proto = fields.next().ok_or("media line has no transport")?;
    let formats: Vec<String> = fields.map(str::to_string).collect();
    if formats.is_empty() {
        return Err("media line lists no formats");
    }
    Ok(MediaSection {
        kind: kind.to_string(),
        port,
        proto: proto.to_string(),
        formats,
        connection: None,
        rtpmaps: Vec::new(),
        unreadable_rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        ptime_ms: None,
        direction: None,
        crypto: Vec::new(),
    })
}

/// Reads one media attribute into `m`; on failure says what was skipped (for the debug log).
/// Nothing here fails the description: a bad attribute spoils at most its own payload type.
fn parse_media_attribute(m: &mut MediaSection, name: &str, arg: &str) -> Result<(), &'static str> {
    match name.to_ascii_lowercase().as_str() {
        "rtpmap" => match parse_rtpmap(arg) {
            Some(map) => m.rtpmaps.push(map),
            None => {
                let pt = arg
                    .split_whitespace()
                    .next()
                    .and_then(|pt| pt.parse::<u8>().ok())
                    .filter(|pt| *pt <= 127);
                let Some(pt) = pt else {
                    return Err("unreadable rtpmap for no payload type");
                };
                // Not even by its static meaning: `a=rtpmap:8 G726-32` says PT 8 is not PCMA.
                m.unreadable_rtpmaps.push(pt);
                return Err("unreadable rtpmap: its payload type will not be used");
            }
        },
        "fmtp" => {
            let (format, params) = arg.split_once(char::is_whitespace).unwrap_or((arg, ""));
            m.fmtps
                .push((format.to_string(), params.trim().to_string()));
        }
        "ptime" => {
            // Some peers write decimals ("20.0"); the unit is milliseconds either way. We send
            // 20 ms frames whatever it says, so a senseless value is just dropped.
            let ms = arg
                .parse::<f64>()
                .ok()
                .filter(|ms| (1.0..=1000.0).contains(ms))
                .ok_or("ptime is not a duration from 1 to 1000 ms")?;
            m.ptime_ms = Some(ms.round() as u32);
        }
        "crypto" => m.crypto.push(arg.to_string()),
        _ => {}
    }
    Ok(())
}

/// `<pt> <encoding>/<clock rate>[/<channels>]`
fn parse_rtpmap(arg: &str) -> Option<RtpMap> {
    let (pt, spec) = arg.split_once(char::is_whitespace)?;
    let payload_type = pt.parse::<u8>().ok().filter(|pt| *pt <= 127)?;
    let mut parts = spec.trim().split('/');
    let encoding = parts.next().filter(|e| !e.is_empty())?;
    let clock_rate = parts.next()?.parse::<u32>().ok().filter(|r| *r > 0)?;
    let channels = match parts.next() {
        Some(c) => Some(c.parse::<u8>().ok().filter(|c| *c > 0)?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(RtpMap {
        payload_type,
        encoding: encoding.to_string(),
        clock_rate,
        channels,
    })
}
