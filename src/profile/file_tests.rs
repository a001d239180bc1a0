use super::*;
use crate::profile::keys::SecretSource;
use clap::CommandFactory;

fn read(src: &str) -> Result<ConfigFile, ProfileError> {
    parse(src, Path::new("c.toml"), &crate::cli::Cli::command())
}

fn err(src: &str) -> String {
    match read(src) {
        Ok(file) => panic!("accepted: {file:?}"),
        Err(e) => e.to_string(),
    }
}

fn values(setting: &Setting) -> Vec<String> {
    match setting {
        Setting::Flag {
            value: FlagValue::Values(v),
            ..
        } => v.clone(),
        other => panic!("not values: {other:?}"),
    }
}

#[test]
fn profiles_map_keys_to_flags_with_their_lines() {
    let file = read(
        "default = \"work\"\n\
         [profiles.work]\n\
         sip_uri = \"sip:alice@pbx.example.com\"\n\
         port = 5070\n\
         bridge = true\n\
         header = [\"X-A: 1\", \"X-B: 2\"]\n\
         answer_after = 1.5\n\
         password_command = \"pass show sip/alice\"\n\
         [profiles.home]\n\
         transport = \"TCP\"\n\
         header = \"X-C: 3\"\n",
    )
    .expect("valid");
    assert_eq!(file.default.as_ref().map(|d| d.0.as_str()), Some("work"));
    let names: Vec<&str> = file.profiles.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["work", "home"], "in the file's order");
    let work = &file.profiles[0].settings;
    assert_eq!(work[0].long(), "sip-uri");
    assert_eq!(work[0].at(), Pos { line: 3, col: 1 });
    assert_eq!(values(&work[1]), ["5070"]);
    assert!(matches!(
        &work[2],
        Setting::Flag {
            value: FlagValue::Switch(true),
            ..
        }
    ));
    assert_eq!(values(&work[3]), ["X-A: 1", "X-B: 2"]);
    assert_eq!(values(&work[4]), ["1.5"]);
    match &work[5] {
        Setting::Secret { key, value, at } => {
            assert_eq!((key.long, key.source), ("password", SecretSource::Command));
            assert_eq!(value, "pass show sip/alice");
            assert_eq!(at.line, 8);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(values(&file.profiles[1].settings[1]), ["X-C: 3"]);
    assert!(!file.plain_secret);
}

#[test]
fn an_unknown_key_is_refused_with_its_line_and_the_nearest_key() {
    assert_eq!(
        err("[profiles.work]\nport = 5070\nsip_url = \"sip:a@b\"\n"),
        "c.toml:3:1: unknown key `sip_url` in [profiles.work]: did you mean `sip_uri`?"
    );
    assert_eq!(
        err("[profiles.w]\npasword_env = \"X\"\n"),
        "c.toml:2:1: unknown key `pasword_env` in [profiles.w]: did you mean `password_env`?"
    );
    assert_eq!(
        err("[profiles.w]\nfrobnicate = 1\n"),
        "c.toml:2:1: unknown key `frobnicate` in [profiles.w]"
    );
    assert_eq!(
        err("defualt = \"w\"\n"),
        "c.toml:1:1: unknown key `defualt` in the top level: did you mean `default`?"
    );
    // Flags live in profiles.
    assert!(err("port = 5070\n").contains("did you mean `[profiles.NAME] port`?"));
    // The meta flags are not settings.
    assert!(err("[profiles.w]\nprofile = \"x\"\n").contains("unknown key `profile`"));
}

#[test]
fn a_wrong_type_is_refused_at_the_value() {
    assert_eq!(
        err("[profiles.w]\nbridge = \"yes\"\n"),
        "c.toml:2:10: `bridge` must be true or false, not a string"
    );
    assert_eq!(
        err("[profiles.w]\nport = true\n"),
        "c.toml:2:8: `port` must be a string or a number, not a boolean"
    );
    assert_eq!(
        err("[profiles.w]\nheader = [1, {a = 1}]\n"),
        "c.toml:2:14: `header` must be an array of strings, not a table"
    );
    assert!(err("[profiles.w]\npassword_env = 3\n").contains("must be a non-empty string"));
    assert!(err("profiles = 3\n").contains("must be a table of [profiles.NAME] tables"));
    assert!(err("default = 3\n").contains("must be a profile's name"));
}

#[test]
fn a_bad_value_is_judged_by_the_flags_own_parser() {
    let e = err("[profiles.w]\n\ntransport = \"sctp\"\n");
    assert!(
        e.starts_with("c.toml:3:13: `transport`: invalid value 'sctp'"),
        "{e}"
    );
    assert!(e.contains("[possible values: udp, tcp, tls]"), "{e}");
    let e = err("[profiles.w]\nport = 70000\n");
    assert!(
        e.starts_with("c.toml:2:8: `port`: invalid value '70000'"),
        "{e}"
    );
    assert!(e.contains("65535"), "{e}");
    let e = err("[profiles.w]\nduration = -3\n");
    assert!(e.starts_with("c.toml:2:12: `duration`"), "{e}");
    let e = err("[profiles.w]\napi = \"beta\"\n");
    assert!(e.contains("`api`: invalid value 'beta'"), "{e}");
    // A voice is free text to clap; config.rs judges it against the API (and `blame` points
    // at the profile's line then).
    assert!(read("[profiles.w]\nvoice = \"robot\"\n").is_ok());
    // Values that would look like flags on a command line are fine.
    assert!(read("[profiles.w]\ninstructions = \"--be brief\"\n").is_ok());
    // Flags that need others are for the final parse, not the file, to judge.
    assert!(read("[profiles.w]\nrepeat = 3\n").is_ok());
}

#[test]
fn one_source_per_secret() {
    assert_eq!(
        err("[profiles.w]\npassword = \"x\"\npassword_command = \"echo y\"\n"),
        "c.toml:3:1: `password_command` and `password` both give the --password: keep one"
    );
    assert!(
        err("[profiles.w]\napi_key_env = \"A\"\napi_key_command = \"b\"\n")
            .contains("`api_key_command` and `api_key_env`")
    );
}

#[test]
fn a_plain_secret_is_noticed() {
    assert!(
        read("[profiles.w]\npassword = \"hunter2\"\n")
            .unwrap()
            .plain_secret
    );
    assert!(
        read("[profiles.w]\napi_key = \"sk-1\"\n")
            .unwrap()
            .plain_secret
    );
    assert!(
        !read("[profiles.w]\npassword_env = \"P\"\n")
            .unwrap()
            .plain_secret
    );
}

#[test]
fn bad_toml_names_the_line() {
    let e = err("[profiles.w]\nport = = 3\n");
    assert!(e.starts_with("c.toml:2:"), "{e}");
    assert!(e.contains("not valid TOML"), "{e}");
}
