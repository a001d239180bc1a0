//! What both front-ends (the TUI and headless) share: the words and emoji of log lines, and
//! how a run ended, which `main` turns into the exit status.

pub mod phrase;

pub use phrase::Phraser;

use crate::vocab::LogKind;

/// The emoji a log line of this kind is tagged with.
pub fn emoji(kind: LogKind) -> &'static str {
    match kind {
        LogKind::Call => "📞",
        LogKind::Audio => "🎵",
        LogKind::Success => "✅",
        LogKind::Error => "❌",
        LogKind::Warning => "⚠️ ",
        LogKind::Startup => "🚀",
        LogKind::Cleanup => "🧹",
        LogKind::Stats => "📊",
        LogKind::Sip => "📨",
    }
}

/// How a front-end's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Duration reached, the user quit, Ctrl+C: everything was cleaned up.
    Normal,
    /// The registrar refused the account for good.
    RegistrationRefused,
    /// A second interrupt during clean-up: leave now, without waiting for the engine.
    Interrupted,
    /// The front-end itself failed (no usable terminal, a panic).
    Failed,
}
