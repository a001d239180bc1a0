//! The SDP `a=crypto` attribute of SDES (RFC 4568 §9.1):
//! `a=crypto:<tag> <crypto-suite> inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>] [<session-params>]`.
//!
//! Tolerant of what changes nothing for us (a lifetime in either notation, case in the suite
//! name, a WSH window, padding or not in the base64); a line we cannot honour is refused with
//! the reason, and the negotiation moves on to the next line: MKI (we send none and would have
//! to strip theirs), several keys, a key method other than `inline`, session parameters that
//! turn protection off or change key derivation.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, Engine as _};

use super::{MasterKey, Suite, MASTER_LEN};

/// Standard alphabet; padding optional when reading (a 30-byte key needs none anyway).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One readable and usable `a=crypto` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptoLine {
    pub tag: u32,
    pub suite: Suite,
    pub key: MasterKey,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoLineError {
    #[error("not \"<tag> <suite> inline:<key>\"")]
    Malformed,
    #[error("tag \"{0}\" is not a number of at most 9 digits")]
    BadTag(String),
    #[error("unknown crypto suite \"{0}\"")]
    UnknownSuite(String),
    #[error("key method \"{0}\" is not inline")]
    KeyMethod(String),
    #[error("the inline key is not valid base64")]
    BadBase64,
    #[error("the inline key has {got} bytes; {suite} needs {MASTER_LEN} (key and salt)")]
    KeyLength { suite: Suite, got: usize },
    #[error("the key has an MKI ({0}), which sipterm does not support")]
    Mki(String),
    #[error("several keys on one line (MKI), which sipterm does not support")]
    SeveralKeys,
    #[error("session parameter \"{0}\" is not supported")]
    SessionParam(String),
}

/// Reads the value of an `a=crypto` attribute (what follows `crypto:`).
pub fn parse_crypto(value: &str) -> Result<CryptoLine, CryptoLineError> {
    let mut fields = value.split_whitespace();
    let (Some(tag), Some(suite), Some(key_params)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(CryptoLineError::Malformed);
    };
    // RFC 4568 §9.1: tag = 1*9DIGIT.
    let tag = Some(tag)
        .filter(|t| t.len() <= 9)
        .and_then(|t| t.parse::<u32>().ok())
        .ok_or_else(|| CryptoLineError::BadTag(tag.to_string()))?;
    let suite =
        Suite::from_name(suite).ok_or_else(|| CryptoLineError::UnknownSuite(suite.to_string()))?;
    if key_params.contains(';') {
        return Err(CryptoLineError::SeveralKeys);
    }
    let (method, info) = key_params
        .split_once(':')
        .ok_or(CryptoLineError::Malformed)?;
    if !method.eq_ignore_ascii_case("inline") {
        return Err(CryptoLineError::KeyMethod(method.to_string()));
    }
    let mut parts = info.split('|');
    let key = parts.next().unwrap_or_default();
    for part in parts {
        // "<n>:<len>" is an MKI; anything else is a lifetime ("2^31" or a number), which only
        // says when to rekey: our calls end long before 2^31 packets.
        if part.contains(':') {
            return Err(CryptoLineError::Mki(part.to_string()));
        }
    }
    for param in fields {
        check_session_param(param)?;
    }
    let bytes = BASE64.decode(key).map_err(|_| CryptoLineError::BadBase64)?;
    let bytes: [u8; MASTER_LEN] =
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoLineError::KeyLength {
                suite,
                got: bytes.len(),
            })?;
    Ok(CryptoLine {
        tag,
        suite,
        key: MasterKey::from_bytes(bytes),
    })
}

/// RFC 4568 §6.3: parameters we cannot honour make the line unusable; WSH (a wider replay
/// window) and FEC_ORDER (we do no FEC) change nothing for us; a KDR of 0 is the default.
fn check_session_param(param: &str) -> Result<(), CryptoLineError> {
    let (name, value) = param.split_once('=').unwrap_or((param, ""));
    let ok = match name.to_ascii_uppercase().as_str() {
        "WSH" | "FEC_ORDER" => true,
        "KDR" => value == "0",
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(CryptoLineError::SessionParam(param.to_string()))
    }
}

/// The value of our `a=crypto` attribute (without `a=crypto:`).
pub fn format_crypto(tag: u32, suite: Suite, key: &MasterKey) -> String {
    format!(
        "{tag} {} inline:{}",
        suite.name(),
        BASE64.encode(key.as_bytes())
    )
}
