//! The one-line input in the footer: what to dial, or where to transfer a call. Editing and
//! walking the dial history are pure changes to this struct; what Enter does is in
//! `keys/handle.rs`.

use crate::ui::history::History;
use crate::vocab::CallId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    Dial,
    /// Blind transfer of this call.
    Transfer(CallId),
}

/// A change to the text, from a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    Insert(char),
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    /// Ctrl+U: empty the line.
    Clear,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
    /// The cursor, in characters from the start.
    pub cursor: usize,
    /// The history entry shown (0 = newest); `None` while showing what was typed.
    pub recalled: Option<usize>,
    /// What was typed before ↑ replaced it, for ↓ to bring back.
    draft: String,
}

impl Prompt {
    pub fn new(kind: PromptKind) -> Prompt {
        Prompt {
            kind,
            text: String::new(),
            cursor: 0,
            recalled: None,
            draft: String::new(),
        }
    }

    /// The words before the input: `dial` or `transfer #2 to`.
    pub fn label(&self) -> String {
        match self.kind {
            PromptKind::Dial => "dial".into(),
            PromptKind::Transfer(call) => format!("transfer {call} to"),
        }
    }

    /// The text split at the cursor.
    pub fn split(&self) -> (&str, &str) {
        self.text.split_at(self.byte_at(self.cursor))
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map_or(self.text.len(), |(i, _)| i)
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    pub fn edit(&mut self, edit: Edit) {
        match edit {
            Edit::Insert(c) if !c.is_control() => {
                let at = self.byte_at(self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
            }
            Edit::Insert(_) => {}
            Edit::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                let at = self.byte_at(self.cursor);
                self.text.remove(at);
            }
            Edit::Backspace => {}
            Edit::Delete if self.cursor < self.len() => {
                let at = self.byte_at(self.cursor);
                self.text.remove(at);
            }
            Edit::Delete => {}
            Edit::Left => self.cursor = self.cursor.saturating_sub(1),
            Edit::Right => self.cursor = (self.cursor + 1).min(self.len()),
            Edit::Home => self.cursor = 0,
            Edit::End => self.cursor = self.len(),
            Edit::Clear => {
                self.text.clear();
                self.cursor = 0;
            }
        }
    }

    /// ↑ (`older`) or ↓ through the history, shell-style: the first ↑ keeps what was typed
    /// and ↓ past the newest entry brings it back. `Err` says why nothing moved.
    pub fn recall(&mut self, history: &History, older: bool) -> Result<(), String> {
        let next = match (self.recalled, older) {
            (None, true) if history.is_empty() => return Err("no dial history yet".into()),
            (None, true) => Some(0),
            (None, false) => return Err("this is what you typed; ↑ goes back in time".into()),
            (Some(n), true) if n + 1 >= history.len() => {
                return Err("that is the oldest number dialled".into())
            }
            (Some(n), true) => Some(n + 1),
            (Some(0), false) => None,
            (Some(n), false) => Some(n - 1),
        };
        if self.recalled.is_none() {
            self.draft = self.text.clone();
        }
        self.text = match next {
            Some(n) => history.get(n).unwrap_or_default().to_string(),
            None => self.draft.clone(),
        };
        self.recalled = next;
        self.cursor = self.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str) -> Prompt {
        let mut p = Prompt::new(PromptKind::Dial);
        for c in text.chars() {
            p.edit(Edit::Insert(c));
        }
        p
    }

    #[test]
    fn typing_edits_at_the_cursor() {
        let mut p = typed("1002");
        p.edit(Edit::Backspace);
        p.edit(Edit::Insert('1'));
        assert_eq!(p.text, "1001");
        p.edit(Edit::Home);
        p.edit(Edit::Insert('+'));
        p.edit(Edit::Right);
        p.edit(Edit::Delete);
        assert_eq!((p.text.as_str(), p.cursor), ("+101", 2));
        assert_eq!(p.split(), ("+1", "01"));
        p.edit(Edit::End);
        p.edit(Edit::Right);
        assert_eq!(p.cursor, 4);
        p.edit(Edit::Clear);
        assert_eq!((p.text.as_str(), p.cursor), ("", 0));
        p.edit(Edit::Backspace);
        p.edit(Edit::Left);
        assert_eq!(p.cursor, 0);
    }

    #[test]
    fn the_cursor_counts_characters_not_bytes() {
        let mut p = typed("bö");
        p.edit(Edit::Left);
        p.edit(Edit::Insert('é'));
        assert_eq!(p.text, "béö");
        assert_eq!(p.split(), ("bé", "ö"));
    }

    #[test]
    fn up_and_down_walk_the_history_and_come_back_to_the_draft() {
        let history = History::from_entries(["sip:new@x", "sip:old@x"]);
        let mut p = typed("10");
        p.recall(&history, true).unwrap();
        assert_eq!((p.text.as_str(), p.recalled), ("sip:new@x", Some(0)));
        p.recall(&history, true).unwrap();
        assert_eq!(p.text, "sip:old@x");
        assert_eq!(p.cursor, 9);
        assert!(p.recall(&history, true).is_err(), "stops at the oldest");
        assert_eq!(p.text, "sip:old@x");
        p.recall(&history, false).unwrap();
        p.recall(&history, false).unwrap();
        assert_eq!((p.text.as_str(), p.recalled), ("10", None));
        assert!(p.recall(&history, false).is_err());
        assert_eq!(
            typed("").recall(&History::default(), true),
            Err("no dial history yet".into())
        );
    }
}
