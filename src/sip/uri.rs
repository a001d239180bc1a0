//! SIP URIs as the user types them (`--sip-uri`, `--registrar-uri`), parsed and checked once.
//!
//! This is deliberately small: `sip[s]:[user@]host[:port][;params]`. It exists so that a typo gets
//! a one-sentence error naming the bad part before any network traffic, and so that
//! configuration does not depend on rsipstack's types.

use std::fmt;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` (RFC 3261 §19.1: reach this resource over TLS only).
    pub secure: bool,
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// Raw `;name[=value]` parameters, in order, without the leading `;`.
    pub params: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UriError {
    #[error(
        "'{0}' is not a SIP URI: it must start with 'sip:' or 'sips:' (for example sip:alice@example.com)"
    )]
    Scheme(String),
    #[error("'{0}' has no host (for example sip:alice@example.com)")]
    NoHost(String),
    #[error("'{uri}' has an invalid host '{host}'")]
    BadHost { uri: String, host: String },
    #[error("'{uri}' has an invalid port '{port}' (expected 1-65535)")]
    BadPort { uri: String, port: String },
    #[error("'{uri}' has an invalid user part '{user}'")]
    BadUser { uri: String, user: String },
}

impl SipUri {
    pub fn parse(input: &str) -> Result<SipUri, UriError> {
        let text = input.trim();
        let lower = text.to_ascii_lowercase();
        let secure = lower.starts_with("sips:");
        if !secure && !lower.starts_with("sip:") {
            return Err(UriError::Scheme(input.to_string()));
        }
        let rest = &text[if secure { 5 } else { 4 }..];
        // URI headers (`?...`) have no meaning for a registration target.
        let rest = rest.split('?').next().unwrap_or_default();
        let mut parts = rest.split(';');
        let hostport_user = parts.next().unwrap_or_default();
        let params: Vec<String> = parts
            .filter(|p| !p.is_empty())
            .map(|p| p.to_string())
            .collect();

        let (user, hostport) = match hostport_user.rsplit_once('@') {
            Some((user, hp)) => {
                if user.is_empty() || user.chars().any(|c| c.is_whitespace() || c == ':') {
                    return Err(UriError::BadUser {
                        uri: input.to_string(),
                        user: user.to_string(),
                    });
                }
                (Some(user.to_string()), hp)
            }
            None => (None, hostport_user),
        };
        if hostport.is_empty() {
            return Err(UriError::NoHost(input.to_string()));
        }
        let (host, port) = split_host_port(hostport).ok_or_else(|| UriError::BadHost {
            uri: input.to_string(),
            host: hostport.to_string(),
        })?;
        if !valid_host(host) {
            return Err(UriError::BadHost {
                uri: input.to_string(),
                host: host.to_string(),
            });
        }
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(UriError::BadPort {
                        uri: input.to_string(),
                        port: p.to_string(),
                    })
                }
            },
        };
        Ok(SipUri {
            secure,
            user,
            host: host.to_string(),
            port,
            params,
        })
    }

    /// The registrar implied by an address of record: same scheme, host and port, no user.
    pub fn registrar(&self) -> SipUri {
        SipUri {
            secure: self.secure,
            user: None,
            host: self.host.clone(),
            port: self.port,
            params: Vec::new(),
        }
    }

    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(5060)
    }

    /// The value of the `;transport=` parameter, lower-cased, when there is one.
    pub fn transport_param(&self) -> Option<String> {
        self.params.iter().find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("transport")
                .then(|| value.trim().to_ascii_lowercase())
        })
    }

    /// `host:port` with IPv6 brackets, for socket address resolution.
    pub fn host_port(&self) -> String {
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{host}:{}", self.port_or_default())
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        for p in &self.params {
            write!(f, ";{p}")?;
        }
        Ok(())
    }
}

fn split_host_port(hp: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = hp.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let full = &hp[..v6.len() + 2];
        return match after {
            "" => Some((full, None)),
            a => a.strip_prefix(':').map(|p| (full, Some(p))),
        };
    }
    match hp.split_once(':') {
        Some((h, p)) => Some((h, Some(p))),
        None => Some((hp, None)),
    }
}

fn valid_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<IpAddr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_uri() {
        let u = SipUri::parse("sip:alice@127.0.0.1:5070;transport=tcp").unwrap();
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params, vec!["transport=tcp"]);
        assert_eq!(u.to_string(), "sip:alice@127.0.0.1:5070;transport=tcp");
    }

    #[test]
    fn registrar_defaults_from_aor() {
        let u = SipUri::parse("sip:bob@pbx.example.com").unwrap();
        assert_eq!(u.registrar().to_string(), "sip:pbx.example.com");
        assert_eq!(u.registrar().host_port(), "pbx.example.com:5060");
    }

    #[test]
    fn sips_is_kept_and_carried_to_the_registrar() {
        let u = SipUri::parse("SIPS:bob@pbx.example.com;transport=TLS").unwrap();
        assert!(u.secure);
        assert_eq!(u.user.as_deref(), Some("bob"));
        assert_eq!(u.transport_param().as_deref(), Some("tls"));
        assert_eq!(u.to_string(), "sips:bob@pbx.example.com;transport=TLS");
        assert_eq!(u.registrar().to_string(), "sips:pbx.example.com");
        let plain = SipUri::parse("sip:bob@pbx.example.com").unwrap();
        assert!(!plain.secure);
        assert_eq!(plain.transport_param(), None);
    }

    #[test]
    fn ipv6_host() {
        let u = SipUri::parse("sip:bob@[::1]:5062").unwrap();
        assert_eq!(u.host, "[::1]");
        assert_eq!(u.port, Some(5062));
        assert_eq!(u.host_port(), "[::1]:5062");
    }

    #[test]
    fn rejects_bad_input_with_the_reason() {
        assert!(matches!(
            SipUri::parse("alice@example.com"),
            Err(UriError::Scheme(_))
        ));
        assert!(matches!(
            SipUri::parse("http://x"),
            Err(UriError::Scheme(_))
        ));
        assert!(matches!(
            SipUri::parse("sip:alice@"),
            Err(UriError::NoHost(_))
        ));
        assert!(matches!(
            SipUri::parse("sip:a@b:0"),
            Err(UriError::BadPort { .. })
        ));
        assert!(matches!(
            SipUri::parse("sip:a@b:99999"),
            Err(UriError::BadPort { .. })
        ));
        assert!(matches!(
            SipUri::parse("sip:a@b:x"),
            Err(UriError::BadPort { .. })
        ));
        assert!(matches!(
            SipUri::parse("sip:a@exa mple"),
            Err(UriError::BadHost { .. })
        ));
        assert!(matches!(
            SipUri::parse("sip:a@[zz]"),
            Err(UriError::BadHost { .. })
        ));
        assert!(matches!(
            SipUri::parse("sip:@host"),
            Err(UriError::BadUser { .. })
        ));
    }
}
