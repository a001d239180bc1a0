//! The key map: what each key sends, and the notice when it cannot act.

use super::*;
use crate::ui::fixtures::*;
use crate::ui::state::{PromptKind, TraceView};
use crate::vocab::{CallId, CallState, Command, EndReason, Event};
use crossterm::event::{KeyEventState, KeyModifiers};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ch(c: char) -> KeyEvent {
    key(KeyCode::Char(c))
}

/// Presses a key; returns the command sent (if any) and the notice shown (if any).
fn press(s: &mut Script, k: KeyEvent) -> (Option<Command>, Option<String>) {
    s.app.notice = None;
    let action = action_for(&s.app, k);
    let command = s.app.handle(action, s.now);
    (command, s.app.notice_text(s.now).map(str::to_string))
}

#[test]
fn a_answers_and_r_rejects_the_ringing_call() {
    let mut s = ringing();
    assert_eq!(
        press(&mut s, ch('a')),
        (Some(Command::Answer(CallId(1))), None)
    );
    assert_eq!(
        press(&mut s, ch('r')).0,
        Some(Command::Reject {
            call: CallId(1),
            decline: false
        })
    );
}

#[test]
fn keys_that_cannot_act_say_why() {
    let mut s = registered_idle();
    let cases = [
        ('a', "no ringing call to answer"),
        ('r', "no ringing call to reject"),
        ('h', "no call to hang up"),
        ('b', "no answered call to bridge"),
        ('m', "no answered call to mute"),
        ('x', "x does nothing; ? lists the keys"),
    ];
    for (c, why) in cases {
        assert_eq!(
            press(&mut s, ch(c)),
            (None, Some(why.to_string())),
            "key {c}"
        );
    }
    assert_eq!(
        press(&mut s, key(KeyCode::Tab)).1.as_deref(),
        Some("no calls to select")
    );
}

#[test]
fn bridge_and_mute_need_an_answered_call() {
    let mut s = ringing();
    assert_eq!(
        press(&mut s, ch('b')).1.as_deref(),
        Some("answer call #1 before you bridge it")
    );
    s.ev(call_state(1, CallState::Active));
    assert_eq!(
        press(&mut s, ch('b')).0,
        Some(Command::ToggleBridge(CallId(1)))
    );
    assert_eq!(
        press(&mut s, ch('m')).0,
        Some(Command::MuteMicrophone {
            call: CallId(1),
            muted: true
        })
    );
}

#[test]
fn m_on_a_bridged_call_mutes_the_listen_in_not_the_microphone() {
    let mut s = two_calls();
    assert_eq!(s.app.selected, Some(CallId(1)));
    assert_eq!(
        press(&mut s, ch('m')).0,
        Some(Command::MuteListenIn {
            call: CallId(1),
            muted: true
        })
    );
    s.app.apply(
        &Event::Muted {
            call: CallId(1),
            microphone: false,
            listen_in: true,
        },
        s.now,
    );
    assert_eq!(
        press(&mut s, ch('m')).0,
        Some(Command::MuteListenIn {
            call: CallId(1),
            muted: false
        })
    );
}

#[test]
fn m_unmutes_a_muted_call_and_h_hangs_up_the_selected_one() {
    let mut s = two_calls();
    assert_eq!(press(&mut s, key(KeyCode::Tab)).0, None);
    assert_eq!(s.app.selected, Some(CallId(2)));
    assert_eq!(
        press(&mut s, ch('m')).0,
        Some(Command::MuteMicrophone {
            call: CallId(2),
            muted: false
        })
    );
    assert_eq!(press(&mut s, ch('h')).0, Some(Command::Hangup(CallId(2))));
    // Up goes back, wrapping around.
    press(&mut s, key(KeyCode::Up));
    assert_eq!(s.app.selected, Some(CallId(1)));
    press(&mut s, key(KeyCode::Up));
    assert_eq!(s.app.selected, Some(CallId(2)));
}

#[test]
fn with_two_calls_ringing_a_answers_the_selected_one() {
    let mut s = ringing();
    s.ev(incoming(2, "sip:carol@example.org", None));
    assert_eq!(press(&mut s, ch('a')).0, Some(Command::Answer(CallId(1))));
    s.app.selected = None;
    assert_eq!(
        press(&mut s, ch('a')).1.as_deref(),
        Some("2 calls are ringing: select one with Tab, then answer")
    );
}

#[test]
fn q_quits_at_once_without_calls() {
    let mut s = registered_idle();
    assert_eq!(press(&mut s, ch('q')).0, Some(Command::Quit));
    assert!(s.app.quitting);
    assert_eq!(
        press(&mut s, ch('q')).1.as_deref(),
        Some("already quitting; Ctrl+C leaves without waiting")
    );
}

#[test]
fn q_asks_first_when_calls_are_live() {
    let mut s = two_calls();
    assert_eq!(press(&mut s, ch('q')).0, None);
    assert_eq!(s.app.overlay, Overlay::ConfirmQuit);
    assert_eq!(press(&mut s, ch('n')).0, None);
    assert_eq!(s.app.overlay, Overlay::None);
    press(&mut s, ch('q'));
    assert_eq!(press(&mut s, ch('y')).0, Some(Command::Quit));
}

#[test]
fn ctrl_c_quits_without_asking_and_twice_leaves_now() {
    let mut s = two_calls();
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(press(&mut s, ctrl_c).0, Some(Command::Quit));
    assert!(!s.app.leave_now);
    assert_eq!(press(&mut s, ctrl_c).0, None);
    assert!(s.app.leave_now);
}

#[test]
fn key_releases_do_nothing_and_say_nothing() {
    let mut s = ringing();
    let mut release = ch('a');
    release.kind = KeyEventKind::Release;
    release.state = KeyEventState::NONE;
    assert_eq!(press(&mut s, release), (None, None));
}

#[test]
fn help_opens_and_closes() {
    let mut s = registered_idle();
    press(&mut s, ch('?'));
    assert_eq!(s.app.overlay, Overlay::Help);
    assert_eq!(
        press(&mut s, ch('a')).1.as_deref(),
        Some("a: not in the help; Esc closes it")
    );
    press(&mut s, key(KeyCode::Esc));
    assert_eq!(s.app.overlay, Overlay::None);
}

#[test]
fn trace_picks_messages_opens_one_and_backs_out() {
    let mut s = with_trace();
    press(&mut s, ch('v'));
    let trace = |s: &Script| match &s.app.overlay {
        Overlay::Trace(t) => t.clone(),
        other => panic!("not in the trace: {other:?}"),
    };
    assert_eq!(trace(&s).call, Some(CallId(1)));
    assert_eq!(trace(&s).selected, None, "follows the newest");
    press(&mut s, key(KeyCode::Up));
    press(&mut s, key(KeyCode::Up));
    assert_eq!(trace(&s).selected, Some(4));
    for _ in 0..10 {
        press(&mut s, key(KeyCode::Up));
    }
    assert_eq!(trace(&s).selected, Some(0), "stops at the first");
    press(&mut s, key(KeyCode::Enter));
    assert!(trace(&s).full);
    press(&mut s, key(KeyCode::Down));
    assert_eq!(trace(&s).scroll, 1, "arrows scroll a full message");
    press(&mut s, key(KeyCode::Esc));
    assert!(!trace(&s).full);
    press(&mut s, key(KeyCode::Esc));
    assert_eq!(s.app.overlay, Overlay::None);
}

#[test]
fn trace_without_a_call_shows_the_registrations() {
    let mut s = registered_idle();
    press(&mut s, ch('v'));
    assert_eq!(s.app.overlay, Overlay::Trace(TraceView::default()));
    assert_eq!(
        press(&mut s, key(KeyCode::Enter)).1.as_deref(),
        Some("no SIP message to open")
    );
}

#[test]
fn l_cycles_the_log_filter() {
    let mut s = registered_idle();
    let seen: Vec<LogLevel> = (0..4)
        .map(|_| {
            press(&mut s, ch('l'));
            s.app.log_filter
        })
        .collect();
    assert_eq!(
        seen,
        [
            LogLevel::Debug,
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info
        ]
    );
}

#[test]
fn footer_lists_only_keys_that_act() {
    let names = |s: &Script| -> Vec<&str> {
        footer_keys(&s.app, s.now)
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    assert_eq!(names(&registered_idle()), ["d", "v", "l", "?", "q"]);
    assert_eq!(names(&ringing()), ["a", "r", "h", "d", "v", "l", "?", "q"]);
    assert_eq!(
        names(&two_calls()),
        ["h", "m", "b", "o", "t", "0-9*#", "Tab", "d", "v", "l", "?", "q"]
    );
    let mut s = ringing();
    s.ev(ended(1, EndReason::Cancelled));
    assert_eq!(names(&s), ["d", "v", "l", "?", "q"]);
    // Our call before the answer: h cancels it, nothing else applies to it yet.
    let s = calling();
    assert_eq!(names(&s), ["h", "d", "v", "l", "?", "q"]);
    assert_eq!(footer_keys(&s.app, s.now)[0], ("h", "cancel"));
    assert_eq!(names(&early_media()), ["h", "d", "v", "l", "?", "q"]);
    let s = on_hold_ours();
    assert!(footer_keys(&s.app, s.now).contains(&("o", "resume")));
    assert_eq!(names(&dial_prompt()), ["Enter", "↑↓", "Esc"]);
    let mut s = registered_idle();
    press(&mut s, ch('d'));
    assert_eq!(names(&s), ["Enter", "Esc"], "no history: no ↑↓");
}

#[test]
fn d_opens_the_prompt_and_enter_dials_the_resolved_uri() {
    let mut s = registered_idle();
    assert_eq!(press(&mut s, ch('d')), (None, None));
    // While typing, letters that are keys elsewhere are text.
    for c in "q1001".chars() {
        assert_eq!(press(&mut s, ch(c)), (None, None));
    }
    press(&mut s, key(KeyCode::Home));
    press(&mut s, key(KeyCode::Delete));
    assert_eq!(
        press(&mut s, key(KeyCode::Enter)),
        (
            Some(Command::Dial {
                target: "sip:1001@pbx.example.com".into()
            }),
            None
        )
    );
    assert_eq!(s.app.overlay, Overlay::None);
    assert_eq!(s.app.history.get(0), Some("sip:1001@pbx.example.com"));
}

#[test]
fn a_number_takes_the_accounts_port_too() {
    let mut s = Script::new();
    s.ev(Event::Started {
        account: "sip:alice@192.0.2.5:5070".into(),
        registrar: "sip:192.0.2.5:5070".into(),
        transport: "udp".into(),
        local_sip: "192.0.2.10:5060".into(),
        profile: None,
    });
    assert_eq!(s.app.dial_domain().as_deref(), Some("192.0.2.5:5070"));
    press(&mut s, ch('d'));
    for c in "+1 555 0100".chars() {
        press(&mut s, ch(c));
    }
    assert_eq!(
        press(&mut s, key(KeyCode::Enter)).0,
        Some(Command::Dial {
            target: "sip:+15550100@192.0.2.5:5070".into()
        })
    );
}

#[test]
fn what_cannot_be_dialled_says_why_sends_nothing_and_keeps_the_text() {
    let mut s = registered_idle();
    press(&mut s, ch('d'));
    assert_eq!(
        press(&mut s, key(KeyCode::Enter)),
        (None, Some("nothing to dial".into()))
    );
    for c in "bob smith".chars() {
        press(&mut s, ch(c));
    }
    let (command, notice) = press(&mut s, key(KeyCode::Enter));
    assert_eq!(command, None);
    let notice = notice.expect("a reason");
    assert!(notice.starts_with("'bob smith' is neither"), "{notice}");
    assert!(!notice.contains('\n'));
    match &s.app.overlay {
        Overlay::Prompt(p) => assert_eq!(p.text, "bob smith"),
        other => panic!("prompt closed: {other:?}"),
    }
    assert!(s.app.history.is_empty());
}

#[test]
fn without_an_account_only_a_full_uri_can_be_dialled() {
    let mut s = Script::new();
    s.ev(Event::Started {
        account: String::new(),
        registrar: String::new(),
        transport: "udp".into(),
        local_sip: "192.0.2.10:5060".into(),
        profile: None,
    });
    assert_eq!(s.app.dial_domain(), None);
    press(&mut s, ch('d'));
    for c in "1001".chars() {
        press(&mut s, ch(c));
    }
    let (command, notice) = press(&mut s, key(KeyCode::Enter));
    assert_eq!(command, None);
    assert!(notice.unwrap().contains("no account domain"));
    press(
        &mut s,
        KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL),
    );
    for c in "sip:1001@192.0.2.9".chars() {
        press(&mut s, ch(c));
    }
    assert_eq!(
        press(&mut s, key(KeyCode::Enter)).0,
        Some(Command::Dial {
            target: "sip:1001@192.0.2.9".into()
        })
    );
}

#[test]
fn esc_cancels_the_prompt_and_ctrl_c_still_quits_from_it() {
    let mut s = registered_idle();
    press(&mut s, ch('d'));
    press(&mut s, ch('1'));
    assert_eq!(press(&mut s, key(KeyCode::Esc)), (None, None));
    assert_eq!(s.app.overlay, Overlay::None);
    press(&mut s, ch('d'));
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(press(&mut s, ctrl_c).0, Some(Command::Quit));
    assert_eq!(s.app.overlay, Overlay::None);
    assert_eq!(
        press(&mut s, ch('d')).1.as_deref(),
        Some("quitting: no new calls")
    );
}

#[test]
fn up_recalls_the_history_and_enter_redials_it_at_the_top() {
    let mut s = dial_prompt();
    press(&mut s, key(KeyCode::Up));
    press(&mut s, key(KeyCode::Up));
    assert_eq!(
        press(&mut s, key(KeyCode::Up)).1.as_deref(),
        Some("that is the oldest number dialled")
    );
    press(&mut s, key(KeyCode::Down));
    press(&mut s, key(KeyCode::Up));
    assert_eq!(
        press(&mut s, key(KeyCode::Enter)).0,
        Some(Command::Dial {
            target: "sip:agent@sip.example.com".into()
        })
    );
    assert_eq!(
        s.app.history.entries(),
        ["sip:agent@sip.example.com", "sip:1001@pbx.example.com"]
    );
}

#[test]
fn h_cancels_our_call_before_the_answer_and_a_r_do_not_apply_to_it() {
    let mut s = calling();
    assert_eq!(press(&mut s, ch('h')).0, Some(Command::Hangup(CallId(1))));
    assert_eq!(
        press(&mut s, ch('a')),
        (
            None,
            Some("call #1 is our own call: nothing to answer; h cancels it".into())
        )
    );
    assert_eq!(press(&mut s, ch('r')).0, None);
    let mut s = early_media();
    assert_eq!(press(&mut s, ch('h')).0, Some(Command::Hangup(CallId(1))));
    assert_eq!(
        press(&mut s, ch('o')).1.as_deref(),
        Some("call #1 is not answered yet: wait for the answer to hold it")
    );
    assert_eq!(press(&mut s, ch('5')).0, None, "no DTMF before the answer");
}

#[test]
fn o_holds_and_resumes_the_selected_call() {
    let mut s = outgoing_active();
    assert_eq!(
        press(&mut s, ch('o')).0,
        Some(Command::Hold {
            call: CallId(1),
            on: true
        })
    );
    s.ev(hold(1, true, false));
    assert_eq!(
        press(&mut s, ch('o')).0,
        Some(Command::Hold {
            call: CallId(1),
            on: false
        })
    );
    // Held by them only: `o` puts it on hold from our side too.
    let mut s = held_theirs();
    assert_eq!(
        press(&mut s, ch('o')).0,
        Some(Command::Hold {
            call: CallId(1),
            on: true
        })
    );
    assert_eq!(
        press(&mut s, ch('o')).0,
        Some(Command::Hold {
            call: CallId(1),
            on: true
        }),
        "nothing changes until the engine says so"
    );
}

#[test]
fn t_opens_the_transfer_prompt_and_enter_sends_the_refer() {
    let mut s = two_calls();
    press(&mut s, key(KeyCode::Tab));
    assert_eq!(press(&mut s, ch('t')), (None, None));
    assert!(matches!(
        &s.app.overlay,
        Overlay::Prompt(p) if p.kind == PromptKind::Transfer(CallId(2))
    ));
    for c in "1002".chars() {
        press(&mut s, ch(c));
    }
    assert_eq!(
        press(&mut s, key(KeyCode::Enter)).0,
        Some(Command::Transfer {
            call: CallId(2),
            target: "sip:1002@pbx.example.com".into()
        })
    );
    assert_eq!(s.app.overlay, Overlay::None);
    assert!(s.app.history.is_empty(), "transfers are not dials");
    // The call ended while the prompt was open: nothing is sent.
    press(&mut s, ch('t'));
    s.ev(ended(2, EndReason::RemoteHangup));
    press(&mut s, ch('9'));
    assert_eq!(
        press(&mut s, key(KeyCode::Enter)),
        (
            None,
            Some("call #2 is no longer up: nothing to transfer".into())
        )
    );
}

#[test]
fn the_keypad_sends_each_digit_and_the_panel_keeps_them() {
    let mut s = two_calls();
    for (c, digits) in [('1', "1"), ('*', "*"), ('#', "#"), ('0', "0")] {
        assert_eq!(
            press(&mut s, ch(c)).0,
            Some(Command::SendDtmf {
                call: CallId(1),
                digits: digits.into()
            })
        );
    }
    assert_eq!(s.app.calls[&CallId(1)].dtmf_sent, "1*#0");
    assert_eq!(s.app.calls[&CallId(1)].dtmf, "", "received digits apart");
    let mut s = ringing();
    assert_eq!(
        press(&mut s, ch('5')).1.as_deref(),
        Some("answer call #1 before you send DTMF to it")
    );
}
