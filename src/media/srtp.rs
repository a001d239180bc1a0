//! SRTP with SDES keying (RFC 3711, RFC 4568): the crypto suites we speak, master keys, what
//! offer/answer agreed on, and the per-call contexts that protect and unprotect RTP and RTCP.
//!
//! The cryptography is `rtc-srtp` (webrtc-rs, pure Rust, RFC 3711 key-derivation vectors in
//! its tests) on `ring` and RustCrypto's AES-CTR/HMAC-SHA1; nothing here is hand-written
//! crypto. Keys come from the operating system's CSPRNG and only ever travel in SDP over TLS
//! (the check is at start-up, in `config.rs`).

use std::fmt;

use rtc_srtp::context::Context;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;

mod crypto_line;
#[cfg(test)]
mod tests;

pub use crate::vocab::srtp::Suite;
pub use crypto_line::{format_crypto, parse_crypto, CryptoLine, CryptoLineError};

/// AES-128 master key (16 bytes) followed by its 112-bit master salt (14 bytes), the
/// `inline:` key of RFC 4568 §6.1 for both AES_CM_128 suites.
pub const MASTER_LEN: usize = 30;
const KEY_LEN: usize = 16;
/// RTCP header and sender SSRC, then SRTCP's E flag + index and its tag (80 bits for both
/// our suites, RFC 4568 §6.2), RFC 3711 §3.4.
const RTCP_HEADER_LEN: usize = 8;
const SRTCP_INDEX_LEN: usize = 4;
const SRTCP_TAG_LEN: usize = 10;
/// RFC 3711 §3.3.2: a 64-packet replay window is the recommended minimum.
const REPLAY_WINDOW: usize = 64;

/// `--srtp`: whether calls are encrypted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SrtpMode {
    /// Never offer keys; refuse RTP/SAVP offers with 488.
    #[default]
    Off,
    /// Take SRTP when the peer offers usable crypto (RTP/SAVP, or a=crypto on RTP/AVP), plain
    /// RTP otherwise; our own offers are RTP/AVP with a=crypto (best effort).
    Optional,
    /// Only SRTP: our offers are RTP/SAVP, and an offer without usable crypto gets 488.
    Mandatory,
}

impl SrtpMode {
    pub fn name(self) -> &'static str {
        match self {
            SrtpMode::Off => "off",
            SrtpMode::Optional => "optional",
            SrtpMode::Mandatory => "mandatory",
        }
    }
}

/// A master key and salt. Its `Debug` never shows the bytes: negotiated parameters are logged.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; MASTER_LEN]);

impl MasterKey {
    /// A fresh key from the operating system's CSPRNG (getrandom via `rand::rngs::OsRng`).
    pub fn generate() -> Result<MasterKey, SrtpError> {
        use rand::TryRngCore as _;
        let mut bytes = [0; MASTER_LEN];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| SrtpError::Random(e.to_string()))?;
        Ok(MasterKey(bytes))
    }

    pub fn from_bytes(bytes: [u8; MASTER_LEN]) -> MasterKey {
        MasterKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; MASTER_LEN] {
        &self.0
    }

    fn key(&self) -> &[u8] {
        &self.0[..KEY_LEN]
    }

    fn salt(&self) -> &[u8] {
        &self.0[KEY_LEN..]
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Our side of SDES for one call: the mode, and one key per suite (one suite is chosen, and a
/// key is never used with two). Kept for the whole call, so a re-INVITE answer keeps our key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalSrtp {
    pub mode: SrtpMode,
    keys: [MasterKey; 2],
}

impl LocalSrtp {
    /// No SRTP: no key is drawn.
    pub fn off() -> LocalSrtp {
        LocalSrtp::unkeyed(SrtpMode::Off)
    }

    /// `mode` with all-zero keys: for checking whether an offer is acceptable before any key
    /// is drawn. Never used to protect media.
    pub fn unkeyed(mode: SrtpMode) -> LocalSrtp {
        LocalSrtp {
            mode,
            keys: [MasterKey([0; MASTER_LEN]), MasterKey([0; MASTER_LEN])],
        }
    }

    /// Fresh keys for `mode` (none for `Off`).
    pub fn new(mode: SrtpMode) -> Result<LocalSrtp, SrtpError> {
        if mode == SrtpMode::Off {
            return Ok(LocalSrtp::off());
        }
        Ok(LocalSrtp {
            mode,
            keys: [MasterKey::generate()?, MasterKey::generate()?],
        })
    }

    /// With given keys (tests).
    pub fn with_keys(mode: SrtpMode, keys: [MasterKey; 2]) -> LocalSrtp {
        LocalSrtp { mode, keys }
    }

    pub fn key(&self, suite: Suite) -> &MasterKey {
        &self.keys[key_slot(suite)]
    }
}

/// What offer/answer agreed on: the suite, the tag of the accepted `a=crypto` line, the key we
/// send with and the key the peer sends with (RFC 4568 §6.1: each side's own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrtpKeys {
    pub suite: Suite,
    pub tag: u32,
    pub ours: MasterKey,
    pub theirs: MasterKey,
}

#[derive(Debug, thiserror::Error)]
pub enum SrtpError {
    #[error("no random bytes for an SRTP key: {0}")]
    Random(String),
    #[error("cannot set up SRTP ({suite}): {reason}")]
    Setup { suite: Suite, reason: String },
    #[error("SRTP protect failed: {0}")]
    Protect(String),
}

/// Why an incoming packet was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Unprotect {
    /// A packet already received (RFC 3711 §3.3.2 replay list): not an attack by itself,
    /// networks duplicate packets.
    Replayed,
    /// Failed authentication, or too short to carry a tag: never decoded or played.
    Rejected(String),
}

/// The SRTP and SRTCP contexts of one call: one for what we send, one for what we receive
/// (an `rtc-srtp` context works in one direction only), each keyed by its side's master key.
pub struct SrtpStreams {
    suite: Suite,
    outbound: Context,
    inbound: Context,
}

impl fmt::Debug for SrtpStreams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SrtpStreams({})", self.suite)
    }
}

impl SrtpStreams {
    pub fn new(keys: &SrtpKeys) -> Result<SrtpStreams, SrtpError> {
        let setup = |reason: String| SrtpError::Setup {
            suite: keys.suite,
            reason,
        };
        let provider = rtc_srtp::crypto::default_provider().map_err(|e| setup(e.to_string()))?;
        let crypto = provider.crypto();
        let profile = profile(keys.suite);
        let outbound = Context::new(
            keys.ours.key(),
            keys.ours.salt(),
            profile,
            None,
            None,
            crypto,
        )
        .map_err(|e| setup(e.to_string()))?;
        let inbound = Context::new(
            keys.theirs.key(),
            keys.theirs.salt(),
            profile,
            Some(srtp_replay_protection(REPLAY_WINDOW)),
            Some(srtcp_replay_protection(REPLAY_WINDOW)),
            crypto,
        )
        .map_err(|e| setup(e.to_string()))?;
        Ok(SrtpStreams {
            suite: keys.suite,
            outbound,
            inbound,
        })
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// An RTP packet as it goes on the wire: payload encrypted, auth tag appended.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<impl AsRef<[u8]>, SrtpError> {
        self.outbound
            .encrypt_rtp(packet)
            .map_err(|e| SrtpError::Protect(e.to_string()))
    }

    /// The plain RTP packet, once its tag proved it came from the key holder.
    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Result<impl AsRef<[u8]>, Unprotect> {
        self.inbound.decrypt_rtp(packet).map_err(classify)
    }

    /// An RTCP compound packet as it goes on the wire (SRTCP, RFC 3711 §3.4).
    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Result<impl AsRef<[u8]>, SrtpError> {
        self.outbound
            .encrypt_rtcp(packet)
            .map_err(|e| SrtpError::Protect(e.to_string()))
    }

    /// The plain RTCP compound, once its tag proved it came from the key holder.
    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<impl AsRef<[u8]>, Unprotect> {
        // rtc-srtp 0.21 returns a packet whose E flag is clear without checking its tag, but
        // RFC 3711 §3.4 makes SRTCP authentication mandatory either way, and we never agree
        // to unencrypted SRTCP (`UNENCRYPTED_SRTCP` is refused). So E must be set.
        let trailer = SRTCP_INDEX_LEN + SRTCP_TAG_LEN;
        let flagged =
            packet.len() >= RTCP_HEADER_LEN + trailer && packet[packet.len() - trailer] & 0x80 != 0;
        if !flagged {
            return Err(Unprotect::Rejected(
                "not SRTCP: too short, or the encryption flag is clear".into(),
            ));
        }
        self.inbound.decrypt_rtcp(packet).map_err(classify)
    }
}

fn key_slot(suite: Suite) -> usize {
    match suite {
        Suite::AesCm128HmacSha1_80 => 0,
        Suite::AesCm128HmacSha1_32 => 1,
    }
}

fn profile(suite: Suite) -> ProtectionProfile {
    match suite {
        Suite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        Suite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
    }
}

fn classify(e: rtc_shared::error::Error) -> Unprotect {
    use rtc_shared::error::Error;
    match e {
        Error::SrtpSsrcDuplicated(..) | Error::SrtcpSsrcDuplicated(..) => Unprotect::Replayed,
        other => Unprotect::Rejected(other.to_string()),
    }
}
