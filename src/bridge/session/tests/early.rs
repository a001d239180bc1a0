//! The caller's packets reach the model as they arrive, not at playout.

use std::time::Instant;

use super::*;
use crate::media::audio::Arrival;
use crate::media::opus::OpusEncoder;

fn packet(seq: u16, at: Instant, payload: &[u8]) -> Arrival<'_> {
    Arrival {
        codec: Codec::Pcmu,
        ssrc: 0x1234,
        seq,
        at,
        payload,
    }
}

async fn append(ws: &mut Server) -> Vec<u8> {
    match recv(ws, true).await {
        ClientEvent::InputAudioBufferAppend { audio } => decode_audio(&audio).unwrap(),
        other => panic!("expected an append, got {other:?}"),
    }
}

#[tokio::test]
async fn packets_are_appended_on_arrival_in_order_and_playout_adds_nothing() {
    let (listener, url) = listener().await;
    let (handle, mut port, mut rx) = begin(config(&url));
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;

    let now = Instant::now();
    port.arrived(&packet(100, now, &[0x11; 160]));
    assert_eq!(append(&mut ws).await, [0x11; 160], "µ-law passes through");
    // 102 overtook 101: it waits for it, then both go in order.
    port.arrived(&packet(102, now, &[0x33; 160]));
    port.arrived(&packet(101, now, &[0x22; 160]));
    assert_eq!(append(&mut ws).await, [0x22; 160]);
    assert_eq!(append(&mut ws).await, [0x33; 160]);
    // The same audio played out 40 ms later is not sent again.
    port.sink(&[ulaw_decode(0x22); 160]);
    port.arrived(&packet(103, Instant::now(), &[0x44; 160]));
    assert_eq!(append(&mut ws).await, [0x44; 160]);

    let stats = handle.stop().await;
    assert_eq!(
        (stats.caller_frames_sent, stats.caller_frames_skipped),
        (4, 0)
    );
}

#[tokio::test]
async fn a_lost_packet_is_skipped_on_the_playout_clock_and_counted() {
    let (listener, url) = listener().await;
    let (handle, mut port, mut rx) = begin(config(&url));
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;

    let start = Instant::now();
    port.arrived(&packet(7, start, &[0x11; 160]));
    port.arrived(&packet(9, start, &[0x33; 160]));
    assert_eq!(append(&mut ws).await, [0x11; 160]);
    // No packet comes after 9: the next playout tick after the hold lets it go.
    tokio::time::sleep(crate::bridge::reorder::MAX_HOLD).await;
    port.sink(&[0; 160]);
    assert_eq!(append(&mut ws).await, [0x33; 160]);
    assert_eq!(handle.stop().await.caller_frames_skipped, 1);
}

#[tokio::test]
async fn a_caller_sending_nothing_is_heard_as_silence_on_the_playout_clock() {
    let (listener, url) = listener().await;
    let (handle, mut port, mut rx) = begin(config(&url));
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;

    let long_ago = Instant::now() - Duration::from_millis(500);
    port.arrived(&packet(1, long_ago, &[0x11; 160]));
    assert_eq!(append(&mut ws).await, [0x11; 160]);
    // Silence suppression: the server's VAD must still hear the caller stop talking.
    port.sink(&[0; 160]);
    assert_eq!(append(&mut ws).await, [0xFF; 160]);
    assert_eq!(handle.stop().await.caller_frames_sent, 2);
}

#[tokio::test]
async fn opus_packets_are_decoded_on_arrival_and_sent_as_pcm_at_24khz() {
    let (listener, url) = listener().await;
    let (handle, mut port, mut rx) = begin(BridgeConfig {
        codec: Codec::Opus,
        ..config(&url)
    });
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;

    let mut encoder = OpusEncoder::new().unwrap();
    let tone: Vec<i16> = (0..960)
        .map(|n| (8000.0 * (n as f64 * 0.05).sin()) as i16)
        .collect();
    let mut payload = Vec::new();
    encoder.encode(&tone, &mut payload).unwrap();
    let opus = Arrival {
        codec: Codec::Opus,
        ..packet(1, Instant::now(), &payload)
    };
    port.arrived(&opus);
    let pcm = append(&mut ws).await;
    assert_eq!(pcm.len(), 960, "20 ms of 16-bit PCM at 24 kHz");
    handle.stop().await;
}
