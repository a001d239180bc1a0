//! Pop-ups drawn over the screen: the help (every key) and the quit question.

use super::{text, theme};
use crate::ui::keys::HELP;
use crate::ui::state::App;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;

pub fn render_help(frame: &mut Frame, area: Rect) {
    let key_width = HELP.iter().map(|(k, _)| text::width(k)).max().unwrap_or(0);
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!(" {key:>key_width$} "), theme::key()),
                Span::raw(format!("  {what}")),
            ])
        })
        .collect();
    lines.push(Line::default());
    lines.push(Line::styled(
        "A key that cannot act right now says why in the footer.",
        theme::dim(),
    ));
    let height = lines.len() as u16 + 2;
    let popup = area.centered(Constraint::Max(64), Constraint::Length(height));
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme::border(true))
        .title(Line::styled(" Keys ", theme::strong()).centered())
        .title_bottom(Line::styled(" Esc closes ", theme::dim()).centered());
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        popup,
    );
}

pub fn render_confirm(frame: &mut Frame, area: Rect, app: &App) {
    let live = app.live_calls().count();
    let calls = if live == 1 {
        "1 call is".to_string()
    } else {
        format!("{live} calls are")
    };
    let lines = vec![
        Line::from(format!("{calls} still up.")),
        Line::from("Hang up, unregister and quit?"),
        Line::default(),
        Line::from(vec![
            Span::styled(" y ", theme::key()),
            Span::raw(" yes, quit    "),
            Span::styled(" n ", theme::key()),
            Span::raw(" no, stay"),
        ]),
    ];
    let popup = area.centered(Constraint::Length(40), Constraint::Length(6));
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme::warn())
        .title(Line::styled(" Quit? ", theme::warn()).centered());
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block).centered(), popup);
}
