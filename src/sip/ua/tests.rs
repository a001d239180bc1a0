//! The user agent on loopback against a raw UDP socket playing the other side.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::sip::account::{Account, Transport};
use crate::sip::registration::{RegUpdate, RegistrationTask};
use crate::sip::uri::SipUri;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn account(registrar: SocketAddr) -> Account {
    let aor = SipUri::parse(&format!("sip:alice@{registrar}")).expect("a SIP URI");
    Account {
        registrar: aor.registrar(),
        aor,
        username: "alice".into(),
        password: Some("secret".into()),
        trust: Default::default(),
    }
}

async fn start_ua(registrar: SocketAddr) -> (UserAgent, mpsc::UnboundedReceiver<SipEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let ua = UserAgent::start(
        &account(registrar),
        Transport::Udp,
        0,
        LOCALHOST,
        Default::default(),
        tx,
        CancellationToken::new(),
    )
    .await
    .expect("the user agent starts on loopback");
    (ua, rx)
}

/// A request from `from` to the user agent, with a fresh branch and Call-ID.
fn request(method: &str, from: SocketAddr, ua: SocketAddr, call_id: &str, body: &str) -> String {
    let content_type = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".to_string()
    };
    format!(
        "{method} sip:alice@{ua} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:bob@{from}>;tag=bob-{call_id}\r\n\
         To: <sip:alice@{ua}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:bob@{from}>\r\n\
         {content_type}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The status line of the next final answer to `call_id` (provisional ones are skipped).
async fn final_answer(sock: &UdpSocket, call_id: &str, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    let mut buf = vec![0u8; 8192];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let (len, _) = timeout(left, sock.recv_from(&mut buf)).await.ok()?.ok()?;
        let text = String::from_utf8_lossy(&buf[..len]).into_owned();
        let status = text.lines().next().unwrap_or_default().to_string();
        let provisional = status.starts_with("SIP/2.0 1");
        if text.contains(&format!("Call-ID: {call_id}")) && !provisional {
            return Some(status);
        }
    }
}

const OFFER: &str = "v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
                     t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

#[tokio::test]
async fn options_is_answered_while_an_invite_waits_for_the_user() {
    let peer = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let (ua, mut events) = start_ua(peer.local_addr().unwrap()).await;
    let (from, to) = (peer.local_addr().unwrap(), ua.local);

    let invite = request("INVITE", from, to, "pending-invite", OFFER);
    peer.send_to(invite.as_bytes(), to).await.unwrap();
    let key = next_event(&mut events, "Invite", |e| match e {
        SipEvent::Invite { key, .. } => Some(key),
        _ => None,
    })
    .await;
    // The INVITE's transaction stays open until the user answers; other requests go on.
    let options = request("OPTIONS", from, to, "options-meanwhile", "");
    peer.send_to(options.as_bytes(), to).await.unwrap();
    let status = final_answer(&peer, "options-meanwhile", Duration::from_secs(2)).await;
    assert_eq!(status.as_deref(), Some("SIP/2.0 200 OK"));

    ua.reject(&key, 486);
    let status = final_answer(&peer, "pending-invite", Duration::from_secs(2)).await;
    assert_eq!(status.as_deref(), Some("SIP/2.0 486 Busy Here"));
    ua.stop().await.expect("every task ends");
}

#[tokio::test]
async fn stop_ends_every_task_including_a_retrying_registration() {
    // A registrar that never answers: the registration task stays busy retrying.
    let silent = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let (ua, _events) = start_ua(silent.local_addr().unwrap()).await;
    let (tx, mut updates) = mpsc::unbounded_channel();
    let account = account(silent.local_addr().unwrap());
    let registration = RegistrationTask::spawn(&ua, &account, Transport::Udp, None, tx).unwrap();
    assert_eq!(
        updates.recv().await,
        Some(RegUpdate::Registering { why: None })
    );
    let mut buf = [0u8; 4096];
    timeout(Duration::from_secs(2), silent.recv_from(&mut buf))
        .await
        .expect("a REGISTER arrives")
        .unwrap();

    let began = Instant::now();
    ua.stop().await.expect("every task ends within the grace");
    assert!(ua.tasks.is_empty(), "{} task(s) left", ua.tasks.len());
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "{:?}",
        began.elapsed()
    );
    // The registration went with the user agent: stopping it returns at once.
    timeout(Duration::from_millis(100), registration.stop())
        .await
        .expect("the registration task already ended");
    // Stopping again is harmless.
    ua.stop().await.unwrap();
}

#[tokio::test]
async fn operations_on_an_unknown_call_say_the_call_is_gone() {
    let peer = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let (ua, _events) = start_ua(peer.local_addr().unwrap()).await;
    let key = DialogKey("no-such-dialog".into());
    let accept = ua.accept(&key, String::new()).unwrap_err();
    assert!(matches!(&accept, DialogError::Gone { key: k } if *k == key));
    assert_eq!(accept.to_string(), "the call is gone");
    let bye = ua.bye(&key).await.unwrap_err();
    assert!(matches!(bye, DialogError::Gone { .. }), "{bye}");
    ua.stop().await.unwrap();
}

#[test]
fn info_dtmf_reads_both_common_formats_and_nothing_else() {
    let relay = b"Signal=5\r\nDuration=160\r\n";
    assert_eq!(info_dtmf(Some("application/dtmf-relay"), relay), Some('5'));
    assert_eq!(
        info_dtmf(Some("Application/DTMF-Relay; charset=x"), b"signal= #\r\n"),
        Some('#')
    );
    assert_eq!(
        info_dtmf(Some("application/dtmf-relay"), b"Signal=11"),
        Some('#')
    );
    assert_eq!(
        info_dtmf(Some("application/dtmf-relay"), b"Signal=10"),
        Some('*')
    );
    assert_eq!(info_dtmf(Some("application/dtmf"), b"7\r\n"), Some('7'));
    assert_eq!(info_dtmf(Some("application/dtmf"), b"a"), Some('A'));
    for (content_type, body) in [
        (Some("application/dtmf-relay"), &b"Duration=160"[..]),
        (Some("application/dtmf-relay"), b"Signal=X"),
        (Some("application/dtmf"), b"12"),
        (Some("text/plain"), b"5"),
        (None, b"Signal=5"),
        (Some("application/dtmf"), b"\xff"),
    ] {
        assert_eq!(
            info_dtmf(content_type, body),
            None,
            "{content_type:?} {body:?}"
        );
    }
}

#[tokio::test]
async fn register_says_only_what_we_do_with_our_own_call_id() {
    let registrar = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let (ua, _events) = start_ua(registrar.local_addr().unwrap()).await;
    let (tx, _updates) = mpsc::unbounded_channel();
    let account = account(registrar.local_addr().unwrap());
    let _registration = RegistrationTask::spawn(&ua, &account, Transport::Udp, None, tx).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = timeout(Duration::from_secs(2), registrar.recv_from(&mut buf))
        .await
        .expect("a REGISTER arrives")
        .unwrap();
    let register = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    let header = |name: &str| {
        register
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::trim))
            .map(str::to_string)
    };
    assert!(!register.contains("outbound"), "{register}");
    assert!(!register.contains("restsend.com"), "{register}");
    assert_eq!(header("supported").as_deref(), Some(""), "{register}");
    let allow = header("allow").expect("Allow");
    for method in ["invite", "bye", "update", "info"] {
        assert!(allow.contains(method), "{allow}");
    }
    ua.stop().await.unwrap();
}

/// A registrar's answer to `request`: its Via, From, To (tagged), Call-ID and CSeq echoed.
fn registrar_answer(request: &str, status_line: &str, extra: &str) -> String {
    let mut out = format!("SIP/2.0 {status_line}\r\n");
    for line in request.lines() {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "from" | "call-id" | "cseq" => out.push_str(&format!("{line}\r\n")),
            "to" => out.push_str(&format!("{line};tag=registrar\r\n")),
            _ => {}
        }
    }
    out.push_str(extra);
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// Registers against a socket that gives `answer` to the first REGISTER; returns the update
/// that follows `Registering`.
async fn first_update(status_line: &str, extra: &str) -> RegUpdate {
    let registrar = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let (ua, _events) = start_ua(registrar.local_addr().unwrap()).await;
    let (tx, mut updates) = mpsc::unbounded_channel();
    let account = account(registrar.local_addr().unwrap());
    let _registration = RegistrationTask::spawn(&ua, &account, Transport::Udp, None, tx).unwrap();
    assert_eq!(
        updates.recv().await,
        Some(RegUpdate::Registering { why: None })
    );
    let mut buf = [0u8; 8192];
    let (n, from) = timeout(Duration::from_secs(2), registrar.recv_from(&mut buf))
        .await
        .expect("a REGISTER arrives")
        .unwrap();
    let request = String::from_utf8_lossy(&buf[..n]).into_owned();
    let answer = registrar_answer(&request, status_line, extra);
    registrar.send_to(answer.as_bytes(), from).await.unwrap();
    let update = timeout(Duration::from_secs(5), updates.recv())
        .await
        .expect("an update")
        .expect("the task runs");
    ua.stop().await.unwrap();
    update
}

#[tokio::test]
async fn retry_after_on_503_is_honoured() {
    let update = first_update("503 Service Unavailable", "Retry-After: 7\r\n").await;
    let RegUpdate::Retrying { retry_in, .. } = update else {
        panic!("{update:?}");
    };
    assert_eq!(retry_in, Duration::from_secs(7), "not the 1 s backoff");
}

#[tokio::test]
async fn a_200_that_grants_no_time_is_not_registered() {
    let update = first_update("200 OK", "Expires: 0\r\n").await;
    let RegUpdate::Retrying { reason, retry_in } = update else {
        panic!("{update:?}");
    };
    assert!(reason.contains("granted no time"), "{reason}");
    assert!(retry_in >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_huge_reason_phrase_is_cut_and_cleaned_before_it_is_echoed() {
    let phrase = format!("Busy\t{}", "x".repeat(3_000));
    // An unknown status: its reason phrase is the only description there is.
    let update = first_update(&format!("599 {phrase}"), "").await;
    let RegUpdate::Retrying { reason, .. } = update else {
        panic!("{update:?}");
    };
    assert!(reason.chars().count() < 300, "{} chars", reason.len());
    assert!(!reason.contains('\t'), "{reason:?}");
    assert!(reason.ends_with('…'), "{reason:?}");
}

#[tokio::test]
async fn an_unusable_challenge_is_not_called_unreachable() {
    let update = first_update(
        "401 Unauthorized",
        "WWW-Authenticate: Digest realm=\"x\", nonce=\"n\", algorithm=ROT13, qop=\"nothing-we-know\"\r\n",
    )
    .await;
    let RegUpdate::Retrying { reason, .. } = update else {
        panic!("{update:?}");
    };
    assert!(!reason.contains("cannot reach"), "{reason}");
    assert!(reason.contains("answered"), "{reason}");
}

/// The first event `pick` takes within 2 s, skipping others.
async fn next_event<T>(
    events: &mut mpsc::UnboundedReceiver<SipEvent>,
    what: &str,
    pick: impl Fn(SipEvent) -> Option<T>,
) -> T {
    loop {
        match timeout(Duration::from_secs(2), events.recv()).await {
            Ok(Some(event)) => {
                if let Some(found) = pick(event) {
                    return found;
                }
            }
            other => panic!("no {what} event: {other:?}"),
        }
    }
}

/// A confirmed call from `peer`: INVITE, our 200, the peer's ACK. Returns the dialog's key and
/// the To header with our tag, for in-dialog requests.
async fn confirmed_call(
    ua: &UserAgent,
    events: &mut mpsc::UnboundedReceiver<SipEvent>,
    peer: &UdpSocket,
    call_id: &str,
) -> (DialogKey, String) {
    let (from, to) = (peer.local_addr().unwrap(), ua.local);
    let invite = request("INVITE", from, to, call_id, OFFER);
    peer.send_to(invite.as_bytes(), to).await.unwrap();
    let key = next_event(events, "Invite", |e| match e {
        SipEvent::Invite { key, .. } => Some(key),
        _ => None,
    })
    .await;
    ua.accept(&key, OFFER.replace("bob", "alice")).unwrap();
    let mut buf = vec![0u8; 8192];
    let to_header = loop {
        let (n, _) = timeout(Duration::from_secs(2), peer.recv_from(&mut buf))
            .await
            .expect("our 200")
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 200") {
            break text
                .lines()
                .find(|l| l.starts_with("To:"))
                .expect("To")
                .to_string();
        }
    };
    let ack = in_dialog("ACK", from, to, call_id, &to_header, 1);
    peer.send_to(ack.as_bytes(), to).await.unwrap();
    (key, to_header)
}

/// An in-dialog request with its own branch and CSeq.
fn in_dialog(
    method: &str,
    from: SocketAddr,
    ua: SocketAddr,
    call_id: &str,
    to_header: &str,
    cseq: u32,
) -> String {
    let content_type = match method {
        "INFO" => "Content-Type: application/dtmf-relay\r\n",
        "INVITE" => "Content-Type: application/sdp\r\n",
        _ => "",
    };
    let body = match method {
        "INFO" => "Signal=5\r\nDuration=160\r\n".to_string(),
        "INVITE" => OFFER.to_string(),
        _ => String::new(),
    };
    format!(
        "{method} sip:alice@{ua} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-{call_id}-{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:bob@{from}>;tag=bob-{call_id}\r\n\
         {to_header}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:bob@{from}>\r\n\
         {content_type}\
         Content-Length: {}\r\n\r\n{body}",
        body.len(),
    )
}

/// Final answers that arrive within `within`, as (CSeq number, status code, the whole text).
async fn finals(sock: &UdpSocket, within: Duration) -> Vec<(u32, u16, String)> {
    let deadline = Instant::now() + within;
    let mut buf = vec![0u8; 8192];
    let mut out = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(Ok((n, _))) = timeout(left, sock.recv_from(&mut buf)).await else {
            break;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let Some(code) = text
            .strip_prefix("SIP/2.0 ")
            .and_then(|t| t.get(..3))
            .and_then(|c| c.parse::<u16>().ok())
        else {
            continue;
        };
        if code < 200 {
            continue;
        }
        let cseq = text
            .lines()
            .find_map(|l| l.strip_prefix("CSeq: "))
            .and_then(|c| c.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        out.push((cseq, code, text));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn infos_sent_together_each_get_one_answer() {
    let peer = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let (ua, mut events) = start_ua(peer.local_addr().unwrap()).await;
    let (_key, to_header) = confirmed_call(&ua, &mut events, &peer, "infos").await;
    next_event(&mut events, "Confirmed", |e| {
        matches!(e, SipEvent::Confirmed { .. }).then_some(())
    })
    .await;
    let (from, to) = (peer.local_addr().unwrap(), ua.local);
    for cseq in 2..=21 {
        let info = in_dialog("INFO", from, to, "infos", &to_header, cseq);
        peer.send_to(info.as_bytes(), to).await.unwrap();
    }
    let mut answers = finals(&peer, Duration::from_secs(2)).await;
    answers.sort_by_key(|a| a.0);
    let got: Vec<(u32, u16)> = answers.iter().map(|a| (a.0, a.1)).collect();
    let want: Vec<(u32, u16)> = (2..=21).map(|c| (c, 200)).collect();
    assert_eq!(got, want);
    let mut digits = 0;
    while let Ok(e) = events.try_recv() {
        digits += matches!(e, SipEvent::Dtmf { digit: '5', .. }) as usize;
    }
    assert_eq!(digits, 20, "every INFO's digit is reported");
    // One from the past (a lower CSeq) is out of order: 500 (RFC 3261 12.2.2), not silence.
    let stale = in_dialog("INFO", from, to, "infos", &to_header, 1);
    peer.send_to(stale.as_bytes(), to).await.unwrap();
    let answers = finals(&peer, Duration::from_secs(1)).await;
    let got: Vec<(u32, u16)> = answers.iter().map(|a| (a.0, a.1)).collect();
    assert_eq!(got, [(1, 500)]);
    ua.stop().await.unwrap();
}

#[tokio::test]
async fn a_reinvite_while_another_is_pending_gets_500_with_retry_after() {
    let peer = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let (ua, mut events) = start_ua(peer.local_addr().unwrap()).await;
    let (_key, to_header) = confirmed_call(&ua, &mut events, &peer, "two-reinvites").await;
    let (from, to) = (peer.local_addr().unwrap(), ua.local);
    let first = in_dialog("INVITE", from, to, "two-reinvites", &to_header, 2);
    peer.send_to(first.as_bytes(), to).await.unwrap();
    let responder = next_event(&mut events, "Reoffer", |e| match e {
        SipEvent::Reoffer { responder, .. } => Some(responder),
        _ => None,
    })
    .await;
    let second = in_dialog("INVITE", from, to, "two-reinvites", &to_header, 3);
    peer.send_to(second.as_bytes(), to).await.unwrap();
    let early = finals(&peer, Duration::from_millis(800)).await;
    let got: Vec<(u32, u16)> = early.iter().map(|a| (a.0, a.1)).collect();
    assert_eq!(got, [(3, 500)], "{early:?}");
    let retry_after = early[0]
        .2
        .lines()
        .find_map(|l| l.strip_prefix("Retry-After: "))
        .and_then(|v| v.trim().parse::<u32>().ok())
        .expect("Retry-After");
    assert!(retry_after <= 10, "{retry_after}");
    responder
        .respond(200, Some(OFFER.replace("bob", "alice")))
        .await;
    let late = finals(&peer, Duration::from_millis(800)).await;
    let mut got: Vec<(u32, u16)> = late.iter().map(|a| (a.0, a.1)).collect();
    got.dedup(); // the 200 is retransmitted until ACKed
    assert_eq!(got, [(2, 200)], "{late:?}");
    ua.stop().await.unwrap();
}

#[tokio::test]
async fn a_401_too_large_for_udp_is_named_not_left_as_no_answer() {
    let registrar = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let (ua, mut events) = start_ua(registrar.local_addr().unwrap()).await;
    let (tx, _updates) = mpsc::unbounded_channel();
    let account = account(registrar.local_addr().unwrap());
    let _registration = RegistrationTask::spawn(&ua, &account, Transport::Udp, None, tx).unwrap();
    let mut buf = [0u8; 8192];
    let (n, from) = timeout(Duration::from_secs(2), registrar.recv_from(&mut buf))
        .await
        .expect("a REGISTER arrives")
        .unwrap();
    let request = String::from_utf8_lossy(&buf[..n]).into_owned();
    let nonce = "n".repeat(60_000);
    let challenge = format!("WWW-Authenticate: Digest realm=\"x\", nonce=\"{nonce}\"\r\n");
    let answer = registrar_answer(&request, "401 Unauthorized", &challenge);
    registrar.send_to(answer.as_bytes(), from).await.unwrap();
    let warning = next_event(&mut events, "Warning", |e| match e {
        SipEvent::Warning(w) => Some(w),
        _ => None,
    })
    .await;
    assert!(warning.contains("SIP/2.0 401 Unauthorized"), "{warning}");
    assert!(warning.contains("larger than the 8192 bytes"), "{warning}");
    ua.stop().await.unwrap();
}

/// The next request `method` that reaches `sock` within `within`, as text.
async fn next_request(sock: &UdpSocket, method: &str, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    let mut buf = vec![0u8; 8192];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let (n, _) = timeout(left, sock.recv_from(&mut buf)).await.ok()?.ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with(&format!("{method} ")) {
            return Some(text);
        }
    }
}

#[tokio::test]
async fn our_bye_stops_when_the_callers_bye_crosses_it() {
    let peer = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let (ua, mut events) = start_ua(peer.local_addr().unwrap()).await;
    let (key, to_header) = confirmed_call(&ua, &mut events, &peer, "crossing").await;
    let (from, to) = (peer.local_addr().unwrap(), ua.local);
    // Our BYE goes out and the caller, hanging up too, never answers it.
    let bye = tokio::spawn({
        let (ua, key) = (ua.clone(), key.clone());
        async move { ua.bye(&key).await }
    });
    next_request(&peer, "BYE", Duration::from_secs(2))
        .await
        .expect("our BYE");
    let theirs = in_dialog("BYE", from, to, "crossing", &to_header, 2);
    peer.send_to(theirs.as_bytes(), to).await.unwrap();
    let result = timeout(Duration::from_secs(1), bye)
        .await
        .expect("our BYE stops waiting at once")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    // Its transaction is gone: no retransmission follows (T1 is 500 ms).
    assert!(
        next_request(&peer, "BYE", Duration::from_millis(1500))
            .await
            .is_none(),
        "our BYE was retransmitted"
    );
    ua.stop().await.unwrap();
}

#[tokio::test]
async fn no_bye_is_sent_once_the_callers_bye_arrived() {
    let peer = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let (ua, mut events) = start_ua(peer.local_addr().unwrap()).await;
    let (key, to_header) = confirmed_call(&ua, &mut events, &peer, "after-theirs").await;
    let (from, to) = (peer.local_addr().unwrap(), ua.local);
    let theirs = in_dialog("BYE", from, to, "after-theirs", &to_header, 2);
    peer.send_to(theirs.as_bytes(), to).await.unwrap();
    let answers = finals(&peer, Duration::from_millis(500)).await;
    assert_eq!(answers.iter().map(|a| a.1).collect::<Vec<_>>(), [200]);
    let result = timeout(Duration::from_secs(1), ua.bye(&key))
        .await
        .expect("no wait");
    assert!(
        matches!(result, Ok(()) | Err(DialogError::Gone { .. })),
        "{result:?}"
    );
    assert!(
        next_request(&peer, "BYE", Duration::from_millis(800))
            .await
            .is_none(),
        "a BYE after the caller's was answered"
    );
    ua.stop().await.unwrap();
}

#[test]
fn reason_text_keeps_a_header_value_whole() {
    assert_eq!(
        reason_text("no usable a=crypto line (1: the inline key is not valid base64)"),
        "no usable a=crypto line (1: the inline key is not valid base64)"
    );
    assert_eq!(reason_text("a\r\nX-Evil: 1 \"q\" μ"), "a??X-Evil: 1 'q' ?");
    assert_eq!(reason_text(&"x".repeat(500)).len(), 200);
}
