//! A terminal screen captured with colours (`tmux capture-pane -e -p`) as a self-contained
//! HTML page laid out on the terminal's cell grid, for headless Chromium to turn into a PNG
//! (scripts/screenshots.sh). Wide characters (emoji, CJK) get two cells, as tmux gave them,
//! so borders to their right stay aligned whatever width the fallback font's glyph has.

use std::fmt::Write as _;
use std::sync::Once;

/// Font size and line height in CSS pixels. DejaVu Sans Mono advances 1233/2048 em per cell,
/// so 16.61 px makes a cell 10 px wide: whole pixels, so a run of `█` has no seams.
const FONT_PX: f64 = 16.61;
const LINE_PX: u32 = 19;
const ADVANCE_EM: f64 = 1233.0 / 2048.0;
const PAD_PX: u32 = 10;

/// The default foreground and background (a dark terminal theme).
const DEFAULT_FG: &str = "#cccccc";
const DEFAULT_BG: &str = "#1e1e1e";

/// The 16 ANSI colours (VS Code's dark terminal palette).
const PALETTE: [&str; 16] = [
    "#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5",
    "#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Colour {
    Indexed(u8),
    Rgb(u8, u8, u8),
}

impl Colour {
    fn css(self) -> String {
        match self {
            Colour::Indexed(n) if n < 16 => PALETTE[n as usize].to_owned(),
            Colour::Indexed(n) if n < 232 => {
                // The xterm 6x6x6 cube.
                let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
                let n = n - 16;
                format!(
                    "#{:02x}{:02x}{:02x}",
                    level(n / 36),
                    level((n / 6) % 6),
                    level(n % 6)
                )
            }
            Colour::Indexed(n) => {
                let grey = 8 + 10 * (n - 232);
                format!("#{grey:02x}{grey:02x}{grey:02x}")
            }
            Colour::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        }
    }
}

/// The SGR state of a cell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Style {
    fg: Option<Colour>,
    bg: Option<Colour>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
    blink: bool,
    reverse: bool,
    hidden: bool,
    strike: bool,
}

impl Style {
    /// Applies one `ESC [ ... m` parameter list (`;`-separated, `:` sub-parameters).
    fn apply(&mut self, params: &str) {
        let list: Vec<&str> = if params.is_empty() {
            vec!["0"]
        } else {
            params.split(';').collect()
        };
        let mut i = 0;
        while i < list.len() {
            let param = list[i];
            let mut sub = param.split(':');
            let code: u16 = sub.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            match code {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                // `4:0` is "no underline"; 4:1..4:5 are its styles.
                4 => self.underline = sub.next() != Some("0"),
                5 | 6 => self.blink = true,
                7 => self.reverse = true,
                8 => self.hidden = true,
                9 => self.strike = true,
                21 => self.underline = true,
                22 => {
                    self.bold = false;
                    self.dim = false;
                }
                23 => self.italic = false,
                24 => self.underline = false,
                25 => self.blink = false,
                27 => self.reverse = false,
                28 => self.hidden = false,
                29 => self.strike = false,
                30..=37 => self.fg = Some(Colour::Indexed((code - 30) as u8)),
                39 => self.fg = None,
                40..=47 => self.bg = Some(Colour::Indexed((code - 40) as u8)),
                49 => self.bg = None,
                90..=97 => self.fg = Some(Colour::Indexed((code - 90 + 8) as u8)),
                100..=107 => self.bg = Some(Colour::Indexed((code - 100 + 8) as u8)),
                38 | 48 | 58 => {
                    // Either `38;5;n` / `38;2;r;g;b` or the colon form `38:5:n` / `38:2::r:g:b`.
                    let rest: Vec<&str> = sub.collect();
                    let (values, used): (Vec<&str>, usize) = if rest.is_empty() {
                        let kind = list.get(i + 1).copied().unwrap_or("");
                        let count = if kind == "5" { 1 } else { 3 };
                        let end = (i + 2 + count).min(list.len());
                        let mut v = vec![kind];
                        v.extend_from_slice(&list[(i + 2).min(list.len())..end]);
                        (v, end - i - 1)
                    } else {
                        // Drop the colour-space id in `38:2:<id>:r:g:b`.
                        let mut v = rest.clone();
                        if v.first() == Some(&"2") && v.len() == 5 {
                            v.remove(1);
                        }
                        (v, 0)
                    };
                    i += used;
                    let num = |k: usize| values.get(k).and_then(|s| s.parse::<u8>().ok());
                    let colour = match values.first().copied() {
                        Some("5") => num(1).map(Colour::Indexed),
                        Some("2") => match (num(1), num(2), num(3)) {
                            (Some(r), Some(g), Some(b)) => Some(Colour::Rgb(r, g, b)),
                            _ => None,
                        },
                        _ => None,
                    };
                    match code {
                        38 => self.fg = colour,
                        48 => self.bg = colour,
                        _ => {} // underline colour: not drawn
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }

    fn css(&self) -> String {
        let mut fg = self.fg.map(Colour::css);
        let mut bg = self.bg.map(Colour::css);
        // Bold text in one of the 8 base colours shows as its bright variant, as terminals do.
        if self.bold {
            if let Some(Colour::Indexed(n)) = self.fg {
                if n < 8 {
                    fg = Some(PALETTE[n as usize + 8].to_owned());
                }
            }
        }
        if self.reverse {
            let new_fg = bg.unwrap_or_else(|| DEFAULT_BG.to_owned());
            let new_bg = fg.unwrap_or_else(|| DEFAULT_FG.to_owned());
            fg = Some(new_fg);
            bg = Some(new_bg);
        }
        if self.hidden {
            fg = Some(bg.clone().unwrap_or_else(|| DEFAULT_BG.to_owned()));
        }
        let mut css = String::new();
        if let Some(fg) = fg {
            let _ = write!(css, "color:{fg};");
        }
        if let Some(bg) = bg {
            let _ = write!(css, "background:{bg};");
        }
        if self.bold {
            css.push_str("font-weight:bold;");
        }
        if self.dim {
            css.push_str("opacity:0.6;");
        }
        if self.italic {
            css.push_str("font-style:italic;");
        }
        match (self.underline, self.strike) {
            (true, true) => css.push_str("text-decoration:underline line-through;"),
            (true, false) => css.push_str("text-decoration:underline;"),
            (false, true) => css.push_str("text-decoration:line-through;"),
            (false, false) => {}
        }
        css
    }
}

/// How many cells tmux gives `c`: glibc's `wcwidth` in a UTF-8 locale, which is what tmux
/// (built without utf8proc, as Debian's is) uses; 0 for combining marks and variation
/// selectors, which join the previous cell.
pub fn cell_width(c: char) -> usize {
    if c.is_ascii() {
        return usize::from(!c.is_ascii_control());
    }
    extern "C" {
        fn setlocale(category: i32, locale: *const std::ffi::c_char) -> *mut std::ffi::c_char;
        fn wcwidth(c: i32) -> i32;
    }
    const LC_CTYPE: i32 = 0; // glibc's value
    static LOCALE: Once = Once::new();
    LOCALE.call_once(|| {
        // SAFETY: a NUL-terminated literal; set once, before any wcwidth call, and nothing
        // else in the test process reads LC_CTYPE.
        unsafe {
            setlocale(LC_CTYPE, c"C.UTF-8".as_ptr());
        }
    });
    // SAFETY: wcwidth only reads the locale's tables; any code point is a valid argument.
    let width = unsafe { wcwidth(c as i32) };
    usize::try_from(width).unwrap_or(1)
}

/// Characters DejaVu Sans Mono draws at exactly one cell (box drawing, blocks, Latin...);
/// everything else is boxed to its cell width so a fallback font cannot shift the line.
fn fits_the_grid(c: char) -> bool {
    (c as u32) < 0x2000 || ('\u{2500}'..='\u{259f}').contains(&c)
}

fn escape(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        _ => out.push(c),
    }
}

/// One screen line as (style, cell text, cell width) runs.
fn parse(ansi: &str) -> Vec<Vec<(Style, String, usize)>> {
    let mut style = Style::default();
    let mut lines = Vec::new();
    for raw in ansi.split('\n') {
        let mut cells: Vec<(Style, String, usize)> = Vec::new();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                match chars.next() {
                    Some('[') => {
                        let mut params = String::new();
                        let mut end = None;
                        for p in chars.by_ref() {
                            if ('\u{40}'..='\u{7e}').contains(&p) {
                                end = Some(p);
                                break;
                            }
                            params.push(p);
                        }
                        if end == Some('m') {
                            style.apply(&params);
                        }
                    }
                    // OSC (hyperlinks): skip to BEL or ESC \.
                    Some(']') => {
                        while let Some(p) = chars.next() {
                            if p == '\u{7}' || (p == '\u{1b}' && chars.next_if_eq(&'\\').is_some())
                            {
                                break;
                            }
                        }
                    }
                    _ => {}
                }
                continue;
            }
            if c == '\r' {
                continue;
            }
            let width = cell_width(c);
            match (width, cells.last_mut()) {
                (0, Some(last)) => last.1.push(c),
                (0, None) => {}
                _ => cells.push((style, c.to_string(), width)),
            }
        }
        lines.push(cells);
    }
    // capture-pane ends with a newline: no empty last row.
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// The page's size in CSS pixels for a `columns` x `rows` terminal: the window size to give
/// Chromium.
pub fn page_size(columns: u16, rows: u16) -> (u32, u32) {
    let width = (f64::from(columns) * FONT_PX * ADVANCE_EM).ceil() as u32 + 2 * PAD_PX;
    (width, u32::from(rows) * LINE_PX + 2 * PAD_PX)
}

/// The captured screen as an HTML page of `columns` x `rows` cells. The first line is a
/// comment `<!-- window-size: W,H -->` with [`page_size`], for the screenshot tool.
pub fn to_html(ansi: &str, columns: u16, rows: u16, title: &str) -> String {
    let (width, height) = page_size(columns, rows);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!-- window-size: {width},{height} -->\n<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
         <title>"
    );
    title.chars().for_each(|c| escape(&mut html, c));
    let _ = write!(
        html,
        "</title><style>\n\
         html,body{{margin:0;background:{DEFAULT_BG};overflow:hidden}}\n\
         pre{{margin:0;padding:{PAD_PX}px;width:{columns}ch;height:{rows_px}px;\
         font-family:'DejaVu Sans Mono','Noto Color Emoji',monospace;font-size:{FONT_PX}px;\
         line-height:{LINE_PX}px;color:{DEFAULT_FG};background:{DEFAULT_BG};\
         font-variant-ligatures:none}}\n\
         pre span{{line-height:{LINE_PX}px;display:inline-block;height:{LINE_PX}px;\
         vertical-align:top}}\n\
         .c{{overflow:hidden;text-align:center}}\n\
         </style></head><body><pre>",
        rows_px = u32::from(rows) * LINE_PX
    );
    for (n, line) in parse(ansi).iter().take(usize::from(rows)).enumerate() {
        if n > 0 {
            html.push('\n');
        }
        let mut at = 0;
        while at < line.len() {
            let style = line[at].0;
            let css = style.css();
            let _ = write!(html, "<span style=\"{css}\">");
            while at < line.len() && line[at].0 == style {
                let (_, text, width) = &line[at];
                let first = text.chars().next().unwrap_or(' ');
                if fits_the_grid(first) && *width == 1 {
                    text.chars().for_each(|c| escape(&mut html, c));
                } else {
                    let _ = write!(html, "<span class=\"c\" style=\"width:{width}ch\">");
                    text.chars().for_each(|c| escape(&mut html, c));
                    html.push_str("</span>");
                }
                at += 1;
            }
            html.push_str("</span>");
        }
    }
    html.push_str("</pre></body></html>\n");
    html
}
