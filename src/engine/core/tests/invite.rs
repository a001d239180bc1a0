//! A call's beginning: ringing, the auto policies, answering, rejecting, refusals.

use super::*;

#[test]
fn an_invite_rings_and_waits_for_the_user() {
    let mut s = Script::new(policy());
    let out = s.invite(1, Some(pcmu_offer()));
    assert_eq!(
        actions(&out),
        vec![
            &Effect::BindTrace {
                sip_call_id: "call-id-1".into(),
                call: CallId(1)
            },
            &Effect::Ring(key(1))
        ]
    );
    assert!(matches!(events(&out)[0], Event::IncomingCall { call, .. } if *call == CallId(1)));
    assert_eq!(states(&out), vec![CallState::Ringing]);
    assert!(logs(&out).is_empty(), "the front-ends phrase the events");
}

#[test]
fn answering_binds_rtp_then_sends_the_answer_then_starts_media() {
    let mut s = Script::new(policy());
    s.invite(1, Some(pcmu_offer()));
    let id = CallId(1);
    assert_eq!(
        s.on(Input::Command(Command::Answer(id))),
        vec![Effect::BindRtp(id)]
    );
    let out = s.on(Input::RtpBound {
        call: id,
        result: Ok((10_002, 7)),
        public: None,
    });
    let [Effect::Accept { call, key: k, sdp }] = &out[..] else {
        panic!("one Accept: {out:?}");
    };
    assert_eq!((*call, k), (id, &key(1)));
    assert!(sdp.contains("m=audio 10002 RTP/AVP 0 101"), "{sdp}");
    assert!(sdp.contains("c=IN IP4 192.0.2.10"), "{sdp}");
    // Asking again while the answer is on its way does nothing twice.
    let again = s.on(Input::Command(Command::Answer(id)));
    assert_eq!(logs(&again), ["call #1 is not ringing, nothing to answer"]);
    let out = s.on(Input::Accepted {
        call: id,
        result: Ok(()),
    });
    assert_eq!(states(&out), vec![CallState::Answering]);
    let Some(Effect::StartMedia {
        negotiated,
        remote_uri,
        ..
    }) = out.iter().find(|e| matches!(e, Effect::StartMedia { .. }))
    else {
        panic!("media starts with the answer: {out:?}");
    };
    assert_eq!(negotiated.codec, Codec::Pcmu);
    assert_eq!(negotiated.remote.to_string(), "198.51.100.7:5004");
    assert_eq!(remote_uri, "sip:caller1@example.org");
    let out = s.media_started(id, 10_002);
    assert!(events(&out).contains(&&Event::MediaStarted {
        call: id,
        codec: Codec::Pcmu,
        local_rtp: "192.0.2.10:10002".into(),
        remote_rtp: "198.51.100.7:5004".into(),
        advertised_rtp: None,
        srtp: None,
    }));
    let out = s.on(Input::Confirmed {
        key: key(1),
        ack_sdp: None,
    });
    assert_eq!(states(&out), vec![CallState::Active]);
    assert!(actions(&out).is_empty(), "media already runs: {out:?}");
}

#[test]
fn reject_sends_busy_or_decline_and_the_end_says_so() {
    for (decline, status) in [(false, 486), (true, 603)] {
        let mut s = Script::new(policy());
        s.invite(1, Some(pcmu_offer()));
        let out = s.on(Input::Command(Command::Reject {
            call: CallId(1),
            decline,
        }));
        assert_eq!(
            actions(&out),
            vec![&Effect::Reject {
                key: key(1),
                status
            }]
        );
        // Rejecting twice, or answering a rejected call, is refused with a word.
        let twice = s.on(Input::Command(Command::Answer(CallId(1))));
        assert!(actions(&twice).is_empty());
        s.on(Input::Terminated {
            key: key(1),
            why: Termination::Rejected(status),
        });
        let out = s.on(Input::Finished {
            call: CallId(1),
            bridge: None,
            media: None,
        });
        let (reason, duration_ms, _) = ended(&out).unwrap();
        assert_eq!(reason, &EndReason::Rejected { status });
        assert_eq!(duration_ms, 0, "never answered");
    }
}

#[test]
fn rejecting_an_answered_call_is_refused_and_hanging_up_a_ringing_one_rejects_it() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    let out = s.on(Input::Command(Command::Reject {
        call: id,
        decline: false,
    }));
    assert_eq!(logs(&out), ["call #1 is not ringing; hang it up instead"]);
    s.invite(2, Some(pcmu_offer()));
    let out = s.on(Input::Command(Command::Hangup(CallId(2))));
    assert_eq!(
        actions(&out),
        vec![&Effect::Reject {
            key: key(2),
            status: 486
        }]
    );
}

#[test]
fn cancel_while_ringing_ends_the_call_as_cancelled() {
    let mut s = Script::new(policy());
    s.invite(1, Some(pcmu_offer()));
    let out = s.on(Input::Terminated {
        key: key(1),
        why: Termination::Cancelled,
    });
    assert_eq!(actions(&out), vec![&Effect::Teardown(CallId(1))]);
    let out = s.on(Input::Finished {
        call: CallId(1),
        bridge: None,
        media: None,
    });
    assert_eq!(states(&out), vec![CallState::Ended]);
    assert_eq!(
        ended(&out),
        Some((&EndReason::Cancelled, 0, &MediaSummary::default()))
    );
    assert!(s.table.is_empty());
}

#[test]
fn an_unreadable_offer_gets_400_and_no_call() {
    let mut s = Script::new(policy());
    let out = s.invite(1, Some("this is not SDP".into()));
    assert!(actions(&out).contains(&&Effect::Reject {
        key: key(1),
        status: 400
    }));
    assert!(logs(&out)[0].ends_with("; answering 400"), "{out:?}");
    assert!(s.table.is_empty());
}

#[test]
fn an_offer_without_a_common_codec_gets_488_and_a_call_ended_event() {
    let mut s = Script::new(policy());
    let out = s.invite(1, Some(offer("18", &["a=rtpmap:18 G729/8000"])));
    assert!(actions(&out).contains(&&Effect::Reject {
        key: key(1),
        status: 488
    }));
    assert_eq!(ended(&out).unwrap().0, &EndReason::NoCommonCodec);
    assert!(s.table.is_empty());
}

#[test]
fn auto_answer_answers_at_once_without_ringing() {
    let mut s = Script::new(Policy {
        auto_answer: true,
        ..policy()
    });
    let out = s.invite(1, Some(pcmu_offer()));
    assert!(!out.iter().any(|e| matches!(e, Effect::Ring(_))));
    assert_eq!(out.last(), Some(&Effect::BindRtp(CallId(1))));
}

#[test]
fn answer_after_rings_first_and_the_timer_answers_only_a_call_still_ringing() {
    let p = Policy {
        auto_answer: true,
        answer_after: Duration::from_secs(3),
        ..policy()
    };
    let mut s = Script::new(p);
    let out = s.invite(1, Some(pcmu_offer()));
    assert!(out.contains(&Effect::Ring(key(1))));
    assert!(out.contains(&Effect::Arm {
        timer: Timer::Answer(CallId(1)),
        after: Duration::from_secs(3)
    }));
    assert_eq!(
        s.on(Input::Timer(Timer::Answer(CallId(1)))),
        vec![Effect::BindRtp(CallId(1))]
    );
    // A second call is cancelled before its timer fires: the timer does nothing.
    s.invite(2, Some(pcmu_offer()));
    s.on(Input::Terminated {
        key: key(2),
        why: Termination::Cancelled,
    });
    assert_eq!(s.on(Input::Timer(Timer::Answer(CallId(2)))), vec![]);
}

#[test]
fn auto_reject_refuses_without_ringing() {
    let mut s = Script::new(Policy {
        auto_reject: Some(603),
        ..policy()
    });
    let out = s.invite(1, Some(pcmu_offer()));
    assert!(!out.iter().any(|e| matches!(e, Effect::Ring(_))));
    assert!(out.contains(&Effect::Reject {
        key: key(1),
        status: 603
    }));
}

#[test]
fn no_free_rtp_port_answers_500() {
    let mut s = Script::new(policy());
    s.invite(1, Some(pcmu_offer()));
    s.on(Input::Command(Command::Answer(CallId(1))));
    let out = s.on(Input::RtpBound {
        call: CallId(1),
        result: Err("no free even UDP port".into()),
        public: None,
    });
    assert_eq!(
        actions(&out),
        vec![&Effect::Reject {
            key: key(1),
            status: 500
        }]
    );
    assert_eq!(
        logs(&out),
        ["call #1: no RTP port free (no free even UDP port); answering 500"]
    );
}

#[test]
fn a_200_that_cannot_be_sent_leaves_the_call_ringing_to_try_again() {
    let mut s = Script::new(policy());
    s.invite(1, Some(pcmu_offer()));
    s.on(Input::Command(Command::Answer(CallId(1))));
    s.on(Input::RtpBound {
        call: CallId(1),
        result: Ok((10_002, 1)),
        public: None,
    });
    let out = s.on(Input::Accepted {
        call: CallId(1),
        result: Err("the call is gone".into()),
    });
    assert_eq!(
        logs(&out),
        ["call #1: could not send 200 OK: the call is gone"]
    );
    assert_eq!(s.state(CallId(1)), Some(CallState::Ringing));
    assert_eq!(
        s.on(Input::Command(Command::Answer(CallId(1)))),
        vec![Effect::BindRtp(CallId(1))]
    );
}

#[test]
fn an_address_learned_behind_nat_goes_into_later_answers() {
    let mut s = Script::new(policy());
    s.table.use_sdp_address(IpAddr::from([203, 0, 113, 1]));
    s.invite(1, Some(pcmu_offer()));
    s.on(Input::Command(Command::Answer(CallId(1))));
    let out = s.on(Input::RtpBound {
        call: CallId(1),
        result: Ok((10_002, 7)),
        public: None,
    });
    let [Effect::Accept { sdp, .. }] = &out[..] else {
        panic!("one Accept: {out:?}");
    };
    assert!(sdp.contains("c=IN IP4 203.0.113.1"), "{sdp}");
    assert!(!sdp.contains("192.0.2.10"), "every c= and o= line: {sdp}");
}

#[test]
fn a_stun_mapping_names_address_and_port_in_every_c_and_the_m_line() {
    let mut s = Script::new(policy());
    s.table.use_sdp_address(IpAddr::from([203, 0, 113, 1]));
    s.invite(1, Some(pcmu_offer()));
    s.on(Input::Command(Command::Answer(CallId(1))));
    let out = s.on(Input::RtpBound {
        call: CallId(1),
        result: Ok((10_002, 7)),
        public: Some("198.51.100.9:40123".parse().unwrap()),
    });
    let [Effect::Accept { sdp, .. }] = &out[..] else {
        panic!("one Accept: {out:?}");
    };
    let c_lines: Vec<&str> = sdp.lines().filter(|l| l.starts_with("c=")).collect();
    assert_eq!(
        c_lines, ["c=IN IP4 198.51.100.9"; 2],
        "session and media level: {sdp}"
    );
    assert!(sdp.contains("m=audio 40123 RTP/AVP"), "{sdp}");
    assert!(
        !sdp.contains("10002") && !sdp.contains("203.0.113.1"),
        "{sdp}"
    );
}

/// The panel and `media_started` show both our socket and what our SDP told the peer.
#[test]
fn media_started_names_the_advertised_address_only_when_it_differs() {
    let started = |public: Option<&str>| {
        let mut s = Script::new(policy());
        s.invite(1, Some(pcmu_offer()));
        s.on(Input::Command(Command::Answer(CallId(1))));
        s.on(Input::RtpBound {
            call: CallId(1),
            result: Ok((10_002, 7)),
            public: public.map(|p| p.parse().unwrap()),
        });
        s.on(Input::Accepted {
            call: CallId(1),
            result: Ok(()),
        });
        let out = s.media_started(CallId(1), 10_002);
        events(&out)
            .into_iter()
            .find_map(|e| match e {
                Event::MediaStarted { advertised_rtp, .. } => Some(advertised_rtp.clone()),
                _ => None,
            })
            .expect("media_started")
    };
    assert_eq!(
        started(Some("198.51.100.9:40123")),
        Some("198.51.100.9:40123".to_string())
    );
    assert_eq!(started(None), None, "our socket is what the SDP said");
}
