//! Cost of the per-frame media work: encoding and decoding one 20 ms frame with each codec, and
//! resampling one frame between the G.711 and Opus rates.
//!
//! Each figure is the time for one frame, so 20 ms divided by it is how many calls' worth one
//! core could do. Measurement is kept short (the whole file runs in well under a minute); the
//! numbers are for comparison, and nothing asserts on them.
//! Run: `cargo bench --bench codecs`.

use std::f64::consts::PI;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sipterm::media::g711;
use sipterm::media::opus::{OpusDecoder, OpusEncoder, FRAME_SAMPLES};
use sipterm::media::resample::Resampler;
use sipterm::vocab::codec::Codec;

/// Speech-like input (a 150 Hz buzz with harmonics) so the codecs do representative work.
fn voice(rate: u32, len: usize) -> Vec<i16> {
    (0..len)
        .map(|n| {
            let t = n as f64 / f64::from(rate);
            let buzz: f64 = (1..=8)
                .map(|h| (2.0 * PI * 150.0 * f64::from(h) * t).sin() / f64::from(h))
                .sum();
            (6000.0 * buzz) as i16
        })
        .collect()
}

fn g711(c: &mut Criterion) {
    let pcm = voice(8000, 160);
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let mut payload = Vec::with_capacity(160);
        c.bench_function(&format!("{codec} encode 20 ms"), |b| {
            b.iter(|| {
                payload.clear();
                g711::encode(codec, black_box(&pcm), &mut payload).unwrap();
            })
        });
        let mut decoded = Vec::with_capacity(160);
        c.bench_function(&format!("{codec} decode 20 ms"), |b| {
            b.iter(|| {
                decoded.clear();
                g711::decode(codec, black_box(&payload), &mut decoded).unwrap();
            })
        });
    }
}

fn opus(c: &mut Criterion) {
    // A run of frames so the encoder is not measured on the same frame's state forever.
    let pcm = voice(48000, 50 * FRAME_SAMPLES);
    let frames: Vec<&[i16]> = pcm.chunks(FRAME_SAMPLES).collect();
    let mut encoder = OpusEncoder::new().unwrap();
    let mut packet = Vec::with_capacity(1275);
    let mut next = 0;
    c.bench_function("opus encode 20 ms", |b| {
        b.iter(|| {
            packet.clear();
            encoder
                .encode(black_box(frames[next]), &mut packet)
                .unwrap();
            next = (next + 1) % frames.len();
        })
    });

    let mut encoder = OpusEncoder::new().unwrap();
    let packets: Vec<Vec<u8>> = frames
        .iter()
        .map(|frame| {
            let mut p = Vec::new();
            encoder.encode(frame, &mut p).unwrap();
            p
        })
        .collect();
    let mut decoder = OpusDecoder::new().unwrap();
    let mut decoded = Vec::with_capacity(FRAME_SAMPLES);
    let mut next = 0;
    c.bench_function("opus decode 20 ms", |b| {
        b.iter(|| {
            decoded.clear();
            decoder
                .decode(black_box(&packets[next]), &mut decoded)
                .unwrap();
            next = (next + 1) % packets.len();
        })
    });
}

fn resampling(c: &mut Criterion) {
    for (from, to) in [(8000, 48000), (48000, 8000)] {
        let pcm = voice(from, (from / 50) as usize);
        let mut resampler = Resampler::new(from, to).unwrap();
        let mut out = Vec::with_capacity((to / 50) as usize);
        c.bench_function(&format!("resample {from}->{to} Hz 20 ms"), |b| {
            b.iter(|| {
                out.clear();
                resampler.process_i16(black_box(&pcm), &mut out);
            })
        });
    }
}

fn short() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = codecs;
    config = short();
    targets = g711, opus, resampling
}
criterion_main!(codecs);
