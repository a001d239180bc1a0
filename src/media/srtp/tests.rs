use super::*;

/// A key in the shape baresip and RFC 4568 §9.1's example use (40 base64 characters).
const KEY_B64: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

fn key(fill: u8) -> MasterKey {
    MasterKey::from_bytes([fill; MASTER_LEN])
}

fn rtp_packet(seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0x12, 0x34, 0x56, 0x78];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn pair(suite: Suite) -> (SrtpStreams, SrtpStreams) {
    let alice = SrtpKeys {
        suite,
        tag: 1,
        ours: key(1),
        theirs: key(2),
    };
    let bob = SrtpKeys {
        suite,
        tag: 1,
        ours: key(2),
        theirs: key(1),
    };
    (
        SrtpStreams::new(&alice).unwrap(),
        SrtpStreams::new(&bob).unwrap(),
    )
}

#[test]
fn reads_an_rfc4568_crypto_line() {
    let line = parse_crypto(&format!(
        "1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|2^20|1:4"
    ));
    // The RFC's own example carries an MKI, which we refuse (with the reason).
    assert_eq!(line, Err(CryptoLineError::Mki("1:4".into())));
    let line = parse_crypto(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|2^20")).unwrap();
    assert_eq!(line.tag, 1);
    assert_eq!(line.suite, Suite::AesCm128HmacSha1_80);
    assert_eq!(&line.key.as_bytes()[..5], b"YS___");
}

#[test]
fn lifetime_in_either_notation_and_harmless_params_are_tolerated() {
    for tail in [
        "|2^31",
        "|1048576",
        "",
        " WSH=128",
        " KDR=0 FEC_ORDER=FEC_SRTP",
    ] {
        let value = format!("7 aes_cm_128_hmac_sha1_32 inline:{KEY_B64}{tail}");
        let line = parse_crypto(&value).unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(line.suite, Suite::AesCm128HmacSha1_32);
        assert_eq!(line.tag, 7);
    }
}

#[test]
fn unusable_crypto_lines_say_why() {
    let cases = [
        ("1 AES_CM_128_HMAC_SHA1_80", CryptoLineError::Malformed),
        (
            "x AES_CM_128_HMAC_SHA1_80 inline:AAAA",
            CryptoLineError::BadTag("x".into()),
        ),
        (
            "1 AES_256_CM_HMAC_SHA1_80 inline:AAAA",
            CryptoLineError::UnknownSuite("AES_256_CM_HMAC_SHA1_80".into()),
        ),
        (
            "1 AES_CM_128_HMAC_SHA1_80 inline:not*base64!",
            CryptoLineError::BadBase64,
        ),
        (
            "1 AES_CM_128_HMAC_SHA1_80 inline:AAAAAAAAAAAAAAAAAAAAAA==",
            CryptoLineError::KeyLength {
                suite: Suite::AesCm128HmacSha1_80,
                got: 16,
            },
        ),
        (
            "1 AES_CM_128_HMAC_SHA1_80 uri:https://example.com/key",
            CryptoLineError::KeyMethod("uri".into()),
        ),
        (
            &format!(
                "1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|2^20|1:4;inline:{KEY_B64}|2^20|2:4"
            ),
            CryptoLineError::SeveralKeys,
        ),
        (
            &format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64} UNENCRYPTED_SRTP"),
            CryptoLineError::SessionParam("UNENCRYPTED_SRTP".into()),
        ),
        (
            &format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64} KDR=24"),
            CryptoLineError::SessionParam("KDR=24".into()),
        ),
    ];
    for (value, want) in cases {
        assert_eq!(parse_crypto(value), Err(want), "{value}");
    }
}

#[test]
fn our_crypto_line_reads_back() {
    let k = MasterKey::generate().unwrap();
    let text = format_crypto(2, Suite::AesCm128HmacSha1_32, &k);
    assert!(
        text.starts_with("2 AES_CM_128_HMAC_SHA1_32 inline:"),
        "{text}"
    );
    // 30 bytes are exactly 40 base64 characters: no padding.
    assert_eq!(text.split("inline:").nth(1).unwrap().len(), 40);
    let line = parse_crypto(&text).unwrap();
    assert_eq!(
        line,
        CryptoLine {
            tag: 2,
            suite: Suite::AesCm128HmacSha1_32,
            key: k
        }
    );
}

#[test]
fn generated_keys_differ_and_debug_hides_them() {
    let a = LocalSrtp::new(SrtpMode::Mandatory).unwrap();
    assert_ne!(
        a.key(Suite::AesCm128HmacSha1_80),
        a.key(Suite::AesCm128HmacSha1_32)
    );
    assert_ne!(a, LocalSrtp::new(SrtpMode::Mandatory).unwrap());
    assert_eq!(format!("{:?}", key(9)), "MasterKey(..)");
}

#[test]
fn protected_rtp_hides_the_payload_and_reads_back() {
    for suite in Suite::ALL {
        let (mut alice, mut bob) = pair(suite);
        let plain = rtp_packet(1000, &[0xff; 160]);
        let wire = alice.protect_rtp(&plain).unwrap().as_ref().to_vec();
        let tag_len = match suite {
            Suite::AesCm128HmacSha1_80 => 10,
            Suite::AesCm128HmacSha1_32 => 4,
        };
        assert_eq!(wire.len(), plain.len() + tag_len);
        assert_eq!(wire[..12], plain[..12], "the header stays readable");
        assert!(
            wire[12..172].iter().filter(|b| **b == 0xff).count() < 10,
            "μ-law silence must not show through"
        );
        let back = bob.unprotect_rtp(&wire).unwrap();
        assert_eq!(back.as_ref(), &plain[..]);
    }
}

#[test]
fn tampered_or_foreign_packets_are_rejected_and_replays_named() {
    let (mut alice, mut bob) = pair(Suite::AesCm128HmacSha1_80);
    let mut wire = alice
        .protect_rtp(&rtp_packet(5, b"hello"))
        .unwrap()
        .as_ref()
        .to_vec();
    wire[13] ^= 0x01;
    assert!(matches!(
        bob.unprotect_rtp(&wire),
        Err(Unprotect::Rejected(_))
    ));
    wire[13] ^= 0x01;
    assert!(bob.unprotect_rtp(&wire).is_ok());
    assert_eq!(bob.unprotect_rtp(&wire).err(), Some(Unprotect::Replayed));
    // Plain RTP on an SRTP call is not authentic either.
    assert!(matches!(
        bob.unprotect_rtp(&rtp_packet(6, &[0; 160])),
        Err(Unprotect::Rejected(_))
    ));
    // Someone else's key.
    let (mut mallory, _) = pair(Suite::AesCm128HmacSha1_80);
    let _ = mallory.protect_rtp(&rtp_packet(7, b"x"));
    let (_, mut eve) = pair(Suite::AesCm128HmacSha1_80);
    let forged = eve
        .protect_rtp(&rtp_packet(8, b"x"))
        .unwrap()
        .as_ref()
        .to_vec();
    assert!(matches!(
        bob.unprotect_rtp(&forged),
        Err(Unprotect::Rejected(_))
    ));
}

#[test]
fn srtcp_round_trips_and_rejects_tampering() {
    let (mut alice, mut bob) = pair(Suite::AesCm128HmacSha1_32);
    let mut rr = Vec::new();
    crate::media::rtcp::build_rr(&mut rr, 0x1234_5678, &[]);
    crate::media::rtcp::build_sdes_cname(&mut rr, 0x1234_5678, "sipterm");
    let wire = alice.protect_rtcp(&rr).unwrap().as_ref().to_vec();
    // SRTCP index (4 bytes, E flag set) and an 80-bit tag: RTCP keeps its 80-bit tag even
    // under the _32 suite (RFC 4568 §6.2.2).
    assert_eq!(wire.len(), rr.len() + 4 + 10);
    assert_eq!(bob.unprotect_rtcp(&wire).unwrap().as_ref(), &rr[..]);
    let mut bad = alice.protect_rtcp(&rr).unwrap().as_ref().to_vec();
    bad[10] ^= 0x80;
    assert!(matches!(
        bob.unprotect_rtcp(&bad),
        Err(Unprotect::Rejected(_))
    ));
}

#[test]
fn srtcp_without_the_encryption_flag_is_not_taken_unauthenticated() {
    let (_, mut bob) = pair(Suite::AesCm128HmacSha1_80);
    let mut rr = Vec::new();
    crate::media::rtcp::build_rr(&mut rr, 0x0bad_0bad, &[]);
    crate::media::rtcp::build_sdes_cname(&mut rr, 0x0bad_0bad, "forger");
    // A forger's "SRTCP": E clear, index 1, any tag. rtc-srtp alone would hand it back as
    // plain RTCP without checking the tag.
    let mut forged = rr.clone();
    forged.extend_from_slice(&[0, 0, 0, 1]);
    forged.extend_from_slice(&[0x55; 10]);
    assert!(matches!(
        bob.unprotect_rtcp(&forged),
        Err(Unprotect::Rejected(_))
    ));
    // Plain RTCP as baresip sends its first APP packet ("PING", 16 bytes).
    let ping = [
        0x80, 0xcc, 0, 3, 0xea, 9, 0x5b, 0xcb, b'P', b'I', b'N', b'G', b'P', b'O', b'N', b'G',
    ];
    assert!(matches!(
        bob.unprotect_rtcp(&ping),
        Err(Unprotect::Rejected(_))
    ));
}
