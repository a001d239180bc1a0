//! Calls we place: the INVITE (digest answers to 401 and 407, Route for an outbound proxy,
//! extra headers, a display name on From), its provisional and final answers as `SipEvent`s,
//! CANCEL, and the in-dialog requests of the call once it is answered.
//!
//! rsipstack drives the INVITE transaction (`do_invite_async`): it ACKs every 2xx, BYEs a
//! later 2xx from another fork (RFC 3261 §13.2.2.4) and a 2xx that crosses our CANCEL. Each
//! placed call gets its own dialog-state channel, so its states reach the engine under the
//! key the engine chose, whatever dialog id rsipstack gives it as the answers come in.

use super::{DialogError, DialogKey, SipEvent, Termination, UserAgent, ALLOW};
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Response, StatusCodeKind};

/// What every call we place carries, from the configuration.
#[derive(Clone, Debug, Default)]
pub struct Outbound {
    /// The From URI (the account's address, or `--from`).
    pub from: String,
    pub display_name: Option<String>,
    /// `--outbound-proxy`: sent as a loose Route, and where the INVITE goes.
    pub proxy: Option<String>,
    /// `--header "Name: value"`, in order.
    pub headers: Vec<(String, String)>,
    /// The account's user name and password, for 401 and 407 challenges.
    pub credential: Option<(String, String)>,
    /// Over TCP or TLS with a registration and no proxy: the registrar's URI (with its
    /// `;transport=`), whose flow carries our INVITEs. Over TLS it is the only way out: we
    /// dial no other TLS connection.
    pub registrar_flow: Option<String>,
}

/// A provisional answer: 180, 183, ... (not 100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub status: u16,
    pub phrase: String,
    pub sdp: Option<String>,
}

/// How an INVITE of ours ended without a session: the final answer, or none at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 408 when nothing answered (timer B) or the request could not be sent.
    pub status: u16,
    pub phrase: String,
    /// A 3xx's first Contact: where the call may go instead.
    pub redirect: Option<String>,
}

impl UserAgent {
    /// Sends the INVITE for `key` to `target` with `sdp` as the offer, and says its Call-ID.
    /// Its answers come back as `SipEvent::Progress`, then `Answered` or `NotAnswered`.
    pub fn place(
        &self,
        key: &DialogKey,
        outbound: &Outbound,
        target: &str,
        sdp: String,
    ) -> Result<String, DialogError> {
        let invalid = |what: &str, value: &str, e: rsipstack::sip::Error| DialogError::Place {
            key: key.clone(),
            reason: format!("{what} '{value}' is not a usable SIP URI: {e}"),
        };
        let callee =
            rsipstack::sip::Uri::try_from(target).map_err(|e| invalid("the target", target, e))?;
        let caller = rsipstack::sip::Uri::try_from(outbound.from.as_str())
            .map_err(|e| invalid("the From", &outbound.from, e))?;
        let contact = rsipstack::sip::Uri::try_from(self.contact_uri().as_str())
            .map_err(|e| invalid("our Contact", &self.contact_uri(), e))?;
        let route_set = match &outbound.proxy {
            Some(proxy) => vec![
                rsipstack::sip::typed::Route::parse(&format!("<{proxy};lr>"))
                    .map_err(|e| invalid("the outbound proxy", proxy, e))?,
            ],
            None => Vec::new(),
        };
        let mut headers: Vec<Header> = outbound
            .headers
            .iter()
            .map(|(name, value)| Header::Other(name.clone(), value.clone()))
            .collect();
        headers.push(Header::Allow(ALLOW.into()));
        let credential = outbound
            .credential
            .as_ref()
            .map(|(username, password)| Credential {
                username: username.clone(),
                password: password.clone(),
                realm: None,
                auth_username: None,
            });
        let destination = match (&outbound.registrar_flow, &outbound.proxy) {
            (Some(registrar), None) => {
                let uri = rsipstack::sip::Uri::try_from(registrar.as_str())
                    .map_err(|e| invalid("the registrar", registrar, e))?;
                rsipstack::transport::SipAddr::try_from(&uri).ok()
            }
            _ => None,
        };
        let call_id = format!(
            "{:016x}{:016x}@{}",
            rand::random::<u64>(),
            rand::random::<u64>(),
            self.local.ip()
        );
        let option = InviteOption {
            call_id: Some(call_id.clone()),
            caller_display_name: outbound.display_name.clone(),
            caller,
            callee,
            content_type: Some("application/sdp".into()),
            offer: Some(sdp.into_bytes()),
            contact,
            credential,
            headers: Some(headers),
            route_set,
            destination,
            ..Default::default()
        };
        let (state_tx, state_rx) = self.dialogs.new_dialog_state_channel();
        let (dialog, outcome) = self
            .dialogs
            .do_invite_async(option, state_tx)
            .map_err(|e| DialogError::Place {
                key: key.clone(),
                reason: e.to_string(),
            })?;
        self.calls
            .lock()
            .expect("calls lock")
            .insert(key.clone(), dialog.clone());
        // The INVITE's outcome reaches the engine through the call's follower, after every
        // provisional answer it has queued: a 180 and a 200 that come together are reported
        // in that order, not in the order two tasks happen to run.
        let (outcome_tx, outcome_rx) = tokio::sync::oneshot::channel();
        self.spawn(
            self.clone()
                .follow_placed(key.clone(), state_rx, outcome_rx),
        );
        let ua = self.clone();
        let key = key.clone();
        self.spawn(async move {
            let event = match outcome.await {
                Ok(Ok((id, Some(response))))
                    if response.status_code.kind() == StatusCodeKind::Successful =>
                {
                    // In-dialog requests find the dialog under its confirmed id.
                    ua.alias(&id.to_string(), &key);
                    SipEvent::Answered {
                        sdp: body_text(&response),
                        key: key.clone(),
                    }
                }
                Ok(Ok((_, Some(response)))) => SipEvent::NotAnswered {
                    refusal: refusal(&response),
                    key: key.clone(),
                },
                Ok(Ok((_, None))) => SipEvent::NotAnswered {
                    refusal: Refusal {
                        status: 408,
                        phrase: "Request Timeout".into(),
                        redirect: None,
                    },
                    key: key.clone(),
                },
                Ok(Err(e)) => SipEvent::NotAnswered {
                    refusal: Refusal {
                        status: 408,
                        phrase: format!("no answer ({e})"),
                        redirect: None,
                    },
                    key: key.clone(),
                },
                Err(e) => SipEvent::NotAnswered {
                    refusal: Refusal {
                        status: 500,
                        phrase: format!("the INVITE task failed: {e}"),
                        redirect: None,
                    },
                    key: key.clone(),
                },
            };
            if matches!(event, SipEvent::NotAnswered { .. }) {
                ua.forget(&key);
            }
            let _ = outcome_tx.send(event);
        });
        Ok(call_id)
    }

    /// CANCEL for a call we placed that has no final answer yet (RFC 3261 §9). rsipstack
    /// holds it until a provisional answer has come, and BYEs a 2xx that crosses it.
    pub async fn cancel(&self, key: &DialogKey) -> Result<(), DialogError> {
        let dialog = self.dialog_or_gone(key)?;
        dialog.cancel().await.map_err(|source| DialogError::Bye {
            key: key.clone(),
            source: Box::new(source),
        })
    }

    /// A re-INVITE on `key`'s dialog (either direction's call) with `sdp` as the offer; the
    /// answer's status and SDP. rsipstack ACKs a 2xx.
    pub async fn reinvite(
        &self,
        key: &DialogKey,
        sdp: String,
    ) -> Result<(u16, Option<String>), DialogError> {
        let dialog = self.dialog_or_gone(key)?;
        let headers = vec![
            Header::ContentType("application/sdp".into()),
            Header::Allow(ALLOW.into()),
        ];
        let response = answer_of(
            key,
            dialog.reinvite(Some(headers), Some(sdp.into_bytes())).await,
        )?;
        Ok((response.status_code.code(), body_text(&response)))
    }

    /// The states of one placed call: its provisional answers, then, once answered, what
    /// happens inside its dialog.
    async fn follow_placed(
        self,
        key: DialogKey,
        mut states: rsipstack::dialog::dialog::DialogStateReceiver,
        mut outcome: tokio::sync::oneshot::Receiver<SipEvent>,
    ) {
        let events = self.events.clone();
        let mut answered = false;
        let mut decided = false;
        loop {
            let state = tokio::select! {
                // States first: what is queued happened before the outcome.
                biased;
                state = states.recv() => match state {
                    Some(state) => state,
                    // The dialog is gone; its outcome may still be on its way.
                    None => {
                        if !decided {
                            if let Ok(event) = outcome.await {
                                let _ = events.send(event);
                            }
                        }
                        break;
                    }
                },
                event = &mut outcome, if !decided => {
                    decided = true;
                    let Ok(event) = event else { break };
                    answered = matches!(event, SipEvent::Answered { .. });
                    let _ = events.send(event);
                    if answered {
                        continue;
                    }
                    break;
                }
            };
            match state {
                DialogState::Early(_, response) => {
                    let _ = events.send(SipEvent::Progress {
                        key: key.clone(),
                        progress: Progress {
                            status: response.status_code.code(),
                            phrase: phrase(&response),
                            sdp: body_text(&response),
                        },
                    });
                }
                DialogState::Terminated(_, reason) => {
                    // Before the answer, the INVITE's own outcome says how it ended.
                    if !answered {
                        continue;
                    }
                    let why = match reason {
                        TerminatedReason::UacBye => Termination::LocalBye,
                        TerminatedReason::UasBye => Termination::RemoteBye,
                        TerminatedReason::Timeout => Termination::Timeout,
                        other => Termination::Other(format!("{other:?}")),
                    };
                    self.forget(&key);
                    let _ = events.send(SipEvent::Terminated {
                        key: key.clone(),
                        why,
                    });
                    break;
                }
                DialogState::Calling(_)
                | DialogState::Trying(_)
                | DialogState::Confirmed(_, _)
                | DialogState::WaitAck(_, _) => {}
                other => self.in_dialog_state(other, key.clone()),
            }
        }
    }
}

/// The answer to an in-dialog request of ours; rsipstack sends none before the dialog is
/// confirmed.
pub(super) fn answer_of(
    key: &DialogKey,
    result: rsipstack::Result<Option<Response>>,
) -> Result<Response, DialogError> {
    result
        .map_err(|e| DialogError::Place {
            key: key.clone(),
            reason: e.to_string(),
        })?
        .ok_or_else(|| DialogError::Place {
            key: key.clone(),
            reason: "the call is not established".into(),
        })
}

/// The first Contact of a 3xx, when it has one.
fn refusal(response: &Response) -> Refusal {
    let status = response.status_code.code();
    let redirect = (response.status_code.kind() == StatusCodeKind::Redirection)
        .then(|| {
            response
                .typed_contact_headers()
                .ok()
                .and_then(|c| c.into_iter().next())
                .map(|c| c.uri.to_string())
        })
        .flatten();
    Refusal {
        status,
        phrase: phrase(response),
        redirect,
    }
}

/// The reason phrase as the peer wrote it.
fn phrase(response: &Response) -> String {
    response
        .wire_reason
        .clone()
        .unwrap_or_else(|| response.status_code.text().to_string())
}

fn body_text(response: &Response) -> Option<String> {
    (!response.body.is_empty()).then(|| String::from_utf8_lossy(&response.body).into_owned())
}
