//! The session against a scripted WebSocket server on loopback: just enough of the GA server
//! side for each behaviour (the faithful mock lives in `tests/support/realtime_mock.rs`).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::*;
use crate::bridge::protocol::{
    decode_audio, encode_audio, AudioFormat, ClientEvent, TurnDetection,
};
use crate::media::audio::AudioPort;
use crate::media::g711::ulaw_decode;

mod barge_in;
mod early;
mod end_call;
mod failures;
mod live;

const KEY: &str = "sk-test-DO-NOT-LEAK-123";
const WAIT: Duration = Duration::from_secs(5);

type Server = WebSocketStream<TcpStream>;
type Events = mpsc::UnboundedReceiver<(u64, BridgeEvent)>;

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v1/realtime", listener.local_addr().unwrap());
    (listener, url)
}

fn config(url: &str) -> BridgeConfig {
    BridgeConfig {
        url: url.into(),
        api_key: ApiKey::new(KEY),
        instructions: Some("Be brief.".into()),
        retry: Retry {
            first_delay: Duration::from_millis(10),
            max_tries: 3,
            timeout: WAIT,
        },
        ..BridgeConfig::default()
    }
}

fn begin(config: BridgeConfig) -> (BridgeHandle, BridgePort, Events) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (handle, port) = start(config, BridgeEvents { tag: 7, tx }).unwrap();
    (handle, port, rx)
}

/// Accepts one WebSocket, returning it with the request's path-and-query and headers.
async fn accept(listener: &TcpListener) -> (Server, String, Vec<(String, String)>) {
    let (tcp, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let mut seen = Seen::default();
    let ws = tokio_tungstenite::accept_hdr_async(tcp, Recorder(&mut seen))
        .await
        .unwrap();
    (ws, seen.uri, seen.headers)
}

/// What the upgrade request asked for.
#[derive(Default)]
struct Seen {
    uri: String,
    headers: Vec<(String, String)>,
}

struct Recorder<'a>(&'a mut Seen);

impl Callback for Recorder<'_> {
    // The error type is tungstenite's, not ours.
    #[allow(clippy::result_large_err)]
    fn on_request(self, req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
        self.0.uri = req.uri().to_string();
        self.0.headers = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        Ok(resp)
    }
}

async fn send(ws: &mut Server, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

/// The next client event, skipping caller audio unless `appends` is set.
async fn recv(ws: &mut Server, appends: bool) -> ClientEvent {
    loop {
        let message = timeout(WAIT, ws.next())
            .await
            .expect("client silent")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            let event = ClientEvent::parse(text.as_str()).unwrap();
            if appends || !matches!(event, ClientEvent::InputAudioBufferAppend { .. }) {
                return event;
            }
        }
    }
}

/// session.created → (expect session.update) → session.updated; returns the update.
async fn handshake(ws: &mut Server) -> ClientEvent {
    send(
        ws,
        json!({"type":"session.created","session":{"id":"sess_1","model":"gpt-realtime"}}),
    )
    .await;
    let update = recv(ws, true).await;
    assert!(
        matches!(update, ClientEvent::SessionUpdate { .. }),
        "{update:?}"
    );
    send(
        ws,
        json!({"type":"session.updated","session":{"id":"sess_1","model":"gpt-realtime",
        "audio":{"output":{"format":{"type":"audio/pcmu"}}}}}),
    )
    .await;
    update
}

async fn event(rx: &mut Events, wanted: impl Fn(&BridgeEvent) -> bool) -> BridgeEvent {
    loop {
        let (tag, event) = timeout(WAIT, rx.recv()).await.expect("no event").unwrap();
        assert_eq!(tag, 7);
        if wanted(&event) {
            return event;
        }
    }
}

async fn ready(rx: &mut Events) -> BridgeEvent {
    event(rx, |e| matches!(e, BridgeEvent::Ready { .. })).await
}

async fn failed(rx: &mut Events) -> BridgeError {
    match event(rx, |e| matches!(e, BridgeEvent::Failed(_))).await {
        BridgeEvent::Failed(error) => error,
        _ => unreachable!(),
    }
}

/// Polls the port like the media task does until model audio comes out (that frame counts
/// as played).
async fn first_audio(port: &mut BridgePort) -> Vec<i16> {
    let mut frame = vec![0i16; 160];
    for _ in 0..2000 {
        port.source(&mut frame);
        if frame.iter().any(|&s| s != 0) {
            return frame;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("no model audio came out of the port");
}

fn delta(response: &str, item: &str, audio: &[u8]) -> Value {
    json!({"type":"response.output_audio.delta","event_id":"e","response_id":response,"item_id":item,
           "output_index":0,"content_index":0,"delta":encode_audio(audio),"obfuscation":"pad"})
}

#[tokio::test]
async fn connects_with_bearer_and_sends_one_ga_session_update_before_streaming() {
    let (listener, url) = listener().await;
    let (handle, mut port, mut rx) = begin(config(&url));
    let (mut ws, uri, headers) = accept(&listener).await;
    assert_eq!(uri, "/v1/realtime?model=gpt-realtime-2.1");
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("authorization").as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(header("openai-beta"), None);

    send(
        &mut ws,
        json!({"type":"session.created","session":{"id":"sess_1"}}),
    )
    .await;
    let ClientEvent::SessionUpdate { session } = recv(&mut ws, true).await else {
        panic!("expected session.update first");
    };
    let audio = session.audio.unwrap();
    let (input, output) = (audio.input.unwrap(), audio.output.unwrap());
    assert_eq!(
        (session.model.as_deref(), session.instructions.as_deref()),
        (Some("gpt-realtime-2.1"), Some("Be brief."))
    );
    assert_eq!(
        (input.format, output.format),
        (Some(AudioFormat::Pcmu), Some(AudioFormat::Pcmu))
    );
    assert_eq!(output.voice.as_deref(), Some("alloy"));
    assert_eq!(input.transcription.unwrap().model, "gpt-4o-transcribe");
    assert!(matches!(
        input.turn_detection,
        Some(TurnDetection::ServerVad {
            create_response: Some(true),
            interrupt_response: Some(true),
            ..
        })
    ));

    // Caller audio before session.updated would be in the wrong format: it is not sent.
    port.sink(&[ulaw_decode(0x11); 160]);
    send(
        &mut ws,
        json!({"type":"session.updated","session":{"id":"sess_1"}}),
    )
    .await;
    let BridgeEvent::Ready {
        session_id,
        reconnected,
        ..
    } = ready(&mut rx).await
    else {
        unreachable!()
    };
    assert_eq!(
        (session_id.as_deref(), reconnected),
        (Some("sess_1"), false)
    );
    assert!(handle.is_streaming());

    let caller: Vec<u8> = (0..160u32).map(|n| (n % 100) as u8).collect();
    let pcm: Vec<i16> = caller.iter().map(|&c| ulaw_decode(c)).collect();
    port.sink(&pcm);
    let ClientEvent::InputAudioBufferAppend { audio } = recv(&mut ws, true).await else {
        panic!("expected an append");
    };
    assert_eq!(
        decode_audio(&audio).unwrap(),
        caller,
        "µ-law passes through untouched"
    );
    assert_eq!(handle.stop().await.caller_frames_sent, 1);
}

#[tokio::test]
async fn opus_calls_ask_for_pcm_at_24khz() {
    let (listener, url) = listener().await;
    let (_handle, _port, _rx) = begin(BridgeConfig {
        codec: Codec::Opus,
        ..config(&url)
    });
    let (mut ws, ..) = accept(&listener).await;
    let ClientEvent::SessionUpdate { session } = handshake(&mut ws).await else {
        unreachable!()
    };
    let audio = session.audio.unwrap();
    let pcm = Some(AudioFormat::Pcm { rate: 24000 });
    assert_eq!(
        (audio.input.unwrap().format, audio.output.unwrap().format),
        (pcm, pcm)
    );
}

#[tokio::test]
async fn model_audio_plays_in_exact_frames_with_transcripts_and_latency() {
    let (listener, url) = listener().await;
    let (handle, mut port, mut rx) = begin(config(&url));
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;

    let audio: Vec<u8> = (0..400u32).map(|n| (n % 100) as u8).collect();
    send(
        &mut ws,
        json!({"type":"input_audio_buffer.speech_stopped","audio_end_ms":900,"item_id":"in_1"}),
    )
    .await;
    send(&mut ws, json!({"type":"conversation.item.input_audio_transcription.completed","item_id":"in_1","content_index":0,"transcript":"Hello?"})).await;
    send(
        &mut ws,
        json!({"type":"response.created","response":{"id":"resp_1","status":"in_progress"}}),
    )
    .await;
    for piece in [&audio[..7], &audio[7..250], &audio[250..]] {
        send(&mut ws, delta("resp_1", "item_1", piece)).await;
    }
    send(&mut ws, json!({"type":"response.output_audio_transcript.delta","response_id":"resp_1","item_id":"item_1","delta":"Hi"})).await;
    send(
        &mut ws,
        json!({"type":"response.output_audio.done","response_id":"resp_1","item_id":"item_1"}),
    )
    .await;
    send(&mut ws, json!({"type":"some.future.event","x":1})).await;
    ws.send(Message::text("not json at all")).await.unwrap();

    let mut played = first_audio(&mut port).await;
    for _ in 0..2 {
        let mut frame = vec![0i16; 160];
        port.source(&mut frame);
        played.extend(frame);
    }
    let expected: Vec<i16> = audio.iter().map(|&c| ulaw_decode(c)).collect();
    assert_eq!(played[..400], expected[..], "three frames, the last padded");
    assert!(played[400..].iter().all(|&s| s == 0));

    let caller = event(&mut rx, |e| {
        matches!(
            e,
            BridgeEvent::Transcript {
                speaker: Speaker::Caller,
                ..
            }
        )
    })
    .await;
    assert_eq!(
        caller,
        BridgeEvent::Transcript {
            speaker: Speaker::Caller,
            text: "Hello?".into(),
            item: "in_1".into(),
            final_: true
        }
    );
    let ai = event(&mut rx, |e| {
        matches!(
            e,
            BridgeEvent::Transcript {
                speaker: Speaker::Ai,
                ..
            }
        )
    })
    .await;
    assert!(matches!(ai, BridgeEvent::Transcript { ref text, final_: false, .. } if text == "Hi"));
    event(&mut rx, |e| matches!(e, BridgeEvent::Turn { .. })).await;
    let stats = handle.stats();
    assert_eq!((stats.turns, stats.ai_frames_sent), (1, 3));
    assert!(stats.last_latency_ms.is_some());
    assert!(handle.take_ai_level().peak_dbfs > -10.0);
}

#[tokio::test]
async fn stop_closes_the_socket_politely() {
    let (listener, url) = listener().await;
    let (handle, _port, mut rx) = begin(config(&url));
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;
    let stopping = tokio::spawn(handle.stop());
    loop {
        match timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => {
                assert_eq!(frame.map(|f| f.code), Some(CloseCode::Normal));
                break;
            }
            None => panic!("dropped without a close frame"),
            Some(_) => {}
        }
    }
    timeout(WAIT, stopping).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_reply_cut_off_by_the_stop_still_gets_its_line_marked_as_cut() {
    let (listener, url) = listener().await;
    let (handle, _port, mut rx) = begin(config(&url));
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;
    for (item, words) in [
        ("item_1", ["Hi", " there."]),
        ("item_2", ["Your", " order"]),
    ] {
        for word in words {
            send(
                &mut ws,
                json!({"type":"response.output_audio_transcript.delta",
                "response_id":"resp_1","item_id":item,"delta":word}),
            )
            .await;
        }
    }
    send(
        &mut ws,
        json!({"type":"response.output_audio_transcript.done",
        "response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,
        "transcript":"Hi there."}),
    )
    .await;
    event(&mut rx, |e| {
        matches!(e, BridgeEvent::Transcript { final_: true, .. })
    })
    .await;
    handle.stop().await;
    let mut finals = Vec::new();
    while let Ok((_, event)) = rx.try_recv() {
        if let BridgeEvent::Transcript {
            item,
            text,
            final_: true,
            ..
        } = event
        {
            finals.push((item, text));
        }
    }
    // The finished reply is not repeated; the cut one is closed with the words it had.
    assert_eq!(finals, [("item_2".to_owned(), "Your order …".to_owned())]);
}

#[tokio::test]
async fn a_committed_caller_turn_opens_its_line_before_the_words_arrive() {
    let (listener, url) = listener().await;
    let (_handle, _port, mut rx) = begin(config(&url));
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;
    let caller = |e: &BridgeEvent| {
        matches!(
            e,
            BridgeEvent::Transcript {
                speaker: Speaker::Caller,
                ..
            }
        )
    };

    send(
        &mut ws,
        json!({"type":"input_audio_buffer.committed","previous_item_id":null,"item_id":"in_1"}),
    )
    .await;
    assert_eq!(
        event(&mut rx, caller).await,
        BridgeEvent::Transcript {
            speaker: Speaker::Caller,
            text: String::new(),
            item: "in_1".into(),
            final_: false
        }
    );

    // A turn the server could not transcribe still ends as a line, and says so.
    send(&mut ws, json!({"type":"conversation.item.input_audio_transcription.failed","item_id":"in_1","content_index":0,"error":{"type":"transcription_error","message":"audio too short"}})).await;
    assert_eq!(
        event(&mut rx, caller).await,
        BridgeEvent::Transcript {
            speaker: Speaker::Caller,
            text: UNTRANSCRIBED.into(),
            item: "in_1".into(),
            final_: true
        }
    );
}

#[test]
fn retries_double_their_delay_give_up_after_max_tries_and_restart_after_a_healthy_session() {
    let retry = Retry {
        first_delay: Duration::from_millis(100),
        max_tries: 3,
        timeout: Duration::from_secs(1),
    };
    let mut failures = 0;
    let tries: Vec<_> = (0..3)
        .map(|_| retry.next_try(&mut failures, false))
        .collect();
    assert_eq!(
        tries,
        vec![
            Ok((1, Duration::from_millis(100))),
            Ok((2, Duration::from_millis(200))),
            Ok((3, Duration::from_millis(400)))
        ]
    );
    assert_eq!(retry.next_try(&mut failures, false), Err(3));
    let mut failures = 2;
    assert_eq!(
        retry.next_try(&mut failures, true),
        Ok((1, Duration::from_millis(100)))
    );
}
