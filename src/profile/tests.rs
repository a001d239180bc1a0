use super::*;
use crate::cli::TransportArg;

/// A config file in its own scratch folder, removed on drop.
struct TempConfig {
    dir: PathBuf,
    path: PathBuf,
}

impl TempConfig {
    fn new(text: &str) -> TempConfig {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sipterm-profile-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        let path = dir.join("config.toml");
        std::fs::write(&path, text).expect("config file");
        TempConfig { dir, path }
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const FILE: &str = "\
default = \"work\"

[profiles.work]
sip_uri = \"sip:alice@pbx.example.com\"
transport = \"tcp\"
port = 5070
bridge = true
header = [\"X-A: 1\", \"X-B: 2\"]
password_env = \"WORK_PASS\"

[profiles.home]
sip_uri = \"sip:bob@home.example.com\"
voice = \"Marin\"
verbose = false
";

fn env(name: &str) -> Option<String> {
    match name {
        "WORK_PASS" => Some("pw-from-env".into()),
        _ => None,
    }
}

fn resolve_args(config: &TempConfig, args: &[&str]) -> Result<Resolved, StartError> {
    let path = config.path.to_string_lossy().into_owned();
    let argv: Vec<OsString> = ["sipterm", "--config", path.as_str()]
        .iter()
        .chain(args)
        .map(OsString::from)
        .collect();
    resolve_with(argv, &env)
}

#[test]
fn the_default_profile_fills_the_flags() {
    let config = TempConfig::new(FILE);
    let r = resolve_args(&config, &[]).expect("resolves");
    assert_eq!(r.profile.as_deref(), Some("work"));
    assert_eq!(r.cli.sip_uri.as_deref(), Some("sip:alice@pbx.example.com"));
    assert_eq!(r.cli.transport, Some(TransportArg::Tcp));
    assert_eq!(r.cli.port, 5070);
    assert!(r.cli.bridge);
    assert_eq!(r.cli.headers, ["X-A: 1", "X-B: 2"]);
    assert_eq!(r.cli.password.as_deref(), Some("pw-from-env"));
    assert!(!r.print_config);
}

#[test]
fn the_command_line_beats_the_profile_and_the_profile_beats_defaults() {
    let config = TempConfig::new(FILE);
    let r = resolve_args(
        &config,
        &[
            "--port",
            "6000",
            "--header",
            "X-C: 3",
            "--password",
            "typed",
            "--profile",
            "work",
        ],
    )
    .expect("resolves");
    assert_eq!(r.cli.port, 6000);
    assert_eq!(
        r.cli.headers,
        ["X-C: 3"],
        "a repeated flag is replaced whole"
    );
    assert_eq!(r.cli.password.as_deref(), Some("typed"));
    // Not given on the command line: still the profile's.
    assert_eq!(r.cli.transport, Some(TransportArg::Tcp));
    // Neither: the built-in default.
    assert_eq!(r.cli.codecs, "pcmu,pcma,opus");
}

#[test]
fn profile_picks_another_and_unknown_names_list_the_known_ones() {
    let config = TempConfig::new(FILE);
    let r = resolve_args(&config, &["--profile", "home"]).expect("resolves");
    assert_eq!(r.cli.voice.as_deref(), Some("Marin"));
    assert!(!r.cli.verbose);
    assert_eq!(r.cli.port, 5060);
    assert_eq!(
        r.cli.password, None,
        "home has no password; WORK_PASS is work's"
    );
    let e = resolve_args(&config, &["--profile", "hom"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "no profile `hom` in {}: it has work, home",
            config.path.display()
        )
    );
}

#[test]
fn a_secret_is_fetched_only_when_the_command_line_does_not_give_it() {
    let config =
        TempConfig::new("[profiles.w]\nsip_uri = \"sip:a@b\"\npassword_command = \"exit 1\"\n");
    let e = resolve_args(&config, &["--profile", "w"]).unwrap_err();
    assert!(e.to_string().contains("failed (exit status 1)"), "{e}");
    let r = resolve_args(&config, &["--profile", "w", "--password", "x"]).expect("not run");
    assert_eq!(r.cli.password.as_deref(), Some("x"));
    // --print-config names the command without running it.
    let r = resolve_args(&config, &["--profile", "w", "--print-config"]).expect("not run");
    let text = r.render(&[]);
    let line = text.lines().find(|l| l.starts_with("password ")).unwrap();
    assert!(
        line.contains("<redacted>") && line.ends_with("from password_command"),
        "{line}"
    );
}

#[test]
fn a_missing_explicit_file_is_an_error_and_a_missing_default_one_is_not() {
    let config = TempConfig::new("");
    let gone = config.dir.join("nope.toml");
    let argv = |extra: &[&str]| -> Vec<OsString> {
        ["sipterm", "--sip-uri", "sip:a@b"]
            .iter()
            .chain(extra)
            .map(OsString::from)
            .collect()
    };
    let gone_str = gone.to_string_lossy().into_owned();
    let e = resolve_with(argv(&["--config", &gone_str]), &env).unwrap_err();
    assert!(
        e.to_string().starts_with("cannot read the config file"),
        "{e}"
    );
    let home = config.dir.to_string_lossy().into_owned();
    let no_file = |name: &str| match name {
        "HOME" => Some(home.clone()),
        _ => None,
    };
    let r = resolve_with(argv(&[]), &no_file).expect("no default file is fine");
    assert_eq!(r.profile, None);
    let e = resolve_with(argv(&["--profile", "w"]), &no_file).unwrap_err();
    assert!(e.to_string().contains("there is no config file at"), "{e}");
}

#[test]
fn the_default_path_follows_xdg() {
    let p = |x: Option<&str>, h: Option<&str>| {
        default_path(x.map(str::to_string), h.map(str::to_string))
    };
    assert_eq!(
        p(Some("/x"), Some("/h")),
        Some(PathBuf::from("/x/sipterm/config.toml"))
    );
    assert_eq!(
        p(Some("rel"), Some("/h")),
        Some(PathBuf::from("/h/.config/sipterm/config.toml"))
    );
    assert_eq!(
        p(None, Some("/h")),
        Some(PathBuf::from("/h/.config/sipterm/config.toml"))
    );
    assert_eq!(p(None, None), None);
}

#[test]
fn a_profile_may_supply_the_sip_uri_the_final_parse_insists_on() {
    let config = TempConfig::new("[profiles.w]\nport = 5070\n");
    let e = resolve_args(&config, &["--profile", "w"]).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("--sip-uri"), "{text}");
    assert!(text.contains("(profile `w` in"), "{text}");
    assert!(text.contains("added --port)"), "{text}");
}

#[test]
fn print_config_redacts_secrets_and_names_each_source() {
    let config = TempConfig::new(FILE);
    let r = resolve_args(&config, &["--print-config", "--port", "6000"]).expect("resolves");
    assert!(r.print_config, "asked for");
    let text = r.render(&[]);
    let file = config.path.display();
    let line = |key: &str| -> String {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(text.starts_with(&format!("# config file: {file}\n# profile: work\n")));
    assert_eq!(line("port"), "port = 6000 # command line");
    assert_eq!(
        line("sip_uri"),
        format!("sip_uri = sip:alice@pbx.example.com # profile work in {file}:4:1")
    );
    assert_eq!(
        line("header"),
        format!("header = [\"X-A: 1\", \"X-B: 2\"] # profile work in {file}:8:1")
    );
    assert_eq!(
        line("password"),
        format!(
            "password = <redacted> # profile work in {file}:9:1, from environment WORK_PASS \
             (password_env)"
        )
    );
    assert_eq!(line("codecs"), "codecs = pcmu,pcma,opus # default");
    assert_eq!(line("username"), "username = (not set)");
    assert!(!text.contains("pw-from-env"), "{text}");
    assert!(
        !text.contains("print_config"),
        "meta flags are not settings"
    );
}

#[test]
fn blame_points_at_the_profile_line_of_a_flag_config_rs_refuses() {
    let config = TempConfig::new("[profiles.w]\nsip_uri = \"sip:a@b\"\n\nrtp_ports = \"x\"\n");
    let r = resolve_args(&config, &["--profile", "w"]).expect("clap takes any string");
    assert_eq!(
        r.blame("--rtp-ports 'x' is not a port range").as_deref(),
        Some(
            format!(
                "(`rtp_ports` from profile w in {}:4:1)",
                config.path.display()
            )
            .as_str()
        )
    );
    assert_eq!(r.blame("--rtp-ports-x is odd"), None);
    assert_eq!(r.blame("--codecs 'g729'"), None, "not the profile's");
}

#[test]
fn a_default_naming_no_profile_points_at_its_line() {
    let config = TempConfig::new("\ndefault = \"wrok\"\n[profiles.work]\n");
    let e = resolve_args(&config, &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2:11: `default` names no profile: there is no [profiles.wrok] (it has work)",
            config.path.display()
        )
    );
}

#[test]
fn the_test_subcommand_still_works_with_a_profile() {
    let config = TempConfig::new("default = \"w\"\n[profiles.w]\nrepeat = 3\nport = 5_070\n");
    let path = config.path.to_string_lossy().into_owned();
    let argv = crate::cli::expand_test_subcommand(
        ["sipterm", "test", "s.toml", "--config", path.as_str()]
            .iter()
            .map(OsString::from)
            .collect(),
    );
    let r = resolve_with(argv, &env).expect("resolves");
    assert_eq!(r.cli.scenario, Some(PathBuf::from("s.toml")));
    assert_eq!(r.cli.repeat, Some(3), "needs --scenario, which `test` gave");
    assert_eq!(r.cli.port, 5070);
}

#[test]
fn a_missing_openai_key_is_a_warning_but_a_missing_password_stops_the_start() {
    let config = TempConfig::new(
        "[profiles.w]\nsip_uri = \"sip:a@b\"\napi_key_env = \"NOT_SET_ANYWHERE\"\n\
         [profiles.p]\nsip_uri = \"sip:a@b\"\npassword_env = \"NOT_SET_ANYWHERE\"\n",
    );
    let r = resolve_args(&config, &["--profile", "w"]).expect("starts without a key");
    assert!(
        r.warnings.iter().any(|w| w.contains("NOT_SET_ANYWHERE")
            && w.ends_with("a voice bridge will need --api-key or OPENAI_API_KEY instead")),
        "{:?}",
        r.warnings
    );
    let e = resolve_args(&config, &["--profile", "p"]).unwrap_err();
    assert!(e.to_string().contains("NOT_SET_ANYWHERE"), "{e}");
}
