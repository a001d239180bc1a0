//! Voice-activity detection for turn-taking: a pure energy detector over 20 ms frames of
//! 16-bit PCM (any rate), with onset confirmation and hangover, that reports each speech
//! segment with its true first and one-past-last voiced frame.
//!
//! Thresholds, and why:
//! - A frame is voiced when its RMS is at or above −45 dBFS. Speech on a phone line sits
//!   around −30 to −15 dBFS; line noise, comfort noise and G.711's idle pattern sit well
//!   under −55 dBFS, so −45 dBFS leaves about 10 dB of margin either way.
//! - A segment opens once 2 of the last 3 frames are voiced: one loud frame (a click, a
//!   packet of garbage concealed into noise) is not speech.
//! - It closes after 15 unvoiced frames (300 ms): the pauses between words and the stops of
//!   plosives are shorter, so one utterance stays one segment; a reply gap is longer.
//!
//! The decision comes later than the boundary (one or two frames at the start, 300 ms at the
//! end), but the segment is reported with its true boundaries: figures built on them are
//! exact to one frame, only reported a little later.

/// −45 dBFS as a mean square over full scale 32768: (32768 · 10^(−45/20))² ≈ 33 963.
const VOICED_MEAN_SQUARE: u64 = 33_963;
/// Unvoiced frames that end a segment (300 ms).
pub const HANGOVER_FRAMES: u64 = 15;

/// A segment boundary, in the caller's frame indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoiceChange {
    /// The segment's first voiced frame.
    Started(u64),
    /// One past its last voiced frame.
    Ended(u64),
}

#[derive(Clone, Debug, Default)]
pub struct Vad {
    /// The two frames before the current one: their index when voiced.
    recent: [Option<u64>; 2],
    /// In a segment: its last voiced frame.
    last_voiced: Option<u64>,
    /// The last frame pushed.
    latest: Option<u64>,
}

/// Whether a frame's RMS is at or above −45 dBFS (an empty frame is not).
pub fn is_voiced(pcm: &[i16]) -> bool {
    if pcm.is_empty() {
        return false;
    }
    let sum: u64 = pcm
        .iter()
        .map(|&s| (i64::from(s) * i64::from(s)) as u64)
        .sum();
    sum >= VOICED_MEAN_SQUARE * pcm.len() as u64
}

impl Vad {
    /// Feeds frame `frame` (indices must increase); returns a boundary once decided.
    pub fn push(&mut self, frame: u64, pcm: &[i16]) -> Option<VoiceChange> {
        self.latest = Some(frame);
        let voiced = is_voiced(pcm);
        if let Some(last) = self.last_voiced {
            if voiced {
                self.last_voiced = Some(frame);
                return None;
            }
            if frame.saturating_sub(last) >= HANGOVER_FRAMES {
                self.last_voiced = None;
                self.recent = [None, None];
                return Some(VoiceChange::Ended(last + 1));
            }
            return None;
        }
        // Only the two frames just before this one count towards "2 of 3".
        let earlier = self
            .recent
            .iter()
            .flatten()
            .copied()
            .filter(|&f| f < frame && frame - f <= 2)
            .min();
        self.recent = [self.recent[1], voiced.then_some(frame)];
        match (voiced, earlier) {
            (true, Some(start)) => {
                self.last_voiced = Some(frame);
                self.recent = [None, None];
                Some(VoiceChange::Started(start))
            }
            _ => None,
        }
    }

    /// Closes a segment still open when the stream ends (at its last voiced frame).
    pub fn finish(&mut self) -> Option<VoiceChange> {
        self.last_voiced
            .take()
            .map(|last| VoiceChange::Ended(last + 1))
    }

    /// Every boundary still to be reported lies at or after this frame.
    pub fn horizon(&self) -> u64 {
        match (self.last_voiced, self.latest) {
            (Some(last), _) => last + 1,
            // A start may yet be the frame before the latest (voiced, then one unvoiced).
            (None, Some(latest)) => latest.saturating_sub(1),
            (None, None) => 0,
        }
    }

    pub fn speaking(&self) -> bool {
        self.last_voiced.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOUD: [i16; 160] = [8000; 160];
    const QUIET: [i16; 160] = [0; 160];
    /// −50 dBFS: under the threshold.
    const HUSH: [i16; 160] = [104; 160];
    /// −44 dBFS: over it.
    const SOFT: [i16; 160] = [207; 160];

    /// Runs a pattern ('#' voiced, '.' not) and returns every boundary with the frame at
    /// which it was decided.
    fn run(pattern: &str) -> Vec<(u64, VoiceChange)> {
        let mut vad = Vad::default();
        let mut out = Vec::new();
        for (i, c) in pattern.chars().enumerate() {
            let pcm: &[i16] = if c == '#' { &LOUD } else { &QUIET };
            if let Some(change) = vad.push(i as u64, pcm) {
                out.push((i as u64, change));
            }
        }
        out
    }

    #[test]
    fn threshold_sits_at_minus_45_dbfs() {
        assert!(!is_voiced(&HUSH));
        assert!(is_voiced(&SOFT));
        assert!(!is_voiced(&QUIET));
        assert!(!is_voiced(&[]));
        // 48 kHz frames work the same.
        assert!(is_voiced(&[207; 960]));
    }

    #[test]
    fn a_segment_reports_its_true_first_and_one_past_last_frame() {
        // Voiced 5..=14, then silence: started at 5 (decided at 6), ended at 15 (decided
        // 15 unvoiced frames later, at 29).
        let pattern = format!("{}{}{}", ".".repeat(5), "#".repeat(10), ".".repeat(20));
        assert_eq!(
            run(&pattern),
            vec![(6, VoiceChange::Started(5)), (29, VoiceChange::Ended(15))]
        );
    }

    #[test]
    fn one_click_is_not_speech_but_two_of_three_frames_are() {
        assert_eq!(run("..#.....#....."), vec![]);
        // Voiced, unvoiced, voiced: starts at the first one.
        let got = run(&format!("..#.#{}", ".".repeat(20)));
        assert_eq!(got[0], (4, VoiceChange::Started(2)));
        assert_eq!(got[1], (19, VoiceChange::Ended(5)));
    }

    #[test]
    fn pauses_shorter_than_the_hangover_stay_inside_one_segment() {
        let pattern = format!(
            "{}{}{}{}",
            "#".repeat(10),
            ".".repeat(14),
            "#".repeat(10),
            ".".repeat(16)
        );
        assert_eq!(
            run(&pattern),
            vec![(1, VoiceChange::Started(0)), (48, VoiceChange::Ended(34))]
        );
        // A pause of 15 frames splits it.
        let pattern = format!("{}{}{}", "#".repeat(10), ".".repeat(15), "#".repeat(4));
        assert_eq!(
            run(&pattern),
            vec![
                (1, VoiceChange::Started(0)),
                (24, VoiceChange::Ended(10)),
                (26, VoiceChange::Started(25))
            ]
        );
    }

    #[test]
    fn finish_closes_an_open_segment_and_horizon_bounds_what_is_pending() {
        let mut vad = Vad::default();
        assert_eq!(vad.horizon(), 0);
        for f in 0..3 {
            vad.push(f, &QUIET);
        }
        assert_eq!(vad.horizon(), 1);
        vad.push(3, &LOUD);
        vad.push(4, &LOUD);
        vad.push(5, &QUIET);
        assert!(vad.speaking());
        assert_eq!(vad.horizon(), 5);
        assert_eq!(vad.finish(), Some(VoiceChange::Ended(5)));
        assert_eq!(vad.finish(), None);
    }
}
