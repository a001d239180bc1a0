//! The call table's states and transitions, each driven by inputs and judged by the effects
//! that come out: no sockets, no tasks, no clock. `Script` plays the executor's part by
//! answering effects with the inputs a real one would send.

mod bridge;
mod caller;
mod dialog;
mod invite;
mod media;
mod outgoing;
mod srtp;
mod transfer;

use super::*;
use crate::media::sdp::MediaDirection;
use crate::vocab::{MediaStats, Quality};

/// An offer from 198.51.100.7:5004 with the given payload types and extra lines.
pub(super) fn offer(m_tail: &str, attrs: &[&str]) -> String {
    let mut s = String::from(
        "v=0\r\no=- 99 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n",
    );
    s.push_str(&format!("m=audio 5004 RTP/AVP {m_tail}\r\n"));
    for a in attrs {
        s.push_str(a);
        s.push_str("\r\n");
    }
    s
}

pub(super) fn pcmu_offer() -> String {
    offer("0 101", &["a=rtpmap:101 telephone-event/8000"])
}

pub(super) fn policy() -> Policy {
    Policy {
        codecs: vec![Codec::Pcmu, Codec::Pcma, Codec::Opus],
        sdp_address: IpAddr::from([192, 0, 2, 10]),
        auto_answer: false,
        answer_after: Duration::ZERO,
        auto_reject: None,
        send_dtmf: None,
        dtmf_delay: Duration::from_secs(1),
        rtp_timeout: Some(Duration::from_secs(60)),
        auto_bridge: false,
        bridge_model: "gpt-realtime".into(),
        bridge_voice: "alloy".into(),
        srtp: SrtpMode::Off,
        domain: Some("example.com".into()),
        from: "sip:alice@example.com".into(),
        ring_timeout: Some(Duration::from_secs(30)),
        on_refer: crate::config::OnRefer::Accept,
        hold_once: None,
        transfer_to: None,
        caller: None,
    }
}

pub(super) fn key(n: u32) -> DialogKey {
    DialogKey::new(format!("dialog-{n}"))
}

/// A table, a clock that only moves when told, and what came out last.
pub(super) struct Script {
    pub table: CallTable,
    pub now: Now,
}

impl Script {
    pub fn new(policy: Policy) -> Script {
        Script {
            table: CallTable::new(policy),
            now: Now::system(),
        }
    }

    pub fn on(&mut self, input: Input) -> Vec<Effect> {
        self.table.on(input, self.now)
    }

    pub fn advance(&mut self, by: Duration) {
        self.now.at += by;
        self.now.wall += by;
    }

    pub fn invite(&mut self, n: u32, offer: Option<String>) -> Vec<Effect> {
        self.on(Input::Invite(Invite {
            key: key(n),
            sip_call_id: format!("call-id-{n}"),
            from: format!("sip:caller{n}@example.org"),
            display_name: None,
            to: "sip:alice@example.org".into(),
            offer,
        }))
    }

    /// Answers the executor's part for an answer: RTP bound on `port`, the 200 sent, media
    /// started. Returns every effect along the way.
    pub fn complete_answer(&mut self, id: CallId, port: u16) -> Vec<Effect> {
        let mut all = self.on(Input::RtpBound {
            call: id,
            result: Ok((port, 7)),
            public: None,
        });
        all.extend(self.on(Input::Accepted {
            call: id,
            result: Ok(()),
        }));
        if all.iter().any(|e| matches!(e, Effect::StartMedia { .. })) {
            all.extend(self.media_started(id, port));
        }
        all
    }

    pub fn media_started(&mut self, id: CallId, port: u16) -> Vec<Effect> {
        self.on(Input::MediaStarted {
            call: id,
            result: Ok(MediaRunning {
                local_rtp: SocketAddr::new(IpAddr::from([192, 0, 2, 10]), port),
                transcript: None,
            }),
        })
    }

    /// A call answered (PCMU), acknowledged and with media running: call `n` is `CallId(n)`
    /// when calls are set up in order.
    pub fn connected(&mut self, n: u32) -> CallId {
        self.invite(n, Some(pcmu_offer()));
        let id = CallId(u64::from(n));
        self.on(Input::Command(Command::Answer(id)));
        self.complete_answer(id, 10_000 + 2 * n as u16);
        self.on(Input::Confirmed {
            key: key(n),
            ack_sdp: None,
        });
        assert_eq!(self.state(id), Some(CallState::Active));
        id
    }

    /// The remote hangs up and the executor reports the teardown done.
    pub fn remote_bye(&mut self, n: u32, media: Option<MediaReport>) -> Vec<Effect> {
        let id = CallId(u64::from(n));
        let mut all = self.on(Input::Terminated {
            key: key(n),
            why: Termination::RemoteBye,
        });
        all.extend(self.on(Input::Finished {
            call: id,
            bridge: None,
            media,
        }));
        all
    }

    pub fn state(&self, id: CallId) -> Option<CallState> {
        self.table.get(id).map(|c| c.state)
    }
}

pub(super) fn events(effects: &[Effect]) -> Vec<&Event> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Emit(event) => Some(event),
            _ => None,
        })
        .collect()
}

/// The log lines among the effects.
pub(super) fn logs(effects: &[Effect]) -> Vec<String> {
    events(effects)
        .into_iter()
        .filter_map(|e| match e {
            Event::Log { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// The effects that are not events: what the executor must do.
pub(super) fn actions(effects: &[Effect]) -> Vec<&Effect> {
    effects
        .iter()
        .filter(|e| !matches!(e, Effect::Emit(_)))
        .collect()
}

pub(super) fn states(effects: &[Effect]) -> Vec<CallState> {
    events(effects)
        .into_iter()
        .filter_map(|e| match e {
            Event::CallState { state, .. } => Some(*state),
            _ => None,
        })
        .collect()
}

pub(super) fn ended(effects: &[Effect]) -> Option<(&EndReason, u64, &MediaSummary)> {
    events(effects).into_iter().find_map(|e| match e {
        Event::CallEnded {
            reason,
            duration_ms,
            media,
            ..
        } => Some((reason, *duration_ms, media)),
        _ => None,
    })
}

pub(super) fn report(received: u64) -> MediaReport {
    MediaReport {
        stats: MediaStats {
            packets_sent: 250,
            packets_received: received,
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
        turn_taking: None,
    }
}

use crate::vocab::MediaSummary;

#[test]
fn every_input_about_an_unknown_call_is_harmless() {
    let mut s = Script::new(policy());
    let nobody = CallId(42);
    let quiet = [
        Input::Confirmed {
            key: key(9),
            ack_sdp: None,
        },
        Input::Terminated {
            key: key(9),
            why: Termination::RemoteBye,
        },
        Input::RtpBound {
            call: nobody,
            result: Ok((1, 1)),
            public: None,
        },
        Input::Accepted {
            call: nobody,
            result: Ok(()),
        },
        Input::Finished {
            call: nobody,
            bridge: None,
            media: None,
        },
        Input::Media {
            call: nobody,
            event: MediaEvent::Dtmf('5'),
            ai: None,
        },
        Input::Timer(Timer::Answer(nobody)),
        Input::Timer(Timer::Dtmf(nobody)),
        Input::Shutdown,
        Input::Abandon,
    ];
    for input in quiet {
        let name = format!("{input:?}");
        assert_eq!(s.on(input), vec![], "{name}");
    }
    for command in [
        Command::Answer(nobody),
        Command::Hangup(nobody),
        Command::Reject {
            call: nobody,
            decline: false,
        },
        Command::ToggleBridge(nobody),
        Command::MuteMicrophone {
            call: nobody,
            muted: true,
        },
    ] {
        let out = s.on(Input::Command(command));
        assert!(actions(&out).is_empty(), "{out:?}");
        assert_eq!(logs(&out).len(), 1, "one warning: {out:?}");
    }
    assert!(s.table.is_empty());
}

#[test]
fn shutdown_refuses_ringing_calls_and_hangs_up_the_others_then_abandons_the_silent() {
    let mut s = Script::new(policy());
    let active = s.connected(1);
    s.invite(2, Some(pcmu_offer()));
    let ringing = CallId(2);
    let out = s.on(Input::Shutdown);
    assert_eq!(logs(&out)[0], "ending 2 live call(s)");
    assert!(actions(&out).contains(&&Effect::Bye {
        call: active,
        key: key(1)
    }));
    assert!(actions(&out).contains(&&Effect::Reject {
        key: key(2),
        status: 480
    }));
    // The ringing call's dialog ends; the BYE is never answered.
    s.on(Input::Terminated {
        key: key(2),
        why: Termination::Rejected(480),
    });
    let done = s.on(Input::Finished {
        call: ringing,
        bridge: None,
        media: None,
    });
    assert_eq!(
        ended(&done).unwrap().0,
        &EndReason::Rejected { status: 480 }
    );
    let out = s.on(Input::Abandon);
    assert_eq!(actions(&out), vec![&Effect::Teardown(active)]);
    assert!(!s.table.is_empty(), "kept until its figures are in");
    let done = s.on(Input::Finished {
        call: active,
        bridge: None,
        media: Some(report(100)),
    });
    assert_eq!(ended(&done).unwrap().0, &EndReason::LocalHangup);
    assert!(s.table.is_empty());
    // A second shutdown finds nothing to do.
    assert!(s.on(Input::Shutdown).is_empty());
}
