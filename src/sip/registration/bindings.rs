//! Asks the registrar which contacts it holds for us: a REGISTER without a Contact (RFC 3261
//! §10.2.3) changes nothing and lists the bindings. A registrar that restarted and lost them
//! answers without ours, which a refresh (that quietly re-creates the binding) never shows.
//!
//! The same request with one Contact and `Expires: 0` removes that binding: rsipstack's own
//! REGISTER cannot, because it rewrites the Contact of an authenticated retry to the address
//! the registrar saw, so an old address (before a move) could never be named.

use rsipstack::dialog::authenticate::handle_client_authenticate;
use rsipstack::dialog::registration::Registration;
use rsipstack::sip::headers::Expires;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::typed::Contact;
use rsipstack::sip::{Method, SipMessage, StatusCode, StatusCodeKind, Uri};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::make_tag;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::{SipAddr, SipConnection};
use std::net::SocketAddr;

pub(super) enum Held {
    /// Held; `seen` is where the registrar saw the query come from (its Via `received` and
    /// `rport`), which tells us when our public address changed.
    Yes {
        seen: Option<SocketAddr>,
    },
    No,
    /// The registrar did not say: no answer, an error status, or a request we could not send.
    Unknown(String),
}

/// Whether the registrar still holds `ours` for the registration's address of record.
pub(super) async fn held(reg: &mut Registration, server: &Uri, user: &str, ours: &Uri) -> Held {
    match query(reg, server, user, None).await {
        Ok((contacts, seen)) => {
            if contacts.iter().any(|c| same_binding(c, ours)) {
                Held::Yes { seen }
            } else {
                Held::No
            }
        }
        Err(why) => Held::Unknown(why),
    }
}

type Answer = (Vec<Uri>, Option<SocketAddr>);

/// Removes the binding of `contact` (RFC 3261 §10.2.2); the error says why it failed.
pub(super) async fn remove(
    reg: &mut Registration,
    server: &Uri,
    user: &str,
    contact: &Contact,
) -> Result<(), String> {
    query(reg, server, user, Some(contact)).await.map(|_| ())
}

async fn query(
    reg: &mut Registration,
    server: &Uri,
    user: &str,
    remove: Option<&Contact>,
) -> Result<Answer, String> {
    let endpoint = reg.endpoint.clone();
    let target = SipAddr::try_from(server).map_err(|e| e.to_string())?;
    let via = match endpoint.transport_layer.lookup(&target, None).await {
        Ok((connection, _)) => endpoint.get_via(Some(connection.get_addr().clone()), None),
        Err(_) => endpoint.get_via(None, None),
    }
    .map_err(|e| e.to_string())?;
    let mut aor = server.clone();
    aor.auth = Some(rsipstack::sip::Auth {
        user: user.to_string(),
        password: None,
    });
    aor.params.clear();
    let to = rsipstack::sip::typed::To {
        display_name: None,
        uri: aor.clone(),
        params: vec![],
    };
    let from = rsipstack::sip::typed::From {
        display_name: None,
        uri: aor,
        params: vec![],
    }
    .with_tag(make_tag());
    reg.last_seq += 1;
    let mut request = endpoint.make_request(
        Method::Register,
        server.clone(),
        via,
        from,
        to,
        reg.last_seq,
        Some(reg.call_id.clone()),
    );
    if let Some(contact) = remove {
        let mut contact = contact.clone();
        contact.params.clear();
        request.headers.unique_push(contact.into());
        request.headers.unique_push(Expires::from(0).into());
    }
    let key = TransactionKey::from_request(&request, TransactionRole::Client)
        .map_err(|e| e.to_string())?;
    let mut tx = Transaction::new_client(key, request, endpoint, None);
    tx.send().await.map_err(|e| e.to_string())?;
    let mut challenged = false;
    while let Some(message) = tx.receive().await {
        let SipMessage::Response(resp) = message else {
            continue;
        };
        match resp.status_code {
            StatusCode::Trying => {}
            StatusCode::Unauthorized | StatusCode::ProxyAuthenticationRequired if !challenged => {
                let Some(credential) = reg.credential.clone() else {
                    return Err("the registrar wants a password".into());
                };
                challenged = true;
                reg.last_seq += 1;
                tx = handle_client_authenticate(reg.last_seq, &tx, resp, &credential)
                    .await
                    .map_err(|e| e.to_string())?;
                tx.send().await.map_err(|e| e.to_string())?;
            }
            ref s if s.kind() == StatusCodeKind::Successful => {
                let contacts = resp.typed_contact_headers().unwrap_or_default();
                let seen = resp
                    .via_header()
                    .ok()
                    .and_then(|via| SipConnection::parse_target_from_via(via).ok())
                    .and_then(|(_, hp)| super::socket_addr(&hp));
                return Ok((contacts.into_iter().map(|c| c.uri).collect(), seen));
            }
            ref s => return Err(format!("the registrar answered {}", super::status_text(s))),
        }
    }
    Err("no answer".into())
}

/// The same binding: user, host and port (the registrar may add or drop URI parameters).
fn same_binding(a: &Uri, b: &Uri) -> bool {
    let user = |u: &Uri| u.auth.as_ref().map(|a| a.user.clone());
    let port = |u: &Uri| u.host_with_port.port.as_ref().map_or(5060, |p| p.value());
    user(a) == user(b)
        && a.host_with_port
            .host
            .to_string()
            .eq_ignore_ascii_case(&b.host_with_port.host.to_string())
        && port(a) == port(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> Uri {
        Uri::try_from(text).unwrap()
    }

    #[test]
    fn a_binding_matches_despite_parameters_and_default_port() {
        assert!(same_binding(
            &uri("sip:alice@127.0.0.1:5060;transport=tcp;ob"),
            &uri("sip:alice@127.0.0.1;transport=tcp")
        ));
        assert!(!same_binding(
            &uri("sip:alice@127.0.0.1:5070"),
            &uri("sip:alice@127.0.0.1:5060")
        ));
        assert!(!same_binding(
            &uri("sip:bob@127.0.0.1:5060"),
            &uri("sip:alice@127.0.0.1:5060")
        ));
    }
}
