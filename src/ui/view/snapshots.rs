//! Snapshot tests: each scene drawn at 80×24 and 160×48 into a `TestBackend` and compared with
//! the committed text in `snapshots/`. Under CI (`CI=true`) insta never writes snapshots, so a
//! missing or changed one fails the run; locally, review changes with `cargo insta review` or
//! `INSTA_UPDATE=always` and read the `.snap` files by eye. Colours are not in the text; the
//! `*_colour` tests below check the ones that carry meaning.

use super::render;
use crate::ui::fixtures::*;
use crate::ui::keys::Action;
use crate::ui::state::Overlay;
use crate::vocab::{CallId, CallState, Event, RegistrationState};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use ratatui::Terminal;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn draw(s: &Script, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal
        .draw(|frame| render(frame, &s.app, s.now))
        .expect("draw");
    terminal
}

fn snapshot_both(name: &str, s: &Script) {
    for (w, h) in SIZES {
        let terminal = draw(s, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
    }
}

/// The style of the first cell of the first occurrence of `needle` in the buffer.
fn colour_of(buffer: &Buffer, needle: &str) -> (Color, Color) {
    let area = buffer.area;
    for y in 0..area.height {
        let row: Vec<&str> = (0..area.width).map(|x| buffer[(x, y)].symbol()).collect();
        let joined: String = row.concat();
        if let Some(byte) = joined.find(needle) {
            // Map the byte offset back to a column.
            let mut seen = 0;
            for (x, sym) in row.iter().enumerate() {
                if seen == byte {
                    let cell = &buffer[(x as u16, y)];
                    return (cell.fg, cell.bg);
                }
                seen += sym.len();
            }
        }
    }
    panic!("{needle:?} not on screen");
}

#[test]
fn registering_screen() {
    snapshot_both("registering", &registering());
}

#[test]
fn registered_idle_screen() {
    snapshot_both("registered_idle", &registered_idle());
}

#[test]
fn registration_failed_screen() {
    snapshot_both("registration_failed", &registration_failed());
}

#[test]
fn registered_over_tls_shows_a_lock() {
    let s = registered_over_tls();
    snapshot_both("registered_over_tls", &s);
    let header = draw(&s, 160, 48).backend().buffer().clone();
    let top: String = (0..160).map(|x| header[(x, 0)].symbol()).collect();
    // The lock is two columns wide: its second cell holds a blank of its own.
    assert!(top.contains("🔒  TLS"), "{top}");
    assert!(top.contains("[provider] alice@pbx.example.com"), "{top}");
    let narrow = draw(&s, 80, 24).backend().buffer().clone();
    let top: String = (0..80).map(|x| narrow[(x, 0)].symbol()).collect();
    // Narrow: the account gives up room for the profile's name, the lock stays.
    assert!(top.contains("[provider] alice@pbx"), "{top}");
    assert!(top.contains("🔒  TLS"), "{top}");
}

#[test]
fn tls_certificate_refused_screen() {
    snapshot_both("tls_certificate_refused", &tls_certificate_refused());
}

#[test]
fn retrying_screen_counts_down_to_the_next_try() {
    snapshot_both("retrying", &retrying());
}

#[test]
fn incoming_ringing_call() {
    snapshot_both("ringing", &ringing());
}

#[test]
fn two_live_calls_one_bridged_with_transcript() {
    snapshot_both("two_calls", &two_calls());
}

#[test]
fn srtp_call_shows_the_lock_suite_and_media_addresses() {
    snapshot_both("srtp_call", &srtp_call());
    for (w, h) in SIZES {
        let terminal = draw(&srtp_call(), w, h);
        let text: String = terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        assert!(text.contains("SRTP"), "at {w}×{h}");
    }
}

#[test]
fn help_overlay() {
    let mut s = two_calls();
    let now = s.now;
    s.app.handle(Action::ToggleHelp, now);
    snapshot_both("help", &s);
}

#[test]
fn quit_question() {
    let mut s = two_calls();
    let now = s.now;
    s.app.handle(Action::Quit, now);
    assert_eq!(s.app.overlay, Overlay::ConfirmQuit);
    insta::assert_snapshot!("confirm_quit_80x24", draw(&s, 80, 24).backend());
}

#[test]
fn sip_trace_ladder() {
    let mut s = with_trace();
    let now = s.now;
    s.app.handle(Action::ToggleTrace, now);
    s.app.handle(Action::Up, now);
    snapshot_both("trace_ladder", &s);
}

#[test]
fn sip_trace_full_message() {
    let mut s = with_trace();
    let now = s.now;
    s.app.handle(Action::ToggleTrace, now);
    for _ in 0..6 {
        s.app.handle(Action::Up, now);
    }
    s.app.handle(Action::Open, now);
    snapshot_both("trace_full_invite", &s);
}

#[test]
fn registration_state_colour() {
    let buf = |s: &Script| draw(s, 80, 24).backend().buffer().clone();
    assert_eq!(
        colour_of(&buf(&registering()), "◌ registering").0,
        Color::Yellow
    );
    assert_eq!(
        colour_of(&buf(&registered_idle()), "● registered").0,
        Color::Green
    );
    assert_eq!(
        colour_of(&buf(&registration_failed()), "✖ registration").0,
        Color::Red
    );
}

#[test]
fn ringing_call_colour() {
    for (w, h) in SIZES {
        let terminal = draw(&ringing(), w, h);
        let (_, bg) = colour_of(terminal.backend().buffer(), "RINGING");
        assert_eq!(bg, Color::LightYellow, "at {w}×{h}");
    }
}

#[test]
fn small_and_odd_sizes_do_not_panic() {
    for (w, h) in [(1, 1), (20, 5), (80, 10), (119, 60), (300, 100)] {
        for s in [two_calls(), with_trace(), registration_failed()] {
            draw(&s, w, h);
        }
    }
}

/// Behind NAT the wide header shows where the registrar sees us, next to our own address.
#[test]
fn behind_nat_the_header_and_the_panel_show_the_public_addresses() {
    let mut s = registered_idle();
    s.ev(Event::PublicAddress {
        public: "203.0.113.1:5070".into(),
    })
    .ev(incoming(1, "sip:bob@203.0.113.10", None))
    .ev(call_state(1, CallState::Active))
    .ev(Event::MediaStarted {
        call: CallId(1),
        codec: crate::vocab::Codec::Pcmu,
        local_rtp: "198.18.0.2:10002".into(),
        remote_rtp: "203.0.113.10:6000".into(),
        advertised_rtp: Some("203.0.113.1:10002".into()),
        srtp: None,
    });
    let terminal = draw(&s, 160, 48);
    insta::assert_snapshot!("behind_nat_160x48", terminal.backend());
}

#[test]
fn registering_again_says_why_in_the_header() {
    let mut s = registered_idle();
    let later = (s.now - s.t0).as_secs_f64() + 1.0;
    s.ev(Event::Registration {
        state: RegistrationState::Registering,
        expires: None,
        reason: Some("the registrar no longer holds our registration".into()),
        retry_in: None,
    })
    .at(later);
    let terminal = draw(&s, 160, 48);
    let _ = colour_of(
        terminal.backend().buffer(),
        "◌ registering again: the registrar no longer holds our registration",
    );
}

#[test]
fn dial_prompt_empty() {
    snapshot_both("dial_prompt_empty", &dial_prompt());
}

#[test]
fn dial_prompt_with_text() {
    let mut s = dial_prompt();
    type_text(&mut s, "+1 (555) 010-0199");
    snapshot_both("dial_prompt_text", &s);
}

#[test]
fn dial_prompt_with_the_reason_it_cannot_dial() {
    let mut s = dial_prompt();
    type_text(&mut s, "bob smith");
    let now = s.now;
    assert_eq!(s.app.handle(Action::Submit, now), None);
    snapshot_both("dial_prompt_error", &s);
}

#[test]
fn dial_prompt_recalls_the_history() {
    let mut s = dial_prompt();
    let now = s.now;
    s.app.handle(Action::Up, now);
    s.app.handle(Action::Up, now);
    snapshot_both("dial_history_recall", &s);
}

#[test]
fn ai_caller_call_shows_its_goal_cut_to_one_line() {
    let s = ai_caller_active();
    snapshot_both("ai_caller_active", &s);
    let screen = format!("{}", draw(&s, 160, 48).backend());
    let goal_lines = screen.lines().filter(|l| l.contains(" goal  ")).count();
    assert_eq!(goal_lines, 1, "{screen}");
    assert!(screen.contains("Book a table for two"), "{screen}");
    assert!(screen.contains('…'), "a long goal is cut: {screen}");
}

#[test]
fn ai_caller_call_keeps_its_verdict_when_ended() {
    let s = ai_caller_ended();
    snapshot_both("ai_caller_ended", &s);
    let terminal = draw(&s, 160, 48);
    let screen = format!("{}", terminal.backend());
    assert!(
        screen.contains("verdict ✔ passed — Table for two"),
        "{screen}"
    );
    assert_eq!(
        colour_of(terminal.backend().buffer(), "verdict ✔").0,
        Color::Green
    );
    let compact = format!("{}", draw(&s, 80, 24).backend());
    assert!(compact.contains("✔ passed"), "{compact}");
}

#[test]
fn a_suite_leads_the_header_with_its_progress() {
    let s = suite_running();
    snapshot_both("suite_running", &s);
    let screen = format!("{}", draw(&s, 80, 24).backend());
    let header = screen.lines().next().unwrap_or_default();
    assert!(header.contains("test 2/20 ✔1 ✘1 ▶3"), "{screen}");
    assert!(screen.contains("test call 2/20 (#2) failed"), "{screen}");
    let roomy = format!("{}", draw(&s, 160, 48).backend());
    let header = roomy.lines().next().unwrap_or_default();
    assert!(
        header.contains("test 2/20: 1 passed, 1 failed, 3 running"),
        "{roomy}"
    );
}

#[test]
fn outgoing_call_calling() {
    snapshot_both("outgoing_calling", &calling());
}

#[test]
fn outgoing_call_ringing_there() {
    snapshot_both("outgoing_ringing", &ringing_there());
}

#[test]
fn outgoing_call_early_media_with_meters() {
    snapshot_both("outgoing_early_media", &early_media());
}

#[test]
fn outgoing_call_answered_shows_post_dial_delay_and_answer_time() {
    snapshot_both("outgoing_active", &outgoing_active());
}

#[test]
fn a_call_panel_shows_its_turn_taking_in_one_line() {
    let s = turn_taking();
    snapshot_both("turn_taking", &s);
    let screen = format!("{:?}", draw(&s, 160, 48).backend());
    assert!(
        screen.contains("turns greeting 0.74 s · gap p50 0.72 / p90 0.76 s · barge-ins 1"),
        "{screen}"
    );
}

#[test]
fn on_hold_by_us() {
    snapshot_both("on_hold_ours", &on_hold_ours());
}

#[test]
fn held_by_the_other_side() {
    snapshot_both("held_theirs", &held_theirs());
}

#[test]
fn a_transfer_shows_its_latest_stage() {
    let mut s = outgoing_active();
    s.ev(Event::Transfer {
        call: CallId(1),
        target: "sip:1002@pbx.example.com".into(),
        by: crate::vocab::TransferBy::Us,
        stage: crate::vocab::TransferStage::Trying,
        status: Some(100),
        reason: Some("Trying".into()),
    });
    insta::assert_snapshot!("transfer_trying_160x48", draw(&s, 160, 48).backend());
}

/// Ringing here is reverse yellow; ringing there is a plain yellow word; our hold is cyan,
/// theirs yellow.
#[test]
fn badges_of_our_calls_differ_from_a_call_ringing_here() {
    let buf = |s: &Script| draw(s, 160, 48).backend().buffer().clone();
    assert_eq!(
        colour_of(&buf(&ringing_there()), " ringing "),
        (Color::Yellow, Color::Reset)
    );
    assert_eq!(colour_of(&buf(&on_hold_ours()), " on hold ").0, Color::Cyan);
    assert_eq!(colour_of(&buf(&held_theirs()), " held ").0, Color::Yellow);
}

/// Without an account (Started carries an empty one): no registration to wait for, and the
/// screen says how to call out.
#[test]
fn accountless_screen() {
    let mut s = Script::new();
    s.ev(Event::Started {
        account: String::new(),
        registrar: String::new(),
        transport: "udp".into(),
        local_sip: "192.0.2.10:5060".into(),
        profile: None,
    })
    .at(1.0);
    snapshot_both("accountless", &s);
}

#[test]
fn transfer_prompt_names_the_call() {
    let mut s = outgoing_active();
    let now = s.now;
    s.app.handle(Action::Transfer, now);
    type_text(&mut s, "1002");
    insta::assert_snapshot!("transfer_prompt_80x24", draw(&s, 80, 24).backend());
}

/// Every panel's last line sits on its own bottom border: `panel_height` counts what
/// `live_lines` and friends draw, in every state of our calls.
#[test]
fn panels_are_as_tall_as_their_lines() {
    for s in [
        calling(),
        ringing_there(),
        early_media(),
        outgoing_active(),
        on_hold_ours(),
        held_theirs(),
    ] {
        let call = s.app.calls.values().next().expect("a call");
        let height = super::calls::panel_height(call);
        let terminal = draw(&s, 160, 48);
        let buffer = terminal.backend().buffer();
        // The panel starts on row 1; its bottom border is at row `height`.
        let corner = buffer[(0, height)].symbol();
        assert!(
            corner == "┗" || corner == "╰",
            "{:?}: {corner:?}",
            call.state
        );
        let last_text: String = (1..40).map(|x| buffer[(x, height - 1)].symbol()).collect();
        assert!(
            !last_text.trim().is_empty(),
            "{:?}: empty last line",
            call.state
        );
    }
}
