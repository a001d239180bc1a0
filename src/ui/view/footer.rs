//! The footer: a status line (the latest notice, or why we are waiting) above the keys that
//! work right now. Keys that would only earn a notice are not listed.

use super::{text, theme};
use crate::ui::keys::footer_keys;
use crate::ui::state::App;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use std::time::Instant;

/// Dropped first when the keys do not fit the width, in this order.
const EXPENDABLE: [&str; 4] = ["l", "Tab", "v", "b"];

pub fn render(frame: &mut Frame, area: Rect, app: &App, now: Instant) {
    let width = area.width as usize;
    let status = status_line(app, now, width);
    let mut keys = footer_keys(app, now);
    let cells = |keys: &[(&str, &str)]| -> usize {
        keys.iter()
            .map(|(k, label)| text::width(k) + text::width(label) + 4)
            .sum::<usize>()
            + 1
    };
    for drop in EXPENDABLE {
        if cells(&keys) <= width {
            break;
        }
        keys.retain(|(k, _)| *k != drop);
    }
    let mut spans = vec![Span::raw(" ")];
    for (key, label) in keys {
        spans.push(Span::styled(format!(" {key} "), theme::key()));
        spans.push(Span::styled(format!(" {label} "), theme::label()));
    }
    frame.render_widget(Paragraph::new(vec![status, Line::from(spans)]), area);
}

fn status_line(app: &App, now: Instant, width: usize) -> Line<'static> {
    let (text, style) = if let Some(notice) = app.notice_text(now) {
        (format!(" ▸ {notice}"), theme::warn())
    } else if app.stopped {
        (" engine stopped".to_string(), theme::dim())
    } else if app.quitting {
        (
            " ⏳ quitting: hanging up calls and unregistering…".to_string(),
            theme::warn(),
        )
    } else if app.registration_failed {
        let reason = app
            .registration
            .as_ref()
            .and_then(|r| r.reason.clone())
            .unwrap_or_else(|| "the registrar refused us".into());
        (format!(" ✖ not registered: {reason}"), theme::bad())
    } else {
        return Line::default();
    };
    Line::styled(text::truncate(&text, width), style)
}
