//! What can be wrong with a config file or its profile: each a sentence that names the file,
//! the line and column, and the key, since the user has to go and fix it there.

use std::fmt;
use std::path::PathBuf;

/// A place in the file, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    /// The line and column of byte `offset` in `src`.
    pub fn of(src: &str, offset: usize) -> Pos {
        let mut end = offset.min(src.len());
        while !src.is_char_boundary(end) {
            end -= 1;
        }
        let before = &src[..end];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        Pos {
            line,
            col: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read the config file {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{at}: not valid TOML: {message}", file.display())]
    Syntax {
        file: PathBuf,
        at: Pos,
        message: String,
    },
    #[error("{}:{at}: unknown key `{key}` in {table}{}", file.display(), did_you_mean(suggestion))]
    UnknownKey {
        file: PathBuf,
        at: Pos,
        key: String,
        /// `[profiles.work]`, or "the top level".
        table: String,
        suggestion: Option<String>,
    },
    #[error("{}:{at}: `{key}` must be {expected}, not {found}", file.display())]
    WrongType {
        file: PathBuf,
        at: Pos,
        key: String,
        expected: String,
        found: String,
    },
    #[error("{}:{at}: `{key}`: {reason}", file.display())]
    BadValue {
        file: PathBuf,
        at: Pos,
        key: String,
        reason: String,
    },
    #[error("{}:{at}: `{key}` and `{other}` both give the {what}: keep one", file.display())]
    TwoSources {
        file: PathBuf,
        at: Pos,
        key: String,
        other: String,
        what: String,
    },
    #[error("no profile `{name}` in {}: {}", file.display(), available_words(available))]
    UnknownProfile {
        file: PathBuf,
        name: String,
        available: Vec<String>,
    },
    #[error("{}:{at}: `default` names no profile: there is no [profiles.{name}] ({})", file.display(), available_words(available))]
    UnknownDefault {
        file: PathBuf,
        at: Pos,
        name: String,
        available: Vec<String>,
    },
    #[error("--profile {name}: there is no config file at {}", file.display())]
    NoFile { name: String, file: PathBuf },
    #[error("--profile {name}: neither XDG_CONFIG_HOME nor HOME is set, so there is no config file (use --config FILE)")]
    NoHome { name: String },
    #[error("{}:{at}: `{key}` names the environment variable {var}, which is not set or empty", file.display())]
    SecretEnvUnset {
        file: PathBuf,
        at: Pos,
        key: String,
        var: String,
    },
    // The command's output may be the secret: only its status and stderr are shown.
    #[error("{}:{at}: `{key}`: the command `{command}` {failure}", file.display())]
    SecretCommand {
        file: PathBuf,
        at: Pos,
        key: String,
        command: String,
        failure: String,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(": did you mean `{s}`?"),
        None => String::new(),
    }
}

fn available_words(available: &[String]) -> String {
    if available.is_empty() {
        "it has none".to_string()
    } else {
        format!("it has {}", available.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(Pos::of(src, 0), Pos { line: 1, col: 1 });
        assert_eq!(Pos::of(src, 6), Pos { line: 2, col: 1 });
        // The `=` after the two-byte é: the fourth character, though the fifth byte.
        assert_eq!(Pos::of(src, 10), Pos { line: 2, col: 4 });
        assert_eq!(Pos::of(src, 999), Pos { line: 3, col: 1 });
    }

    #[test]
    fn messages_name_file_line_key_and_the_fix() {
        let e = ProfileError::UnknownKey {
            file: "c.toml".into(),
            at: Pos { line: 3, col: 1 },
            key: "sip_url".into(),
            table: "[profiles.work]".into(),
            suggestion: Some("sip_uri".into()),
        };
        assert_eq!(
            e.to_string(),
            "c.toml:3:1: unknown key `sip_url` in [profiles.work]: did you mean `sip_uri`?"
        );
        let e = ProfileError::UnknownProfile {
            file: "c.toml".into(),
            name: "hom".into(),
            available: vec!["home".into(), "work".into()],
        };
        assert_eq!(
            e.to_string(),
            "no profile `hom` in c.toml: it has home, work"
        );
    }
}
