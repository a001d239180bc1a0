//! Turn-taking inside the media task: a voice detector on each direction, fed every tick,
//! and the tracker that turns their segments into figures (`media/vad.rs`, `media/turns.rs`).
//!
//! Times are "on the wire": what we send at tick `f` leaves at tick `f`; the remote's frame
//! played at tick `f` came off the socket `delay` earlier (the jitter buffer keeps each
//! frame's arrival, `JitterBuffer::last_played_arrival`), so its arrival frame is
//! `f − round(delay / 20 ms)`: the tick nearest its arrival. (The buffer's own playout delay
//! is measured from the *earliest plausible* arrival, which a sender's pacing jitter pulls
//! early by up to a frame; measured against a capture, the real arrival is what agrees.) The delay of every recent tick is kept in a small ring
//! so a boundary the detector reports late is mapped with the delay its frame had. The
//! mapping is kept monotonic, and the remote's horizon is held back two frames more, so a
//! delay that shrinks (catch-up) cannot reorder what the tracker has settled.

use super::MediaEvent;
use crate::media::turns::Turns;
use crate::media::vad::{Vad, VoiceChange};
use crate::vocab::{Side, TurnTaking};

const FRAME_MS: u64 = 20;
/// Ticks of delay history: more than the detector's longest lag (hangover plus onset).
const HISTORY: usize = 64;
/// Margin on the remote's horizon for a playout delay that changes meanwhile.
const DELAY_MARGIN: u64 = 2;

pub(super) struct Voice {
    remote: Vad,
    local: Vad,
    turns: Turns,
    answer: u64,
    /// Playout delay in frames, by tick modulo `HISTORY`.
    delays: [u16; HISTORY],
    latest_tick: u64,
    last_remote_wire: u64,
}

impl Voice {
    pub(super) fn new() -> Self {
        Voice {
            remote: Vad::default(),
            local: Vad::default(),
            turns: Turns::new(0),
            answer: 0,
            delays: [0; HISTORY],
            latest_tick: 0,
            last_remote_wire: 0,
        }
    }

    /// The call was answered during tick `frame` (it had early media).
    pub(super) fn answered(&mut self, frame: u64) {
        self.answer = frame;
        self.turns.answered(frame);
    }

    fn delay_at(&self, tick: u64) -> u64 {
        let tick = tick.min(self.latest_tick);
        u64::from(self.delays[(tick % HISTORY as u64) as usize])
    }

    /// The remote's boundary at tick `t` as an arrival frame.
    fn remote_wire(&mut self, change: VoiceChange) -> VoiceChange {
        let map = |t: u64, this: &Self| t.saturating_sub(this.delay_at(t));
        let change = match change {
            VoiceChange::Started(t) => VoiceChange::Started(map(t, self)),
            // One past the last voiced frame: map that frame, then step past it.
            VoiceChange::Ended(t) => VoiceChange::Ended(map(t.saturating_sub(1), self) + 1),
        };
        let clamp = |t: u64| t.max(self.last_remote_wire);
        let change = match change {
            VoiceChange::Started(t) => VoiceChange::Started(clamp(t)),
            VoiceChange::Ended(t) => VoiceChange::Ended(clamp(t)),
        };
        self.last_remote_wire = match change {
            VoiceChange::Started(t) | VoiceChange::Ended(t) => t,
        };
        change
    }

    /// One tick: the remote's frame played now (with the playout delay it had), and ours.
    pub(super) fn tick(
        &mut self,
        frame: u64,
        remote_pcm: &[i16],
        remote_delay_ms: f64,
        local_pcm: &[i16],
        mut emit: impl FnMut(MediaEvent),
    ) {
        let delay = (remote_delay_ms.max(0.0) / FRAME_MS as f64).round() as u16;
        self.latest_tick = frame;
        self.delays[(frame % HISTORY as u64) as usize] = delay;
        if let Some(change) = self.remote.push(frame, remote_pcm) {
            let change = self.remote_wire(change);
            self.report(Side::Remote, change, &mut emit);
        }
        if let Some(change) = self.local.push(frame, local_pcm) {
            self.report(Side::Local, change, &mut emit);
        }
        let remote_horizon = self
            .remote
            .horizon()
            .saturating_sub(self.delay_at(self.remote.horizon()) + DELAY_MARGIN);
        if self.turns.settle(remote_horizon, self.local.horizon()) {
            emit(MediaEvent::TurnTaking(self.turns.figures().clone()));
        }
    }

    fn report(&mut self, side: Side, change: VoiceChange, emit: &mut impl FnMut(MediaEvent)) {
        let (speaking, at) = match change {
            VoiceChange::Started(t) => (true, t),
            VoiceChange::Ended(t) => (false, t),
        };
        emit(MediaEvent::Voice {
            side,
            speaking,
            at_ms: at.saturating_sub(self.answer) * FRAME_MS,
        });
        self.turns.push(side, change);
    }

    /// The media stops: open segments end at their last voiced frame, and every figure counts.
    pub(super) fn finish(&mut self, mut emit: impl FnMut(MediaEvent)) -> TurnTaking {
        if let Some(change) = self.remote.finish() {
            let change = self.remote_wire(change);
            self.report(Side::Remote, change, &mut emit);
        }
        if let Some(change) = self.local.finish() {
            self.report(Side::Local, change, &mut emit);
        }
        self.turns.settle(self.latest_tick, self.latest_tick);
        self.turns.finish();
        self.turns.figures().clone()
    }
}
