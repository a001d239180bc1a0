//! Transcript lines from GPT-Live's transcript deltas, which carry no turn markers and no
//! `.done` (live-notes §1): a speaker's line ends when that speaker has been quiet for
//! [`LINE_GAP`], or when they speak again after the other speaker did. Closing a line sends
//! its whole text as the final piece, so the TUI, the headless log, the JSON events and the
//! transcript file see the same whole lines as with the Realtime API.

use std::time::{Duration, Instant};

use crate::vocab::Speaker;

/// A pause in one speaker's words this long starts a new line (pipecat and LiveKit use
/// about the same gap to delimit Live turns).
pub const LINE_GAP: Duration = Duration::from_millis(800);

/// One transcript piece for `BridgeEvent::Transcript`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub speaker: Speaker,
    pub text: String,
    pub item: String,
    pub final_: bool,
}

#[derive(Debug)]
struct Line {
    item: String,
    text: String,
    last: Instant,
    /// The other speaker said something after this line's last words.
    other_spoke: bool,
}

/// The open line of each speaker, and a counter that keeps item ids unique across the
/// sessions of one bridge.
#[derive(Debug, Default)]
pub struct Lines {
    caller: Option<Line>,
    ai: Option<Line>,
    made: u64,
}

impl Lines {
    /// A transcript delta from `speaker` at `now`: closes that speaker's previous line when
    /// it has ended, then extends (or opens) the current one.
    pub fn delta(&mut self, speaker: Speaker, text: &str, now: Instant) -> Vec<Piece> {
        let mut out = Vec::new();
        if text.is_empty() {
            return out;
        }
        let ended = self.line(speaker).as_ref().is_some_and(|line| {
            line.other_spoke || now.saturating_duration_since(line.last) >= LINE_GAP
        });
        if ended {
            out.extend(self.close(speaker));
        }
        if self.line(speaker).is_none() {
            self.made += 1;
            let item = format!("live_{}_{}", who(speaker), self.made);
            *self.line(speaker) = Some(Line {
                item,
                text: String::new(),
                last: now,
                other_spoke: false,
            });
        }
        if let Some(line) = self.line(speaker) {
            line.text.push_str(text);
            line.last = now;
            out.push(Piece {
                speaker,
                text: text.to_owned(),
                item: line.item.clone(),
                final_: false,
            });
        }
        if let Some(other) = self.line(other(speaker)) {
            other.other_spoke = true;
        }
        out
    }

    /// Closes the lines whose speaker has been quiet for [`LINE_GAP`] by `now`, the caller's
    /// first so that a question is written before its answer.
    pub fn tick(&mut self, now: Instant) -> Vec<Piece> {
        let mut out = Vec::new();
        for speaker in [Speaker::Caller, Speaker::Ai] {
            let quiet = self
                .line(speaker)
                .as_ref()
                .is_some_and(|l| now.saturating_duration_since(l.last) >= LINE_GAP);
            if quiet {
                out.extend(self.close(speaker));
            }
        }
        out
    }

    /// Closes every open line (the session ended).
    pub fn flush(&mut self) -> Vec<Piece> {
        [Speaker::Caller, Speaker::Ai]
            .into_iter()
            .filter_map(|speaker| self.close(speaker))
            .collect()
    }

    /// The item of `speaker`'s open line.
    pub fn open_item(&mut self, speaker: Speaker) -> Option<String> {
        self.line(speaker).as_ref().map(|l| l.item.clone())
    }

    fn close(&mut self, speaker: Speaker) -> Option<Piece> {
        self.line(speaker).take().map(|line| Piece {
            speaker,
            text: line.text.trim().to_owned(),
            item: line.item,
            final_: true,
        })
    }

    fn line(&mut self, speaker: Speaker) -> &mut Option<Line> {
        match speaker {
            Speaker::Ai => &mut self.ai,
            // Only the caller and the model speak on a bridge.
            Speaker::Caller | Speaker::System => &mut self.caller,
        }
    }
}

fn other(speaker: Speaker) -> Speaker {
    match speaker {
        Speaker::Ai => Speaker::Caller,
        Speaker::Caller | Speaker::System => Speaker::Ai,
    }
}

fn who(speaker: Speaker) -> &'static str {
    match speaker {
        Speaker::Ai => "ai",
        Speaker::Caller | Speaker::System => "caller",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn texts(pieces: &[Piece]) -> Vec<(Speaker, &str, bool)> {
        pieces
            .iter()
            .map(|p| (p.speaker, p.text.as_str(), p.final_))
            .collect()
    }

    #[test]
    fn deltas_close_together_make_one_line_closed_after_a_quiet_gap() {
        let t0 = Instant::now();
        let mut lines = Lines::default();
        let a = lines.delta(Speaker::Caller, "hello ", t0);
        let b = lines.delta(Speaker::Caller, "there", t0 + ms(300));
        assert_eq!(a[0].item, b[0].item);
        assert!(lines.tick(t0 + ms(1000)).is_empty(), "closed too early");
        let closed = lines.tick(t0 + ms(1100));
        assert_eq!(texts(&closed), vec![(Speaker::Caller, "hello there", true)]);
        assert_eq!(closed[0].item, a[0].item);
        assert!(lines.flush().is_empty());
    }

    #[test]
    fn a_speaker_resuming_after_a_gap_starts_a_new_line_and_closes_the_old() {
        let t0 = Instant::now();
        let mut lines = Lines::default();
        let first = lines.delta(Speaker::Ai, "One.", t0);
        let next = lines.delta(Speaker::Ai, "Two.", t0 + ms(900));
        assert_eq!(
            texts(&next),
            vec![(Speaker::Ai, "One.", true), (Speaker::Ai, "Two.", false)]
        );
        assert_eq!(next[0].item, first[0].item);
        assert_ne!(next[1].item, first[0].item);
    }

    #[test]
    fn a_speaker_resuming_after_the_other_spoke_starts_a_new_line() {
        let t0 = Instant::now();
        let mut lines = Lines::default();
        lines.delta(Speaker::Caller, "Hi.", t0);
        let reply = lines.delta(Speaker::Ai, "Hello!", t0 + ms(100));
        // The caller's line is still open while the reply streams: its words may lag.
        assert_eq!(texts(&reply), vec![(Speaker::Ai, "Hello!", false)]);
        let again = lines.delta(Speaker::Caller, "Bye.", t0 + ms(200));
        assert_eq!(
            texts(&again),
            vec![
                (Speaker::Caller, "Hi.", true),
                (Speaker::Caller, "Bye.", false)
            ]
        );
        let rest = lines.flush();
        assert_eq!(
            texts(&rest),
            vec![
                (Speaker::Caller, "Bye.", true),
                (Speaker::Ai, "Hello!", true)
            ]
        );
    }

    #[test]
    fn items_stay_unique_and_empty_deltas_change_nothing() {
        let t0 = Instant::now();
        let mut lines = Lines::default();
        assert!(lines.delta(Speaker::Caller, "", t0).is_empty());
        assert_eq!(lines.open_item(Speaker::Caller), None);
        let mut items = std::collections::HashSet::new();
        for n in 0..5 {
            let at = t0 + ms(1000 * n);
            for piece in lines.delta(Speaker::Ai, "x", at) {
                items.insert(piece.item);
            }
            for piece in lines.delta(Speaker::Caller, "y", at) {
                items.insert(piece.item);
            }
        }
        assert_eq!(items.len(), 10);
        assert!(lines.open_item(Speaker::Ai).is_some());
    }
}
