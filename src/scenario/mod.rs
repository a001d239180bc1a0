//! Scripted test calls: a TOML scenario file (whom to call, what to play and wait for, what to
//! expect), a pure runner that turns the call's events into the next step's actions, and the
//! assertions checked when the call has ended. The async driver (`sipterm test`) owns the I/O.
//!
//! # The file
//!
//! ```toml
//! name = "booking agent greets and answers"   # optional, defaults to the file's stem
//!
//! [call]
//! target = "sip:agent@127.0.0.1:5080"          # URI or number (resolved by the engine)
//! from = "sip:tester@example.com"              # optional
//! headers = { "X-Test-Run" = "42" }            # optional, added to the INVITE
//! bridge = false                               # true: the model is the caller (needs persona and goal)
//! persona = "..."                              # only with bridge = true
//! goal = "..."                                 # only with bridge = true
//! max_turns = 8                                # optional
//! max_duration_s = 120                         # optional
//!
//! [suite]                                      # optional defaults for --repeat / --concurrency
//! repeat = 1
//! concurrency = 1
//!
//! [[step]]
//! play = "greeting.wav"                        # relative to the scenario file's folder
//! [[step]]
//! wait_for_voice = { timeout_s = 5 }           # timeout_s optional, default 30
//! [[step]]
//! wait_for_silence = { ms = 800 }              # timeout_s optional, default 30
//! [[step]]
//! dtmf = "12#"                                 # 0-9 * # A-D
//! [[step]]
//! barge_in_after_ms = 1500                     # talk over the remote this long into its speech
//! play = "interrupt.wav"                       # optional; default: the built-in greeting
//! [[step]]
//! pause_ms = 500
//! [[step]]
//! hang_up = true                               # must be the last step
//!
//! [expect]                                     # every key optional; `expect_` prefix accepted,
//! greeting_within_ms = 3000                    # also at the top level (the issue's spelling)
//! turn_gap_p90_below_ms = 1200
//! transfer_to = "sip:human@example.com"
//! transcript = "booking|reservation"           # regex on the agent's words (bridge = true)
//! verdict = "passed"                           # the AI caller's verdict (bridge = true)
//! ```
//!
//! Everything is checked before any call: an unknown key, a step with two actions, a bad regex,
//! a missing WAV, a number out of range, persona or goal without the bridge are refused with
//! the file and line ([`ScenarioError`]).

mod error;
pub mod expect;
pub mod file;
pub mod runner;

use std::path::PathBuf;

pub use error::{Problem, ScenarioError};
pub use expect::{CallOutcome, Expect};
pub use file::{load, parse};
pub use runner::{RunAction, RunInput, Runner};

/// The WAV a barge-in step plays when it names none: the repository's greeting. The driver may
/// point the runner elsewhere ([`Runner::with_default_play`]) when running from an install.
pub const BUILTIN_GREETING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/greeting.wav");

/// A parsed, validated scenario file.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    /// The file it came from (as given), for messages and reports.
    pub path: PathBuf,
    pub call: CallSpec,
    pub suite: SuiteSpec,
    pub steps: Vec<Step>,
    pub expect: Expect,
}

/// Whom to call and how.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallSpec {
    /// May be left to the command line; the driver refuses a run that has none.
    pub target: Option<String>,
    pub from: Option<String>,
    /// Extra INVITE headers, in the file's order.
    pub headers: Vec<(String, String)>,
    /// The model is the caller: `persona` and `goal` are then both set.
    pub bridge: bool,
    pub persona: Option<String>,
    pub goal: Option<String>,
    pub max_turns: Option<u32>,
    pub max_duration_ms: Option<u64>,
}

/// Defaults for `--repeat` and `--concurrency`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuiteSpec {
    pub repeat: u32,
    pub concurrency: u32,
}

impl Default for SuiteSpec {
    fn default() -> Self {
        SuiteSpec {
            repeat: 1,
            concurrency: 1,
        }
    }
}

/// One `[[step]]`, with the line of its first key for messages.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub line: usize,
    pub action: Action,
}

/// What a step does. Durations are in milliseconds; files are resolved against the scenario's
/// folder and known to exist.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Send a WAV; done when it has all gone out (`Event::Played`).
    Play(PathBuf),
    /// Done when the remote starts talking (at once if it already is).
    WaitForVoice {
        timeout_ms: u64,
    },
    /// Done when the remote has been silent for `ms`.
    WaitForSilence {
        ms: u64,
        timeout_ms: u64,
    },
    /// Send RFC 4733 digits; done at once (the engine paces them).
    Dtmf(String),
    /// Wait for the remote to talk, then play `after_ms` into its speech; done when played.
    BargeIn {
        after_ms: u64,
        play: Option<PathBuf>,
    },
    Pause {
        ms: u64,
    },
    HangUp,
}

impl Action {
    /// The step's key in the file, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Play(_) => "play",
            Action::WaitForVoice { .. } => "wait_for_voice",
            Action::WaitForSilence { .. } => "wait_for_silence",
            Action::Dtmf(_) => "dtmf",
            Action::BargeIn { .. } => "barge_in_after_ms",
            Action::Pause { .. } => "pause_ms",
            Action::HangUp => "hang_up",
        }
    }
}
