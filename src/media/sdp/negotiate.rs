//! RFC 3264 offer/answer for one audio stream: choosing a codec, writing our SDP, and turning
//! the result into the parameters the RTP session runs with.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use super::{codec_names, Connection, MediaDirection, MediaSection, SdpError, SessionDescription};
use crate::media::srtp::{self, CryptoLine, LocalSrtp, SrtpKeys, SrtpMode, Suite};
use crate::vocab::codec::Codec;

/// RFC 4733 names DTMF events `telephone-event`; 101 is the customary dynamic payload type.
const TELEPHONE_EVENT: &str = "telephone-event";
const OFFER_DTMF_PT: u8 = 101;
const OFFER_OPUS_PT: u8 = 96;
/// RFC 4733 §2.3: events 0-15 are the DTMF digits and 16 is flash.
const DTMF_EVENTS: &str = "0-16";
/// We always packetize 20 ms frames (audio::FRAME_MS); RFC 3551 §4.5 makes it the default.
const PTIME_MS: u32 = 20;
/// RFC 4733 §2.1's default clock for telephone-event, and the only one most peers offer.
const DTMF_DEFAULT_RATE: u32 = 8000;
/// Our Opus receive parameters (RFC 7587 §7), in the offer and the answer alike: the peer's
/// encoder should add in-band FEC because our decoder uses it to rebuild a lost frame from the
/// next packet (see `media::opus`). Every other parameter's default already says what we do:
/// maxplaybackrate 48000 (we decode at 48 kHz), stereo=0 (we play mono, and decode stereo
/// packets anyway), cbr=0, usedtx=0.
const OPUS_FMTP: &str = "useinbandfec=1";

const PLAIN: &str = "RTP/AVP";
/// RFC 3711 §14: SRTP's profile. SDES keys travel in `a=crypto` next to it (RFC 4568).
const SECURE: &str = "RTP/SAVP";

/// Our side of the media: where we receive RTP, and the numbers for our `o=` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalMedia {
    pub addr: IpAddr,
    pub port: u16,
    pub session_id: u64,
    /// Increment for every new SDP we send in the same dialog (RFC 3264 §8).
    pub session_version: u64,
    /// `--srtp` and our keys, the same for the whole call.
    pub srtp: LocalSrtp,
}

/// The outcome of offer/answer: everything the RTP session needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub payload_type: u8,
    /// telephone-event, when both sides have it: at the codec's clock rate, or at 8000 next
    /// to Opus as baresip and others offer it (see `telephone_event`).
    pub dtmf_payload_type: Option<u8>,
    /// Where to send RTP (`c=` address + `m=` port). An unspecified address (0.0.0.0) means hold.
    pub remote: SocketAddr,
    /// Our direction as answered: remote sendonly -> we recvonly; c=0.0.0.0 -> we do not send.
    pub direction: MediaDirection,
    /// The remote's `a=ptime` or 20. We send 20 ms frames regardless, for now.
    pub ptime_ms: u32,
    /// SRTP keys when the stream is encrypted; `None` is plain RTP.
    pub srtp: Option<SrtpKeys>,
}

/// Answers an offer (RFC 3264 §6): accepts the first audio stream that carries a codec from
/// `prefs`, rejects every other stream with port 0, and returns the answer SDP. The codec is
/// the first of `prefs` that the stream offers: *our* order. The engine relies on that to keep
/// the codec in use on a re-INVITE (it puts that codec first); new callers should use
/// [`answer_preferring`], which follows the offerer's order.
pub fn answer(
    offer: &SessionDescription,
    prefs: &[Codec],
    local: &LocalMedia,
) -> Result<(String, Negotiated), SdpError> {
    answer_choosing(offer, prefs, local, |m| choose_by_our_preference(m, prefs))
}

/// Answers an offer (RFC 3264 §6) choosing the codec by the offerer's preference: the first
/// codec in the offer's `m=` line that `enabled` (`--codecs`) contains, so a caller that lists
/// Opus first gets Opus, and `--codecs` decides only what we accept (and the order of our own
/// offers). RFC 3264 §6.1 lets the answerer choose; following the offerer is what common
/// softphones do and is predictable from either side. One exception: `keep`, the codec a call
/// already uses, wins whenever it is still offered (and enabled), because a mid-call switch
/// costs a glitch at best. Otherwise like [`answer`].
pub fn answer_preferring(
    offer: &SessionDescription,
    enabled: &[Codec],
    keep: Option<Codec>,
    local: &LocalMedia,
) -> Result<(String, Negotiated), SdpError> {
    answer_choosing(offer, enabled, local, |m| {
        choose_by_their_order(m, enabled, keep)
    })
}

fn answer_choosing(
    offer: &SessionDescription,
    prefs: &[Codec],
    local: &LocalMedia,
    choose: impl Fn(&MediaSection) -> Option<(Codec, u8)>,
) -> Result<(String, Negotiated), SdpError> {
    // The first audio stream with a codec in common and crypto we can take part in; an SRTP
    // refusal is reported only when no stream does better.
    let mut srtp_refusal = None;
    let mut chosen = None;
    for (i, m) in offer.media.iter().enumerate() {
        if !is_rtp_audio(m) {
            continue;
        }
        let Some((codec, pt)) = choose(m) else {
            continue;
        };
        match security(m, &local.srtp) {
            Ok(crypto) => {
                chosen = Some((i, codec, pt, crypto));
                break;
            }
            Err(e) => {
                srtp_refusal.get_or_insert(e);
            }
        }
    }
    let Some((index, codec, payload_type, crypto)) = chosen else {
        return Err(srtp_refusal.unwrap_or_else(|| nothing_usable(offer, prefs)));
    };
    let m = &offer.media[index];
    let offered = m
        .direction
        .or(offer.direction)
        .unwrap_or(MediaDirection::SendRecv);
    let mut negotiated = finish(offer, m, codec, payload_type, offered.reversed())?;
    negotiated.srtp = crypto.map(|line| SrtpKeys {
        suite: line.suite,
        tag: line.tag,
        ours: local.srtp.key(line.suite).clone(),
        theirs: line.key,
    });
    // Answer telephone-event at the clock the offer gave it (RFC 3264 §6.1: same encoding).
    let dtmf_rate = telephone_event(m, codec).map_or(DTMF_DEFAULT_RATE, |(_, rate)| rate);

    let mut sdp = session_header(local);
    for (i, other) in offer.media.iter().enumerate() {
        if i == index {
            audio_section(&mut sdp, local, &m.proto, &negotiated, dtmf_rate);
        } else {
            // RFC 3264 §6: a rejected stream keeps its place, with port 0 and one format.
            let format = other.formats.first().map_or("0", String::as_str);
            push(
                &mut sdp,
                format_args!("m={} 0 {} {format}", other.kind, other.proto),
            );
        }
    }
    Ok((sdp, negotiated))
}

/// Our offer for INVITEs that came without one: every preferred codec plus telephone-event;
/// with `--srtp mandatory` as RTP/SAVP, with `optional` as RTP/AVP (best effort), keys for
/// both suites either way.
pub fn offer(prefs: &[Codec], local: &LocalMedia) -> String {
    offer_with(prefs, local, MediaDirection::SendRecv)
}

/// An offer that asks for `direction`: `sendonly` puts the other side on hold (RFC 3264
/// §8.4), `sendrecv` resumes.
pub fn offer_with(prefs: &[Codec], local: &LocalMedia, direction: MediaDirection) -> String {
    let mut sdp = session_header(local);
    let pts: Vec<(Codec, u8)> = prefs.iter().map(|&c| (c, offer_payload_type(c))).collect();
    let proto = match local.srtp.mode {
        SrtpMode::Mandatory => SECURE,
        SrtpMode::Optional | SrtpMode::Off => PLAIN,
    };
    let mut m_line = format!("m=audio {} {proto}", local.port);
    for (_, pt) in &pts {
        let _ = write!(m_line, " {pt}");
    }
    let _ = write!(m_line, " {OFFER_DTMF_PT}");
    push(&mut sdp, format_args!("{m_line}"));
    push_connection(&mut sdp, local);
    for (codec, pt) in pts {
        push_rtpmap(&mut sdp, codec, pt);
    }
    push_dtmf(&mut sdp, OFFER_DTMF_PT, DTMF_DEFAULT_RATE);
    if local.srtp.mode != SrtpMode::Off {
        for (suite, tag) in Suite::ALL.into_iter().zip(1..) {
            push_crypto(&mut sdp, tag, suite, local.srtp.key(suite));
        }
    }
    push(&mut sdp, format_args!("a=ptime:{PTIME_MS}"));
    push(&mut sdp, format_args!("a={}", direction.attribute()));
    sdp
}

/// Reads the peer's answer to our `offer`: the codec is the first of the answer's formats that
/// we offered (the answerer lists them in its preference order, RFC 3264 §6.1).
/// `srtp` is what the offer carried: the answer's `a=crypto` must accept one of our lines
/// (same tag, same suite, RFC 4568 §7.1.2).
pub fn negotiate_answer(
    answer: &SessionDescription,
    prefs: &[Codec],
    srtp: &LocalSrtp,
) -> Result<Negotiated, SdpError> {
    let m = answer
        .media
        .iter()
        .find(|m| m.is_audio())
        .ok_or_else(|| nothing_usable(answer, prefs))?;
    let chosen = is_rtp_audio(m)
        .then(|| choose_by_their_order(m, prefs, None))
        .flatten();
    let Some((codec, payload_type)) = chosen else {
        return Err(no_common_codec(std::slice::from_ref(m), prefs));
    };
    let crypto = security(m, srtp)?;
    if let Some(line) = &crypto {
        let offered = Suite::ALL
            .into_iter()
            .zip(1..)
            .any(|(s, tag)| s == line.suite && tag == line.tag);
        if !offered {
            return Err(SdpError::NoUsableCrypto {
                media: describe(m),
                reasons: format!("tag {} {} was not in our offer", line.tag, line.suite),
            });
        }
    }
    let answered = m
        .direction
        .or(answer.direction)
        .unwrap_or(MediaDirection::SendRecv);
    let mut negotiated = finish(answer, m, codec, payload_type, answered.reversed())?;
    negotiated.srtp = crypto.map(|line| SrtpKeys {
        suite: line.suite,
        tag: line.tag,
        ours: srtp.key(line.suite).clone(),
        theirs: line.key,
    });
    Ok(negotiated)
}

/// Whether we take part in this stream's crypto, and with which `a=crypto` line: the first
/// usable one, in the offerer's order (RFC 4568 §7.1.1); unusable lines are skipped and named.
fn security(m: &MediaSection, srtp: &LocalSrtp) -> Result<Option<CryptoLine>, SdpError> {
    let secure = m.proto.eq_ignore_ascii_case(SECURE);
    if srtp.mode == SrtpMode::Off {
        // Keys only over TLS: with SRTP off (plain signalling), keys offered on RTP/AVP are
        // ignored, and RTP/SAVP cannot be answered.
        return if secure {
            Err(SdpError::SrtpRefused { media: describe(m) })
        } else {
            Ok(None)
        };
    }
    let mut reasons = Vec::new();
    for value in &m.crypto {
        match srtp::parse_crypto(value) {
            Ok(line) => return Ok(Some(line)),
            Err(e) => {
                tracing::debug!(line = value.as_str(), reason = %e, "SDP: a=crypto skipped");
                reasons.push(format!(
                    "{}: {e}",
                    value.split_whitespace().next().unwrap_or("")
                ));
            }
        }
    }
    if reasons.is_empty() && !secure && srtp.mode == SrtpMode::Optional {
        return Ok(None);
    }
    if reasons.is_empty() {
        return Err(if secure {
            SdpError::NoUsableCrypto {
                media: describe(m),
                reasons: "none offered".into(),
            }
        } else {
            SdpError::SrtpRequired { media: describe(m) }
        });
    }
    if !secure && srtp.mode == SrtpMode::Optional {
        // Best-effort SDES on RTP/AVP: unusable keys leave the stream plain.
        return Ok(None);
    }
    Err(SdpError::NoUsableCrypto {
        media: describe(m),
        reasons: reasons.join("; "),
    })
}

fn finish(
    sdp: &SessionDescription,
    m: &MediaSection,
    codec: Codec,
    payload_type: u8,
    ours: MediaDirection,
) -> Result<Negotiated, SdpError> {
    let ip = match m.connection.as_ref().or(sdp.connection.as_ref()) {
        Some(Connection::Ip(ip)) => *ip,
        // A host name: answering would need DNS first, which does not belong here (the engine
        // answers from its state machine, without I/O). Taking it as "unknown" and latching
        // onto the first packet (symmetric RTP) would need the media task to send to a latched
        // address even when the SDP gave none, which it does not do: an unspecified address
        // means hold there. So refuse with 488 and say why, rather than go one-way.
        Some(Connection::Other(address)) => {
            return Err(SdpError::UnusableConnection {
                media: describe(m),
                address: address.clone(),
            })
        }
        None => return Err(SdpError::MissingConnection { media: describe(m) }),
    };
    // RFC 3264 §8.4: c=0.0.0.0 is the old way to say "hold"; there is nowhere to send to.
    let direction = if ip.is_unspecified() {
        ours.without_sending()
    } else {
        ours
    };
    Ok(Negotiated {
        codec,
        payload_type,
        dtmf_payload_type: telephone_event(m, codec).map(|(pt, _)| pt),
        remote: SocketAddr::new(ip, m.port),
        direction,
        ptime_ms: m.ptime_ms.unwrap_or(PTIME_MS),
        srtp: None,
    })
}

/// RTP audio with a port, plain or SRTP (whether `--srtp` allows it is `security`'s call):
/// we do no AVPF feedback, no ICE/DTLS profiles.
fn is_rtp_audio(m: &MediaSection) -> bool {
    m.is_audio()
        && m.port != 0
        && (m.proto.eq_ignore_ascii_case(PLAIN) || m.proto.eq_ignore_ascii_case(SECURE))
}

fn payload_types(m: &MediaSection) -> impl Iterator<Item = u8> + '_ {
    m.formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .filter(|pt| *pt <= 127)
}

fn choose_by_our_preference(m: &MediaSection, prefs: &[Codec]) -> Option<(Codec, u8)> {
    prefs.iter().find_map(|&want| {
        payload_types(m)
            .find(|&pt| format_codec(m, pt) == Some(want))
            .map(|pt| (want, pt))
    })
}

fn choose_by_their_order(
    m: &MediaSection,
    enabled: &[Codec],
    keep: Option<Codec>,
) -> Option<(Codec, u8)> {
    let offered = || {
        payload_types(m)
            .filter_map(|pt| format_codec(m, pt).map(|c| (c, pt)))
            .filter(|(c, _)| enabled.contains(c))
    };
    keep.and_then(|keep| offered().find(|(c, _)| *c == keep))
        .or_else(|| offered().next())
}

/// What codec a payload type stands for: its rtpmap when present (names are case-insensitive,
/// RFC 4855 §3), otherwise the RFC 3551 static assignment (0 and 8 need no rtpmap).
fn format_codec(m: &MediaSection, pt: u8) -> Option<Codec> {
    if m.unreadable_rtpmaps.contains(&pt) {
        return None;
    }
    let Some(map) = m.rtpmap(pt) else {
        return Codec::ALL
            .into_iter()
            .find(|c| c.static_payload_type() == Some(pt));
    };
    Codec::ALL.into_iter().find(|c| {
        c.name().eq_ignore_ascii_case(&map.encoding)
            && c.clock_rate() == map.clock_rate
            // Opus always says 2 (RFC 7587 §7); G.711 must be mono.
            && (*c == Codec::Opus || map.channels.unwrap_or(1) == 1)
    })
}

/// The telephone-event to use next to `codec`, as (payload type, clock rate): the one at the
/// codec's clock if offered (RFC 4733 §2.1 wants the events' clock to match the audio's), else
/// one at 8000. baresip (and others) offer `opus/48000/2` with `telephone-event/8000` only;
/// refusing that left such calls without DTMF either way, and interop beats the letter here.
/// The media session sends and reads events on the stream's own clock whatever the rtpmap
/// says, as baresip and pjsip do (see `media::dtmf::DtmfSender::new`).
fn telephone_event(m: &MediaSection, codec: Codec) -> Option<(u8, u32)> {
    let at = |rate: u32| {
        payload_types(m).find(|&pt| {
            m.rtpmap(pt).is_some_and(|map| {
                map.encoding.eq_ignore_ascii_case(TELEPHONE_EVENT) && map.clock_rate == rate
            })
        })
    };
    let rate = codec.clock_rate();
    at(rate)
        .map(|pt| (pt, rate))
        .or_else(|| at(DTMF_DEFAULT_RATE).map(|pt| (pt, DTMF_DEFAULT_RATE)))
}

fn offer_payload_type(codec: Codec) -> u8 {
    codec.static_payload_type().unwrap_or(OFFER_OPUS_PT)
}

fn nothing_usable(sdp: &SessionDescription, prefs: &[Codec]) -> SdpError {
    let audio: Vec<MediaSection> = sdp
        .media
        .iter()
        .filter(|m| m.is_audio() && m.port != 0)
        .cloned()
        .collect();
    if audio.is_empty() {
        let offered = sdp
            .media
            .iter()
            .map(describe)
            .collect::<Vec<_>>()
            .join("; ");
        return SdpError::NoAudio {
            offered: if offered.is_empty() {
                "none".into()
            } else {
                offered
            },
        };
    }
    no_common_codec(&audio, prefs)
}

fn no_common_codec(audio: &[MediaSection], prefs: &[Codec]) -> SdpError {
    SdpError::NoCommonCodec {
        offered: audio.iter().map(describe).collect::<Vec<_>>().join("; "),
        ours: codec_names(prefs),
    }
}

/// The m= line back as text, for error messages.
fn describe(m: &MediaSection) -> String {
    format!("{} {} {} {}", m.kind, m.port, m.proto, m.formats.join(" "))
}

fn push(sdp: &mut String, line: fmt::Arguments<'_>) {
    let _ = sdp.write_fmt(line);
    sdp.push_str("\r\n");
}

fn session_header(local: &LocalMedia) -> String {
    let family = family(local);
    let mut sdp = String::with_capacity(512);
    push(&mut sdp, format_args!("v=0"));
    push(
        &mut sdp,
        format_args!(
            "o=sipterm {} {} IN {family} {}",
            local.session_id, local.session_version, local.addr
        ),
    );
    push(&mut sdp, format_args!("s=sipterm"));
    push_connection(&mut sdp, local);
    push(&mut sdp, format_args!("t=0 0"));
    sdp
}

/// Our `c=` line. It goes at session level and again in our media section: behind NAT it
/// carries the public address, and some peers read only one of the two (RFC 4566 §5.7 lets
/// the media level override the session level).
fn push_connection(sdp: &mut String, local: &LocalMedia) {
    push(sdp, format_args!("c=IN {} {}", family(local), local.addr));
}

fn family(local: &LocalMedia) -> &'static str {
    if local.addr.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    }
}

fn audio_section(
    sdp: &mut String,
    local: &LocalMedia,
    proto: &str,
    n: &Negotiated,
    dtmf_rate: u32,
) {
    let port = local.port;
    match n.dtmf_payload_type {
        Some(dtmf) => push(
            sdp,
            format_args!("m=audio {port} {proto} {} {dtmf}", n.payload_type),
        ),
        None => push(
            sdp,
            format_args!("m=audio {port} {proto} {}", n.payload_type),
        ),
    }
    push_connection(sdp, local);
    push_rtpmap(sdp, n.codec, n.payload_type);
    if let Some(dtmf) = n.dtmf_payload_type {
        push_dtmf(sdp, dtmf, dtmf_rate);
    }
    if let Some(keys) = &n.srtp {
        push_crypto(sdp, keys.tag, keys.suite, &keys.ours);
    }
    push(sdp, format_args!("a=ptime:{PTIME_MS}"));
    push(sdp, format_args!("a={}", n.direction.attribute()));
}

fn push_crypto(sdp: &mut String, tag: u32, suite: Suite, key: &srtp::MasterKey) {
    push(
        sdp,
        format_args!("a=crypto:{}", srtp::format_crypto(tag, suite, key)),
    );
}

/// The rtpmap of a codec, and its fmtp when it has parameters (Opus).
fn push_rtpmap(sdp: &mut String, codec: Codec, pt: u8) {
    let (name, rate) = (codec.name(), codec.clock_rate());
    match codec.channels() {
        1 => push(sdp, format_args!("a=rtpmap:{pt} {name}/{rate}")),
        ch => push(sdp, format_args!("a=rtpmap:{pt} {name}/{rate}/{ch}")),
    }
    if codec == Codec::Opus {
        push(sdp, format_args!("a=fmtp:{pt} {OPUS_FMTP}"));
    }
}

fn push_dtmf(sdp: &mut String, pt: u8, rate: u32) {
    push(sdp, format_args!("a=rtpmap:{pt} {TELEPHONE_EVENT}/{rate}"));
    push(sdp, format_args!("a=fmtp:{pt} {DTMF_EVENTS}"));
}
