//! sipterm's full-screen UI under tmux, as the UI tests, the screenshots and the idle-CPU
//! figure drive it: the command line that registers at a Kamailio without `--headless`, and
//! what to look for on the screen and in sipp's trace.

use super::kamailio::Kamailio;
use super::realtime_mock::RealtimeMock;
use super::sipp::Transport;
use super::sipterm::{binary, registered_args};
use super::tmux::Tmux;

/// The sipterm binary and the arguments that register `user` at `kamailio` on free ports,
/// in the TUI (no `--headless`: in a terminal that picks the full-screen UI), then `extra`.
pub fn tui_command(kamailio: &Kamailio, user: &str, password: &str, extra: &[&str]) -> Vec<String> {
    let mut command = vec![binary().display().to_string()];
    command.extend(
        registered_args(kamailio, user, password, Transport::Udp)
            .into_iter()
            .filter(|a| a != "--headless"),
    );
    command.extend(extra.iter().map(|s| s.to_string()));
    command
}

/// sipterm in the TUI as alice-like `user`, echoing audio, with its voice bridge pointed at
/// `mock` and the mock's key in the environment, in a tmux terminal of `size`.
pub fn bridged_tui(
    kamailio: &Kamailio,
    (user, password): (&str, &str),
    mock: &RealtimeMock,
    size: (u16, u16),
) -> Tmux {
    let command = tui_command(
        kamailio,
        user,
        password,
        &["--audio", "echo", "--realtime-url", &mock.url()],
    );
    Tmux::start(size, &command, &[("OPENAI_API_KEY", mock.api_key())])
}

/// Whether the screen shows `word` (ignoring case) at the start of a word, so "registered"
/// does not match "unregistered".
pub fn shows_word(screen: &str, word: &str) -> bool {
    let screen = screen.to_lowercase();
    let word = word.to_lowercase();
    screen.match_indices(&word).any(|(at, _)| {
        !screen[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric)
    })
}

/// Status codes of the responses in a sipp message trace (`SippProcess::messages()`), in
/// order, while sipp still runs.
pub fn statuses_received(messages: &str) -> Vec<u16> {
    statuses(messages, "message received [")
}

/// The status codes of the responses sipp sent, in order, from its message trace.
pub fn statuses_sent(messages: &str) -> Vec<u16> {
    statuses(messages, "message sent")
}

/// The status lines of the messages after each trace header that contains `marker`.
fn statuses(messages: &str, marker: &str) -> Vec<u16> {
    let mut statuses = Vec::new();
    let mut lines = messages.lines();
    while let Some(line) = lines.next() {
        if line.contains(marker) {
            let first = lines.by_ref().map(str::trim).find(|l| !l.is_empty());
            if let Some(status) = first
                .and_then(|l| l.strip_prefix("SIP/2.0 "))
                .and_then(|l| l.get(..3)?.parse().ok())
            {
                statuses.push(status);
            }
        }
    }
    statuses
}

/// Filled cells of the remote party's level meter on screen (see [`meter_cells`]).
pub fn remote_level_cells(screen: &str) -> usize {
    meter_cells(screen, "remote", "R")
}

/// Filled cells of the AI's level meter on screen (see [`meter_cells`]).
pub fn ai_level_cells(screen: &str) -> usize {
    meter_cells(screen, "AI", "A")
}

/// Filled cells of a level meter: the bar after `<label> ▸ ` (padded to 6) in a call panel,
/// or after ` <tag>` in a one-line call; the fullest such bar on screen, 0 when there is
/// none or it is empty. Bars are eighth blocks (`▏`..`█`) on a dotted track (`·`) with a
/// peak mark (`│`).
pub fn meter_cells(screen: &str, label: &str, tag: &str) -> usize {
    let is_meter = |c: char| matches!(c, '\u{2588}'..='\u{258f}' | '·' | '│');
    let is_fill = |c: char| matches!(c, '\u{2588}'..='\u{258f}');
    let panel = format!("{label:<6} ▸ ");
    let compact = format!(" {tag}");
    let mut best = 0;
    for line in screen.lines() {
        let starts = line
            .match_indices(&panel)
            .chain(line.match_indices(&compact))
            .map(|(at, found)| at + found.len());
        for start in starts {
            let bar = line[start..].chars().take_while(|&c| is_meter(c));
            best = best.max(bar.filter(|&c| is_fill(c)).count());
        }
    }
    best
}
