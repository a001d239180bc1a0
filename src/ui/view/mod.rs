//! Drawing: a pure function of `App` and `now` onto a ratatui `Frame`.
//!
//! Layout: header line, calls, then the transcript and log panes, and a two-line footer. Below
//! 120×40 everything is compact (a line per call with short meters, panes stacked); above, each
//! call gets a panel with three meters on a dB scale and the panes sit side by side. Overlays
//! (help, quit question) are drawn last, over the rest; the SIP trace takes the body's place.

mod calls;
mod footer;
mod header;
mod help;
mod log;
mod meter;
mod text;
mod theme;
mod trace;
mod transcript;

use crate::ui::state::{App, Overlay};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Paragraph};
use ratatui::Frame;
use std::time::{Duration, Instant};

/// From this size on, calls get full panels and the panes sit side by side.
const ROOMY_WIDTH: u16 = 120;
const ROOMY_HEIGHT: u16 = 40;

pub fn render(frame: &mut Frame, app: &App, now: Instant) {
    let area = frame.area();
    let roomy = area.width >= ROOMY_WIDTH && area.height >= ROOMY_HEIGHT;
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(footer::height(app)),
    ])
    .areas(area);
    header::render(frame, head, app, now, roomy);
    match &app.overlay {
        Overlay::Trace(view) => trace::render(frame, body, app, view, roomy),
        _ => render_body(frame, body, app, now, roomy),
    }
    footer::render(frame, foot, app, now);
    match app.overlay {
        Overlay::Help => help::render_help(frame, area),
        Overlay::ConfirmQuit => help::render_confirm(frame, area, app),
        _ => {}
    }
}

fn render_body(frame: &mut Frame, area: Rect, app: &App, now: Instant, roomy: bool) {
    let visible = app.visible_calls(now).count() as u16;
    let panels: u16 = app.visible_calls(now).map(calls::panel_height).sum();
    // Panels when they fit in two thirds of the body; otherwise a line per call.
    let use_panels = roomy && visible > 0 && panels <= area.height * 2 / 3;
    let calls_height = if use_panels {
        panels
    } else {
        (visible.max(1) + 2).min(area.height / 2)
    };
    let [calls_area, panes] =
        Layout::vertical([Constraint::Length(calls_height), Constraint::Fill(1)]).areas(area);
    if visible == 0 {
        no_calls(frame, calls_area, app);
    } else if use_panels {
        calls::render_panels(frame, calls_area, app, now);
    } else {
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .border_style(theme::dim())
            .title(Line::styled(" Calls ", theme::strong()));
        let inner = block.inner(calls_area);
        frame.render_widget(block, calls_area);
        calls::render_compact(frame, inner, app, now);
    }
    let show_transcript = !app.transcript.is_empty() || app.live_calls().any(|c| c.bridge);
    if !show_transcript {
        log::render(frame, panes, app);
    } else if roomy {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(panes);
        transcript::render(frame, left, app);
        log::render(frame, right, app);
    } else {
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(panes);
        transcript::render(frame, top, app);
        log::render(frame, bottom, app);
    }
}

fn no_calls(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme::dim())
        .title(Line::styled(" Calls ", theme::strong()));
    let to = app
        .account
        .as_ref()
        .map(|a| crate::ui::state::strip_scheme(&a.account).to_string())
        .unwrap_or_else(|| "this account".into());
    let registered = app
        .registration
        .as_ref()
        .is_some_and(|r| r.state == crate::vocab::RegistrationState::Registered);
    let accountless = app
        .account
        .as_ref()
        .is_some_and(|a| a.account.trim().is_empty());
    let text = if accountless {
        " No calls. Running without an account: d dials a sip: URI.".to_string()
    } else if registered {
        format!(" No calls. Waiting for a call to {to}…")
    } else {
        format!(" No calls. Calls reach {to} once it is registered.")
    };
    let line = Line::styled(text, theme::dim());
    frame.render_widget(Paragraph::new(line).block(block), area);
}

/// A length of time (a call's duration, a countdown) as `m:ss`, or `h:mm:ss` from an hour on.
/// Not a time of day: that is `crate::vocab::clock`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod snapshots;

#[cfg(test)]
mod tests {
    use super::duration;
    use std::time::Duration;

    #[test]
    fn duration_shows_minutes_and_seconds_then_hours() {
        assert_eq!(duration(Duration::from_millis(59_999)), "0:59");
        assert_eq!(duration(Duration::from_secs(61)), "1:01");
        assert_eq!(duration(Duration::from_secs(3599)), "59:59");
        assert_eq!(duration(Duration::from_secs(3600 + 62)), "1:01:02");
    }
}
