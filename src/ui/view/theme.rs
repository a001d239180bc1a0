//! Colours and styles in one place, so each widget says what a thing *is* (a ringing call, a
//! warning) rather than which colour it has. Only the 16 basic colours: they follow the user's
//! terminal palette and survive tmux and screenshots.

use crate::vocab::{LogLevel, RegistrationState, Speaker};
use ratatui::style::{Color, Modifier, Style};

pub fn title() -> Style {
    Style::new()
        .fg(Color::Black)
        .bg(Color::Cyan)
        .add_modifier(Modifier::BOLD)
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn label() -> Style {
    Style::new().fg(Color::Gray)
}

pub fn strong() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub fn good() -> Style {
    Style::new().fg(Color::Green).add_modifier(Modifier::BOLD)
}

pub fn warn() -> Style {
    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
}

/// A call we put on hold: our own doing, so not a warning.
pub fn held_by_us() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

pub fn bad() -> Style {
    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
}

/// The unmissable "RINGING" badge and the ringing call's line.
pub fn ringing() -> Style {
    Style::new()
        .fg(Color::Black)
        .bg(Color::LightYellow)
        .add_modifier(Modifier::BOLD)
}

pub fn border(selected: bool) -> Style {
    if selected {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::DarkGray)
    }
}

pub fn key() -> Style {
    Style::new()
        .fg(Color::Black)
        .bg(Color::Gray)
        .add_modifier(Modifier::BOLD)
}

pub fn highlight() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

pub fn registration(state: Option<RegistrationState>) -> Style {
    match state {
        Some(RegistrationState::Registered) => good(),
        Some(RegistrationState::Registering | RegistrationState::Retrying) => warn(),
        Some(RegistrationState::Failed) => bad(),
        Some(RegistrationState::Unregistering | RegistrationState::Unregistered) | None => dim(),
    }
}

pub fn log_level(level: LogLevel) -> Style {
    match level {
        LogLevel::Error => Style::new().fg(Color::LightRed),
        LogLevel::Warn => Style::new().fg(Color::Yellow),
        LogLevel::Info => Style::new(),
        LogLevel::Debug => dim(),
    }
}

pub fn speaker(speaker: Speaker) -> Style {
    match speaker {
        Speaker::Caller => Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        Speaker::Ai => Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
        Speaker::System => dim().add_modifier(Modifier::ITALIC),
    }
}

/// Meter cell colour by loudness: green for speech, yellow when hot, red near clipping.
pub fn meter(dbfs: f32) -> Style {
    let color = if dbfs >= -6.0 {
        Color::Red
    } else if dbfs >= -18.0 {
        Color::Yellow
    } else {
        Color::Green
    };
    Style::new().fg(color)
}
