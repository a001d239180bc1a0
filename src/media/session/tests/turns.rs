//! A clip played once goes out in place of the port, and both sides' speech is measured.

use super::*;

async fn session_with_events(
    remote: &UdpSocket,
) -> (MediaHandle, mpsc::UnboundedReceiver<(u64, MediaEvent)>) {
    let socket = bind_rtp(LOCALHOST, 20000..=29999).await.unwrap();
    let p = params(
        remote.local_addr().unwrap(),
        Codec::Pcmu,
        MediaDirection::SendRecv,
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let options = MediaOptions {
        events: Some(MediaEvents { tag: 7, tx }),
        ..MediaOptions::default()
    };
    let handle = start_with(socket, p, port_for(AudioMode::Null), options).unwrap();
    (handle, rx)
}

fn drain(rx: &mut mpsc::UnboundedReceiver<(u64, MediaEvent)>) -> Vec<MediaEvent> {
    let mut got = Vec::new();
    while let Ok((_, e)) = rx.try_recv() {
        got.push(e);
    }
    got
}

#[tokio::test]
async fn a_played_clip_goes_out_once_and_is_measured_as_our_speech() {
    let remote = peer().await;
    let (handle, mut rx) = session_with_events(&remote).await;
    // Let the stream start, then play 10 frames of a tone.
    let first = recv(&remote, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.payload, [0xFF; 160]);
    let clip: Vec<i16> = (0..10).flat_map(|n| tone_frame(n, 1000.0)).collect();
    handle.play("tone.wav".into(), clip.clone());
    let got = recv_until(&remote, Instant::now() + Duration::from_millis(900)).await;
    let report = handle.stop().await;

    let loud: Vec<&Packet> = got.iter().filter(|p| p.payload != [0xFF; 160]).collect();
    assert_eq!(loud.len(), 10, "the clip's 10 frames, once");
    for (n, p) in loud.iter().enumerate() {
        let expected: Vec<u8> = clip[n * 160..(n + 1) * 160]
            .iter()
            .map(|&s| g711::ulaw_encode(s))
            .collect();
        assert_eq!(p.payload, expected, "frame {n} is the clip's");
    }
    assert!(loud
        .windows(2)
        .all(|w| w[1].seq == w[0].seq.wrapping_add(1)));

    let events = drain(&mut rx);
    assert!(events.contains(&MediaEvent::Played {
        file: "tone.wav".into(),
        ms: 200
    }));
    let voice: Vec<(bool, u64)> = events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Voice {
                side: crate::vocab::Side::Local,
                speaking,
                at_ms,
            } => Some((*speaking, *at_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(voice.len(), 2, "{voice:?}");
    let (start, end) = (voice[0].1, voice[1].1);
    assert!(voice[0].0 && !voice[1].0);
    assert_eq!(end - start, 200, "our speech is exactly the clip's 200 ms");
    let turns = report.turn_taking.expect("figures whenever media ran");
    assert_eq!(turns.greeting_ms, None, "the remote never spoke");
}

#[tokio::test]
async fn the_remotes_speech_is_timed_on_arrival_not_on_playout() {
    let remote = peer().await;
    let (handle, mut rx) = session_with_events(&remote).await;
    let to = handle.local_addr();
    let mut sender = RtpSender::new();
    let mut packet = vec![0u8; 200];
    let begin = Instant::now();
    // 300 ms of silence, 400 ms of tone, 700 ms of silence, paced at 20 ms.
    for n in 0..70u32 {
        let pcm = if (15..35).contains(&n) {
            tone_frame(n as usize, 800.0)
        } else {
            vec![0; 160]
        };
        let payload: Vec<u8> = pcm.iter().map(|&s| g711::ulaw_encode(s)).collect();
        let len = sender.write(0, &payload, &mut packet).unwrap();
        remote.send_to(&packet[..len], to).await.unwrap();
        sender.advance(160);
        tokio::time::sleep_until(begin + Duration::from_millis(20 * u64::from(n + 1))).await;
    }
    let report = handle.stop().await;
    let voice: Vec<(bool, u64)> = drain(&mut rx)
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Voice {
                side: crate::vocab::Side::Remote,
                speaking,
                at_ms,
            } => Some((*speaking, *at_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(voice.len(), 2, "{voice:?}");
    // Sent at 300 ms after the session began (give or take the loopback and one frame);
    // played 40 ms or more later, which must not show.
    let start = voice[0].1 as i64;
    assert!((start - 300).abs() <= 20, "speech started at {start} ms");
    assert_eq!(voice[1].1 - voice[0].1, 400);
    let turns = report.turn_taking.unwrap();
    assert_eq!(turns.greeting_ms, Some(voice[0].1));
}
