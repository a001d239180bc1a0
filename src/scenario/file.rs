//! Reading a scenario file: TOML parsed into spanned values (toml's `DeTable`), then walked by
//! hand so that every refusal can name the file and the line of the key or value at fault, and
//! say in one sentence what was expected. The only I/O besides reading the file is checking
//! that the WAVs it names exist.

use std::ops::Range;
use std::path::{Path, PathBuf};

use regex::Regex;
use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

use super::error::{Problem, ScenarioError};
use super::{Action, CallSpec, Expect, Scenario, Step, SuiteSpec};
use crate::vocab::Outcome;

type Key<'i> = Spanned<DeString<'i>>;
type Val<'i> = Spanned<DeValue<'i>>;

const TOP_KEYS: &[&str] = &["name", "call", "suite", "step", "expect"];
const CALL_KEYS: &[&str] = &[
    "target",
    "from",
    "headers",
    "bridge",
    "persona",
    "goal",
    "max_turns",
    "max_duration_s",
];
const SUITE_KEYS: &[&str] = &["repeat", "concurrency"];
pub(super) const STEP_KEYS: &[&str] = &[
    "play",
    "wait_for_voice",
    "wait_for_silence",
    "dtmf",
    "barge_in_after_ms",
    "pause_ms",
    "hang_up",
];
const EXPECT_KEYS: &[&str] = &[
    "greeting_within_ms",
    "turn_gap_p90_below_ms",
    "transfer_to",
    "transcript",
    "verdict",
];
const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// The longest wait, pause or call a scenario may ask for: anything longer is a typo.
const HOUR_MS: u64 = 3_600_000;

/// Read and check a scenario file; WAVs it names are resolved against its folder.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let src = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        file: path.display().to_string(),
        source,
    })?;
    parse(&src, path)
}

/// Check a scenario's text as if read from `path` (which need not exist; its folder is where
/// WAVs are looked for).
pub fn parse(src: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let reader = Reader {
        src,
        file: path.display().to_string(),
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    reader.scenario(path)
}

struct Reader<'s> {
    src: &'s str,
    file: String,
    dir: PathBuf,
}

/// An expectation as written, kept with its key's span until the whole file is read (the
/// bridge it may need can come later in the file).
#[derive(Default)]
struct ExpectDraft {
    expect: Expect,
    seen: Vec<(&'static str, String)>,
    needs_bridge: Vec<(String, Range<usize>)>,
}

impl Reader<'_> {
    fn line_of(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.src.len());
        self.src.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn err(&self, span: Range<usize>, problem: Problem) -> ScenarioError {
        self.err_line(self.line_of(&span), problem)
    }

    fn err_line(&self, line: usize, problem: Problem) -> ScenarioError {
        ScenarioError::At {
            file: self.file.clone(),
            line,
            problem: Box::new(problem),
        }
    }

    fn scenario(&self, path: &Path) -> Result<Scenario, ScenarioError> {
        let root = DeTable::parse(self.src).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            self.err(span, Problem::Syntax(e.message().trim().to_string()))
        })?;
        let mut name = None;
        let mut call = CallSpec::default();
        let mut call_spans = CallSpans::default();
        let mut suite = SuiteSpec::default();
        let mut steps: Vec<Step> = Vec::new();
        let mut draft = ExpectDraft::default();
        for (key, val) in sorted(root.get_ref()) {
            match key.get_ref().as_ref() {
                "name" => name = Some(self.text(key, val)?),
                "call" => (call, call_spans) = self.call(key, val)?,
                "suite" => suite = self.suite(key, val)?,
                "step" => steps = self.steps(key, val)?,
                "expect" => {
                    for (k, v) in sorted(self.table(key, val)?) {
                        let name = k.get_ref().as_ref();
                        let bare = name.strip_prefix("expect_").unwrap_or(name);
                        if !EXPECT_KEYS.contains(&bare) {
                            return Err(self.unknown(k, "[expect]", EXPECT_KEYS));
                        }
                        self.expectation(&mut draft, k, v, &format!("[expect] {name}"))?;
                    }
                }
                other => match other.strip_prefix("expect_") {
                    Some(bare) if EXPECT_KEYS.contains(&bare) => {
                        self.expectation(&mut draft, key, val, other)?
                    }
                    _ => {
                        let mut expected: Vec<&str> = TOP_KEYS.to_vec();
                        let aliases: Vec<String> =
                            EXPECT_KEYS.iter().map(|k| format!("expect_{k}")).collect();
                        expected.extend(aliases.iter().map(String::as_str));
                        return Err(self.unknown(key, "", &expected));
                    }
                },
            }
        }
        self.cross_check(&call, &call_spans, &steps, &draft)?;
        let name = name.unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".to_string())
        });
        Ok(Scenario {
            name,
            path: path.to_path_buf(),
            call,
            suite,
            steps,
            expect: draft.expect,
        })
    }

    /// Rules that involve more than one table.
    fn cross_check(
        &self,
        call: &CallSpec,
        spans: &CallSpans,
        steps: &[Step],
        draft: &ExpectDraft,
    ) -> Result<(), ScenarioError> {
        if !call.bridge {
            for (key, span) in [("persona", &spans.persona), ("goal", &spans.goal)] {
                if let Some(span) = span {
                    return Err(self.err(
                        span.clone(),
                        Problem::NeedsBridge {
                            key: key.to_string(),
                            why: "only the AI caller has a persona and a goal".to_string(),
                        },
                    ));
                }
            }
            if let Some((key, span)) = draft.needs_bridge.first() {
                return Err(self.err(
                    span.clone(),
                    Problem::NeedsBridge {
                        key: key.clone(),
                        why: "without the bridge nothing transcribes the agent or gives a verdict"
                            .to_string(),
                    },
                ));
            }
            if steps.is_empty() {
                return Err(self.err(0..0, Problem::NothingToDo));
            }
        } else {
            let missing: Vec<&str> = [("persona", &call.persona), ("goal", &call.goal)]
                .into_iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| k)
                .collect();
            if !missing.is_empty() {
                return Err(self.err(
                    spans.bridge.clone().unwrap_or(0..0),
                    Problem::BridgeWithoutPersonaOrGoal {
                        missing: missing.join(" and "),
                    },
                ));
            }
            if let Some(step) = steps
                .iter()
                .find(|s| matches!(s.action, Action::Play(_) | Action::BargeIn { .. }))
            {
                return Err(self.err_line(
                    step.line,
                    Problem::NotWithBridge {
                        key: step.action.name().to_string(),
                    },
                ));
            }
        }
        Ok(())
    }

    fn call(&self, key: &Key, val: &Val) -> Result<(CallSpec, CallSpans), ScenarioError> {
        let mut call = CallSpec::default();
        let mut spans = CallSpans::default();
        for (k, v) in sorted(self.table(key, val)?) {
            match k.get_ref().as_ref() {
                "target" => call.target = Some(self.text(k, v)?),
                "from" => call.from = Some(self.text(k, v)?),
                "headers" => call.headers = self.headers(k, v)?,
                "bridge" => {
                    call.bridge = self.boolean(k, v)?;
                    spans.bridge = Some(k.span());
                }
                "persona" => {
                    call.persona = Some(self.text(k, v)?);
                    spans.persona = Some(k.span());
                }
                "goal" => {
                    call.goal = Some(self.text(k, v)?);
                    spans.goal = Some(k.span());
                }
                "max_turns" => call.max_turns = Some(self.int(k, v, 1, 1000, "")? as u32),
                "max_duration_s" => {
                    call.max_duration_ms = Some(self.seconds(k, v, 24 * HOUR_MS)?)
                }
                _ => return Err(self.unknown(k, "[call]", CALL_KEYS)),
            }
        }
        Ok((call, spans))
    }

    fn headers(&self, key: &Key, val: &Val) -> Result<Vec<(String, String)>, ScenarioError> {
        let mut headers = Vec::new();
        for (k, v) in sorted(self.table(key, val)?) {
            let name = k.get_ref().to_string();
            // RFC 3261 token characters; anything else would break the INVITE.
            let token = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c));
            if !token {
                return Err(self.err(
                    k.span(),
                    Problem::WrongType {
                        key: name,
                        expected: "a SIP header name (letters, digits and -.!%*_+`'~)".into(),
                    },
                ));
            }
            let value = self.text(k, v)?;
            if value.chars().any(|c| c.is_control()) {
                return Err(self.err(
                    v.span(),
                    Problem::WrongType {
                        key: name,
                        expected: "one line of text (no control characters)".into(),
                    },
                ));
            }
            headers.push((name, value));
        }
        Ok(headers)
    }

    fn suite(&self, key: &Key, val: &Val) -> Result<SuiteSpec, ScenarioError> {
        let mut suite = SuiteSpec::default();
        for (k, v) in sorted(self.table(key, val)?) {
            match k.get_ref().as_ref() {
                "repeat" => suite.repeat = self.int(k, v, 1, 100_000, "")? as u32,
                "concurrency" => suite.concurrency = self.int(k, v, 1, 1000, "")? as u32,
                _ => return Err(self.unknown(k, "[suite]", SUITE_KEYS)),
            }
        }
        Ok(suite)
    }

    fn steps(&self, key: &Key, val: &Val) -> Result<Vec<Step>, ScenarioError> {
        let DeValue::Array(items) = val.get_ref() else {
            return Err(self.wrong(key, val, "a list of [[step]] tables"));
        };
        let mut steps: Vec<Step> = Vec::new();
        for item in items.iter() {
            let DeValue::Table(table) = item.get_ref() else {
                return Err(self.wrong(key, item, "a list of [[step]] tables"));
            };
            let step = self.step(item.span(), table)?;
            if let Some(last) = steps.last() {
                if last.action == Action::HangUp {
                    return Err(self.err_line(
                        step.line,
                        Problem::AfterHangUp {
                            hang_up_line: last.line,
                        },
                    ));
                }
            }
            steps.push(step);
        }
        Ok(steps)
    }

    fn step(&self, span: Range<usize>, table: &DeTable) -> Result<Step, ScenarioError> {
        let entries = sorted(table);
        if let Some((k, _)) = entries
            .iter()
            .find(|(k, _)| !STEP_KEYS.contains(&k.get_ref().as_ref()))
        {
            return Err(self.err(
                k.span(),
                Problem::UnknownStep {
                    key: k.get_ref().to_string(),
                },
            ));
        }
        let Some((first_key, first_val)) = entries.first().copied() else {
            return Err(self.err(span, Problem::EmptyStep));
        };
        let line = self.line_of(&first_key.span());
        let find = |name: &str| entries.iter().find(|(k, _)| k.get_ref() == name).copied();
        // barge_in_after_ms is the one action that takes a companion key (what to play).
        if let Some((bk, bv)) = find("barge_in_after_ms") {
            let play = find("play");
            let others: Vec<_> = entries
                .iter()
                .filter(|(k, _)| !["barge_in_after_ms", "play"].contains(&k.get_ref().as_ref()))
                .collect();
            if let Some((k, _)) = others.first() {
                return Err(self.two(first_key, k));
            }
            let after_ms = self.int(bk, bv, 0, HOUR_MS, " ms")?;
            let play = match play {
                Some((pk, pv)) => Some(self.wav(pk, pv)?),
                None => None,
            };
            return Ok(Step {
                line,
                action: Action::BargeIn { after_ms, play },
            });
        }
        if let Some((second, _)) = entries.get(1) {
            return Err(self.two(first_key, second));
        }
        let (k, v) = (first_key, first_val);
        let action = match k.get_ref().as_ref() {
            "play" => Action::Play(self.wav(k, v)?),
            "wait_for_voice" => {
                let mut timeout_ms = DEFAULT_TIMEOUT_MS;
                for (ik, iv) in sorted(self.table(k, v)?) {
                    match ik.get_ref().as_ref() {
                        "timeout_s" => timeout_ms = self.seconds(ik, iv, HOUR_MS)?,
                        _ => return Err(self.unknown(ik, "wait_for_voice", &["timeout_s"])),
                    }
                }
                Action::WaitForVoice { timeout_ms }
            }
            "wait_for_silence" => {
                let mut timeout_ms = DEFAULT_TIMEOUT_MS;
                let mut ms = None;
                for (ik, iv) in sorted(self.table(k, v)?) {
                    match ik.get_ref().as_ref() {
                        "ms" => ms = Some(self.int(ik, iv, 1, HOUR_MS, " ms")?),
                        "timeout_s" => timeout_ms = self.seconds(ik, iv, HOUR_MS)?,
                        _ => {
                            return Err(self.unknown(ik, "wait_for_silence", &["ms", "timeout_s"]))
                        }
                    }
                }
                let Some(ms) = ms else {
                    return Err(self.wrong(k, v, "a table with ms, like { ms = 800 }"));
                };
                Action::WaitForSilence { ms, timeout_ms }
            }
            "dtmf" => Action::Dtmf(self.dtmf(k, v)?),
            "pause_ms" => Action::Pause {
                ms: self.int(k, v, 0, HOUR_MS, " ms")?,
            },
            "hang_up" => match v.get_ref() {
                DeValue::Boolean(true) => Action::HangUp,
                _ => return Err(self.wrong(k, v, "true (hang_up = true)")),
            },
            // Every key was checked against STEP_KEYS above.
            other => {
                return Err(self.err(
                    k.span(),
                    Problem::UnknownStep {
                        key: other.to_string(),
                    },
                ))
            }
        };
        Ok(Step { line, action })
    }

    fn expectation(
        &self,
        draft: &mut ExpectDraft,
        key: &Key,
        val: &Val,
        written: &str,
    ) -> Result<(), ScenarioError> {
        let name = key.get_ref().as_ref();
        let bare = name.strip_prefix("expect_").unwrap_or(name);
        let Some(canonical) = EXPECT_KEYS.iter().copied().find(|k| *k == bare) else {
            return Err(self.unknown(key, "[expect]", EXPECT_KEYS));
        };
        if let Some((_, first)) = draft.seen.iter().find(|(k, _)| *k == canonical) {
            return Err(self.err(
                key.span(),
                Problem::Duplicate {
                    key: name.to_string(),
                    first: first.clone(),
                },
            ));
        }
        draft.seen.push((canonical, written.to_string()));
        let expect = &mut draft.expect;
        match canonical {
            "greeting_within_ms" => {
                expect.greeting_within_ms = Some(self.int(key, val, 1, HOUR_MS, " ms")?)
            }
            "turn_gap_p90_below_ms" => {
                expect.turn_gap_p90_below_ms = Some(self.int(key, val, 1, HOUR_MS, " ms")?)
            }
            "transfer_to" => expect.transfer_to = Some(self.text(key, val)?),
            "transcript" => {
                let pattern = self.text(key, val)?;
                let re = Regex::new(&pattern).map_err(|e| {
                    self.err(
                        val.span(),
                        Problem::BadRegex {
                            key: name.to_string(),
                            reason: regex_reason(&e),
                        },
                    )
                })?;
                expect.transcript = Some(re);
                draft.needs_bridge.push((name.to_string(), key.span()));
            }
            _ => {
                let word = self.text(key, val)?;
                let outcome = match word.as_str() {
                    "passed" => Outcome::Passed,
                    "failed" => Outcome::Failed,
                    "undecided" => Outcome::Undecided,
                    _ => {
                        return Err(self.wrong(key, val, "\"passed\", \"failed\" or \"undecided\""))
                    }
                };
                expect.verdict = Some(outcome);
                draft.needs_bridge.push((name.to_string(), key.span()));
            }
        }
        Ok(())
    }

    fn table<'a, 'i>(&self, key: &Key, val: &'a Val<'i>) -> Result<&'a DeTable<'i>, ScenarioError> {
        match val.get_ref() {
            DeValue::Table(t) => Ok(t),
            _ => Err(self.wrong(key, val, "a table")),
        }
    }

    fn text(&self, key: &Key, val: &Val) -> Result<String, ScenarioError> {
        match val.get_ref() {
            DeValue::String(s) if !s.trim().is_empty() => Ok(s.to_string()),
            _ => Err(self.wrong(key, val, "a non-empty string")),
        }
    }

    fn boolean(&self, key: &Key, val: &Val) -> Result<bool, ScenarioError> {
        match val.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.wrong(key, val, "true or false")),
        }
    }

    /// A whole number within `min..=max`; `unit` (" ms", or "") is for the message.
    fn int(
        &self,
        key: &Key,
        val: &Val,
        min: u64,
        max: u64,
        unit: &str,
    ) -> Result<u64, ScenarioError> {
        let DeValue::Integer(i) = val.get_ref() else {
            return Err(self.wrong(key, val, &format!("a whole number{unit}")));
        };
        let parsed = i128::from_str_radix(i.as_str(), i.radix()).ok();
        match parsed {
            Some(n) if n >= i128::from(min) && n <= i128::from(max) => Ok(n as u64),
            _ => Err(self.err(
                val.span(),
                Problem::OutOfRange {
                    key: key.get_ref().to_string(),
                    value: i.to_string(),
                    range: format!("{min} to {max}{unit}"),
                },
            )),
        }
    }

    /// Seconds (whole or fractional, above zero, at most `max_ms`), returned in milliseconds.
    fn seconds(&self, key: &Key, val: &Val, max_ms: u64) -> Result<u64, ScenarioError> {
        let (text, secs) = match val.get_ref() {
            DeValue::Integer(i) => (
                i.to_string(),
                i128::from_str_radix(i.as_str(), i.radix())
                    .ok()
                    .map(|n| n as f64),
            ),
            DeValue::Float(f) => (f.to_string(), f.as_str().parse::<f64>().ok()),
            _ => return Err(self.wrong(key, val, "a number of seconds")),
        };
        let max_s = max_ms as f64 / 1000.0;
        match secs {
            Some(s) if s.is_finite() && s > 0.0 && s <= max_s => Ok((s * 1000.0).round() as u64),
            _ => Err(self.err(
                val.span(),
                Problem::OutOfRange {
                    key: key.get_ref().to_string(),
                    value: text,
                    range: format!("more than 0, at most {max_s} s"),
                },
            )),
        }
    }

    fn wav(&self, key: &Key, val: &Val) -> Result<PathBuf, ScenarioError> {
        let name = self.text(key, val)?;
        let path = self.dir.join(&name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(self.err(
                val.span(),
                Problem::MissingFile {
                    key: key.get_ref().to_string(),
                    path: path.display().to_string(),
                },
            ))
        }
    }

    fn dtmf(&self, key: &Key, val: &Val) -> Result<String, ScenarioError> {
        let digits = self.text(key, val)?;
        if let Some(bad) = digits
            .chars()
            .find(|c| !c.is_ascii_digit() && !"*#ABCDabcd".contains(*c))
        {
            return Err(self.err(val.span(), Problem::BadDtmf { digits, bad }));
        }
        if digits.len() > 64 {
            return Err(self.err(
                val.span(),
                Problem::OutOfRange {
                    key: "dtmf".into(),
                    value: format!("{} digits", digits.len()),
                    range: "at most 64 digits".into(),
                },
            ));
        }
        Ok(digits.to_ascii_uppercase())
    }

    fn wrong(&self, key: &Key, val: &Val, expected: &str) -> ScenarioError {
        self.err(
            val.span(),
            Problem::WrongType {
                key: key.get_ref().to_string(),
                expected: expected.to_string(),
            },
        )
    }

    /// `table` is where the key was found ("[call]"), or "" for the top level.
    fn unknown(&self, key: &Key, table: &str, expected: &[&str]) -> ScenarioError {
        let place = if table.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in {table}")
        };
        self.err(
            key.span(),
            Problem::UnknownKey {
                key: key.get_ref().to_string(),
                table: place,
                expected: expected.join(", "),
            },
        )
    }

    fn two(&self, first: &Key, second: &Key) -> ScenarioError {
        self.err(
            second.span(),
            Problem::TwoActions {
                first: first.get_ref().to_string(),
                second: second.get_ref().to_string(),
            },
        )
    }
}

#[derive(Default)]
struct CallSpans {
    bridge: Option<Range<usize>>,
    persona: Option<Range<usize>>,
    goal: Option<Range<usize>>,
}

/// A table's entries in the order they appear in the file (the map itself is sorted by key),
/// so that the first problem reported is the first one written.
fn sorted<'a, 'i>(table: &'a DeTable<'i>) -> Vec<(&'a Key<'i>, &'a Val<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

/// The regex crate's message is a multi-line drawing; its last line says what is wrong.
fn regex_reason(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().trim_start_matches("error: ").to_string())
        .unwrap_or(text)
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
