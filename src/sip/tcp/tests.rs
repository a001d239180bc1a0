//! The TCP flows against a real user agent on loopback: limits, timeouts and framing answers.

use super::TcpLimits;
use crate::sip::account::{Account, Transport};
use crate::sip::ua::{SipEvent, UserAgent};
use crate::sip::uri::SipUri;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn start(limits: TcpLimits) -> (UserAgent, mpsc::UnboundedReceiver<SipEvent>) {
    let aor = SipUri::parse("sip:alice@127.0.0.1:9").expect("aor");
    let account = Account {
        registrar: aor.registrar(),
        aor,
        username: "alice".into(),
        password: None,
        trust: Default::default(),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let ua = UserAgent::start(
        &account,
        Transport::Tcp,
        0,
        LOCALHOST,
        limits,
        tx,
        CancellationToken::new(),
    )
    .await
    .expect("the user agent starts on loopback");
    (ua, rx)
}

fn options(branch: &str) -> String {
    format!(
        "OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK{branch}\r\n\
         From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: {branch}@t\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Reads until the peer closes or `limit` passes; what arrived.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (String::from_utf8_lossy(&got).into(), true),
        }
    }
    (String::from_utf8_lossy(&got).into(), false)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking part")
}

#[tokio::test]
async fn requests_split_across_writes_and_pings_are_answered_on_the_flow() {
    let (ua, _rx) = start(TcpLimits::default()).await;
    let addr = ua.local;
    let (answer, closed) = blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let text = options("split");
        let (a, b) = text.split_at(30);
        s.write_all(b"\r\n\r\n").unwrap();
        s.write_all(a.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        s.write_all(b.as_bytes()).unwrap();
        read_until_closed(&mut s, Duration::from_secs(2))
    })
    .await;
    assert!(answer.starts_with("\r\nSIP/2.0 200 OK\r\n"), "{answer:?}");
    assert!(!closed);
    ua.stop().await.unwrap();
}

#[tokio::test]
async fn a_negative_content_length_gets_400_and_the_flow_closes() {
    let (ua, _rx) = start(TcpLimits::default()).await;
    let addr = ua.local;
    let (answer, closed) = blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let text = options("ncl").replace("Content-Length: 0", "Content-Length: -999");
        s.write_all(text.as_bytes()).unwrap();
        read_until_closed(&mut s, Duration::from_secs(2))
    })
    .await;
    assert!(answer.starts_with("SIP/2.0 400 Bad Request"), "{answer:?}");
    assert!(answer.contains("-999"), "{answer:?}");
    assert!(closed);
    ua.stop().await.unwrap();
}

#[tokio::test]
async fn an_unreadable_message_is_skipped_and_the_flow_stays_usable() {
    let (ua, mut rx) = start(TcpLimits::default()).await;
    let addr = ua.local;
    let (answer, closed) = blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"NOT SIP AT ALL\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        s.write_all(options("after").as_bytes()).unwrap();
        read_until_closed(&mut s, Duration::from_secs(2))
    })
    .await;
    assert!(answer.starts_with("SIP/2.0 200 OK"), "{answer:?}");
    assert!(!closed);
    let mut traced = false;
    while let Ok(e) = rx.try_recv() {
        traced |= matches!(e, SipEvent::Trace(t) if t.text.contains("[sipterm: dropped"));
    }
    assert!(traced, "the skipped message leaves a line in the SIP trace");
    ua.stop().await.unwrap();
}

#[tokio::test]
async fn idle_and_half_sent_flows_are_closed() {
    let limits = TcpLimits {
        idle: Duration::from_millis(600),
        half_sent: Duration::from_millis(300),
        ..TcpLimits::default()
    };
    let (ua, _rx) = start(limits).await;
    let addr = ua.local;
    let (idle, half) = blocking(move || {
        let mut idle = TcpStream::connect(addr).unwrap();
        let mut half = TcpStream::connect(addr).unwrap();
        half.write_all(b"OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP")
            .unwrap();
        let started = Instant::now();
        let (_, closed) = read_until_closed(&mut half, Duration::from_secs(3));
        let half = (closed, started.elapsed());
        let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(3));
        (closed, half)
    })
    .await;
    assert!(idle, "an idle flow is closed");
    assert!(half.0, "a half-sent message's flow is closed");
    assert!(
        half.1 < Duration::from_millis(590),
        "before the idle limit: {:?}",
        half.1
    );
    let tcp = ua.tcp().expect("tcp").clone();
    assert_eq!(tcp.inbound(), 0, "closed flows give back their place");
    ua.stop().await.unwrap();
}

#[tokio::test]
async fn flows_over_the_per_peer_cap_get_503_with_the_reason() {
    let limits = TcpLimits {
        per_peer: 3,
        ..TcpLimits::default()
    };
    let (ua, mut rx) = start(limits).await;
    let addr = ua.local;
    let tcp = ua.tcp().expect("tcp").clone();
    let (kept, answer) = blocking(move || {
        let kept: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(200));
        let mut extra = TcpStream::connect(addr).unwrap();
        extra.write_all(options("over").as_bytes()).unwrap();
        let (answer, _) = read_until_closed(&mut extra, Duration::from_secs(3));
        (kept, answer)
    })
    .await;
    assert!(
        answer.starts_with("SIP/2.0 503 Service Unavailable"),
        "{answer:?}"
    );
    assert!(
        answer
            .contains("Warning: 399 sipterm \"too many TCP connections from 127.0.0.1 (limit 3)\""),
        "{answer}"
    );
    assert!(answer.contains("Retry-After: 30"), "{answer}");
    assert_eq!(tcp.inbound(), 3);
    drop(kept);
    let mut warned = false;
    while let Ok(e) = rx.try_recv() {
        warned |= matches!(e, SipEvent::Warning(w) if w.contains("refusing"));
    }
    assert!(warned, "the refusal is logged");
    ua.stop().await.unwrap();
}
