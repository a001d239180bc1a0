use super::*;

/// RFC 5769 §2.2: a sample IPv4 Binding success response (the MESSAGE-INTEGRITY bytes are
/// replaced by a filler: we do not check them, and without a password there are none).
fn rfc5769_response() -> (Vec<u8>, TransactionId) {
    let id = [
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ];
    let mut msg = vec![0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42];
    msg.extend_from_slice(&id);
    msg.extend_from_slice(&[0x80, 0x22, 0x00, 0x0b]);
    msg.extend_from_slice(b"test vector ");
    msg.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47]);
    msg.extend_from_slice(&[0xe1, 0x12, 0xa6, 0x43]);
    msg.extend_from_slice(&[0x00, 0x08, 0x00, 0x14]);
    msg.extend_from_slice(&[0x5a; 20]);
    msg.extend_from_slice(&[0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96]);
    (msg, id)
}

fn header(kind: u16, len: u16, id: &TransactionId) -> Vec<u8> {
    let mut msg = kind.to_be_bytes().to_vec();
    msg.extend_from_slice(&len.to_be_bytes());
    msg.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
    msg.extend_from_slice(id);
    msg
}

#[test]
fn a_request_is_a_bare_header_with_the_cookie_and_our_id() {
    let id = [7u8; 12];
    let req = binding_request(&id);
    assert_eq!(&req[..8], &[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]);
    assert_eq!(&req[8..], &id);
}

#[test]
fn reads_the_rfc5769_sample_response() {
    let (msg, id) = rfc5769_response();
    assert_eq!(
        parse_binding_answer(&msg, &id),
        Ok("192.0.2.1:32853".parse().unwrap())
    );
}

#[test]
fn takes_the_old_mapped_address_from_an_rfc3489_server() {
    let id = [1u8; 12];
    let mut msg = header(0x0101, 12, &id);
    msg.extend_from_slice(&[0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x27, 0x14]);
    msg.extend_from_slice(&[203, 0, 113, 1]);
    assert_eq!(
        parse_binding_answer(&msg, &id),
        Ok("203.0.113.1:10004".parse().unwrap())
    );
}

#[test]
fn an_error_answer_says_the_code_and_reason() {
    let id = [2u8; 12];
    let mut msg = header(0x0111, 16, &id);
    msg.extend_from_slice(&[0x00, 0x09, 0x00, 0x0b, 0x00, 0x00, 0x04, 0x00]);
    msg.extend_from_slice(b"Bad\x07 ");
    msg.extend_from_slice(&[0, 0, 0, 0]);
    match parse_binding_answer(&msg, &id) {
        Err(StunError::Refused { code, reason }) => {
            assert_eq!(code, 400);
            assert!(!reason.contains('\x07'), "{reason:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rejects_other_transactions_and_garbage_without_panicking() {
    let (msg, id) = rfc5769_response();
    assert_eq!(
        parse_binding_answer(&msg, &[0u8; 12]),
        Err(StunError::OtherTransaction)
    );
    for cut in 0..msg.len() {
        let _ = parse_binding_answer(&msg[..cut], &id);
    }
    let mut rtp = msg.clone();
    rtp[0] = 0x80; // an RTP version-2 first byte
    assert!(matches!(
        parse_binding_answer(&rtp, &id),
        Err(StunError::NotStun(_))
    ));
    // An attribute claiming more bytes than the message holds.
    let mut long = header(0x0101, 8, &id);
    long.extend_from_slice(&[0x00, 0x20, 0x00, 0x40, 0, 1, 0, 0]);
    assert!(matches!(
        parse_binding_answer(&long, &id),
        Err(StunError::NotStun(_))
    ));
}

/// A loopback "server" that ignores the first `drop` requests, then answers with the
/// request's source in an XOR-MAPPED-ADDRESS of its own making.
async fn server(drop: usize) -> (SocketAddr, tokio::task::JoinHandle<usize>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut seen = 0;
        let mut buf = [0u8; 100];
        while let Ok(Ok((len, from))) =
            tokio::time::timeout(Duration::from_secs(3), socket.recv_from(&mut buf)).await
        {
            seen += 1;
            if seen <= drop || len != 20 {
                continue;
            }
            let id: TransactionId = buf[8..20].try_into().unwrap();
            let SocketAddr::V4(v4) = from else { panic!() };
            let port = v4.port() ^ 0x2112;
            let ip = u32::from(*v4.ip()) ^ MAGIC_COOKIE;
            let mut msg = header(0x0101, 12, &id);
            msg.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
            msg.extend_from_slice(&port.to_be_bytes());
            msg.extend_from_slice(&ip.to_be_bytes());
            socket.send_to(&msg, from).await.unwrap();
        }
        seen
    });
    (addr, task)
}

#[tokio::test]
async fn a_lost_request_is_sent_again_and_the_answer_names_our_socket() {
    let (addr, task) = server(1).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mapping = discover(&socket, addr).await.unwrap();
    assert_eq!(mapping.public, socket.local_addr().unwrap());
    assert!(
        mapping.took >= FIRST_RTO,
        "answered only the retransmission"
    );
    drop(socket);
    assert_eq!(task.await.unwrap(), 2);
}

#[tokio::test]
async fn a_silent_server_gives_up_within_the_limit() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let started = Instant::now();
    let err = discover(&socket, silent.local_addr().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, StunError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < LOOKUP_LIMIT + Duration::from_millis(500));
    let mut buf = [0u8; 64];
    let mut requests = 0;
    while silent.try_recv_from(&mut buf).is_ok() {
        requests += 1;
    }
    assert_eq!(requests, 3, "sent at 0, 250 and 750 ms");
}
