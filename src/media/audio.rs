//! Where call audio comes from and goes to, behind one trait.
//!
//! As in baresip, the RTP session only sees an `AudioPort`; the sound card, a `--play` file,
//! the echo loop, the silent port and the Realtime bridge are interchangeable implementations.

use std::collections::VecDeque;
use std::time::Instant;

use crate::vocab::Codec;

/// Every frame the media path handles is 20 ms long.
pub const FRAME_MS: u32 = 20;

/// Echo keeps at most this many frames queued (60 ms): a burst of late packets is dropped
/// rather than turning into delay that never drains.
const ECHO_MAX_FRAMES: usize = 3;

/// One RTP packet of the remote's, as it arrives (authenticated, latched, its SSRC admitted,
/// not a copy), before the jitter buffer: in arrival order, which may not be sequence order.
#[derive(Clone, Copy, Debug)]
pub struct Arrival<'a> {
    pub codec: Codec,
    pub ssrc: u32,
    pub seq: u16,
    pub at: Instant,
    /// The codec payload; empty for a packet that takes a sequence number but carries no
    /// audio (an RFC 4733 event).
    pub payload: &'a [u8],
}

/// A source and sink of 16-bit mono PCM at the codec's clock rate.
///
/// Both calls come from the call's media task, so implementations must not block (a device
/// port hands samples to its audio thread through a lock-free ring buffer).
pub trait AudioPort: Send {
    /// Audio received from the remote side: one packet's worth, normally one 20 ms frame.
    fn sink(&mut self, remote_pcm: &[i16]);
    /// Fills `out` (exactly one 20 ms frame) with the audio to send next.
    fn source(&mut self, out: &mut [i16]);
    /// Each packet of the remote's as it arrives, for a port that would rather not wait for
    /// the jitter buffer's playout (the voice bridge). `sink` is still called at playout.
    fn arrived(&mut self, _packet: &Arrival<'_>) {}
    /// Swaps the port through which the person at the keyboard listens in, for ports that
    /// have one (a bridged call's); any other port hands `port` back unused.
    fn replace_listener(&mut self, port: Box<dyn AudioPort>) -> Option<Box<dyn AudioPort>> {
        Some(port)
    }
    /// Gives up the listen-in port, for ports that have one (leaving silence in its place).
    fn take_listener(&mut self) -> Option<Box<dyn AudioPort>> {
        None
    }
}

/// The built-in ports that need no device (`--audio echo|null`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudioMode {
    /// What we hear is sent back.
    Echo,
    /// Discard what we hear and send silence.
    Null,
}

pub fn port_for(mode: AudioMode) -> Box<dyn AudioPort> {
    match mode {
        AudioMode::Echo => Box::new(EchoPort::default()),
        AudioMode::Null => Box::new(NullPort),
    }
}

/// Discards received audio and sends silence.
#[derive(Debug, Default)]
pub struct NullPort;

impl AudioPort for NullPort {
    fn sink(&mut self, _remote_pcm: &[i16]) {}

    fn source(&mut self, out: &mut [i16]) {
        out.fill(0);
    }
}

/// Sends back what it received, through a short FIFO capped at three frames.
#[derive(Debug)]
pub struct EchoPort {
    queue: VecDeque<i16>,
    /// Learnt from `source`, whose buffer is always one frame at the codec rate.
    frame_len: usize,
}

impl Default for EchoPort {
    fn default() -> Self {
        // 8 kHz until told otherwise; the queue grows once if the codec is wider.
        let frame_len = 8000 * FRAME_MS as usize / 1000;
        Self {
            queue: VecDeque::with_capacity(frame_len * (ECHO_MAX_FRAMES + 1)),
            frame_len,
        }
    }
}

impl AudioPort for EchoPort {
    fn sink(&mut self, remote_pcm: &[i16]) {
        self.queue.extend(remote_pcm);
        let cap = self.frame_len * ECHO_MAX_FRAMES;
        if self.queue.len() > cap {
            let excess = self.queue.len() - cap;
            self.queue.drain(..excess);
        }
    }

    fn source(&mut self, out: &mut [i16]) {
        self.frame_len = out.len();
        let available = self.queue.len().min(out.len());
        // Slice copies, not a sample-by-sample drain: this runs for every frame of every call.
        let (front, back) = self.queue.as_slices();
        let from_front = front.len().min(available);
        out[..from_front].copy_from_slice(&front[..from_front]);
        out[from_front..available].copy_from_slice(&back[..available - from_front]);
        self.queue.drain(..available);
        // An underrun (late or lost packet) is filled with silence rather than waiting.
        out[available..].fill(0);
    }
}

/// Takes what we send from one port and gives what we hear to another: `--play` as the
/// microphone while the sound card (or nothing) plays the caller.
pub struct DuplexPort {
    pub source: Box<dyn AudioPort>,
    pub sink: Box<dyn AudioPort>,
}

impl AudioPort for DuplexPort {
    fn sink(&mut self, remote_pcm: &[i16]) {
        self.sink.sink(remote_pcm);
    }

    fn arrived(&mut self, packet: &Arrival<'_>) {
        self.sink.arrived(packet);
    }

    fn source(&mut self, out: &mut [i16]) {
        self.source.source(out);
    }
}

/// Sums several sources into one outgoing stream (saturating), e.g. a file and the microphone,
/// or later the voice bridge and the microphone. Every input hears the remote side.
pub struct MixPort {
    ports: Vec<Box<dyn AudioPort>>,
    scratch: Vec<i16>,
}

impl MixPort {
    pub fn new(ports: Vec<Box<dyn AudioPort>>) -> Self {
        MixPort {
            ports,
            // 20 ms at 48 kHz, the largest frame; grows once if ever needed.
            scratch: Vec::with_capacity(960),
        }
    }
}

impl AudioPort for MixPort {
    fn sink(&mut self, remote_pcm: &[i16]) {
        for port in &mut self.ports {
            port.sink(remote_pcm);
        }
    }

    fn arrived(&mut self, packet: &Arrival<'_>) {
        for port in &mut self.ports {
            port.arrived(packet);
        }
    }

    fn source(&mut self, out: &mut [i16]) {
        out.fill(0);
        for port in &mut self.ports {
            self.scratch.clear();
            self.scratch.resize(out.len(), 0);
            port.source(&mut self.scratch);
            for (o, s) in out.iter_mut().zip(&self.scratch) {
                *o = o.saturating_add(*s);
            }
        }
    }
}

/// While the voice bridge speaks for us: the caller hears the AI, and the person at the
/// keyboard hears both sides on their own port, whose microphone is drained but not sent.
pub struct ListenInPort {
    ai: Box<dyn AudioPort>,
    local: Box<dyn AudioPort>,
    /// While set, the person at the keyboard hears nothing (the caller still hears the AI).
    listen_muted: std::sync::Arc<std::sync::atomic::AtomicBool>,
    remote: Vec<i16>,
    scratch: Vec<i16>,
}

impl ListenInPort {
    pub fn new(
        ai: Box<dyn AudioPort>,
        local: Box<dyn AudioPort>,
        listen_muted: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        ListenInPort {
            ai,
            local,
            listen_muted,
            remote: Vec::with_capacity(960),
            scratch: Vec::with_capacity(960),
        }
    }
}

impl AudioPort for ListenInPort {
    fn replace_listener(&mut self, port: Box<dyn AudioPort>) -> Option<Box<dyn AudioPort>> {
        self.local = port;
        None
    }

    fn take_listener(&mut self) -> Option<Box<dyn AudioPort>> {
        Some(std::mem::replace(&mut self.local, Box::new(NullPort)))
    }

    fn sink(&mut self, remote_pcm: &[i16]) {
        self.ai.sink(remote_pcm);
        self.remote.clear();
        self.remote.extend_from_slice(remote_pcm);
    }

    /// Only the AI wants packets early; the person listening in hears the played-out audio.
    fn arrived(&mut self, packet: &Arrival<'_>) {
        self.ai.arrived(packet);
    }

    fn source(&mut self, out: &mut [i16]) {
        self.ai.source(out);
        self.scratch.clear();
        self.scratch.resize(out.len(), 0);
        for ((mix, ai), remote) in self
            .scratch
            .iter_mut()
            .zip(out.iter())
            .zip(self.remote.iter().chain(std::iter::repeat(&0)))
        {
            *mix = ai.saturating_add(*remote);
        }
        if self.listen_muted.load(std::sync::atomic::Ordering::Relaxed) {
            self.scratch.fill(0);
        }
        self.local.sink(&self.scratch);
        // The microphone keeps draining so a sound card does not back up, but is not sent.
        self.local.source(&mut self.scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    #[test]
    fn null_port_sends_silence() {
        let mut port = port_for(AudioMode::Null);
        port.sink(&[1000; 160]);
        let mut out = [7i16; 160];
        port.source(&mut out);
        assert!(out.iter().all(|&s| s == 0));
    }

    #[test]
    fn echo_returns_what_it_heard_in_order() {
        let mut port = port_for(AudioMode::Echo);
        let frame: Vec<i16> = (0..160).collect();
        port.sink(&frame);
        let mut out = [0i16; 160];
        port.source(&mut out);
        assert_eq!(out[..], frame[..]);
        // Nothing left: an underrun is silence.
        port.source(&mut out);
        assert!(out.iter().all(|&s| s == 0));
    }

    #[test]
    fn echo_fills_a_partial_frame_with_silence() {
        let mut port = EchoPort::default();
        port.sink(&[5; 100]);
        let mut out = [9i16; 160];
        port.source(&mut out);
        assert!(out[..100].iter().all(|&s| s == 5));
        assert!(out[100..].iter().all(|&s| s == 0));
    }

    #[test]
    fn echo_latency_is_capped_at_three_frames() {
        let mut port = EchoPort::default();
        for n in 0..10i16 {
            port.sink(&[n; 160]);
        }
        assert_eq!(port.queue.len(), 3 * 160);
        let mut out = [0i16; 160];
        for expected in 7..10 {
            port.source(&mut out);
            assert!(out.iter().all(|&s| s == expected), "frame {expected}");
        }
    }

    #[test]
    fn echo_cap_follows_the_codec_frame_size() {
        let mut port = EchoPort::default();
        let mut out = vec![0i16; 960];
        port.source(&mut out);
        for _ in 0..5 {
            port.sink(&[1; 960]);
        }
        assert_eq!(port.queue.len(), 3 * 960);
    }

    struct Constant(i16);

    impl AudioPort for Constant {
        fn sink(&mut self, _remote_pcm: &[i16]) {}
        fn source(&mut self, out: &mut [i16]) {
            out.fill(self.0);
        }
    }

    #[test]
    fn mix_port_sums_and_saturates() {
        let mut mix = MixPort::new(vec![Box::new(Constant(1000)), Box::new(Constant(250))]);
        let mut out = [0i16; 160];
        mix.source(&mut out);
        assert!(out.iter().all(|&s| s == 1250));
        let mut loud = MixPort::new(vec![Box::new(Constant(30000)), Box::new(Constant(30000))]);
        loud.source(&mut out);
        assert!(out.iter().all(|&s| s == i16::MAX));
    }

    #[test]
    fn duplex_port_sends_from_one_and_plays_to_the_other() {
        let mut duplex = DuplexPort {
            source: Box::new(Constant(7)),
            sink: port_for(AudioMode::Echo),
        };
        duplex.sink(&[5; 160]);
        let mut out = [0i16; 160];
        duplex.source(&mut out);
        assert!(
            out.iter().all(|&s| s == 7),
            "the source is the constant, not the echo"
        );
    }

    #[test]
    fn packets_on_arrival_reach_the_ai_but_not_the_listen_in() {
        struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl AudioPort for Count {
            fn sink(&mut self, _pcm: &[i16]) {}
            fn source(&mut self, out: &mut [i16]) {
                out.fill(0);
            }
            fn arrived(&mut self, _packet: &Arrival<'_>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let (ai, local) = (Default::default(), Default::default());
        let muted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut port = ListenInPort::new(
            Box::new(Count(std::sync::Arc::clone(&ai))),
            Box::new(Count(std::sync::Arc::clone(&local))),
            muted,
        );
        let packet = Arrival {
            codec: Codec::Pcmu,
            ssrc: 1,
            seq: 1,
            at: Instant::now(),
            payload: &[0xFF; 160],
        };
        port.arrived(&packet);
        let mut mix = MixPort::new(vec![Box::new(port), Box::new(Count(Arc::clone(&ai)))]);
        mix.arrived(&packet);
        let count = |n: &std::sync::Arc<std::sync::atomic::AtomicUsize>| n.load(Ordering::Relaxed);
        assert_eq!((count(&ai), count(&local)), (3, 0));
    }

    #[test]
    fn listen_in_sends_the_ai_and_plays_both_sides_locally() {
        struct Probe(std::sync::Arc<std::sync::Mutex<Vec<i16>>>);
        impl AudioPort for Probe {
            fn sink(&mut self, pcm: &[i16]) {
                *self.0.lock().unwrap() = pcm.to_vec();
            }
            fn source(&mut self, out: &mut [i16]) {
                out.fill(999); // a microphone that must not reach the caller
            }
        }
        let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let muted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut port = ListenInPort::new(
            Box::new(Constant(100)),
            Box::new(Probe(heard.clone())),
            muted.clone(),
        );
        port.sink(&[20; 160]);
        let mut out = [0i16; 160];
        port.source(&mut out);
        assert!(out.iter().all(|&s| s == 100), "the caller gets the AI only");
        assert!(
            heard.lock().unwrap().iter().all(|&s| s == 120),
            "locally: AI + caller"
        );
        // Muting while bridged silences the listen-in, never the AI the caller hears.
        muted.store(true, std::sync::atomic::Ordering::Relaxed);
        port.source(&mut out);
        assert!(out.iter().all(|&s| s == 100));
        assert!(heard.lock().unwrap().iter().all(|&s| s == 0));
        muted.store(false, std::sync::atomic::Ordering::Relaxed);

        // A new sound card takes over the listen-in; the AI side is untouched.
        let again = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        assert!(port
            .replace_listener(Box::new(Probe(again.clone())))
            .is_none());
        port.sink(&[20; 160]);
        port.source(&mut out);
        assert!(out.iter().all(|&s| s == 100));
        assert!(again.lock().unwrap().iter().all(|&s| s == 120));
        // Ports without a listen-in hand the new one back, and have none to give up.
        assert!(port_for(AudioMode::Echo)
            .replace_listener(port_for(AudioMode::Null))
            .is_some());
        assert!(port_for(AudioMode::Echo).take_listener().is_none());

        // The bridge ends: the listen-in is handed back whole (the call's own port again).
        let mut own = port.take_listener().expect("the listen-in");
        own.sink(&[7; 160]);
        assert!(again.lock().unwrap().iter().all(|&s| s == 7));
    }
}
