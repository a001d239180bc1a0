//! Cost of the jitter buffer on the receive path: one `push` of a 20 ms G.711 packet and one
//! `pop` per iteration, i.e. what one call spends per 20 ms of received audio.
//!
//! The stream is lightly reordered (every eighth pair swapped) so reordering is on the
//! measured path. Time is synthetic (an `Instant` advanced 20 ms per packet), so the figures
//! are the buffer's own CPU cost. Run: `cargo bench --bench jitter`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sipterm::media::jitter::{JitterBuffer, Playout};

const FRAME: u32 = 160;

fn push_pop(c: &mut Criterion) {
    let mut group = c.benchmark_group("jitter");
    group.throughput(Throughput::Elements(1));
    group.bench_function("push_pop_20ms_g711_reordered", |b| {
        let mut jb = JitterBuffer::new(8000, FRAME);
        let payload = [0xD5u8; 160];
        let t0 = Instant::now();
        let mut n: u32 = 0;
        b.iter(|| {
            // Swap packets 8k+3 and 8k+4 of each eight.
            let k = match n % 8 {
                3 => n + 1,
                4 => n - 1,
                _ => n,
            };
            let arrival = t0 + Duration::from_millis(u64::from(n) * 20);
            let outcome = jb.push(k as u16, k.wrapping_mul(FRAME), &payload, arrival);
            black_box(outcome);
            let played = match jb.pop(arrival + Duration::from_millis(5)) {
                Playout::Frame { payload, .. } => payload.len(),
                Playout::Missing { next } => next.map_or(0, <[u8]>::len),
                Playout::Buffering => 0,
            };
            black_box(played);
            n = n.wrapping_add(1);
        });
    });
    group.finish();
}

criterion_group!(benches, push_pop);
criterion_main!(benches);
