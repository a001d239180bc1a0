//! The caller talks over the model.

use super::*;

#[tokio::test]
async fn barge_in_truncates_at_the_played_position_and_drops_the_rest() {
    let (listener, url) = listener().await;
    let (handle, mut port, mut rx) = begin(config(&url));
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;

    send(
        &mut ws,
        json!({"type":"response.created","response":{"id":"resp_1"}}),
    )
    .await;
    send(&mut ws, delta("resp_1", "item_1", &[0x20; 8000])).await;
    first_audio(&mut port).await;
    let mut frame = vec![0i16; 160];
    for _ in 0..9 {
        port.source(&mut frame);
    }
    send(
        &mut ws,
        json!({"type":"input_audio_buffer.speech_started","audio_start_ms":3000,"item_id":"in_2"}),
    )
    .await;
    assert_eq!(
        recv(&mut ws, false).await,
        ClientEvent::ConversationItemTruncate {
            item_id: "item_1".into(),
            content_index: 0,
            audio_end_ms: 200
        }
    );
    let interrupted = event(&mut rx, |e| matches!(e, BridgeEvent::Interrupted { .. })).await;
    assert_eq!(
        interrupted,
        BridgeEvent::Interrupted {
            item: Some("item_1".into()),
            played_ms: Some(200)
        }
    );

    // Late deltas of the cancelled reply are dropped; the queue stays silent.
    send(&mut ws, delta("resp_1", "item_1", &[0x20; 800])).await;
    send(
        &mut ws,
        json!({"type":"response.done","response":{"id":"resp_1","status":"cancelled",
        "status_details":{"type":"cancelled","reason":"turn_detected"}}}),
    )
    .await;
    // A recoverable error is reported and the session goes on.
    send(&mut ws, json!({"type":"error","error":{"type":"invalid_request_error","code":"invalid_value",
        "message":"Audio content of 150ms is already shorter than 200ms","param":null,"event_id":null}})).await;
    event(
        &mut rx,
        |e| matches!(e, BridgeEvent::Warning(w) if w.contains("invalid_value")),
    )
    .await;
    port.source(&mut frame);
    assert!(frame.iter().all(|&s| s == 0));
    assert!(handle.is_streaming());
    assert_eq!(handle.stats().barge_ins, 1);
}

#[tokio::test]
async fn without_interrupt_response_barge_in_cancels_and_skips_truncation_when_nothing_played() {
    let (listener, url) = listener().await;
    let mut cfg = config(&url);
    cfg.vad.interrupt_response = false;
    let (handle, _port, mut rx) = begin(cfg);
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;

    send(
        &mut ws,
        json!({"type":"response.created","response":{"id":"resp_1"}}),
    )
    .await;
    send(&mut ws, delta("resp_1", "item_1", &[0x20; 1600])).await;
    send(
        &mut ws,
        json!({"type":"input_audio_buffer.speech_started","item_id":"in_2"}),
    )
    .await;
    assert_eq!(
        recv(&mut ws, false).await,
        ClientEvent::ResponseCancel { response_id: None }
    );
    let interrupted = event(&mut rx, |e| matches!(e, BridgeEvent::Interrupted { .. })).await;
    assert_eq!(
        interrupted,
        BridgeEvent::Interrupted {
            item: None,
            played_ms: None
        }
    );
    // The harmless answer to a late cancel is not reported as a problem.
    send(&mut ws, json!({"type":"error","error":{"type":"invalid_request_error","code":"response_cancel_not_active","message":"no active response"}})).await;
    send(&mut ws, json!({"type":"error","error":{"type":"invalid_request_error","code":"marker","message":"m"}})).await;
    let warning = event(&mut rx, |e| matches!(e, BridgeEvent::Warning(_))).await;
    assert!(
        matches!(warning, BridgeEvent::Warning(ref w) if w.contains("marker")),
        "{warning:?}"
    );
    assert!(handle.is_streaming());
}
