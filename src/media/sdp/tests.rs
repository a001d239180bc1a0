//! Offer/answer rules, each proved on a small hand-written SDP, plus malformed and random input.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rand::{Rng, SeedableRng};

use super::*;
use crate::media::srtp::LocalSrtp;
use crate::vocab::codec::Codec::{Opus, Pcma, Pcmu};

const G711: &[Codec] = &[Pcmu, Pcma];

fn local() -> LocalMedia {
    LocalMedia {
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        port: 40000,
        session_id: 1234,
        session_version: 1,
        srtp: LocalSrtp::off(),
    }
}

/// An offer with the given m= tail and extra media attribute lines.
fn offer_with(m_tail: &str, attrs: &[&str]) -> String {
    let mut s = String::from(
        "v=0\r\no=- 99 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n",
    );
    s.push_str(&format!("m=audio 5004 RTP/AVP {m_tail}\r\n"));
    for a in attrs {
        s.push_str(a);
        s.push_str("\r\n");
    }
    s
}

fn answer_to(text: &str, prefs: &[Codec]) -> Result<(String, Negotiated), SdpError> {
    answer(&parse(text).expect("offer parses"), prefs, &local())
}

fn lines(sdp: &str) -> Vec<&str> {
    assert!(sdp.ends_with("\r\n"), "SDP lines end with CRLF");
    sdp.split("\r\n").filter(|l| !l.is_empty()).collect()
}

#[test]
fn parses_a_typical_offer() {
    let text = offer_with(
        "0 8 101",
        &["a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15"],
    );
    let sdp = parse(&text).unwrap();
    assert_eq!(sdp.origin.session_id, "99");
    assert_eq!(sdp.origin.address, "198.51.100.7");
    assert_eq!(
        sdp.connection,
        Some(Connection::Ip("198.51.100.7".parse().unwrap()))
    );
    assert_eq!(sdp.media.len(), 1);
    let m = &sdp.media[0];
    assert!(m.is_audio());
    assert_eq!((m.port, m.proto.as_str()), (5004, "RTP/AVP"));
    assert_eq!(m.formats, ["0", "8", "101"]);
    assert_eq!(m.rtpmap(101).unwrap().encoding, "telephone-event");
    assert_eq!(m.fmtps, [("101".to_string(), "0-15".to_string())]);
}

#[test]
fn accepts_bare_newlines_and_ignores_unknown_lines() {
    let text = "v=0\no=alice 1 1 IN IP4 10.0.0.1\ns=x\nz=whatever\nc=IN IP4 10.0.0.1\n\
                b=AS:64\nt=0 0\nm=audio 7078 RTP/AVP 0\na=rtcp:7079\na=x-custom\nk=prompt\n";
    let (_, n) = answer_to(text, G711).unwrap();
    assert_eq!(n.remote, "10.0.0.1:7078".parse::<SocketAddr>().unwrap());
}

#[test]
fn answers_with_our_first_preference_and_the_offer_payload_type() {
    let (sdp, n) = answer_to(&offer_with("8 0", &[]), &[Pcmu, Pcma]).unwrap();
    assert_eq!((n.codec, n.payload_type), (Pcmu, 0));
    assert_eq!(n.remote, "198.51.100.7:5004".parse::<SocketAddr>().unwrap());
    let l = lines(&sdp);
    assert_eq!(
        l[..5],
        [
            "v=0",
            "o=sipterm 1234 1 IN IP4 192.0.2.10",
            "s=sipterm",
            "c=IN IP4 192.0.2.10",
            "t=0 0"
        ]
    );
    assert!(l.contains(&"m=audio 40000 RTP/AVP 0"));
    assert!(l.contains(&"a=rtpmap:0 PCMU/8000"));
    assert!(l.contains(&"a=ptime:20"));
    assert!(l.contains(&"a=sendrecv"));
    assert!(!sdp.contains("PCMA"), "exactly one codec in the answer");

    let (_, n) = answer_to(&offer_with("8 0", &[]), &[Pcma, Pcmu]).unwrap();
    assert_eq!((n.codec, n.payload_type), (Pcma, 8));
}

#[test]
fn matches_dynamic_payload_types_by_rtpmap_name_and_rate() {
    let text = offer_with(
        "96 97",
        &["a=rtpmap:96 speex/8000", "a=rtpmap:97 pcma/8000"],
    );
    let (sdp, n) = answer_to(&text, G711).unwrap();
    assert_eq!((n.codec, n.payload_type), (Pcma, 97));
    assert!(lines(&sdp).contains(&"m=audio 40000 RTP/AVP 97"));

    // Right name, wrong rate or stereo: not G.711 as we speak it.
    let text = offer_with(
        "96 97",
        &["a=rtpmap:96 PCMU/16000", "a=rtpmap:97 PCMU/8000/2"],
    );
    assert!(answer_to(&text, G711).unwrap_err().is_no_common_codec());
}

#[test]
fn an_rtpmap_overrides_the_static_meaning_of_a_payload_type() {
    let text = offer_with("0", &["a=rtpmap:0 PCMA/8000"]);
    let (_, n) = answer_to(&text, &[Pcmu, Pcma]).unwrap();
    assert_eq!((n.codec, n.payload_type), (Pcma, 0));
}

#[test]
fn opus_is_chosen_only_when_we_prefer_it() {
    let text = offer_with("111 0", &["a=rtpmap:111 opus/48000/2"]);
    let (sdp, n) = answer_to(&text, &[Opus, Pcmu]).unwrap();
    assert_eq!((n.codec, n.payload_type), (Opus, 111));
    assert!(lines(&sdp).contains(&"a=rtpmap:111 opus/48000/2"));

    let (_, n) = answer_to(&text, G711).unwrap();
    assert_eq!(n.codec, Pcmu);
}

#[test]
fn answers_telephone_event_with_the_offer_payload_type() {
    let text = offer_with(
        "0 100",
        &["a=rtpmap:100 telephone-event/8000", "a=fmtp:100 0-15"],
    );
    let (sdp, n) = answer_to(&text, G711).unwrap();
    assert_eq!(n.dtmf_payload_type, Some(100));
    let l = lines(&sdp);
    assert!(l.contains(&"m=audio 40000 RTP/AVP 0 100"));
    assert!(l.contains(&"a=rtpmap:100 telephone-event/8000"));
    assert!(l.contains(&"a=fmtp:100 0-16"));
}

#[test]
fn does_not_add_telephone_event_when_not_offered() {
    let (sdp, n) = answer_to(&offer_with("0", &[]), G711).unwrap();
    assert_eq!(n.dtmf_payload_type, None);
    assert!(!sdp.contains("telephone-event"));
    // A telephone-event at another clock rate than the codec's does not count either.
    let text = offer_with("0 101", &["a=rtpmap:101 telephone-event/48000"]);
    assert_eq!(answer_to(&text, G711).unwrap().1.dtmf_payload_type, None);
}

#[test]
fn mirrors_the_offered_direction() {
    use MediaDirection::*;
    for (offered, ours) in [
        ("sendrecv", SendRecv),
        ("sendonly", RecvOnly),
        ("recvonly", SendOnly),
        ("inactive", Inactive),
    ] {
        let text = offer_with("0", &[&format!("a={offered}")]);
        let (sdp, n) = answer_to(&text, G711).unwrap();
        assert_eq!(n.direction, ours, "offer {offered}");
        assert!(lines(&sdp).contains(&format!("a={}", ours.attribute()).as_str()));
    }
}

#[test]
fn session_level_direction_applies_unless_the_media_overrides_it() {
    let base = offer_with("0", &[]);
    let text = base.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
    assert_eq!(
        answer_to(&text, G711).unwrap().1.direction,
        MediaDirection::RecvOnly
    );
    let text = format!("{text}a=inactive\r\n");
    assert_eq!(
        answer_to(&text, G711).unwrap().1.direction,
        MediaDirection::Inactive
    );
}

#[test]
fn old_style_hold_with_zero_address_stops_our_sending() {
    let text = offer_with("0", &[]).replace("c=IN IP4 198.51.100.7", "c=IN IP4 0.0.0.0");
    let (sdp, n) = answer_to(&text, G711).unwrap();
    assert_eq!(n.direction, MediaDirection::RecvOnly);
    assert!(n.remote.ip().is_unspecified());
    assert!(lines(&sdp).contains(&"a=recvonly"));
}

#[test]
fn media_level_connection_overrides_the_session_level() {
    let text = offer_with("0", &["c=IN IP4 203.0.113.5"]);
    let (_, n) = answer_to(&text, G711).unwrap();
    assert_eq!(n.remote, "203.0.113.5:5004".parse::<SocketAddr>().unwrap());
}

#[test]
fn takes_the_remote_ptime_but_answers_20() {
    let (sdp, n) = answer_to(&offer_with("0", &["a=ptime:30"]), G711).unwrap();
    assert_eq!(n.ptime_ms, 30);
    assert!(lines(&sdp).contains(&"a=ptime:20"));
}

#[test]
fn rejects_other_streams_with_port_zero_in_order() {
    let text = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
                m=audio 6000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n\
                m=video 6002 RTP/AVP 31 34\r\n\
                m=audio 6004 RTP/AVP 8\r\n\
                m=audio 6006 RTP/AVP 0\r\n";
    let (sdp, n) = answer_to(text, G711).unwrap();
    assert_eq!((n.codec, n.remote.port()), (Pcma, 6004));
    let m_lines: Vec<&str> = lines(&sdp)
        .into_iter()
        .filter(|l| l.starts_with("m="))
        .collect();
    assert_eq!(
        m_lines,
        [
            "m=audio 0 RTP/AVP 18",
            "m=video 0 RTP/AVP 31",
            "m=audio 40000 RTP/AVP 8",
            "m=audio 0 RTP/AVP 0",
        ]
    );
}

#[test]
fn ignores_audio_we_cannot_transport() {
    // WebRTC's profile (DTLS-SRTP, AVPF): not ours. RTP/SAVP is `--srtp`'s business (see
    // srtp_tests.rs): with SRTP off it is refused as such.
    let text = offer_with("0", &[]).replace("RTP/AVP", "UDP/TLS/RTP/SAVPF");
    let err = answer_to(&text, G711).unwrap_err();
    assert!(err.is_no_common_codec(), "{err}");
    assert!(err.to_string().contains("UDP/TLS/RTP/SAVPF"));
    let text = offer_with("0", &[]).replace("RTP/AVP", "RTP/SAVP");
    let err = answer_to(&text, G711).unwrap_err();
    assert!(matches!(err, SdpError::SrtpRefused { .. }), "{err}");
}

#[test]
fn no_common_codec_is_flagged_for_488() {
    let text = offer_with("18 9", &["a=rtpmap:18 G729/8000", "a=rtpmap:9 G722/8000"]);
    let err = answer_to(&text, G711).unwrap_err();
    assert!(err.is_no_common_codec());
    assert!(err.is_not_acceptable());
    let msg = err.to_string();
    assert!(msg.contains("18 9") && msg.contains("PCMU, PCMA"), "{msg}");
}

#[test]
fn no_audio_stream_is_an_error_but_not_a_codec_mismatch() {
    let text = offer_with("0", &[]).replace("m=audio 5004 RTP/AVP 0", "m=video 5004 RTP/AVP 31");
    let err = answer_to(&text, G711).unwrap_err();
    assert!(matches!(err, SdpError::NoAudio { .. }), "{err}");
    assert!(!err.is_no_common_codec());
    assert!(err.is_not_acceptable());
    let no_media = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n";
    assert!(matches!(
        answer_to(no_media, G711),
        Err(SdpError::NoAudio { .. })
    ));
}

#[test]
fn our_offer_lists_every_preference_and_telephone_event() {
    let sdp = offer(&[Pcma, Pcmu, Opus], &local());
    let l = lines(&sdp);
    assert_eq!(l[1], "o=sipterm 1234 1 IN IP4 192.0.2.10");
    assert!(l.contains(&"m=audio 40000 RTP/AVP 8 0 96 101"));
    for want in [
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:96 opus/48000/2",
        "a=fmtp:96 useinbandfec=1",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ] {
        assert!(l.contains(&want), "missing {want} in {sdp}");
    }
}

#[test]
fn our_offer_is_answerable_by_our_own_answer() {
    let ours = offer(&[Pcmu, Pcma], &local());
    let (_, n) = answer(&parse(&ours).unwrap(), &[Pcma], &local()).unwrap();
    assert_eq!(
        (n.codec, n.payload_type, n.dtmf_payload_type),
        (Pcma, 8, Some(101))
    );
    assert_eq!(n.remote, "192.0.2.10:40000".parse::<SocketAddr>().unwrap());
}

#[test]
fn ipv6_local_addresses_are_written_as_ip6() {
    let mut l6 = local();
    l6.addr = "2001:db8::1".parse().unwrap();
    let sdp = offer(G711, &l6);
    assert!(sdp.contains("o=sipterm 1234 1 IN IP6 2001:db8::1\r\n"));
    assert!(sdp.contains("c=IN IP6 2001:db8::1\r\n"));
    assert_eq!(
        parse(&sdp).unwrap().connection,
        Some(Connection::Ip(l6.addr))
    );
}

#[test]
fn reads_their_answer_in_their_order() {
    let text = offer_with(
        "8 0 101",
        &["a=rtpmap:101 telephone-event/8000", "a=sendonly"],
    );
    let n = negotiate_answer(&parse(&text).unwrap(), &[Pcmu, Pcma], &LocalSrtp::off()).unwrap();
    assert_eq!((n.codec, n.payload_type), (Pcma, 8));
    assert_eq!(n.dtmf_payload_type, Some(101));
    assert_eq!(n.direction, MediaDirection::RecvOnly);
    assert_eq!(n.remote, "198.51.100.7:5004".parse::<SocketAddr>().unwrap());
}

#[test]
fn a_rejected_or_foreign_answer_is_no_common_codec() {
    let rejected = offer_with("0", &[]).replace("5004", "0");
    let err = negotiate_answer(&parse(&rejected).unwrap(), G711, &LocalSrtp::off()).unwrap_err();
    assert!(err.is_no_common_codec(), "{err}");
    let foreign = offer_with("96", &["a=rtpmap:96 opus/48000/2"]);
    assert!(
        negotiate_answer(&parse(&foreign).unwrap(), G711, &LocalSrtp::off())
            .unwrap_err()
            .is_no_common_codec()
    );
}

#[test]
fn missing_connection_is_an_error_naming_the_stream() {
    let text = offer_with("0", &[]).replace("c=IN IP4 198.51.100.7\r\n", "");
    let sdp = parse(&text).unwrap();
    let err = answer(&sdp, G711, &local()).unwrap_err();
    assert!(
        matches!(&err, SdpError::MissingConnection { media } if media == "audio 5004 RTP/AVP 0")
    );
    assert!(negotiate_answer(&sdp, G711, &LocalSrtp::off()).is_err());
}

#[test]
fn malformed_lines_are_errors_naming_the_line() {
    let cases = [
        ("m=audio 5004 RTP/AVP 0", "m=audio 70000 RTP/AVP 0", 6),
        ("m=audio 5004 RTP/AVP 0", "m=audio x RTP/AVP 0", 6),
        ("m=audio 5004 RTP/AVP 0", "m=audio 5004 RTP/AVP", 6),
        ("o=- 99 1 IN IP4 198.51.100.7", "o=- 99", 2),
        ("v=0", "v=1", 1),
        ("s=-", "this is not sdp", 3),
    ];
    for (from, to, number) in cases {
        let text = offer_with("0", &[]).replace(from, to);
        match parse(&text) {
            Err(SdpError::BadLine {
                number: n, line, ..
            }) => {
                assert_eq!((n, line.as_str()), (number, to), "for {to:?}");
            }
            other => panic!("{to:?} gave {other:?}"),
        }
    }
}

#[test]
fn empty_or_headless_input_is_an_error() {
    assert_eq!(parse(""), Err(SdpError::Empty));
    assert_eq!(parse("\r\n \r\n"), Err(SdpError::Empty));
    assert_eq!(
        parse("o=- 1 1 IN IP4 1.2.3.4\r\n"),
        Err(SdpError::MissingLine('v'))
    );
    assert_eq!(parse("v=0\r\ns=-\r\n"), Err(SdpError::MissingLine('o')));
}

#[test]
fn long_bad_lines_are_quoted_shortened() {
    let garbage = "é".repeat(500);
    let Err(SdpError::BadLine { line, .. }) = parse(&garbage) else {
        panic!("garbage parsed");
    };
    assert!(line.chars().count() <= 81);
}

// Issue 10, item 11: one odd line spoils only what depends on it.

#[test]
fn an_unreadable_rtpmap_disables_only_its_payload_type() {
    // No clock rate, on a format we would not use anyway.
    let text = offer_with("0 31", &["a=rtpmap:31 LPC"]);
    let (_, n) = answer_to(&text, G711).unwrap();
    assert_eq!((n.codec, n.payload_type), (Pcmu, 0));
    // Clock rate 0 next to a usable PT 0: 97 is not taken for PCMU.
    let text = offer_with("97 0", &["a=rtpmap:97 PCMU/0"]);
    let (sdp, n) = answer_to(&text, G711).unwrap();
    assert_eq!((n.codec, n.payload_type), (Pcmu, 0));
    assert!(lines(&sdp).contains(&"m=audio 40000 RTP/AVP 0"), "{sdp}");
    // A static payload type with an rtpmap we cannot read is not taken by its static meaning
    // either: the peer says it is not plain PCMA, and we cannot tell what it is.
    let text = offer_with("8 0", &["a=rtpmap:8 G726-32"]);
    assert_eq!(answer_to(&text, &[Pcma, Pcmu]).unwrap().1.payload_type, 0);
    // With nothing else left it is a codec mismatch (488), not a bad request (400).
    let err = answer_to(&offer_with("97", &["a=rtpmap:97 PCMU/0"]), G711).unwrap_err();
    assert!(err.is_no_common_codec(), "{err}");
}

#[test]
fn an_unreadable_ptime_is_ignored() {
    for ptime in [
        "a=ptime:0",
        "a=ptime:-20",
        "a=ptime:twenty",
        "a=ptime:100000",
    ] {
        let (sdp, n) = answer_to(&offer_with("0", &[ptime]), G711).unwrap();
        assert_eq!(n.ptime_ms, 20, "{ptime}");
        assert!(lines(&sdp).contains(&"a=ptime:20"));
    }
}

#[test]
fn odd_lines_on_a_video_stream_do_not_spoil_the_audio() {
    let text = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
                m=audio 6000 RTP/AVP 0\r\n\
                m=video 6002 RTP/AVP 31 96\r\nc=IN IP4 video.example.com\r\n\
                a=rtpmap:31 H261\r\na=rtpmap:96 H264\r\na=ptime:0\r\n";
    let (sdp, n) = answer_to(text, G711).unwrap();
    assert_eq!(n.remote, "198.51.100.7:6000".parse::<SocketAddr>().unwrap());
    assert!(lines(&sdp).contains(&"m=video 0 RTP/AVP 31"), "{sdp}");
}

/// RFC 4566 allows a host name in `c=`. It parses; only a stream that needs it is refused, with
/// 488 and the name in the reason: resolving is I/O that has no place in offer/answer, and the
/// media task cannot (yet) latch onto an address the SDP did not give (see `finish`).
#[test]
fn a_host_name_in_c_is_refused_with_488_only_where_it_is_needed() {
    let named = |text: String| text.replace("c=IN IP4 198.51.100.7", "c=IN IP4 pbx.example.com");
    let sdp = parse(&named(offer_with("0", &[]))).expect("a host name is valid SDP");
    let err = answer(&sdp, G711, &local()).unwrap_err();
    assert!(
        err.is_not_acceptable() && !err.is_no_common_codec(),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("\"pbx.example.com\"") && msg.contains("audio 5004 RTP/AVP 0"),
        "{msg}"
    );
    assert!(negotiate_answer(&sdp, G711, &LocalSrtp::off())
        .unwrap_err()
        .is_not_acceptable());
    // The audio's own c= overrides the session's name: nothing needs the name.
    let text = named(offer_with("0", &["c=IN IP4 203.0.113.5"]));
    let (_, n) = answer_to(&text, G711).unwrap();
    assert_eq!(n.remote, "203.0.113.5:5004".parse::<SocketAddr>().unwrap());
}

#[test]
fn an_unreadable_connection_line_is_unusable_but_not_fatal() {
    for odd in ["c=IN IP4", "c=IN", "c=ATM NSAP 47.0091.8100.0000"] {
        let text = offer_with("0", &[]).replace("c=IN IP4 198.51.100.7", odd);
        let err = answer_to(&text, G711).unwrap_err();
        assert!(
            matches!(err, SdpError::UnusableConnection { .. }),
            "{odd}: {err}"
        );
    }
    // An IP literal means what it says, whatever the address type claims.
    let text = offer_with("0", &[]).replace("c=IN IP4 198.51.100.7", "c=IN IP6 198.51.100.7");
    let (_, n) = answer_to(&text, G711).unwrap();
    assert_eq!(n.remote, "198.51.100.7:5004".parse::<SocketAddr>().unwrap());
}

// Issue 10, item 14: baresip offers telephone-event/8000 next to opus/48000/2.

/// baresip 1.0's offer with Opus only.
fn baresip_offer() -> String {
    offer_with(
        "96 101",
        &[
            "a=rtpmap:96 opus/48000/2",
            "a=fmtp:96 stereo=1;sprop-stereo=1",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-15",
        ],
    )
}

#[test]
fn telephone_event_at_8000_next_to_opus_is_answered_as_offered() {
    let (sdp, n) = answer_to(&baresip_offer(), &[Pcmu, Pcma, Opus]).unwrap();
    assert_eq!(
        (n.codec, n.payload_type, n.dtmf_payload_type),
        (Opus, 96, Some(101))
    );
    let l = lines(&sdp);
    assert!(l.contains(&"m=audio 40000 RTP/AVP 96 101"), "{sdp}");
    assert!(l.contains(&"a=rtpmap:101 telephone-event/8000"), "{sdp}");
    assert!(!sdp.contains("telephone-event/48000"), "{sdp}");
}

#[test]
fn telephone_event_at_the_codecs_own_clock_is_preferred() {
    let text = offer_with(
        "96 101 102",
        &[
            "a=rtpmap:96 opus/48000/2",
            "a=rtpmap:101 telephone-event/8000",
            "a=rtpmap:102 telephone-event/48000",
        ],
    );
    let (sdp, n) = answer_to(&text, &[Opus]).unwrap();
    assert_eq!(n.dtmf_payload_type, Some(102));
    assert!(lines(&sdp).contains(&"a=rtpmap:102 telephone-event/48000"));
    assert!(!sdp.contains("telephone-event/8000"), "{sdp}");
}

#[test]
fn their_answer_with_opus_and_telephone_event_at_8000_carries_dtmf() {
    let n = negotiate_answer(
        &parse(&baresip_offer()).unwrap(),
        &[Pcmu, Opus],
        &LocalSrtp::off(),
    )
    .unwrap();
    assert_eq!((n.codec, n.dtmf_payload_type), (Opus, Some(101)));
}

// Issue 10, item 15: Opus asks for in-band FEC; the offerer's codec order decides.

#[test]
fn opus_is_answered_asking_for_in_band_fec() {
    let (sdp, _) = answer_to(&baresip_offer(), &[Opus]).unwrap();
    assert!(lines(&sdp).contains(&"a=fmtp:96 useinbandfec=1"), "{sdp}");
    // Their parameters describe what they receive; ours say what we do.
    assert!(!sdp.contains("stereo"), "{sdp}");
    let (sdp, _) = answer_to(&offer_with("0", &[]), G711).unwrap();
    assert!(!sdp.contains("a=fmtp:0"), "{sdp}");
}

/// `--codecs` as it is by default.
const DEFAULT_CODECS: &[Codec] = &[Pcmu, Pcma, Opus];

fn answer_by_offer(text: &str, enabled: &[Codec], keep: Option<Codec>) -> (Codec, u8) {
    let (_, n) = answer_preferring(&parse(text).unwrap(), enabled, keep, &local()).unwrap();
    (n.codec, n.payload_type)
}

#[test]
fn the_offerers_first_codec_that_we_enable_is_chosen() {
    let opus_first = offer_with(
        "111 0 8 101",
        &[
            "a=rtpmap:111 opus/48000/2",
            "a=rtpmap:101 telephone-event/8000",
        ],
    );
    assert_eq!(
        answer_by_offer(&opus_first, DEFAULT_CODECS, None),
        (Opus, 111)
    );
    // Our own order (`answer`) would have taken PCMU: that was the defect.
    assert_eq!(
        answer_to(&opus_first, DEFAULT_CODECS).unwrap().1.codec,
        Pcmu
    );
    // What we do not enable is skipped; the offer's order still rules among the rest.
    assert_eq!(answer_by_offer(&opus_first, G711, None), (Pcmu, 0));
    assert_eq!(
        answer_by_offer(&offer_with("8 0", &[]), G711, None),
        (Pcma, 8)
    );
    assert_eq!(
        answer_by_offer(&offer_with("8 0", &[]), &[Pcmu], None),
        (Pcmu, 0)
    );
}

#[test]
fn the_codec_in_use_is_kept_while_it_is_offered_and_enabled() {
    let text = offer_with("0 8", &[]);
    assert_eq!(
        answer_by_offer(&text, DEFAULT_CODECS, Some(Pcma)),
        (Pcma, 8)
    );
    assert_eq!(
        answer_by_offer(&text, DEFAULT_CODECS, Some(Opus)),
        (Pcmu, 0)
    );
    assert_eq!(answer_by_offer(&text, &[Pcmu], Some(Pcma)), (Pcmu, 0));
}

#[test]
fn answering_by_the_offers_order_fails_like_answer() {
    let g729 = parse(&offer_with("18", &["a=rtpmap:18 G729/8000"])).unwrap();
    let err = answer_preferring(&g729, G711, None, &local()).unwrap_err();
    assert!(err.is_no_common_codec(), "{err}");
    assert_eq!(Err(err), answer(&g729, G711, &local()));
}

/// Random bytes and randomly damaged SDP: parse and answer may fail, never panic.
#[test]
fn random_input_never_panics() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5d9);
    let valid = offer_with(
        "0 8 96 101",
        &[
            "a=rtpmap:96 opus/48000/2",
            "a=rtpmap:101 telephone-event/8000",
        ],
    );
    let alphabet = b"vocmat=/: \r\n0123456789aAIPNRTVU.-";
    for round in 0..600 {
        let bytes: Vec<u8> = if round % 2 == 0 {
            let len = rng.random_range(0..300);
            (0..len)
                .map(|_| match rng.random_range(0..3) {
                    0 => rng.random(),
                    _ => alphabet[rng.random_range(0..alphabet.len())],
                })
                .collect()
        } else {
            let mut b = valid.clone().into_bytes();
            for _ in 0..rng.random_range(1..8) {
                let at = rng.random_range(0..b.len());
                match rng.random_range(0..3) {
                    0 => b[at] = alphabet[rng.random_range(0..alphabet.len())],
                    1 => {
                        b.remove(at);
                    }
                    _ => b.insert(at, rng.random()),
                }
            }
            b
        };
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(sdp) = parse(&text) {
            let _ = answer(&sdp, &[Pcmu, Pcma, Opus], &local());
            let _ = answer_preferring(&sdp, &[Opus, Pcmu], Some(Pcma), &local());
            let _ = negotiate_answer(&sdp, &[Pcmu, Pcma, Opus], &LocalSrtp::off());
        }
    }
}

/// Behind NAT the address in `c=` is the public one; peers that read only the session level,
/// or only the media level, must both find it.
#[test]
fn every_c_line_of_answer_and_offer_names_our_address() {
    let public = LocalMedia {
        addr: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)),
        ..local()
    };
    let offer = parse(&offer_with("0", &[])).unwrap();
    let (answer, _) = super::answer(&offer, G711, &public).unwrap();
    let ours = super::offer(G711, &public);
    for sdp in [&answer, &ours] {
        let l = lines(sdp);
        let c: Vec<usize> = (0..l.len()).filter(|&i| l[i].starts_with("c=")).collect();
        assert_eq!(c.len(), 2, "session and media level: {sdp}");
        assert!(c.iter().all(|&i| l[i] == "c=IN IP4 203.0.113.1"), "{sdp}");
        let m = l.iter().position(|x| x.starts_with("m=")).unwrap();
        assert!(
            c[0] < m && c[1] == m + 1,
            "one before m=, one right after: {sdp}"
        );
        let back = parse(sdp).unwrap();
        assert_eq!(back.media[0].port, 40000);
    }
}
