//! Reading a config file: TOML parsed with spans (toml's `DeTable`), every key of every
//! profile checked against the flags (its name, its TOML type, and its value through the
//! flag's own clap parser), so that a mistake anywhere in the file is refused at start with
//! its line and column.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::error::ErrorKind;
use clap::Command;
use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

use super::error::{Pos, ProfileError};
use super::keys::{self, FlagKey, Kind, SecretKey, SECRET_KEYS};

type Key<'i> = Spanned<DeString<'i>>;
type Val<'i> = Spanned<DeValue<'i>>;

const TOP_KEYS: [&str; 2] = ["default", "profiles"];

/// A checked config file.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// `default = "NAME"`: the profile used without --profile.
    pub default: Option<(String, Pos)>,
    /// In the file's order.
    pub profiles: Vec<Profile>,
    /// Some profile writes a `password` or `api_key` out in full.
    pub plain_secret: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub name: String,
    pub settings: Vec<Setting>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Setting {
    /// A flag's value: `port = 5070` is `--port 5070`.
    Flag {
        flag: FlagKey,
        value: FlagValue,
        at: Pos,
    },
    /// `password_command = "…"`: where a secret flag's value is to be fetched.
    Secret {
        key: SecretKey,
        /// The variable's name or the command.
        value: String,
        at: Pos,
    },
}

impl Setting {
    /// The long flag this setting fills.
    pub fn long(&self) -> &str {
        match self {
            Setting::Flag { flag, .. } => &flag.long,
            Setting::Secret { key, .. } => key.long,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Setting::Flag { flag, .. } => &flag.key,
            Setting::Secret { key, .. } => key.key,
        }
    }

    pub fn at(&self) -> Pos {
        match self {
            Setting::Flag { at, .. } | Setting::Secret { at, .. } => *at,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum FlagValue {
    Switch(bool),
    /// One value, or several for a repeatable flag, as they would be typed.
    Values(Vec<String>),
}

pub fn load(path: &Path, command: &Command) -> Result<ConfigFile, ProfileError> {
    let src = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    parse(&src, path, command)
}

/// Checks a config file's text as if read from `path`.
pub fn parse(src: &str, path: &Path, command: &Command) -> Result<ConfigFile, ProfileError> {
    let reader = Reader {
        src,
        file: path.to_path_buf(),
        flags: keys::flag_keys(command),
        command: command.clone(),
    };
    reader.file()
}

struct Reader<'s> {
    src: &'s str,
    file: PathBuf,
    flags: Vec<FlagKey>,
    command: Command,
}

impl Reader<'_> {
    fn at(&self, span: std::ops::Range<usize>) -> Pos {
        Pos::of(self.src, span.start)
    }

    fn file(&self) -> Result<ConfigFile, ProfileError> {
        let root = DeTable::parse(self.src).map_err(|e| ProfileError::Syntax {
            file: self.file.clone(),
            at: self.at(e.span().unwrap_or(0..0)),
            message: e.message().trim().to_string(),
        })?;
        let mut out = ConfigFile {
            path: self.file.clone(),
            default: None,
            profiles: Vec::new(),
            plain_secret: false,
        };
        for (key, val) in sorted(root.get_ref()) {
            match key.get_ref().as_ref() {
                "default" => match val.get_ref() {
                    DeValue::String(s) => {
                        out.default = Some((s.to_string(), self.at(val.span())));
                    }
                    _ => return Err(self.wrong(key, val, "a profile's name (a string)")),
                },
                "profiles" => {
                    let DeValue::Table(table) = val.get_ref() else {
                        return Err(self.wrong(key, val, "a table of [profiles.NAME] tables"));
                    };
                    for (name, body) in sorted(table) {
                        out.profiles.push(self.profile(name, body)?);
                    }
                }
                other => {
                    let mut suggestion = keys::suggest(other, TOP_KEYS).map(str::to_string);
                    // A flag at the top level: it belongs in a profile.
                    if self.flags.iter().any(|f| f.key == other) {
                        suggestion = Some(format!("[profiles.NAME] {other}"));
                    }
                    return Err(self.unknown(key, "the top level", suggestion));
                }
            }
        }
        out.plain_secret = out.profiles.iter().any(|p| {
            p.settings.iter().any(|s| {
                matches!(s, Setting::Flag { flag, .. } if keys::SECRET_FLAGS.contains(&flag.long.as_str()))
            })
        });
        Ok(out)
    }

    fn profile(&self, name: &Key, body: &Val) -> Result<Profile, ProfileError> {
        let name = name.get_ref().to_string();
        let DeValue::Table(table) = body.get_ref() else {
            return Err(self.wrong_named(&name, body, "a [profiles.NAME] table"));
        };
        let title = format!("[profiles.{name}]");
        let mut settings: Vec<Setting> = Vec::new();
        for (key, val) in sorted(table) {
            let setting = self.setting(&title, key, val)?;
            // password, password_env and password_command all give the same flag.
            if let Some(earlier) = settings.iter().find(|s| s.long() == setting.long()) {
                return Err(ProfileError::TwoSources {
                    file: self.file.clone(),
                    at: setting.at(),
                    key: setting.key().to_string(),
                    other: earlier.key().to_string(),
                    what: format!("--{}", setting.long()),
                });
            }
            settings.push(setting);
        }
        Ok(Profile { name, settings })
    }

    fn setting(&self, title: &str, key: &Key, val: &Val) -> Result<Setting, ProfileError> {
        let name = key.get_ref().as_ref();
        let at = self.at(key.span());
        if let Some(secret) = SECRET_KEYS.iter().find(|s| s.key == name) {
            return match val.get_ref() {
                DeValue::String(s) if !s.trim().is_empty() => Ok(Setting::Secret {
                    key: *secret,
                    value: s.to_string(),
                    at,
                }),
                _ => Err(self.wrong(key, val, "a non-empty string")),
            };
        }
        let Some(flag) = self.flags.iter().find(|f| f.key == name) else {
            let valid = self
                .flags
                .iter()
                .map(|f| f.key.as_str())
                .chain(SECRET_KEYS.iter().map(|s| s.key));
            let suggestion = keys::suggest(name, valid).map(str::to_string);
            return Err(self.unknown(key, title, suggestion));
        };
        let value = match flag.kind {
            Kind::Switch => match val.get_ref() {
                DeValue::Boolean(b) => FlagValue::Switch(*b),
                _ => return Err(self.wrong(key, val, "true or false")),
            },
            Kind::One => FlagValue::Values(vec![self.scalar(key, val, "a string or a number")?]),
            Kind::Many => match val.get_ref() {
                DeValue::Array(items) => FlagValue::Values(
                    items
                        .iter()
                        .map(|item| self.scalar(key, item, "an array of strings"))
                        .collect::<Result<_, _>>()?,
                ),
                _ => FlagValue::Values(vec![self.scalar(
                    key,
                    val,
                    "a string or an array of strings",
                )?]),
            },
        };
        if let FlagValue::Values(values) = &value {
            for (i, value) in values.iter().enumerate() {
                let span = match val.get_ref() {
                    DeValue::Array(items) => items.get(i).map(|v| v.span()).unwrap_or(val.span()),
                    _ => val.span(),
                };
                self.check_value(flag, value, span)?;
            }
        }
        Ok(Setting::Flag {
            flag: flag.clone(),
            value,
            at,
        })
    }

    /// A string or number as it would be typed after the flag.
    fn scalar(&self, key: &Key, val: &Val, expected: &str) -> Result<String, ProfileError> {
        match val.get_ref() {
            DeValue::String(s) => Ok(s.to_string()),
            DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
                .map(|n| n.to_string())
                .map_err(|_| self.wrong(key, val, expected)),
            DeValue::Float(f) => Ok(f.as_str().to_string()),
            _ => Err(self.wrong(key, val, expected)),
        }
    }

    /// The flag's own parser judges the value, as it would on the command line. Only value
    /// errors count here: whether flags go together is for the final parse to say.
    fn check_value(
        &self,
        flag: &FlagKey,
        value: &str,
        span: std::ops::Range<usize>,
    ) -> Result<(), ProfileError> {
        let args: [OsString; 2] = ["sipterm".into(), format!("--{}={value}", flag.long).into()];
        let Err(e) = self.command.clone().try_get_matches_from(args) else {
            return Ok(());
        };
        if !matches!(
            e.kind(),
            ErrorKind::InvalidValue | ErrorKind::ValueValidation | ErrorKind::InvalidUtf8
        ) {
            return Ok(());
        }
        Err(ProfileError::BadValue {
            file: self.file.clone(),
            at: self.at(span),
            key: flag.key.clone(),
            reason: clap_reason(&e),
        })
    }

    fn unknown(&self, key: &Key, table: &str, suggestion: Option<String>) -> ProfileError {
        ProfileError::UnknownKey {
            file: self.file.clone(),
            at: self.at(key.span()),
            key: key.get_ref().to_string(),
            table: table.to_string(),
            suggestion,
        }
    }

    fn wrong(&self, key: &Key, val: &Val, expected: &str) -> ProfileError {
        self.wrong_named(key.get_ref().as_ref(), val, expected)
    }

    fn wrong_named(&self, key: &str, val: &Val, expected: &str) -> ProfileError {
        ProfileError::WrongType {
            file: self.file.clone(),
            at: self.at(val.span()),
            key: key.to_string(),
            expected: expected.to_string(),
            found: type_name(val.get_ref()).to_string(),
        }
    }
}

/// clap's message without its `error:` prefix and help hint: `invalid value 'sctp' for
/// '--transport <udp|tcp|tls>' [possible values: udp, tcp, tls]`.
fn clap_reason(e: &clap::Error) -> String {
    let text = e.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut reason = lines
        .next()
        .unwrap_or("invalid value")
        .trim_start_matches("error: ")
        .to_string();
    if let Some(possible) = lines.find(|l| l.starts_with("[possible values")) {
        reason = format!("{reason} {possible}");
    }
    reason
}

fn type_name(val: &DeValue) -> &'static str {
    match val {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a number",
        DeValue::Float(_) => "a number",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// A table's entries in the file's order (the map does not keep it).
fn sorted<'a, 'i>(table: &'a DeTable<'i>) -> Vec<(&'a Key<'i>, &'a Val<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
