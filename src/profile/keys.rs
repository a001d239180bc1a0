//! Which keys a profile may hold: every long flag of the command line (found by asking clap,
//! so a flag added later is a profile key at once), spelled in snake_case, plus the keys that
//! fetch a secret instead of holding it.

use clap::{ArgAction, Command};

/// Flags about the file itself or that end the program at once: not settings.
const META: &[&str] = &[
    "config",
    "profile",
    "print-config",
    "help",
    "version",
    "list-devices",
];

/// How a flag takes its value, and so which TOML types its key accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `--bridge`: a TOML boolean.
    Switch,
    /// `--port 5060`: one string or number.
    One,
    /// `--header X` (repeatable): an array of strings, or one string.
    Many,
}

/// A profile key and the flag it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagKey {
    /// `sip_uri`
    pub key: String,
    /// The flag's id in clap (`sip_uri`; `headers` for `--header`).
    pub id: String,
    /// `sip-uri`
    pub long: String,
    pub kind: Kind,
}

/// Where a secret comes from when it is not written in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// `password_env = "NAME"`: the environment variable NAME.
    Env,
    /// `password_command = "pass show sip/alice"`: the command's output.
    Command,
}

/// A key that fetches a secret: `password_env`, `api_key_command`, …
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretKey {
    pub key: &'static str,
    /// The long flag the secret fills (`password`, `api-key`).
    pub long: &'static str,
    pub source: SecretSource,
}

pub const SECRET_KEYS: [SecretKey; 4] = [
    SecretKey {
        key: "password_env",
        long: "password",
        source: SecretSource::Env,
    },
    SecretKey {
        key: "password_command",
        long: "password",
        source: SecretSource::Command,
    },
    SecretKey {
        key: "api_key_env",
        long: "api-key",
        source: SecretSource::Env,
    },
    SecretKey {
        key: "api_key_command",
        long: "api-key",
        source: SecretSource::Command,
    },
];

/// The flags whose values are never shown (`--print-config` redacts them).
pub const SECRET_FLAGS: [&str; 2] = ["password", "api-key"];

/// Every key a profile may hold for a flag, in the order `--help` lists the flags.
pub fn flag_keys(command: &Command) -> Vec<FlagKey> {
    command
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            if META.contains(&long) {
                return None;
            }
            let kind = match arg.get_action() {
                ArgAction::SetTrue | ArgAction::SetFalse => Kind::Switch,
                ArgAction::Append => Kind::Many,
                ArgAction::Set => Kind::One,
                // Counters and the like: none today; left out rather than guessed at.
                _ => return None,
            };
            Some(FlagKey {
                key: long.replace('-', "_"),
                id: arg.get_id().as_str().to_string(),
                long: long.to_string(),
                kind,
            })
        })
        .collect()
}

/// The valid key nearest to a misspelt one, when it is near enough to be what was meant.
pub fn suggest<'a>(key: &str, valid: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Kebab case is the flag's spelling on the command line: an easy slip.
    let key = key.replace('-', "_");
    valid
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(&key, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn keys() -> Vec<FlagKey> {
        flag_keys(&crate::cli::Cli::command())
    }

    fn find(key: &str) -> Option<FlagKey> {
        keys().into_iter().find(|k| k.key == key)
    }

    #[test]
    fn every_long_flag_but_the_meta_ones_is_a_key_in_snake_case() {
        let sip = find("sip_uri").expect("sip_uri");
        assert_eq!((sip.long.as_str(), sip.kind), ("sip-uri", Kind::One));
        assert_eq!(find("registrar_uri").map(|k| k.kind), Some(Kind::One));
        assert_eq!(find("bridge").map(|k| k.kind), Some(Kind::Switch));
        assert_eq!(find("verbose").map(|k| k.kind), Some(Kind::Switch));
        let header = find("header").expect("header");
        assert_eq!((header.id.as_str(), header.kind), ("headers", Kind::Many));
        for meta in [
            "config",
            "profile",
            "print_config",
            "help",
            "version",
            "list_devices",
        ] {
            assert!(find(meta).is_none(), "{meta} is not a setting");
        }
        // --help's order: the account first.
        assert_eq!(keys().first().map(|k| k.key.as_str()), Some("sip_uri"));
    }

    #[test]
    fn a_misspelt_key_gets_the_nearest_valid_one() {
        let all = keys();
        let valid = || all.iter().map(|k| k.key.as_str());
        assert_eq!(suggest("sip_url", valid()), Some("sip_uri"));
        assert_eq!(suggest("sip-uri", valid()), Some("sip_uri"));
        assert_eq!(suggest("registrar", valid()), Some("registrar_uri"));
        assert_eq!(suggest("codec", valid()), Some("codecs"));
        assert_eq!(suggest("headers", valid()), Some("header"));
        assert_eq!(suggest("zzzz", valid()), None);
    }
}
