//! Small text helpers for the widgets: word-wrapping with a hanging indent, cutting a string to
//! a width with an ellipsis, and spreading spans across a line. Widths are terminal cells
//! (`unicode-width`), so emoji and CJK names line up.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Cuts `s` to at most `max` cells, ending in `…` when something was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `s` cut or padded with spaces to exactly `cells` wide.
pub fn fit(s: &str, cells: usize) -> String {
    let mut out = truncate(s, cells);
    let pad = cells.saturating_sub(width(&out));
    out.extend(std::iter::repeat_n(' ', pad));
    out
}

/// Word-wraps `text` after a `prefix` (time, tag …); continuation lines are indented by the
/// prefix's width so the text forms a column. Newlines in `text` start a new row (SIP messages
/// in `--verbose` logs are multi-line); words longer than a line are broken.
pub fn wrap<'a>(prefix: Vec<Span<'a>>, text: &str, style: Style, max: usize) -> Vec<Line<'a>> {
    let indent: usize = prefix.iter().map(|s| s.width()).sum();
    let room = max.saturating_sub(indent).max(1);
    let mut rows: Vec<String> = Vec::new();
    for paragraph in text.trim_end().lines() {
        rows.push(String::new());
        for word in paragraph.split_whitespace() {
            place(&mut rows, word, room);
        }
    }
    if rows.is_empty() {
        rows.push(String::new());
    }
    let mut lines = Vec::with_capacity(rows.len());
    let mut prefix = Some(prefix);
    for row in rows {
        let mut spans = prefix
            .take()
            .unwrap_or_else(|| vec![Span::raw(" ".repeat(indent))]);
        spans.push(Span::styled(row, style));
        lines.push(Line::from(spans));
    }
    lines
}

/// Puts `word` on the last row if it fits, else on new rows (broken when wider than a row).
fn place(rows: &mut Vec<String>, word: &str, room: usize) {
    let row_width = rows.last().map_or(0, |r| width(r));
    let gap = usize::from(row_width > 0);
    if row_width + gap + width(word) <= room {
        if let Some(row) = rows.last_mut() {
            if gap == 1 {
                row.push(' ');
            }
            row.push_str(word);
        }
        return;
    }
    if row_width > 0 {
        rows.push(String::new());
    }
    for c in word.chars() {
        let row_width = rows.last().map_or(0, |r| width(r));
        if row_width + c.width().unwrap_or(0) > room {
            rows.push(String::new());
        }
        if let Some(row) = rows.last_mut() {
            row.push(c);
        }
    }
}

/// The last `height` lines of what `items` render to, newest last. Wraps only as many items
/// as fit, newest first, so a long history costs nothing.
pub fn tail<'a, T: 'a>(
    items: impl DoubleEndedIterator<Item = T>,
    height: usize,
    mut render: impl FnMut(T) -> Vec<Line<'a>>,
) -> Vec<Line<'a>> {
    let mut out: Vec<Line<'a>> = Vec::new();
    for item in items.rev() {
        if out.len() >= height {
            break;
        }
        let lines = render(item);
        out.extend(lines.into_iter().rev());
    }
    out.truncate(height);
    out.reverse();
    out
}

/// Spans on the left, spans on the right, spaces between (the right side wins when short).
pub fn spread<'a>(left: Vec<Span<'a>>, right: Vec<Span<'a>>, max: usize) -> Line<'a> {
    let used: usize = left.iter().chain(&right).map(|s| s.width()).sum();
    let mut spans = left;
    spans.push(Span::raw(" ".repeat(max.saturating_sub(used))));
    spans.extend(right);
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn wraps_words_under_a_hanging_indent() {
        let lines = wrap(
            vec![Span::raw("12:00 ")],
            "the quick brown fox jumps",
            Style::default(),
            16,
        );
        assert_eq!(
            plain(&lines),
            ["12:00 the quick", "      brown fox", "      jumps"]
        );
    }

    #[test]
    fn newlines_start_new_rows() {
        let lines = wrap(
            vec![Span::raw("> ")],
            "INVITE x\r\nVia: y\r\n",
            Style::default(),
            20,
        );
        assert_eq!(plain(&lines), ["> INVITE x", "  Via: y"]);
    }

    #[test]
    fn breaks_words_longer_than_the_line() {
        let lines = wrap(vec![], "abcdefghij", Style::default(), 4);
        assert_eq!(plain(&lines), ["abcd", "efgh", "ij"]);
    }

    #[test]
    fn truncates_with_an_ellipsis_by_cells() {
        assert_eq!(truncate("hello world", 8), "hello w…");
        assert_eq!(truncate("hi", 8), "hi");
        assert_eq!(fit("hi", 4), "hi  ");
        assert_eq!(width(&truncate("📞📞📞", 5)), 5);
    }

    #[test]
    fn tail_keeps_the_newest_lines() {
        let items = ["a b", "c", "d e f"];
        let lines = tail(items.iter(), 3, |s| {
            s.split(' ').map(|w| Line::from(w.to_string())).collect()
        });
        assert_eq!(plain(&lines), ["d", "e", "f"]);
    }
}
