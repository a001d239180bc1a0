//! Level meters drawn as text: a bar in eighth-blocks on a dotted track, coloured by loudness,
//! with a peak-hold mark, and the dB scale that goes under a column of bars.

use super::theme;
use crate::ui::state::{fraction, Meter, FLOOR_DBFS};
use ratatui::text::Span;
use std::time::Instant;

const EIGHTHS: [char; 7] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉'];
const TRACK: char = '·';
const PEAK: char = '│';

/// A `width`-cell bar for `meter` at `now`; an absent meter is an empty track.
pub fn bar(meter: Option<&Meter>, now: Instant, width: usize) -> Vec<Span<'static>> {
    let Some(meter) = meter else {
        return vec![Span::styled(TRACK.to_string().repeat(width), theme::dim())];
    };
    let filled = (fraction(meter.rms(now)) * width as f32 * 8.0).round() as usize;
    let peak_db = meter.peak(now);
    let peak_cell = (peak_db > FLOOR_DBFS)
        .then(|| ((fraction(peak_db) * width as f32).ceil() as usize).clamp(1, width) - 1);
    let mut spans: Vec<Span<'static>> = Vec::with_capacity(width);
    for cell in 0..width {
        let cell_db = FLOOR_DBFS * (1.0 - (cell as f32 + 0.5) / width as f32);
        let eighths = filled.saturating_sub(cell * 8).min(8);
        let (ch, style) = if Some(cell) == peak_cell && eighths < 8 {
            (
                PEAK,
                theme::meter(peak_db).add_modifier(ratatui::style::Modifier::BOLD),
            )
        } else if eighths == 8 {
            ('█', theme::meter(cell_db))
        } else if eighths > 0 {
            (EIGHTHS[eighths - 1], theme::meter(cell_db))
        } else {
            (TRACK, theme::dim())
        };
        push(&mut spans, ch, style);
    }
    spans
}

/// Appends a cell, merging it into the previous span when the style matches (fewer spans,
/// same picture).
fn push(spans: &mut Vec<Span<'static>>, ch: char, style: ratatui::style::Style) {
    if let Some(last) = spans.last_mut() {
        if last.style == style {
            last.content.to_mut().push(ch);
            return;
        }
    }
    spans.push(Span::styled(ch.to_string(), style));
}

/// The level as a short figure: `-23 dB`, or `  —  ` for silence/no audio.
pub fn figure(meter: Option<&Meter>, now: Instant) -> String {
    match meter.map(|m| m.rms(now)) {
        Some(db) if db > FLOOR_DBFS => format!("{:>4.0} dB", db),
        _ => "   — dB".to_string(),
    }
}

/// The peak-hold figure: `pk -12`.
pub fn peak_figure(meter: Option<&Meter>, now: Instant) -> String {
    match meter.map(|m| m.peak(now)) {
        Some(db) if db > FLOOR_DBFS => format!("pk {:>3.0}", db),
        _ => "pk   —".to_string(),
    }
}

/// A scale to print under bars of the same width: `-60   -50 … 0 dBFS`, every 10 dB.
pub fn scale(width: usize) -> String {
    let mut cells = vec![' '; width];
    let mut free_from = 0;
    let steps = (-FLOOR_DBFS / 10.0) as i32;
    for step in 0..=steps {
        let db = FLOOR_DBFS as i32 + step * 10;
        let label = db.to_string();
        let pos = (fraction(db as f32) * (width.saturating_sub(1)) as f32).round() as usize;
        let start = if step == 0 {
            0
        } else if step == steps {
            width.saturating_sub(label.len())
        } else {
            pos.saturating_sub(label.len() / 2)
        };
        if start < free_from || start + label.len() > width {
            continue;
        }
        for (i, ch) in label.chars().enumerate() {
            cells[start + i] = ch;
        }
        free_from = start + label.len() + 1;
    }
    cells.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Level;

    fn text(spans: &[Span]) -> String {
        spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn half_scale_fills_half_the_bar_and_marks_the_peak() {
        let now = Instant::now();
        let m = Meter::new(
            Level {
                rms_dbfs: -30.0,
                peak_dbfs: -12.0,
            },
            now,
        );
        assert_eq!(text(&bar(Some(&m), now, 10)), "█████··│··");
    }

    #[test]
    fn no_meter_is_an_empty_track() {
        assert_eq!(text(&bar(None, Instant::now(), 4)), "····");
    }

    #[test]
    fn scale_labels_fit_the_width() {
        let s = scale(31);
        assert_eq!(s.chars().count(), 31);
        assert!(s.starts_with("-60"));
        assert!(s.ends_with('0'));
        assert!(s.contains("-30"));
    }
}
