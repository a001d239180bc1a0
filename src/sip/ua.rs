//! The SIP user agent: rsipstack's endpoint, transports and dialog layer wired for one account.
//!
//! This is the only place (with `registration.rs` and `trace.rs`) that touches rsipstack types.
//! It turns SIP traffic into `SipEvent`s keyed by an opaque `DialogKey`, and offers the few
//! operations the engine needs (ring, accept, reject, bye). SDP stays text here: the engine
//! owns offer/answer and media.

use crate::sip::account::{Account, Transport};
use crate::sip::tcp::{self, TcpLimits, TcpTransport};
use crate::sip::tls::TlsTransport;
use crate::sip::trace::{ByeAnswers, TraceInspector, TraceLine, TraceWanted};
use order::{Admit, Order};
use rsipstack::dialog::dialog::{DialogState, TerminatedReason, TransactionHandle};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::TransportLayer;
use rsipstack::EndpointBuilder;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long [`UserAgent::stop`] waits for its tasks once they are cancelled. Each ends at its
/// next await, so this only bounds one that is stuck.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Identifies one INVITE dialog across the SIP layer and the engine.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogKey(String);

impl DialogKey {
    /// A key that names no rsipstack dialog, for in-process tests of the layers above.
    pub fn new(id: impl Into<String>) -> DialogKey {
        DialogKey(id.into())
    }
}

/// Why the SIP layer ended a dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Termination {
    RemoteBye,
    LocalBye,
    Cancelled,
    Rejected(u16),
    /// No ACK arrived for our 200 OK, or a transaction timed out.
    Timeout,
    Other(String),
}

/// What the SIP layer reports to the engine.
#[derive(Debug)]
pub enum SipEvent {
    Invite {
        key: DialogKey,
        /// The Call-ID header (ties SIP trace lines to the call).
        call_id: String,
        from: String,
        display_name: Option<String>,
        to: String,
        /// The SDP offer, when the INVITE had one (None = late offer).
        offer: Option<String>,
    },
    /// ACK received for our 200 OK; carries the SDP answer for late-offer calls.
    Confirmed {
        key: DialogKey,
        ack_sdp: Option<String>,
    },
    /// re-INVITE or UPDATE inside a dialog; answer through `responder`.
    Reoffer {
        key: DialogKey,
        offer: Option<String>,
        /// An UPDATE (RFC 3311), not a re-INVITE: without SDP it only refreshes the session.
        update: bool,
        responder: Responder,
    },
    /// A DTMF digit sent in a SIP INFO (application/dtmf-relay or application/dtmf).
    Dtmf {
        key: DialogKey,
        digit: char,
    },
    Terminated {
        key: DialogKey,
        why: Termination,
    },
    /// A provisional answer to a call we placed.
    Progress {
        key: DialogKey,
        progress: Progress,
    },
    /// A call we placed was answered (2xx, ACKed); its SDP answer.
    Answered {
        key: DialogKey,
        sdp: Option<String>,
    },
    /// The other side asks us to call `target` (REFER); answer through `responder`.
    Refer {
        key: DialogKey,
        target: String,
        responder: Responder,
    },
    /// Progress of our REFER: the new call's status, from a NOTIFY's sipfrag.
    TransferNotify {
        key: DialogKey,
        status: u16,
        phrase: String,
        /// The subscription ended: this is the outcome.
        done: bool,
    },
    /// A call we placed ended without a session.
    NotAnswered {
        key: DialogKey,
        refusal: Refusal,
    },
    Trace(TraceLine),
    /// Something the user should know that is no call's business (a refused TCP connection).
    Warning(String),
}

/// The methods we handle, for `Allow` in our answers (RFC 3261 §20.5: required in a 405, and
/// how peers such as pjsua learn that UPDATE and INFO work).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, NOTIFY";

/// Answers one in-dialog request (re-INVITE / UPDATE) on the engine's behalf.
#[derive(Debug)]
pub struct Responder(TransactionHandle);

impl Responder {
    pub async fn respond(self, status: u16, sdp: Option<String>) {
        let mut headers = vec![Header::Allow(ALLOW.into())];
        if sdp.is_some() {
            headers.push(content_type_sdp());
        }
        let headers = Some(headers);
        let _ = self
            .0
            .respond(
                StatusCode::from(status),
                headers,
                sdp.map(String::into_bytes),
            )
            .await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UaError {
    #[error("cannot use local address {addr} for SIP over {transport}: {source}")]
    Bind {
        addr: SocketAddr,
        transport: &'static str,
        source: rsipstack::Error,
    },
    #[error("cannot find which local address reaches the registrar {registrar}: {reason}")]
    Route { registrar: String, reason: String },
    #[error("SIP endpoint has no usable address: {0}")]
    Endpoint(String),
    #[error("{left} SIP task(s) still running {} s after shutdown", waited.as_secs())]
    StopTimeout { left: usize, waited: Duration },
}

/// Why an operation on one call failed.
#[derive(Debug, thiserror::Error)]
pub enum DialogError {
    /// No dialog under this key: it ended, or the engine forgot it.
    #[error("the call is gone")]
    Gone { key: DialogKey },
    /// The 200 OK could not be built or sent.
    #[error("{source}")]
    Accept {
        key: DialogKey,
        // Boxed: rsipstack's error is large, and results travel on every call path.
        #[source]
        source: Box<rsipstack::Error>,
    },
    /// The BYE could not be sent, or its transaction failed.
    #[error("{source}")]
    Bye {
        key: DialogKey,
        #[source]
        source: Box<rsipstack::Error>,
    },
    /// The INVITE could not be built or sent.
    #[error("{reason}")]
    Place { key: DialogKey, reason: String },
    /// The other side answered our BYE with an error status (the dialog is over anyway).
    #[error("the other side refused our BYE with {status}")]
    ByeRefused { key: DialogKey, status: String },
}

/// The running user agent. Cheap to clone; all clones drive the same endpoint, and every
/// task it spawns (the endpoint, request dispatch, dialog states, one per transaction, the
/// registration) belongs to its tracker, so [`UserAgent::stop`] ends and awaits them all.
#[derive(Clone)]
pub struct UserAgent {
    endpoint: EndpointInnerRef,
    dialogs: Arc<DialogLayer>,
    calls: Arc<Mutex<HashMap<DialogKey, InviteDialog>>>,
    /// What each dialog has taken so far, for requests that arrive together.
    order: Arc<Mutex<HashMap<DialogKey, Order>>>,
    /// Cancelled when a call's dialog ends or the remote side's BYE arrives: a BYE of ours
    /// still waiting for its answer then stops (crossing BYEs).
    ended: Arc<Mutex<HashMap<DialogKey, CancellationToken>>>,
    bye_answers: ByeAnswers,
    /// Whether sent and received messages become `SipEvent::Trace` (on unless turned off).
    trace: TraceWanted,
    /// Confirmed dialog ids of the calls we placed, to the key the engine knows them by.
    aliases: Arc<Mutex<HashMap<String, DialogKey>>>,
    events: mpsc::UnboundedSender<SipEvent>,
    /// Local SIP address as others should reach it.
    pub local: SocketAddr,
    pub transport: Transport,
    pub username: String,
    /// Our TCP flows, when the transport is TCP.
    tcp: Option<Arc<TcpTransport>>,
    /// Our TLS client side, when the transport is TLS.
    tls: Option<Arc<TlsTransport>>,
    /// Where the registrar sees us, when that is not `local` (we are behind NAT).
    public: Arc<Mutex<Option<SocketAddr>>>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl UserAgent {
    /// Binds the transport, starts the endpoint and the dispatch tasks.
    pub async fn start(
        account: &Account,
        transport: Transport,
        sip_port: u16,
        bind_ip: IpAddr,
        tcp_limits: TcpLimits,
        events: mpsc::UnboundedSender<SipEvent>,
        cancel: CancellationToken,
    ) -> Result<UserAgent, UaError> {
        let bye_answers = ByeAnswers::default();
        let trace = TraceWanted::new(true.into());
        let transport_layer = TransportLayer::new(cancel.child_token());
        let wanted = SocketAddr::new(bind_ip, sip_port);
        let mut listener = None;
        let mut tls_reserved = None;
        match transport {
            Transport::Udp => {
                // Our socket screens every datagram before rsipstack parses it (udp.rs).
                let bind = |source| UaError::Bind {
                    addr: wanted,
                    transport: "UDP",
                    source,
                };
                let socket = crate::sip::udp::ScreeningSocket::bind(wanted, events.clone())
                    .await
                    .map_err(bind)?;
                let conn =
                    UdpConnection::from_socket(Arc::new(socket), None, Some(cancel.child_token()))
                        .await
                        .map_err(bind)?;
                transport_layer.add_transport(conn.into());
            }
            Transport::Tcp => {
                let bind_error = |e: std::io::Error| UaError::Bind {
                    addr: wanted,
                    transport: "TCP",
                    source: e.into(),
                };
                let socket = tcp::listen(wanted).map_err(bind_error)?;
                let local = socket.local_addr().map_err(bind_error)?;
                let placeholder = TcpTransport::placeholder(local)
                    .await
                    .ok_or_else(|| UaError::Endpoint("cannot make the TCP listener".into()))?;
                transport_layer.add_transport(placeholder);
                listener = Some(socket);
            }
            Transport::Tls => {
                // No TLS server: the address is only reserved, for the registrar's flow to
                // come from; rsipstack takes it as ours for the Via and Contact.
                let (socket, config) =
                    TlsTransport::reserve(wanted, &account.trust).map_err(|e| UaError::Bind {
                        addr: wanted,
                        transport: "TLS",
                        source: rsipstack::Error::Error(e),
                    })?;
                let local = socket.local_addr().map_err(|e| UaError::Bind {
                    addr: wanted,
                    transport: "TLS",
                    source: e.into(),
                })?;
                let placeholder = TcpTransport::placeholder_for(local, Transport::Tls)
                    .await
                    .ok_or_else(|| UaError::Endpoint("cannot make the TLS placeholder".into()))?;
                transport_layer.add_transport(placeholder);
                tls_reserved = Some((socket, config));
            }
        }

        let endpoint = EndpointBuilder::new()
            .with_user_agent(concat!("sipterm/", env!("CARGO_PKG_VERSION")))
            .with_transport_layer(transport_layer)
            .with_cancel_token(cancel.clone())
            .with_inspector(Box::new(TraceInspector::new(
                events.clone(),
                bye_answers.clone(),
                trace.clone(),
            )))
            .build();
        let local = endpoint
            .get_addrs()
            .first()
            .and_then(|a| a.get_socketaddr().ok())
            .ok_or_else(|| UaError::Endpoint("no listening address".into()))?;
        let incoming = endpoint
            .incoming_transactions()
            .map_err(|e| UaError::Endpoint(e.to_string()))?;
        let inner = endpoint.inner.clone();
        let dialogs = Arc::new(DialogLayer::new(inner.clone()));
        let tasks = TaskTracker::new();
        let tcp = listener.is_some().then(|| {
            TcpTransport::new(
                local,
                inner.clone(),
                tcp_limits,
                events.clone(),
                cancel.clone(),
                tasks.clone(),
            )
        });
        let tls = match tls_reserved {
            Some((socket, config)) => Some(
                TlsTransport::new(
                    socket,
                    config,
                    &account.trust,
                    inner.clone(),
                    cancel.clone(),
                )
                .map_err(|e| UaError::Endpoint(e.to_string()))?,
            ),
            None => None,
        };
        let ua = UserAgent {
            endpoint: inner.clone(),
            dialogs,
            calls: Arc::default(),
            order: Arc::default(),
            ended: Arc::default(),
            bye_answers,
            trace,
            aliases: Arc::default(),
            events: events.clone(),
            local,
            transport,
            username: account.username.clone(),
            tcp: tcp.clone(),
            tls,
            public: Arc::default(),
            cancel: cancel.clone(),
            tasks,
        };
        if let (Some(tcp), Some(listener)) = (tcp, listener) {
            ua.spawn(tcp.accept(listener));
        }
        ua.spawn(async move {
            if let Err(e) = inner.serve().await {
                tracing::warn!(error = %e, "SIP endpoint stopped");
            }
        });
        let (state_tx, state_rx) = ua.dialogs.new_dialog_state_channel();
        ua.spawn(ua.clone().dispatch(incoming, state_tx));
        ua.spawn(ua.clone().follow_dialogs(state_rx));
        Ok(ua)
    }

    /// Runs `work` as one of this user agent's tasks: cancelling the user agent drops it at
    /// its next await, and [`UserAgent::stop`] waits for it.
    pub(crate) fn spawn<F>(&self, work: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            let _ = cancel.run_until_cancelled_owned(work).await;
        })
    }

    /// Whether every message sent and received is reported as `SipEvent::Trace`: turn it off
    /// when nothing reads the trace, so no message is formatted on the way in and out.
    pub fn trace_messages(&self, on: bool) {
        self.trace.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Our TCP flows (`None` over UDP and TLS).
    pub fn tcp(&self) -> Option<&Arc<TcpTransport>> {
        self.tcp.as_ref()
    }

    /// Our TLS client side (`None` over UDP and TCP).
    pub fn tls(&self) -> Option<&Arc<TlsTransport>> {
        self.tls.as_ref()
    }

    /// Where the registrar sees us when that differs from our own address (NAT), learned
    /// from the `received`/`rport` of its answer.
    pub fn public(&self) -> Option<SocketAddr> {
        *self.public.lock().expect("public lock")
    }

    pub(crate) fn set_public(&self, addr: SocketAddr) {
        *self.public.lock().expect("public lock") = Some(addr);
    }

    /// Our Contact URI: where the registrar and callers reach us.
    pub fn contact_uri(&self) -> String {
        let reachable = self.public().unwrap_or(self.local);
        let mut uri = format!("sip:{}@{}", self.username, host_port(reachable));
        // Always sip: with ;transport=tls, also for a sips: account (RFC 5630 would have a
        // sips: Contact): rsipstack rewrites the Contact of the REGISTER that answers a
        // challenge with a sip: scheme, keeping only the parameters.
        match self.transport {
            Transport::Tcp => uri.push_str(";transport=tcp"),
            Transport::Tls => uri.push_str(";transport=tls"),
            Transport::Udp => {}
        }
        uri
    }

    pub fn ring(&self, key: &DialogKey) {
        if let Some(d) = self.dialog(key) {
            if let Err(e) = d.ringing(None, None) {
                tracing::warn!(error = %e, "could not send 180 Ringing");
            }
        }
    }

    /// Sends 200 OK with our SDP (an answer, or an offer for late-offer calls).
    pub fn accept(&self, key: &DialogKey, sdp: String) -> Result<(), DialogError> {
        let d = self.dialog_or_gone(key)?;
        let contact = Header::Contact(format!("<{}>", self.contact_uri()).into());
        d.accept(
            Some(vec![
                contact,
                content_type_sdp(),
                Header::Allow(ALLOW.into()),
            ]),
            Some(sdp.into_bytes()),
        )
        .map_err(|source| DialogError::Accept {
            key: key.clone(),
            source: Box::new(source),
        })
    }

    pub fn reject(&self, key: &DialogKey, status: u16) {
        if let Some(d) = self.dialog(key) {
            let _ = d.reject(Some(StatusCode::from(status)), None);
        }
    }

    /// Rejects with `Reason: SIP;cause=<status>;text="<why>"` (RFC 3326; in responses per
    /// RFC 8606). rsipstack's reject takes no other header, hence no Warning (RFC 3261 §20.43).
    pub fn reject_because(&self, key: &DialogKey, status: u16, why: &str) {
        if let Some(d) = self.dialog(key) {
            let reason = format!("SIP;cause={status};text=\"{}\"", reason_text(why));
            let _ = d.reject(Some(StatusCode::from(status)), Some(reason));
        }
    }

    /// Sends BYE and waits for its answer (bounded by the transaction timers). A BYE from the
    /// other side meanwhile ends the wait: the dialog is over, and ours would only be
    /// retransmitted into silence. A BYE refused with an error status is an error.
    pub async fn bye(&self, key: &DialogKey) -> Result<(), DialogError> {
        let d = self.dialog_or_gone(key)?;
        let ended = self.ended(key);
        if ended.is_cancelled() {
            return Ok(());
        }
        let call_id = d.id().call_id.clone();
        tokio::select! {
            result = d.bye() => result.map_err(|source| DialogError::Bye {
                key: key.clone(),
                source: Box::new(source),
            })?,
            // The dialog ended meanwhile: their BYE crossed ours, or the answer to ours ended
            // it before the transaction reported back. The answer (recorded on arrival, before
            // the dialog layer sees it) still says which.
            _ = ended.cancelled() => {}
        }
        let status = self
            .bye_answers
            .lock()
            .expect("bye answers")
            .remove(&call_id);
        match status {
            Some(status) if status >= 300 => Err(DialogError::ByeRefused {
                key: key.clone(),
                status: StatusCode::from(status).to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// The token that ends a wait on `key`'s dialog (a new one when the call is unknown).
    fn ended(&self, key: &DialogKey) -> CancellationToken {
        self.ended
            .lock()
            .expect("ended lock")
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// A REGISTER client on this user agent's endpoint.
    pub(super) fn registration(
        &self,
        credential: Option<rsipstack::dialog::authenticate::Credential>,
    ) -> rsipstack::dialog::registration::Registration {
        rsipstack::dialog::registration::Registration::new(self.endpoint.clone(), credential)
    }

    /// In-dialog requests on `dialog_id` belong to the call the engine knows as `key`.
    fn alias(&self, dialog_id: &str, key: &DialogKey) {
        self.aliases
            .lock()
            .expect("aliases lock")
            .insert(dialog_id.to_string(), key.clone());
    }

    /// The engine's key for an rsipstack dialog id.
    fn key_of(&self, dialog_id: &str) -> DialogKey {
        self.aliases
            .lock()
            .expect("aliases lock")
            .get(dialog_id)
            .cloned()
            .unwrap_or_else(|| DialogKey(dialog_id.to_string()))
    }

    pub fn forget(&self, key: &DialogKey) {
        self.aliases
            .lock()
            .expect("aliases lock")
            .retain(|_, k| k != key);
        self.order.lock().expect("order lock").remove(key);
        if let Some(ended) = self.ended.lock().expect("ended lock").remove(key) {
            ended.cancel();
        }
        if let Some(d) = self.calls.lock().expect("calls lock").remove(key) {
            self.dialogs.remove_dialog(&d.id());
        }
    }

    /// Cancels the endpoint and every task of this user agent without waiting for them; see
    /// [`UserAgent::stop`] for the waiting kind.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }

    /// Cancels like [`UserAgent::shutdown`], then waits (at most a couple of seconds) until
    /// every task this user agent spawned has ended. Any clone may call it, more than once.
    pub async fn stop(&self) -> Result<(), UaError> {
        self.shutdown();
        self.tasks.close();
        match tokio::time::timeout(STOP_GRACE, self.tasks.wait()).await {
            Ok(()) => Ok(()),
            Err(_) => Err(UaError::StopTimeout {
                left: self.tasks.len(),
                waited: STOP_GRACE,
            }),
        }
    }

    fn dialog(&self, key: &DialogKey) -> Option<InviteDialog> {
        self.calls.lock().expect("calls lock").get(key).cloned()
    }

    fn dialog_or_gone(&self, key: &DialogKey) -> Result<InviteDialog, DialogError> {
        self.dialog(key)
            .ok_or_else(|| DialogError::Gone { key: key.clone() })
    }

    /// Routes every new server transaction: new INVITEs become calls, in-dialog requests go to
    /// their dialog, out-of-dialog OPTIONS are answered here, everything else gets an error
    /// status instead of silence.
    async fn dispatch(
        self,
        mut incoming: rsipstack::transaction::TransactionReceiver,
        state_tx: rsipstack::dialog::dialog::DialogStateSender,
    ) {
        while let Some(mut tx) = incoming.recv().await {
            let has_to_tag = tx
                .original
                .to_header()
                .ok()
                .and_then(|t| t.tag().ok().flatten())
                .is_some();
            let method = tx.original.method;
            if method == Method::Invite && !has_to_tag {
                self.new_call(tx, state_tx.clone());
                continue;
            }
            if let Some(dialog) = self.dialogs.match_dialog(&tx) {
                self.in_dialog(dialog, tx).await;
                continue;
            }
            let status = match method {
                Method::Options => StatusCode::OK,
                Method::Ack => continue,
                _ if has_to_tag => StatusCode::CallTransactionDoesNotExist,
                _ => StatusCode::MethodNotAllowed,
            };
            self.spawn(async move {
                let headers = vec![Header::Allow(ALLOW.into())];
                let _ = tx.reply_with(status, headers, None).await;
            });
        }
    }

    /// One in-dialog request: refused here when out of order or overlapping (see `order`),
    /// otherwise handed to its dialog in its own task, so a slow one (a re-INVITE waiting for
    /// the engine) never holds up the next. The dialog's first step, where rsipstack checks
    /// the CSeq, runs before the next request is looked at: requests reach it in arrival order
    /// instead of the order tasks happen to run in (it drops older ones without an answer).
    async fn in_dialog(&self, mut dialog: rsipstack::dialog::dialog::Dialog, mut tx: Transaction) {
        let key = self.key_of(&dialog.id().to_string());
        let method = tx.original.method;
        let cseq = tx
            .original
            .cseq_header()
            .ok()
            .and_then(|c| c.seq().ok())
            .unwrap_or(0);
        let admit = self
            .order
            .lock()
            .expect("order lock")
            .entry(key.clone())
            .or_default()
            .admit(method, cseq);
        if method == Method::Bye {
            self.ended(&key).cancel();
        }
        let refusal = match admit {
            Admit::Take => None,
            Admit::OutOfOrder => Some(vec![]),
            Admit::InvitePending => Some(vec![Header::RetryAfter(
                rand::random_range(0..=10u32).to_string().into(),
            )]),
        };
        if let Some(headers) = refusal {
            self.spawn(async move {
                let _ = tx
                    .reply_with(StatusCode::ServerInternalError, headers, None)
                    .await;
            });
            return;
        }
        let order = self.order.clone();
        let mut work = Box::pin(async move {
            if let Err(e) = dialog.handle(&mut tx).await {
                tracing::debug!(error = %e, "in-dialog request failed");
            }
            if method == Method::Invite {
                if let Some(o) = order.lock().expect("order lock").get_mut(&key) {
                    o.invite_done();
                }
            }
        });
        let done =
            std::future::poll_fn(|cx| std::task::Poll::Ready(work.as_mut().poll(cx).is_ready()))
                .await;
        if !done {
            self.spawn(work);
        }
    }

    fn new_call(
        &self,
        mut tx: Transaction,
        state_tx: rsipstack::dialog::dialog::DialogStateSender,
    ) {
        let events = &self.events;
        let contact = rsipstack::sip::Uri::try_from(self.contact_uri().as_str()).ok();
        let dialog = match self
            .dialogs
            .get_or_create_server_invite(&tx, state_tx, None, contact)
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "unusable INVITE");
                self.spawn(async move {
                    let _ = tx.reply(StatusCode::BadRequest).await;
                });
                return;
            }
        };
        self.keep_callers_target(&dialog, &tx);
        let key = DialogKey(dialog.id().to_string());
        let (from, display_name) = match tx.original.from_header().and_then(|h| h.typed()) {
            Ok(f) => (f.uri.to_string(), f.display_name.clone()),
            Err(_) => ("unknown".to_string(), None),
        };
        let to = tx
            .original
            .to_header()
            .and_then(|h| h.uri())
            .map(|u| u.to_string())
            .unwrap_or_default();
        let call_id = tx
            .original
            .call_id_header()
            .map(|h| h.value().to_string())
            .unwrap_or_default();
        let body = &tx.original.body;
        let offer = (!body.is_empty()).then(|| String::from_utf8_lossy(body).into_owned());
        self.calls
            .lock()
            .expect("calls lock")
            .insert(key.clone(), dialog.clone());
        // The engine hears of the call before the transaction's task starts: its answer is
        // on the INVITE -> 200 path, the task's first step (a 100 Trying) is not. An answer
        // queued before that step also spares the 100, which RFC 3261 §17.2.1 allows when
        // the final response follows within 200 ms.
        let _ = events.send(SipEvent::Invite {
            key,
            call_id,
            from,
            display_name: display_name.map(|d| d.trim_matches('"').to_string()),
            to,
            offer,
        });
        let mut handler = dialog;
        self.spawn(async move {
            if let Err(e) = handler.handle(&mut tx).await {
                tracing::debug!(error = %e, "INVITE transaction ended with an error");
            }
        });
    }

    /// rsipstack gives the caller's Contact our flow's transport (`;transport=tls`) when the
    /// INVITE came over TCP or TLS. Through a proxy (a route set) that is wrong: the flow
    /// reaches only the proxy, and the remote target is the Contact as the caller wrote it
    /// (RFC 3261 §12.1.1); told `transport=tls` for a UDP phone, Kamailio answers our BYE with
    /// 477. Without a route set the flow is the way back, and rsipstack's choice stands.
    fn keep_callers_target(&self, dialog: &InviteDialog, tx: &Transaction) {
        if !self.transport.is_stream() || tx.original.record_route_headers().is_empty() {
            return;
        }
        let Some(contact) = tx
            .original
            .typed_contact_headers()
            .ok()
            .and_then(|c| c.into_iter().next())
        else {
            return;
        };
        rsipstack::dialog::dialog::Dialog::Invite(dialog.clone())
            .set_remote_target(contact.uri, tx.original.contact_header().ok().cloned());
    }

    /// Translates rsipstack's dialog state changes into engine events.
    async fn follow_dialogs(self, mut states: rsipstack::dialog::dialog::DialogStateReceiver) {
        let events = self.events.clone();
        // Confirmed repeats after every mid-dialog transaction; only the first one is news.
        let mut confirmed: HashSet<String> = HashSet::new();
        while let Some(state) = states.recv().await {
            match state {
                DialogState::Confirmed(id, _) => {
                    let key = DialogKey(id.to_string());
                    if !confirmed.insert(key.0.clone()) {
                        continue;
                    }
                    let ack_sdp = self.dialog(&key).and_then(|d| {
                        d.last_remote_ack()
                            .filter(|ack| !ack.body.is_empty())
                            .map(|ack| String::from_utf8_lossy(&ack.body).into_owned())
                    });
                    let _ = events.send(SipEvent::Confirmed { key, ack_sdp });
                }
                DialogState::Terminated(id, reason) => {
                    let key = DialogKey(id.to_string());
                    confirmed.remove(&key.0);
                    let why = match reason {
                        TerminatedReason::UacBye => Termination::RemoteBye,
                        TerminatedReason::UasBye => Termination::LocalBye,
                        TerminatedReason::UacCancel => Termination::Cancelled,
                        TerminatedReason::UasBusy => Termination::Rejected(486),
                        TerminatedReason::UasDecline => Termination::Rejected(603),
                        TerminatedReason::Timeout => Termination::Timeout,
                        TerminatedReason::UasOther(code) | TerminatedReason::UacOther(code) => {
                            Termination::Rejected(code.code())
                        }
                        other => Termination::Other(format!("{other:?}")),
                    };
                    self.forget(&key);
                    let _ = events.send(SipEvent::Terminated { key, why });
                }
                DialogState::Calling(_)
                | DialogState::Trying(_)
                | DialogState::Early(_, _)
                | DialogState::WaitAck(_, _) => {}
                other => {
                    let key = match &other {
                        DialogState::Updated(id, ..)
                        | DialogState::Options(id, ..)
                        | DialogState::Info(id, ..)
                        | DialogState::Message(id, ..)
                        | DialogState::Notify(id, ..)
                        | DialogState::Refer(id, ..)
                        | DialogState::Publish(id, ..) => DialogKey(id.to_string()),
                        _ => continue,
                    };
                    self.in_dialog_state(other, key);
                }
            }
        }
    }

    /// A request inside an established dialog (either direction's call), reported under
    /// `key`: re-INVITE and UPDATE go to the engine, INFO digits too, OPTIONS is answered,
    /// the rest is refused with 405 for now.
    fn in_dialog_state(&self, state: DialogState, key: DialogKey) {
        let events = &self.events;
        match state {
            DialogState::Updated(_, req, handle) => {
                let offer =
                    (!req.body.is_empty()).then(|| String::from_utf8_lossy(&req.body).into_owned());
                let _ = events.send(SipEvent::Reoffer {
                    key: key.clone(),
                    offer,
                    update: req.method == Method::Update,
                    responder: Responder(handle),
                });
            }
            // Replies go through the transaction's queue: queued from their own task, a
            // full queue holds up that transaction only, not every dialog's news.
            DialogState::Options(_, _, handle) => {
                self.spawn(async move {
                    let allow = vec![Header::Allow(ALLOW.into())];
                    let _ = handle.respond(StatusCode::OK, Some(allow), None).await;
                });
            }
            DialogState::Info(_, req, handle) => {
                let content_type = req.headers.iter().find_map(|h| match h {
                    Header::ContentType(c) => Some(c.value().to_string()),
                    _ => None,
                });
                if let Some(digit) = info_dtmf(content_type.as_deref(), &req.body) {
                    let _ = events.send(SipEvent::Dtmf {
                        key: key.clone(),
                        digit,
                    });
                }
                self.spawn(async move {
                    let _ = handle.reply(StatusCode::OK).await;
                });
            }
            DialogState::Refer(_, req, handle) => self.on_refer(key, &req, handle),
            DialogState::Notify(_, req, handle) => self.on_notify(key, &req, handle),
            DialogState::Message(_, _, handle) | DialogState::Publish(_, _, handle) => {
                self.spawn(async move {
                    let allow = vec![Header::Allow(ALLOW.into())];
                    let _ = handle
                        .respond(StatusCode::MethodNotAllowed, Some(allow), None)
                        .await;
                });
            }
            _ => {}
        }
    }
}

/// The digit a SIP INFO carries: `application/dtmf-relay` (`Signal=5`, the Cisco format most
/// phones send) or `application/dtmf` (the digit alone). Anything else is not DTMF.
pub fn info_dtmf(content_type: Option<&str>, body: &[u8]) -> Option<char> {
    let kind = content_type?.split(';').next()?.trim().to_ascii_lowercase();
    let text = std::str::from_utf8(body).ok()?;
    let value = match kind.as_str() {
        "application/dtmf-relay" => text.lines().find_map(|line| {
            let (name, value) = line.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| value.trim())
        })?,
        "application/dtmf" => text.trim(),
        _ => return None,
    };
    let digit = match value {
        "10" => '*',
        "11" => '#',
        v if v.chars().count() == 1 => v.chars().next()?.to_ascii_uppercase(),
        _ => return None,
    };
    matches!(digit, '0'..='9' | '*' | '#' | 'A'..='D').then_some(digit)
}

/// Text for a quoted header value: the SDP lines quoted in our reasons come from the peer, so
/// only printable ASCII stays (no CR/LF to end the header early, no quote to end the string),
/// and at most `REASON_MAX` characters.
fn reason_text(why: &str) -> String {
    const REASON_MAX: usize = 200;
    why.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .take(REASON_MAX)
        .collect()
}

fn content_type_sdp() -> Header {
    Header::ContentType("application/sdp".into())
}

pub(crate) fn host_port(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

mod order;
mod place;
#[cfg(test)]
mod tests;
mod transfer;

pub use place::{Outbound, Progress, Refusal};
