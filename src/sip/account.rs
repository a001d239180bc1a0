//! The SIP account and transport the user agent and registration work with, as the
//! configuration resolved them.

use crate::sip::uri::SipUri;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

#[derive(Clone)]
pub struct Account {
    /// Address of record (`--sip-uri`).
    pub aor: SipUri,
    pub registrar: SipUri,
    pub username: String,
    pub password: Option<String>,
}

// The password never reaches logs, panics or `{:?}`.
impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("aor", &self.aor)
            .field("registrar", &self.registrar)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}
