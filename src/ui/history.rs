//! The dial history: the URIs the dial prompt called, newest first, one per line in the XDG
//! state directory (`$XDG_STATE_HOME/sipterm/dial_history`, else
//! `~/.local/state/sipterm/dial_history`). State, not configuration: it is what the program
//! remembers, so it goes where the XDG base directory spec puts such files.
//!
//! The list logic is pure (`History`); `load` and `save` are the only I/O, called by
//! `ui::run` at start and after each dial. A file we cannot read or write costs the history,
//! never the call: the caller logs the error as a warning.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// Entries kept; older ones fall off the end.
pub const KEPT: usize = 100;

const FILE: &str = "dial_history";

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot read the dial history {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot save the dial history to {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// URIs dialled, newest first, without duplicates, at most `KEPT`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    entries: Vec<String>,
}

impl History {
    /// From a list in file order (newest first): blank lines dropped, later duplicates
    /// dropped, cut to `KEPT`.
    pub fn from_entries<I, S>(entries: I) -> History
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut kept: Vec<String> = Vec::new();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if !entry.is_empty() && !kept.iter().any(|k| k == entry) && kept.len() < KEPT {
                kept.push(entry.to_string());
            }
        }
        History { entries: kept }
    }

    pub fn parse(text: &str) -> History {
        History::from_entries(text.lines())
    }

    /// The file's text: one URI per line, newest first.
    pub fn to_text(&self) -> String {
        self.entries.iter().map(|e| format!("{e}\n")).collect()
    }

    /// Puts `uri` first (moving it there when it was already in the list).
    pub fn remember(&mut self, uri: &str) {
        let uri = uri.trim();
        if uri.is_empty() {
            return;
        }
        self.entries.retain(|e| e != uri);
        self.entries.insert(0, uri.to_string());
        self.entries.truncate(KEPT);
    }

    /// The `n`-th most recent entry (0 = newest).
    pub fn get(&self, n: usize) -> Option<&str> {
        self.entries.get(n).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[String] {
        &self.entries
    }
}

/// Where the history lives, from the values of `XDG_STATE_HOME` and `HOME`. The spec says a
/// relative `XDG_STATE_HOME` is invalid and must be ignored; an empty one is unset.
pub fn path_from(xdg_state_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let absolute = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    let state = absolute(xdg_state_home)
        .or_else(|| absolute(home).map(|h| h.join(".local").join("state")))?;
    Some(state.join("sipterm").join(FILE))
}

/// The history file for this process's environment; `None` when neither variable helps.
pub fn default_path() -> Option<PathBuf> {
    path_from(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
}

/// Reads the history; a missing file is an empty history, not an error.
pub fn load(path: &Path) -> Result<History, HistoryError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(History::parse(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(History::default()),
        Err(source) => Err(HistoryError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes the history next to its place and renames it there, so a crash or a second sipterm
/// writing at the same moment never leaves half a file (the last rename wins).
pub fn save(path: &Path, history: &History) -> Result<(), HistoryError> {
    let write = || -> io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut temp = path.as_os_str().to_owned();
        temp.push(format!(".{}.tmp", std::process::id()));
        let temp = PathBuf::from(temp);
        std::fs::write(&temp, history.to_text())?;
        std::fs::rename(&temp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
    };
    write().map_err(|source| HistoryError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(h: &History) -> Vec<&str> {
        h.entries().iter().map(String::as_str).collect()
    }

    #[test]
    fn redialling_moves_the_uri_to_the_top_without_a_duplicate() {
        let mut h = History::from_entries(["sip:a@x", "sip:b@x", "sip:c@x"]);
        h.remember("sip:c@x");
        assert_eq!(names(&h), ["sip:c@x", "sip:a@x", "sip:b@x"]);
        h.remember("sip:d@x");
        assert_eq!(names(&h), ["sip:d@x", "sip:c@x", "sip:a@x", "sip:b@x"]);
        h.remember("  ");
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn the_list_is_capped_and_the_oldest_falls_off() {
        let mut h = History::from_entries((0..KEPT + 20).map(|i| format!("sip:{i}@x")));
        assert_eq!(h.len(), KEPT);
        assert_eq!(
            h.get(KEPT - 1),
            Some(format!("sip:{}@x", KEPT - 1).as_str())
        );
        h.remember("sip:new@x");
        assert_eq!(h.len(), KEPT);
        assert_eq!(h.get(0), Some("sip:new@x"));
        assert_eq!(
            h.get(KEPT - 1),
            Some(format!("sip:{}@x", KEPT - 2).as_str())
        );
    }

    #[test]
    fn parsing_skips_blank_lines_and_keeps_the_first_of_duplicates() {
        let h = History::parse("sip:a@x\n\n  sip:b@x  \r\nsip:a@x\n");
        assert_eq!(names(&h), ["sip:a@x", "sip:b@x"]);
        assert_eq!(h.to_text(), "sip:a@x\nsip:b@x\n");
    }

    #[test]
    fn the_file_is_in_the_xdg_state_directory_else_under_home() {
        let p = |x: Option<&str>, h: Option<&str>| path_from(x.map(Into::into), h.map(Into::into));
        assert_eq!(
            p(Some("/state"), Some("/home/a")),
            Some(PathBuf::from("/state/sipterm/dial_history"))
        );
        assert_eq!(
            p(None, Some("/home/a")),
            Some(PathBuf::from("/home/a/.local/state/sipterm/dial_history"))
        );
        // Empty or relative XDG_STATE_HOME is ignored, as the spec asks.
        assert_eq!(p(Some(""), Some("/home/a")), p(None, Some("/home/a")));
        assert_eq!(p(Some("rel"), Some("/home/a")), p(None, Some("/home/a")));
        assert_eq!(p(None, None), None);
    }

    /// A fresh directory under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "sipterm-history-{name}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn saved_history_loads_back_and_a_missing_file_is_empty() {
        let dir = TempDir::new("round-trip");
        let path = dir.0.join("state").join("sipterm").join(FILE);
        assert_eq!(load(&path).expect("missing is fine"), History::default());
        let mut h = History::default();
        h.remember("sip:1001@pbx.example.com");
        h.remember("sips:bob@example.com:5061");
        save(&path, &h).expect("saved");
        assert_eq!(load(&path).expect("loaded"), h);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [OsString::from(FILE)], "no temp file left");
    }

    #[test]
    fn a_file_we_cannot_write_is_an_error_not_a_panic() {
        let dir = TempDir::new("unwritable");
        // A regular file where the directory should be.
        let blocker = dir.0.join("sipterm");
        std::fs::write(&blocker, "").unwrap();
        let err = save(&blocker.join(FILE), &History::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot save the dial history to "),
            "{err}"
        );
        let err = load(&blocker.join(FILE)).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read the dial history "),
            "{err}"
        );
    }
}
