//! The headless front-end: prints the engine's events as emoji-tagged log lines (or JSON, one
//! object per line), turns SIGINT/SIGTERM into a clean quit, and picks the exit status.

use crate::engine::{Command, Event, LogKind, RegistrationState};
use std::io::Write;
use tokio::sync::{broadcast, mpsc};

/// Exit status when registration is refused for good (DESIGN.md §2).
pub const EXIT_REGISTRATION_FAILED: i32 = 3;

pub fn emoji(kind: LogKind) -> &'static str {
    match kind {
        LogKind::Call => "📞",
        LogKind::Audio => "🎵",
        LogKind::Success => "✅",
        LogKind::Error => "❌",
        LogKind::Warning => "⚠️ ",
        LogKind::Startup => "🚀",
        LogKind::Cleanup => "🧹",
        LogKind::Stats => "📊",
        LogKind::Sip => "📨",
    }
}

/// One human line for an event, or `None` for events that only matter to JSON consumers.
pub fn human_line(event: &Event) -> Option<String> {
    match event {
        Event::Log { kind, message, .. } => Some(format!("{} {message}", emoji(*kind))),
        _ => None,
    }
}

/// Prints events until the engine says `Stopped`; returns the process exit status.
pub async fn run(
    json: bool,
    mut events: broadcast::Receiver<Event>,
    commands: mpsc::UnboundedSender<Command>,
) -> i32 {
    let quit = commands.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = quit.send(Command::Quit);
        // A second signal means "now": skip the polite clean-up.
        wait_for_signal().await;
        eprintln!("sipterm: second interrupt, exiting without clean-up");
        std::process::exit(130);
    });
    let mut status = 0;
    let stdout = std::io::stdout();
    loop {
        let event = match events.recv().await {
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
            status = EXIT_REGISTRATION_FAILED;
            let _ = commands.send(Command::Quit);
        }
        let line = if json {
            serde_json::to_string(&event).ok()
        } else {
            human_line(&event).map(|l| format!("{} {l}", clock()))
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
    status
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

/// Wall-clock time of day (UTC, HH:MM:SS.mmm) for log and transcript lines, without a
/// date-time dependency.
pub fn clock() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::LogLevel;

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
