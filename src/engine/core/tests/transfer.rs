//! Hold from our side, and transfers both ways.

use super::*;
use crate::config::OnRefer;
use crate::vocab::{TransferBy, TransferStage};

/// A PCMU answer from 198.51.100.7:5004 with a direction attribute.
fn answer_with(direction: &str) -> String {
    offer(
        "0 101",
        &[
            "a=rtpmap:101 telephone-event/8000",
            &format!("a={direction}"),
        ],
    )
}

fn transfers(effects: &[Effect]) -> Vec<(TransferBy, TransferStage, Option<u16>)> {
    events(effects)
        .into_iter()
        .filter_map(|e| match e {
            Event::Transfer {
                by, stage, status, ..
            } => Some((*by, *stage, *status)),
            _ => None,
        })
        .collect()
}

#[test]
fn hold_sends_sendonly_and_mutes_us_then_resume_undoes_both() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    let out = s.on(Input::Command(Command::Hold { call: id, on: true }));
    let [Effect::Reinvite { call, key: k, sdp }] = &actions(&out)[..] else {
        panic!("one re-INVITE: {out:?}");
    };
    assert_eq!((*call, k), (id, &key(1)));
    assert!(sdp.contains("a=sendonly"), "{sdp}");
    assert!(
        sdp.contains("m=audio 10002 RTP/AVP 0 101"),
        "only the codec in use: {sdp}"
    );
    // A second press while the first is on its way does nothing twice.
    let again = s.on(Input::Command(Command::Hold { call: id, on: true }));
    assert!(actions(&again).is_empty());
    let out = s.on(Input::ReinviteDone {
        call: id,
        result: Ok((200, Some(answer_with("recvonly")))),
    });
    let Some(Effect::UpdateMedia { negotiated, .. }) =
        out.iter().find(|e| matches!(e, Effect::UpdateMedia { .. }))
    else {
        panic!("media follows the hold: {out:?}");
    };
    assert_eq!(negotiated.direction, MediaDirection::SendOnly);
    assert!(out.contains(&Effect::MuteMicrophone {
        call: id,
        muted: true
    }));
    assert!(events(&out).contains(&&Event::Hold {
        call: id,
        ours: true,
        theirs: false
    }));
    assert_eq!(states(&out), vec![CallState::OnHold]);

    let out = s.on(Input::Command(Command::Hold {
        call: id,
        on: false,
    }));
    let [Effect::Reinvite { sdp, .. }] = &actions(&out)[..] else {
        panic!("one re-INVITE: {out:?}");
    };
    assert!(sdp.contains("a=sendrecv"), "{sdp}");
    let out = s.on(Input::ReinviteDone {
        call: id,
        result: Ok((200, Some(answer_with("sendrecv")))),
    });
    assert!(out.contains(&Effect::MuteMicrophone {
        call: id,
        muted: false
    }));
    assert_eq!(states(&out), vec![CallState::Active]);
}

#[test]
fn a_refused_hold_changes_nothing() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    s.on(Input::Command(Command::Hold { call: id, on: true }));
    let out = s.on(Input::ReinviteDone {
        call: id,
        result: Ok((488, None)),
    });
    assert!(actions(&out).is_empty());
    assert!(logs(&out)[0].contains("refused the hold with 488"));
    assert_eq!(s.state(id), Some(CallState::Active));
    // Nothing to hold before the answer.
    s.invite(2, Some(pcmu_offer()));
    let out = s.on(Input::Command(Command::Hold {
        call: CallId(2),
        on: true,
    }));
    assert!(actions(&out).is_empty());
}

#[test]
fn their_refer_is_accepted_the_target_called_and_the_old_call_ended_on_answer() {
    let mut s = Script::new(policy());
    let old = s.connected(1);
    let out = s.on(Input::Refer {
        key: key(1),
        target: "sip:human@198.51.100.4".into(),
        request: RequestId(9),
    });
    assert_eq!(
        actions(&out),
        vec![&Effect::AcceptRefer {
            call: old,
            request: RequestId(9),
            key: key(1)
        }]
    );
    assert_eq!(
        transfers(&out),
        vec![(TransferBy::Remote, TransferStage::Requested, None)]
    );
    // The target is called once the 202 and the NOTIFY 100 are out.
    let out = s.on(Input::ReferAccepted { call: old });
    let new = CallId(2);
    assert!(
        out.contains(&Effect::BindRtp(new)),
        "the target is called: {out:?}"
    );
    assert_eq!(
        transfers(&out),
        vec![(TransferBy::Remote, TransferStage::Trying, Some(100))]
    );
    s.on(Input::RtpBound {
        call: new,
        result: Ok((10_040, 7)),
        public: None,
    });
    let out = s.on(Input::Answered {
        key: DialogKey::new("placed-2-0"),
        sdp: Some(pcmu_offer()),
    });
    assert!(out.contains(&Effect::NotifyTransfer {
        call: old,
        key: key(1),
        status: 200,
        phrase: "OK".into(),
        done: true
    }));
    assert_eq!(
        transfers(&out),
        vec![(TransferBy::Remote, TransferStage::Done, Some(200))]
    );
    // The first call ends once that NOTIFY is answered, not before.
    assert!(!out.iter().any(|e| matches!(e, Effect::Bye { .. })));
    let out = s.on(Input::NotifyDone { call: old });
    assert_eq!(
        actions(&out),
        vec![&Effect::Bye {
            call: old,
            key: key(1)
        }]
    );
    let out = s.remote_bye(1, None);
    assert_eq!(
        ended(&out).unwrap().0,
        &EndReason::Transferred {
            target: "sip:human@198.51.100.4".into()
        }
    );
}

#[test]
fn a_transferred_call_ends_as_transferred_when_the_transferors_bye_comes_first() {
    let mut s = Script::new(policy());
    let old = s.connected(1);
    s.on(Input::Refer {
        key: key(1),
        target: "sip:human@198.51.100.4".into(),
        request: RequestId(9),
    });
    s.on(Input::ReferAccepted { call: old });
    s.on(Input::RtpBound {
        call: CallId(2),
        result: Ok((10_040, 7)),
        public: None,
    });
    s.on(Input::Answered {
        key: DialogKey::new("placed-2-0"),
        sdp: Some(pcmu_offer()),
    });
    // The transferor hangs up on the final NOTIFY before its 200 reaches us.
    let out = s.remote_bye(1, None);
    assert_eq!(
        ended(&out).unwrap().0,
        &EndReason::Transferred {
            target: "sip:human@198.51.100.4".into()
        }
    );
}

#[test]
fn a_failed_transfer_target_is_notified_and_the_call_stays() {
    let mut s = Script::new(policy());
    let old = s.connected(1);
    s.on(Input::Refer {
        key: key(1),
        target: "sip:human@198.51.100.4".into(),
        request: RequestId(9),
    });
    s.on(Input::ReferAccepted { call: old });
    s.on(Input::RtpBound {
        call: CallId(2),
        result: Ok((10_040, 7)),
        public: None,
    });
    let out = s.on(Input::NotAnswered {
        key: DialogKey::new("placed-2-0"),
        refusal: crate::sip::ua::Refusal {
            status: 486,
            phrase: "Busy Here".into(),
            redirect: None,
        },
    });
    assert!(out.contains(&Effect::NotifyTransfer {
        call: old,
        key: key(1),
        status: 486,
        phrase: "Busy Here".into(),
        done: true
    }));
    assert_eq!(
        transfers(&out),
        vec![(TransferBy::Remote, TransferStage::Failed, Some(486))]
    );
    assert_eq!(s.state(old), Some(CallState::Active));
}

#[test]
fn on_refer_report_logs_the_target_and_declines() {
    let mut s = Script::new(Policy {
        on_refer: OnRefer::Report,
        ..policy()
    });
    s.connected(1);
    let out = s.on(Input::Refer {
        key: key(1),
        target: "sip:human@198.51.100.4".into(),
        request: RequestId(3),
    });
    assert_eq!(
        actions(&out),
        vec![&Effect::Respond {
            request: RequestId(3),
            status: 603,
            sdp: None
        }]
    );
    assert_eq!(
        transfers(&out),
        vec![
            (TransferBy::Remote, TransferStage::Requested, None),
            (TransferBy::Remote, TransferStage::Reported, Some(603))
        ]
    );
}

#[test]
fn our_blind_transfer_follows_the_notifies_and_ends_the_call_on_success() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    let out = s.on(Input::Command(Command::Transfer {
        call: id,
        target: "2002".into(),
    }));
    assert_eq!(
        actions(&out),
        vec![&Effect::Refer {
            call: id,
            key: key(1),
            target: "sip:2002@example.com".into()
        }]
    );
    let out = s.on(Input::ReferDone {
        call: id,
        result: Ok(202),
    });
    assert_eq!(
        transfers(&out),
        vec![(TransferBy::Us, TransferStage::Trying, Some(202))]
    );
    let out = s.on(Input::TransferNotify {
        key: key(1),
        status: 180,
        phrase: "Ringing".into(),
        done: false,
    });
    assert_eq!(
        transfers(&out),
        vec![(TransferBy::Us, TransferStage::Trying, Some(180))]
    );
    let out = s.on(Input::TransferNotify {
        key: key(1),
        status: 200,
        phrase: "OK".into(),
        done: true,
    });
    assert_eq!(
        transfers(&out),
        vec![(TransferBy::Us, TransferStage::Done, Some(200))]
    );
    assert!(out.contains(&Effect::Bye {
        call: id,
        key: key(1)
    }));
}
