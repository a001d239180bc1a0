//! The voice bridge: connects a call's audio to OpenAI's Realtime API (GA protocol) or to
//! GPT-Live ([`live`]).
//!
//! [`protocol`] holds the wire types, [`audio`] the pure audio pump (re-framing, played
//! position, barge-in truncation, format conversion), and [`session`] the WebSocket task and
//! the [`BridgePort`] that the call's media task uses as its `AudioPort`.

pub mod api;
pub mod audio;
pub mod caller;
pub mod live;
pub mod protocol;
pub mod reorder;
pub mod session;

pub use api::Api;
pub use session::{
    start, ApiKey, BridgeConfig, BridgeError, BridgeEvent, BridgeEvents, BridgeHandle, BridgePort,
    BridgeStats, IdleProbe, Retry, Vad, DEFAULT_MODEL, UNTRANSCRIBED,
};
