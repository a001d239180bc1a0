//! Proves the integration-test harness against the real peers (Kamailio, sipp, dumpcap, sox)
//! before sipterm is involved: every scenario in tests/scenarios meets a sipp counterpart
//! through Kamailio, and every peer is gone after each test.

mod support;

use std::time::{Duration, Instant};

use support::audio::{alaw_to_linear, linear_to_ulaw, ulaw_to_linear};
use support::capture::{decode_audio, parse_pcap, parse_rtp, UdpDatagram};
use support::kamailio::{parse_contacts, Kamailio};
use support::ports::{free_udp_port_block, free_udp_tcp_port, ScratchDir};
use support::process::{assert_gone, pids_with_cmdline_containing, process_exists, ChildGuard};
use support::sipp::{register, spawn_registered_uas, unregister, Sipp, Transport};
use support::{dominant_frequency, rms_dbfs, wait_until, RtpCapture};

const ALICE: (&str, &str) = ("alice", "wonderland");
const BOB: (&str, &str) = ("bob", "builder");

fn kamailio() -> Kamailio {
    Kamailio::start(&[ALICE, BOB])
}

#[test]
fn kamailio_starts_answers_options_and_stops() {
    let started = Instant::now();
    let kamailio = kamailio();
    eprintln!("kamailio ready in {:?}", started.elapsed());
    assert!(
        kamailio.ping_udp(Duration::from_secs(2)),
        "no 200 to OPTIONS over UDP"
    );
    assert!(
        kamailio.ping_tcp(Duration::from_secs(2)),
        "no 200 to OPTIONS over TCP"
    );
    assert!(kamailio.contacts("alice").is_empty());
    assert!(
        kamailio.log().contains("OPTIONS"),
        "log:\n{}",
        kamailio.log()
    );
    let pid = kamailio.pid();
    let dir = kamailio.dir().path().to_path_buf();
    assert!(!pids_with_cmdline_containing(&dir.to_string_lossy()).is_empty());
    drop(kamailio);
    assert!(!process_exists(pid));
    assert_gone(std::slice::from_ref(&dir));
    assert!(!dir.exists() || std::env::var_os("SIPTERM_KEEP_TEST_DIRS").is_some());
}

#[test]
fn registers_with_right_password_and_unregisters() {
    let kamailio = kamailio();
    for (transport, port) in [(Transport::Udp, 40000), (Transport::Tcp, 40002)] {
        let run = register(&kamailio, ALICE.0, ALICE.1, port, transport);
        run.assert_success();
        let contacts = kamailio
            .wait_for_contacts(
                "alice",
                |c| c.iter().any(|c| c.contains(&format!(":{port}"))),
                Duration::from_secs(5),
            )
            .unwrap();
        assert!(
            contacts
                .iter()
                .any(|c| c.starts_with("sip:alice@127.0.0.1:")),
            "{contacts:?}"
        );
    }
    assert_eq!(kamailio.contacts("alice").len(), 2);
    assert!(kamailio.contacts("bob").is_empty());
    unregister(&kamailio, ALICE.0, ALICE.1, 40000, Transport::Udp).assert_success();
    let left = kamailio
        .wait_for_contacts("alice", |c| c.len() == 1, Duration::from_secs(5))
        .unwrap();
    assert!(left[0].contains(":40002"), "{left:?}");
}

#[test]
fn wrong_password_and_unknown_user_are_refused() {
    let kamailio = kamailio();
    for (user, password) in [("alice", "not-the-password"), ("mallory", "whatever")] {
        let run = Sipp::uac("uac_register_expect_fail.xml", kamailio.addr())
            .service(user)
            .auth(user, password)
            .key("contact_port", 40010)
            .run();
        run.assert_success();
        assert_eq!(run.received_statuses(), vec![401, 403], "{run}");
        assert!(kamailio.contacts(user).is_empty());
    }
    // And the plain register scenario fails with a wrong password.
    let run = register(&kamailio, "bob", "wrong", 40012, Transport::Udp);
    assert!(!run.success(), "registered with a wrong password:\n{run}");
    assert!(kamailio.contacts("bob").is_empty());
    assert!(kamailio.log().contains("auth failed for 'alice'"));
}

fn tone_call(transport: Transport) {
    let started = Instant::now();
    let kamailio = kamailio();
    let uas = spawn_registered_uas(
        &kamailio,
        BOB.0,
        BOB.1,
        Sipp::uas("uas_answer.xml")
            .transport(transport)
            .timeout(Duration::from_secs(40)),
    );
    let capture = RtpCapture::start(uas.media_port());
    let caller = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service("bob")
        .transport(transport)
        .key("call_ms", 3000)
        .timeout(Duration::from_secs(30))
        .spawn();
    let dirs = vec![
        kamailio.dir().path().to_path_buf(),
        uas.dir().to_path_buf(),
        caller.dir().to_path_buf(),
    ];
    let caller = caller.wait();
    caller.assert_success();
    let callee = uas.wait();
    callee.assert_success();
    let packets = capture.stop();
    assert!(
        packets.len() >= 100,
        "only {} RTP packets reached the callee",
        packets.len()
    );
    assert!(packets
        .iter()
        .all(|p| p.payload_type == 0 && p.payload.len() == 160));
    let samples = decode_audio(&packets);
    let frequency = dominant_frequency(&samples, 8000);
    assert!(
        (frequency - 1000.0).abs() <= 20.0,
        "dominant frequency {frequency} Hz"
    );
    let level = rms_dbfs(&samples);
    assert!(level > -12.0 && level < -3.0, "tone level {level} dBFS");
    // Both legs went through the proxy with record-routing.
    assert!(caller.messages.contains("Record-Route:"), "{caller}");
    assert_eq!(
        callee.received_requests(),
        vec!["INVITE", "ACK", "BYE"],
        "{callee}"
    );
    drop(kamailio);
    assert_gone(&dirs);
    eprintln!(
        "{transport:?} call: {} packets, {frequency} Hz, {level:.1} dBFS, {:?}",
        packets.len(),
        started.elapsed()
    );
}

#[test]
fn call_through_proxy_carries_tone_over_udp() {
    tone_call(Transport::Udp);
}

#[test]
fn call_through_proxy_carries_tone_over_tcp() {
    tone_call(Transport::Tcp);
}

/// Runs `uac` against a registered sipp running `uas` (both given `keys`); both must succeed.
fn pair(uac: &str, uas: &str, keys: &[(&str, &str)]) -> (support::SippRun, support::SippRun) {
    let kamailio = kamailio();
    let mut callee = Sipp::uas(uas);
    let mut caller = Sipp::uac(uac, kamailio.addr()).service("bob");
    for (k, v) in keys {
        caller = caller.key(k, v);
        callee = callee.key(k, v);
    }
    let callee = spawn_registered_uas(&kamailio, BOB.0, BOB.1, callee);
    let dirs = vec![
        kamailio.dir().path().to_path_buf(),
        callee.dir().to_path_buf(),
    ];
    let caller = caller.run();
    caller.assert_success();
    let callee = callee.wait();
    callee.assert_success();
    drop(kamailio);
    assert_gone(&dirs);
    (caller, callee)
}

#[test]
fn cancel_reaches_a_ringing_callee() {
    let (caller, callee) = pair("uac_cancel.xml", "uas_ring_no_answer.xml", &[]);
    assert_eq!(caller.received_statuses().last(), Some(&487), "{caller}");
    assert_eq!(
        callee.received_requests(),
        vec!["INVITE", "CANCEL", "ACK"],
        "{callee}"
    );
}

#[test]
fn busy_callee_gives_486() {
    pair("uac_expect_busy.xml", "uas_busy.xml", &[]);
    pair(
        "uac_expect_status.xml",
        "uas_busy.xml",
        &[("expected_status", "486")],
    );
}

#[test]
fn expect_status_fails_on_another_code() {
    let kamailio = kamailio();
    let callee = spawn_registered_uas(&kamailio, BOB.0, BOB.1, Sipp::uas("uas_busy.xml"));
    let caller = Sipp::uac("uac_expect_status.xml", kamailio.addr())
        .service("bob")
        .key("expected_status", 603)
        .run();
    assert!(!caller.success(), "486 accepted as 603:\n{caller}");
    assert!(
        caller
            .actions
            .contains("expected final response 603, got 486"),
        "{caller}"
    );
    callee.wait().assert_success();
}

#[test]
fn unsupported_codec_offer_gets_488() {
    pair("uac_expect_488.xml", "uas_reject_488.xml", &[]);
}

#[test]
fn late_offer_call() {
    let (caller, callee) = pair(
        "uac_late_offer.xml",
        "uas_late_offer.xml",
        &[("call_ms", "500")],
    );
    assert!(
        caller.actions.contains("late offer in the 200: m=audio"),
        "{caller}"
    );
    assert!(
        callee.actions.contains("answer in the ACK: m=audio"),
        "{callee}"
    );
}

#[test]
fn hold_and_resume_with_reinvites() {
    let (caller, callee) = pair(
        "uac_reinvite_hold.xml",
        "uas_answer_reinvite.xml",
        &[("call_ms", "500"), ("hold_ms", "500")],
    );
    assert_eq!(
        callee.received_requests(),
        vec!["INVITE", "ACK", "INVITE", "ACK", "INVITE", "ACK", "BYE"]
    );
    assert!(caller.messages.contains("a=sendonly") && caller.messages.contains("a=recvonly"));
}

#[test]
fn callee_hangs_up() {
    let (caller, _) = pair(
        "uac_wait_bye.xml",
        "uas_answer_hangup.xml",
        &[("call_ms", "1000")],
    );
    assert_eq!(caller.received_requests(), vec!["BYE"], "{caller}");
}

#[test]
fn options_reach_the_registered_user() {
    pair("uac_options.xml", "uas_options.xml", &[]);
}

#[test]
fn unknown_callee_gets_404() {
    let kamailio = kamailio();
    let run = Sipp::uac("uac_expect_status.xml", kamailio.addr())
        .service("nobody")
        .key("expected_status", 404)
        .run();
    run.assert_success();
}

#[test]
fn child_guard_kills_on_drop_even_if_term_is_ignored() {
    let dir = ScratchDir::new("guard");
    let mut command = std::process::Command::new("sh");
    command.arg("-c").arg(format!(
        "trap '' TERM; sleep 60 & wait; # {}",
        dir.path().display()
    ));
    let guard = ChildGuard::spawn("stubborn", command, dir.path());
    let pid = guard.pid();
    let started = Instant::now();
    drop(guard);
    assert!(!process_exists(pid));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_gone(&[dir.path().to_path_buf()]);
}

#[test]
fn capture_sees_rtp_and_skips_the_rest() {
    let port = free_udp_port_block(2);
    let capture = RtpCapture::start(port);
    let mut rtp = vec![
        0x80u8, 0x00, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xde, 0xad, 0xbe, 0xef,
    ];
    rtp.extend(std::iter::repeat_n(linear_to_ulaw(1000), 160));
    // CSRC count 1, extension of one word, padding of 3 bytes, marker, payload type 8.
    let mut fancy = vec![
        0xb1u8, 0x88, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7, 0, 0, 0, 9, 0xbe, 0xde, 0, 1, 1, 2, 3, 4,
    ];
    fancy.extend([0xd5, 0xd5, 0, 0, 3]);
    support::capture::send_udp(port, &rtp);
    support::capture::send_udp(port, b"not rtp at all");
    support::capture::send_udp(port, &[0x81, 200, 0, 6, 0, 0, 0, 1]); // RTCP SR header
    support::capture::send_udp(port, &fancy);
    support::capture::send_udp(port + 1, &rtp); // another port
    std::thread::sleep(Duration::from_millis(200));
    let packets = capture.stop();
    assert_eq!(packets.len(), 2, "{packets:?}");
    assert_eq!(
        (
            packets[0].payload_type,
            packets[0].seq,
            packets[0].timestamp
        ),
        (0, 0x1234, 320)
    );
    assert_eq!(packets[0].ssrc, 0xdeadbeef);
    assert_eq!(packets[0].payload.len(), 160);
    let p = &packets[1];
    assert_eq!(
        (p.payload_type, p.marker, p.ssrc, p.csrc.clone()),
        (8, true, 7, vec![9])
    );
    assert_eq!(p.payload, vec![0xd5, 0xd5]);
}

#[test]
fn pcap_parser_handles_link_types_and_byte_orders() {
    let udp_payload = [0x80u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff];
    let ipv4 = {
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        let total = (20 + 8 + udp_payload.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend(5000u16.to_be_bytes());
        ip.extend(6000u16.to_be_bytes());
        ip.extend(((8 + udp_payload.len()) as u16).to_be_bytes());
        ip.extend([0, 0]);
        ip.extend(udp_payload);
        ip
    };
    let frames: Vec<(u32, Vec<u8>)> = vec![
        (1, [vec![0; 12], vec![0x08, 0x00], ipv4.clone()].concat()),
        (113, [vec![0; 14], vec![0x08, 0x00], ipv4.clone()].concat()),
        (276, [vec![0x08, 0x00], vec![0; 18], ipv4.clone()].concat()),
        (101, ipv4.clone()),
    ];
    for (link, frame) in frames {
        for little in [true, false] {
            let w32 = |v: u32| {
                if little {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                }
            };
            let w16 = |v: u16| {
                if little {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                }
            };
            let mut file = Vec::new();
            file.extend(w32(0xa1b2c3d4));
            file.extend(w16(2));
            file.extend(w16(4));
            file.extend(w32(0));
            file.extend(w32(0));
            file.extend(w32(65535));
            file.extend(w32(link));
            file.extend(w32(10));
            file.extend(w32(500));
            file.extend(w32(frame.len() as u32));
            file.extend(w32(frame.len() as u32));
            file.extend(&frame);
            file.extend([1, 2, 3]); // a record cut short
            let datagrams: Vec<UdpDatagram> = parse_pcap(&file).unwrap();
            assert_eq!(datagrams.len(), 1, "link type {link}");
            let d = &datagrams[0];
            assert_eq!(
                (d.src.port(), d.dst.port(), d.payload.as_slice()),
                (5000, 6000, &udp_payload[..])
            );
            assert_eq!(d.time, Duration::from_micros(10_000_500));
            let rtp = parse_rtp(d).unwrap();
            assert_eq!(
                (rtp.seq, rtp.ssrc, rtp.payload.as_slice()),
                (1, 1, &[0xff][..])
            );
        }
    }
    assert!(parse_pcap(&[
        0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    ])
    .is_err());
}

#[test]
fn g711_and_tone_analysis() {
    // Reference points of ITU-T G.711.
    assert_eq!(ulaw_to_linear(0xff), 0);
    assert_eq!(ulaw_to_linear(0x7f), 0);
    assert_eq!(ulaw_to_linear(0x00), -32124);
    assert_eq!(ulaw_to_linear(0x80), 32124);
    assert_eq!(alaw_to_linear(0xd5), 8);
    assert_eq!(alaw_to_linear(0x55), -8);
    assert_eq!(alaw_to_linear(0xaa), 32256);
    assert_eq!(alaw_to_linear(0x2a), -32256);
    for sample in [-32000i16, -1000, -10, 0, 10, 1000, 32000] {
        let back = ulaw_to_linear(linear_to_ulaw(sample));
        assert!(
            (i32::from(back) - i32::from(sample)).abs() <= (i32::from(sample).abs() / 16).max(8),
            "{sample} -> {back}"
        );
    }
    for frequency in [350.0, 1000.0, 2750.0] {
        let samples: Vec<i16> = (0..8000)
            .map(|i| {
                (8000.0 * (2.0 * std::f64::consts::PI * frequency * f64::from(i) / 8000.0).sin())
                    as i16
            })
            .collect();
        let found = dominant_frequency(&samples, 8000);
        assert!(
            (found - frequency).abs() <= 2.0,
            "{frequency} Hz measured as {found} Hz"
        );
        let level = rms_dbfs(&samples);
        assert!(
            (level - (20.0 * (8000.0 / 32768.0f64).log10() - 3.01)).abs() < 0.1,
            "{level}"
        );
    }
    assert_eq!(rms_dbfs(&[0; 100]), f64::NEG_INFINITY);

    // The tone sipp streams, as made by sox.
    let dir = ScratchDir::new("tone");
    let path = dir.join("tone.ulaw");
    support::audio::write_tone_ulaw(&path, 1000.0, 1.0);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 8000);
    let samples = support::audio::decode_ulaw(&bytes);
    assert!((dominant_frequency(&samples, 8000) - 1000.0).abs() < 2.0);
}

#[test]
fn ports_are_free_for_both_transports() {
    let both = (0..5).find_map(|_| {
        let port = free_udp_tcp_port();
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port)).ok()?;
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port)).ok()?;
        Some((udp, tcp))
    });
    assert!(both.is_some(), "no port free for UDP and TCP in 5 rounds");
    // The block was free a moment ago; a test running beside this one may bind an ephemeral
    // port inside it before we do, so a few rounds are allowed, and one must hold all four.
    let held = (0..5).find_map(|_| {
        let base = free_udp_port_block(4);
        assert_eq!(base % 2, 0);
        (base..base + 4)
            .map(|p| std::net::UdpSocket::bind(("127.0.0.1", p)))
            .collect::<Result<Vec<_>, _>>()
            .ok()
    });
    assert!(held.is_some(), "no free block of 4 UDP ports in 5 rounds");
    assert_eq!(
        parse_contacts("error: 500 - AOR not found in location table"),
        Vec::<String>::new()
    );
    let sample = "Contact: {\n Address: sip:a@127.0.0.1:1\n Expires: 60\n}\nContact: {\n Address: sip:a@127.0.0.1:2\n Expires: expired\n}";
    assert_eq!(
        parse_contacts(sample),
        vec!["sip:a@127.0.0.1:1".to_string()]
    );
}

#[test]
fn contacts_disappear_when_they_expire() {
    let kamailio = kamailio();
    let run = Sipp::uac("uac_register.xml", kamailio.addr())
        .service("alice")
        .auth(ALICE.0, ALICE.1)
        .key("contact_port", 40020)
        .key("expires", 2)
        .run();
    run.assert_success();
    assert!(run.messages.contains("expires=2"), "{run}");
    kamailio
        .wait_for_contacts("alice", |c| c.len() == 1, Duration::from_secs(5))
        .unwrap();
    kamailio
        .wait_for_contacts("alice", |c| c.is_empty(), Duration::from_secs(15))
        .unwrap();
}

#[test]
fn max_expires_caps_the_granted_lifetime() {
    let kamailio = Kamailio::builder()
        .user("alice", "pw")
        .max_expires(5)
        .start();
    let run = register(&kamailio, "alice", "pw", 40030, Transport::Udp);
    run.assert_success();
    assert!(run.messages.contains("expires=5"), "{run}");
}

#[test]
fn sipp_gives_up_at_its_timeout() {
    let started = Instant::now();
    let run = Sipp::uas("uas_answer.xml")
        .timeout(Duration::from_secs(2))
        .run();
    assert!(!run.success(), "{run}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    eprintln!(
        "idle sipp UAS with -timeout 2s: exit code {:?}",
        run.exit_code()
    );
}

#[test]
fn sipterm_runner_waits_for_output_and_interrupts() {
    let script = "echo registered; trap 'echo bye; exit 0' INT; while :; do sleep 0.05; done";
    let mut program =
        support::Sipterm::spawn_program(std::path::Path::new("/bin/sh"), ["-c", script]);
    program
        .wait_for_stdout("registered", Duration::from_secs(5))
        .unwrap();
    assert!(program
        .wait_for_stdout("never printed", Duration::from_millis(200))
        .is_err());
    program.interrupt();
    assert_eq!(program.exit_code(Duration::from_secs(5)), 0);
    assert!(program.stdout().contains("bye"));
}

#[test]
fn several_calls_at_a_rate() {
    let kamailio = kamailio();
    let uas = spawn_registered_uas(
        &kamailio,
        BOB.0,
        BOB.1,
        Sipp::uas("uas_answer.xml").calls(10),
    );
    let started = Instant::now();
    let caller = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service("bob")
        .calls(10)
        .rate(5.0, 1000)
        .limit(10)
        .key("call_ms", 1000)
        .run();
    caller.assert_success();
    uas.wait().assert_success();
    assert!(caller.screen.contains("Successful call"), "{caller}");
    eprintln!("10 calls at 5 cps: {:?}", started.elapsed());
}

#[test]
fn kamailio_keeps_a_sip_trace() {
    let kamailio = kamailio();
    register(&kamailio, ALICE.0, ALICE.1, 40040, Transport::Udp).assert_success();
    assert!(
        wait_until(Duration::from_secs(5), || kamailio
            .sip_trace()
            .contains("SIP/2.0 200 OK")),
        "trace:\n{}",
        kamailio.sip_trace()
    );
    let trace = kamailio.sip_trace();
    assert!(trace.contains("REGISTER sip:127.0.0.1"), "{trace}");
    assert!(
        trace.contains("WWW-Authenticate: Digest realm=\"sipterm.test\""),
        "{trace}"
    );
}

#[test]
fn peers_are_stopped_when_a_test_panics() {
    let mut dirs = Vec::new();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let kamailio = kamailio();
        let uas = spawn_registered_uas(&kamailio, BOB.0, BOB.1, Sipp::uas("uas_answer.xml"));
        let capture = RtpCapture::start(uas.media_port());
        dirs.push(kamailio.dir().path().to_path_buf());
        dirs.push(uas.dir().to_path_buf());
        dirs.push(capture.dir().path().to_path_buf());
        panic!("a test failing with its peers up");
    }));
    assert!(outcome.is_err());
    assert_eq!(dirs.len(), 3);
    assert_gone(&dirs);
}

// The callees sipterm's own calls meet (tests/outgoing.rs), each against a sipp caller first.

#[test]
fn early_media_callee_sends_183_with_sdp_and_rtp_before_200() {
    let kamailio = kamailio();
    let callee = spawn_registered_uas(&kamailio, BOB.0, BOB.1, Sipp::uas("uas_early_media.xml"));
    let media_port = free_udp_port_block(4);
    let capture = RtpCapture::start(media_port);
    let caller = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service("bob")
        .key("call_ms", 1000)
        .media_port(media_port)
        .run();
    caller.assert_success();
    callee.wait().assert_success();
    let packets = capture.stop();
    let statuses = caller.received_statuses();
    let early = statuses.iter().position(|s| *s == 183);
    let answer = statuses.iter().position(|s| *s == 200);
    assert!(early.is_some() && early < answer, "{statuses:?}\n{caller}");
    assert!(
        caller.messages.contains("183 Session Progress") && caller.messages.contains("m=audio"),
        "{caller}"
    );
    // 1.5 s before the answer and 1 s after it: well over 100 packets of tone.
    assert!(
        packets.len() > 100,
        "{} RTP packets reached the caller",
        packets.len()
    );
    let f = dominant_frequency(&decode_audio(&packets), 8000);
    assert!((f - 1000.0).abs() < 20.0, "{f} Hz");
}

#[test]
fn reject_status_callee_answers_each_listed_code() {
    // Not 503 here: a proxy turns a 503 from downstream into 500 (RFC 3261 16.7, step 6).
    for status in ["404", "480", "603"] {
        let (caller, _) = pair(
            "uac_expect_status.xml",
            "uas_reject_status.xml",
            &[("expected_status", status)],
        );
        let got = caller.received_statuses();
        assert_eq!(
            got.last().map(u16::to_string).as_deref(),
            Some(status),
            "{caller}"
        );
    }
}

#[test]
fn header_checking_callee_wants_its_x_header() {
    pair(
        "uac_x_header.xml",
        "uas_answer_check_headers.xml",
        &[("x_value", "case-42"), ("call_ms", "500")],
    );
    let uas = Sipp::uas("uas_answer_check_headers.xml")
        .key("x_value", "case-42")
        .timeout(Duration::from_secs(5))
        .spawn();
    let remote = std::net::SocketAddr::from(([127, 0, 0, 1], uas.local_port()));
    let caller = Sipp::uac("uac_tone.xml", remote)
        .timeout(Duration::from_secs(5))
        .run();
    let callee = uas.wait();
    assert!(
        !callee.success(),
        "no X-Test-Case, yet the callee passed:\n{callee}"
    );
    assert!(caller.received_statuses().contains(&400), "{caller}");
}

#[test]
fn forking_callee_answers_twice_and_wants_the_second_branch_hung_up() {
    let uas = Sipp::uas("uas_fork_two_200.xml").spawn();
    let remote = std::net::SocketAddr::from(([127, 0, 0, 1], uas.local_port()));
    let caller = Sipp::uac("uac_fork.xml", remote).key("call_ms", 500).run();
    caller.assert_success();
    let callee = uas.wait();
    callee.assert_success();
    assert_eq!(
        callee.received_requests(),
        vec!["INVITE", "ACK", "ACK", "BYE", "BYE"],
        "{callee}"
    );
    assert!(
        callee.actions.contains("BYE for branch B") && callee.actions.contains("BYE for branch A"),
        "{callee}"
    );
}

#[test]
fn transferring_callee_sends_refer_and_checks_both_notifies() {
    let (caller, callee) = pair(
        "uac_refer_target.xml",
        "uas_refer.xml",
        &[("call_ms", "500"), ("refer_to", "sip:carol@127.0.0.1:5999")],
    );
    assert!(
        caller
            .messages
            .contains("Refer-To: <sip:carol@127.0.0.1:5999>"),
        "{caller}"
    );
    assert_eq!(
        callee.received_requests(),
        vec!["INVITE", "ACK", "NOTIFY", "NOTIFY", "BYE"],
        "{callee}"
    );
    assert!(callee.actions.contains("SIP/2.0 100 Trying"), "{callee}");
}

#[test]
fn invite_auth_challenges_the_users_invites_only() {
    let kamailio = Kamailio::builder()
        .user(BOB.0, BOB.1)
        .user("sipp", "not-sent")
        .invite_auth()
        .start();
    // The callee is a user too, but only INVITEs from users are challenged.
    let callee = spawn_registered_uas(&kamailio, BOB.0, BOB.1, Sipp::uas("uas_answer.xml"));
    // uac_expect_status sends From: sipp, a user here, without credentials.
    Sipp::uac("uac_expect_status.xml", kamailio.addr())
        .service("bob")
        .key("expected_status", 407)
        .run()
        .assert_success();
    let trace = kamailio.sip_trace();
    assert!(
        trace.contains("407 Proxy Authentication Required"),
        "{trace}"
    );
    assert!(trace.contains("Proxy-Authenticate: Digest"), "{trace}");
    // A caller that is no user goes through unchallenged (uac_x_header: From sipp too, so
    // call from a Kamailio without that user).
    drop(callee);
    drop(kamailio);
    let kamailio = Kamailio::builder().user(BOB.0, BOB.1).invite_auth().start();
    let callee = spawn_registered_uas(&kamailio, BOB.0, BOB.1, Sipp::uas("uas_answer.xml"));
    Sipp::uac("uac_tone.xml", kamailio.addr())
        .service("bob")
        .key("call_ms", 500)
        .run()
        .assert_success();
    callee.wait().assert_success();
}

#[test]
fn declined_transfer_callee_wants_603_then_bye() {
    let (caller, callee) = pair(
        "uac_decline_refer.xml",
        "uas_refer_declined.xml",
        &[("call_ms", "300")],
    );
    assert!(
        caller.received_requests().contains(&"REFER".to_string()),
        "{caller}"
    );
    assert_eq!(
        callee.received_requests(),
        vec!["INVITE", "ACK", "BYE"],
        "{callee}"
    );
}

#[test]
fn redirecting_callee_sends_302_with_the_contact_given() {
    let (caller, _) = pair(
        "uac_expect_status.xml",
        "uas_redirect.xml",
        &[
            ("expected_status", "302"),
            ("redirect_to", "sip:carol@127.0.0.1:5999"),
        ],
    );
    assert!(
        caller
            .messages
            .contains("Contact: <sip:carol@127.0.0.1:5999>"),
        "{caller}"
    );
}

#[test]
fn authenticating_callee_takes_only_the_right_credentials() {
    for (password, ok) in [("secret", true), ("wrong", false)] {
        let uas = Sipp::uas("uas_auth_401.xml")
            .timeout(Duration::from_secs(10))
            .spawn();
        let remote = std::net::SocketAddr::from(([127, 0, 0, 1], uas.local_port()));
        let caller = Sipp::uac("uac_auth.xml", remote)
            .auth("carol", password)
            .key("call_ms", 300)
            .timeout(Duration::from_secs(10))
            .run();
        let callee = uas.wait();
        assert_eq!(callee.success(), ok, "password {password}:\n{callee}");
        assert_eq!(caller.success(), ok, "password {password}:\n{caller}");
        let valid = format!("credentials valid: {ok}");
        assert!(callee.actions.contains(&valid), "{callee}");
    }
}

/// One RTP datagram from 127.0.0.1:`src_port` to sipp's media port, captured at `at_ms`.
fn rtp_datagram(src_port: u16, ssrc: u32, seq: u16, timestamp: u32, at_ms: u64) -> UdpDatagram {
    let mut payload = vec![0x80, 0];
    payload.extend(seq.to_be_bytes());
    payload.extend(timestamp.to_be_bytes());
    payload.extend(ssrc.to_be_bytes());
    payload.extend([0xff; 160]);
    UdpDatagram {
        time: Duration::from_millis(1_000_000 + at_ms),
        src: std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, src_port),
        dst: std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 7000),
        payload,
    }
}

#[test]
fn load_wire_figures_count_skipped_and_dropped_frames() {
    use support::load::wire_figures;
    let mut datagrams = Vec::new();
    // Call A skips a send tick: sequence contiguous, the timestamp jumps by two frames.
    for i in 0..100u16 {
        let frame = u32::from(i) + u32::from(i >= 50);
        datagrams.push(rtp_datagram(4000, 1, i, 160 * frame, 20 * u64::from(frame)));
    }
    // Call B loses a packet on the way (a sequence gap), and one arrives twice; its
    // counters wrap in the middle of the call.
    for i in 0..100u16 {
        if i == 30 {
            continue;
        }
        let (seq, ts) = (
            65_500u16.wrapping_add(i),
            (u32::MAX - 8000).wrapping_add(160 * u32::from(i)),
        );
        let at = 20 * u64::from(i) + if i == 70 { 5 } else { 0 };
        datagrams.push(rtp_datagram(4002, 2, seq, ts, at));
        if i == 10 {
            datagrams.push(rtp_datagram(4002, 2, seq, ts, at));
        }
    }
    // Not RTP: left out.
    let mut junk = rtp_datagram(4004, 3, 0, 0, 0);
    junk.payload = b"hello".to_vec();
    datagrams.push(junk);
    datagrams.sort_by_key(|d| d.time);

    let wire = wire_figures(&datagrams);
    assert_eq!(wire.calls_with_rtp(), 2, "{:?}", wire.streams);
    let a = &wire.streams[0];
    assert_eq!(
        (a.src_port, a.packets, a.seq_gaps, a.frames_due),
        (4000, 100, 0, 101)
    );
    assert_eq!(a.frames_lost(), 1, "a skipped tick is a lost frame");
    let b = &wire.streams[1];
    assert_eq!((b.src_port, b.packets, b.distinct_seqs), (4002, 100, 99));
    assert_eq!((b.seq_gaps, b.frames_due, b.frames_lost()), (1, 100, 1));
    assert_eq!(
        (wire.max_lost(), wire.total_lost(), wire.total_seq_gaps()),
        (1, 2, 1)
    );
    // Pacing: A's skipped tick and B's lost packet leave 40 ms gaps, B's duplicate a 0 ms
    // one (each 20 ms off); B's late packet is 5 ms late and the next 5 ms early.
    assert_eq!(wire.pacing_dev(50.0), Some(Duration::ZERO));
    assert_eq!(wire.pacing_dev(99.0), Some(Duration::from_millis(20)));
    assert_eq!(wire.pacing_dev_us.iter().filter(|&&d| d == 5000).count(), 2);
    // Both start at 1 000 s; B ends 1.98 s later, A 2.0 s later: the window when both are
    // up, half a second trimmed at each end, is 1 000.5 s to 1 001.48 s.
    let window = wire
        .all_up_window()
        .expect("a window when both calls were up");
    assert_eq!(
        window,
        (
            Duration::from_millis(1_000_500),
            Duration::from_millis(1_001_480),
            2
        )
    );
}
