//! SIP flows to the registrar against a real Kamailio: the TCP flow comes from our listening
//! address, a lost flow or a forgotten binding is noticed and registered again, and CRLF
//! keep-alives hold the flow open past the registrar's idle limit.

mod support;

use std::time::Duration;
use support::events::{events, is, wait_call_ended, wait_event, wait_registered};
use support::ports::tcp_connections;
use support::sipterm::{registered_args, sip_port};
use support::{wait_until, Kamailio, Sipp, Sipterm, Transport};

const ALICE: (&str, &str) = ("alice", "wonderland");
const LONG: Duration = Duration::from_secs(30);

fn start_alice(kamailio: &Kamailio, transport: Transport, extra: &[&str]) -> Sipterm {
    let mut args = registered_args(kamailio, ALICE.0, ALICE.1, transport);
    args.extend(["--json", "--audio", "echo"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    Sipterm::spawn(args)
}

/// A call from sipp through Kamailio to alice succeeds, over `transport`.
#[track_caller]
fn call_gets_through(kamailio: &Kamailio, sipterm: &mut Sipterm, transport: Transport) {
    let sipp = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(ALICE.0)
        .key("call_ms", 1000);
    let sipp = match transport {
        Transport::Tcp => sipp.tcp(),
        Transport::Udp => sipp,
    };
    let run = sipp.run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(sipterm);
    assert_eq!(ended["reason"], "remote_hangup");
}

fn registrations(sipterm: &Sipterm, state: &str) -> Vec<serde_json::Value> {
    events(sipterm)
        .into_iter()
        .filter(|e| is(e, "registration") && e["state"] == state)
        .collect()
}

#[test]
fn the_tcp_flow_to_the_registrar_comes_from_our_listening_address() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut args = registered_args(&kamailio, ALICE.0, ALICE.1, Transport::Tcp);
    args.extend(["--json", "--audio", "echo"].map(String::from));
    let port = sip_port(&args);
    let mut sipterm = Sipterm::spawn(args);
    wait_registered(&mut sipterm);
    let contacts = kamailio
        .wait_for_contacts(ALICE.0, |c| !c.is_empty(), LONG)
        .unwrap();
    let ours = format!("sip:alice@127.0.0.1:{port};transport=tcp");
    assert!(
        contacts.iter().all(|c| c.eq_ignore_ascii_case(&ours)),
        "every binding names our listening port {port}: {contacts:?}"
    );
    // Both REGISTERs (the challenged one and the answer) carried it.
    let trace = kamailio.sip_trace();
    let registers: Vec<&str> = trace
        .split("REGISTER sip:")
        .skip(1)
        .filter(|m| m.contains("\nContact:"))
        .collect();
    assert!(registers.len() >= 2, "{trace}");
    for register in &registers {
        assert!(
            register
                .to_ascii_lowercase()
                .contains(&format!("contact: <{ours}>")),
            "a REGISTER with another Contact:\n{register}"
        );
    }
    assert!(
        tcp_connections().contains(&(port, kamailio.port())),
        "no connection from our port {port} to the registrar: {:?}",
        tcp_connections()
    );
    // Kamailio reaches us over the very flow we opened.
    call_gets_through(&kamailio, &mut sipterm, Transport::Tcp);
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
}

#[test]
fn a_registrar_restart_over_tcp_is_noticed_at_once_and_registered_again() {
    let kamailio = Kamailio::start(&[ALICE]);
    let port = kamailio.port();
    let mut sipterm = start_alice(&kamailio, Transport::Tcp, &["--keepalive", "0"]);
    wait_registered(&mut sipterm);
    drop(kamailio);
    let again = wait_event(&mut sipterm, "the lost TCP flow", |e| {
        is(e, "registration") && e["state"] == "registering" && e["reason"].is_string()
    });
    assert!(
        again["reason"]
            .as_str()
            .unwrap()
            .contains("TCP connection to the registrar closed"),
        "{again}"
    );
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .port(port)
        .start();
    kamailio
        .wait_for_contacts(ALICE.0, |c| !c.is_empty(), LONG)
        .unwrap();
    wait_until(LONG, || registrations(&sipterm, "registered").len() >= 2);
    call_gets_through(&kamailio, &mut sipterm, Transport::Tcp);
    let out = sipterm.stdout();
    assert!(
        out.contains("registering again: the TCP connection"),
        "{out}"
    );
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
}

#[test]
fn a_registrar_that_forgot_us_over_udp_is_found_by_the_next_binding_query() {
    let kamailio = Kamailio::start(&[ALICE]);
    let port = kamailio.port();
    let mut sipterm = start_alice(&kamailio, Transport::Udp, &["--keepalive", "2"]);
    wait_registered(&mut sipterm);
    // A restart with its bindings lost, quicker than any check.
    drop(kamailio);
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .port(port)
        .start();
    let forgot = wait_event(&mut sipterm, "the forgotten binding", |e| {
        is(e, "registration") && e["state"] == "registering" && e["reason"].is_string()
    });
    assert!(
        forgot["reason"]
            .as_str()
            .unwrap()
            .contains("no longer holds our registration"),
        "{forgot}"
    );
    kamailio
        .wait_for_contacts(ALICE.0, |c| !c.is_empty(), LONG)
        .unwrap();
    wait_until(LONG, || registrations(&sipterm, "registered").len() >= 2);
    call_gets_through(&kamailio, &mut sipterm, Transport::Udp);
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
}

#[test]
fn keepalives_hold_the_flow_open_past_the_registrars_idle_limit() {
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .tcp_lifetime(3)
        .start();
    let mut sipterm = start_alice(&kamailio, Transport::Tcp, &["--keepalive", "1"]);
    wait_registered(&mut sipterm);
    std::thread::sleep(Duration::from_secs(8));
    assert!(
        registrations(&sipterm, "registering").len() == 1,
        "the flow was lost despite keep-alives\n{}",
        sipterm.report()
    );
    call_gets_through(&kamailio, &mut sipterm, Transport::Tcp);
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
}

#[test]
fn without_keepalives_the_registrars_idle_close_is_noticed_and_repaired() {
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .tcp_lifetime(3)
        .start();
    let mut sipterm = start_alice(&kamailio, Transport::Tcp, &["--keepalive", "0"]);
    wait_registered(&mut sipterm);
    wait_event(&mut sipterm, "the registrar closing the idle flow", |e| {
        is(e, "registration") && e["state"] == "registering" && e["reason"].is_string()
    });
    wait_until(LONG, || registrations(&sipterm, "registered").len() >= 2);
    call_gets_through(&kamailio, &mut sipterm, Transport::Tcp);
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// 600 idle connections from one address, ten rounds: the per-peer cap holds the file
/// descriptors down, the idle timeout gives them back, and memory stays flat.
#[test]
fn idle_inbound_connections_are_capped_and_closed() {
    let kamailio = Kamailio::start(&[ALICE]);
    let mut args = registered_args(&kamailio, ALICE.0, ALICE.1, Transport::Tcp);
    args.extend(["--json", "--audio", "null", "--tcp-idle", "1"].map(String::from));
    let port = sip_port(&args);
    let mut sipterm = Sipterm::spawn(args);
    wait_registered(&mut sipterm);
    let pid = sipterm.pid();
    let (fds_before, rss_before) = (open_fds(pid), rss_kb(pid));
    let mut peak_fds = 0;
    for _round in 0..10 {
        let conns: Vec<std::net::TcpStream> = (0..600)
            .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        peak_fds = peak_fds.max(open_fds(pid));
        // Past the idle limit every flow is closed by sipterm.
        wait_until(Duration::from_secs(10), || open_fds(pid) <= fds_before + 2);
        drop(conns);
    }
    let (fds_after, rss_after) = (open_fds(pid), rss_kb(pid));
    eprintln!(
        "📊 600 idle TCP connections × 10 rounds: fds {fds_before} → peak {peak_fds} → \
         {fds_after}; RSS {rss_before} kB → {rss_after} kB"
    );
    assert!(
        peak_fds <= fds_before + 32 + 32 + 4,
        "the per-peer cap (32) and the refusals being answered (32) bound the fds: {peak_fds}"
    );
    assert!(fds_after <= fds_before + 2, "{fds_before} → {fds_after}");
    assert!(
        rss_after < rss_before + 8 * 1024,
        "memory grew: {rss_before} kB → {rss_after} kB"
    );
    // Still answering: a call gets through.
    call_gets_through(&kamailio, &mut sipterm, Transport::Tcp);
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
}
