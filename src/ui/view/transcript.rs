//! The transcript pane: what the caller and the AI said, newest at the bottom, each line
//! tagged with time, call and speaker; a line still being spoken ends in a cursor.

use super::{text, theme};
use crate::ui::state::{App, TranscriptLine};
use crate::vocab::Speaker;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph};
use ratatui::Frame;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme::dim())
        .title(Line::from(vec![
            Span::raw(" "),
            Span::styled("Transcript", theme::strong()),
            Span::raw(" "),
        ]));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let lines = if app.transcript.is_empty() {
        vec![Line::styled(
            "Nothing said yet. Bridged calls show the caller and the AI here.",
            theme::dim(),
        )]
    } else {
        text::tail(app.transcript.iter(), inner.height as usize, |l| {
            line(app, l, width)
        })
    };
    frame.render_widget(Paragraph::new(lines), inner);
}

fn line<'a>(app: &App, l: &TranscriptLine, width: usize) -> Vec<Line<'a>> {
    // On a call we placed (the AI caller's), the far end is the one we called.
    let placed = app
        .calls
        .get(&l.call)
        .is_some_and(|c| c.direction == crate::vocab::Direction::Outgoing);
    let who = match l.speaker {
        Speaker::Caller if placed => "callee",
        Speaker::Caller => "caller",
        Speaker::Ai => "AI",
        Speaker::System => "note",
    };
    let prefix = vec![
        Span::styled(format!("{} ", app.clock.hms(l.at)), theme::dim()),
        Span::styled(format!("{:<3}", l.call.to_string()), theme::label()),
        Span::styled(format!("{who:>7} "), theme::speaker(l.speaker)),
    ];
    let mut said = l.text.trim().to_string();
    if said.is_empty() && !l.done {
        // A caller turn opens before its transcription arrives.
        said.push_str("transcribing…");
    }
    if !l.done {
        said.push_str(" ▍");
    }
    let style = match l.speaker {
        Speaker::System => theme::speaker(Speaker::System),
        _ => ratatui::style::Style::new(),
    };
    text::wrap(prefix, &said, style, width)
}
