//! The executor in-process, with a recording fake for the SIP side and real RTP on loopback:
//! the table's effects reach the SIP side and the media, and their answers come back.

use super::core::{Input, Invite, RequestId};
use super::sip_side::{SipIn, SipSide};
use super::*;
use crate::cli::Cli;
use crate::sip::ua::{DialogKey, Termination};
use crate::vocab::bus::Subscriber;
use crate::vocab::{CallState, EndReason, LogLevel};
use clap::Parser;
use futures_util::future::BoxFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// What the executor asked the SIP side to do.
#[derive(Clone, Debug, PartialEq)]
enum Sent {
    Ring(DialogKey),
    Reject(DialogKey, u16),
    Accept(DialogKey, String),
    Bye(DialogKey),
    Respond(RequestId, u16),
    Invite(DialogKey, String),
    Cancel(DialogKey),
    Reinvite(DialogKey),
    Refer(DialogKey, String),
    Notify(DialogKey, u16),
}

#[derive(Clone, Default)]
struct FakeSip(Arc<Mutex<Vec<Sent>>>);

impl FakeSip {
    fn sent(&self) -> Vec<Sent> {
        self.0.lock().unwrap().clone()
    }

    fn record(&self, sent: Sent) {
        self.0.lock().unwrap().push(sent);
    }
}

impl SipSide for FakeSip {
    type Event = Input;

    fn translate(&self, event: Input) -> SipIn {
        SipIn::Input(event)
    }

    fn ring(&self, key: &DialogKey) {
        self.record(Sent::Ring(key.clone()));
    }

    fn reject(&self, key: &DialogKey, status: u16) {
        self.record(Sent::Reject(key.clone(), status));
    }

    fn accept(&self, key: &DialogKey, sdp: String) -> Result<(), String> {
        self.record(Sent::Accept(key.clone(), sdp));
        Ok(())
    }

    fn bye(&self, key: &DialogKey) -> BoxFuture<'static, Result<(), String>> {
        self.record(Sent::Bye(key.clone()));
        Box::pin(async { Ok(()) })
    }

    fn respond(
        &self,
        request: RequestId,
        status: u16,
        _sdp: Option<String>,
    ) -> BoxFuture<'static, ()> {
        self.record(Sent::Respond(request, status));
        Box::pin(async {})
    }

    fn place(&self, key: &DialogKey, target: &str, _sdp: String) -> Result<String, String> {
        self.record(Sent::Invite(key.clone(), target.to_string()));
        Ok(format!("call-id-{key:?}"))
    }

    fn reinvite(
        &self,
        key: &DialogKey,
        sdp: String,
    ) -> BoxFuture<'static, Result<(u16, Option<String>), String>> {
        self.record(Sent::Reinvite(key.clone()));
        Box::pin(async move { Ok((200, Some(sdp))) })
    }

    fn refer(&self, key: &DialogKey, target: &str) -> BoxFuture<'static, Result<u16, String>> {
        self.record(Sent::Refer(key.clone(), target.to_string()));
        Box::pin(async { Ok(202) })
    }

    fn notify_transfer(
        &self,
        key: &DialogKey,
        status: u16,
        _phrase: &str,
        _done: bool,
    ) -> BoxFuture<'static, Result<(), String>> {
        self.record(Sent::Notify(key.clone(), status));
        Box::pin(async { Ok(()) })
    }

    fn cancel(&self, key: &DialogKey) -> BoxFuture<'static, Result<(), String>> {
        self.record(Sent::Cancel(key.clone()));
        Box::pin(async { Ok(()) })
    }
}

fn config(extra: &[&str]) -> Config {
    let mut args = vec![
        "sipterm",
        "--sip-uri",
        "sip:alice@127.0.0.1:5060",
        "--headless",
        "--port",
        "0",
    ];
    args.extend_from_slice(extra);
    let cli = Cli::try_parse_from(args).expect("flags parse");
    Config::from_cli(&cli, false).expect("a valid configuration")
}

/// A PCMU packet of silence.
fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x5eed_u32.to_be_bytes());
    p.extend(std::iter::repeat_n(0xff, 160));
    p
}

async fn next_event(events: &mut Subscriber, what: &str, wanted: impl Fn(&Event) -> bool) -> Event {
    timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Some(e) if wanted(&e) => return e,
                Some(_) => {}
                None => panic!("no {what} before the end"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} within 10 s"))
}

/// The executor on a task, driven through its channels; the SIP side is the fake.
struct Running {
    events: Subscriber,
    sip: FakeSip,
    command_tx: mpsc::UnboundedSender<Command>,
    sip_tx: mpsc::UnboundedSender<Input>,
    /// Kept so the registration channel stays open.
    _reg_tx: mpsc::UnboundedSender<RegUpdate>,
    running: tokio::task::JoinHandle<()>,
}

async fn run_executor(config: Config) -> Running {
    let (events_tx, events) = crate::vocab::bus::bus();
    let log = Log(events_tx);
    let audio = Audio::open(&config, &supported_codecs(&config), &log)
        .await
        .expect("no sound card needed");
    let sip = FakeSip::default();
    let loopback = IpAddr::from([127, 0, 0, 1]);
    let mut engine = Engine::new(config, log, sip.clone(), loopback, audio);
    let (command_tx, mut commands) = mpsc::unbounded_channel();
    let (sip_tx, mut sip_rx) = mpsc::unbounded_channel();
    let (reg_tx, mut reg_rx) = mpsc::unbounded_channel();
    let running = tokio::spawn(async move {
        engine.serve(&mut commands, &mut sip_rx, &mut reg_rx).await;
        engine.shutdown(&mut sip_rx).await;
        engine.finish().await;
    });
    Running {
        events,
        sip,
        command_tx,
        sip_tx,
        _reg_tx: reg_tx,
        running,
    }
}

#[tokio::test]
async fn executor_answers_through_the_sip_side_echoes_rtp_and_reports_the_end() {
    // JSON output shows levels (plain headless output has no use for them).
    let config = config(&["--audio", "echo", "--auto-answer", "--json"]);
    let loopback = IpAddr::from([127, 0, 0, 1]);
    let Running {
        mut events,
        sip,
        command_tx,
        sip_tx,
        running,
        ..
    } = run_executor(config).await;

    let caller = UdpSocket::bind((loopback, 0)).await.unwrap();
    // The SDP names another port than the one the caller's RTP comes from (a NAT would do
    // that): media must latch onto the real source and answer there.
    let sdp_only = UdpSocket::bind((loopback, 0)).await.unwrap();
    let sdp_port = sdp_only.local_addr().unwrap().port();
    let key = DialogKey::new("fake-dialog");
    let offer = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {sdp_port} RTP/AVP 0\r\n"
    );
    sip_tx
        .send(Input::Invite(Invite {
            key: key.clone(),
            sip_call_id: "abc".into(),
            from: "sip:bob@127.0.0.1".into(),
            display_name: None,
            to: "sip:alice@127.0.0.1".into(),
            offer: Some(offer),
        }))
        .unwrap();
    next_event(&mut events, "media_started", |e| {
        matches!(e, Event::MediaStarted { .. })
    })
    .await;
    let sdp = sip
        .sent()
        .into_iter()
        .find_map(|s| match s {
            Sent::Accept(k, sdp) if k == key => Some(sdp),
            _ => None,
        })
        .expect("the executor sent the 200 through the SIP side");
    assert!(!sip.sent().iter().any(|s| matches!(s, Sent::Ring(_))));
    let our_port: u16 = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("an m= line with our port");
    sip_tx
        .send(Input::Confirmed {
            key: key.clone(),
            ack_sdp: None,
        })
        .unwrap();
    next_event(&mut events, "active", |e| {
        matches!(
            e,
            Event::CallState {
                state: CallState::Active,
                ..
            }
        )
    })
    .await;

    // Real RTP both ways: what we send comes back (--audio echo).
    let mut buf = [0u8; 2048];
    let mut echoed = 0;
    for seq in 0..40u16 {
        caller
            .send_to(&rtp(seq), (loopback, our_port))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        while let Ok(Ok(_)) = timeout(Duration::from_millis(1), caller.recv_from(&mut buf)).await {
            echoed += 1;
        }
    }
    assert!(echoed > 10, "only {echoed} packets came back");
    let latched = next_event(&mut events, "media_latched", |e| {
        matches!(e, Event::MediaLatched { .. })
    })
    .await;
    assert_eq!(
        latched,
        Event::MediaLatched {
            call: CallId(1),
            remote_rtp: caller.local_addr().unwrap().to_string()
        }
    );
    // Levels keep coming (they are sent from media start on, so one follows).
    next_event(&mut events, "levels", |e| matches!(e, Event::Levels { .. })).await;

    sip_tx
        .send(Input::Terminated {
            key,
            why: Termination::RemoteBye,
        })
        .unwrap();
    let end = next_event(&mut events, "call_ended", |e| {
        matches!(e, Event::CallEnded { .. })
    })
    .await;
    let Event::CallEnded { reason, media, .. } = end else {
        unreachable!()
    };
    assert_eq!(reason, EndReason::RemoteHangup);
    assert!(media.stats.packets_received >= 30, "{media:?}");
    assert!(media.stats.packets_sent > 0, "{media:?}");

    command_tx.send(Command::Quit).unwrap();
    next_event(&mut events, "stopped", |e| matches!(e, Event::Stopped)).await;
    timeout(Duration::from_secs(5), running)
        .await
        .expect("the executor ends")
        .unwrap();
}

#[tokio::test]
async fn executor_hangs_up_live_calls_at_shutdown_through_the_sip_side() {
    let mut config = config(&["--audio", "null"]);
    // Headless answers by default; this call must stay ringing.
    config.auto_answer = false;
    let Running {
        mut events,
        sip,
        command_tx,
        sip_tx,
        running,
        ..
    } = run_executor(config).await;
    let key = DialogKey::new("ringing");
    sip_tx
        .send(Input::Invite(Invite {
            key: key.clone(),
            sip_call_id: "r".into(),
            from: "sip:carol@127.0.0.1".into(),
            display_name: Some("Carol".into()),
            to: "sip:alice@127.0.0.1".into(),
            offer: None,
        }))
        .unwrap();
    next_event(&mut events, "ringing", |e| {
        matches!(
            e,
            Event::CallState {
                state: CallState::Ringing,
                ..
            }
        )
    })
    .await;
    assert_eq!(sip.sent(), [Sent::Ring(key.clone())]);
    command_tx.send(Command::Quit).unwrap();
    // The SIP side never reports the dialog's end: shutdown gives up after its grace.
    let end = next_event(&mut events, "call_ended", |e| {
        matches!(e, Event::CallEnded { .. })
    })
    .await;
    assert!(matches!(
        end,
        Event::CallEnded {
            reason: EndReason::Rejected { status: 480 },
            ..
        }
    ));
    assert_eq!(sip.sent()[1], Sent::Reject(key, 480));
    timeout(Duration::from_secs(10), running)
        .await
        .expect("the executor ends")
        .unwrap();
}

#[tokio::test]
async fn executor_places_a_call_its_media_flows_once_answered_and_plays_a_file_once() {
    let config = config(&["--audio", "null"]);
    let loopback = IpAddr::from([127, 0, 0, 1]);
    let Running {
        mut events,
        sip,
        command_tx,
        sip_tx,
        running,
        ..
    } = run_executor(config).await;
    let callee = UdpSocket::bind((loopback, 0)).await.unwrap();
    let callee_port = callee.local_addr().unwrap().port();

    command_tx
        .send(Command::Dial {
            target: "1001".into(),
        })
        .unwrap();
    next_event(
        &mut events,
        "outgoing_call",
        |e| matches!(e, Event::OutgoingCall { to, .. } if to == "sip:1001@127.0.0.1:5060"),
    )
    .await;
    let key = timeout(Duration::from_secs(10), async {
        loop {
            if let Some(key) = sip.sent().into_iter().find_map(|s| match s {
                Sent::Invite(key, target) if target == "sip:1001@127.0.0.1:5060" => Some(key),
                _ => None,
            }) {
                return key;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the INVITE went to the SIP side");

    let answer = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {callee_port} RTP/AVP 0\r\n"
    );
    sip_tx
        .send(Input::Answered {
            key: key.clone(),
            sdp: Some(answer),
        })
        .unwrap();
    next_event(&mut events, "call_answered", |e| {
        matches!(e, Event::CallAnswered { .. })
    })
    .await;
    // Our RTP reaches the callee's port: silence from the null device, paced.
    let mut buf = [0u8; 1500];
    let (n, _) = timeout(Duration::from_secs(5), callee.recv_from(&mut buf))
        .await
        .expect("RTP from us within 5 s")
        .unwrap();
    assert!(n >= 12 + 160, "a PCMU packet, {n} bytes");
    assert_eq!(buf[1] & 0x7f, 0, "payload type PCMU");

    // Play: a 16 kHz WAV of 200 ms goes out once (10 loud packets), then `played`.
    let dir = crate::media::wav::TestDir::new("engine-play");
    let wav = dir.0.join("hello.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
    for i in 0..3200 {
        let t = f64::from(i) / 16000.0;
        writer
            .write_sample((12000.0 * (2.0 * std::f64::consts::PI * 500.0 * t).sin()) as i16)
            .unwrap();
    }
    writer.finalize().unwrap();
    command_tx
        .send(Command::Play {
            call: CallId(1),
            file: wav.clone(),
        })
        .unwrap();
    let played = next_event(&mut events, "played", |e| matches!(e, Event::Played { .. })).await;
    assert_eq!(
        played,
        Event::Played {
            call: CallId(1),
            file: wav.display().to_string(),
            ms: 200
        }
    );
    // Everything sent so far is queued at the callee; read it, and a little more.
    let mut loud = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(until, callee.recv_from(&mut buf)).await {
        loud += usize::from(n >= 12 + 160 && buf[12..n].iter().any(|&b| b != 0xff));
    }
    assert_eq!(loud, 10, "the clip's 10 frames went out once");
    // A file that cannot be read: named in an error, and `played` with 0 ms all the same.
    let missing = dir.0.join("missing.wav");
    command_tx
        .send(Command::Play {
            call: CallId(1),
            file: missing.clone(),
        })
        .unwrap();
    let error = next_event(&mut events, "the error", |e| {
        matches!(e, Event::Log { level: LogLevel::Error, message, .. } if message.contains("missing.wav"))
    })
    .await;
    assert!(format!("{error:?}").contains("cannot play"), "{error:?}");
    let played = next_event(&mut events, "played", |e| matches!(e, Event::Played { .. })).await;
    assert!(matches!(played, Event::Played { ms: 0, .. }), "{played:?}");

    command_tx.send(Command::Hangup(CallId(1))).unwrap();
    next_event(&mut events, "the BYE", |_| {
        sip.sent()
            .iter()
            .any(|s| matches!(s, Sent::Bye(k) if *k == key))
    })
    .await;
    sip_tx
        .send(Input::Terminated {
            key,
            why: Termination::LocalBye,
        })
        .unwrap();
    let end = next_event(&mut events, "call_ended", |e| {
        matches!(e, Event::CallEnded { .. })
    })
    .await;
    let Event::CallEnded {
        direction, reason, ..
    } = end
    else {
        unreachable!()
    };
    assert_eq!(direction, crate::vocab::Direction::Outgoing);
    assert_eq!(reason, EndReason::LocalHangup);
    command_tx.send(Command::Quit).unwrap();
    timeout(Duration::from_secs(10), running)
        .await
        .expect("the executor stops")
        .unwrap();
}
