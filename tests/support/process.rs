//! Child processes that are always stopped: `ChildGuard` sends SIGTERM, waits ~2 s, then
//! SIGKILLs the process and every descendant it had, and reaps it, on `stop()` or on drop,
//! so a panicking test never leaves a peer behind.
//!
//! Signals are sent with `/bin/kill` to keep the test crate free of a libc dependency.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long `stop()` waits after SIGTERM before it uses SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(2);

const POLL: Duration = Duration::from_millis(20);

/// One line a child wrote to stdout (without its newline) and when the harness read it.
#[derive(Debug, Clone)]
pub struct StampedLine {
    pub at: Instant,
    pub line: String,
}

/// Runs a command with stdin from /dev/null and stdout/stderr captured to
/// `<dir>/<name>.stdout` and `<dir>/<name>.stderr`; stops it on drop.
#[derive(Debug)]
pub struct ChildGuard {
    name: String,
    child: Child,
    status: Option<ExitStatus>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    /// Stdout lines with their arrival times, when spawned with [`ChildGuard::spawn_stamped`].
    stamped: Option<Arc<Mutex<Vec<StampedLine>>>>,
}

impl ChildGuard {
    /// Spawns `command`; panics with the program name and the OS error when it cannot start.
    pub fn spawn(name: &str, command: Command, dir: &Path) -> ChildGuard {
        ChildGuard::spawn_inner(name, command, dir, false, Stdio::null())
    }

    /// Like [`ChildGuard::spawn`], but stdout goes through a pipe that a thread of the harness
    /// reads line by line: each line is stamped the moment it arrives (for tests about *when*
    /// something was printed; polling the file would blur that) and appended to
    /// `<dir>/<name>.stdout` as usual, so [`ChildGuard::stdout`] still works.
    pub fn spawn_stamped(name: &str, command: Command, dir: &Path) -> ChildGuard {
        ChildGuard::spawn_inner(name, command, dir, true, Stdio::null())
    }

    /// Like [`ChildGuard::spawn`], but with a pipe to the child's stdin, for peers driven by
    /// commands typed at them (linphonec, the pjsua2 driver). Closing it is their EOF.
    pub fn spawn_with_stdin(name: &str, command: Command, dir: &Path) -> (ChildGuard, ChildStdin) {
        let mut guard = ChildGuard::spawn_inner(name, command, dir, false, Stdio::piped());
        let stdin = guard.child.stdin.take().expect("stdin was piped");
        (guard, stdin)
    }

    fn spawn_inner(
        name: &str,
        mut command: Command,
        dir: &Path,
        stamped: bool,
        stdin: Stdio,
    ) -> ChildGuard {
        let stdout_path = dir.join(format!("{name}.stdout"));
        let stderr_path = dir.join(format!("{name}.stderr"));
        let stdout = File::create(&stdout_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", stdout_path.display()));
        let stderr = File::create(&stderr_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", stderr_path.display()));
        command.stdin(stdin).stderr(stderr);
        // With stamps, the file is written by the reader thread instead of the child.
        let copy_to = if stamped {
            command.stdout(Stdio::piped());
            Some(stdout)
        } else {
            command.stdout(stdout);
            None
        };
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({:?}): {e}", command.get_program()));
        let stamped = copy_to.map(|stdout| {
            let pipe = child.stdout.take().expect("stdout was piped");
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&lines);
            thread::Builder::new()
                .name(format!("{name}-stdout"))
                .spawn(move || stamp_lines(pipe, stdout, &sink))
                .expect("spawn the stdout reader thread");
            lines
        });
        ChildGuard {
            name: name.to_owned(),
            child,
            status: None,
            stdout_path,
            stderr_path,
            stamped,
        }
    }

    /// Every stdout line so far with the time it arrived; empty unless spawned with
    /// [`ChildGuard::spawn_stamped`].
    pub fn stamped_stdout(&self) -> Vec<StampedLine> {
        self.stamped_stdout_from(0)
    }

    /// The stamped stdout lines from the `first`-th on (for readers that poll often and take
    /// only what is new).
    pub fn stamped_stdout_from(&self, first: usize) -> Vec<StampedLine> {
        let Some(lines) = &self.stamped else {
            return Vec::new();
        };
        let lines = lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines.get(first..).unwrap_or_default().to_vec()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout_path(&self) -> &Path {
        &self.stdout_path
    }

    pub fn stderr_path(&self) -> &Path {
        &self.stderr_path
    }

    /// Everything the process wrote to stdout so far (lossy UTF-8).
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    /// Everything the process wrote to stderr so far (lossy UTF-8).
    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr_path)
    }

    /// The exit status if the process has ended (reaping it), without waiting.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait on a child process");
        }
        self.status
    }

    pub fn is_running(&mut self) -> bool {
        self.try_wait().is_none()
    }

    /// Waits up to `timeout` for the process to end; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(POLL);
        }
    }

    /// Waits up to `timeout`; on timeout stops the process and panics, naming it.
    pub fn wait_or_panic(&mut self, timeout: Duration) -> ExitStatus {
        match self.wait_timeout(timeout) {
            Some(status) => status,
            None => {
                self.stop();
                panic!(
                    "{} (pid {}) did not exit within {timeout:?}; stderr:\n{}",
                    self.name,
                    self.pid(),
                    tail(&self.stderr(), 40)
                );
            }
        }
    }

    /// Sends a signal by name (`"INT"`, `"TERM"`, `"KILL"`, `"HUP"`, ...) if still running.
    pub fn signal(&mut self, signal: &str) {
        if self.is_running() {
            send_signal(self.pid(), signal);
        }
    }

    /// SIGINT, as a user's Ctrl+C would send.
    pub fn interrupt(&mut self) {
        self.signal("INT");
    }

    /// Stops the process: SIGTERM, up to `TERM_GRACE`, then SIGKILL for it and the
    /// descendants it had when this was called; always reaps. Returns the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.stop_with_grace(TERM_GRACE)
    }

    /// `stop()` with another grace between SIGTERM and SIGKILL (for peers such as baresip
    /// that take long over a clean shutdown the test does not need).
    pub fn stop_with_grace(&mut self, grace: Duration) -> ExitStatus {
        if let Some(status) = self.try_wait() {
            return status;
        }
        let descendants = descendants(self.pid());
        send_signal(self.pid(), "TERM");
        let status = match self.wait_timeout(grace) {
            Some(status) => status,
            None => {
                send_signal(self.pid(), "KILL");
                let status = self.child.wait().expect("wait for a killed child");
                self.status = Some(status);
                status
            }
        };
        // Forked workers (kamailio's) normally die with their parent; make sure.
        for pid in descendants {
            if process_exists(pid) {
                send_signal(pid, "KILL");
            }
        }
        status
    }
}

/// Reads `pipe` until the child closes it (the thread ends with it): stamps each line on
/// arrival and appends it to `file`.
fn stamp_lines(pipe: ChildStdout, mut file: File, lines: &Mutex<Vec<StampedLine>>) {
    let mut reader = BufReader::new(pipe);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let at = Instant::now();
        // The file is what `stdout()` and failure reports read: keep it whole even if a
        // reader is slow; a write error only loses the copy, not the stamps.
        let _ = file.write_all(&raw).and_then(|()| file.flush());
        let line = String::from_utf8_lossy(&raw)
            .trim_end_matches(['\n', '\r'])
            .to_owned();
        lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(StampedLine { at, line });
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

fn send_signal(pid: u32, signal: &str) {
    // Failure means the process is already gone, which is what we want anyway.
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// True if a process with this pid exists and is not a zombie.
pub fn process_exists(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat_field(&stat, 0) != Some("Z"),
        Err(_) => false,
    }
}

/// Fields after the `(comm)` part of /proc/<pid>/stat: 0 = state, 1 = ppid.
fn stat_field(stat: &str, index: usize) -> Option<&str> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(index)
}

/// All live descendants of `pid` (children, grandchildren, ...), from /proc.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
                if let Some(ppid) = stat_field(&stat, 1).and_then(|s| s.parse().ok()) {
                    parents.push((child, ppid));
                }
            }
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Pids of live processes whose command line contains `needle` (like `pgrep -f`), excluding
/// this test process. Used to prove peers are gone: pass a scratch dir path.
pub fn pids_with_cmdline_containing(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut pids = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == me || !process_exists(pid) {
                continue;
            }
            if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
                let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
                if cmdline.contains(needle) {
                    pids.push(pid);
                }
            }
        }
    }
    pids
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

/// A file's content as lossy UTF-8; empty if it does not exist.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The last `lines` lines of `text`, for failure messages.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Panics with a clear sentence when a tool the integration tests need is not installed.
pub fn require_tool(program: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "the integration tests need `{program}` on PATH (Debian: apt-get install kamailio sip-tester \
         tshark sox baresip)"
    );
}

/// Asserts that no process mentions any of these scratch dirs any more (peers were stopped).
#[track_caller]
pub fn assert_gone(dirs: &[std::path::PathBuf]) {
    for dir in dirs {
        let needle = dir.to_string_lossy();
        let left = pids_with_cmdline_containing(&needle);
        assert!(
            left.is_empty(),
            "processes left behind for {needle}: {left:?}"
        );
    }
}
