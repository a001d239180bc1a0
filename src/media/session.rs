//! The per-call media session: one tokio task per call (see `task.rs`) that paces outgoing
//! frames on an absolute 20 ms schedule, receives through a jitter buffer, and moves audio
//! through an `AudioPort`. The engine holds a `MediaHandle` to steer it (re-INVITE, DTMF) and
//! end it, and receives `MediaEvent`s (levels, quality, DTMF digits).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::audio::{AudioPort, FRAME_MS};
use super::meter::Level;
use super::sdp::Negotiated;
use super::transcode::TranscodeError;
use super::wav::{RecorderHandle, RecordingSummary};
pub use crate::vocab::MediaStats;
use crate::vocab::Quality;

mod backoff;
mod keepalive;
mod pacing;
mod source;
mod task;
#[cfg(test)]
mod tests;
mod voice;

const FRAME: Duration = Duration::from_millis(FRAME_MS as u64);

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
    #[error(transparent)]
    Codec(#[from] TranscodeError),
    #[error(transparent)]
    Srtp(#[from] crate::media::srtp::SrtpError),
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

/// Throws away whatever waits on a socket bound ahead of its call: nothing sent before our
/// SDP names the port can be the call's, and a stream still aimed at the port's previous
/// user must not be the first packet the new call latches onto. Reads the socket directly
/// (not through the reactor, which may not have seen the data yet).
pub fn discard_queued(socket: &UdpSocket) -> u64 {
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; 64];
    let mut discarded = 0;
    loop {
        // SAFETY: a non-blocking read of at most `buf.len()` bytes into `buf`, which outlives
        // the call; the descriptor is the socket's own, open while `socket` is borrowed.
        let n = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        // Nothing left (EAGAIN), or an error the call's own reads will meet and report.
        if n < 0 {
            return discarded;
        }
        discarded += 1;
    }
}

/// Binds RTP on an even port and RTCP on the odd port above it (RFC 3550 §11), both or
/// neither: a taken RTCP port moves the pair on.
pub async fn bind_rtp_pair(
    ip: IpAddr,
    ports: RangeInclusive<u16>,
) -> Result<(UdpSocket, UdpSocket), MediaError> {
    let (first, last) = (*ports.start(), *ports.end());
    let attempts = (u32::from(last) - u32::from(first)) / 2 + 1;
    for _ in 0..attempts {
        let rtp = bind_rtp(ip, ports.clone()).await?;
        let port = rtp.local_addr().map(|a| a.port()).unwrap_or(0);
        if port < last {
            if let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(ip, port + 1)).await {
                return Ok((rtp, rtcp));
            }
        }
    }
    Err(MediaError::PortsExhausted { ip, first, last })
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    /// Packets of the stream, each sequence number once.
    received: AtomicU64,
    /// Copies of packets already received (not part of the JSON contract, hence not in
    /// `MediaStats`: logged when the session ends).
    duplicates: AtomicU64,
    /// Packets from the latched address that are not part of the stream: another SSRC on
    /// probation, or a timestamp off the timeline with nowhere to go (logged at the end).
    strays: AtomicU64,
    invalid: AtomicU64,
    /// SRTP or SRTCP that failed authentication: counted in `invalid` too.
    srtp_auth_failures: AtomicU64,
    not_sent: AtomicU64,
    not_played: AtomicU64,
    foreign: AtomicU64,
    ssrc_changes: AtomicU64,
    lost: AtomicI64,
    // f64 figures stored as bits: written by the media task only, read by snapshots.
    loss_percent: AtomicU64,
    jitter_ms: AtomicU64,
    rtt_ms: AtomicU64,
    mos: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> MediaStats {
        let f = |a: &AtomicU64| f64::from_bits(a.load(Ordering::Relaxed));
        let rtt = f(&self.rtt_ms);
        MediaStats {
            packets_sent: self.sent.load(Ordering::Relaxed),
            packets_received: self.received.load(Ordering::Relaxed),
            packets_invalid: self.invalid.load(Ordering::Relaxed),
            packets_foreign: self.foreign.load(Ordering::Relaxed),
            ssrc_changes: self.ssrc_changes.load(Ordering::Relaxed),
            srtp_auth_failures: self.srtp_auth_failures.load(Ordering::Relaxed),
            frames_not_sent: self.not_sent.load(Ordering::Relaxed),
            frames_not_played: self.not_played.load(Ordering::Relaxed),
            quality: Quality {
                packets_lost: self.lost.load(Ordering::Relaxed),
                loss_percent: f(&self.loss_percent),
                jitter_ms: f(&self.jitter_ms),
                rtt_ms: (rtt > 0.0).then_some(rtt),
                mos: Some(f(&self.mos)).filter(|mos| *mos > 0.0),
            },
        }
    }

    fn store_quality(&self, q: Quality) {
        self.lost.store(q.packets_lost, Ordering::Relaxed);
        self.loss_percent
            .store(q.loss_percent.to_bits(), Ordering::Relaxed);
        self.jitter_ms
            .store(q.jitter_ms.to_bits(), Ordering::Relaxed);
        self.rtt_ms
            .store(q.rtt_ms.unwrap_or(0.0).to_bits(), Ordering::Relaxed);
        self.mos
            .store(q.mos.unwrap_or(0.0).to_bits(), Ordering::Relaxed);
    }
}

/// What a media session reports to its owner.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaEvent {
    Levels {
        remote: Level,
        local: Level,
    },
    /// Once a second: every figure, so the owner also sees whether anything arrives.
    Quality(MediaStats),
    Dtmf(char),
    /// Media now flows to/from this address (symmetric RTP).
    Latched(SocketAddr),
    Warning(String),
    /// A speech segment of one side began or ended, `at_ms` after the answer (its true
    /// boundary, on the wire; see `voice.rs`).
    Voice {
        side: crate::vocab::Side,
        speaking: bool,
        at_ms: u64,
    },
    /// The turn-taking figures changed (a reply, a barge-in, a stop, a long silence).
    TurnTaking(crate::vocab::TurnTaking),
    /// A clip sent with [`MediaHandle::play`] has gone out in full (`ms` of audio).
    Played {
        file: String,
        ms: u64,
    },
    /// A clip to play could not be loaded (reported by the engine, which loads it).
    PlayFailed {
        file: String,
        error: String,
    },
}

/// Where a session's events go, tagged so one channel can serve every call.
#[derive(Clone, Debug)]
pub struct MediaEvents {
    pub tag: u64,
    pub tx: mpsc::UnboundedSender<(u64, MediaEvent)>,
}

impl MediaEvents {
    fn send(&self, event: MediaEvent) {
        let _ = self.tx.send((self.tag, event));
    }
}

/// Everything optional about a session.
#[derive(Default)]
pub struct MediaOptions {
    pub rtcp: Option<UdpSocket>,
    pub events: Option<MediaEvents>,
    pub recorder: Option<RecorderHandle>,
    pub levels: LevelRate,
}

/// How often sessions publish their levels, shared by all of them and changed while they run:
/// every `n` frames, or never (0). Meters on a screen want about 17 a second; a thousand calls
/// do not need 17 000, and a front-end that shows no meters needs none.
#[derive(Clone, Debug)]
pub struct LevelRate(Arc<std::sync::atomic::AtomicU32>);

/// Every third frame: about 17 a second, what a meter's animation needs.
pub const LEVELS_EVERY_FRAMES: u32 = 3;
/// Level events a second across all calls, beyond which each call's rate is thinned.
const LEVELS_PER_SECOND: u32 = 1_000;

impl Default for LevelRate {
    fn default() -> Self {
        LevelRate::every(LEVELS_EVERY_FRAMES)
    }
}

impl LevelRate {
    pub fn every(frames: u32) -> LevelRate {
        LevelRate(Arc::new(std::sync::atomic::AtomicU32::new(frames)))
    }

    pub fn off() -> LevelRate {
        LevelRate::every(0)
    }

    /// Every `LEVELS_EVERY_FRAMES`, thinned so that `calls` sessions publish at most
    /// `LEVELS_PER_SECOND` in all (a thousand calls: one a second each). Off stays off.
    pub fn set_for_calls(&self, calls: usize) {
        if self.frames() == 0 {
            return;
        }
        let frames_per_second = 1000 / FRAME_MS;
        let calls = u32::try_from(calls).unwrap_or(u32::MAX);
        let thinned = calls
            .saturating_mul(frames_per_second)
            .div_ceil(LEVELS_PER_SECOND);
        self.0
            .store(thinned.max(LEVELS_EVERY_FRAMES), Ordering::Relaxed);
    }

    /// Frames between two level events; 0 for none.
    pub fn frames(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Everything the engine tells a running session, on one channel: the task then waits on
/// one queue besides its sockets and clock (a watch and a cancellation token beside it cost
/// two more polls on each of its 100 wake-ups a second).
enum Control {
    /// New parameters after a re-INVITE.
    Update(Box<Negotiated>),
    /// End the task (sent by `stop`, or when the handle is dropped).
    Stop,
    SendDtmf(String),
    Mute(bool),
    /// Replace where the call's audio comes from and goes to (bridge on/off).
    SetPort(Box<dyn AudioPort>),
    /// Replace only the listen-in of a bridged call (its sound card came back).
    SetListener(Box<dyn AudioPort>),
    /// The bridge starts: `ai` speaks to the caller, and the call's own port becomes the
    /// listen-in (so a sound card stays with the call rather than being attached twice).
    Bridge {
        ai: Box<dyn AudioPort>,
        listen_muted: std::sync::Arc<std::sync::atomic::AtomicBool>,
    },
    /// The bridge ends: the listen-in becomes the call's port again.
    Unbridge,
    /// The call (which had early media) was answered: turn-taking counts from here.
    Answered,
    /// Send these samples (at the codec rate) once, in place of the port's source.
    Play {
        file: String,
        samples: Vec<i16>,
    },
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Control::Update(p) => write!(f, "Update({} {})", p.codec, p.remote),
            Control::Stop => write!(f, "Stop"),
            Control::SendDtmf(d) => write!(f, "SendDtmf({d:?})"),
            Control::Mute(m) => write!(f, "Mute({m})"),
            Control::SetPort(_) => write!(f, "SetPort(..)"),
            Control::SetListener(_) => write!(f, "SetListener(..)"),
            Control::Bridge { .. } => write!(f, "Bridge(..)"),
            Control::Unbridge => write!(f, "Unbridge"),
            Control::Answered => write!(f, "Answered"),
            Control::Play { file, samples } => write!(f, "Play({file:?}, {})", samples.len()),
        }
    }
}

/// The final figures of a session, and its recording when there was one.
#[derive(Debug)]
pub struct MediaReport {
    pub stats: MediaStats,
    pub recording: Option<Result<RecordingSummary, String>>,
    /// Turn-taking over the whole session (`None` only when the task did not end normally).
    pub turn_taking: Option<Box<crate::vocab::TurnTaking>>,
}

/// What the media task hands back when it ends.
#[derive(Debug, Default)]
struct Finished {
    recorder: Option<RecorderHandle>,
    turn_taking: Option<Box<crate::vocab::TurnTaking>>,
}

/// The engine's grip on a call's media task. Dropping it also ends the task.
#[derive(Debug)]
pub struct MediaHandle {
    local_addr: SocketAddr,
    control: mpsc::UnboundedSender<Control>,
    counters: Arc<Counters>,
    task: JoinHandle<Finished>,
    stop_on_drop: StopOnDrop,
}

/// Ends the task when the handle goes, however it goes.
#[derive(Debug)]
struct StopOnDrop(mpsc::UnboundedSender<Control>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(Control::Stop);
    }
}

/// Spawns the media task for one call on the current tokio runtime, without RTCP, events or
/// recording (tests, simple uses). Fails like [`start_with`].
pub fn start(
    socket: UdpSocket,
    params: Negotiated,
    port: Box<dyn AudioPort>,
) -> Result<MediaHandle, MediaError> {
    start_with(socket, params, port, MediaOptions::default())
}

/// Spawns the media task for one call on the current tokio runtime. Fails when the codec
/// cannot be set up (an Opus encoder or decoder the library refuses).
pub fn start_with(
    socket: UdpSocket,
    params: Negotiated,
    port: Box<dyn AudioPort>,
    options: MediaOptions,
) -> Result<MediaHandle, MediaError> {
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
    let counters = Arc::new(Counters::default());
    let task = task::MediaTask::new(socket, params, port, options, Arc::clone(&counters))?;
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(task.run(control_rx));
    Ok(MediaHandle {
        local_addr,
        stop_on_drop: StopOnDrop(control_tx.clone()),
        control: control_tx,
        counters,
        task,
    })
}

impl MediaHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// New parameters after a re-INVITE. Takes effect at the next packet or frame; the stream
    /// keeps its SSRC and sequence, and the timestamp keeps following the clock.
    pub fn update(&self, params: Negotiated) {
        let _ = self.control.send(Control::Update(Box::new(params)));
    }

    /// Queues RFC 4733 digits; they replace audio packets while they play.
    pub fn send_dtmf(&self, digits: &str) {
        let _ = self.control.send(Control::SendDtmf(digits.to_string()));
    }

    /// Switches the call's audio to another port from the next frame on; the old one is
    /// dropped in the media task (a sound card it held is released).
    pub fn set_port(&self, port: Box<dyn AudioPort>) {
        let _ = self.control.send(Control::SetPort(port));
    }

    /// Puts `ai` in charge of what the caller hears; the call's own port becomes the listen-in
    /// (muted while `listen_muted` is set).
    pub fn bridge(
        &self,
        ai: Box<dyn AudioPort>,
        listen_muted: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) {
        let _ = self.control.send(Control::Bridge { ai, listen_muted });
    }

    /// Undoes [`MediaHandle::bridge`]: the listen-in is the call's port again.
    pub fn unbridge(&self) {
        let _ = self.control.send(Control::Unbridge);
    }

    /// Gives a bridged call's listen-in a new port; a call that is not bridged drops it.
    pub fn set_listener(&self, port: Box<dyn AudioPort>) {
        let _ = self.control.send(Control::SetListener(port));
    }

    /// The call, which had early media, is answered now: the greeting delay and the silences
    /// count from here rather than from the media's start.
    pub fn mark_answered(&self) {
        let _ = self.control.send(Control::Answered);
    }

    /// Sends `samples` (20 ms frames at the codec's rate) once, in place of the port's own
    /// audio; [`MediaEvent::Played`] follows, naming `file`, when all has gone out.
    pub fn play(&self, file: String, samples: Vec<i16>) {
        let _ = self.control.send(Control::Play { file, samples });
    }

    /// A sender for [`MediaHandle::play`] that a loading task can keep.
    pub fn player(&self) -> Player {
        Player(self.control.clone())
    }

    /// Mutes what we send (silence instead of the microphone); the remote is still heard.
    pub fn set_muted(&self, muted: bool) {
        let _ = self.control.send(Control::Mute(muted));
    }

    pub fn stats(&self) -> MediaStats {
        self.counters.snapshot()
    }

    /// Ends the task (closing the sockets), finalizes the recording, returns the figures.
    pub async fn stop(self) -> MediaReport {
        let MediaHandle {
            counters,
            task,
            stop_on_drop,
            ..
        } = self;
        drop(stop_on_drop);
        let Finished {
            recorder,
            turn_taking,
        } = match task.await {
            Ok(finished) => finished,
            Err(e) => {
                tracing::warn!(error = %e, "media task ended abnormally");
                Finished::default()
            }
        };
        // Finishing flushes a file: keep it off the runtime's worker threads.
        let recording = match recorder {
            Some(r) => tokio::task::spawn_blocking(move || r.finish().map_err(|e| e.to_string()))
                .await
                .ok(),
            None => None,
        };
        MediaReport {
            stats: counters.snapshot(),
            recording,
            turn_taking,
        }
    }
}

/// Plays clips into a running session (see [`MediaHandle::player`]).
#[derive(Clone, Debug)]
pub struct Player(mpsc::UnboundedSender<Control>);

impl Player {
    pub fn play(&self, file: String, samples: Vec<i16>) {
        let _ = self.0.send(Control::Play { file, samples });
    }
}
