//! Why a scenario file is refused: the file, the line, and one plain sentence.

use super::file::STEP_KEYS;

/// A scenario the driver must not run, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} line {line}: {problem}")]
    At {
        file: String,
        line: usize,
        /// Boxed: errors travel through `?` many times and should stay one pointer wide.
        problem: Box<Problem>,
    },
}

impl ScenarioError {
    /// The 1-based line at fault, when there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ScenarioError::Read { .. } => None,
            ScenarioError::At { line, .. } => Some(*line),
        }
    }

    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ScenarioError::Read { .. } => None,
            ScenarioError::At { problem, .. } => Some(problem.as_ref()),
        }
    }
}

/// What is wrong at that line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("not valid TOML: {0}")]
    Syntax(String),
    #[error("unknown step '{key}' (expected one of: {})", STEP_KEYS.join(", "))]
    UnknownStep { key: String },
    #[error("unknown key '{key}' {table} (expected one of: {expected})")]
    UnknownKey {
        key: String,
        table: String,
        expected: String,
    },
    #[error("a step holds one action, but this one has both '{first}' and '{second}'")]
    TwoActions { first: String, second: String },
    #[error("empty step (expected one of: {})", STEP_KEYS.join(", "))]
    EmptyStep,
    #[error("'{key}' must be {expected}")]
    WrongType { key: String, expected: String },
    #[error("'{key}' = {value} is out of range ({range})")]
    OutOfRange {
        key: String,
        value: String,
        range: String,
    },
    #[error("'{key}' is not a valid regex: {reason}")]
    BadRegex { key: String, reason: String },
    #[error("'{key}' file {path} does not exist")]
    MissingFile { key: String, path: String },
    #[error("'{digits}' is not DTMF: '{bad}' is not one of 0-9 * # A-D")]
    BadDtmf { digits: String, bad: char },
    #[error("'{key}' is set twice (once as {first})")]
    Duplicate { key: String, first: String },
    #[error("'{key}' needs bridge = true in [call]: {why}")]
    NeedsBridge { key: String, why: String },
    #[error("bridge = true makes the model the caller, so [call] needs a persona and a goal (missing: {missing})")]
    BridgeWithoutPersonaOrGoal { missing: String },
    #[error("'{key}' cannot be used with bridge = true: the model speaks for us")]
    NotWithBridge { key: String },
    #[error("this step never runs: hang_up on line {hang_up_line} ends the call")]
    AfterHangUp { hang_up_line: usize },
    #[error("nothing to do: add [[step]] tables (for example wait_for_voice), or bridge = true with a persona and goal")]
    NothingToDo,
}
