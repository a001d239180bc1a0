//! `--print-config`: every setting as it will be used, one per line in `--help`'s order, with
//! where it came from. Secrets are shown as `<redacted>` with their source, never their value.

use std::fmt::Write as _;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

use super::keys::{self, Kind, SecretSource};
use super::Supplied;

/// Where the settings came from.
pub struct Origin<'a> {
    /// The config file read, if any.
    pub file: Option<&'a Path>,
    /// Where one was looked for.
    pub looked_at: Option<&'a Path>,
    pub profile: Option<&'a str>,
    pub supplied: &'a [Supplied],
}

/// A value the configuration derives when its flag is not given (the registrar from the SIP
/// URI, the model from `--api`): the value and why it is that.
pub struct Derived {
    pub key: &'static str,
    pub value: String,
    pub why: String,
}

pub fn render(
    command: &Command,
    matches: &ArgMatches,
    origin: &Origin,
    derived: &[Derived],
) -> String {
    let mut out = String::new();
    let _ = match (origin.file, origin.looked_at) {
        (Some(file), _) => writeln!(out, "# config file: {}", file.display()),
        (None, Some(path)) => writeln!(
            out,
            "# config file: none ({} does not exist)",
            path.display()
        ),
        (None, None) => writeln!(out, "# config file: none"),
    };
    let _ = match origin.profile {
        Some(name) => writeln!(out, "# profile: {name}"),
        None => writeln!(out, "# profile: none"),
    };
    let flags = keys::flag_keys(command);
    let width = flags.iter().map(|f| f.key.len()).max().unwrap_or(0);
    for flag in &flags {
        let raw: Vec<String> = matches
            .get_raw(&flag.id)
            .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let source = matches.value_source(&flag.id);
        let derived = raw
            .is_empty()
            .then(|| derived.iter().find(|d| d.key == flag.key))
            .flatten();
        let value = if let Some(d) = derived {
            d.value.clone()
        } else if raw.is_empty() {
            "(not set)".to_string()
        } else if keys::SECRET_FLAGS.contains(&flag.long.as_str()) {
            "<redacted>".to_string()
        } else if flag.kind == Kind::Many {
            let quoted: Vec<String> = raw.iter().map(|v| format!("{v:?}")).collect();
            format!("[{}]", quoted.join(", "))
        } else {
            raw.join(" ")
        };
        let from = match source {
            _ if derived.is_some() => derived.map(|d| d.why.clone()).unwrap_or_default(),
            _ if raw.is_empty() => String::new(),
            Some(ValueSource::DefaultValue) => "default".to_string(),
            Some(ValueSource::EnvVariable) => command
                .get_arguments()
                .find(|a| a.get_id() == flag.id.as_str())
                .and_then(|a| a.get_env())
                .map(|var| format!("environment {}", var.to_string_lossy()))
                .unwrap_or_else(|| "environment".to_string()),
            Some(ValueSource::CommandLine) => {
                match origin.supplied.iter().find(|s| s.long == flag.long) {
                    Some(s) => profile_words(s, origin),
                    None => "command line".to_string(),
                }
            }
            _ => String::new(),
        };
        let line = if from.is_empty() {
            format!("{:width$} = {value}", flag.key)
        } else {
            format!("{:width$} = {value}   # {from}", flag.key)
        };
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// `profile work in /home/a/.config/sipterm/config.toml:4:1`, and for a fetched secret
/// `…, from password_command`.
fn profile_words(s: &Supplied, origin: &Origin) -> String {
    let file = origin
        .file
        .map(|f| f.display().to_string())
        .unwrap_or_default();
    let name = origin.profile.unwrap_or_default();
    let mut words = format!("profile {name} in {file}:{}", s.at);
    if let Some((key, value)) = &s.secret {
        match key.source {
            SecretSource::Env => {
                let _ = write!(words, ", from environment {value} ({})", key.key);
            }
            SecretSource::Command => {
                let _ = write!(words, ", from {}", key.key);
            }
        }
    }
    words
}
