//! Media behind NAT, the engine's part: with `--stun`, each call's RTP port is looked up at
//! the STUN server (in a task, so the engine never waits on the network) before our SDP is
//! written; the answer, or the fallback and why, goes into the log.

use super::core::Input;
use super::sip_side::SipSide;
use super::Engine;
use crate::config::StunServer;
use crate::media::stun::{self, Mapping};
use crate::vocab::{CallId, LogKind, LogLevel};
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// A finished lookup and the sockets it ran on.
pub(crate) struct StunDone {
    pub call: CallId,
    pub sockets: (UdpSocket, UdpSocket),
    pub session_id: u64,
    pub server: String,
    pub found: Result<Mapping, String>,
}

/// Where `server` sees `rtp`: its name looked up (an address of the socket's family), then
/// one RFC 5389 Binding transaction from the socket itself.
pub(crate) async fn lookup(rtp: &UdpSocket, server: &StunServer) -> Result<Mapping, String> {
    let ours = rtp.local_addr().map_err(|e| e.to_string())?;
    let mut addrs = tokio::net::lookup_host((server.host.as_str(), server.port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", server.host))?;
    let target = addrs
        .find(|a: &SocketAddr| a.is_ipv4() == ours.is_ipv4())
        .ok_or_else(|| format!("{} has no address of our RTP socket's family", server.host))?;
    stun::discover(rtp, target).await.map_err(|e| e.to_string())
}

impl<S: SipSide> Engine<S> {
    /// Starts the lookup for `call`'s freshly bound sockets; its end comes back as a
    /// `Done::Stun` and then as the `RtpBound` the table waits for.
    pub(super) fn spawn_stun(
        &mut self,
        call: CallId,
        sockets: (UdpSocket, UdpSocket),
        session_id: u64,
        server: StunServer,
    ) {
        self.tasks.spawn(async move {
            let found = lookup(&sockets.0, &server).await;
            super::Done::Stun(Box::new(StunDone {
                call,
                sockets,
                session_id,
                server: format!("{}:{}", server.host, server.port),
                found,
            }))
        });
    }

    /// The lookup ended: the mapped address goes into this call's SDP, or, when the lookup
    /// failed, the address we would have used anyway (the registrar's view or our own).
    pub(super) fn on_stun(&mut self, done: StunDone) -> Option<Input> {
        let StunDone {
            call,
            sockets,
            session_id,
            server,
            found,
        } = done;
        if self.table.get(call).is_none_or(|c| c.torn_down) {
            return None; // gone meanwhile; the sockets close here
        }
        let port = sockets.0.local_addr().map(|a| a.port()).unwrap_or(0);
        self.resources.entry(call).sockets = Some(sockets);
        let public = match found {
            Ok(Mapping { public, took }) => {
                self.log.line(
                    LogLevel::Info,
                    LogKind::Audio,
                    format!(
                        "call {call}: SDP offers {public} for media: the STUN server {server} \
                         sees our RTP port {port} there (lookup {:.1} ms)",
                        took.as_secs_f64() * 1000.0
                    ),
                );
                Some(public)
            }
            Err(e) => {
                let fallback = self.table.sdp_address();
                let why = if fallback == self.bind_ip {
                    "our own address"
                } else {
                    "the address the registrar saw"
                };
                self.log.warn(format!(
                    "call {call}: STUN lookup failed ({e}); SDP offers {fallback}:{port}, {why}"
                ));
                None
            }
        };
        Some(Input::RtpBound {
            call,
            result: Ok((port, session_id)),
            public,
        })
    }
}
