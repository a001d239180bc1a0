//! One TCP connection: the upgrade, an in-band refusal or a session, the scripted faults
//! (drop without a close frame, session expiry, a hang, a close never answered), and the
//! socket loop that sends what the session queues and logs every event both ways. GPT-Live
//! connections continue in `live_conn.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{accept_hdr_async, WebSocketStream};

use super::handshake::{verdict, Api, End, InBand, Upgrade, Verdict};
use super::record::{Connection, Direction, Outcome, Recorder};
use super::schema::ApiError;
use super::session::Session;
use super::{Fault, MockConfig};

pub type Ws = WebSocketStream<TcpStream>;

/// How long the mock waits for the client's close frame after sending its own.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Shared {
    pub config: Arc<MockConfig>,
    pub rec: Arc<Mutex<Recorder>>,
}

impl Shared {
    pub fn fault(&self, index: usize) -> Option<Fault> {
        self.config
            .fault
            .filter(|_| index < self.config.fault_connections)
    }

    /// Logs `event` (after giving it an `event_id`) and sends it; false if the socket failed.
    pub async fn send(&self, ws: &mut Ws, index: usize, mut event: Value) -> bool {
        let id = self.rec.lock().unwrap().id("event");
        event["event_id"] = json!(id);
        self.rec
            .lock()
            .unwrap()
            .log_event(index, Direction::FromServer, &event);
        ws.send(Message::text(event.to_string())).await.is_ok()
    }

    /// Sends a GA `error` then a close frame, and waits briefly for the client's close.
    async fn close_with_error(&self, ws: &mut Ws, index: usize, error: &ApiError, code: u16) {
        self.refuse(ws, index, ga_error(error), error, End::Close(code))
            .await;
    }

    /// Sends the `error` event, then ends the connection as `end` says: a close frame with
    /// reason `<type>.<code>`, or (reading and logging whatever comes meanwhile) a TCP drop.
    pub async fn refuse(
        &self,
        ws: &mut Ws,
        index: usize,
        event: Value,
        error: &ApiError,
        end: End,
    ) {
        if !self.send(ws, index, event).await {
            return;
        }
        match end {
            End::Close(code) => {
                let reason = format!("{}.{}", error.kind, error.code);
                self.close(ws, index, code, &reason).await;
            }
            End::Drop(after) => {
                let _ = timeout(after, async {
                    while let Some(Ok(message)) = ws.next().await {
                        self.note_client_close(index, &message);
                        if let Message::Text(text) = &message {
                            self.log_client_text(index, text);
                        }
                    }
                })
                .await;
                self.rec.lock().unwrap().connection(index).dropped = true;
            }
        }
    }

    /// Logs a client text frame that no session handles (unparseable text as a JSON string).
    pub fn log_client_text(&self, index: usize, text: &str) {
        let event = serde_json::from_str(text).unwrap_or_else(|_| json!(text));
        self.rec
            .lock()
            .unwrap()
            .log_event(index, Direction::FromClient, &event);
    }

    pub async fn close(&self, ws: &mut Ws, index: usize, code: u16, reason: &str) {
        self.rec.lock().unwrap().connection(index).server_close = Some((code, reason.to_owned()));
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        if ws.send(Message::Close(Some(frame))).await.is_ok() {
            let _ = timeout(CLOSE_WAIT, async {
                while let Some(Ok(message)) = ws.next().await {
                    self.note_client_close(index, &message);
                }
            })
            .await;
        }
    }

    pub fn note_client_close(&self, index: usize, message: &Message) {
        if let Message::Close(frame) = message {
            let close = frame
                .as_ref()
                .map(|f| (u16::from(f.code), f.reason.to_string()))
                .unwrap_or((1005, String::new()));
            self.rec.lock().unwrap().connection(index).client_close = Some(close);
        }
    }
}

/// A GA `error` event for a connection-level failure (no client event to echo).
fn ga_error(error: &ApiError) -> Value {
    json!({"type": "error", "error": {
        "type": error.kind, "code": error.code, "message": error.message,
        "param": error.param, "event_id": null,
    }})
}

/// Serves one accepted TCP connection until either side ends it or the mock stops.
pub async fn serve(tcp: TcpStream, shared: Shared, shutdown: watch::Receiver<bool>) {
    let mut decided: Option<(usize, Api, Verdict)> = None;
    // tungstenite's callback signature fixes the (large) error response type.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| {
        let upgrade = Upgrade::of(request);
        let mut rec = shared.rec.lock().unwrap();
        let index = rec.connections.len();
        let verdict = verdict(&upgrade, &shared.config, shared.fault(index).as_ref());
        let api = upgrade.api().unwrap_or_default();
        let outcome = match &verdict {
            Verdict::Accept if api == Api::Live => Outcome::AwaitingStart,
            Verdict::Accept => Outcome::Accepted,
            Verdict::RefuseHttp(r) => Outcome::RefusedHttp(r.status().as_u16()),
            Verdict::RefuseInBand(b) => Outcome::RefusedInBand(b.error.code.clone()),
        };
        let at = rec.now();
        rec.connections.push(Connection {
            index,
            at,
            api,
            uri: upgrade.uri.clone(),
            model: upgrade.model.clone(),
            authorization: upgrade.authorization.clone(),
            beta_header: upgrade.beta_header,
            outcome,
            server_close: None,
            client_close: None,
            ended_at: None,
            dropped: false,
            hung: false,
        });
        match verdict {
            Verdict::RefuseHttp(refusal) => {
                rec.connection(index).ended_at = Some(at);
                Err(refusal)
            }
            other => {
                decided = Some((index, api, other));
                Ok(response)
            }
        }
    };
    let accepted = accept_hdr_async(tcp, callback).await;
    let (Ok(mut ws), Some((index, api, verdict))) = (accepted, decided) else {
        return;
    };
    match (api, verdict) {
        (Api::Live, verdict) => {
            let refusal = match verdict {
                Verdict::RefuseInBand(refusal) => Some(refusal),
                _ => None,
            };
            super::live_conn::run(&mut ws, &shared, index, refusal, shutdown).await;
        }
        (_, Verdict::RefuseInBand(InBand { error, end })) => {
            shared
                .refuse(&mut ws, index, ga_error(&error), &error, end)
                .await;
        }
        _ => run_session(&mut ws, &shared, index, shutdown).await,
    }
    let mut rec = shared.rec.lock().unwrap();
    let now = rec.now();
    rec.connection(index).ended_at.get_or_insert(now);
}

async fn run_session(
    ws: &mut Ws,
    shared: &Shared,
    index: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let started = Instant::now();
    let after = |d: Duration| Some(started + d);
    let (drop_at, expire_at) = match shared.fault(index) {
        Some(Fault::DropAfter(d)) => (after(d), None),
        Some(Fault::ExpireAfter(d)) => (None, after(d)),
        _ => (None, None),
    };
    let hang_when_configured = shared.fault(index) == Some(Fault::Hang);
    let ignore_close = shared.fault(index) == Some(Fault::IgnoreClose);
    let model = shared.rec.lock().unwrap().connections[index]
        .model
        .clone()
        .unwrap_or_default();
    let mut session = Session::new(shared.config.clone(), shared.rec.clone(), index, &model);
    let far = started + Duration::from_secs(86_400);
    loop {
        for event in session.take_out() {
            let configured = event["type"] == "session.updated";
            if !shared.send(ws, index, event).await {
                return;
            }
            if configured && hang_when_configured {
                return hang(shared, index, shutdown).await;
            }
        }
        if let Some(code) = session.close {
            shared.close(ws, index, code, "session.close").await;
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
            _ = sleep_until(expire_at.unwrap_or(far)), if expire_at.is_some() => {
                let error = ApiError::new(
                    "session_expired",
                    "Your session hit the maximum duration of 60 minutes.",
                    None,
                );
                shared.close_with_error(ws, index, &error, 1001).await;
                return;
            }
            _ = sleep_until(due.unwrap_or(far)), if due.is_some() => {
                session.fire_due(std::time::Instant::now());
            }
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => session.on_text(&text, std::time::Instant::now()),
                Some(Ok(Message::Binary(_))) => {
                    session.on_text("<binary frame: events are JSON text frames>", std::time::Instant::now())
                }
                Some(Ok(close @ Message::Close(_))) => {
                    shared.note_client_close(index, &close);
                    if ignore_close {
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

/// A scripted hang: nothing is read or sent any more (tungstenite answers a close frame only
/// when the socket is polled, so it goes unanswered), and the TCP connection stays open until
/// the mock stops. The caller drops the socket afterwards.
pub async fn hang(shared: &Shared, index: usize, mut shutdown: watch::Receiver<bool>) {
    shared.rec.lock().unwrap().connection(index).hung = true;
    let _ = shutdown.changed().await;
}
