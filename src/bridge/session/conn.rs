//! Opening a configured session (upgrade, `session.created`, `session.update`,
//! `session.updated`) and judging how a connection ended: retry, or give up for good.

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{ApiKey, BridgeConfig, BridgeError, BridgeEvent, BridgeEvents, Retry};
use crate::bridge::protocol::{ApiError, ServerEvent, SessionInfo};
use crate::bridge::Api;
use tokio_util::sync::CancellationToken;

pub(super) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest piece of an HTTP refusal's body we show: enough for OpenAI's JSON error.
const BODY_SHOWN: usize = 400;

/// In-band error codes after which retrying cannot help (LiveKit's list plus the GA model and
/// protocol refusals). The server closes with 3000/4000/4004 after them.
const FATAL_CODES: [&str; 8] = [
    "invalid_api_key",
    "insufficient_quota",
    "account_deactivated",
    "billing_hard_limit_reached",
    "beta_api_shape_disabled",
    "missing_model",
    "invalid_model",
    "model_not_found",
];

/// Close codes after which a new session is worth trying (the Python SDK's set): going away
/// (session expired), no status, abnormal drop, server error, restart, try again later, TLS.
const RETRY_CLOSE_CODES: [u16; 7] = [1001, 1005, 1006, 1011, 1012, 1013, 1015];

/// How one session ended.
#[derive(Debug)]
pub(super) enum Ended {
    /// The owner asked to stop.
    Stopped,
    /// Retrying would fail the same way.
    Fatal(BridgeError),
    /// Worth a new session after a pause.
    Lost(String),
}

/// After a session ended: `true` once the retry delay has passed and a new session should
/// start; `false` when the bridge is over (stopped, failed for good, or out of tries), the
/// events having said why. `failures` counts failed tries across calls (see
/// [`Retry::next_try`](super::Retry::next_try)); `gave_up` words the last failure per API.
pub(super) async fn retry_after(
    ended: Ended,
    retry: &Retry,
    events: &BridgeEvents,
    cancel: &CancellationToken,
    failures: &mut u32,
    healthy: bool,
    gave_up: fn(u32, String) -> BridgeError,
) -> bool {
    let reason = match ended {
        Ended::Stopped => return false,
        Ended::Fatal(error) => {
            tracing::warn!(%error, "voice bridge failed");
            events.send(BridgeEvent::Failed(error));
            return false;
        }
        Ended::Lost(reason) => reason,
    };
    let (attempt, delay) = match retry.next_try(failures, healthy) {
        Ok(next) => next,
        Err(tries) => {
            events.send(BridgeEvent::Failed(gave_up(tries, reason)));
            return false;
        }
    };
    tracing::info!(attempt, ?delay, %reason, "voice bridge reconnecting");
    events.send(BridgeEvent::Reconnecting {
        attempt,
        delay,
        reason,
    });
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// The upgrade request: `<url>?model=<model>` with the bearer token and no `OpenAI-Beta`
/// header (GA refuses it with `beta_api_shape_disabled`).
pub(super) fn request(config: &BridgeConfig, key: &ApiKey) -> Result<Request, BridgeError> {
    let separator = if config.url.contains('?') { '&' } else { '?' };
    let url = match config.api {
        // GPT-Live names its model in `session.start`; the path takes no query.
        Api::Live => config.url.clone(),
        Api::Realtime => format!(
            "{}{separator}model={}",
            config.url,
            percent_encode(&config.model)
        ),
    };
    let invalid = |reason: String| BridgeError::InvalidUrl {
        url: config.url.clone(),
        reason,
    };
    if !(url.starts_with("ws://") || url.starts_with("wss://")) {
        return Err(invalid("it must start with ws:// or wss://".into()));
    }
    let mut request = url
        .into_client_request()
        .map_err(|e| invalid(e.to_string()))?;
    let mut bearer = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
        .map_err(|_| BridgeError::MalformedApiKey)?;
    // Keeps the header out of http's Debug output, should anything ever print the request.
    bearer.set_sensitive(true);
    request.headers_mut().insert(AUTHORIZATION, bearer);
    Ok(request)
}

/// Connects; a refused upgrade is fatal unless the server blames itself (5xx).
pub(super) async fn connect(request: Request, key: &ApiKey) -> Result<Socket, Ended> {
    let url = request.uri().to_string();
    // Small frames every 20 ms: Nagle would only add delay.
    match tokio_tungstenite::connect_async_with_config(request, None, true).await {
        Ok((socket, _response)) => Ok(socket),
        Err(WsError::Http(response)) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).trim().to_string())
                .unwrap_or_default();
            let body = key.redact(&shorten(&explain(&body), BODY_SHOWN));
            if response.status().is_server_error() {
                Err(Ended::Lost(format!(
                    "HTTP {status} from the server: {body}"
                )))
            } else {
                Err(Ended::Fatal(BridgeError::HttpRefused { status, body }))
            }
        }
        Err(WsError::Url(e)) => Err(Ended::Fatal(BridgeError::InvalidUrl {
            url,
            reason: e.to_string(),
        })),
        Err(e) => Err(Ended::Lost(key.redact(&format!("cannot connect: {e}")))),
    }
}

/// Connects and configures: `session.created`, our `session.update`, `session.updated`.
pub(super) async fn open(
    config: &BridgeConfig,
    key: &ApiKey,
) -> Result<(Socket, SessionInfo), Ended> {
    let limit = config.retry.timeout;
    let request = request(config, key).map_err(Ended::Fatal)?;
    let late = |what: &str| Ended::Lost(format!("no {what} within {} s", limit.as_secs_f32()));
    let mut socket = timeout(limit, connect(request, key))
        .await
        .map_err(|_| late("answer to the WebSocket upgrade"))??;
    timeout(limit, wait_for(&mut socket, false, key))
        .await
        .map_err(|_| late("session.created"))??;
    let update = config.session_update().to_json();
    send(&mut socket, update).await?;
    let info = timeout(limit, wait_for(&mut socket, true, key))
        .await
        .map_err(|_| late("session.updated"))??;
    Ok((socket, info))
}

/// Reads until `session.created` (or `session.updated` when `updated`); an error event
/// answering our `session.update` means our settings were refused, which no retry fixes.
async fn wait_for(socket: &mut Socket, updated: bool, key: &ApiKey) -> Result<SessionInfo, Ended> {
    let mut last_error = None;
    loop {
        let text = match socket.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                return Err(closed(frame.as_ref(), last_error.as_ref(), key))
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(Ended::Lost(key.redact(&e.to_string()))),
            None => return Err(Ended::Lost("the connection closed during set-up".into())),
        };
        match ServerEvent::parse(text.as_str()) {
            Ok(ServerEvent::SessionCreated { session }) if !updated => return Ok(session),
            Ok(ServerEvent::SessionUpdated { session }) if updated => return Ok(session),
            Ok(ServerEvent::Error { error }) => {
                if is_fatal_code(error.code.as_deref()) {
                    return Err(Ended::Fatal(refused(&error, key)));
                }
                if updated {
                    return Err(Ended::Fatal(BridgeError::SettingsRejected {
                        code: error.code.unwrap_or(error.kind),
                        message: key.redact(&error.message),
                    }));
                }
                last_error = Some(error);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "ignoring unreadable event during set-up"),
        }
    }
}

/// A send the server does not take within this time means it stopped reading: the session
/// is treated as lost (and reconnected) rather than left blocking the bridge.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn send(socket: &mut Socket, text: String) -> Result<(), Ended> {
    match timeout(SEND_TIMEOUT, socket.send(Message::text(text))).await {
        Ok(sent) => sent.map_err(|e| Ended::Lost(format!("cannot send: {e}"))),
        Err(_) => Err(Ended::Lost(format!(
            "the Realtime server took nothing for {} s",
            SEND_TIMEOUT.as_secs()
        ))),
    }
}

pub(super) fn is_fatal_code(code: Option<&str>) -> bool {
    code.is_some_and(|c| FATAL_CODES.contains(&c))
}

/// The fatal error for an in-band `error` event, with the key scrubbed from its message.
pub(super) fn refused(error: &ApiError, key: &ApiKey) -> BridgeError {
    let code = error.code.clone().unwrap_or_else(|| error.kind.clone());
    let mut message = key.redact(&error.message);
    if matches!(code.as_str(), "invalid_model" | "model_not_found") {
        // Most often an old beta model name (gpt-4o-realtime-preview) from an older script,
        // or a retired one.
        message.push_str(&format!(
            " ({})",
            crate::bridge::Api::Realtime.model_advice()
        ));
    }
    BridgeError::Refused { code, message }
}

/// Judges a close frame (or its absence), taking the last in-band error into account: the
/// server explains a refusal in an `error` event and then closes with 3000/4000/4004.
pub(super) fn closed(
    frame: Option<&CloseFrame>,
    last_error: Option<&ApiError>,
    key: &ApiKey,
) -> Ended {
    let Some(frame) = frame else {
        return Ended::Lost("the server closed the connection without a reason".into());
    };
    let code = u16::from(frame.code);
    let reason = key.redact(frame.reason.as_str());
    if RETRY_CLOSE_CODES.contains(&code) {
        // The close reason (`<type>.<code>`) is the server's own summary; an error event
        // only explains a bare close (an older error may have been harmless).
        let why = match last_error.and_then(|e| e.code.clone()) {
            Some(code) if reason.is_empty() => code,
            _ => reason,
        };
        return Ended::Lost(format!("the server closed the connection ({code} {why})"));
    }
    match last_error {
        Some(error) => Ended::Fatal(refused(error, key)),
        None if reason.contains("model_not_found") => Ended::Fatal(BridgeError::Refused {
            code: "model_not_found".into(),
            message: format!(
                "the model is not available to this key ({})",
                crate::bridge::Api::Realtime.model_advice()
            ),
        }),
        None => Ended::Fatal(BridgeError::Closed { code, reason }),
    }
}

/// OpenAI answers refusals with `{"error":{"message":…,"code":…}}`: show the sentence, not
/// the JSON. Any other body is shown as it is.
fn explain(body: &str) -> String {
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let error = json.as_ref().and_then(|j| j.get("error"));
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(|m| m.as_str());
    let code = error.and_then(|e| e.get("code")).and_then(|c| c.as_str());
    match (message, code) {
        (Some(message), Some(code)) => format!("{message} ({code})"),
        (Some(message), None) => message.to_string(),
        _ => body.to_string(),
    }
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// RFC 3986 query encoding for the model name (everything but unreserved characters).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKey {
        ApiKey::new("sk-test-SECRET").unwrap()
    }

    #[test]
    fn request_carries_model_and_bearer_but_no_beta_header() {
        let config = BridgeConfig {
            url: "ws://127.0.0.1:9/v1/realtime".into(),
            model: "gpt realtime/2".into(),
            ..BridgeConfig::default()
        };
        let request = request(&config, &key()).unwrap();
        assert_eq!(
            request.uri().to_string(),
            "ws://127.0.0.1:9/v1/realtime?model=gpt%20realtime%2F2"
        );
        let auth = &request.headers()[AUTHORIZATION];
        assert_eq!(auth.to_str().unwrap(), "Bearer sk-test-SECRET");
        assert!(auth.is_sensitive());
        assert!(request.headers().get("openai-beta").is_none());
        assert!(!format!("{request:?}").contains("SECRET"));
    }

    #[test]
    fn an_existing_query_gets_the_model_appended() {
        let config = BridgeConfig {
            url: "wss://example.invalid/realtime?x=1".into(),
            ..BridgeConfig::default()
        };
        let uri = request(&config, &key()).unwrap().uri().to_string();
        assert!(uri.ends_with("?x=1&model=gpt-realtime-2.1"), "{uri}");
    }

    #[test]
    fn unusable_urls_and_keys_are_refused_up_front() {
        for url in ["http://127.0.0.1/v1", "not a url", "ws://"] {
            let config = BridgeConfig {
                url: url.into(),
                ..BridgeConfig::default()
            };
            assert!(
                matches!(
                    request(&config, &key()),
                    Err(BridgeError::InvalidUrl { .. })
                ),
                "{url}"
            );
        }
        let bad = ApiKey::new("sk-bad\nkey").unwrap();
        let err = request(&BridgeConfig::default(), &bad).unwrap_err();
        assert_eq!(err, BridgeError::MalformedApiKey);
        assert!(!err.to_string().contains("sk-bad"));
    }

    #[test]
    fn close_codes_decide_between_retry_and_giving_up() {
        use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
        let frame = |code: u16, reason: &str| CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let expired = ApiError {
            code: Some("session_expired".into()),
            ..ApiError::default()
        };
        let bad_key = ApiError {
            code: Some("invalid_api_key".into()),
            message: "Incorrect API key provided: sk-test-SECRET".into(),
            ..ApiError::default()
        };
        let k = key();
        assert!(
            matches!(closed(Some(&frame(1001, "")), Some(&expired), &k), Ended::Lost(r) if r.contains("session_expired"))
        );
        assert!(matches!(closed(None, None, &k), Ended::Lost(_)));
        assert!(matches!(
            closed(Some(&frame(1011, "oops")), None, &k),
            Ended::Lost(_)
        ));
        match closed(
            Some(&frame(3000, "invalid_request_error.invalid_api_key")),
            Some(&bad_key),
            &k,
        ) {
            Ended::Fatal(e) => {
                assert_eq!(
                    e.to_string(),
                    "the Realtime server refused the session (invalid_api_key): Incorrect API key provided: <redacted>"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            closed(
                Some(&frame(4004, "invalid_request_error.model_not_found")),
                None,
                &k
            ),
            Ended::Fatal(BridgeError::Refused { ref code, ref message })
                if code == "model_not_found" && message.contains("try --model gpt-realtime-2.1")
        ));
        assert!(is_fatal_code(Some("invalid_model")));
        assert!(!is_fatal_code(Some("response_cancel_not_active")));
        assert!(!is_fatal_code(None));
    }
}
