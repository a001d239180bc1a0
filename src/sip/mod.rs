//! SIP signalling: the user agent on top of rsipstack, registration, flows over TCP and TLS,
//! message tracing, and the small URI parser the configuration uses. Nothing outside this
//! module touches rsipstack.

pub mod account;
pub mod dial;
pub mod flow;
pub mod registration;
pub mod reply;
pub mod screen;
pub mod tcp;
pub mod tls;
pub mod trace;
pub mod ua;
pub mod udp;
pub mod uri;
