//! `--srtp` in the call table: what an INVITE with or without crypto gets in each mode, that
//! the answer carries our key and the media starts with both keys, that a re-INVITE keeps our
//! key, and that the suite reaches the `media_started` event.

use super::*;
use crate::media::srtp::{SrtpMode, Suite};

const KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB";

fn savp_offer(crypto: &[&str]) -> String {
    let lines: Vec<String> = crypto.iter().map(|c| format!("a=crypto:{c}")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    offer("0", &refs).replace("RTP/AVP", "RTP/SAVP")
}

fn srtp_policy(mode: SrtpMode) -> Policy {
    Policy {
        srtp: mode,
        ..policy()
    }
}

/// 488 with the reason in words (for the Reason header).
fn refused_with_488(out: &[Effect]) -> bool {
    actions(out).iter().any(|e| {
        matches!(e, Effect::RejectBecause { key: k, status: 488, why }
            if *k == key(1) && (why.contains("--srtp") || why.contains("a=crypto")))
    })
}

#[test]
fn bad_crypto_lines_get_488_naming_each_and_never_ring() {
    let mut s = Script::new(srtp_policy(SrtpMode::Mandatory));
    let out = s.invite(
        1,
        Some(savp_offer(&[
            "1 AES_CM_128_HMAC_SHA1_80 inline:%%%%",
            "2 NULL_HMAC_SHA1_80 inline:AAAA",
            "3 AES_CM_128_HMAC_SHA1_32 inline:AAAAAAAA",
        ])),
    );
    assert!(refused_with_488(&out), "{out:?}");
    assert!(!out.iter().any(|e| matches!(e, Effect::Ring(_))));
    let log = logs(&out).join("\n");
    for why in ["not valid base64", "unknown crypto suite", "has 6 bytes"] {
        assert!(log.contains(why), "{why}: {log}");
    }
    let Some((EndReason::Failed { reason }, ..)) = ended(&out) else {
        panic!("ended as failed: {out:?}");
    };
    assert!(reason.contains("no usable a=crypto"), "{reason}");
    assert!(s.table.is_empty());
}

#[test]
fn mandatory_refuses_plain_and_off_refuses_savp() {
    let mut s = Script::new(srtp_policy(SrtpMode::Mandatory));
    let out = s.invite(1, Some(pcmu_offer()));
    assert!(refused_with_488(&out), "{out:?}");
    assert!(logs(&out)[0].contains("--srtp is mandatory"), "{out:?}");

    let mut s = Script::new(srtp_policy(SrtpMode::Off));
    let out = s.invite(
        1,
        Some(savp_offer(&[&format!(
            "1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"
        )])),
    );
    assert!(refused_with_488(&out), "{out:?}");
    assert!(logs(&out)[0].contains("--srtp is off"), "{out:?}");
}

#[test]
fn an_srtp_call_answers_with_a_fresh_key_and_starts_encrypted_media() {
    let mut s = Script::new(srtp_policy(SrtpMode::Mandatory));
    let offer = savp_offer(&[&format!("5 AES_CM_128_HMAC_SHA1_32 inline:{KEY}|2^31")]);
    s.invite(1, Some(offer.clone()));
    let id = CallId(1);
    s.on(Input::Command(Command::Answer(id)));
    let out = s.on(Input::RtpBound {
        call: id,
        result: Ok((10_002, 7)),
        public: None,
    });
    let [Effect::Accept { sdp, .. }] = &out[..] else {
        panic!("one Accept: {out:?}");
    };
    assert!(sdp.contains("m=audio 10002 RTP/SAVP 0"), "{sdp}");
    let crypto: Vec<&str> = sdp.lines().filter(|l| l.starts_with("a=crypto:")).collect();
    assert_eq!(crypto.len(), 1, "{sdp}");
    assert!(crypto[0].starts_with("a=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:"));
    assert!(
        !crypto[0].contains(KEY),
        "our key is ours, not an echo of theirs"
    );
    let out = s.on(Input::Accepted {
        call: id,
        result: Ok(()),
    });
    let Some(Effect::StartMedia { negotiated, .. }) =
        out.iter().find(|e| matches!(e, Effect::StartMedia { .. }))
    else {
        panic!("media starts: {out:?}");
    };
    let keys = negotiated.srtp.clone().expect("encrypted media");
    assert_eq!(keys.suite, Suite::AesCm128HmacSha1_32);
    assert_ne!(keys.ours, keys.theirs);
    let out = s.media_started(id, 10_002);
    assert!(
        events(&out).iter().any(|e| matches!(
            e,
            Event::MediaStarted {
                srtp: Some(Suite::AesCm128HmacSha1_32),
                ..
            }
        )),
        "{out:?}"
    );
    s.on(Input::Confirmed {
        key: key(1),
        ack_sdp: None,
    });

    // A re-INVITE (same keys): the answer keeps our key.
    let out = s.on(Input::Reoffer {
        key: key(1),
        offer: Some(offer.replace("o=- 99 1", "o=- 99 2")),
        update: false,
        request: RequestId(1),
    });
    let Some(Effect::Respond {
        status: 200,
        sdp: Some(again),
        ..
    }) = out.iter().find(|e| matches!(e, Effect::Respond { .. }))
    else {
        panic!("200 with SDP: {out:?}");
    };
    let again: Vec<&str> = again
        .lines()
        .filter(|l| l.starts_with("a=crypto:"))
        .collect();
    assert_eq!(again, crypto);
}
