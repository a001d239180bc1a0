//! How fast sipterm answers: the time from an INVITE arriving at its SIP port to the 200 OK
//! leaving it, with `--auto-answer`, over 100 calls placed by sipp through Kamailio.
//!
//! Measured on the wire (dumpcap on loopback), so it includes parsing, the engine's decisions,
//! SDP negotiation and the RTP port bind, and nothing of sipp or the proxy. Prints the median,
//! p90 and p99; there is no pass/fail threshold (shared machines are noisy).
//! Run: `cargo bench --bench answer_latency`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;
use support::pcap::{invite_to_200, CallEnd};
use support::sipterm::registered_args;
use support::{wait_until, Kamailio, RtpCapture, Sipp, Sipterm, Transport};

const CALLS: u32 = 100;

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. a filter) is ignored on purpose.
    let kamailio = Kamailio::start(&[("alice", "wonderland")]);
    let mut args = registered_args(&kamailio, "alice", "wonderland", Transport::Udp);
    let sip_port: u16 = args[args.iter().position(|a| a == "--port").unwrap() + 1]
        .parse()
        .unwrap();
    // Calls are short and overlap: 20 RTP ports are not enough for 10 at once plus stragglers.
    let rtp = args.iter().position(|a| a == "--rtp-ports").unwrap() + 1;
    let base = support::free_udp_port_block(200);
    args[rtp] = format!("{base}-{}", base + 199);
    args.extend(["--json", "--audio", "null", "--auto-answer"].map(String::from));
    let mut sipterm = Sipterm::spawn(args);
    sipterm
        .wait_for_stdout(r#""state":"registered""#, Duration::from_secs(30))
        .unwrap();

    // INVITEs go to sipterm's port, 200 OKs to Kamailio's: capture both ranges' span.
    let (lo, hi) = (sip_port.min(kamailio.port()), sip_port.max(kamailio.port()));
    let capture = RtpCapture::start_range(lo..=hi);
    let run = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service("alice")
        .key("call_ms", 300)
        .calls(CALLS)
        .rate(20.0, 1000)
        .limit(10)
        .timeout(Duration::from_secs(120))
        .trace_messages(false)
        .run();
    assert!(run.success(), "{run}");
    wait_until(Duration::from_secs(10), || {
        sipterm.stdout().matches(r#""event":"call_ended""#).count() >= CALLS as usize
    });
    let datagrams = capture.stop_datagrams();
    sipterm.interrupt();
    sipterm.wait(Duration::from_secs(10));

    let mut latencies = invite_to_200(&datagrams, sip_port, CallEnd::Callee);
    assert!(
        latencies.len() as u32 >= CALLS * 95 / 100,
        "only {} INVITE/200 pairs seen in the capture",
        latencies.len()
    );
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "answer_latency: INVITE in -> 200 OK out over {} calls: median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        ms(pick(0.5)),
        ms(pick(0.9)),
        ms(pick(0.99)),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
