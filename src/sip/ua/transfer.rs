//! Transfer on the wire (RFC 3515): our REFER and the other side's NOTIFYs about it, their
//! REFER and our NOTIFYs (`message/sipfrag` with the new call's status line, RFC 3420).

use super::place::answer_of;
use super::{DialogError, DialogKey, Responder, SipEvent, UserAgent};
use rsipstack::sip::{Header, Method, Request, StatusCode};

/// The status line of a `message/sipfrag` body: `SIP/2.0 200 OK` → (200, "OK").
pub fn sipfrag_status(body: &[u8]) -> Option<(u16, String)> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().next()?.trim();
    let rest = line.strip_prefix("SIP/2.0 ")?;
    let (code, phrase) = rest.split_once(' ').unwrap_or((rest, ""));
    let code: u16 = code.parse().ok()?;
    (100..700)
        .contains(&code)
        .then(|| (code, phrase.trim().to_string()))
}

/// The URI in a Refer-To value: `<sip:bob@host;transport=udp?Replaces=...>` → the URI, its
/// embedded headers (`?...`) dropped: we place a plain new call.
pub fn refer_target(value: &str) -> Option<String> {
    let value = value.trim();
    let inner = match (value.find('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.split(';').next().unwrap_or(value),
    };
    let uri = inner.split('?').next().unwrap_or(inner).trim();
    (!uri.is_empty()).then(|| uri.to_string())
}

fn header_value(request: &Request, name: &str) -> Option<String> {
    request.headers.iter().find_map(|h| {
        let text = h.to_string();
        let (n, v) = text.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

impl UserAgent {
    /// REFER the other side of `key`'s call to `target`; the final status of the REFER.
    pub async fn refer(&self, key: &DialogKey, target: &str) -> Result<u16, DialogError> {
        let dialog = self.dialog_or_gone(key)?;
        let refer_to = format!("<{target}>");
        let response = answer_of(key, dialog.refer(refer_to.as_str(), None, None).await)?;
        Ok(response.status_code.code())
    }

    /// A NOTIFY about the transfer the other side asked for: the new call's status line as
    /// `message/sipfrag`; `done` ends the implicit subscription (RFC 3515 §2.4.5).
    pub async fn notify_transfer(
        &self,
        key: &DialogKey,
        status: u16,
        phrase: &str,
        done: bool,
    ) -> Result<(), DialogError> {
        let dialog = self.dialog_or_gone(key)?;
        let state = if done {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        let headers = vec![
            Header::Event("refer".into()),
            Header::SubscriptionState(state.into()),
            Header::ContentType("message/sipfrag;version=2.0".into()),
        ];
        let body = format!("SIP/2.0 {status} {phrase}\r\n").into_bytes();
        answer_of(
            key,
            dialog
                .request(Method::Notify, Some(headers), Some(body))
                .await,
        )?;
        Ok(())
    }

    /// Their REFER: the engine decides (202, 603) through the responder.
    pub(super) fn on_refer(
        &self,
        key: DialogKey,
        request: &Request,
        handle: rsipstack::dialog::dialog::TransactionHandle,
    ) {
        match header_value(request, "Refer-To")
            .or_else(|| header_value(request, "r"))
            .as_deref()
            .and_then(refer_target)
        {
            Some(target) => {
                let _ = self.events.send(SipEvent::Refer {
                    key,
                    target,
                    responder: Responder(handle),
                });
            }
            None => {
                self.spawn(async move {
                    let _ = handle.reply(StatusCode::BadRequest).await;
                });
            }
        }
    }

    /// A NOTIFY in a call's dialog: the progress of our REFER when it says so; answered 200.
    pub(super) fn on_notify(
        &self,
        key: DialogKey,
        request: &Request,
        handle: rsipstack::dialog::dialog::TransactionHandle,
    ) {
        // Answered before the engine hears of it: a BYE right behind must not strand it.
        self.spawn(async move {
            let _ = handle.reply(StatusCode::OK).await;
        });
        let is_refer = header_value(request, "Event")
            .or_else(|| header_value(request, "o"))
            .is_some_and(|e| {
                e.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("refer")
            });
        if !is_refer {
            return;
        }
        if let Some((status, phrase)) = sipfrag_status(&request.body) {
            let done = header_value(request, "Subscription-State")
                .is_some_and(|s| s.to_ascii_lowercase().starts_with("terminated"));
            let _ = self.events.send(SipEvent::TransferNotify {
                key,
                status,
                phrase,
                done,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipfrag_gives_the_status_line() {
        assert_eq!(
            sipfrag_status(b"SIP/2.0 100 Trying\r\n"),
            Some((100, "Trying".into()))
        );
        assert_eq!(
            sipfrag_status(b"SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n"),
            Some((486, "Busy Here".into()))
        );
        assert_eq!(sipfrag_status(b"SIP/2.0 200"), Some((200, String::new())));
        assert_eq!(sipfrag_status(b"hello"), None);
        assert_eq!(sipfrag_status(b"SIP/2.0 99 Low"), None);
        assert_eq!(sipfrag_status(&[0xff, 0xfe]), None);
    }

    #[test]
    fn refer_to_gives_a_plain_uri() {
        assert_eq!(
            refer_target("<sip:human@198.51.100.4;transport=udp>"),
            Some("sip:human@198.51.100.4;transport=udp".into())
        );
        assert_eq!(
            refer_target("\"Desk\" <sip:desk@example.com?Replaces=abc%40h>;x=1"),
            Some("sip:desk@example.com".into())
        );
        assert_eq!(
            refer_target("sip:bare@example.com"),
            Some("sip:bare@example.com".into())
        );
        assert_eq!(refer_target("<>"), None);
    }
}
