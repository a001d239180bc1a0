//! The RFC 4475 torture messages (tests/torture/*.dat) sent over UDP to a running sipterm:
//! each must get the answer tests/torture/expected.txt names (or none), and with `-v` the
//! messages screening answered or dropped must show in the log.

mod support;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::ports::{free_udp_port_block, free_udp_tcp_port};
use support::Sipterm;

struct Case {
    name: String,
    answer: Option<u16>,
    checks: Vec<(String, String)>,
}

fn torture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/torture")
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(torture_dir().join("expected.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            Case {
                name: cols[0].into(),
                answer: cols[2].parse().ok(),
                checks: cols[3..]
                    .iter()
                    .map(|c| {
                        let (h, v) = c.split_once('=').unwrap();
                        (h.to_string(), v.to_string())
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Points the top Via's sent-by at `to` so answers sent by the Via reach this test, and
/// changes nothing else (the folding, spacing and transport the message tests stay).
fn aim_top_via(message: &[u8], to: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(message);
    let mut out = text.to_string();
    let mut offset = 0;
    for line in text.split_inclusive("\r\n") {
        let name = line.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v") {
            // The header with its folded continuation lines.
            let rest = &text[offset..];
            let mut end = 0;
            for (i, l) in rest.split_inclusive("\r\n").enumerate() {
                if i > 0 && !l.starts_with([' ', '\t']) {
                    break;
                }
                end += l.len();
            }
            let via = &rest[..end];
            // sent-by follows the third `/` and the transport token.
            let mut slashes = 0;
            let mut i = via.find(':').unwrap() + 1;
            let bytes = via.as_bytes();
            while slashes < 2 {
                if bytes[i] == b'/' {
                    slashes += 1;
                }
                i += 1;
            }
            while bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            while !bytes[i].is_ascii_whitespace() {
                i += 1; // transport
            }
            while bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let host_end = i + via[i..]
                .find(|c: char| c == ';' || c == ',' || c.is_ascii_whitespace())
                .unwrap_or(via.len() - i);
            let start = offset + i;
            out.replace_range(start..offset + host_end, to);
            // Keep binary bodies byte-exact: splice into the original bytes.
            let mut bytes = message[..start].to_vec();
            bytes.extend_from_slice(to.as_bytes());
            bytes.extend_from_slice(&message[offset + host_end..]);
            return bytes;
        }
        offset += line.len();
    }
    message.to_vec()
}

/// Everything sipterm sends back until `quiet` passes without a datagram (or `limit` ends).
fn answers(socket: &UdpSocket, quiet: Duration, limit: Duration) -> Vec<String> {
    let start = Instant::now();
    let mut got: Vec<String> = Vec::new();
    let mut buf = [0u8; 65536];
    while start.elapsed() < limit {
        // Once a final answer is in, only stragglers (a retransmission) are still awaited.
        let done = got.iter().any(|r| final_status(r).is_some());
        let wait = if done {
            Duration::from_millis(300)
        } else {
            quiet
        };
        socket.set_read_timeout(Some(wait)).unwrap();
        match socket.recv_from(&mut buf) {
            Ok((n, _)) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) if done || got.is_empty() => break,
            Err(_) => {}
        }
    }
    got
}

fn final_status(response: &str) -> Option<u16> {
    let code: u16 = response.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()?;
    (code >= 200).then_some(code)
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Ends the call a 200 OK set up: ACK, then BYE (whose answer is not this test's business).
fn hang_up(socket: &UdpSocket, ok: &str, sipterm: (&str, u16), me: &str, n: usize) {
    let field = |name: &str| header(ok, name).unwrap_or_default().to_string();
    let target = header(ok, "Contact")
        .map(|c| c.trim_matches(['<', '>']).to_string())
        .unwrap_or_else(|| format!("sip:{}:{}", sipterm.0, sipterm.1));
    let seq: u32 = field("CSeq")
        .split(' ')
        .next()
        .unwrap_or("1")
        .parse()
        .unwrap_or(1);
    for (method, seq) in [("ACK", seq), ("BYE", seq + 1)] {
        let request = format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-hangup-{n}-{method}\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {seq} {method}\r\nMax-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            field("From"),
            field("To"),
            field("Call-ID"),
        );
        socket.send_to(request.as_bytes(), sipterm).unwrap();
    }
    let _ = answers(socket, Duration::from_millis(300), Duration::from_secs(2));
}

/// sipterm headless with `-v`, registering at `registrar` (which never answers: sipterm keeps
/// retrying it and serves calls meanwhile); with its SIP port.
fn spawn_sipterm(registrar: std::net::SocketAddr, transport: &str) -> (Sipterm, u16) {
    let sip_port = free_udp_tcp_port();
    let rtp = free_udp_port_block(20);
    let sipterm = Sipterm::spawn([
        "--sip-uri".to_string(),
        format!("sip:alice@{registrar}"),
        "--password".into(),
        "x".into(),
        "--transport".into(),
        transport.into(),
        "--port".into(),
        sip_port.to_string(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--rtp-ports".into(),
        format!("{rtp}-{}", rtp + 19),
        "--audio".into(),
        "null".into(),
        "--headless".into(),
        "-v".into(),
    ]);
    (sipterm, sip_port)
}

#[test]
fn torture_messages_get_the_answers_rfc_4475_asks_for() {
    // A registrar that never answers: sipterm keeps retrying it and serves calls meanwhile.
    let registrar = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (mut sipterm, sip_port) = spawn_sipterm(registrar.local_addr().unwrap(), "udp");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = socket.local_addr().unwrap().to_string();
    let target = ("127.0.0.1", sip_port);

    // Ready when an OPTIONS is answered.
    let probe = format!(
        "OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-probe\r\n\
         From: <sip:t@t>;tag=p\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: probe\r\nCSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let ready = Instant::now();
    while answers(
        &socket,
        Duration::from_millis(200),
        Duration::from_millis(400),
    )
    .is_empty()
    {
        assert!(
            ready.elapsed() < Duration::from_secs(20),
            "sipterm never answered\n{}",
            sipterm.report()
        );
        socket.send_to(probe.as_bytes(), target).unwrap();
    }

    let mut table = Vec::new();
    let mut wrong = Vec::new();
    for (n, case) in cases().iter().enumerate() {
        let message = std::fs::read(torture_dir().join(format!("{}.dat", case.name))).unwrap();
        socket.send_to(&aim_top_via(&message, &me), target).unwrap();
        let quiet = if case.answer.is_some() { 3000 } else { 1000 };
        let got = answers(
            &socket,
            Duration::from_millis(quiet),
            Duration::from_secs(8),
        );
        let last = got.iter().rev().find(|r| final_status(r).is_some());
        let status = last.and_then(|r| final_status(r));
        table.push(format!(
            "{:<11} expected {:<5} got {}",
            case.name,
            case.answer.map_or("none".into(), |c| c.to_string()),
            last.map_or("none".into(), |r| r
                .lines()
                .next()
                .unwrap_or_default()
                .to_string())
        ));
        if status != case.answer {
            wrong.push(format!(
                "{}: expected {:?}, got {:?}: {got:?}",
                case.name, case.answer, status
            ));
        }
        if let Some(r) = last {
            for (h, want) in &case.checks {
                if !header(r, h).is_some_and(|v| v.contains(want.as_str())) {
                    wrong.push(format!("{}: answer lacks {h}: {want}\n{r}", case.name));
                }
            }
            if !r.contains("Content-Length: 0") && status != Some(200) {
                wrong.push(format!(
                    "{}: answer without Content-Length: 0\n{r}",
                    case.name
                ));
            }
            if status == Some(200) && r.contains("INVITE\r\n") {
                hang_up(&socket, r, target, &me, n);
            }
        }
    }
    eprintln!("{}", table.join("\n"));

    // With -v, what screening answered or dropped leaves a line in the log.
    let out = sipterm.stdout();
    for needle in [
        "answered here: 400 Content-Length -999 is negative",
        "answered here: 501 unknown method",
        "dropped: status code 4294967301 out of range",
    ] {
        if !out.contains(needle) {
            wrong.push(format!("no log line with {needle:?}"));
        }
    }
    sipterm.interrupt();
    let code = sipterm.exit_code(Duration::from_secs(15));
    assert!(
        wrong.is_empty(),
        "{}\n{}\n{}",
        wrong.join("\n"),
        table.join("\n"),
        sipterm.report()
    );
    assert_eq!(code, 0, "{}", sipterm.report());
}

/// Everything that arrives on `stream` until `quiet` passes without a byte; whether the peer
/// closed the connection.
fn tcp_answers(stream: &mut std::net::TcpStream, quiet: Duration) -> (String, bool) {
    use std::io::Read;
    stream.set_read_timeout(Some(quiet)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), false),
        }
    }
}

#[test]
fn over_tcp_the_torture_messages_are_answered_and_the_connection_stays() {
    use std::io::Write;
    let registrar = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut sipterm, sip_port) = spawn_sipterm(registrar.local_addr().unwrap(), "tcp");
    let mut stream = None;
    let ready = Instant::now();
    while stream.is_none() {
        assert!(
            ready.elapsed() < Duration::from_secs(20),
            "{}",
            sipterm.report()
        );
        stream = std::net::TcpStream::connect(("127.0.0.1", sip_port)).ok();
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut stream = stream.unwrap();
    let me = stream.local_addr().unwrap().to_string();
    let mut wrong = Vec::new();
    for (name, want) in [
        ("intmeth", 501),
        ("esc02", 501),
        ("dblreq", 405),
        ("badvers", 505),
    ] {
        let message = std::fs::read(torture_dir().join(format!("{name}.dat"))).unwrap();
        stream.write_all(&aim_top_via(&message, &me)).unwrap();
        let (got, closed) = tcp_answers(&mut stream, Duration::from_millis(1500));
        let first = got
            .lines()
            .find(|l| l.starts_with("SIP/2.0 ") && !l.starts_with("SIP/2.0 1"));
        if first.and_then(|l| l.get(8..11)) != Some(want.to_string().as_str()) {
            wrong.push(format!("{name}: expected {want}, got {got:?}"));
        }
        if closed {
            wrong.push(format!("{name}: the connection was closed"));
            break;
        }
    }
    // The same connection still carries a plain request.
    let options = format!(
        "OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {me};branch=z9hG4bK-after\r\n\
         From: <sip:t@t>;tag=p\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: after\r\nCSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    );
    if stream.write_all(options.as_bytes()).is_ok() {
        let (got, _) = tcp_answers(&mut stream, Duration::from_millis(1500));
        if !got.contains("SIP/2.0 200 OK") {
            wrong.push(format!("OPTIONS after the torture messages: {got:?}"));
        }
    }
    let out = sipterm.stdout();
    if !out.contains("answered here: 501 unknown method") {
        wrong.push("no log line for the screened answer over TCP".into());
    }
    sipterm.interrupt();
    let code = sipterm.exit_code(Duration::from_secs(15));
    assert!(
        wrong.is_empty(),
        "{}\n{}",
        wrong.join("\n"),
        sipterm.report()
    );
    assert_eq!(code, 0, "{}", sipterm.report());
}
