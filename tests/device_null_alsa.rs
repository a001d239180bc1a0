//! The sound-card path (`--audio device`) on machines without a sound card, through ALSA.
//!
//! alsa-lib reads its configuration from `ALSA_CONFIG_PATH` when present, so a test can stand
//! in a virtual card (`tests/assets/alsa-null.conf`: `default` is the `null` plugin) or none
//! at all (`tests/assets/alsa-empty.conf`). The variable must be set before the first ALSA call
//! of a process and must not leak into other tests, so each test re-runs this test binary
//! with the variable set and only itself selected; the child does the work, and the parent
//! checks its exit status and that it wrote nothing at all to stderr.

#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use sipterm::media::device::{list_devices, list_devices_text, DeviceChoice, SoundCard};

/// Set in the child: the name of the test it is to run for real.
const CHILD: &str = "SIPTERM_DEVICE_TEST_CHILD";

fn asset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/assets")
        .join(name)
}

/// Which ALSA configuration the child sees.
enum Alsa {
    Config(&'static str),
    /// Whatever the machine has (no variable at all).
    System,
}

/// True in the child, which should then run the test body.
fn in_child(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|t| t == test)
}

/// Runs `test` in a child process under `alsa`, and fails unless it passed and kept stderr
/// empty (libtest itself reports on stdout).
fn run_child(test: &str, alsa: Alsa) {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .env_remove("ALSA_CONFIG_PATH")
        .env("RUST_BACKTRACE", "0");
    if let Alsa::Config(file) = alsa {
        cmd.env("ALSA_CONFIG_PATH", asset(file));
    }
    let out = cmd.output().expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test:\n{stdout}"
    );
    assert!(stderr.is_empty(), "the child wrote to stderr:\n{stderr}");
}

/// Port calls take microseconds; one that waited for the card (a full or empty ring) would
/// take forever. The bound is loose so that a loaded runner cannot trip it.
const NO_BLOCKING: Duration = Duration::from_secs(1);

#[test]
fn null_device_opens_and_serves_one_call_at_a_time() {
    const NAME: &str = "null_device_opens_and_serves_one_call_at_a_time";
    if !in_child(NAME) {
        return run_child(NAME, Alsa::Config("alsa-null.conf"));
    }
    let card = SoundCard::open(&DeviceChoice::default()).expect("open the null card");
    assert_eq!(
        card.description(),
        "input: default @ 48000 Hz, output: default @ 48000 Hz"
    );
    let mut port = card.attach(8_000).expect("a port for the first call");
    assert!(card.attach(8_000).is_none(), "the card is busy with a call");

    // Two seconds of 20 ms ticks, as the call's media task would run them.
    let start = Instant::now();
    let mut frame = [0i16; 160];
    for tick in 0..100u32 {
        let t = Instant::now();
        port.sink(&[1_000; 160]);
        port.source(&mut frame);
        assert!(
            t.elapsed() < NO_BLOCKING,
            "tick {tick} took {:?}",
            t.elapsed()
        );
        // The null PCM captures silence.
        assert!(frame.iter().all(|&s| s == 0));
        let next = start + Duration::from_millis(20 * (u64::from(tick) + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let stats = card.stats();
    // Unloaded, every frame but the first (filling the cushion) comes from the card; the null
    // PCM's threads spin, and on a busy two-core runner they starve each other now and then.
    assert!(stats.captured_frames >= 50, "{stats:?}");
    assert_eq!(stats.played_frames + stats.output_trims, 100, "{stats:?}");
    assert_eq!(card.failed(), None);

    drop(port);
    let mut wide = card.attach(48_000).expect("the card is free again");
    let mut frame = [1i16; 960];
    wide.sink(&[0; 960]);
    wide.source(&mut frame);
    assert!(
        frame.iter().all(|&s| s == 0),
        "cushion silence or null capture"
    );
    drop(wide);
    drop(card);
}

#[test]
fn null_device_is_listed_as_the_default() {
    const NAME: &str = "null_device_is_listed_as_the_default";
    if !in_child(NAME) {
        return run_child(NAME, Alsa::Config("alsa-null.conf"));
    }
    let devices = list_devices().expect("list");
    assert_eq!(devices.len(), 1, "{devices:?}");
    let d = &devices[0];
    assert_eq!(d.name, "default");
    assert_eq!(d.description, "sipterm test null device");
    assert!(
        d.input && d.output && d.default_input && d.default_output,
        "{d:?}"
    );
    let text = list_devices_text();
    assert!(text.starts_with("default  in+out  "), "{text}");
    assert!(
        text.ends_with("sipterm test null device  (default input and output)\n"),
        "{text}"
    );
}

#[test]
fn unknown_device_name_lists_the_available_ones() {
    const NAME: &str = "unknown_device_name_lists_the_available_ones";
    if !in_child(NAME) {
        return run_child(NAME, Alsa::Config("alsa-null.conf"));
    }
    let choice = DeviceChoice {
        input: Some("USB Headset".to_owned()),
        output: None,
    };
    let err = SoundCard::open(&choice).expect_err("no such device");
    assert_eq!(
        err.to_string(),
        "no input device named 'USB Headset'; available: default"
    );
    // Its description works as a name too.
    let choice = DeviceChoice {
        input: None,
        output: Some("sipterm test null device".to_owned()),
    };
    let card = SoundCard::open(&choice).expect("open by description");
    assert!(card.description().ends_with("output: default @ 48000 Hz"));
}

#[test]
fn empty_alsa_config_means_no_sound_card_and_no_noise() {
    const NAME: &str = "empty_alsa_config_means_no_sound_card_and_no_noise";
    if !in_child(NAME) {
        return run_child(NAME, Alsa::Config("alsa-empty.conf"));
    }
    let err = SoundCard::open(&DeviceChoice::default()).expect_err("nothing to open");
    assert_eq!(err.to_string(), "no sound card found");
    assert_eq!(list_devices().expect("an empty list is no error"), vec![]);
    assert_eq!(list_devices_text(), "no sound card found\n");
}

#[test]
fn this_machines_own_alsa_setup_probes_silently() {
    const NAME: &str = "this_machines_own_alsa_setup_probes_silently";
    if !in_child(NAME) {
        return run_child(NAME, Alsa::System);
    }
    // A machine with a card opens it; one without (CI) must say so, and alsa-lib's usual
    // "cannot find card '0'" lines must not reach stderr either way.
    let _ = list_devices_text();
    match SoundCard::open(&DeviceChoice::default()) {
        Ok(card) => assert!(card.description().starts_with("input: ")),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
