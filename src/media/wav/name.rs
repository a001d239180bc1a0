//! File names for call recordings: UTC start time and the remote party, safe on any filesystem.
//!
//! The civil date is computed here rather than pulling in a time crate for one format string.

use std::time::{SystemTime, UNIX_EPOCH};

/// Long SIP URIs (tags, long hosts) would make unwieldy names; the time prefix already
/// makes the name unique.
const MAX_PARTY_CHARS: usize = 64;

/// `20261125-083015-alice_at_example.com.wav` for a call with `sip:alice@example.com` that
/// started at 08:30:15 UTC on 25 November 2026. Accepts a bare URI or a whole From/To value.
pub fn recording_name(remote: &str, started: SystemTime) -> String {
    let seconds = match started.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs() as i64,
        // A clock before 1970 is broken, but still names a file rather than panicking.
        Err(before) => {
            let d = before.duration();
            -(d.as_secs() as i64) - i64::from(d.subsec_nanos() > 0)
        }
    };
    let (year, month, day) = days_to_civil(seconds.div_euclid(86_400));
    let time_of_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}-{}.wav",
        time_of_day / 3600,
        time_of_day / 60 % 60,
        time_of_day % 60,
        party_for_filename(remote)
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) in the proleptic Gregorian calendar.
///
/// Howard Hinnant's `civil_from_days`: shift the year to start on 1 March so the leap day
/// falls at the end, then split into 400-year eras (146 097 days each, an exact cycle).
pub fn days_to_civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `"Alice" <sip:alice@example.com>;tag=1` becomes `alice_at_example.com`.
fn party_for_filename(remote: &str) -> String {
    let mut uri = remote.trim();
    if let (Some(open), Some(close)) = (uri.find('<'), uri.rfind('>')) {
        if open < close {
            uri = &uri[open + 1..close];
        }
    }
    for scheme in ["sips:", "sip:", "tel:"] {
        // `get` rather than indexing: the prefix may end inside a multi-byte character.
        if let Some(rest) = uri
            .get(..scheme.len())
            .filter(|prefix| prefix.eq_ignore_ascii_case(scheme))
            .and_then(|_| uri.get(scheme.len()..))
        {
            uri = rest;
            break;
        }
    }
    // URI parameters and headers are not part of who the party is.
    let uri = uri.split([';', '?']).next().unwrap_or_default();

    let mut name = String::with_capacity(uri.len() + 3);
    for c in uri.chars() {
        match c {
            '@' => name.push_str("_at_"),
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+') => name.push(c),
            // Path separators, spaces, colons, quotes, non-ASCII: one underscore for the run.
            _ if !name.ends_with('_') => name.push('_'),
            _ => {}
        }
    }
    // No hidden files (leading dot) and nothing a shell could take for an option.
    let name = name.trim_matches(|c| matches!(c, '.' | '_' | '-'));
    // Only ASCII is left, so cutting at a byte index is cutting at a character.
    let name = &name[..name.len().min(MAX_PARTY_CHARS)];
    if name.is_empty() {
        "unknown".to_string()
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn names_a_call_by_its_utc_start_and_remote_party() {
        assert_eq!(
            recording_name("sip:alice@example.com", at(1_795_595_415)),
            "20261125-083015-alice_at_example.com.wav"
        );
    }

    #[test]
    fn days_to_civil_matches_known_dates() {
        assert_eq!(days_to_civil(0), (1970, 1, 1));
        assert_eq!(days_to_civil(-1), (1969, 12, 31));
        assert_eq!(days_to_civil(11_016), (2000, 2, 29)); // 400-year rule: 2000 is leap
        assert_eq!(days_to_civil(11_017), (2000, 3, 1));
        assert_eq!(days_to_civil(-25_508), (1900, 3, 1)); // 1900 is not leap
        assert_eq!(days_to_civil(47_540), (2100, 2, 28));
        assert_eq!(days_to_civil(47_541), (2100, 3, 1));
        assert_eq!(days_to_civil(157_419), (2400, 12, 31));
        assert_eq!(days_to_civil(-135_140), (1600, 1, 1));
    }

    #[test]
    fn days_to_civil_counts_every_day_of_four_centuries_in_order() {
        let mut previous = days_to_civil(-1);
        for days in 0..146_097 {
            let (y, m, d) = days_to_civil(days);
            let (py, pm, pd) = previous;
            let next_day = (y, m, d) == (py, pm, pd + 1);
            let next_month = (y, m, d) == (py, pm + 1, 1) && pd >= 28;
            let next_year = (y, m, d) == (py + 1, 1, 1) && (pm, pd) == (12, 31);
            assert!(
                next_day || next_month || next_year,
                "{previous:?} -> {y}-{m}-{d}"
            );
            previous = (y, m, d);
        }
        assert_eq!(previous, (2369, 12, 31));
    }

    #[test]
    fn party_names_are_filesystem_safe() {
        let cases = [
            (
                "\"Alice\" <sip:alice@example.com>;tag=9f2",
                "alice_at_example.com",
            ),
            (
                "SIPS:bob@pbx.example.com:5061;transport=tls",
                "bob_at_pbx.example.com_5061",
            ),
            ("tel:+15551234567", "+15551234567"),
            ("sip:../../etc/passwd@evil", "etc_passwd_at_evil"),
            ("sip:Ünïcode@例え.jp", "n_code_at_.jp"),
            ("Ü", "unknown"),
            ("", "unknown"),
            ("<>", "unknown"),
        ];
        for (remote, expected) in cases {
            assert_eq!(party_for_filename(remote), expected, "{remote:?}");
        }
        let long = format!("sip:{}@example.com", "x".repeat(200));
        assert_eq!(party_for_filename(&long).len(), MAX_PARTY_CHARS);
    }

    #[test]
    fn a_clock_before_1970_still_gives_a_name() {
        let name = recording_name("sip:a@b", UNIX_EPOCH - Duration::from_millis(1500));
        assert_eq!(name, "19691231-235958-a_at_b.wav");
    }
}
