//! How a GPT-Live session ended or failed, in plain words, and whether a new session is worth
//! trying: `session.closed` reasons, `error` codes and WebSocket close codes (live-notes §1).
//! Refused credentials and an exhausted balance are never retried.

use crate::bridge::session::{ApiKey, BridgeError};

use super::protocol::LiveApiError;

/// The model to suggest when the service refuses the one asked for.
pub const LIVE_MODEL_HINT: &str = "gpt-live-1";

/// Close codes after which the SDKs open a new session: going away, no status, abnormal
/// drop, server error, restart, try again later, TLS failure.
pub const RETRY_CLOSE_CODES: [u16; 7] = [1001, 1005, 1006, 1011, 1012, 1013, 1015];

/// What to do after something ended a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// We asked for the end: nothing more to do.
    Normal,
    /// Worth a new session (without the old conversation), for this reason.
    Reconnect(String),
    /// Retrying would fail the same way.
    Fatal(BridgeError),
}

/// What an `error` event means for the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Log it; the session goes on.
    Warn(String),
    End(Outcome),
}

/// What the user can do about an account or key refusal.
fn advice(code: &str) -> Option<&'static str> {
    Some(match code {
        "invalid_api_key" => "the API key was refused: check --api-key or OPENAI_API_KEY",
        "insufficient_quota" => {
            "the account has no quota left: check its plan and billing at platform.openai.com"
        }
        "account_deactivated" => {
            "the OpenAI account is deactivated: use a key of another account or ask OpenAI support"
        }
        "billing_hard_limit_reached" => {
            "the account reached its billing hard limit: raise the limit in the billing settings"
        }
        "credit_balance_exhausted" => {
            "the account's credit balance is used up: add credit in the billing settings"
        }
        _ => return None,
    })
}

/// Judges an `error` event; `started` tells whether `session.started` had arrived (an error
/// before it means the start failed).
pub fn on_error(error: &LiveApiError, started: bool, key: &ApiKey) -> OnError {
    let code = error
        .code
        .clone()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| error.kind.clone());
    let said = key.redact(&error.message);
    if let Some(advice) = advice(&code) {
        return OnError::End(Outcome::Fatal(BridgeError::LiveRefused {
            code,
            message: format!("{advice} (the service said: {said})"),
        }));
    }
    match code.as_str() {
        "invalid_model" | "model_not_found" => {
            OnError::End(Outcome::Fatal(BridgeError::LiveRefused {
                code,
                message: format!(
                    "{said} (try --model {LIVE_MODEL_HINT}, or --api realtime for Realtime models)"
                ),
            }))
        }
        "unknown_parameter" | "invalid_value" | "invalid_type" | "missing_required_parameter" => {
            OnError::End(Outcome::Fatal(BridgeError::LiveSettingsRejected {
                code,
                param: error.param.clone().unwrap_or_else(|| "?".into()),
                message: said,
            }))
        }
        _ if started => OnError::Warn(format!("the Live service reported {code}: {said}")),
        // The service's own trouble may pass; anything else would fail the same way again.
        _ if error.kind == "server_error" => OnError::End(Outcome::Reconnect(format!(
            "the Live service failed to start the session ({code}: {said})"
        ))),
        _ => OnError::End(Outcome::Fatal(BridgeError::LiveRefused {
            code,
            message: said,
        })),
    }
}

/// Judges `session.closed`; `asked` tells whether we had sent `session.close`.
pub fn on_closed(reason: Option<&str>, asked: bool) -> Outcome {
    let ended = |reason: &str, message: &str| {
        Outcome::Fatal(BridgeError::LiveEnded {
            reason: reason.into(),
            message: message.into(),
        })
    };
    match reason.unwrap_or_default() {
        _ if asked => Outcome::Normal,
        "close_requested" => Outcome::Reconnect("the service closed the session".into()),
        "expired" => Outcome::Reconnect("the session reached its time limit (expired)".into()),
        "connection_lost" => {
            Outcome::Reconnect("the service lost the connection (connection_lost)".into())
        }
        "content" => ended(
            "content",
            "the service stopped the conversation under its content policy",
        ),
        "remote_hangup" => ended("remote_hangup", "the service hung up the session"),
        "" => Outcome::Reconnect("the service closed the session without a reason".into()),
        other => Outcome::Reconnect(format!("the service closed the session ({other})")),
    }
}

/// Judges the socket's end when no `session.closed` or fatal error explained it: `None`
/// for a connection that dropped without a close frame.
pub fn on_socket_closed(frame: Option<(u16, &str)>, key: &ApiKey) -> Outcome {
    match frame {
        None => Outcome::Reconnect("the connection dropped".into()),
        Some((code, reason)) if RETRY_CLOSE_CODES.contains(&code) => Outcome::Reconnect(
            format!(
                "the server closed the connection ({code} {})",
                key.redact(reason)
            )
            .trim_end()
            .to_owned(),
        ),
        Some((code, reason)) => Outcome::Fatal(BridgeError::LiveEnded {
            reason: format!("close code {code}"),
            message: if reason.is_empty() {
                "the server closed the connection without explaining".into()
            } else {
                key.redact(reason)
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKey {
        ApiKey::new("sk-live-SECRET").unwrap()
    }

    fn error(kind: &str, code: &str, message: &str) -> LiveApiError {
        LiveApiError {
            kind: kind.into(),
            code: Some(code.into()),
            message: message.into(),
            ..LiveApiError::default()
        }
    }

    fn fatal_text(outcome: OnError) -> String {
        match outcome {
            OnError::End(Outcome::Fatal(e)) => e.to_string(),
            other => panic!("not fatal: {other:?}"),
        }
    }

    #[test]
    fn account_refusals_are_fatal_say_what_to_do_and_hide_the_key() {
        for (code, words) in [
            ("invalid_api_key", "--api-key"),
            ("insufficient_quota", "billing"),
            ("account_deactivated", "another account"),
            ("billing_hard_limit_reached", "hard limit"),
            ("credit_balance_exhausted", "add credit"),
        ] {
            for started in [false, true] {
                let e = error("invalid_request_error", code, "Bad key sk-live-SECRET");
                let text = fatal_text(on_error(&e, started, &key()));
                assert!(text.contains(words) && text.contains(code), "{text}");
                assert!(
                    !text.contains("SECRET") && text.contains("<redacted>"),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn a_refused_model_names_the_live_model_and_the_other_api() {
        let e = error(
            "invalid_request_error",
            "invalid_model",
            "Model 'gpt-realtime' is not a Live model.",
        );
        let text = fatal_text(on_error(&e, false, &key()));
        assert!(
            text.contains("try --model gpt-live-1 (or --api realtime")
                || text.contains("try --model gpt-live-1, or --api realtime"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_parameter_names_the_parameter() {
        let e = LiveApiError {
            param: Some("session.turn_detection".into()),
            ..error(
                "invalid_request_error",
                "unknown_parameter",
                "Unknown parameter.",
            )
        };
        let text = fatal_text(on_error(&e, false, &key()));
        assert!(text.contains("session.turn_detection"), "{text}");
    }

    #[test]
    fn other_errors_fail_a_start_but_only_warn_once_started() {
        let e = error("invalid_request_error", "something_new", "Odd.");
        assert!(matches!(
            on_error(&e, false, &key()),
            OnError::End(Outcome::Fatal(_))
        ));
        assert_eq!(
            on_error(&e, true, &key()),
            OnError::Warn("the Live service reported something_new: Odd.".into())
        );
        let busy = error("server_error", "server_error", "Try again.");
        assert!(matches!(
            on_error(&busy, false, &key()),
            OnError::End(Outcome::Reconnect(_))
        ));
    }

    #[test]
    fn closed_reasons_decide_between_reconnecting_and_ending() {
        assert_eq!(on_closed(Some("close_requested"), true), Outcome::Normal);
        assert_eq!(on_closed(Some("expired"), true), Outcome::Normal);
        assert!(
            matches!(on_closed(Some("expired"), false), Outcome::Reconnect(r) if r.contains("time limit"))
        );
        assert!(matches!(
            on_closed(Some("connection_lost"), false),
            Outcome::Reconnect(_)
        ));
        assert!(matches!(on_closed(None, false), Outcome::Reconnect(_)));
        for reason in ["content", "remote_hangup"] {
            match on_closed(Some(reason), false) {
                Outcome::Fatal(e) => assert!(e.to_string().contains(reason), "{e}"),
                other => panic!("{reason}: {other:?}"),
            }
        }
        assert!(
            on_closed(Some("content"), false).eq(&Outcome::Fatal(BridgeError::LiveEnded {
                reason: "content".into(),
                message: "the service stopped the conversation under its content policy".into()
            }))
        );
    }

    #[test]
    fn dropped_sockets_and_retry_codes_reconnect_others_end() {
        let k = key();
        assert!(matches!(on_socket_closed(None, &k), Outcome::Reconnect(_)));
        for code in RETRY_CLOSE_CODES {
            assert!(
                matches!(
                    on_socket_closed(Some((code, "")), &k),
                    Outcome::Reconnect(_)
                ),
                "{code}"
            );
        }
        match on_socket_closed(Some((4000, "bad sk-live-SECRET")), &k) {
            Outcome::Fatal(e) => {
                let text = e.to_string();
                assert!(text.contains("4000") && !text.contains("SECRET"), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }
}
