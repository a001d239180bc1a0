//! A call's media as the table sees it: starting it once something was negotiated, what its
//! session reports (levels, quality, DTMF, warnings), the two mute states and sending DTMF.

use super::*;

impl CallTable {
    /// Starts the call's media with what the answer (or the ACK) negotiated, if anything is
    /// waiting and media does not run yet.
    pub(super) fn start_media(&mut self, id: CallId, out: &mut Out) {
        let Some(call) = self
            .calls
            .get_mut(&id)
            .filter(|c| !c.media && !c.is_ending())
        else {
            return;
        };
        let Some(negotiated) = call.pending_media.take() else {
            return;
        };
        call.codec = Some(negotiated.codec);
        call.remote_rtp = Some(negotiated.remote);
        call.srtp = negotiated.srtp.as_ref().map(|k| k.suite);
        out.push(Effect::StartMedia {
            call: id,
            negotiated,
            remote_uri: call.remote_uri.clone(),
        });
    }

    pub(super) fn on_media_started(
        &mut self,
        id: CallId,
        result: Result<MediaRunning, String>,
        out: &mut Out,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let running = match result {
            Ok(running) => running,
            Err(e) => {
                out.log(
                    LogLevel::Error,
                    LogKind::Error,
                    format!("call {id}: media cannot start: {e}"),
                );
                return;
            }
        };
        call.media = true;
        call.local_rtp = Some(running.local_rtp);
        call.transcript = running.transcript;
        let (Some(codec), Some(remote)) = (call.codec, call.remote_rtp) else {
            return;
        };
        out.emit(Event::MediaStarted {
            call: id,
            codec,
            local_rtp: running.local_rtp.to_string(),
            remote_rtp: remote.to_string(),
            advertised_rtp: call.advertised_rtp(running.local_rtp),
            srtp: call.srtp,
        });
        if call.mic_muted {
            // Muted before media ran (a late offer): the new session starts unmuted.
            out.push(Effect::MuteMicrophone {
                call: id,
                muted: true,
            });
        }
        if self.policy.auto_bridge {
            self.start_bridge(id, out);
        }
    }

    pub(super) fn on_media_event(
        &mut self,
        id: CallId,
        event: MediaEvent,
        ai: Option<Level>,
        now: Now,
        out: &mut Out,
    ) {
        // A call being torn down has nothing more to say.
        if self.calls.get(&id).is_none_or(|c| c.torn_down) {
            return;
        }
        match event {
            MediaEvent::Levels { remote, local } => out.emit(Event::Levels {
                call: id,
                remote,
                local,
                ai,
            }),
            MediaEvent::Quality(stats) => {
                out.emit(Event::Quality {
                    call: id,
                    quality: stats.quality,
                });
                self.watch_inactivity(id, stats.packets_received, now, out);
            }
            MediaEvent::Dtmf(digit) => out.emit(Event::Dtmf { call: id, digit }),
            MediaEvent::Latched(addr) => out.emit(Event::MediaLatched {
                call: id,
                remote_rtp: addr.to_string(),
            }),
            MediaEvent::Warning(text) => out.warn(format!("call {id}: {text}")),
            MediaEvent::Voice {
                side,
                speaking,
                at_ms,
            } => out.emit(Event::Voice {
                call: id,
                side,
                speaking,
                at_ms,
            }),
            MediaEvent::TurnTaking(figures) => out.emit(Event::TurnTaking { call: id, figures }),
            MediaEvent::Played { file, ms } => out.emit(Event::Played { call: id, file, ms }),
            MediaEvent::PlayFailed { file, error } => {
                out.log(
                    LogLevel::Error,
                    LogKind::Error,
                    format!("call {id}: cannot play {file}: {error}"),
                );
                // Said anyway, so a script waiting for the file to end does not hang.
                out.emit(Event::Played {
                    call: id,
                    file,
                    ms: 0,
                });
            }
        }
    }

    /// `--rtp-timeout`: an active call from which nothing has arrived for that long is hung
    /// up (a caller that vanished without a BYE). A held call is exempt: silence is its right.
    fn watch_inactivity(&mut self, id: CallId, received: u64, now: Now, out: &mut Out) {
        let Some(limit) = self.policy.rtp_timeout else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.state != CallState::Active || received > call.rtp_received {
            call.rtp_received = received;
            call.rtp_idle_since = None;
            return;
        }
        let since = *call.rtp_idle_since.get_or_insert(now.at);
        if now.at.saturating_duration_since(since) < limit || call.is_ending() {
            return;
        }
        let secs = u32::try_from(limit.as_secs()).unwrap_or(u32::MAX);
        out.warn(format!(
            "call {id}: nothing received from the remote side for {secs} s; hanging up"
        ));
        self.end_call(id, EndReason::RtpTimeout { secs }, out);
    }

    /// Our microphone: while bridged the AI speaks for us, so the state is kept and applies
    /// again when the bridge ends.
    pub(super) fn mute_microphone(&mut self, id: CallId, muted: bool, out: &mut Out) {
        let Some(call) = self.calls.get_mut(&id).filter(|c| c.media) else {
            out.warn(format!("call {id} has no media to mute"));
            return;
        };
        call.mic_muted = muted;
        if !call.is_bridged() {
            out.push(Effect::MuteMicrophone { call: id, muted });
        }
        out.emit(muted_event(call));
    }

    /// What the person at the keyboard hears of a bridged call; kept for later bridges.
    pub(super) fn mute_listen_in(&mut self, id: CallId, muted: bool, out: &mut Out) {
        let Some(call) = self.calls.get_mut(&id).filter(|c| c.media) else {
            out.warn(format!("call {id} has no media to mute"));
            return;
        };
        call.listen_muted = muted;
        out.push(Effect::MuteListenIn { call: id, muted });
        out.emit(muted_event(call));
    }

    /// `Command::Play`: the file goes out once in place of the call's own audio; a call
    /// without media still answers with `Played` (0 ms), so a script waiting for it goes on.
    pub(super) fn play(&mut self, id: CallId, file: PathBuf, out: &mut Out) {
        let rate = self
            .calls
            .get(&id)
            .filter(|c| c.media)
            .and_then(|c| c.codec)
            .map(|codec| codec.clock_rate());
        let Some(rate) = rate else {
            out.warn(format!(
                "call {id} has no media; {} not played",
                file.display()
            ));
            out.emit(Event::Played {
                call: id,
                file: file.display().to_string(),
                ms: 0,
            });
            return;
        };
        out.log(
            LogLevel::Info,
            LogKind::Audio,
            format!("call {id}: playing {}", file.display()),
        );
        out.push(Effect::Play {
            call: id,
            file,
            rate,
        });
    }

    pub(super) fn send_dtmf(&mut self, id: CallId, digits: String, out: &mut Out) {
        if !self.calls.get(&id).is_some_and(|c| c.media) {
            out.warn(format!("call {id} has no media yet; DTMF not sent"));
            return;
        }
        out.log(
            LogLevel::Info,
            LogKind::Audio,
            format!("call {id}: sending DTMF {digits}"),
        );
        out.push(Effect::SendDtmf { call: id, digits });
    }
}

/// Both mute states of a call, as the front-ends show them.
pub(super) fn muted_event(call: &Call) -> Event {
    Event::Muted {
        call: call.id,
        microphone: call.mic_muted,
        listen_in: call.listen_muted,
    }
}
