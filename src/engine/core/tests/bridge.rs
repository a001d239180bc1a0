//! The voice bridge: on, off, failures, figures and the transcript file's order.

use super::*;
use crate::bridge::BridgeError;
use crate::vocab::Speaker;

fn stats(turns: u64) -> BridgeStats {
    BridgeStats {
        turns,
        total_latency_ms: 600 * turns,
        last_latency_ms: Some(600),
        ..BridgeStats::default()
    }
}

fn bridged(s: &mut Script, n: u32) -> CallId {
    let id = s.connected(n);
    s.on(Input::Command(Command::ToggleBridge(id)));
    let out = s.on(Input::BridgeStarted {
        call: id,
        result: Ok(()),
    });
    assert_eq!(
        logs(&out),
        [format!(
            "call {id}: connecting the voice bridge (gpt-realtime, voice alloy)"
        )]
    );
    id
}

fn bridge_event(s: &mut Script, id: CallId, event: BridgeEvent) -> Vec<Effect> {
    s.on(Input::Bridge {
        call: id,
        event,
        stats: stats(1),
    })
}

fn said(speaker: Speaker, item: &str, text: &str, final_: bool) -> BridgeEvent {
    BridgeEvent::Transcript {
        speaker,
        text: text.into(),
        item: item.into(),
        final_,
    }
}

#[test]
fn a_call_cannot_be_bridged_before_it_is_answered() {
    let mut s = Script::new(policy());
    s.invite(1, Some(pcmu_offer()));
    let out = s.on(Input::Command(Command::ToggleBridge(CallId(1))));
    assert_eq!(
        logs(&out),
        ["call #1 is not answered yet; answer it before bridging"]
    );
}

#[test]
fn auto_bridge_starts_when_media_starts() {
    let mut s = Script::new(Policy {
        auto_bridge: true,
        ..policy()
    });
    s.invite(1, Some(pcmu_offer()));
    s.on(Input::Command(Command::Answer(CallId(1))));
    let out = s.complete_answer(CallId(1), 10_002);
    assert_eq!(
        out.last(),
        Some(&Effect::StartBridge {
            call: CallId(1),
            codec: Codec::Pcmu,
            listen_muted: false
        })
    );
}

#[test]
fn a_bridge_that_cannot_start_says_why_and_the_call_goes_on() {
    let mut s = Script::new(policy());
    let id = s.connected(1);
    s.on(Input::Command(Command::ToggleBridge(id)));
    let out = s.on(Input::BridgeStarted {
        call: id,
        result: Err("no OpenAI API key".into()),
    });
    assert!(events(&out).contains(&&Event::Bridge {
        call: id,
        on: false,
        reason: Some("no OpenAI API key".into())
    }));
    // Off again: the next toggle tries again.
    let out = s.on(Input::Command(Command::ToggleBridge(id)));
    assert!(matches!(actions(&out)[0], Effect::StartBridge { .. }));
}

#[test]
fn ready_turns_and_barge_ins_report_the_running_figures() {
    let mut s = Script::new(policy());
    let id = bridged(&mut s, 1);
    let out = bridge_event(
        &mut s,
        id,
        BridgeEvent::Ready {
            session_id: None,
            model: "gpt-realtime".into(),
            reconnected: false,
        },
    );
    assert_eq!(
        events(&out)[0],
        &Event::Bridge {
            call: id,
            on: true,
            reason: None
        }
    );
    assert_eq!(
        logs(&out),
        ["call #1: voice bridge connected (gpt-realtime)"]
    );
    let figures = Event::BridgeStats {
        call: id,
        turns: 1,
        barge_ins: 0,
        reconnects: 0,
        last_latency_ms: Some(600),
        mean_latency_ms: Some(600),
        caller_frames_lost: 0,
        ai_frames_dropped: 0,
    };
    assert!(events(&out).contains(&&figures));
    let out = bridge_event(&mut s, id, BridgeEvent::Turn { latency_ms: 600 });
    assert!(events(&out).contains(&&figures));
    let out = bridge_event(
        &mut s,
        id,
        BridgeEvent::Interrupted {
            item: None,
            played_ms: Some(1200),
        },
    );
    assert_eq!(
        logs(&out),
        ["call #1: the caller interrupted the AI after 1200 ms of its reply"]
    );
}

#[test]
fn a_failed_bridge_is_stopped_and_its_figures_come_with_the_stop() {
    let mut s = Script::new(policy());
    let id = bridged(&mut s, 1);
    let failure = BridgeError::Closed {
        code: 1011,
        reason: "server error".into(),
    };
    let out = bridge_event(&mut s, id, BridgeEvent::Failed(failure));
    assert!(actions(&out).contains(&&Effect::StopBridge(id)));
    assert!(events(&out).iter().any(|e| matches!(
        e,
        Event::Bridge { on: false, reason: Some(r), .. } if r.starts_with("failed: ")
    )));
    let out = s.on(Input::BridgeStopped {
        call: id,
        stats: stats(3),
    });
    assert!(matches!(
        events(&out)[0],
        Event::BridgeStats { turns: 3, .. }
    ));
    assert_eq!(
        logs(&out),
        ["call #1 voice bridge: 3 turns, 0 barge-ins, 0 reconnects, mean answer latency 600 ms"]
    );
}

#[test]
fn a_bridged_call_that_ends_reports_the_bridge_figures_before_the_end() {
    let mut s = Script::new(policy());
    let id = bridged(&mut s, 1);
    let out = s.on(Input::Terminated {
        key: key(1),
        why: Termination::RemoteBye,
    });
    assert_eq!(actions(&out), vec![&Effect::Teardown(id)]);
    let out = s.on(Input::Finished {
        call: id,
        bridge: Some(stats(2)),
        media: Some(report(50)),
    });
    let evs = events(&out);
    let figures = evs
        .iter()
        .position(|e| matches!(e, Event::BridgeStats { turns: 2, .. }))
        .expect("bridge figures");
    let end = evs
        .iter()
        .position(|e| matches!(e, Event::CallEnded { .. }))
        .expect("the end");
    assert!(figures < end);
}

#[test]
fn transcript_lines_are_written_in_conversation_order_and_flushed_at_the_end() {
    let mut s = Script::new(policy());
    s.invite(1, Some(pcmu_offer()));
    let id = CallId(1);
    s.on(Input::Command(Command::Answer(id)));
    s.on(Input::RtpBound {
        call: id,
        result: Ok((10_002, 1)),
        public: None,
    });
    s.on(Input::Accepted {
        call: id,
        result: Ok(()),
    });
    let path = PathBuf::from("/recordings/call.txt");
    s.on(Input::MediaStarted {
        call: id,
        result: Ok(MediaRunning {
            local_rtp: "192.0.2.10:10002".parse().unwrap(),
            transcript: Some(path.clone()),
        }),
    });
    s.on(Input::Command(Command::ToggleBridge(id)));
    s.on(Input::BridgeStarted {
        call: id,
        result: Ok(()),
    });
    let appended = |out: &[Effect]| -> Vec<String> {
        out.iter()
            .filter_map(|e| match e {
                Effect::AppendTranscript { path: p, text } if *p == path => Some(text.clone()),
                _ => None,
            })
            .collect()
    };
    // The caller's turn is committed; the AI's reply is final before the caller's words.
    assert!(appended(&bridge_event(
        &mut s,
        id,
        said(Speaker::Caller, "in_1", "", false)
    ))
    .is_empty());
    let out = bridge_event(&mut s, id, said(Speaker::Ai, "out_1", "Sure.", true));
    assert!(appended(&out).is_empty(), "held behind the caller");
    assert!(matches!(
        events(&out)[0],
        Event::Transcript { final_: true, .. }
    ));
    let out = bridge_event(&mut s, id, said(Speaker::Caller, "in_1", "Help?", true));
    let text = appended(&out).concat();
    let caller = text.find("caller: Help?").expect("caller line");
    let ai = text.find("AI: Sure.").expect("AI line");
    assert!(caller < ai, "{text}");
    // A turn whose words never come is written when the call ends.
    bridge_event(&mut s, id, said(Speaker::Caller, "in_2", "", false));
    let out = s.on(Input::Terminated {
        key: key(1),
        why: Termination::RemoteBye,
    });
    assert!(appended(&out)
        .concat()
        .contains("caller: (not transcribed)"));
    // Being torn down, the call still takes the lines its bridge closes on the way out
    // (GPT-Live closes a line only after a pause), but nothing else.
    let out = bridge_event(&mut s, id, said(Speaker::Ai, "live_ai_3", "Goodbye", true));
    let line = appended(&out).concat();
    assert!(line.contains("AI: Goodbye"), "{line}");
    let out = bridge_event(&mut s, id, said(Speaker::Ai, "live_ai_4", "Hel", false));
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn audio_the_bridge_could_not_pass_on_is_reported_when_it_stops() {
    let mut s = Script::new(policy());
    let id = bridged(&mut s, 1);
    let out = s.on(Input::BridgeStopped {
        call: id,
        stats: stats(1),
    });
    assert!(
        logs(&out).iter().all(|l| !l.contains("dropped")),
        "{:?}",
        logs(&out)
    );
    let id = bridged(&mut s, 2);
    let out = s.on(Input::BridgeStopped {
        call: id,
        stats: BridgeStats {
            caller_frames_skipped: 1,
            ai_frames_dropped: 12,
            ..stats(1)
        },
    });
    assert!(
        logs(&out).contains(&format!(
            "call {id} voice bridge: 1 frame of the caller's audio lost or too late on the way \
             in; 12 frames of the model's audio dropped (it arrived faster than it could play)"
        )),
        "{:?}",
        logs(&out)
    );
    assert!(
        events(&out).iter().any(|e| matches!(
            e,
            Event::BridgeStats {
                caller_frames_lost: 1,
                ai_frames_dropped: 12,
                ..
            }
        )),
        "{out:?}"
    );
}
