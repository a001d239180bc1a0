//! SIP over TCP with flows we own rather than the library's: our listener and our framing for
//! inbound connections (idle and half-sent timeouts, a cap per peer and in all), and the
//! registrar's connection dialled from our listening address so that the Via, the Contact and
//! the source port all agree (the registrar then reuses it to reach us).
//!
//! Inbound messages reach rsipstack through an in-memory channel connection per flow; what it
//! answers comes back through that channel and is written to the socket here.

mod framing;

pub use crate::sip::flow::Flow;
use crate::sip::screen::{repair_outgoing, screen, Verdict};
use crate::sip::trace::raw_line;
use crate::sip::ua::SipEvent;
use crate::vocab::SipDirection;
use framing::{Frame, FrameError, Framer};
use rsipstack::sip::Transport;
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transport::channel::ChannelConnection;
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::{SipAddr, SipConnection, TransportEvent};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Bounds on what inbound TCP may cost us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpLimits {
    /// A flow with no traffic for this long is closed (keep-alives count as traffic).
    pub idle: Duration,
    /// A message that has begun must end within this long.
    pub half_sent: Duration,
    /// Inbound flows from one IP address at once.
    pub per_peer: usize,
    /// Inbound flows at once, from everyone.
    pub total: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            idle: Duration::from_secs(120),
            half_sent: Duration::from_secs(10),
            per_peer: 32,
            total: 256,
        }
    }
}

/// How long a refused flow may take to send the request we answer with 503.
const REFUSE_WAIT: Duration = Duration::from_secs(2);
/// Refusals being answered at once; beyond this a refused flow is closed without a word.
const MAX_REFUSING: usize = 32;
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed accept (out of file descriptors, say) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);

/// A listening socket others may share: the registrar's flow is dialled from the same port.
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = shared_socket(addr)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// A socket that may share its address with our other sockets (SO_REUSEADDR, SO_REUSEPORT).
pub(crate) fn shared_socket(addr: SocketAddr) -> std::io::Result<TcpSocket> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    Ok(socket)
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
    refusing: usize,
    refused: u64,
}

pub struct TcpTransport {
    /// Our listening address: the local end of every flow as far as SIP headers go.
    local: SocketAddr,
    endpoint: EndpointInnerRef,
    limits: TcpLimits,
    counts: Mutex<Counts>,
    events: mpsc::UnboundedSender<SipEvent>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

/// One inbound flow's place in the counts, given back when the flow ends.
struct Permit {
    transport: Arc<TcpTransport>,
    peer: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.transport.counts.lock().expect("tcp counts");
        counts.total -= 1;
        if let Some(n) = counts.per_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                counts.per_peer.remove(&self.peer);
            }
        }
    }
}

impl TcpTransport {
    pub fn new(
        local: SocketAddr,
        endpoint: EndpointInnerRef,
        limits: TcpLimits,
        events: mpsc::UnboundedSender<SipEvent>,
        cancel: CancellationToken,
        tasks: TaskTracker,
    ) -> Arc<TcpTransport> {
        Arc::new(TcpTransport {
            local,
            endpoint,
            limits,
            counts: Mutex::default(),
            events,
            cancel,
            tasks,
        })
    }

    /// What rsipstack should take as a listener: our address, for the Via of requests sent on
    /// inbound flows. It serves nothing; our accept loop does.
    pub async fn placeholder(local: SocketAddr) -> Option<SipConnection> {
        Self::placeholder_for(local, crate::sip::account::Transport::Tcp).await
    }

    /// [`TcpTransport::placeholder`] for TCP or TLS (our TLS address serves nothing either).
    pub async fn placeholder_for(
        local: SocketAddr,
        transport: crate::sip::account::Transport,
    ) -> Option<SipConnection> {
        let (_tx, rx) = mpsc::unbounded_channel();
        let (tx, _rx) = mpsc::unbounded_channel();
        let addr = SipAddr {
            r#type: Some(match transport {
                crate::sip::account::Transport::Tls => Transport::Tls,
                _ => Transport::Tcp,
            }),
            addr: local.into(),
        };
        ChannelConnection::create_connection(rx, tx, addr, None)
            .await
            .ok()
            .map(SipConnection::Channel)
    }

    /// Accepts inbound flows until the user agent stops.
    pub async fn accept(self: Arc<Self>, listener: TcpListener) {
        let mut last_error = None;
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    let text = e.to_string();
                    if last_error.as_ref() != Some(&text) {
                        self.warn(format!("cannot accept a TCP connection: {text}"));
                        last_error = Some(text);
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            last_error = None;
            match self.admit(peer.ip()) {
                Ok(permit) => {
                    let me = self.clone();
                    self.spawn(me.serve(stream, peer, permit));
                }
                Err(why) => self.refuse(stream, peer, why),
            }
        }
    }

    fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Permit, String> {
        let mut counts = self.counts.lock().expect("tcp counts");
        let from_peer = counts.per_peer.get(&peer).copied().unwrap_or(0);
        if from_peer >= self.limits.per_peer {
            return Err(format!(
                "too many TCP connections from {peer} (limit {})",
                self.limits.per_peer
            ));
        }
        if counts.total >= self.limits.total {
            return Err(format!(
                "too many TCP connections (limit {})",
                self.limits.total
            ));
        }
        counts.total += 1;
        *counts.per_peer.entry(peer).or_default() += 1;
        Ok(Permit {
            transport: self.clone(),
            peer,
        })
    }

    /// Over a limit: answer the flow's first request with 503 and a Warning that says which
    /// limit, then close. The first refusal is logged, later ones only counted.
    fn refuse(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr, why: String) {
        let (first, busy) = {
            let mut counts = self.counts.lock().expect("tcp counts");
            counts.refused += 1;
            let busy = counts.refusing >= MAX_REFUSING;
            if !busy {
                counts.refusing += 1;
            }
            (counts.refused == 1, busy)
        };
        if first {
            self.warn(format!(
                "refusing a TCP connection from {peer}: {why}; further refusals are not logged"
            ));
        }
        if busy {
            return; // dropping the stream closes it
        }
        let me = self.clone();
        self.spawn(async move {
            let _ = tokio::time::timeout(REFUSE_WAIT, me.answer_refused(stream, &why)).await;
            me.counts.lock().expect("tcp counts").refusing -= 1;
        });
    }

    async fn answer_refused(&self, mut stream: TcpStream, why: &str) {
        let mut framer = Framer::default();
        let mut buf = [0u8; 2048];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => framer.push(&buf[..n]),
            }
            match framer.next() {
                Ok(Some(Frame::Message(bytes))) => {
                    if let Some(answer) = self.answer(&bytes, why) {
                        let _ = stream.write_all(&answer).await;
                    }
                    return;
                }
                Ok(Some(_)) | Ok(None) => {}
                Err(_) => return,
            }
        }
    }

    /// `503 Service Unavailable` to a request, with the reason in a Warning (RFC 3261 §20.43)
    /// and a Retry-After; nothing for a response or an ACK.
    fn answer(&self, request: &[u8], why: &str) -> Option<Vec<u8>> {
        let warning = format!("Warning: 399 sipterm \"{}\"", why.replace('"', "'"));
        crate::sip::reply::stateless(
            request,
            503,
            "Service Unavailable",
            &["Retry-After: 30".to_string(), warning],
        )
    }

    /// One inbound flow: frames what arrives and hands it to rsipstack through a channel;
    /// writes back what rsipstack sends on it.
    async fn serve(self: Arc<Self>, stream: TcpStream, peer: SocketAddr, _permit: Permit) {
        let remote = sip_addr(peer);
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        let token = self.cancel.child_token();
        let Ok(channel) = ChannelConnection::create_connection(
            in_rx,
            out_tx,
            remote.clone(),
            Some(token.clone()),
        )
        .await
        else {
            return;
        };
        let connection = SipConnection::Channel(channel);
        let layer = &self.endpoint.transport_layer;
        layer.add_connection(connection.clone());

        let (mut reader, mut writer) = stream.into_split();
        let mut framer = Framer::default();
        let mut buf = [0u8; 4096];
        let mut unreadable = 0u32;
        let closing: Option<String> = 'flow: loop {
            let wait = if framer.partial() {
                self.limits.half_sent
            } else {
                self.limits.idle
            };
            tokio::select! {
                _ = token.cancelled() => break None,
                out = out_rx.recv() => match out {
                    Some(TransportEvent::Incoming(message, _, _)) => {
                        let bytes = message.to_bytes();
                        if let Err(e) = writer.write_all(&repair_outgoing(&bytes)).await {
                            break Some(format!("cannot write to it: {e}"));
                        }
                    }
                    Some(_) => {}
                    None => break None,
                },
                read = tokio::time::timeout(wait, reader.read(&mut buf)) => {
                    let n = match read {
                        Err(_) if framer.partial() => break Some(format!(
                            "a message was begun but not finished within {} s",
                            wait.as_secs()
                        )),
                        Err(_) => break None, // idle: closing it is routine, not news
                        Ok(Ok(0)) => break None,
                        Ok(Err(e)) => break Some(format!("reading failed: {e}")),
                        Ok(Ok(n)) => n,
                    };
                    framer.push(&buf[..n]);
                    loop {
                        match framer.next() {
                            Ok(None) => break,
                            Ok(Some(Frame::Ping)) => {
                                if writer.write_all(b"\r\n").await.is_err() {
                                    break 'flow None;
                                }
                            }
                            Ok(Some(Frame::Pong)) => {}
                            Ok(Some(Frame::Message(bytes))) => {
                                let passed = match screen(&bytes) {
                                    Verdict::Pass(passed) => passed,
                                    Verdict::Answer { response, why } => {
                                        self.trace(peer, &bytes, &format!("answered here: {why}"));
                                        self.trace_sent(peer, &response);
                                        if writer.write_all(&response).await.is_err() {
                                            break 'flow None;
                                        }
                                        continue;
                                    }
                                    Verdict::Drop { why } => {
                                        self.trace(peer, &bytes, &format!("dropped: {why}"));
                                        continue;
                                    }
                                };
                                match incoming(&passed, peer) {
                                    Ok(message) => {
                                        let event = TransportEvent::Incoming(
                                            message,
                                            connection.clone(),
                                            remote.clone(),
                                        );
                                        if in_tx.send(event).is_err() {
                                            break 'flow None;
                                        }
                                    }
                                    Err(e) => {
                                        unreadable += 1;
                                        if unreadable == 1 {
                                            self.warn(format!(
                                                "ignored an unreadable SIP message from {peer} over TCP: {}",
                                                crate::sip::registration::sanitize(&e)
                                            ));
                                        }
                                    }
                                }
                            }
                            Err(e) => {
                                if let Some(answer) = framing_answer(&e, &framer) {
                                    let _ = writer.write_all(&answer).await;
                                }
                                break 'flow Some(e.to_string());
                            }
                        }
                    }
                }
            }
        };
        layer.remove_connection(&connection);
        drop(in_tx);
        if let Some(why) = closing {
            self.warn(format!("closed the TCP connection from {peer}: {why}"));
        }
    }

    /// Dials `target` from our listening address (`--bind` and `--port`), so the registrar
    /// sees the address our Contact names and can reuse the flow to reach us.
    pub async fn dial(&self, target: SocketAddr) -> Result<Flow, String> {
        let socket = shared_socket(self.local).map_err(|e| e.to_string())?;
        socket
            .bind(self.local)
            .map_err(|e| format!("cannot use {} for it: {e}", self.local))?;
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(target)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
        };
        let closed = self.cancel.child_token();
        let connection =
            TcpConnection::from_stream(stream, sip_addr(self.local), Some(closed.clone()))
                .map_err(|e| e.to_string())?;
        self.endpoint
            .transport_layer
            .add_connection(SipConnection::Tcp(connection.clone()));
        Ok(Flow::tcp(connection, closed, target))
    }

    /// How many inbound flows are open now.
    pub fn inbound(&self) -> usize {
        self.counts.lock().expect("tcp counts").total
    }

    /// A line in the SIP trace for a message rsipstack will not see.
    fn trace(&self, peer: SocketAddr, bytes: &[u8], note: &str) {
        let line = raw_line(
            SipDirection::Received,
            format!("TCP {peer}"),
            bytes,
            Some(note),
        );
        let _ = self.events.send(SipEvent::Trace(line));
    }

    fn trace_sent(&self, peer: SocketAddr, bytes: &[u8]) {
        let line = raw_line(SipDirection::Sent, format!("TCP {peer}"), bytes, None);
        let _ = self.events.send(SipEvent::Trace(line));
    }

    fn warn(&self, text: String) {
        let _ = self.events.send(SipEvent::Warning(text));
    }

    fn spawn<F>(&self, work: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            let _ = cancel.run_until_cancelled_owned(work).await;
        });
    }
}

fn sip_addr(addr: SocketAddr) -> SipAddr {
    SipAddr {
        r#type: Some(Transport::Tcp),
        addr: addr.into(),
    }
}

/// A framed message as rsipstack wants it: parsed, with the Via's received/rport set.
fn incoming(bytes: &[u8], peer: SocketAddr) -> Result<rsipstack::sip::SipMessage, String> {
    let message = rsipstack::sip::SipMessage::try_from(bytes).map_err(|e| e.to_string())?;
    SipConnection::update_msg_received(message, peer, Transport::Tcp).map_err(|e| e.to_string())
}

/// The answer to a request whose framing broke: 400 for a Content-Length that is not a
/// length, 513 for a message too large.
fn framing_answer(error: &FrameError, framer: &Framer) -> Option<Vec<u8>> {
    let head = error.head(framer)?;
    let (code, reason) = match error {
        FrameError::BadContentLength(_) => (400, format!("Bad Request ({error})")),
        FrameError::TooLarge { .. } => (513, "Message Too Large".to_string()),
    };
    crate::sip::reply::stateless(head, code, &reason, &[])
}

#[cfg(test)]
mod tests;
