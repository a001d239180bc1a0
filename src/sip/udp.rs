//! The UDP socket under rsipstack's UDP transport: every datagram is screened
//! ([`crate::sip::screen`]) before rsipstack sees it, and every datagram we send is repaired.
//!
//! Answers that screening decides are sent from here, to the datagram's source address: RFC
//! 3261 §18.2.2 sends a response to the top Via's `received` address and, with `rport`
//! (RFC 3581), its source port, and the source is where a NATed or odd peer (a torture test
//! with a made-up Via) can actually be reached. Dropped and answered messages leave a line in
//! the SIP trace (`--verbose`) and in the log, so nothing vanishes without a word.

use crate::sip::screen::{repair_outgoing, screen, Verdict};
use crate::sip::trace::{printable, raw_line, TRACE_LIMIT};
use crate::sip::ua::SipEvent;
use crate::vocab::SipDirection;
use rsipstack::platform::net::UdpSocket as PlatformUdpSocket;
use std::borrow::Cow;
use std::net::SocketAddr;
use tokio::sync::mpsc;

/// The largest datagram we take in whole, to say so when one is larger than rsipstack's
/// buffer instead of handing it a truncated message.
const DATAGRAM_MAX: usize = 65_536;
/// At most one warning about oversized datagrams this often (a flood is not a log flood).
const OVERSIZE_WARN_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

pub struct ScreeningSocket {
    socket: tokio::net::UdpSocket,
    events: mpsc::UnboundedSender<SipEvent>,
    /// Where each datagram lands first; only the serve loop reads, so it is never contended.
    scratch: tokio::sync::Mutex<Vec<u8>>,
    last_oversize_warning: std::sync::Mutex<Option<std::time::Instant>>,
}

impl ScreeningSocket {
    pub async fn bind(
        addr: SocketAddr,
        events: mpsc::UnboundedSender<SipEvent>,
    ) -> rsipstack::Result<ScreeningSocket> {
        let socket = tokio::net::UdpSocket::bind(addr).await?;
        Ok(ScreeningSocket {
            socket,
            events,
            scratch: tokio::sync::Mutex::new(vec![0; DATAGRAM_MAX]),
            last_oversize_warning: std::sync::Mutex::new(None),
        })
    }

    /// A datagram larger than rsipstack reads (a 401 with a 60 kB nonce, say): dropped, and
    /// the log says so rather than leaving a silent "no answer".
    fn oversized(&self, peer: SocketAddr, len: usize, limit: usize, head: &[u8]) {
        let note =
            format!("dropped: {len} bytes, more than the {limit} our SIP stack reads over UDP");
        self.trace(SipDirection::Received, peer, head, Some(&note));
        let mut last = self.last_oversize_warning.lock().expect("oversize warning");
        if last.is_some_and(|t| t.elapsed() < OVERSIZE_WARN_EVERY) {
            return;
        }
        *last = Some(std::time::Instant::now());
        let first_line = printable(&head[..head.len().min(80)]);
        let first_line = first_line.lines().next().unwrap_or_default();
        let _ = self.events.send(SipEvent::Warning(format!(
            "ignored a {len}-byte SIP message from {peer} ({first_line}): larger than the {limit} \
             bytes SIP over UDP can carry here; --transport tcp takes messages up to 64 kB"
        )));
    }

    /// Puts a line in the SIP trace for a message rsipstack will not see.
    fn trace(&self, direction: SipDirection, peer: SocketAddr, bytes: &[u8], note: Option<&str>) {
        let line = raw_line(direction, peer.to_string(), bytes, note);
        let _ = self.events.send(SipEvent::Trace(line));
    }
}

#[async_trait::async_trait]
impl PlatformUdpSocket for ScreeningSocket {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (len, peer) = {
                let mut scratch = self.scratch.lock().await;
                let (len, peer) = self.socket.recv_from(&mut scratch).await?;
                if len > buf.len() {
                    self.oversized(peer, len, buf.len(), &scratch[..len.min(TRACE_LIMIT)]);
                    continue;
                }
                buf[..len].copy_from_slice(&scratch[..len]);
                (len, peer)
            };
            // Decide first, then act: the verdict may borrow `buf`, which a rewrite overwrites.
            let rewrite = match screen(&buf[..len]) {
                Verdict::Pass(Cow::Borrowed(passed)) => return Ok((passed.len(), peer)),
                Verdict::Pass(Cow::Owned(bytes)) => bytes,
                Verdict::Answer { response, why } => {
                    tracing::info!(%peer, %why, "SIP message answered by screening");
                    self.trace(
                        SipDirection::Received,
                        peer,
                        &buf[..len],
                        Some(&format!("answered here: {why}")),
                    );
                    self.trace(SipDirection::Sent, peer, &response, None);
                    if let Err(e) = self.socket.send_to(&response, peer).await {
                        tracing::warn!(%peer, error = %e, "could not send a screening answer");
                    }
                    continue;
                }
                Verdict::Drop { why } => {
                    tracing::info!(%peer, %why, "SIP message dropped by screening");
                    self.trace(
                        SipDirection::Received,
                        peer,
                        &buf[..len],
                        Some(&format!("dropped: {why}")),
                    );
                    continue;
                }
            };
            if rewrite.len() > buf.len() {
                tracing::warn!(%peer, len = rewrite.len(), "rewritten SIP message too large");
                self.trace(
                    SipDirection::Received,
                    peer,
                    &buf[..len],
                    Some("dropped: too large once rewritten"),
                );
                continue;
            }
            buf[..rewrite.len()].copy_from_slice(&rewrite);
            return Ok((rewrite.len(), peer));
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        self.socket.send_to(&repair_outgoing(buf), addr).await?;
        Ok(buf.len())
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
}
