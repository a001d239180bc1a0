//! Everything the TUI shows, and how each engine event changes it.
//!
//! `App::apply` is a pure function of the event and the `Instant` it arrived: no I/O, no
//! clocks read. Times that tick on screen (durations, the refresh countdown, fading meters) are
//! stored as instants and turned into figures by the view, which gets `now` passed in too. That
//! is what makes the snapshot tests deterministic.

mod apply;
mod call;
mod lines;
mod meter;
mod prompt;
#[cfg(test)]
mod tests;

pub use call::{
    end_reason_text, strip_scheme, BridgeFigures, CallView, Progress, TransferNote, ENDED_LINGER,
};
pub use lines::{passes, LogLine, SipEntry, TranscriptLine, WallClock};
pub use meter::{fraction, Meter, FLOOR_DBFS};
pub use prompt::{Edit, Prompt, PromptKind};

use crate::frontend::{Outcome, Phraser};
use crate::ui::history::History;
use crate::vocab::{CallId, CallState, Event, LogLevel, RegistrationState};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// How long a footer notice stays.
pub const NOTICE_FOR: Duration = Duration::from_secs(4);

/// The account as the engine started it.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    pub account: String,
    pub registrar: String,
    pub transport: String,
    pub local_sip: String,
    /// The config-file profile in use.
    pub profile: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    pub state: RegistrationState,
    pub reason: Option<String>,
    pub since: Instant,
    /// When the binding lapses and when the engine will refresh it (registered only).
    pub expires_at: Option<Instant>,
    pub refresh_at: Option<Instant>,
    /// When the engine tries again (retrying only).
    pub retry_at: Option<Instant>,
}

/// The trace view: one call's SIP messages (or, with no call, the account's REGISTERs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceView {
    pub call: Option<CallId>,
    /// Index of the highlighted message; `None` follows the newest.
    pub selected: Option<usize>,
    /// Showing the highlighted message in full.
    pub full: bool,
    /// First line shown in the full message.
    pub scroll: u16,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Overlay {
    #[default]
    None,
    Help,
    /// "Calls are live: hang up and quit?"
    ConfirmQuit,
    Trace(TraceView),
    /// The footer's input line (dial, transfer): keys are text until Enter or Esc.
    Prompt(Prompt),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub until: Instant,
}

#[derive(Clone, Debug)]
pub struct App {
    pub clock: WallClock,
    pub account: Option<Account>,
    /// Our SIP address as the registrar sees it, when that differs from ours (NAT).
    pub public_sip: Option<String>,
    pub registration: Option<Registration>,
    /// The registrar refused us for good; quitting then exits with status 3.
    pub registration_failed: bool,
    pub calls: BTreeMap<CallId, CallView>,
    /// SIP messages by call; `None` holds those outside any call.
    pub sip: BTreeMap<Option<CallId>, VecDeque<SipEntry>>,
    pub transcript: VecDeque<TranscriptLine>,
    pub log: VecDeque<LogLine>,
    /// Puts the engine's events into the log pane's words.
    words: Phraser,
    pub log_filter: LogLevel,
    pub selected: Option<CallId>,
    pub overlay: Overlay,
    pub notice: Option<Notice>,
    /// Quit was sent; the engine is hanging up and unregistering.
    pub quitting: bool,
    /// Ctrl+C while already quitting: leave without waiting for the engine's clean-up.
    pub leave_now: bool,
    /// The engine said `Stopped`; nothing more will come.
    pub stopped: bool,
    /// A call started ringing since the loop last looked (it rings the terminal bell).
    bell: bool,
    /// URIs dialled, newest first (`ui::run` loads and saves it).
    pub history: History,
    /// `sipterm test` in the TUI: how far the suite has got.
    pub suite: Option<SuiteView>,
}

/// A suite's progress as the header shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SuiteView {
    pub done: usize,
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub undecided: usize,
    pub running: usize,
}

impl App {
    pub fn new(clock: WallClock) -> App {
        App {
            clock,
            account: None,
            public_sip: None,
            registration: None,
            registration_failed: false,
            calls: BTreeMap::new(),
            sip: BTreeMap::new(),
            transcript: VecDeque::new(),
            log: VecDeque::new(),
            words: Phraser::default(),
            log_filter: LogLevel::Info,
            selected: None,
            overlay: Overlay::None,
            notice: None,
            quitting: false,
            leave_now: false,
            stopped: false,
            bell: false,
            history: History::default(),
            suite: None,
        }
    }

    /// The domain a bare number or user name is dialled at: the account's `host[:port]`.
    /// `None` without an account (account-less runs start with an empty one).
    pub fn dial_domain(&self) -> Option<String> {
        let account = self.account.as_ref()?.account.trim();
        if account.is_empty() {
            return None;
        }
        let uri = crate::sip::uri::SipUri::parse(account).ok()?;
        let host = if uri.host.contains(':') && !uri.host.starts_with('[') {
            format!("[{}]", uri.host)
        } else {
            uri.host
        };
        Some(match uri.port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        })
    }

    /// Calls on screen at `now`, in id order.
    pub fn visible_calls(&self, now: Instant) -> impl Iterator<Item = &CallView> {
        self.calls.values().filter(move |c| c.is_visible(now))
    }

    pub fn live_calls(&self) -> impl Iterator<Item = &CallView> {
        self.calls.values().filter(|c| c.is_live())
    }

    pub fn ringing_calls(&self) -> impl Iterator<Item = &CallView> {
        self.calls.values().filter(|c| c.is_ringing())
    }

    /// The selected call, if it is still on screen.
    pub fn selected_call(&self, now: Instant) -> Option<&CallView> {
        self.selected
            .and_then(|id| self.calls.get(&id))
            .filter(|c| c.is_visible(now))
    }

    pub fn notice_text(&self, now: Instant) -> Option<&str> {
        self.notice
            .as_ref()
            .filter(|n| now < n.until)
            .map(|n| n.text.as_str())
    }

    pub fn set_notice(&mut self, text: impl Into<String>, now: Instant) {
        self.notice = Some(Notice {
            text: text.into(),
            until: now + NOTICE_FOR,
        });
    }

    /// The SIP messages of a call (or, for `None`, those outside calls).
    pub fn sip_messages(&self, call: Option<CallId>) -> Option<&VecDeque<SipEntry>> {
        self.sip.get(&call)
    }

    /// Whether a call started ringing since the last look and still rings; reading clears it.
    /// (A call refused at once, e.g. 488, shows up and ends in one burst: no bell for it.)
    pub fn take_bell(&mut self) -> bool {
        std::mem::take(&mut self.bell) && self.ringing_calls().next().is_some()
    }

    /// Meters still move on screen (a live call's bar or peak mark is above the floor).
    pub fn animating(&self, now: Instant) -> bool {
        self.live_calls().any(|c| c.meters_moving(now))
    }

    /// The next moment the screen changes without a new event: a countdown or duration ticks
    /// over to the next second, a notice expires, an ended call leaves the screen.
    pub fn next_change(&self, now: Instant) -> Option<Instant> {
        let mut times: Vec<Instant> = Vec::new();
        let countdowns = self
            .registration
            .iter()
            .flat_map(|r| [r.refresh_at, r.retry_at]);
        for t in countdowns.flatten().filter(|t| *t > now) {
            times.push(now + sub_second(t - now));
        }
        for c in self.visible_calls(now) {
            match c.ended_at {
                Some(ended) => times.push(ended + ENDED_LINGER),
                None => {
                    let start = c.answered_at.unwrap_or(c.since);
                    let ticked = now.saturating_duration_since(start);
                    times.push(now + (Duration::from_secs(1) - sub_second_part(ticked)));
                }
            }
        }
        if let Some(n) = self.notice.as_ref().filter(|n| n.until > now) {
            times.push(n.until);
        }
        times.into_iter().filter(|t| *t > now).min()
    }

    /// How the run ended, for `run`: the registrar's final refusal outlives later states.
    pub fn outcome(&self) -> Outcome {
        if self.registration_failed {
            Outcome::RegistrationRefused
        } else {
            Outcome::Normal
        }
    }
}

/// Time until a countdown of `left` shows one second less (a whole second when exact).
fn sub_second(left: Duration) -> Duration {
    match sub_second_part(left) {
        Duration::ZERO => Duration::from_secs(1),
        part => part,
    }
}

fn sub_second_part(d: Duration) -> Duration {
    Duration::from_nanos(u64::from(d.subsec_nanos()))
}
