//! A call's voice bridge as the table sees it: turning it on and off, what the bridge reports
//! (ready, transcripts, barge-ins, turns, reconnects, failure), its figures, and the order of
//! the transcript file.

use super::call::Bridge;
use super::*;
use crate::vocab::{clock, Speaker};

impl CallTable {
    pub(super) fn toggle_bridge(&mut self, id: CallId, _now: Now, out: &mut Out) {
        match self.calls.get(&id) {
            Some(call) if call.is_bridged() => self.stop_bridge(id, "turned off", out),
            Some(call) if call.media && !call.is_ending() => self.start_bridge(id, out),
            Some(_) => out.warn(format!(
                "call {id} is not answered yet; answer it before bridging"
            )),
            None => out.warn(format!("no call {id}")),
        }
    }

    /// Asks the executor to connect an answered call to the Realtime API.
    pub(super) fn start_bridge(&mut self, id: CallId, out: &mut Out) {
        let Some(call) = self.calls.get_mut(&id).filter(|c| !c.is_bridged()) else {
            return;
        };
        let Some(codec) = call.codec else {
            return;
        };
        call.bridge = Bridge::Starting;
        out.push(Effect::StartBridge {
            call: id,
            codec,
            listen_muted: call.listen_muted,
        });
    }

    pub(super) fn on_bridge_started(
        &mut self,
        id: CallId,
        result: Result<(), String>,
        out: &mut Out,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        match result {
            Ok(()) => {
                call.bridge = Bridge::On;
                out.log(
                    LogLevel::Info,
                    LogKind::Call,
                    format!(
                        "call {id}: connecting the voice bridge ({}, voice {})",
                        self.policy.bridge_model, self.policy.bridge_voice
                    ),
                );
            }
            Err(e) => {
                call.bridge = Bridge::Off;
                out.log(
                    LogLevel::Error,
                    LogKind::Error,
                    format!("call {id}: the voice bridge cannot start: {e}"),
                );
                out.emit(Event::Bridge {
                    call: id,
                    on: false,
                    reason: Some(e),
                });
            }
        }
    }

    /// Ends the bridge of a call that goes on: its own audio (and microphone mute) comes back.
    pub(super) fn stop_bridge(&mut self, id: CallId, why: &str, out: &mut Out) {
        let Some(call) = self.calls.get_mut(&id).filter(|c| c.is_bridged()) else {
            return;
        };
        call.bridge = Bridge::Off;
        let mic_muted = call.mic_muted;
        self.flush_transcript(id, out);
        out.push(Effect::StopBridge(id));
        if mic_muted {
            out.push(Effect::MuteMicrophone {
                call: id,
                muted: true,
            });
        }
        out.emit(Event::Bridge {
            call: id,
            on: false,
            reason: Some(why.to_string()),
        });
        out.log(
            LogLevel::Info,
            LogKind::Call,
            format!("call {id}: voice bridge {why}"),
        );
    }

    pub(super) fn on_bridge_event(
        &mut self,
        id: CallId,
        event: BridgeEvent,
        stats: &BridgeStats,
        now: Now,
        out: &mut Out,
    ) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        // A call being torn down takes only the transcript lines its bridge closed on the
        // way out, so that the last words are not lost.
        if call.torn_down && !matches!(event, BridgeEvent::Transcript { final_: true, .. }) {
            return;
        }
        // A live bridge's figures are reported after each of these; those of a bridge that has
        // been turned off arrive with `BridgeStopped` instead.
        let with_figures = call.is_bridged()
            && matches!(
                event,
                BridgeEvent::Ready { .. }
                    | BridgeEvent::Interrupted { .. }
                    | BridgeEvent::Turn { .. }
            );
        match event {
            BridgeEvent::Ready {
                model, reconnected, ..
            } => {
                out.emit(Event::Bridge {
                    call: id,
                    on: true,
                    reason: None,
                });
                let what = if reconnected {
                    "reconnected"
                } else {
                    "connected"
                };
                out.log(
                    LogLevel::Info,
                    LogKind::Success,
                    format!("call {id}: voice bridge {what} ({model})"),
                );
            }
            BridgeEvent::Transcript {
                speaker,
                text,
                item,
                final_,
            } => {
                // The transcript file names the speakers as the log does.
                let who = match speaker {
                    Speaker::Caller => "caller",
                    Speaker::Ai => "AI",
                    Speaker::System => "system",
                };
                self.order_transcript(id, speaker, who, &item, &text, final_, now, out);
                out.emit(Event::Transcript {
                    call: id,
                    speaker,
                    text,
                    item: Some(item),
                    final_,
                });
            }
            BridgeEvent::Interrupted { played_ms, .. } => {
                let at = played_ms
                    .map(|ms| format!(" after {ms} ms of its reply"))
                    .unwrap_or_default();
                out.log(
                    LogLevel::Info,
                    LogKind::Call,
                    format!("call {id}: the caller interrupted the AI{at}"),
                );
            }
            BridgeEvent::Turn { latency_ms } => {
                out.log(
                    LogLevel::Debug,
                    LogKind::Stats,
                    format!("call {id}: AI answered {latency_ms} ms after the caller stopped"),
                );
                self.count_turn(id, out);
            }
            BridgeEvent::EndCall { passed, reason } => self.on_end_call(id, passed, reason, out),
            BridgeEvent::Reconnecting {
                attempt,
                delay,
                reason,
            } => out.warn(format!(
                "call {id}: voice bridge lost ({reason}); reconnecting as a new session \
                 (try {attempt}, in {} ms); the call goes on",
                delay.as_millis()
            )),
            BridgeEvent::Warning(text) => out.warn(format!("call {id}: voice bridge: {text}")),
            BridgeEvent::Failed(e) => {
                out.log(
                    LogLevel::Error,
                    LogKind::Error,
                    format!("call {id}: voice bridge failed: {e}; the call goes on without it"),
                );
                self.stop_bridge(id, &format!("failed: {e}"), out);
            }
        }
        if with_figures {
            out.emit(stats_event(id, stats));
        }
    }

    /// Places a transcript piece in the call's conversation order and, with `--record`,
    /// appends the lines that are ready to the file next to the call's WAV. Caller turns hold
    /// their place from the first piece (the empty one sent at commit), since their words
    /// often arrive after the AI's reply.
    #[allow(clippy::too_many_arguments)]
    fn order_transcript(
        &mut self,
        id: CallId,
        speaker: Speaker,
        who: &str,
        item: &str,
        text: &str,
        final_: bool,
        now: Now,
        out: &mut Out,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(path) = call.transcript.clone() else {
            return;
        };
        let at = clock::time_of_day(now.wall);
        if !final_ {
            if speaker == Speaker::Caller {
                call.transcript_order.caller_turn(item, who, at);
            }
            return;
        }
        let ready = call.transcript_order.finished(item, who, text, at);
        append(path, &ready, out);
    }

    /// Writes whatever transcript lines a call still holds (its bridge or the call ends).
    pub(super) fn flush_transcript(&mut self, id: CallId, out: &mut Out) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let held = call.transcript_order.drain();
        if let Some(path) = call.transcript.clone() {
            append(path, &held, out);
        }
    }
}

fn append(path: PathBuf, lines: &[String], out: &mut Out) {
    if !lines.is_empty() {
        out.push(Effect::AppendTranscript {
            path,
            text: lines.concat(),
        });
    }
}

/// A bridge's figures as an event.
fn stats_event(id: CallId, stats: &BridgeStats) -> Event {
    Event::BridgeStats {
        call: id,
        turns: stats.turns,
        barge_ins: stats.barge_ins,
        reconnects: stats.reconnects,
        last_latency_ms: stats.last_latency_ms,
        mean_latency_ms: stats.mean_latency_ms(),
        caller_frames_lost: stats.caller_frames_dropped + stats.caller_frames_skipped,
        ai_frames_dropped: stats.ai_frames_dropped,
    }
}

/// A finished bridge's figures: the event, and the 📊 line.
pub(super) fn stats_events(id: CallId, stats: &BridgeStats, out: &mut Out) {
    out.emit(stats_event(id, stats));
    let latency = stats
        .mean_latency_ms()
        .map(|ms| format!(", mean answer latency {ms} ms"))
        .unwrap_or_default();
    out.log(
        LogLevel::Info,
        LogKind::Stats,
        format!(
            "call {id} voice bridge: {} turns, {} barge-ins, {} reconnects{latency}",
            stats.turns, stats.barge_ins, stats.reconnects
        ),
    );
    if let Some(lost) = audio_not_passed_on(stats) {
        out.warn(format!("call {id} voice bridge: {lost}"));
    }
}

/// Audio the bridge could not pass on, in words; `None` when all of it went through.
fn audio_not_passed_on(stats: &BridgeStats) -> Option<String> {
    let frames = |n: u64| {
        if n == 1 {
            "1 frame".to_owned()
        } else {
            format!("{n} frames")
        }
    };
    let mut parts = Vec::new();
    if stats.caller_frames_dropped > 0 {
        parts.push(format!(
            "{} of the caller's audio dropped (the connection could not keep up)",
            frames(stats.caller_frames_dropped)
        ));
    }
    if stats.caller_frames_skipped > 0 {
        parts.push(format!(
            "{} of the caller's audio lost or too late on the way in",
            frames(stats.caller_frames_skipped)
        ));
    }
    if stats.ai_frames_dropped > 0 {
        parts.push(format!(
            "{} of the model's audio dropped (it arrived faster than it could play)",
            frames(stats.ai_frames_dropped)
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}
