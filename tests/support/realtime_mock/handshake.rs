//! The WebSocket upgrade: what the client asked for, and whether the mock refuses it over HTTP
//! (wrong path; a bad key when scripted so) or in-band (realtime-notes §1: the upgrade
//! succeeds, one `error` event follows, then a close whose reason is `<type>.<code>`).

use serde_json::json;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request};
use tokio_tungstenite::tungstenite::http::{header, StatusCode};

use super::schema::ApiError;
use super::{Fault, KeyRefusal, MockConfig};

/// The parts of the upgrade request the mock checks and records.
#[derive(Debug, Clone, Default)]
pub struct Upgrade {
    pub uri: String,
    pub path: String,
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
            model: model.filter(|m| !m.is_empty()),
            authorization: text(header::AUTHORIZATION.as_str()),
            beta_header: request.headers().contains_key("openai-beta"),
        }
    }

    /// The key from `Authorization: Bearer <key>`.
    pub fn bearer_key(&self) -> Option<&str> {
        let value = self.authorization.as_deref()?.trim();
        let (scheme, key) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
    }
}

/// A refusal after a successful upgrade: the `error` event and the close code.
#[derive(Debug, Clone)]
pub struct InBand {
    pub error: ApiError,
    pub close_code: u16,
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
    if upgrade.path != "/v1/realtime" {
        let message = format!("Invalid URL (GET {})", upgrade.path);
        return Verdict::RefuseHttp(http_error(StatusCode::NOT_FOUND, &message, None));
    }
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
        return match how {
            KeyRefusal::Http401 => Verdict::RefuseHttp(http_error(
                StatusCode::UNAUTHORIZED,
                &message,
                Some("invalid_api_key"),
            )),
            KeyRefusal::InBand => in_band("invalid_api_key", message, None, 3000),
        };
    }
    if upgrade.beta_header {
        let message = "The Realtime API beta shape has been disabled. Remove the 'OpenAI-Beta: \
                       realtime=v1' header and use the GA interface.";
        return in_band("beta_api_shape_disabled", message.to_owned(), None, 4000);
    }
    let Some(model) = upgrade.model.as_deref() else {
        let message = "Missing required parameter: 'model'.".to_owned();
        return in_band("missing_model", message, Some("model"), 4000);
    };
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
        close_code,
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
