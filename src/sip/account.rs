//! The SIP account and transport the user agent and registration work with, as the
//! configuration resolved them.

use crate::sip::tls::Trust;
use crate::sip::uri::SipUri;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    /// TLS over TCP, to the registrar only: we dial it and it reaches us over that flow.
    Tls,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// The registrar's port when its URI names none (RFC 3261 §19.1.2: 5061 for TLS).
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            Transport::Udp | Transport::Tcp => 5060,
        }
    }

    /// TCP and TLS run over a connection we keep to the registrar.
    pub fn is_stream(self) -> bool {
        self != Transport::Udp
    }
}

#[derive(Clone)]
pub struct Account {
    /// Address of record (`--sip-uri`).
    pub aor: SipUri,
    pub registrar: SipUri,
    pub username: String,
    pub password: Option<String>,
    /// Whom we trust to vouch for the registrar's TLS certificate.
    pub trust: Trust,
}

impl Account {
    /// The registrar's URI as requests over `transport` name it: a stream transport in its
    /// `;transport=` and the port spelt out, since rsipstack finds our TCP or TLS flow by the
    /// registrar's address, port included.
    pub fn registrar_over(&self, transport: Transport) -> SipUri {
        let mut registrar = self.registrar.clone();
        if transport.is_stream() {
            if registrar.transport_param().is_none() {
                registrar.params.push(format!(
                    "transport={}",
                    transport.as_str().to_ascii_lowercase()
                ));
            }
            registrar.port.get_or_insert(transport.default_port());
        }
        registrar
    }
}

// The password never reaches logs, panics or `{:?}`.
impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("aor", &self.aor)
            .field("registrar", &self.registrar)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("trust", &self.trust)
            .finish()
    }
}
