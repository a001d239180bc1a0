//! Finding a new timeline among packets that are off the current one: a real jump shows up as
//! packets that agree among themselves (consecutive sequence numbers, timestamps advancing with
//! the time between arrivals), random ones (a flood, a sender stamping garbage) never do.
//!
//! Each off-timeline packet is remembered in a slot picked by its sequence number and looks
//! for its predecessor (one or two numbers back) in theirs: the length of the chain it
//! extends is how many agree. The table is fixed and overwritten freely: a flood of random
//! numbers rarely hits the one slot a real packet needs (40 random packets between two real
//! ones overwrite it with a chance of 7.5 %), so a real new stream is recognised within a few
//! packets even in a flood, while costing two lookups per packet and no allocation.

/// Slots, a power of two.
const SLOTS: usize = 512;
/// How far arrival gaps and media time may disagree along a chain: jitter, not chance.
const TOLERANCE_US: i64 = 200_000;
/// A predecessor older than this is forgotten (a packet every 20 ms is the norm).
const MAX_GAP_US: i64 = 500_000;

#[derive(Clone, Copy, Debug, Default)]
struct Link {
    used: bool,
    seq: u16,
    timestamp: u32,
    arrival_us: i64,
    /// Packets in the chain ending here.
    count: u32,
}

pub(super) struct Candidates {
    /// Empty until the first off-timeline packet: most streams never have one, and a
    /// thousand calls need not hold 12 KB each for it.
    slots: Vec<Link>,
}

impl Candidates {
    pub fn new() -> Self {
        Self { slots: Vec::new() }
    }

    /// Files an off-timeline packet and returns how many packets in a row, itself included,
    /// agree with it.
    pub fn follow(&mut self, seq: u16, timestamp: u32, arrival_us: i64, clock_rate: i64) -> u32 {
        let agrees = |link: &Link, step: u16| {
            let media_us = i64::from(timestamp.wrapping_sub(link.timestamp) as i32) * 1_000_000
                / clock_rate.max(1);
            let gap_us = arrival_us - link.arrival_us;
            link.used
                && link.seq == seq.wrapping_sub(step)
                && media_us > 0
                && (0..=MAX_GAP_US).contains(&gap_us)
                && (gap_us - media_us).abs() <= TOLERANCE_US
        };
        if self.slots.is_empty() {
            self.slots = vec![Link::default(); SLOTS];
        }
        let count = [1u16, 2]
            .into_iter()
            .filter_map(|step| {
                let link = &self.slots[slot(seq.wrapping_sub(step))];
                agrees(link, step).then_some(link.count)
            })
            .max()
            .map_or(1, |c| c.saturating_add(1));
        self.slots[slot(seq)] = Link {
            used: true,
            seq,
            timestamp,
            arrival_us,
            count,
        };
        count
    }

    /// Forgets every chain (the timeline moved, or the source changed).
    pub fn clear(&mut self) {
        self.slots.fill(Link::default());
    }
}

fn slot(seq: u16) -> usize {
    usize::from(seq) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn consecutive_packets_on_one_timeline_agree() {
        let mut c = Candidates::new();
        let counts: Vec<u32> = (0..4)
            .map(|n| {
                c.follow(
                    100 + n,
                    5_000 + 160 * u32::from(n),
                    20_000 * i64::from(n),
                    8000,
                )
            })
            .collect();
        assert_eq!(counts, [1, 2, 3, 4]);
        // One lost packet does not break the chain; a timestamp that does not advance with
        // the time that passed does.
        assert_eq!(c.follow(105, 5_000 + 160 * 5, 100_000, 8000), 5);
        assert_eq!(c.follow(106, 5_000 + 160 * 6 + 8_000, 120_000, 8000), 1);
        c.clear();
        assert_eq!(c.follow(107, 5_000 + 160 * 7, 140_000, 8000), 1);
    }

    #[test]
    fn random_packets_do_not_agree_and_do_not_hide_a_real_run() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut c = Candidates::new();
        let mut longest_random = 0;
        let mut real = Vec::new();
        for n in 0..50u16 {
            let at = 20_000 * i64::from(n);
            for _ in 0..40 {
                longest_random = longest_random.max(c.follow(rng.random(), rng.random(), at, 8000));
            }
            real.push(c.follow(7_000 + n, 160 * u32::from(n), at, 8000));
        }
        assert_eq!(longest_random, 1);
        assert!(real.iter().any(|&n| n >= 3), "{real:?}");
    }
}
