//! A call inside its dialog: the ACK (and a late offer's answer), re-INVITE and UPDATE
//! (hold, resume, codec switch, refusals per RFC 3261 §14.2), hanging up, and the end: the
//! dialog's termination, the teardown of media and bridge, and the call's final figures.

use super::*;
use crate::media::sdp::{self, MediaDirection};
use crate::vocab::MediaSummary;

impl CallTable {
    pub(super) fn on_confirmed(&mut self, key: &DialogKey, ack_sdp: Option<String>, out: &mut Out) {
        let Some(id) = self.by_key(key) else {
            return;
        };
        let codecs = self.policy.codecs.clone();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if std::mem::take(&mut call.awaiting_ack_answer) {
            let negotiated = ack_sdp
                .as_deref()
                .ok_or_else(|| "the ACK carried no SDP answer".to_string())
                .and_then(|text| call.read_answer(text, &codecs, self.policy.srtp));
            match negotiated {
                Ok(n) => call.pending_media = Some(n),
                Err(reason) => {
                    out.warn(format!(
                        "call {id}: late-offer call has no usable answer ({reason}); hanging up"
                    ));
                    self.hangup(id, out);
                    return;
                }
            }
        }
        call.state = CallState::Active;
        out.call_state(id, CallState::Active);
        self.start_media(id, out);
        self.arm_after_answer(id, out);
    }

    pub(super) fn on_reoffer(
        &mut self,
        key: &DialogKey,
        offer: Option<String>,
        update: bool,
        request: RequestId,
        out: &mut Out,
    ) {
        let respond = |status, sdp| Effect::Respond {
            request,
            status,
            sdp,
        };
        let codecs = self.policy.codecs.clone();
        let Some(call) = self.by_key(key).and_then(|id| self.calls.get_mut(&id)) else {
            out.push(respond(481, None));
            return;
        };
        let id = call.id;
        let Some(local) = call.local.as_ref() else {
            // Offer before our answer was acknowledged (RFC 3261 §14.2: 491 Request Pending).
            out.push(respond(491, None));
            return;
        };
        // The new version is kept only if the session really changes (a refusal leaves the
        // old one in force, RFC 3261 §14.2).
        let mut local = local.clone();
        local.session_version += 1;
        let Some(text) = offer else {
            if update {
                // An UPDATE without SDP refreshes the session and changes nothing: its 200
                // carries no SDP either (RFC 3311 §5.2).
                out.push(respond(200, None));
                return;
            }
            // A re-INVITE without SDP asks for our offer; the ACK's answer changes nothing for us.
            let body = sdp::offer(&codecs, &local);
            call.local = Some(local);
            out.push(respond(200, Some(body)));
            return;
        };
        // Keep the codec in use when it is still offered: a switch costs a glitch at best.
        let current = call.codec;
        let result = sdp::parse(&text)
            .map_err(|e| (400, e.to_string()))
            .and_then(|o| {
                sdp::answer_preferring(&o, &codecs, current, &local)
                    .map_err(|e| (if e.is_not_acceptable() { 488 } else { 400 }, e.to_string()))
            })
            .and_then(|(body, negotiated)| match current {
                // The port, the recorder and the bridge run at the call's clock rate.
                Some(old) if old.clock_rate() != negotiated.codec.clock_rate() => Err((
                    488,
                    format!(
                        "it asks to switch from {old} to {} mid-call, which changes the clock \
                         rate; the call stays on {old}",
                        negotiated.codec
                    ),
                )),
                _ => Ok((body, negotiated)),
            });
        let (body, negotiated) = match result {
            Ok(accepted) => accepted,
            Err((status, reason)) => {
                out.warn(format!(
                    "call {id}: re-INVITE refused with {status}: {reason}"
                ));
                out.push(respond(status, None));
                return;
            }
        };
        call.local = Some(local);
        call.codec = Some(negotiated.codec);
        call.remote_rtp = Some(negotiated.remote);
        call.srtp = negotiated.srtp.as_ref().map(|k| k.suite);
        let held = matches!(
            negotiated.direction,
            MediaDirection::RecvOnly | MediaDirection::Inactive
        );
        let started = call.media.then(|| Event::MediaStarted {
            call: id,
            codec: negotiated.codec,
            local_rtp: call.local_rtp.map(|a| a.to_string()).unwrap_or_default(),
            remote_rtp: negotiated.remote.to_string(),
            advertised_rtp: call.local_rtp.and_then(|a| call.advertised_rtp(a)),
            srtp: call.srtp,
        });
        if call.media {
            out.push(Effect::UpdateMedia {
                call: id,
                negotiated: negotiated.clone(),
            });
        }
        let was_held = std::mem::replace(&mut call.held_by_them, held);
        out.push(respond(200, Some(body)));
        if let Some(started) = started.filter(|_| current != Some(negotiated.codec)) {
            out.emit(started);
        }
        if was_held != held {
            self.hold_changed(id, out);
        }
    }

    pub(super) fn hangup(&mut self, id: CallId, out: &mut Out) {
        let Some(call) = self.call_or_warn(id, " to hang up", out) else {
            return;
        };
        if call.is_ending() {
            return;
        }
        if call.is_unanswered_outgoing() {
            self.cancel(id, EndReason::LocalHangup, out);
            return;
        }
        if call.state == CallState::Ringing {
            self.reject(id, 486, out);
            return;
        }
        self.end_call(id, EndReason::LocalHangup, out);
    }

    /// Sends BYE on an answered call, remembering why we end it.
    pub(super) fn end_call(&mut self, id: CallId, why: EndReason, out: &mut Out) {
        let Some(call) = self.calls.get_mut(&id).filter(|c| !c.is_ending()) else {
            return;
        };
        call.ending = Some(why);
        call.hung_up_at = self.now;
        out.log(
            LogLevel::Info,
            LogKind::Call,
            format!("hanging up call {id}"),
        );
        out.push(Effect::Bye {
            call: id,
            key: call.key.clone(),
        });
    }

    pub(super) fn on_bye_done(&mut self, id: CallId, result: Result<(), String>, out: &mut Out) {
        // A BYE from the other side that crossed ours ended the dialog first: nothing failed.
        let crossed = self.calls.get(&id).is_none_or(|c| c.torn_down);
        if let (Err(e), false) = (result, crossed) {
            out.warn(format!("call {id}: BYE failed: {e}"));
        }
    }

    /// The dialog is over: the call's media and bridge are stopped by the executor, which
    /// reports back with `Finished`.
    pub(super) fn on_terminated(&mut self, key: &DialogKey, why: Termination, out: &mut Out) {
        let Some(id) = self.by_key.remove(key) else {
            return;
        };
        // Before the call is torn down: transcript lines held for a caller turn, then the
        // AI caller's verdict.
        self.flush_transcript(id, out);
        self.settle_verdict(id, &why, out);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        // A transfer that succeeded ends the call as transferred even when the transferor's
        // BYE overtakes the answer to our final NOTIFY.
        let transferred = call.end_after_notify.take();
        let reason = call.ending.take().or(transferred).unwrap_or(match why {
            Termination::RemoteBye => EndReason::RemoteHangup,
            Termination::LocalBye => EndReason::LocalHangup,
            Termination::Cancelled => EndReason::Cancelled,
            Termination::Rejected(status) => EndReason::Rejected { status },
            Termination::Timeout => EndReason::Failed {
                reason: "no ACK or answer in time".into(),
            },
            Termination::Other(reason) => EndReason::Failed { reason },
        });
        call.ending = Some(reason);
        call.torn_down = true;
        call.hung_up_at = call.hung_up_at.or(self.now);
        out.push(Effect::Teardown(id));
    }

    pub(super) fn on_finished(
        &mut self,
        id: CallId,
        bridge: Option<BridgeStats>,
        media: Option<MediaReport>,
        now: Now,
        out: &mut Out,
    ) {
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        if let Some(stats) = bridge {
            bridge::stats_events(id, &stats, out);
        }
        let media = media
            .map(|report| summarize_media(id, report, out))
            .unwrap_or_default();
        let end = call.hung_up_at.unwrap_or(now.at);
        let duration_ms = call
            .answered_at
            .map(|t| end.saturating_duration_since(t).as_millis() as u64)
            .unwrap_or(0);
        let direction = call.direction();
        let reason = call.ending.unwrap_or(EndReason::Failed {
            reason: "ended without a reason".into(),
        });
        out.call_state(id, CallState::Ended);
        out.emit(Event::CallEnded {
            call: id,
            direction,
            reason,
            duration_ms,
            media,
            verdict: call.verdict.clone(),
        });
    }
}

/// The figures of a finished media session in the engine's terms, and the recording's fate.
fn summarize_media(id: CallId, report: MediaReport, out: &mut Out) -> MediaSummary {
    let recording = match report.recording {
        Some(Ok(summary)) => {
            out.log(
                LogLevel::Info,
                LogKind::Audio,
                format!(
                    "call {id}: recording saved to {} ({:.1} s)",
                    summary.path.display(),
                    summary.duration_ms as f64 / 1000.0
                ),
            );
            Some(summary.path.display().to_string())
        }
        Some(Err(e)) => {
            out.log(
                LogLevel::Error,
                LogKind::Error,
                format!("call {id}: the recording could not be finished: {e}"),
            );
            None
        }
        None => None,
    };
    MediaSummary {
        stats: report.stats,
        recording,
        turn_taking: report.turn_taking,
    }
}
