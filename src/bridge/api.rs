//! Which OpenAI voice API a bridge speaks, and what each one accepts: endpoint, default
//! model, voices, and the models worth suggesting when the service refuses one.
//!
//! The lists follow `live-notes.md` §1 and §3 (December 2026). `--model` stays free text, since
//! new models appear faster than releases; voices are checked before connecting, because a
//! bad voice would otherwise fail every call's session set-up.

use std::fmt;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Api {
    /// The Realtime API (GA): `/v1/realtime?model=`, server VAD, cancel and truncate.
    #[default]
    Realtime,
    /// GPT-Live: `/v1/live/sessions`, the client starts the session, the model takes turns.
    Live,
}

/// Realtime models to suggest, newest first. `gpt-realtime` and `gpt-realtime-mini` are
/// reported to shut down on 2027-01-20; these replace them.
pub const REALTIME_MODELS: &[&str] = &["gpt-realtime-2.1", "gpt-realtime-2.1-mini"];
pub const LIVE_MODELS: &[&str] = &["gpt-live-1", "gpt-live-1.1"];

/// The Realtime API's voices (GA session `audio.output.voice`).
pub const REALTIME_VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "marin", "sage", "shimmer", "verse",
];

/// GPT-Live's voices, as the SDK's `session.start` schema lists them.
pub const LIVE_VOICES: &[&str] = &[
    "alloy", "ash", "aube", "ballad", "beacon", "bossa", "brise", "cedar", "cinder", "coral",
    "delta", "echo", "flitz", "gleam", "harema", "juni", "marin", "meridian", "nira", "noeul",
    "nuri", "quartz", "ripple", "sage", "shimmer", "shitan", "sillage", "stone", "tempo", "verse",
    "vesper", "willow",
];

/// Models reported to shut down on 2027-01-20, with their successors.
const RETIRING: &[(&str, &str)] = &[
    ("gpt-realtime-mini", "gpt-realtime-2.1-mini"),
    ("gpt-realtime", "gpt-realtime-2.1"),
];

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::Realtime => "realtime",
            Api::Live => "live",
        }
    }

    /// What a person calls it, for messages.
    pub fn title(self) -> &'static str {
        match self {
            Api::Realtime => "Realtime API",
            Api::Live => "GPT-Live API",
        }
    }

    pub fn default_url(self) -> &'static str {
        match self {
            Api::Realtime => "wss://api.openai.com/v1/realtime",
            Api::Live => "wss://api.openai.com/v1/live/sessions",
        }
    }

    pub fn default_model(self) -> &'static str {
        self.models()[0]
    }

    /// Alloy on Realtime (sipterm's default since its first release); Marin, the service's
    /// own default, on Live.
    pub fn default_voice(self) -> &'static str {
        match self {
            Api::Realtime => "alloy",
            Api::Live => "marin",
        }
    }

    pub fn models(self) -> &'static [&'static str] {
        match self {
            Api::Realtime => REALTIME_MODELS,
            Api::Live => LIVE_MODELS,
        }
    }

    pub fn voices(self) -> &'static [&'static str] {
        match self {
            Api::Realtime => REALTIME_VOICES,
            Api::Live => LIVE_VOICES,
        }
    }

    fn other(self) -> Api {
        match self {
            Api::Realtime => Api::Live,
            Api::Live => Api::Realtime,
        }
    }

    /// The voice, lower-cased, when this API has it; otherwise a sentence that says why not
    /// and what to use instead.
    pub fn check_voice(self, voice: &str) -> Result<String, VoiceError> {
        let wanted = voice.trim().to_ascii_lowercase();
        if self.voices().contains(&wanted.as_str()) {
            return Ok(wanted);
        }
        let elsewhere = self
            .other()
            .voices()
            .contains(&wanted.as_str())
            .then_some(self.other());
        Err(VoiceError {
            voice: voice.to_owned(),
            api: self,
            elsewhere,
            nearest: nearest(&wanted, self.voices()),
        })
    }

    /// "try …" advice for a refused model, naming this API's current models.
    pub fn model_advice(self) -> String {
        let models = self.models().join(" or ");
        match self {
            Api::Realtime => {
                format!("try --model {models} (or --api live for GPT-Live models)")
            }
            Api::Live => format!("try --model {models} (or --api realtime for Realtime models)"),
        }
    }
}

/// A successor for a model reported to shut down soon, for a warning when a bridge starts.
pub fn successor(model: &str) -> Option<&'static str> {
    let base = model.trim();
    RETIRING.iter().find_map(|&(old, new)| {
        // The dated snapshots (gpt-realtime-2025-08-28) go with their alias.
        let dated = base
            .strip_prefix(old)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|rest| rest.starts_with("20"));
        (base == old || dated).then_some(new)
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoiceError {
    voice: String,
    api: Api,
    /// The other API has this voice.
    elsewhere: Option<Api>,
    nearest: Option<&'static str>,
}

impl fmt::Display for VoiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let VoiceError { voice, api, .. } = self;
        match self.elsewhere {
            Some(other) => write!(
                f,
                "--voice '{voice}' is a voice of the {} but not of the {} (choose --api {}, or one of: {})",
                other.title(),
                api.title(),
                other.name(),
                api.voices().join(", ")
            ),
            None => {
                write!(f, "--voice '{voice}' is not a voice of the {}", api.title())?;
                if let Some(near) = self.nearest {
                    write!(f, " (did you mean '{near}'?)")?;
                }
                write!(f, "; its voices are: {}", api.voices().join(", "))
            }
        }
    }
}

impl std::error::Error for VoiceError {}

/// The closest name within two edits, for typos like "shimer".
fn nearest(word: &str, names: &[&'static str]) -> Option<&'static str> {
    names
        .iter()
        .map(|&name| (edit_distance(word, name), name))
        .filter(|&(d, _)| d <= 2)
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_api() {
        assert_eq!(Api::Realtime.default_model(), "gpt-realtime-2.1");
        assert_eq!(Api::Live.default_model(), "gpt-live-1");
        assert_eq!(
            Api::Realtime.default_url(),
            "wss://api.openai.com/v1/realtime"
        );
        assert_eq!(
            Api::Live.default_url(),
            "wss://api.openai.com/v1/live/sessions"
        );
        for api in [Api::Realtime, Api::Live] {
            assert!(api.voices().contains(&api.default_voice()));
        }
    }

    #[test]
    fn voices_are_checked_per_api_case_insensitively() {
        assert_eq!(Api::Realtime.check_voice("Shimmer").unwrap(), "shimmer");
        assert_eq!(Api::Live.check_voice("juni").unwrap(), "juni");
        assert_eq!(Api::Live.check_voice("alloy").unwrap(), "alloy");
        // Every voice of the old Python tool still works.
        for voice in [
            "alloy", "echo", "shimmer", "ash", "ballad", "coral", "sage", "verse",
        ] {
            assert!(Api::Realtime.check_voice(voice).is_ok(), "{voice}");
        }
    }

    #[test]
    fn an_unknown_voice_is_explained() {
        let live_only = Api::Realtime.check_voice("juni").unwrap_err().to_string();
        assert!(
            live_only.starts_with(
                "--voice 'juni' is a voice of the GPT-Live API but not of the Realtime API \
                 (choose --api live, or one of: alloy,"
            ),
            "{live_only}"
        );
        let typo = Api::Realtime.check_voice("shimer").unwrap_err().to_string();
        assert!(
            typo.starts_with(
                "--voice 'shimer' is not a voice of the Realtime API (did you mean 'shimmer'?); \
                 its voices are: alloy, ash,"
            ),
            "{typo}"
        );
        let nonsense = Api::Live.check_voice("robot").unwrap_err().to_string();
        assert!(!nonsense.contains("did you mean"), "{nonsense}");
        assert!(nonsense.contains("willow"), "{nonsense}");
    }

    #[test]
    fn retiring_models_name_their_successors() {
        assert_eq!(successor("gpt-realtime"), Some("gpt-realtime-2.1"));
        assert_eq!(
            successor("gpt-realtime-2025-08-28"),
            Some("gpt-realtime-2.1")
        );
        assert_eq!(
            successor("gpt-realtime-mini"),
            Some("gpt-realtime-2.1-mini")
        );
        assert_eq!(
            successor("gpt-realtime-mini-2025-12-15"),
            Some("gpt-realtime-2.1-mini")
        );
        assert_eq!(successor("gpt-realtime-2.1"), None);
        assert_eq!(successor("gpt-realtime-1.5"), None);
        assert_eq!(successor("gpt-live-1"), None);
    }

    #[test]
    fn model_advice_names_current_models() {
        assert_eq!(
            Api::Realtime.model_advice(),
            "try --model gpt-realtime-2.1 or gpt-realtime-2.1-mini (or --api live for GPT-Live models)"
        );
        assert!(Api::Live.model_advice().contains("gpt-live-1"));
    }
}
