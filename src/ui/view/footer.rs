//! The footer: a status line (the latest notice, or why we are waiting) above the keys that
//! work right now. Keys that would only earn a notice are not listed. While a prompt is open
//! (dial, transfer) its input line sits between the two.

use super::{text, theme};
use crate::ui::keys::footer_keys;
use crate::ui::state::{App, Overlay, Prompt};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use std::time::Instant;

/// Dropped first when the keys do not fit the width, in this order.
const EXPENDABLE: [&str; 8] = ["l", "Tab", "v", "0-9*#", "t", "o", "d", "b"];

/// Lines the footer takes: the prompt's input line comes on top of the usual two.
pub fn height(app: &App) -> u16 {
    if matches!(app.overlay, Overlay::Prompt(_)) {
        3
    } else {
        2
    }
}

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
    let mut lines = vec![status];
    if let Overlay::Prompt(p) = &app.overlay {
        lines.push(prompt_line(p, width));
    }
    lines.push(Line::from(spans));
    frame.render_widget(Paragraph::new(lines), area);
}

/// ` dial: 1001▏`, scrolled so the cursor stays in view when the text is wider than the line.
fn prompt_line(p: &Prompt, width: usize) -> Line<'static> {
    let label = format!(" {}: ", p.label());
    let (before, after) = p.split();
    let room = width.saturating_sub(text::width(&label) + 1);
    let before = if text::width(before) > room {
        // Keep the end next to the cursor: cut from the left.
        let keep: String = before.chars().rev().collect();
        let keep = text::truncate(&keep, room);
        keep.chars().rev().collect()
    } else {
        before.to_string()
    };
    let after = text::truncate(after, room.saturating_sub(text::width(&before)));
    Line::from(vec![
        Span::styled(label, theme::strong()),
        Span::raw(before),
        Span::styled("▏", theme::good()),
        Span::raw(after),
    ])
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
