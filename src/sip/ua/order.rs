//! Which in-dialog requests a dialog may take, decided as they arrive (RFC 3261): a CSeq lower
//! than the last one is out of order (§12.2.2: 500), and an INVITE while an earlier one is
//! still unanswered gets 500 with a Retry-After of 0–10 s (§14.2). Everything else goes to the
//! dialog, which then sees requests in arrival order.

use rsipstack::sip::Method;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    last_cseq: Option<u32>,
    invite_pending: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    Take,
    /// 500: its CSeq is lower than one already taken.
    OutOfOrder,
    /// 500 with Retry-After: another re-INVITE is being answered.
    InvitePending,
}

impl Order {
    pub fn admit(&mut self, method: Method, cseq: u32) -> Admit {
        // ACK and CANCEL carry the CSeq of the request they belong to.
        if matches!(method, Method::Ack | Method::Cancel) {
            return Admit::Take;
        }
        if self.last_cseq.is_some_and(|last| cseq < last) {
            return Admit::OutOfOrder;
        }
        if method == Method::Invite && self.invite_pending {
            return Admit::InvitePending;
        }
        self.last_cseq = Some(cseq);
        if method == Method::Invite {
            self.invite_pending = true;
        }
        Admit::Take
    }

    /// The re-INVITE taken earlier has its final answer (or its transaction ended).
    pub fn invite_done(&mut self) {
        self.invite_pending = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_order_are_taken_and_older_ones_refused() {
        let mut o = Order::default();
        assert_eq!(o.admit(Method::Info, 2), Admit::Take);
        assert_eq!(o.admit(Method::Info, 3), Admit::Take);
        assert_eq!(o.admit(Method::Info, 3), Admit::Take, "equal is not lower");
        assert_eq!(o.admit(Method::Info, 1), Admit::OutOfOrder);
        assert_eq!(o.admit(Method::Ack, 1), Admit::Take);
    }

    #[test]
    fn a_second_invite_waits_for_the_first_ones_answer() {
        let mut o = Order::default();
        assert_eq!(o.admit(Method::Invite, 2), Admit::Take);
        assert_eq!(o.admit(Method::Invite, 3), Admit::InvitePending);
        assert_eq!(
            o.admit(Method::Info, 4),
            Admit::Take,
            "other requests go on"
        );
        o.invite_done();
        assert_eq!(o.admit(Method::Invite, 5), Admit::Take);
    }
}
