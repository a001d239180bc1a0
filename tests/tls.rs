//! SIP over TLS against Kamailio's tls module, with a test CA made at test time: sipterm
//! registers over TLS and takes a call over that flow (sipp calls through Kamailio over UDP),
//! and a certificate it cannot trust (unknown authority, another host's, expired) ends the run
//! with exit status 3 and the reason in plain words.

mod support;

use std::time::Duration;
use support::certs::{ServerCert, TestCa};
use support::events::{events, is, wait_call_ended, wait_registered};
use support::ports::tcp_connections;
use support::sipterm::sip_port;
use support::{
    dominant_frequency, free_udp_port_block, free_udp_tcp_port, Kamailio, RtpCapture, ScratchDir,
    Sipp, Sipterm,
};

const ALICE: (&str, &str) = ("alice", "wonderland");
const LONG: Duration = Duration::from_secs(30);

/// A Kamailio for alice that also speaks TLS with `cert`.
fn kamailio_with(cert: &ServerCert) -> Kamailio {
    Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .tls(&cert.cert, &cert.key)
        .start()
}

/// A valid certificate for 127.0.0.1 from a new test CA (kept in `dir`).
fn good_certificate(dir: &ScratchDir) -> (TestCa, ServerCert) {
    let ca = TestCa::new(dir.path(), "good");
    let cert = ca.issue("registrar", &["IP:127.0.0.1", "DNS:localhost"], false);
    (ca, cert)
}

/// A call from sipp through Kamailio reaches alice over her TLS flow and ends normally.
#[track_caller]
fn call_gets_through(kamailio: &Kamailio, sipterm: &mut Sipterm) {
    let run = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(ALICE.0)
        .key("call_ms", 1000)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let ended = wait_call_ended(sipterm);
    assert_eq!(ended["reason"], "remote_hangup", "{ended}");
}

fn registrations(sipterm: &Sipterm, state: &str) -> Vec<serde_json::Value> {
    events(sipterm)
        .into_iter()
        .filter(|e| is(e, "registration") && e["state"] == state)
        .collect()
}

/// sipterm as alice at `sips:alice@127.0.0.1:<tls port>`, headless with JSON events.
fn alice_args(kamailio: &Kamailio, ca_file: Option<&std::path::Path>) -> Vec<String> {
    let rtp = free_udp_port_block(20);
    let mut args: Vec<String> = vec![
        "--sip-uri".into(),
        format!("sips:{}@127.0.0.1:{}", ALICE.0, kamailio.tls_port()),
        "--password".into(),
        ALICE.1.into(),
        "--port".into(),
        free_udp_tcp_port().to_string(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--rtp-ports".into(),
        format!("{rtp}-{}", rtp + 19),
        "--headless".into(),
        "--json".into(),
        // sipp offers plain RTP; over TLS SRTP would be mandatory (tests/srtp.rs covers it).
        "--srtp".into(),
        "off".into(),
    ];
    if let Some(ca) = ca_file {
        args.extend(["--ca-file".into(), ca.display().to_string()]);
    }
    args
}

/// `args` with `--sip-uri` replaced (to ask for TLS another way than sips:).
fn with_sip_uri(mut args: Vec<String>, uri: String) -> Vec<String> {
    let at = args.iter().position(|a| a == "--sip-uri").unwrap();
    args[at + 1] = uri;
    args
}

/// The reason of the `failed` registration event, after sipterm exited with status 3.
#[track_caller]
fn refused_for_good(mut sipterm: Sipterm) -> String {
    let code = sipterm.exit_code(LONG);
    assert_eq!(code, 3, "{}", sipterm.report());
    let failed = events(&sipterm)
        .into_iter()
        .find(|e| is(e, "registration") && e["state"] == "failed")
        .unwrap_or_else(|| panic!("no failed registration\n{}", sipterm.report()));
    failed["reason"].as_str().unwrap_or_default().to_string()
}

#[test]
fn registers_over_tls_and_takes_a_call_on_that_flow_with_audio_both_ways() {
    let dir = ScratchDir::new("tls-good");
    let (ca, cert) = good_certificate(&dir);
    let kamailio = kamailio_with(&cert);
    let mut args = alice_args(&kamailio, Some(&ca.cert));
    // sipp offers plain RTP; over TLS SRTP would be mandatory (tests/srtp.rs covers that).
    args.extend(["--audio", "echo", "-v"].map(String::from));
    let port = sip_port(&args);
    let mut sipterm = Sipterm::spawn(args);
    wait_registered(&mut sipterm);

    let started = events(&sipterm)
        .into_iter()
        .find(|e| is(e, "started"))
        .expect("a started event");
    assert_eq!(started["transport"], "TLS", "{started}");
    let contacts = kamailio
        .wait_for_contacts(ALICE.0, |c| !c.is_empty(), LONG)
        .unwrap();
    let ours = format!("sip:alice@127.0.0.1:{port};transport=tls");
    assert!(
        contacts.iter().all(|c| c.eq_ignore_ascii_case(&ours)),
        "usrloc holds a TLS contact at our port {port}: {contacts:?}"
    );
    let usrloc = kamailio.kamcmd(&["ul.lookup", "location", ALICE.0]);
    assert!(
        usrloc.contains(&format!("tls:127.0.0.1:{}", kamailio.tls_port())),
        "the binding came in on Kamailio's TLS socket:\n{usrloc}"
    );
    assert!(
        tcp_connections().contains(&(port, kamailio.tls_port())),
        "no connection from our port {port} to the registrar's TLS port: {:?}",
        tcp_connections()
    );

    // sipp calls alice through Kamailio over UDP; Kamailio reaches us over our TLS flow.
    let media_port = free_udp_port_block(4);
    let capture = RtpCapture::start(media_port);
    let run = Sipp::uac("uac_tone.xml", kamailio.addr())
        .service(ALICE.0)
        .key("call_ms", 3000)
        .media_port(media_port)
        .run();
    assert!(run.success(), "{run}\n{}", sipterm.report());
    let packets = capture.stop();
    let ended = wait_call_ended(&mut sipterm);
    assert_eq!(ended["reason"], "remote_hangup", "{ended}");
    let received = ended["media"]["packets_received"].as_u64().unwrap_or(0);
    assert!(received >= 100, "sipterm received {received} packets");
    let echoed: Vec<_> = packets.iter().filter(|p| p.payload_type == 0).collect();
    assert!(
        echoed.len() >= 100,
        "sipp received {} PCMU packets from sipterm",
        echoed.len()
    );
    let f = dominant_frequency(&support::decode_audio(&packets), 8000);
    assert!((f - 1000.0).abs() <= 20.0, "echoed tone at {f} Hz");

    // The trace shows the decrypted INVITE as it came over TLS (Kamailio's Via says so).
    let out = sipterm.stdout();
    let invite = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| is(e, "log"))
        .filter_map(|e| e["message"].as_str().map(str::to_string))
        .find(|m| m.starts_with("SIP received from") && m.contains("INVITE sip:alice@"))
        .unwrap_or_else(|| panic!("no INVITE in the trace\n{out}"));
    assert!(
        invite.contains("Via: SIP/2.0/TLS 127.0.0.1"),
        "the INVITE did not come over TLS:\n{invite}"
    );
    assert!(invite.contains("m=audio"), "no SDP in the trace:\n{invite}");

    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
}

#[test]
fn our_bye_and_unregister_go_over_the_tls_flow() {
    let dir = ScratchDir::new("tls-bye");
    let (ca, cert) = good_certificate(&dir);
    let kamailio = kamailio_with(&cert);
    // TLS asked for with ;transport=tls this time.
    let uri = format!("sip:alice@127.0.0.1:{};transport=tls", kamailio.tls_port());
    let mut args = with_sip_uri(alice_args(&kamailio, Some(&ca.cert)), uri);
    args.extend(["--audio", "echo", "-v"].map(String::from));
    let port = sip_port(&args);
    let mut sipterm = Sipterm::spawn(args);
    wait_registered(&mut sipterm);
    let contacts = kamailio
        .wait_for_contacts(ALICE.0, |c| !c.is_empty(), LONG)
        .unwrap();
    let ours = format!("sip:alice@127.0.0.1:{port};transport=tls");
    assert!(
        contacts.iter().all(|c| c.eq_ignore_ascii_case(&ours)),
        "{contacts:?}"
    );
    let sipp = Sipp::uac("uac_wait_bye.xml", kamailio.addr())
        .service(ALICE.0)
        .spawn();
    support::events::wait_event(&mut sipterm, "an active call", |e| {
        is(e, "call_state") && e["state"] == "active"
    });
    // Ctrl+C hangs up: the BYE follows the route set to Kamailio's TLS side, over our flow.
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
    let run = sipp.wait();
    assert!(
        run.success(),
        "the caller got no BYE\n{run}\n{}",
        sipterm.report()
    );
    assert!(
        registrations(&sipterm, "unregistered")
            .iter()
            .all(|e| e["reason"].is_null()),
        "the unregister was not confirmed\n{}",
        sipterm.report()
    );
    assert!(
        registrations(&sipterm, "unregistered").len() == 1,
        "{}",
        sipterm.report()
    );
    assert!(kamailio.contacts(ALICE.0).is_empty());
}

#[test]
fn keepalives_hold_the_tls_flow_open_and_a_closed_one_is_registered_again() {
    let dir = ScratchDir::new("tls-flow");
    let (ca, cert) = good_certificate(&dir);
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .tls(&cert.cert, &cert.key)
        .tcp_lifetime(3)
        .start();

    // CRLF pings every second keep Kamailio from closing the idle flow after 3 s. (TLS asked
    // for with --transport this time.)
    let uri = format!("sip:alice@127.0.0.1:{}", kamailio.tls_port());
    let mut args = with_sip_uri(alice_args(&kamailio, Some(&ca.cert)), uri);
    args.extend(["--transport".into(), "tls".into()]);
    args.extend(["--audio", "echo", "--keepalive", "1"].map(String::from));
    let mut sipterm = Sipterm::spawn(args);
    wait_registered(&mut sipterm);
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(
        registrations(&sipterm, "registering").len(),
        1,
        "the TLS flow was lost despite keep-alives\n{}",
        sipterm.report()
    );
    call_gets_through(&kamailio, &mut sipterm);
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());

    // Without them Kamailio closes it; that is noticed at once, and a new flow is dialled.
    let mut args = alice_args(&kamailio, Some(&ca.cert));
    args.extend(["--audio", "echo", "--keepalive", "0"].map(String::from));
    let mut sipterm = Sipterm::spawn(args);
    wait_registered(&mut sipterm);
    let again = support::events::wait_event(&mut sipterm, "the closed TLS flow", |e| {
        is(e, "registration") && e["state"] == "registering" && e["reason"].is_string()
    });
    assert!(
        again["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("TLS connection to the registrar closed"),
        "{again}"
    );
    support::wait_until(LONG, || registrations(&sipterm, "registered").len() >= 2);
    call_gets_through(&kamailio, &mut sipterm);
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
}

#[test]
fn an_unknown_certificate_authority_is_named_and_exits_3() {
    let dir = ScratchDir::new("tls-wrong-ca");
    let ca = TestCa::new(dir.path(), "good");
    let other = TestCa::new(dir.path(), "other");
    let cert = ca.issue("registrar", &["IP:127.0.0.1"], false);
    let kamailio = kamailio_with(&cert);

    // Only the public roots: the test CA is unknown, and --ca-file is the advice.
    let reason = refused_for_good(Sipterm::spawn(alice_args(&kamailio, None)));
    assert!(
        reason.contains("signed by an authority we do not trust")
            && reason.contains("use --ca-file"),
        "{reason}"
    );
    // Another CA in --ca-file: still unknown.
    let reason = refused_for_good(Sipterm::spawn(alice_args(&kamailio, Some(&other.cert))));
    assert!(
        reason.contains("signed by an authority we do not trust"),
        "{reason}"
    );
    assert!(kamailio.contacts(ALICE.0).is_empty());
}

#[test]
fn a_certificate_for_another_host_is_named_and_exits_3() {
    let dir = ScratchDir::new("tls-wrong-host");
    let ca = TestCa::new(dir.path(), "good");
    let cert = ca.issue("registrar", &["DNS:sip.example.com"], false);
    let kamailio = kamailio_with(&cert);
    let sipterm = Sipterm::spawn(alice_args(&kamailio, Some(&ca.cert)));
    let reason = refused_for_good(sipterm);
    assert!(
        reason.contains("the registrar's certificate is for sip.example.com, not 127.0.0.1"),
        "{reason}"
    );
    assert!(kamailio.contacts(ALICE.0).is_empty());
}

#[test]
fn the_name_checked_is_the_registrar_uris_host() {
    // A certificate for the name only: good for sips:alice@localhost (sent as SNI and
    // checked), not for the same registrar reached as 127.0.0.1.
    let dir = ScratchDir::new("tls-by-name");
    let ca = TestCa::new(dir.path(), "good");
    let cert = ca.issue("registrar", &["DNS:localhost"], false);
    let kamailio = kamailio_with(&cert);
    let reason = refused_for_good(Sipterm::spawn(alice_args(&kamailio, Some(&ca.cert))));
    assert!(
        reason.contains("the registrar's certificate is for localhost, not 127.0.0.1"),
        "{reason}"
    );
    let uri = format!("sips:alice@localhost:{}", kamailio.tls_port());
    let mut sipterm = Sipterm::spawn(with_sip_uri(alice_args(&kamailio, Some(&ca.cert)), uri));
    wait_registered(&mut sipterm);
    kamailio
        .wait_for_contacts(ALICE.0, |c| !c.is_empty(), LONG)
        .unwrap();
    sipterm.interrupt();
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
}

#[test]
fn an_expired_certificate_is_named_and_exits_3() {
    let dir = ScratchDir::new("tls-expired");
    let ca = TestCa::new(dir.path(), "good");
    let cert = ca.issue("registrar", &["IP:127.0.0.1"], true);
    let kamailio = kamailio_with(&cert);
    let sipterm = Sipterm::spawn(alice_args(&kamailio, Some(&ca.cert)));
    let reason = refused_for_good(sipterm);
    assert!(
        reason.contains("the registrar's certificate expired on 2020-01-02 00:00 UTC"),
        "{reason}"
    );
}

/// A call we place over TLS goes out on the registrar's flow (we dial no other TLS
/// connection): Kamailio takes it on its TLS socket and relays it over UDP to a sipp UAS
/// registered as bob, and the call carries bob's tone back to us.
#[test]
fn a_call_we_place_goes_out_on_the_tls_flow() {
    let dir = ScratchDir::new("tls-out");
    let (ca, cert) = good_certificate(&dir);
    let kamailio = Kamailio::builder()
        .user(ALICE.0, ALICE.1)
        .user("bob", "builder")
        .tls(&cert.cert, &cert.key)
        .start();
    let uas =
        support::spawn_registered_uas(&kamailio, "bob", "builder", Sipp::uas("uas_answer.xml"));
    let mut args = alice_args(&kamailio, Some(&ca.cert));
    let recordings = ScratchDir::new("tls-out-rec");
    args.extend(
        [
            "--call",
            "bob",
            "--duration",
            "3",
            "--audio",
            "null",
            "-v",
            "--record",
        ]
        .map(String::from),
    );
    args.push(recordings.path().display().to_string());
    let port = sip_port(&args);
    let mut sipterm = Sipterm::spawn(args);
    assert_eq!(sipterm.exit_code(LONG), 0, "{}", sipterm.report());
    uas.wait().assert_success();
    let placed = events(&sipterm)
        .into_iter()
        .find(|e| is(e, "outgoing_call"))
        .expect("an outgoing call");
    assert_eq!(
        placed["to"],
        format!("sip:bob@127.0.0.1:{}", kamailio.tls_port()).as_str()
    );
    assert!(events(&sipterm).iter().any(|e| is(e, "call_answered")));
    // Our INVITE as Kamailio logged it: from our SIP port, over TLS.
    let log = kamailio.log();
    assert!(
        log.contains(&format!(
            "INVITE sip:bob@127.0.0.1:{} from 127.0.0.1:{port}/tls",
            kamailio.tls_port()
        )),
        "Kamailio did not take our INVITE on the TLS flow:\n{log}"
    );
    // The tone from bob reached us through the call.
    let ended = events(&sipterm)
        .into_iter()
        .find(|e| is(e, "call_ended"))
        .expect("call_ended");
    let wav = ended["media"]["recording"].as_str().expect("a recording");
    let wav = support::wav::read_wav(std::path::Path::new(wav)).expect("a readable WAV");
    let remote = wav.channel(0);
    let f = dominant_frequency(&remote[4000.min(remote.len())..], wav.rate);
    assert!((f - 1000.0).abs() <= 20.0, "bob's tone at {f} Hz");
}
