//! Loopback tests: a session talks to a raw UDP socket playing the remote phone.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rtp_rs::RtpReader;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

use super::*;
use crate::media::audio::{port_for, AudioMode};
use crate::media::g711;
use crate::media::rtp::RtpSender;
use crate::media::sdp::MediaDirection;
use crate::vocab::codec::Codec;

mod hostile;
mod srtp;
mod turns;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A packet as the peer saw it.
#[derive(Debug)]
struct Packet {
    marker: bool,
    payload_type: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

fn params(remote: SocketAddr, codec: Codec, direction: MediaDirection) -> Negotiated {
    Negotiated {
        codec,
        payload_type: codec.static_payload_type().unwrap(),
        dtmf_payload_type: Some(101),
        remote,
        direction,
        ptime_ms: 20,
        srtp: None,
    }
}

async fn peer() -> UdpSocket {
    UdpSocket::bind((LOCALHOST, 0)).await.unwrap()
}

async fn session(remote: &UdpSocket, codec: Codec, mode: AudioMode) -> MediaHandle {
    let socket = bind_rtp(LOCALHOST, 20000..=29999).await.unwrap();
    let p = params(
        remote.local_addr().unwrap(),
        codec,
        MediaDirection::SendRecv,
    );
    start(socket, p, port_for(mode)).unwrap()
}

async fn recv(sock: &UdpSocket, within: Duration) -> Option<Packet> {
    let mut buf = [0u8; 2048];
    let (len, _) = timeout(within, sock.recv_from(&mut buf)).await.ok()?.ok()?;
    let r = RtpReader::new(&buf[..len]).expect("session sends valid RTP");
    Some(Packet {
        marker: r.mark(),
        payload_type: r.payload_type(),
        seq: r.sequence_number().into(),
        ts: r.timestamp(),
        ssrc: r.ssrc(),
        payload: r.payload().to_vec(),
    })
}

/// Everything that arrives until `deadline`.
async fn recv_until(sock: &UdpSocket, deadline: Instant) -> Vec<Packet> {
    let mut got = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match recv(sock, left).await {
            Some(p) => got.push(p),
            None => break,
        }
    }
    got
}

/// Power of one frequency in `pcm` (Goertzel filter), normalised by length.
fn goertzel(pcm: &[i16], freq: f64, rate: f64) -> f64 {
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq / rate).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in pcm {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (pcm.len() as f64).powi(2)
}

fn tone_frame(n: usize, freq: f64) -> Vec<i16> {
    (0..160)
        .map(|i| {
            let t = (n * 160 + i) as f64 / 8000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
        })
        .collect()
}

#[tokio::test]
async fn bind_rtp_gives_distinct_even_ports_in_the_range() {
    let mut held = Vec::new();
    for _ in 0..8 {
        let s = bind_rtp(LOCALHOST, 31001..=31999).await.unwrap();
        let port = s.local_addr().unwrap().port();
        assert!(port.is_multiple_of(2), "port {port} is odd");
        assert!((31002..=31998).contains(&port));
        held.push(s);
    }
    let mut ports: Vec<u16> = held
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect();
    ports.dedup();
    assert_eq!(ports.len(), 8);
}

#[tokio::test]
async fn bind_rtp_reports_an_exhausted_range() {
    // Hold an even port, then offer bind_rtp only that port and its odd neighbour.
    let taken = loop {
        let s = std::net::UdpSocket::bind((LOCALHOST, 0)).unwrap();
        let port = s.local_addr().unwrap().port();
        if port.is_multiple_of(2) && port < 65535 {
            break s;
        }
    };
    let p = taken.local_addr().unwrap().port();
    let err = bind_rtp(LOCALHOST, p..=p + 1).await.unwrap_err();
    assert!(
        matches!(err, MediaError::PortsExhausted { first, last, .. } if (first, last) == (p, p + 1)),
        "{err}"
    );
    assert!(err.to_string().contains(&format!("{p}-{}", p + 1)));
    // Ranges without an even port, or backwards, are exhausted from the start.
    assert!(matches!(
        bind_rtp(LOCALHOST, 7..=7).await,
        Err(MediaError::PortsExhausted { .. })
    ));
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = 40000..=30000;
    assert!(bind_rtp(LOCALHOST, backwards).await.is_err());
}

#[tokio::test]
async fn bind_rtp_fails_at_once_on_a_foreign_address() {
    // TEST-NET-1 is never a local address; binding fails without sending anything.
    let err = bind_rtp("192.0.2.1".parse().unwrap(), 20000..=20100)
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::Bind { .. }), "{err}");
}

#[tokio::test]
async fn null_mode_sends_paced_silence_with_proper_numbering() {
    let remote = peer().await;
    let begin = Instant::now();
    let handle = session(&remote, Codec::Pcmu, AudioMode::Null).await;
    let got = recv_until(&remote, begin + Duration::from_secs(1)).await;
    let stats = handle.stop().await.stats;

    // Pacing never runs ahead of the clock; a loaded machine may skip ticks, so only the
    // upper bound is firm.
    assert!(
        (10..=55).contains(&got.len()),
        "{} packets in 1 s",
        got.len()
    );
    assert!(stats.packets_sent >= got.len() as u64);
    assert!(got[0].marker, "first packet is marked");
    for pair in got.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(!b.marker);
        assert_eq!(b.ssrc, a.ssrc);
        // Frames skipped by a stalled machine leave a gap in both numberings, never in the
        // timestamp alone (which no receiver would count as loss).
        let seq_step = b.seq.wrapping_sub(a.seq);
        assert!(seq_step >= 1);
        assert_eq!(b.ts.wrapping_sub(a.ts), 160 * u32::from(seq_step));
    }
    let gaps: u64 = got
        .windows(2)
        .map(|p| u64::from(p[1].seq.wrapping_sub(p[0].seq)) - 1)
        .sum();
    assert!(
        stats.frames_not_sent >= gaps,
        "{stats:?}, {gaps} frames missing"
    );
    for p in &got {
        assert_eq!(p.payload_type, 0);
        assert_eq!(p.payload, [0xFF; 160], "µ-law silence");
    }
}

/// The media task kept from running for 500 ms (the whole runtime blocked, as under CPU
/// starvation): the last 200 ms of it go out late, in a burst, and the 300 ms before are counted
/// as not sent and left out of the numbering, so the receiver counts them as lost.
#[tokio::test(flavor = "current_thread")]
async fn frames_a_stall_kept_from_going_out_are_sent_late_or_counted() {
    let remote = peer().await;
    let handle = session(&remote, Codec::Pcmu, AudioMode::Null).await;
    let first = recv(&remote, Duration::from_secs(1))
        .await
        .expect("a packet");
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::thread::sleep(Duration::from_millis(500));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = handle.stop().await.stats;
    let mut got = vec![first];
    got.extend(recv_until(&remote, Instant::now() + Duration::from_millis(200)).await);

    let span = got.last().unwrap().ts.wrapping_sub(got[0].ts) / 160 + 1;
    let numbered = u32::from(got.last().unwrap().seq.wrapping_sub(got[0].seq)) + 1;
    assert_eq!(numbered, span, "timestamps and numbers move together");
    let missing = u64::from(span) - got.len() as u64;
    assert!(
        (14..=25).contains(&missing),
        "{missing} frames missing on the wire, {stats:?}"
    );
    assert_eq!(
        stats.frames_not_sent, missing,
        "every missing frame is counted"
    );
    assert_eq!(stats.packets_sent, got.len() as u64);
}

#[tokio::test]
async fn pcma_silence_is_0xd5() {
    let remote = peer().await;
    let handle = session(&remote, Codec::Pcma, AudioMode::Null).await;
    let p = recv(&remote, Duration::from_secs(1)).await.unwrap();
    handle.stop().await;
    assert_eq!(
        (p.payload_type, p.payload.as_slice()),
        (8, &[0xD5; 160][..])
    );
}

/// Sends 40 frames of a 1 kHz tone in real time and returns the decoded echo.
async fn echo_of_tone(codec: Codec, direction: MediaDirection) -> (Vec<i16>, MediaStats) {
    echo_of_tone_muted(codec, direction, false).await
}

async fn echo_of_tone_muted(
    codec: Codec,
    direction: MediaDirection,
    muted: bool,
) -> (Vec<i16>, MediaStats) {
    let remote = peer().await;
    let socket = bind_rtp(LOCALHOST, 20000..=29999).await.unwrap();
    let p = params(remote.local_addr().unwrap(), codec, direction);
    let handle = start(socket, p.clone(), port_for(AudioMode::Echo)).unwrap();
    handle.set_muted(muted);
    let target = handle.local_addr();

    let mut tx = RtpSender::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let mut echoed = Vec::new();
    let mut packet = [0u8; 200];
    for n in 0..40 {
        ticker.tick().await;
        let mut payload = Vec::new();
        g711::encode(codec, &tone_frame(n, 1000.0), &mut payload).unwrap();
        let len = tx.write(p.payload_type, &payload, &mut packet).unwrap();
        tx.advance(160);
        remote.send_to(&packet[..len], target).await.unwrap();
        while let Some(pkt) = recv(&remote, Duration::from_millis(1)).await {
            echoed.push(pkt);
        }
    }
    echoed.extend(recv_until(&remote, Instant::now() + Duration::from_millis(100)).await);
    let stats = handle.stop().await.stats;
    let mut pcm = Vec::new();
    for pkt in &echoed {
        g711::decode(codec, &pkt.payload, &mut pcm).unwrap();
    }
    (pcm, stats)
}

#[tokio::test]
async fn muted_session_sends_silence_but_keeps_sending() {
    let (pcm, stats) = echo_of_tone_muted(Codec::Pcmu, MediaDirection::SendRecv, true).await;
    assert!(stats.packets_sent >= 30, "{stats:?}");
    assert!(pcm.iter().all(|&s| s == 0), "muted echo leaked audio");
}

#[tokio::test]
async fn echo_mode_returns_a_tone_we_send() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let (pcm, stats) = echo_of_tone(codec, MediaDirection::SendRecv).await;
        assert_eq!(stats.packets_received, 40);
        assert_eq!(stats.packets_invalid, 0);
        let at_1k = goertzel(&pcm, 1000.0, 8000.0);
        let at_1k7 = goertzel(&pcm, 1700.0, 8000.0);
        // Mostly echo, some underrun silence: a clear 1 kHz line well above anything else.
        assert!(
            at_1k > 100.0 * at_1k7,
            "{codec}: 1 kHz {at_1k:.0} vs 1.7 kHz {at_1k7:.0}"
        );
        let loud = pcm
            .chunks(160)
            .filter(|f| f.iter().any(|s| s.abs() > 4000))
            .count();
        assert!(loud >= 30, "{codec}: only {loud} loud frames came back");
    }
}

#[tokio::test]
async fn send_only_ignores_received_audio() {
    let (pcm, stats) = echo_of_tone(Codec::Pcmu, MediaDirection::SendOnly).await;
    assert_eq!(stats.packets_received, 40, "still counted");
    assert!(!pcm.is_empty());
    assert!(pcm.iter().all(|&s| s == 0), "nothing was echoed");
}

#[tokio::test]
async fn garbage_is_counted_and_the_session_survives() {
    let remote = peer().await;
    let handle = session(&remote, Codec::Pcmu, AudioMode::Null).await;
    let target = handle.local_addr();

    let mut tx = RtpSender::new();
    let mut buf = [0u8; 64];
    let mut version1 = [0u8; 20];
    version1[0] = 0x40;
    let mut truncated_csrc = [0u8; 14];
    truncated_csrc[0] = 0x8F; // claims 15 CSRCs
    let wrong_pt = tx.write(9, &[1, 2, 3], &mut buf).unwrap();
    let wrong_pt = buf[..wrong_pt].to_vec();
    let garbage: [&[u8]; 6] = [
        b"hello",
        &[],
        &[0; 3],
        &version1,
        &truncated_csrc,
        &wrong_pt,
    ];
    for g in garbage {
        remote.send_to(g, target).await.unwrap();
    }
    let mut packet = [0u8; 200];
    let len = tx.write(0, &[0xFF; 160], &mut packet).unwrap();
    remote.send_to(&packet[..len], target).await.unwrap();
    let len = tx.write(101, &[1, 0x80, 0, 160], &mut packet).unwrap();
    remote.send_to(&packet[..len], target).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(2);
    while {
        let s = handle.stats();
        s.packets_invalid + s.packets_received < 8 && Instant::now() < deadline
    } {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Still sending after the garbage.
    recv_until(&remote, Instant::now() + Duration::from_millis(50)).await;
    assert!(recv(&remote, Duration::from_millis(200)).await.is_some());
    let stats = handle.stop().await.stats;
    assert_eq!(stats.packets_invalid, 6);
    assert_eq!(stats.packets_received, 2, "audio and telephone-event");
    assert!(stats.packets_sent > 0);
}

#[tokio::test]
async fn a_repeated_telephone_event_end_is_received_once_and_loss_stays_zero() {
    let remote = peer().await;
    let handle = session(&remote, Codec::Pcmu, AudioMode::Null).await;
    let target = handle.local_addr();
    let mut tx = RtpSender::new();
    let mut packet = [0u8; 200];
    for _ in 0..10 {
        let len = tx.write(0, &[0xFF; 160], &mut packet).unwrap();
        tx.advance(160);
        remote.send_to(&packet[..len], target).await.unwrap();
    }
    // Digit 5: three updates, then the end packet three times, unchanged, sequence number
    // included (RFC 4733 §2.5.1.4, as some phones send it).
    let start = tx.timestamp();
    for duration in [160u16, 320, 480] {
        let [hi, lo] = duration.to_be_bytes();
        let len = tx
            .write_event(101, &[5, 10, hi, lo], start, duration == 160, &mut packet)
            .unwrap();
        tx.advance(160);
        remote.send_to(&packet[..len], target).await.unwrap();
    }
    let [hi, lo] = 640u16.to_be_bytes();
    let len = tx
        .write_event(101, &[5, 0x80 | 10, hi, lo], start, false, &mut packet)
        .unwrap();
    for _ in 0..3 {
        remote.send_to(&packet[..len], target).await.unwrap();
    }
    tx.advance(160);
    for _ in 0..10 {
        let len = tx.write(0, &[0xFF; 160], &mut packet).unwrap();
        tx.advance(160);
        remote.send_to(&packet[..len], target).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while handle.stats().packets_received < 24 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stats = handle.stop().await.stats;
    assert_eq!(
        stats.packets_received, 24,
        "the copies are not received packets: {stats:?}"
    );
    assert_eq!(stats.quality.packets_lost, 0, "{stats:?}");
    assert_eq!(stats.quality.loss_percent, 0.0, "{stats:?}");
}

#[tokio::test]
async fn hold_stops_sending_and_resume_continues_the_stream() {
    let remote = peer().await;
    let handle = session(&remote, Codec::Pcmu, AudioMode::Null).await;
    let to = remote.local_addr().unwrap();
    let before = recv_until(&remote, Instant::now() + Duration::from_millis(200)).await;
    let last = before.last().expect("packets before hold");

    handle.update(params(to, Codec::Pcmu, MediaDirection::RecvOnly));
    let held_at = Instant::now();
    let late = recv_until(&remote, held_at + Duration::from_millis(60)).await;
    assert!(late.len() <= 3, "{} packets after hold", late.len());
    assert!(
        recv(&remote, Duration::from_millis(300)).await.is_none(),
        "silent on hold"
    );
    let last = late.last().unwrap_or(last);

    handle.update(params(to, Codec::Pcmu, MediaDirection::SendRecv));
    let first = recv(&remote, Duration::from_millis(200))
        .await
        .expect("resumed");
    let held_for = held_at.elapsed();
    assert!(first.marker, "first packet after hold is marked");
    assert_eq!(first.seq, last.seq.wrapping_add(1), "sequence continues");
    assert_eq!(first.ssrc, last.ssrc);
    let ts_gap = first.ts.wrapping_sub(last.ts);
    assert_eq!(ts_gap % 160, 0);
    let gap_ms = u128::from(ts_gap / 8);
    let wall_ms = held_for.as_millis();
    assert!(
        gap_ms + 80 >= wall_ms && gap_ms <= wall_ms + 80,
        "ts gap {gap_ms} ms, wall {wall_ms} ms"
    );
    let next = recv(&remote, Duration::from_millis(100)).await.unwrap();
    assert!(!next.marker);
    handle.stop().await;
}

/// Behind NAT our first packet is what opens the router for the peer's: it must not wait for
/// the peer to speak first, nor for a frame's worth of pacing.
#[tokio::test]
async fn the_first_packet_leaves_at_once_without_waiting_for_the_peer() {
    let remote = peer().await;
    let started = Instant::now();
    let handle = session(&remote, Codec::Pcmu, AudioMode::Null).await;
    let first = recv(&remote, Duration::from_millis(500))
        .await
        .expect("a first packet");
    let took = started.elapsed();
    assert!(first.marker, "the first packet of the stream");
    assert!(
        took < Duration::from_millis(50),
        "first packet after {took:?}"
    );
    handle.stop().await;
}

/// Held by the peer after media flowed: no keep-alive until 15 s of silence have passed.
#[tokio::test]
async fn a_hold_after_media_sends_no_keepalive_at_once() {
    let remote = peer().await;
    let handle = session(&remote, Codec::Pcmu, AudioMode::Null).await;
    let to = remote.local_addr().unwrap();
    recv_until(&remote, Instant::now() + Duration::from_millis(100)).await;
    handle.update(params(to, Codec::Pcmu, MediaDirection::Inactive));
    let late = recv_until(&remote, Instant::now() + Duration::from_millis(300)).await;
    assert!(late.len() <= 3, "{late:?}");
    assert!(late.iter().all(|p| p.payload_type == 0), "{late:?}");
    handle.stop().await;
}

#[tokio::test]
async fn zero_address_means_hold() {
    let remote = peer().await;
    let handle = session(&remote, Codec::Pcmu, AudioMode::Null).await;
    let mut p = params(
        remote.local_addr().unwrap(),
        Codec::Pcmu,
        MediaDirection::SendRecv,
    );
    p.remote = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), p.remote.port());
    handle.update(p);
    recv_until(&remote, Instant::now() + Duration::from_millis(60)).await;
    assert!(recv(&remote, Duration::from_millis(200)).await.is_none());
    handle.stop().await;
}

#[tokio::test]
async fn update_moves_the_stream_to_a_new_remote() {
    let (old, new) = (peer().await, peer().await);
    let handle = session(&old, Codec::Pcmu, AudioMode::Null).await;
    let last = recv(&old, Duration::from_millis(200)).await.unwrap();
    handle.update(params(
        new.local_addr().unwrap(),
        Codec::Pcmu,
        MediaDirection::SendRecv,
    ));
    let moved = recv(&new, Duration::from_millis(200))
        .await
        .expect("packets at the new remote");
    assert_eq!(moved.ssrc, last.ssrc);
    assert!(!moved.marker, "no gap, so no marker");
    handle.stop().await;
}

#[tokio::test]
async fn recv_only_sends_nothing_but_still_receives() {
    let remote = peer().await;
    let socket = bind_rtp(LOCALHOST, 20000..=29999).await.unwrap();
    let p = params(
        remote.local_addr().unwrap(),
        Codec::Pcmu,
        MediaDirection::RecvOnly,
    );
    let handle = start(socket, p, port_for(AudioMode::Echo)).unwrap();
    // Held from the start: one RFC 6263 keep-alive at once opens the NAT's way, no media.
    let keepalive = recv(&remote, Duration::from_millis(200))
        .await
        .expect("a keep-alive");
    assert!(keepalive.payload.is_empty(), "{keepalive:?}");
    assert!((96..=127).contains(&keepalive.payload_type) && keepalive.payload_type != 101);
    assert!(!keepalive.marker);
    let mut tx = RtpSender::new();
    let mut packet = [0u8; 200];
    let len = tx.write(0, &[0x10; 160], &mut packet).unwrap();
    remote
        .send_to(&packet[..len], handle.local_addr())
        .await
        .unwrap();
    assert!(recv(&remote, Duration::from_millis(200)).await.is_none());
    let stats = handle.stop().await.stats;
    assert_eq!((stats.packets_sent, stats.packets_received), (0, 1));
}

#[tokio::test]
async fn stop_and_drop_both_end_the_task_and_free_the_port() {
    let remote = peer().await;
    let handle = session(&remote, Codec::Pcmu, AudioMode::Null).await;
    let addr = handle.local_addr();
    recv(&remote, Duration::from_millis(200)).await.unwrap();
    let snapshot = handle.stats();
    let stats = handle.stop().await.stats;
    assert!(stats.packets_sent >= snapshot.packets_sent && stats.packets_sent > 0);
    UdpSocket::bind(addr).await.expect("port freed by stop");

    let handle = session(&remote, Codec::Pcmu, AudioMode::Null).await;
    let addr = handle.local_addr();
    drop(handle);
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match UdpSocket::bind(addr).await {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => panic!("port still held after drop: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Waits for the first event `pick` accepts, skipping others; None after `within`.
async fn next_event<T>(
    rx: &mut mpsc::UnboundedReceiver<(u64, MediaEvent)>,
    within: Duration,
    pick: impl Fn(MediaEvent) -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let (_, event) = timeout(left, rx.recv()).await.ok()??;
        if let Some(t) = pick(event) {
            return Some(t);
        }
    }
}

#[tokio::test]
async fn persistent_receive_errors_warn_once_keep_sending_and_recover() {
    // A port nobody listens on; once our socket is connected to it, Linux reports the ICMP
    // port unreachable each packet causes as ECONNREFUSED on the next receive.
    let nobody = peer().await.local_addr().unwrap();
    let socket = bind_rtp(LOCALHOST, 20000..=29999).await.unwrap();
    socket.connect(nobody).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let options = MediaOptions {
        events: Some(MediaEvents { tag: 1, tx }),
        ..MediaOptions::default()
    };
    let p = params(nobody, Codec::Pcmu, MediaDirection::SendRecv);
    let handle = start_with(socket, p, port_for(AudioMode::Null), options).unwrap();
    let target = handle.local_addr();

    let warning = next_event(&mut rx, Duration::from_secs(5), |e| match e {
        MediaEvent::Warning(w) => Some(w),
        _ => None,
    })
    .await
    .expect("a warning once reception keeps failing");
    assert!(warning.contains("RTP reception keeps failing"), "{warning}");

    // The send tick does not wait for the receive side.
    let sent = handle.stats().packets_sent;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let more = handle.stats().packets_sent - sent;
    assert!(more >= 5, "only {more} packets sent in 400 ms while paused");
    let again = next_event(&mut rx, Duration::from_millis(300), |e| match e {
        MediaEvent::Warning(w) => Some(w),
        _ => None,
    })
    .await;
    assert_eq!(again, None, "the warning comes once");

    // The remote starts listening and talking: reception resumes within the longest pause.
    let remote = UdpSocket::bind(nobody).await.unwrap();
    let mut tx = RtpSender::new();
    let mut packet = [0u8; 200];
    let started = Instant::now();
    let latched = loop {
        let len = tx.write(0, &[0xFF; 160], &mut packet).unwrap();
        tx.advance(160);
        remote.send_to(&packet[..len], target).await.unwrap();
        let got = next_event(&mut rx, Duration::from_millis(20), |e| match e {
            MediaEvent::Latched(from) => Some(from),
            _ => None,
        })
        .await;
        if got.is_some() || started.elapsed() > Duration::from_secs(3) {
            break got;
        }
    };
    assert_eq!(latched, Some(nobody));
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "reception resumed after {:?}",
        started.elapsed()
    );
    let stats = handle.stop().await.stats;
    assert!(stats.packets_received > 0, "{stats:?}");
}

#[test]
fn levels_thin_out_as_calls_add_up_and_stay_off_when_off() {
    let rate = LevelRate::default();
    assert_eq!(rate.frames(), LEVELS_EVERY_FRAMES);
    rate.set_for_calls(1);
    assert_eq!(rate.frames(), 3, "about 17 a second for one call");
    rate.set_for_calls(60);
    assert_eq!(rate.frames(), 3, "60 calls × 17 a second fit in a thousand");
    rate.set_for_calls(1000);
    assert_eq!(rate.frames(), 50, "a thousand calls: one a second each");
    let shared = rate.clone();
    rate.set_for_calls(0);
    assert_eq!(shared.frames(), 3, "every session sees the change");
    let off = LevelRate::off();
    off.set_for_calls(5);
    assert_eq!(off.frames(), 0);
}

#[tokio::test]
async fn a_session_with_levels_off_publishes_none() {
    let remote = peer().await;
    let socket = bind_rtp(LOCALHOST, 20000..=29999).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let options = MediaOptions {
        events: Some(MediaEvents { tag: 1, tx }),
        levels: LevelRate::off(),
        ..MediaOptions::default()
    };
    let p = params(
        remote.local_addr().unwrap(),
        Codec::Pcmu,
        MediaDirection::SendRecv,
    );
    let handle = start_with(socket, p, port_for(AudioMode::Null), options).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    handle.stop().await;
    let mut quality = 0;
    while let Ok((_, event)) = rx.try_recv() {
        assert!(!matches!(event, MediaEvent::Levels { .. }), "{event:?}");
        quality += u32::from(matches!(event, MediaEvent::Quality(_)));
    }
    assert!(quality >= 1, "quality is still published");
}

#[tokio::test]
async fn a_socket_bound_ahead_starts_its_call_with_nothing_queued() {
    let (rtp, _rtcp) = bind_rtp_pair(LOCALHOST, 20000..=29999).await.unwrap();
    let stranger = peer().await;
    let to = rtp.local_addr().unwrap();
    for n in 0..3u8 {
        stranger.send_to(&[0x80, 0, 0, n], to).await.unwrap();
    }
    // Loopback delivery is synchronous, but give the kernel a moment all the same.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(discard_queued(&rtp), 3);
    assert_eq!(discard_queued(&rtp), 0);
    stranger.send_to(b"fresh", to).await.unwrap();
    let mut buf = [0u8; 16];
    let (len, _) = timeout(Duration::from_secs(1), rtp.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..len], b"fresh", "what comes after is read as usual");
}
