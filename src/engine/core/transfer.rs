//! Transfers. Theirs: a REFER on a call (a voice agent handing the caller to a person) is
//! answered 202, the target is called, NOTIFYs carry that call's progress (100, then its
//! final status), and the first call ends when the new one is answered (`--on-refer report`
//! only logs the target and answers 603). Ours: a blind transfer REFERs the other side to a
//! target and follows its NOTIFYs; the call ends when they report success.

use super::*;
use crate::config::OnRefer;
use crate::sip::dial;
use crate::vocab::{TransferBy, TransferStage};

/// A transfer in progress, on the call that is being transferred.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// They asked; `call` is the new call we placed to `target`.
    Theirs {
        target: String,
        call: Option<CallId>,
    },
    /// We asked them to call `target`.
    Ours { target: String },
}

fn transfer_event(
    call: CallId,
    target: &str,
    by: TransferBy,
    stage: TransferStage,
    status: Option<u16>,
    reason: Option<String>,
) -> Event {
    Event::Transfer {
        call,
        target: target.to_string(),
        by,
        stage,
        status,
        reason,
    }
}

impl CallTable {
    pub(super) fn on_refer(
        &mut self,
        key: &DialogKey,
        target: String,
        request: RequestId,
        out: &mut Out,
    ) {
        let respond = |status| Effect::Respond {
            request,
            status,
            sdp: None,
        };
        let Some(id) = self.by_key(key) else {
            out.push(respond(481));
            return;
        };
        let answered = self
            .calls
            .get(&id)
            .is_some_and(|c| c.answered_at.is_some() && !c.is_ending() && c.transfer.is_none());
        if !answered {
            out.warn(format!("call {id}: REFER to {target} refused: the call is not answered, or a transfer is under way"));
            out.push(respond(491));
            return;
        }
        out.emit(transfer_event(
            id,
            &target,
            TransferBy::Remote,
            TransferStage::Requested,
            None,
            None,
        ));
        match self.policy.on_refer {
            OnRefer::Report => {
                out.push(respond(603));
                out.emit(transfer_event(
                    id,
                    &target,
                    TransferBy::Remote,
                    TransferStage::Reported,
                    Some(603),
                    Some("--on-refer report".into()),
                ));
                return;
            }
            OnRefer::Reject => {
                out.push(respond(603));
                out.emit(transfer_event(
                    id,
                    &target,
                    TransferBy::Remote,
                    TransferStage::Failed,
                    Some(603),
                    Some("refused (--on-refer reject)".into()),
                ));
                return;
            }
            OnRefer::Accept => {}
        }
        // A target we cannot call is refused before we accept anything.
        if let Err(e) = dial::resolve(&target, self.policy.domain.as_deref()) {
            out.warn(format!("call {id}: cannot transfer to '{target}': {e}"));
            out.push(respond(400));
            return;
        }
        // 202, then NOTIFY 100, then the new call (`ReferAccepted`): its outcome's NOTIFY
        // can then never overtake the 100.
        out.push(Effect::AcceptRefer {
            call: id,
            request,
            key: key.clone(),
        });
        if let Some(call) = self.calls.get_mut(&id) {
            call.transfer = Some(Transfer::Theirs { target, call: None });
        }
    }

    /// Their REFER is accepted and the first NOTIFY sent: call the target.
    pub(super) fn on_refer_accepted(&mut self, id: CallId, out: &mut Out) {
        let target = match self.calls.get(&id).map(|c| (&c.transfer, c.is_ending())) {
            Some((Some(Transfer::Theirs { target, call: None }), false)) => target.clone(),
            _ => return,
        };
        let new = self.dial(target.clone(), out);
        if let Some(call) = self.calls.get_mut(&id) {
            call.transfer = Some(Transfer::Theirs {
                target: target.clone(),
                call: new,
            });
        }
        if let Some(new) = new.and_then(|n| self.calls.get_mut(&n)) {
            new.transfer_for = Some(id);
        }
        out.emit(transfer_event(
            id,
            &target,
            TransferBy::Remote,
            TransferStage::Trying,
            Some(100),
            None,
        ));
    }

    /// The call placed for their transfer got its outcome: tell them, and on success end
    /// the call they transferred.
    pub(super) fn transfer_outcome(
        &mut self,
        new: CallId,
        status: u16,
        phrase: &str,
        out: &mut Out,
    ) {
        let Some(old) = self.calls.get(&new).and_then(|c| c.transfer_for) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&old) else {
            return;
        };
        let Some(Transfer::Theirs { target, .. }) = call.transfer.take() else {
            return;
        };
        let key = call.key.clone();
        let ok = (200..300).contains(&status);
        // On success the call ends once the final NOTIFY is answered (`NotifyDone`): a BYE
        // right behind it could overtake it, and the transferor would not learn the outcome.
        if ok {
            call.end_after_notify = Some(EndReason::Transferred {
                target: target.clone(),
            });
        }
        if !call.is_ending() {
            out.push(Effect::NotifyTransfer {
                call: old,
                key,
                status,
                phrase: phrase.to_string(),
                done: true,
            });
        }
        out.emit(transfer_event(
            old,
            &target,
            TransferBy::Remote,
            if ok {
                TransferStage::Done
            } else {
                TransferStage::Failed
            },
            Some(status),
            Some(phrase.to_string()),
        ));
    }

    /// The final NOTIFY of their transfer was answered (or failed): a transferred call ends.
    pub(super) fn on_notify_done(&mut self, id: CallId, out: &mut Out) {
        if let Some(why) = self
            .calls
            .get_mut(&id)
            .and_then(|c| c.end_after_notify.take())
        {
            self.end_call(id, why, out);
        }
    }

    /// Blind transfer: REFER the other side of `id` to `target`.
    pub(super) fn transfer(&mut self, id: CallId, target: String, out: &mut Out) {
        let uri = match dial::resolve(&target, self.policy.domain.as_deref()) {
            Ok(uri) => uri,
            Err(e) => {
                out.warn(format!(
                    "call {id}: cannot transfer to '{}': {e}",
                    target.trim()
                ));
                return;
            }
        };
        let Some(call) = self.call_or_warn(id, " to transfer", out) else {
            return;
        };
        if call.answered_at.is_none() || call.is_ending() || call.transfer.is_some() {
            out.warn(format!(
                "call {id} cannot be transferred now (not answered, ending, or a transfer is under way)"
            ));
            return;
        }
        call.transfer = Some(Transfer::Ours {
            target: uri.clone(),
        });
        out.emit(transfer_event(
            id,
            &uri,
            TransferBy::Us,
            TransferStage::Requested,
            None,
            None,
        ));
        out.push(Effect::Refer {
            call: id,
            key: call.key.clone(),
            target: uri,
        });
    }

    pub(super) fn on_refer_done(&mut self, id: CallId, result: Result<u16, String>, out: &mut Out) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(Transfer::Ours { target }) = call.transfer.clone() else {
            return;
        };
        match result {
            Ok(status) if (200..300).contains(&status) => out.emit(transfer_event(
                id,
                &target,
                TransferBy::Us,
                TransferStage::Trying,
                Some(status),
                Some("accepted".into()),
            )),
            outcome => {
                call.transfer = None;
                let (status, reason) = match outcome {
                    Ok(status) => (Some(status), None),
                    Err(e) => (None, Some(e)),
                };
                out.emit(transfer_event(
                    id,
                    &target,
                    TransferBy::Us,
                    TransferStage::Failed,
                    status,
                    reason.or_else(|| Some("the REFER was refused".into())),
                ));
            }
        }
    }

    pub(super) fn on_transfer_notify(
        &mut self,
        key: &DialogKey,
        status: u16,
        phrase: String,
        done: bool,
        out: &mut Out,
    ) {
        let Some(id) = self.by_key(key) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(Transfer::Ours { target }) = call.transfer.clone() else {
            return;
        };
        let stage = match status {
            100..=199 => TransferStage::Trying,
            200..=299 => TransferStage::Done,
            _ => TransferStage::Failed,
        };
        if stage != TransferStage::Trying || done {
            call.transfer = None;
        }
        out.emit(transfer_event(
            id,
            &target,
            TransferBy::Us,
            stage,
            Some(status),
            Some(phrase),
        ));
        if stage == TransferStage::Done {
            self.end_call(id, EndReason::Transferred { target }, out);
        }
    }
}
