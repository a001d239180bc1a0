//! What both front-ends (the TUI and headless) share: the words and emoji of log lines, and
//! how a run ended, which `main` turns into the exit status.

pub mod phrase;

pub use phrase::Phraser;

use crate::vocab::{LogKind, TurnTaking};

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

/// A call's turn-taking in one compact line, for the call panel and the 📊 line:
/// `greeting 0.74 s · gap p50 0.72 / p90 0.76 s · barge-ins 1 (stop 0.40 s)`; figures
/// not measured yet are left out (`None` when there is nothing at all).
pub fn turn_words(t: &TurnTaking) -> Option<String> {
    let secs = |ms: u64| format!("{:.2}", ms as f64 / 1000.0);
    let mut parts = Vec::new();
    if let Some(g) = t.greeting_ms {
        parts.push(format!("greeting {} s", secs(g)));
    }
    if let (Some(p50), Some(p90)) = (t.gap_p50_ms, t.gap_p90_ms) {
        parts.push(format!("gap p50 {} / p90 {} s", secs(p50), secs(p90)));
    }
    if t.barge_ins > 0 {
        let stop = match (t.stop_latencies_ms.as_slice(), t.stop_p50_ms, t.stop_max_ms) {
            ([only], _, _) => format!(" (stop {} s)", secs(*only)),
            (_, Some(p50), Some(max)) => format!(" (stop p50 {} / max {} s)", secs(p50), secs(max)),
            _ => String::new(),
        };
        parts.push(format!("barge-ins {}{stop}", t.barge_ins));
        if t.not_stopped_within_1s > 0 {
            parts.push(format!(
                "not stopped within 1 s {}",
                t.not_stopped_within_1s
            ));
        }
    }
    if t.double_talk > 0 {
        parts.push(format!(
            "double talk {} ({} s)",
            t.double_talk,
            secs(t.double_talk_ms)
        ));
    }
    if t.long_silences > 0 {
        parts.push(format!("silences > 5 s {}", t.long_silences));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_words_are_compact_and_skip_what_was_not_measured() {
        assert_eq!(turn_words(&TurnTaking::default()), None);
        let t = TurnTaking {
            greeting_ms: Some(740),
            gaps_ms: vec![720, 760],
            gap_p50_ms: Some(720),
            gap_p90_ms: Some(760),
            gap_max_ms: Some(760),
            barge_ins: 2,
            stop_latencies_ms: vec![400, 1500],
            stop_p50_ms: Some(400),
            stop_max_ms: Some(1500),
            not_stopped_within_1s: 1,
            double_talk: 2,
            double_talk_ms: 900,
            long_silences: 1,
        };
        assert_eq!(
            turn_words(&t).unwrap(),
            "greeting 0.74 s · gap p50 0.72 / p90 0.76 s · barge-ins 2 (stop p50 0.40 / max \
             1.50 s) · not stopped within 1 s 1 · double talk 2 (0.90 s) · silences > 5 s 1"
        );
    }
}
