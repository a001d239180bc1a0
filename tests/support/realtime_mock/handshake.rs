//! The WebSocket upgrade: which API the path names (`/v1/realtime` or GPT-Live's
//! `/v1/live/sessions`), what the client asked for, and whether the mock refuses it over HTTP
//! (wrong path; a bad key when scripted so; a query on the Live path) or in-band
//! (realtime-notes §1: the upgrade succeeds, one `error` event follows, then a close whose
//! reason is `<type>.<code>`; on Live the `error` answers the client's `session.start`).

use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request};
use tokio_tungstenite::tungstenite::http::{header, StatusCode};

use super::schema::ApiError;
use super::{Fault, KeyRefusal, MockConfig};

/// Which of the two OpenAI voice APIs a connection speaks, picked by the request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Api {
    /// `/v1/realtime?model=…` (GA Realtime).
    #[default]
    Realtime,
    /// `/v1/live/sessions` (GPT-Live, live-notes §1).
    Live,
}

pub const REALTIME_PATH: &str = "/v1/realtime";
pub const LIVE_PATH: &str = "/v1/live/sessions";

/// How long after `credit_balance_exhausted` the service drops the socket (live-notes §1, [X]:
/// an unconfirmed third-party capture saw ~2 s and no close frame).
pub const CREDIT_DROP_AFTER: Duration = Duration::from_secs(2);

/// The parts of the upgrade request the mock checks and records.
#[derive(Debug, Clone, Default)]
pub struct Upgrade {
    pub uri: String,
    pub path: String,
    pub query: Option<String>,
    pub model: Option<String>,
    pub authorization: Option<String>,
    pub beta_header: bool,
}

impl Upgrade {
    pub fn of(request: &Request) -> Upgrade {
        let uri = request.uri().to_string();
        let path = request.uri().path().to_owned();
        let model = request.uri().query().and_then(|q| {
            q.split('&')
                .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
                .find(|(k, _)| *k == "model")
                .map(|(_, v)| v.to_owned())
        });
        let text = |name| {
            request
                .headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        Upgrade {
            uri,
            path,
            query: request.uri().query().map(str::to_owned),
            model: model.filter(|m| !m.is_empty()),
            authorization: text(header::AUTHORIZATION.as_str()),
            beta_header: request.headers().contains_key("openai-beta"),
        }
    }

    /// The API the path names, `None` for any other path.
    pub fn api(&self) -> Option<Api> {
        match self.path.as_str() {
            REALTIME_PATH => Some(Api::Realtime),
            LIVE_PATH => Some(Api::Live),
            _ => None,
        }
    }

    /// The key from `Authorization: Bearer <key>`.
    pub fn bearer_key(&self) -> Option<&str> {
        let value = self.authorization.as_deref()?.trim();
        let (scheme, key) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
    }
}

/// How the service ends a connection after an in-band refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// A close frame with this code (reason `<type>.<code>`).
    Close(u16),
    /// No close frame: the TCP connection is dropped this long after the `error`.
    Drop(Duration),
}

/// A refusal after a successful upgrade: the `error` event and how the connection ends.
#[derive(Debug, Clone)]
pub struct InBand {
    pub error: ApiError,
    pub end: End,
}

impl InBand {
    /// The close reason the service uses: `<type>.<code>`.
    pub fn reason(&self) -> String {
        format!("{}.{}", self.error.kind, self.error.code)
    }
}

/// How the mock answers an upgrade.
pub enum Verdict {
    Accept,
    RefuseHttp(ErrorResponse),
    RefuseInBand(InBand),
}

/// Decides the answer; `fault` is the scripted fault for this connection, if any.
pub fn verdict(upgrade: &Upgrade, config: &MockConfig, fault: Option<&Fault>) -> Verdict {
    let Some(api) = upgrade.api() else {
        let message = format!("Invalid URL (GET {})", upgrade.path);
        return Verdict::RefuseHttp(http_error(StatusCode::NOT_FOUND, &message, None));
    };
    if let Some(refusal) = key_refusal(upgrade, config, fault) {
        return refusal;
    }
    match api {
        Api::Realtime => realtime_verdict(upgrade, config),
        Api::Live => live_verdict(upgrade, fault),
    }
}

/// GPT-Live takes no query at all (live-notes §1: "no query"; the model goes in
/// `session.start`). How the service answers one is not documented: the mock refuses the
/// upgrade with 400 naming the parameter, so a client that adds `?model=` learns it at once.
fn live_verdict(upgrade: &Upgrade, fault: Option<&Fault>) -> Verdict {
    if let Some(query) = upgrade.query.as_deref().filter(|q| !q.is_empty()) {
        let name = query.split('&').next().unwrap_or_default();
        let name = name.split('=').next().unwrap_or_default();
        let message = format!(
            "Unknown query parameter: '{name}'. {LIVE_PATH} takes no query parameters; \
             send the model and settings in session.start."
        );
        return Verdict::RefuseHttp(http_error(
            StatusCode::BAD_REQUEST,
            &message,
            Some("unknown_parameter"),
        ));
    }
    if fault == Some(&Fault::CreditExhausted) {
        // Live-notes §1 [X] (unconfirmed): `error` instead of `session.started`, then the
        // socket is dropped about 2 s later without a close frame.
        let message = "Your credit balance is exhausted. Add credits to your account to \
                       continue using the API.";
        return Verdict::RefuseInBand(InBand {
            error: ApiError {
                kind: "insufficient_quota",
                ..ApiError::new("credit_balance_exhausted", message, None)
            },
            end: End::Drop(CREDIT_DROP_AFTER),
        });
    }
    Verdict::Accept
}

/// A missing, wrong or scripted-refused key: the same on both APIs (live-notes §1: Bearer auth).
fn key_refusal(upgrade: &Upgrade, config: &MockConfig, fault: Option<&Fault>) -> Option<Verdict> {
    let key = upgrade.bearer_key();
    let refusal = match fault {
        Some(Fault::RefuseKey(how)) => Some(*how),
        _ if key != Some(config.api_key.as_str()) => Some(config.key_refusal),
        _ => None,
    };
    if let Some(how) = refusal {
        let message = match key {
            Some(key) => format!(
                "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                redact(key)
            ),
            None => "You didn't provide an API key. You need to provide your API key in an \
                     Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                .to_owned(),
        };
        return Some(match how {
            KeyRefusal::Http401 => Verdict::RefuseHttp(http_error(
                StatusCode::UNAUTHORIZED,
                &message,
                Some("invalid_api_key"),
            )),
            KeyRefusal::InBand => in_band("invalid_api_key", message, None, 3000),
        });
    }
    None
}

fn realtime_verdict(upgrade: &Upgrade, config: &MockConfig) -> Verdict {
    if upgrade.beta_header {
        let message = "The Realtime API beta shape has been disabled. Remove the 'OpenAI-Beta: \
                       realtime=v1' header and use the GA interface.";
        return in_band("beta_api_shape_disabled", message.to_owned(), None, 4000);
    }
    let Some(model) = upgrade.model.as_deref() else {
        let message = "Missing required parameter: 'model'.".to_owned();
        return in_band("missing_model", message, Some("model"), 4000);
    };
    if config.live_models.iter().any(|m| m == model) {
        // Live-notes §1 [10]: a Live model on /v1/realtime is refused `invalid_model`; the
        // wording pointing at the Live path is the mock's.
        let message = format!(
            "Invalid model: '{model}'. GPT-Live models are served at {LIVE_PATH}, not by the Realtime API."
        );
        return in_band("invalid_model", message, Some("model"), 4000);
    }
    if !config.models.iter().any(|m| m == model) {
        let message =
            format!("Invalid model: '{model}'. This model is not supported by the Realtime API.");
        return in_band("invalid_model", message, Some("model"), 4000);
    }
    Verdict::Accept
}

fn in_band(code: &str, message: String, param: Option<&str>, close_code: u16) -> Verdict {
    Verdict::RefuseInBand(InBand {
        error: ApiError::new(code, message, param),
        end: End::Close(close_code),
    })
}

/// `sk-abc…xyz` as the service prints keys: the first 3 and last 4 characters.
fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// An HTTP refusal with the REST API's JSON error body.
fn http_error(status: StatusCode, message: &str, code: Option<&str>) -> ErrorResponse {
    let body = json!({"error": {
        "message": message, "type": "invalid_request_error", "param": null, "code": code,
    }});
    let mut response = ErrorResponse::new(Some(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
