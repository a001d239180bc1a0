//! Issue 12: sipterm places calls (`--call`), headless, against real callees on loopback:
//! sipp answering, refusing, ringing forever, sending early media, forking and transferring;
//! Kamailio asking for proxy authentication; baresip answering and putting us on hold.
//! Every verdict comes from what the peers saw (sipp's message log and exit status, Kamailio's
//! trace, baresip's recording) and from sipterm's JSON events, exit status and recording.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::audio::{assert_tone, write_tone_wav};
use support::capture::RtpPacket;
use support::dtmf::dtmf_digits;
use support::events::{events, is, stamped_events, wait_event};
use support::sipterm::registered_args;
use support::wav::read_wav;
use support::{
    free_udp_port_block, spawn_registered_uas, Baresip, BaresipConfig, Kamailio, RtpCapture,
    ScratchDir, Sipp, Sipterm, Tone, Transport,
};

const ALICE: (&str, &str) = ("alice", "wonderland");
const BOB: (&str, &str) = ("bob", "builder");
/// What sipterm plays into every call (`--play`), and what the callees play.
const OUR_TONE: f64 = 440.0;
const PEER_TONE: f64 = 1000.0;
const LONG: Duration = Duration::from_secs(40);
/// Exit status for a call that was not answered (refused, no answer, ring timeout).
const NOT_ANSWERED: i32 = 4;

/// A scratch dir with a 440 Hz WAV to play and a directory to record into.
struct Media {
    dir: ScratchDir,
}

impl Media {
    fn new(label: &str) -> Media {
        let dir = ScratchDir::new(label);
        write_tone_wav(&dir.join("tone440.wav"), OUR_TONE, 30.0, 8000);
        std::fs::create_dir_all(dir.join("recordings")).expect("create the recordings dir");
        Media { dir }
    }

    /// `--play <wav> --record <dir>`.
    fn args(&self) -> Vec<String> {
        vec![
            "--play".into(),
            self.dir.join("tone440.wav").display().to_string(),
            "--record".into(),
            self.dir.join("recordings").display().to_string(),
        ]
    }
}

/// sipterm with no account calling `target` at once: free RTP ports, any SIP port, on
/// 127.0.0.1, `--audio null`, then `extra`.
fn direct_call_args(target: &str, json: bool, extra: &[String]) -> Vec<String> {
    let rtp = free_udp_port_block(20);
    let mut args: Vec<String> = [
        "--headless",
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--from",
        "sip:tester@127.0.0.1",
        "--audio",
        "null",
        "--call",
        target,
    ]
    .map(String::from)
    .into();
    args.push("--rtp-ports".into());
    args.push(format!("{rtp}-{}", rtp + 19));
    if json {
        args.push("--json".into());
    }
    args.extend(extra.iter().cloned());
    args
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `sip:<user>@127.0.0.1:<port>`: a sipp callee reached directly.
fn sipp_uri(user: &str, sipp: &support::SippProcess) -> String {
    format!("sip:{user}@127.0.0.1:{}", sipp.local_port())
}

/// The one event named `name`; panics with sipterm's output when there is none.
#[track_caller]
fn the_event(sipterm: &Sipterm, name: &str) -> Value {
    events(sipterm)
        .into_iter()
        .find(|e| is(e, name))
        .unwrap_or_else(|| panic!("no {name} event\n{}", sipterm.report()))
}

fn all_events(sipterm: &Sipterm, name: &str) -> Vec<Value> {
    events(sipterm)
        .into_iter()
        .filter(|e| is(e, name))
        .collect()
}

fn states(sipterm: &Sipterm, call: &Value) -> Vec<String> {
    events(sipterm)
        .iter()
        .filter(|e| is(e, "call_state") && &e["call"] == call)
        .filter_map(|e| e["state"].as_str().map(str::to_owned))
        .collect()
}

/// Waits for a sipp peer and checks its scenario passed, with sipterm's side in the message.
#[track_caller]
fn succeeded(peer: support::SippProcess, sipterm: &Sipterm) -> support::SippRun {
    let run = peer.wait();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    run
}

/// Waits for sipterm to exit and checks the status; no panic on stderr either way.
#[track_caller]
fn assert_exit(sipterm: &mut Sipterm, expected: i32) {
    let code = sipterm.exit_code(LONG);
    assert_eq!(
        code,
        expected,
        "sipterm's exit status\n{}",
        sipterm.report()
    );
    assert!(
        !sipterm.stderr().contains("panicked"),
        "panic on stderr\n{}",
        sipterm.report()
    );
}

fn recording_of(ended: &Value) -> PathBuf {
    ended["media"]["recording"]
        .as_str()
        .unwrap_or_else(|| panic!("no recording in {ended}"))
        .into()
}

/// The tone sipp received from sipterm, from a capture on sipp's media port; returns the packets.
#[track_caller]
fn assert_sipp_heard_our_tone(capture: RtpCapture, what: &str) -> Vec<RtpPacket> {
    let packets = capture.stop();
    assert!(
        packets.len() > 50,
        "{what}: only {} RTP packets reached sipp",
        packets.len()
    );
    let audio = support::decode_audio(&packets);
    assert_tone(&audio, 8000, OUR_TONE, 15.0, what);
    packets
}

/// Both channels of sipterm's recording: the callee's tone on the left, ours on the right.
#[track_caller]
fn assert_recording_both_ways(ended: &Value, what: &str) {
    let wav = read_wav(&recording_of(ended)).unwrap();
    assert_tone(
        &wav.channel(0),
        wav.rate,
        PEER_TONE,
        15.0,
        &format!("{what}: sipterm hears the callee"),
    );
    assert_tone(
        &wav.channel(1),
        wav.rate,
        OUR_TONE,
        15.0,
        &format!("{what}: sipterm sends"),
    );
}

#[test]
fn calls_a_sipp_callee_without_registering_and_hears_it_both_ways() {
    let media = Media::new("outgoing-direct");
    let callee = Sipp::uas("uas_answer.xml").spawn();
    let capture = RtpCapture::start(callee.media_port());
    let target = sipp_uri("svc", &callee);
    let mut extra = media.args();
    extra.extend(strings(&["--duration", "4", "--send-dtmf", "159#"]));
    let started = Instant::now();
    let mut sipterm = Sipterm::spawn(direct_call_args(&target, true, &extra));
    assert_exit(&mut sipterm, 0);
    let took = started.elapsed();
    let run = succeeded(callee, &sipterm);
    assert_eq!(
        run.received_requests(),
        vec!["INVITE", "ACK", "BYE"],
        "{run}"
    );
    assert!(
        run.messages.contains("From: <sip:tester@127.0.0.1>")
            || run.messages.contains("sip:tester@127.0.0.1>;tag="),
        "the INVITE's From is not --from:\n{run}"
    );

    let outgoing = the_event(&sipterm, "outgoing_call");
    assert_eq!(outgoing["to"], target.as_str(), "{outgoing}");
    let call = outgoing["call"].clone();
    let answered = the_event(&sipterm, "call_answered");
    assert_eq!(answered["call"], call);
    let answer_ms = answered["answer_ms"].as_u64().expect("answer_ms");
    assert!(
        answer_ms < 2000,
        "INVITE → 200 took {answer_ms} ms on loopback"
    );
    let progress = the_event(&sipterm, "call_progress");
    assert_eq!(progress["status"], 180, "{progress}");
    let states = states(&sipterm, &call);
    let active = states.iter().position(|s| s == "active");
    let ringing = states.iter().position(|s| s == "ringing");
    assert!(
        ringing.is_some() && ringing < active,
        "states {states:?}\n{}",
        sipterm.report()
    );

    let ended = the_event(&sipterm, "call_ended");
    assert_eq!(ended["direction"], "outgoing", "{ended}");
    assert_eq!(ended["reason"], "local_hangup", "{ended}");
    assert_recording_both_ways(&ended, "direct call");
    let packets = assert_sipp_heard_our_tone(capture, "sipp hears sipterm");
    // --send-dtmf works on calls we place too: RFC 4733 events with sipp's PT 101.
    assert_eq!(dtmf_digits(&packets, 101), "159#", "DTMF sipp received");
    eprintln!(
        "📊 direct call: INVITE → 200 {answer_ms} ms, post-dial delay {} ms, run {took:?}",
        progress["post_dial_delay_ms"]
    );
}

#[test]
fn refused_calls_exit_4_with_status_phrase_and_plain_words() {
    for (status, phrase) in [(486, "Busy Here"), (404, "Not Found")] {
        let callee = Sipp::uas("uas_reject_status.xml")
            .key("expected_status", status)
            .spawn();
        let mut sipterm = Sipterm::spawn(direct_call_args(&sipp_uri("svc", &callee), true, &[]));
        assert_exit(&mut sipterm, NOT_ANSWERED);
        let run = succeeded(callee, &sipterm);
        assert_eq!(run.received_requests(), vec!["INVITE", "ACK"], "{run}");
        let ended = the_event(&sipterm, "call_ended");
        assert_eq!(ended["direction"], "outgoing", "{ended}");
        let refused = &ended["reason"]["not_answered"];
        assert_eq!(refused["status"], status, "{ended}");
        assert_eq!(refused["phrase"], phrase, "{ended}");
        let explained = refused["explained"].as_str().unwrap_or_default();
        assert!(
            !explained.is_empty(),
            "no plain words for {status}: {ended}"
        );
        assert!(
            all_events(&sipterm, "call_answered").is_empty(),
            "a refused call reported as answered\n{}",
            sipterm.report()
        );

        // The same call with the human log: the status and its explanation are there.
        let callee = Sipp::uas("uas_reject_status.xml")
            .key("expected_status", status)
            .spawn();
        let mut human = Sipterm::spawn(direct_call_args(&sipp_uri("svc", &callee), false, &[]));
        assert_exit(&mut human, NOT_ANSWERED);
        callee.wait().assert_success();
        let log = human.stdout();
        assert!(
            log.contains(&status.to_string()) && log.contains(explained),
            "the human log does not name {status} and explain it ({explained:?}):\n{log}"
        );
    }
}

#[test]
fn ring_timeout_sends_cancel_and_exits_4() {
    let callee = Sipp::uas("uas_ring_no_answer.xml").spawn();
    let target = sipp_uri("svc", &callee);
    let started = Instant::now();
    let mut sipterm = Sipterm::spawn(direct_call_args(
        &target,
        true,
        &strings(&["--ring-timeout", "2"]),
    ));
    assert_exit(&mut sipterm, NOT_ANSWERED);
    let took = started.elapsed();
    let run = succeeded(callee, &sipterm);
    assert_eq!(
        run.received_requests(),
        vec!["INVITE", "CANCEL", "ACK"],
        "{run}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "a 2 s ring timeout ended the run after {took:?}"
    );
    let ended = the_event(&sipterm, "call_ended");
    assert_eq!(ended["reason"]["ring_timeout"]["secs"], 2, "{ended}");
    assert_eq!(ended["direction"], "outgoing", "{ended}");
    let call = ended["call"].clone();
    assert!(
        states(&sipterm, &call).contains(&"ringing".to_string()),
        "{}",
        sipterm.report()
    );
}

#[test]
fn early_media_is_heard_and_recorded_before_the_answer() {
    let media = Media::new("outgoing-early");
    let callee = Sipp::uas("uas_early_media.xml")
        .key("early_ms", 1500)
        .spawn();
    let mut extra = media.args();
    extra.extend(strings(&["--duration", "5"]));
    let mut sipterm =
        Sipterm::spawn_stamped(direct_call_args(&sipp_uri("svc", &callee), true, &extra));
    assert_exit(&mut sipterm, 0);
    succeeded(callee, &sipterm);

    let stamped = stamped_events(&sipterm);
    let call = the_event(&sipterm, "outgoing_call")["call"].clone();
    let states = states(&sipterm, &call);
    let early = states.iter().position(|s| s == "early_media");
    let active = states.iter().position(|s| s == "active");
    assert!(
        early.is_some() && early < active,
        "states {states:?}\n{}",
        sipterm.report()
    );
    let progress = all_events(&sipterm, "call_progress");
    assert!(
        progress
            .iter()
            .any(|p| p["status"] == 183 && p["early_media"] == true),
        "no 183 with early media in {progress:?}"
    );
    let answered = the_event(&sipterm, "call_answered");
    let (answer_ms, pdd_ms) = (
        answered["answer_ms"].as_u64().unwrap_or(0),
        answered["post_dial_delay_ms"].as_u64().unwrap_or(u64::MAX),
    );
    assert!(
        answer_ms >= pdd_ms + 1200,
        "the 200 came {answer_ms} ms after the INVITE, the 183 {pdd_ms} ms: {answered}"
    );

    // The recording starts with the early media: it is longer than the answered part by
    // about the 1.5 s before the 200, and its first second already holds the callee's tone.
    let at = |name: &str| {
        stamped
            .iter()
            .find(|e| is(&e.event, name))
            .unwrap_or_else(|| panic!("no {name}\n{}", sipterm.report()))
            .at
    };
    let answered_for = at("call_ended").duration_since(at("call_answered"));
    let ended = the_event(&sipterm, "call_ended");
    let wav = read_wav(&recording_of(&ended)).unwrap();
    let extra_secs = wav.duration_secs() - answered_for.as_secs_f64();
    assert!(
        extra_secs > 1.0,
        "recording {:.2} s, answered for {answered_for:?}: the early media is not in it",
        wav.duration_secs()
    );
    let first_second = &wav.channel(0)[..wav.rate as usize];
    assert_tone(
        first_second,
        wav.rate,
        PEER_TONE,
        15.0,
        "the recording's first second (early media)",
    );
}

#[test]
fn a_second_200_from_another_branch_gets_ack_and_bye() {
    let callee = Sipp::uas("uas_fork_two_200.xml").spawn();
    let mut sipterm = Sipterm::spawn(direct_call_args(
        &sipp_uri("svc", &callee),
        true,
        &strings(&["--duration", "3"]),
    ));
    assert_exit(&mut sipterm, 0);
    let run = callee.wait();
    // The scenario itself checks the tags: ACK A, ACK B, BYE for B, later BYE for A.
    assert!(run.success(), "{run}\n{}", sipterm.report());
    assert_eq!(
        run.received_requests(),
        vec!["INVITE", "ACK", "ACK", "BYE", "BYE"],
        "{run}"
    );
    assert!(run.actions.contains("BYE for branch B"), "{run}");
    assert_eq!(
        all_events(&sipterm, "outgoing_call").len(),
        1,
        "{}",
        sipterm.report()
    );
    let answered = all_events(&sipterm, "call_answered");
    assert_eq!(answered.len(), 1, "{}", sipterm.report());
    let ended = all_events(&sipterm, "call_ended");
    assert_eq!(ended.len(), 1, "{}", sipterm.report());
    assert_eq!(ended[0]["reason"], "local_hangup", "{}", ended[0]);
}

#[test]
fn calls_a_user_through_kamailio_answering_407_with_an_x_header() {
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .user(BOB.0, BOB.1)
        .invite_auth()
        .start();
    let callee = spawn_registered_uas(
        &kamailio,
        BOB.0,
        BOB.1,
        Sipp::uas("uas_answer_check_headers.xml").key("x_value", "outgoing-407"),
    );
    let capture = RtpCapture::start(callee.media_port());
    let media = Media::new("outgoing-proxy");
    let mut args = registered_args(&kamailio, ALICE.0, ALICE.1, Transport::Udp);
    args.extend(strings(&[
        "--json",
        "--audio",
        "null",
        // A bare user: completed with the account's domain, the proxy.
        "--call",
        "bob",
        "--header",
        "X-Test-Case: outgoing-407",
        "--duration",
        "5",
    ]));
    args.extend(media.args());
    let mut sipterm = Sipterm::spawn(args);
    assert_exit(&mut sipterm, 0);
    let run = callee.wait();
    assert!(
        run.success(),
        "{run}\n{}\n{}",
        sipterm.report(),
        kamailio.sip_trace()
    );
    assert!(
        run.actions.contains("X-Test-Case: got outgoing-407"),
        "{run}"
    );

    let trace = kamailio.sip_trace();
    assert!(
        trace.contains("407 Proxy Authentication Required"),
        "Kamailio sent no 407:\n{trace}"
    );
    let authorized = trace
        .split("INVITE sip:bob@")
        .skip(1)
        .any(|m| m.contains("Proxy-Authorization: Digest") && m.contains("username=\"alice\""));
    assert!(authorized, "no INVITE with alice's credentials:\n{trace}");
    assert!(
        kamailio.log().contains("INVITE from 'alice' authenticated"),
        "{}",
        kamailio.log()
    );

    let outgoing = the_event(&sipterm, "outgoing_call");
    assert!(
        outgoing["to"]
            .as_str()
            .is_some_and(|to| to.starts_with("sip:bob@127.0.0.1")),
        "{outgoing}"
    );
    let ended = the_event(&sipterm, "call_ended");
    assert_eq!(ended["direction"], "outgoing", "{ended}");
    assert_recording_both_ways(&ended, "call through Kamailio");
    assert_sipp_heard_our_tone(capture, "sipp behind Kamailio hears sipterm");
}

#[test]
fn call_with_a_bad_uri_exits_2_naming_call() {
    for bad in ["not-a-uri", "sip:"] {
        let mut sipterm = Sipterm::spawn(strings(&[
            "--headless",
            "--port",
            "0",
            "--audio",
            "null",
            "--call",
            bad,
        ]));
        let code = sipterm.exit_code(LONG);
        assert_eq!(code, 2, "--call {bad}\n{}", sipterm.report());
        assert!(
            sipterm.stderr().contains("--call"),
            "stderr does not name --call for {bad:?}\n{}",
            sipterm.report()
        );
    }
}

#[test]
fn a_refer_from_the_callee_is_followed_with_notifies_and_bye() {
    let target = Sipp::uas("uas_answer.xml").spawn();
    let target_uri = sipp_uri("carol", &target);
    let capture = RtpCapture::start(target.media_port());
    let transferor = Sipp::uas("uas_refer.xml")
        .key("refer_to", &target_uri)
        .key("call_ms", 1500)
        .spawn();
    let media = Media::new("outgoing-refer");
    let mut extra = media.args();
    extra.extend(strings(&["--on-refer", "accept", "--duration", "7"]));
    let mut sipterm = Sipterm::spawn(direct_call_args(
        &sipp_uri("svc", &transferor),
        true,
        &extra,
    ));
    assert_exit(&mut sipterm, 0);
    let referred = transferor.wait();
    // The scenario checks 202, the two sipfrag bodies (100, then 200) and the BYE.
    assert!(referred.success(), "{referred}\n{}", sipterm.report());
    // The first call's BYE waits for the final NOTIFY's answer, so the transferor always
    // learns the outcome before the call ends.
    assert_eq!(
        referred.received_requests(),
        ["INVITE", "ACK", "NOTIFY", "NOTIFY", "BYE"],
        "{referred}"
    );
    let reached = succeeded(target, &sipterm);
    assert_eq!(
        reached.received_requests(),
        vec!["INVITE", "ACK", "BYE"],
        "{reached}"
    );

    let calls = all_events(&sipterm, "outgoing_call");
    assert_eq!(calls.len(), 2, "{}", sipterm.report());
    assert_eq!(calls[1]["to"], target_uri.as_str(), "{}", calls[1]);
    let transfer: Vec<Value> = all_events(&sipterm, "transfer");
    let stages: Vec<&str> = transfer
        .iter()
        .filter(|t| t["by"] == "remote")
        .filter_map(|t| t["stage"].as_str())
        .collect();
    assert_eq!(
        stages.first(),
        Some(&"requested"),
        "{transfer:?}\n{}",
        sipterm.report()
    );
    assert_eq!(stages.last(), Some(&"done"), "{transfer:?}");
    assert_eq!(transfer[0]["target"], target_uri.as_str(), "{transfer:?}");
    let ended = all_events(&sipterm, "call_ended");
    assert_eq!(ended.len(), 2, "{}", sipterm.report());
    let first = ended
        .iter()
        .find(|e| e["call"] == calls[0]["call"])
        .expect("the transferred call ended");
    assert!(
        first["reason"].get("transferred").is_some(),
        "the first call: {first}"
    );
    // The run goes on with the new call until --duration (7 s; the transfer comes at 1.5 s).
    let second = ended
        .iter()
        .find(|e| e["call"] == calls[1]["call"])
        .expect("the new call ended");
    assert!(
        second["duration_ms"].as_u64().unwrap_or(0) >= 3000,
        "the new call was hung up with the transferred one instead of lasting until \
         --duration: {second}\n{}",
        sipterm.report()
    );
    assert_sipp_heard_our_tone(capture, "the transfer target hears sipterm");
    // RFC 6665 lets a NOTIFY overtake the 202 in the network (the scenario copes), but the
    // notifier sends its 202 first (RFC 3515 2.4.4: the NOTIFY follows the acceptance).
    let firsts = referred.received_first_lines();
    let accepted = firsts.iter().position(|l| l.starts_with("SIP/2.0 202"));
    let notified = firsts.iter().position(|l| l.starts_with("NOTIFY "));
    assert!(
        accepted.is_some() && accepted < notified,
        "the REFER's 202 did not come before the first NOTIFY: {firsts:?}"
    );
}

#[test]
fn calls_baresip_which_answers_hears_it_both_ways_and_holds() {
    let media = Media::new("outgoing-baresip");
    let baresip = Baresip::start(
        BaresipConfig::new("bob")
            .codecs(&["PCMU", "opus/48000/2"])
            .tone(Tone::Sine(PEER_TONE as u32))
            .record(true),
    );
    let mut extra = media.args();
    extra.extend(strings(&["--duration", "9"]));
    let mut sipterm = Sipterm::spawn(direct_call_args(&baresip.uri(), true, &extra));
    baresip.expect_event("CALL_ESTABLISHED", Duration::from_secs(20));
    let active = wait_event(&mut sipterm, "an active call", |e| {
        is(e, "call_state") && e["state"] == "active"
    });
    let call = active["call"].clone();
    // Three seconds of audio both ways, then baresip holds and resumes.
    std::thread::sleep(Duration::from_secs(3));
    let held = match baresip.command("hold", None) {
        Ok(_) => {
            wait_event(&mut sipterm, "held", |e| {
                is(e, "call_state") && e["call"] == call && e["state"] == "held"
            });
            std::thread::sleep(Duration::from_secs(1));
            baresip
                .command("resume", None)
                .unwrap_or_else(|why| panic!("{why}\n{}", baresip.report()));
            true
        }
        Err(why) => {
            eprintln!("baresip would not hold: {why}");
            false
        }
    };
    assert_exit(&mut sipterm, 0);
    baresip.expect_event("CALL_CLOSED", Duration::from_secs(10));

    let states = states(&sipterm, &call);
    if held {
        let held_at = states.iter().position(|s| s == "held");
        assert!(
            held_at.is_some() && states.iter().rposition(|s| s == "active") > held_at,
            "held, then active again: {states:?}"
        );
    }
    let ended = the_event(&sipterm, "call_ended");
    assert_eq!(ended["direction"], "outgoing", "{ended}");
    assert_eq!(ended["reason"], "local_hangup", "{ended}");
    // The first seconds, before the hold.
    let ours = read_wav(&recording_of(&ended)).unwrap();
    let before_hold = |samples: &[i16], rate: u32| -> Vec<i16> {
        let to = (rate as usize * 3).min(samples.len());
        samples[(rate as usize / 2).min(to)..to].to_vec()
    };
    assert_tone(
        &before_hold(&ours.channel(0), ours.rate),
        ours.rate,
        PEER_TONE,
        15.0,
        "sipterm hears baresip",
    );
    let theirs = baresip.received_audio().unwrap();
    assert_tone(
        &before_hold(&theirs.channel(0), theirs.rate),
        theirs.rate,
        OUR_TONE,
        15.0,
        "baresip hears sipterm",
    );
    if held {
        let hold = all_events(&sipterm, "hold");
        assert!(
            hold.iter()
                .any(|h| h["call"] == call && h["theirs"] == true),
            "no hold event with theirs: true for baresip's hold: {hold:?}\n{}",
            sipterm.report()
        );
    }
}

#[test]
fn a_302_is_followed_to_its_contact() {
    let target = Sipp::uas("uas_answer.xml").spawn();
    let target_uri = sipp_uri("carol", &target);
    let redirector = Sipp::uas("uas_redirect.xml")
        .key("redirect_to", &target_uri)
        .spawn();
    let mut sipterm = Sipterm::spawn(direct_call_args(
        &sipp_uri("svc", &redirector),
        true,
        &strings(&["--duration", "3"]),
    ));
    assert_exit(&mut sipterm, 0);
    let redirected = succeeded(redirector, &sipterm);
    assert_eq!(
        redirected.received_requests(),
        vec!["INVITE", "ACK"],
        "{redirected}"
    );
    let reached = succeeded(target, &sipterm);
    assert_eq!(
        reached.received_requests(),
        vec!["INVITE", "ACK", "BYE"],
        "{reached}"
    );
    assert!(
        reached
            .messages
            .contains(&format!("INVITE {target_uri} SIP/2.0")),
        "the new INVITE does not go to the 302's Contact:\n{reached}"
    );
    let ended = all_events(&sipterm, "call_ended");
    assert_eq!(ended.len(), 1, "{}", sipterm.report());
    assert_eq!(ended[0]["reason"], "local_hangup", "{}", ended[0]);
}

#[test]
fn on_refer_report_and_reject_answer_603_and_place_no_call() {
    let refer_to = "sip:carol@127.0.0.1:9";
    for mode in ["report", "reject"] {
        let transferor = Sipp::uas("uas_refer_declined.xml")
            .key("refer_to", refer_to)
            .key("call_ms", 1000)
            .spawn();
        let mut sipterm = Sipterm::spawn(direct_call_args(
            &sipp_uri("svc", &transferor),
            true,
            &strings(&["--on-refer", mode, "--duration", "3"]),
        ));
        assert_exit(&mut sipterm, 0);
        let run = transferor.wait();
        // The scenario wants 603 for the REFER, no NOTIFY, then our BYE.
        assert!(
            run.success(),
            "--on-refer {mode}: {run}\n{}",
            sipterm.report()
        );
        assert_eq!(
            all_events(&sipterm, "outgoing_call").len(),
            1,
            "--on-refer {mode} placed a call\n{}",
            sipterm.report()
        );
        if mode == "report" {
            let transfer = all_events(&sipterm, "transfer");
            assert!(
                transfer.iter().any(|t| t["stage"] == "reported"
                    && t["target"] == refer_to
                    && t["by"] == "remote"),
                "no reported transfer to {refer_to}: {transfer:?}\n{}",
                sipterm.report()
            );
        }
    }
}

#[test]
fn outbound_proxy_carries_the_call_and_the_display_name_reaches_the_callee() {
    let kamailio = Kamailio::start(&[BOB]);
    let callee = spawn_registered_uas(&kamailio, BOB.0, BOB.1, Sipp::uas("uas_answer.xml"));
    // A domain nobody can resolve: only the outbound proxy gets the INVITE there.
    let proxy = format!("sip:127.0.0.1:{}", kamailio.port());
    let mut sipterm = Sipterm::spawn(direct_call_args(
        "sip:bob@sipterm.invalid",
        true,
        &strings(&[
            "--outbound-proxy",
            &proxy,
            "--display-name",
            "Test Caller",
            "--duration",
            "3",
        ]),
    ));
    assert_exit(&mut sipterm, 0);
    let run = succeeded(callee, &sipterm);
    assert!(
        run.messages
            .contains("\"Test Caller\" <sip:tester@127.0.0.1>")
            || run.messages.contains("Test Caller <sip:tester@127.0.0.1>"),
        "the callee saw no display name in From:\n{run}"
    );
    let trace = kamailio.sip_trace();
    let invite = trace
        .split("INVITE sip:bob@sipterm.invalid SIP/2.0")
        .nth(1)
        .unwrap_or_else(|| panic!("the proxy saw no INVITE for sip:bob@sipterm.invalid:\n{trace}"));
    let headers = invite.split("\r\n\r\n").next().unwrap_or(invite);
    assert!(
        headers.contains(&format!("Route: <{proxy};lr>"))
            || headers.contains(&format!("Route: <{proxy};lr;"))
            || headers.contains(&format!("Route: <{proxy}")),
        "no Route to the outbound proxy on the INVITE:\n{headers}"
    );
}

/// RFC 3261 Timer B: an INVITE nobody answers is given up after 64 × T1 = 32 s.
#[test]
fn an_invite_nobody_answers_ends_as_408_after_timer_b() {
    // A socket that takes the INVITEs and says nothing (a firewall that drops, not refuses).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a silent socket");
    silent
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let mut sipterm = Sipterm::spawn(direct_call_args(
        &format!("sip:svc@127.0.0.1:{port}"),
        true,
        &[],
    ));
    let mut invites = 0;
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(45) && sipterm.wait(Duration::ZERO).is_none() {
        if let Ok(n) = silent.recv(&mut buf) {
            invites += usize::from(buf[..n].starts_with(b"INVITE "));
        }
    }
    assert_exit(&mut sipterm, NOT_ANSWERED);
    let took = started.elapsed();
    // Timer A doubles from 500 ms: sent at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s.
    assert!(
        invites >= 6,
        "{invites} INVITE transmissions reached the silent peer"
    );
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(40),
        "gave up after {took:?}"
    );
    let ended = the_event(&sipterm, "call_ended");
    assert_eq!(ended["reason"]["not_answered"]["status"], 408, "{ended}");
}

/// A callee that challenges the INVITE itself (401, as a trunk does), with --no-register: the
/// account's credentials answer it; a wrong password ends in the callee's 403.
#[test]
fn a_401_on_the_invite_is_answered_with_the_accounts_credentials() {
    for (password, expected_exit) in [("secret", 0), ("not-the-password", NOT_ANSWERED)] {
        let callee = Sipp::uas("uas_auth_401.xml")
            .key("auth_user", "carol")
            .key("auth_password", "secret")
            .spawn();
        let target = sipp_uri("svc", &callee);
        let account = format!("sip:carol@127.0.0.1:{}", callee.local_port());
        let mut sipterm = Sipterm::spawn(direct_call_args(
            &target,
            true,
            &strings(&[
                "--sip-uri",
                &account,
                "--password",
                password,
                "--no-register",
                "--duration",
                "3",
            ]),
        ));
        assert_exit(&mut sipterm, expected_exit);
        let run = callee.wait();
        assert!(
            run.received_requests()
                .starts_with(&["INVITE".into(), "ACK".into(), "INVITE".into()]),
            "no second INVITE after the 401:\n{run}\n{}",
            sipterm.report()
        );
        assert!(
            !run.received_requests().contains(&"REGISTER".to_string()),
            "--no-register sent a REGISTER:\n{run}"
        );
        let ended = the_event(&sipterm, "call_ended");
        if expected_exit == 0 {
            assert!(run.success(), "{run}\n{}", sipterm.report());
            assert!(run.actions.contains("credentials valid: true"), "{run}");
            assert_eq!(ended["reason"], "local_hangup", "{ended}");
        } else {
            assert!(run.actions.contains("credentials valid: false"), "{run}");
            assert_eq!(ended["reason"]["not_answered"]["status"], 403, "{ended}");
        }
    }
}

/// Ctrl+C while it rings: the call is cancelled (sipp sees CANCEL and answers 487), and the run
/// counts as not answered.
#[test]
fn ctrl_c_while_ringing_cancels_and_exits_4() {
    let callee = Sipp::uas("uas_ring_no_answer.xml").spawn();
    let mut sipterm = Sipterm::spawn(direct_call_args(&sipp_uri("svc", &callee), true, &[]));
    wait_event(&mut sipterm, "ringing", |e| {
        is(e, "call_state") && e["state"] == "ringing"
    });
    sipterm.interrupt();
    assert_exit(&mut sipterm, NOT_ANSWERED);
    let run = succeeded(callee, &sipterm);
    assert_eq!(
        run.received_requests(),
        vec!["INVITE", "CANCEL", "ACK"],
        "{run}"
    );
    let ended = the_event(&sipterm, "call_ended");
    assert_eq!(ended["direction"], "outgoing", "{ended}");
    assert!(
        all_events(&sipterm, "call_answered").is_empty(),
        "{}",
        sipterm.report()
    );
    eprintln!("cancelled by Ctrl+C: reason {}", ended["reason"]);
}
