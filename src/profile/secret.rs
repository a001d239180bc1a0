//! Secrets a profile points at instead of holding: an environment variable, or a command's
//! output (run once at start, like msmtp's passwordeval). A failing command is reported by its
//! exit status and the first line of its stderr, never by its output, which may be the secret.

use std::path::Path;
use std::process::{Command, Stdio};

use super::error::{Pos, ProfileError};
use super::keys::{SecretKey, SecretSource};

/// The secret that `key = value` at `at` in `file` points at.
pub fn fetch(
    file: &Path,
    key: &SecretKey,
    value: &str,
    at: Pos,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ProfileError> {
    match key.source {
        SecretSource::Env => {
            env(value)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ProfileError::SecretEnvUnset {
                    file: file.to_path_buf(),
                    at,
                    key: key.key.to_string(),
                    var: value.to_string(),
                })
        }
        SecretSource::Command => run(value).map_err(|failure| ProfileError::SecretCommand {
            file: file.to_path_buf(),
            at,
            key: key.key.to_string(),
            command: value.to_string(),
            failure,
        }),
    }
}

/// Runs `command` through `sh -c`; its stdout without the final newline, or why it failed.
fn run(command: &str) -> Result<String, String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        // A password manager may ask for its own passphrase on the terminal.
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("could not be started: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first_line = stderr.lines().map(str::trim).find(|l| !l.is_empty());
    let said = first_line.map(|l| format!(": {l}")).unwrap_or_default();
    if !out.status.success() {
        let status = match out.status.code() {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_string(),
        };
        return Err(format!("failed ({status}){said}"));
    }
    let Ok(text) = String::from_utf8(out.stdout) else {
        return Err("printed something that is not UTF-8".to_string());
    };
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if text.is_empty() {
        return Err(format!("printed nothing{said}"));
    }
    Ok(text.to_string())
}

/// The file can be read by users other than its owner (group or others have any access).
#[cfg(unix)]
pub fn others_can_read(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
pub fn others_can_read(_path: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::keys::SECRET_KEYS;

    fn key(name: &str) -> SecretKey {
        *SECRET_KEYS
            .iter()
            .find(|k| k.key == name)
            .expect("a secret key")
    }

    fn fetch_with(name: &str, value: &str) -> Result<String, String> {
        let env = |var: &str| (var == "SET").then(|| "from-env".to_string());
        fetch(
            Path::new("c.toml"),
            &key(name),
            value,
            Pos { line: 4, col: 1 },
            &env,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn the_environment_variable_named_gives_the_secret() {
        assert_eq!(fetch_with("password_env", "SET").unwrap(), "from-env");
        assert_eq!(
            fetch_with("api_key_env", "UNSET").unwrap_err(),
            "c.toml:4:1: `api_key_env` names the environment variable UNSET, which is not set or empty"
        );
    }

    #[test]
    fn a_commands_output_is_the_secret_without_its_final_newline() {
        assert_eq!(
            fetch_with("password_command", "printf 's3cret\\n\\n'").unwrap(),
            "s3cret\n"
        );
        assert_eq!(
            fetch_with("password_command", "echo s3cret").unwrap(),
            "s3cret"
        );
        assert_eq!(
            fetch_with("password_command", "printf 'with space\\r\\n'").unwrap(),
            "with space"
        );
    }

    #[test]
    fn a_failing_command_says_its_status_and_stderr_but_never_its_output() {
        let e = fetch_with(
            "password_command",
            "echo leaked-secret; echo 'gpg: decryption failed' >&2; echo more >&2; exit 3",
        )
        .unwrap_err();
        assert_eq!(
            e,
            "c.toml:4:1: `password_command`: the command `echo leaked-secret; echo 'gpg: \
             decryption failed' >&2; echo more >&2; exit 3` failed (exit status 3): gpg: \
             decryption failed"
        );
        let e = fetch_with("api_key_command", "true").unwrap_err();
        assert!(e.ends_with("the command `true` printed nothing"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn group_or_world_access_counts_as_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("sipterm-perm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "").unwrap();
        for (mode, open) in [(0o600, false), (0o640, true), (0o644, true), (0o400, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(others_can_read(&path), open, "{mode:o}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
