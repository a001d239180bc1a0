//! Proves the media-test tools before sipterm uses them: the lossy RTP relay, baresip as a
//! second softphone, DTMF from sipp (a generated RFC 4733 pcap), the PCMA tone call, WAV
//! reading and CPU time. Peers on both ends are sipp, baresip or raw sockets.

mod support;

use support::audio::assert_tone;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use support::baresip::{parse_netstring, Answer};
use support::capture::{decode_audio, parse_rtp, read_pcap, RtpPacket};
use support::cpu::{clock_ticks_per_second, cpu_time, try_cpu_time, CpuMeter};
use support::dtmf::{dtmf_digits, dtmf_events, dtmf_rtp_stream, write_dtmf_pcap, DtmfStream};
use support::ports::{free_udp_port_block, ScratchDir};
use support::process::{assert_gone, ChildGuard};
use support::relay::{Impairment, RtpRelay, RELAY_IP};
use support::sipp::{spawn_registered_uas, Sipp};
use support::wav::{parse_wav, write_wav, Wav};
use support::{rms_dbfs, Baresip, BaresipConfig, Kamailio, RtpCapture, Tone};

const ALICE: (&str, &str) = ("alice", "wonderland");
const BOB: (&str, &str) = ("bob", "builder");
const LONG: Duration = Duration::from_secs(20);

fn rtp_packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend(seq.to_be_bytes());
    p.extend((u32::from(seq) * 160).to_be_bytes());
    p.extend(0x1234_5678u32.to_be_bytes());
    p.extend([0xffu8; 160]);
    p
}

fn seq_of(datagram: &[u8]) -> u16 {
    u16::from_be_bytes([datagram[2], datagram[3]])
}

/// Sequence numbers missing from `got` among `0..sent`, and how many arrived after a later one.
fn missing_and_late(got: &[u16], sent: u16) -> (Vec<u16>, u64) {
    let missing = (0..sent).filter(|s| !got.contains(s)).collect();
    let mut late = 0;
    let mut highest = None;
    for &seq in got {
        match highest {
            Some(h) if seq < h => late += 1,
            _ => highest = Some(seq),
        }
    }
    (missing, late)
}

#[test]
fn relay_impairs_one_way_returns_the_other_and_counts_exactly() {
    const SENT: u16 = 2000;
    let port = free_udp_port_block(2);
    let target = UdpSocket::bind(("127.0.0.1", port)).expect("bind the stand-in for sipterm");
    target
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let impairment = Impairment {
        loss: 0.05,
        reorder: 0.03,
        seed: 42,
    };
    let relay = RtpRelay::in_front_of(port, impairment);
    assert_eq!(relay.listen_addr(), SocketAddr::from((RELAY_IP, port)));
    // Before any peer has sent, there is nowhere to return datagrams to.
    target.send_to(b"too early", relay.listen_addr()).unwrap();
    assert!(support::wait_until(Duration::from_secs(2), || relay
        .counts()
        .unroutable
        == 1));
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();

    // Read as it arrives (a socket buffer would not hold the whole burst).
    let receiver = {
        let target = target.try_clone().unwrap();
        let relay_addr = relay.listen_addr();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = target.recv_from(&mut buf) {
                assert_eq!(from, relay_addr, "the relay forwards from its own socket");
                got.push(seq_of(&buf[..n]));
            }
            got
        })
    };
    let mut buf = [0u8; 2048];
    for seq in 0..SENT {
        peer.send_to(&rtp_packet(seq), relay.listen_addr()).unwrap();
        if seq % 20 == 19 {
            // Paced like audio, only faster, so no socket buffer overflows.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert!(relay.wait_quiet(Duration::from_millis(200), LONG));
    let got = receiver.join().expect("the receiving thread");
    let counts = relay.counts();
    assert_eq!(counts.received, u64::from(SENT));
    assert_eq!(counts.forwarded + counts.dropped, counts.received);
    assert_eq!(got.len() as u64, counts.forwarded, "{counts:?}");
    let (missing, late) = missing_and_late(&got, SENT);
    assert_eq!(missing, counts.dropped_seqs);
    assert_eq!(late, counts.reordered);
    let (low, high) = (*got.iter().min().unwrap(), *got.iter().max().unwrap());
    let inside = counts.dropped_seqs.iter().filter(|&&s| low < s && s < high);
    assert_eq!(counts.detectable_losses, inside.count() as u64);
    let loss = counts.dropped as f64 / f64::from(SENT);
    let reorder = counts.reordered as f64 / f64::from(SENT);
    assert!((0.03..0.07).contains(&loss), "loss {loss}");
    assert!((0.015..0.045).contains(&reorder), "reordering {reorder}");

    // The way back: unimpaired, to the last peer, from the relay's address.
    for seq in 0..50 {
        target
            .send_to(&rtp_packet(seq), relay.listen_addr())
            .unwrap();
    }
    let mut back = 0;
    while back < 50 {
        let (n, from) = peer.recv_from(&mut buf).expect("a returned datagram");
        assert_eq!(from, relay.listen_addr());
        assert_eq!(seq_of(&buf[..n]), back);
        back += 1;
    }
    assert_eq!(relay.returned(), 50);
    assert_eq!(relay.peer(), Some(peer.local_addr().unwrap()));

    // The same seed and traffic drop the same packets.
    drop(relay);
    let again = RtpRelay::in_front_of(port, impairment);
    for seq in 0..SENT {
        peer.send_to(&rtp_packet(seq), again.listen_addr()).unwrap();
        if seq % 20 == 19 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert!(again.wait_quiet(Duration::from_millis(200), LONG));
    assert_eq!(again.counts().dropped_seqs, counts.dropped_seqs);
    assert_eq!(again.counts().reordered_seqs, counts.reordered_seqs);
}

#[test]
fn relay_in_a_sipp_call_delivers_exactly_what_it_forwarded() {
    let started = Instant::now();
    let kamailio = Kamailio::start(&[ALICE, BOB]);
    let uas = spawn_registered_uas(
        &kamailio,
        BOB.0,
        BOB.1,
        Sipp::uas("uas_answer.xml")
            .key("sdp_media_ip", RELAY_IP)
            .timeout(Duration::from_secs(40)),
    );
    let media_port = uas.media_port();
    let relay = RtpRelay::in_front_of(media_port, Impairment::loss(0.05, 7));
    let capture = RtpCapture::start(uas.media_port());
    let caller = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(BOB.0)
        .key("call_ms", 3000)
        .run();
    caller.assert_success();
    uas.wait().assert_success();
    assert!(relay.wait_quiet(Duration::from_millis(300), LONG));
    let packets = capture.stop();
    let counts = relay.counts();
    assert!(
        caller.messages.contains(&format!("c=IN IP4 {RELAY_IP}")),
        "the callee's SDP does not name the relay:\n{caller}"
    );
    assert!(counts.received >= 100, "{counts:?}");
    assert!(counts.dropped > 0, "{counts:?}");
    assert_eq!(packets.len() as u64, counts.forwarded, "{counts:?}");
    assert!(packets
        .iter()
        .all(|p| p.src == std::net::SocketAddrV4::new(RELAY_IP, media_port)));
    // Sequence numbers relative to the first packet captured (sipp's may wrap mid-call).
    let base = packets[0].seq;
    let rel = |seq: u16| i64::from(seq.wrapping_sub(base) as i16);
    let seqs: Vec<i64> = packets.iter().map(|p| rel(p.seq)).collect();
    let dropped: Vec<i64> = counts.dropped_seqs.iter().map(|&s| rel(s)).collect();
    let first = *dropped.iter().chain(&seqs).min().unwrap();
    let last = *dropped.iter().chain(&seqs).max().unwrap();
    let missing: Vec<i64> = (first..=last).filter(|s| !seqs.contains(s)).collect();
    assert_eq!(missing, dropped);
    // What a receiver's RFC 3550 count would give: the drops after the first and before the
    // last packet it got.
    let (low, high) = (*seqs.iter().min().unwrap(), *seqs.iter().max().unwrap());
    let inside = dropped.iter().filter(|&&s| low < s && s < high);
    assert_eq!(counts.detectable_losses, inside.count() as u64);
    assert_tone(
        &decode_audio(&packets),
        8000,
        1000.0,
        10.0,
        "tone through the relay",
    );
    eprintln!(
        "relay: {} received, {} forwarded, {} dropped ({:.1} %), {:?}",
        counts.received,
        counts.forwarded,
        counts.dropped,
        100.0 * counts.dropped as f64 / counts.received as f64,
        started.elapsed()
    );
}

#[test]
fn generated_dtmf_pcap_holds_each_key_once() {
    let dir = ScratchDir::new("dtmf-pcap");
    let stream = DtmfStream::new("1234#");
    let path = dir.join("dtmf.pcap");
    write_dtmf_pcap(&path, &stream);
    let packets: Vec<RtpPacket> = read_pcap(&path)
        .unwrap()
        .iter()
        .filter_map(parse_rtp)
        .collect();
    assert_eq!(packets.len(), dtmf_rtp_stream(&stream).len());
    let span = packets.last().unwrap().time - packets[0].time;
    assert!(
        span + Duration::from_millis(20) == stream.duration(),
        "{span:?} vs {:?}",
        stream.duration()
    );
    // One SSRC, consecutive sequence numbers.
    assert!(packets.iter().all(|p| p.ssrc == stream.ssrc));
    assert!(packets
        .windows(2)
        .all(|w| w[1].seq == w[0].seq.wrapping_add(1)));
    assert_eq!(dtmf_digits(&packets, 101), "1234#");
    for event in dtmf_events(&packets, 101) {
        assert!(event.marker && event.ended(), "{event:?}");
        assert_eq!(
            (event.duration, event.end_packets, event.volume),
            (960, 3, 10)
        );
    }
    assert_tone(
        &decode_audio(&packets),
        8000,
        1000.0,
        10.0,
        "audio between the events",
    );
}

#[test]
fn sipp_sends_rfc4733_digits_each_once() {
    let kamailio = Kamailio::start(&[BOB]);
    let uas = spawn_registered_uas(&kamailio, BOB.0, BOB.1, Sipp::uas("uas_answer.xml"));
    let capture = RtpCapture::start(uas.media_port());
    let caller = Sipp::uac("uac_dtmf.xml", kamailio.addr())
        .service(BOB.0)
        .spawn();
    let caller_media = std::net::SocketAddrV4::new([127, 0, 0, 1].into(), caller.media_port());
    caller.wait().assert_success();
    uas.wait().assert_success();
    let packets = capture.stop();
    // Sent from sipp's media port, where a symmetric-RTP peer answers.
    assert!(
        packets.iter().all(|p| p.src == caller_media),
        "{:?}",
        packets[0]
    );
    let events = dtmf_events(&packets, 101);
    assert_eq!(dtmf_digits(&packets, 101), "1234#", "{events:?}");
    for event in &events {
        assert!(event.ended() && event.duration == 960, "{event:?}");
    }
    assert!(packets.iter().all(|p| p.ssrc == packets[0].ssrc));
    assert_tone(
        &decode_audio(&packets),
        8000,
        1000.0,
        10.0,
        "audio around the digits",
    );
}

#[test]
fn pcma_only_call_carries_alaw_tone_both_ways() {
    let kamailio = Kamailio::start(&[BOB]);
    let uas = spawn_registered_uas(&kamailio, BOB.0, BOB.1, Sipp::uas("uas_answer_pcma.xml"));
    let to_callee = RtpCapture::start(uas.media_port());
    let caller = Sipp::uac("uac_tone_pcma.xml", kamailio.addr())
        .service(BOB.0)
        .key("call_ms", 2000)
        .spawn();
    let to_caller = RtpCapture::start(caller.media_port());
    let caller = caller.wait();
    caller.assert_success();
    uas.wait().assert_success();
    assert!(caller.messages.contains("m=audio") && caller.messages.contains("RTP/AVP 8 101"));
    assert!(
        !caller.messages.contains("RTP/AVP 0"),
        "PCMU offered:\n{caller}"
    );
    for (what, packets) in [
        ("to callee", to_callee.stop()),
        ("to caller", to_caller.stop()),
    ] {
        assert!(packets.len() >= 50, "{what}: {} packets", packets.len());
        assert!(
            packets
                .iter()
                .all(|p| p.payload_type == 8 && p.payload.len() == 160),
            "{what}: not all PCMA"
        );
        let samples = decode_audio(&packets);
        assert_tone(&samples, 8000, 1000.0, 10.0, what);
        let level = rms_dbfs(&samples);
        assert!(level > -12.0 && level < -3.0, "{what}: {level:.1} dBFS");
    }
}

#[test]
fn baresip_calls_baresip_over_opus_with_tones_and_dtmf() {
    let started = Instant::now();
    let a = Baresip::start(
        BaresipConfig::new("a")
            .codecs(&["opus/48000/2"])
            .tone(Tone::Sine(440))
            .record(true),
    );
    let b = Baresip::start(
        BaresipConfig::new("b")
            .codecs(&["opus/48000/2"])
            .tone(Tone::Sine(1000))
            .record(true),
    );
    let dirs = vec![a.dir().path().to_path_buf(), b.dir().path().to_path_buf()];
    let capture = RtpCapture::start_range(b.rtp_ports());
    eprintln!("two baresips up in {:?}", started.elapsed());
    a.dial(&b.uri());
    a.expect_event("CALL_ESTABLISHED", LONG);
    b.expect_event("CALL_ESTABLISHED", LONG);
    std::thread::sleep(Duration::from_millis(1500));
    a.send_dtmf("1234#");
    for key in "1234#".chars() {
        let event = b.expect_event("CALL_DTMF_START", LONG);
        assert_eq!(event["param"].as_str(), Some(key.to_string().as_str()));
    }
    std::thread::sleep(Duration::from_millis(500));
    a.hangup();
    a.expect_event("CALL_CLOSED", LONG);
    b.expect_event("CALL_CLOSED", LONG);
    assert_eq!(b.received_dtmf(), "1234#");

    let heard_by_a = a.received_audio().unwrap();
    let heard_by_b = b.received_audio().unwrap();
    for (what, wav, hz) in [
        ("a hears b", &heard_by_a, 1000.0),
        ("b hears a", &heard_by_b, 440.0),
    ] {
        assert_eq!((wav.rate, wav.channels), (48000, 2), "{what}");
        assert!(
            wav.duration_secs() > 1.5,
            "{what}: {:.2} s",
            wav.duration_secs()
        );
        assert_tone(&wav.channel(0), wav.rate, hz, 10.0, what);
    }

    let packets = capture.stop();
    let opus_pt = packets
        .iter()
        .find(|p| p.payload_type != 101)
        .map(|p| p.payload_type)
        .expect("audio packets to b");
    let events = dtmf_events(&packets, 101);
    assert_eq!(dtmf_digits(&packets, 101), "1234#", "{events:?}");
    // 180 ms, counted at 48 kHz although the SDP says telephone-event/8000.
    assert!(
        events
            .iter()
            .all(|e| e.duration == 8640 && e.end_packets == 3),
        "{events:?}"
    );
    eprintln!(
        "baresip opus call: opus PT {opus_pt}, telephone-event PT 101, events {:?}, {:?}",
        events
            .iter()
            .map(|e| (e.digit, e.duration, e.packets, e.end_packets))
            .collect::<Vec<_>>(),
        started.elapsed()
    );
    drop((a, b));
    assert_gone(&dirs);
}

#[test]
fn baresip_registers_and_calls_through_kamailio_with_pcmu_from_a_file() {
    let kamailio = Kamailio::start(&[ALICE, BOB]);
    let uas = spawn_registered_uas(&kamailio, BOB.0, BOB.1, Sipp::uas("uas_answer.xml"));
    let dir = ScratchDir::new("baresip-tone");
    let tone = dir.join("tone_700.wav");
    support::audio::write_tone_wav(&tone, 700.0, 10.0, 8000);
    let alice = Baresip::start(
        BaresipConfig::new(ALICE.0)
            .codecs(&["PCMU"])
            .tone(Tone::File(tone))
            .record(true)
            .answer(Answer::Manual)
            .registrar(kamailio.addr(), ALICE.0, ALICE.1),
    );
    alice.wait_registered(LONG).unwrap();
    assert!(!kamailio.contacts(ALICE.0).is_empty());
    let capture = RtpCapture::start(uas.media_port());
    alice.dial(&kamailio.uri(BOB.0));
    alice.expect_event("CALL_ESTABLISHED", LONG);
    std::thread::sleep(Duration::from_millis(2000));
    alice.hangup();
    alice.expect_event("CALL_CLOSED", LONG);
    uas.wait().assert_success();
    let packets = capture.stop();
    assert!(packets.iter().all(|p| p.payload_type == 0), "not all PCMU");
    assert_tone(
        &decode_audio(&packets),
        8000,
        700.0,
        10.0,
        "sipp hears baresip's file",
    );
    let heard = alice.received_audio().unwrap();
    assert_eq!((heard.rate, heard.channels), (8000, 1));
    assert_tone(&heard.channel(0), 8000, 1000.0, 10.0, "baresip hears sipp");
}

#[test]
fn sipp_calls_baresip_directly_and_it_answers_when_told() {
    let bob = Baresip::start(
        BaresipConfig::new(BOB.0)
            .codecs(&["PCMU", "opus/48000/2"])
            .tone(Tone::Silence)
            .record(true)
            .answer(Answer::Manual),
    );
    let caller = Sipp::uac("uac_tone.xml", bob.sip_addr())
        .service(BOB.0)
        .key("call_ms", 2000)
        .spawn();
    let to_caller = RtpCapture::start(caller.media_port());
    let incoming = bob.expect_event("CALL_INCOMING", LONG);
    assert_eq!(incoming["direction"], "incoming", "{incoming}");
    bob.accept();
    bob.expect_event("CALL_ESTABLISHED", LONG);
    let closed = bob.expect_event("CALL_CLOSED", LONG);
    caller.wait().assert_success();
    let packets = to_caller.stop();
    assert!(
        packets.len() >= 50,
        "{} packets from baresip",
        packets.len()
    );
    assert!(packets.iter().all(|p| p.payload_type == 0), "not all PCMU");
    let level = rms_dbfs(&decode_audio(&packets));
    assert!(level < -60.0, "baresip's silence at {level:.1} dBFS");
    let heard = bob.received_audio().unwrap();
    assert_tone(
        &heard.channel(0),
        heard.rate,
        1000.0,
        10.0,
        "baresip hears sipp",
    );
    // baresip's words for "the other side sent BYE".
    assert_eq!(closed["param"], "Connection reset by peer", "{closed}");
}

#[test]
fn wav_round_trip_and_unfinished_header() {
    let wav = Wav {
        rate: 48000,
        channels: 2,
        samples: (0..960).map(|i| i as i16 - 480).collect(),
    };
    let dir = ScratchDir::new("wav");
    let path = dir.join("x.wav");
    write_wav(&path, &wav).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    assert_eq!(parse_wav(&bytes).unwrap(), wav);
    assert_eq!(wav.channel(1)[..3], [-479, -477, -475]);
    assert_eq!(wav.frames(), 480);
    // A writer killed mid-call leaves a data size of 0: the samples are still read.
    bytes[40..44].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(parse_wav(&bytes).unwrap(), wav);
    assert!(parse_wav(b"RIFF\0\0\0\0WAVEjunk").is_err());
}

#[test]
fn netstrings_split_a_ctrl_tcp_stream() {
    let stream = b"5:hello,3:abc,2:x";
    let (first, used) = parse_netstring(stream).unwrap();
    assert_eq!((first.as_slice(), used), (&b"hello"[..], 8));
    let (second, used2) = parse_netstring(&stream[used..]).unwrap();
    assert_eq!((second.as_slice(), used2), (&b"abc"[..], 6));
    assert_eq!(parse_netstring(&stream[used + used2..]), None);
}

#[test]
fn cpu_time_counts_a_busy_process_and_not_an_idle_one() {
    assert_eq!(clock_ticks_per_second(), 100);
    let dir = ScratchDir::new("cpu");
    let mut busy = std::process::Command::new("sh");
    busy.arg("-c").arg("while :; do :; done");
    let busy = ChildGuard::spawn("busy", busy, dir.path());
    let mut idle = std::process::Command::new("sleep");
    idle.arg("30");
    let idle = ChildGuard::spawn("idle", idle, dir.path());
    let (busy_meter, idle_meter) = (CpuMeter::start(busy.pid()), CpuMeter::start(idle.pid()));
    std::thread::sleep(Duration::from_millis(1500));
    let (busy_use, idle_use) = (busy_meter.usage(), idle_meter.usage());
    eprintln!(
        "busy loop: {busy_use:?} ({:.2}); sleep: {idle_use:?}",
        busy_use.share()
    );
    // A one-thread loop cannot use more than the wall time (+ a tick of rounding); it gets
    // less on a loaded host, so the lower bound only proves the ticks are counted at all.
    assert!(
        busy_use.cpu > Duration::from_millis(150)
            && busy_use.cpu <= busy_use.wall + Duration::from_millis(20),
        "{busy_use:?}"
    );
    assert!(idle_use.cpu <= Duration::from_millis(50), "{idle_use:?}");
    assert!(cpu_time(busy.pid()) >= busy_use.cpu);
    assert_eq!(try_cpu_time(u32::MAX), None);
}
