//! Turn-taking from the two sides' speech segments: greeting delay, reply gaps, barge-ins and
//! how fast the remote stops, double talk and long silences ([`TurnTaking`]).
//!
//! Each side's voice detector reports boundaries late (onset confirmation, hangover, and for
//! the remote the jitter buffer), and the two sides at different lags. The tracker queues
//! each side's boundaries and replays them in true time order, only up to where both
//! detectors have decided (their horizons), so every figure comes out as if the boundaries
//! had been known at once. Times are frame indices (20 ms) counted from the media start.
//!
//! Definitions: a reply gap runs from the end of our speech to the start of the remote's next
//! speech, when the remote was silent as we stopped and starts before we speak again. A
//! barge-in is our start while the remote speaks; its stop latency runs to the end of that
//! remote segment. Double talk is any stretch where both speak. A long silence is more than
//! 5 s with neither speaking, counted from the answer.

use std::collections::VecDeque;

use super::vad::VoiceChange;
use crate::vocab::{Side, TurnTaking};

const FRAME_MS: u64 = 20;
/// 5 s of silence, in frames.
const LONG_SILENCE_FRAMES: u64 = 250;
const STOP_WITHIN_MS: u64 = 1000;

#[derive(Debug)]
pub struct Turns {
    answer: u64,
    pending: [VecDeque<VoiceChange>; 2],
    remote_since: Option<u64>,
    local_since: Option<u64>,
    /// Our speech ended with the remote silent: a reply gap starts here.
    gap_from: Option<u64>,
    /// We barged in here; the remote's segment has not ended yet.
    barge_at: Option<u64>,
    overlap_since: Option<u64>,
    /// Neither speaks since this frame; `silence_counted` once it passed 5 s.
    silent_since: Option<u64>,
    silence_counted: bool,
    sorted_gaps: Vec<u64>,
    sorted_stops: Vec<u64>,
    figures: TurnTaking,
}

fn index(side: Side) -> usize {
    match side {
        Side::Remote => 0,
        Side::Local => 1,
    }
}

fn time(change: VoiceChange) -> u64 {
    match change {
        VoiceChange::Started(t) | VoiceChange::Ended(t) => t,
    }
}

fn percentile(sorted: &[u64], p: u32) -> Option<u64> {
    crate::vocab::turns::nearest_rank(sorted, p)
}

fn insert_sorted(sorted: &mut Vec<u64>, value: u64) {
    let at = sorted.partition_point(|&v| v <= value);
    sorted.insert(at, value);
}

impl Default for Turns {
    fn default() -> Self {
        Turns::new(0)
    }
}

impl Turns {
    /// A call whose answer (and the start of every figure) is at frame `answer`.
    pub fn new(answer: u64) -> Self {
        Turns {
            answer,
            pending: [VecDeque::with_capacity(8), VecDeque::with_capacity(8)],
            remote_since: None,
            local_since: None,
            gap_from: None,
            barge_at: None,
            overlap_since: None,
            silent_since: Some(answer),
            silence_counted: false,
            sorted_gaps: Vec::new(),
            sorted_stops: Vec::new(),
            figures: TurnTaking::default(),
        }
    }

    /// The call was answered at `frame` (after early media): the greeting and the silences
    /// count from here.
    pub fn answered(&mut self, frame: u64) {
        self.answer = frame;
        if self.remote_since.is_none() && self.local_since.is_none() {
            self.silent_since = Some(frame);
            self.silence_counted = false;
        }
    }

    /// Queues one side's boundary (each side's in the order its detector decided them).
    pub fn push(&mut self, side: Side, change: VoiceChange) {
        self.pending[index(side)].push_back(change);
    }

    /// Replays the queued boundaries that lie before both horizons (every boundary still to
    /// come lies at or after its side's horizon), and counts a silence that has passed 5 s by
    /// then. True when a figure changed.
    pub fn settle(&mut self, remote_horizon: u64, local_horizon: u64) -> bool {
        let until = remote_horizon.min(local_horizon);
        self.replay(until)
    }

    /// The call ends: every queued boundary counts.
    pub fn finish(&mut self) -> bool {
        self.replay(u64::MAX)
    }

    fn replay(&mut self, until: u64) -> bool {
        let mut changed = false;
        loop {
            let next =
                |q: &VecDeque<VoiceChange>| q.front().map(|&c| time(c)).filter(|&t| t < until);
            let (r, l) = (next(&self.pending[0]), next(&self.pending[1]));
            // Ends before starts at the same frame: [start, end) segments that touch do not
            // overlap.
            let side = match (r, l) {
                (None, None) => break,
                (Some(_), None) => Side::Remote,
                (None, Some(_)) => Side::Local,
                (Some(r), Some(l)) if r != l => {
                    if r < l {
                        Side::Remote
                    } else {
                        Side::Local
                    }
                }
                (Some(_), Some(_)) => match self.pending[0].front() {
                    Some(VoiceChange::Ended(_)) => Side::Remote,
                    _ => Side::Local,
                },
            };
            if let Some(change) = self.pending[index(side)].pop_front() {
                changed |= self.apply(side, change);
            }
        }
        if until != u64::MAX {
            changed |= self.check_silence(until);
        }
        changed
    }

    fn check_silence(&mut self, now: u64) -> bool {
        match self.silent_since {
            Some(since)
                if !self.silence_counted && now.saturating_sub(since) > LONG_SILENCE_FRAMES =>
            {
                self.silence_counted = true;
                self.figures.long_silences += 1;
                true
            }
            _ => false,
        }
    }

    fn apply(&mut self, side: Side, change: VoiceChange) -> bool {
        let mut changed = false;
        match (side, change) {
            (_, VoiceChange::Started(t)) => {
                changed |= self.check_silence(t);
                self.silent_since = None;
                let other = match side {
                    Side::Remote => self.local_since,
                    Side::Local => self.remote_since,
                };
                if other.is_some() {
                    self.figures.double_talk += 1;
                    self.overlap_since = Some(t);
                }
                match side {
                    Side::Remote => {
                        self.remote_since = Some(t);
                        if self.figures.greeting_ms.is_none() && t >= self.answer {
                            self.figures.greeting_ms = Some((t - self.answer) * FRAME_MS);
                            changed = true;
                        }
                        if let Some(from) = self.gap_from.take() {
                            let gap = (t - from.min(t)) * FRAME_MS;
                            self.figures.gaps_ms.push(gap);
                            insert_sorted(&mut self.sorted_gaps, gap);
                            self.figures.gap_p50_ms = percentile(&self.sorted_gaps, 50);
                            self.figures.gap_p90_ms = percentile(&self.sorted_gaps, 90);
                            self.figures.gap_max_ms = self.sorted_gaps.last().copied();
                            changed = true;
                        }
                    }
                    Side::Local => {
                        self.local_since = Some(t);
                        // We speak again before the remote replied: no turn to measure.
                        self.gap_from = None;
                        if self.remote_since.is_some() {
                            self.figures.barge_ins += 1;
                            self.barge_at = Some(t);
                            changed = true;
                        }
                    }
                }
            }
            (_, VoiceChange::Ended(t)) => {
                if let Some(since) = self.overlap_since.take() {
                    self.figures.double_talk_ms += (t - since.min(t)) * FRAME_MS;
                }
                let other = match side {
                    Side::Remote => {
                        self.remote_since = None;
                        if let Some(at) = self.barge_at.take() {
                            let stop = (t - at.min(t)) * FRAME_MS;
                            self.figures.stop_latencies_ms.push(stop);
                            if stop > STOP_WITHIN_MS {
                                self.figures.not_stopped_within_1s += 1;
                            }
                            insert_sorted(&mut self.sorted_stops, stop);
                            self.figures.stop_p50_ms = percentile(&self.sorted_stops, 50);
                            self.figures.stop_max_ms = self.sorted_stops.last().copied();
                            changed = true;
                        }
                        self.local_since
                    }
                    Side::Local => {
                        self.local_since = None;
                        if self.remote_since.is_none() {
                            self.gap_from = Some(t);
                        }
                        self.remote_since
                    }
                };
                if other.is_none() {
                    self.silent_since = Some(t.max(self.answer));
                    self.silence_counted = false;
                }
            }
        }
        changed
    }

    pub fn figures(&self) -> &TurnTaking {
        &self.figures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VoiceChange::{Ended, Started};

    /// Frames from milliseconds, for readable tests.
    fn f(ms: u64) -> u64 {
        ms / FRAME_MS
    }

    fn replayed(answer: u64, remote: &[(u64, u64)], local: &[(u64, u64)]) -> TurnTaking {
        let mut t = Turns::new(f(answer));
        for &(s, e) in remote {
            t.push(Side::Remote, Started(f(s)));
            t.push(Side::Remote, Ended(f(e)));
        }
        for &(s, e) in local {
            t.push(Side::Local, Started(f(s)));
            t.push(Side::Local, Ended(f(e)));
        }
        t.finish();
        t.figures().clone()
    }

    #[test]
    fn greeting_counts_from_the_answer_to_the_remotes_first_speech() {
        let t = replayed(0, &[(740, 2000), (4000, 5000)], &[]);
        assert_eq!(t.greeting_ms, Some(740));
        // Early media: a ringback before the answer is not the greeting.
        let t = replayed(1000, &[(200, 800), (1600, 2000)], &[]);
        assert_eq!(t.greeting_ms, Some(600));
    }

    #[test]
    fn reply_gaps_and_their_nearest_rank_percentiles() {
        let remote = [
            (0, 1000),
            (2700, 3000),
            (4800, 5000),
            (6500, 7000),
            (8400, 9000),
        ];
        let local = [(1500, 2000), (3400, 4000), (5600, 6000), (7400, 8000)];
        let t = replayed(0, &remote, &local);
        assert_eq!(t.gaps_ms, vec![700, 800, 500, 400]);
        assert_eq!(t.gap_p50_ms, Some(500));
        assert_eq!(t.gap_p90_ms, Some(800));
        assert_eq!(t.gap_max_ms, Some(800));
        assert_eq!(t.barge_ins, 0);
        assert_eq!(t.double_talk, 0);
    }

    #[test]
    fn no_gap_when_we_speak_again_first_or_the_remote_was_still_talking() {
        // We speak twice in a row: one gap, from our second end.
        let t = replayed(0, &[(3000, 4000)], &[(0, 1000), (1500, 2000)]);
        assert_eq!(t.gaps_ms, vec![1000]);
        // The remote talked through our end: no reply to measure.
        let t = replayed(0, &[(500, 1500), (3000, 3500)], &[(0, 1000)]);
        assert_eq!(t.gaps_ms, Vec::<u64>::new());
        // Touching segments: a gap of zero, not double talk.
        let t = replayed(0, &[(1000, 1500)], &[(0, 1000)]);
        assert_eq!(t.gaps_ms, vec![0]);
        assert_eq!(t.double_talk, 0);
    }

    #[test]
    fn barge_ins_count_stop_latencies_and_slow_stops() {
        let remote = [(0, 2000), (3000, 5000)];
        let local = [(1600, 2200), (3500, 4000)];
        let t = replayed(0, &remote, &local);
        assert_eq!(t.barge_ins, 2);
        assert_eq!(t.stop_latencies_ms, vec![400, 1500]);
        assert_eq!(t.stop_p50_ms, Some(400));
        assert_eq!(t.stop_max_ms, Some(1500));
        assert_eq!(t.not_stopped_within_1s, 1);
        // Overlaps: 1600..2000 and 3500..4000.
        assert_eq!(t.double_talk, 2);
        assert_eq!(t.double_talk_ms, 900);
    }

    #[test]
    fn the_remote_talking_over_us_is_double_talk_but_no_barge_in() {
        let t = replayed(0, &[(500, 1500)], &[(0, 1000)]);
        assert_eq!(t.barge_ins, 0);
        assert_eq!(t.double_talk, 1);
        assert_eq!(t.double_talk_ms, 500);
    }

    #[test]
    fn long_silences_count_stretches_over_5_s_after_the_answer() {
        // 0..5200 silent (from the answer), 6000..11200 silent, 12000..17000 exactly 5 s.
        let t = replayed(0, &[(5200, 6000), (17000, 17500)], &[(11200, 12000)]);
        assert_eq!(t.long_silences, 2);
        // Live: a silence still going is counted once it passes 5 s.
        let mut turns = Turns::new(0);
        assert!(!turns.settle(f(4000), f(4000)));
        assert!(turns.settle(f(5100), f(5100)));
        assert!(!turns.settle(f(9000), f(9000)));
        assert_eq!(turns.figures().long_silences, 1);
    }

    #[test]
    fn late_decisions_replay_in_true_order_up_to_both_horizons() {
        let mut t = Turns::new(0);
        // The remote replies 200 ms after we stop; our end is decided 300 ms late, after
        // the remote's start was already known.
        t.push(Side::Local, Started(f(0)));
        t.push(Side::Remote, Started(f(1200)));
        assert!(!t.settle(f(1220), f(1000)));
        t.push(Side::Local, Ended(f(1000)));
        assert!(t.settle(f(1220), f(1280)));
        assert_eq!(t.figures().gaps_ms, vec![200]);
        assert_eq!(t.figures().greeting_ms, Some(1200));
    }
}
