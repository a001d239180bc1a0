use super::*;
use std::path::PathBuf;

fn torture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/torture")
}

/// (name, screen column, checks) from `tests/torture/expected.txt`.
fn table() -> Vec<(String, String, Vec<String>)> {
    let text = std::fs::read_to_string(torture_dir().join("expected.txt")).expect("expected.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let checks = cols[3..].iter().map(|c| c.to_string()).collect();
            (cols[0].to_string(), cols[1].to_string(), checks)
        })
        .collect()
}

fn torture(name: &str) -> Vec<u8> {
    std::fs::read(torture_dir().join(format!("{name}.dat"))).expect("torture message")
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn status(response: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(response);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn every_torture_message_gets_its_expected_verdict() {
    let mut wrong = Vec::new();
    for (name, expected, checks) in table() {
        let bytes = torture(&name);
        let got = match screen(&bytes) {
            Verdict::Pass(_) => "pass".to_string(),
            Verdict::Drop { .. } => "drop".to_string(),
            Verdict::Answer { response, .. } => {
                let text = String::from_utf8_lossy(&response).into_owned();
                for check in &checks {
                    let (h, want) = check.split_once('=').expect("Header=text");
                    if !header(&text, h).is_some_and(|v| v.contains(want)) {
                        wrong.push(format!("{name}: answer lacks {check}:\n{text}"));
                    }
                }
                status(&response).to_string()
            }
        };
        if got != expected {
            let why = match screen(&bytes) {
                Verdict::Answer { why, .. } | Verdict::Drop { why } => why,
                Verdict::Pass(_) => String::new(),
            };
            wrong.push(format!("{name}: expected {expected}, got {got} {why}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every message screening passes must be one rsipstack parses, with the typed headers its
/// transaction layer reads.
#[test]
fn passed_requests_parse_in_rsipstack_with_typed_headers() {
    use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
    for (name, expected, _) in table() {
        if expected != "pass" {
            continue;
        }
        let bytes = torture(&name);
        let Verdict::Pass(out) = screen(&bytes) else {
            continue;
        };
        let msg = rsipstack::sip::SipMessage::try_from(out.as_ref())
            .unwrap_or_else(|e| panic!("{name}: rsipstack cannot parse {e}"));
        if let rsipstack::sip::SipMessage::Request(r) = msg {
            let text = String::from_utf8_lossy(&out);
            r.via_header()
                .and_then(|v| v.typed())
                .unwrap_or_else(|e| panic!("{name} Via {e}\n{text}"));
            let to = r
                .to_header()
                .and_then(|v| v.typed())
                .unwrap_or_else(|e| panic!("{name} To {e}\n{text}"));
            let from = r
                .from_header()
                .unwrap_or_else(|e| panic!("{name} From {e}"));
            assert!(
                from.tag().ok().flatten().is_some(),
                "{name}: no From tag\n{text}"
            );
            r.cseq_header()
                .and_then(|v| v.typed())
                .unwrap_or_else(|e| panic!("{name} CSeq {e}\n{text}"));
            if name == "wsinv" {
                assert_eq!(to.params.len(), 1, "{name}: To tag lost\n{text}");
            }
        }
    }
}

#[test]
fn folded_whitespace_becomes_canonical() {
    let bytes = torture("wsinv");
    let Verdict::Pass(out) = screen(&bytes) else {
        panic!("wsinv not passed");
    };
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("\r\nTo: <sip:vivekg@chair-dnrc.example.com>;tag=1918181833n\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=390skdjuw\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\nVia: SIP/2.0/TCP spindle.example.com;branch=z9hG4bK9ikj8\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nCSeq: 9 INVITE\r\n"), "{text}");
    assert!(text.contains("\r\nMax-Forwards: 68\r\n"), "{text}");
    assert!(text.ends_with("a=rtpmap:31 LPC\r\n"), "{text}");
}

#[test]
fn datagram_bytes_after_content_length_are_ignored() {
    let bytes = torture("dblreq");
    let Verdict::Answer { response, .. } = screen(&bytes) else {
        panic!("dblreq not answered");
    };
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("SIP/2.0 405 "), "{text}");
    assert!(text.contains("CSeq: 8 REGISTER"), "{text}");
    assert!(!text.contains("INVITE\r\n"), "{text}");
}

#[test]
fn negative_content_length_is_named_in_the_reason() {
    let bytes = torture("ncl");
    let Verdict::Answer { response, why } = screen(&bytes) else {
        panic!("ncl not answered");
    };
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.starts_with("SIP/2.0 400 Bad Request (Content-Length -999 is negative)\r\n"),
        "{text}"
    );
    assert!(why.contains("-999"), "{why}");
}

#[test]
fn answers_echo_every_via_in_order_and_add_a_stable_to_tag() {
    let bytes = torture("transports");
    let mut changed = String::from_utf8(bytes).unwrap();
    changed = changed
        .replace("OPTIONS sip:", "FROBNICATE sip:")
        .replace("60 OPTIONS", "60 FROBNICATE");
    let Verdict::Answer { response, .. } = screen(changed.as_bytes()) else {
        panic!("not answered");
    };
    let text = String::from_utf8_lossy(&response).into_owned();
    let vias: Vec<&str> = text.lines().filter(|l| l.starts_with("Via:")).collect();
    assert_eq!(vias.len(), 5, "{text}");
    assert!(vias[0].contains("t1.example.com") && vias[4].contains("t5.example.com"));
    assert!(text.contains("To: sip:user@example.com;tag=st"), "{text}");
    let Verdict::Answer {
        response: again, ..
    } = screen(changed.as_bytes())
    else {
        panic!("not answered");
    };
    assert_eq!(response, again, "a retransmission gets the same answer");
}

#[test]
fn acks_and_broken_responses_are_never_answered() {
    let ack = b"ACK sip:a@b SIP/7.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: x\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";
    assert!(matches!(screen(ack), Verdict::Drop { .. }));
    assert!(matches!(screen(&torture("bigcode")), Verdict::Drop { .. }));
    assert!(matches!(screen(&torture("scalarlg")), Verdict::Drop { .. }));
}

#[test]
fn keepalives_pass_untouched() {
    assert_eq!(
        screen(b"\r\n\r\n"),
        Verdict::Pass(Cow::Borrowed(&b"\r\n\r\n"[..]))
    );
}

#[test]
fn garbage_never_panics() {
    let mut seed = 7u32;
    for len in 0..400 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b"INVITE sip:@;<>\"\\:/ \r\n0123456789,=%"[(seed >> 16) as usize % 34]
            })
            .collect();
        let _ = screen(&bytes);
    }
    for name in table().into_iter().map(|t| t.0) {
        let bytes = torture(&name);
        for cut in 0..bytes.len() {
            let _ = screen(&bytes[..cut]);
        }
    }
}

#[test]
fn multipart_invite_passes_with_its_sdp_part() {
    let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let body = format!(
        "--b1\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n--b1\r\nContent-Type: application/isup;version=itu-t92+\r\n\r\n\x01\x02\r\n--b1--\r\n"
    );
    let msg = format!(
        "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: mp\r\nCSeq: 1 INVITE\r\nContent-Type: multipart/mixed;boundary=b1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let Verdict::Pass(out) = screen(msg.as_bytes()) else {
        panic!("multipart INVITE not passed");
    };
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("Content-Type: application/sdp\r\n"), "{text}");
    assert!(text.ends_with(&format!("\r\n\r\n{sdp}")), "{text}");
}

#[test]
fn to_escapes_doubled_by_rsipstack_are_undone_on_the_way_out() {
    let out = b"SIP/2.0 200 OK\r\nTo: <sip:%2575se%2572@example.com>;tag=9\r\nFrom: <sip:I%20have@x>;tag=1\r\nContact: <sip:a@b;p=%2541>\r\n\r\n";
    let fixed = repair_outgoing(out);
    let text = String::from_utf8_lossy(&fixed);
    assert!(
        text.contains("To: <sip:%75se%72@example.com>;tag=9\r\n"),
        "{text}"
    );
    assert!(
        text.contains("p=%2541"),
        "only the To user part is touched: {text}"
    );
    let request = b"BYE sip:a@b SIP/2.0\r\nTo: <sip:%2575@x>\r\n\r\n";
    assert_eq!(repair_outgoing(request).as_ref(), &request[..]);
}

#[test]
fn stand_in_from_tags_are_removed_on_the_way_out() {
    let bytes = torture("inv2543");
    let Verdict::Pass(out) = screen(&bytes) else {
        panic!("inv2543 not passed");
    };
    let text = String::from_utf8_lossy(&out).into_owned();
    let from = text.lines().find(|l| l.starts_with("From:")).unwrap();
    assert!(from.contains(";tag=sipterm-2543-"), "{text}");
    let reply = format!("SIP/2.0 200 OK\r\n{from}\r\nTo: <sip:b@c>;tag=5\r\n\r\n");
    let fixed = repair_outgoing(reply.as_bytes());
    assert!(
        String::from_utf8_lossy(&fixed)
            .contains("From: <sip:+13035551111@ift.client.example.net;user=phone>\r\n"),
        "{}",
        String::from_utf8_lossy(&fixed)
    );
}

fn invite_with(extra: &str) -> String {
    format!(
        "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;received=2001:db8::1\r\n\
         From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn everyday_forms_real_phones_send_still_pass() {
    for extra in [
        "Contact: sip:c@192.0.2.1;+sip.instance=\"<urn:uuid:1>\";expires=60\r\n",
        "Contact: \"Jörg\" <sip:c@192.0.2.1;ob>;reg-id=1\r\n",
        "Contact: Jörg Müller <sip:c@192.0.2.1>\r\n",
        "Record-Route: <sip:192.0.2.9;lr;ftag=a-b>, <sip:192.0.2.8;lr>\r\n",
    ] {
        let msg = invite_with(extra);
        assert!(
            matches!(screen(msg.as_bytes()), Verdict::Pass(_)),
            "{extra:?}: {:?}",
            screen(msg.as_bytes())
        );
    }
}

#[test]
fn a_request_without_via_is_dropped_with_a_reason() {
    let msg = invite_with("").replace(
        "Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;received=2001:db8::1\r\n",
        "",
    );
    let Verdict::Drop { why } = screen(msg.as_bytes()) else {
        panic!("not dropped");
    };
    assert!(why.contains("missing Via"), "{why}");
}
