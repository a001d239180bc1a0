//! How the session fails, reconnects and keeps the key secret.

use super::*;

#[tokio::test]
async fn fatal_refusals_end_the_bridge_without_retrying_or_leaking_the_key() {
    for (code, close) in [
        ("invalid_api_key", 3000),
        ("invalid_model", 4000),
        ("model_not_found", 4004),
    ] {
        let (listener, url) = listener().await;
        let (_handle, _port, mut rx) = begin(config(&url));
        let (mut ws, ..) = accept(&listener).await;
        send(
            &mut ws,
            json!({"type":"error","error":{"type":"invalid_request_error","code":code,
            "message":format!("Refused for key {KEY}."),"param":null,"event_id":null}}),
        )
        .await;
        let frame = CloseFrame {
            code: CloseCode::from(close),
            reason: format!("invalid_request_error.{code}").into(),
        };
        let _ = ws.close(Some(frame)).await;
        let error = failed(&mut rx).await;
        assert!(
            matches!(&error, BridgeError::Refused { code: c, .. } if c == code),
            "{error:?}"
        );
        assert!(!format!("{error} {error:?}").contains(KEY), "{error}");
        assert!(
            timeout(Duration::from_millis(300), listener.accept())
                .await
                .is_err(),
            "{code}: retried"
        );
    }
}

#[tokio::test]
async fn settings_the_server_rejects_are_fatal() {
    let (listener, url) = listener().await;
    let (_handle, _port, mut rx) = begin(config(&url));
    let (mut ws, ..) = accept(&listener).await;
    send(&mut ws, json!({"type":"session.created","session":{}})).await;
    recv(&mut ws, true).await;
    send(&mut ws, json!({"type":"error","error":{"type":"invalid_request_error","code":"unknown_parameter",
        "message":"Unknown parameter: 'session.audio.input.format.rate'.","param":"session.audio"}})).await;
    let error = failed(&mut rx).await;
    assert!(
        matches!(error, BridgeError::SettingsRejected { ref code, .. } if code == "unknown_parameter")
    );
}

#[tokio::test]
async fn an_http_refusal_shows_status_and_body_but_not_the_key() {
    let (listener, url) = listener().await;
    let (_handle, _port, mut rx) = begin(config(&url));
    let (mut tcp, _) = listener.accept().await.unwrap();
    let mut request = vec![0u8; 4096];
    let _ = tcp.read(&mut request).await.unwrap();
    let body = format!(r#"{{"error":{{"message":"No access for {KEY}"}}}}"#);
    let reply = format!("HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
    tcp.write_all(reply.as_bytes()).await.unwrap();
    let error = failed(&mut rx).await;
    let BridgeError::HttpRefused { status, body } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(*status, 403);
    assert_eq!(body, "No access for <redacted>");
    assert!(!error.to_string().contains(KEY));
}

#[tokio::test]
async fn a_lost_connection_becomes_a_new_configured_session() {
    let (listener, url) = listener().await;
    let (handle, mut port, mut rx) = begin(config(&url));
    // First session: dropped without a close frame (1006).
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;
    send(&mut ws, delta("resp_1", "item_1", &[0x20; 1600])).await;
    first_audio(&mut port).await;
    drop(ws);
    let BridgeEvent::Reconnecting { attempt, .. } =
        event(&mut rx, |e| matches!(e, BridgeEvent::Reconnecting { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(attempt, 1);
    // Second session: expires at the limit (error then close 1001).
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    assert!(matches!(
        ready(&mut rx).await,
        BridgeEvent::Ready {
            reconnected: true,
            ..
        }
    ));
    let mut frame = vec![0i16; 160];
    port.source(&mut frame);
    assert!(
        frame.iter().all(|&s| s == 0),
        "the old session's audio is gone"
    );
    send(&mut ws, json!({"type":"error","error":{"type":"invalid_request_error","code":"session_expired","message":"Your session hit the maximum duration of 60 minutes."}})).await;
    let _ = ws
        .close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "invalid_request_error.session_expired".into(),
        }))
        .await;
    event(&mut rx, |e| matches!(e, BridgeEvent::Reconnecting { reason, .. } if reason.contains("session_expired"))).await;
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;
    assert_eq!(handle.stats().reconnects, 2);
}

#[tokio::test]
async fn gives_up_after_the_last_try() {
    let (listener, url) = listener().await;
    let (_handle, _port, mut rx) = begin(config(&url));
    for _ in 0..4 {
        let (tcp, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
        drop(tcp);
    }
    let mut delays = Vec::new();
    let error = loop {
        match event(&mut rx, |_| true).await {
            BridgeEvent::Reconnecting { attempt, delay, .. } => delays.push((attempt, delay)),
            BridgeEvent::Failed(error) => break error,
            other => panic!("{other:?}"),
        }
    };
    let ms = Duration::from_millis;
    assert_eq!(
        delays,
        [(1, ms(10)), (2, ms(20)), (3, ms(40))],
        "doubling backoff"
    );
    assert!(
        matches!(error, BridgeError::GaveUp { tries: 3, .. }),
        "{error:?}"
    );
    assert!(timeout(Duration::from_millis(200), listener.accept())
        .await
        .is_err());
}

#[tokio::test]
async fn sessions_that_die_at_once_are_not_retried_forever() {
    let (listener, url) = listener().await;
    let (_handle, _port, mut rx) = begin(config(&url));
    for _ in 0..4 {
        let (mut ws, ..) = accept(&listener).await;
        handshake(&mut ws).await;
        ready(&mut rx).await;
        drop(ws);
    }
    assert!(matches!(
        failed(&mut rx).await,
        BridgeError::GaveUp { tries: 3, .. }
    ));
}

#[tokio::test]
async fn wss_against_a_plain_server_fails_cleanly() {
    // Exercises the rustls set-up (crypto provider, roots) without a network.
    let (listener, url) = listener().await;
    let mut cfg = config(&url.replace("ws://", "wss://"));
    cfg.retry.max_tries = 0;
    let (_handle, _port, mut rx) = begin(cfg);
    let (mut tcp, _) = listener.accept().await.unwrap();
    let _ = tcp.write_all(b"this is not TLS\r\n\r\n").await;
    drop(tcp);
    assert!(matches!(
        failed(&mut rx).await,
        BridgeError::GaveUp { tries: 0, .. }
    ));
}

#[tokio::test]
async fn a_missing_key_fails_before_connecting() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let events = BridgeEvents { tag: 1, tx };
    let no_key = BridgeConfig {
        url: "ws://127.0.0.1:9/".into(),
        ..BridgeConfig::default()
    };
    assert_eq!(
        start(no_key, events.clone()).unwrap_err(),
        BridgeError::MissingApiKey
    );
    assert!(ApiKey::new("  ").is_none());
    let bad_url = BridgeConfig {
        url: "https://api.openai.com".into(),
        ..config("x")
    };
    assert!(matches!(
        start(bad_url, events).unwrap_err(),
        BridgeError::InvalidUrl { .. }
    ));
}

#[tokio::test]
async fn the_key_never_shows_in_debug_output() {
    let cfg = config("ws://127.0.0.1:9/v1/realtime");
    let shown = format!("{cfg:?} {:?} {:#?}", cfg.api_key, cfg);
    assert!(
        !shown.contains(KEY) && !shown.contains("DO-NOT-LEAK"),
        "{shown}"
    );
    assert!(shown.contains("<redacted>"));
    let (handle, port, _rx) = begin(cfg);
    let shown = format!("{handle:?} {port:?}");
    assert!(!shown.contains(KEY), "{shown}");
}
