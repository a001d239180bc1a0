//! A call's media figures: one `Copy` struct for the media task's counters, the per-second
//! `quality` event, the `call_ended` summary and the call panel, serialised flat.

use serde::Serialize;

/// Receive quality as RFC 3550 and the E-model see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Quality {
    /// Expected minus received (RFC 3550 A.3), over the whole call.
    pub packets_lost: i64,
    pub loss_percent: f64,
    pub jitter_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// E-model estimate (ITU-T G.107), absent until something was received: a call that heard
    /// nothing has no quality to score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mos: Option<f64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Every figure of a call's media: packet counts and receive quality.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct MediaStats {
    pub packets_sent: u64,
    pub packets_received: u64,
    /// Datagrams on the RTP port that were not valid RTP for this call.
    pub packets_invalid: u64,
    /// RTP from an address other than the one the call's media latched onto.
    pub packets_foreign: u64,
    /// Times the remote's SSRC changed (not part of the JSON contract).
    #[serde(skip)]
    pub ssrc_changes: u64,
    /// SRTP/SRTCP packets that failed authentication (also in `packets_invalid`); only in
    /// the JSON of calls where it happened.
    #[serde(skip_serializing_if = "is_zero")]
    pub srtp_auth_failures: u64,
    /// 20 ms frames we owed the remote and never sent: send ticks too late to catch up (the
    /// process starved of CPU; the sequence number skips them, so the receiver counts them as
    /// lost too) and sends the system refused.
    pub frames_not_sent: u64,
    /// Frames of the remote's stream that arrived but were not played: too late for their slot,
    /// or dropped to bring a grown playout delay back down.
    pub frames_not_played: u64,
    #[serde(flatten)]
    pub quality: Quality,
}
