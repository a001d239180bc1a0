//! A call's beginning: a new INVITE (refused at once when its offer is unusable), ringing,
//! the auto-answer and auto-reject policies, answering (RTP sockets, then the 200 OK with our
//! SDP answer or, for a late offer, our offer) and rejecting.

use super::call::Answering;
use super::*;
use crate::media::sdp::{self, LocalMedia};
use crate::media::srtp::LocalSrtp;
use crate::vocab::{Direction, MediaSummary};

impl CallTable {
    pub(super) fn on_invite(&mut self, invite: Invite, _now: Now, out: &mut Out) {
        let Invite {
            key,
            sip_call_id,
            from,
            display_name,
            to,
            offer,
        } = invite;
        let id = CallId(self.next_id);
        self.next_id += 1;
        out.push(Effect::BindTrace {
            sip_call_id,
            call: id,
        });
        let who = display_name
            .as_ref()
            .map(|d| format!("{d} <{from}>"))
            .unwrap_or_else(|| from.clone());
        // Decide on the offer before ringing: an unusable offer is refused at once.
        let parsed = match offer.as_deref().map(sdp::parse).transpose() {
            Ok(parsed) => parsed,
            Err(e) => {
                out.warn(format!(
                    "call {id} from {who}: unreadable SDP offer ({e}); answering 400"
                ));
                out.push(Effect::Reject { key, status: 400 });
                return;
            }
        };
        if let Some(offer) = &parsed {
            let probe = LocalMedia {
                addr: self.policy.sdp_address,
                port: 9,
                session_id: 0,
                session_version: 0,
                srtp: LocalSrtp::unkeyed(self.policy.srtp),
            };
            if let Err(e) = sdp::answer_preferring(offer, &self.policy.codecs, None, &probe) {
                let status = if e.is_not_acceptable() { 488 } else { 400 };
                out.warn(format!("call {id} from {who}: {e}; answering {status}"));
                // SRTP refusals say why on the wire too: the caller can fix its crypto.
                out.push(if e.is_srtp() {
                    Effect::RejectBecause {
                        key,
                        status,
                        why: e.to_string(),
                    }
                } else {
                    Effect::Reject { key, status }
                });
                out.emit(Event::IncomingCall {
                    call: id,
                    from,
                    display_name,
                    to,
                });
                out.emit(Event::CallEnded {
                    call: id,
                    direction: Direction::Incoming,
                    reason: if e.is_srtp() {
                        EndReason::Failed {
                            reason: e.to_string(),
                        }
                    } else if status == 488 {
                        EndReason::NoCommonCodec
                    } else {
                        EndReason::Failed {
                            reason: e.to_string(),
                        }
                    },
                    duration_ms: 0,
                    media: MediaSummary::default(),
                    verdict: None,
                });
                return;
            }
        }
        // A call that gets its final answer at once needs no 180: sent microseconds before the
        // final response it only races it (a multi-worker proxy can reorder the two).
        let p = &self.policy;
        let answered_at_once =
            p.auto_reject.is_some() || (p.auto_answer && p.answer_after.is_zero());
        if !answered_at_once {
            out.push(Effect::Ring(key.clone()));
        }
        self.by_key.insert(key.clone(), id);
        self.calls
            .insert(id, Call::new(id, key, from.clone(), parsed));
        out.emit(Event::IncomingCall {
            call: id,
            from,
            display_name,
            to,
        });
        out.call_state(id, CallState::Ringing);
        if let Some(status) = self.policy.auto_reject {
            self.reject(id, status, out);
        } else if self.policy.auto_answer {
            if self.policy.answer_after.is_zero() {
                self.answer(id, out);
            } else {
                out.push(Effect::Arm {
                    timer: Timer::Answer(id),
                    after: self.policy.answer_after,
                });
            }
        }
    }

    pub(super) fn answer(&mut self, id: CallId, out: &mut Out) {
        let Some(call) = self.call_or_warn(id, " to answer", out) else {
            return;
        };
        if !call.is_ringing() {
            out.warn(format!("call {id} is not ringing, nothing to answer"));
            return;
        }
        call.answering = Answering::Binding;
        out.push(Effect::BindRtp(id));
    }

    pub(super) fn on_rtp_bound(
        &mut self,
        id: CallId,
        result: Result<(u16, u64), String>,
        public: Option<SocketAddr>,
        now: Now,
        out: &mut Out,
    ) {
        let address = public.map_or(self.policy.sdp_address, |p| p.ip());
        let outgoing = self
            .calls
            .get(&id)
            .is_some_and(|c| c.direction() == Direction::Outgoing);
        let codecs = self.policy.codecs.clone();
        let srtp_mode = self.policy.srtp;
        let Some(call) = self.calls.get_mut(&id).filter(|c| !c.is_ending()) else {
            return;
        };
        let (port, session_id) = match result {
            Ok(bound) => bound,
            Err(e) if outgoing => {
                out.log(
                    LogLevel::Error,
                    LogKind::Error,
                    format!("call {id}: no RTP port free ({e}); not calling"),
                );
                self.fail_before_invite(id, format!("no RTP port free ({e})"), out);
                return;
            }
            Err(e) => return answer_500(call, format!("no RTP port free ({e})"), out),
        };
        // The port the STUN server saw is the one callers can reach (the NAT may renumber).
        let port = public.map_or(port, |p| p.port());
        if outgoing {
            self.invite_with_offer(id, port, session_id, address, now, out);
            return;
        }
        // Fresh SDES keys per call, from the OS CSPRNG (RFC 4568 §6.1: each side its own).
        let srtp = match LocalSrtp::new(srtp_mode) {
            Ok(srtp) => srtp,
            Err(e) => return answer_500(call, e.to_string(), out),
        };
        let local = LocalMedia {
            addr: address,
            port,
            session_id,
            session_version: 1,
            srtp,
        };
        let (sdp, negotiated) = match &call.offer {
            Some(offer) => match sdp::answer_preferring(offer, &codecs, None, &local) {
                Ok((body, negotiated)) => (body, Some(negotiated)),
                Err(e) => {
                    // Checked at INVITE time; only reachable if the offer changed meanwhile.
                    out.log(LogLevel::Error, LogKind::Error, format!("call {id}: {e}"));
                    call.answering = Answering::No;
                    call.ending = Some(EndReason::NoCommonCodec);
                    out.push(Effect::Reject {
                        key: call.key.clone(),
                        status: 488,
                    });
                    return;
                }
            },
            None => (sdp::offer(&codecs, &local), None),
        };
        call.local = Some(local);
        call.pending_media = negotiated;
        call.answering = Answering::Accepting;
        out.push(Effect::Accept {
            call: id,
            key: call.key.clone(),
            sdp,
        });
    }

    pub(super) fn on_accepted(
        &mut self,
        id: CallId,
        result: Result<(), String>,
        now: Now,
        out: &mut Out,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.answering = Answering::No;
        if let Err(e) = result {
            out.log(
                LogLevel::Error,
                LogKind::Error,
                format!("call {id}: could not send 200 OK: {e}"),
            );
            call.local = None;
            call.pending_media = None;
            return;
        }
        call.state = CallState::Answering;
        call.answered_at = Some(now.at);
        // Late offer: media starts when the ACK brings the caller's answer.
        call.awaiting_ack_answer = call.pending_media.is_none();
        out.call_state(id, CallState::Answering);
        self.start_media(id, out);
    }

    pub(super) fn reject(&mut self, id: CallId, status: u16, out: &mut Out) {
        match self.calls.get_mut(&id) {
            Some(call) if call.is_ringing() => {
                call.ending = Some(EndReason::Rejected { status });
                out.push(Effect::Reject {
                    key: call.key.clone(),
                    status,
                });
                out.log(
                    LogLevel::Info,
                    LogKind::Call,
                    format!("rejected call {id} with {status}"),
                );
            }
            Some(_) => out.warn(format!("call {id} is not ringing; hang it up instead")),
            None => out.warn(format!("no call {id}")),
        }
    }
}

/// A call we cannot answer for a fault of ours (no RTP port, no keys): 500, logged with `why`.
fn answer_500(call: &mut Call, why: String, out: &mut Out) {
    out.log(
        LogLevel::Error,
        LogKind::Error,
        format!("call {}: {why}; answering 500", call.id),
    );
    call.answering = Answering::No;
    call.ending = Some(EndReason::Rejected { status: 500 });
    out.push(Effect::Reject {
        key: call.key.clone(),
        status: 500,
    });
}
