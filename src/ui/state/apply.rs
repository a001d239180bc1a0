//! How each engine event changes what the screen shows. Pure: the event and the `Instant` it
//! arrived are the only inputs.

use super::lines::{push_bounded, LOG_KEPT, SIP_KEPT, TRANSCRIPT_KEPT};
use super::*;
use crate::vocab::{LogKind, LogLevel, Speaker};

/// Ended calls kept for the trace view after they leave the screen.
const ENDED_KEPT: usize = 8;
/// The engine refreshes a registration at 75 % of the granted expiry (sip/registration.rs,
/// rsipstack's `refresh_interval`); the header counts down to that moment.
const REFRESH_PERCENT: u32 = 75;

impl App {
    pub fn apply(&mut self, event: &Event, now: Instant) {
        for (level, kind, text) in self.words.lines(event) {
            self.push_log(level, kind, text, now);
        }
        match event {
            Event::Started {
                account,
                registrar,
                transport,
                local_sip,
                profile,
            } => {
                self.account = Some(Account {
                    account: account.clone(),
                    registrar: registrar.clone(),
                    transport: transport.clone(),
                    local_sip: local_sip.clone(),
                    profile: profile.clone(),
                })
            }
            Event::PublicAddress { public } => self.public_sip = Some(public.clone()),
            Event::Registration {
                state,
                expires,
                reason,
                retry_in,
            } => self.registration(*state, *expires, *retry_in, reason.clone(), now),
            Event::IncomingCall {
                call,
                from,
                display_name,
                to,
            } => {
                let view = CallView::new(*call, from, display_name.as_deref(), to, now);
                self.calls.insert(*call, view);
                self.bell = true;
                if self.selected_call(now).is_none_or(|c| !c.is_live()) {
                    self.selected = Some(*call);
                }
            }
            Event::OutgoingCall {
                call,
                to,
                from,
                goal,
            } => {
                let mut view = CallView::outgoing(*call, to, from, now);
                view.goal = goal.clone();
                self.calls.insert(*call, view);
                // The call the user just placed is the one `h` should cancel.
                self.selected = Some(*call);
            }
            Event::CallState { call, state } => {
                if let Some(c) = self.calls.get_mut(call) {
                    let was_ringing = c.is_ringing();
                    c.set_state(*state, now);
                    // Only a call that starts ringing here rings the bell.
                    if c.is_ringing() && !was_ringing {
                        self.bell = true;
                    }
                }
                if *state == CallState::Ended {
                    self.after_call_ended(*call);
                }
            }
            Event::MediaStarted {
                call,
                codec,
                local_rtp,
                remote_rtp,
                advertised_rtp,
                srtp,
            } => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.codec = Some(*codec);
                    c.srtp = *srtp;
                    c.local_rtp = Some(local_rtp.clone());
                    c.advertised_rtp = advertised_rtp.clone();
                    c.remote_rtp = Some(remote_rtp.clone());
                    // Early media flows before the answer; the talk clock waits for it.
                    if !c.is_dialling() {
                        c.answered_at.get_or_insert(now);
                    }
                }
            }
            Event::CallEnded {
                call,
                reason,
                media,
                ..
            } => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.end(reason, now);
                    if media.stats.packets_received > 0 {
                        c.quality = Some(media.stats.quality);
                    }
                    if media.turn_taking.is_some() {
                        c.turn_taking = media.turn_taking.as_deref().cloned();
                    }
                }
                self.after_call_ended(*call);
            }
            Event::Levels {
                call,
                remote,
                local,
                ai,
            } => {
                if let Some(c) = self.calls.get_mut(call).filter(|c| c.is_live()) {
                    c.levels(*remote, *local, *ai, now);
                }
            }
            Event::Quality { call, quality } => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.quality = Some(*quality);
                }
            }
            Event::MediaLatched { call, remote_rtp } => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.latched_rtp = Some(remote_rtp.clone());
                }
            }
            Event::Dtmf { call, digit } => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.push_dtmf(*digit);
                }
            }
            // Already in the log pane, in the words above.
            Event::Log { .. } => {}
            Event::SipMessage {
                call,
                direction,
                peer,
                summary,
                text,
            } => {
                let entry = SipEntry {
                    at: now,
                    direction: *direction,
                    peer: peer.clone(),
                    summary: summary.clone(),
                    text: text.clone(),
                };
                push_bounded(self.sip.entry(*call).or_default(), entry, SIP_KEPT);
            }
            Event::Muted {
                call,
                microphone,
                listen_in,
            } => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.mic_muted = *microphone;
                    c.listen_muted = *listen_in;
                }
            }
            Event::Bridge { call, on, reason } => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.bridge = *on;
                    c.bridge_note = reason.clone();
                    if !*on {
                        c.ai = None;
                    }
                }
            }
            Event::BridgeStats {
                call,
                turns,
                barge_ins,
                reconnects,
                last_latency_ms,
                mean_latency_ms,
                ..
            } => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.bridge_figures = Some(BridgeFigures {
                        turns: *turns,
                        barge_ins: *barge_ins,
                        reconnects: *reconnects,
                        last_latency_ms: *last_latency_ms,
                        mean_latency_ms: *mean_latency_ms,
                    });
                }
            }
            Event::Transcript {
                call,
                speaker,
                text,
                item,
                final_,
            } => self.transcript_piece(*call, *speaker, text, item.as_deref(), *final_, now),
            Event::Stopped => self.stopped = true,
            Event::Verdict { call, verdict } => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.verdict = Some(verdict.clone());
                }
            }
            Event::TurnTaking { call, figures } => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.turn_taking = Some(figures.clone());
                }
            }
            // Voice changes feed the figures above; Played lines come from `words`.
            Event::Voice { .. } | Event::Played { .. } | Event::SuiteCall { .. } => {}
            Event::SuiteProgress {
                done,
                total,
                passed,
                failed,
                undecided,
                running,
            } => {
                self.suite = Some(SuiteView {
                    done: *done,
                    total: *total,
                    passed: *passed,
                    failed: *failed,
                    undecided: *undecided,
                    running: *running,
                })
            }
            Event::SuiteDone { .. } => {}
            Event::CallProgress {
                call,
                status,
                phrase,
                post_dial_delay_ms,
                early_media,
            } => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.progress = Some(Progress {
                        status: *status,
                        phrase: phrase.clone(),
                    });
                    c.post_dial_delay_ms.get_or_insert(*post_dial_delay_ms);
                    // The engine says the same with a `call_state`; this keeps the badge
                    // right whichever of the two arrives first.
                    if c.is_dialling() {
                        if *early_media {
                            c.set_state(CallState::EarlyMedia, now);
                        } else if c.state == CallState::Calling && *status == 180 {
                            c.set_state(CallState::Ringing, now);
                        }
                    }
                }
            }
            Event::CallAnswered {
                call,
                answer_ms,
                post_dial_delay_ms,
            } => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.answer_ms = Some(*answer_ms);
                    if let Some(pdd) = post_dial_delay_ms {
                        c.post_dial_delay_ms.get_or_insert(*pdd);
                    }
                    c.answered_at.get_or_insert(now);
                }
            }
            Event::Hold { call, ours, theirs } => {
                if let Some(c) = self.calls.get_mut(call).filter(|c| c.is_live()) {
                    c.held_by_us = *ours;
                    c.held_by_them = *theirs;
                }
            }
            Event::Transfer {
                call,
                target,
                by,
                stage,
                status,
                reason,
            } => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.transfer = Some(TransferNote {
                        target: target.clone(),
                        by: *by,
                        stage: *stage,
                        status: *status,
                        reason: reason.clone(),
                    });
                }
            }
        }
    }

    fn registration(
        &mut self,
        state: RegistrationState,
        expires: Option<u32>,
        retry_in: Option<u32>,
        reason: Option<String>,
        now: Instant,
    ) {
        let granted = expires
            .filter(|_| state == RegistrationState::Registered)
            .map(|s| Duration::from_secs(u64::from(s)));
        if state == RegistrationState::Failed {
            self.registration_failed = true;
        }
        self.registration = Some(Registration {
            state,
            reason,
            since: now,
            expires_at: granted.map(|g| now + g),
            refresh_at: granted.map(|g| now + g * REFRESH_PERCENT / 100),
            retry_at: retry_in
                .filter(|_| state == RegistrationState::Retrying)
                .map(|s| now + Duration::from_secs(u64::from(s))),
        });
    }

    /// Streaming transcript: pieces with the same `item` extend one line until the final piece,
    /// whose text (when not empty) replaces the accumulated one. That matches the Realtime API,
    /// whose `*.delta` events carry increments and whose `*.done`/`completed` carry the whole.
    fn transcript_piece(
        &mut self,
        call: CallId,
        speaker: Speaker,
        text: &str,
        item: Option<&str>,
        final_: bool,
        now: Instant,
    ) {
        if let Some(id) = item {
            let existing = self
                .transcript
                .iter_mut()
                .rev()
                .find(|l| l.call == call && l.item.as_deref() == Some(id));
            if let Some(line) = existing {
                if final_ {
                    if !text.trim().is_empty() {
                        line.text = text.to_string();
                    }
                    line.done = true;
                } else {
                    line.text.push_str(text);
                }
                return;
            }
        }
        let line = TranscriptLine {
            at: now,
            call,
            speaker,
            text: text.to_string(),
            item: item.map(str::to_string),
            done: final_ || item.is_none(),
        };
        push_bounded(&mut self.transcript, line, TRANSCRIPT_KEPT);
    }

    pub fn push_log(&mut self, level: LogLevel, kind: LogKind, message: String, now: Instant) {
        let line = LogLine {
            at: now,
            level,
            kind,
            message,
        };
        push_bounded(&mut self.log, line, LOG_KEPT);
    }

    /// Moves the selection off an ended call when another is live, and forgets old calls.
    fn after_call_ended(&mut self, ended: CallId) {
        if self.selected == Some(ended) {
            let next = self
                .calls
                .values()
                .filter(|c| c.is_live())
                .max_by_key(|c| (c.is_ringing(), std::cmp::Reverse(c.id)))
                .map(|c| c.id);
            if next.is_some() {
                self.selected = next;
            }
        }
        let mut ended: Vec<(Instant, CallId)> = self
            .calls
            .values()
            .filter_map(|c| c.ended_at.map(|t| (t, c.id)))
            .collect();
        ended.sort();
        let excess = ended.len().saturating_sub(ENDED_KEPT);
        for (_, id) in ended.into_iter().take(excess) {
            self.calls.remove(&id);
            self.sip.remove(&Some(id));
            if self.selected == Some(id) {
                self.selected = None;
            }
        }
    }
}
