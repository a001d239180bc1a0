//! What TLS costs at set-up, on loopback through Kamailio: the time to register (from the
//! `started` event to `registered`: for TLS that includes the TCP connect and the handshake),
//! and the call set-up time seen by the caller (sipp's INVITE sent → 200 received, timed on
//! the wire with dumpcap) when
//! Kamailio reaches sipterm over UDP and over the TLS flow. sipp itself calls Kamailio over
//! UDP both times, so the difference is the Kamailio ↔ sipterm leg.
//!
//! Prints medians (and the spread); no pass/fail threshold (shared machines are noisy).
//! Run: `cargo bench --bench tls_setup` (about 20 s).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Duration;
use support::certs::TestCa;
use support::pcap::{invite_to_200, CallEnd};
use support::sipterm::registered_args;
use support::{
    free_udp_port, free_udp_port_block, free_udp_tcp_port, Kamailio, RtpCapture, Sipp, Sipterm,
    Transport,
};

const CALLS: u32 = 25;
const REGISTRATIONS: usize = 5;
const ALICE: (&str, &str) = ("alice", "wonderland");

#[derive(Clone, Copy, PartialEq)]
enum Leg {
    Udp,
    Tls,
}

fn main() {
    let dir = support::ScratchDir::new("tls-bench");
    let ca = TestCa::new(dir.path(), "bench");
    let cert = ca.issue("registrar", &["IP:127.0.0.1"], false);
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .tls(&cert.cert, &cert.key)
        .start();
    for leg in [Leg::Udp, Leg::Tls] {
        let name = if leg == Leg::Tls { "TLS" } else { "UDP" };
        let mut register_ms: Vec<f64> = (0..REGISTRATIONS)
            .map(|_| {
                let mut sipterm = Sipterm::spawn_stamped(args(&kamailio, leg, &ca.cert));
                let ms = time_to_register(&mut sipterm);
                sipterm.interrupt();
                sipterm.wait(Duration::from_secs(10));
                ms
            })
            .collect();
        let mut sipterm = Sipterm::spawn(args(&kamailio, leg, &ca.cert));
        sipterm
            .wait_for_stdout(r#""state":"registered""#, Duration::from_secs(30))
            .unwrap();
        let mut setup_ms = call_setup_times(&kamailio);
        sipterm.interrupt();
        sipterm.wait(Duration::from_secs(10));
        println!(
            "tls_setup: {name}: register {} ({} runs); call set-up INVITE -> 200 at the caller {} \
             ({} calls)",
            summary(&mut register_ms),
            register_ms.len(),
            summary(&mut setup_ms),
            setup_ms.len()
        );
    }
}

/// sipterm as alice, headless, answering at once with no audio device.
fn args(kamailio: &Kamailio, leg: Leg, ca: &Path) -> Vec<String> {
    let mut args = match leg {
        Leg::Udp => registered_args(kamailio, ALICE.0, ALICE.1, Transport::Udp),
        Leg::Tls => {
            let rtp = free_udp_port_block(100);
            vec![
                "--sip-uri".into(),
                format!("sips:{}@127.0.0.1:{}", ALICE.0, kamailio.tls_port()),
                "--password".into(),
                ALICE.1.into(),
                "--ca-file".into(),
                ca.display().to_string(),
                "--port".into(),
                free_udp_tcp_port().to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--rtp-ports".into(),
                format!("{rtp}-{}", rtp + 99),
                "--headless".into(),
            ]
        }
    };
    // sipp offers plain RTP: SRTP (mandatory over TLS by default) is off for this bench.
    args.extend(["--json", "--audio", "null", "--srtp", "off"].map(String::from));
    args
}

/// Milliseconds from the `started` event to the `registered` one.
fn time_to_register(sipterm: &mut Sipterm) -> f64 {
    sipterm
        .wait_for_stdout(r#""state":"registered""#, Duration::from_secs(30))
        .unwrap();
    let lines = sipterm.stamped_stdout();
    let at = |needle: &str| {
        lines
            .iter()
            .find(|l| l.line.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in {}", sipterm.report()))
            .at
    };
    let started = at(r#""event":"started""#);
    let registered = at(r#""state":"registered""#);
    (registered - started).as_secs_f64() * 1000.0
}

/// One call after another from sipp through Kamailio, timed on the wire at the caller's
/// port (dumpcap on loopback): from each INVITE sipp sent to the first 200 it received.
fn call_setup_times(kamailio: &Kamailio) -> Vec<f64> {
    let caller = free_udp_port();
    let (lo, hi) = (caller.min(kamailio.port()), caller.max(kamailio.port()));
    let capture = RtpCapture::start_range(lo..=hi);
    let run = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(ALICE.0)
        .local_port(caller)
        .key("call_ms", 100)
        .calls(CALLS)
        .rate(10.0, 1000)
        .limit(1)
        .timeout(Duration::from_secs(60))
        .trace_messages(false)
        .run();
    assert!(run.success(), "{run}");
    let datagrams = capture.stop_datagrams();
    invite_to_200(&datagrams, caller, CallEnd::Caller)
        .into_iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect()
}

/// `median 1.23 ms (min 1.01, p90 2.34)`.
fn summary(values: &mut [f64]) -> String {
    assert!(!values.is_empty(), "nothing measured");
    values.sort_by(f64::total_cmp);
    let pick = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    format!(
        "median {:.2} ms (min {:.2}, p90 {:.2})",
        pick(0.5),
        values[0],
        pick(0.9)
    )
}
