//! The headless front-end: prints the engine's events as emoji-tagged log lines (or JSON, one
//! object per line), turns SIGINT/SIGTERM into a clean quit, and says how the run ended.

use crate::frontend::{emoji, Outcome, Phraser};
use crate::vocab::bus::Subscriber;
use crate::vocab::{clock, Command, Event, RegistrationState};
use std::io::Write;
use tokio::sync::{mpsc, oneshot};

/// Prints events until the engine says `Stopped`, and says how the run ended. `quiet` (a
/// suite, which prints a line per call) keeps only start-up lines, warnings and errors.
pub async fn run(
    json: bool,
    quiet: bool,
    mut events: Subscriber,
    commands: mpsc::UnboundedSender<Command>,
) -> Outcome {
    let quit = commands.clone();
    let (interrupted_tx, mut interrupted) = oneshot::channel();
    // Owned by this function: dropped (and so cancelled) when it returns.
    let signals = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
        wait_for_signal().await;
        let _ = quit.send(Command::Quit);
        // A second signal means "now": skip the polite clean-up.
        wait_for_signal().await;
        let _ = interrupted_tx.send(());
    }));
    let mut outcome = Outcome::Normal;
    let mut phraser = Phraser::default();
    let stdout = std::io::stdout();
    loop {
        let received = tokio::select! {
            received = events.recv() => received,
            Ok(()) = &mut interrupted => {
                eprintln!("sipterm: second interrupt, exiting without clean-up");
                return Outcome::Interrupted;
            }
        };
        let Some(event) = received else { break };
        if let Event::Registration {
            state: RegistrationState::Failed,
            ..
        } = &event
        {
            outcome = Outcome::RegistrationRefused;
            let _ = commands.send(Command::Quit);
        }
        let mut lines = render(&event, &mut phraser, json);
        let about_the_suite = matches!(event, Event::SuiteCall { .. } | Event::SuiteDone { .. });
        if quiet && !json && !about_the_suite {
            lines.retain(|line| worth_a_line_in_a_suite(line));
        }
        if !lines.is_empty() {
            let mut out = stdout.lock();
            // A closed stdout (e.g. `| head`) must not kill the clean-up.
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
        }
        if matches!(event, Event::Stopped) {
            break;
        }
    }
    drop(signals);
    outcome
}

/// What an event prints: with `--json` the event itself, then its log lines as `log` objects
/// (so JSON readers see every line the human output has); otherwise the time-stamped lines.
fn render(event: &Event, phraser: &mut Phraser, json: bool) -> Vec<String> {
    let lines = phraser.lines(event);
    if !json {
        let at = clock::now();
        return lines
            .into_iter()
            .map(|(_, kind, text)| format!("{at} {} {text}", emoji(kind)))
            .collect();
    }
    let mut out: Vec<String> = serde_json::to_string(event).ok().into_iter().collect();
    if !matches!(event, Event::Log { .. }) {
        out.extend(lines.into_iter().filter_map(|(level, kind, message)| {
            serde_json::to_string(&Event::Log {
                level,
                kind,
                message,
            })
            .ok()
        }));
    }
    out
}

/// In a suite's quiet output: start-up, warnings and errors (by their emoji, which the
/// rendered line carries after its time stamp).
fn worth_a_line_in_a_suite(line: &str) -> bool {
    use crate::vocab::LogKind;
    [LogKind::Startup, LogKind::Warning, LogKind::Error]
        .iter()
        .any(|kind| line.contains(&format!(" {} ", emoji(*kind))))
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{LogKind, LogLevel};

    #[test]
    fn log_events_get_their_emoji_after_the_time() {
        let e = Event::Log {
            level: LogLevel::Info,
            kind: LogKind::Success,
            message: "registered".into(),
        };
        let lines = render(&e, &mut Phraser::default(), false);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].ends_with(" ✅ registered"), "{lines:?}");
        assert!(render(&Event::Stopped, &mut Phraser::default(), false).is_empty());
    }

    #[test]
    fn json_has_the_event_then_its_words_as_a_log_object() {
        let mut phraser = Phraser::default();
        let e = Event::CallState {
            call: crate::vocab::CallId(3),
            state: crate::vocab::CallState::Answering,
        };
        assert_eq!(
            render(&e, &mut phraser, true),
            [
                r#"{"event":"call_state","call":3,"state":"answering"}"#,
                r#"{"event":"log","level":"info","kind":"call","message":"answered call #3"}"#
            ]
        );
        let log = Event::Log {
            level: LogLevel::Warn,
            kind: LogKind::Warning,
            message: "careful".into(),
        };
        assert_eq!(render(&log, &mut phraser, true).len(), 1, "a log line once");
    }

    #[test]
    fn json_lines_are_tagged_by_event() {
        let e = Event::Registration {
            state: RegistrationState::Registered,
            expires: Some(3600),
            reason: None,
            retry_in: None,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"registration","state":"registered","expires":3600}"#
        );
    }
}
