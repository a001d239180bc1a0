//! The config file and its profiles: the command line is read once to learn --config and
//! --profile, the chosen profile's settings become the flags the command line left out, and
//! the whole is parsed again so every rule of `cli.rs` and `config.rs` applies unchanged.
//!
//! Precedence: command line > profile > environment (SIP_PASSWORD, OPENAI_API_KEY) >
//! built-in defaults. A profile is more specific than a variable set for the whole session.

pub mod error;
mod file;
pub mod keys;
mod print;
pub use print::Derived;
mod secret;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory};

use crate::cli::Cli;
pub use error::{Pos, ProfileError};
pub use file::{ConfigFile, FlagValue, Profile, Setting};
use keys::SecretKey;

/// The command line with its profile applied.
#[derive(Debug)]
pub struct Resolved {
    pub cli: Cli,
    /// The profile in use, if any.
    pub profile: Option<String>,
    /// Things to tell the user before starting (a plain password others can read).
    pub warnings: Vec<String>,
    /// `--print-config`: print [`Resolved::render`] instead of starting.
    pub print_config: bool,
    matches: clap::ArgMatches,
    looked_at: Option<PathBuf>,
    file: Option<PathBuf>,
    supplied: Vec<Supplied>,
}

/// A flag a profile filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Supplied {
    pub long: String,
    pub key: String,
    pub at: Pos,
    /// Fetched through `password_env`, `api_key_command`, …
    pub secret: Option<(SecretKey, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The command line itself is wrong (or asks for --help): clap says so.
    #[error("{0}")]
    Clap(#[from] clap::Error),
    #[error("{0}")]
    Profile(#[from] ProfileError),
    /// The flags a profile added break a rule together with the command line.
    #[error("{error}{note}")]
    Rules { error: clap::Error, note: String },
}

/// Where the config file is looked for without --config: `$XDG_CONFIG_HOME/sipterm/config.toml`,
/// else `~/.config/sipterm/config.toml`. A relative XDG_CONFIG_HOME is ignored, as the XDG
/// base directory specification asks.
pub fn default_path(xdg_config_home: Option<String>, home: Option<String>) -> Option<PathBuf> {
    let base = match xdg_config_home.filter(|x| Path::new(x).is_absolute()) {
        Some(xdg) => PathBuf::from(xdg),
        None => PathBuf::from(home.filter(|h| !h.is_empty())?).join(".config"),
    };
    Some(base.join("sipterm").join("config.toml"))
}

/// Reads the command line (`sipterm test FILE` already expanded), the config file and the
/// chosen profile, from the process environment.
pub fn resolve(args: Vec<OsString>) -> Result<Resolved, StartError> {
    resolve_with(args, &|name| std::env::var(name).ok())
}

/// [`resolve`] with the environment variables the file is looked up by, and secrets fetched
/// from, given (clap still reads SIP_PASSWORD and OPENAI_API_KEY from the process).
pub fn resolve_with(
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, StartError> {
    let mut command = Cli::command();
    let first = command.try_get_matches_from_mut(args.iter())?;
    let explicit = first.get_one::<PathBuf>("config").cloned();
    let wanted = first.get_one::<String>("profile").cloned();
    let path = explicit
        .clone()
        .or_else(|| default_path(env("XDG_CONFIG_HOME"), env("HOME")));
    // A missing default file is no file; a missing --config file is a mistake.
    let config = match &path {
        Some(p) if explicit.is_some() || p.exists() => Some(file::load(p, &command)?),
        _ => None,
    };
    let profile = match (&config, wanted) {
        (None, Some(name)) => {
            return Err(match path {
                Some(file) => ProfileError::NoFile { name, file },
                None => ProfileError::NoHome { name },
            }
            .into())
        }
        (None, None) => None,
        (Some(config), Some(name)) => Some(find(config, &name)?),
        (Some(config), None) => match &config.default {
            Some((name, at)) => {
                Some(
                    find(config, name).map_err(|_| ProfileError::UnknownDefault {
                        file: config.path.clone(),
                        at: *at,
                        name: name.clone(),
                        available: config.profiles.iter().map(|p| p.name.clone()).collect(),
                    })?,
                )
            }
            None => None,
        },
    };
    let mut warnings = Vec::new();
    if let Some(config) = &config {
        if config.plain_secret && secret::others_can_read(&config.path) {
            let file = config.path.display();
            warnings.push(format!(
                "{file} holds a password or API key in plain text and other users can read \
                 it: run `chmod 600 {file}`, or use password_env/password_command \
                 (api_key_env/api_key_command)"
            ));
        }
    }
    let file_path = config.as_ref().map(|c| c.path.clone());
    let (argv, supplied) = match (profile, &file_path) {
        (Some(profile), Some(file)) => {
            with_profile(args, &first, &command, profile, file, env, &mut warnings)?
        }
        _ => (args, Vec::new()),
    };
    let profile_name = profile.map(|p| p.name.clone());
    let (cli, matches) = crate::cli::parse_final(&argv).map_err(|error| {
        match (&profile_name, &file_path, supplied.is_empty()) {
            (Some(name), Some(file), false) => {
                let added: Vec<String> = supplied.iter().map(|s| format!("--{}", s.long)).collect();
                StartError::Rules {
                    error,
                    note: format!(
                        "(profile `{name}` in {} added {})",
                        file.display(),
                        added.join(" ")
                    ),
                }
            }
            _ => StartError::Clap(error),
        }
    })?;
    Ok(Resolved {
        print_config: cli.print_config,
        cli,
        profile: profile_name,
        warnings,
        matches,
        looked_at: path,
        file: file_path,
        supplied,
    })
}

impl Resolved {
    /// The profile (not the command line) supplied `--long`.
    pub fn from_profile(&self, long: &str) -> bool {
        self.supplied.iter().any(|s| s.long == long)
    }

    /// The `--print-config` text: every setting, where it came from, secrets redacted;
    /// `derived` fills in what the configuration works out from other settings.
    pub fn render(&self, derived: &[print::Derived]) -> String {
        print::render(
            &Cli::command(),
            &self.matches,
            &print::Origin {
                file: self.file.as_deref(),
                looked_at: self.looked_at.as_deref(),
                profile: self.profile.as_deref(),
                supplied: &self.supplied,
            },
            derived,
        )
    }

    /// For an error `config.rs` found in a flag a profile supplied: where that value was
    /// written, e.g. "(`rtp_ports` from profile work in c.toml:4:1)".
    pub fn blame(&self, message: &str) -> Option<String> {
        let file = self.file.as_ref()?;
        let name = self.profile.as_deref()?;
        let s = self
            .supplied
            .iter()
            .find(|s| names_flag(message, &s.long))?;
        Some(format!(
            "(`{}` from profile {name} in {}:{})",
            s.key,
            file.display(),
            s.at
        ))
    }
}

/// `message` mentions `--long` as a whole flag (not `--long-er`).
fn names_flag(message: &str, long: &str) -> bool {
    let needle = format!("--{long}");
    message.match_indices(&needle).any(|(i, _)| {
        !message[i + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

fn find<'a>(config: &'a ConfigFile, name: &str) -> Result<&'a Profile, ProfileError> {
    config
        .profiles
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ProfileError::UnknownProfile {
            file: config.path.clone(),
            name: name.to_string(),
            available: config.profiles.iter().map(|p| p.name.clone()).collect(),
        })
}

/// Stands in for a command's secret with --print-config, which never shows it anyway.
const NOT_RUN: &str = "(not run for --print-config)";

/// The user's arguments followed by the profile's settings for every flag the command line
/// did not give; secrets are fetched only for those.
fn with_profile(
    mut args: Vec<OsString>,
    first: &ArgMatches,
    command: &clap::Command,
    profile: &Profile,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<(Vec<OsString>, Vec<Supplied>), ProfileError> {
    let mut supplied = Vec::new();
    let print_only = first.get_flag("print_config");
    for setting in &profile.settings {
        let long = setting.long();
        let id = command
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .map(|a| a.get_id().as_str().to_string());
        let Some(id) = id else { continue };
        if first.value_source(&id) == Some(ValueSource::CommandLine) {
            continue;
        }
        let mut secret_from = None;
        match setting {
            Setting::Flag {
                value: FlagValue::Switch(on),
                ..
            } => {
                // `false` is what leaving the flag out means.
                if !on {
                    continue;
                }
                args.push(format!("--{long}").into());
            }
            Setting::Flag {
                value: FlagValue::Values(values),
                ..
            } => {
                // `--flag=value`: a value starting with `-` stays a value.
                args.extend(
                    values
                        .iter()
                        .map(|v| OsString::from(format!("--{long}={v}"))),
                );
            }
            Setting::Secret { key, value, at } => {
                // --print-config shows a secret's source, never its value: no need to run a
                // command (which may well ask for a passphrase) just to hide what it says.
                let fetched = if print_only && key.source == keys::SecretSource::Command {
                    Ok(NOT_RUN.to_owned())
                } else {
                    secret::fetch(file, key, value, *at, env)
                };
                let secret = match fetched {
                    Ok(secret) => secret,
                    // The OpenAI key is needed only when a bridge starts, and many runs
                    // never start one: a warning now, and the bridge says it has no key.
                    Err(e) if key.long == "api-key" => {
                        warnings.push(format!(
                            "{e}; a voice bridge will need --api-key or OPENAI_API_KEY instead"
                        ));
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                args.push(format!("--{long}={secret}").into());
                secret_from = Some((*key, value.clone()));
            }
        }
        supplied.push(Supplied {
            long: long.to_string(),
            key: setting.key().to_string(),
            at: setting.at(),
            secret: secret_from,
        });
    }
    Ok((args, supplied))
}

#[cfg(test)]
mod tests;
