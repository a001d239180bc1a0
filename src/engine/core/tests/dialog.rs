//! A call inside its dialog: late offers, re-INVITEs, hanging up and the end.

use super::*;

#[test]
fn a_late_offer_is_answered_with_ours_and_media_waits_for_the_ack() {
    let mut s = Script::new(policy());
    s.invite(1, None);
    let id = CallId(1);
    s.on(Input::Command(Command::Answer(id)));
    let out = s.on(Input::RtpBound {
        call: id,
        result: Ok((10_002, 1)),
        public: None,
    });
    let [Effect::Accept { sdp, .. }] = &out[..] else {
        panic!("{out:?}");
    };
    assert!(
        sdp.contains("m=audio 10002 RTP/AVP 0 8 96 101"),
        "our offer: {sdp}"
    );
    let out = s.on(Input::Accepted {
        call: id,
        result: Ok(()),
    });
    assert!(!out.iter().any(|e| matches!(e, Effect::StartMedia { .. })));
    let answer = offer("8 101", &["a=rtpmap:101 telephone-event/8000"]);
    let out = s.on(Input::Confirmed {
        key: key(1),
        ack_sdp: Some(answer),
    });
    assert_eq!(states(&out), vec![CallState::Active]);
    let Some(Effect::StartMedia { negotiated, .. }) =
        out.iter().find(|e| matches!(e, Effect::StartMedia { .. }))
    else {
        panic!("media starts at the ACK: {out:?}");
    };
    assert_eq!(negotiated.codec, Codec::Pcma);
}

#[test]
fn a_late_offer_whose_ack_has_no_answer_is_hung_up() {
    let mut s = Script::new(policy());
    s.invite(1, None);
    let id = CallId(1);
    s.on(Input::Command(Command::Answer(id)));
    s.complete_answer(id, 10_002);
    let out = s.on(Input::Confirmed {
        key: key(1),
        ack_sdp: None,
    });
    assert_eq!(
        logs(&out),
        [
            "call #1: late-offer call has no usable answer (the ACK carried no SDP answer); \
             hanging up",
            "hanging up call #1"
        ]
    );
    assert_eq!(
        actions(&out),
        vec![&Effect::Bye {
            call: id,
            key: key(1)
        }]
    );
}

#[test]
fn dtmf_goes_out_a_second_after_connecting_and_not_after_the_end() {
    let mut s = Script::new(Policy {
        send_dtmf: Some("12#".into()),
        ..policy()
    });
    s.invite(1, Some(pcmu_offer()));
    s.on(Input::Command(Command::Answer(CallId(1))));
    s.complete_answer(CallId(1), 10_002);
    let out = s.on(Input::Confirmed {
        key: key(1),
        ack_sdp: None,
    });
    assert!(out.contains(&Effect::Arm {
        timer: Timer::Dtmf(CallId(1)),
        after: Duration::from_secs(1)
    }));
    let out = s.on(Input::Timer(Timer::Dtmf(CallId(1))));
    assert!(out.contains(&Effect::SendDtmf {
        call: CallId(1),
        digits: "12#".into()
    }));
    s.on(Input::Terminated {
        key: key(1),
        why: Termination::RemoteBye,
    });
    assert_eq!(s.on(Input::Timer(Timer::Dtmf(CallId(1)))), vec![]);
}

fn reoffer(s: &mut Script, n: u32, sdp: Option<String>, request: u64) -> Vec<Effect> {
    s.on(Input::Reoffer {
        key: key(n),
        offer: sdp,
        update: false,
        request: RequestId(request),
    })
}

fn response(out: &[Effect]) -> (u16, Option<&str>) {
    out.iter()
        .find_map(|e| match e {
            Effect::Respond { status, sdp, .. } => Some((*status, sdp.as_deref())),
            _ => None,
        })
        .expect("the request is answered")
}

#[test]
fn hold_and_resume_by_re_invite() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    let hold = offer("0", &["a=sendonly"]);
    let out = reoffer(&mut s, 1, Some(hold), 1);
    let (status, sdp) = response(&out);
    assert_eq!(status, 200);
    assert!(sdp.unwrap().contains("a=recvonly"));
    assert!(
        sdp.unwrap().contains(" 7 2 IN IP4 192.0.2.10"),
        "version moves on"
    );
    assert_eq!(states(&out), vec![CallState::Held]);
    assert!(matches!(
        actions(&out)[0],
        Effect::UpdateMedia { negotiated, .. } if negotiated.direction == MediaDirection::RecvOnly
    ));
    assert!(
        logs(&out).is_empty(),
        "the front-ends phrase the state: {out:?}"
    );
    let out = reoffer(&mut s, 1, Some(offer("0", &[])), 2);
    assert_eq!(response(&out).0, 200);
    assert_eq!(states(&out), vec![CallState::Active]);
    assert_eq!(s.state(id), Some(CallState::Active));
}

#[test]
fn re_invite_switches_pcmu_to_pcma_but_refuses_a_clock_rate_change() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    let out = reoffer(&mut s, 1, Some(offer("8", &[])), 1);
    assert_eq!(response(&out).0, 200);
    assert!(events(&out).iter().any(|e| matches!(
        e,
        Event::MediaStarted {
            codec: Codec::Pcma,
            ..
        }
    )));
    let opus = offer("96", &["a=rtpmap:96 opus/48000/2"]);
    let out = reoffer(&mut s, 1, Some(opus), 2);
    assert_eq!(response(&out), (488, None));
    assert!(actions(&out).len() == 1, "nothing changes: {out:?}");
    assert_eq!(s.table.get(id).unwrap().codec, Some(Codec::Pcma));
    // The call in use is kept when still offered, whatever the offer's order.
    let out = reoffer(&mut s, 1, Some(offer("0 8", &[])), 3);
    assert!(
        !events(&out)
            .iter()
            .any(|e| matches!(e, Event::MediaStarted { .. })),
        "no switch: {out:?}"
    );
}

#[test]
fn re_invite_refusals_follow_rfc_3261() {
    let mut s = Script::new(policy());
    // Unknown dialog: 481.
    assert_eq!(
        response(&reoffer(&mut s, 9, Some(pcmu_offer()), 1)),
        (481, None)
    );
    // Before our answer: 491 Request Pending.
    s.invite(1, Some(pcmu_offer()));
    assert_eq!(
        response(&reoffer(&mut s, 1, Some(pcmu_offer()), 2)),
        (491, None)
    );
    // Garbage: 400, and the call goes on.
    let id = s.connected(2);
    let out = reoffer(&mut s, 2, Some("garbage".into()), 3);
    assert_eq!(response(&out).0, 400);
    assert_eq!(s.state(id), Some(CallState::Active));
    // No SDP: our offer in the 200.
    let out = reoffer(&mut s, 2, None, 4);
    let (status, sdp) = response(&out);
    assert_eq!(status, 200);
    assert!(sdp.unwrap().contains("m=audio"));
}

#[test]
fn hanging_up_sends_one_bye_and_the_end_is_ours() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    let out = s.on(Input::Command(Command::Hangup(id)));
    assert_eq!(
        actions(&out),
        vec![&Effect::Bye {
            call: id,
            key: key(1)
        }]
    );
    assert!(
        s.on(Input::Command(Command::Hangup(id))).is_empty(),
        "one BYE"
    );
    let out = s.on(Input::ByeDone {
        call: id,
        result: Err("408 Request Timeout".into()),
    });
    assert_eq!(logs(&out), ["call #1: BYE failed: 408 Request Timeout"]);
    s.on(Input::Terminated {
        key: key(1),
        why: Termination::LocalBye,
    });
    let out = s.on(Input::Finished {
        call: id,
        bridge: None,
        media: None,
    });
    assert_eq!(ended(&out).unwrap().0, &EndReason::LocalHangup);
}

#[test]
fn a_remote_bye_ends_the_call_with_its_duration_and_figures() {
    let mut s = Script::new(policy());
    s.connected(1);
    s.advance(Duration::from_millis(2_500));
    let out = s.remote_bye(1, Some(report(120)));
    let (reason, duration_ms, media) = ended(&out).unwrap();
    assert_eq!(reason, &EndReason::RemoteHangup);
    assert_eq!(duration_ms, 2_500);
    assert_eq!(media.stats.packets_received, 120);
    assert_eq!(media.stats.quality.rtt_ms, Some(12.0));
    assert_eq!(states(&out), vec![CallState::Ended]);
}

#[test]
fn a_call_whose_ack_never_came_fails_with_the_reason() {
    let mut s = Script::new(policy());
    s.invite(1, Some(pcmu_offer()));
    s.on(Input::Command(Command::Answer(CallId(1))));
    s.complete_answer(CallId(1), 10_002);
    s.on(Input::Terminated {
        key: key(1),
        why: Termination::Timeout,
    });
    let out = s.on(Input::Finished {
        call: CallId(1),
        bridge: None,
        media: Some(report(0)),
    });
    assert_eq!(
        ended(&out).unwrap().0,
        &EndReason::Failed {
            reason: "no ACK or answer in time".into()
        }
    );
}

#[test]
fn nothing_is_said_about_a_call_being_torn_down() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    s.on(Input::Terminated {
        key: key(1),
        why: Termination::RemoteBye,
    });
    let late = s.on(Input::Media {
        call: id,
        event: MediaEvent::Dtmf('1'),
        ai: None,
    });
    assert!(late.is_empty());
    assert!(s.on(Input::Command(Command::Hangup(id))).is_empty());
}

#[test]
fn an_update_without_sdp_refreshes_and_its_200_has_no_sdp() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    let out = s.on(Input::Reoffer {
        key: key(1),
        offer: None,
        update: true,
        request: RequestId(9),
    });
    assert_eq!(response(&out), (200, None));
    assert_eq!(s.state(id), Some(CallState::Active));
}

#[test]
fn a_dtmf_digit_in_a_sip_info_is_reported_like_an_rfc_4733_one() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    let out = s.on(Input::SipDtmf {
        key: key(1),
        digit: '7',
    });
    assert_eq!(
        out,
        vec![Effect::Emit(Event::Dtmf {
            call: id,
            digit: '7'
        })]
    );
    assert!(s
        .on(Input::SipDtmf {
            key: key(9),
            digit: '7'
        })
        .is_empty());
}

#[test]
fn the_duration_ends_at_the_hang_up_not_at_the_byes_answer() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    s.advance(Duration::from_secs(2));
    s.on(Input::Command(Command::Hangup(id)));
    // The other side takes 3 s to answer our BYE.
    s.advance(Duration::from_secs(3));
    s.on(Input::Terminated {
        key: key(1),
        why: Termination::LocalBye,
    });
    let out = s.on(Input::Finished {
        call: id,
        bridge: None,
        media: None,
    });
    assert_eq!(ended(&out).unwrap().1, 2000);
}
