//! The full-screen front-end (ratatui + crossterm).
//!
//! Split the way ratatui's templates split an app: `state` (what is shown, changed only by
//! `App::apply` for engine events), `keys` (key → action → command, also pure), `view`
//! (drawing, a pure function of the state and `now`), `terminal` (raw mode, alternate screen
//! and their restoration), `pacing` (when to draw) and `history` (the dial history's file).
//! `run` below is the only place with I/O: it feeds engine events and key presses into the
//! state, sends the commands that come out, rings the bell, draws when the pacer says so, and
//! loads the dial history at start and saves it after each dial.
//!
//! Outcome: normal, or, when the registrar refused us for good, `RegistrationRefused`: the TUI
//! does not quit by itself then (unlike headless), it shows the reason and waits for the user,
//! and scripts that wrap the TUI still see the failure in the exit status. Ctrl+C (a key in
//! raw mode) and SIGINT/SIGTERM are one action: the first quits cleanly, a second one while
//! quitting restores the terminal and leaves at once, as headless does.

#[cfg(test)]
mod fixtures;
pub mod history;
pub mod keys;
pub mod pacing;
pub mod state;
pub mod terminal;
pub mod view;

use crate::frontend::Outcome;
use crate::vocab::bus::Subscriber;
use crate::vocab::{Command, Event, LogKind, LogLevel};
use crossterm::event::{Event as TermEvent, EventStream};
use futures_util::StreamExt;
use keys::{action_for, Action};
use pacing::Pacer;
use state::{App, WallClock};
use std::time::{Duration, Instant};
use terminal::TerminalGuard;
use tokio::sync::mpsc;
use tokio::time::sleep_until;

/// Hidden test hook: panic this many milliseconds after start, to prove the terminal is
/// restored on a panic (used by the tmux end-to-end test).
const TEST_PANIC_ENV: &str = "SIPTERM_TEST_PANIC_AFTER_MS";

/// Runs the TUI until the engine stops; returns the process exit status.
pub async fn run(mut events: Subscriber, commands: mpsc::UnboundedSender<Command>) -> Outcome {
    // Whatever way this function ends (even a panic), the engine is told to quit, so the
    // process never hangs with nobody listening.
    let commands = QuitOnDrop(commands);
    let mut guard = match TerminalGuard::enter() {
        Ok(g) => g,
        Err(e) => {
            eprintln!(
                "sipterm: cannot use the terminal for the full-screen UI ({e}); try --headless"
            );
            return Outcome::Failed;
        }
    };
    let started = Instant::now();
    let mut app = App::new(WallClock::system(started));
    let history_file = history::default_path();
    match history_file.as_deref().map(history::load) {
        Some(Ok(loaded)) => app.history = loaded,
        Some(Err(e)) => warn(&mut app, e.to_string()),
        None => warn(
            &mut app,
            "neither XDG_STATE_HOME nor HOME is set: the dial history is not kept".into(),
        ),
    }
    let mut keys = EventStream::new();
    let mut keys_open = true;
    let mut signals = Signals::new();
    let mut pacer = Pacer::default();
    let mut dirty = true;
    let mut screen_ok = true;
    let test_panic = std::env::var(TEST_PANIC_ENV)
        .ok()
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(|ms| tokio::time::Instant::from_std(started + Duration::from_millis(ms)));
    loop {
        let now = Instant::now();
        let deadline = if screen_ok {
            pacer.deadline(now, dirty, app.animating(now), app.next_change(now))
        } else {
            None
        };
        tokio::select! {
            received = events.recv() => match received {
                Some(event) => {
                    app.apply(&event, Instant::now());
                    // Levels arrive ~20 times a second per call; the meters' animation tick
                    // draws them, so they do not each ask for a frame of their own.
                    dirty |= !matches!(event, Event::Levels { .. });
                }
                None => break,
            },
            key = keys.next(), if keys_open => match key {
                Some(Ok(TermEvent::Key(key))) => {
                    let now = Instant::now();
                    let action = action_for(&app, key);
                    if let Some(command) = app.handle(action, now) {
                        let dialled = matches!(command, Command::Dial { .. });
                        commands.send(command);
                        if dialled {
                            // A hundred short lines, once per dial the user types: written
                            // here rather than on a blocking-pool thread to keep it simple.
                            if let Some(path) = &history_file {
                                if let Err(e) = history::save(path, &app.history) {
                                    warn(&mut app, e.to_string());
                                }
                            }
                        }
                    }
                    dirty = true;
                }
                Some(Ok(TermEvent::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => keys_open = false,
            },
            () = signals.next() => {
                // The same action as the Ctrl+C key.
                if let Some(command) = app.handle(Action::ForceQuit, Instant::now()) {
                    commands.send(command);
                }
                dirty = true;
            }
            () = sleep_until_opt(deadline.map(tokio::time::Instant::from_std)) => {
                let now = Instant::now();
                if app.take_bell() {
                    let _ = guard.bell();
                }
                if guard.screen().draw(|frame| view::render(frame, &app, now)).is_err() {
                    // The terminal went away (closed window, hang-up): nobody can press q.
                    screen_ok = false;
                    commands.send(Command::Quit);
                }
                pacer.drawn(now);
                dirty = false;
            }
            () = sleep_until_opt(test_panic) => panic!("{TEST_PANIC_ENV}: test panic"),
        }
        if app.leave_now {
            drop(guard);
            eprintln!("sipterm: second interrupt, exiting without clean-up");
            return Outcome::Interrupted;
        }
        if terminal::panicked() && screen_ok {
            // Another thread panicked and the hook gave the terminal back: stop drawing and
            // let the engine clean up.
            screen_ok = false;
            commands.send(Command::Quit);
        }
        if app.stopped {
            break;
        }
    }
    drop(guard);
    if terminal::panicked() {
        return Outcome::Failed;
    }
    app.outcome()
}

/// A warning of the TUI's own (the dial history's file), in the log pane.
fn warn(app: &mut App, message: String) {
    app.push_log(LogLevel::Warn, LogKind::Warning, message, Instant::now());
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The command sender, which sends `Quit` when dropped (normal end, error or panic). A second
/// `Quit` after the user's is harmless: the engine is already on its way out.
struct QuitOnDrop(mpsc::UnboundedSender<Command>);

impl QuitOnDrop {
    fn send(&self, command: Command) {
        // The engine gone means we are about to see `Stopped`/`Closed` anyway.
        let _ = self.0.send(command);
    }
}

impl Drop for QuitOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(Command::Quit);
    }
}

/// SIGTERM and SIGINT (in raw mode Ctrl+C is a key, but `kill -INT` still arrives).
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                if let Some(s) = s {
                    if s.recv().await.is_some() {
                        return;
                    }
                }
                std::future::pending::<()>().await
            }
            tokio::select! {
                () = recv(&mut self.term) => {}
                () = recv(&mut self.int) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
