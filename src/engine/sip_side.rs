//! The SIP operations the executor performs for the call table, behind a small trait: the
//! user agent (rsipstack) in production, a recording fake in tests. Operations that wait for
//! the network return futures the executor owns as tasks; the others only queue a message.

use super::core::{Input, Invite, RequestId};
use crate::sip::trace::TraceLine;
use crate::sip::ua::{DialogKey, Outbound, Responder, SipEvent, UserAgent};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What a SIP event means to the executor.
pub enum SipIn {
    Input(Input),
    /// A message for `--verbose` and the trace view.
    Trace(TraceLine),
    /// A warning for the log that concerns no call.
    Warning(String),
}

pub trait SipSide: Send + Sync + 'static {
    /// What the SIP side reports (rsipstack's `SipEvent` in production).
    type Event: Send + 'static;
    /// An event as the call table's input; in-dialog requests are kept until answered.
    fn translate(&self, event: Self::Event) -> SipIn;
    /// 180 Ringing.
    fn ring(&self, key: &DialogKey);
    fn reject(&self, key: &DialogKey, status: u16);
    /// A rejection with the reason in words (RFC 3326 Reason header); by default the bare one.
    fn reject_because(&self, key: &DialogKey, status: u16, why: &str) {
        let _ = why;
        self.reject(key, status);
    }
    /// 200 OK with our SDP.
    fn accept(&self, key: &DialogKey, sdp: String) -> Result<(), String>;
    /// BYE, resolved when it is answered (bounded by the transaction timers).
    fn bye(&self, key: &DialogKey) -> BoxFuture<'static, Result<(), String>>;
    /// The INVITE of a call we place, and its Call-ID; its answers come back as events.
    fn place(&self, key: &DialogKey, target: &str, sdp: String) -> Result<String, String>;
    /// A re-INVITE with `sdp`, resolved with the answer's status and SDP.
    fn reinvite(
        &self,
        key: &DialogKey,
        sdp: String,
    ) -> BoxFuture<'static, Result<(u16, Option<String>), String>>;
    /// REFER the other side of a call to `target`: the REFER's final status.
    fn refer(&self, key: &DialogKey, target: &str) -> BoxFuture<'static, Result<u16, String>>;
    /// NOTIFY the progress of the transfer the other side asked for.
    fn notify_transfer(
        &self,
        key: &DialogKey,
        status: u16,
        phrase: &str,
        done: bool,
    ) -> BoxFuture<'static, Result<(), String>>;
    /// CANCEL a call we placed, resolved when the CANCEL is answered.
    fn cancel(&self, key: &DialogKey) -> BoxFuture<'static, Result<(), String>>;
    /// The answer to an in-dialog request the SIP side reported earlier.
    fn respond(
        &self,
        request: RequestId,
        status: u16,
        sdp: Option<String>,
    ) -> BoxFuture<'static, ()>;
}

/// rsipstack's user agent, with the in-dialog requests waiting for their answer.
pub struct UaSide {
    ua: UserAgent,
    /// What every call we place carries (From, proxy, headers, credentials).
    outbound: Outbound,
    waiting: Mutex<HashMap<RequestId, Responder>>,
    next_request: std::sync::atomic::AtomicU64,
}

impl UaSide {
    pub fn new(ua: UserAgent, outbound: Outbound) -> Arc<UaSide> {
        Arc::new(UaSide {
            ua,
            outbound,
            waiting: Mutex::default(),
            next_request: Default::default(),
        })
    }

    /// Keeps a request's responder until the table answers it.
    pub fn hold(&self, responder: Responder) -> RequestId {
        let id = RequestId(
            self.next_request
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        );
        self.waiting
            .lock()
            .expect("responders lock")
            .insert(id, responder);
        id
    }
}

impl SipSide for Arc<UaSide> {
    type Event = SipEvent;

    fn translate(&self, event: SipEvent) -> SipIn {
        SipIn::Input(match event {
            SipEvent::Invite {
                key,
                call_id,
                from,
                display_name,
                to,
                offer,
            } => Input::Invite(Invite {
                key,
                sip_call_id: call_id,
                from,
                display_name,
                to,
                offer,
            }),
            SipEvent::Confirmed { key, ack_sdp } => Input::Confirmed { key, ack_sdp },
            SipEvent::Reoffer {
                key,
                offer,
                update,
                responder,
            } => Input::Reoffer {
                key,
                offer,
                update,
                request: self.hold(responder),
            },
            SipEvent::Dtmf { key, digit } => Input::SipDtmf { key, digit },
            SipEvent::Terminated { key, why } => Input::Terminated { key, why },
            SipEvent::Progress { key, progress } => Input::Progress { key, progress },
            SipEvent::Answered { key, sdp } => Input::Answered { key, sdp },
            SipEvent::NotAnswered { key, refusal } => Input::NotAnswered { key, refusal },
            SipEvent::Refer {
                key,
                target,
                responder,
            } => Input::Refer {
                key,
                target,
                request: self.hold(responder),
            },
            SipEvent::TransferNotify {
                key,
                status,
                phrase,
                done,
            } => Input::TransferNotify {
                key,
                status,
                phrase,
                done,
            },
            SipEvent::Trace(line) => return SipIn::Trace(line),
            SipEvent::Warning(text) => return SipIn::Warning(text),
        })
    }

    fn ring(&self, key: &DialogKey) {
        self.ua.ring(key);
    }

    fn reject(&self, key: &DialogKey, status: u16) {
        self.ua.reject(key, status);
    }

    fn reject_because(&self, key: &DialogKey, status: u16, why: &str) {
        self.ua.reject_because(key, status, why);
    }

    fn accept(&self, key: &DialogKey, sdp: String) -> Result<(), String> {
        self.ua.accept(key, sdp).map_err(|e| e.to_string())
    }

    fn bye(&self, key: &DialogKey) -> BoxFuture<'static, Result<(), String>> {
        let ua = self.ua.clone();
        let key = key.clone();
        Box::pin(async move { ua.bye(&key).await.map_err(|e| e.to_string()) })
    }

    fn place(&self, key: &DialogKey, target: &str, sdp: String) -> Result<String, String> {
        self.ua
            .place(key, &self.outbound, target, sdp)
            .map_err(|e| e.to_string())
    }

    fn reinvite(
        &self,
        key: &DialogKey,
        sdp: String,
    ) -> BoxFuture<'static, Result<(u16, Option<String>), String>> {
        let ua = self.ua.clone();
        let key = key.clone();
        Box::pin(async move { ua.reinvite(&key, sdp).await.map_err(|e| e.to_string()) })
    }

    fn refer(&self, key: &DialogKey, target: &str) -> BoxFuture<'static, Result<u16, String>> {
        let ua = self.ua.clone();
        let key = key.clone();
        let target = target.to_string();
        Box::pin(async move { ua.refer(&key, &target).await.map_err(|e| e.to_string()) })
    }

    fn notify_transfer(
        &self,
        key: &DialogKey,
        status: u16,
        phrase: &str,
        done: bool,
    ) -> BoxFuture<'static, Result<(), String>> {
        let ua = self.ua.clone();
        let key = key.clone();
        let phrase = phrase.to_string();
        Box::pin(async move {
            ua.notify_transfer(&key, status, &phrase, done)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn cancel(&self, key: &DialogKey) -> BoxFuture<'static, Result<(), String>> {
        let ua = self.ua.clone();
        let key = key.clone();
        Box::pin(async move { ua.cancel(&key).await.map_err(|e| e.to_string()) })
    }

    fn respond(
        &self,
        request: RequestId,
        status: u16,
        sdp: Option<String>,
    ) -> BoxFuture<'static, ()> {
        let responder = self
            .waiting
            .lock()
            .expect("responders lock")
            .remove(&request);
        Box::pin(async move {
            if let Some(responder) = responder {
                responder.respond(status, sdp).await;
            }
        })
    }
}
