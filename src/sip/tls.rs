//! SIP over TLS to the registrar (RFC 3261 §26.2, RFC 5630): we dial it from our SIP address,
//! do the handshake ourselves with rustls (so a refused certificate is ours to put into
//! words), then hand the encrypted stream to rsipstack as the registrar's flow. The registrar
//! reaches us over that flow (RFC 5626); we run no TLS server.
//!
//! rsipstack sees the decrypted messages, so the SIP trace shows them as for any transport.

mod trust;
mod words;

pub use trust::{Trust, TrustError};
pub use words::{certificate as certificate_words, Handshake};

use crate::sip::flow::Flow;
use crate::sip::tcp::{shared_socket, CONNECT_TIMEOUT};
use rsipstack::sip::Transport as SipTransport;
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transport::tls::TlsConnection;
use rsipstack::transport::{SipAddr, SipConnection};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

/// A registrar that accepted TCP but does not finish the handshake in this time is not
/// speaking TLS with us.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no TLS flow to the registrar could be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DialError {
    /// The certificate is not acceptable; the same answer would come every time.
    #[error("{0}")]
    Untrusted(String),
    /// Anything that may go better on another try.
    #[error("{0}")]
    Failed(String),
}

/// Our TLS client side: the address flows are dialled from and the trust they are checked
/// against.
pub struct TlsTransport {
    local: SocketAddr,
    endpoint: EndpointInnerRef,
    config: Arc<ClientConfig>,
    private_ca: bool,
    cancel: CancellationToken,
    /// Holds our SIP address (bound, never listening) so that no one else takes the port
    /// our Contact names while no flow is open.
    _reserved: TcpSocket,
}

impl TlsTransport {
    /// Reserves `local` (port 0 picks one) and prepares the client configuration.
    pub fn reserve(
        local: SocketAddr,
        trust: &Trust,
    ) -> Result<(TcpSocket, Arc<ClientConfig>), String> {
        let socket = shared_socket(local).map_err(|e| e.to_string())?;
        socket.bind(local).map_err(|e| e.to_string())?;
        let config = trust
            .client_config()
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        Ok((socket, config))
    }

    pub fn new(
        reserved: TcpSocket,
        config: Arc<ClientConfig>,
        trust: &Trust,
        endpoint: EndpointInnerRef,
        cancel: CancellationToken,
    ) -> std::io::Result<Arc<TlsTransport>> {
        Ok(Arc::new(TlsTransport {
            local: reserved.local_addr()?,
            endpoint,
            config,
            private_ca: trust.has_private_ca(),
            cancel,
            _reserved: reserved,
        }))
    }

    /// Where flows come from: the address our Via and Contact name.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Dials the registrar at `target` from our SIP address, checks its certificate against
    /// `host` (the registrar URI's host: SNI for a name, an IP check for an address), and
    /// gives the flow to rsipstack.
    pub async fn dial(&self, target: SocketAddr, host: &str) -> Result<Flow, DialError> {
        let name = server_name(host).map_err(DialError::Untrusted)?;
        let socket = shared_socket(self.local).map_err(|e| DialError::Failed(e.to_string()))?;
        socket
            .bind(self.local)
            .map_err(|e| DialError::Failed(format!("cannot use {} for it: {e}", self.local)))?;
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(target)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(DialError::Failed(e.to_string())),
            Err(_) => {
                return Err(DialError::Failed(format!(
                    "no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )))
            }
        };
        let connector = TlsConnector::from(self.config.clone());
        let stream =
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, stream)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return Err(self.handshake_error(&e, host)),
                Err(_) => {
                    return Err(DialError::Failed(format!(
                        "the TLS handshake with {host} did not finish within {} s",
                        HANDSHAKE_TIMEOUT.as_secs()
                    )))
                }
            };
        let closed = self.cancel.child_token();
        let remote = SipAddr {
            r#type: Some(SipTransport::Tls),
            addr: target.into(),
        };
        let connection = TlsConnection::from_client_stream(stream, remote, Some(closed.clone()))
            .await
            .map_err(|e| DialError::Failed(e.to_string()))?;
        self.endpoint
            .transport_layer
            .add_connection(SipConnection::Tls(connection.clone()));
        Ok(Flow::tls(connection, closed, target))
    }

    /// tokio-rustls reports rustls's error inside an `io::Error`; without one it was the
    /// network's.
    fn handshake_error(&self, error: &std::io::Error, host: &str) -> DialError {
        let tls = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match tls {
            Some(tls) => match words::handshake(tls, host, self.private_ca) {
                Handshake::Untrusted(why) => DialError::Untrusted(why),
                Handshake::Failed(why) => DialError::Failed(why),
            },
            None => DialError::Failed(format!("the TLS handshake with {host} failed: {error}")),
        }
    }
}

/// The name the certificate must carry: the host itself for a name (also sent as SNI), or
/// the address for an IP literal (checked against the certificate's IP names; no SNI).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(bare.to_string()).map_err(|_| {
        format!("'{host}' is not a host name a TLS certificate can be checked against")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_become_the_right_server_names() {
        assert!(matches!(
            server_name("sip.example.com"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(server_name("[::1]"), Ok(ServerName::IpAddress(_))));
        assert!(server_name("bad_name!").is_err());
    }
}
