//! Many echo calls at once: sipp places N simultaneous PCMU calls through Kamailio to a UA
//! that echoes them (sipterm `--audio echo`, or baresip's echo module), and what the UA did
//! is judged on the wire and in /proc — for `benches/load.rs`, and for tests at scale
//! ([`sipterm_echo_calls`]: does every `call_ended` arrive?).
//!
//! The wire figures count what a receiver would hear: per stream, the frames its RTP
//! timestamps say were due against the sequence numbers that arrived, so a frame that was
//! never sent (timestamp jumps, sequence contiguous) counts as lost like one dropped on the
//! way.

use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::capture::{parse_rtp, RtpCapture, UdpDatagram};
use super::cpu::try_cpu_time;
use super::kamailio::Kamailio;
use super::ports::free_udp_port_block;
use super::process::wait_until;
use super::sipp::{Sipp, SippRun, Transport};
use super::sipterm::{registered_args, Sipterm};

/// RTP timestamp units in one 20 ms PCMU frame.
pub const FRAME_TICKS: i64 = 160;
/// The nominal gap between two frames of a stream.
pub const FRAME: Duration = Duration::from_millis(20);
/// What one call's stream must carry to count as up: a second of audio.
const MIN_PACKETS: usize = 50;
/// Trimmed from both ends of the all-calls-up window, so no call's set-up or BYE is in it.
const WINDOW_MARGIN: Duration = Duration::from_millis(500);

/// sipp's call rate for `calls` simultaneous calls: all up within about four seconds, at
/// 20 to 250 a second (Kamailio and sipp share the two cores with the UA).
pub fn setup_rate(calls: u32) -> u32 {
    (calls / 4).clamp(20, 250)
}

/// `calls` simultaneous `call_len` PCMU calls to `user` through `kamailio`, each streaming a
/// 1 kHz tone (`uac_tone.xml`), no message trace. Set `.media_port(..)` to know where the
/// UA's RTP goes before the calls start.
pub fn echo_calls(kamailio: &Kamailio, user: &str, calls: u32, call_len: Duration) -> Sipp {
    let rate = setup_rate(calls);
    let setup = Duration::from_secs(u64::from(calls / rate) + 1);
    Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(user)
        .key("call_ms", call_len.as_millis())
        .calls(calls)
        .limit(calls)
        .rate(f64::from(rate), 1000)
        .timeout(call_len + setup + Duration::from_secs(30))
        .trace_messages(false)
}

/// Failed calls as sipp's final screen counts them (`Failed call` line, cumulative column);
/// `None` when the screen has no such line (sipp killed before it wrote one).
pub fn sipp_failed_calls(run: &SippRun) -> Option<u32> {
    run.screen
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("Failed call"))
        .and_then(|l| l.split('|').next_back())
        .and_then(|n| n.trim().parse().ok())
}

/// Arguments for a headless sipterm registered as `user` that answers and echoes every call,
/// with `--json` events and room for `calls` calls' RTP and RTCP (and the random port
/// picks' collisions); returns them and the RTP port range.
pub fn sipterm_echo_args(
    kamailio: &Kamailio,
    user: &str,
    password: &str,
    calls: u32,
) -> (Vec<String>, RangeInclusive<u16>) {
    let mut args = registered_args(kamailio, user, password, Transport::Udp);
    let count = u16::try_from(calls.saturating_mul(3).saturating_add(64))
        .unwrap_or(u16::MAX)
        .min(20_000);
    let lo = free_udp_port_block(count);
    let ports = lo..=lo + (count - 1);
    if let Some(at) = args.iter().position(|a| a == "--rtp-ports") {
        args[at + 1] = format!("{lo}-{}", lo + (count - 1));
    }
    args.extend(["--json", "--audio", "echo", "--auto-answer"].map(String::from));
    (args, ports)
}

/// How many `call_ended` events sipterm's `--json` stdout holds.
pub fn call_ended_count(sipterm: &Sipterm) -> usize {
    sipterm.stdout().matches(r#""event":"call_ended""#).count()
}

/// Waits up to `timeout` for `calls` `call_ended` events; returns how many arrived.
pub fn wait_for_call_ended(sipterm: &Sipterm, calls: u32, timeout: Duration) -> usize {
    let mut seen = 0;
    wait_until(timeout, || {
        seen = call_ended_count(sipterm);
        seen >= calls as usize
    });
    seen
}

/// What [`sipterm_echo_calls`] saw.
#[derive(Debug)]
pub struct EchoCalls {
    pub placed: u32,
    /// Failed calls by sipp's count (`None`: sipp wrote no final screen).
    pub sipp_failed: Option<u32>,
    /// `"event":"call_ended"` lines sipterm printed (waited for up to 30 s after sipp ended).
    pub call_ended: usize,
    pub sipp: SippRun,
}

/// A headless test at scale: a fresh Kamailio and sipterm (`--json --audio echo
/// --auto-answer`), `calls` simultaneous sipp echo calls of `call_len`, then the count of
/// `call_ended` events. Panics only if the harness fails (Kamailio or the registration).
pub fn sipterm_echo_calls(calls: u32, call_len: Duration) -> EchoCalls {
    let kamailio = Kamailio::start(&[("loaduser", "loadpass")]);
    let (args, _) = sipterm_echo_args(&kamailio, "loaduser", "loadpass", calls);
    let mut sipterm = Sipterm::spawn(args);
    sipterm
        .wait_for_stdout(r#""state":"registered""#, Duration::from_secs(30))
        .unwrap_or_else(|why| panic!("sipterm did not register: {why}"));
    let sipp = echo_calls(&kamailio, "loaduser", calls, call_len).run();
    let call_ended = wait_for_call_ended(&sipterm, calls, Duration::from_secs(30));
    sipterm.interrupt();
    sipterm.wait(Duration::from_secs(10));
    EchoCalls {
        placed: calls,
        sipp_failed: sipp_failed_calls(&sipp),
        call_ended,
        sipp,
    }
}

/// A process's memory from /proc/<pid>/status, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    /// Resident now (`VmRSS`).
    pub rss_kib: u64,
    /// The most it was ever resident (`VmHWM`).
    pub hwm_kib: u64,
    /// Its threads (`Threads`): the scheduler shares the cores out per thread, so a UA with
    /// a thread per call gets more of a busy machine than one with a few.
    pub threads: u64,
}

/// [`Memory`] of `pid`; `None` if it has gone.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        threads: field("Threads:")?,
    })
}

/// A process's CPU time read every `every` on a thread of its own, each sample stamped with
/// the wall clock (the time base of a capture), so the CPU of a window found afterwards in
/// the capture can be read off.
#[derive(Debug)]
pub struct CpuSampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<(Duration, Duration)>>>,
    thread: Option<JoinHandle<()>>,
}

impl CpuSampler {
    pub fn start(pid: u32, every: Duration) -> CpuSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (stop_flag, store) = (Arc::clone(&stop), Arc::clone(&samples));
        let thread = std::thread::spawn(move || {
            let mut next = Instant::now();
            while !stop_flag.load(Ordering::Relaxed) {
                let Some(cpu) = try_cpu_time(pid) else { break };
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                store
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((now, cpu));
                next += every;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
        CpuSampler {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// Stops sampling; returns (wall clock since the epoch, CPU time so far) pairs.
    pub fn stop(mut self) -> Vec<(Duration, Duration)> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// CPU time and wall time between the first sample at or after `from` and the last at or
/// before `to`; `None` when fewer than two samples fall inside.
pub fn cpu_between(
    samples: &[(Duration, Duration)],
    from: Duration,
    to: Duration,
) -> Option<(Duration, Duration)> {
    let first = samples.iter().find(|(t, _)| *t >= from)?;
    let last = samples.iter().rev().find(|(t, _)| *t <= to)?;
    (last.0 > first.0).then(|| (last.1.saturating_sub(first.1), last.0 - first.0))
}

/// One RTP stream (source port and SSRC) as captured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamFigures {
    pub src_port: u16,
    pub ssrc: u32,
    pub packets: usize,
    pub distinct_seqs: usize,
    /// Sequence numbers missing between the first and the last.
    pub seq_gaps: u64,
    /// Frames the timestamps say were due: (last − first) / 160 + 1.
    pub frames_due: u64,
    /// Capture times (since the epoch) of the first and last packet.
    pub first: Duration,
    pub last: Duration,
}

impl StreamFigures {
    /// Frames due that never arrived (a silent skip counts, a duplicate does not make up).
    pub fn frames_lost(&self) -> u64 {
        self.frames_due.saturating_sub(self.distinct_seqs as u64)
    }
}

/// What a UA sent in all its calls, judged on the wire.
#[derive(Debug, Clone, Default)]
pub struct WireFigures {
    pub streams: Vec<StreamFigures>,
    /// Per call (source port): frames lost, summed over its streams.
    pub lost_per_call: BTreeMap<u16, u64>,
    /// |inter-arrival − 20 ms| of consecutive packets of each stream, sorted, in µs.
    pub pacing_dev_us: Vec<u64>,
}

impl WireFigures {
    /// Calls (source ports) that sent any RTP.
    pub fn calls_with_rtp(&self) -> usize {
        self.lost_per_call.len()
    }

    pub fn max_lost(&self) -> u64 {
        self.lost_per_call.values().copied().max().unwrap_or(0)
    }

    pub fn total_lost(&self) -> u64 {
        self.lost_per_call.values().sum()
    }

    /// Calls that lost at least one frame.
    pub fn calls_with_loss(&self) -> usize {
        self.lost_per_call.values().filter(|&&n| n > 0).count()
    }

    pub fn total_seq_gaps(&self) -> u64 {
        self.streams.iter().map(|s| s.seq_gaps).sum()
    }

    /// The nearest-rank `p`-th percentile of the pacing deviation.
    pub fn pacing_dev(&self, p: f64) -> Option<Duration> {
        nearest_rank(&self.pacing_dev_us, p).map(Duration::from_micros)
    }

    /// The stretch when every call that carried audio (≥ 1 s) was sending: from the last
    /// stream's start to the first stream's end, trimmed by half a second at each end;
    /// `None` if there is no such stretch. Returns it and how many calls were up in it.
    pub fn all_up_window(&self) -> Option<(Duration, Duration, usize)> {
        let up: Vec<&StreamFigures> = self
            .streams
            .iter()
            .filter(|s| s.packets >= MIN_PACKETS)
            .collect();
        let start = up.iter().map(|s| s.first).max()? + WINDOW_MARGIN;
        let end = up
            .iter()
            .map(|s| s.last)
            .min()?
            .checked_sub(WINDOW_MARGIN)?;
        let calls = up
            .iter()
            .map(|s| s.src_port)
            .collect::<std::collections::HashSet<_>>()
            .len();
        (end > start).then_some((start, end, calls))
    }
}

/// The nearest-rank percentile (`p` in 0..=100) of sorted values.
pub fn nearest_rank(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Figures of the RTP in `datagrams` (capture order), stream by stream.
pub fn wire_figures(datagrams: &[UdpDatagram]) -> WireFigures {
    struct Acc {
        figures: StreamFigures,
        last_seq: u16,
        seq: i64,
        last_ts: u32,
        ts: i64,
        seqs: Vec<i64>,
        min_ts: i64,
        max_ts: i64,
    }
    let mut streams: HashMap<(u16, u32), Acc> = HashMap::new();
    let mut deviations = Vec::new();
    for d in datagrams {
        let Some(p) = parse_rtp(d) else { continue };
        let key = (p.src.port(), p.ssrc);
        match streams.get_mut(&key) {
            None => {
                streams.insert(
                    key,
                    Acc {
                        figures: StreamFigures {
                            src_port: key.0,
                            ssrc: key.1,
                            packets: 1,
                            first: p.time,
                            last: p.time,
                            ..StreamFigures::default()
                        },
                        last_seq: p.seq,
                        seq: 0,
                        last_ts: p.timestamp,
                        ts: 0,
                        seqs: vec![0],
                        min_ts: 0,
                        max_ts: 0,
                    },
                );
            }
            Some(acc) => {
                // Unwrapped relative to the packet before: both counters wrap in long calls.
                acc.seq += i64::from(p.seq.wrapping_sub(acc.last_seq) as i16);
                acc.ts += i64::from(p.timestamp.wrapping_sub(acc.last_ts) as i32);
                acc.last_seq = p.seq;
                acc.last_ts = p.timestamp;
                acc.seqs.push(acc.seq);
                acc.min_ts = acc.min_ts.min(acc.ts);
                acc.max_ts = acc.max_ts.max(acc.ts);
                let gap = p.time.saturating_sub(acc.figures.last);
                let dev = gap.abs_diff(FRAME);
                deviations.push(dev.as_micros() as u64);
                acc.figures.packets += 1;
                acc.figures.last = p.time;
            }
        }
    }
    deviations.sort_unstable();
    let mut wire = WireFigures {
        pacing_dev_us: deviations,
        ..WireFigures::default()
    };
    for (_, mut acc) in streams {
        acc.seqs.sort_unstable();
        acc.seqs.dedup();
        let span = acc.seqs.last().copied().unwrap_or(0) - acc.seqs.first().copied().unwrap_or(0);
        let f = &mut acc.figures;
        f.distinct_seqs = acc.seqs.len();
        f.seq_gaps = (span + 1).max(0) as u64 - f.distinct_seqs as u64;
        f.frames_due = ((acc.max_ts - acc.min_ts) / FRAME_TICKS + 1) as u64;
        *wire.lost_per_call.entry(f.src_port).or_default() += f.frames_lost();
        wire.streams.push(acc.figures);
    }
    wire.streams.sort_by_key(|s| (s.src_port, s.first));
    wire
}

/// The UA under load: its process, the account sipp calls, the ports its RTP leaves from.
#[derive(Debug, Clone)]
pub struct Target {
    pub pid: u32,
    pub user: String,
    pub rtp_ports: RangeInclusive<u16>,
}

/// One load run's figures.
#[derive(Debug, Clone)]
pub struct LoadFigures {
    pub calls: u32,
    pub sipp: SippRun,
    pub sipp_failed: Option<u32>,
    pub wire: WireFigures,
    /// CPU time over the all-calls-up window, its length and the calls up in it.
    pub cpu: Option<(Duration, Duration, usize)>,
    /// Registered and idle, before the calls.
    pub idle: Memory,
    /// Halfway through the calls, when all are up.
    pub mid_calls: Option<Memory>,
    /// When the calls had ended (VmHWM then holds their peak).
    pub after_calls: Memory,
    /// [`LINGER`] after the calls ended.
    pub settled: Memory,
}

/// How long after the calls the memory is read again (has it been returned?).
pub const LINGER: Duration = Duration::from_secs(10);

impl LoadFigures {
    /// Calls that failed: sipp's count (all, if it wrote none), or calls with no RTP on the
    /// wire, whichever is larger.
    pub fn failed(&self) -> u32 {
        let by_sipp = self.sipp_failed.unwrap_or(self.calls);
        let silent = self.calls.saturating_sub(self.wire.calls_with_rtp() as u32);
        by_sipp.max(silent)
    }

    /// CPU time per second of one call while all were up.
    pub fn cpu_per_call_second(&self) -> Option<Duration> {
        let (cpu, wall, calls) = self.cpu?;
        (calls > 0).then(|| cpu.div_f64(calls as f64 * wall.as_secs_f64()))
    }

    /// Peak growth per call: (VmHWM after the calls − VmHWM idle) / calls, in KiB.
    pub fn hwm_growth_per_call_kib(&self) -> f64 {
        self.after_calls.hwm_kib.saturating_sub(self.idle.hwm_kib) as f64
            / f64::from(self.calls.max(1))
    }

    /// `<ua> N=<calls>: failed …, frames lost per call max … (total …), CPU … ms per
    /// call-second, RSS idle … MB, +… KB per call, after … MB; pacing |dev| p50 … ms p99 … ms`.
    pub fn line(&self, ua: &str) -> String {
        let mb = |kib: u64| kib as f64 / 1024.0;
        let ms = |d: Option<Duration>| {
            d.map_or("n/a".into(), |d| format!("{:.2} ms", d.as_secs_f64() * 1e3))
        };
        let cpu = match (self.cpu_per_call_second(), self.cpu) {
            (Some(per), Some((_, wall, calls))) => format!(
                "{} per call-second ({calls} calls up for {:.1} s)",
                ms(Some(per)),
                wall.as_secs_f64()
            ),
            _ => "n/a (the calls were never all up at once)".into(),
        };
        format!(
            "load: {ua} N={}: failed {} (sipp {}, no RTP {}), frames lost per call max {} \
             (total {} in {} calls, seq gaps {}), CPU {cpu}, RSS idle {:.1} MB, +{:.0} KB per call, \
             after {:.1} MB; pacing |dev| p50 {} p99 {}; threads idle {}, in the calls {}",
            self.calls,
            self.failed(),
            self.sipp_failed
                .map_or("no final screen".into(), |n| n.to_string()),
            self.calls.saturating_sub(self.wire.calls_with_rtp() as u32),
            self.wire.max_lost(),
            self.wire.total_lost(),
            self.wire.calls_with_loss(),
            self.wire.total_seq_gaps(),
            mb(self.idle.rss_kib),
            self.hwm_growth_per_call_kib(),
            mb(self.settled.rss_kib),
            ms(self.wire.pacing_dev(50.0)),
            ms(self.wire.pacing_dev(99.0)),
            self.idle.threads,
            self.mid_calls
                .map_or("n/a".into(), |m| m.threads.to_string()),
        )
    }
}

/// Loads `target` with `calls` simultaneous `call_len` echo calls from sipp through
/// `kamailio`, capturing the RTP it sends and sampling its CPU and memory; returns when its
/// memory has been read [`LINGER`] after the calls. Panics if the UA dies under it.
pub fn measure(
    kamailio: &Kamailio,
    target: &Target,
    calls: u32,
    call_len: Duration,
) -> LoadFigures {
    let gone = |what: &str| format!("the UA (pid {}) is gone {what}", target.pid);
    let idle = memory(target.pid).unwrap_or_else(|| panic!("{}", gone("before the calls")));
    let media_port = free_udp_port_block(4);
    // 96 bytes hold the headers and RTP's; 256 MB of kernel buffer take a 1 000-call burst.
    let capture = RtpCapture::start_sent_from(target.rtp_ports.clone(), media_port, 96, 256);
    let sampler = CpuSampler::start(target.pid, Duration::from_millis(100));
    let started = Instant::now();
    let sipp = echo_calls(kamailio, &target.user, calls, call_len)
        .media_port(media_port)
        .spawn();
    let setup = Duration::from_secs_f64(f64::from(calls) / f64::from(setup_rate(calls)));
    std::thread::sleep((setup + call_len / 2).saturating_sub(started.elapsed()));
    let mid_calls = memory(target.pid);
    let sipp = sipp.wait();
    let ended = Instant::now();
    let after_calls =
        memory(target.pid).unwrap_or_else(|| panic!("{}\n{sipp}", gone("after the calls")));
    let datagrams = capture.stop_datagrams();
    let samples = sampler.stop();
    std::thread::sleep(LINGER.saturating_sub(ended.elapsed()));
    let settled = memory(target.pid).unwrap_or_else(|| panic!("{}", gone("after the calls")));
    let wire = wire_figures(&datagrams);
    let cpu = wire.all_up_window().and_then(|(from, to, up)| {
        cpu_between(&samples, from, to).map(|(cpu, wall)| (cpu, wall, up))
    });
    LoadFigures {
        calls,
        sipp_failed: sipp_failed_calls(&sipp),
        sipp,
        wire,
        cpu,
        idle,
        mid_calls,
        after_calls,
        settled,
    }
}
