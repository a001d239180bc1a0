//! Calls we place: dialling, the provisional answers, the answer, refusals, redirects, CANCEL
//! on hang-up and on the ring timeout.

use super::*;
use crate::sip::ua::{Progress, Refusal};
use crate::vocab::Direction;

/// The key of call `id`'s first INVITE (the table names the dialogs of calls it places).
pub(super) fn placed(id: u64, attempt: u32) -> DialogKey {
    DialogKey::new(format!("placed-{id}-{attempt}"))
}

/// A PCMU answer from 198.51.100.7:5004.
pub(super) fn answer() -> String {
    pcmu_offer()
}

impl Script {
    /// Dials `target` and plays the executor up to the INVITE: returns the INVITE's effects.
    pub(super) fn dial(&mut self, target: &str) -> (CallId, Vec<Effect>) {
        let out = self.on(Input::Command(Command::Dial {
            target: target.into(),
        }));
        let id = events(&out)
            .iter()
            .find_map(|e| match e {
                Event::OutgoingCall { call, .. } => Some(*call),
                _ => None,
            })
            .expect("an outgoing call");
        assert!(out.contains(&Effect::BindRtp(id)), "{out:?}");
        let out = self.on(Input::RtpBound {
            call: id,
            result: Ok((10_020, 7)),
            public: None,
        });
        (id, out)
    }

    fn progress(&mut self, id: u64, status: u16, sdp: Option<String>) -> Vec<Effect> {
        self.on(Input::Progress {
            key: placed(id, 0),
            progress: Progress {
                status,
                phrase: if status == 180 {
                    "Ringing"
                } else {
                    "Session Progress"
                }
                .into(),
                sdp,
            },
        })
    }

    fn refused(&mut self, key: DialogKey, status: u16, phrase: &str) -> Vec<Effect> {
        self.on(Input::NotAnswered {
            key,
            refusal: Refusal {
                status,
                phrase: phrase.into(),
                redirect: None,
            },
        })
    }
}

#[test]
fn dialling_binds_rtp_then_invites_with_our_offer_and_arms_the_ring_timeout() {
    let mut s = Script::new(policy());
    let out = s.on(Input::Command(Command::Dial {
        target: "1001".into(),
    }));
    assert_eq!(
        events(&out)[0],
        &Event::OutgoingCall {
            call: CallId(1),
            to: "sip:1001@example.com".into(),
            from: "sip:alice@example.com".into(),
            goal: None,
        }
    );
    assert_eq!(states(&out), vec![CallState::Calling]);
    let (_, out) = {
        let out = s.on(Input::RtpBound {
            call: CallId(1),
            result: Ok((10_020, 7)),
            public: None,
        });
        (CallId(1), out)
    };
    let [Effect::Invite {
        call,
        key,
        target,
        sdp,
    }, Effect::Arm { timer, after }] = &out[..]
    else {
        panic!("an INVITE then the ring timer: {out:?}");
    };
    assert_eq!((*call, key), (CallId(1), &placed(1, 0)));
    assert_eq!(target, "sip:1001@example.com");
    assert!(sdp.contains("m=audio 10020 RTP/AVP 0 8"), "{sdp}");
    assert!(sdp.contains("c=IN IP4 192.0.2.10"), "{sdp}");
    assert_eq!(
        (*timer, *after),
        (Timer::RingTimeout(CallId(1)), Duration::from_secs(30))
    );
    // The INVITE's Call-ID ties the SIP trace to the call.
    let out = s.on(Input::InviteSent {
        call: CallId(1),
        result: Ok("abc@192.0.2.10".into()),
    });
    assert_eq!(
        out,
        vec![Effect::BindTrace {
            sip_call_id: "abc@192.0.2.10".into(),
            call: CallId(1)
        }]
    );
}

#[test]
fn what_cannot_be_dialled_says_why_and_places_nothing() {
    let mut s = Script::new(Policy {
        domain: None,
        ..policy()
    });
    let out = s.on(Input::Command(Command::Dial {
        target: "1001".into(),
    }));
    assert_eq!(actions(&out), Vec::<&Effect>::new());
    assert!(logs(&out)[0].contains("no account domain"), "{out:?}");
    assert!(s.table.is_empty());
}

#[test]
fn ringing_then_answer_measures_post_dial_delay_and_time_to_answer() {
    let mut s = Script::new(policy());
    let (id, _) = s.dial("sip:agent@example.net");
    s.advance(Duration::from_millis(120));
    let out = s.progress(1, 180, None);
    assert_eq!(states(&out), vec![CallState::Ringing]);
    assert!(events(&out).contains(&&Event::CallProgress {
        call: id,
        status: 180,
        phrase: "Ringing".into(),
        post_dial_delay_ms: 120,
        early_media: false,
    }));
    s.advance(Duration::from_millis(880));
    let out = s.on(Input::Answered {
        key: placed(1, 0),
        sdp: Some(answer()),
    });
    assert!(events(&out).contains(&&Event::CallAnswered {
        call: id,
        answer_ms: 1000,
        post_dial_delay_ms: Some(120),
    }));
    assert_eq!(states(&out), vec![CallState::Active]);
    let Some(Effect::StartMedia { negotiated, .. }) =
        out.iter().find(|e| matches!(e, Effect::StartMedia { .. }))
    else {
        panic!("media starts with the answer: {out:?}");
    };
    assert_eq!(negotiated.codec, Codec::Pcmu);
    assert_eq!(negotiated.remote.to_string(), "198.51.100.7:5004");
}

#[test]
fn early_media_plays_before_the_answer_and_the_answer_keeps_it() {
    let mut s = Script::new(policy());
    let (id, _) = s.dial("sip:agent@example.net");
    let out = s.progress(1, 183, Some(answer()));
    assert_eq!(states(&out), vec![CallState::EarlyMedia]);
    assert!(
        out.iter().any(|e| matches!(e, Effect::StartMedia { .. })),
        "the 183's audio plays: {out:?}"
    );
    s.media_started(id, 10_020);
    // A 200 without SDP: the 183 held the answer (RFC 3261 §13.2.1).
    let out = s.on(Input::Answered {
        key: placed(1, 0),
        sdp: None,
    });
    assert_eq!(states(&out), vec![CallState::Active]);
    assert!(
        !out.iter()
            .any(|e| matches!(e, Effect::StartMedia { .. } | Effect::UpdateMedia { .. })),
        "media already runs with the same answer: {out:?}"
    );
    assert!(
        out.contains(&Effect::MediaAnswered(id)),
        "turn-taking counts from the 200: {out:?}"
    );
}

#[test]
fn a_refusal_ends_the_call_in_plain_words() {
    let mut s = Script::new(policy());
    let (id, _) = s.dial("sip:agent@example.net");
    s.progress(1, 180, None);
    let out = s.refused(placed(1, 0), 486, "Busy Here");
    assert!(out.contains(&Effect::Teardown(id)), "{out:?}");
    assert!(
        logs(&out)[0].contains("486 Busy Here: busy"),
        "{:?}",
        logs(&out)
    );
    let out = s.on(Input::Finished {
        call: id,
        bridge: None,
        media: None,
    });
    let (reason, duration, _) = ended(&out).expect("call_ended");
    assert_eq!(
        reason,
        &EndReason::NotAnswered {
            status: 486,
            phrase: "Busy Here".into(),
            explained: "busy".into()
        }
    );
    assert_eq!(duration, 0);
    assert!(events(&out).iter().any(|e| matches!(
        e,
        Event::CallEnded {
            direction: Direction::Outgoing,
            ..
        }
    )));
    assert!(s.table.is_empty());
}

#[test]
fn a_redirect_is_followed_once() {
    let mut s = Script::new(policy());
    let (id, _) = s.dial("sip:agent@example.net");
    let out = s.on(Input::NotAnswered {
        key: placed(1, 0),
        refusal: Refusal {
            status: 302,
            phrase: "Moved Temporarily".into(),
            redirect: Some("sip:agent@198.51.100.9".into()),
        },
    });
    let [Effect::Invite { key, target, .. }] = &actions(&out)[..] else {
        panic!("a new INVITE: {out:?}");
    };
    assert_eq!(
        (key, target.as_str()),
        (&placed(1, 1), "sip:agent@198.51.100.9")
    );
    // The second redirect is the final answer.
    let out = s.on(Input::NotAnswered {
        key: placed(1, 1),
        refusal: Refusal {
            status: 302,
            phrase: "Moved Temporarily".into(),
            redirect: Some("sip:agent@198.51.100.10".into()),
        },
    });
    assert_eq!(actions(&out), vec![&Effect::Teardown(id)]);
}

#[test]
fn hanging_up_before_the_answer_cancels_and_the_487_ends_it_as_ours() {
    let mut s = Script::new(policy());
    let (id, _) = s.dial("sip:agent@example.net");
    s.progress(1, 180, None);
    let out = s.on(Input::Command(Command::Hangup(id)));
    assert_eq!(
        actions(&out),
        vec![&Effect::Cancel {
            call: id,
            key: placed(1, 0)
        }]
    );
    s.refused(placed(1, 0), 487, "Request Terminated");
    let out = s.on(Input::Finished {
        call: id,
        bridge: None,
        media: None,
    });
    assert_eq!(ended(&out).unwrap().0, &EndReason::LocalHangup);
}

#[test]
fn the_ring_timeout_cancels_an_unanswered_call_only() {
    let mut s = Script::new(policy());
    let (id, _) = s.dial("sip:agent@example.net");
    s.progress(1, 180, None);
    let out = s.on(Input::Timer(Timer::RingTimeout(id)));
    assert!(out.contains(&Effect::Cancel {
        call: id,
        key: placed(1, 0)
    }));
    s.refused(placed(1, 0), 487, "Request Terminated");
    let out = s.on(Input::Finished {
        call: id,
        bridge: None,
        media: None,
    });
    assert_eq!(ended(&out).unwrap().0, &EndReason::RingTimeout { secs: 30 });
    // An answered call is not cancelled by a late timer.
    let (id, _) = s.dial("sip:agent@example.net");
    s.on(Input::Answered {
        key: placed(id.0, 0),
        sdp: Some(answer()),
    });
    let out = s.on(Input::Timer(Timer::RingTimeout(id)));
    assert!(actions(&out).is_empty(), "{out:?}");
}

#[test]
fn a_2xx_that_crosses_our_cancel_ends_the_call() {
    let mut s = Script::new(policy());
    let (id, _) = s.dial("sip:agent@example.net");
    s.progress(1, 180, None);
    s.on(Input::Command(Command::Hangup(id)));
    let out = s.on(Input::Answered {
        key: placed(1, 0),
        sdp: Some(answer()),
    });
    assert_eq!(actions(&out), vec![&Effect::Teardown(id)]);
}

#[test]
fn no_rtp_port_means_no_invite() {
    let mut s = Script::new(policy());
    let out = s.on(Input::Command(Command::Dial {
        target: "sip:agent@example.net".into(),
    }));
    assert!(out.contains(&Effect::BindRtp(CallId(1))));
    let out = s.on(Input::RtpBound {
        call: CallId(1),
        result: Err("all ports taken".into()),
        public: None,
    });
    assert_eq!(actions(&out), vec![&Effect::Teardown(CallId(1))]);
    let out = s.on(Input::Finished {
        call: CallId(1),
        bridge: None,
        media: None,
    });
    assert!(matches!(ended(&out).unwrap().0, EndReason::Failed { .. }));
}

#[test]
fn shutdown_cancels_calls_we_placed() {
    let mut s = Script::new(policy());
    let (id, _) = s.dial("sip:agent@example.net");
    let out = s.on(Input::Shutdown);
    assert!(out.contains(&Effect::Cancel {
        call: id,
        key: placed(1, 0)
    }));
}

#[test]
fn a_cancel_before_any_answer_ends_the_call_at_once() {
    // Not even 100 Trying: the CANCEL waits in the SIP side for a provisional answer (RFC
    // 3261 §9.1), but the call ends now rather than after Timer B.
    let mut s = Script::new(policy());
    let (id, _) = s.dial("sip:agent@example.net");
    let out = s.on(Input::Timer(Timer::RingTimeout(id)));
    assert_eq!(
        actions(&out),
        vec![
            &Effect::Cancel {
                call: id,
                key: placed(1, 0)
            },
            &Effect::Teardown(id)
        ]
    );
    let out = s.on(Input::Finished {
        call: id,
        bridge: None,
        media: None,
    });
    assert_eq!(ended(&out).unwrap().0, &EndReason::RingTimeout { secs: 30 });
    // The INVITE's late outcome finds no call.
    let out = s.refused(placed(1, 0), 408, "Request Timeout");
    assert!(out.is_empty(), "{out:?}");
}
