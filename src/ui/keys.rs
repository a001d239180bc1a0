//! Keys → actions → engine commands, without I/O. This file maps keys to actions and lists
//! the keys for the footer and the help; `handle.rs` carries the actions out.
//!
//! `action_for` reads a key in the context of what is on screen (an overlay changes what ↑↓ and
//! Esc mean); `App::handle` turns the action into at most one `Command` and updates the screen
//! state. A key that cannot do anything right now leaves a footer notice saying why: nothing
//! ever happens silently. `footer_keys` lists the keys that work right now, from the same
//! checks `handle` uses, so the footer cannot advertise a key that would only earn a notice.

mod handle;

use super::state::{App, Edit, Overlay, PromptKind};
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
    /// `d`: open the dial prompt.
    Dial,
    /// `o`: hold or resume the selected call.
    ToggleHold,
    /// `t`: open the transfer prompt for the selected call.
    Transfer,
    /// `0`–`9`, `*`, `#`: send the digit as DTMF on the selected call.
    Keypad(char),
    /// A key typed into the prompt.
    Edit(Edit),
    /// Enter in the prompt: dial, or transfer.
    Submit,
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
    ("h", "hang up (or cancel) the selected call"),
    ("d", "dial a number, user or sip: URI (↑↓ history)"),
    ("o", "hold/resume the selected call"),
    ("t", "transfer the selected call (blind REFER)"),
    ("0-9 * #", "keypad: send a DTMF digit on the selected call"),
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
    let typing = matches!(app.overlay, Overlay::Prompt(_));
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return match key.code {
            KeyCode::Char('c') | KeyCode::Char('C') => Action::ForceQuit,
            KeyCode::Char('u') if typing => Action::Edit(Edit::Clear),
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
        (Overlay::Prompt(_), code) => match code {
            KeyCode::Char(c) => Action::Edit(Edit::Insert(c)),
            KeyCode::Backspace => Action::Edit(Edit::Backspace),
            KeyCode::Delete => Action::Edit(Edit::Delete),
            KeyCode::Left => Action::Edit(Edit::Left),
            KeyCode::Right => Action::Edit(Edit::Right),
            KeyCode::Home => Action::Edit(Edit::Home),
            KeyCode::End => Action::Edit(Edit::End),
            KeyCode::Up => Action::Up,
            KeyCode::Down => Action::Down,
            KeyCode::Enter => Action::Submit,
            KeyCode::Esc => Action::Back,
            _ => Action::Unbound(key_name(key)),
        },
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
            KeyCode::Char('d') => Action::Dial,
            KeyCode::Char('o') => Action::ToggleHold,
            KeyCode::Char('t') => Action::Transfer,
            KeyCode::Char(c @ ('0'..='9' | '*' | '#')) => Action::Keypad(c),
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
        Overlay::Prompt(p) => {
            keys.push((
                "Enter",
                match p.kind {
                    PromptKind::Dial => "dial",
                    PromptKind::Transfer(_) => "transfer",
                },
            ));
            if !app.history.is_empty() {
                keys.push(("↑↓", "history"));
            }
            keys.push(("Esc", "cancel"));
        }
        Overlay::None => {
            if app.ringing_target(now, "answer").is_ok() {
                keys.push(("a", "answer"));
                keys.push(("r", "reject"));
            }
            if let Ok(id) = app.live_target(now) {
                let dialling = app.calls.get(&id).is_some_and(|c| c.is_dialling());
                keys.push(("h", if dialling { "cancel" } else { "hang up" }));
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
                let held = call.is_some_and(|c| c.held_by_us);
                keys.push(("o", if held { "resume" } else { "hold" }));
                keys.push(("t", "transfer"));
                keys.push(("0-9*#", "keypad"));
            }
            if app.visible_calls(now).nth(1).is_some() {
                keys.push(("Tab", "select"));
            }
            if app.dial_allowed().is_ok() {
                keys.push(("d", "dial"));
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
