//! What one sipp run did: exit status and every trace file, printable for assertions.

use std::fmt;
use std::process::ExitStatus;

use super::super::process::tail;

/// What one sipp run did. `Display` prints everything useful for a failed assertion.
#[derive(Debug, Clone)]
pub struct SippRun {
    pub scenario: String,
    /// `None` if the harness had to kill sipp after its timeout.
    pub status: Option<ExitStatus>,
    /// Every SIP message sent and received (`-trace_msg`).
    pub messages: String,
    /// Unexpected messages and other errors (`-trace_err`).
    pub errors: String,
    /// `<log>` actions (`-trace_logs`).
    pub actions: String,
    /// The final statistics screen (`-trace_screen`).
    pub screen: String,
    pub stderr: String,
    pub command_line: String,
}

impl SippRun {
    /// sipp's exit code: 0 all calls succeeded, 1 some failed, 97 stopped by an internal
    /// command, 99 no call processed, 255 fatal error, 254 could not bind a socket.
    pub fn exit_code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    pub fn success(&self) -> bool {
        self.exit_code() == Some(0)
    }

    /// Panics with the whole run report unless every call succeeded.
    #[track_caller]
    pub fn assert_success(&self) {
        assert!(self.success(), "sipp {} failed:\n{self}", self.scenario);
    }

    /// Status codes of the responses sipp received, in order (from the message trace).
    pub fn received_statuses(&self) -> Vec<u16> {
        self.received_first_lines()
            .iter()
            .filter_map(|m| m.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok())
            .collect()
    }

    /// Methods of the requests sipp received, in order.
    pub fn received_requests(&self) -> Vec<String> {
        self.received_first_lines()
            .iter()
            .filter(|m| !m.starts_with("SIP/2.0"))
            .filter_map(|m| m.split_whitespace().next().map(str::to_owned))
            .collect()
    }

    /// First lines of received messages, requests and responses in the order they came. sipp
    /// traces each as a line starting with "----------------------------------------------- <time>"
    /// then "UDP message received [n] bytes :" followed by the message.
    pub fn received_first_lines(&self) -> Vec<String> {
        let mut firsts = Vec::new();
        let mut lines = self.messages.lines();
        while let Some(line) = lines.next() {
            if line.contains("message received [") {
                if let Some(first) = lines.by_ref().map(str::trim).find(|l| !l.is_empty()) {
                    firsts.push(first.to_owned());
                }
            }
        }
        firsts
    }
}

impl fmt::Display for SippRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => "killed by the harness after its timeout".into(),
        };
        writeln!(f, "== sipp {} ({status})", self.scenario)?;
        writeln!(f, "== command: {}", self.command_line)?;
        writeln!(f, "== stderr:\n{}", tail(&self.stderr, 40))?;
        writeln!(f, "== errors:\n{}", tail(&self.errors, 60))?;
        writeln!(f, "== log actions:\n{}", tail(&self.actions, 20))?;
        writeln!(f, "== messages:\n{}", tail(&self.messages, 200))
    }
}
