//! The config file as a user meets it, through the real binary: profiles fill the flags the
//! command line leaves out, --print-config says where each value came from without showing a
//! secret, mistakes in the file exit 2 naming file:line and the key before anything is sent,
//! and a password only a `password_command` knows registers at a real Kamailio.

mod support;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::events::wait_registered;
use support::sipterm::registered_args;
use support::{Kamailio, ScratchDir, Sipterm, Transport};

const LONG: Duration = Duration::from_secs(30);

/// A scratch folder holding `config.toml` with `text`, readable by its owner only.
fn config_file(text: &str) -> (ScratchDir, PathBuf) {
    let dir = ScratchDir::new("config");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).expect("write the config file");
    set_mode(&path, 0o600);
    (dir, path)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Runs sipterm to its end with `env` set (and no secrets or config of the user's).
fn run(args: &[&str], env: &[(&str, &str)], xdg: &Path) -> (i32, String, String) {
    let out = Command::new(support::sipterm::binary())
        .args(args)
        .env_remove("SIP_PASSWORD")
        .env_remove("OPENAI_API_KEY")
        .env("XDG_CONFIG_HOME", xdg)
        // TWO_PROFILES' work profile takes its key from here.
        .env("WORK_OPENAI_KEY", "sk-profile-key")
        .envs(env.iter().copied())
        .output()
        .expect("run sipterm");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `--print-config` with the file at `path`; panics unless it exits 0.
fn print_config(path: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let file = path.to_string_lossy();
    let mut full = vec!["--config", &file, "--print-config"];
    full.extend_from_slice(args);
    let (code, stdout, stderr) = run(&full, env, path.parent().unwrap_or(path));
    assert_eq!(code, 0, "{full:?}: {stderr}");
    stdout
}

/// The line of `key`, its blanks squeezed: `port = 5070 # profile work in FILE:5:1`.
#[track_caller]
fn line(text: &str, key: &str) -> String {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no {key} in\n{text}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

const TWO_PROFILES: &str = r#"# two accounts
default = "work"

[profiles.work]
sip_uri = "sip:alice@pbx.example.com"
port = 5070
transport = "tcp"
header = ["X-Team: voice", "X-Case: 7"]
password = "plain-secret-1"
api_key_env = "WORK_OPENAI_KEY"

[profiles.home]
sip_uri = "sip:bob@home.example.com"
bridge = true
"#;

#[test]
fn print_config_shows_each_value_and_where_it_came_from_with_secrets_redacted() {
    let (_dir, path) = config_file(TWO_PROFILES);
    let file = path.display().to_string();
    let out = print_config(
        &path,
        &["--port", "6000"],
        &[("WORK_OPENAI_KEY", "sk-profile-key")],
    );
    assert!(
        out.starts_with(&format!("# config file: {file}\n# profile: work\n")),
        "{out}"
    );
    assert_eq!(line(&out, "port"), "port = 6000 # command line");
    assert_eq!(
        line(&out, "sip_uri"),
        format!("sip_uri = sip:alice@pbx.example.com # profile work in {file}:5:1")
    );
    assert_eq!(
        line(&out, "transport"),
        format!("transport = tcp # profile work in {file}:7:1")
    );
    assert_eq!(
        line(&out, "header"),
        format!(r#"header = ["X-Team: voice", "X-Case: 7"] # profile work in {file}:8:1"#)
    );
    assert_eq!(
        line(&out, "password"),
        format!("password = <redacted> # profile work in {file}:9:1")
    );
    assert_eq!(
        line(&out, "api_key"),
        format!(
            "api_key = <redacted> # profile work in {file}:10:1, from environment \
             WORK_OPENAI_KEY (api_key_env)"
        )
    );
    assert_eq!(line(&out, "codecs"), "codecs = pcmu,pcma,opus # default");
    assert_eq!(line(&out, "bridge"), "bridge = false # default");
    // What the configuration derives from other settings is shown, and said to be derived.
    assert_eq!(
        line(&out, "username"),
        "username = alice # the user part of sip_uri"
    );
    assert_eq!(
        line(&out, "model"),
        "model = gpt-realtime-2.1 # default for --api realtime"
    );
    assert_eq!(line(&out, "outbound_proxy"), "outbound_proxy = (not set)");
    assert!(
        !out.contains("plain-secret-1") && !out.contains("sk-profile-key"),
        "{out}"
    );
    // Flag order, as --help lists them: the account first.
    let keys: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        &keys[..3],
        ["sip_uri", "registrar_uri", "username"],
        "{out}"
    );
}

#[test]
fn a_flag_beats_the_profile_and_profile_picks_another() {
    let (_dir, path) = config_file(TWO_PROFILES);
    let file = path.display().to_string();
    let out = print_config(
        &path,
        &["--profile", "home", "--sip-uri", "sip:carol@x"],
        &[],
    );
    assert!(out.contains("# profile: home\n"), "{out}");
    assert_eq!(
        line(&out, "sip_uri"),
        "sip_uri = sip:carol@x # command line"
    );
    assert_eq!(
        line(&out, "bridge"),
        format!("bridge = true # profile home in {file}:14:1")
    );
    // Nothing of work's leaks into home.
    assert_eq!(line(&out, "port"), "port = 5060 # default");
    assert_eq!(line(&out, "password"), "password = (not set)");
    // The command line's repeatable flag replaces the profile's list.
    let out = print_config(&path, &["--header", "X-Only: 1"], &[]);
    assert_eq!(
        line(&out, "header"),
        r#"header = ["X-Only: 1"] # command line"#
    );
}

#[test]
fn the_profile_beats_the_environment_and_the_environment_beats_defaults() {
    let (_dir, path) = config_file(TWO_PROFILES);
    let file = path.display().to_string();
    let env = [("SIP_PASSWORD", "env-pass"), ("OPENAI_API_KEY", "sk-env")];
    // work has a password: it wins over SIP_PASSWORD.
    let out = print_config(&path, &[], &env);
    assert_eq!(
        line(&out, "password"),
        format!("password = <redacted> # profile work in {file}:9:1")
    );
    assert_eq!(
        line(&out, "api_key"),
        format!(
            "api_key = <redacted> # profile work in {file}:10:1, from environment \
             WORK_OPENAI_KEY (api_key_env)"
        )
    );
    // home has none: SIP_PASSWORD it is.
    let out = print_config(&path, &["--profile", "home"], &env);
    assert_eq!(
        line(&out, "password"),
        "password = <redacted> # environment SIP_PASSWORD"
    );
    assert_eq!(
        line(&out, "api_key"),
        "api_key = <redacted> # environment OPENAI_API_KEY"
    );
    assert!(
        !out.contains("env-pass") && !out.contains("sk-env"),
        "{out}"
    );
}

#[test]
fn the_default_file_is_found_under_xdg_config_home_and_a_missing_one_is_fine() {
    let xdg = ScratchDir::new("xdg");
    let (code, out, err) = run(&["--print-config"], &[], xdg.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("# config file: none ("), "{out}");
    assert!(out.contains("# profile: none\n"), "{out}");
    std::fs::create_dir_all(xdg.path().join("sipterm")).unwrap();
    let path = xdg.path().join("sipterm").join("config.toml");
    std::fs::write(&path, TWO_PROFILES).unwrap();
    set_mode(&path, 0o600);
    let (code, out, err) = run(&["--print-config"], &[], xdg.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("# profile: work\n"), "{out}");
    // A missing --config is a mistake, though.
    let gone = xdg.path().join("gone.toml");
    let (code, _, err) = run(
        &["--config", &gone.to_string_lossy(), "--print-config"],
        &[],
        xdg.path(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read the config file"), "{err}");
    let (code, _, err) = run(&["--profile", "nope", "--print-config"], &[], xdg.path());
    assert_eq!(code, 2);
    assert!(
        err.contains("no profile `nope`") && err.contains("it has work, home"),
        "{err}"
    );
}

/// Runs sipterm with a profile whose file holds `text` (profile `p`, sip_uri pointing at a
/// UDP socket we hold): it must exit 2 with `expected` on stderr and send nothing.
#[track_caller]
fn assert_refused_sending_nothing(body: &str, expected: &str) {
    let registrar = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = registrar.local_addr().expect("addr").port();
    let text = format!("[profiles.p]\nsip_uri = \"sip:alice@127.0.0.1:{port}\"\n{body}");
    let (_dir, path) = config_file(&text);
    let file = path.to_string_lossy().into_owned();
    let (code, stdout, stderr) = run(
        &[
            "--config",
            &file,
            "--profile",
            "p",
            "--headless",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--audio",
            "null",
            "--duration",
            "2",
        ],
        &[],
        path.parent().unwrap(),
    );
    assert_eq!(code, 2, "{body}: {stderr}{stdout}");
    let expected = expected.replace("FILE", &file);
    assert!(
        stderr.contains(&expected),
        "{body}: {stderr:?} lacks {expected:?}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    registrar
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        registrar.recv(&mut buf).is_err(),
        "{body}: a packet was sent"
    );
}

#[test]
fn mistakes_in_the_file_exit_2_naming_file_line_and_key_before_anything_is_sent() {
    assert_refused_sending_nothing(
        "port = 0\nregistrar_url = \"sip:x\"\n",
        "FILE:4:1: unknown key `registrar_url` in [profiles.p]: did you mean `registrar_uri`?",
    );
    assert_refused_sending_nothing(
        "transport = \"sctp\"\n",
        "FILE:3:13: `transport`: invalid value 'sctp'",
    );
    assert_refused_sending_nothing("rtp_timeout = 70000000000\n", "FILE:3:15: `rtp_timeout`");
    assert_refused_sending_nothing(
        "auto_answer = \"yes\"\n",
        "FILE:3:15: `auto_answer` must be true or false, not a string",
    );
    assert_refused_sending_nothing("codecs = [\"pcmu\"\n", "FILE:3:");
    assert_refused_sending_nothing("codecs = [\"pcmu\"\n", "not valid TOML");
    // config.rs's own checks point back at the profile's line.
    assert_refused_sending_nothing(
        "\nrtp_ports = \"20000-10000\"\n",
        "(`rtp_ports` from profile p in FILE:4:1)",
    );
    assert_refused_sending_nothing(
        "password_command = \"echo the-secret; echo 'no such entry' >&2; exit 1\"\n",
        "the command `echo the-secret; echo 'no such entry' >&2; exit 1` failed (exit status \
         1): no such entry",
    );
}

#[test]
fn a_plain_password_others_can_read_gets_a_warning_naming_the_fix() {
    let (_dir, path) = config_file(TWO_PROFILES);
    let file = path.to_string_lossy().into_owned();
    let args = ["--config", file.as_str(), "--print-config"];
    let (code, _, err) = run(&args, &[], path.parent().unwrap());
    assert_eq!(code, 0);
    assert!(err.is_empty(), "mode 600 is quiet: {err}");
    set_mode(&path, 0o644);
    let (code, _, err) = run(&args, &[], path.parent().unwrap());
    assert_eq!(code, 0);
    assert!(err.contains("warning"), "{err}");
    assert!(err.contains(&format!("chmod 600 {file}")), "{err}");
    assert!(err.contains("password_env/password_command"), "{err}");
    assert!(!err.contains("plain-secret-1"), "{err}");
    // A run tells it in its log too, where the TUI shows it.
    std::fs::write(
        &path,
        "default = \"w\"\n[profiles.w]\nsip_uri = \"sip:alice@127.0.0.1:9\"\npassword = \"p\"\n",
    )
    .unwrap();
    let run_args = [
        "--config",
        file.as_str(),
        "--headless",
        "--no-register",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--audio",
        "null",
        "--duration",
        "1",
    ];
    let (code, out, err) = run(&run_args, &[], path.parent().unwrap());
    assert_eq!(code, 0, "{err}");
    let warned = out
        .lines()
        .find(|l| l.contains("chmod 600"))
        .unwrap_or_default();
    assert!(warned.contains("⚠"), "{out}");
    assert!(out.contains("(profile w) listening for SIP"), "{out}");
    // No plain secret, no warning, whatever the mode.
    std::fs::write(&path, "[profiles.a]\npassword_env = \"X\"\n").unwrap();
    let (_, _, err) = run(&args, &[], path.parent().unwrap());
    assert!(err.is_empty(), "{err}");
}

#[test]
fn the_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/config.example.toml");
    let file = example.display().to_string();
    // Secrets on the command line: the example's commands are not run.
    for profile in ["office", "provider"] {
        let out = print_config(
            &example,
            &["--profile", profile, "--password", "x", "--api-key", "y"],
            &[],
        );
        assert!(out.contains(&format!("# profile: {profile}\n")), "{out}");
        assert!(
            line(&out, "sip_uri").contains(&format!("# profile {profile} in {file}:")),
            "{out}"
        );
    }
}

#[test]
fn a_password_only_the_command_knows_registers_and_the_profile_is_announced() {
    let kamailio = Kamailio::start(&[("alice", "wonderland")]);
    // The harness's account flags without --password: the profile's command supplies it.
    let mut args = registered_args(&kamailio, "alice", "unused", Transport::Udp);
    let at = args
        .iter()
        .position(|a| a == "--password")
        .expect("--password");
    args.drain(at..at + 2);
    // The shell builds the password, so it is nowhere in the file or the arguments.
    let (_dir, path) = config_file(
        "default = \"kam\"\n[profiles.kam]\npassword_command = \"echo wonder$(echo land)\"\n",
    );
    args.extend(
        [
            "--config",
            &path.to_string_lossy(),
            "--json",
            "--audio",
            "null",
        ]
        .map(String::from),
    );
    // SIP_PASSWORD is wrong: the profile is more specific and must win.
    let mut sipterm = Sipterm::spawn_with_env(args, &[("SIP_PASSWORD", "not-the-password")]);
    wait_registered(&mut sipterm);
    let out = sipterm.stdout();
    assert!(out.contains(r#""profile":"kam""#), "{out}");
    assert!(out.contains("(profile kam) listening for SIP"), "{out}");
    assert!(!out.contains("wonderland"), "{out}");
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
}

#[test]
fn print_config_follows_api_and_reports_a_value_the_configuration_refuses() {
    let (_dir, path) = config_file(
        "[profiles.agent]\nsip_uri = \"sip:bob@127.0.0.1\"\napi = \"live\"\nvoice = \"robot\"\n",
    );
    let file = path.to_string_lossy();
    let (code, stdout, stderr) = run(
        &["--config", &file, "--profile", "agent", "--print-config"],
        &[],
        path.parent().unwrap_or(&path),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.contains("# profile: agent"), "{stdout}");
    assert!(
        stderr.contains(
            "this configuration is refused: --voice 'robot' is not a voice of the GPT-Live API"
        ) && stderr.contains(&format!("(`voice` from profile agent in {file}:4:1)")),
        "{stderr}"
    );
    let out = print_config(&path, &["--profile", "agent", "--voice", "Juni"], &[]);
    assert_eq!(line(&out, "voice"), "voice = Juni # command line");
    assert_eq!(
        line(&out, "model"),
        "model = gpt-live-1 # default for --api live"
    );
    assert_eq!(
        line(&out, "realtime_url"),
        "realtime_url = wss://api.openai.com/v1/live/sessions # default for --api live"
    );
}
