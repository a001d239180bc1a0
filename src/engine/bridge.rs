//! The engine's side of the voice bridge: starting and stopping a call's Realtime session,
//! swapping the call's audio port (the AI speaks for us; the person at the keyboard listens
//! in), and turning bridge events into engine events, log lines and the transcript file.

use super::*;
use crate::bridge::{self, ApiKey, BridgeEvent, BridgeEvents};
use std::io::Write;

impl Engine {
    pub(super) fn toggle_bridge(&mut self, id: CallId) {
        match self.calls.get(&id) {
            Some(call) if call.bridge.is_some() => self.stop_bridge(id, "turned off"),
            Some(call) if call.media.is_some() => self.start_bridge(id),
            Some(_) => self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!("call {id} is not answered yet; answer it before bridging"),
            ),
            None => self.log(LogLevel::Warn, LogKind::Warning, format!("no call {id}")),
        }
    }

    /// Connects an answered call to the Realtime API. A failure to start is reported and the
    /// call goes on as it was.
    pub(super) fn start_bridge(&mut self, id: CallId) {
        let Some(codec) = self.calls.get(&id).and_then(|c| c.codec) else {
            return;
        };
        let b = &self.config.bridge;
        let config = bridge::BridgeConfig {
            url: b.url.clone(),
            model: b.model.clone(),
            voice: b.voice.clone(),
            instructions: b.instructions.clone(),
            api_key: b.api_key.clone().and_then(ApiKey::new),
            codec,
            ..Default::default()
        };
        let events = BridgeEvents {
            tag: id.0,
            tx: self.bridge_events.clone(),
        };
        match bridge::start(config, events) {
            Ok((handle, port)) => {
                let call = self.calls.get_mut(&id).expect("checked above");
                if let Some(media) = &call.media {
                    // The model's frames count as played when taken for sending; a muted
                    // stream would make truncation overstate what the caller heard.
                    media.set_muted(false);
                    media.bridge(Box::new(port), call.listen_muted.clone());
                }
                call.bridge = Some(handle);
                self.log(
                    LogLevel::Info,
                    LogKind::Call,
                    format!(
                        "call {id}: connecting the voice bridge ({}, voice {})",
                        self.config.bridge.model, self.config.bridge.voice
                    ),
                );
            }
            Err(e) => {
                self.log(
                    LogLevel::Error,
                    LogKind::Error,
                    format!("call {id}: the voice bridge cannot start: {e}"),
                );
                self.emit(Event::Bridge {
                    call: id,
                    on: false,
                    reason: Some(e.to_string()),
                });
            }
        }
    }

    /// Ends the bridge of a call that goes on: its own audio comes back.
    pub(super) fn stop_bridge(&mut self, id: CallId, why: &str) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(handle) = call.bridge.take() else {
            return;
        };
        if let Some(media) = &call.media {
            media.unbridge();
        }
        self.flush_transcript(id);
        let events = self.events.clone();
        tokio::spawn(async move {
            let stats = handle.stop().await;
            for event in bridge_stats_events(id, &stats) {
                let _ = events.send(event);
            }
        });
        self.emit(Event::Bridge {
            call: id,
            on: false,
            reason: Some(why.to_string()),
        });
        self.log(
            LogLevel::Info,
            LogKind::Call,
            format!("call {id}: voice bridge {why}"),
        );
    }

    pub(super) fn on_bridge_event(&mut self, tag: u64, event: BridgeEvent) {
        let id = CallId(tag);
        if !self.calls.contains_key(&id) {
            return;
        }
        match event {
            BridgeEvent::Ready {
                model, reconnected, ..
            } => {
                self.emit(Event::Bridge {
                    call: id,
                    on: true,
                    reason: None,
                });
                let what = if reconnected {
                    "reconnected"
                } else {
                    "connected"
                };
                self.log(
                    LogLevel::Info,
                    LogKind::Success,
                    format!("call {id}: voice bridge {what} ({model})"),
                );
                self.emit_bridge_stats(id);
            }
            BridgeEvent::Transcript {
                speaker,
                text,
                item,
                final_,
            } => {
                let who = match speaker {
                    Speaker::Caller => "caller",
                    Speaker::Ai => "AI",
                    Speaker::System => "system",
                };
                if final_ {
                    self.log(
                        LogLevel::Info,
                        LogKind::Call,
                        format!("call {id} {who}: {text}"),
                    );
                }
                self.order_transcript(id, speaker, who, &item, &text, final_);
                self.emit(Event::Transcript {
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
                self.log(
                    LogLevel::Info,
                    LogKind::Call,
                    format!("call {id}: the caller interrupted the AI{at}"),
                );
                self.emit_bridge_stats(id);
            }
            BridgeEvent::Turn { latency_ms } => {
                self.log(
                    LogLevel::Debug,
                    LogKind::Stats,
                    format!("call {id}: AI answered {latency_ms} ms after the caller stopped"),
                );
                self.emit_bridge_stats(id);
            }
            BridgeEvent::Reconnecting {
                attempt,
                delay,
                reason,
            } => self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!(
                    "call {id}: voice bridge lost ({reason}); reconnecting as a new session \
                     (try {attempt}, in {} ms); the call goes on",
                    delay.as_millis()
                ),
            ),
            BridgeEvent::Warning(text) => self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!("call {id}: voice bridge: {text}"),
            ),
            BridgeEvent::Failed(e) => {
                self.log(
                    LogLevel::Error,
                    LogKind::Error,
                    format!("call {id}: voice bridge failed: {e}; the call goes on without it"),
                );
                self.stop_bridge(id, &format!("failed: {e}"));
            }
        }
    }

    /// The live bridge's figures as they stand (its counters are updated before it reports).
    fn emit_bridge_stats(&self, id: CallId) {
        if let Some(handle) = self.calls.get(&id).and_then(|c| c.bridge.as_ref()) {
            let [stats, _] = bridge_stats_events(id, &handle.stats());
            self.emit(stats);
        }
    }

    /// Places a transcript piece in the call's conversation order and, with `--record`,
    /// appends the lines that are ready to the file next to the call's WAV (same name,
    /// .txt). Caller turns hold their place from the first piece (the empty one sent at
    /// commit), since their words often arrive after the AI's reply.
    fn order_transcript(
        &mut self,
        id: CallId,
        speaker: Speaker,
        who: &str,
        item: &str,
        text: &str,
        final_: bool,
    ) {
        let Some(call) = self.calls.get_mut(&id).filter(|c| c.transcript.is_some()) else {
            return;
        };
        let now = crate::vocab::clock::now();
        if !final_ {
            if speaker == Speaker::Caller {
                call.transcript_order.caller_turn(item, who, now);
            }
            return;
        }
        let ready = call.transcript_order.finished(item, who, text, now);
        let path = call.transcript.clone();
        self.write_transcript(id, path.as_deref(), &ready);
    }

    /// Writes whatever transcript lines a call still holds (its bridge or the call ends).
    pub(super) fn flush_transcript(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let held = call.transcript_order.drain();
        let path = call.transcript.clone();
        self.write_transcript(id, path.as_deref(), &held);
    }

    fn write_transcript(&self, id: CallId, path: Option<&std::path::Path>, lines: &[String]) {
        let Some(path) = path else {
            return;
        };
        if lines.is_empty() {
            return;
        }
        // Appended as they become ready: short, rare, and safe if the process dies later.
        let result = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(lines.concat().as_bytes()));
        if let Err(e) = result {
            self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!("call {id}: cannot write {}: {e}", path.display()),
            );
        }
    }
}

/// A bridge's figures as an event, and the 📊 line said when it ends.
pub(super) fn bridge_stats_events(id: CallId, stats: &bridge::BridgeStats) -> [Event; 2] {
    let latency = stats
        .mean_latency_ms()
        .map(|ms| format!(", mean answer latency {ms} ms"))
        .unwrap_or_default();
    [
        Event::BridgeStats {
            call: id,
            turns: stats.turns,
            barge_ins: stats.barge_ins,
            reconnects: stats.reconnects,
            last_latency_ms: stats.last_latency_ms,
            mean_latency_ms: stats.mean_latency_ms(),
        },
        Event::Log {
            level: LogLevel::Info,
            kind: LogKind::Stats,
            message: format!(
                "call {id} voice bridge: {} turns, {} barge-ins, {} reconnects{latency}",
                stats.turns, stats.barge_ins, stats.reconnects
            ),
        },
    ]
}
