//! `--audio device` with a sound card that is really there: a virtual headset (PulseAudio null
//! sinks behind ALSA's `pulse` plugin, see `support::pulse`) takes the place of a person's
//! headset. What is "said" into its microphone must reach the caller, and what the caller
//! sends must come out of its speaker, through cpal's real capture and playback streams, the
//! lock-free rings and the resamplers (48 kHz device, 8 kHz PCMU). A headset pulled out
//! mid-call (its sound server killed) must cost nothing but the sound and one plain warning,
//! and plugging it back in must bring the sound back without a restart.

mod support;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use support::audio::{assert_tone, write_tone_wav};
use support::events::{events, is, wait_call_ended, wait_event, wait_registered};
use support::pulse::VirtualHeadset;
use support::realtime_mock::{MockConfig, RealtimeMock};
use support::sipterm::registered_args;
use support::{wait_until, Kamailio, RtpCapture, Sipp, Transport};

const ALICE: (&str, &str) = ("alice", "wonderland");

/// These tests judge real-time audio (dropouts, a speaker that plays again); two of them at
/// once, each with its own sound server, sipterm, Kamailio and sipp, starve a 2-core CI
/// machine and the glitches measured are the machine's. So they take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn take_turn() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

#[test]
fn a_call_through_the_sound_card_carries_the_voice_both_ways() {
    let _turn = take_turn();
    let headset = VirtualHeadset::start();
    let kamailio = Kamailio::start(&[ALICE]);

    // The person at the keyboard says a steady 440 Hz "aah" for the whole call.
    let voice = headset.dir().join("voice440.wav");
    write_tone_wav(&voice, 440.0, 15.0, 44_100);
    let _speaking = headset.speak(&voice);

    let mut args = registered_args(&kamailio, ALICE.0, ALICE.1, Transport::Udp);
    args.extend(["--json", "--audio", "device"].map(String::from));
    let mut sipterm = headset.sipterm(args);
    wait_registered(&mut sipterm);

    // The caller sends a 1 kHz tone and records what comes back.
    let media_port = support::free_udp_port_block(4);
    let capture = RtpCapture::start(media_port);
    let sipp = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(ALICE.0)
        .key("call_ms", 6000)
        .media_port(media_port)
        .spawn();
    wait_event(&mut sipterm, "an active call", |e| {
        is(e, "call_state") && e["state"] == "active"
    });
    // Past the streams' start-up, then three seconds of what the headset plays.
    std::thread::sleep(Duration::from_millis(1000));
    let heard = headset.listen(Duration::from_secs(3), 8000);
    let run = sipp.wait();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    wait_call_ended(&mut sipterm);

    assert_tone(&heard, 8000, 1000.0, 15.0, "the headset's speaker");
    let sent = support::decode_audio(&capture.stop());
    assert_tone(&sent, 8000, 440.0, 15.0, "what the caller received");
    // Clear, not just present: once the sound starts it does not break up.
    for (what, samples) in [("speaker", &heard), ("caller", &sent)] {
        let (frames, dropouts) = dropouts(samples);
        assert!(
            frames >= 100 && dropouts * 50 <= frames,
            "{what}: {dropouts} of {frames} 20 ms frames dropped out"
        );
    }

    // The engine names the card it opened, and never fell back to silence.
    let log_lines: Vec<String> = events(&sipterm)
        .iter()
        .filter(|e| is(e, "log"))
        .filter_map(|e| e["message"].as_str().map(String::from))
        .collect();
    assert!(
        log_lines.iter().any(|m| m.starts_with("sound card: ")),
        "no sound card opened:\n{}",
        sipterm.report()
    );
    assert!(
        !log_lines.iter().any(|m| m.contains("--audio null")),
        "sipterm fell back to silence:\n{}",
        sipterm.report()
    );
    assert!(
        sipterm.stderr().trim().is_empty(),
        "noise on stderr:\n{}",
        sipterm.stderr()
    );
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(Duration::from_secs(20)), 0);
}

/// 20 ms frames from the first audible one to the last, and how many of them are near
/// silence (a ring under-run or a lost packet in the middle of a steady tone).
fn dropouts(samples: &[i16]) -> (usize, usize) {
    let levels: Vec<f64> = samples.chunks_exact(160).map(support::rms_dbfs).collect();
    let audible = |l: &&f64| **l > -30.0;
    let Some(first) = levels.iter().position(|l| audible(&l)) else {
        return (0, 0);
    };
    let last = levels.iter().rposition(|l| audible(&l)).unwrap();
    let span = &levels[first..=last];
    (span.len(), span.iter().filter(|l| !audible(l)).count())
}

#[test]
fn list_devices_shows_the_headset_and_nothing_on_stderr() {
    let headset = VirtualHeadset::start();
    let server = headset
        .env()
        .into_iter()
        .find(|(k, _)| *k == "PULSE_SERVER");
    let (_, server) = server.unwrap();
    // The machine's own ALSA configuration, as on a desktop: alsa-plugins sends `default` to
    // PulseAudio when a server answers, and also defines PCMs (`jack`) whose probing is noisy.
    let out = std::process::Command::new(support::sipterm::binary())
        .arg("--list-devices")
        .env("PULSE_SERVER", &server)
        .env("HOME", headset.dir().path())
        .env("XDG_CONFIG_HOME", headset.dir().path())
        .env_remove("ALSA_CONFIG_PATH")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let default = stdout.lines().find(|l| l.starts_with("default "));
    assert!(
        default.is_some_and(|l| l.contains("in+out") && l.contains("(default input and output)")),
        "{stdout}"
    );
    assert!(stderr.trim().is_empty(), "noise on stderr:\n{stderr}");
}

#[test]
fn a_headset_pulled_out_and_plugged_back_in_mid_call_gets_its_sound_back() {
    let _turn = take_turn();
    replug_mid_call(None);
}

#[test]
fn a_bridged_call_gets_its_listen_in_back_after_a_replug() {
    let _turn = take_turn();
    // The caller talks without a pause, so the model never answers: the speaker plays the
    // caller's side of the conversation only.
    let mock = RealtimeMock::start(MockConfig::default());
    replug_mid_call(Some(&mock));
}

/// A call on the virtual headset (bridged to `mock` when given) whose headset is pulled out
/// and plugged back in.
fn replug_mid_call(mock: Option<&RealtimeMock>) {
    let mut headset = VirtualHeadset::start();
    let kamailio = Kamailio::start(&[ALICE]);
    let mut args = registered_args(&kamailio, ALICE.0, ALICE.1, Transport::Udp);
    args.extend(["--json", "--audio", "device"].map(String::from));
    if let Some(mock) = mock {
        let url = mock.url();
        args.extend(
            [
                "--bridge",
                "--realtime-url",
                &url,
                "--api-key",
                mock.api_key(),
            ]
            .map(String::from),
        );
    }
    let mut sipterm = headset.sipterm(args);
    wait_registered(&mut sipterm);
    let sipp = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(ALICE.0)
        .key("call_ms", 15_000)
        .spawn();
    wait_event(&mut sipterm, "an active call", |e| {
        is(e, "call_state") && e["state"] == "active"
    });
    if mock.is_some() {
        wait_event(&mut sipterm, "the bridge on", |e| {
            is(e, "bridge") && e["on"] == true
        });
    }
    std::thread::sleep(Duration::from_millis(1500));

    // Pulled out: its sound server dies. The call goes on; one plain warning says so.
    headset.unplug();
    wait_event(&mut sipterm, "the warning", |e| {
        is(e, "log")
            && e["level"] == "warn"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("stopped working"))
    });
    // Plugged back in: sipterm finds it again, and the caller is heard once more.
    headset.replug();
    wait_event(&mut sipterm, "the card back", |e| {
        is(e, "log")
            && e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("sound card back"))
    });
    // Within a few seconds (the first streams a just-started server accepts may be dropped
    // and opened again), the speaker plays the caller's tone again.
    let back = wait_until(Duration::from_secs(6), || {
        support::rms_dbfs(&headset.listen(Duration::from_millis(600), 8000)) > -30.0
    });
    assert!(back, "the speaker stayed silent after the replug");
    let heard = headset.listen(Duration::from_millis(1000), 8000);
    assert_tone(&heard, 8000, 1000.0, 15.0, "the speaker after the replug");

    let run = sipp.wait();
    assert!(
        run.success(),
        "the call did not survive\n{run}\n{}",
        sipterm.report()
    );
    let ended = wait_call_ended(&mut sipterm);
    assert_eq!(ended["reason"], "remote_hangup", "{ended}");
    let warnings: Vec<String> = events(&sipterm)
        .iter()
        .filter(|e| is(e, "log") && e["level"] == "warn")
        .map(|e| e["message"].to_string())
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        sipterm.stderr().trim().is_empty(),
        "noise on stderr:\n{}",
        sipterm.stderr()
    );
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(Duration::from_secs(20)), 0);
}
