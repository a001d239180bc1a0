//! sipterm behind a NAT router, in network namespaces (tests/support/netlab.rs): it registers
//! with the address the registrar saw, and a call from the internet side reaches it with media;
//! keep-alives hold the router's mapping open, a new public address is noticed, and `--stun`
//! puts the router's mapping of the RTP port into SDP.
//! Needs root, `ip`, `nft` and `conntrack` (CI has them; elsewhere the tests say why they skip).

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use support::audio::assert_tone;
use support::events::{events, is, wait_call_ended, wait_event, wait_registered};
use support::netlab::{self, NatLab, HOME_IP, INTERNET_IP, ROUTER_OTHER_IP, ROUTER_PUBLIC_IP};
use support::ports::free_udp_port_block;
use support::stun_server::StunServer;
use support::wav::read_wav;
use support::{Kamailio, Sipp, Sipterm};

const ALICE: (&str, &str) = ("alice", "wonderland");
const BOB: (&str, &str) = ("bob", "builder");
const LONG: Duration = Duration::from_secs(30);
const SIP_PORT: u16 = 5070;

fn lab() -> Option<NatLab> {
    match netlab::unavailable() {
        Some(why) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {why}");
            None
        }
        Some(why) => panic!("{why}"),
        None => Some(NatLab::new()),
    }
}

/// sipterm at home, registered at `kamailio` on the internet side.
fn alice_at_home(lab: &NatLab, kamailio: &Kamailio, extra: &[&str]) -> Sipterm {
    at_home(lab, kamailio, ALICE, SIP_PORT, extra)
}

/// `user` at home on SIP port `port`, registered at `kamailio` on the internet side.
fn at_home(
    lab: &NatLab,
    kamailio: &Kamailio,
    user: (&str, &str),
    port: u16,
    extra: &[&str],
) -> Sipterm {
    let rtp = free_udp_port_block(20);
    let mut args: Vec<String> = [
        "netns",
        "exec",
        &lab.home,
        support::sipterm::binary().to_str().unwrap(),
        "--sip-uri",
        &kamailio.uri(user.0),
        "--password",
        user.1,
        "--port",
        &port.to_string(),
        "--bind",
        HOME_IP,
        "--rtp-ports",
        &format!("{rtp}-{}", rtp + 19),
        "--headless",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    Sipterm::spawn_program(Path::new("ip"), args)
}

#[test]
fn behind_nat_the_binding_and_the_media_name_the_routers_address() {
    let Some(lab) = lab() else { return };
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .netns(&lab.internet, INTERNET_IP)
        .start();
    let dir = support::ScratchDir::new("nat-recording");
    let record = dir.path().display().to_string();
    let mut sipterm = alice_at_home(&lab, &kamailio, &["--audio", "echo", "--record", &record]);
    wait_registered(&mut sipterm);
    let contacts = kamailio
        .wait_for_contacts(ALICE.0, |c| !c.is_empty(), LONG)
        .unwrap();
    assert_eq!(
        contacts,
        [format!("sip:alice@{ROUTER_PUBLIC_IP}:{SIP_PORT}")],
        "only the router's address is bound\n{}",
        sipterm.report()
    );
    wait_event(&mut sipterm, "the NAT discovery in the log", |e| {
        is(e, "log")
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("sees us at {ROUTER_PUBLIC_IP}")))
    });

    // A call from the internet side arrives, and its tone reaches us through the router:
    // our SDP named the router's address, and our first RTP packet opened the way.
    let run = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(ALICE.0)
        .netns(&lab.internet, INTERNET_IP)
        .key("call_ms", 2500)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(&mut sipterm);
    assert!(
        ended["media"]["packets_received"].as_u64().unwrap_or(0) > 50,
        "{ended}"
    );
    let recording = ended["media"]["recording"].as_str().expect("a recording");
    let wav = read_wav(Path::new(recording)).unwrap();
    assert_tone(
        &wav.channel(0),
        8000,
        1000.0,
        15.0,
        "what the caller sent, heard at home",
    );
    let messages = &run.messages;
    assert!(
        messages.contains(&format!("c=IN IP4 {ROUTER_PUBLIC_IP}")),
        "our SDP names the router\n{messages}"
    );
    assert!(
        messages.contains(&format!(
            "Contact: <sip:alice@{ROUTER_PUBLIC_IP}:{SIP_PORT}>"
        )),
        "our 200's Contact names the router\n{messages}"
    );
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
}

/// A tone call from the internet side to `user`; asserts it succeeded and the tone came home.
fn tone_call_reaches(
    lab: &NatLab,
    kamailio: &Kamailio,
    user: &str,
    sipterm: &mut Sipterm,
) -> String {
    let run = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(user)
        .netns(&lab.internet, INTERNET_IP)
        .key("call_ms", 2000)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(sipterm);
    assert!(
        ended["media"]["packets_received"].as_u64().unwrap_or(0) > 50,
        "the caller's audio came through the router: {ended}"
    );
    run.messages.clone()
}

/// The SDP of the first 200 OK in a sipp message log: ours.
fn our_answer(messages: &str) -> &str {
    let ok = messages.find("SIP/2.0 200 OK").expect("a 200 OK");
    let rest = &messages[ok..];
    let sdp = rest.find("v=0").expect("an SDP body");
    let end = rest[sdp..]
        .find("a=sendrecv")
        .map_or(rest.len(), |e| sdp + e);
    &rest[sdp..end]
}

/// `packets=` and `bytes=` of both directions of one `conntrack -L` line.
fn counters(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .filter_map(|w| {
            w.strip_prefix("packets=")
                .or_else(|| w.strip_prefix("bytes="))
        })
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// The RFC 5626 claim in a lab: a router that forgets idle UDP mappings after 30 s. Alice keeps
/// hers open with the default keep-alives, Bob has them off; two minutes later a call reaches
/// Alice and a call to Bob dies at the router. Both wait in the same lab at once, so the test
/// costs the two minutes once. The router's counters give the keep-alive traffic per hour.
#[test]
fn keepalives_hold_the_routers_mapping_and_calls_still_arrive_minutes_later() {
    const IDLE: Duration = Duration::from_secs(125);
    let Some(lab) = lab() else { return };
    lab.set_udp_timeout(30);
    lab.count_traffic();
    // Bindings outlive the wait (granted 3600 s, refreshed at 75 %): only the NAT can lose them.
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .user(BOB.0, BOB.1)
        .max_expires(3600)
        .netns(&lab.internet, INTERNET_IP)
        .start();
    let mut alice = at_home(&lab, &kamailio, ALICE, SIP_PORT, &["--audio", "echo"]);
    let mut bob = at_home(&lab, &kamailio, BOB, SIP_PORT + 2, &["--keepalive", "0"]);
    wait_registered(&mut alice);
    wait_registered(&mut bob);
    for user in [ALICE.0, BOB.0] {
        kamailio
            .wait_for_contacts(user, |c| !c.is_empty(), LONG)
            .unwrap();
    }
    let registrar = kamailio.port();
    let flow =
        |port: u16| format!("src={HOME_IP} dst={INTERNET_IP} sport={port} dport={registrar}");
    lab.udp_mappings(true); // counters from zero: what follows is keep-alive traffic only
    let idle_from = Instant::now();
    std::thread::sleep(IDLE);
    let mappings = lab.udp_mappings(false);
    let idle = idle_from.elapsed();
    let alice_flow = mappings
        .lines()
        .find(|l| l.contains(&flow(SIP_PORT)))
        .unwrap_or_else(|| panic!("Alice's mapping is gone:\n{mappings}\n{}", alice.report()));
    assert!(
        !mappings.contains(&flow(SIP_PORT + 2)),
        "Bob sent nothing for {idle:?}, and the router kept his mapping anyway:\n{mappings}"
    );
    let c = counters(alice_flow);
    assert_eq!(c.len(), 4, "packets and bytes both ways: {alice_flow}");
    let per_hour = |n: u64| n as f64 * 3600.0 / idle.as_secs_f64();
    eprintln!(
        "keep-alive traffic at the default --keepalive (25 s), over {:.0} s: out {} packets / {} \
         bytes, in {} packets / {} bytes; per hour: out {:.0} packets / {:.0} bytes, in {:.0} \
         packets / {:.0} bytes",
        idle.as_secs_f64(),
        c[0],
        c[1],
        c[2],
        c[3],
        per_hour(c[0]),
        per_hour(c[1]),
        per_hour(c[2]),
        per_hour(c[3])
    );
    assert!(c[0] >= 4, "a keep-alive at least every 25 s: {alice_flow}");

    tone_call_reaches(&lab, &kamailio, ALICE.0, &mut alice);
    // Kamailio still holds Bob's binding, but the router no longer knows where it leads:
    // the INVITE is lost and the proxy gives up with 408.
    let run = Sipp::uac("uac_expect_status.xml", kamailio.addr())
        .service(BOB.0)
        .netns(&lab.internet, INTERNET_IP)
        .key("expected_status", 408)
        .timeout(LONG)
        .run();
    assert!(run.success(), "{run}\n{}", bob.report());
    assert!(
        !events(&bob).iter().any(|e| is(e, "incoming_call")),
        "no call reached Bob\n{}",
        bob.report()
    );
    for sipterm in [&mut alice, &mut bob] {
        sipterm.interrupt();
        assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
    }
}

/// A new network: the router moves to another public address and forgets every mapping. The
/// next binding query shows the registrar sees us elsewhere; sipterm registers the new
/// Contact (dropping the old) and offers the new address in SDP, and calls arrive again.
#[test]
fn a_new_public_address_is_noticed_and_registered_again() {
    let Some(lab) = lab() else { return };
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .netns(&lab.internet, INTERNET_IP)
        .start();
    let mut sipterm = alice_at_home(&lab, &kamailio, &["--keepalive", "2", "--audio", "echo"]);
    wait_registered(&mut sipterm);
    let old = format!("sip:alice@{ROUTER_PUBLIC_IP}:{SIP_PORT}");
    kamailio
        .wait_for_contacts(ALICE.0, |c| c == [old.clone()], LONG)
        .unwrap();

    lab.renumber(ROUTER_OTHER_IP);
    let again = wait_event(&mut sipterm, "registering again after the move", |e| {
        is(e, "registration")
            && e["state"] == "registering"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.contains("public address changed"))
    });
    assert!(
        again["reason"].as_str().unwrap().contains(ROUTER_OTHER_IP),
        "{again}"
    );
    let new = format!("sip:alice@{ROUTER_OTHER_IP}:{SIP_PORT}");
    kamailio
        .wait_for_contacts(ALICE.0, |c| c == [new.clone()], LONG)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", sipterm.report()));
    wait_event(&mut sipterm, "the new address in the header", |e| {
        is(e, "public_address") && e["public"] == format!("{ROUTER_OTHER_IP}:{SIP_PORT}")
    });
    let messages = tone_call_reaches(&lab, &kamailio, ALICE.0, &mut sipterm);
    let sdp = our_answer(&messages);
    assert!(
        sdp.contains(&format!("c=IN IP4 {ROUTER_OTHER_IP}")) && !sdp.contains(ROUTER_PUBLIC_IP),
        "our SDP names the new address\n{sdp}"
    );
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
}

/// `--stun` with a STUN server on the internet side: the RTP port's mapping at the router goes
/// into every c= line and the m= line of our answer, and the caller's audio comes home.
#[test]
fn stun_puts_the_routers_mapping_of_the_rtp_port_in_sdp() {
    let Some(lab) = lab() else { return };
    let stun = StunServer::start_in(&lab.internet, INTERNET_IP);
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .netns(&lab.internet, INTERNET_IP)
        .start();
    let server = stun.addr.to_string();
    let mut sipterm = alice_at_home(&lab, &kamailio, &["--stun", &server, "--audio", "echo"]);
    wait_registered(&mut sipterm);
    let messages = tone_call_reaches(&lab, &kamailio, ALICE.0, &mut sipterm);

    let asked = stun.asked();
    let mapped: SocketAddr = *asked.first().expect("a Binding request reached the server");
    assert_eq!(
        mapped.ip().to_string(),
        ROUTER_PUBLIC_IP,
        "it came through the router"
    );
    let sdp = our_answer(&messages);
    let c_lines: Vec<&str> = sdp.lines().filter(|l| l.starts_with("c=")).collect();
    let router = format!("c=IN IP4 {ROUTER_PUBLIC_IP}");
    assert_eq!(
        c_lines,
        [router.as_str(); 2],
        "session and media level\n{sdp}"
    );
    assert!(
        sdp.contains(&format!("m=audio {} RTP/AVP", mapped.port())),
        "m= carries the mapped port {}\n{sdp}",
        mapped.port()
    );
    let said = wait_event(&mut sipterm, "the STUN result in the log", |e| {
        is(e, "log")
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("SDP offers {mapped} for media: the STUN")))
    });
    eprintln!("STUN lookup: {}", said["message"].as_str().unwrap());
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
}

/// A STUN server that never answers costs the call 1.5 s, not the call: the log warns, and the
/// SDP falls back to the address the registrar saw.
#[test]
fn a_silent_stun_server_falls_back_to_the_registrars_address() {
    let Some(lab) = lab() else { return };
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .netns(&lab.internet, INTERNET_IP)
        .start();
    // Nothing listens there: the ICMP "port unreachable" never reaches an unconnected socket,
    // so this looks like a server that is gone.
    let silent = format!("{INTERNET_IP}:3479");
    let mut sipterm = alice_at_home(&lab, &kamailio, &["--stun", &silent, "--audio", "echo"]);
    wait_registered(&mut sipterm);
    let messages = tone_call_reaches(&lab, &kamailio, ALICE.0, &mut sipterm);
    let warned = wait_event(&mut sipterm, "the STUN fallback warning", |e| {
        is(e, "log")
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("STUN lookup failed"))
    });
    let warning = warned["message"].as_str().unwrap();
    assert!(
        warning.contains(&silent) && warning.contains("the address the registrar saw"),
        "{warning}"
    );
    let sdp = our_answer(&messages);
    assert!(
        sdp.contains(&format!("c=IN IP4 {ROUTER_PUBLIC_IP}")),
        "the registrar's view of us\n{sdp}"
    );
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
}
