//! What the screen knows about one call: who, which way, how far along, its media, meters,
//! quality, hold and transfer.

use super::meter::Meter;
use crate::vocab::{
    CallId, CallState, Codec, Direction, EndReason, Level, Quality, TransferBy, TransferStage,
};
use std::time::{Duration, Instant};

/// How long an ended call stays on screen (dimmed, with its reason) before it is hidden.
pub const ENDED_LINGER: Duration = Duration::from_secs(10);
/// DTMF digits remembered per call (the panel shows the most recent ones).
const DTMF_KEPT: usize = 24;

/// The voice bridge's figures from the latest `bridge_stats` event.
#[derive(Clone, Debug, PartialEq)]
pub struct BridgeFigures {
    pub turns: u64,
    pub barge_ins: u64,
    pub reconnects: u64,
    pub last_latency_ms: Option<u32>,
    pub mean_latency_ms: Option<u64>,
}

/// The latest word on a transfer of this call, for the panel's note line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferNote {
    pub target: String,
    pub by: TransferBy,
    pub stage: TransferStage,
    pub status: Option<u16>,
    pub reason: Option<String>,
}

/// The latest provisional answer to our INVITE (`180 Ringing`, `183 Session Progress`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub status: u16,
    pub phrase: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CallView {
    pub id: CallId,
    /// The caller's URI as the engine reported it (ours, for an outgoing call).
    pub from: String,
    pub display_name: Option<String>,
    pub to: String,
    pub direction: Direction,
    pub state: CallState,
    /// When the call appeared (ringing starts here).
    pub since: Instant,
    pub answered_at: Option<Instant>,
    pub ended_at: Option<Instant>,
    /// Why it ended, in words for the panel.
    pub end_reason: Option<String>,
    pub codec: Option<Codec>,
    /// The SRTP suite when the media is encrypted.
    pub srtp: Option<crate::vocab::SrtpSuite>,
    pub local_rtp: Option<String>,
    /// What our SDP gave for it, when not the socket's own address (NAT, STUN).
    pub advertised_rtp: Option<String>,
    pub remote_rtp: Option<String>,
    /// Where the remote's RTP really comes from, once media latched onto it.
    pub latched_rtp: Option<String>,
    pub bridge: bool,
    /// Why the bridge is off or failed, when the engine said.
    pub bridge_note: Option<String>,
    /// Kept after the bridge ends, so its last figures stay readable.
    pub bridge_figures: Option<BridgeFigures>,
    /// The caller hears silence from our microphone.
    pub mic_muted: bool,
    /// We do not hear the bridged conversation (the engine keeps it while unbridged).
    pub listen_muted: bool,
    pub remote: Option<Meter>,
    pub local: Option<Meter>,
    /// Present only while the engine reports AI audio (the call is bridged).
    pub ai: Option<Meter>,
    pub quality: Option<Quality>,
    /// DTMF digits received.
    pub dtmf: String,
    /// DTMF digits we sent from the keypad.
    pub dtmf_sent: String,
    /// We hold the call (our `a=sendonly` re-INVITE).
    pub held_by_us: bool,
    /// The remote side holds the call.
    pub held_by_them: bool,
    /// Outgoing: the latest 18x, and INVITE → first 18x (the post-dial delay).
    pub progress: Option<Progress>,
    pub post_dial_delay_ms: Option<u64>,
    /// Outgoing: INVITE → 200 OK.
    pub answer_ms: Option<u64>,
    pub transfer: Option<TransferNote>,
    /// The AI caller's goal, and at the end its verdict.
    pub goal: Option<String>,
    pub verdict: Option<crate::vocab::Verdict>,
    /// Turn-taking on the wire so far (greeting, reply gaps, barge-ins).
    pub turn_taking: Option<crate::vocab::TurnTaking>,
}

impl CallView {
    pub fn new(
        id: CallId,
        from: &str,
        display_name: Option<&str>,
        to: &str,
        now: Instant,
    ) -> CallView {
        CallView {
            id,
            from: from.to_string(),
            display_name: display_name.map(str::to_string),
            to: to.to_string(),
            direction: Direction::Incoming,
            state: CallState::Ringing,
            since: now,
            answered_at: None,
            ended_at: None,
            end_reason: None,
            codec: None,
            srtp: None,
            local_rtp: None,
            advertised_rtp: None,
            remote_rtp: None,
            latched_rtp: None,
            bridge: false,
            bridge_note: None,
            bridge_figures: None,
            mic_muted: false,
            listen_muted: false,
            remote: None,
            local: None,
            ai: None,
            quality: None,
            dtmf: String::new(),
            dtmf_sent: String::new(),
            held_by_us: false,
            held_by_them: false,
            progress: None,
            post_dial_delay_ms: None,
            answer_ms: None,
            transfer: None,
            goal: None,
            verdict: None,
            turn_taking: None,
        }
    }

    /// A call we placed: `to` is the other party, `from` our identity.
    pub fn outgoing(id: CallId, to: &str, from: &str, now: Instant) -> CallView {
        CallView {
            direction: Direction::Outgoing,
            state: CallState::Calling,
            ..CallView::new(id, from, None, to, now)
        }
    }

    pub fn is_outgoing(&self) -> bool {
        self.direction == Direction::Outgoing
    }

    /// The other party's URI: the caller's, or the one we called.
    pub fn remote_uri(&self) -> &str {
        match self.direction {
            Direction::Incoming => &self.from,
            Direction::Outgoing => &self.to,
        }
    }

    /// Not ended: it still takes keys and counts as "live" for the quit question.
    pub fn is_live(&self) -> bool {
        self.state != CallState::Ended
    }

    /// It rings here: an incoming call waiting for `a` or `r`. (An outgoing call in the
    /// `Ringing` state rings at the other end: see `is_dialling`.)
    pub fn is_ringing(&self) -> bool {
        self.state == CallState::Ringing && self.direction == Direction::Incoming
    }

    /// Our call, not answered yet (calling, ringing there, early media): `h` cancels it.
    pub fn is_dialling(&self) -> bool {
        self.direction == Direction::Outgoing
            && matches!(
                self.state,
                CallState::Calling | CallState::Ringing | CallState::EarlyMedia
            )
    }

    /// Answered and not ended: mute, bridge, hold, transfer and the keypad make sense.
    pub fn is_answered(&self) -> bool {
        matches!(
            self.state,
            CallState::Answering | CallState::Active | CallState::Held | CallState::OnHold
        )
    }

    /// Still on screen at `now` (live, or ended less than `ENDED_LINGER` ago).
    pub fn is_visible(&self, now: Instant) -> bool {
        match self.ended_at {
            None => true,
            Some(t) => now.saturating_duration_since(t) < ENDED_LINGER,
        }
    }

    /// The name to show: the display name, else the URI without its scheme.
    pub fn who(&self) -> &str {
        match &self.display_name {
            Some(name) if !name.trim().is_empty() => name.trim(),
            _ => strip_scheme(self.remote_uri()),
        }
    }

    /// Talk time once answered, ringing time before; frozen when the call ends.
    pub fn elapsed(&self, now: Instant) -> Duration {
        let end = self.ended_at.unwrap_or(now);
        let start = self.answered_at.unwrap_or(self.since);
        end.saturating_duration_since(start)
    }

    pub fn set_state(&mut self, state: CallState, now: Instant) {
        self.state = state;
        match state {
            CallState::Active | CallState::Held | CallState::OnHold
                if self.answered_at.is_none() =>
            {
                self.answered_at = Some(now);
            }
            CallState::Ended if self.ended_at.is_none() => self.ended_at = Some(now),
            _ => {}
        }
        // The state names one side's hold; the `hold` event, when it comes, names both.
        match state {
            CallState::Active => (self.held_by_us, self.held_by_them) = (false, false),
            CallState::OnHold => self.held_by_us = true,
            CallState::Held => self.held_by_them = true,
            _ => {}
        }
    }

    pub fn end(&mut self, reason: &EndReason, now: Instant) {
        let cancelled = self.is_dialling() && *reason == EndReason::LocalHangup;
        self.set_state(CallState::Ended, now);
        // `h` before the answer sends CANCEL, which the engine reports as our hang-up.
        self.end_reason = Some(if cancelled {
            "we cancelled before the answer".into()
        } else {
            end_reason_text(reason, self.direction)
        });
        self.bridge = false;
    }

    pub fn levels(&mut self, remote: Level, local: Level, ai: Option<Level>, now: Instant) {
        feed(&mut self.remote, remote, now);
        feed(&mut self.local, local, now);
        match ai {
            Some(level) => feed(&mut self.ai, level, now),
            None => self.ai = None,
        }
    }

    pub fn push_dtmf(&mut self, digit: char) {
        push_digit(&mut self.dtmf, digit);
    }

    pub fn push_dtmf_sent(&mut self, digit: char) {
        push_digit(&mut self.dtmf_sent, digit);
    }

    /// True while some meter would still move on screen without new samples.
    pub fn meters_moving(&self, now: Instant) -> bool {
        [&self.remote, &self.local, &self.ai]
            .into_iter()
            .flatten()
            .any(|m| m.moving(now))
    }
}

fn push_digit(digits: &mut String, digit: char) {
    digits.push(digit);
    let extra = digits.chars().count().saturating_sub(DTMF_KEPT);
    if extra > 0 {
        *digits = digits.chars().skip(extra).collect();
    }
}

fn feed(slot: &mut Option<Meter>, level: Level, now: Instant) {
    match slot {
        Some(m) => m.update(level, now),
        None => *slot = Some(Meter::new(level, now)),
    }
}

/// `sip:bob@example.com` → `bob@example.com`; anything else unchanged.
pub fn strip_scheme(uri: &str) -> &str {
    let uri = uri.trim().trim_start_matches('<').trim_end_matches('>');
    uri.strip_prefix("sips:")
        .or_else(|| uri.strip_prefix("sip:"))
        .or_else(|| uri.strip_prefix("tel:"))
        .unwrap_or(uri)
}

/// Why a call ended, in words; who "the caller" is depends on the call's direction.
pub fn end_reason_text(reason: &EndReason, direction: Direction) -> String {
    let outgoing = direction == Direction::Outgoing;
    match reason {
        EndReason::LocalHangup => "we hung up".into(),
        EndReason::RemoteHangup if outgoing => "they hung up".into(),
        EndReason::RemoteHangup => "caller hung up".into(),
        EndReason::Cancelled if outgoing => "we cancelled before the answer".into(),
        EndReason::Cancelled => "caller gave up before the answer".into(),
        EndReason::Rejected { status: 486 } => "rejected (486 Busy Here)".into(),
        EndReason::Rejected { status: 603 } => "rejected (603 Decline)".into(),
        EndReason::Rejected { status } => format!("rejected ({status})"),
        EndReason::NoCommonCodec => "no common codec (488)".into(),
        EndReason::RtpTimeout { secs } => format!("no RTP for {secs} s"),
        EndReason::Failed { reason } => format!("failed: {reason}"),
        EndReason::NotAnswered {
            status,
            phrase,
            explained,
        } => {
            let code = format!("{status} {phrase}");
            match explained.trim() {
                "" => format!("not answered ({})", code.trim()),
                words => format!("{words} ({})", code.trim()),
            }
        }
        EndReason::RingTimeout { secs } => {
            format!("no answer within {secs} s, so we cancelled")
        }
        EndReason::Transferred { target } => format!("transferred to {}", strip_scheme(target)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_prefers_the_display_name() {
        let t = Instant::now();
        let c = CallView::new(CallId(1), "sip:bob@example.com", Some("Bob"), "sip:a@b", t);
        assert_eq!(c.who(), "Bob");
        let c = CallView::new(CallId(1), "<sip:bob@example.com>", Some(" "), "sip:a@b", t);
        assert_eq!(c.who(), "bob@example.com");
    }

    #[test]
    fn elapsed_counts_ringing_then_talk_time_and_freezes_at_the_end() {
        let t0 = Instant::now();
        let mut c = CallView::new(CallId(1), "sip:bob@x", None, "sip:a@b", t0);
        assert_eq!(
            c.elapsed(t0 + Duration::from_secs(4)),
            Duration::from_secs(4)
        );
        c.set_state(CallState::Active, t0 + Duration::from_secs(5));
        assert_eq!(
            c.elapsed(t0 + Duration::from_secs(65)),
            Duration::from_secs(60)
        );
        c.end(&EndReason::RemoteHangup, t0 + Duration::from_secs(95));
        assert_eq!(
            c.elapsed(t0 + Duration::from_secs(500)),
            Duration::from_secs(90)
        );
        assert!(c.is_visible(t0 + Duration::from_secs(100)));
        assert!(!c.is_visible(t0 + Duration::from_secs(106)));
    }

    #[test]
    fn dtmf_keeps_the_latest_digits() {
        let mut c = CallView::new(CallId(1), "sip:bob@x", None, "sip:a@b", Instant::now());
        for _ in 0..10 {
            c.push_dtmf('1');
            c.push_dtmf('2');
            c.push_dtmf('3');
        }
        assert_eq!(c.dtmf.len(), DTMF_KEPT);
        assert!(c.dtmf.ends_with("123"));
    }
}
