//! Turn-taking on the wire and the AI caller's verdict: the figures voice-agent builders ask
//! for (greeting delay, reply gaps, how fast the agent stops when talked over), measured from
//! the voice activity of each direction's audio in 20 ms frames, and how a goal-driven call
//! ended. Serialized into `turn_taking`, `voice`, `verdict` and `call_ended` JSON events.

use serde::Serialize;

/// Which side of a call spoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The other party (the agent under test, the caller on an incoming call).
    Remote,
    /// What we sent: the microphone, a played file, or the AI when bridged.
    Local,
}

/// A call's turn-taking figures so far. Times are multiples of one 20 ms frame, counted from
/// the answer (or from the first media when there was early media and no answer yet).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TurnTaking {
    /// Answer → the remote's first speech (an agent's greeting delay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greeting_ms: Option<u64>,
    /// End of our speech → start of the remote's reply, one per turn, in order.
    pub gaps_ms: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap_p50_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap_p90_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap_max_ms: Option<u64>,
    /// Times we started talking while the remote was talking.
    pub barge_ins: u32,
    /// For each barge-in the remote has finished: how long it kept talking after we started.
    pub stop_latencies_ms: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_p50_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_max_ms: Option<u64>,
    /// Barge-ins after which the remote kept talking for more than a second.
    pub not_stopped_within_1s: u32,
    /// Stretches where both sides talked at once, and their total length.
    pub double_talk: u32,
    pub double_talk_ms: u64,
    /// Stretches longer than 5 s in which neither side talked.
    pub long_silences: u32,
}

/// Nearest-rank percentile of `sorted` values (the smallest value with at least `p` % of the
/// values at or below it): the one definition behind a call's gap and stop figures and a
/// suite's figures across calls. `None` for no values.
pub fn nearest_rank(sorted: &[u64], p: u32) -> Option<u64> {
    let rank = (u64::from(p.min(100)) * sorted.len() as u64).div_ceil(100) as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

/// How a goal-driven call (the AI caller, or a scenario's assertions) came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    /// Nobody decided: the call hit `--max-turns` or `--max-duration`, or the agent hung up
    /// before the model ended the call.
    Undecided,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub reason: String,
}
