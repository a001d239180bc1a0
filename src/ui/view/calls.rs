//! The calls: one line each when space is short, a panel each when there is room (party and
//! direction, state, duration, codec and RTP, bridge and mute, three meters on one dB scale,
//! quality; for our calls the post-dial delay and the time to answer; a transfer's progress).
//! The AI caller's calls show their goal, and their verdict once it is given.
//! A call ringing here is drawn in reverse yellow with a RINGING badge, in both forms; our
//! call ringing there gets a plain yellow "ringing".

use super::{duration, meter, text, theme};
use crate::ui::state::{strip_scheme, App, BridgeFigures, CallView, TransferNote};
use crate::vocab::{CallState, Outcome, TransferBy, TransferStage, Verdict};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph};
use ratatui::Frame;
use std::time::Instant;

/// What a panel shows inside its border.
enum Body {
    /// Rings here: who, and the keys.
    Ringing,
    /// Our call before any audio: where to, and how far it got.
    Dialling,
    /// Media (early or answered): meters, quality, and the notes below them.
    Live,
    Ended,
}

fn body(call: &CallView) -> Body {
    match call.state {
        CallState::Ended => Body::Ended,
        _ if call.is_ringing() => Body::Ringing,
        CallState::Calling | CallState::Ringing => Body::Dialling,
        _ => Body::Live,
    }
}

/// Lines a panel needs inside its border, by state; a bridge's figures, our call's timing and
/// a transfer take one more each.
pub fn panel_height(call: &CallView) -> u16 {
    let inner = match body(call) {
        Body::Ringing | Body::Dialling => 2,
        Body::Ended => 1 + u16::from(call.verdict.is_some()),
        Body::Live => {
            6 + u16::from(call.bridge_figures.is_some())
                + u16::from(turns_line(call).is_some())
                + note_lines(call, 0).len() as u16
        }
    };
    inner + 2
}

pub fn render_panels(frame: &mut Frame, area: Rect, app: &App, now: Instant) {
    let calls: Vec<&CallView> = app.visible_calls(now).collect();
    let heights = calls.iter().map(|c| Constraint::Length(panel_height(c)));
    let areas = Layout::vertical(heights).split(area);
    for (call, rect) in calls.iter().zip(areas.iter()) {
        panel(frame, *rect, call, app.selected == Some(call.id), now);
    }
}

fn panel(frame: &mut Frame, area: Rect, call: &CallView, selected: bool, now: Instant) {
    let ringing = call.is_ringing();
    let border = if ringing {
        theme::warn()
    } else {
        theme::border(selected)
    };
    let mut title = vec![
        Span::raw(if selected { " ▶ " } else { " " }),
        Span::styled(format!("{} ", call.id), theme::strong()),
        Span::styled(format!(" {} ", badge(call)), badge_style(call)),
        Span::styled(format!(" {} ", direction(call)), theme::label()),
        Span::styled(call.who().to_string(), theme::strong()),
    ];
    if call.display_name.is_some() {
        title.push(Span::styled(
            format!(" <{}>", strip_scheme(&call.from)),
            theme::label(),
        ));
    }
    title.push(Span::raw(" "));
    let block = Block::bordered()
        .border_type(if selected || ringing {
            BorderType::Thick
        } else {
            BorderType::Rounded
        })
        .border_style(border)
        .title(Line::from(title))
        .title_top(Line::from(format!(" {} ", duration(call.elapsed(now)))).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines = match body(call) {
        Body::Ringing => ringing_lines(call),
        Body::Dialling => dialling_lines(call),
        Body::Ended => {
            let verdict = call.verdict.as_ref();
            let width = inner.width as usize;
            std::iter::once(ended_line(call))
                .chain(verdict.map(|v| verdict_line(v, width)))
                .collect()
        }
        Body::Live => live_lines(call, now, inner.width as usize),
    };
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `→ to` for our calls, `← from` for theirs.
fn direction(call: &CallView) -> &'static str {
    if call.is_outgoing() {
        "→ to"
    } else {
        "← from"
    }
}

/// Our call before any audio: where it goes, and the latest answer (with the post-dial delay).
fn dialling_lines(call: &CallView) -> Vec<Line<'static>> {
    let banner = match call.state {
        CallState::Ringing => " 🔔 RINGING THERE ",
        _ => " 📞 CALLING ",
    };
    let progress = match (&call.progress, call.post_dial_delay_ms) {
        (Some(p), Some(pdd)) => format!(" {} {} · post-dial delay {}", p.status, p.phrase, ms(pdd)),
        (Some(p), None) => format!(" {} {}", p.status, p.phrase),
        (None, _) => " INVITE sent, no answer yet".to_string(),
    };
    vec![
        Line::from(vec![
            Span::styled(banner, theme::warn()),
            Span::raw("  to "),
            Span::styled(strip_scheme(&call.to).to_string(), theme::strong()),
            Span::styled(
                format!("  from {}", strip_scheme(&call.from)),
                theme::label(),
            ),
        ]),
        Line::from(vec![
            Span::styled(progress, theme::label()),
            Span::raw("   press "),
            Span::styled(" h ", theme::key()),
            Span::raw(" to cancel"),
        ]),
    ]
}

/// Lines under the meters: our call's timing, a transfer's latest stage, and the AI
/// caller's goal (the verdict instead, once given), each cut to `width`.
fn note_lines(call: &CallView, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if call.is_outgoing() {
        lines.push(timing_line(call));
    }
    if let Some(t) = &call.transfer {
        lines.push(transfer_line(t));
    }
    match (&call.verdict, &call.goal) {
        (Some(verdict), _) => lines.push(verdict_line(verdict, width)),
        (None, Some(goal)) => lines.push(goal_line(goal, width)),
        (None, None) => {}
    }
    lines
}

/// ` goal  <the goal>` on one line, cut with `…`.
fn goal_line(goal: &str, width: usize) -> Line<'static> {
    const LABEL: &str = " goal  ";
    let room = width.saturating_sub(text::width(LABEL) + 1);
    Line::from(vec![
        Span::styled(LABEL, theme::label()),
        Span::styled(text::truncate(goal, room), theme::strong()),
    ])
}

/// ` ✔ passed — <reason>` (✘ failed, ? undecided), coloured by outcome, cut with `…`.
fn verdict_line(verdict: &Verdict, width: usize) -> Line<'static> {
    let (mark, word, style) = match verdict.outcome {
        Outcome::Passed => ("✔", "passed", theme::good()),
        Outcome::Failed => ("✘", "failed", theme::bad()),
        Outcome::Undecided => ("?", "undecided", theme::warn()),
    };
    let head = format!(" verdict {mark} {word}");
    let room = width.saturating_sub(text::width(&head) + 4);
    Line::from(vec![
        Span::styled(head, style),
        Span::styled(" — ", theme::label()),
        Span::styled(text::truncate(&verdict.reason, room), theme::strong()),
    ])
}

/// Post-dial delay (INVITE → first 18x) and time to answer (INVITE → 200), or, during early
/// media, the answer that brought it.
fn timing_line(call: &CallView) -> Line<'static> {
    let mut spans = Vec::new();
    if call.state == CallState::EarlyMedia {
        let answer = call
            .progress
            .as_ref()
            .map_or_else(String::new, |p| format!("{} {}: ", p.status, p.phrase));
        spans.push(Span::styled(
            format!(" {answer}early media, their audio before the answer"),
            theme::warn(),
        ));
    } else {
        spans.push(Span::styled(
            format!(" called {}", strip_scheme(&call.to)),
            theme::label(),
        ));
    }
    spans.push(Span::styled("   post-dial delay ", theme::label()));
    spans.push(Span::styled(
        call.post_dial_delay_ms.map_or_else(|| "—".into(), ms),
        theme::strong(),
    ));
    if let Some(answer) = call.answer_ms {
        spans.push(Span::styled("   answered after ", theme::label()));
        spans.push(Span::styled(ms(answer), theme::strong()));
    }
    Line::from(spans)
}

fn ms(ms: u64) -> String {
    format!("{ms} ms")
}

fn transfer_line(t: &TransferNote) -> Line<'static> {
    let target = strip_scheme(&t.target);
    let what = match t.by {
        TransferBy::Us => format!(" ⇢ transfer to {target}: "),
        TransferBy::Remote => format!(" ⇠ they asked us to call {target}: "),
    };
    let (stage, style) = match t.stage {
        TransferStage::Requested => ("requested", theme::warn()),
        TransferStage::Trying => ("in progress", theme::warn()),
        TransferStage::Done => ("done", theme::good()),
        TransferStage::Failed => ("failed", theme::bad()),
        TransferStage::Reported => ("reported and declined (603)", theme::label()),
    };
    let detail = match (t.status, &t.reason) {
        (Some(s), Some(r)) => format!(" ({s} {r})"),
        (Some(s), None) => format!(" ({s})"),
        (None, Some(r)) => format!(" ({r})"),
        (None, None) => String::new(),
    };
    Line::from(vec![
        Span::styled(what, theme::label()),
        Span::styled(stage, style),
        Span::styled(detail, theme::label()),
    ])
}

fn ringing_lines(call: &CallView) -> Vec<Line<'static>> {
    vec![
        Line::from(vec![
            Span::styled(" 📞 INCOMING CALL ", theme::ringing()),
            Span::raw("  from "),
            Span::styled(strip_scheme(&call.from).to_string(), theme::strong()),
            Span::styled(format!("  to {}", strip_scheme(&call.to)), theme::label()),
        ]),
        Line::from(vec![
            Span::raw(" press "),
            Span::styled(" a ", theme::key()),
            Span::raw(" to answer, "),
            Span::styled(" r ", theme::key()),
            Span::raw(" to reject (486 Busy Here)"),
        ]),
    ]
}

fn ended_line(call: &CallView) -> Line<'static> {
    let mut text = format!(" ended: {}", call.end_reason.as_deref().unwrap_or("—"));
    if let Some(q) = &call.quality {
        text.push_str(&format!(
            " · loss {:.1} % · jitter {:.1} ms · MOS {}",
            q.loss_percent,
            q.jitter_ms,
            mos_text(q.mos)
        ));
    }
    Line::styled(text, theme::dim())
}

fn live_lines(call: &CallView, now: Instant, width: usize) -> Vec<Line<'static>> {
    let mut lines = vec![media_line(call)];
    // Bars take what is left after the label and the figures.
    let bar_width = width.saturating_sub(10 + 17).clamp(10, 72);
    let meters = [
        ("remote", call.remote.as_ref(), true),
        ("local", call.local.as_ref(), true),
        ("AI", call.ai.as_ref(), call.bridge || call.ai.is_some()),
    ];
    for (name, m, present) in meters {
        let mut spans = vec![Span::styled(format!(" {name:<6} ▸ "), theme::label())];
        if present {
            spans.extend(meter::bar(m, now, bar_width));
            spans.push(Span::raw(format!(" {}", meter::figure(m, now))));
            spans.push(Span::styled(
                format!("  {}", meter::peak_figure(m, now)),
                theme::dim(),
            ));
        } else {
            spans.push(Span::styled("no bridge (b starts one)", theme::dim()));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::styled(
        format!("{:10}{} dBFS", "", meter::scale(bar_width)),
        theme::dim(),
    ));
    lines.push(quality_line(call));
    if let Some(figures) = &call.bridge_figures {
        lines.push(bridge_line(figures, call.bridge));
    }
    lines.extend(turns_line(call));
    lines.extend(note_lines(call, width));
    lines
}

/// Turn-taking on the wire, once anything was measured.
fn turns_line(call: &CallView) -> Option<Line<'static>> {
    let words = call
        .turn_taking
        .as_ref()
        .and_then(crate::frontend::turn_words)?;
    Some(Line::from(vec![
        Span::styled(" turns ", theme::label()),
        Span::raw(words),
    ]))
}

/// The voice bridge's turn latency and counts (dimmed once the bridge is off).
fn bridge_line(f: &BridgeFigures, on: bool) -> Line<'static> {
    let (label, value) = if on {
        (theme::label(), theme::strong())
    } else {
        (theme::dim(), theme::dim())
    };
    let ms = |v: Option<u64>| v.map_or_else(|| "—".to_owned(), |ms| format!("{ms} ms"));
    let mut spans = vec![
        Span::styled(" AI answers ", label),
        Span::styled(ms(f.last_latency_ms.map(u64::from)), value),
        Span::styled(" after the caller (mean ", label),
        Span::styled(ms(f.mean_latency_ms), value),
        Span::styled(")   turns ", label),
        Span::styled(f.turns.to_string(), value),
        Span::styled("   barge-ins ", label),
        Span::styled(f.barge_ins.to_string(), value),
        Span::styled("   reconnects ", label),
    ];
    let reconnect_style = if on && f.reconnects > 0 {
        theme::warn()
    } else {
        value
    };
    spans.push(Span::styled(f.reconnects.to_string(), reconnect_style));
    Line::from(spans)
}

fn media_line(call: &CallView) -> Line<'static> {
    let mut spans = vec![Span::styled(" codec ", theme::label())];
    spans.push(Span::styled(
        call.codec.map_or("—", |c| c.name()),
        theme::strong(),
    ));
    if let Some(suite) = call.srtp {
        spans.push(Span::styled(format!("  🔒 SRTP {suite}"), theme::good()));
    }
    if let (Some(l), Some(r)) = (&call.local_rtp, &call.remote_rtp) {
        // Ours as the peer was told to reach it, when that is not our socket (NAT, STUN).
        let l = match &call.advertised_rtp {
            Some(advertised) => format!("{l} (as {advertised})"),
            None => l.clone(),
        };
        // The address media really comes from; the SDP's too when they differ (NAT).
        match call.latched_rtp.as_ref().filter(|latched| *latched != r) {
            Some(latched) => {
                spans.push(Span::styled(
                    format!("  RTP {l} ⇄ {latched}"),
                    theme::label(),
                ));
                spans.push(Span::styled(format!(" (SDP: {r})"), theme::warn()));
            }
            None => spans.push(Span::styled(format!("  RTP {l} ⇄ {r}"), theme::label())),
        }
    }
    spans.push(Span::styled("   bridge ", theme::label()));
    spans.push(if call.bridge {
        Span::styled("● on", theme::good())
    } else {
        Span::styled("○ off", theme::dim())
    });
    if let Some(note) = &call.bridge_note {
        spans.push(Span::styled(format!(" ({note})"), theme::dim()));
    }
    spans.push(Span::styled("   mic ", theme::label()));
    spans.push(if call.mic_muted {
        Span::styled("🔇 MUTED", theme::bad())
    } else {
        Span::styled("● live", theme::good())
    });
    // The listen-in exists only while bridged; its mute is kept for the next bridge.
    if call.bridge {
        spans.push(Span::styled("   listen-in ", theme::label()));
        spans.push(if call.listen_muted {
            Span::styled("🔇 muted", theme::bad())
        } else {
            Span::styled("● on", theme::good())
        });
    }
    if call.held_by_us {
        spans.push(Span::styled("   ⏸ on hold (o resumes)", theme::warn()));
    }
    if call.held_by_them {
        spans.push(Span::styled("   ⏸ held by the other side", theme::warn()));
    }
    if !call.dtmf.is_empty() {
        spans.push(Span::styled("   DTMF received ", theme::label()));
        spans.push(Span::styled(call.dtmf.clone(), theme::strong()));
    }
    if !call.dtmf_sent.is_empty() {
        spans.push(Span::styled("   DTMF sent ", theme::label()));
        spans.push(Span::styled(call.dtmf_sent.clone(), theme::strong()));
    }
    Line::from(spans)
}

fn quality_line(call: &CallView) -> Line<'static> {
    let Some(q) = &call.quality else {
        return Line::styled(" quality: waiting for the first report", theme::dim());
    };
    let mos_style = match q.mos {
        Some(mos) if mos >= 4.0 => theme::good(),
        Some(mos) if mos >= 3.6 => theme::warn(),
        Some(_) => theme::bad(),
        None => theme::dim(),
    };
    let mut spans = vec![Span::styled(
        format!(
            " loss {:.1} % ({} lost)   jitter {:.1} ms",
            q.loss_percent, q.packets_lost, q.jitter_ms
        ),
        theme::label(),
    )];
    if let Some(rtt) = q.rtt_ms {
        spans.push(Span::styled(format!("   RTT {rtt:.0} ms"), theme::label()));
    }
    spans.push(Span::styled("   MOS ", theme::label()));
    spans.push(Span::styled(mos_text(q.mos), mos_style));
    Line::from(spans)
}

/// The MOS with two decimals, or a dash while nothing has been received to score.
fn mos_text(mos: Option<f64>) -> String {
    mos.map_or_else(|| "—".to_string(), |m| format!("{m:.2}"))
}

/// One line per call, for small terminals.
pub fn render_compact(frame: &mut Frame, area: Rect, app: &App, now: Instant) {
    let width = area.width as usize;
    let lines: Vec<Line> = app
        .visible_calls(now)
        .map(|c| compact_line(c, app.selected == Some(c.id), now, width))
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

fn compact_line(call: &CallView, selected: bool, now: Instant, width: usize) -> Line<'static> {
    let marker = if selected { "▶" } else { " " };
    let head = vec![
        Span::styled(
            format!("{marker}{:<3}", call.id.to_string()),
            theme::strong(),
        ),
        Span::styled(format!("{:^9}", short_badge(call)), badge_style(call)),
        Span::raw(" "),
    ];
    let mut tail: Vec<Span<'static>> = Vec::new();
    if call.is_answered() || call.state == CallState::EarlyMedia {
        for (tag, m) in [("R", &call.remote), ("L", &call.local), ("A", &call.ai)] {
            tail.push(Span::styled(format!(" {tag}"), theme::dim()));
            tail.extend(meter::bar(m.as_ref(), now, 6));
        }
        tail.push(Span::raw(" "));
        tail.push(if call.bridge {
            Span::styled("AI", theme::good())
        } else {
            Span::styled("  ", Style::new())
        });
        tail.push(if call.mic_muted || (call.bridge && call.listen_muted) {
            Span::styled(" 🔇", theme::bad())
        } else {
            Span::raw("   ")
        });
    } else if call.is_ringing() {
        tail.push(Span::styled(" a answer · r reject ", theme::ringing()));
    } else if call.is_dialling() {
        tail.push(Span::styled(" h cancel ", theme::warn()));
    } else if let Some(verdict) = &call.verdict {
        // An AI caller's call is judged by its verdict more than by who hung up.
        let (word, style) = match verdict.outcome {
            Outcome::Passed => ("✔ passed", theme::good()),
            Outcome::Failed => ("✘ failed", theme::bad()),
            Outcome::Undecided => ("? undecided", theme::warn()),
        };
        tail.push(Span::styled(format!(" {word}"), style));
    } else if let Some(reason) = &call.end_reason {
        tail.push(Span::styled(format!(" {reason}"), theme::dim()));
    }
    let codec = call.codec.map(|c| c.name()).unwrap_or_default();
    // Encrypted media shows a lock after the codec (the full panel names the suite).
    let lock = if call.srtp.is_some() { "🔒" } else { "" };
    let mid = format!("{:>6} {:<5}{lock}", duration(call.elapsed(now)), codec);
    let used: usize =
        head.iter().chain(&tail).map(|s| s.width()).sum::<usize>() + 12 + Span::raw(lock).width();
    let name_room = width.saturating_sub(used);
    let name_style = if call.is_ringing() {
        theme::ringing()
    } else if call.is_live() {
        theme::strong()
    } else {
        theme::dim()
    };
    let mut spans = head;
    let arrow = if call.is_outgoing() { "→" } else { "←" };
    let name = format!("{arrow} {}", call.who());
    spans.push(Span::styled(text::fit(&name, name_room), name_style));
    let mid_style = if call.is_ringing() {
        theme::ringing()
    } else {
        theme::label()
    };
    spans.push(Span::styled(mid, mid_style));
    spans.extend(tail);
    let line = Line::from(spans);
    if call.is_ringing() {
        line.style(theme::ringing())
    } else {
        line
    }
}

/// The state's badge: one word (or two) per state, and a call ringing here in capitals.
fn badge(call: &CallView) -> &'static str {
    match call.state {
        CallState::Calling => "calling",
        CallState::Ringing if call.is_outgoing() => "ringing",
        CallState::Ringing => "RINGING",
        CallState::EarlyMedia => "early media",
        CallState::OnHold => "on hold",
        CallState::Answering => "answering",
        CallState::Active => "active",
        CallState::Held => "held",
        CallState::Ended => "ended",
    }
}

/// The badge within the compact line's nine cells.
fn short_badge(call: &CallView) -> &'static str {
    match call.state {
        CallState::EarlyMedia => "early",
        _ => badge(call),
    }
}

fn badge_style(call: &CallView) -> Style {
    match call.state {
        CallState::Ringing if call.is_ringing() => theme::ringing(),
        CallState::Calling | CallState::Ringing | CallState::EarlyMedia => theme::warn(),
        CallState::Answering => theme::warn(),
        CallState::Active => theme::good(),
        // Ours in cyan, theirs in yellow: who can resume it differs.
        CallState::OnHold => theme::held_by_us(),
        CallState::Held => theme::warn(),
        CallState::Ended => theme::dim(),
    }
}
