//! The registrar's flow over TCP or TLS (RFC 5626): the connection we dialled, which rsipstack
//! reads and writes and the registrar reuses to reach us. Registration keeps it alive with
//! CRLF pings and notices when it is gone.

use rsipstack::transport::stream::StreamConnection;
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::tls::TlsConnection;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

enum Link {
    Tcp(TcpConnection),
    Tls(TlsConnection),
}

/// One open flow to the registrar.
pub struct Flow {
    link: Link,
    /// Cancelled by rsipstack when the connection's read loop ends (closed, reset, failed).
    closed: CancellationToken,
    pub remote: SocketAddr,
}

impl Flow {
    pub(crate) fn tcp(
        connection: TcpConnection,
        closed: CancellationToken,
        remote: SocketAddr,
    ) -> Flow {
        Flow {
            link: Link::Tcp(connection),
            closed,
            remote,
        }
    }

    pub(crate) fn tls(
        connection: TlsConnection,
        closed: CancellationToken,
        remote: SocketAddr,
    ) -> Flow {
        Flow {
            link: Link::Tls(connection),
            closed,
            remote,
        }
    }

    /// "TCP" or "TLS", for messages about the flow.
    pub fn transport(&self) -> &'static str {
        match self.link {
            Link::Tcp(_) => "TCP",
            Link::Tls(_) => "TLS",
        }
    }

    /// Resolves once the connection has closed, for whatever reason.
    pub async fn closed(&self) {
        self.closed.cancelled().await
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// RFC 5626 §4.4.1: a CRLF pair; the registrar answers with one CRLF. Any traffic keeps
    /// its idle timer (and NAT bindings) from closing the flow.
    pub async fn ping(&self) -> Result<(), String> {
        let sent = match &self.link {
            Link::Tcp(c) => c.send_raw(b"\r\n\r\n").await,
            Link::Tls(c) => c.send_raw(b"\r\n\r\n").await,
        };
        sent.map_err(|e| e.to_string())
    }
}
