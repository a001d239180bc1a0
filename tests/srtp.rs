//! SRTP with SDES keys (issue 11) against real peers: baresip with `mediaenc=srtp-mand` calls
//! sipterm through Kamailio, sipterm's leg over TLS; tones both ways, every SRTP and SRTCP
//! packet authenticated, and a capture of the media that shows no plain PCMU (the same
//! measure finds the tones in a plain call). sipp's INVITEs with bad `a=crypto` lines get 488
//! and sipterm keeps running.

mod support;

use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use support::audio::{assert_tone, tone_share, write_tone_wav};
use support::capture::parse_rtp;
use support::certs::TestCa;
use support::events::{events, is, wait_call_ended, wait_event, wait_registered};
use support::pcap::UdpDatagram;
use support::wav::read_wav;
use support::{
    decode_audio, free_udp_port_block, free_udp_tcp_port, Baresip, BaresipConfig, Kamailio,
    RtpCapture, RtpPacket, ScratchDir, Sipp, Sipterm, Tone,
};

const ALICE: (&str, &str) = ("alice", "wonderland");
/// What sipterm plays; what baresip plays.
const OUR_TONE: f64 = 440.0;
const PEER_TONE: f64 = 1000.0;
const WAIT: Duration = Duration::from_secs(20);
const CALL: Duration = Duration::from_secs(4);

/// Kamailio for alice, also on TLS with a certificate from a CA made for the test.
struct Registrar {
    kamailio: Kamailio,
    ca: TestCa,
    _dir: ScratchDir,
}

fn registrar() -> Registrar {
    let dir = ScratchDir::new("srtp-ca");
    let ca = TestCa::new(dir.path(), "srtp");
    let cert = ca.issue("registrar", &["IP:127.0.0.1", "DNS:localhost"], false);
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .tls(&cert.cert, &cert.key)
        .start();
    Registrar {
        kamailio,
        ca,
        _dir: dir,
    }
}

/// sipterm as alice at `sips:alice@127.0.0.1:<tls port>`: keys travel over TLS only.
fn alice(r: &Registrar, extra: &[&str]) -> (Sipterm, RangeInclusive<u16>) {
    let rtp = free_udp_port_block(20);
    let mut args: Vec<String> = vec![
        "--sip-uri".into(),
        format!("sips:{}@127.0.0.1:{}", ALICE.0, r.kamailio.tls_port()),
        "--password".into(),
        ALICE.1.into(),
        "--ca-file".into(),
        r.ca.cert.display().to_string(),
        "--port".into(),
        free_udp_tcp_port().to_string(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--rtp-ports".into(),
        format!("{rtp}-{}", rtp + 19),
        "--headless".into(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut sipterm = Sipterm::spawn(args);
    wait_registered(&mut sipterm);
    let started = events(&sipterm)
        .into_iter()
        .find(|e| is(e, "started"))
        .expect("a started event");
    assert_eq!(started["transport"], "TLS", "{started}");
    (sipterm, rtp..=rtp + 19)
}

/// What one call showed.
struct Call {
    started: serde_json::Value,
    ended: serde_json::Value,
    /// Media as it went over the wire, to sipterm and to baresip.
    to_us: Vec<UdpDatagram>,
    to_them: Vec<UdpDatagram>,
    /// Each side's recording of what it heard.
    heard_by_us: (Vec<i16>, u32),
    heard_by_them: (Vec<i16>, u32),
}

fn rtp_only(datagrams: &[UdpDatagram]) -> Vec<RtpPacket> {
    datagrams
        .iter()
        .filter(|d| !is_rtcp(&d.payload))
        .filter_map(parse_rtp)
        .collect()
}

/// RFC 5761 §4: RTCP packet types 200-204 sit where RTP has marker + payload type.
fn is_rtcp(payload: &[u8]) -> bool {
    payload.len() >= 8 && (200..=204).contains(&payload[1])
}

/// baresip (with `media_enc`, if any) calls alice through Kamailio; `CALL` later it hangs up.
fn baresip_calls(media_enc: Option<&str>, sipterm_extra: &[&str]) -> Call {
    let r = registrar();
    let dir = ScratchDir::new("srtp-call");
    let play = dir.join("tone440.wav");
    write_tone_wav(&play, OUR_TONE, 60.0, 8000);
    let record = dir.join("recordings");
    std::fs::create_dir_all(&record).unwrap();
    let mut extra = vec![
        "--audio",
        "null",
        "--play",
        play.to_str().unwrap(),
        "--record",
        record.to_str().unwrap(),
        "--codecs",
        "pcmu",
    ];
    extra.extend_from_slice(sipterm_extra);
    let (mut sipterm, our_rtp) = alice(&r, &extra);

    let mut config = BaresipConfig::new("bob")
        .codecs(&["PCMU"])
        .tone(Tone::Sine(PEER_TONE as u32))
        .record(true);
    if let Some(mode) = media_enc {
        config = config.media_enc(mode);
    }
    let baresip = Baresip::start(config);
    let to_us = RtpCapture::start_range(our_rtp);
    let to_them = RtpCapture::start_range(baresip.rtp_ports());

    // baresip reaches Kamailio over UDP; Kamailio reaches sipterm over its TLS flow.
    baresip.dial(&r.kamailio.uri(ALICE.0));
    let started = wait_event(&mut sipterm, "media_started", |e| is(e, "media_started"));
    baresip.expect_event("CALL_ESTABLISHED", WAIT);
    std::thread::sleep(CALL);
    baresip.hangup();
    let ended = wait_call_ended(&mut sipterm);
    baresip.expect_event("CALL_CLOSED", WAIT);
    let (to_us, to_them) = (to_us.stop_datagrams(), to_them.stop_datagrams());

    let ours = read_wav(Path::new(ended["media"]["recording"].as_str().unwrap())).unwrap();
    let theirs = baresip.received_audio().unwrap();
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(WAIT), 0, "{}", sipterm.report());
    Call {
        started,
        ended,
        to_us,
        to_them,
        heard_by_us: (ours.channel(0), ours.rate),
        heard_by_them: (theirs.channel(0), theirs.rate),
    }
}

/// SRTCP (RFC 3711 §3.4): E flag and index, then an 80-bit tag, after the RTCP.
fn is_srtcp(payload: &[u8]) -> bool {
    payload.len() >= 8 + 4 + 10 && payload[payload.len() - 14] & 0x80 != 0
}

/// The share of `hz` in the captured payloads read as plain PCMU.
fn wire_tone_share(datagrams: &[UdpDatagram], hz: f64) -> f64 {
    let pcm = decode_audio(&rtp_only(datagrams));
    tone_share(&pcm, 8000, hz)
}

/// The call's middle, past the start and before the hang-up.
fn middle(samples: &[i16], rate: u32) -> &[i16] {
    let from = (rate / 2) as usize;
    let to = (rate as usize * 3).min(samples.len());
    &samples[from.min(to)..to]
}

#[test]
fn baresip_srtp_mand_call_carries_tones_both_ways_and_no_plain_pcmu_on_the_wire() {
    let plain = baresip_calls(None, &["--srtp", "off"]);
    let secure = baresip_calls(Some("srtp-mand"), &[]);

    assert!(plain.started.get("srtp").is_none(), "{}", plain.started);
    assert_eq!(
        secure.started["srtp"], "AES_CM_128_HMAC_SHA1_80",
        "{}",
        secure.started
    );
    for (call, what) in [(&plain, "plain"), (&secure, "SRTP")] {
        let (us, rate) = &call.heard_by_us;
        assert_tone(
            middle(us, *rate),
            *rate,
            PEER_TONE,
            15.0,
            &format!("{what}: sipterm hears"),
        );
        let (them, rate) = &call.heard_by_them;
        assert_tone(
            middle(them, *rate),
            *rate,
            OUR_TONE,
            15.0,
            &format!("{what}: baresip hears"),
        );
        let media = &call.ended["media"];
        assert!(
            media["packets_received"].as_u64().unwrap() >= 100,
            "{what}: {media}"
        );
    }
    assert_eq!(
        plain.ended["media"]["packets_invalid"], 0,
        "{}",
        plain.ended
    );
    // baresip sends its first RTCP packet (an APP "PING") in the clear even with SRTP, and
    // its closing BYE too: those, and only those, fail authentication. Every SRTP packet and
    // every real SRTCP packet (E flag set) authenticated.
    let media = &secure.ended["media"];
    let failures = media["srtp_auth_failures"].as_u64().unwrap_or(0);
    let unprotected = secure
        .to_us
        .iter()
        .filter(|d| is_rtcp(&d.payload) && !is_srtcp(&d.payload))
        .count() as u64;
    eprintln!("📊 SRTP call: {failures} auth failures, {unprotected} plain RTCP from baresip");
    assert_eq!(media["packets_invalid"], failures, "{media}");
    assert!(failures <= unprotected, "{media}");

    // On the wire: the plain call's payloads are the tones; the SRTP call's are not, and no
    // packet's payload is μ-law silence either (0xff / 0x7f runs).
    let shares = |c: &Call| {
        (
            wire_tone_share(&c.to_us, PEER_TONE),
            wire_tone_share(&c.to_them, OUR_TONE),
        )
    };
    let (plain_in, plain_out) = shares(&plain);
    let (secure_in, secure_out) = shares(&secure);
    eprintln!(
        "📊 tone share on the wire, plain call: {plain_in:.3} to sipterm, {plain_out:.3} to \
         baresip; SRTP call: {secure_in:.4} / {secure_out:.4}"
    );
    assert!(
        plain_in > 0.5 && plain_out > 0.5,
        "the measure finds plain tones"
    );
    assert!(
        secure_in < 0.02 && secure_out < 0.02,
        "SRTP payloads must not be the tones"
    );
    for (datagrams, towards) in [(&secure.to_us, "sipterm"), (&secure.to_them, "baresip")] {
        let packets = rtp_only(datagrams);
        assert!(
            packets.len() >= 100,
            "{} SRTP packets to {towards}",
            packets.len()
        );
        let silent = packets
            .iter()
            .filter(|p| {
                p.payload
                    .iter()
                    .filter(|&&b| b == 0xff || b == 0x7f)
                    .count()
                    > 40
            })
            .count();
        assert_eq!(
            silent, 0,
            "payloads to {towards} that read as μ-law silence"
        );
    }
    // SRTCP flowed both ways (and, as packets_invalid says, authenticated at sipterm).
    assert!(
        secure.to_us.iter().any(|d| is_srtcp(&d.payload)),
        "no SRTCP to sipterm"
    );
    assert!(
        secure.to_them.iter().any(|d| is_srtcp(&d.payload)),
        "no SRTCP to baresip"
    );
}

#[test]
fn bad_crypto_lines_from_sipp_get_488_and_sipterm_carries_on() {
    let r = registrar();
    let (mut sipterm, _) = alice(&r, &["--audio", "null"]);
    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
    let cases = [
        (
            "RTP/SAVP",
            "1 AES_CM_128_HMAC_SHA1_80 inline:@@@@not*base64@@@@",
            "not valid base64",
        ),
        (
            "RTP/SAVP",
            &format!("1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}") as &str,
            "unknown crypto suite",
        ),
        (
            "RTP/SAVP",
            "1 AES_CM_128_HMAC_SHA1_80 inline:AAAAAAAAAAAAAAAAAAAAAA==",
            "has 16 bytes",
        ),
        (
            "RTP/AVP",
            "1 AES_CM_128_HMAC_SHA1_80 inline:AAAAAAAAAAAAAAAAAAAAAA==|2^31",
            "has 16 bytes",
        ),
    ];
    for (n, (proto, crypto, why)) in cases.iter().enumerate() {
        let run = Sipp::uac("uac_srtp_expect_488.xml", r.kamailio.addr())
            .service(ALICE.0)
            .key("proto", proto)
            .key("crypto1", crypto)
            // A second bad line: the first usable line would have been taken.
            .key("crypto2", "2 AES_CM_128_HMAC_SHA1_32 inline:AAAA")
            .run();
        assert!(run.success(), "case {n}: {run}\n{}", sipterm.report());
        let ended = wait_event(&mut sipterm, "the refused call's end", |e| {
            is(e, "call_ended") && e["call"] == (n as u64 + 1)
        });
        let reason = ended["reason"]["failed"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            reason.contains(why) || ended.to_string().contains(why),
            "case {n}: {ended}"
        );
    }
    // A plain offer (RTP/AVP, no a=crypto) while SRTP is mandatory: 488 too, saying why.
    let run = Sipp::uac("uac_expect_status.xml", r.kamailio.addr())
        .service(ALICE.0)
        .key("expected_status", 488)
        .run();
    assert!(run.success(), "plain offer: {run}\n{}", sipterm.report());
    let ended = wait_event(&mut sipterm, "the plain call's end", |e| {
        is(e, "call_ended") && e["call"] == (cases.len() as u64 + 1)
    });
    assert!(ended.to_string().contains("--srtp is mandatory"), "{ended}");
    let refused = events(&sipterm)
        .iter()
        .filter(|e| is(e, "call_ended"))
        .count();
    assert_eq!(refused, cases.len() + 1);
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(WAIT), 0, "{}", sipterm.report());
    assert!(
        !sipterm.stderr().contains("panicked"),
        "{}",
        sipterm.report()
    );
}

/// A call we place is encrypted too: sipterm (alice over TLS) calls bob, a baresip with
/// `srtp-mand` registered at Kamailio over UDP. Our offer is RTP/SAVP with our keys; baresip's
/// answer keys the other way; both tones cross, and no plain PCMU is on the wire.
#[test]
fn a_call_we_place_over_tls_is_srtp_both_ways() {
    let dir = ScratchDir::new("srtp-out-ca");
    let ca = TestCa::new(dir.path(), "srtp-out");
    let cert = ca.issue("registrar", &["IP:127.0.0.1", "DNS:localhost"], false);
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .user("bob", "builder")
        .tls(&cert.cert, &cert.key)
        .start();
    let r = Registrar {
        kamailio,
        ca,
        _dir: dir,
    };
    let baresip = Baresip::start(
        BaresipConfig::new("bob")
            .codecs(&["PCMU"])
            .tone(Tone::Sine(PEER_TONE as u32))
            .record(true)
            .media_enc("srtp-mand")
            .registrar(r.kamailio.addr(), "bob", "builder"),
    );
    baresip
        .wait_registered(WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", baresip.report()));

    let media = ScratchDir::new("srtp-out");
    let play = media.join("tone440.wav");
    write_tone_wav(&play, OUR_TONE, 60.0, 8000);
    let record = media.join("recordings");
    std::fs::create_dir_all(&record).unwrap();
    let to_them = RtpCapture::start_range(baresip.rtp_ports());
    let (mut sipterm, _) = alice(
        &r,
        &[
            "--call",
            "bob",
            "--duration",
            "4",
            "--audio",
            "null",
            "--play",
            play.to_str().unwrap(),
            "--record",
            record.to_str().unwrap(),
            "--codecs",
            "pcmu",
        ],
    );
    assert_eq!(sipterm.exit_code(WAIT), 0, "{}", sipterm.report());
    let to_them = to_them.stop_datagrams();
    let started = events(&sipterm)
        .into_iter()
        .find(|e| is(e, "media_started"))
        .expect("media_started");
    assert_eq!(started["srtp"], "AES_CM_128_HMAC_SHA1_80", "{started}");
    let ended = events(&sipterm)
        .into_iter()
        .find(|e| is(e, "call_ended"))
        .expect("call_ended");
    assert_eq!(ended["direction"], "outgoing", "{ended}");
    let ours = read_wav(Path::new(ended["media"]["recording"].as_str().unwrap())).unwrap();
    assert_tone(
        middle(&ours.channel(0), ours.rate),
        ours.rate,
        PEER_TONE,
        15.0,
        "sipterm hears baresip through SRTP",
    );
    let theirs = baresip.received_audio().unwrap();
    assert_tone(
        middle(&theirs.channel(0), theirs.rate),
        theirs.rate,
        OUR_TONE,
        15.0,
        "baresip hears sipterm through SRTP",
    );
    let share = wire_tone_share(&to_them, OUR_TONE);
    assert!(
        rtp_only(&to_them).len() >= 100 && share < 0.02,
        "SRTP to baresip: {} packets, tone share {share:.4}",
        rtp_only(&to_them).len()
    );
}
