//! A raw Realtime (or GPT-Live) client for tests that talk to the mock without sipterm (the
//! mock's self-test): blocking calls over tokio-tungstenite on the client's own runtime.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

use super::{AudioFormat, RealtimeMock};

/// How long `next` and `until` wait for an event.
pub const CLIENT_WAIT: Duration = Duration::from_secs(5);

/// How a read ended when it did not yield a text event.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadEnd {
    /// A close frame with this code and reason.
    Close(u16, String),
    /// The connection ended without a close frame.
    Reset,
    Timeout,
}

/// One socket to the mock, its own current-thread runtime, and every event it received.
pub struct RawClient {
    rt: tokio::runtime::Runtime,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every text event read so far, with the time it was read.
    pub received: Vec<(Instant, Value)>,
}

impl RawClient {
    /// Connects to `url` with `Authorization: Bearer <key>` when given and the beta header when
    /// `beta`; an HTTP refusal comes back as `WsError::Http`.
    pub fn connect(url: &str, key: Option<&str>, beta: bool) -> Result<RawClient, WsError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime for a test client");
        let mut request = url.into_client_request()?;
        let headers = request.headers_mut();
        if let Some(key) = key {
            let value = format!("Bearer {key}").parse().expect("a header-safe key");
            headers.insert("Authorization", value);
        }
        if beta {
            headers.insert(
                "OpenAI-Beta",
                "realtime=v1".parse().expect("a header value"),
            );
        }
        let (ws, _) = rt.block_on(connect_async(request))?;
        Ok(RawClient {
            rt,
            ws,
            received: Vec::new(),
        })
    }

    /// Connects to `mock` with its key and `?model=gpt-realtime`; returns `session.created`.
    pub fn open(mock: &RealtimeMock) -> (RawClient, Value) {
        let url = format!("{}?model=gpt-realtime", mock.url());
        let mut client =
            RawClient::connect(&url, Some(mock.api_key()), false).expect("connect to the mock");
        let created = client.next().expect("session.created");
        assert_eq!(created["type"], "session.created", "{created}");
        (client, created)
    }

    /// Connects to `mock`'s Live URL with its key, sends `session.start` with `session` and
    /// returns `session.started` (panics on anything else).
    pub fn open_live(mock: &RealtimeMock, session: Value) -> (RawClient, Value) {
        let mut client = RawClient::connect(&mock.live_url(), Some(mock.api_key()), false)
            .expect("connect to the mock's Live URL");
        client.send(json!({"type": "session.start", "session": session}));
        let started = client.next().expect("session.started");
        assert_eq!(started["type"], "session.started", "{started}");
        (client, started)
    }

    /// Sends one text frame as is (also invalid JSON).
    pub fn send_text(&mut self, text: &str) {
        self.rt
            .block_on(self.ws.send(Message::text(text.to_owned())))
            .expect("send to the mock");
    }

    pub fn send(&mut self, event: Value) {
        self.send_text(&event.to_string());
    }

    /// Sends `event` unless the socket does not take it within `within` (a peer that stopped
    /// reading); false then.
    pub fn send_within(&mut self, event: Value, within: Duration) -> bool {
        let ws = &mut self.ws;
        let sent = self.rt.block_on(async {
            tokio::time::timeout(within, ws.send(Message::text(event.to_string()))).await
        });
        match sent {
            Ok(result) => {
                result.expect("send to the mock");
                true
            }
            Err(_) => false,
        }
    }

    /// Sends a close frame (1000) and returns without waiting for the answer.
    pub fn send_close(&mut self) {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        self.rt
            .block_on(self.ws.close(Some(frame)))
            .expect("send a close frame to the mock");
    }

    pub fn append(&mut self, bytes: &[u8]) {
        self.send(json!({"type": "input_audio_buffer.append", "audio": BASE64.encode(bytes)}));
    }

    /// Live: `session.input_audio.append`.
    pub fn live_append(&mut self, bytes: &[u8]) {
        self.send(json!({"type": "session.input_audio.append", "audio": BASE64.encode(bytes)}));
    }

    /// Live: appends `samples` in `format` as 20 ms frames, as fast as the socket takes them.
    pub fn live_speak(&mut self, format: AudioFormat, samples: &[i16]) {
        let frame = (format.rate() / 50) as usize;
        for chunk in samples.chunks(frame) {
            self.live_append(&format.encode(chunk));
        }
    }

    /// Appends `samples` in `format` as 20 ms frames, as fast as the socket takes them.
    pub fn speak(&mut self, format: AudioFormat, samples: &[i16]) {
        let frame = (format.rate() / 50) as usize;
        for chunk in samples.chunks(frame) {
            self.append(&format.encode(chunk));
        }
    }

    /// The next text event, or how the stream ended instead.
    pub fn next_or_end(&mut self, within: Duration) -> Result<Value, ReadEnd> {
        loop {
            let ws = &mut self.ws;
            let message = self
                .rt
                .block_on(async { tokio::time::timeout(within, ws.next()).await });
            return match message {
                Err(_) => Err(ReadEnd::Timeout),
                Ok(Some(Ok(Message::Text(text)))) => {
                    let event: Value = serde_json::from_str(&text).expect("events are JSON");
                    self.received.push((Instant::now(), event.clone()));
                    Ok(event)
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    // Flushing sends tungstenite's queued reply, completing the closing handshake.
                    let _ = self.rt.block_on(self.ws.flush());
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    Err(ReadEnd::Close(code, reason))
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) => Err(ReadEnd::Reset),
            };
        }
    }

    pub fn next(&mut self) -> Option<Value> {
        self.next_or_end(CLIENT_WAIT).ok()
    }

    /// Events up to and including the first of type `kind`; panics if it does not come.
    pub fn until(&mut self, kind: &str) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            match self.next_or_end(CLIENT_WAIT) {
                Ok(event) => {
                    let done = event["type"] == kind;
                    events.push(event);
                    if done {
                        return events;
                    }
                }
                Err(end) => panic!("no {kind} ({end:?}); got {events:#?}"),
            }
        }
    }

    /// The `error` object of the next `error` event.
    pub fn error(&mut self) -> Value {
        self.until("error").pop().expect("until returns the match")["error"].clone()
    }
}
