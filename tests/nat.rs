//! sipterm behind a NAT router, in network namespaces (tests/support/netlab.rs): it registers
//! with the address the registrar saw, and a call from the internet side reaches it with media.
//! Needs root, `ip` and `nft` (CI has them; elsewhere the tests say why they skip).

mod support;

use std::path::Path;
use std::time::Duration;
use support::audio::assert_tone;
use support::events::{is, wait_call_ended, wait_event, wait_registered};
use support::netlab::{self, NatLab, HOME_IP, INTERNET_IP, ROUTER_PUBLIC_IP};
use support::ports::free_udp_port_block;
use support::wav::read_wav;
use support::{Kamailio, Sipp, Sipterm};

const ALICE: (&str, &str) = ("alice", "wonderland");
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
    let rtp = free_udp_port_block(20);
    let mut args: Vec<String> = [
        "netns",
        "exec",
        &lab.home,
        support::sipterm::binary().to_str().unwrap(),
        "--sip-uri",
        &kamailio.uri(ALICE.0),
        "--password",
        ALICE.1,
        "--port",
        &SIP_PORT.to_string(),
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
