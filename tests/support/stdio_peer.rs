//! A peer driven by lines typed at its stdin and observed through the lines it prints: what
//! linphonec and the pjsua2 driver have in common. Stopped on drop, like every child here.

use std::io::Write;
use std::process::{ChildStdin, Command};
use std::time::Duration;

use super::ports::ScratchDir;
use super::process::{tail, wait_until, ChildGuard};

#[derive(Debug)]
pub struct StdioPeer {
    stdin: ChildStdin,
    child: ChildGuard,
}

impl StdioPeer {
    /// Starts `command` with a pipe to its stdin; its output goes to files in `dir`.
    pub fn spawn(name: &str, command: Command, dir: &ScratchDir) -> StdioPeer {
        let (child, stdin) = ChildGuard::spawn_with_stdin(name, command, dir.path());
        StdioPeer { stdin, child }
    }

    /// Types `line` (a newline is added); panics with its output if it has gone.
    #[track_caller]
    pub fn send(&self, line: &str) {
        if let Err(e) = (&self.stdin).write_all(format!("{line}\n").as_bytes()) {
            panic!(
                "cannot type {line:?} at {}: {e}\n{}",
                self.child.name(),
                self.report()
            );
        }
    }

    pub fn stdout(&self) -> String {
        self.child.stdout()
    }

    pub fn stderr(&self) -> String {
        self.child.stderr()
    }

    /// How many times `needle` occurs in its stdout so far.
    pub fn count(&self, needle: &str) -> usize {
        self.stdout().matches(needle).count()
    }

    /// Waits until `needle` has occurred `times` times in its stdout; `Err` with its output
    /// if not within `timeout` or if it exits first.
    pub fn wait_for(
        &mut self,
        needle: &str,
        times: usize,
        timeout: Duration,
    ) -> Result<(), String> {
        let mut ended = false;
        wait_until(timeout, || {
            ended = !self.child.is_running();
            ended || self.count(needle) >= times
        });
        if self.count(needle) >= times {
            return Ok(());
        }
        let why = if ended {
            "it exited first".to_owned()
        } else {
            format!("not within {timeout:?}")
        };
        Err(format!(
            "{} never printed {needle:?} {times} time(s): {why}\n{}",
            self.child.name(),
            self.report()
        ))
    }

    /// Like [`StdioPeer::wait_for`], panicking with the output.
    #[track_caller]
    pub fn expect(&mut self, needle: &str, times: usize, timeout: Duration) {
        if let Err(why) = self.wait_for(needle, times, timeout) {
            panic!("{why}");
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.is_running()
    }

    /// The end of its stdout and stderr, for failure messages.
    pub fn report(&self) -> String {
        format!(
            "== {} stdout:\n{}\n== stderr:\n{}",
            self.child.name(),
            tail(&self.stdout(), 60),
            tail(&self.stderr(), 30)
        )
    }
}
