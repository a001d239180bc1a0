//! Test fixtures: an `App` driven by engine events at chosen moments, and the scenes the
//! snapshot tests draw. Every scene is built the way the real TUI builds it — by applying
//! events — so the snapshots also prove `apply`.

use crate::ui::history::History;
use crate::ui::keys::Action;
use crate::ui::state::{App, Edit, WallClock};
use crate::vocab::{
    CallId, CallState, EndReason, Event, Level, LogKind, LogLevel, MediaSummary, Quality,
    RegistrationState, SipDirection, Speaker,
};
use std::time::{Duration, Instant};

/// 09:41:00 UTC, the time of day at the script's start.
const START_MS: u64 = (9 * 3600 + 41 * 60) * 1000;

pub struct Script {
    pub app: App,
    pub t0: Instant,
    pub now: Instant,
}

impl Script {
    pub fn new() -> Script {
        let t0 = Instant::now();
        Script {
            app: App::new(WallClock::new(t0, START_MS)),
            t0,
            now: t0,
        }
    }

    /// Moves the clock to `secs` after the start.
    pub fn at(&mut self, secs: f64) -> &mut Script {
        self.now = self.t0 + Duration::from_secs_f64(secs);
        self
    }

    pub fn ev(&mut self, event: Event) -> &mut Script {
        self.app.apply(&event, self.now);
        self
    }

    pub fn log(&mut self, level: LogLevel, kind: LogKind, message: &str) -> &mut Script {
        self.ev(Event::Log {
            level,
            kind,
            message: message.into(),
        })
    }
}

pub fn started() -> Event {
    Event::Started {
        account: "sip:alice@pbx.example.com".into(),
        registrar: "sip:pbx.example.com".into(),
        transport: "udp".into(),
        local_sip: "192.0.2.10:5060".into(),
        profile: None,
    }
}

pub fn registration(state: RegistrationState, expires: Option<u32>, reason: Option<&str>) -> Event {
    Event::Registration {
        state,
        expires,
        reason: reason.map(str::to_string),
        retry_in: None,
    }
}

pub fn incoming(id: u64, from: &str, name: Option<&str>) -> Event {
    Event::IncomingCall {
        call: CallId(id),
        from: from.into(),
        display_name: name.map(str::to_string),
        to: "sip:alice@pbx.example.com".into(),
    }
}

pub fn call_state(id: u64, state: CallState) -> Event {
    Event::CallState {
        call: CallId(id),
        state,
    }
}

pub fn media(id: u64, codec: &str, remote_rtp: &str) -> Event {
    Event::MediaStarted {
        call: CallId(id),
        codec: codec.parse().expect("a codec sipterm knows"),
        local_rtp: format!("192.0.2.10:{}", 10000 + id * 2),
        remote_rtp: remote_rtp.into(),
        advertised_rtp: None,
        srtp: None,
    }
}

pub fn levels(id: u64, remote: (f32, f32), local: (f32, f32), ai: Option<(f32, f32)>) -> Event {
    let level = |(rms_dbfs, peak_dbfs)| Level {
        rms_dbfs,
        peak_dbfs,
    };
    Event::Levels {
        call: CallId(id),
        remote: level(remote),
        local: level(local),
        ai: ai.map(level),
    }
}

pub fn quality(id: u64, loss: f64, lost: i64, jitter: f64, mos: f64) -> Event {
    Event::Quality {
        call: CallId(id),
        quality: Quality {
            packets_lost: lost,
            loss_percent: loss,
            jitter_ms: jitter,
            rtt_ms: Some(24.0),
            mos: Some(mos),
        },
    }
}

pub fn said(id: u64, speaker: Speaker, text: &str, item: Option<&str>, done: bool) -> Event {
    Event::Transcript {
        call: CallId(id),
        speaker,
        text: text.into(),
        item: item.map(str::to_string),
        final_: done,
    }
}

pub fn sip(call: Option<u64>, direction: SipDirection, peer: &str, text: &str) -> Event {
    let text = text.replace('\n', "\r\n");
    Event::SipMessage {
        call: call.map(CallId),
        direction,
        peer: Some(peer.into()),
        summary: text.lines().next().unwrap_or_default().to_string(),
        text,
    }
}

pub fn ended(id: u64, reason: EndReason) -> Event {
    Event::CallEnded {
        call: CallId(id),
        direction: crate::vocab::Direction::Incoming,
        reason,
        duration_ms: 0,
        media: MediaSummary::default(),
        verdict: None,
    }
}

/// Started and REGISTER sent, no answer yet.
pub fn registering() -> Script {
    let mut s = Script::new();
    s.ev(started())
        .log(
            LogLevel::Info,
            LogKind::Startup,
            "sipterm 0.1.0 listening for SIP on 192.0.2.10:5060 over UDP, registering \
             sip:alice@pbx.example.com at sip:pbx.example.com",
        )
        .ev(registration(RegistrationState::Registering, None, None))
        .at(0.4);
    s
}

/// Registered a minute ago with a one-hour binding, nothing happening.
pub fn registered_idle() -> Script {
    let mut s = registering();
    s.at(0.2)
        .ev(registration(
            RegistrationState::Registered,
            Some(3600),
            None,
        ))
        .at(60.5);
    s
}

/// Registered over TLS with the config file's `provider` profile: the header shows the lock
/// and the profile's name.
pub fn registered_over_tls() -> Script {
    let mut s = Script::new();
    s.ev(Event::Started {
        account: "sips:alice@pbx.example.com".into(),
        registrar: "sips:pbx.example.com:5061".into(),
        transport: "TLS".into(),
        local_sip: "192.0.2.10:5060".into(),
        profile: Some("provider".into()),
    })
    .at(0.2)
    .ev(registration(
        RegistrationState::Registered,
        Some(3600),
        None,
    ))
    .at(60.5);
    s
}

/// The registrar's TLS certificate names another host: refused for good, in plain words.
pub fn tls_certificate_refused() -> Script {
    let mut s = Script::new();
    let reason = "the registrar's certificate is for sip.example.com, not 192.0.2.5";
    s.ev(Event::Started {
        account: "sip:alice@192.0.2.5".into(),
        registrar: "sip:192.0.2.5:5061".into(),
        transport: "TLS".into(),
        local_sip: "192.0.2.10:5060".into(),
        profile: None,
    })
    .at(0.3)
    .ev(registration(RegistrationState::Failed, None, Some(reason)))
    .at(5.0);
    s
}

/// The registrar refused the credentials.
pub fn registration_failed() -> Script {
    let mut s = registering();
    let reason = "403 Forbidden: the registrar refused the credentials";
    s.at(0.3)
        .ev(registration(RegistrationState::Failed, None, Some(reason)))
        .at(5.0);
    s
}

/// The registrar stopped answering: the engine waits 8 s before its next try; 2.5 s of that
/// have passed.
pub fn retrying() -> Script {
    let mut s = registered_idle();
    let later = (s.now - s.t0).as_secs_f64() + 2.5;
    let reason = "no answer from the registrar at 192.0.2.1:5060 (UDP)";
    s.ev(Event::Registration {
        state: RegistrationState::Retrying,
        expires: None,
        reason: Some(reason.into()),
        retry_in: Some(8),
    })
    .at(later);
    s
}

/// A call ringing for four seconds.
pub fn ringing() -> Script {
    let mut s = registered_idle();
    s.ev(incoming(
        1,
        "sip:+4930123456@pbx.example.com",
        Some("Bob Example"),
    ))
    .ev(call_state(1, CallState::Ringing))
    .at(64.6);
    s
}

/// One answered call with SRTP media (AES_CM_128_HMAC_SHA1_80), its levels and quality.
pub fn srtp_call() -> Script {
    let mut s = ringing();
    s.ev(call_state(1, CallState::Answering))
        .at(64.8)
        .ev(call_state(1, CallState::Active))
        .ev(Event::MediaStarted {
            call: CallId(1),
            codec: crate::vocab::Codec::Pcmu,
            local_rtp: "192.0.2.10:10002".into(),
            remote_rtp: "203.0.113.5:4000".into(),
            advertised_rtp: None,
            srtp: Some(crate::vocab::SrtpSuite::AesCm128HmacSha1_80),
        })
        .ev(levels(1, (-18.0, -9.0), (-24.0, -15.0), None))
        .ev(quality(1, 0.0, 0, 1.2, 4.3))
        .at(70.0);
    s
}

/// Two answered calls: #1 bridged to the AI with a conversation under way, #2 muted.
pub fn two_calls() -> Script {
    let mut s = ringing();
    s.ev(call_state(1, CallState::Answering))
        .at(64.8)
        .ev(call_state(1, CallState::Active))
        .ev(media(1, "PCMU", "203.0.113.5:4000"))
        .ev(Event::Bridge {
            call: CallId(1),
            on: true,
            reason: None,
        })
        .log(
            LogLevel::Info,
            LogKind::Success,
            "call #1 bridged to gpt-realtime",
        )
        .ev(said(
            1,
            Speaker::System,
            "bridge connected (gpt-realtime, voice alloy)",
            None,
            true,
        ))
        .at(70.0)
        .ev(said(
            1,
            Speaker::Caller,
            "Hi, I'd like to move my appointment",
            Some("i1"),
            false,
        ))
        .ev(said(1, Speaker::Caller, " to Thursday.", Some("i1"), false))
        .ev(said(
            1,
            Speaker::Caller,
            "Hi, I'd like to move my appointment to Thursday, please.",
            Some("i1"),
            true,
        ))
        .at(72.0)
        .ev(said(
            1,
            Speaker::Ai,
            "Of course. Thursday has free slots at ten",
            Some("r1"),
            false,
        ))
        .ev(Event::BridgeStats {
            call: CallId(1),
            turns: 1,
            barge_ins: 0,
            reconnects: 0,
            last_latency_ms: Some(640),
            mean_latency_ms: Some(640),
            caller_frames_lost: 0,
            ai_frames_dropped: 0,
        })
        .ev(incoming(2, "sip:carol@example.org", None))
        .ev(call_state(2, CallState::Ringing))
        .at(75.0)
        .ev(call_state(2, CallState::Answering))
        .ev(call_state(2, CallState::Active))
        .ev(media(2, "opus", "198.51.100.7:50000"))
        .ev(Event::MediaLatched {
            call: CallId(2),
            remote_rtp: "203.0.113.77:61000".into(),
        })
        .ev(Event::Muted {
            call: CallId(2),
            microphone: true,
            listen_in: false,
        })
        .log(
            LogLevel::Warn,
            LogKind::Warning,
            "call #2: 3 RTP packets from 198.51.100.9:7078 dropped (not the call's peer)",
        )
        .ev(Event::Dtmf {
            call: CallId(2),
            digit: '4',
        })
        .ev(Event::Dtmf {
            call: CallId(2),
            digit: '2',
        })
        .ev(quality(1, 0.4, 3, 3.1, 4.35))
        .ev(quality(2, 2.5, 21, 17.8, 3.71))
        .at(94.0)
        .ev(levels(
            1,
            (-36.0, -30.0),
            (-96.0, -96.0),
            Some((-20.0, -9.0)),
        ))
        .ev(levels(2, (-44.0, -38.0), (-96.0, -96.0), None))
        .at(95.0)
        .ev(levels(
            1,
            (-27.0, -21.0),
            (-52.0, -47.0),
            Some((-14.0, -6.0)),
        ))
        .ev(levels(2, (-41.0, -33.0), (-96.0, -96.0), None))
        .at(95.2);
    s
}

/// A call's SIP dialog from INVITE to the 200 OK's ACK, plus a REGISTER outside it.
pub fn with_trace() -> Script {
    let mut s = ringing();
    let invite = "INVITE sip:alice@192.0.2.10:5060 SIP/2.0\n\
        Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK-524287-1\n\
        From: \"Bob Example\" <sip:+4930123456@pbx.example.com>;tag=8f2a\n\
        To: <sip:alice@pbx.example.com>\n\
        Call-ID: 3c26700f5e1b@203.0.113.5\n\
        CSeq: 1 INVITE\n\
        Contact: <sip:+4930123456@203.0.113.5:5060>\n\
        Content-Type: application/sdp\n\
        Content-Length: 142\n\
        \n\
        v=0\n\
        o=- 1 1 IN IP4 203.0.113.5\n\
        s=-\n\
        c=IN IP4 203.0.113.5\n\
        t=0 0\n\
        m=audio 4000 RTP/AVP 0 8 101\n\
        a=rtpmap:101 telephone-event/8000\n";
    let peer = "203.0.113.5:5060";
    let answer = |status: &str| format!("SIP/2.0 {status}\nCSeq: 1 INVITE\nContent-Length: 0\n");
    s.at(0.1)
        .ev(sip(
            None,
            SipDirection::Sent,
            "198.51.100.1:5060",
            "REGISTER sip:pbx.example.com SIP/2.0\nCSeq: 7 REGISTER\n",
        ))
        .at(0.2)
        .ev(sip(
            None,
            SipDirection::Received,
            "198.51.100.1:5060",
            "SIP/2.0 200 OK\nCSeq: 7 REGISTER\n",
        ))
        .at(60.5)
        .ev(sip(Some(1), SipDirection::Received, peer, invite))
        .ev(sip(
            Some(1),
            SipDirection::Sent,
            peer,
            &answer("100 Trying"),
        ))
        .ev(sip(
            Some(1),
            SipDirection::Sent,
            peer,
            &answer("180 Ringing"),
        ))
        .at(64.7)
        .ev(sip(Some(1), SipDirection::Sent, peer, &answer("200 OK")))
        .ev(call_state(1, CallState::Answering))
        .at(64.8)
        .ev(sip(
            Some(1),
            SipDirection::Received,
            peer,
            "ACK sip:alice@192.0.2.10:5060 SIP/2.0\nCSeq: 1 ACK\n",
        ))
        .ev(call_state(1, CallState::Active))
        .ev(media(1, "PCMU", "203.0.113.5:4000"))
        .at(80.0)
        .ev(sip(
            Some(1),
            SipDirection::Received,
            peer,
            "BYE sip:alice@192.0.2.10:5060 SIP/2.0\nCSeq: 2 BYE\n",
        ))
        .ev(sip(
            Some(1),
            SipDirection::Sent,
            peer,
            "SIP/2.0 200 OK\nCSeq: 2 BYE\n",
        ))
        .ev(ended(1, EndReason::RemoteHangup))
        .at(81.0);
    s
}

pub fn outgoing(id: u64, to: &str) -> Event {
    Event::OutgoingCall {
        call: CallId(id),
        to: to.into(),
        from: "sip:alice@pbx.example.com".into(),
        goal: None,
    }
}

pub fn progress(id: u64, status: u16, phrase: &str, pdd_ms: u64, early_media: bool) -> Event {
    Event::CallProgress {
        call: CallId(id),
        status,
        phrase: phrase.into(),
        post_dial_delay_ms: pdd_ms,
        early_media,
    }
}

pub fn hold(id: u64, ours: bool, theirs: bool) -> Event {
    Event::Hold {
        call: CallId(id),
        ours,
        theirs,
    }
}

/// Types `text` into the open prompt, key by key.
pub fn type_text(s: &mut Script, text: &str) {
    let now = s.now;
    for c in text.chars() {
        s.app.handle(Action::Edit(Edit::Insert(c)), now);
    }
}

/// The dial prompt just opened (`d`), with two numbers in the history.
pub fn dial_prompt() -> Script {
    let mut s = registered_idle();
    s.app.history =
        History::from_entries(["sip:1001@pbx.example.com", "sip:agent@sip.example.com"]);
    let now = s.now;
    s.app.handle(Action::Dial, now);
    s
}

/// We dialled 1001 a second ago: the INVITE is out, only 100 Trying came back.
pub fn calling() -> Script {
    let mut s = registered_idle();
    s.at(61.0)
        .ev(outgoing(1, "sip:1001@pbx.example.com"))
        .ev(call_state(1, CallState::Calling))
        .at(62.4);
    s
}

/// 180 Ringing after 320 ms: it rings at the other end.
pub fn ringing_there() -> Script {
    let mut s = calling();
    s.at(61.32)
        .ev(progress(1, 180, "Ringing", 320, false))
        .ev(call_state(1, CallState::Ringing))
        .at(64.0);
    s
}

/// 183 with SDP after 410 ms: an announcement plays before the answer.
pub fn early_media() -> Script {
    let mut s = calling();
    s.at(61.41)
        .ev(progress(1, 183, "Session Progress", 410, true))
        .ev(call_state(1, CallState::EarlyMedia))
        .ev(media(1, "PCMA", "203.0.113.5:4000"))
        .at(62.9)
        .ev(levels(1, (-22.0, -12.0), (-96.0, -96.0), None))
        .at(63.0);
    s
}

/// Our call to 1001, answered 4.99 s after the INVITE; three digits sent from the keypad.
pub fn outgoing_active() -> Script {
    let mut s = ringing_there();
    s.at(65.99)
        .ev(Event::CallAnswered {
            call: CallId(1),
            answer_ms: 4990,
            post_dial_delay_ms: Some(320),
        })
        .ev(call_state(1, CallState::Active))
        .ev(media(1, "PCMU", "203.0.113.5:4000"))
        .ev(quality(1, 0.0, 0, 2.2, 4.4))
        .at(80.0)
        .ev(levels(1, (-30.0, -21.0), (-26.0, -18.0), None));
    for digit in ['1', '2', '#'] {
        let now = s.now;
        s.app.handle(Action::Keypad(digit), now);
    }
    s.at(80.2);
    s
}

/// Our call to an agent, with its turn-taking measured: a greeting, two replies, a barge-in.
pub fn turn_taking() -> Script {
    let mut s = outgoing_active();
    s.ev(Event::TurnTaking {
        call: CallId(1),
        figures: crate::vocab::TurnTaking {
            greeting_ms: Some(740),
            gaps_ms: vec![720, 760],
            gap_p50_ms: Some(720),
            gap_p90_ms: Some(760),
            gap_max_ms: Some(760),
            barge_ins: 1,
            stop_latencies_ms: vec![400],
            stop_p50_ms: Some(400),
            stop_max_ms: Some(400),
            double_talk: 1,
            double_talk_ms: 400,
            ..Default::default()
        },
    })
    .at(81.0);
    s
}

/// We put our call on hold (`o`).
pub fn on_hold_ours() -> Script {
    let mut s = outgoing_active();
    s.ev(hold(1, true, false))
        .ev(call_state(1, CallState::OnHold))
        .at(85.0);
    s
}

/// The caller of an answered incoming call put us on hold.
pub fn held_theirs() -> Script {
    let mut s = ringing();
    s.ev(call_state(1, CallState::Answering))
        .at(64.8)
        .ev(call_state(1, CallState::Active))
        .ev(media(1, "PCMU", "203.0.113.5:4000"))
        .ev(quality(1, 0.1, 1, 1.9, 4.38))
        .at(70.0)
        .ev(hold(1, false, true))
        .ev(call_state(1, CallState::Held))
        .at(75.0);
    s
}

/// The AI caller's call to a voice agent, answered and bridged, two turns in: the panel shows
/// the goal (longer than the panel, so it is cut).
pub fn ai_caller_active() -> Script {
    let mut s = registered_idle();
    s.at(61.0)
        .ev(Event::OutgoingCall {
            call: CallId(1),
            to: "sip:agent@voice.example.com".into(),
            from: "sip:alice@pbx.example.com".into(),
            goal: Some(
                "Book a table for two at 8 pm tonight, by the window if they have one, and \
                 get the booking confirmed with a name, a reference number and the \
                 restaurant's cancellation policy for groups"
                    .into(),
            ),
        })
        .ev(call_state(1, CallState::Calling))
        .at(61.4)
        .ev(Event::CallAnswered {
            call: CallId(1),
            answer_ms: 400,
            post_dial_delay_ms: None,
        })
        .ev(call_state(1, CallState::Active))
        .ev(media(1, "PCMU", "203.0.113.9:4000"))
        .ev(Event::Bridge {
            call: CallId(1),
            on: true,
            reason: None,
        })
        .at(63.0)
        .ev(said(
            1,
            Speaker::Caller,
            "Bella Vista, how can I help you?",
            Some("i1"),
            true,
        ))
        .ev(said(
            1,
            Speaker::Ai,
            "Hi, I'd like a table for two at eight tonight.",
            Some("r1"),
            true,
        ))
        .ev(Event::BridgeStats {
            call: CallId(1),
            turns: 2,
            barge_ins: 0,
            reconnects: 0,
            last_latency_ms: Some(710),
            mean_latency_ms: Some(705),
            caller_frames_lost: 0,
            ai_frames_dropped: 0,
        })
        .at(70.0)
        .ev(levels(
            1,
            (-24.0, -15.0),
            (-96.0, -96.0),
            Some((-20.0, -11.0)),
        ))
        .at(70.1);
    s
}

/// The same call ended by the model's `end_call`: the panel keeps the verdict.
pub fn ai_caller_ended() -> Script {
    let mut s = ai_caller_active();
    s.at(74.0)
        .ev(Event::Verdict {
            call: CallId(1),
            verdict: crate::vocab::Verdict {
                outcome: crate::vocab::Outcome::Passed,
                reason: "Table for two at 8 pm booked under Sam, reference BV-2291.".into(),
            },
        })
        .at(75.0)
        .ev(call_state(1, CallState::Ended))
        .ev(Event::CallEnded {
            call: CallId(1),
            direction: crate::vocab::Direction::Outgoing,
            reason: EndReason::LocalHangup,
            duration_ms: 13_600,
            media: MediaSummary::default(),
            verdict: Some(crate::vocab::Verdict {
                outcome: crate::vocab::Outcome::Passed,
                reason: "Table for two at 8 pm booked under Sam, reference BV-2291.".into(),
            }),
        })
        .at(75.5);
    s
}

/// `sipterm test` with `--repeat 20 --concurrency 3`: two calls judged (one failed), three
/// running; the header leads with the suite's progress.
pub fn suite_running() -> Script {
    let mut s = registered_idle();
    for id in 1..=2u64 {
        s.ev(Event::SuiteCall {
            index: id as usize,
            total: 20,
            call: CallId(id),
            outcome: if id == 1 {
                crate::vocab::Outcome::Passed
            } else {
                crate::vocab::Outcome::Failed
            },
            failures: if id == 1 {
                Vec::new()
            } else {
                vec!["turn gap p90 1340 ms is not below 1200 ms".into()]
            },
        });
    }
    for id in 3..=5u64 {
        s.ev(Event::OutgoingCall {
            call: CallId(id),
            to: "sip:agent@voice.example.com".into(),
            from: "sip:alice@pbx.example.com".into(),
            goal: None,
        })
        .ev(call_state(id, CallState::Active))
        .ev(media(id, "PCMU", "203.0.113.5:4000"));
    }
    s.ev(Event::SuiteProgress {
        done: 2,
        total: 20,
        passed: 1,
        failed: 1,
        undecided: 0,
        running: 3,
    })
    .at(64.0);
    s
}
