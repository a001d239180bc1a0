//! The log lines both front-ends show for the engine's typed events: the engine reports facts
//! (a registration, a call's states, its media, a digit, a mute, a transcript, its end) and
//! this is where they are put into words. `log` events, which the engine emits only for what
//! has no event of its own (warnings, errors, diagnostics), pass through as they are.

use crate::vocab::{
    CallId, CallState, Codec, Direction, EndReason, Event, LogKind, LogLevel, Outcome,
    RegistrationState, Speaker, TransferBy, TransferStage,
};
use std::collections::HashMap;

/// One log line: its level, its emoji kind and its words.
pub type Line = (LogLevel, LogKind, String);

/// What phrasing needs to remember between events.
#[derive(Clone, Debug, Default)]
pub struct Phraser {
    /// The account, from `started`.
    account: String,
    calls: HashMap<CallId, CallNotes>,
}

#[derive(Clone, Debug, Default)]
struct CallNotes {
    /// The caller as shown: display name and URI.
    who: String,
    state: Option<CallState>,
    codec: Option<Codec>,
    /// Where the SDP said the remote's media would come from.
    sdp_remote: Option<String>,
    answered: bool,
    bridged: bool,
    mic_muted: bool,
    listen_muted: bool,
    /// We placed it: the bridge's "caller" is then the one we called.
    placed: bool,
}

impl Phraser {
    /// The lines an event is told with (none for most events).
    pub fn lines(&mut self, event: &Event) -> Vec<Line> {
        let mut out = Vec::new();
        let mut say = |level, kind, text: String| out.push((level, kind, text));
        match event {
            Event::Log {
                level,
                kind,
                message,
            } => say(*level, *kind, message.clone()),
            Event::Started { account, .. } => self.account = account.clone(),
            Event::Registration {
                state,
                expires,
                reason,
                retry_in,
            } => {
                let reason = reason.as_deref().unwrap_or("no reason given");
                match state {
                    RegistrationState::Registered => say(
                        LogLevel::Info,
                        LogKind::Success,
                        format!(
                            "registered as {} (expires in {} s)",
                            self.account,
                            expires.unwrap_or_default()
                        ),
                    ),
                    RegistrationState::Retrying => say(
                        LogLevel::Warn,
                        LogKind::Warning,
                        format!(
                            "registration: {reason}; waiting for the registrar, next try in {} s",
                            retry_in.unwrap_or_default()
                        ),
                    ),
                    RegistrationState::Failed => say(
                        LogLevel::Error,
                        LogKind::Error,
                        format!("registration failed: {reason}"),
                    ),
                    RegistrationState::Unregistered if event_has_reason(event) => say(
                        LogLevel::Warn,
                        LogKind::Warning,
                        format!("unregister was not confirmed: {reason}"),
                    ),
                    RegistrationState::Unregistered => {
                        say(LogLevel::Info, LogKind::Cleanup, "unregistered".into())
                    }
                    RegistrationState::Registering if event_has_reason(event) => say(
                        LogLevel::Warn,
                        LogKind::Warning,
                        format!("registering again: {reason}"),
                    ),
                    RegistrationState::Registering | RegistrationState::Unregistering => {}
                }
            }
            Event::IncomingCall {
                call,
                from,
                display_name,
                ..
            } => {
                let who = display_name
                    .as_ref()
                    .map(|d| format!("{d} <{from}>"))
                    .unwrap_or_else(|| from.clone());
                say(
                    LogLevel::Info,
                    LogKind::Call,
                    format!("incoming call {call} from {who}"),
                );
                self.calls.insert(
                    *call,
                    CallNotes {
                        who,
                        ..CallNotes::default()
                    },
                );
            }
            Event::CallState { call, state } => {
                let notes = self.calls.entry(*call).or_default();
                let before = notes.state.replace(*state);
                match state {
                    CallState::Answering => {
                        notes.answered = true;
                        say(
                            LogLevel::Info,
                            LogKind::Call,
                            format!("answered call {call}"),
                        );
                    }
                    CallState::Active if before == Some(CallState::Held) => say(
                        LogLevel::Info,
                        LogKind::Call,
                        format!("call {call} resumed"),
                    ),
                    CallState::Active => say(
                        LogLevel::Info,
                        LogKind::Success,
                        format!("call {call} connected"),
                    ),
                    CallState::Held => say(
                        LogLevel::Info,
                        LogKind::Call,
                        format!("call {call} put on hold by the remote side"),
                    ),
                    CallState::OnHold => say(
                        LogLevel::Info,
                        LogKind::Call,
                        format!("call {call} on hold (we hold it: a=sendonly)"),
                    ),
                    CallState::Calling
                    | CallState::Ringing
                    | CallState::EarlyMedia
                    | CallState::Ended => {}
                }
            }
            Event::OutgoingCall { call, to, from, .. } => {
                say(
                    LogLevel::Info,
                    LogKind::Call,
                    format!("calling {to} as {from} (call {call})"),
                );
                self.calls.insert(
                    *call,
                    CallNotes {
                        who: to.clone(),
                        placed: true,
                        ..CallNotes::default()
                    },
                );
            }
            Event::CallProgress {
                call,
                status,
                phrase,
                post_dial_delay_ms,
                early_media,
            } => {
                let media = if *early_media {
                    ", early media playing"
                } else {
                    ""
                };
                say(
                    LogLevel::Info,
                    LogKind::Call,
                    format!("call {call}: {status} {phrase} after {post_dial_delay_ms} ms{media}"),
                );
            }
            Event::CallAnswered {
                call,
                answer_ms,
                post_dial_delay_ms,
            } => {
                self.calls.entry(*call).or_default().answered = true;
                let pdd = post_dial_delay_ms
                    .map(|p| format!(", post-dial delay {p} ms"))
                    .unwrap_or_default();
                say(
                    LogLevel::Info,
                    LogKind::Success,
                    format!("call {call} answered {answer_ms} ms after the INVITE{pdd}"),
                );
            }
            Event::Transfer {
                call,
                target,
                by,
                stage,
                status,
                reason,
            } => {
                let detail = match (status, reason) {
                    (Some(s), Some(r)) => format!(" ({s} {r})"),
                    (Some(s), None) => format!(" ({s})"),
                    (None, Some(r)) => format!(" ({r})"),
                    (None, None) => String::new(),
                };
                let (level, kind, words) = match (by, stage) {
                    (TransferBy::Remote, TransferStage::Requested) => (
                        LogLevel::Info,
                        LogKind::Call,
                        format!("call {call}: transfer requested to {target}"),
                    ),
                    (TransferBy::Remote, TransferStage::Reported) => (
                        LogLevel::Info,
                        LogKind::Call,
                        format!(
                            "call {call}: transfer requested to {target}, reported and \
                             declined (603, --on-refer report)"
                        ),
                    ),
                    (TransferBy::Us, TransferStage::Requested) => (
                        LogLevel::Info,
                        LogKind::Call,
                        format!("call {call}: asking the other side to call {target} (REFER)"),
                    ),
                    (_, TransferStage::Trying) => (
                        LogLevel::Info,
                        LogKind::Call,
                        format!("call {call}: transfer to {target} in progress{detail}"),
                    ),
                    (_, TransferStage::Done) => (
                        LogLevel::Info,
                        LogKind::Success,
                        format!("call {call}: transfer to {target} done{detail}"),
                    ),
                    (_, TransferStage::Failed) => (
                        LogLevel::Warn,
                        LogKind::Error,
                        format!("call {call}: transfer to {target} failed{detail}"),
                    ),
                    (TransferBy::Us, TransferStage::Reported) => (
                        LogLevel::Info,
                        LogKind::Call,
                        format!("call {call}: transfer to {target} reported{detail}"),
                    ),
                };
                say(level, kind, words);
            }
            Event::MediaStarted {
                call,
                codec,
                remote_rtp,
                srtp,
                ..
            } => {
                let secure = srtp.map(|s| format!(" (🔒 SRTP {s})")).unwrap_or_default();
                let notes = self.calls.entry(*call).or_default();
                notes.sdp_remote = Some(remote_rtp.clone());
                match notes.codec.replace(*codec) {
                    Some(old) if old != *codec => say(
                        LogLevel::Info,
                        LogKind::Audio,
                        format!(
                            "call {call}: the remote side switched the codec from {old} to {codec}"
                        ),
                    ),
                    Some(_) => {}
                    None => say(
                        LogLevel::Info,
                        LogKind::Audio,
                        format!("call {call}: {codec} audio to {remote_rtp}{secure}"),
                    ),
                }
            }
            Event::MediaLatched { call, remote_rtp } => {
                match self.calls.get(call).and_then(|n| n.sdp_remote.as_ref()) {
                    Some(sdp) if sdp != remote_rtp => say(
                        LogLevel::Info,
                        LogKind::Audio,
                        format!(
                            "call {call}: media comes from {remote_rtp}, not {sdp} as its SDP \
                             said (a NAT on the way?); we answer there"
                        ),
                    ),
                    _ => say(
                        LogLevel::Debug,
                        LogKind::Audio,
                        format!("call {call}: media from {remote_rtp}"),
                    ),
                }
            }
            Event::Dtmf { call, digit } => say(
                LogLevel::Info,
                LogKind::Audio,
                format!("call {call}: DTMF digit {digit} received"),
            ),
            Event::Bridge { call, on, .. } => self.calls.entry(*call).or_default().bridged = *on,
            Event::Muted {
                call,
                microphone,
                listen_in,
            } => {
                let word = |muted: bool| if muted { "muted" } else { "unmuted" };
                let notes = self.calls.entry(*call).or_default();
                if notes.mic_muted != *microphone {
                    let note = if notes.bridged {
                        " (the AI speaks for you until the bridge ends)"
                    } else {
                        ""
                    };
                    say(
                        LogLevel::Info,
                        LogKind::Audio,
                        format!("call {call}: microphone {}{note}", word(*microphone)),
                    );
                }
                if notes.listen_muted != *listen_in {
                    say(
                        LogLevel::Info,
                        LogKind::Audio,
                        format!("call {call}: listen-in {}", word(*listen_in)),
                    );
                }
                notes.mic_muted = *microphone;
                notes.listen_muted = *listen_in;
            }
            Event::Transcript {
                call,
                speaker,
                text,
                final_: true,
                ..
            } => {
                let placed = self.calls.get(call).is_some_and(|n| n.placed);
                let who = match speaker {
                    Speaker::Caller if placed => "callee",
                    Speaker::Caller => "caller",
                    Speaker::Ai => "AI",
                    Speaker::System => "system",
                };
                say(
                    LogLevel::Info,
                    LogKind::Call,
                    format!("call {call} {who}: {text}"),
                );
            }
            Event::CallEnded {
                call,
                direction,
                reason,
                duration_ms,
                media,
                ..
            } => {
                let notes = self.calls.remove(call).unwrap_or_default();
                let who = if notes.who.is_empty() {
                    "the other party".to_string()
                } else {
                    notes.who
                };
                say(
                    LogLevel::Info,
                    LogKind::Call,
                    format!(
                        "call {call} with {who} ended: {}",
                        end_words(reason, *direction)
                    ),
                );
                if notes.answered {
                    let s = &media.stats;
                    let q = &s.quality;
                    let rtt = q
                        .rtt_ms
                        .map(|r| format!(", RTT {r:.0} ms"))
                        .unwrap_or_default();
                    say(
                        LogLevel::Info,
                        LogKind::Stats,
                        format!(
                            "call {call}: {:.1} s, RTP sent {} / received {} packets, lost {} \
                             ({:.1} %), jitter {:.1} ms{rtt}, {}, {} invalid, {} from foreign \
                             sources",
                            *duration_ms as f64 / 1000.0,
                            s.packets_sent,
                            s.packets_received,
                            q.packets_lost,
                            q.loss_percent,
                            q.jitter_ms,
                            q.mos
                                .map_or("no MOS (nothing received)".into(), |m| format!(
                                    "MOS {m:.2}"
                                )),
                            s.packets_invalid,
                            s.packets_foreign,
                        ),
                    );
                    // Audio lost inside this process is never silent. Frames not sent mean a
                    // starved process (a warning); a few late frames not played are the
                    // jitter buffer adapting (a figure).
                    if s.frames_not_sent > 0 || s.frames_not_played > 0 {
                        let (level, kind) = if s.frames_not_sent > 0 {
                            (LogLevel::Warn, LogKind::Warning)
                        } else {
                            (LogLevel::Info, LogKind::Stats)
                        };
                        say(
                            level,
                            kind,
                            format!(
                                "call {call}: {} of our audio not sent, {} of the remote's not \
                                 played (20 ms each)",
                                frames(s.frames_not_sent),
                                frames(s.frames_not_played)
                            ),
                        );
                    }
                    if let Some(words) = media.turn_taking.as_deref().and_then(super::turn_words) {
                        say(
                            LogLevel::Info,
                            LogKind::Stats,
                            format!("call {call}: turns: {words}"),
                        );
                    }
                }
            }
            Event::Verdict { call, verdict } => {
                let (level, kind, word) = match verdict.outcome {
                    Outcome::Passed => (LogLevel::Info, LogKind::Success, "passed"),
                    Outcome::Failed => (LogLevel::Error, LogKind::Error, "failed"),
                    Outcome::Undecided => (LogLevel::Warn, LogKind::Warning, "undecided"),
                };
                say(
                    level,
                    kind,
                    format!("call {call} verdict: {word} — {}", verdict.reason),
                );
            }
            // Live figures: the JSON events carry them; a person reads the call's 📊 line.
            Event::Voice {
                call,
                side,
                speaking,
                at_ms,
            } => say(
                LogLevel::Debug,
                LogKind::Audio,
                format!(
                    "call {call}: {} {} speaking at {:.2} s",
                    match side {
                        crate::vocab::Side::Remote => "remote",
                        crate::vocab::Side::Local => "we",
                    },
                    if *speaking { "started" } else { "stopped" },
                    *at_ms as f64 / 1000.0
                ),
            ),
            Event::Played { call, file, ms } if *ms > 0 => say(
                LogLevel::Info,
                LogKind::Audio,
                format!("call {call}: played {file} ({:.1} s)", *ms as f64 / 1000.0),
            ),
            Event::SuiteCall {
                index,
                total,
                call,
                outcome,
                failures,
            } => {
                let (level, kind, word) = match outcome {
                    Outcome::Passed => (LogLevel::Info, LogKind::Success, "passed"),
                    Outcome::Failed => (LogLevel::Error, LogKind::Error, "failed"),
                    Outcome::Undecided => (LogLevel::Warn, LogKind::Warning, "undecided"),
                };
                let why = if failures.is_empty() {
                    String::new()
                } else {
                    format!(": {}", failures.join("; "))
                };
                say(
                    level,
                    kind,
                    format!("test call {index}/{total} ({call}) {word}{why}"),
                );
            }
            Event::SuiteDone {
                total,
                passed,
                report,
            } => say(
                LogLevel::Info,
                LogKind::Stats,
                match report {
                    Some(dir) => {
                        format!("{passed} of {total} test calls passed; report written to {dir}")
                    }
                    None => format!("{passed} of {total} test calls passed"),
                },
            ),
            _ => {}
        }
        out
    }
}

/// An unregister that was not confirmed carries the reason.
fn event_has_reason(event: &Event) -> bool {
    matches!(
        event,
        Event::Registration {
            reason: Some(_),
            ..
        }
    )
}

/// Why a call ended, as the log says it.
pub fn end_words(reason: &EndReason, direction: Direction) -> String {
    let them = match direction {
        Direction::Incoming => "the caller",
        Direction::Outgoing => "the other side",
    };
    match reason {
        EndReason::LocalHangup => "we hung up".to_string(),
        EndReason::RemoteHangup => format!("{them} hung up"),
        EndReason::Cancelled => format!("{them} cancelled before answer"),
        EndReason::Rejected { status } => format!("rejected with {status}"),
        EndReason::NoCommonCodec => "no common codec".to_string(),
        EndReason::RtpTimeout { secs } => {
            format!("nothing received from the remote side for {secs} s, we hung up")
        }
        EndReason::Failed { reason } => format!("failed: {reason}"),
        EndReason::NotAnswered {
            status,
            phrase,
            explained,
        } => format!("not answered: {status} {phrase} ({explained})"),
        EndReason::RingTimeout { secs } => {
            format!("nobody answered within {secs} s, we cancelled")
        }
        EndReason::Transferred { target } => format!("transferred to {target}"),
    }
}

/// "1 frame", "15 frames".
fn frames(n: u64) -> String {
    if n == 1 {
        "1 frame".into()
    } else {
        format!("{n} frames")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{MediaStats, MediaSummary, Quality};

    fn words(p: &mut Phraser, event: Event) -> Vec<String> {
        p.lines(&event)
            .into_iter()
            .map(|(_, _, text)| text)
            .collect()
    }

    fn state(call: u64, state: CallState) -> Event {
        Event::CallState {
            call: CallId(call),
            state,
        }
    }

    fn incoming(p: &mut Phraser) {
        let said = words(
            p,
            Event::IncomingCall {
                call: CallId(1),
                from: "sip:bob@example.org".into(),
                display_name: Some("Bob".into()),
                to: "sip:alice@example.org".into(),
            },
        );
        assert_eq!(said, ["incoming call #1 from Bob <sip:bob@example.org>"]);
    }

    #[test]
    fn registration_is_told_with_the_account_and_the_reason() {
        let mut p = Phraser::default();
        let started = Event::Started {
            account: "sip:alice@example.org".into(),
            registrar: "sip:example.org".into(),
            transport: "UDP".into(),
            local_sip: "192.0.2.10:5060".into(),
            profile: None,
        };
        assert!(words(&mut p, started).is_empty());
        let reg = |state, expires, reason: Option<&str>, retry_in| Event::Registration {
            state,
            expires,
            reason: reason.map(str::to_string),
            retry_in,
        };
        assert_eq!(
            words(
                &mut p,
                reg(RegistrationState::Registered, Some(300), None, None)
            ),
            ["registered as sip:alice@example.org (expires in 300 s)"]
        );
        assert_eq!(
            words(
                &mut p,
                reg(
                    RegistrationState::Retrying,
                    None,
                    Some("no answer"),
                    Some(4)
                )
            ),
            ["registration: no answer; waiting for the registrar, next try in 4 s"]
        );
        let (level, kind, _) =
            p.lines(&reg(RegistrationState::Failed, None, Some("403"), None))[0].clone();
        assert_eq!((level, kind), (LogLevel::Error, LogKind::Error));
        assert_eq!(
            words(
                &mut p,
                reg(RegistrationState::Unregistered, None, None, None)
            ),
            ["unregistered"]
        );
        assert_eq!(
            words(
                &mut p,
                reg(RegistrationState::Unregistered, None, Some("timeout"), None)
            ),
            ["unregister was not confirmed: timeout"]
        );
        assert!(words(
            &mut p,
            reg(RegistrationState::Registering, None, None, None)
        )
        .is_empty());
        assert_eq!(
            words(
                &mut p,
                reg(
                    RegistrationState::Registering,
                    None,
                    Some("the TCP connection to the registrar closed"),
                    None
                )
            ),
            ["registering again: the TCP connection to the registrar closed"]
        );
    }

    #[test]
    fn a_call_is_told_from_ringing_to_its_figures() {
        let mut p = Phraser::default();
        incoming(&mut p);
        assert!(words(&mut p, state(1, CallState::Ringing)).is_empty());
        assert_eq!(
            words(&mut p, state(1, CallState::Answering)),
            ["answered call #1"]
        );
        let media = |codec| Event::MediaStarted {
            call: CallId(1),
            codec,
            local_rtp: "192.0.2.10:10002".into(),
            remote_rtp: "198.51.100.7:5004".into(),
            advertised_rtp: None,
            srtp: None,
        };
        assert_eq!(
            words(&mut p, media(Codec::Pcmu)),
            ["call #1: PCMU audio to 198.51.100.7:5004"]
        );
        assert_eq!(
            words(&mut p, state(1, CallState::Active)),
            ["call #1 connected"]
        );
        assert_eq!(
            words(&mut p, state(1, CallState::Held)),
            ["call #1 put on hold by the remote side"]
        );
        assert_eq!(
            words(&mut p, state(1, CallState::Active)),
            ["call #1 resumed"]
        );
        assert_eq!(
            words(&mut p, media(Codec::Pcma)),
            ["call #1: the remote side switched the codec from PCMU to PCMA"]
        );
        assert_eq!(
            words(
                &mut p,
                Event::Dtmf {
                    call: CallId(1),
                    digit: '#'
                }
            ),
            ["call #1: DTMF digit # received"]
        );
        let before_the_end = p.clone();
        let ended = Event::CallEnded {
            call: CallId(1),
            direction: Direction::Incoming,
            reason: EndReason::RemoteHangup,
            duration_ms: 2_500,
            media: MediaSummary {
                turn_taking: Some(Box::new(crate::vocab::TurnTaking {
                    greeting_ms: Some(740),
                    ..Default::default()
                })),
                stats: MediaStats {
                    packets_sent: 250,
                    packets_received: 120,
                    quality: Quality {
                        packets_lost: 2,
                        loss_percent: 0.8,
                        jitter_ms: 3.5,
                        rtt_ms: Some(12.0),
                        mos: Some(4.3),
                    },
                    ..MediaStats::default()
                },
                recording: None,
            },
            verdict: None,
        };
        assert_eq!(
            words(&mut p, ended.clone()),
            [
                "call #1 with Bob <sip:bob@example.org> ended: the caller hung up",
                "call #1: 2.5 s, RTP sent 250 / received 120 packets, lost 2 (0.8 %), jitter \
                 3.5 ms, RTT 12 ms, MOS 4.30, 0 invalid, 0 from foreign sources",
                "call #1: turns: greeting 0.74 s"
            ]
        );
        // Audio this process lost (a starved media task) gets a warning of its own.
        let mut starved = ended.clone();
        if let Event::CallEnded { media, .. } = &mut starved {
            media.stats.frames_not_sent = 15;
            media.stats.frames_not_played = 2;
        }
        let lines = words(&mut before_the_end.clone(), starved);
        assert_eq!(
            lines[2],
            "call #1: 15 frames of our audio not sent, 2 frames of the remote's not played \
             (20 ms each)"
        );
        let mut one = ended.clone();
        if let Event::CallEnded { media, .. } = &mut one {
            media.stats.frames_not_played = 1;
        }
        assert_eq!(
            words(&mut before_the_end.clone(), one)[2],
            "call #1: 0 frames of our audio not sent, 1 frame of the remote's not played (20 ms \
             each)"
        );
        // Voice changes are details: the figures above say what matters.
        let voice = Event::Voice {
            call: CallId(1),
            side: crate::vocab::Side::Remote,
            speaking: true,
            at_ms: 740,
        };
        let (level, _, text) = p.lines(&voice).remove(0);
        assert_eq!(level, LogLevel::Debug);
        assert_eq!(text, "call #1: remote started speaking at 0.74 s");
    }

    #[test]
    fn media_from_another_address_than_the_sdp_said_is_told() {
        let mut p = Phraser::default();
        incoming(&mut p);
        words(
            &mut p,
            Event::MediaStarted {
                call: CallId(1),
                codec: Codec::Pcmu,
                local_rtp: "192.0.2.10:10002".into(),
                remote_rtp: "10.0.0.5:4000".into(),
                advertised_rtp: None,
                srtp: None,
            },
        );
        let latched = |addr: &str| Event::MediaLatched {
            call: CallId(1),
            remote_rtp: addr.into(),
        };
        let lines = p.lines(&latched("203.0.113.9:61000"));
        assert_eq!(
            lines,
            [(
                LogLevel::Info,
                LogKind::Audio,
                "call #1: media comes from 203.0.113.9:61000, not 10.0.0.5:4000 as its SDP \
                 said (a NAT on the way?); we answer there"
                    .to_string()
            )]
        );
        let (level, _, text) = p.lines(&latched("10.0.0.5:4000")).remove(0);
        assert_eq!(level, LogLevel::Debug, "as negotiated: a detail");
        assert_eq!(text, "call #1: media from 10.0.0.5:4000");
    }

    #[test]
    fn verdicts_are_told_with_their_emoji_kind_and_reason() {
        let mut p = Phraser::default();
        let verdict = |outcome, reason: &str| Event::Verdict {
            call: CallId(2),
            verdict: crate::vocab::Verdict {
                outcome,
                reason: reason.into(),
            },
        };
        assert_eq!(
            p.lines(&verdict(Outcome::Passed, "booked")),
            [(
                LogLevel::Info,
                LogKind::Success,
                "call #2 verdict: passed — booked".to_string()
            )]
        );
        assert_eq!(
            p.lines(&verdict(Outcome::Failed, "no"))[0].1,
            LogKind::Error
        );
        assert_eq!(
            p.lines(&verdict(Outcome::Undecided, "reached --max-turns 3"))[0],
            (
                LogLevel::Warn,
                LogKind::Warning,
                "call #2 verdict: undecided — reached --max-turns 3".to_string()
            )
        );
    }

    #[test]
    fn a_call_never_answered_ends_without_figures() {
        let mut p = Phraser::default();
        incoming(&mut p);
        let said = words(
            &mut p,
            Event::CallEnded {
                call: CallId(1),
                direction: Direction::Incoming,
                reason: EndReason::Rejected { status: 486 },
                duration_ms: 0,
                media: MediaSummary::default(),
                verdict: None,
            },
        );
        assert_eq!(
            said,
            ["call #1 with Bob <sip:bob@example.org> ended: rejected with 486"]
        );
    }

    #[test]
    fn mutes_are_told_when_they_change_with_the_bridge_in_mind() {
        let mut p = Phraser::default();
        let muted = |microphone, listen_in| Event::Muted {
            call: CallId(1),
            microphone,
            listen_in,
        };
        assert_eq!(
            words(&mut p, muted(true, false)),
            ["call #1: microphone muted"]
        );
        words(
            &mut p,
            Event::Bridge {
                call: CallId(1),
                on: true,
                reason: None,
            },
        );
        assert_eq!(
            words(&mut p, muted(true, true)),
            ["call #1: listen-in muted"]
        );
        assert_eq!(
            words(&mut p, muted(false, true)),
            ["call #1: microphone unmuted (the AI speaks for you until the bridge ends)"]
        );
    }

    #[test]
    fn final_transcript_pieces_are_logged_and_log_events_pass_through() {
        let mut p = Phraser::default();
        let piece = |final_| Event::Transcript {
            call: CallId(2),
            speaker: Speaker::Ai,
            text: "Hello.".into(),
            item: None,
            final_,
        };
        assert!(words(&mut p, piece(false)).is_empty());
        assert_eq!(words(&mut p, piece(true)), ["call #2 AI: Hello."]);
        let log = Event::Log {
            level: LogLevel::Warn,
            kind: LogKind::Warning,
            message: "as it is".into(),
        };
        assert_eq!(
            p.lines(&log),
            [(LogLevel::Warn, LogKind::Warning, "as it is".to_string())]
        );
    }

    #[test]
    fn a_call_we_place_is_told_from_dialling_to_its_refusal() {
        let mut p = Phraser::default();
        let call = CallId(4);
        assert_eq!(
            words(
                &mut p,
                Event::OutgoingCall {
                    call,
                    to: "sip:agent@example.com".into(),
                    from: "sip:me@example.com".into(),
                    goal: None,
                }
            ),
            ["calling sip:agent@example.com as sip:me@example.com (call #4)"]
        );
        assert_eq!(
            words(
                &mut p,
                Event::CallProgress {
                    call,
                    status: 183,
                    phrase: "Session Progress".into(),
                    post_dial_delay_ms: 42,
                    early_media: true,
                }
            ),
            ["call #4: 183 Session Progress after 42 ms, early media playing"]
        );
        let ended = Event::CallEnded {
            call,
            direction: Direction::Outgoing,
            reason: EndReason::NotAnswered {
                status: 486,
                phrase: "Busy Here".into(),
                explained: "busy".into(),
            },
            duration_ms: 0,
            media: MediaSummary::default(),
            verdict: None,
        };
        assert_eq!(
            words(&mut p, ended),
            ["call #4 with sip:agent@example.com ended: not answered: 486 Busy Here (busy)"]
        );
        assert_eq!(
            end_words(&EndReason::RemoteHangup, Direction::Outgoing),
            "the other side hung up"
        );
    }
}
