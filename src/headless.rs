//! The headless front-end: prints the engine's events as emoji-tagged log lines (or JSON, one
//! object per line), turns SIGINT/SIGTERM into a clean quit, and says how the run ended.

use crate::frontend::{emoji, Outcome};
use crate::vocab::{clock, Command, Event, RegistrationState};
use std::io::Write;
use tokio::sync::{broadcast, mpsc, oneshot};

/// One human line for an event, or `None` for events that only matter to JSON consumers.
pub fn human_line(event: &Event) -> Option<String> {
    match event {
        Event::Log { kind, message, .. } => Some(format!("{} {message}", emoji(*kind))),
        _ => None,
    }
}

/// Prints events until the engine says `Stopped`, and says how the run ended.
pub async fn run(
    json: bool,
    mut events: broadcast::Receiver<Event>,
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
    let stdout = std::io::stdout();
    loop {
        let received = tokio::select! {
            received = events.recv() => received,
            Ok(()) = &mut interrupted => {
                eprintln!("sipterm: second interrupt, exiting without clean-up");
                return Outcome::Interrupted;
            }
        };
        let event = match received {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                eprintln!("sipterm: output fell behind, {n} events dropped");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if let Event::Registration {
            state: RegistrationState::Failed,
            ..
        } = &event
        {
            outcome = Outcome::RegistrationRefused;
            let _ = commands.send(Command::Quit);
        }
        let line = if json {
            serde_json::to_string(&event).ok()
        } else {
            human_line(&event).map(|l| format!("{} {l}", clock::now()))
        };
        if let Some(line) = line {
            let mut out = stdout.lock();
            // A closed stdout (e.g. `| head`) must not kill the clean-up.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        if matches!(event, Event::Stopped) {
            break;
        }
    }
    drop(signals);
    outcome
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
    fn log_events_get_their_emoji() {
        let e = Event::Log {
            level: LogLevel::Info,
            kind: LogKind::Success,
            message: "registered".into(),
        };
        assert_eq!(human_line(&e).unwrap(), "✅ registered");
        assert!(human_line(&Event::Stopped).is_none());
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
