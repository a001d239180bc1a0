//! A failed TLS handshake in plain words: which certificate problem (expired, for another
//! host, signed by an authority we do not trust, ...) and whether trying again can help.

use rustls::pki_types::UnixTime;
use rustls::CertificateError;

/// What a handshake failure means for the registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// The registrar's certificate is not acceptable: trying again gives the same answer.
    Untrusted(String),
    /// Anything else (a reset, a port that does not speak TLS): worth another try later.
    Failed(String),
}

/// Words for a handshake error with the registrar `host`; `private_ca` says whether
/// `--ca-file` was given (then "use --ca-file" is no advice).
pub fn handshake(error: &rustls::Error, host: &str, private_ca: bool) -> Handshake {
    match error {
        rustls::Error::InvalidCertificate(cert) => {
            Handshake::Untrusted(certificate(cert, host, private_ca))
        }
        rustls::Error::AlertReceived(alert) => Handshake::Failed(format!(
            "the registrar {host} ended the TLS handshake ({alert:?})"
        )),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            Handshake::Failed(format!(
                "the registrar {host} does not speak TLS on that port (its answer is not a TLS \
                 handshake)"
            ))
        }
        other => Handshake::Failed(format!("the TLS handshake with {host} failed: {other}")),
    }
}

/// One sentence for a certificate the registrar `host` showed and we refused.
pub fn certificate(error: &CertificateError, host: &str, private_ca: bool) -> String {
    let subject = "the registrar's certificate";
    match error {
        CertificateError::ExpiredContext { time, not_after } => format!(
            "{subject} expired on {} (it is now {})",
            utc_date(not_after),
            utc_date(time)
        ),
        CertificateError::Expired => format!("{subject} has expired"),
        CertificateError::NotValidYetContext { time, not_before } => format!(
            "{subject} is not valid before {} (it is now {}; is this machine's clock right?)",
            utc_date(not_before),
            utc_date(time)
        ),
        CertificateError::NotValidYet => {
            format!("{subject} is not valid yet (is this machine's clock right?)")
        }
        CertificateError::NotValidForNameContext { presented, .. } if !presented.is_empty() => {
            let names: Vec<String> = presented.iter().map(|n| presented_name(n)).collect();
            format!("{subject} is for {}, not {host}", names.join(", "))
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("{subject} does not name {host}")
        }
        CertificateError::UnknownIssuer if private_ca => format!(
            "{subject} is signed by an authority we do not trust (neither a public one nor the \
             one in --ca-file)"
        ),
        CertificateError::UnknownIssuer => format!(
            "{subject} is signed by an authority we do not trust (use --ca-file for a private CA)"
        ),
        CertificateError::BadSignature => format!("{subject} has a signature that does not verify"),
        CertificateError::Revoked => format!("{subject} has been revoked"),
        CertificateError::BadEncoding => format!("{subject} is malformed"),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!("{subject} is not meant for a TLS server")
        }
        other => format!("{subject} was refused: {other}"),
    }
}

/// `DnsName("sip.example.com")` → `sip.example.com`, `IpAddress(192.0.2.1)` → `192.0.2.1`:
/// webpki lists the names a certificate presents in their debug form.
fn presented_name(name: &str) -> String {
    let inner = name
        .strip_prefix("DnsName(")
        .or_else(|| name.strip_prefix("IpAddress("))
        .and_then(|n| n.strip_suffix(')'))
        .unwrap_or(name);
    inner.trim_matches('"').to_string()
}

/// `2026-12-03 22:15 UTC`, without a date-time dependency (days to civil date after
/// Howard Hinnant's well-known algorithm).
pub fn utc_date(time: &UnixTime) -> String {
    let secs = time.as_secs();
    let days = (secs / 86_400) as i64;
    let minutes = secs % 86_400 / 60;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minutes / 60,
        minutes % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use std::time::Duration;

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc_date(&at(0)), "1970-01-01 00:00 UTC");
        // 2000-02-29 12:34 UTC: a leap day in a century leap year.
        assert_eq!(utc_date(&at(951_827_640)), "2000-02-29 12:34 UTC");
        // 2026-12-03 22:15 UTC.
        assert_eq!(utc_date(&at(1_796_336_100)), "2026-12-03 22:15 UTC");
    }

    #[test]
    fn expired_says_when() {
        let e = CertificateError::ExpiredContext {
            time: at(1_796_336_100),
            not_after: at(951_827_640),
        };
        assert_eq!(
            certificate(&e, "127.0.0.1", true),
            "the registrar's certificate expired on 2000-02-29 12:34 UTC (it is now \
             2026-12-03 22:15 UTC)"
        );
    }

    #[test]
    fn wrong_host_names_what_the_certificate_is_for() {
        let e = CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("127.0.0.2").unwrap(),
            presented: vec![
                "DnsName(\"sip.example.com\")".into(),
                "IpAddress(192.0.2.7)".into(),
            ],
        };
        assert_eq!(
            certificate(&e, "127.0.0.2", false),
            "the registrar's certificate is for sip.example.com, 192.0.2.7, not 127.0.0.2"
        );
        assert_eq!(
            certificate(&CertificateError::NotValidForName, "pbx.example.com", false),
            "the registrar's certificate does not name pbx.example.com"
        );
    }

    #[test]
    fn unknown_issuer_advises_ca_file_only_when_none_was_given() {
        let without = certificate(&CertificateError::UnknownIssuer, "h", false);
        assert!(without.contains("authority we do not trust"), "{without}");
        assert!(without.contains("use --ca-file"), "{without}");
        let with = certificate(&CertificateError::UnknownIssuer, "h", true);
        assert!(with.contains("nor the one in --ca-file"), "{with}");
    }

    #[test]
    fn certificate_problems_are_final_and_others_are_not() {
        let untrusted = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(matches!(
            handshake(&untrusted, "h", false),
            Handshake::Untrusted(_)
        ));
        let plain = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        let Handshake::Failed(words) = handshake(&plain, "h", false) else {
            panic!("a port that does not speak TLS is worth another try");
        };
        assert!(words.contains("does not speak TLS"), "{words}");
    }
}
