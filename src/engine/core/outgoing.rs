//! Calls we place: dialling (RTP sockets first, so the INVITE carries our offer), the
//! provisional answers (ringing, early media with the remote's audio playing), the answer,
//! a refusal in plain words, one redirect followed, CANCEL on hang-up or `--ring-timeout`.

use super::call::Answering;
use super::*;
use crate::media::sdp::{self, LocalMedia};
use crate::media::srtp::LocalSrtp;
use crate::sip::dial;
use crate::sip::ua::{Progress, Refusal};

/// What the table remembers of a call it placed.
#[derive(Clone, Debug, Default)]
pub struct Placed {
    /// The URI we call (after a redirect, the new one).
    pub target: String,
    /// When the INVITE went out (after the RTP sockets were bound).
    pub invited_at: Option<Instant>,
    /// INVITE → first provisional answer: the post-dial delay.
    pub post_dial_delay_ms: Option<u64>,
    /// How many INVITEs came before this one: 1 after the redirect we followed (then the
    /// next 3xx is final). Each INVITE has its own dialog key.
    pub attempt: u32,
}

impl CallTable {
    pub(super) fn dial(&mut self, target: String, out: &mut Out) -> Option<CallId> {
        let uri = match dial::resolve(&target, self.policy.domain.as_deref()) {
            Ok(uri) => uri,
            Err(e) => {
                out.log(
                    LogLevel::Error,
                    LogKind::Error,
                    format!("cannot dial '{}': {e}", target.trim()),
                );
                return None;
            }
        };
        let id = CallId(self.next_id);
        self.next_id += 1;
        let key = placed_key(id, 0);
        let mut call = Call::new(id, key.clone(), uri.clone(), None);
        call.state = CallState::Calling;
        call.answering = Answering::Binding;
        call.placed = Some(Placed {
            target: uri.clone(),
            ..Placed::default()
        });
        self.by_key.insert(key, id);
        self.calls.insert(id, call);
        out.emit(Event::OutgoingCall {
            call: id,
            to: uri,
            from: self.policy.from.clone(),
            goal: self.goal_of(id),
        });
        out.call_state(id, CallState::Calling);
        out.push(Effect::BindRtp(id));
        Some(id)
    }

    /// Our RTP sockets are bound: the INVITE goes out with our offer.
    pub(super) fn invite_with_offer(
        &mut self,
        id: CallId,
        port: u16,
        session_id: u64,
        address: IpAddr,
        now: Now,
        out: &mut Out,
    ) {
        let codecs = self.policy.codecs.clone();
        let srtp_mode = self.policy.srtp;
        let ring_timeout = self.policy.ring_timeout;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let srtp = match LocalSrtp::new(srtp_mode) {
            Ok(srtp) => srtp,
            Err(e) => {
                out.log(
                    LogLevel::Error,
                    LogKind::Error,
                    format!("call {id}: {e}; not calling"),
                );
                self.fail_before_invite(id, e.to_string(), out);
                return;
            }
        };
        let local = LocalMedia {
            addr: address,
            port,
            session_id,
            session_version: 1,
            srtp,
        };
        let offer = sdp::offer(&codecs, &local);
        call.local = Some(local);
        call.answering = Answering::No;
        let placed = call.placed.get_or_insert_with(Placed::default);
        placed.invited_at = Some(now.at);
        out.push(Effect::Invite {
            call: id,
            key: call.key.clone(),
            target: placed.target.clone(),
            sdp: offer,
        });
        if let Some(after) = ring_timeout {
            out.push(Effect::Arm {
                timer: Timer::RingTimeout(id),
                after,
            });
        }
    }

    /// No INVITE went out (no RTP port, no keys): the call ends here.
    pub(super) fn fail_before_invite(&mut self, id: CallId, reason: String, out: &mut Out) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.answering = Answering::No;
        call.ending = Some(EndReason::Failed { reason });
        let key = call.key.clone();
        self.transfer_outcome(id, 500, "Server Internal Error", out);
        self.on_terminated(&key, Termination::Other(String::new()), out);
    }

    /// `Effect::Invite` could not even be sent.
    pub(super) fn on_invite_sent(
        &mut self,
        id: CallId,
        result: Result<String, String>,
        out: &mut Out,
    ) {
        match result {
            Ok(sip_call_id) => out.push(Effect::BindTrace {
                sip_call_id,
                call: id,
            }),
            Err(reason) => {
                out.log(
                    LogLevel::Error,
                    LogKind::Error,
                    format!("call {id}: the INVITE cannot be sent: {reason}"),
                );
                self.fail_before_invite(id, reason, out);
            }
        }
    }

    pub(super) fn on_progress(
        &mut self,
        key: &DialogKey,
        progress: Progress,
        now: Now,
        out: &mut Out,
    ) {
        let codecs = self.policy.codecs.clone();
        let Some(id) = self.by_key(key) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id).filter(|c| !c.is_ending()) else {
            return;
        };
        let Some(placed) = call.placed.as_mut() else {
            return;
        };
        let since_invite = placed
            .invited_at
            .map(|t| now.at.saturating_duration_since(t).as_millis() as u64)
            .unwrap_or(0);
        placed.post_dial_delay_ms.get_or_insert(since_invite);
        // Early media: a provisional answer with SDP is the answer to our offer (RFC 3261
        // §13.2.1); its audio plays before the call is answered.
        let mut early = false;
        if let Some(text) = progress.sdp.as_deref().filter(|_| !call.media) {
            match call.read_answer(text, &codecs, self.policy.srtp) {
                Ok(negotiated) => {
                    call.pending_media = Some(negotiated);
                    early = true;
                }
                Err(e) => out.warn(format!(
                    "call {id}: the early media SDP in {} is unusable ({e}); waiting for the answer",
                    progress.status
                )),
            }
        }
        out.emit(Event::CallProgress {
            call: id,
            status: progress.status,
            phrase: progress.phrase,
            post_dial_delay_ms: since_invite,
            early_media: early || call.state == CallState::EarlyMedia,
        });
        let next = if early {
            Some(CallState::EarlyMedia)
        } else if call.state == CallState::Calling {
            Some(CallState::Ringing)
        } else {
            None
        };
        if let Some(state) = next {
            call.state = state;
            out.call_state(id, state);
        }
        if early {
            self.start_media(id, out);
        }
    }

    pub(super) fn on_answered(
        &mut self,
        key: &DialogKey,
        sdp_text: Option<String>,
        now: Now,
        out: &mut Out,
    ) {
        let codecs = self.policy.codecs.clone();
        let Some(id) = self.by_key(key) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.is_ending() {
            // A 2xx crossed our CANCEL: rsipstack ACKs and BYEs it; the call ends here.
            self.on_terminated(key, Termination::LocalBye, out);
            return;
        }
        let negotiated = match sdp_text.as_deref() {
            Some(text) => call.read_answer(text, &codecs, self.policy.srtp).map(Some),
            // The answer was in the 183 already (RFC 3261 §13.2.1: only one answer).
            None if call.media || call.pending_media.is_some() => Ok(None),
            None => Err("the 200 OK carried no SDP answer".to_string()),
        };
        if call.media {
            // Early media ran before the answer: the greeting delay counts from the 200.
            out.push(Effect::MediaAnswered(id));
        }
        let placed = call.placed.clone().unwrap_or_default();
        let answer_ms = placed
            .invited_at
            .map(|t| now.at.saturating_duration_since(t).as_millis() as u64)
            .unwrap_or(0);
        call.answered_at = Some(now.at);
        call.state = CallState::Active;
        out.emit(Event::CallAnswered {
            call: id,
            answer_ms,
            post_dial_delay_ms: placed.post_dial_delay_ms,
        });
        match negotiated {
            Ok(Some(n)) if call.media => {
                if call.codec != Some(n.codec) || call.remote_rtp != Some(n.remote) {
                    call.codec = Some(n.codec);
                    call.remote_rtp = Some(n.remote);
                    out.push(Effect::UpdateMedia {
                        call: id,
                        negotiated: n,
                    });
                }
            }
            Ok(Some(n)) => call.pending_media = Some(n),
            Ok(None) => {}
            Err(reason) => {
                out.call_state(id, CallState::Active);
                out.warn(format!(
                    "call {id}: the answer is unusable ({reason}); hanging up"
                ));
                self.end_call(id, EndReason::Failed { reason }, out);
                return;
            }
        }
        out.call_state(id, CallState::Active);
        self.start_media(id, out);
        self.transfer_outcome(id, 200, "OK", out);
        self.arm_after_answer(id, out);
    }

    pub(super) fn on_not_answered(&mut self, key: &DialogKey, refusal: Refusal, out: &mut Out) {
        let Some(id) = self.by_key(key) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        // A 3xx is followed once, unless we are ending the call anyway.
        if let (Some(contact), false) = (&refusal.redirect, call.is_ending()) {
            let placed = call.placed.get_or_insert_with(Placed::default);
            if placed.attempt == 0 {
                placed.attempt += 1;
                placed.target = contact.clone();
                let new_key = placed_key(id, placed.attempt);
                out.log(
                    LogLevel::Info,
                    LogKind::Call,
                    format!(
                        "call {id}: {} {} redirects to {contact}; calling there",
                        refusal.status, refusal.phrase
                    ),
                );
                self.by_key.remove(key);
                self.by_key.insert(new_key.clone(), id);
                call.key = new_key.clone();
                let offer = call
                    .local
                    .as_ref()
                    .map(|l| sdp::offer(&self.policy.codecs, l));
                if let Some(offer) = offer {
                    out.push(Effect::Invite {
                        call: id,
                        key: new_key,
                        target: contact.clone(),
                        sdp: offer,
                    });
                    return;
                }
            }
        }
        if call.ending.is_none() {
            let explained = explain(refusal.status).to_string();
            out.log(
                LogLevel::Warn,
                LogKind::Error,
                format!(
                    "call {id} to {} not answered: {} {}: {explained}",
                    call.remote_uri, refusal.status, refusal.phrase
                ),
            );
            call.ending = Some(EndReason::NotAnswered {
                status: refusal.status,
                phrase: refusal.phrase.clone(),
                explained,
            });
        }
        self.transfer_outcome(id, refusal.status, &refusal.phrase, out);
        self.on_terminated(key, Termination::Rejected(refusal.status), out);
    }

    /// Hang-up before the answer: CANCEL (the 487 then ends the call).
    pub(super) fn cancel(&mut self, id: CallId, why: EndReason, out: &mut Out) {
        let Some(call) = self.calls.get_mut(&id).filter(|c| !c.is_ending()) else {
            return;
        };
        call.ending = Some(why);
        if call.answering == Answering::Binding {
            // The INVITE has not gone out yet: nothing to cancel on the wire.
            let key = call.key.clone();
            self.on_terminated(&key, Termination::Other(String::new()), out);
            return;
        }
        out.log(
            LogLevel::Info,
            LogKind::Call,
            format!("cancelling call {id}"),
        );
        let key = call.key.clone();
        // Nothing has answered yet, not even 100: a CANCEL may not go out before a
        // provisional answer (RFC 3261 §9.1), so the SIP side holds it until one comes (or
        // the INVITE times out); the call ends here now instead of after Timer B.
        let unheard = call.state == CallState::Calling;
        out.push(Effect::Cancel {
            call: id,
            key: key.clone(),
        });
        if unheard {
            self.on_terminated(&key, Termination::Other(String::new()), out);
        }
    }

    pub(super) fn on_ring_timeout(&mut self, id: CallId, out: &mut Out) {
        let secs = self.policy.ring_timeout.unwrap_or_default().as_secs() as u32;
        if self
            .calls
            .get(&id)
            .is_some_and(Call::is_unanswered_outgoing)
        {
            out.warn(format!("call {id}: no answer within {secs} s; cancelling"));
            self.cancel(id, EndReason::RingTimeout { secs }, out);
        }
    }
}

/// The dialog key of a placed call's `attempt`-th INVITE (a redirect makes a new one).
fn placed_key(id: CallId, attempt: u32) -> DialogKey {
    DialogKey::new(format!("placed-{}-{attempt}", id.0))
}

/// A final status in plain words, for the log and `call_ended`.
pub fn explain(status: u16) -> &'static str {
    match status {
        300..=399 => {
            "the call was redirected, and the redirect was not followed (only one is)"
        }
        400 => "the other side could not read our INVITE",
        401 | 407 => "the server wants credentials we do not have or that it refused (check --username and --password)",
        403 => "the server forbids this call (account or permission)",
        404 => "no such user or number there",
        405 => "the other side does not take calls (INVITE not allowed)",
        408 => "nothing answered in time (a wrong address, a firewall, or a server that is down)",
        410 => "that user or number is gone for good",
        413 | 414 => "our INVITE was too large for the other side",
        415 | 488 | 606 => "the other side takes none of our codecs or media settings",
        416 => "the other side does not take this kind of address",
        420 | 421 => "the other side needs a SIP extension we do not use",
        480 => "the user is not available right now (not registered, or do-not-disturb)",
        481 => "the server lost track of the call",
        482 | 483 => "the call looped or went through too many proxies",
        484 => "the number is incomplete",
        485 => "the address is ambiguous",
        486 | 600 => "busy",
        487 => "the call was cancelled before it was answered",
        500 => "the other side failed internally",
        501 => "the other side does not support this request",
        502 => "a gateway on the way got a bad answer",
        503 => "the service is unavailable (overloaded or down); try again later",
        504 => "a server on the way timed out",
        505 => "the other side does not speak our SIP version",
        513 => "our INVITE was too large",
        603 => "declined by the user",
        604 => "that user or number does not exist anywhere",
        402..=499 => "the other side refused the request",
        506..=599 => "the server failed",
        601..=699 => "refused everywhere",
        _ => "an unexpected answer",
    }
}
