//! CPU time of a process from `/proc/<pid>/stat`, for benchmarks such as "CPU time one echo
//! call costs per second of audio". Printed as figures, never asserted as timings.

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Clock ticks per second of the `utime`/`stime` fields: `getconf CLK_TCK`, else 100
/// (USER_HZ is 100 on every Linux architecture the tests run on).
pub fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// User + system CPU time the process has used so far (all its threads; not its children).
/// `None` if it does not exist (any more).
pub fn try_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after "(comm)": state is 0, utime 11, stime 12 (fields 14 and 15 of proc(5)).
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = clock_ticks_per_second();
    let total = utime + stime;
    Some(
        Duration::from_secs(total / ticks)
            + Duration::from_nanos((total % ticks) * 1_000_000_000 / ticks),
    )
}

/// Like [`try_cpu_time`]; panics, naming the pid, if the process is gone.
pub fn cpu_time(pid: u32) -> Duration {
    try_cpu_time(pid).unwrap_or_else(|| panic!("no /proc/{pid}/stat: process {pid} is gone"))
}

/// CPU time and wall time of a process from a starting point: `CpuMeter::start(pid)`, run the
/// workload, then `usage()`. Resolution is one clock tick (10 ms), so measure seconds.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    pid: u32,
    cpu: Duration,
    wall: Instant,
}

/// What a [`CpuMeter`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUsage {
    pub cpu: Duration,
    pub wall: Duration,
}

impl CpuUsage {
    /// CPU seconds per wall second (1.0 = one core busy).
    pub fn share(&self) -> f64 {
        self.cpu.as_secs_f64() / self.wall.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// CPU time per second of `audio` (e.g. the call's duration).
    pub fn per_audio_second(&self, audio: Duration) -> Duration {
        self.cpu.div_f64(audio.as_secs_f64().max(f64::MIN_POSITIVE))
    }
}

impl CpuMeter {
    pub fn start(pid: u32) -> CpuMeter {
        CpuMeter {
            pid,
            cpu: cpu_time(pid),
            wall: Instant::now(),
        }
    }

    /// Usage since `start` (panics if the process is gone: read it before it exits).
    pub fn usage(&self) -> CpuUsage {
        CpuUsage {
            cpu: cpu_time(self.pid).saturating_sub(self.cpu),
            wall: self.wall.elapsed(),
        }
    }
}
