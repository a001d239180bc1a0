//! A lossy UDP relay for RTP, in-process: one socket at `listen`; datagrams from anyone but
//! `forward_to` are impaired (loss, reordering) and forwarded to `forward_to` from that same
//! socket; datagrams from `forward_to` go back, unimpaired, to the last peer seen.
//!
//! Put in front of sipterm: sipterm binds 127.0.0.1 with `--rtp-ports P-(P+1)` and
//! `--media-address 127.0.0.2`, so its SDP says 127.0.0.2:P; [`RtpRelay::in_front_of`]`(P, ..)`
//! listens on 127.0.0.2:P and forwards to 127.0.0.1:P. sipterm sees the relay as the source
//! (symmetric RTP) and its own packets come back through it. Linux routes all of 127/8 to
//! `lo`, so 127.0.0.2 needs no setup.
//!
//! The impairment is decided per received datagram by a PRNG seeded from `seed` (two draws
//! per datagram, so the loss pattern depends only on the seed and the packet's index), and
//! the counters are exact, to compare with what the receiver reports.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The address sipterm advertises (`--media-address`) when a relay sits in front of it.
pub const RELAY_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A held-back datagram with no successor within this time is sent anyway (then it counts
/// as forwarded, not reordered): the stream has paused or ended.
pub const HOLD_LIMIT: Duration = Duration::from_millis(60);

const POLL: Duration = Duration::from_millis(5);

/// What the relay does to the datagrams it forwards to `forward_to`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Probability (0..1) that a datagram is dropped.
    pub loss: f64,
    /// Probability (0..1) that a datagram (not dropped) is held back and sent right after the
    /// next forwarded one. A datagram that releases a held one is never held itself.
    pub reorder: f64,
    /// Seed of the PRNG: the same seed and traffic give the same drops.
    pub seed: u64,
}

impl Impairment {
    /// Forwards everything in order (e.g. for the RTCP port next to an impaired RTP port).
    pub const NONE: Impairment = Impairment {
        loss: 0.0,
        reorder: 0.0,
        seed: 0,
    };

    /// Loss only.
    pub fn loss(loss: f64, seed: u64) -> Impairment {
        Impairment {
            loss,
            reorder: 0.0,
            seed,
        }
    }
}

/// Exact counters, read together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayCounts {
    /// Datagrams received from peers (the impaired direction).
    pub received: u64,
    /// Of those, sent on to `forward_to` (reordered ones included).
    pub forwarded: u64,
    /// Of those, dropped.
    pub dropped: u64,
    /// Of the forwarded, sent after a datagram that arrived later.
    pub reordered: u64,
    /// Datagrams from `forward_to` sent back to the last peer.
    pub returned: u64,
    /// Datagrams from `forward_to` that came before any peer had sent anything: nowhere to
    /// send them, so they were discarded.
    pub unroutable: u64,
    /// RTP sequence numbers of the dropped datagrams that parsed as RTP, in order.
    pub dropped_seqs: Vec<u16>,
    /// RTP sequence numbers of the reordered datagrams.
    pub reordered_seqs: Vec<u16>,
    /// Dropped RTP packets whose sequence number lies between the lowest and the highest
    /// forwarded: the losses a receiver counting RFC 3550 loss (expected - received, from
    /// the first to the highest sequence number it got) can see. Equals `dropped` unless
    /// the stream's first or last packets were dropped (or non-RTP datagrams were).
    pub detectable_losses: u64,
}

#[derive(Debug, Default)]
struct Shared {
    counts: RelayCounts,
    peer: Option<SocketAddr>,
    /// Extended (unwrapped) sequence numbers of the dropped RTP packets.
    dropped_ext: Vec<i64>,
    /// Lowest and highest extended sequence number forwarded.
    forwarded_range: Option<(i64, i64)>,
}

impl Shared {
    fn snapshot(&self) -> RelayCounts {
        let mut counts = self.counts.clone();
        counts.detectable_losses = match self.forwarded_range {
            Some((low, high)) => self
                .dropped_ext
                .iter()
                .filter(|&&e| low < e && e < high)
                .count() as u64,
            None => 0,
        };
        counts
    }
}

/// A running relay; its thread stops (and the socket closes) on drop.
#[derive(Debug)]
pub struct RtpRelay {
    listen: SocketAddr,
    forward_to: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RtpRelay {
    /// Binds `listen` (panics, naming it, if it cannot) and starts relaying.
    pub fn start(listen: SocketAddr, forward_to: SocketAddr, impairment: Impairment) -> RtpRelay {
        assert!(
            (0.0..=1.0).contains(&impairment.loss) && (0.0..=1.0).contains(&impairment.reorder),
            "impairment probabilities must lie in 0..=1: {impairment:?}"
        );
        let socket = UdpSocket::bind(listen)
            .unwrap_or_else(|e| panic!("the RTP relay cannot bind {listen}: {e}"));
        let listen = socket.local_addr().expect("relay socket address");
        socket
            .set_read_timeout(Some(POLL))
            .expect("set the relay socket's read timeout");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            socket,
            forward_to,
            impairment,
            rng: SplitMix64(impairment.seed),
            held: None,
            last_seq: None,
            shared: Arc::clone(&shared),
        };
        let stop_flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name(format!("rtp-relay-{listen}"))
            .spawn(move || worker.run(&stop_flag))
            .expect("spawn the relay thread");
        RtpRelay {
            listen,
            forward_to,
            shared,
            stop,
            thread: Some(thread),
        }
    }

    /// A relay on [`RELAY_IP`]`:port` forwarding to 127.0.0.1:`port`: in front of a sipterm
    /// whose RTP port is `port` and whose `--media-address` is 127.0.0.2.
    pub fn in_front_of(port: u16, impairment: Impairment) -> RtpRelay {
        RtpRelay::start(
            SocketAddr::from((RELAY_IP, port)),
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            impairment,
        )
    }

    /// [`in_front_of`](Self::in_front_of) for RTP on `port` plus an unimpaired relay for
    /// RTCP on `port + 1` (peers send RTCP to the advertised address too).
    pub fn in_front_of_with_rtcp(port: u16, impairment: Impairment) -> (RtpRelay, RtpRelay) {
        (
            RtpRelay::in_front_of(port, impairment),
            RtpRelay::in_front_of(port + 1, Impairment::NONE),
        )
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    pub fn forward_to(&self) -> SocketAddr {
        self.forward_to
    }

    /// All counters at one instant.
    pub fn counts(&self) -> RelayCounts {
        self.lock().snapshot()
    }

    pub fn received(&self) -> u64 {
        self.lock().counts.received
    }

    pub fn forwarded(&self) -> u64 {
        self.lock().counts.forwarded
    }

    pub fn dropped(&self) -> u64 {
        self.lock().counts.dropped
    }

    pub fn reordered(&self) -> u64 {
        self.lock().counts.reordered
    }

    pub fn returned(&self) -> u64 {
        self.lock().counts.returned
    }

    /// The last peer seen (where datagrams from `forward_to` go).
    pub fn peer(&self) -> Option<SocketAddr> {
        self.lock().peer
    }

    /// Waits until nothing has arrived for `quiet` (and no datagram is held back), at most
    /// `timeout`; the counters are final for a stream that has ended. False on timeout.
    pub fn wait_quiet(&self, quiet: Duration, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut last = self.counts();
        let mut since = Instant::now();
        loop {
            thread::sleep(POLL);
            let now = self.counts();
            let holding = now.received != now.forwarded + now.dropped;
            if now != last || holding {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for RtpRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    socket: UdpSocket,
    forward_to: SocketAddr,
    impairment: Impairment,
    rng: SplitMix64,
    /// A datagram held back, its extended sequence number (if RTP) and since when.
    held: Option<(Vec<u8>, Option<i64>, Instant)>,
    /// Last RTP sequence number received and its extended value.
    last_seq: Option<(u16, i64)>,
    shared: Arc<Mutex<Shared>>,
}

impl Worker {
    fn run(mut self, stop: &AtomicBool) {
        let mut buf = vec![0u8; 65536];
        while !stop.load(Ordering::Relaxed) {
            // Errors are timeouts (WouldBlock/TimedOut) or ICMP-caused (ConnectionRefused when
            // the far end is not listening yet): nothing to read, either way.
            if let Ok((len, from)) = self.socket.recv_from(&mut buf) {
                let datagram = buf[..len].to_vec();
                if from == self.forward_to {
                    self.send_back(&datagram);
                } else {
                    self.impair(datagram, from);
                }
            }
            self.flush_stale();
        }
        // Whatever is still held is lost with the relay; it was never counted as forwarded.
    }

    fn send_back(&mut self, datagram: &[u8]) {
        let shared = Arc::clone(&self.shared);
        let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
        match shared.peer {
            Some(peer) => {
                if self.socket.send_to(datagram, peer).is_ok() {
                    shared.counts.returned += 1;
                }
            }
            None => shared.counts.unroutable += 1,
        }
    }

    /// The extended sequence number of an RTP datagram, unwrapped against the last one.
    fn extend(&mut self, datagram: &[u8]) -> Option<i64> {
        let seq = rtp_seq(datagram)?;
        let ext = match self.last_seq {
            Some((last, last_ext)) => last_ext + i64::from(seq.wrapping_sub(last) as i16),
            None => i64::from(seq),
        };
        self.last_seq = Some((seq, ext));
        Some(ext)
    }

    fn impair(&mut self, datagram: Vec<u8>, from: SocketAddr) {
        // Two draws per datagram whatever happens, so the loss decision for packet n depends
        // only on the seed and n.
        let lose = self.rng.next_f64() < self.impairment.loss;
        let hold = self.rng.next_f64() < self.impairment.reorder;
        let ext = self.extend(&datagram);
        let shared = Arc::clone(&self.shared);
        let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
        shared.peer = Some(from);
        shared.counts.received += 1;
        if lose {
            shared.counts.dropped += 1;
            if let Some(seq) = rtp_seq(&datagram) {
                shared.counts.dropped_seqs.push(seq);
            }
            shared.dropped_ext.extend(ext);
            return;
        }
        if let Some((held, held_ext, _)) = self.held.take() {
            self.forward(&datagram, ext, &mut shared);
            self.forward(&held, held_ext, &mut shared);
            shared.counts.reordered += 1;
            if let Some(seq) = rtp_seq(&held) {
                shared.counts.reordered_seqs.push(seq);
            }
        } else if hold {
            self.held = Some((datagram, ext, Instant::now()));
        } else {
            self.forward(&datagram, ext, &mut shared);
        }
    }

    fn flush_stale(&mut self) {
        if self
            .held
            .as_ref()
            .is_some_and(|(_, _, since)| since.elapsed() >= HOLD_LIMIT)
        {
            let (held, ext, _) = self.held.take().expect("checked above");
            let shared = Arc::clone(&self.shared);
            let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
            self.forward(&held, ext, &mut shared);
        }
    }

    fn forward(&self, datagram: &[u8], ext: Option<i64>, shared: &mut Shared) {
        // A failed send (nothing listening yet) still left the relay: count it, as a
        // receiver-side capture on `forward_to` would see it anyway.
        let _ = self.socket.send_to(datagram, self.forward_to);
        shared.counts.forwarded += 1;
        if let Some(ext) = ext {
            shared.forwarded_range = Some(match shared.forwarded_range {
                Some((low, high)) => (low.min(ext), high.max(ext)),
                None => (ext, ext),
            });
        }
    }
}

/// The sequence number of an RTP (version 2, not RTCP) datagram.
fn rtp_seq(datagram: &[u8]) -> Option<u16> {
    let rtcp = (200..=204).contains(&datagram.get(1).copied().unwrap_or(0));
    (datagram.len() >= 12 && datagram[0] >> 6 == 2 && !rtcp)
        .then(|| u16::from_be_bytes([datagram[2], datagram[3]]))
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, seedable, good enough for test impairments.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
