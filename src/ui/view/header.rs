//! The header line: who we are (and the config-file profile), how we reach the registrar (a lock beside TLS), and the
//! registration state in colour (green registered, yellow trying, red refused) with the time
//! to the next refresh.

use super::{duration, text, theme};
use crate::ui::state::{strip_scheme, App};
use crate::vocab::RegistrationState;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use std::time::Instant;

pub fn render(frame: &mut Frame, area: Rect, app: &App, now: Instant, roomy: bool) {
    let width = area.width as usize;
    // The registration state matters most: it gets its room first (up to two thirds of the
    // line, so a long reason cannot push the account out); the account gets the rest.
    let status = text::truncate(&status(app, now), width * 2 / 3);
    let right = vec![
        Span::styled(status.clone(), status_style(app)),
        Span::raw(" "),
    ];
    let title = " sipterm ";
    let room = width.saturating_sub(text::width(&status) + text::width(title) + 4);
    let account = match &app.account {
        Some(a) if a.account.trim().is_empty() => format!(
            "no account  {} {}",
            transport_label(&a.transport),
            a.local_sip
        ),
        Some(a) if roomy => format!(
            "{}  {} {}{} → {}",
            strip_scheme(&a.account),
            transport_label(&a.transport),
            a.local_sip,
            public_sip(app),
            strip_scheme(&a.registrar)
        ),
        Some(a) if a.profile.is_none() => format!(
            "{} · {}",
            strip_scheme(&a.account),
            transport_label(&a.transport)
        ),
        Some(a) => {
            // The profile's name costs room: the account gives it up, the transport
            // (and its lock) stays.
            let transport = format!(" · {}", transport_label(&a.transport));
            let tag = profile_tag(app);
            let left = room.saturating_sub(text::width(&tag) + text::width(&transport));
            format!(
                "{tag}{}{transport}",
                text::truncate(strip_scheme(&a.account), left)
            )
        }
        None => "starting…".to_string(),
    };
    let account = match &app.account {
        Some(a) if roomy || a.account.trim().is_empty() => format!("{}{account}", profile_tag(app)),
        _ => account,
    };
    // A suite's progress is what its runner watches: on a narrow screen it takes the
    // account's place.
    let account = match &app.suite {
        Some(s) if roomy => format!("{} · {account}", suite_words(s)),
        Some(s) => short_suite_words(s),
        None => account,
    };
    let left = vec![
        Span::styled(title, theme::title()),
        Span::raw(" "),
        Span::styled(text::truncate(&account, room), theme::strong()),
    ];
    let line = text::spread(left, right, width);
    frame.render_widget(Paragraph::new(line), area);
}

/// `test 12/20: 11 passed, 1 failed, 5 running`: a suite's progress comes first, since the
/// person running it watches that.
fn suite_words(s: &crate::ui::state::SuiteView) -> String {
    let mut words = format!("test {}/{}: {} passed", s.done, s.total, s.passed);
    if s.failed > 0 {
        words += &format!(", {} failed", s.failed);
    }
    if s.undecided > 0 {
        words += &format!(", {} undecided", s.undecided);
    }
    if s.running > 0 {
        words += &format!(", {} running", s.running);
    }
    words
}

/// `test 12/20 ✔11 ✘1 ▶5`: the same in the room an 80-column header leaves.
fn short_suite_words(s: &crate::ui::state::SuiteView) -> String {
    let mut words = format!("test {}/{} ✔{}", s.done, s.total, s.passed);
    if s.failed > 0 {
        words += &format!(" ✘{}", s.failed);
    }
    if s.undecided > 0 {
        words += &format!(" ?{}", s.undecided);
    }
    if s.running > 0 {
        words += &format!(" ▶{}", s.running);
    }
    words
}

/// `[work] ` when a config-file profile is in use: several accounts may share a host.
fn profile_tag(app: &App) -> String {
    match app.account.as_ref().and_then(|a| a.profile.as_deref()) {
        Some(profile) => format!("[{profile}] "),
        None => String::new(),
    }
}

/// `UDP`, `TCP`, or `🔒 TLS`: the lock says the signalling is encrypted.
fn transport_label(transport: &str) -> String {
    let name = transport.to_uppercase();
    if name == "TLS" {
        format!("🔒 {name}")
    } else {
        name
    }
}

/// ` (NAT: 203.0.113.1:5070)` when the registrar sees us elsewhere than our own address.
fn public_sip(app: &App) -> String {
    match (&app.public_sip, &app.account) {
        (Some(public), Some(a)) if *public != a.local_sip => format!(" (NAT: {public})"),
        _ => String::new(),
    }
}

fn status_style(app: &App) -> ratatui::style::Style {
    theme::registration(app.registration.as_ref().map(|r| r.state))
}

/// `● registered · refresh in 43:59`, `◌ retrying in 0:08: no answer from the registrar`, …
fn status(app: &App, now: Instant) -> String {
    let Some(reg) = &app.registration else {
        if app
            .account
            .as_ref()
            .is_some_and(|a| a.account.trim().is_empty())
        {
            return "○ no account, nothing to register".into();
        }
        return "○ not registered yet".into();
    };
    let reason = reg
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    match reg.state {
        RegistrationState::Registering if reg.reason.is_some() => {
            format!("◌ registering again{reason}")
        }
        RegistrationState::Registering => "◌ registering…".into(),
        RegistrationState::Retrying => match reg.retry_at {
            Some(t) if t > now => format!("◌ retrying in {}{reason}", duration(t - now)),
            Some(_) => format!("◌ retrying now{reason}"),
            None => format!("◌ retrying{reason}"),
        },
        RegistrationState::Failed => format!("✖ registration failed{reason}"),
        RegistrationState::Unregistering => "◌ unregistering…".into(),
        RegistrationState::Unregistered => format!("○ unregistered{reason}"),
        RegistrationState::Registered => match reg.refresh_at {
            Some(t) if t > now => {
                format!("● registered · refresh in {}", duration(t - now))
            }
            Some(_) => "● registered · refreshing…".into(),
            None => "● registered".into(),
        },
    }
}
