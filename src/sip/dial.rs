//! What the user typed to dial, made into the SIP URI we call: a full `sip:`/`sips:` URI as
//! it is, or a number or user name completed with the account's domain. Shared by the dial
//! prompt (which shows the reason in the footer and sends nothing), `--call` (exit 2) and the
//! engine (transfer targets from a REFER).

use super::uri::SipUri;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DialError {
    #[error("nothing to dial")]
    Empty,
    #[error("{0}")]
    Uri(#[from] super::uri::UriError),
    #[error(
        "'{0}' is neither a SIP URI nor a number or user name (allowed: letters, digits and \
         - _ . ! ~ * ' ( ) + # %)"
    )]
    NotDialable(String),
    #[error("'{0}' is a number or user, but there is no account domain to call it at; dial a full sip: URI")]
    NoDomain(String),
}

/// The URI to call for `input`. `domain` is the account's `host[:port]` (None without an
/// account). Visual separators in numbers (spaces, dashes, dots, parentheses) are dropped the
/// way phones drop them: `+1 (555) 010-0199` dials `sip:+15550100199@domain`.
pub fn resolve(input: &str, domain: Option<&str>) -> Result<String, DialError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(DialError::Empty);
    }
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        SipUri::parse(text)?;
        return Ok(text.to_string());
    }
    if lower.starts_with("tel:") {
        return resolve(&text[4..], domain);
    }
    // user@host without a scheme: the user meant a SIP URI.
    if text.contains('@') {
        let uri = format!("sip:{text}");
        SipUri::parse(&uri).map_err(|_| DialError::NotDialable(text.to_string()))?;
        return Ok(uri);
    }
    let user = if looks_like_number(text) {
        text.chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect::<String>()
    } else {
        text.to_string()
    };
    if user.is_empty() || !user.chars().all(is_user_char) {
        return Err(DialError::NotDialable(text.to_string()));
    }
    let domain = domain.ok_or_else(|| DialError::NoDomain(text.to_string()))?;
    Ok(format!("sip:{user}@{domain}"))
}

/// Digits with the separators people write numbers with, and an optional leading `+`.
fn looks_like_number(text: &str) -> bool {
    let body = text.strip_prefix('+').unwrap_or(text);
    body.chars().any(|c| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')' | '*' | '#'))
}

/// RFC 3261 §25.1 `user` characters: unreserved, escaped, and the user-unreserved set
/// (`#` is not among them, but phones dial it and proxies take it).
fn is_user_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '-' | '_'
                | '.'
                | '!'
                | '~'
                | '*'
                | '\''
                | '('
                | ')'
                | '%'
                | '&'
                | '='
                | '+'
                | '$'
                | ','
                | ';'
                | '?'
                | '/'
                | '#'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_is_dialled_as_it_is() {
        assert_eq!(
            resolve(" sip:agent@sip.example.com ", Some("pbx.example.com")),
            Ok("sip:agent@sip.example.com".into())
        );
        assert_eq!(
            resolve("sips:bob@example.com:5061", None),
            Ok("sips:bob@example.com:5061".into())
        );
    }

    #[test]
    fn numbers_and_users_take_the_accounts_domain() {
        let d = Some("example.com:5070");
        assert_eq!(resolve("1001", d), Ok("sip:1001@example.com:5070".into()));
        assert_eq!(
            resolve("+1 (555) 010-0199", d),
            Ok("sip:+15550100199@example.com:5070".into())
        );
        assert_eq!(resolve("alice", d), Ok("sip:alice@example.com:5070".into()));
        assert_eq!(resolve("*97", d), Ok("sip:*97@example.com:5070".into()));
        assert_eq!(
            resolve("tel:+4930123", d),
            Ok("sip:+4930123@example.com:5070".into())
        );
        assert_eq!(resolve("bob@host", d), Ok("sip:bob@host".into()));
    }

    #[test]
    fn what_cannot_be_dialled_says_why() {
        assert_eq!(resolve("  ", Some("d")), Err(DialError::Empty));
        assert!(matches!(
            resolve("hello world", Some("d")),
            Err(DialError::NotDialable(_))
        ));
        assert!(matches!(resolve("sip:", Some("d")), Err(DialError::Uri(_))));
        assert!(matches!(resolve("1001", None), Err(DialError::NoDomain(_))));
        assert!(matches!(
            resolve("a@b@", None),
            Err(DialError::NotDialable(_))
        ));
        // Every error is one line.
        for bad in ["", "hello world", "sip:", "x y@z", "<>"] {
            if let Err(e) = resolve(bad, Some("d")) {
                assert!(!e.to_string().contains('\n'), "{e}");
            }
        }
    }
}
