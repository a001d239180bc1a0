//! The order of a bridged call's transcript file: as the conversation went, not as the
//! final texts arrived.
//!
//! The caller's words come from a separate transcription pass that often finishes after the
//! model's reply (realtime-notes §3). A caller turn therefore takes its place when it is
//! committed, and later lines wait behind it until its words arrive. Only caller turns hold
//! others back: a model reply is placed when its text is final, and one cut short by a
//! barge-in never blocks anything. A caller turn whose words never come is given up on once
//! `MAX_HELD` lines wait behind it, and everything held is written when the bridge ends, so
//! no line is ever lost.

use std::collections::VecDeque;

use crate::bridge::UNTRANSCRIBED;

/// Lines allowed to wait behind one unfinished caller turn.
const MAX_HELD: usize = 4;

#[derive(Debug, Default)]
pub struct TranscriptOrder {
    queue: VecDeque<Entry>,
}

#[derive(Debug)]
struct Entry {
    item: String,
    /// Time of day the line is stamped with: when the turn began for the caller, when its
    /// text was final for the model.
    at: String,
    who: String,
    /// `None` while a caller turn waits for its words.
    text: Option<String>,
}

impl Entry {
    fn line(self) -> String {
        let text = self.text.as_deref().unwrap_or(UNTRANSCRIBED);
        format!("[{}] {}: {text}\n", self.at, self.who)
    }
}

impl TranscriptOrder {
    /// A caller turn was committed at `at`: it holds its place from now on.
    pub fn caller_turn(&mut self, item: &str, who: &str, at: String) {
        if !self.queue.iter().any(|e| e.item == item) {
            self.queue.push_back(Entry {
                item: item.to_owned(),
                at,
                who: who.to_owned(),
                text: None,
            });
        }
    }

    /// An item's final text. Returns the lines that can be written now, in conversation
    /// order, each ending in a newline.
    pub fn finished(&mut self, item: &str, who: &str, text: &str, at: String) -> Vec<String> {
        match self.queue.iter_mut().find(|e| e.item == item) {
            Some(entry) => entry.text = Some(text.to_owned()),
            None => self.queue.push_back(Entry {
                item: item.to_owned(),
                at,
                who: who.to_owned(),
                text: Some(text.to_owned()),
            }),
        }
        let mut out = Vec::new();
        while let Some(front) = self.queue.front() {
            // A turn whose words are not coming stops holding the lines behind it.
            if front.text.is_none() && self.queue.len() <= MAX_HELD {
                break;
            }
            out.extend(self.queue.pop_front().map(Entry::line));
        }
        out
    }

    /// Everything still held (the bridge or the call ended), in order.
    pub fn drain(&mut self) -> Vec<String> {
        self.queue.drain(..).map(Entry::line).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> String {
        s.to_owned()
    }

    #[test]
    fn a_late_caller_transcript_is_written_before_the_reply_it_prompted() {
        let mut order = TranscriptOrder::default();
        order.caller_turn("in_1", "caller", at("10:00:01"));
        assert!(order
            .finished("out_1", "AI", "Sure.", at("10:00:03"))
            .is_empty());
        assert_eq!(
            order.finished("in_1", "caller", "Can you help?", at("10:00:04")),
            [
                "[10:00:01] caller: Can you help?\n",
                "[10:00:03] AI: Sure.\n"
            ]
        );
        assert!(order.drain().is_empty());
    }

    #[test]
    fn lines_in_order_pass_straight_through() {
        let mut order = TranscriptOrder::default();
        order.caller_turn("in_1", "caller", at("t1"));
        assert_eq!(
            order.finished("in_1", "caller", "a", at("t2")),
            ["[t1] caller: a\n"]
        );
        assert_eq!(
            order.finished("out_1", "AI", "b", at("t3")),
            ["[t3] AI: b\n"]
        );
    }

    #[test]
    fn a_turn_whose_words_never_come_stops_holding_after_a_few_lines() {
        let mut order = TranscriptOrder::default();
        order.caller_turn("in_1", "caller", at("t0"));
        let mut written = Vec::new();
        for n in 0..MAX_HELD {
            written.extend(order.finished(&format!("out_{n}"), "AI", &n.to_string(), at("t")));
        }
        assert_eq!(
            written,
            [
                "[t0] caller: (not transcribed)\n",
                "[t] AI: 0\n",
                "[t] AI: 1\n",
                "[t] AI: 2\n",
                "[t] AI: 3\n"
            ]
        );
    }

    #[test]
    fn drain_writes_what_is_held_and_names_missing_words() {
        let mut order = TranscriptOrder::default();
        order.caller_turn("in_1", "caller", at("t0"));
        order.finished("out_1", "AI", "Hello.", at("t1"));
        assert_eq!(
            order.drain(),
            ["[t0] caller: (not transcribed)\n", "[t1] AI: Hello.\n"]
        );
    }
}
