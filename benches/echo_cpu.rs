//! What one call costs: CPU time of the sipterm process per second of an echo call (PCMU,
//! decode → jitter buffer → echo → encode, RTCP, meters), against the same process idle.
//!
//! sipp places one 20 s call through Kamailio with a 1 kHz tone; CPU time comes from
//! /proc/<pid>/stat (user + system). Prints figures, asserts nothing about time.
//! Run: `cargo bench --bench echo_cpu`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;
use support::cpu::CpuMeter;
use support::sipterm::registered_args;
use support::{Kamailio, Sipp, Sipterm, Transport};

const CALL: Duration = Duration::from_secs(20);

fn main() {
    let kamailio = Kamailio::start(&[("alice", "wonderland")]);
    let mut args = registered_args(&kamailio, "alice", "wonderland", Transport::Udp);
    args.extend(["--json", "--audio", "echo"].map(String::from));
    let mut sipterm = Sipterm::spawn(args);
    sipterm
        .wait_for_stdout(r#""state":"registered""#, Duration::from_secs(30))
        .unwrap();

    let idle = CpuMeter::start(sipterm.pid());
    std::thread::sleep(Duration::from_secs(5));
    let idle = idle.usage();

    let busy = CpuMeter::start(sipterm.pid());
    let run = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service("alice")
        .key("call_ms", CALL.as_millis())
        .timeout(Duration::from_secs(60))
        .run();
    assert!(run.success(), "{run}");
    sipterm
        .wait_for_stdout(r#""event":"call_ended""#, Duration::from_secs(10))
        .unwrap();
    let busy = busy.usage();
    sipterm.interrupt();
    sipterm.wait(Duration::from_secs(10));

    let per_second =
        |cpu: Duration, wall: Duration| cpu.as_secs_f64() * 1000.0 / wall.as_secs_f64();
    let call_cost = per_second(busy.cpu, busy.wall);
    let idle_cost = per_second(idle.cpu, idle.wall);
    println!(
        "echo_cpu: one PCMU echo call costs {:.2} ms of CPU per second of audio \
         ({:.2} % of a core; the idle process costs {:.2} ms/s), over {:.1} s",
        call_cost - idle_cost,
        (call_cost - idle_cost) / 10.0,
        idle_cost,
        busy.wall.as_secs_f64()
    );
}
