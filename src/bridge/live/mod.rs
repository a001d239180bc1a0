//! GPT-Live, the second voice API behind the bridge (live-notes §1–2): its wire types
//! ([`protocol`]), and the pure rules that stand in for what it does not report: transcript
//! lines from delta gaps ([`lines`]), turns and barge-ins from audio energy ([`turns`]), and
//! how a session ended ([`ending`]). The session task itself is `session::live`, beside the
//! Realtime one, so both share the port, the output queue and the connection code.

pub mod ending;
pub mod lines;
pub mod protocol;
pub mod turns;
