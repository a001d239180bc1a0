//! The GPT-Live session task against an in-process server: the client speaks first, every
//! caller frame goes out (silence included), model audio plays through the port, and the
//! session's ends are judged as live-notes §1 says.

use super::*;
use crate::bridge::live::protocol::LiveClientEvent;
use crate::bridge::Api;

fn live_config(url: &str) -> BridgeConfig {
    BridgeConfig {
        api: Api::Live,
        url: url.replace("/v1/realtime", "/v1/live/sessions"),
        model: "gpt-live-1".into(),
        voice: "marin".into(),
        ..config(url)
    }
}

/// The next Live client event, skipping caller audio unless `appends` is set.
async fn recv_live(ws: &mut Server, appends: bool) -> LiveClientEvent {
    loop {
        let message = timeout(WAIT, ws.next())
            .await
            .expect("client silent")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            let event = LiveClientEvent::parse(text.as_str()).unwrap();
            if appends || !matches!(event, LiveClientEvent::InputAudioAppend { .. }) {
                return event;
            }
        }
    }
}

/// `session.start` (checked), then `session.started`.
async fn live_handshake(ws: &mut Server) -> LiveClientEvent {
    let start = recv_live(ws, true).await;
    assert!(
        matches!(start, LiveClientEvent::SessionStart { .. }),
        "{start:?}"
    );
    send(
        ws,
        json!({"type":"session.started","session":{"id":"sess_live","model":"gpt-live-1"}}),
    )
    .await;
    start
}

fn audio_delta(audio: &[u8]) -> Value {
    json!({"type":"session.output_audio.delta","delta":encode_audio(audio)})
}

#[tokio::test]
async fn the_client_starts_the_session_and_every_caller_frame_goes_out_silence_included() {
    let (listener, url) = listener().await;
    let (handle, mut port, mut rx) = begin(live_config(&url));
    let (mut ws, uri, headers) = accept(&listener).await;
    assert_eq!(uri, "/v1/live/sessions", "no query on the Live path");
    assert!(headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == &format!("Bearer {KEY}")));
    let start = live_handshake(&mut ws).await;
    let json: Value = serde_json::from_str(&start.to_json()).unwrap();
    assert_eq!(
        json["session"]["audio"]["format"],
        json!({"type":"audio/pcmu","rate":8000})
    );
    assert!(matches!(
        ready(&mut rx).await,
        BridgeEvent::Ready {
            reconnected: false,
            ..
        }
    ));

    // Ten frames of digital silence from the media task: ten appends of µ-law silence.
    for _ in 0..10 {
        port.sink(&[0i16; 160]);
    }
    for n in 0..10 {
        match recv_live(&mut ws, true).await {
            LiveClientEvent::InputAudioAppend { audio } => {
                assert_eq!(decode_audio(&audio).unwrap(), vec![0xFF; 160], "frame {n}");
            }
            other => panic!("{other:?}"),
        }
    }

    // Model audio plays through the port once the jitter buffer holds enough.
    let tone: Vec<u8> = (0..800)
        .map(|n| if n % 2 == 0 { 0x10 } else { 0x90 })
        .collect();
    send(&mut ws, audio_delta(&tone)).await;
    send(&mut ws, audio_delta(&tone)).await;
    let heard = first_audio(&mut port).await;
    assert!(heard.iter().any(|&s| s != 0));
    let stats = handle.stop().await;
    assert!(
        stats.caller_frames_sent >= 10 && stats.ai_frames_sent >= 1,
        "{stats:?}"
    );
    assert_eq!(
        recv_live(&mut ws, false).await,
        LiveClientEvent::SessionClose
    );
}

#[tokio::test]
async fn transcripts_become_whole_lines() {
    let (listener, url) = listener().await;
    let (_handle, _port, mut rx) = begin(live_config(&url));
    let (mut ws, ..) = accept(&listener).await;
    live_handshake(&mut ws).await;
    ready(&mut rx).await;
    for piece in ["Hello ", "there."] {
        send(
            &mut ws,
            json!({"type":"session.output_transcript.delta","delta":piece,"start_ms":0,"end_ms":10}),
        )
        .await;
    }
    let line = event(&mut rx, |e| {
        matches!(e, BridgeEvent::Transcript { final_: true, .. })
    })
    .await;
    assert!(
        matches!(&line, BridgeEvent::Transcript { speaker: Speaker::Ai, text, .. } if text == "Hello there."),
        "{line:?}"
    );
}

#[tokio::test]
async fn an_error_instead_of_session_started_fails_the_start_without_a_retry() {
    let (listener, url) = listener().await;
    let (_handle, _port, mut rx) = begin(live_config(&url));
    let (mut ws, ..) = accept(&listener).await;
    recv_live(&mut ws, true).await;
    send(
        &mut ws,
        json!({"type":"error","error":{"type":"insufficient_quota",
        "code":"credit_balance_exhausted","message":format!("No credit left for {KEY}.")}}),
    )
    .await;
    let error = failed(&mut rx).await;
    let text = error.to_string();
    assert!(
        matches!(&error, BridgeError::LiveRefused { code, .. } if code == "credit_balance_exhausted"),
        "{error:?}"
    );
    assert!(text.contains("add credit") && !text.contains(KEY), "{text}");
    assert!(
        timeout(Duration::from_millis(300), listener.accept())
            .await
            .is_err(),
        "retried"
    );
}

#[tokio::test]
async fn an_expired_session_is_followed_by_a_new_session_start() {
    let (listener, url) = listener().await;
    let (handle, _port, mut rx) = begin(live_config(&url));
    let (mut ws, ..) = accept(&listener).await;
    live_handshake(&mut ws).await;
    ready(&mut rx).await;
    send(&mut ws, json!({"type":"session.closed","reason":"expired"})).await;
    let _ = ws.close(None).await;
    let reconnecting = event(&mut rx, |e| matches!(e, BridgeEvent::Reconnecting { .. })).await;
    assert!(
        matches!(&reconnecting, BridgeEvent::Reconnecting { reason, .. } if reason.contains("expired")),
        "{reconnecting:?}"
    );
    let (mut again, ..) = accept(&listener).await;
    live_handshake(&mut again).await;
    assert!(matches!(
        ready(&mut rx).await,
        BridgeEvent::Ready {
            reconnected: true,
            ..
        }
    ));
    assert_eq!(handle.stop().await.reconnects, 1);
}

#[tokio::test]
async fn a_content_ending_is_final() {
    let (listener, url) = listener().await;
    let (_handle, _port, mut rx) = begin(live_config(&url));
    let (mut ws, ..) = accept(&listener).await;
    live_handshake(&mut ws).await;
    ready(&mut rx).await;
    send(&mut ws, json!({"type":"session.closed","reason":"content"})).await;
    let error = failed(&mut rx).await;
    assert!(
        matches!(&error, BridgeError::LiveEnded { reason, .. } if reason == "content"),
        "{error:?}"
    );
    assert!(
        timeout(Duration::from_millis(300), listener.accept())
            .await
            .is_err(),
        "retried"
    );
}
