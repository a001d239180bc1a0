//! The log pane: the engine's log lines, emoji-tagged like the headless output, coloured by
//! level and filtered by the level `l` cycles through.
//!
//! Why not tui-logger (the design card's choice): its widget draws from a process-global
//! logger (`TUI_LOGGER`, fed through the `log` facade) and keeps its scroll state behind a
//! mutex it mutates while rendering. The screen would then depend on global state, rendering
//! would not be a pure function of `App`, and snapshot tests could not pin what the pane
//! shows. The engine already sends every line as `Event::Log`, so `App` keeps a bounded ring
//! of them and this small widget draws it.

use super::{text, theme};
use crate::ui::keys::filter_words;
use crate::ui::state::{passes, App, LogLine};
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
            Span::styled("Log", theme::strong()),
            Span::styled(
                format!(" · {} (l) ", filter_words(app.log_filter)),
                theme::dim(),
            ),
        ]));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let shown = app.log.iter().filter(|l| passes(l.level, app.log_filter));
    let lines = text::tail(shown, inner.height as usize, |l| line(app, l, width));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn line<'a>(app: &App, l: &LogLine, width: usize) -> Vec<Line<'a>> {
    let prefix = vec![
        Span::styled(format!("{} ", app.clock.hms(l.at)), theme::dim()),
        Span::raw(format!("{} ", tag(l.kind))),
    ];
    text::wrap(prefix, &l.message, theme::log_level(l.level), width)
}

/// The headless emoji, made safe for a cell grid: two cells wide on every terminal.
///
/// ⚠️ is U+26A0 plus the emoji variation selector (U+FE0F). Terminals disagree on its width
/// (tmux 3.3 draws one cell, kitty two) while the layout counts two, so wherever they
/// disagree the rest of the row shifts by a cell and leaves debris. Without the selector it
/// is one cell everywhere; a space pads it to the column the other emoji take.
fn tag(kind: crate::vocab::LogKind) -> String {
    let plain: String = crate::frontend::emoji(kind)
        .chars()
        .filter(|c| *c != '\u{FE0F}')
        .collect();
    text::fit(plain.trim_end(), 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::LogKind;

    #[test]
    fn every_tag_is_two_cells_without_variation_selectors() {
        for kind in [
            LogKind::Call,
            LogKind::Audio,
            LogKind::Success,
            LogKind::Error,
            LogKind::Warning,
            LogKind::Startup,
            LogKind::Cleanup,
            LogKind::Stats,
            LogKind::Sip,
        ] {
            let t = tag(kind);
            assert_eq!(text::width(&t), 2, "{kind:?}");
            assert!(!t.contains('\u{FE0F}'), "{kind:?}");
        }
    }
}
