//! sipterm's SIP core against real peers on loopback: Kamailio as registrar and proxy with
//! digest auth, sipp as the caller. Each test starts its own peers on free ports.

mod support;

use std::time::Duration;
use support::events::{events, is, wait_call_ended, wait_event, wait_registered};
use support::sipterm::{registered_args, sip_port};
use support::{dominant_frequency, wait_until, Kamailio, RtpCapture, Sipp, Sipterm, Transport};

const ALICE: (&str, &str) = ("alice", "wonderland");
const LONG: Duration = Duration::from_secs(30);

/// sipterm registered as alice at `kamailio`, printing JSON events, with `extra` flags.
fn start_alice(kamailio: &Kamailio, transport: Transport, extra: &[&str]) -> Sipterm {
    let mut args = registered_args(kamailio, ALICE.0, ALICE.1, transport);
    args.push("--json".into());
    args.extend(extra.iter().map(|s| s.to_string()));
    Sipterm::spawn(args)
}

#[track_caller]
fn wait_contacts(kamailio: &Kamailio, registered: bool) -> Vec<String> {
    kamailio
        .wait_for_contacts(ALICE.0, |c| c.is_empty() != registered, LONG)
        .unwrap_or_else(|why| panic!("alice's contacts never became {registered}: {why}"))
}

fn call_alice(kamailio: &Kamailio, scenario: &str) -> Sipp {
    Sipp::uac(scenario, kamailio.addr()).service(ALICE.0)
}

#[track_caller]
fn assert_clean_exit(sipterm: &mut Sipterm) {
    let code = sipterm.exit_code(LONG);
    assert_eq!(code, 0, "sipterm exit code\n{}", sipterm.report());
    assert!(
        !sipterm.stderr().contains("panicked"),
        "panic on stderr\n{}",
        sipterm.report()
    );
}

#[test]
fn registers_over_udp_and_unregisters_on_sigint() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--audio", "null"]);
    wait_registered(&mut sipterm);
    let contacts = wait_contacts(&kamailio, true);
    assert!(
        contacts
            .iter()
            .any(|c| !c.to_lowercase().contains("transport=tcp")),
        "{contacts:?}"
    );
    sipterm.interrupt();
    assert_clean_exit(&mut sipterm);
    // The unregister was answered before exit, so Kamailio has dropped the binding already.
    assert!(
        kamailio.contacts(ALICE.0).is_empty(),
        "still bound after exit: {:?}",
        kamailio.contacts(ALICE.0)
    );
    let out = sipterm.stdout();
    assert!(out.contains(r#""state":"unregistered""#), "{out}");
}

#[test]
fn registers_over_tcp_and_takes_a_call_over_tcp() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = start_alice(&kamailio, Transport::Tcp, &["--audio", "echo"]);
    wait_registered(&mut sipterm);
    let contacts = wait_contacts(&kamailio, true);
    assert!(
        contacts
            .iter()
            .any(|c| c.to_lowercase().contains("transport=tcp")),
        "{contacts:?}"
    );
    let run = call_alice(&kamailio, "uac_tone.xml")
        .tcp()
        .key("call_ms", 1500)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(&mut sipterm);
    assert_eq!(ended["reason"], "remote_hangup");
    // SIGTERM gets the same clean-up as Ctrl+C.
    sipterm.terminate();
    assert_clean_exit(&mut sipterm);
    assert!(kamailio.contacts(ALICE.0).is_empty());
}

#[test]
fn wrong_password_exits_3() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut args = registered_args(&kamailio, ALICE.0, "not-the-password", Transport::Udp);
    args.extend(["--audio".into(), "null".into()]);
    let mut sipterm = Sipterm::spawn(args);
    let code = sipterm.exit_code(LONG);
    assert_eq!(code, 3, "{}", sipterm.report());
    let out = sipterm.stdout();
    assert!(
        out.contains("wrong username or password") && out.contains("403"),
        "the cause is not named:\n{out}"
    );
    assert!(kamailio.contacts(ALICE.0).is_empty());
}

#[test]
fn answers_call_and_echoes_tone() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--audio", "echo"]);
    wait_registered(&mut sipterm);
    let sipp = call_alice(&kamailio, "uac_tone.xml").key("call_ms", 3000);
    let media_port = support::free_udp_port_block(4);
    let capture = RtpCapture::start(media_port);
    let run = sipp.media_port(media_port).run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let packets = capture.stop();

    let ended = wait_call_ended(&mut sipterm);
    // sipp hangs up at the end of the scenario: this is the remote-BYE path.
    assert_eq!(ended["reason"], "remote_hangup", "{ended}");
    let received = ended["media"]["packets_received"].as_u64().unwrap();
    assert!(received >= 100, "sipterm received {received} packets");

    let echoed: Vec<_> = packets.iter().filter(|p| p.payload_type == 0).collect();
    assert!(
        echoed.len() >= 100,
        "sipp received {} PCMU packets from sipterm",
        echoed.len()
    );
    let audio = support::decode_audio(&packets);
    let f = dominant_frequency(&audio, 8000);
    assert!((f - 1000.0).abs() <= 20.0, "echoed tone at {f} Hz");
    let started = events(&sipterm)
        .into_iter()
        .find(|e| is(e, "media_started"))
        .expect("media_started event");
    assert_eq!(started["codec"], "PCMU");
}

#[test]
fn caller_cancels_while_ringing() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = start_alice(
        &kamailio,
        Transport::Udp,
        &["--audio", "null", "--answer-after", "30"],
    );
    wait_registered(&mut sipterm);
    let run = call_alice(&kamailio, "uac_cancel.xml").run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let statuses = run.received_statuses();
    for status in [100, 180, 487] {
        assert!(
            statuses.contains(&status),
            "no {status}: {statuses:?}\n{run}"
        );
    }
    let ended = wait_call_ended(&mut sipterm);
    assert_eq!(ended["reason"], "cancelled", "{ended}");
}

#[test]
fn rejects_busy_with_486_and_decline_with_603() {
    let kamailio = Kamailio::start(&[ALICE]);
    for (policy, status) in [("busy", 486), ("decline", 603)] {
        let mut sipterm = start_alice(
            &kamailio,
            Transport::Udp,
            &["--audio", "null", "--reject", policy],
        );
        wait_registered(&mut sipterm);
        let run = call_alice(&kamailio, "uac_expect_status.xml")
            .key("expected_status", status)
            .run();
        assert!(run.success(), "{run}\n{}", sipterm.report());
        let ended = wait_call_ended(&mut sipterm);
        assert_eq!(ended["reason"]["rejected"]["status"], status, "{ended}");
        sipterm.interrupt();
        assert_clean_exit(&mut sipterm);
    }
}

#[test]
fn hangs_up_with_bye_when_duration_ends() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut args = registered_args(&kamailio, ALICE.0, ALICE.1, Transport::Udp);
    let ours = format!("127.0.0.1:{}", sip_port(&args));
    args.extend(["--json", "--audio", "echo", "--duration", "5"].map(String::from));
    let mut sipterm = Sipterm::spawn(args);
    wait_registered(&mut sipterm);
    let run = call_alice(&kamailio, "uac_wait_bye.xml").run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    assert!(run.received_requests().iter().any(|r| r == "BYE"), "{run}");
    let ended = wait_call_ended(&mut sipterm);
    assert_eq!(ended["reason"], "local_hangup", "{ended}");
    assert_clean_exit(&mut sipterm);
    assert!(kamailio.contacts(ALICE.0).is_empty());

    // RFC 3581: every request we sent (REGISTERs, the BYE, the un-REGISTER) asks for rport, so
    // that answers find their way back through a NAT.
    let sent: Vec<(String, String)> = requests_with_top_via(&kamailio.sip_trace())
        .into_iter()
        .filter(|(_, via)| via.contains(&ours))
        .collect();
    let methods: Vec<&str> = sent.iter().map(|(m, _)| m.as_str()).collect();
    assert!(
        methods.contains(&"REGISTER") && methods.contains(&"BYE"),
        "{methods:?}"
    );
    for (method, via) in &sent {
        assert!(via.contains(";rport"), "{method} without rport: {via}");
    }
}

/// Each request line in a Kamailio trace with its first Via line.
fn requests_with_top_via(trace: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut lines = trace.lines();
    while let Some(line) = lines.next() {
        let line = line.trim_end();
        let Some(method) = line
            .strip_suffix(" SIP/2.0")
            .and_then(|l| l.split(' ').next())
        else {
            continue;
        };
        if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
            continue;
        }
        let via = lines
            .by_ref()
            .take_while(|l| !l.trim().is_empty())
            .find(|l| {
                let l = l.to_ascii_lowercase();
                l.starts_with("via:") || l.starts_with("v:")
            });
        if let Some(via) = via {
            found.push((method.to_string(), via.to_string()));
        }
    }
    found
}

#[test]
fn sigint_hangs_up_live_calls_and_unregisters() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--audio", "echo"]);
    wait_registered(&mut sipterm);
    let sipp = call_alice(&kamailio, "uac_wait_bye.xml").spawn();
    wait_event(&mut sipterm, "an active call", |e| {
        is(e, "call_state") && e["state"] == "active"
    });
    sipterm.interrupt();
    let run = sipp.wait();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    assert_clean_exit(&mut sipterm);
    let ended = events(&sipterm)
        .into_iter()
        .find(|e| is(e, "call_ended"))
        .expect("call_ended before exit");
    assert_eq!(ended["reason"], "local_hangup");
    assert!(kamailio.contacts(ALICE.0).is_empty());
}

#[test]
fn a_second_sigint_exits_at_once_when_the_clean_up_hangs() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--audio", "null"]);
    wait_registered(&mut sipterm);
    // A registrar that no longer answers: the unregister at exit waits for it.
    let frozen =
        support::pids_with_cmdline_containing(&kamailio.dir().path().display().to_string());
    assert!(!frozen.is_empty(), "no kamailio processes found");
    let signal = |sig: &str| {
        for pid in &frozen {
            let _ = std::process::Command::new("kill")
                .args([sig, &pid.to_string()])
                .status();
        }
    };
    signal("-STOP");
    sipterm.interrupt();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        sipterm.wait(Duration::from_millis(1)).is_none(),
        "exited before the unregister could time out: the test proves nothing"
    );
    sipterm.interrupt();
    let code = sipterm.exit_code(Duration::from_secs(5));
    signal("-CONT");
    assert_eq!(code, 130, "{}", sipterm.report());
    assert!(
        sipterm.stderr().contains("second interrupt"),
        "{}",
        sipterm.report()
    );
}

#[test]
fn offer_without_common_codec_gets_488() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--audio", "null"]);
    wait_registered(&mut sipterm);
    let run = call_alice(&kamailio, "uac_expect_488.xml").run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(&mut sipterm);
    assert_eq!(ended["reason"], "no_common_codec");
}

#[test]
fn late_offer_invite_is_answered_with_an_offer() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--audio", "echo"]);
    wait_registered(&mut sipterm);
    let run = call_alice(&kamailio, "uac_late_offer.xml")
        .key("call_ms", 1500)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let started = wait_event(&mut sipterm, "media_started", |e| is(e, "media_started"));
    assert_eq!(started["codec"], "PCMU");
    let ended = wait_call_ended(&mut sipterm);
    assert_eq!(ended["reason"], "remote_hangup");
    assert!(
        ended["media"]["packets_sent"].as_u64().unwrap() > 40,
        "{ended}"
    );
}

#[test]
fn reinvite_hold_and_resume_are_answered() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--audio", "echo"]);
    wait_registered(&mut sipterm);
    let run = call_alice(&kamailio, "uac_reinvite_hold.xml")
        .key("call_ms", 1000)
        .key("hold_ms", 1000)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    wait_call_ended(&mut sipterm);
    let states: Vec<String> = events(&sipterm)
        .into_iter()
        .filter(|e| is(e, "call_state"))
        .map(|e| e["state"].as_str().unwrap_or_default().to_string())
        .collect();
    let held = states.iter().position(|s| s == "held");
    let resumed = states.iter().rposition(|s| s == "active");
    assert!(
        matches!((held, resumed), (Some(h), Some(r)) if r > h),
        "states: {states:?}"
    );
}

#[test]
fn options_is_answered_200() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--audio", "null"]);
    wait_registered(&mut sipterm);
    let run = call_alice(&kamailio, "uac_options.xml").run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
}

#[test]
fn several_calls_at_once_are_tracked_separately() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--audio", "echo"]);
    wait_registered(&mut sipterm);
    let run = call_alice(&kamailio, "uac_tone.xml")
        .key("call_ms", 2000)
        .calls(3)
        .limit(3)
        .rate(10.0, 1000)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    wait_until(LONG, || {
        events(&sipterm)
            .iter()
            .filter(|e| is(e, "call_ended"))
            .count()
            == 3
    });
    let evs = events(&sipterm);
    let mut ids: Vec<u64> = evs
        .iter()
        .filter(|e| is(e, "call_ended"))
        .map(|e| e["call"].as_u64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec![1, 2, 3], "{}", sipterm.report());
    // The calls overlapped: all three were active before the first one ended.
    let first_end = evs.iter().position(|e| is(e, "call_ended")).unwrap();
    let active_before = evs[..first_end]
        .iter()
        .filter(|e| is(e, "call_state") && e["state"] == "active")
        .count();
    assert_eq!(active_before, 3, "{}", sipterm.report());
}

#[test]
fn malformed_datagrams_do_not_crash_it_and_registration_stays_up() {
    let kamailio = Kamailio::start(&[ALICE]);
    let args = registered_args(&kamailio, ALICE.0, ALICE.1, Transport::Udp);
    let port = sip_port(&args);
    let mut args = args;
    args.extend(["--json".into(), "--audio".into(), "null".into()]);
    let mut sipterm = Sipterm::spawn(args);
    wait_registered(&mut sipterm);

    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = ("127.0.0.1", port);
    let garbage: Vec<Vec<u8>> = vec![
        (0..1200u32).map(|i| (i * 7919 % 251) as u8).collect(),
        vec![0u8; 3],
        b"INVITE sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9\r\nFrom: <sip:x@y>;tag=1\r\n"
            .to_vec(),
        b"INVITE sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: huge\r\nCSeq: 1 INVITE\r\nContent-Length: 4000000000\r\n\r\nv=0\r\n"
            .to_vec(),
        b"INVITE sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKy\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: badsdp\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 12\r\n\r\nm=audio x y\r\n"
            .to_vec(),
        b"SIP/2.0 200 OK\r\nCSeq: banana\r\n\r\n".to_vec(),
        b"\r\n\r\n".to_vec(),
        vec![0xff; 60_000],
    ];
    for datagram in &garbage {
        for _ in 0..5 {
            let _ = socket.send_to(datagram, target);
        }
    }
    // Still alive, still registered, still answering calls.
    let run = call_alice(&kamailio, "uac_options.xml").run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    assert!(
        sipterm.wait(Duration::from_millis(200)).is_none(),
        "sipterm exited after garbage\n{}",
        sipterm.report()
    );
    assert!(!kamailio.contacts(ALICE.0).is_empty());
    let run = call_alice(&kamailio, "uac_tone.xml")
        .key("call_ms", 500)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    sipterm.interrupt();
    assert_clean_exit(&mut sipterm);
}

#[test]
fn reregisters_when_the_registrar_comes_back() {
    // A registrar that grants 4 s makes sipterm refresh every 3 s.
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .max_expires(4)
        .start();
    let port = kamailio.port();
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--audio", "null"]);
    wait_registered(&mut sipterm);
    drop(kamailio);
    let retrying = wait_event(
        &mut sipterm,
        "retrying after the registrar went away",
        |e| is(e, "registration") && e["state"] == "retrying",
    );
    // When the next try comes, for the header's countdown.
    assert!(
        retrying["retry_in"].as_u64().is_some_and(|s| s >= 1),
        "{retrying}"
    );
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .max_expires(4)
        .port(port)
        .start();
    wait_contacts(&kamailio, true);
    // Kamailio lists the binding the moment it answers; sipterm reports it a moment later.
    let registered = || {
        events(&sipterm)
            .iter()
            .filter(|e| is(e, "registration") && e["state"] == "registered")
            .count()
    };
    wait_until(LONG, || registered() >= 2);
    assert!(registered() >= 2, "{}", sipterm.report());
    sipterm.interrupt();
    assert_clean_exit(&mut sipterm);
}

#[test]
fn registers_through_a_407_proxy_challenge() {
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .proxy_auth()
        .start();
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--audio", "null"]);
    wait_registered(&mut sipterm);
    wait_contacts(&kamailio, true);
    let trace = kamailio.sip_trace();
    assert!(
        trace.contains("407 Proxy Authentication Required"),
        "no 407 was sent"
    );
    assert!(
        trace.contains("Proxy-Authorization: Digest"),
        "no proxy credentials"
    );
    assert!(
        trace.contains("qop=auth") || trace.contains("qop=\"auth\""),
        "digest without qop=auth"
    );
    sipterm.interrupt();
    assert_clean_exit(&mut sipterm);
}

#[test]
fn sip_info_dtmf_update_without_sdp_and_allow_headers() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--audio", "null"]);
    wait_registered(&mut sipterm);
    let run = call_alice(&kamailio, "uac_info_dtmf.xml").run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    wait_call_ended(&mut sipterm);
    let digits: String = events(&sipterm)
        .into_iter()
        .filter(|e| is(e, "dtmf"))
        .filter_map(|e| e["digit"].as_str().map(str::to_string))
        .collect();
    assert_eq!(digits, "5#", "{}", sipterm.report());
}

#[test]
fn a_bye_that_crosses_the_callers_is_not_sent_or_retransmitted() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--audio", "echo", "-v"]);
    wait_registered(&mut sipterm);
    // The ACK brings no answer to our offer, which alone would make us hang up; the caller's
    // BYE follows at once. A BYE of ours may cross it, but once the caller's BYE is answered
    // nothing more may follow: sipp fails on a BYE after that, and ours is not retransmitted.
    let run = call_alice(&kamailio, "uac_late_offer_silent_ack_bye.xml").run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(&mut sipterm);
    // Both sides hung up; which one is named depends on who decided first.
    assert!(
        ["remote_hangup", "local_hangup"].contains(&ended["reason"].as_str().unwrap_or("")),
        "{ended}"
    );
    std::thread::sleep(Duration::from_secs(1));
    let out = sipterm.stdout();
    let byes_sent = out
        .lines()
        .filter(|l| l.contains("SIP sent to") && l.contains("BYE sip:"))
        .count();
    assert!(byes_sent <= 1, "{out}");
    sipterm.interrupt();
    assert_clean_exit(&mut sipterm);
}

#[test]
fn a_refused_bye_is_a_warning() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--audio", "echo"]);
    wait_registered(&mut sipterm);
    let sipp = call_alice(&kamailio, "uac_refuse_bye.xml").spawn();
    wait_event(&mut sipterm, "an active call", |e| {
        is(e, "call_state") && e["state"] == "active"
    });
    sipterm.interrupt();
    assert_clean_exit(&mut sipterm);
    let _ = sipp.wait();
    let warning = events(&sipterm).into_iter().find(|e| {
        is(e, "log")
            && e["level"] == "warn"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("refused our BYE with 481"))
    });
    assert!(warning.is_some(), "{}", sipterm.report());
}
