//! A program run in a real terminal: a tmux server of its own (a private socket in a scratch
//! dir, so tests never touch a user's tmux and run in parallel), keys typed in, the screen read
//! back (plain or with colours), and, once the program has exited, proof that it left the
//! terminal sane: main screen, cursor shown, no mouse reporting, `icanon echo` not raw.
//! The tmux server and everything running in it are killed on drop.
//!
//! [`Tmux::start`] runs the program under a small shell wrapper that, when the program ends,
//! records `stty -a` and the exit status, prints `EXITED:<status>` and the `stty -a` output in
//! the pane, and hands the pane to an interactive shell (prompt [`PROMPT`]), as a person's
//! terminal would be. [`Tmux::start_bare`] only records the status: the pane dies with the
//! program and stays, dead (`remain-on-exit on`). The status is recorded by the wrapper
//! because tmux 3.3's `#{pane_dead_status}` is sometimes never filled in (about 1 run in 6
//! here); it remains the fallback.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::ports::ScratchDir;
use super::process::{descendants, process_exists, require_tool, tail};

/// The tmux session (and so target) name inside the private server.
const SESSION: &str = "main";

/// The prompt of the shell the wrapper leaves in the pane after the program exits.
pub const PROMPT: &str = "shell$";

/// The line the wrapper prints when the program has exited: `EXITED:<status>`.
pub const EXITED_MARKER: &str = "EXITED:";

const POLL: Duration = Duration::from_millis(50);

/// The wrapper run in the pane: `run.sh <dir> shell|bare <program> [args...]`.
const WRAPPER: &str = r#"#!/bin/sh
# Runs the program and records its exit status; with "shell", also records how it left the
# terminal and leaves an interactive shell in the pane, as a person's terminal would be.
dir=$1
mode=$2
shift 2
# A handler, not "ignore": the program gets default signal handling back on exec, while a
# Ctrl+C that kills it does not kill this wrapper before it records how the terminal was left.
trap : INT QUIT
"$@"
status=$?
if [ "$mode" = bare ]; then
  echo "$status" > "$dir/status.tmp" && mv "$dir/status.tmp" "$dir/status"
  exit "$status"
fi
stty -a > "$dir/stty.txt" 2>&1
printf '%s%s\n' 'EXITED:' "$status"
stty -a
echo "$status" > "$dir/status.tmp" && mv "$dir/status.tmp" "$dir/status"
PS1='shell$ ' exec sh -i
"#;

/// A program running in a private tmux server; the server is killed on drop.
#[derive(Debug)]
pub struct Tmux {
    socket: PathBuf,
    wrapped: bool,
    server_pid: Option<u32>,
    pane_pid: u32,
    // Last: the server stops before its socket's directory goes.
    dir: ScratchDir,
}

/// How the terminal looked after the program exited (see [`Tmux::wait_for_exit`]).
#[derive(Debug, Clone)]
pub struct AfterExit {
    /// The program's exit status as the wrapper's `$?` saw it (128 + n for signal n).
    pub exit_status: i32,
    /// `stty -a` on the pane's terminal right after the program exited.
    pub stty: String,
    /// tmux's `#{alternate_on}`: the program left the alternate screen on.
    pub alternate_screen: bool,
    /// tmux's `#{cursor_flag}`: the cursor is visible.
    pub cursor_visible: bool,
    /// tmux's `#{mouse_any_flag}`: some mouse reporting mode is still on.
    pub mouse_reporting: bool,
    /// The pane's text once the wrapper's shell prompt is (or should have been) back.
    pub screen: String,
}

impl AfterExit {
    /// Every way the terminal is not as a person expects it after the program exits; empty
    /// when it is sane.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.alternate_screen {
            problems.push("the alternate screen is still on".to_owned());
        }
        if !self.cursor_visible {
            problems.push("the cursor is hidden".to_owned());
        }
        if self.mouse_reporting {
            problems.push("mouse reporting is still on".to_owned());
        }
        // What cfmakeraw (crossterm's raw mode) turns off; a sane line discipline has them on.
        for flag in ["icanon", "echo", "isig", "icrnl", "opost"] {
            match stty_flag(&self.stty, flag) {
                Some(true) => {}
                Some(false) => problems.push(format!("stty shows -{flag} (raw mode left on)")),
                None => problems.push(format!("stty -a does not mention {flag}")),
            }
        }
        if !self.screen.contains(EXITED_MARKER) {
            problems.push(format!("the pane does not show {EXITED_MARKER}"));
        }
        let last = self.screen.lines().rev().find(|l| !l.trim().is_empty());
        if !last.is_some_and(|l| l.trim_end().ends_with(PROMPT)) {
            problems.push(format!("the shell prompt {PROMPT:?} is not the last line"));
        }
        problems
    }

    /// Panics, listing the problems and the screen, unless the terminal is sane.
    #[track_caller]
    pub fn assert_sane(&self) {
        let problems = self.problems();
        assert!(
            problems.is_empty(),
            "the terminal is not sane after exit: {}\n== stty -a:\n{}\n== screen:\n{}",
            problems.join("; "),
            self.stty,
            self.screen
        );
    }
}

/// Whether `stty -a` output shows `flag` on (`flag`) or off (`-flag`); `None` if absent.
pub fn stty_flag(stty: &str, flag: &str) -> Option<bool> {
    let negated = format!("-{flag}");
    stty.split(|c: char| c.is_whitespace() || c == ';')
        .find_map(|word| {
            if word == flag {
                Some(true)
            } else if word == negated {
                Some(false)
            } else {
                None
            }
        })
}

impl Tmux {
    /// Runs `command` (program and arguments) in a `size` = (columns, rows) terminal, under
    /// the wrapper that records how the terminal was left (see the module docs). `env` is
    /// added to the program's environment; `TERM` is `tmux-256color` and `LANG` `C.UTF-8`
    /// unless `env` says otherwise, and `NO_COLOR` and `OPENAI_API_KEY` are removed unless
    /// `env` sets them.
    pub fn start(size: (u16, u16), command: &[String], env: &[(&str, &str)]) -> Tmux {
        Tmux::launch(size, command, env, true)
    }

    /// Runs `command` with nothing after it: when it exits the pane dies (and stays, dead:
    /// `remain-on-exit on`), and [`Tmux::exit_status`] has its status.
    pub fn start_bare(size: (u16, u16), command: &[String], env: &[(&str, &str)]) -> Tmux {
        Tmux::launch(size, command, env, false)
    }

    fn launch(
        (columns, rows): (u16, u16),
        command: &[String],
        env: &[(&str, &str)],
        wrapped: bool,
    ) -> Tmux {
        require_tool("tmux");
        assert!(!command.is_empty(), "Tmux::start needs a program to run");
        let dir = ScratchDir::new("tmux");
        let wrapper = dir.join("run.sh");
        std::fs::write(&wrapper, WRAPPER)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", wrapper.display()));
        let mut argv = vec![
            "sh".to_owned(),
            wrapper.display().to_string(),
            dir.path().display().to_string(),
            if wrapped { "shell" } else { "bare" }.to_owned(),
        ];
        argv.extend(command.iter().cloned());
        // remain-on-exit must hold before the program can exit, so it is in the config file
        // the server reads at start rather than set afterwards.
        let config = dir.join("tmux.conf");
        std::fs::write(
            &config,
            "set -g status off\n\
             set -g remain-on-exit on\n\
             set -g default-terminal tmux-256color\n\
             set -g history-limit 2000\n",
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
        let socket = dir.join("sock");

        let mut vars: Vec<(String, String)> = vec![("LANG".into(), "C.UTF-8".into())];
        for (name, value) in env {
            vars.retain(|(n, _)| n != name);
            vars.push((name.to_string(), value.to_string()));
        }
        let mut tmux_new = tmux_command(&socket);
        tmux_new.arg("-f").arg(&config);
        // The server passes its environment on to the pane: keep the test's NO_COLOR and any
        // real API key out of it unless the test sets them on purpose.
        for name in ["NO_COLOR", "OPENAI_API_KEY"] {
            if !env.iter().any(|(n, _)| *n == name) {
                tmux_new.env_remove(name);
            }
        }
        tmux_new.args(["new-session", "-d", "-s", SESSION]);
        tmux_new.args(["-x", &columns.to_string(), "-y", &rows.to_string()]);
        // The program starts in the scratch dir, like `Sipterm::spawn`'s.
        tmux_new.arg("-c").arg(dir.path());
        for (name, value) in &vars {
            // The server is started by this command, so it inherits these too.
            tmux_new.env(name, value);
            tmux_new.arg("-e").arg(format!("{name}={value}"));
        }
        tmux_new.arg("--").args(&argv);
        let output = tmux_new
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux: {e}"));
        assert!(
            output.status.success(),
            "tmux new-session failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );

        let mut tmux = Tmux {
            socket,
            wrapped,
            server_pid: None,
            pane_pid: 0,
            dir,
        };
        tmux.server_pid = tmux.display("#{pid}").ok().and_then(|s| s.parse().ok());
        tmux.pane_pid = tmux
            .display("#{pane_pid}")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("tmux reported no pane pid"));
        tmux
    }

    /// Runs a tmux command on this server; its stdout, or its stderr as the error.
    pub fn command(&self, args: &[&str]) -> Result<String, String> {
        let output = tmux_command(&self.socket)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run tmux: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "tmux {args:?} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// A tmux format (`#{pane_width}`, ...) expanded for the pane.
    pub fn display(&self, format: &str) -> Result<String, String> {
        self.command(&["display-message", "-p", "-t", SESSION, format])
            .map(|s| s.trim_end_matches('\n').to_owned())
    }

    /// The scratch dir holding the socket, the config and the wrapper's records.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The pane's size as tmux sees it: (columns, rows).
    pub fn size(&self) -> (u16, u16) {
        let text = self
            .display("#{pane_width} #{pane_height}")
            .unwrap_or_default();
        let mut parts = text.split(' ').filter_map(|s| s.parse().ok());
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    }

    /// Resizes the terminal (the program gets SIGWINCH).
    pub fn resize(&self, (columns, rows): (u16, u16)) {
        self.command(&[
            "resize-window",
            "-t",
            SESSION,
            "-x",
            &columns.to_string(),
            "-y",
            &rows.to_string(),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The pid of the pane's first process: the wrapper shell.
    pub fn pane_pid(&self) -> u32 {
        self.pane_pid
    }

    /// The pid of the program under test (the wrapper's child) while it runs; `None` once
    /// it has exited.
    pub fn program_pid(&self) -> Option<u32> {
        if self.status_file().is_some() {
            return None;
        }
        let ppid_of = |pid: u32| -> Option<u32> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            stat[stat.rfind(')')? + 1..]
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        };
        descendants(self.pane_pid)
            .into_iter()
            .find(|&pid| ppid_of(pid) == Some(self.pane_pid))
    }

    /// Types `text` literally (`send-keys -l`): every character is a key, no key names.
    pub fn send_keys(&self, text: &str) {
        self.command(&["send-keys", "-t", SESSION, "-l", "--", text])
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Presses one key by tmux's name for it: `"Enter"`, `"Tab"`, `"Up"`, `"C-c"`, `"q"`...
    pub fn send_key(&self, key: &str) {
        self.command(&["send-keys", "-t", SESSION, key])
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The screen as plain text (`capture-pane -p`), one line per row, trailing blanks trimmed.
    pub fn capture(&self) -> String {
        self.command(&["capture-pane", "-p", "-t", SESSION])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The screen with its colours and attributes as ANSI escapes (`capture-pane -e -p`).
    pub fn capture_ansi(&self) -> String {
        self.command(&["capture-pane", "-e", "-p", "-t", SESSION])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Polls the screen until it contains `needle`; `Ok(screen)`, or `Err` with the last
    /// screen if it does not within `timeout`.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Result<String, String> {
        self.wait_until(&format!("{needle:?}"), timeout, |screen| {
            screen.contains(needle)
        })
    }

    /// Polls the screen until `test(screen)` holds; `Ok(screen)`, or `Err` naming `what`
    /// with the last screen.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut test: impl FnMut(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture();
            if test(&screen) {
                return Ok(screen);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the screen never showed {what} within {timeout:?}; last screen:\n{screen}"
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// Whether the pane's process has exited (`#{pane_dead}`): with [`Tmux::start_bare`]
    /// once the program has; with [`Tmux::start`] the wrapper's shell keeps it alive.
    pub fn pane_dead(&self) -> bool {
        self.display("#{pane_dead}").is_ok_and(|s| s == "1")
    }

    /// The program's exit status once it has exited (128 + n if signal n killed it), from
    /// the wrapper's record, else tmux's `#{pane_dead_status}` of a dead pane; `None` while
    /// it runs.
    pub fn exit_status(&self) -> Option<i32> {
        if let Some(status) = self.status_file() {
            return Some(status);
        }
        if !self.pane_dead() {
            return None;
        }
        self.display("#{pane_dead_status}").ok()?.parse().ok()
    }

    fn status_file(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("status"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Waits for the program to exit (it must have been started with [`Tmux::start`]) and
    /// for the wrapper's shell prompt, then reports how the terminal was left. `Err` with the
    /// screen if the program is still running after `timeout`.
    pub fn wait_for_exit(&self, timeout: Duration) -> Result<AfterExit, String> {
        assert!(
            self.wrapped,
            "wait_for_exit needs Tmux::start (the wrapper)"
        );
        let deadline = Instant::now() + timeout;
        let exit_status = loop {
            if let Some(status) = self.status_file() {
                break status;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the program did not exit within {timeout:?}; screen:\n{}",
                    self.capture()
                ));
            }
            thread::sleep(POLL);
        };
        // The prompt follows the status record at once; a terminal left without `opost` may
        // mangle it, which the caller sees in `problems()`, so this wait is short and silent.
        let screen = self
            .wait_until("the prompt", Duration::from_secs(3), |s| {
                s.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .is_some_and(|l| l.trim_end().ends_with(PROMPT))
            })
            .unwrap_or_else(|_| self.capture());
        let flag = |format: &str| self.display(format).is_ok_and(|s| s == "1");
        Ok(AfterExit {
            exit_status,
            stty: std::fs::read_to_string(self.dir.join("stty.txt")).unwrap_or_default(),
            alternate_screen: flag("#{alternate_on}"),
            cursor_visible: flag("#{cursor_flag}"),
            mouse_reporting: flag("#{mouse_any_flag}"),
            screen,
        })
    }

    /// The end of the screen, for failure messages.
    pub fn report(&self) -> String {
        format!(
            "== terminal ({:?}):\n{}",
            self.size(),
            tail(&self.capture(), 60)
        )
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let mut pids = descendants(self.pane_pid);
        pids.push(self.pane_pid);
        if let Some(server) = self.server_pid {
            pids.extend(descendants(server));
            pids.push(server);
        }
        // kill-server sends SIGHUP to what runs in the panes; anything that ignores it is
        // killed after a short grace.
        let _ = tmux_command(&self.socket)
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(2);
        while pids.iter().any(|&p| process_exists(p)) && Instant::now() < deadline {
            thread::sleep(POLL);
        }
        for pid in pids.into_iter().filter(|&p| process_exists(p)) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// `tmux -u -S <socket>`: UTF-8 output whatever the test's locale, and never the user's
/// server (`TMUX` is removed so a test run inside tmux does not mistake it for nesting).
fn tmux_command(socket: &Path) -> Command {
    let mut command = Command::new("tmux");
    command
        .arg("-u")
        .arg("-S")
        .arg(socket)
        .env_remove("TMUX")
        .stdin(Stdio::null());
    // The server's environment is every pane's: no config file of the developer's.
    if let Some(scratch) = socket.parent() {
        command.env("XDG_CONFIG_HOME", scratch);
    }
    command
}
