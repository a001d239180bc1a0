//! The per-call RTP task: one tokio task per call that paces outgoing frames on an absolute
//! 20 ms schedule, receives and checks incoming packets, and moves audio through an
//! `AudioPort`. The engine holds a `MediaHandle` to steer it (re-INVITE) and end it.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::audio::{AudioPort, FRAME_MS};
use super::codec::Codec;
use super::g711;
use super::rtp::{self, Received, RtpSender, HEADER_LEN};
use super::sdp::Negotiated;

#[cfg(test)]
mod tests;

const FRAME: Duration = Duration::from_millis(FRAME_MS as u64);
/// Largest frame we ever build: 20 ms at 48 kHz, 16-bit (opus never gets near it).
const MAX_FRAME_SAMPLES: usize = 960;
/// Larger than any sane RTP packet; bigger datagrams are garbage anyway.
const RECV_BUFFER: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no free even UDP port for RTP on {ip} in {first}-{last}")]
    PortsExhausted { ip: IpAddr, first: u16, last: u16 },
    #[error("cannot bind RTP to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// Binds a UDP socket for RTP on an even port (RFC 3550 §11: RTP even, RTCP the odd one
/// above), starting at a random place in the range so calls do not all fight for the first
/// port, and trying each even port once.
pub async fn bind_rtp(ip: IpAddr, ports: RangeInclusive<u16>) -> Result<UdpSocket, MediaError> {
    let (first, last) = (*ports.start(), *ports.end());
    let exhausted = MediaError::PortsExhausted { ip, first, last };
    let first_even = u32::from(first) + u32::from(first) % 2;
    let last_even = u32::from(last) & !1;
    if ports.is_empty() || first_even > last_even {
        return Err(exhausted);
    }
    let count = (last_even - first_even) / 2 + 1;
    let offset = rand::random_range(0..count);
    for i in 0..count {
        let port = first_even + 2 * ((offset + i) % count);
        let addr = SocketAddr::new(ip, port as u16);
        match UdpSocket::bind(addr).await {
            Ok(socket) => return Ok(socket),
            // Taken, or privileged: the next port may do.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
                ) => {}
            // Anything else (address not ours, ...) fails the same way on every port.
            Err(source) => return Err(MediaError::Bind { addr, source }),
        }
    }
    Err(exhausted)
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MediaStats {
    pub packets_sent: u64,
    pub packets_received: u64,
    /// Datagrams on our port that were not RTP in a negotiated payload type.
    pub packets_invalid: u64,
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
    invalid: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> MediaStats {
        MediaStats {
            packets_sent: self.sent.load(Ordering::Relaxed),
            packets_received: self.received.load(Ordering::Relaxed),
            packets_invalid: self.invalid.load(Ordering::Relaxed),
        }
    }
}

/// The engine's grip on a call's media task. Dropping it also ends the task.
#[derive(Debug)]
pub struct MediaHandle {
    local_addr: SocketAddr,
    params: watch::Sender<Negotiated>,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
    stop_on_drop: DropGuard,
}

/// Spawns the media task for one call on the current tokio runtime.
pub fn start(socket: UdpSocket, params: Negotiated, port: Box<dyn AudioPort>) -> MediaHandle {
    let local_addr = socket.local_addr().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "RTP socket has no local address");
        SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0)
    });
    tracing::debug!(
        local = %local_addr,
        remote = %params.remote,
        codec = %params.codec,
        direction = params.direction.attribute(),
        "media starting"
    );
    let (params_tx, params_rx) = watch::channel(params.clone());
    let counters = Arc::new(Counters::default());
    let cancel = CancellationToken::new();
    let task = MediaTask {
        socket,
        params,
        port,
        counters: Arc::clone(&counters),
        sender: RtpSender::new(),
        sending: false,
        frames_elapsed: 0,
        pcm: Vec::with_capacity(MAX_FRAME_SAMPLES),
        payload: Vec::with_capacity(MAX_FRAME_SAMPLES * 2),
        packet: vec![0; HEADER_LEN + MAX_FRAME_SAMPLES * 2],
        datagram: vec![0; RECV_BUFFER],
        decoded: Vec::with_capacity(RECV_BUFFER),
    };
    let task = tokio::spawn(task.run(params_rx, cancel.clone()));
    MediaHandle {
        local_addr,
        params: params_tx,
        counters,
        task,
        stop_on_drop: cancel.drop_guard(),
    }
}

impl MediaHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// New parameters after a re-INVITE. Takes effect at the next packet or frame; the stream
    /// keeps its SSRC and sequence, and the timestamp keeps following the clock.
    pub fn update(&self, params: Negotiated) {
        self.params.send_replace(params);
    }

    pub fn stats(&self) -> MediaStats {
        self.counters.snapshot()
    }

    /// Ends the task (closing the socket) and returns the final figures.
    pub async fn stop(self) -> MediaStats {
        let MediaHandle {
            counters,
            task,
            stop_on_drop,
            ..
        } = self;
        drop(stop_on_drop);
        if let Err(e) = task.await {
            tracing::warn!(error = %e, "media task ended abnormally");
        }
        counters.snapshot()
    }
}

struct MediaTask {
    socket: UdpSocket,
    params: Negotiated,
    port: Box<dyn AudioPort>,
    counters: Arc<Counters>,
    sender: RtpSender,
    /// Whether the previous frame went out; a gap (hold) ends with a marked packet.
    sending: bool,
    frames_elapsed: u64,
    // Buffers reused for every packet: no allocation in the steady state.
    pcm: Vec<i16>,
    payload: Vec<u8>,
    packet: Vec<u8>,
    datagram: Vec<u8>,
    decoded: Vec<i16>,
}

impl MediaTask {
    async fn run(mut self, mut params_rx: watch::Receiver<Negotiated>, cancel: CancellationToken) {
        let start = Instant::now();
        // Ticks fall on start + n * 20 ms. After a stall, missed ticks are skipped rather than
        // sent in a burst; the timestamp still advances by the frames that passed.
        let mut ticker = tokio::time::interval_at(start, FRAME);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        if self.params.codec == Codec::Opus {
            tracing::warn!("opus media is not implemented yet: this call sends and plays nothing");
        }
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                changed = params_rx.changed() => match changed {
                    Ok(()) => {
                        let params = params_rx.borrow_and_update().clone();
                        self.apply(params);
                    }
                    Err(_) => break,
                },
                at = ticker.tick() => {
                    let frame = frame_index(at - start);
                    self.on_tick(frame).await;
                }
                received = self.socket.recv_from(&mut self.datagram) => match received {
                    Ok((len, from)) => self.on_datagram(len, from),
                    // E.g. ICMP port unreachable reported on some platforms: not fatal.
                    Err(e) => tracing::debug!(error = %e, "RTP receive failed"),
                },
            }
        }
        tracing::debug!(stats = ?self.counters.snapshot(), "media stopped");
    }

    fn apply(&mut self, params: Negotiated) {
        tracing::debug!(
            remote = %params.remote,
            codec = %params.codec,
            direction = params.direction.attribute(),
            "media updated"
        );
        self.params = params;
    }

    fn may_send(&self) -> bool {
        let p = &self.params;
        p.direction.sends()
            && !p.remote.ip().is_unspecified()
            && p.remote.port() != 0
            && p.codec != Codec::Opus
    }

    async fn on_tick(&mut self, frame: u64) {
        let samples = self.params.codec.samples_per_frame();
        let passed = frame.saturating_sub(self.frames_elapsed);
        self.frames_elapsed = frame.max(self.frames_elapsed);
        self.sender
            .advance((passed as u32).wrapping_mul(samples as u32));

        if !self.may_send() {
            self.sending = false;
            return;
        }
        if !self.sending {
            self.sender.mark_next();
            self.sending = true;
        }
        self.pcm.clear();
        self.pcm.resize(samples, 0);
        self.port.source(&mut self.pcm);
        self.payload.clear();
        if g711::encode(self.params.codec, &self.pcm, &mut self.payload).is_err() {
            return;
        }
        let len = match self
            .sender
            .write(self.params.payload_type, &self.payload, &mut self.packet)
        {
            Ok(len) => len,
            Err(e) => {
                tracing::warn!(error = ?e, "cannot build RTP packet");
                return;
            }
        };
        match self
            .socket
            .send_to(&self.packet[..len], self.params.remote)
            .await
        {
            Ok(_) => {
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::debug!(error = %e, remote = %self.params.remote, "RTP send failed"),
        }
    }

    fn on_datagram(&mut self, len: usize, from: SocketAddr) {
        let datagram = &self.datagram[..len.min(self.datagram.len())];
        let p = &self.params;
        match rtp::classify(datagram, p.payload_type, p.dtmf_payload_type) {
            Ok(Received::Audio(payload)) => {
                self.counters.received.fetch_add(1, Ordering::Relaxed);
                if !p.direction.receives() {
                    return;
                }
                self.decoded.clear();
                if g711::decode(p.codec, payload, &mut self.decoded).is_ok()
                    && !self.decoded.is_empty()
                {
                    self.port.sink(&self.decoded);
                }
            }
            // DTMF reception is a later milestone; the packet is valid, so it counts.
            Ok(Received::TelephoneEvent(_)) => {
                self.counters.received.fetch_add(1, Ordering::Relaxed);
            }
            Err(reason) => {
                self.counters.invalid.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(%from, %reason, "ignored datagram on the RTP port");
            }
        }
    }
}

/// Which 20 ms slot since the start an interval tick belongs to (rounded: ticks are exact
/// multiples, the rounding only guards against clock granularity).
fn frame_index(since_start: Duration) -> u64 {
    let frame_us = FRAME.as_micros();
    ((since_start.as_micros() + frame_us / 2) / frame_us) as u64
}
