//! How fast sipterm answers, beside baresip: the time from an INVITE arriving at the UA's SIP
//! port to the 200 OK leaving it, with auto-answer, over 100 calls placed by sipp through
//! Kamailio — first to sipterm (`--auto-answer`), then, with the same scenario and rate, to
//! baresip 1.0 (`answermode=auto`).
//!
//! Measured on the wire (dumpcap on loopback), so it includes parsing, the UA's decisions,
//! SDP negotiation and the RTP port bind, and nothing of sipp or the proxy. Prints each UA's
//! median, p90 and p99 and sipterm's over baresip's; there is no pass/fail threshold (shared
//! machines are noisy, which is why the two run back to back and the ratio is the figure).
//! Run: `cargo bench --bench answer_latency`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;
use support::baresip::{Answer, Baresip, BaresipConfig, Tone};
use support::pcap::{invite_to_200, CallEnd};
use support::sipterm::registered_args;
use support::{wait_until, Kamailio, RtpCapture, Sipp, Sipterm, Transport};

const CALLS: u32 = 100;
/// At most this many calls at once (sipp's `-l`), at 20 a second.
const AT_ONCE: u32 = 10;

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. a filter) is ignored on purpose.
    let kamailio = Kamailio::start(&[("alice", "wonderland"), ("bob", "builder")]);
    let ours = Figures::of(&sipterm_latencies(&kamailio));
    let theirs = Figures::of(&baresip_latencies(&kamailio));
    println!("{}", ours.line("sipterm"));
    println!("{}", theirs.line("baresip"));
    println!(
        "answer_latency: sipterm/baresip: median {:.2}, p90 {:.2}, p99 {:.2}",
        ours.median / theirs.median,
        ours.p90 / theirs.p90,
        ours.p99 / theirs.p99,
    );
}

/// sipterm with `--auto-answer`, registered as alice.
fn sipterm_latencies(kamailio: &Kamailio) -> Vec<Duration> {
    let mut args = registered_args(kamailio, "alice", "wonderland", Transport::Udp);
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
    let latencies = run_calls(kamailio, "alice", sip_port, Strict::Yes, || {
        sipterm.stdout().matches(r#""event":"call_ended""#).count() >= CALLS as usize
    });
    sipterm.interrupt();
    sipterm.wait(Duration::from_secs(10));
    latencies
}

/// baresip as the issue measured it: its echo module answers every call at once (with
/// `answermode=auto` its audio source would open first: `aufile` playing silence costs it
/// about 9 ms per call here), PCMU only, registered as bob.
fn baresip_latencies(kamailio: &Kamailio) -> Vec<Duration> {
    let config = BaresipConfig::new("bob")
        .codecs(&["PCMU"])
        .tone(Tone::Echo)
        .answer(Answer::Manual)
        .registrar(kamailio.addr(), "bob", "builder")
        .rtp_port_count(u16::try_from(AT_ONCE * 20).unwrap_or(u16::MAX))
        .config_line("call_max_calls 64");
    let baresip = Baresip::start(config);
    baresip
        .wait_registered(Duration::from_secs(30))
        .unwrap_or_else(|why| panic!("answer_latency: {why}"));
    // Now and then baresip refuses a call of the run (a 4xx to the INVITE): it is reported,
    // and the calls it answered still count.
    run_calls(kamailio, "bob", baresip.sip_port(), Strict::No, || {
        let events = baresip.events();
        events.iter().filter(|e| e["type"] == "CALL_CLOSED").count() >= CALLS as usize
    })
}

/// Whether a failed call fails the bench (sipterm's) or is only reported (baresip's).
#[derive(PartialEq)]
enum Strict {
    Yes,
    No,
}

/// Places the calls to `user` and returns INVITE → 200 per call as seen at `sip_port`;
/// `all_ended` says when the UA has let every call go.
fn run_calls(
    kamailio: &Kamailio,
    user: &str,
    sip_port: u16,
    strict: Strict,
    mut all_ended: impl FnMut() -> bool,
) -> Vec<Duration> {
    // INVITEs go to the UA's port, 200 OKs to Kamailio's: capture both ranges' span.
    let (lo, hi) = (sip_port.min(kamailio.port()), sip_port.max(kamailio.port()));
    let capture = RtpCapture::start_range(lo..=hi);
    let run = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(user)
        .key("call_ms", 300)
        .calls(CALLS)
        .rate(20.0, 1000)
        .limit(AT_ONCE)
        .timeout(Duration::from_secs(120))
        .trace_messages(false)
        .run();
    if strict == Strict::Yes {
        assert!(run.success(), "{user}: {run}");
    } else if !run.success() {
        println!("answer_latency: sipp saw failed calls to {user} (only answered calls count)");
    }
    wait_until(Duration::from_secs(10), &mut all_ended);
    let datagrams = capture.stop_datagrams();
    let latencies = invite_to_200(&datagrams, sip_port, CallEnd::Callee);
    let needed = if strict == Strict::Yes { 95 } else { 50 };
    assert!(
        latencies.len() as u32 >= CALLS * needed / 100,
        "{user}: only {} INVITE/200 pairs seen in the capture",
        latencies.len()
    );
    latencies
}

/// Median, p90 and p99 in milliseconds.
struct Figures {
    calls: usize,
    median: f64,
    p90: f64,
    p99: f64,
}

impl Figures {
    fn of(latencies: &[Duration]) -> Figures {
        let mut sorted = latencies.to_vec();
        sorted.sort();
        let pick = |q: f64| {
            let at = ((sorted.len().saturating_sub(1)) as f64 * q).round() as usize;
            sorted
                .get(at)
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
        };
        Figures {
            calls: sorted.len(),
            median: pick(0.5),
            p90: pick(0.9),
            p99: pick(0.99),
        }
    }

    fn line(&self, ua: &str) -> String {
        format!(
            "answer_latency: {ua}: INVITE in -> 200 OK out over {} calls: median {:.2} ms, \
             p90 {:.2} ms, p99 {:.2} ms",
            self.calls, self.median, self.p90, self.p99
        )
    }
}
