//! Media reports, the two mute states and DTMF.

use super::*;
use crate::vocab::{Side, TurnTaking, SILENCE_DBFS};

fn muted(out: &[Effect]) -> Option<(bool, bool)> {
    events(out).into_iter().find_map(|e| match e {
        Event::Muted {
            microphone,
            listen_in,
            ..
        } => Some((*microphone, *listen_in)),
        _ => None,
    })
}

#[test]
fn media_reports_become_events() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    let level = Level {
        rms_dbfs: -20.0,
        peak_dbfs: -6.0,
    };
    let out = s.on(Input::Media {
        call: id,
        event: MediaEvent::Levels {
            remote: level,
            local: Level::SILENCE,
        },
        ai: Some(level),
    });
    assert_eq!(
        out,
        vec![Effect::Emit(Event::Levels {
            call: id,
            remote: level,
            local: Level::SILENCE,
            ai: Some(level),
        })]
    );
    assert_eq!(Level::SILENCE.rms_dbfs, SILENCE_DBFS);
    let stats = report(10).stats;
    let q = stats.quality;
    let out = s.on(Input::Media {
        call: id,
        event: MediaEvent::Quality(stats),
        ai: None,
    });
    assert_eq!(
        out,
        vec![Effect::Emit(Event::Quality {
            call: id,
            quality: q
        })]
    );
    let out = s.on(Input::Media {
        call: id,
        event: MediaEvent::Dtmf('#'),
        ai: None,
    });
    assert_eq!(
        events(&out)[0],
        &Event::Dtmf {
            call: id,
            digit: '#'
        }
    );
    assert_eq!(out.len(), 1, "the digit alone: {out:?}");
    let out = s.on(Input::Media {
        call: id,
        event: MediaEvent::Latched("203.0.113.9:61000".parse().unwrap()),
        ai: None,
    });
    assert_eq!(
        out,
        vec![Effect::Emit(Event::MediaLatched {
            call: id,
            remote_rtp: "203.0.113.9:61000".into()
        })]
    );
    let out = s.on(Input::Media {
        call: id,
        event: MediaEvent::Warning("3 RTP packets dropped".into()),
        ai: None,
    });
    assert_eq!(logs(&out), ["call #1: 3 RTP packets dropped"]);
}

#[test]
fn media_that_cannot_start_is_reported_and_nothing_claims_it_runs() {
    let mut s = Script::new(policy());
    s.invite(1, Some(pcmu_offer()));
    s.on(Input::Command(Command::Answer(CallId(1))));
    s.on(Input::RtpBound {
        call: CallId(1),
        result: Ok((10_002, 1)),
        public: None,
    });
    s.on(Input::Accepted {
        call: CallId(1),
        result: Ok(()),
    });
    let out = s.on(Input::MediaStarted {
        call: CallId(1),
        result: Err("codec state".into()),
    });
    assert_eq!(logs(&out), ["call #1: media cannot start: codec state"]);
    let out = s.on(Input::Command(Command::SendDtmf {
        call: CallId(1),
        digits: "1".into(),
    }));
    assert_eq!(logs(&out), ["call #1 has no media yet; DTMF not sent"]);
}

#[test]
fn microphone_and_listen_in_are_two_states_both_reported() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    let out = s.on(Input::Command(Command::MuteMicrophone {
        call: id,
        muted: true,
    }));
    assert!(out.contains(&Effect::MuteMicrophone {
        call: id,
        muted: true
    }));
    assert_eq!(muted(&out), Some((true, false)));
    let out = s.on(Input::Command(Command::MuteListenIn {
        call: id,
        muted: true,
    }));
    assert!(out.contains(&Effect::MuteListenIn {
        call: id,
        muted: true
    }));
    assert_eq!(
        muted(&out),
        Some((true, true)),
        "the microphone stays muted"
    );
}

#[test]
fn a_bridge_suspends_the_microphone_mute_and_its_end_restores_it() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    s.on(Input::Command(Command::MuteMicrophone {
        call: id,
        muted: true,
    }));
    let out = s.on(Input::Command(Command::ToggleBridge(id)));
    assert_eq!(
        actions(&out),
        vec![&Effect::StartBridge {
            call: id,
            codec: Codec::Pcmu,
            listen_muted: false
        }]
    );
    s.on(Input::BridgeStarted {
        call: id,
        result: Ok(()),
    });
    // Bridged, the microphone is not sent: its state is kept, the media is not touched.
    let out = s.on(Input::Command(Command::MuteMicrophone {
        call: id,
        muted: true,
    }));
    assert!(!out
        .iter()
        .any(|e| matches!(e, Effect::MuteMicrophone { .. })));
    assert_eq!(muted(&out), Some((true, false)));
    let out = s.on(Input::Command(Command::ToggleBridge(id)));
    let acts = actions(&out);
    assert_eq!(acts[0], &Effect::StopBridge(id));
    assert_eq!(
        acts[1],
        &Effect::MuteMicrophone {
            call: id,
            muted: true
        },
        "the microphone is muted again"
    );
}

#[test]
fn muting_a_call_without_media_is_refused() {
    let mut s = Script::new(policy());
    s.invite(1, Some(pcmu_offer()));
    let out = s.on(Input::Command(Command::MuteMicrophone {
        call: CallId(1),
        muted: true,
    }));
    assert_eq!(logs(&out), ["call #1 has no media to mute"]);
    assert!(actions(&out).is_empty());
}

#[test]
fn dtmf_command_is_sent_on_a_call_with_media() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    let out = s.on(Input::Command(Command::SendDtmf {
        call: id,
        digits: "42".into(),
    }));
    assert_eq!(
        actions(&out),
        vec![&Effect::SendDtmf {
            call: id,
            digits: "42".into()
        }]
    );
}

/// A quality report in which `received` packets have arrived so far.
fn tick(s: &mut Script, id: CallId, received: u64) -> Vec<Effect> {
    let mut stats = report(received).stats;
    stats.packets_received = received;
    s.on(Input::Media {
        call: id,
        event: MediaEvent::Quality(stats),
        ai: None,
    })
}

#[test]
fn an_active_call_that_hears_nothing_for_the_rtp_timeout_is_hung_up() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    // Packets arrive for a while: nothing happens.
    for n in 1..=5 {
        s.advance(Duration::from_secs(1));
        assert!(actions(&tick(&mut s, id, n * 50)).is_empty());
    }
    // Then the caller vanishes: the same count, second after second.
    for _ in 0..60 {
        s.advance(Duration::from_secs(1));
        assert!(actions(&tick(&mut s, id, 250)).is_empty());
    }
    s.advance(Duration::from_secs(1));
    let out = tick(&mut s, id, 250);
    assert_eq!(
        actions(&out),
        vec![&Effect::Bye {
            call: id,
            key: key(1)
        }]
    );
    assert_eq!(
        logs(&out),
        [
            "call #1: nothing received from the remote side for 60 s; hanging up",
            "hanging up call #1"
        ]
    );
    // Reported once, and the end says why.
    assert!(actions(&tick(&mut s, id, 250)).is_empty());
    let done = s.remote_bye(1, Some(report(250)));
    assert_eq!(ended(&done).unwrap().0, &EndReason::RtpTimeout { secs: 60 });
}

#[test]
fn a_held_call_may_be_silent_and_resuming_starts_the_clock_again() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    s.on(Input::Reoffer {
        key: key(1),
        offer: Some(offer("0", &["a=sendonly"])),
        update: false,
        request: RequestId(1),
    });
    assert_eq!(s.state(id), Some(CallState::Held));
    for _ in 0..120 {
        s.advance(Duration::from_secs(1));
        assert!(actions(&tick(&mut s, id, 10)).is_empty(), "held: exempt");
    }
    s.on(Input::Reoffer {
        key: key(1),
        offer: Some(offer("0", &[])),
        update: false,
        request: RequestId(2),
    });
    for _ in 0..30 {
        s.advance(Duration::from_secs(1));
        assert!(
            actions(&tick(&mut s, id, 10)).is_empty(),
            "the clock restarted"
        );
    }
}

#[test]
fn no_rtp_timeout_when_turned_off() {
    let mut s = Script::new(Policy {
        rtp_timeout: None,
        ..policy()
    });
    let id = s.connected(1);
    for _ in 0..200 {
        s.advance(Duration::from_secs(1));
        assert!(actions(&tick(&mut s, id, 0)).is_empty());
    }
}

#[test]
fn play_loads_the_file_at_the_calls_rate_and_reports_it_played() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    let out = s.on(Input::Command(Command::Play {
        call: id,
        file: "greeting.wav".into(),
    }));
    assert!(
        out.contains(&Effect::Play {
            call: id,
            file: "greeting.wav".into(),
            rate: 8000
        }),
        "{out:?}"
    );
    let out = s.on(Input::Media {
        call: id,
        event: MediaEvent::Played {
            file: "greeting.wav".into(),
            ms: 1480,
        },
        ai: None,
    });
    assert_eq!(
        out,
        vec![Effect::Emit(Event::Played {
            call: id,
            file: "greeting.wav".into(),
            ms: 1480
        })]
    );
}

#[test]
fn a_file_that_cannot_be_played_is_named_and_still_ends_in_played() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    let out = s.on(Input::Media {
        call: id,
        event: MediaEvent::PlayFailed {
            file: "missing.wav".into(),
            error: "cannot open missing.wav: No such file or directory".into(),
        },
        ai: None,
    });
    let errors: Vec<&Event> = events(&out)
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                Event::Log {
                    level: LogLevel::Error,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(errors.len(), 1, "{out:?}");
    assert!(logs(&out)[0].contains("cannot play missing.wav: cannot open"));
    assert!(out.contains(&Effect::Emit(Event::Played {
        call: id,
        file: "missing.wav".into(),
        ms: 0
    })));
    // A call without media answers at once, with nothing to load.
    let out = s.on(Input::Command(Command::Play {
        call: CallId(99),
        file: "greeting.wav".into(),
    }));
    assert!(!out.iter().any(|e| matches!(e, Effect::Play { .. })));
    assert!(out.contains(&Effect::Emit(Event::Played {
        call: CallId(99),
        file: "greeting.wav".into(),
        ms: 0
    })));
}

#[test]
fn voice_and_turn_taking_reports_become_events_and_the_summary_keeps_the_figures() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    let out = s.on(Input::Media {
        call: id,
        event: MediaEvent::Voice {
            side: Side::Remote,
            speaking: true,
            at_ms: 740,
        },
        ai: None,
    });
    assert_eq!(
        out,
        vec![Effect::Emit(Event::Voice {
            call: id,
            side: Side::Remote,
            speaking: true,
            at_ms: 740
        })]
    );
    let figures = TurnTaking {
        greeting_ms: Some(740),
        gaps_ms: vec![720],
        ..TurnTaking::default()
    };
    let out = s.on(Input::Media {
        call: id,
        event: MediaEvent::TurnTaking(figures.clone()),
        ai: None,
    });
    assert_eq!(
        out,
        vec![Effect::Emit(Event::TurnTaking {
            call: id,
            figures: figures.clone()
        })]
    );
    let mut media = report(10);
    media.turn_taking = Some(Box::new(figures.clone()));
    let out = s.remote_bye(1, Some(media));
    let (_, _, summary) = ended(&out).expect("call_ended");
    assert_eq!(summary.turn_taking.as_deref(), Some(&figures));
}
