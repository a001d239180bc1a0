//! The media engine against real peers: recording, `--play`, PCMA, Opus with baresip, a lossy
//! and reordering path, DTMF both ways, garbage and foreign packets, and a machine without a
//! sound card. Every peer is on loopback and stopped by the harness.

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support::audio::{assert_tone, write_tone_wav};
use support::dtmf::{dtmf_digits, dtmf_events, dtmf_rtp_stream, DtmfStream};
use support::events::{events, is, wait_call_ended, wait_event, wait_registered};
use support::relay::{Impairment, RtpRelay, RELAY_IP};
use support::sipterm::{registered_args, registered_args_with_rtp_port, sip_port};
use support::wav::read_wav;
use support::{
    rms_dbfs, Baresip, BaresipConfig, Kamailio, RtpCapture, Sipp, Sipterm, Tone, Transport,
};

const ALICE: (&str, &str) = ("alice", "wonderland");

fn with_json(mut args: Vec<String>, extra: &[&str]) -> Vec<String> {
    args.push("--json".into());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn alice(kamailio: &Kamailio, extra: &[&str]) -> Sipterm {
    let args = registered_args(kamailio, ALICE.0, ALICE.1, Transport::Udp);
    Sipterm::spawn(with_json(args, extra))
}

fn call_alice(kamailio: &Kamailio, scenario: &str) -> Sipp {
    Sipp::uac(scenario, kamailio.addr()).service(ALICE.0)
}

fn recording_of(ended: &Value) -> std::path::PathBuf {
    ended["media"]["recording"]
        .as_str()
        .unwrap_or_else(|| panic!("no recording in {ended}"))
        .into()
}

fn a_440_hz_wav(dir: &Path) -> String {
    let wav = dir.join("tone440.wav");
    // 44.1 kHz, so sipterm must resample to the codec's 8 or 48 kHz.
    write_tone_wav(&wav, 440.0, 2.0, 44_100);
    wav.display().to_string()
}

#[test]
fn records_the_callers_tone_in_a_stereo_wav_as_long_as_the_call() {
    let kamailio = Kamailio::start(&[ALICE]);
    let dir = support::ScratchDir::new("recordings");
    let record = dir.path().display().to_string();
    let mut sipterm = alice(&kamailio, &["--audio", "null", "--record", &record]);
    wait_registered(&mut sipterm);
    let run = call_alice(&kamailio, "uac_tone.xml")
        .key("call_ms", 3000)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(&mut sipterm);
    let wav = read_wav(&recording_of(&ended)).unwrap();
    assert_eq!((wav.rate, wav.channels), (8000, 2));
    assert_tone(&wav.channel(0), 8000, 1000.0, 15.0, "left channel (remote)");
    let silent_right = rms_dbfs(&wav.channel(1));
    assert!(
        silent_right < -60.0,
        "right channel (sent silence) at {silent_right:.1} dBFS"
    );
    let call_ms = ended["duration_ms"].as_f64().unwrap();
    let wav_ms = wav.duration_secs() * 1000.0;
    assert!(
        (wav_ms - call_ms).abs() <= 100.0,
        "recording {wav_ms:.0} ms, call {call_ms:.0} ms"
    );
    let name = recording_of(&ended);
    let name = name.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.contains("sipp_at_127.0.0.1") && name.ends_with(".wav"),
        "{name}"
    );
}

#[test]
fn recording_is_valid_after_sigint_mid_call() {
    let kamailio = Kamailio::start(&[ALICE]);
    let dir = support::ScratchDir::new("recordings");
    let record = dir.path().display().to_string();
    let mut sipterm = alice(&kamailio, &["--audio", "null", "--record", &record]);
    wait_registered(&mut sipterm);
    let sipp = call_alice(&kamailio, "uac_wait_bye.xml").spawn();
    wait_event(&mut sipterm, "an active call", |e| {
        is(e, "call_state") && e["state"] == "active"
    });
    std::thread::sleep(Duration::from_millis(1500));
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(Duration::from_secs(20)), 0);
    let _ = sipp.wait();
    let ended = events(&sipterm)
        .into_iter()
        .find(|e| is(e, "call_ended"))
        .expect("call_ended before exit");
    let wav = read_wav(&recording_of(&ended)).unwrap();
    assert!(wav.duration_secs() >= 1.0, "{:.2} s", wav.duration_secs());
    assert_tone(&wav.channel(0), 8000, 1000.0, 15.0, "left channel (remote)");
}

#[test]
fn play_sends_the_wav_as_the_microphone_over_pcmu_and_pcma() {
    let kamailio = Kamailio::start(&[ALICE]);
    let dir = support::ScratchDir::new("play");
    let wav = a_440_hz_wav(dir.path());
    let mut sipterm = alice(&kamailio, &["--audio", "null", "--play", &wav]);
    wait_registered(&mut sipterm);
    for (scenario, pt) in [("uac_tone.xml", 0u8), ("uac_tone_pcma.xml", 8u8)] {
        let media_port = support::free_udp_port_block(4);
        let capture = RtpCapture::start(media_port);
        let run = call_alice(&kamailio, scenario)
            .key("call_ms", 2500)
            .media_port(media_port)
            .run();
        assert!(run.success(), "{run}\n{}", sipterm.report());
        let packets = capture.stop();
        assert!(
            packets.iter().filter(|p| p.payload_type == pt).count() > 80,
            "{scenario}: too few packets with PT {pt}"
        );
        let audio = support::decode_audio(&packets);
        assert_tone(&audio, 8000, 440.0, 15.0, scenario);
    }
}

#[test]
fn opus_call_with_baresip_carries_tones_both_ways() {
    let kamailio = Kamailio::start(&[ALICE]);
    let dir = support::ScratchDir::new("opus");
    let wav = a_440_hz_wav(dir.path());
    let record = dir.path().display().to_string();
    let (args, _) = registered_args_with_rtp_port(&kamailio, ALICE.0, ALICE.1, Transport::Udp);
    let port = sip_port(&args);
    let mut sipterm = Sipterm::spawn(with_json(
        args,
        &["--audio", "null", "--play", &wav, "--record", &record],
    ));
    wait_registered(&mut sipterm);
    let baresip = Baresip::start(
        BaresipConfig::new("bob")
            .codecs(&["opus/48000/2"])
            .tone(Tone::Sine(1000))
            .record(true),
    );
    baresip.dial(&format!("sip:alice@127.0.0.1:{port}"));
    baresip.expect_event("CALL_ESTABLISHED", Duration::from_secs(20));
    let started = wait_event(&mut sipterm, "media_started", |e| is(e, "media_started"));
    assert_eq!(started["codec"], "opus");
    std::thread::sleep(Duration::from_secs(3));
    baresip.hangup();
    let ended = wait_call_ended(&mut sipterm);

    let ours = read_wav(&recording_of(&ended)).unwrap();
    assert_eq!((ours.rate, ours.channels), (48000, 2));
    assert_tone(
        &ours.channel(0),
        48000,
        1000.0,
        15.0,
        "sipterm hears baresip",
    );
    let theirs = baresip.received_audio().unwrap();
    assert_tone(
        &theirs.channel(0),
        theirs.rate,
        440.0,
        15.0,
        "baresip hears sipterm",
    );
}

/// sipterm's dtmf events so far, as one string.
fn received_digits(sipterm: &Sipterm) -> String {
    events(sipterm)
        .iter()
        .filter(|e| is(e, "dtmf"))
        .filter_map(|e| e["digit"].as_str().map(str::to_owned))
        .collect()
}

/// Alice's sipterm with `extra` flags, registered, and the SIP port to call it at directly.
fn alice_with_port(kamailio: &Kamailio, extra: &[&str]) -> (Sipterm, u16) {
    let (args, _) = registered_args_with_rtp_port(kamailio, ALICE.0, ALICE.1, Transport::Udp);
    let port = sip_port(&args);
    let mut sipterm = Sipterm::spawn(with_json(args, extra));
    wait_registered(&mut sipterm);
    (sipterm, port)
}

/// baresip ("bob", sending silence) calls alice's sipterm directly; returns sipterm's
/// media_started event.
fn bob_calls(baresip: &Baresip, sipterm: &mut Sipterm, port: u16) -> Value {
    baresip.dial(&format!("sip:alice@127.0.0.1:{port}"));
    baresip.expect_event("CALL_ESTABLISHED", Duration::from_secs(20));
    wait_event(sipterm, "media_started", |e| is(e, "media_started"))
}

/// Issue 10, item 14: baresip offers opus/48000/2 with telephone-event/8000 only (RFC 4733
/// would want 48000). Its keys arrive as sipterm's dtmf events, and `--send-dtmf` reaches it
/// (its CALL_DTMF_START events), counted on the 48 kHz stream clock as baresip counts its own.
#[test]
fn opus_call_with_baresip_carries_dtmf_both_ways() {
    let kamailio = Kamailio::start(&[ALICE]);
    let (mut sipterm, port) =
        alice_with_port(&kamailio, &["--audio", "null", "--send-dtmf", "159#"]);
    let baresip = Baresip::start(BaresipConfig::new("bob").codecs(&["opus/48000/2"]));
    let capture = RtpCapture::start_range(baresip.rtp_ports());
    let started = bob_calls(&baresip, &mut sipterm, port);
    assert_eq!(started["codec"], "opus");
    baresip.send_dtmf("1234#");
    // sipterm sends its digits a second after the ACK.
    for key in "159#".chars() {
        let event = baresip.wait_for_event("CALL_DTMF_START", Duration::from_secs(10));
        let event = event.unwrap_or_else(|why| panic!("{why}\n{}", sipterm.report()));
        assert_eq!(event["param"].as_str(), Some(key.to_string().as_str()));
    }
    // Each key's end too (E bit), and time for the last end's two copies (20 ms apart).
    for _ in 0..4 {
        baresip.expect_event("CALL_DTMF_END", Duration::from_secs(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    wait_event(&mut sipterm, "baresip's last key", |e| {
        is(e, "dtmf") && e["digit"] == "#"
    });
    assert_eq!(received_digits(&sipterm), "1234#", "{}", baresip.report());
    baresip.hangup();
    wait_call_ended(&mut sipterm);
    assert_eq!(baresip.received_dtmf(), "159#");

    // What we sent: PT 101 as answered, 100 ms keys counted at 48 kHz, each end sent 3 times.
    let packets = capture.stop();
    let sent = dtmf_events(&packets, 101);
    assert_eq!(dtmf_digits(&packets, 101), "159#", "{sent:?}");
    assert!(
        sent.iter()
            .all(|e| e.duration == 4800 && e.end_packets == 3 && e.marker),
        "{sent:?}"
    );
}

/// Issue 10, item 15: a caller that lists Opus first gets Opus with the default `--codecs`
/// (pcmu,pcma,opus): the offerer's order decides among the codecs we enable.
#[test]
fn a_caller_listing_opus_first_gets_opus_with_the_default_codecs() {
    let kamailio = Kamailio::start(&[ALICE]);
    let (mut sipterm, port) = alice_with_port(&kamailio, &["--audio", "null"]);
    let baresip = Baresip::start(BaresipConfig::new("bob").codecs(&["opus/48000/2", "PCMU"]));
    let started = bob_calls(&baresip, &mut sipterm, port);
    assert_eq!(started["codec"], "opus", "{}", baresip.report());
    baresip.hangup();
    wait_call_ended(&mut sipterm);
}

#[test]
fn lossy_reordering_path_stays_intelligible_and_loss_is_reported() {
    let kamailio = Kamailio::start(&[ALICE]);
    let dir = support::ScratchDir::new("lossy");
    let record = dir.path().display().to_string();
    let (args, rtp_port) =
        registered_args_with_rtp_port(&kamailio, ALICE.0, ALICE.1, Transport::Udp);
    let impairment = Impairment {
        loss: 0.05,
        reorder: 0.05,
        seed: 20261125,
    };
    let (relay, _rtcp_relay) = RtpRelay::in_front_of_with_rtcp(rtp_port, impairment);
    let mut sipterm = Sipterm::spawn(with_json(
        args,
        &[
            "--audio",
            "echo",
            "--record",
            &record,
            "--media-address",
            &RELAY_IP.to_string(),
        ],
    ));
    wait_registered(&mut sipterm);
    let media_port = support::free_udp_port_block(4);
    let capture = RtpCapture::start(media_port);
    let run = call_alice(&kamailio, "uac_tone.xml")
        .key("call_ms", 6000)
        .media_port(media_port)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(&mut sipterm);
    let counts = relay.counts();
    assert!(counts.dropped > 5 && counts.reordered > 5, "{counts:?}");

    // Reported loss matches what the relay really dropped, within one point.
    let expected = counts.forwarded + counts.detectable_losses;
    let truth = 100.0 * counts.detectable_losses as f64 / expected as f64;
    let reported = ended["media"]["loss_percent"].as_f64().unwrap();
    assert!(
        (reported - truth).abs() <= 1.0,
        "reported {reported:.2} % loss, relay dropped {truth:.2} % ({counts:?})"
    );
    // Still intelligible: the tone survives in our recording and in the echo sipp hears
    // (which came back through the relay: symmetric RTP latched onto it).
    let wav = read_wav(&recording_of(&ended)).unwrap();
    assert_tone(
        &wav.channel(0),
        8000,
        1000.0,
        15.0,
        "recording through 5 % loss",
    );
    assert!(
        counts.returned > 100,
        "echo did not go back through the relay: {counts:?}"
    );
    let echoed = support::decode_audio(&capture.stop());
    assert_tone(&echoed, 8000, 1000.0, 15.0, "echo through the relay");
    assert!(ended["media"]["mos"].as_f64().unwrap() < 4.3, "{ended}");
}

#[test]
fn dtmf_from_sipp_arrives_as_events_and_digits_are_sent() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = alice(&kamailio, &["--audio", "null", "--send-dtmf", "159#"]);
    wait_registered(&mut sipterm);
    let media_port = support::free_udp_port_block(4);
    let capture = RtpCapture::start(media_port);
    // End packets repeated with their sequence number (issue 10, item 13): copies, not
    // packets received, so the loss never goes negative.
    let stream = DtmfStream {
        end_copies_share_seq: true,
        ..DtmfStream::new("1234#")
    };
    let distinct = dtmf_rtp_stream(&stream).len() - 2 * stream.digits.len();
    let run = call_alice(&kamailio, "uac_dtmf.xml")
        .dtmf_stream(stream)
        .key("call_ms", 4000)
        .media_port(media_port)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(&mut sipterm);
    let media = &ended["media"];
    assert!(media["packets_lost"].as_i64().unwrap() >= 0, "{media}");
    assert!(
        media["packets_received"].as_u64().unwrap() <= distinct as u64,
        "{distinct} distinct packets sent: {media}"
    );
    let received: String = events(&sipterm)
        .iter()
        .filter(|e| is(e, "dtmf"))
        .map(|e| e["digit"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(received, "1234#", "{}", sipterm.report());
    let packets = capture.stop();
    assert_eq!(dtmf_digits(&packets, 101), "159#");
}

#[test]
fn garbage_and_foreign_packets_are_counted_and_ignored() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = alice(&kamailio, &["--audio", "echo"]);
    wait_registered(&mut sipterm);
    let media_port = support::free_udp_port_block(4);
    let capture = RtpCapture::start(media_port);
    let sipp = call_alice(&kamailio, "uac_tone.xml")
        .key("call_ms", 4000)
        .media_port(media_port)
        .spawn();
    let started = wait_event(&mut sipterm, "media_started", |e| is(e, "media_started"));
    let rtp: std::net::SocketAddr = started["local_rtp"].as_str().unwrap().parse().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let stranger = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut valid = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 9, 9, 9, 9];
    valid.extend([0x55u8; 160]);
    for i in 0..50u8 {
        let _ = stranger.send_to(&[i; 37], rtp); // not RTP
        let _ = stranger.send_to(&valid, rtp); // RTP, wrong source
    }
    let run = sipp.wait();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(&mut sipterm);
    let media = &ended["media"];
    assert!(media["packets_invalid"].as_u64().unwrap() >= 50, "{media}");
    assert!(media["packets_foreign"].as_u64().unwrap() >= 50, "{media}");
    let echoed = support::decode_audio(&capture.stop());
    assert_tone(&echoed, 8000, 1000.0, 15.0, "echo despite the noise");
}

#[test]
fn without_a_sound_card_device_audio_warns_once_and_the_call_works() {
    let kamailio = Kamailio::start(&[ALICE]);
    let args = registered_args(&kamailio, ALICE.0, ALICE.1, Transport::Udp);
    // An ALSA configuration with no devices at all: what a headless server looks like.
    let dir = support::ScratchDir::new("noalsa");
    let conf = dir.join("asound.conf");
    std::fs::write(&conf, "# no devices\n").unwrap();
    let mut sipterm = Sipterm::spawn_with_env(
        with_json(args, &["--audio", "device"]),
        &[("ALSA_CONFIG_PATH", conf.to_str().unwrap())],
    );
    wait_registered(&mut sipterm);
    for _ in 0..2 {
        let run = call_alice(&kamailio, "uac_tone.xml")
            .key("call_ms", 1000)
            .run();
        assert!(run.success(), "{run}\n{}", sipterm.report());
    }
    wait_event(&mut sipterm, "the second call's end", |e| {
        is(e, "call_ended") && e["call"] == 2
    });
    for ended in events(&sipterm).iter().filter(|e| is(e, "call_ended")) {
        assert!(
            ended["media"]["packets_sent"].as_u64().unwrap() > 20,
            "{ended}"
        );
    }
    let warnings = events(&sipterm)
        .iter()
        .filter(|e| is(e, "log") && e["message"].as_str().unwrap_or("").contains("sound card"))
        .count();
    assert_eq!(warnings, 1, "{}", sipterm.report());
    assert!(
        !sipterm.stderr().contains("ALSA lib"),
        "ALSA noise on stderr:\n{}",
        sipterm.stderr()
    );
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(Duration::from_secs(20)), 0);
}

#[test]
fn levels_and_quality_are_published_during_a_call() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = alice(&kamailio, &["--audio", "echo"]);
    wait_registered(&mut sipterm);
    let run = call_alice(&kamailio, "uac_tone.xml")
        .key("call_ms", 2500)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    wait_call_ended(&mut sipterm);
    let all = events(&sipterm);
    let levels: Vec<&Value> = all.iter().filter(|e| is(e, "levels")).collect();
    // ~17 per second over 2.5 s.
    assert!(levels.len() >= 25, "{} level events", levels.len());
    let loud = levels
        .iter()
        .filter(|e| e["remote"]["rms_dbfs"].as_f64().unwrap() > -20.0)
        .count();
    assert!(loud >= 10, "the caller's tone never showed on the meter");
    let quality = all
        .iter()
        .rfind(|e| is(e, "quality"))
        .expect("quality events");
    assert!(quality["mos"].as_f64().unwrap() > 4.0, "{quality}");
    assert_eq!(quality["packets_lost"], 0, "{quality}");
}

#[test]
fn reinvite_switches_pcmu_to_pcma_and_refuses_a_change_of_clock_rate() {
    let kamailio = Kamailio::start(&[ALICE]);
    // Not an echo: µ-law echoed as µ-law under an A-law label would come back intact.
    let dir = support::ScratchDir::new("reinvite-codec");
    let wav = a_440_hz_wav(dir.path());
    let record = dir.path().display().to_string();
    let mut sipterm = alice(
        &kamailio,
        &["--audio", "null", "--play", &wav, "--record", &record],
    );
    wait_registered(&mut sipterm);
    let media_port = support::free_udp_port_block(4);
    let capture = RtpCapture::start(media_port);
    // PCMU for 2 s, then a re-INVITE to PCMA for 2 s, then one to opus (refused), 1 s, BYE.
    let run = call_alice(&kamailio, "uac_reinvite_codec.xml")
        .key("call_ms", 2000)
        .key("hold_ms", 1000)
        .media_port(media_port)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(&mut sipterm);
    assert_eq!(ended["reason"], "remote_hangup", "{ended}");

    // What we sent, in each codec as labelled: PCMU, then real A-law.
    let packets = capture.stop();
    let first_pcma = packets.iter().position(|p| p.payload_type == 8);
    let last_pcmu = packets.iter().rposition(|p| p.payload_type == 0);
    assert!(
        matches!((last_pcmu, first_pcma), (Some(u), Some(a)) if u < a),
        "PCMU then PCMA expected"
    );
    for (pt, name) in [(0u8, "sent as PCMU"), (8u8, "sent as PCMA")] {
        let part: Vec<_> = packets
            .iter()
            .filter(|p| p.payload_type == pt)
            .cloned()
            .collect();
        assert!(part.len() > 60, "{name}: {} packets", part.len());
        assert_tone(&support::decode_audio(&part), 8000, 440.0, 15.0, name);
    }
    // What we heard, decoded with the codec of the moment: the caller's tone throughout.
    let heard = read_wav(&recording_of(&ended)).unwrap().channel(0);
    let second = 8000;
    for (from, to, name) in [(0.5, 1.8, "heard as PCMU"), (2.5, 4.5, "heard as PCMA")] {
        let part = &heard[(from * second as f64) as usize..(to * second as f64) as usize];
        assert_tone(part, 8000, 1000.0, 15.0, name);
    }

    let all = events(&sipterm);
    let codecs: Vec<&str> = all
        .iter()
        .filter(|e| is(e, "media_started"))
        .filter_map(|e| e["codec"].as_str())
        .collect();
    assert_eq!(codecs, ["PCMU", "PCMA"], "{}", sipterm.report());
    let said = |needle: &str| {
        all.iter()
            .any(|e| is(e, "log") && e["message"].as_str().is_some_and(|m| m.contains(needle)))
    };
    assert!(
        said("switched the codec from PCMU to PCMA"),
        "{}",
        sipterm.report()
    );
    assert!(
        said("re-INVITE refused with 488") && said("changes the clock rate"),
        "{}",
        sipterm.report()
    );
}

#[test]
fn a_caller_that_vanishes_without_a_bye_is_hung_up_after_the_rtp_timeout() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = alice(&kamailio, &["--audio", "null", "--rtp-timeout", "2"]);
    wait_registered(&mut sipterm);
    // The caller answers our BYE, but never sends a single RTP packet.
    let sipp = call_alice(&kamailio, "uac_silent_wait_bye.xml").spawn();
    let ended = wait_event(&mut sipterm, "the call's end", |e| is(e, "call_ended"));
    sipp.wait().assert_success();
    assert_eq!(ended["reason"]["rtp_timeout"]["secs"], 2, "{ended}");
    let media = &ended["media"];
    assert_eq!(media["packets_received"], 0, "{ended}");
    assert!(
        media.get("mos").is_none(),
        "no MOS for nothing heard: {ended}"
    );
    // About two seconds of silence after the call became active (the check runs each second).
    let ms = ended["duration_ms"].as_u64().unwrap();
    assert!((2_000..6_000).contains(&ms), "ended after {ms} ms");
    let logs: Vec<String> = events(&sipterm)
        .into_iter()
        .filter(|e| is(e, "log"))
        .filter_map(|e| e["message"].as_str().map(str::to_string))
        .collect();
    assert!(
        logs.iter()
            .any(|l| l.contains("nothing received from the remote side for 2 s")),
        "{logs:#?}"
    );
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(Duration::from_secs(20)), 0);
}

/// A process starved of CPU (stopped outright for 600 ms, as a hog on its core would do for
/// longer): what it could still send it sends late, what it could not it counts, and the wire
/// agrees with the count — the missing frames are missing from the numbering too, so the
/// receiver counts them as lost rather than hearing time jump.
#[test]
fn frames_a_starved_process_could_not_send_are_counted_and_reported() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut sipterm = alice(&kamailio, &["--audio", "echo"]);
    wait_registered(&mut sipterm);
    let media_port = support::free_udp_port_block(4);
    let capture = RtpCapture::start(media_port);
    let sipp = call_alice(&kamailio, "uac_tone.xml")
        .key("call_ms", 3000)
        .media_port(media_port)
        .spawn();
    wait_event(&mut sipterm, "an active call", |e| {
        is(e, "call_state") && e["state"] == "active"
    });
    std::thread::sleep(Duration::from_millis(700));
    let pid = sipterm.pid() as libc::pid_t;
    // SAFETY: plain signals to our own child process.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_millis(600));
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let run = sipp.wait();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(&mut sipterm);
    let not_sent = ended["media"]["frames_not_sent"]
        .as_u64()
        .unwrap_or_else(|| panic!("no frames_not_sent in {ended}"));
    // 30 frames came due while stopped; up to 10 go out late.
    assert!((15..=40).contains(&not_sent), "{ended}");

    let packets = capture.stop();
    assert!(packets.len() > 100, "{} packets", packets.len());
    let mut gaps = 0u64;
    for pair in packets.windows(2) {
        let seq_step = pair[1].seq.wrapping_sub(pair[0].seq);
        let ts_step = pair[1].timestamp.wrapping_sub(pair[0].timestamp);
        assert_eq!(ts_step, 160 * u32::from(seq_step), "{:?}", &pair);
        gaps += u64::from(seq_step) - 1;
    }
    assert_eq!(gaps, not_sent, "the wire and the count agree");
    let warned = events(&sipterm).iter().any(|e| {
        is(e, "log")
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("{not_sent} frames of our audio not sent")))
    });
    assert!(warned, "no warning line\n{}", sipterm.report());
}
