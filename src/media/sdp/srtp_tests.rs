//! Offer/answer with SDES crypto (RFC 4568) under each `--srtp` mode, and the malformed
//! `a=crypto` lines that must end in the next line or a 488, never a panic.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::media::srtp::{self, LocalSrtp, MasterKey, SrtpMode, Suite, MASTER_LEN};
use crate::vocab::codec::Codec::{Pcma, Pcmu};

const G711: &[Codec] = &[Pcmu, Pcma];
/// 30 bytes of 0x01..: base64 of a key we can recognise in `theirs`.
const THEIR_KEY_B64: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB";

fn local(mode: SrtpMode) -> LocalMedia {
    LocalMedia {
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        port: 40000,
        session_id: 1234,
        session_version: 1,
        srtp: LocalSrtp::with_keys(
            mode,
            [
                MasterKey::from_bytes([0xaa; MASTER_LEN]),
                MasterKey::from_bytes([0xbb; MASTER_LEN]),
            ],
        ),
    }
}

fn offer(proto: &str, crypto: &[&str]) -> SessionDescription {
    let mut s = String::from(
        "v=0\r\no=- 99 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n",
    );
    s.push_str(&format!("m=audio 5004 {proto} 0 101\r\n"));
    s.push_str("a=rtpmap:101 telephone-event/8000\r\n");
    for c in crypto {
        s.push_str(&format!("a=crypto:{c}\r\n"));
    }
    parse(&s).expect("offer parses")
}

fn their_line(tag: u32, suite: &str) -> String {
    format!("{tag} {suite} inline:{THEIR_KEY_B64}|2^31")
}

fn answer_in(mode: SrtpMode, o: &SessionDescription) -> Result<(String, Negotiated), SdpError> {
    answer_preferring(o, G711, None, &local(mode))
}

fn crypto_lines(sdp: &str) -> Vec<&str> {
    sdp.split("\r\n")
        .filter(|l| l.starts_with("a=crypto:"))
        .collect()
}

#[test]
fn mandatory_answers_savp_with_our_key_for_the_offered_suite() {
    let o = offer(
        "RTP/SAVP",
        &[
            &their_line(1, "AES_CM_128_HMAC_SHA1_80"),
            &their_line(2, "AES_CM_128_HMAC_SHA1_32"),
        ],
    );
    let (sdp, n) = answer_in(SrtpMode::Mandatory, &o).unwrap();
    assert!(sdp.contains("m=audio 40000 RTP/SAVP 0 101\r\n"), "{sdp}");
    let ours = srtp::format_crypto(
        1,
        Suite::AesCm128HmacSha1_80,
        &MasterKey::from_bytes([0xaa; MASTER_LEN]),
    );
    assert_eq!(crypto_lines(&sdp), [format!("a=crypto:{ours}")]);
    let keys = n.srtp.expect("the stream is encrypted");
    assert_eq!(keys.suite, Suite::AesCm128HmacSha1_80);
    assert_eq!(keys.tag, 1);
    assert_eq!(keys.theirs, MasterKey::from_bytes([1; MASTER_LEN]));
    assert_eq!(keys.ours, MasterKey::from_bytes([0xaa; MASTER_LEN]));
}

#[test]
fn malformed_crypto_lines_are_skipped_for_the_next_usable_one() {
    let o = offer(
        "RTP/SAVP",
        &[
            "1 AES_CM_128_HMAC_SHA1_80 inline:@@not-base64@@",
            "2 AES_256_CM_HMAC_SHA1_80 inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "3 AES_CM_128_HMAC_SHA1_80 inline:AAAAAAAAAAAAAAAAAAAAAA==",
            &their_line(4, "AES_CM_128_HMAC_SHA1_32"),
        ],
    );
    let (sdp, n) = answer_in(SrtpMode::Mandatory, &o).unwrap();
    let keys = n.srtp.unwrap();
    assert_eq!((keys.tag, keys.suite), (4, Suite::AesCm128HmacSha1_32));
    let lines = crypto_lines(&sdp);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:"),
        "{sdp}"
    );
}

#[test]
fn no_usable_crypto_is_488_with_every_reason() {
    for mode in [SrtpMode::Mandatory, SrtpMode::Optional] {
        let o = offer(
            "RTP/SAVP",
            &[
                "1 AES_CM_128_HMAC_SHA1_80 inline:@@not-base64@@",
                "2 F8_128_HMAC_SHA1_80 inline:AAAA",
                "3 AES_CM_128_HMAC_SHA1_80 inline:AAAAAAAAAAAAAAAAAAAAAA==",
                "garbage",
            ],
        );
        let e = answer_in(mode, &o).unwrap_err();
        assert!(e.is_not_acceptable() && e.is_srtp(), "{e}");
        let text = e.to_string();
        for why in [
            "1: the inline key is not valid base64",
            "2: unknown crypto suite \"F8_128_HMAC_SHA1_80\"",
            "3: the inline key has 16 bytes",
            "garbage: not",
        ] {
            assert!(text.contains(why), "{why} missing from: {text}");
        }
        // RTP/SAVP without any a=crypto line.
        let e = answer_in(mode, &offer("RTP/SAVP", &[])).unwrap_err();
        assert!(matches!(e, SdpError::NoUsableCrypto { .. }), "{e}");
    }
}

#[test]
fn mandatory_refuses_plain_rtp_and_off_refuses_savp() {
    let e = answer_in(SrtpMode::Mandatory, &offer("RTP/AVP", &[])).unwrap_err();
    assert!(matches!(e, SdpError::SrtpRequired { .. }), "{e}");
    assert!(e.is_not_acceptable());
    assert!(e.to_string().contains("--srtp is mandatory"), "{e}");

    let o = offer("RTP/SAVP", &[&their_line(1, "AES_CM_128_HMAC_SHA1_80")]);
    let e = answer_in(SrtpMode::Off, &o).unwrap_err();
    assert!(matches!(e, SdpError::SrtpRefused { .. }), "{e}");
    assert!(e.is_not_acceptable());
}

#[test]
fn off_ignores_keys_offered_on_plain_rtp() {
    let o = offer("RTP/AVP", &[&their_line(1, "AES_CM_128_HMAC_SHA1_80")]);
    let (sdp, n) = answer_in(SrtpMode::Off, &o).unwrap();
    assert_eq!(n.srtp, None);
    assert!(crypto_lines(&sdp).is_empty(), "{sdp}");
    assert!(sdp.contains(" RTP/AVP "), "{sdp}");
}

#[test]
fn optional_takes_either_and_best_effort_sdes_on_avp() {
    // Plain offer: plain answer.
    let (sdp, n) = answer_in(SrtpMode::Optional, &offer("RTP/AVP", &[])).unwrap();
    assert_eq!(n.srtp, None);
    assert!(crypto_lines(&sdp).is_empty());
    // RTP/AVP with a=crypto (baresip's `mediaenc=srtp`): encrypted, answered on RTP/AVP.
    let o = offer("RTP/AVP", &[&their_line(1, "AES_CM_128_HMAC_SHA1_32")]);
    let (sdp, n) = answer_in(SrtpMode::Optional, &o).unwrap();
    assert_eq!(n.srtp.unwrap().suite, Suite::AesCm128HmacSha1_32);
    assert!(sdp.contains("m=audio 40000 RTP/AVP 0 101\r\n"), "{sdp}");
    assert_eq!(crypto_lines(&sdp).len(), 1);
    // Unusable best-effort keys on RTP/AVP leave the call plain rather than failing it.
    let o = offer("RTP/AVP", &["1 AES_CM_128_HMAC_SHA1_80 inline:short"]);
    let (sdp, n) = answer_in(SrtpMode::Optional, &o).unwrap();
    assert_eq!(n.srtp, None);
    assert!(crypto_lines(&sdp).is_empty());
    // Mandatory accepts keys on RTP/AVP too (they are usable crypto), but not bad ones.
    let o = offer("RTP/AVP", &["1 AES_CM_128_HMAC_SHA1_80 inline:short"]);
    let e = answer_in(SrtpMode::Mandatory, &o).unwrap_err();
    assert!(matches!(e, SdpError::NoUsableCrypto { .. }), "{e}");
}

#[test]
fn a_second_stream_with_usable_crypto_wins_over_a_refused_first() {
    let mut text = String::from(
        "v=0\r\no=- 99 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n",
    );
    text.push_str("m=audio 5004 RTP/AVP 0\r\n");
    text.push_str("m=audio 5006 RTP/SAVP 0\r\n");
    text.push_str(&format!(
        "a=crypto:{}\r\n",
        their_line(9, "AES_CM_128_HMAC_SHA1_80")
    ));
    let (sdp, n) = answer_in(SrtpMode::Mandatory, &parse(&text).unwrap()).unwrap();
    assert_eq!(n.remote.port(), 5006);
    assert!(sdp.contains("m=audio 0 RTP/AVP 0\r\n"), "{sdp}");
    assert!(sdp.contains("m=audio 40000 RTP/SAVP 0\r\n"), "{sdp}");
}

#[test]
fn our_offers_follow_the_mode() {
    let sdp = super::offer(G711, &local(SrtpMode::Mandatory));
    assert!(sdp.contains("m=audio 40000 RTP/SAVP 0 8 101\r\n"), "{sdp}");
    let lines = crypto_lines(&sdp);
    assert_eq!(lines.len(), 2, "{sdp}");
    assert!(lines[0].starts_with("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
    assert!(lines[1].starts_with("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:"));
    assert_ne!(lines[0][34..], lines[1][34..], "one key per suite");

    let sdp = super::offer(G711, &local(SrtpMode::Optional));
    assert!(sdp.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"), "{sdp}");
    assert_eq!(crypto_lines(&sdp).len(), 2);

    let sdp = super::offer(G711, &local(SrtpMode::Off));
    assert!(crypto_lines(&sdp).is_empty());
}

#[test]
fn an_answer_must_accept_one_of_our_crypto_lines() {
    let ours = local(SrtpMode::Mandatory);
    let sdp = |crypto: &[&str]| offer("RTP/SAVP", crypto);
    let n = negotiate_answer(
        &sdp(&[&their_line(2, "AES_CM_128_HMAC_SHA1_32")]),
        G711,
        &ours.srtp,
    )
    .unwrap();
    let keys = n.srtp.unwrap();
    assert_eq!(keys.suite, Suite::AesCm128HmacSha1_32);
    assert_eq!(&keys.ours, ours.srtp.key(Suite::AesCm128HmacSha1_32));
    // Tag 2 was our _32 line, not _80.
    let e = negotiate_answer(
        &sdp(&[&their_line(2, "AES_CM_128_HMAC_SHA1_80")]),
        G711,
        &ours.srtp,
    )
    .unwrap_err();
    assert!(matches!(e, SdpError::NoUsableCrypto { .. }), "{e}");
    // A plain answer to a mandatory offer.
    let plain = offer("RTP/AVP", &[]);
    assert!(negotiate_answer(&plain, G711, &ours.srtp).is_err());
}

#[test]
fn random_crypto_garbage_never_panics() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(4568);
    let pieces = [
        "1",
        "99999999999",
        "AES_CM_128_HMAC_SHA1_80",
        "inline:",
        THEIR_KEY_B64,
        "|",
        "2^",
        ":",
        ";",
        " ",
        "=",
        "KDR=",
        "WSH=64",
        "\u{00e9}",
        "==",
        "inline:|||",
    ];
    for _ in 0..3000 {
        let n = rng.random_range(0..8);
        let value: String = (0..n)
            .map(|_| pieces[rng.random_range(0..pieces.len())])
            .collect();
        let _ = srtp::parse_crypto(&value);
        for mode in [SrtpMode::Mandatory, SrtpMode::Optional] {
            let _ = answer_in(mode, &offer("RTP/SAVP", &[&value]));
        }
    }
}
