//! Call media: codecs, SDP offer/answer and the per-call RTP session.
//!
//! The engine negotiates with [`sdp`], binds a socket with [`session::bind_rtp`], and hands the
//! result to [`session::start`], which runs one task per call until stopped. Where the audio
//! comes from and goes to is an [`audio::AudioPort`], so the RTP path never knows whether it
//! talks to a sound card, a file, an echo loop or the bridge.

pub mod audio;
pub mod device;
pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod meter;
pub mod opus;
pub mod plc;
pub mod quality;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod session;
pub mod srtp;
pub mod stun;
pub mod transcode;
pub mod turns;
pub mod vad;
pub mod wav;

pub use audio::{port_for, AudioMode, AudioPort};
pub use sdp::{MediaDirection, Negotiated};
pub use session::{MediaError, MediaHandle, MediaStats};
