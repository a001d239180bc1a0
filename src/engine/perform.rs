//! Carrying out the call table's effects: SIP messages through the SIP side, RTP sockets,
//! media sessions, bridges, timers and transcript lines. An effect that waits on the network
//! (a BYE, an in-dialog answer, a bridge's close, a call's teardown) becomes a task the
//! executor owns; an effect that can fail answers with the input the table waits for.

use super::core::{Effect, Input, MediaRunning};
use super::sip_side::SipSide;
use super::{Done, Engine};
use crate::bridge::{self, ApiKey, BridgeEvents};
use crate::media::session::{self, MediaEvent, MediaEvents, MediaOptions};
use crate::vocab::{CallId, Codec};
use std::sync::atomic::Ordering;

/// How often a goodbye's playing is checked, and how long the last packet is given to reach
/// the other side before the BYE follows it.
const PLAYED_POLL: std::time::Duration = std::time::Duration::from_millis(20);
const PLAYED_TAIL: std::time::Duration = std::time::Duration::from_millis(200);

/// Returns once the bridge has no model audio left to play, or after `within`.
async fn played_out(probe: Option<bridge::IdleProbe>, within: std::time::Duration) {
    let Some(probe) = probe else {
        return;
    };
    let waiting = async {
        while !probe.is_idle() {
            tokio::time::sleep(PLAYED_POLL).await;
        }
        tokio::time::sleep(PLAYED_TAIL).await;
    };
    let _ = tokio::time::timeout(within, waiting).await;
}

impl<S: SipSide> Engine<S> {
    pub(super) async fn perform(&mut self, effect: Effect) -> Option<Input> {
        match effect {
            Effect::Emit(event) => self.log.emit(event),
            Effect::HangupWhenPlayed { call, within } => {
                let probe = self.resources.bridge_idle_probe(call);
                self.tasks.spawn(async move {
                    played_out(probe, within).await;
                    Done::Table(Input::PlayedOut { call })
                });
            }
            Effect::BindTrace { sip_call_id, call } => self.bind_trace(&sip_call_id, call),
            Effect::Ring(key) => self.sip.ring(&key),
            Effect::Reject { key, status } => self.sip.reject(&key, status),
            Effect::RejectBecause { key, status, why } => {
                self.sip.reject_because(&key, status, &why)
            }
            Effect::BindRtp(call) => return self.bind_rtp(call).await,
            Effect::Accept { call, key, sdp } => {
                let result = self.sip.accept(&key, sdp);
                // The 200 OK is on its way (its transaction's task sends it): now is when
                // the next call's RTP ports cost nobody any waiting.
                self.refill_spare_rtp().await;
                return Some(Input::Accepted { call, result });
            }
            Effect::Respond {
                request,
                status,
                sdp,
            } => {
                let answer = self.sip.respond(request, status, sdp);
                self.tasks.spawn(async move {
                    answer.await;
                    Done::Nothing
                });
            }
            Effect::Invite {
                call,
                key,
                target,
                sdp,
            } => {
                let result = self.sip.place(&key, &target, sdp);
                return Some(Input::InviteSent { call, result });
            }
            Effect::Reinvite { call, key, sdp } => {
                let answer = self.sip.reinvite(&key, sdp);
                self.tasks.spawn(async move {
                    Done::Table(Input::ReinviteDone {
                        call,
                        result: answer.await,
                    })
                });
            }
            Effect::Refer { call, key, target } => {
                let refer = self.sip.refer(&key, &target);
                self.tasks.spawn(async move {
                    Done::Table(Input::ReferDone {
                        call,
                        result: refer.await,
                    })
                });
            }
            Effect::AcceptRefer { call, request, key } => {
                let accept = self.sip.respond(request, 202, None);
                let notify = self.sip.notify_transfer(&key, 100, "Trying", false);
                self.tasks.spawn(async move {
                    accept.await;
                    // The 202 is queued to its transaction's task, which sends it a moment
                    // later; the NOTIFY goes out from here. RFC 3515 §2.4.4 lets the NOTIFY
                    // arrive first, but many peers read it better after the 202.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    if let Err(e) = notify.await {
                        tracing::debug!(error = %e, "NOTIFY for a transfer failed");
                    }
                    Done::Table(Input::ReferAccepted { call })
                });
            }
            Effect::NotifyTransfer {
                call,
                key,
                status,
                phrase,
                done,
            } => {
                let notify = self.sip.notify_transfer(&key, status, &phrase, done);
                self.tasks.spawn(async move {
                    if let Err(e) = notify.await {
                        tracing::debug!(error = %e, "NOTIFY for a transfer failed");
                    }
                    if done {
                        Done::Table(Input::NotifyDone { call })
                    } else {
                        Done::Nothing
                    }
                });
            }
            Effect::Cancel { call, key } => {
                let cancel = self.sip.cancel(&key);
                self.tasks.spawn(async move {
                    if let Err(e) = cancel.await {
                        tracing::debug!(%call, error = %e, "CANCEL failed");
                    }
                    Done::Nothing
                });
            }
            Effect::Bye { call, key } => {
                let bye = self.sip.bye(&key);
                self.tasks.spawn(async move {
                    Done::Table(Input::ByeDone {
                        call,
                        result: bye.await,
                    })
                });
            }
            Effect::StartMedia {
                call,
                negotiated,
                remote_uri,
            } => {
                let result = self.start_media(call, negotiated, &remote_uri);
                return Some(Input::MediaStarted { call, result });
            }
            Effect::UpdateMedia { call, negotiated } => {
                if let Some(media) = self.resources.media(call) {
                    media.update(negotiated);
                }
            }
            Effect::MuteMicrophone { call, muted } => {
                if let Some(media) = self.resources.media(call) {
                    media.set_muted(muted);
                }
            }
            Effect::MuteListenIn { call, muted } => {
                self.resources
                    .entry(call)
                    .listen_muted
                    .store(muted, Ordering::Relaxed);
            }
            Effect::SendDtmf { call, digits } => {
                if let Some(media) = self.resources.media(call) {
                    media.send_dtmf(&digits);
                }
            }
            Effect::Play { call, file, rate } => self.play(call, file, rate),
            Effect::MediaAnswered(call) => {
                if let Some(media) = self.resources.media(call) {
                    media.mark_answered();
                }
            }
            Effect::StartBridge {
                call,
                codec,
                listen_muted,
            } => {
                let result = self.start_bridge(call, codec, listen_muted);
                return Some(Input::BridgeStarted { call, result });
            }
            Effect::StopBridge(call) => {
                let handles = self.resources.entry(call);
                if let Some(media) = &handles.media {
                    media.unbridge();
                }
                if let Some(bridge) = handles.bridge.take() {
                    self.tasks.spawn(async move {
                        let stats = bridge.stop().await;
                        Done::Table(Input::BridgeStopped { call, stats })
                    });
                }
            }
            Effect::Teardown(call) => {
                let handles = self.resources.take(call);
                self.levels.set_for_calls(self.resources.len());
                self.tasks.spawn(async move {
                    let bridge = match handles.bridge {
                        Some(b) => Some(b.stop().await),
                        None => None,
                    };
                    let media = match handles.media {
                        Some(m) => Some(m.stop().await),
                        None => None,
                    };
                    Done::Table(Input::Finished {
                        call,
                        bridge,
                        media,
                    })
                });
            }
            Effect::Arm { timer, after } => {
                self.timers.insert(timer, after);
            }
            Effect::AppendTranscript { path, text } => self.transcripts.append(path, text),
        }
        None
    }

    /// An RTP/RTCP pair for the call, and a fresh SDP session id; with `--stun` the answer
    /// waits for the lookup, which runs as a task (`nat.rs`).
    async fn bind_rtp(&mut self, call: CallId) -> Option<Input> {
        let bound = match self.resources.take_spare_rtp() {
            Some(pair) => {
                let stale = session::discard_queued(&pair.0) + session::discard_queued(&pair.1);
                if stale > 0 {
                    tracing::debug!(stale, "datagrams for the spare RTP ports before any call");
                }
                Ok(pair)
            }
            None => session::bind_rtp_pair(self.bind_ip, self.config.rtp_ports.clone()).await,
        };
        let (rtp, rtcp) = match bound {
            Ok(pair) => pair,
            Err(e) => {
                return Some(Input::RtpBound {
                    call,
                    result: Err(e.to_string()),
                    public: None,
                })
            }
        };
        let port = rtp.local_addr().map(|a| a.port()).unwrap_or(0);
        let session_id = u64::from(rand::random::<u32>());
        if let Some(server) = self.config.stun.clone() {
            self.spawn_stun(call, (rtp, rtcp), session_id, server);
            return None;
        }
        self.resources.entry(call).sockets = Some((rtp, rtcp));
        Some(Input::RtpBound {
            call,
            result: Ok((port, session_id)),
            public: None,
        })
    }

    /// Binds the spare RTP/RTCP pair the next call takes, unless one is ready. No port free
    /// is no error here: the next call binds for itself and reports it.
    async fn refill_spare_rtp(&mut self) {
        if self.resources.has_spare_rtp() {
            return;
        }
        if let Ok(pair) = session::bind_rtp_pair(self.bind_ip, self.config.rtp_ports.clone()).await
        {
            self.resources.put_spare_rtp(pair);
        }
    }

    /// Starts the RTP session of an answered call with the negotiated parameters.
    fn start_media(
        &mut self,
        call: CallId,
        negotiated: crate::media::sdp::Negotiated,
        remote_uri: &str,
    ) -> Result<MediaRunning, String> {
        let Some((rtp, rtcp)) = self.resources.entry(call).sockets.take() else {
            return Err("its RTP sockets are gone".into());
        };
        let rate = negotiated.codec.clock_rate();
        let port = self.audio.port(call, rate, &self.log);
        let (recorder, transcript) = match self.audio.recorder(call, remote_uri, rate, &self.log) {
            Some((handle, path)) => (Some(handle), Some(path.with_extension("txt"))),
            None => (None, None),
        };
        let options = MediaOptions {
            rtcp: Some(rtcp),
            events: Some(MediaEvents {
                tag: call.0,
                tx: self.media_events.clone(),
            }),
            recorder,
            levels: self.levels.clone(),
        };
        let media =
            session::start_with(rtp, negotiated, port, options).map_err(|e| e.to_string())?;
        let local_rtp = media.local_addr();
        self.resources.entry(call).media = Some(media);
        self.levels.set_for_calls(self.resources.len());
        self.trimmer.on_calls(self.resources.len());
        Ok(MediaRunning {
            local_rtp,
            transcript,
        })
    }

    /// Loads and resamples a clip on the blocking pool, then hands it to the call's media;
    /// a file that cannot be used comes back as the media's `PlayFailed`.
    fn play(&mut self, call: CallId, file: std::path::PathBuf, rate: u32) {
        let Some(player) = self.resources.media(call).map(|m| m.player()) else {
            return;
        };
        let events = self.media_events.clone();
        self.tasks.spawn(async move {
            let name = file.display().to_string();
            let loaded = tokio::task::spawn_blocking(move || {
                crate::media::wav::load(&file).and_then(|clip| clip.at_rate(rate))
            })
            .await;
            match loaded {
                Ok(Ok(samples)) => player.play(name, samples),
                Ok(Err(e)) => {
                    let event = MediaEvent::PlayFailed {
                        file: name,
                        error: e.to_string(),
                    };
                    let _ = events.send((call.0, event));
                }
                Err(e) => tracing::warn!(%call, error = %e, "loading a clip failed"),
            }
            Done::Nothing
        });
    }

    /// Connects an answered call to the Realtime API: the AI speaks for us, and the call's
    /// own port becomes the listen-in.
    fn start_bridge(
        &mut self,
        call: CallId,
        codec: Codec,
        listen_muted: bool,
    ) -> Result<(), String> {
        let b = &self.config.bridge;
        let config = bridge::BridgeConfig {
            api: b.api,
            url: b.url.clone(),
            model: b.model.clone(),
            voice: b.voice.clone(),
            instructions: b.instructions.clone(),
            api_key: b.api_key.clone().and_then(ApiKey::new),
            codec,
            end_call_tool: self
                .config
                .caller
                .as_ref()
                .is_some_and(|c| c.goal.is_some()),
            ..Default::default()
        };
        let events = BridgeEvents {
            tag: call.0,
            tx: self.bridge_events.clone(),
        };
        let (handle, port) = bridge::start(config, events).map_err(|e| e.to_string())?;
        let handles = self.resources.entry(call);
        handles.listen_muted.store(listen_muted, Ordering::Relaxed);
        if let Some(media) = &handles.media {
            // The model's frames count as played when taken for sending; a muted stream
            // would make truncation overstate what the caller heard.
            media.set_muted(false);
            media.bridge(Box::new(port), handles.listen_muted.clone());
        }
        handles.bridge = Some(handle);
        Ok(())
    }
}
