//! SRTP through a real session over loopback UDP: the peer protects a 1 kHz tone with its
//! key, the session (echo) must authenticate, play, and send it back protected with its own
//! key; tampered and plain packets carry a 2 kHz tone that must never come back.

use std::sync::Arc;

use super::*;
use crate::media::srtp::{MasterKey, SrtpKeys, SrtpStreams, Suite, MASTER_LEN};

const FRAMES: usize = 75;
/// Slots whose genuine packet is replaced by a tampered one (a payload byte flipped).
const TAMPERED: std::ops::Range<usize> = 30..40;
/// The slot that also carries a plain RTP packet (no SRTP at all).
const PLAIN_AT: usize = 50;

fn tone_at(pcm: &[i16], freq: f64) -> bool {
    let mean_square = pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64;
    let purity = 2.0 * goertzel(pcm, freq, 8000.0) / mean_square.max(1.0);
    mean_square > 4000.0f64.powi(2) / 2.0 && purity > 0.9
}

fn pcmu_packet(tx: &mut RtpSender, n: usize, freq: f64) -> Vec<u8> {
    let mut payload = Vec::new();
    g711::encode(Codec::Pcmu, &tone_frame(n, freq), &mut payload).unwrap();
    let mut packet = [0u8; 200];
    let len = tx.write(0, &payload, &mut packet).unwrap();
    packet[..len].to_vec()
}

fn keys(suite: Suite, ours: u8, theirs: u8) -> SrtpKeys {
    SrtpKeys {
        suite,
        tag: 1,
        ours: MasterKey::from_bytes([ours; MASTER_LEN]),
        theirs: MasterKey::from_bytes([theirs; MASTER_LEN]),
    }
}

/// What came back to the peer.
#[derive(Default)]
struct Heard {
    /// Decrypted and decoded frames.
    frames: Vec<Vec<i16>>,
    /// The payload bytes as they were on the wire (ciphertext), decoded as if plain μ-law.
    wire_as_pcmu: Vec<Vec<i16>>,
    unauthentic: usize,
}

async fn run(suite: Suite) -> (Heard, MediaStats) {
    let remote = Arc::new(peer().await);
    let socket = bind_rtp(LOCALHOST, 20000..=29999).await.unwrap();
    let mut p = params(
        remote.local_addr().unwrap(),
        Codec::Pcmu,
        MediaDirection::SendRecv,
    );
    p.srtp = Some(keys(suite, 0x11, 0x22));
    let handle = start(socket, p, port_for(AudioMode::Echo)).unwrap();
    let target = handle.local_addr();
    // The peer: sends with 0x22, hears with 0x11.
    let mut peer_srtp = SrtpStreams::new(&keys(suite, 0x22, 0x11)).unwrap();
    let mut peer_rx = SrtpStreams::new(&keys(suite, 0x22, 0x11)).unwrap();

    let collector = {
        let remote = Arc::clone(&remote);
        tokio::spawn(async move {
            let mut heard = Heard::default();
            let mut buf = [0u8; 2048];
            while let Ok(Ok((len, _))) =
                timeout(Duration::from_millis(300), remote.recv_from(&mut buf)).await
            {
                let wire = &buf[..len];
                let mut pcm = Vec::new();
                g711::decode(Codec::Pcmu, &wire[12..len.min(172)], &mut pcm).unwrap();
                heard.wire_as_pcmu.push(pcm);
                match peer_rx.unprotect_rtp(wire) {
                    Ok(plain) => {
                        let plain = plain.as_ref();
                        let mut pcm = Vec::new();
                        g711::decode(Codec::Pcmu, &plain[12..], &mut pcm).unwrap();
                        heard.frames.push(pcm);
                    }
                    Err(_) => heard.unauthentic += 1,
                }
            }
            heard
        })
    };

    let mut tx = RtpSender::with_origin(0x5EC0_5EC0, 1000, 80_000);
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    ticker.tick().await;
    for n in 0..FRAMES {
        let datagram = if TAMPERED.contains(&n) {
            // A 2 kHz frame, protected, then one payload byte flipped on the way.
            let mut wire = peer_srtp
                .protect_rtp(&pcmu_packet(&mut tx, n, 2000.0))
                .unwrap()
                .as_ref()
                .to_vec();
            wire[12 + 80] ^= 0x40;
            wire
        } else {
            peer_srtp
                .protect_rtp(&pcmu_packet(&mut tx, n, 1000.0))
                .unwrap()
                .as_ref()
                .to_vec()
        };
        remote.send_to(&datagram, target).await.unwrap();
        if n == PLAIN_AT {
            // Plain RTP on an SRTP call, numbered as the next packet would be.
            let mut rogue = RtpSender::with_origin(0x5EC0_5EC0, 1000 + n as u16 + 1, 0);
            let plain = pcmu_packet(&mut rogue, n, 2000.0);
            remote.send_to(&plain, target).await.unwrap();
        }
        tx.advance(160);
        ticker.tick().await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = handle.stop().await.stats;
    (collector.await.unwrap(), stats)
}

#[tokio::test]
async fn srtp_echoes_the_tone_and_drops_tampered_packets_unplayed() {
    for suite in Suite::ALL {
        let (heard, stats) = run(suite).await;
        let tone = heard.frames.iter().filter(|f| tone_at(f, 1000.0)).count();
        let intruder = heard.frames.iter().filter(|f| tone_at(f, 2000.0)).count();
        eprintln!(
            "{suite}: {} frames back, {tone} of 1 kHz, {intruder} of 2 kHz, {stats:?}",
            heard.frames.len()
        );
        // Every tampered packet and the plain one are invalid, and counted as SRTP failures.
        let rejected = TAMPERED.len() as u64 + 1;
        assert_eq!(stats.srtp_auth_failures, rejected, "{suite}: {stats:?}");
        assert_eq!(stats.packets_invalid, rejected, "{suite}: {stats:?}");
        assert!(
            stats.packets_received >= (FRAMES - TAMPERED.len()) as u64 - 2,
            "{suite}: {stats:?}"
        );
        // Nothing of theirs was played: no 2 kHz came back. The genuine tone did.
        assert_eq!(intruder, 0, "{suite}");
        assert!(
            tone as f64 >= 0.7 * (FRAMES - TAMPERED.len()) as f64,
            "{suite}: {tone}"
        );
        // All we sent authenticates with our key, and nothing on the wire is the tone.
        assert_eq!(heard.unauthentic, 0, "{suite}");
        let plain_on_wire = heard
            .wire_as_pcmu
            .iter()
            .filter(|f| tone_at(f, 1000.0) || f.iter().all(|&s| s.abs() < 64))
            .count();
        assert_eq!(
            plain_on_wire, 0,
            "{suite}: tone or silence readable on the wire"
        );
    }
}

/// Sends `count` protected 1 kHz packets from `seq` on, 20 ms apart.
async fn send_protected(
    remote: &UdpSocket,
    target: SocketAddr,
    srtp: &mut SrtpStreams,
    tx: &mut RtpSender,
    count: usize,
) {
    for n in 0..count {
        let wire = srtp
            .protect_rtp(&pcmu_packet(tx, n, 1000.0))
            .unwrap()
            .as_ref()
            .to_vec();
        remote.send_to(&wire, target).await.unwrap();
        tx.advance(160);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_reinvite_with_new_keys_rekeys_both_directions() {
    let suite = Suite::AesCm128HmacSha1_80;
    let remote = peer().await;
    let socket = bind_rtp(LOCALHOST, 20000..=29999).await.unwrap();
    let mut p = params(
        remote.local_addr().unwrap(),
        Codec::Pcmu,
        MediaDirection::SendRecv,
    );
    p.srtp = Some(keys(suite, 0x11, 0x22));
    let handle = start(socket, p.clone(), port_for(AudioMode::Null)).unwrap();
    let target = handle.local_addr();
    let mut tx = RtpSender::with_origin(0x5EC0_5EC0, 1000, 80_000);

    let mut old = SrtpStreams::new(&keys(suite, 0x22, 0x11)).unwrap();
    send_protected(&remote, target, &mut old, &mut tx, 10).await;
    // The re-INVITE: both sides chose new keys.
    p.srtp = Some(keys(suite, 0x33, 0x44));
    handle.update(p);
    tokio::time::sleep(Duration::from_millis(60)).await;
    let mut new = SrtpStreams::new(&keys(suite, 0x44, 0x33)).unwrap();
    send_protected(&remote, target, &mut new, &mut tx, 10).await;
    // A straggler under the old key is no longer authentic.
    send_protected(&remote, target, &mut old, &mut tx, 1).await;

    // What we send now authenticates under our new key only.
    let mut buf = [0u8; 2048];
    let mut drained = 0;
    while let Ok(Ok(_)) = timeout(Duration::from_millis(5), remote.recv_from(&mut buf)).await {
        drained += 1;
    }
    let (len, _) = timeout(Duration::from_secs(1), remote.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let mut hear_new = SrtpStreams::new(&keys(suite, 0x44, 0x33)).unwrap();
    assert!(
        hear_new.unprotect_rtp(&buf[..len]).is_ok(),
        "after {drained} packets"
    );
    let mut hear_old = SrtpStreams::new(&keys(suite, 0x22, 0x11)).unwrap();
    assert!(hear_old.unprotect_rtp(&buf[..len]).is_err());

    let stats = handle.stop().await.stats;
    assert_eq!(stats.packets_received, 20, "{stats:?}");
    assert_eq!(stats.srtp_auth_failures, 1, "{stats:?}");
}

/// Held by the peer on an encrypted call: the RFC 6263 keep-alive is protected like media,
/// so the peer neither sees plain RTP nor counts the keep-alive as a forgery.
#[tokio::test]
async fn a_keepalive_on_hold_is_protected_too() {
    let suite = Suite::AesCm128HmacSha1_80;
    let remote = peer().await;
    let socket = bind_rtp(LOCALHOST, 20000..=29999).await.unwrap();
    let mut p = params(
        remote.local_addr().unwrap(),
        Codec::Pcmu,
        MediaDirection::RecvOnly,
    );
    p.srtp = Some(keys(suite, 0x11, 0x22));
    let handle = start(socket, p, port_for(AudioMode::Echo)).unwrap();
    let mut buf = [0u8; 2048];
    let (len, _) = timeout(Duration::from_millis(300), remote.recv_from(&mut buf))
        .await
        .expect("a keep-alive")
        .unwrap();
    assert!(
        len > 12,
        "an authentication tag follows the header: {len} bytes"
    );
    let mut peer_rx = SrtpStreams::new(&keys(suite, 0x22, 0x11)).unwrap();
    let plain = peer_rx
        .unprotect_rtp(&buf[..len])
        .expect("the keep-alive authenticates under our key");
    let r = RtpReader::new(plain.as_ref()).unwrap();
    assert!(r.payload().is_empty());
    assert!((96..=127).contains(&r.payload_type()));
    handle.stop().await;
}
