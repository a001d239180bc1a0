//! The UDP socket under rsipstack's UDP transport: every datagram is screened
//! ([`crate::sip::screen`]) before rsipstack sees it, and every datagram we send is repaired.
//!
//! Answers that screening decides are sent from here, to the datagram's source address: RFC
//! 3261 §18.2.2 sends a response to the top Via's `received` address and, with `rport`
//! (RFC 3581), its source port, and the source is where a NATed or odd peer (a torture test
//! with a made-up Via) can actually be reached. Dropped and answered messages leave a line in
//! the SIP trace (`--verbose`) and in the log, so nothing vanishes without a word.

use crate::sip::screen::{repair_outgoing, screen, Verdict};
use crate::sip::trace::TraceLine;
use crate::sip::ua::SipEvent;
use crate::vocab::SipDirection;
use rsipstack::platform::net::UdpSocket as PlatformUdpSocket;
use std::borrow::Cow;
use std::net::SocketAddr;
use tokio::sync::mpsc;

/// How much of a screened message the trace shows.
const TRACE_LIMIT: usize = 4096;

pub struct ScreeningSocket {
    socket: tokio::net::UdpSocket,
    events: mpsc::UnboundedSender<SipEvent>,
}

impl ScreeningSocket {
    pub async fn bind(
        addr: SocketAddr,
        events: mpsc::UnboundedSender<SipEvent>,
    ) -> rsipstack::Result<ScreeningSocket> {
        let socket = tokio::net::UdpSocket::bind(addr).await?;
        Ok(ScreeningSocket { socket, events })
    }

    /// Puts a line in the SIP trace for a message rsipstack will not see.
    fn trace(&self, direction: SipDirection, peer: SocketAddr, bytes: &[u8], note: Option<&str>) {
        let mut text = printable(&bytes[..bytes.len().min(TRACE_LIMIT)]);
        if bytes.len() > TRACE_LIMIT {
            text.push_str("\n…");
        }
        if let Some(note) = note {
            text.push_str(&format!("\n[sipterm: {note}]"));
        }
        let summary = text.lines().next().unwrap_or_default().to_string();
        let call_id = text.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            let name = name.trim();
            (name.eq_ignore_ascii_case("call-id") || name == "i").then(|| value.trim().to_string())
        });
        let _ = self.events.send(SipEvent::Trace(TraceLine {
            direction,
            peer: Some(peer.to_string()),
            summary,
            call_id,
            text,
        }));
    }
}

#[async_trait::async_trait]
impl PlatformUdpSocket for ScreeningSocket {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (len, peer) = self.socket.recv_from(buf).await?;
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

/// Peer bytes as text for the trace: invalid UTF-8 replaced, control characters other than
/// line breaks and tabs shown as `?`, so a torture message cannot garble the terminal.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| match c {
            '\r' | '\n' | '\t' => c,
            c if c.is_control() => '?',
            c => c,
        })
        .collect::<String>()
        .replace("\r\n", "\n")
}
