//! Cost of SRTP on the media path: protecting one 20 ms PCMU packet (12-byte header, 160-byte
//! payload) as the send tick does, and authenticating + decrypting one as the receive path
//! does, for both suites. Each iteration has a new sequence number, so the replay window and
//! rollover tracking are on the measured path.
//! Run: `cargo bench --bench srtp`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sipterm::media::srtp::{MasterKey, SrtpKeys, SrtpStreams, Suite, MASTER_LEN};

fn keys(suite: Suite, ours: u8, theirs: u8) -> SrtpKeys {
    SrtpKeys {
        suite,
        tag: 1,
        ours: MasterKey::from_bytes([ours; MASTER_LEN]),
        theirs: MasterKey::from_bytes([theirs; MASTER_LEN]),
    }
}

fn packet(seq: u16) -> [u8; 172] {
    let mut p = [0xD5u8; 172];
    p[..12].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]);
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p
}

fn srtp(c: &mut Criterion) {
    let mut group = c.benchmark_group("srtp");
    group.throughput(Throughput::Elements(1));
    for suite in Suite::ALL {
        group.bench_function(format!("protect_pcmu_20ms_{suite}"), |b| {
            let mut tx = SrtpStreams::new(&keys(suite, 1, 2)).unwrap();
            let mut seq = 0u16;
            b.iter(|| {
                seq = seq.wrapping_add(1);
                let wire = tx.protect_rtp(&packet(seq)).unwrap();
                black_box(wire.as_ref().len());
            });
        });
        group.bench_function(format!("unprotect_pcmu_20ms_{suite}"), |b| {
            // Protected in the (untimed) setup, so only the receive side is measured.
            let mut tx = SrtpStreams::new(&keys(suite, 1, 2)).unwrap();
            let mut rx = SrtpStreams::new(&keys(suite, 2, 1)).unwrap();
            let mut seq = 0u16;
            b.iter_batched(
                || {
                    seq = seq.wrapping_add(1);
                    tx.protect_rtp(&packet(seq)).unwrap().as_ref().to_vec()
                },
                |wire| {
                    let plain = rx.unprotect_rtp(&wire).unwrap();
                    black_box(plain.as_ref().len());
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, srtp);
criterion_main!(benches);
