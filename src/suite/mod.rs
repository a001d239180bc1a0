//! Runs a scenario as a suite (`sipterm test scenario.toml --repeat N --concurrency K
//! --report DIR`): a front-end beside the headless or TUI one that places the calls, keeps K
//! of them going, drives each through its scenario steps, judges it, and writes the report
//! (one stereo WAV and one transcript per call, `summary.json`, `junit.xml`).
//!
//! Like every front-end it only reads events and sends commands; the judging and the report
//! texts are pure (`scenario::runner`, `scenario::expect`, `report`).

mod call;
mod progress;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::vocab::bus::{Subscriber, WeakPublisher};
use tokio::sync::mpsc;

use crate::report::CallRecord;
use crate::scenario::Scenario;
use crate::vocab::{CallId, Command, Event, Outcome, RegistrationState};

use call::SuiteCall;
pub use progress::progress_line;

/// How the runner's clock advances a waiting step when no event comes.
const TICK: Duration = Duration::from_millis(20);
/// The progress bar is redrawn at most this often (a terminal need not repaint per event).
const REDRAW: Duration = Duration::from_millis(250);

/// How a suite is run, from the command line (or the scenario's `[suite]` table).
#[derive(Clone, Debug)]
pub struct SuiteOptions {
    pub repeat: usize,
    pub concurrency: usize,
    /// Where the report goes; `None` writes no files.
    pub report: Option<PathBuf>,
    /// Print a line per finished call (text mode); JSON mode prints `suite_*` objects.
    pub json: bool,
    /// Draw a progress bar on stderr (it is a terminal, and the TUI is not running).
    pub progress_bar: bool,
    /// The dial target, resolved (the engine dials it as given).
    pub target: String,
    /// Whether the engine registers first: then calls start once registered.
    pub registers: bool,
}

/// What a suite came to, for the exit status.
#[derive(Clone, Debug, PartialEq)]
pub struct SuiteResult {
    pub records: Vec<CallRecord>,
    /// The run stopped before every call was made (Ctrl+C, registration refused).
    pub incomplete: bool,
}

impl SuiteResult {
    pub fn passed(&self) -> usize {
        self.records.iter().filter(|r| r.passed).count()
    }

    /// 0 when every call passed; otherwise the worst outcome: failed, else undecided.
    pub fn exit_outcome(&self) -> Outcome {
        if self.incomplete || self.records.iter().any(|r| r.outcome == Outcome::Failed) {
            Outcome::Failed
        } else if self.records.iter().any(|r| r.outcome == Outcome::Undecided) {
            Outcome::Undecided
        } else {
            Outcome::Passed
        }
    }
}

/// Reads the scenario and lets its `[call]` table fill the flags the command line left out
/// (the command line wins). With `--report`, calls are recorded into the report folder,
/// which is created here so a path that cannot be one is refused before any call.
pub fn prepare(
    path: &std::path::Path,
    cli: &mut crate::cli::Cli,
    from_profile: impl Fn(&str) -> bool,
) -> Result<Scenario, String> {
    let scenario = crate::scenario::load(path).map_err(|e| e.to_string())?;
    let call = &scenario.call;
    // Fills a flag the command line left out; a profile's value gives way to the scenario's.
    fn fill<T: Clone>(flag: &mut Option<T>, ours: &Option<T>, weak: bool) {
        if ours.is_some() && (flag.is_none() || weak) {
            flag.clone_from(ours);
        }
    }
    fill(&mut cli.call, &call.target, from_profile("call"));
    if cli.call.is_none() {
        return Err(format!(
            "{}: no [call] target, and no --call given: whom should the test call?",
            path.display()
        ));
    }
    fill(&mut cli.from, &call.from, from_profile("from"));
    for (name, value) in &call.headers {
        cli.headers.push(format!("{name}: {value}"));
    }
    cli.bridge |= call.bridge;
    fill(&mut cli.persona, &call.persona, from_profile("persona"));
    fill(&mut cli.goal, &call.goal, from_profile("goal"));
    // The AI caller's limits are the engine's (they end the call undecided); a scripted
    // call's time limit is kept by the suite itself (`SuiteCall::on_tick`).
    if call.bridge {
        fill(
            &mut cli.max_turns,
            &call.max_turns,
            from_profile("max-turns"),
        );
        let max_duration = call.max_duration_ms.map(|ms| ms.div_ceil(1000));
        fill(
            &mut cli.max_duration,
            &max_duration,
            from_profile("max-duration"),
        );
    }
    if let Some(dir) = &cli.report {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("--report '{}' cannot be created: {e}", dir.display()))?;
        cli.record = Some(dir.clone());
    }
    Ok(scenario)
}

/// The suite's options from the flags and the scenario's `[suite]` table. Takes the call
/// out of the configuration: the suite places the calls, the engine does not.
pub fn options(
    scenario: &Scenario,
    cli: &crate::cli::Cli,
    config: &mut crate::config::Config,
    stderr_is_terminal: bool,
) -> SuiteOptions {
    let repeat = cli.repeat.unwrap_or(scenario.suite.repeat).max(1) as usize;
    let concurrency =
        (cli.concurrency.unwrap_or(scenario.suite.concurrency) as usize).clamp(1, repeat);
    let json = matches!(
        config.front_end,
        crate::config::FrontEnd::Headless { json: true }
    );
    let headless = matches!(config.front_end, crate::config::FrontEnd::Headless { .. });
    SuiteOptions {
        repeat,
        concurrency,
        report: cli.report.clone(),
        json,
        progress_bar: headless && stderr_is_terminal,
        target: config
            .call
            .take()
            .or_else(|| scenario.call.target.clone())
            .unwrap_or_default(),
        registers: config.register,
    }
}

/// The suite's running state: which calls are placed, which run, what has been recorded.
struct Suite {
    /// The suite's own events (a line per call, progress) go to the front-ends with the
    /// engine's. Weak: when the engine's sender goes, the channel closes as it always did,
    /// so no one waits on the suite for the end of the stream.
    publish: WeakPublisher,
    scenario: Scenario,
    opts: SuiteOptions,
    started: Instant,
    started_wall: String,
    /// Calls asked for (`Dial` sent) whose `OutgoingCall` has not come yet, by index.
    dialling: VecDeque<usize>,
    running: HashMap<CallId, SuiteCall>,
    /// Their REFER asked us to call this target for that call of ours: the next
    /// `OutgoingCall` is that new call, not one of ours.
    transfers: Vec<(String, CallId)>,
    /// Calls placed for a transfer, and the call of ours they came from: ours ends once the
    /// transfer is done, and then they are hung up (the record is about the agent, which
    /// handed the call on).
    transfer_born: HashMap<CallId, CallId>,
    next_index: usize,
    records: Vec<CallRecord>,
    ready: bool,
    quitting: bool,
    report_written: bool,
    /// When the progress bar was last drawn.
    drawn: Option<Instant>,
}

/// Runs the suite until every call has ended (then asks the engine to quit) or the engine
/// stops; returns the per-call records. The report, when asked for, is written before this
/// returns.
pub async fn run(
    scenario: Scenario,
    opts: SuiteOptions,
    mut events: Subscriber,
    commands: mpsc::UnboundedSender<Command>,
    publish: WeakPublisher,
) -> SuiteResult {
    let mut suite = Suite {
        publish,
        scenario,
        started: Instant::now(),
        started_wall: crate::vocab::clock::now(),
        opts,
        dialling: VecDeque::new(),
        running: HashMap::new(),
        transfers: Vec::new(),
        transfer_born: HashMap::new(),
        next_index: 1,
        records: Vec::new(),
        ready: false,
        quitting: false,
        report_written: false,
        drawn: None,
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            received = events.recv() => match received {
                Some(Event::Stopped) | None => break,
                Some(event) => suite.on_event(&event, &commands),
            },
            _ = tick.tick() => {
                suite.on_tick(&commands);
                suite.draw_progress();
            }
        }
    }
    suite.finish()
}

impl Suite {
    fn on_event(&mut self, event: &Event, commands: &mpsc::UnboundedSender<Command>) {
        match event {
            Event::Started { .. } if !self.opts.registers => self.become_ready(commands),
            Event::Registration { state, .. } => match state {
                RegistrationState::Registered if !self.ready => self.become_ready(commands),
                RegistrationState::Failed => self.quit(commands),
                _ => {}
            },
            Event::OutgoingCall { call, to, .. } => self.on_outgoing(*call, to),
            Event::Transfer {
                call,
                target,
                by: crate::vocab::TransferBy::Remote,
                stage: crate::vocab::TransferStage::Trying,
                ..
            } => {
                if let Some(c) = self.running.get_mut(call) {
                    let actions = c.on_event(event, self.started.elapsed());
                    self.perform(actions, commands);
                    self.transfers.push((target.clone(), *call));
                }
            }
            Event::CallEnded { call, .. } => {
                self.transfer_born.remove(call);
                let born: Vec<CallId> = self
                    .transfer_born
                    .iter()
                    .filter(|(_, from)| *from == call)
                    .map(|(id, _)| *id)
                    .collect();
                for id in born {
                    let _ = commands.send(Command::Hangup(id));
                }
                if let Some(mut c) = self.running.remove(call) {
                    let now = self.started.elapsed();
                    let actions = c.on_event(event, now);
                    self.perform(actions, commands);
                    let record = c.finish(event, self.opts.report.as_deref());
                    self.records.push(record);
                    self.report_line();
                    self.dial_more(commands);
                }
            }
            other => {
                let Some(call) = event_call(other) else {
                    return;
                };
                if let Some(c) = self.running.get_mut(&call) {
                    let actions = c.on_event(other, self.started.elapsed());
                    self.perform(actions, commands);
                }
            }
        }
    }

    fn on_tick(&mut self, commands: &mpsc::UnboundedSender<Command>) {
        let now = self.started.elapsed();
        let ids: Vec<CallId> = self.running.keys().copied().collect();
        for id in ids {
            if let Some(c) = self.running.get_mut(&id) {
                let actions = c.on_tick(now);
                self.perform(actions, commands);
            }
        }
    }

    fn become_ready(&mut self, commands: &mpsc::UnboundedSender<Command>) {
        self.ready = true;
        self.dial_more(commands);
    }

    /// Keeps `concurrency` calls going until `repeat` have been placed; quits when all ended.
    fn dial_more(&mut self, commands: &mpsc::UnboundedSender<Command>) {
        if !self.ready || self.quitting {
            return;
        }
        while self.next_index <= self.opts.repeat
            && self.running.len() + self.dialling.len() < self.opts.concurrency
        {
            self.dialling.push_back(self.next_index);
            self.next_index += 1;
            let _ = commands.send(Command::Dial {
                target: self.opts.target.clone(),
            });
        }
        if self.next_index > self.opts.repeat && self.running.is_empty() && self.dialling.is_empty()
        {
            self.complete();
            self.quit(commands);
        }
    }

    fn on_outgoing(&mut self, call: CallId, to: &str) {
        let for_transfer = self
            .transfers
            .iter()
            .position(|(t, _)| t.contains(to) || to.contains(t.as_str()))
            .or_else(|| (!self.transfers.is_empty() && self.dialling.is_empty()).then_some(0));
        if let Some(at) = for_transfer {
            let (_, from) = self.transfers.remove(at);
            self.transfer_born.insert(call, from);
            return;
        }
        if let Some(index) = self.dialling.pop_front() {
            self.running.insert(
                call,
                SuiteCall::new(index, call, &self.scenario, self.started.elapsed()),
            );
            self.publish_progress();
        }
    }

    fn perform(&self, commands_out: Vec<Command>, commands: &mpsc::UnboundedSender<Command>) {
        for command in commands_out {
            let _ = commands.send(command);
        }
    }

    fn quit(&mut self, commands: &mpsc::UnboundedSender<Command>) {
        if !self.quitting {
            self.quitting = true;
            let _ = commands.send(Command::Quit);
        }
    }

    /// The latest record as a `suite_call` event (a line in every front-end).
    fn report_line(&self) {
        let Some(record) = self.records.last() else {
            return;
        };
        self.clear_progress();
        self.emit(Event::SuiteCall {
            index: record.index,
            total: self.opts.repeat,
            call: CallId(record.call_id),
            outcome: record.outcome,
            failures: record.failures.clone(),
        });
        self.publish_progress();
    }

    fn emit(&self, event: Event) {
        if let Some(tx) = self.publish.upgrade() {
            tx.send(event);
        }
    }

    fn publish_progress(&self) {
        let count = |o: Outcome| self.records.iter().filter(|r| r.outcome == o).count();
        self.emit(Event::SuiteProgress {
            done: self.records.len(),
            total: self.opts.repeat,
            passed: count(Outcome::Passed),
            failed: count(Outcome::Failed),
            undecided: count(Outcome::Undecided),
            running: self.running.len(),
        });
    }

    fn draw_progress(&mut self) {
        if !self.opts.progress_bar || self.opts.json {
            return;
        }
        if self.drawn.is_some_and(|at| at.elapsed() < REDRAW) {
            return;
        }
        self.drawn = Some(Instant::now());
        use std::io::Write;
        let line = progress_line(
            self.records.len(),
            self.opts.repeat,
            self.records
                .iter()
                .filter(|r| r.outcome == Outcome::Passed)
                .count(),
            self.running.len(),
            self.started.elapsed(),
        );
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }

    fn clear_progress(&self) {
        if self.opts.progress_bar && !self.opts.json {
            eprint!("\r\x1b[2K");
        }
    }

    /// Every call was judged: the report is written, and the front-ends told, before the
    /// engine is asked to quit (they stop with it).
    fn complete(&mut self) {
        self.clear_progress();
        self.records.sort_by_key(|r| r.index);
        let report = self.write_report().map(|dir| dir.display().to_string());
        self.report_written = true;
        self.emit(Event::SuiteDone {
            total: self.opts.repeat,
            passed: self.records.iter().filter(|r| r.passed).count(),
            report,
        });
    }

    /// Writes the report folder's summary and JUnit files; `None` when not asked for or
    /// when they cannot be written (said on stderr, which works in every front-end's wake).
    fn write_report(&self) -> Option<&std::path::Path> {
        let dir = self.opts.report.as_deref()?;
        let total_ms = self.started.elapsed().as_millis() as u64;
        match write_report(
            dir,
            &self.scenario,
            &self.started_wall,
            &self.records,
            total_ms,
        ) {
            Ok(()) => Some(dir),
            Err(e) => {
                eprintln!("sipterm: cannot write the report to {}: {e}", dir.display());
                None
            }
        }
    }

    /// The engine stopped. Calls that never started or never ended (Ctrl+C, a refused
    /// registration) are recorded as failed, and the report written if it was not yet.
    fn finish(mut self) -> SuiteResult {
        self.clear_progress();
        let incomplete = self.next_index <= self.opts.repeat;
        let now = self.started.elapsed();
        let stranded: Vec<SuiteCall> = self.running.drain().map(|(_, c)| c).collect();
        for c in stranded {
            let record = c.abandon("the run stopped before the call ended", now);
            self.records.push(record);
        }
        for index in self.dialling.drain(..) {
            self.records
                .push(call::never_placed(index, "the call was never placed"));
        }
        self.records.sort_by_key(|r| r.index);
        if !self.report_written {
            if let Some(dir) = self.write_report() {
                eprintln!(
                    "sipterm: the run stopped early; report of {} calls written to {}",
                    self.records.len(),
                    dir.display()
                );
            }
        }
        SuiteResult {
            records: self.records,
            incomplete,
        }
    }
}

fn write_report(
    dir: &std::path::Path,
    scenario: &Scenario,
    started: &str,
    records: &[CallRecord],
    total_ms: u64,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let summary = crate::report::summary_json(&scenario.name, started, total_ms, records);
    let text = serde_json::to_string_pretty(&summary).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("summary.json"), text + "\n")?;
    let junit = crate::report::junit_xml(&scenario.name, records, total_ms);
    std::fs::write(dir.join("junit.xml"), junit)?;
    Ok(())
}

/// The call an event is about, for the events a running call's steps care about.
fn event_call(event: &Event) -> Option<CallId> {
    match event {
        Event::CallAnswered { call, .. }
        | Event::CallState { call, .. }
        | Event::Voice { call, .. }
        | Event::Played { call, .. }
        | Event::TurnTaking { call, .. }
        | Event::Transcript { call, .. }
        | Event::Transfer { call, .. }
        | Event::Verdict { call, .. }
        | Event::Dtmf { call, .. } => Some(*call),
        _ => None,
    }
}

#[cfg(test)]
mod prepare_tests {
    use super::prepare;
    use crate::cli::Cli;
    use clap::Parser;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("sipterm").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn the_scenario_beats_a_profile_but_not_the_command_line() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets")
            .join("example-scenario.toml");
        let args = [
            "--call",
            "sip:profile@127.0.0.1",
            "--from",
            "sip:me@example.com",
        ];
        // Both flags came from a profile: the scenario's [call] replaces them.
        let mut from_profile = cli(&args);
        prepare(&path, &mut from_profile, |_| true).unwrap();
        assert_eq!(
            from_profile.call.as_deref(),
            Some("sip:agent@127.0.0.1:5080")
        );
        assert_eq!(from_profile.from.as_deref(), Some("sip:tester@example.com"));
        // Typed on the command line: they stay.
        let mut typed = cli(&args);
        prepare(&path, &mut typed, |_| false).unwrap();
        assert_eq!(typed.call.as_deref(), Some("sip:profile@127.0.0.1"));
        assert_eq!(typed.from.as_deref(), Some("sip:me@example.com"));
    }
}
