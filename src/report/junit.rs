//! The JUnit XML file CI systems read: one `<testcase>` per call, named `call 003 (#7)`; a
//! failed call carries `<failure>`, an undecided one `<error>` (the test could not tell, which
//! is not the same as the agent failing it). Text from the wire, the model or the agent is
//! escaped, and characters XML 1.0 forbids are replaced, so hostile text cannot break the file.

use std::fmt::Write;

use super::CallRecord;
use crate::scenario::expect::outcome_word;
use crate::vocab::Outcome;

pub fn junit_xml(suite_name: &str, records: &[CallRecord], total_ms: u64) -> String {
    let failures = records
        .iter()
        .filter(|r| !r.passed && r.outcome != Outcome::Undecided)
        .count();
    let errors = records
        .iter()
        .filter(|r| !r.passed && r.outcome == Outcome::Undecided)
        .count();
    let name = attr(suite_name);
    let width = records.len().to_string().len().max(3);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let head = format!(
        "name=\"{name}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{}\"",
        records.len(),
        seconds(total_ms)
    );
    // `write!` into a String cannot fail.
    let _ = writeln!(xml, "<testsuites {head}>");
    let _ = writeln!(xml, "  <testsuite {head} skipped=\"0\">");
    for r in records {
        let case = format!("call {:0width$} (#{})", r.index, r.call_id);
        let _ = write!(
            xml,
            "    <testcase classname=\"{name}\" name=\"{}\" time=\"{}\"",
            attr(&case),
            seconds(r.duration_ms)
        );
        if r.passed {
            xml.push_str(">\n");
        } else {
            let tag = if r.outcome == Outcome::Undecided {
                "error"
            } else {
                "failure"
            };
            let message = r
                .failures
                .first()
                .cloned()
                .unwrap_or_else(|| format!("the call {}", outcome_word(r.outcome)));
            let _ = writeln!(
                xml,
                ">\n      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>",
                attr(&message),
                outcome_word(r.outcome),
                text(&r.failures.join("\n"))
            );
        }
        let _ = writeln!(xml, "      <system-out>{}</system-out>", text(&details(r)));
        xml.push_str("    </testcase>\n");
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// The figures a reader of the CI page wants next to the verdict.
fn details(r: &CallRecord) -> String {
    let mut lines = vec![format!("duration {} ms", r.duration_ms)];
    if let Some(v) = &r.verdict {
        lines.push(format!("verdict {}: {}", outcome_word(v.outcome), v.reason));
    }
    if let Some(t) = &r.turn_taking {
        let ms = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{v} ms"));
        lines.push(format!(
            "greeting {}, gap p50 {} p90 {} max {}, barge-ins {}, stop p50 {}",
            ms(t.greeting_ms),
            ms(t.gap_p50_ms),
            ms(t.gap_p90_ms),
            ms(t.gap_max_ms),
            t.barge_ins,
            ms(t.stop_p50_ms)
        ));
    }
    if let Some(path) = &r.recording {
        lines.push(format!("recording {path}"));
    }
    if let Some(path) = &r.transcript {
        lines.push(format!("transcript {path}"));
    }
    lines.join("\n")
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Escaped for an attribute: also tabs and line breaks, which attribute normalisation would
/// otherwise turn into spaces.
fn attr(s: &str) -> String {
    escape(s, true)
}

fn text(s: &str) -> String {
    escape(s, false)
}

fn escape(s: &str, in_attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' if in_attribute => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            '\t' | '\n' => out.push(c),
            // A bare CR in text would be read back as a line feed.
            '\r' => out.push_str("&#13;"),
            // XML 1.0 §2.2: no other C0 controls, and not U+FFFE/U+FFFF, even as references.
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{TurnTaking, Verdict};

    fn record(index: usize, outcome: Outcome, failures: &[&str]) -> CallRecord {
        CallRecord {
            index,
            call_id: index as u64 * 2 + 1,
            passed: outcome == Outcome::Passed,
            outcome,
            failures: failures.iter().map(|s| s.to_string()).collect(),
            verdict: None,
            duration_ms: 3210,
            end_reason: None,
            turn_taking: Some(TurnTaking {
                greeting_ms: Some(820),
                gap_p90_ms: Some(760),
                ..TurnTaking::default()
            }),
            recording: Some("call-001.wav".into()),
            transcript: None,
        }
    }

    #[test]
    fn counts_cases_failures_and_errors() {
        let mut records: Vec<CallRecord> =
            (1..=20).map(|i| record(i, Outcome::Passed, &[])).collect();
        records[6] = record(
            7,
            Outcome::Failed,
            &["turn gap p90 1340 ms is not below 1200 ms"],
        );
        records[9] = record(
            10,
            Outcome::Undecided,
            &["verdict undecided (max turns) is not passed"],
        );
        let xml = junit_xml("booking", &records, 65_432);
        let doc = roxmltree::Document::parse(&xml).expect("the report is well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(root.attribute("tests"), Some("20"));
        assert_eq!(root.attribute("failures"), Some("1"));
        assert_eq!(root.attribute("errors"), Some("1"));
        assert_eq!(root.attribute("time"), Some("65.432"));
        let cases: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), 20);
        assert_eq!(cases[6].attribute("name"), Some("call 007 (#15)"));
        assert_eq!(cases[6].attribute("time"), Some("3.210"));
        let failure = cases[6]
            .children()
            .find(|n| n.has_tag_name("failure"))
            .expect("call 7 failed");
        assert_eq!(
            failure.attribute("message"),
            Some("turn gap p90 1340 ms is not below 1200 ms")
        );
        assert!(cases[9].children().any(|n| n.has_tag_name("error")));
        assert!(!cases[0].children().any(|n| n.has_tag_name("failure")));
        let out = cases[0]
            .children()
            .find(|n| n.has_tag_name("system-out"))
            .and_then(|n| n.text());
        assert_eq!(
            out,
            Some("duration 3210 ms\ngreeting 820 ms, gap p50 - p90 760 ms max -, barge-ins 0, stop p50 -\nrecording call-001.wav")
        );
    }

    #[test]
    fn hostile_text_is_escaped_and_forbidden_characters_replaced() {
        let hostile = "agent said \"<b>&'\u{1b}[31m\u{0}\r\nbye\u{FFFF}]]>";
        let mut r = record(1, Outcome::Failed, &[hostile, "second <line>"]);
        r.verdict = Some(Verdict {
            outcome: Outcome::Failed,
            reason: hostile.into(),
        });
        let xml = junit_xml("suite \"<&>\"\u{7}", &[r], 1);
        assert!(!xml.contains('\u{1b}') && !xml.contains('\u{0}') && !xml.contains('\u{7}'));
        let doc = roxmltree::Document::parse(&xml).expect("hostile text still parses");
        assert_eq!(
            doc.root_element().attribute("name"),
            Some("suite \"<&>\"\u{FFFD}")
        );
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .expect("a failure element");
        // Attribute keeps CR LF (escaped as references); controls became U+FFFD.
        assert_eq!(
            failure.attribute("message"),
            Some("agent said \"<b>&'\u{FFFD}[31m\u{FFFD}\r\nbye\u{FFFD}]]>")
        );
        assert_eq!(
            failure.text(),
            Some("agent said \"<b>&'\u{FFFD}[31m\u{FFFD}\r\nbye\u{FFFD}]]>\nsecond <line>")
        );
    }

    #[test]
    fn an_empty_run_is_still_a_valid_file() {
        let xml = junit_xml("empty", &[], 0);
        let doc = roxmltree::Document::parse(&xml).expect("valid XML");
        assert_eq!(doc.root_element().attribute("tests"), Some("0"));
    }
}
