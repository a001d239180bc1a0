//! A call's life in the engine: INVITE, ringing, answer (SDP offer/answer), reject, hang-up,
//! re-INVITE (hold/resume) and the end, with the events and log lines for each step.

use super::*;

impl Engine {
    pub(super) async fn on_invite(
        &mut self,
        key: DialogKey,
        from: String,
        display_name: Option<String>,
        to: String,
        offer: Option<String>,
    ) -> Option<CallId> {
        let id = CallId(self.next_id);
        self.next_id += 1;
        let who = display_name
            .as_ref()
            .map(|d| format!("{d} <{from}>"))
            .unwrap_or_else(|| from.clone());
        // Decide on the offer before ringing: an unusable offer is refused at once.
        let parsed = match offer.as_deref().map(sdp::parse).transpose() {
            Ok(p) => p,
            Err(e) => {
                self.log(
                    LogLevel::Warn,
                    LogKind::Warning,
                    format!("call {id} from {who}: unreadable SDP offer ({e}); answering 400"),
                );
                self.ua.reject(&key, 400);
                return Some(id);
            }
        };
        if let Some(offer) = &parsed {
            let probe = sdp::LocalMedia {
                addr: self.bind_ip,
                port: 9,
                session_id: 0,
                session_version: 0,
            };
            if let Err(e) = sdp::answer(offer, &self.codecs, &probe) {
                let status = if e.is_not_acceptable() { 488 } else { 400 };
                self.log(
                    LogLevel::Warn,
                    LogKind::Warning,
                    format!("call {id} from {who}: {e}; answering {status}"),
                );
                self.ua.reject(&key, status);
                self.emit(Event::IncomingCall {
                    call: id,
                    from,
                    display_name,
                    to,
                });
                self.emit(Event::CallEnded {
                    call: id,
                    reason: if status == 488 {
                        EndReason::NoCommonCodec
                    } else {
                        EndReason::Failed {
                            reason: e.to_string(),
                        }
                    },
                    duration_ms: 0,
                    media: MediaSummary::default(),
                });
                return Some(id);
            }
        }
        // A call that gets its final answer at once needs no 180: sent microseconds before the
        // final response it only races it (a multi-worker proxy can reorder the two).
        let answered_at_once = self.config.auto_reject.is_some()
            || (self.config.auto_answer && self.config.answer_after.is_zero());
        if !answered_at_once {
            self.ua.ring(&key);
        }
        self.by_key.insert(key.clone(), id);
        self.calls
            .insert(id, Call::new(id, key, who.clone(), from.clone(), parsed));
        self.emit(Event::IncomingCall {
            call: id,
            from,
            display_name,
            to,
        });
        self.emit(Event::CallState {
            call: id,
            state: CallState::Ringing,
        });
        self.log(
            LogLevel::Info,
            LogKind::Call,
            format!("incoming call {id} from {who}"),
        );
        if let Some(status) = self.config.auto_reject {
            self.reject(id, status);
        } else if self.config.auto_answer {
            if self.config.answer_after.is_zero() {
                self.answer(id).await;
            } else {
                let timers = self.timers.clone();
                let delay = self.config.answer_after;
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = timers.send(Due::Answer(id));
                });
            }
        }
        Some(id)
    }

    pub(super) async fn answer(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!("no call {id} to answer"),
            );
            return;
        };
        if call.state != CallState::Ringing {
            self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!("call {id} is not ringing, nothing to answer"),
            );
            return;
        }
        let (rtp, rtcp) =
            match crate::media::session::bind_rtp_pair(self.bind_ip, self.config.rtp_ports.clone())
                .await
            {
                Ok(pair) => pair,
                Err(e) => {
                    self.log(
                        LogLevel::Error,
                        LogKind::Error,
                        format!("call {id}: no RTP port free ({e}); answering 500"),
                    );
                    let key = call.key.clone();
                    self.ua.reject(&key, 500);
                    return;
                }
            };
        let local = sdp::LocalMedia {
            addr: self.config.media_address.unwrap_or(self.bind_ip),
            port: rtp.local_addr().map(|a| a.port()).unwrap_or(0),
            session_id: rand::random::<u32>() as u64,
            session_version: 1,
        };
        let call = self.calls.get_mut(&id).expect("checked above");
        let (body, negotiated) = match &call.offer {
            Some(offer) => match sdp::answer(offer, &self.codecs, &local) {
                Ok((body, n)) => (body, Some(n)),
                Err(e) => {
                    // Checked at INVITE time; only reachable if the offer changed meanwhile.
                    let key = call.key.clone();
                    self.log(LogLevel::Error, LogKind::Error, format!("call {id}: {e}"));
                    self.ua.reject(&key, 488);
                    return;
                }
            },
            None => (sdp::offer(&self.codecs, &local), None),
        };
        if let Err(e) = self.ua.accept(&call.key, body) {
            self.log(
                LogLevel::Error,
                LogKind::Error,
                format!("call {id}: could not send 200 OK: {e}"),
            );
            return;
        }
        call.state = CallState::Answering;
        call.answered = Some(Instant::now());
        call.local = Some(local);
        call.sockets = Some((rtp, rtcp));
        // Late offer: media starts when the ACK brings the caller's answer.
        if let Some(n) = negotiated {
            self.start_media(id, n);
        }
        self.emit(Event::CallState {
            call: id,
            state: CallState::Answering,
        });
        self.log(LogLevel::Info, LogKind::Call, format!("answered call {id}"));
    }

    pub(super) fn reject(&mut self, id: CallId, status: u16) {
        match self.calls.get_mut(&id) {
            Some(call) if call.state == CallState::Ringing => {
                call.ending = Some(EndReason::Rejected { status });
                let key = call.key.clone();
                self.ua.reject(&key, status);
                self.log(
                    LogLevel::Info,
                    LogKind::Call,
                    format!("rejected call {id} with {status}"),
                );
            }
            Some(_) => self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!("call {id} is not ringing; hang it up instead"),
            ),
            None => self.log(LogLevel::Warn, LogKind::Warning, format!("no call {id}")),
        }
    }

    pub(super) fn hangup(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            self.log(
                LogLevel::Warn,
                LogKind::Warning,
                format!("no call {id} to hang up"),
            );
            return;
        };
        if call.state == CallState::Ringing {
            self.reject(id, 486);
            return;
        }
        if call.ending.is_some() {
            return;
        }
        call.ending = Some(EndReason::LocalHangup);
        let key = call.key.clone();
        let ua = self.ua.clone();
        let events = self.events.clone();
        self.log(
            LogLevel::Info,
            LogKind::Call,
            format!("hanging up call {id}"),
        );
        self.hangups.spawn(async move {
            if let Err(e) = ua.bye(&key).await {
                let _ = events.send(Event::Log {
                    level: LogLevel::Warn,
                    kind: LogKind::Warning,
                    message: format!("call {id}: BYE failed: {e}"),
                });
            }
        });
    }

    pub(super) async fn on_confirmed(&mut self, key: DialogKey, ack_sdp: Option<String>) {
        let Some(&id) = self.by_key.get(&key) else {
            return;
        };
        let call = self.calls.get_mut(&id).expect("indexed call exists");
        if call.media.is_none() && call.sockets.is_some() {
            let negotiated = ack_sdp
                .as_deref()
                .ok_or_else(|| "the ACK carried no SDP answer".to_string())
                .and_then(|text| sdp::parse(text).map_err(|e| e.to_string()))
                .and_then(|answer| {
                    sdp::negotiate_answer(&answer, &self.codecs).map_err(|e| e.to_string())
                });
            match negotiated {
                Ok(n) => self.start_media(id, n),
                Err(reason) => {
                    self.log(
                        LogLevel::Warn,
                        LogKind::Warning,
                        format!("call {id}: late-offer call has no usable answer ({reason}); hanging up"),
                    );
                    self.hangup(id);
                    return;
                }
            }
        }
        let call = self.calls.get_mut(&id).expect("indexed call exists");
        call.state = CallState::Active;
        self.emit(Event::CallState {
            call: id,
            state: CallState::Active,
        });
        self.log(
            LogLevel::Info,
            LogKind::Success,
            format!("call {id} connected"),
        );
        if self.config.send_dtmf.is_some() {
            let timers = self.timers.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = timers.send(Due::Dtmf(id));
            });
        }
    }

    pub(super) async fn on_reoffer(
        &mut self,
        key: DialogKey,
        offer: Option<String>,
        responder: Responder,
    ) {
        let Some(call) = self.by_key.get(&key).and_then(|id| self.calls.get_mut(id)) else {
            responder.respond(481, None).await;
            return;
        };
        let id = call.id;
        let Some(local) = call.local.as_ref() else {
            // Offer before our answer was acknowledged (RFC 3261 §14.2: 491 Request Pending).
            responder.respond(491, None).await;
            return;
        };
        // The new version is kept only if the session really changes (a refusal leaves the
        // old one in force, RFC 3261 §14.2).
        let mut local = local.clone();
        local.session_version += 1;
        let Some(text) = offer else {
            // A re-INVITE without SDP asks for our offer; the ACK's answer changes nothing for us.
            call.local = Some(local.clone());
            responder
                .respond(200, Some(sdp::offer(&self.codecs, &local)))
                .await;
            return;
        };
        // Keep the codec in use when it is still offered: a switch costs a glitch at best.
        let current = call.codec;
        let prefs: Vec<_> = current
            .into_iter()
            .chain(self.codecs.iter().copied().filter(|c| Some(*c) != current))
            .collect();
        let result = sdp::parse(&text)
            .map_err(|e| (400, e.to_string()))
            .and_then(|o| {
                sdp::answer(&o, &prefs, &local)
                    .map_err(|e| (if e.is_not_acceptable() { 488 } else { 400 }, e.to_string()))
            })
            .and_then(|(body, negotiated)| match current {
                // The port, the recorder and the bridge run at the call's clock rate.
                Some(old) if old.clock_rate() != negotiated.codec.clock_rate() => Err((
                    488,
                    format!(
                        "it asks to switch from {old} to {} mid-call, which changes the clock \
                         rate; the call stays on {old}",
                        negotiated.codec
                    ),
                )),
                _ => Ok((body, negotiated)),
            });
        match result {
            Ok((body, negotiated)) => {
                call.local = Some(local);
                let switched = current
                    .filter(|old| *old != negotiated.codec)
                    .map(|old| (old, negotiated.codec, call.media_started_event(&negotiated)));
                call.codec = Some(negotiated.codec);
                let held = matches!(
                    negotiated.direction,
                    sdp::MediaDirection::RecvOnly | sdp::MediaDirection::Inactive
                );
                if let Some(media) = &call.media {
                    media.update(negotiated);
                }
                let new_state = if held {
                    CallState::Held
                } else {
                    CallState::Active
                };
                let changed = call.state != new_state && call.state != CallState::Answering;
                if changed {
                    call.state = new_state;
                }
                responder.respond(200, Some(body)).await;
                if let Some((old, new, started)) = switched {
                    self.emit(started);
                    self.log(
                        LogLevel::Info,
                        LogKind::Audio,
                        format!(
                            "call {id}: the remote side switched the codec from {old} to {new}"
                        ),
                    );
                }
                if changed {
                    self.emit(Event::CallState {
                        call: id,
                        state: new_state,
                    });
                    let what = if held {
                        "put on hold by the remote side"
                    } else {
                        "resumed"
                    };
                    self.log(LogLevel::Info, LogKind::Call, format!("call {id} {what}"));
                }
            }
            Err((status, reason)) => {
                self.log(
                    LogLevel::Warn,
                    LogKind::Warning,
                    format!("call {id}: re-INVITE refused with {status}: {reason}"),
                );
                responder.respond(status, None).await;
            }
        }
    }

    pub(super) async fn on_terminated(&mut self, key: DialogKey, why: Termination) {
        let Some(id) = self.by_key.remove(&key) else {
            return;
        };
        // Before the call leaves the table: transcript lines held for a caller turn.
        self.flush_transcript(id);
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        let reason = call.ending.take().unwrap_or(match why {
            Termination::RemoteBye => EndReason::RemoteHangup,
            Termination::LocalBye => EndReason::LocalHangup,
            Termination::Cancelled => EndReason::Cancelled,
            Termination::Rejected(status) => EndReason::Rejected { status },
            Termination::Timeout => EndReason::Failed {
                reason: "no ACK or answer in time".into(),
            },
            Termination::Other(reason) => EndReason::Failed { reason },
        });
        if let Some(bridge) = call.bridge.take() {
            let stats = bridge.stop().await;
            for event in bridge::bridge_stats_events(id, &stats) {
                self.emit(event);
            }
        }
        let media = match call.media.take() {
            Some(m) => {
                let report = m.stop().await;
                self.summarize_media(id, report)
            }
            None => MediaSummary::default(),
        };
        let duration_ms = call
            .answered
            .map(|t| t.elapsed().as_millis() as u64)
            .unwrap_or(0);
        let words = match &reason {
            EndReason::LocalHangup => "we hung up".to_string(),
            EndReason::RemoteHangup => "the caller hung up".to_string(),
            EndReason::Cancelled => "the caller cancelled before answer".to_string(),
            EndReason::Rejected { status } => format!("rejected with {status}"),
            EndReason::NoCommonCodec => "no common codec".to_string(),
            EndReason::Failed { reason } => format!("failed: {reason}"),
        };
        self.log(
            LogLevel::Info,
            LogKind::Call,
            format!("call {id} with {} ended: {words}", call.remote),
        );
        if call.answered.is_some() {
            let rtt = media
                .stats
                .quality
                .rtt_ms
                .map(|r| format!(", RTT {r:.0} ms"))
                .unwrap_or_default();
            self.log(
                LogLevel::Info,
                LogKind::Stats,
                format!(
                    "call {id}: {:.1} s, RTP sent {} / received {} packets, lost {} ({:.1} %), \
                     jitter {:.1} ms{rtt}, MOS {:.2}, {} invalid, {} from foreign sources",
                    duration_ms as f64 / 1000.0,
                    media.stats.packets_sent,
                    media.stats.packets_received,
                    media.stats.quality.packets_lost,
                    media.stats.quality.loss_percent,
                    media.stats.quality.jitter_ms,
                    media.stats.quality.mos,
                    media.stats.packets_invalid,
                    media.stats.packets_foreign,
                ),
            );
        }
        self.emit(Event::CallState {
            call: id,
            state: CallState::Ended,
        });
        self.emit(Event::CallEnded {
            call: id,
            reason,
            duration_ms,
            media,
        });
    }
}
