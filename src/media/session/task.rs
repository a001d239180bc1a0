//! The loop inside one call's media task: receive (symmetric RTP, SSRC tracking, jitter
//! buffer, DTMF, RFC 3550 statistics), play out and send on the 20 ms tick, RTCP every few
//! seconds, and levels/quality published as events.
//!
//! The receive path expects hostile or broken input on the latched address: another SSRC is
//! on probation until it proves itself (`source.rs`), a timestamp off the timeline does not
//! restart the jitter buffer unless the packets agree on a new one (`jitter/timing.rs`), and
//! at most `MAX_DATAGRAMS_PER_TICK` datagrams are read between two ticks, so a flood costs a
//! bounded amount of work (the kernel drops the rest) and never delays the send tick.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::backoff::{AfterFailure, RecvBackoff, MAX_PAUSE};
use super::keepalive::{self, KeepaliveClock};
use super::pacing::{frame_index, Pacing};
use super::source::{Admit, Sources};
use super::voice::Voice;
use super::{
    Control, Counters, Finished, MediaError, MediaEvent, MediaEvents, MediaOptions, FRAME,
};
use crate::media::audio::{port_for, Arrival, AudioMode, AudioPort, ListenInPort};
use crate::media::dtmf::{DtmfReceiver, DtmfSender};
use crate::media::jitter::{JitterBuffer, Playout, PushOutcome};
use crate::media::meter::Meter;
use crate::media::quality::{estimate_mos, ReceiveStats};

use crate::media::rtcp;
use crate::media::rtp::{self, Received, RtpSender};
use crate::media::sdp::Negotiated;
use crate::media::srtp::{SrtpError, SrtpStreams, Unprotect};
use crate::media::transcode::{Decoder, Encoder};
use crate::media::wav::RecorderHandle;
use crate::vocab::{Codec, Quality};

/// Quality goes out every second, RTCP every 5 s (RFC 3550 §6.2's minimum interval for a
/// two-party session); levels as often as `LevelRate` says.
const QUALITY_EVERY: u64 = 50;
const RTCP_EVERY: u64 = 250;
/// Larger than any sane RTP packet (the largest Opus frame is 1 275 bytes); bigger
/// datagrams are garbage anyway.
const RECV_BUFFER: usize = 2048;
/// RTP datagrams read between two 20 ms ticks: 12 500 a second, 250 times a normal stream.
/// Beyond that the socket is left alone until the next tick.
const MAX_DATAGRAMS_PER_TICK: u32 = 250;
const MAX_FRAME_SAMPLES: usize = 960;

pub(super) struct MediaTask {
    socket: UdpSocket,
    rtcp: Option<UdpSocket>,
    params: Negotiated,
    port: Box<dyn AudioPort>,
    counters: Arc<Counters>,
    events: Option<MediaEvents>,
    levels: super::LevelRate,
    recorder: Option<RecorderHandle>,
    sender: RtpSender,
    /// SRTP/SRTCP contexts when the call is encrypted: every packet out is protected, every
    /// packet in must authenticate before anything reads its payload.
    srtp: Option<SrtpStreams>,
    encoder: Encoder,
    decoder: Decoder,
    jitter: JitterBuffer,
    quality: ReceiveStats,
    dtmf_in: DtmfReceiver,
    dtmf_out: DtmfSender,
    remote_meter: Meter,
    local_meter: Meter,
    /// Where the remote's RTP really comes from (symmetric RTP, RFC 4961): we send there.
    latched: Option<SocketAddr>,
    latched_rtcp: Option<SocketAddr>,
    /// Which SSRC we listen to, and the newcomers on probation.
    sources: Sources,
    /// Datagrams that may still be read before the next tick.
    receive_budget: u32,
    /// The last SR we received: its NTP middle bits and when it arrived (for DLSR).
    last_sr: Option<(u32, Instant)>,
    rtt: Option<Duration>,
    octets_sent: u32,
    sending: bool,
    muted: bool,
    frames_elapsed: u64,
    rtp_backoff: RecvBackoff,
    rtcp_backoff: RecvBackoff,
    /// RFC 6263 keep-alives while we send no media (`keepalive.rs`).
    keepalive: KeepaliveClock,
    /// Voice activity of both sides and the turn-taking figures (`voice.rs`).
    voice: Voice,
    /// A clip sent once in place of the port's source (`MediaHandle::play`).
    clip: Option<Clip>,
    /// Tick 0's time (set when the task runs), to turn arrivals into frame numbers.
    epoch: std::time::Instant,
    bufs: Buffers,
}

/// A clip being played: its samples at the codec rate and how far it has gone.
struct Clip {
    file: String,
    samples: Vec<i16>,
    position: usize,
}

/// Reused for every packet and frame: no allocation in the steady state.
struct Buffers {
    remote_pcm: Vec<i16>,
    local_pcm: Vec<i16>,
    payload: Vec<u8>,
    packet: Vec<u8>,
    datagram: Vec<u8>,
    rtcp_in: Vec<u8>,
    rtcp_out: Vec<u8>,
}

impl Default for Buffers {
    fn default() -> Self {
        Buffers {
            remote_pcm: Vec::with_capacity(MAX_FRAME_SAMPLES),
            local_pcm: Vec::with_capacity(MAX_FRAME_SAMPLES),
            payload: Vec::with_capacity(MAX_FRAME_SAMPLES * 2),
            packet: vec![0; rtp::HEADER_LEN + MAX_FRAME_SAMPLES * 2],
            datagram: vec![0; RECV_BUFFER],
            rtcp_in: vec![0; 1500],
            rtcp_out: Vec::with_capacity(256),
        }
    }
}

impl MediaTask {
    /// Everything one call's media needs, before it runs. Fails only when the codec cannot
    /// be set up (Opus).
    pub(super) fn new(
        socket: UdpSocket,
        params: Negotiated,
        port: Box<dyn AudioPort>,
        options: MediaOptions,
        counters: Arc<Counters>,
    ) -> Result<MediaTask, MediaError> {
        let codec = params.codec;
        let srtp = params.srtp.as_ref().map(SrtpStreams::new).transpose()?;
        Ok(MediaTask {
            socket,
            rtcp: options.rtcp,
            params,
            port,
            counters,
            events: options.events,
            levels: options.levels,
            recorder: options.recorder,
            sender: RtpSender::new(),
            srtp,
            encoder: Encoder::new(codec)?,
            decoder: Decoder::new(codec)?,
            jitter: jitter_buffer(codec),
            quality: ReceiveStats::new(codec.clock_rate()),
            dtmf_in: DtmfReceiver::new(),
            dtmf_out: DtmfSender::new(codec.clock_rate()),
            remote_meter: Meter::default(),
            local_meter: Meter::default(),
            latched: None,
            latched_rtcp: None,
            sources: Sources::default(),
            receive_budget: MAX_DATAGRAMS_PER_TICK,
            last_sr: None,
            rtt: None,
            octets_sent: 0,
            sending: false,
            muted: false,
            frames_elapsed: 0,
            rtp_backoff: RecvBackoff::default(),
            rtcp_backoff: RecvBackoff::default(),
            keepalive: KeepaliveClock::default(),
            voice: Voice::new(),
            clip: None,
            epoch: std::time::Instant::now(),
            bufs: Buffers::default(),
        })
    }

    pub(super) async fn run(mut self, mut control: mpsc::UnboundedReceiver<Control>) -> Finished {
        let start = Instant::now();
        self.epoch = start.into_std();
        // Frame n is due at start + n * 20 ms (an absolute schedule: no drift). A tick that
        // comes late does every frame that is due, within `MAX_CATCH_UP_FRAMES`.
        let mut pacing = Pacing::default();
        let tick = tokio::time::sleep_until(start);
        tokio::pin!(tick);
        let rtcp = self.rtcp.take();
        let mut rtcp_buf = std::mem::take(&mut self.bufs.rtcp_in);
        loop {
            tokio::select! {
                biased;
                cmd = control.recv() => match cmd {
                    None | Some(Control::Stop) => break,
                    Some(Control::Update(params)) => self.apply(*params),
                    Some(cmd) => self.on_control(cmd),
                },
                () = &mut tick => {
                    let due = pacing.due(frame_index(Instant::now() - start));
                    if due.count() > 1 {
                        // Back from a stall: what queued meanwhile should play in these frames.
                        self.drain_socket();
                    }
                    self.skip_frames(due.skipped);
                    for frame in due.frames {
                        self.on_tick(frame, rtcp.as_ref()).await;
                    }
                    tick.as_mut().reset(start + FRAME * pacing.next() as u32);
                }
                received = recv_after(
                    self.rtp_backoff.resume_at(),
                    Some(&self.socket),
                    &mut self.bufs.datagram,
                ), if self.receive_budget > 0 => match received {
                    Ok((len, from)) => {
                        self.rtp_backoff.on_success();
                        self.receive_budget -= 1;
                        self.on_datagram(len, from);
                    }
                    Err(e) => self.on_receive_failure(Channel::Rtp, &e),
                },
                received = recv_after(
                    self.rtcp_backoff.resume_at(),
                    rtcp.as_ref(),
                    &mut rtcp_buf,
                ) => match received {
                    Ok((len, from)) => {
                        self.rtcp_backoff.on_success();
                        self.on_rtcp(&rtcp_buf[..len], from);
                    }
                    Err(e) => self.on_receive_failure(Channel::Rtcp, &e),
                },
            }
        }
        self.publish_quality();
        tracing::debug!(
            stats = ?self.counters.snapshot(),
            duplicates = self.counters.duplicates.load(Ordering::Relaxed),
            strays = self.counters.strays.load(Ordering::Relaxed),
            "media stopped"
        );
        let events = &self.events;
        let turn_taking = self.voice.finish(|e| emit_to(events, e));
        Finished {
            recorder: self.recorder.take(),
            turn_taking: Some(Box::new(turn_taking)),
        }
    }

    /// E.g. ICMP port unreachable, reported on the next receive: not fatal, and retried at
    /// once; a socket that keeps failing is read less and less often (see `backoff.rs`).
    fn on_receive_failure(&mut self, channel: Channel, error: &io::Error) {
        let backoff = match channel {
            Channel::Rtp => &mut self.rtp_backoff,
            Channel::Rtcp => &mut self.rtcp_backoff,
        };
        match backoff.on_failure(Instant::now()) {
            AfterFailure::Retry => tracing::debug!(%error, ?channel, "receive failed"),
            AfterFailure::Pause { wait, warn } => {
                tracing::debug!(%error, ?channel, ?wait, "receive keeps failing: pausing it");
                if warn {
                    self.emit(MediaEvent::Warning(format!(
                        "{channel} reception keeps failing ({error}); \
                         retrying with pauses of up to {} ms",
                        MAX_PAUSE.as_millis()
                    )));
                }
            }
        }
    }

    fn apply(&mut self, params: Negotiated) {
        tracing::debug!(
            remote = %params.remote,
            codec = %params.codec,
            direction = params.direction.attribute(),
            "media updated"
        );
        // A new address in the SDP is a new path: learn the source again.
        if params.remote != self.params.remote {
            self.latched = None;
            self.latched_rtcp = None;
            self.sources.release();
        }
        if params.codec != self.params.codec {
            self.switch_codec(params.codec);
        }
        if params.srtp != self.params.srtp {
            self.rekey(&params);
        }
        self.params = params;
    }

    /// A re-INVITE changed the keys (or turned SRTP on or off, which `--srtp` allows only in
    /// optional mode). The new contexts start afresh; what was queued stays, it was authentic.
    fn rekey(&mut self, params: &Negotiated) {
        match params.srtp.as_ref().map(SrtpStreams::new).transpose() {
            Ok(srtp) => self.srtp = srtp,
            Err(e) => {
                // Keep nothing that could send in the clear what was meant to be encrypted.
                self.srtp = None;
                self.emit(MediaEvent::Warning(format!(
                    "{e}; the call's media can no longer be protected"
                )));
            }
        }
    }

    /// A re-INVITE changed the codec. The engine only accepts changes that keep the clock rate
    /// (PCMU and PCMA), so the port, the recorder, the RTP clock and the statistics carry on;
    /// only the coding and what is queued in the old one change.
    fn switch_codec(&mut self, codec: crate::vocab::codec::Codec) {
        debug_assert_eq!(codec.clock_rate(), self.params.codec.clock_rate());
        match (Encoder::new(codec), Decoder::new(codec)) {
            (Ok(encoder), Ok(decoder)) => {
                self.encoder = encoder;
                self.decoder = decoder;
                self.jitter.reset();
            }
            (Err(e), _) | (_, Err(e)) => self.emit(MediaEvent::Warning(format!(
                "cannot switch to {codec}: {e}; the call's audio may be garbled"
            ))),
        }
    }

    fn on_control(&mut self, cmd: Control) {
        match cmd {
            Control::Mute(muted) => self.muted = muted,
            Control::SetPort(port) => self.port = port,
            Control::SetListener(port) => {
                // Not bridged after all (the bridge went off meanwhile): the port just goes.
                let _ = self.port.replace_listener(port);
            }
            Control::Bridge { ai, listen_muted } => {
                let own = std::mem::replace(&mut self.port, port_for(AudioMode::Null));
                self.port = Box::new(ListenInPort::new(ai, own, listen_muted));
            }
            Control::Unbridge => {
                if let Some(own) = self.port.take_listener() {
                    self.port = own;
                }
            }
            Control::Answered => self.voice.answered(self.frames_elapsed),
            Control::Play { file, samples } => {
                if let Some(old) = self.clip.take() {
                    // Cut short by the next one: say how much of it went out.
                    self.played(old);
                }
                self.clip = Some(Clip {
                    file,
                    samples,
                    position: 0,
                });
            }
            // Handled by the loop.
            Control::Update(_) | Control::Stop => {}
            Control::SendDtmf(digits) => {
                if self.params.dtmf_payload_type.is_none() {
                    self.emit(MediaEvent::Warning(
                        "the remote side did not negotiate telephone-event: DTMF not sent".into(),
                    ));
                } else if let Err(bad) = self.dtmf_out.queue(&digits) {
                    self.emit(MediaEvent::Warning(format!("'{bad}' is not a DTMF digit")));
                }
            }
        }
    }

    fn may_send(&self) -> bool {
        let p = &self.params;
        p.direction.sends() && !p.remote.ip().is_unspecified() && p.remote.port() != 0
    }

    fn destination(&self) -> SocketAddr {
        self.latched.unwrap_or(self.params.remote)
    }

    async fn on_tick(&mut self, frame: u64, rtcp: Option<&UdpSocket>) {
        self.receive_budget = MAX_DATAGRAMS_PER_TICK;
        let samples = self.params.codec.samples_per_frame();
        let passed = frame.saturating_sub(self.frames_elapsed);
        self.frames_elapsed = frame.max(self.frames_elapsed);
        self.sender
            .advance((passed as u32).wrapping_mul(samples as u32));

        self.play_out(samples);
        let sending = self.may_send();
        self.bufs.local_pcm.clear();
        self.bufs.local_pcm.resize(samples, 0);
        if sending {
            self.port.source(&mut self.bufs.local_pcm);
            // The source is still drained while muted, so a sound card or file does not back up.
            self.play_clip();
            if self.muted {
                self.bufs.local_pcm.fill(0);
            }
        }
        self.local_meter.push(&self.bufs.local_pcm);
        // How long ago the remote's frame played now arrived, on the tick's own clock.
        let remote_delay_ms = match self.jitter.last_played_arrival() {
            Some(arrival) => {
                let arrived_ms =
                    arrival.saturating_duration_since(self.epoch).as_secs_f64() * 1000.0;
                (frame as f64 * FRAME.as_secs_f64() * 1000.0 - arrived_ms).max(0.0)
            }
            None => 0.0,
        };
        let events = &self.events;
        self.voice.tick(
            frame,
            &self.bufs.remote_pcm,
            remote_delay_ms,
            &self.bufs.local_pcm,
            |e| emit_to(events, e),
        );
        if let Some(recorder) = &mut self.recorder {
            recorder.push(&self.bufs.remote_pcm, &self.bufs.local_pcm);
        }
        if sending {
            if !self.sending {
                self.sender.mark_next();
                self.sending = true;
            }
            // The first tick is at the start: our first packet leaves at once and opens the
            // way through a NAT router for the peer's.
            self.send_frame().await;
            self.keepalive.sent(frame);
        } else {
            self.sending = false;
            self.keep_alive(frame).await;
        }

        let level_every = u64::from(self.levels.frames());
        if level_every > 0 && frame.is_multiple_of(level_every) {
            let remote = self.remote_meter.take();
            let local = self.local_meter.take();
            self.emit(MediaEvent::Levels { remote, local });
        }
        // Every second, heard or not: the owner learns from it that nothing arrives.
        if frame.is_multiple_of(QUALITY_EVERY) {
            self.publish_quality();
        }
        if frame % RTCP_EVERY == RTCP_EVERY / 2 {
            if let Some(socket) = rtcp {
                self.send_rtcp(socket).await;
            }
        }
    }

    /// Frames whose time passed while the task could not run, beyond what may still be sent
    /// late: counted as not sent, their sequence numbers skipped (the receiver counts them as
    /// lost), and silence in the recording so it stays in time with the call.
    fn skip_frames(&mut self, frames: u64) {
        if frames == 0 {
            return;
        }
        let samples = self.params.codec.samples_per_frame();
        if self.may_send() {
            self.counters.not_sent.fetch_add(frames, Ordering::Relaxed);
            self.sender.skip(frames as u16);
        }
        if let Some(recorder) = &mut self.recorder {
            self.bufs.remote_pcm.clear();
            self.bufs.remote_pcm.resize(samples, 0);
            for _ in 0..frames {
                recorder.push(&self.bufs.remote_pcm, &self.bufs.remote_pcm);
            }
        }
        tracing::debug!(frames, "media task fell behind: frames skipped");
    }

    /// Reads what is waiting on the RTP socket without waiting, within the tick's budget.
    fn drain_socket(&mut self) {
        while self.receive_budget > 0 {
            match self.socket.try_recv_from(&mut self.bufs.datagram) {
                Ok((len, from)) => {
                    self.receive_budget -= 1;
                    self.on_datagram(len, from);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.on_receive_failure(Channel::Rtp, &e);
                    break;
                }
            }
        }
    }

    /// Puts the next frame of a clip being played in place of the port's audio; a clip that
    /// ends mid-frame is followed by silence, and reported.
    fn play_clip(&mut self) {
        let Some(clip) = &mut self.clip else {
            return;
        };
        let out = &mut self.bufs.local_pcm;
        let take = (clip.samples.len() - clip.position).min(out.len());
        out[..take].copy_from_slice(&clip.samples[clip.position..clip.position + take]);
        out[take..].fill(0);
        clip.position += take;
        if clip.position >= clip.samples.len() {
            if let Some(done) = self.clip.take() {
                self.played(done);
            }
        }
    }

    fn played(&self, clip: Clip) {
        let rate = u64::from(self.params.codec.clock_rate().max(1));
        self.emit(MediaEvent::Played {
            file: clip.file,
            ms: clip.position as u64 * 1000 / rate,
        });
    }

    /// One 20 ms frame of what the remote said, from the jitter buffer (or concealment).
    fn play_out(&mut self, samples: usize) {
        let receiving = self.params.direction.receives();
        let pcm = &mut self.bufs.remote_pcm;
        match self.jitter.pop(std::time::Instant::now()) {
            Playout::Frame { payload, .. } if receiving => {
                if !self.decoder.decode(payload, pcm) {
                    self.decoder.conceal(None, samples, pcm);
                }
            }
            Playout::Missing { next } if receiving => self.decoder.conceal(next, samples, pcm),
            _ => {
                pcm.clear();
                pcm.resize(samples, 0);
            }
        }
        pcm.resize(samples, 0);
        self.remote_meter.push(pcm);
        if receiving {
            self.port.sink(pcm);
        }
    }

    async fn send_frame(&mut self) {
        let destination = self.destination();
        let ts = self.sender.timestamp();
        let len = if let Some(event) = self.dtmf_out.tick(ts) {
            let pt = self.params.dtmf_payload_type.unwrap_or(101);
            self.sender.write_event(
                pt,
                &event.payload,
                event.timestamp,
                event.marker,
                &mut self.bufs.packet,
            )
        } else {
            if !self
                .encoder
                .encode(&self.bufs.local_pcm, &mut self.bufs.payload)
            {
                return;
            }
            self.sender.write(
                self.params.payload_type,
                &self.bufs.payload,
                &mut self.bufs.packet,
            )
        };
        let len = match len {
            Ok(len) => len,
            Err(e) => {
                tracing::warn!(error = ?e, "cannot build RTP packet");
                return;
            }
        };
        let Some(sent) = self.send_packet(len, destination).await else {
            return;
        };
        match sent {
            Ok(_) => {
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
                self.octets_sent = self
                    .octets_sent
                    .wrapping_add((len - rtp::HEADER_LEN) as u32);
            }
            Err(e) => {
                self.counters.not_sent.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, %destination, "RTP send failed");
            }
        }
    }

    /// While we send no media (held by the peer): an empty RTP packet of an unnegotiated
    /// payload type when one is due (RFC 6263 §4.6, see `keepalive.rs`).
    async fn keep_alive(&mut self, frame: u64) {
        let to = self.destination();
        if to.ip().is_unspecified() || to.port() == 0 || !self.keepalive.due(frame) {
            return;
        }
        self.keepalive.sent(frame);
        let pt = keepalive::payload_type(&self.params);
        let ts = self.sender.timestamp();
        let len = match self
            .sender
            .write_event(pt, &[], ts, false, &mut self.bufs.packet)
        {
            Ok(len) => len,
            Err(e) => {
                tracing::warn!(error = ?e, "cannot build an RTP keep-alive");
                return;
            }
        };
        if let Some(Err(e)) = self.send_packet(len, to).await {
            tracing::debug!(error = %e, %to, "RTP keep-alive not sent");
        }
    }

    /// Sends the RTP packet built in `bufs.packet`, protected when the call is encrypted;
    /// `None` when nothing may go out.
    async fn send_packet(&mut self, len: usize, to: SocketAddr) -> Option<std::io::Result<usize>> {
        match (self.params.srtp.is_some(), self.srtp.as_mut()) {
            (false, _) => Some(self.socket.send_to(&self.bufs.packet[..len], to).await),
            (true, Some(srtp)) => match srtp.protect_rtp(&self.bufs.packet[..len]) {
                Ok(wire) => Some(self.socket.send_to(wire.as_ref(), to).await),
                Err(e) => {
                    protect_failed(&e);
                    None
                }
            },
            // Negotiated SRTP without contexts (a failed rekey): send nothing rather than
            // plain RTP.
            (true, None) => None,
        }
    }

    fn on_datagram(&mut self, len: usize, from: SocketAddr) {
        let mut len = len.min(self.bufs.datagram.len());
        if self.params.srtp.is_some() {
            // Authenticate before anything looks at the packet: a forgery or a tampered packet
            // is invalid, never latched onto, decoded or played.
            let Some(srtp) = self.srtp.as_mut() else {
                self.counters.invalid.fetch_add(1, Ordering::Relaxed);
                return;
            };
            match srtp.unprotect_rtp(&self.bufs.datagram[..len]) {
                Ok(plain) => {
                    let plain = plain.as_ref();
                    self.bufs.datagram[..plain.len()].copy_from_slice(plain);
                    len = plain.len();
                }
                Err(Unprotect::Replayed) => {
                    self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(Unprotect::Rejected(reason)) => {
                    self.counters.invalid.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .srtp_auth_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::trace!(%from, %reason, "SRTP packet rejected");
                    return;
                }
            }
        }
        let datagram = &self.bufs.datagram[..len];
        let p = &self.params;
        let packet = match rtp::classify(datagram, p.payload_type, p.dtmf_payload_type) {
            Ok(packet) => packet,
            Err(reason) => {
                self.counters.invalid.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(%from, %reason, "ignored datagram on the RTP port");
                return;
            }
        };
        // Symmetric RTP: the first valid packet fixes the remote's address; others are
        // foreign (a stale stream, or someone spraying the port) and never reach the decoder.
        match self.latched {
            None => {
                self.latched = Some(from);
                self.emit(MediaEvent::Latched(from));
            }
            Some(addr) if addr != from => {
                self.counters.foreign.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Some(_) => {}
        }
        let now = std::time::Instant::now();
        match self.sources.admit(packet.ssrc, packet.seq, now) {
            Admit::Current => {}
            Admit::Switched => {
                // A new source (transfer, restart): its numbering owes nothing to the old one.
                self.jitter.reset();
                self.quality.reset();
                self.decoder.reset();
                self.dtmf_in = DtmfReceiver::new();
                self.counters.ssrc_changes.fetch_add(1, Ordering::Relaxed);
            }
            Admit::Probation => {
                self.counters.strays.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        // A copy of a packet already counted (an RFC 4733 end packet repeated with its
        // sequence number, a path that duplicates) is not received again (RFC 3550 A.3), and
        // has nothing new for the jitter buffer or the DTMF receiver either.
        if self.quality.is_duplicate(packet.seq) {
            self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match packet.kind {
            Received::Audio(payload) => {
                match self.jitter.push(packet.seq, packet.timestamp, payload, now) {
                    // Not part of the stream (noise with its SSRC): no figure may count it.
                    PushOutcome::OffTimeline => {
                        self.counters.strays.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    // Its timestamp says nothing about when it was sent.
                    PushOutcome::Restamped => {
                        self.quality.on_untimed_packet(packet.seq);
                    }
                    _ => {
                        self.quality.on_packet(packet.seq, packet.timestamp, now);
                    }
                }
                arrived(
                    &mut *self.port,
                    &self.params,
                    packet.ssrc,
                    packet.seq,
                    now,
                    payload,
                );
            }
            Received::TelephoneEvent(payload) => {
                // It takes a sequence number: a port putting packets in order must know.
                arrived(
                    &mut *self.port,
                    &self.params,
                    packet.ssrc,
                    packet.seq,
                    now,
                    &[],
                );
                // Events carry their start timestamp: count them for loss, not for jitter.
                self.quality.on_untimed_packet(packet.seq);
                if let Some(digit) =
                    self.dtmf_in
                        .on_packet(packet.timestamp, packet.marker, payload)
                {
                    self.emit(MediaEvent::Dtmf(digit));
                }
            }
        }
        self.counters.received.fetch_add(1, Ordering::Relaxed);
    }

    fn on_rtcp(&mut self, datagram: &[u8], from: SocketAddr) {
        let plain;
        let datagram = match (self.params.srtp.is_some(), self.srtp.as_mut()) {
            (false, _) => datagram,
            (true, Some(srtp)) => match srtp.unprotect_rtcp(datagram) {
                Ok(p) => {
                    plain = p;
                    plain.as_ref()
                }
                Err(Unprotect::Replayed) => return,
                Err(Unprotect::Rejected(reason)) => {
                    self.counters.invalid.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .srtp_auth_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::trace!(%from, %reason, "SRTCP packet rejected");
                    return;
                }
            },
            (true, None) => {
                self.counters.invalid.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let Ok(compound) = rtcp::parse(datagram) else {
            self.counters.invalid.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if self.latched.is_some_and(|rtp| rtp.ip() != from.ip()) {
            self.counters.foreign.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.latched_rtcp = Some(from);
        if let Some((_, info)) = compound.sender_info() {
            self.last_sr = Some((info.ntp.middle32(), Instant::now()));
        }
        if let Some(block) = compound.report_about(self.sender.ssrc()) {
            let now = rtcp::NtpTime::now().middle32();
            if let Some(rtt) = rtcp::rtt(now, block.lsr, block.dlsr) {
                self.rtt = Some(rtt);
            }
        }
    }

    async fn send_rtcp(&mut self, socket: &UdpSocket) {
        let destination = match self.latched_rtcp {
            Some(addr) => addr,
            None => {
                let rtp = self.destination();
                if rtp.ip().is_unspecified() || rtp.port() == 0 {
                    return;
                }
                SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1))
            }
        };
        let (lsr, dlsr) = match self.last_sr {
            Some((ntp, at)) => (ntp, rtcp::dlsr(at.elapsed())),
            None => (0, 0),
        };
        let block = self
            .sources
            .current()
            .map(|ssrc| self.quality.report_block(ssrc, lsr, dlsr));
        let blocks = block.as_slice();
        let out = &mut self.bufs.rtcp_out;
        out.clear();
        let ssrc = self.sender.ssrc();
        let sent = self.counters.sent.load(Ordering::Relaxed);
        if sent > 0 {
            let info = rtcp::SenderInfo {
                ntp: rtcp::NtpTime::now(),
                rtp_timestamp: self.sender.timestamp(),
                packet_count: sent as u32,
                octet_count: self.octets_sent,
            };
            rtcp::build_sr(out, ssrc, &info, blocks);
        } else if !blocks.is_empty() {
            rtcp::build_rr(out, ssrc, blocks);
        } else {
            return;
        }
        rtcp::build_sdes_cname(out, ssrc, "sipterm");
        let sent = match (self.params.srtp.is_some(), self.srtp.as_mut()) {
            (false, _) => socket.send_to(out, destination).await,
            (true, Some(srtp)) => match srtp.protect_rtcp(out) {
                Ok(wire) => socket.send_to(wire.as_ref(), destination).await,
                Err(e) => return protect_failed(&e),
            },
            (true, None) => return,
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, %destination, "RTCP send failed");
        }
    }

    fn publish_quality(&mut self) {
        let loss_percent = self.quality.loss_fraction() * 100.0;
        let jitter_ms = self.quality.jitter_ms();
        let rtt_ms = self.rtt.map(|d| d.as_secs_f64() * 1000.0);
        let heard = self.counters.received.load(Ordering::Relaxed) > 0;
        let mos = heard.then(|| {
            estimate_mos(
                loss_percent,
                jitter_ms,
                rtt_ms.unwrap_or(0.0),
                self.params.codec,
            )
        });
        let quality = Quality {
            packets_lost: self.quality.lost(),
            loss_percent,
            jitter_ms,
            rtt_ms,
            mos,
        };
        self.counters.store_quality(quality);
        let jitter = self.jitter.stats();
        self.counters
            .not_played
            .store(jitter.late + jitter.dropped_for_catch_up, Ordering::Relaxed);
        self.emit(MediaEvent::Quality(self.counters.snapshot()));
    }

    fn emit(&self, event: MediaEvent) {
        emit_to(&self.events, event);
    }
}

fn emit_to(events: &Option<MediaEvents>, event: MediaEvent) {
    if let Some(events) = events {
        events.send(event);
    }
}

/// Hands an admitted packet to the port as it arrives (the bridge forwards it at once rather
/// than at playout); like `sink`, only while we receive.
fn arrived(
    port: &mut dyn AudioPort,
    params: &Negotiated,
    ssrc: u32,
    seq: u16,
    at: std::time::Instant,
    payload: &[u8],
) {
    if params.direction.receives() {
        let codec = params.codec;
        port.arrived(&Arrival {
            codec,
            ssrc,
            seq,
            at,
            payload,
        });
    }
}

/// Which of the session's sockets a receive failure concerns.
#[derive(Clone, Copy, Debug)]
enum Channel {
    Rtp,
    Rtcp,
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Channel::Rtp => "RTP",
            Channel::Rtcp => "RTCP",
        })
    }
}

/// Not expected with valid keys (protecting cannot fail for a packet we built); logged, and
/// the packet is not sent.
fn protect_failed(e: &SrtpError) {
    tracing::warn!(error = %e, "packet not sent");
}

/// Receives from `socket` once `resume_at` has passed; never, without a socket.
async fn recv_after(
    resume_at: Option<Instant>,
    socket: Option<&UdpSocket>,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr)> {
    let Some(socket) = socket else {
        return std::future::pending().await;
    };
    if let Some(at) = resume_at.filter(|&at| at > Instant::now()) {
        tokio::time::sleep_until(at).await;
    }
    socket.recv_from(buf).await
}

/// G.711 packets longer than 20 ms are split into 20 ms slots (one byte per sample); an Opus
/// packet is one frame whatever it holds.
fn jitter_buffer(codec: Codec) -> JitterBuffer {
    let jb = JitterBuffer::new(codec.clock_rate(), codec.samples_per_frame() as u32);
    match codec {
        Codec::Pcmu | Codec::Pcma => jb.split_payloads(codec.samples_per_frame()),
        Codec::Opus => jb,
    }
}
