//! The SIP trace: the selected call's messages as a ladder (time, an arrow for the direction,
//! the request or status line), and one message in full on Enter.

use super::{text, theme};
use crate::ui::state::{App, SipEntry, TraceView};
use crate::vocab::SipDirection;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph};
use ratatui::Frame;
use std::collections::VecDeque;

pub fn render(frame: &mut Frame, area: Rect, app: &App, view: &TraceView, roomy: bool) {
    let empty = VecDeque::new();
    let messages = app.sip_messages(view.call).unwrap_or(&empty);
    let whose = match view.call.and_then(|id| app.calls.get(&id)) {
        Some(c) => format!("call {} · {}", c.id, c.who()),
        None => "outside calls (REGISTER, OPTIONS)".to_string(),
    };
    let selected = view
        .selected
        .unwrap_or(messages.len().saturating_sub(1))
        .min(messages.len().saturating_sub(1));
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme::border(true));
    match messages.get(selected).filter(|_| view.full) {
        Some(entry) => {
            let title = format!(
                " {} · {} of {} ",
                entry.label(),
                selected + 1,
                messages.len()
            );
            let block = block
                .title(Line::styled(title, theme::strong()))
                .title_bottom(Line::styled(where_when(app, entry), theme::dim()));
            let inner = block.inner(area);
            frame.render_widget(block, area);
            full(frame, inner, entry, view.scroll);
        }
        None => {
            let title = format!(" SIP trace · {whose} · {} messages ", messages.len());
            let block = block.title(Line::styled(title, theme::strong()));
            let inner = block.inner(area);
            frame.render_widget(block, area);
            ladder(frame, inner, app, messages, selected, roomy);
        }
    }
}

fn where_when(app: &App, entry: &SipEntry) -> String {
    let way = match entry.direction {
        SipDirection::Sent => "sent to",
        SipDirection::Received => "received from",
    };
    let at = app.clock.hms_millis(entry.at);
    match entry.peer.as_deref() {
        Some(peer) => format!(" {way} {peer} at {at} "),
        None => format!(" {} at {at} ", way.split(' ').next().unwrap_or(way)),
    }
}

fn ladder(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    messages: &VecDeque<SipEntry>,
    selected: usize,
    roomy: bool,
) {
    let width = area.width as usize;
    let arrow_len = if roomy { 20 } else { 6 };
    // Column heads over the two ends of the arrows: us on the left bar, the peer on the right.
    let us = if arrow_len >= 8 { "sipterm" } else { "us" };
    let mut lines = vec![Line::styled(
        format!(
            " {:<13}{:<w$}{:<6}message",
            "time",
            us,
            "peer",
            w = arrow_len + 1
        ),
        theme::dim(),
    )];
    if messages.is_empty() {
        lines.push(Line::styled(" no SIP messages yet", theme::dim()));
        frame.render_widget(Paragraph::new(lines), area);
        return;
    }
    let rows = (area.height as usize).saturating_sub(1).max(1);
    // Keep the highlighted row in view, preferring to show the newest messages.
    let start = (selected + 1).saturating_sub(rows).min(messages.len() - 1);
    for (i, entry) in messages.iter().enumerate().skip(start).take(rows) {
        let arrow = match entry.direction {
            SipDirection::Sent => format!("{}▶", "─".repeat(arrow_len - 1)),
            SipDirection::Received => format!("◀{}", "─".repeat(arrow_len - 1)),
        };
        let arrow_style = match entry.direction {
            SipDirection::Sent => Style::new().fg(ratatui::style::Color::Cyan),
            SipDirection::Received => Style::new().fg(ratatui::style::Color::Magenta),
        };
        let label = entry.label();
        let peer = entry.peer.clone().unwrap_or_default();
        let fixed = 1 + 12 + 2 + arrow_len + 2 + 2;
        let room = width.saturating_sub(fixed);
        let show_peer = roomy && room > text::width(&label) + text::width(&peer) + 4;
        let mut spans = vec![
            Span::styled(
                format!(" {} ", app.clock.hms_millis(entry.at)),
                theme::dim(),
            ),
            Span::styled("│", theme::dim()),
            Span::styled(arrow, arrow_style),
            Span::styled("│", theme::dim()),
            Span::raw("  "),
        ];
        let label_style = if label.starts_with(|c: char| c.is_ascii_digit()) {
            status_style(&label)
        } else {
            theme::strong()
        };
        if show_peer {
            spans.push(Span::styled(
                text::fit(&label, room - text::width(&peer) - 2),
                label_style,
            ));
            spans.push(Span::styled(format!("  {peer}"), theme::dim()));
        } else {
            spans.push(Span::styled(text::truncate(&label, room), label_style));
        }
        let mut line = Line::from(spans);
        if i == selected {
            line = line.style(theme::highlight());
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// Provisional grey, success green, redirects and failures in warning colours.
fn status_style(label: &str) -> Style {
    match label.as_bytes().first() {
        Some(b'1') => theme::label(),
        Some(b'2') => theme::good(),
        Some(b'3') => theme::warn(),
        _ => theme::bad(),
    }
}

fn full(frame: &mut Frame, area: Rect, entry: &SipEntry, scroll: u16) {
    let mut in_body = false;
    let mut lines: Vec<Line> = Vec::new();
    for (n, raw) in entry.text.lines().enumerate() {
        let line = if n == 0 {
            Line::styled(raw.to_string(), theme::strong())
        } else if in_body {
            Line::styled(raw.to_string(), theme::label())
        } else if raw.is_empty() {
            in_body = true;
            Line::default()
        } else if let Some((name, value)) = raw.split_once(':') {
            Line::from(vec![
                Span::styled(
                    name.to_string(),
                    Style::new().fg(ratatui::style::Color::Cyan),
                ),
                Span::raw(format!(":{value}")),
            ])
        } else {
            Line::raw(raw.to_string())
        };
        lines.push(line);
    }
    let max_scroll = (lines.len() as u16).saturating_sub(area.height);
    frame.render_widget(
        Paragraph::new(lines).scroll((scroll.min(max_scroll), 0)),
        area,
    );
}
