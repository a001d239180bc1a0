//! RFC 5626 §4.4.1 keep-alives over UDP: a double CRLF sent to the registrar from our own SIP
//! socket. It carries nothing, but it leaves through the same NAT mapping as our REGISTERs,
//! so the router keeps the way open for the registrar (and the calls it relays) to reach us.
//! Over UDP nothing answers it (RFC 5626 keeps the pong for connection-oriented flows); the
//! public address is learned from the binding query instead (`bindings.rs`).
//!
//! Rates: the CRLF goes every `--keepalive` interval (25 s by default: NAT routers commonly
//! forget an idle UDP mapping after 30 s), because it costs 32 bytes on the wire. The binding
//! query is an authenticated REGISTER exchange of about 2.5 kB, so it runs only every
//! [`QUERY_EVERY`]th interval (100 s at the default): often enough to notice within two
//! minutes that the registrar forgot us or that our public address moved, rare enough that
//! a busy registrar does not carry a challenge-and-answer per client every 25 s.

use rsipstack::sip::Uri;
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transport::{SipAddr, SipConnection};

/// The keep-alive itself (RFC 5626 §3.5.1: "double-CRLF").
pub(super) const PING: &[u8] = b"\r\n\r\n";

/// The binding query runs on every this many keep-alive intervals.
pub(super) const QUERY_EVERY: u32 = 4;

/// Whether the `tick`th keep-alive interval (counting from 1 after a registration) also asks
/// the registrar which bindings it holds.
pub(super) fn queries_on(tick: u32) -> bool {
    tick > 0 && tick.is_multiple_of(QUERY_EVERY)
}

/// Sends one double CRLF to the registrar over UDP, from the socket our REGISTERs leave by.
/// Does nothing over other transports (TCP flows get their own pings).
pub(super) async fn ping(endpoint: &EndpointInnerRef, server: &Uri) -> Result<(), String> {
    let target = SipAddr::try_from(server).map_err(|e| e.to_string())?;
    let (connection, destination) = endpoint
        .transport_layer
        .lookup(&target, None)
        .await
        .map_err(|e| e.to_string())?;
    match connection {
        SipConnection::Udp(udp) => udp
            .send_raw(PING, &destination)
            .await
            .map_err(|e| e.to_string()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binding_query_rides_on_every_fourth_keepalive() {
        let ticks: Vec<u32> = (0..=12).filter(|&t| queries_on(t)).collect();
        assert_eq!(ticks, [4, 8, 12]);
    }
}
