use super::*;
use rand::{Rng, SeedableRng};

fn block(ssrc: u32) -> ReportBlock {
    ReportBlock {
        ssrc,
        fraction_lost: 25,
        cumulative_lost: -3,
        highest_seq: 0x0001_0005,
        jitter: 80,
        lsr: 0xB705_2000,
        dlsr: 0x0005_4000,
    }
}

fn info() -> SenderInfo {
    SenderInfo {
        ntp: NtpTime(0xE8A1_B2C3_8000_0000),
        rtp_timestamp: 123_456,
        packet_count: 500,
        octet_count: 80_000,
    }
}

#[test]
fn sr_sdes_bye_round_trip() {
    let mut out = Vec::with_capacity(256);
    build_sr(&mut out, 0x1122_3344, &info(), &[block(0xAABB_CCDD)]);
    assert_eq!(out.len(), 28 + 24);
    build_sdes_cname(&mut out, 0x1122_3344, "alice@example.org");
    build_bye(&mut out, 0x1122_3344, Some("hung up"));
    assert_eq!(out.len() % 4, 0);

    let compound = parse(&out).unwrap();
    let packets: Vec<Packet> = compound.packets().collect();
    assert_eq!(packets.len(), 3);
    let Packet::SenderReport {
        ssrc,
        info: got,
        reports,
    } = packets[0].clone()
    else {
        panic!("{:?}", packets[0]);
    };
    assert_eq!((ssrc, got), (0x1122_3344, info()));
    assert_eq!(reports.collect::<Vec<_>>(), [block(0xAABB_CCDD)]);
    assert_eq!(
        compound.cname(),
        Some((0x1122_3344, &b"alice@example.org"[..]))
    );
    let Packet::Bye { sources, reason } = packets[2].clone() else {
        panic!("{:?}", packets[2]);
    };
    assert_eq!(sources.collect::<Vec<_>>(), [0x1122_3344]);
    assert_eq!(reason, Some(&b"hung up"[..]));
    assert!(compound.says_bye(0x1122_3344));
    assert!(!compound.says_bye(1));
    assert_eq!(compound.sender_info(), Some((0x1122_3344, info())));
    assert_eq!(compound.report_about(0xAABB_CCDD), Some(block(0xAABB_CCDD)));
    assert_eq!(compound.report_about(7), None);
}

#[test]
fn rr_round_trips_with_and_without_blocks() {
    let mut out = Vec::new();
    build_rr(&mut out, 9, &[]);
    assert_eq!(out, [0x80, 201, 0, 1, 0, 0, 0, 9]);
    out.clear();
    build_rr(&mut out, 9, &[block(1), block(2)]);
    let compound = parse(&out).unwrap();
    let Some(Packet::ReceiverReport { ssrc, reports }) = compound.packets().next() else {
        panic!();
    };
    assert_eq!(ssrc, 9);
    assert_eq!(reports.map(|r| r.ssrc).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(compound.report_about(2), Some(block(2)));
}

#[test]
fn cumulative_loss_is_24_bit_signed_and_clamped() {
    for (given, wire) in [
        (0, 0),
        (-1, -1),
        (0x7F_FFFF, 0x7F_FFFF),
        (10_000_000, 0x7F_FFFF),
        (-10_000_000, -0x80_0000),
    ] {
        let mut out = Vec::new();
        let b = ReportBlock {
            cumulative_lost: given,
            ..block(5)
        };
        build_rr(&mut out, 1, &[b]);
        let got = parse(&out).unwrap().report_about(5).unwrap();
        assert_eq!(got.cumulative_lost, wire, "{given}");
        assert_eq!(got.fraction_lost, 25);
    }
}

#[test]
fn parses_a_compound_laid_out_as_a_real_stack_sends_it() {
    // SR (one block) + SDES CNAME, byte for byte as in RFC 3550 §6.4.1 and §6.5.
    #[rustfmt::skip]
    let datagram: &[u8] = &[
        0x81, 0xC8, 0x00, 0x0C,             // V=2 RC=1 SR, 13 words
        0x5E, 0x3A, 0x12, 0x09,             // sender SSRC
        0xE9, 0x0B, 0x57, 0x3C,             // NTP seconds
        0x40, 0x00, 0x00, 0x00,             // NTP fraction (.25 s)
        0x00, 0x01, 0xE2, 0x40,             // RTP timestamp 123456
        0x00, 0x00, 0x00, 0x64,             // 100 packets
        0x00, 0x00, 0x3E, 0x80,             // 16000 octets
        0x0A, 0x0B, 0x0C, 0x0D,             // block: source SSRC
        0x0C, 0x00, 0x00, 0x07,             // fraction 12/256, 7 lost
        0x00, 0x02, 0x13, 0x88,             // cycles 2, highest 5000
        0x00, 0x00, 0x00, 0x2A,             // jitter 42
        0x57, 0x3C, 0x40, 0x00,             // LSR
        0x00, 0x01, 0x80, 0x00,             // DLSR 1.5 s
        0x81, 0xCA, 0x00, 0x05,             // V=2 SC=1 SDES, 6 words
        0x5E, 0x3A, 0x12, 0x09,             // chunk SSRC
        0x01, 0x0A, b'b', b'o', b'b', b'@', // CNAME, 10 bytes
        b'1', b'0', b'.', b'0', b'.', b'1',
        0x00, 0x00, 0x00, 0x00,             // end of items and padding
    ];
    let compound = parse(datagram).unwrap();
    let (ssrc, info) = compound.sender_info().unwrap();
    assert_eq!(ssrc, 0x5E3A_1209);
    assert_eq!(info.ntp.seconds(), 0xE90B_573C);
    assert_eq!(info.ntp.fraction(), 0x4000_0000);
    assert_eq!(info.ntp.middle32(), 0x573C_4000);
    assert_eq!(
        (info.rtp_timestamp, info.packet_count, info.octet_count),
        (123_456, 100, 16_000)
    );
    let b = compound.report_about(0x0A0B_0C0D).unwrap();
    assert_eq!(
        (b.fraction_lost, b.cumulative_lost, b.highest_seq),
        (12, 7, 0x0002_1388)
    );
    assert_eq!((b.jitter, b.lsr, b.dlsr), (42, 0x573C_4000, 0x0001_8000));
    assert_eq!(compound.cname(), Some((0x5E3A_1209, &b"bob@10.0.1"[..])));
}

#[test]
fn skips_unknown_packet_types_and_reads_multi_chunk_sdes() {
    let mut out = Vec::new();
    build_rr(&mut out, 1, &[]);
    // APP (204) with a name and four bytes of data: skipped.
    out.extend_from_slice(&[
        0x80, 204, 0, 3, 0, 0, 0, 1, b'T', b'E', b'S', b'T', 1, 2, 3, 4,
    ]);
    // SDES with two chunks: (1: CNAME "a", NAME "Al") (2: CNAME "bb").
    #[rustfmt::skip]
    out.extend_from_slice(&[
        0x82, 202, 0, 6,
        0, 0, 0, 1, 1, 1, b'a', 2, 2, b'A', b'l', 0,
        0, 0, 0, 2, 1, 2, b'b', b'b', 0, 0, 0, 0,
    ]);
    let compound = parse(&out).unwrap();
    let kinds: Vec<&str> = compound
        .packets()
        .map(|p| match p {
            Packet::ReceiverReport { .. } => "RR",
            Packet::SourceDescription(_) => "SDES",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["RR", "SDES"]);
    let Some(Packet::SourceDescription(items)) = compound.packets().nth(1) else {
        panic!();
    };
    let items: Vec<(u32, u8, &[u8])> = items.map(|i| (i.ssrc, i.kind, i.value)).collect();
    assert_eq!(
        items,
        [(1, 1, &b"a"[..]), (1, 2, &b"Al"[..]), (2, 1, &b"bb"[..])]
    );
}

#[test]
fn padding_on_the_last_packet_is_removed() {
    let mut out = Vec::new();
    build_rr(&mut out, 1, &[]);
    build_bye(&mut out, 7, None);
    // Pad the BYE by 4 octets: set P, grow the length by one word, count in the last octet.
    let bye = 8;
    out[bye] |= 0x20;
    out[bye + 3] += 1;
    out.extend_from_slice(&[0, 0, 0, 4]);
    let compound = parse(&out).unwrap();
    let Some(Packet::Bye { sources, reason }) = compound.packets().nth(1) else {
        panic!();
    };
    assert_eq!((sources.collect::<Vec<_>>(), reason), (vec![7], None));
}

#[test]
fn malformed_input_is_an_error() {
    let mut good = Vec::new();
    build_sr(&mut good, 1, &info(), &[block(2)]);
    build_sdes_cname(&mut good, 1, "x");
    let boundary = 28 + 24;
    // Every cut inside a packet is an error; a cut between packets is a shorter compound.
    for len in 0..good.len() {
        let result = parse(&good[..len]);
        if len == boundary {
            assert!(result.is_ok());
        } else {
            assert!(result.is_err(), "cut at {len}");
        }
    }
    assert_eq!(parse(&[]), Err(RtcpError::Empty));
    let mut v1 = good.clone();
    v1[0] = 0x41;
    assert_eq!(
        parse(&v1),
        Err(RtcpError::Version {
            offset: 0,
            version: 1
        })
    );
    // Report count larger than the packet.
    let mut rc = good.clone();
    rc[0] = 0x82;
    assert!(matches!(
        parse(&rc),
        Err(RtcpError::Malformed { kind: "SR", .. })
    ));
    // Padding on a packet that is not the last.
    let mut pad = good.clone();
    pad[0] |= 0x20;
    assert!(matches!(parse(&pad), Err(RtcpError::Padding { .. })));
    // An SDES item running past its packet, a BYE reason too.
    assert!(matches!(
        parse(&[0x81, 202, 0, 2, 0, 0, 0, 1, 1, 9, b'a', 0]),
        Err(RtcpError::Malformed { kind: "SDES", .. })
    ));
    assert!(matches!(
        parse(&[0x81, 203, 0, 2, 0, 0, 0, 1, 5, b'a', b'b', b'c']),
        Err(RtcpError::Malformed { kind: "BYE", .. })
    ));
    // Garbage text is not RTCP.
    assert!(parse(b"GET / HTTP/1.1\r\n").is_err());
    assert!(RtcpError::Length {
        offset: 4,
        claimed: 8,
        available: 2
    }
    .to_string()
    .contains("claims 8 bytes"));
}

#[test]
fn random_datagrams_never_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut valid = Vec::new();
    build_sr(&mut valid, 1, &info(), &[block(2), block(3)]);
    build_sdes_cname(&mut valid, 1, "someone@somewhere");
    build_bye(&mut valid, 1, Some("bye"));
    for i in 0..20_000 {
        let mut d: Vec<u8> = if i % 2 == 0 {
            (0..rng.random_range(0..120))
                .map(|_| rng.random())
                .collect()
        } else {
            // Mutate a valid compound so the walk gets deep before it finds trouble.
            let mut d = valid.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..d.len());
                d[at] = rng.random();
            }
            d.truncate(rng.random_range(0..=d.len()));
            d
        };
        if let Some(first) = d.first_mut() {
            *first = 0x80 | (*first & 0x3F);
        }
        if let Ok(c) = parse(&d) {
            for p in c.packets() {
                match p {
                    Packet::SenderReport { reports, .. }
                    | Packet::ReceiverReport { reports, .. } => {
                        reports.count();
                    }
                    Packet::SourceDescription(items) => {
                        items.for_each(|i| assert!(i.value.len() <= d.len()));
                    }
                    Packet::Bye { sources, .. } => {
                        sources.count();
                    }
                }
            }
            c.cname();
            c.report_about(2);
        }
    }
}

#[test]
fn cname_and_reason_are_cut_at_255_bytes_on_a_char_boundary() {
    let long = "é".repeat(200); // 400 bytes
    let mut out = Vec::new();
    build_sdes_cname(&mut out, 1, &long);
    build_bye(&mut out, 1, Some(&long));
    let c = parse(&out).unwrap();
    let (_, cname) = c.cname().unwrap();
    assert_eq!(cname.len(), 254);
    assert!(std::str::from_utf8(cname).is_ok());
}

#[test]
fn rtt_follows_the_rfc_example() {
    // RFC 3550 §6.4.1: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000 → 6.125 s.
    assert_eq!(
        rtt(0xB710_8000, 0xB705_2000, 0x0005_4000),
        Some(Duration::from_millis(6125))
    );
    assert_eq!(rtt(0xB710_8000, 0, 0x0005_4000), None);
    // The 16.16 clock wraps every 18 hours: arithmetic is modulo 2^32.
    assert_eq!(
        rtt(0x0000_1000, 0xFFFF_F000, 0x0000_1000),
        Some(Duration::from_nanos(0x1000 * 1_000_000_000 / 65_536))
    );
    // A DLSR longer than the elapsed time (a confused peer) gives no figure, not 18 hours.
    assert_eq!(rtt(0xB710_8000, 0xB705_2000, 0x0100_0000), None);
}

#[test]
fn dlsr_and_ntp_conversions() {
    assert_eq!(dlsr(Duration::from_millis(5250)), 0x0005_4000);
    assert_eq!(dlsr(Duration::from_secs(1 << 20)), u32::MAX);
    let t = UNIX_EPOCH + Duration::from_millis(1500);
    let ntp = NtpTime::from_system_time(t);
    assert_eq!(ntp.seconds(), 2_208_988_801);
    assert_eq!(ntp.fraction(), 0x8000_0000);
    assert_eq!(ntp.middle32(), (2_208_988_801u32 << 16) | 0x8000);
    assert_eq!(
        NtpTime::from_system_time(UNIX_EPOCH - Duration::from_secs(5)).seconds(),
        2_208_988_800
    );
    let now = NtpTime::now();
    assert!(
        now.seconds() > 3_900_000_000 || now.seconds() < 1_000_000_000,
        "2023 or later"
    );
}
