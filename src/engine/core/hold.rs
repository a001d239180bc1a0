//! Hold from our side: a re-INVITE with `a=sendonly` (RFC 3264 §8.4), and we send only
//! silence; again with `a=sendrecv` to resume. The other side's hold (their `sendonly` or
//! `inactive` offer) is answered in `dialog.rs`; both are reported apart, as `on_hold` (ours)
//! and `held` (theirs).

use super::*;
use crate::media::sdp::{self, MediaDirection};

impl CallTable {
    pub(super) fn hold(&mut self, id: CallId, on: bool, out: &mut Out) {
        let Some(call) = self.call_or_warn(id, " to hold", out) else {
            return;
        };
        if !call.media || call.answered_at.is_none() || call.is_ending() {
            out.warn(format!("call {id} is not answered; nothing to hold"));
            return;
        }
        if call.hold_pending.is_some() {
            out.warn(format!("call {id}: a hold or resume is already on its way"));
            return;
        }
        if call.held_by_us == on {
            out.warn(format!(
                "call {id} is {} on hold already",
                if on { "" } else { "not" }
            ));
            return;
        }
        let (Some(local), Some(codec)) = (call.local.as_mut(), call.codec) else {
            return;
        };
        local.session_version += 1;
        // Only the codec in use: a hold is no time to switch codecs.
        let direction = if on {
            MediaDirection::SendOnly
        } else {
            MediaDirection::SendRecv
        };
        let sdp = sdp::offer_with(&[codec], local, direction);
        call.hold_pending = Some(on);
        out.log(
            LogLevel::Info,
            LogKind::Call,
            format!(
                "call {id}: {} (re-INVITE with a={})",
                if on { "putting on hold" } else { "resuming" },
                direction.attribute()
            ),
        );
        out.push(Effect::Reinvite {
            call: id,
            key: call.key.clone(),
            sdp,
        });
    }

    /// The answer to our hold or resume re-INVITE: status and SDP, or why none came.
    pub(super) fn on_reinvite_done(
        &mut self,
        id: CallId,
        result: Result<(u16, Option<String>), String>,
        out: &mut Out,
    ) {
        let codecs = self.policy.codecs.clone();
        let srtp_mode = self.policy.srtp;
        let Some(call) = self.calls.get_mut(&id).filter(|c| !c.is_ending()) else {
            return;
        };
        let Some(on) = call.hold_pending.take() else {
            return;
        };
        let what = if on { "hold" } else { "resume" };
        let answer = match result {
            Ok((status, Some(text))) if (200..300).contains(&status) => text,
            Ok((status, None)) if (200..300).contains(&status) => {
                out.warn(format!(
                    "call {id}: the {what} was accepted without SDP; unchanged"
                ));
                return;
            }
            Ok((status, _)) => {
                out.warn(format!(
                    "call {id}: the other side refused the {what} with {status}"
                ));
                return;
            }
            Err(e) => {
                out.warn(format!("call {id}: the {what} got no answer: {e}"));
                return;
            }
        };
        let negotiated = match call.read_answer(&answer, &codecs, srtp_mode) {
            Ok(n) => n,
            Err(e) => {
                out.warn(format!(
                    "call {id}: the answer to our {what} is unusable: {e}"
                ));
                return;
            }
        };
        call.held_by_us = on;
        call.remote_rtp = Some(negotiated.remote);
        out.push(Effect::UpdateMedia {
            call: id,
            negotiated,
        });
        // On hold the other side hears nothing from us; resuming gives back the user's mute.
        if !call.is_bridged() {
            out.push(Effect::MuteMicrophone {
                call: id,
                muted: on || call.mic_muted,
            });
        }
        self.hold_changed(id, out);
    }

    /// The call's state and the `hold` event, after either side's hold changed.
    pub(super) fn hold_changed(&mut self, id: CallId, out: &mut Out) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let state = if call.held_by_us {
            CallState::OnHold
        } else if call.held_by_them {
            CallState::Held
        } else {
            CallState::Active
        };
        out.emit(Event::Hold {
            call: id,
            ours: call.held_by_us,
            theirs: call.held_by_them,
        });
        if call.state != state && call.state != CallState::Answering {
            call.state = state;
            out.call_state(id, state);
        }
    }
}
