//! The socket loop of a GPT-Live connection: nothing is sent until the client's first event;
//! an in-band refusal (bad key, exhausted credit) answers that event in place of
//! `session.started`; otherwise the `LiveSession` runs, with the scripted faults applied as on
//! Realtime (drop, expiry as `session.closed` `expired`, a hang after `session.started`, a
//! close never answered) and a scripted `session.closed` with any reason.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::Message;

use super::conn::{hang, Shared, Ws};
use super::handshake::InBand;
use super::live::{error_event, LiveSession};
use super::record::Outcome;
use super::Fault;

/// Serves a Live connection whose upgrade succeeded; `refusal` is answered to the first event.
pub async fn run(
    ws: &mut Ws,
    shared: &Shared,
    index: usize,
    mut refusal: Option<InBand>,
    mut shutdown: watch::Receiver<bool>,
) {
    let upgraded = Instant::now();
    let fault = shared.fault(index);
    let drop_at = match fault {
        Some(Fault::DropAfter(d)) => Some(upgraded + d),
        _ => None,
    };
    let mut expire_at = None;
    let mut session = LiveSession::new(shared.config.clone(), shared.rec.clone(), index);
    let far = upgraded + Duration::from_secs(86_400);
    loop {
        for event in session.take_out() {
            let started = event["type"] == "session.started";
            if started {
                // Recorded before sending, so a client that has `session.started` sees it.
                shared.rec.lock().unwrap().connection(index).outcome = Outcome::Accepted;
            }
            if !shared.send(ws, index, event).await {
                return;
            }
            if started {
                expire_at = match fault {
                    Some(Fault::ExpireAfter(d)) => Some((Instant::now() + d, "expired")),
                    Some(Fault::LiveClosedAfter(d, reason)) => Some((Instant::now() + d, reason)),
                    _ => None,
                };
                if fault == Some(Fault::Hang) {
                    return hang(shared, index, shutdown).await;
                }
            }
        }
        if let Some((code, reason)) = session.close.take() {
            shared.close(ws, index, code, &reason).await;
            return;
        }
        let due = session.next_due().map(Instant::from_std);
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = sleep_until(drop_at.unwrap_or(far)), if drop_at.is_some() => {
                // A TCP close without a WebSocket close frame: the client sees 1006.
                shared.rec.lock().unwrap().connection(index).dropped = true;
                return;
            }
            _ = sleep_until(expire_at.map_or(far, |(at, _)| at)), if expire_at.is_some() => {
                if let Some((_, reason)) = expire_at.take() {
                    session.finish(reason);
                }
            }
            _ = sleep_until(due.unwrap_or(far)), if due.is_some() => {
                session.fire_due(std::time::Instant::now());
            }
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if let Some(InBand { error, end }) = refusal.take() {
                        shared.log_client_text(index, &text);
                        let client_event_id = serde_json::from_str::<serde_json::Value>(&text)
                            .ok()
                            .and_then(|e| e["event_id"].as_str().map(str::to_owned));
                        let event = error_event(&error, client_event_id.as_deref());
                        return shared.refuse(ws, index, event, &error, end).await;
                    }
                    session.on_text(&text, std::time::Instant::now());
                }
                Some(Ok(Message::Binary(_))) => {
                    session.on_text("<binary frame: events are JSON text frames>", std::time::Instant::now())
                }
                Some(Ok(close @ Message::Close(_))) => {
                    shared.note_client_close(index, &close);
                    if fault == Some(Fault::IgnoreClose) {
                        return hang(shared, index, shutdown).await;
                    }
                    let _ = ws.close(None).await;
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
        }
    }
}
