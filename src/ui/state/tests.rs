//! Event in → state out.

use super::*;
use crate::frontend::Outcome;
use crate::ui::fixtures::*;
use crate::vocab::{Codec, EndReason, LogKind, SipDirection, Speaker};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn registered_counts_down_to_the_refresh_at_three_quarters() {
    let s = registered_idle();
    let reg = s.app.registration.as_ref().unwrap();
    assert_eq!(reg.state, RegistrationState::Registered);
    assert_eq!(reg.refresh_at, Some(s.t0 + secs(0.2 + 2700.0)));
    assert_eq!(reg.expires_at, Some(s.t0 + secs(0.2 + 3600.0)));
    assert_eq!(s.app.account.as_ref().unwrap().transport, "udp");
    assert_eq!(s.app.outcome(), Outcome::Normal);
}

#[test]
fn retrying_keeps_the_reason_and_no_countdown() {
    let mut s = registered_idle();
    s.ev(registration(
        RegistrationState::Retrying,
        None,
        Some("no answer from the registrar"),
    ));
    let reg = s.app.registration.as_ref().unwrap();
    assert_eq!(reg.reason.as_deref(), Some("no answer from the registrar"));
    assert_eq!(reg.refresh_at, None);
}

#[test]
fn retrying_counts_down_to_the_next_try_and_wakes_the_screen_for_it() {
    let s = retrying();
    let reg = s.app.registration.as_ref().unwrap();
    let retry_at = reg.retry_at.expect("a retry time");
    assert_eq!(retry_at - reg.since, secs(8.0));
    // The screen is woken at the next whole second of the countdown (or sooner).
    let next = s.app.next_change(s.now).unwrap();
    assert!(next <= s.now + secs(1.0), "{:?}", next - s.now);
}

#[test]
fn a_final_registration_failure_is_the_outcome_even_after_later_states() {
    let mut s = registration_failed();
    assert!(s.app.registration_failed);
    assert_eq!(s.app.outcome(), Outcome::RegistrationRefused);
    s.ev(registration(RegistrationState::Unregistered, None, None));
    assert_eq!(s.app.outcome(), Outcome::RegistrationRefused);
}

#[test]
fn incoming_call_rings_once_and_is_selected() {
    let mut s = ringing();
    let call = &s.app.calls[&CallId(1)];
    assert_eq!(call.state, CallState::Ringing);
    assert_eq!(call.who(), "Bob Example");
    assert_eq!(s.app.selected, Some(CallId(1)));
    assert!(s.app.take_bell());
    assert!(!s.app.take_bell(), "the bell rings once per call");
}

#[test]
fn a_call_refused_at_once_does_not_ring_the_bell() {
    let mut s = registered_idle();
    s.ev(incoming(1, "sip:bob@x", None))
        .ev(ended(1, EndReason::NoCommonCodec));
    assert!(!s.app.take_bell());
    assert_eq!(
        s.app.calls[&CallId(1)].end_reason.as_deref(),
        Some("no common codec (488)")
    );
}

#[test]
fn a_second_call_does_not_steal_the_selection_from_a_live_one() {
    let s = two_calls();
    assert_eq!(s.app.selected, Some(CallId(1)));
}

#[test]
fn answering_starts_the_talk_clock_and_media_fills_the_panel() {
    let mut s = ringing();
    s.at(70.0).ev(call_state(1, CallState::Active));
    s.at(70.1).ev(media(1, "PCMA", "203.0.113.5:4000"));
    let c = &s.app.calls[&CallId(1)];
    assert_eq!(c.answered_at, Some(s.t0 + secs(70.0)));
    assert_eq!(c.codec, Some(Codec::Pcma));
    assert_eq!(c.elapsed(s.t0 + secs(100.0)), secs(30.0));
}

#[test]
fn levels_feed_meters_and_no_ai_level_clears_the_ai_meter() {
    let mut s = two_calls();
    let now = s.now;
    let c = &s.app.calls[&CallId(1)];
    assert!(c.ai.is_some());
    assert!(c.remote.as_ref().unwrap().rms(now) > -40.0);
    s.ev(levels(1, (-40.0, -30.0), (-40.0, -30.0), None));
    assert!(s.app.calls[&CallId(1)].ai.is_none());
    assert!(s.app.animating(now));
}

#[test]
fn mute_bridge_quality_and_dtmf_events_update_the_call() {
    let s = two_calls();
    let one = &s.app.calls[&CallId(1)];
    let two = &s.app.calls[&CallId(2)];
    assert!(one.bridge && !one.mic_muted && !one.listen_muted);
    assert!(two.mic_muted && !two.listen_muted && !two.bridge);
    assert_eq!(two.dtmf, "42");
    assert_eq!(one.quality.as_ref().unwrap().mos, Some(4.35));
}

#[test]
fn bridge_off_keeps_the_reason_and_drops_the_ai_meter() {
    let mut s = two_calls();
    s.ev(Event::Bridge {
        call: CallId(1),
        on: false,
        reason: Some("the Realtime API closed the session".into()),
    });
    let c = &s.app.calls[&CallId(1)];
    assert!(!c.bridge && c.ai.is_none());
    assert_eq!(
        c.bridge_note.as_deref(),
        Some("the Realtime API closed the session")
    );
}

#[test]
fn bridge_figures_follow_the_latest_stats_and_outlive_the_bridge() {
    let mut s = two_calls();
    assert_eq!(
        s.app.calls[&CallId(1)]
            .bridge_figures
            .as_ref()
            .map(|f| f.turns),
        Some(1)
    );
    assert!(s.app.calls[&CallId(2)].bridge_figures.is_none());
    s.ev(Event::BridgeStats {
        call: CallId(1),
        turns: 3,
        barge_ins: 1,
        reconnects: 1,
        last_latency_ms: Some(480),
        mean_latency_ms: Some(560),
        caller_frames_lost: 0,
        ai_frames_dropped: 0,
    })
    .ev(Event::Bridge {
        call: CallId(1),
        on: false,
        reason: Some("turned off".into()),
    });
    let c = &s.app.calls[&CallId(1)];
    assert_eq!(
        c.bridge_figures,
        Some(BridgeFigures {
            turns: 3,
            barge_ins: 1,
            reconnects: 1,
            last_latency_ms: Some(480),
            mean_latency_ms: Some(560),
        })
    );
}

#[test]
fn a_caller_line_opened_at_commit_stays_before_the_reply_its_words_follow() {
    let mut s = two_calls();
    let piece = |speaker, text: &str, item: &str, final_| Event::Transcript {
        call: CallId(1),
        speaker,
        text: text.into(),
        item: Some(item.into()),
        final_,
    };
    s.ev(piece(Speaker::Caller, "", "i2", false))
        .ev(piece(Speaker::Ai, "Ten works.", "r2", false))
        .ev(piece(Speaker::Caller, "Ten is fine.", "i2", true));
    let tail: Vec<(Speaker, &str, bool)> = s
        .app
        .transcript
        .iter()
        .rev()
        .take(2)
        .map(|l| (l.speaker, l.text.as_str(), l.done))
        .collect();
    assert_eq!(
        tail,
        [
            (Speaker::Ai, "Ten works.", false),
            (Speaker::Caller, "Ten is fine.", true)
        ]
    );
}

#[test]
fn transcript_deltas_extend_their_line_and_the_final_text_replaces_it() {
    let s = two_calls();
    let lines: Vec<(&str, bool)> = s
        .app
        .transcript
        .iter()
        .map(|l| (l.text.as_str(), l.done))
        .collect();
    assert_eq!(
        lines,
        [
            ("bridge connected (gpt-realtime, voice alloy)", true),
            (
                "Hi, I'd like to move my appointment to Thursday, please.",
                true
            ),
            ("Of course. Thursday has free slots at ten", false),
        ]
    );
}

#[test]
fn an_empty_final_piece_keeps_what_the_deltas_said() {
    let mut s = two_calls();
    s.ev(said(1, Speaker::Ai, " or at two.", Some("r1"), false))
        .ev(said(1, Speaker::Ai, "", Some("r1"), true));
    let last = s.app.transcript.back().unwrap();
    assert_eq!(
        last.text,
        "Of course. Thursday has free slots at ten or at two."
    );
    assert!(last.done);
}

#[test]
fn an_ended_call_lingers_then_leaves_and_the_selection_moves_on() {
    let mut s = two_calls();
    s.at(100.0).ev(ended(1, EndReason::RemoteHangup));
    assert_eq!(s.app.selected, Some(CallId(2)));
    let c = &s.app.calls[&CallId(1)];
    assert!(c.is_visible(s.t0 + secs(105.0)));
    assert!(!c.is_visible(s.t0 + secs(111.0)));
    assert!(c.ai.is_some() || !c.bridge, "bridge is off once ended");
}

#[test]
fn only_the_latest_ended_calls_are_kept() {
    let mut s = registered_idle();
    for id in 1..=12 {
        s.at(100.0 + id as f64)
            .ev(incoming(id, "sip:x@y", None))
            .ev(sip(
                Some(id),
                SipDirection::Received,
                "p",
                "INVITE sip:a@b SIP/2.0\n",
            ))
            .ev(ended(id, EndReason::Cancelled));
    }
    let kept: Vec<u64> = s.app.calls.keys().map(|c| c.0).collect();
    assert_eq!(kept, (5..=12).collect::<Vec<_>>());
    assert!(s.app.sip_messages(Some(CallId(1))).is_none());
}

#[test]
fn sip_messages_are_kept_per_call_and_outside_calls() {
    let s = with_trace();
    assert_eq!(s.app.sip_messages(None).unwrap().len(), 2);
    let call = s.app.sip_messages(Some(CallId(1))).unwrap();
    assert_eq!(call.len(), 7);
    assert_eq!(call[0].label(), "INVITE sip:alice@192.0.2.10:5060");
    assert_eq!(call[3].label(), "200 OK (INVITE)");
}

#[test]
fn the_log_is_a_bounded_ring() {
    let mut s = Script::new();
    for i in 0..(lines::LOG_KEPT + 10) {
        s.log(LogLevel::Info, LogKind::Stats, &format!("line {i}"));
    }
    assert_eq!(s.app.log.len(), lines::LOG_KEPT);
    assert_eq!(s.app.log.front().unwrap().message, "line 10");
}

#[test]
fn next_change_is_the_next_second_of_a_countdown_or_duration() {
    let close = |a: Option<Instant>, b: Instant| {
        let a = a.expect("a next change");
        let gap = if a > b { a - b } else { b - a };
        assert!(gap < Duration::from_millis(1), "{gap:?}");
    };
    // Refresh due at 2700.2 s; at 60.5 s the countdown shows 43:59 until 61.2 s.
    let s = registered_idle();
    close(s.app.next_change(s.now), s.t0 + secs(61.2));
    // Ringing since 60.5 s: its clock ticks at 65.5 s, the countdown first at 65.2 s.
    let s = ringing();
    close(s.app.next_change(s.now), s.t0 + secs(65.2));
}

#[test]
fn a_notice_expires() {
    let mut s = Script::new();
    let now = s.now;
    s.app.set_notice("hello", now);
    assert_eq!(s.app.notice_text(now + secs(1.0)), Some("hello"));
    assert_eq!(s.app.notice_text(now + NOTICE_FOR), None);
    assert_eq!(s.app.next_change(now), Some(now + NOTICE_FOR));
}

#[test]
fn stopped_is_recorded() {
    let mut s = Script::new();
    s.ev(Event::Stopped);
    assert!(s.app.stopped);
}

#[test]
fn an_outgoing_call_is_selected_calls_and_never_rings_the_bell() {
    let mut s = calling();
    let c = &s.app.calls[&CallId(1)];
    assert_eq!(
        (c.direction, c.state),
        (crate::vocab::Direction::Outgoing, CallState::Calling)
    );
    assert_eq!(c.who(), "1001@pbx.example.com");
    assert!(c.is_dialling() && !c.is_ringing() && !c.is_answered());
    assert_eq!(s.app.selected, Some(CallId(1)));
    s.ev(call_state(1, CallState::Ringing));
    assert!(!s.app.take_bell(), "it rings there, not here");
    assert_eq!(s.app.ringing_calls().count(), 0);
}

#[test]
fn the_first_progress_is_the_post_dial_delay() {
    let mut s = calling();
    s.ev(progress(1, 180, "Ringing", 320, false));
    assert_eq!(s.app.calls[&CallId(1)].state, CallState::Ringing);
    s.ev(progress(1, 183, "Session Progress", 900, true));
    let c = &s.app.calls[&CallId(1)];
    assert_eq!(c.post_dial_delay_ms, Some(320));
    assert_eq!(c.state, CallState::EarlyMedia);
    assert_eq!(
        c.progress,
        Some(Progress {
            status: 183,
            phrase: "Session Progress".into()
        })
    );
}

#[test]
fn early_media_feeds_the_meters_but_not_the_talk_clock() {
    let mut s = early_media();
    let c = &s.app.calls[&CallId(1)];
    assert!(c.remote.is_some(), "meters during early media");
    assert_eq!(c.answered_at, None);
    assert_eq!(
        c.elapsed(s.t0 + secs(63.0)),
        secs(2.0),
        "counts from the dial"
    );
    s.at(70.0)
        .ev(Event::CallAnswered {
            call: CallId(1),
            answer_ms: 8990,
            post_dial_delay_ms: Some(410),
        })
        .ev(call_state(1, CallState::Active));
    let c = &s.app.calls[&CallId(1)];
    assert_eq!(c.answered_at, Some(s.t0 + secs(70.0)));
    assert_eq!((c.answer_ms, c.post_dial_delay_ms), (Some(8990), Some(410)));
}

#[test]
fn hold_events_set_both_sides_and_resuming_clears_them() {
    let mut s = outgoing_active();
    s.ev(hold(1, true, false))
        .ev(call_state(1, CallState::OnHold));
    let c = &s.app.calls[&CallId(1)];
    assert!(c.held_by_us && !c.held_by_them && c.is_answered());
    s.ev(hold(1, true, true));
    assert!(s.app.calls[&CallId(1)].held_by_them);
    s.ev(call_state(1, CallState::Active));
    let c = &s.app.calls[&CallId(1)];
    assert!(!c.held_by_us && !c.held_by_them);
    // The state alone (no hold event) says which side holds.
    s.ev(call_state(1, CallState::Held));
    assert!(s.app.calls[&CallId(1)].held_by_them);
}

#[test]
fn a_transfer_keeps_its_latest_stage() {
    let mut s = outgoing_active();
    let transfer = |stage, status| Event::Transfer {
        call: CallId(1),
        target: "sip:1002@pbx.example.com".into(),
        by: crate::vocab::TransferBy::Us,
        stage,
        status,
        reason: None,
    };
    s.ev(transfer(crate::vocab::TransferStage::Requested, None))
        .ev(transfer(crate::vocab::TransferStage::Done, Some(200)));
    let t = s.app.calls[&CallId(1)].transfer.clone().unwrap();
    assert_eq!(
        (t.stage, t.status),
        (crate::vocab::TransferStage::Done, Some(200))
    );
}

#[test]
fn our_calls_end_in_words_of_their_own() {
    let ended_out = |reason: EndReason| Event::CallEnded {
        call: CallId(1),
        direction: crate::vocab::Direction::Outgoing,
        reason,
        duration_ms: 0,
        media: Default::default(),
        verdict: None,
    };
    let reason_after = |mut s: Script, reason: EndReason| {
        s.ev(ended_out(reason));
        s.app.calls[&CallId(1)].end_reason.clone().unwrap()
    };
    assert_eq!(
        reason_after(
            calling(),
            EndReason::NotAnswered {
                status: 486,
                phrase: "Busy Here".into(),
                explained: "the other side is busy".into(),
            }
        ),
        "the other side is busy (486 Busy Here)"
    );
    assert_eq!(
        reason_after(ringing_there(), EndReason::RingTimeout { secs: 30 }),
        "no answer within 30 s, so we cancelled"
    );
    assert_eq!(
        reason_after(ringing_there(), EndReason::LocalHangup),
        "we cancelled before the answer"
    );
    assert_eq!(
        reason_after(outgoing_active(), EndReason::LocalHangup),
        "we hung up"
    );
    assert_eq!(
        reason_after(outgoing_active(), EndReason::RemoteHangup),
        "they hung up"
    );
    assert_eq!(
        reason_after(
            outgoing_active(),
            EndReason::Transferred {
                target: "sip:1002@pbx.example.com".into()
            }
        ),
        "transferred to 1002@pbx.example.com"
    );
}

#[test]
fn on_hold_and_held_name_the_side_that_holds() {
    let ours = &on_hold_ours().app.calls[&CallId(1)];
    assert_eq!(ours.state, CallState::OnHold);
    assert!(ours.held_by_us && !ours.held_by_them);
    let theirs = &held_theirs().app.calls[&CallId(1)];
    assert_eq!(theirs.state, CallState::Held);
    assert!(theirs.held_by_them && !theirs.held_by_us);
}
