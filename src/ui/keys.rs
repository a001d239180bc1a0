//! Keys → actions → engine commands, without I/O. This file maps keys to actions and lists
//! the keys for the footer and the help; `handle.rs` carries the actions out.
//!
//! `action_for` reads a key in the context of what is on screen (an overlay changes what ↑↓ and
//! Esc mean); `App::handle` turns the action into at most one `Command` and updates the screen
//! state. A key that cannot do anything right now leaves a footer notice saying why: nothing
//! ever happens silently. `footer_keys` lists the keys that work right now, from the same
//! checks `handle` uses, so the footer cannot advertise a key that would only earn a notice.

mod handle;

use super::state::{App, Overlay};
use crate::vocab::LogLevel;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::time::Instant;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Answer,
    Reject,
    Hangup,
    ToggleBridge,
    ToggleMute,
    SelectNext,
    SelectPrev,
    /// `v`: open or close the SIP trace.
    ToggleTrace,
    Up,
    Down,
    /// Enter in the trace: show the highlighted message in full (or go back).
    Open,
    /// Esc: leave the innermost overlay.
    Back,
    ToggleHelp,
    /// `q`: quit, asking first when calls are live.
    Quit,
    /// Ctrl+C: quit without asking; a second one leaves without waiting for clean-up.
    ForceQuit,
    /// The answer to "hang up and quit?".
    Confirm(bool),
    CycleLogFilter,
    /// A key with no meaning here; carries its name for the notice.
    Unbound(String),
    /// Not a key press (a release or repeat report): no notice either.
    Ignore,
}

/// Every key, for the help overlay.
pub const HELP: &[(&str, &str)] = &[
    ("a", "answer the selected ringing call (or the only one)"),
    ("r", "reject a ringing call (486 Busy Here)"),
    ("h", "hang up the selected call"),
    ("b", "voice bridge on/off for the selected call"),
    ("m", "mute/unmute our microphone on the selected call"),
    ("Tab ↓↑", "select the next / previous call"),
    ("v", "SIP trace: ↑↓ pick, Enter open, Esc back"),
    ("l", "log level: error → warn → info → debug"),
    ("?", "this help (Esc closes it)"),
    ("q", "quit (asks first when calls are live)"),
    ("Ctrl+C", "quit now; twice: skip the clean-up"),
];

pub fn action_for(app: &App, key: KeyEvent) -> Action {
    if key.kind != KeyEventKind::Press {
        return Action::Ignore;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return match key.code {
            KeyCode::Char('c') | KeyCode::Char('C') => Action::ForceQuit,
            _ => Action::Unbound(key_name(key)),
        };
    }
    match (&app.overlay, key.code) {
        (Overlay::ConfirmQuit, KeyCode::Char('y' | 'Y') | KeyCode::Enter) => Action::Confirm(true),
        (Overlay::ConfirmQuit, KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc) => {
            Action::Confirm(false)
        }
        (Overlay::ConfirmQuit, _) => Action::Unbound(key_name(key)),
        (Overlay::Help, KeyCode::Char('?' | 'q') | KeyCode::Esc | KeyCode::Enter) => {
            Action::ToggleHelp
        }
        (Overlay::Help, _) => Action::Unbound(key_name(key)),
        (Overlay::Trace(_), code) => match code {
            KeyCode::Up | KeyCode::Char('k') => Action::Up,
            KeyCode::Down | KeyCode::Char('j') => Action::Down,
            KeyCode::Enter => Action::Open,
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Char('q') => Action::Back,
            KeyCode::Char('v') => Action::ToggleTrace,
            KeyCode::Tab => Action::SelectNext,
            KeyCode::BackTab => Action::SelectPrev,
            KeyCode::Char('?') => Action::ToggleHelp,
            _ => Action::Unbound(key_name(key)),
        },
        (Overlay::None, code) => match code {
            KeyCode::Char('a') => Action::Answer,
            KeyCode::Char('r') => Action::Reject,
            KeyCode::Char('h') => Action::Hangup,
            KeyCode::Char('b') => Action::ToggleBridge,
            KeyCode::Char('m') => Action::ToggleMute,
            KeyCode::Tab | KeyCode::Down | KeyCode::Char('j') => Action::SelectNext,
            KeyCode::BackTab | KeyCode::Up | KeyCode::Char('k') => Action::SelectPrev,
            KeyCode::Char('v') => Action::ToggleTrace,
            KeyCode::Char('l') => Action::CycleLogFilter,
            KeyCode::Char('?') => Action::ToggleHelp,
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Esc => Action::Back,
            _ => Action::Unbound(key_name(key)),
        },
    }
}

fn key_name(key: KeyEvent) -> String {
    let base = match key.code {
        KeyCode::Char(' ') => "Space".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::F(n) => format!("F{n}"),
        other => format!("{other:?}"),
    };
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        format!("Ctrl+{base}")
    } else if key.modifiers.contains(KeyModifiers::ALT) {
        format!("Alt+{base}")
    } else {
        base
    }
}

pub fn filter_words(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "errors only",
        LogLevel::Warn => "warnings and errors",
        LogLevel::Info => "info, warnings and errors",
        LogLevel::Debug => "everything (debug)",
    }
}

/// The keys that do something right now, for the footer: `(key, what it does)`.
pub fn footer_keys(app: &App, now: Instant) -> Vec<(&'static str, &'static str)> {
    let mut keys = Vec::new();
    match &app.overlay {
        Overlay::Help => keys.push(("Esc", "close help")),
        Overlay::ConfirmQuit => {
            keys.push(("y", "hang up and quit"));
            keys.push(("n", "stay"));
        }
        Overlay::Trace(t) if t.full => {
            keys.push(("↑↓", "scroll"));
            keys.push(("Esc", "back to the ladder"));
        }
        Overlay::Trace(_) => {
            keys.push(("↑↓", "pick"));
            keys.push(("Enter", "open"));
            if app.visible_calls(now).nth(1).is_some() {
                keys.push(("Tab", "other call"));
            }
            keys.push(("Esc", "close"));
        }
        Overlay::None => {
            if app.ringing_target(now, "answer").is_ok() {
                keys.push(("a", "answer"));
                keys.push(("r", "reject"));
            }
            if app.live_target(now).is_ok() {
                keys.push(("h", "hang up"));
            }
            if let Ok(id) = app.answered_target(now, "mute") {
                let call = app.calls.get(&id);
                let bridged = call.is_some_and(|c| c.bridge);
                keys.push((
                    "m",
                    match call {
                        // Bridged, `m` is the listen-in's: the panel says which is muted.
                        Some(c) if c.bridge && c.listen_muted => "unmute",
                        Some(c) if !c.bridge && c.mic_muted => "unmute",
                        _ => "mute",
                    },
                ));
                keys.push(("b", if bridged { "bridge off" } else { "bridge" }));
            }
            if app.visible_calls(now).nth(1).is_some() {
                keys.push(("Tab", "select"));
            }
            keys.push(("v", "trace"));
            keys.push(("l", "log"));
            keys.push(("?", "help"));
            keys.push(("q", "quit"));
        }
    }
    keys
}

#[cfg(test)]
mod tests;
