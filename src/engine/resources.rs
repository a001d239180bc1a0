//! What the executor holds for each call: its RTP sockets until media starts, the media
//! session, the bridge, and the listen-in mute the media task reads while bridged; and one
//! spare RTP/RTCP pair, bound after a call's answer went out, for the next call to take.

use crate::bridge::{BridgeHandle, BridgeStats};
use crate::media::session::MediaHandle;
use crate::vocab::{CallId, Level};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tokio::net::UdpSocket;

#[derive(Default)]
pub struct Handles {
    /// RTP and RTCP, bound at answer, until media starts (at once, or at the ACK for a late
    /// offer).
    pub sockets: Option<(UdpSocket, UdpSocket)>,
    pub media: Option<MediaHandle>,
    pub bridge: Option<BridgeHandle>,
    /// While bridged, the media task mutes what the person at the keyboard hears.
    pub listen_muted: Arc<AtomicBool>,
}

#[derive(Default)]
pub struct Resources {
    calls: HashMap<CallId, Handles>,
    /// Binding a pair costs a handful of syscalls (two sockets, their binds, their reactor
    /// registrations): made ahead, off the INVITE -> 200 path. None until the first call, so
    /// an idle process that never had a call holds no RTP port.
    spare_rtp: Option<(UdpSocket, UdpSocket)>,
}

impl Resources {
    pub fn entry(&mut self, call: CallId) -> &mut Handles {
        self.calls.entry(call).or_default()
    }

    /// The spare RTP/RTCP pair, if one is ready.
    pub fn take_spare_rtp(&mut self) -> Option<(UdpSocket, UdpSocket)> {
        self.spare_rtp.take()
    }

    pub fn has_spare_rtp(&self) -> bool {
        self.spare_rtp.is_some()
    }

    pub fn put_spare_rtp(&mut self, pair: (UdpSocket, UdpSocket)) {
        self.spare_rtp = Some(pair);
    }

    /// Calls holding anything: from the answer to the teardown.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn get(&self, call: CallId) -> Option<&Handles> {
        self.calls.get(&call)
    }

    /// Everything of a call that ends, for its teardown task.
    pub fn take(&mut self, call: CallId) -> Handles {
        self.calls.remove(&call).unwrap_or_default()
    }

    pub fn media(&self, call: CallId) -> Option<&MediaHandle> {
        self.get(call).and_then(|h| h.media.as_ref())
    }

    /// The AI's level since the last reading, while bridged.
    pub fn ai_level(&self, call: CallId) -> Option<Level> {
        let bridge = self.get(call)?.bridge.as_ref()?;
        Some(bridge.take_ai_level())
    }

    /// Whether the call's bridge has model audio left to play (`None`: no bridge).
    pub fn bridge_idle_probe(&self, call: CallId) -> Option<crate::bridge::IdleProbe> {
        self.get(call)?
            .bridge
            .as_ref()
            .map(BridgeHandle::idle_probe)
    }

    pub fn bridge_stats(&self, call: CallId) -> Option<BridgeStats> {
        Some(self.get(call)?.bridge.as_ref()?.stats())
    }
}
