//! The engine's call logic as a pure state machine: `CallTable::on(input, now)` takes one
//! input (a SIP event, a front-end command, a media or bridge event, a timer, or the result of
//! an effect carried out earlier) and returns the effects to carry out, in order. It does no
//! I/O, spawns nothing and reads no clock, so every state and transition is unit-tested in
//! milliseconds (`tests/`); the executor in `engine/mod.rs` performs the effects and feeds
//! their results back.
//!
//! One rule keeps the two sides honest: an effect that can fail (binding RTP, sending the 200,
//! starting media or the bridge, a BYE) answers with an input of its own, and the table moves
//! on only when that input arrives.

mod bridge;
mod call;
mod caller;
mod dialog;
mod hold;
mod invite;
mod media;
mod outgoing;
#[cfg(test)]
mod tests;
mod transfer;

pub use call::Call;
pub use caller::{outcome_word, CallerPolicy, GOODBYE_LIMIT};
pub use outgoing::explain;

use crate::bridge::{BridgeEvent, BridgeStats};
use crate::media::sdp::Negotiated;
use crate::media::session::{MediaEvent, MediaReport};
use crate::media::srtp::SrtpMode;
use crate::sip::ua::{DialogKey, Termination};
use crate::vocab::{CallId, CallState, Codec, Command, EndReason, Event, Level, LogKind, LogLevel};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// The call policies the table applies, resolved once from the configuration.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Codecs we offer and accept, in preference order.
    pub codecs: Vec<Codec>,
    /// The address written in our SDP (`--media-address`, else the bind address).
    pub sdp_address: IpAddr,
    pub auto_answer: bool,
    /// With auto-answer: how long a call rings first.
    pub answer_after: Duration,
    /// Reject every call with this status instead of answering.
    pub auto_reject: Option<u16>,
    pub send_dtmf: Option<String>,
    /// `--dtmf-delay`: how long after the answer the digits start.
    pub dtmf_delay: Duration,
    /// `--rtp-timeout`: hang up an active call that receives nothing for this long.
    pub rtp_timeout: Option<Duration>,
    /// `--bridge`: every call with media is bridged.
    pub auto_bridge: bool,
    /// `--hold-after` and `--hold-for`: hold every answered call once, this long after the
    /// answer, for this long.
    pub hold_once: Option<(Duration, Duration)>,
    /// `--transfer-to` and `--transfer-after`: REFER every answered call to this target.
    pub transfer_to: Option<(String, Duration)>,
    /// `--on-refer`: what the other side's REFER gets.
    pub on_refer: crate::config::OnRefer,
    /// The model and voice, for the log line when a bridge starts.
    pub bridge_model: String,
    pub bridge_voice: String,
    /// `--srtp`: whether calls are encrypted (checked against the transport at start-up).
    pub srtp: SrtpMode,
    /// The account's `host[:port]`, which completes a dialled number (`None`: no account).
    pub domain: Option<String>,
    /// Our From URI on calls we place.
    pub from: String,
    /// `--ring-timeout`: CANCEL a call we placed that is not answered within this.
    pub ring_timeout: Option<Duration>,
    /// The AI caller (`--persona`/`--goal` with `--bridge`): the model places our calls.
    pub caller: Option<CallerPolicy>,
}

/// The time an input happens at: monotonic for durations, wall-clock for transcript stamps.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub at: Instant,
    pub wall: SystemTime,
}

impl Now {
    pub fn system() -> Now {
        Now {
            at: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

/// Identifies an in-dialog request (re-INVITE, UPDATE) whose answer the executor holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

/// Work the table asked to be reminded of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// `--answer-after` has passed for a ringing call.
    Answer(CallId),
    /// `--send-dtmf` is due on a connected call.
    Dtmf(CallId),
    /// `--ring-timeout` has passed for a call we placed.
    RingTimeout(CallId),
    /// `--hold-after`: put the call on hold now; `--hold-for` later: resume it.
    Hold(CallId),
    Resume(CallId),
    /// `--transfer-to`: REFER the call now.
    Transfer(CallId),
    /// `--max-duration` of the AI caller has passed since the answer.
    MaxDuration(CallId),
}

/// A new INVITE, as the SIP layer saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    pub key: DialogKey,
    /// The Call-ID header (ties SIP trace lines to the call).
    pub sip_call_id: String,
    pub from: String,
    pub display_name: Option<String>,
    pub to: String,
    /// The SDP offer, when the INVITE had one (`None`: late offer).
    pub offer: Option<String>,
}

/// Where a call's media runs, once started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaRunning {
    pub local_rtp: SocketAddr,
    /// The transcript file beside the call's recording, when recording.
    pub transcript: Option<PathBuf>,
}

/// Everything the table reacts to.
#[derive(Debug)]
pub enum Input {
    Command(Command),
    Invite(Invite),
    /// Our 200 was acknowledged; the ACK's SDP answers a late offer.
    Confirmed {
        key: DialogKey,
        ack_sdp: Option<String>,
    },
    /// A re-INVITE or UPDATE, answered with `Effect::Respond`.
    Reoffer {
        key: DialogKey,
        offer: Option<String>,
        /// An UPDATE: without SDP it only refreshes the session (RFC 3311 §5.2).
        update: bool,
        request: RequestId,
    },
    /// A DTMF digit in a SIP INFO.
    SipDtmf {
        key: DialogKey,
        digit: char,
    },
    /// A provisional answer to a call we placed.
    Progress {
        key: DialogKey,
        progress: crate::sip::ua::Progress,
    },
    /// A call we placed was answered; the 2xx's SDP.
    Answered {
        key: DialogKey,
        sdp: Option<String>,
    },
    /// A call we placed got a final refusal, or no answer at all.
    NotAnswered {
        key: DialogKey,
        refusal: crate::sip::ua::Refusal,
    },
    /// The other side asks us to call `target` (REFER), answered with `Effect::Respond`.
    Refer {
        key: DialogKey,
        target: String,
        request: RequestId,
    },
    /// A NOTIFY about our REFER: the new call's status.
    TransferNotify {
        key: DialogKey,
        status: u16,
        phrase: String,
        done: bool,
    },
    /// `Effect::AcceptRefer` done: the 202 and the first NOTIFY are out.
    ReferAccepted {
        call: CallId,
    },
    /// The final NOTIFY of their transfer was answered, or failed.
    NotifyDone {
        call: CallId,
    },
    /// `Effect::Refer` done: the REFER's final status, or why none came.
    ReferDone {
        call: CallId,
        result: Result<u16, String>,
    },
    /// `Effect::Reinvite` done: the answer's status and SDP, or why none came.
    ReinviteDone {
        call: CallId,
        result: Result<(u16, Option<String>), String>,
    },
    /// `Effect::Invite` done: sent with this Call-ID, or not sent.
    InviteSent {
        call: CallId,
        result: Result<String, String>,
    },
    /// The SIP layer ended the dialog.
    Terminated {
        key: DialogKey,
        why: Termination,
    },
    /// `Effect::BindRtp` done: the RTP port, and a fresh SDP session id; `public` is where a
    /// STUN server sees that port (`--stun`), which our SDP then names.
    RtpBound {
        call: CallId,
        result: Result<(u16, u64), String>,
        public: Option<SocketAddr>,
    },
    /// `Effect::Accept` done.
    Accepted {
        call: CallId,
        result: Result<(), String>,
    },
    /// `Effect::StartMedia` done.
    MediaStarted {
        call: CallId,
        result: Result<MediaRunning, String>,
    },
    /// `Effect::StartBridge` done.
    BridgeStarted {
        call: CallId,
        result: Result<(), String>,
    },
    /// `Effect::StopBridge` done: the bridge's final figures.
    BridgeStopped {
        call: CallId,
        stats: BridgeStats,
    },
    /// `Effect::HangupWhenPlayed` done: the model's audio has played, or the limit passed.
    PlayedOut {
        call: CallId,
    },
    /// `Effect::Bye` done.
    ByeDone {
        call: CallId,
        result: Result<(), String>,
    },
    /// `Effect::Teardown` done: the bridge's and the media's final figures.
    Finished {
        call: CallId,
        bridge: Option<BridgeStats>,
        media: Option<MediaReport>,
    },
    /// A call's media reports; `ai` is the bridge's level, read alongside `Levels`.
    Media {
        call: CallId,
        event: MediaEvent,
        ai: Option<Level>,
    },
    /// A call's bridge reports; `stats` are its figures as they stand.
    Bridge {
        call: CallId,
        event: BridgeEvent,
        stats: BridgeStats,
    },
    Timer(Timer),
    /// The engine is stopping: hang up or refuse every call.
    Shutdown,
    /// The grace for BYE answers has passed: end whatever is left.
    Abandon,
}

/// Everything the table asks the executor to do, in order.
#[derive(Debug, PartialEq)]
pub enum Effect {
    Emit(Event),
    /// Ties SIP trace lines of this Call-ID to the call.
    BindTrace {
        sip_call_id: String,
        call: CallId,
    },
    Ring(DialogKey),
    Reject {
        key: DialogKey,
        status: u16,
    },
    /// A rejection that says why on the wire (an RFC 3326 Reason header), for refusals the
    /// caller can act on (SRTP: which crypto we need or refuse).
    RejectBecause {
        key: DialogKey,
        status: u16,
        why: String,
    },
    /// Bind an RTP/RTCP pair for the call; answers `RtpBound`.
    BindRtp(CallId),
    /// Send 200 OK with our SDP; answers `Accepted`.
    Accept {
        call: CallId,
        key: DialogKey,
        sdp: String,
    },
    Respond {
        request: RequestId,
        status: u16,
        sdp: Option<String>,
    },
    /// Send the INVITE of a call we place, with our offer; answers `InviteSent`.
    Invite {
        call: CallId,
        key: DialogKey,
        target: String,
        sdp: String,
    },
    /// A re-INVITE with our new offer (hold, resume); answers `ReinviteDone`.
    Reinvite {
        call: CallId,
        key: DialogKey,
        sdp: String,
    },
    /// REFER the other side to `target`; answers `ReferDone`.
    Refer {
        call: CallId,
        key: DialogKey,
        target: String,
    },
    /// Answer their REFER 202, then NOTIFY `100 Trying` (in that order, RFC 3515 §2.4.4);
    /// answers `ReferAccepted`.
    AcceptRefer {
        call: CallId,
        request: RequestId,
        key: DialogKey,
    },
    /// NOTIFY the other side how the transfer it asked for goes; with `done`, answers
    /// `NotifyDone` once the NOTIFY is answered.
    NotifyTransfer {
        call: CallId,
        key: DialogKey,
        status: u16,
        phrase: String,
        done: bool,
    },
    /// CANCEL a call we placed that has no final answer; the 487 ends it.
    Cancel {
        call: CallId,
        key: DialogKey,
    },
    /// Send BYE; answers `ByeDone`.
    Bye {
        call: CallId,
        key: DialogKey,
    },
    /// Start the call's RTP session on the bound sockets; answers `MediaStarted`.
    StartMedia {
        call: CallId,
        negotiated: Negotiated,
        /// The remote's URI, which names the recording.
        remote_uri: String,
    },
    UpdateMedia {
        call: CallId,
        negotiated: Negotiated,
    },
    MuteMicrophone {
        call: CallId,
        muted: bool,
    },
    MuteListenIn {
        call: CallId,
        muted: bool,
    },
    SendDtmf {
        call: CallId,
        digits: String,
    },
    /// Load `file` (off the runtime threads), resample it to `rate` and send it once on the
    /// call; its media reports `Played`, or `PlayFailed` when the file cannot be used.
    Play {
        call: CallId,
        file: PathBuf,
        rate: u32,
    },
    /// A call with early media was answered: its turn-taking counts from now.
    MediaAnswered(CallId),
    /// Connect the call to the Realtime API; answers `BridgeStarted`.
    StartBridge {
        call: CallId,
        codec: Codec,
        listen_muted: bool,
    },
    /// Wait (at most `within`) until the bridge's queued model audio has played; answers
    /// `PlayedOut`.
    HangupWhenPlayed {
        call: CallId,
        within: Duration,
    },
    /// End the call's bridge, keeping the call; answers `BridgeStopped`.
    StopBridge(CallId),
    /// Stop the call's bridge and media and release its sockets; answers `Finished`.
    Teardown(CallId),
    Arm {
        timer: Timer,
        after: Duration,
    },
    /// Append finished transcript lines to a call's transcript file.
    AppendTranscript {
        path: PathBuf,
        text: String,
    },
}

/// Every call the engine knows, by id and by SIP dialog.
#[derive(Debug)]
pub struct CallTable {
    policy: Policy,
    /// When the input being handled happened (set by `on`).
    now: Option<Instant>,
    calls: BTreeMap<CallId, Call>,
    by_key: HashMap<DialogKey, CallId>,
    next_id: u64,
}

/// Effects collected while handling one input.
#[derive(Debug, Default)]
pub(crate) struct Out(Vec<Effect>);

impl Out {
    fn emit(&mut self, event: Event) {
        self.0.push(Effect::Emit(event));
    }

    fn log(&mut self, level: LogLevel, kind: LogKind, message: impl Into<String>) {
        self.emit(Event::Log {
            level,
            kind,
            message: message.into(),
        });
    }

    fn warn(&mut self, message: impl Into<String>) {
        self.log(LogLevel::Warn, LogKind::Warning, message);
    }

    fn push(&mut self, effect: Effect) {
        self.0.push(effect);
    }

    fn call_state(&mut self, call: CallId, state: CallState) {
        self.emit(Event::CallState { call, state });
    }
}

impl CallTable {
    /// The address our SDP names from now on (learned behind NAT); calls already set up keep
    /// theirs until a new offer.
    pub fn use_sdp_address(&mut self, address: IpAddr) {
        self.policy.sdp_address = address;
    }

    /// The address our next SDP names unless a STUN lookup says otherwise.
    pub fn sdp_address(&self) -> IpAddr {
        self.policy.sdp_address
    }

    pub fn new(policy: Policy) -> CallTable {
        CallTable {
            policy,
            now: None,
            calls: BTreeMap::new(),
            by_key: HashMap::new(),
            next_id: 1,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// No call is left, not even one being torn down.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The live call placed because the other side of `id` asked us to (their REFER).
    pub fn placed_for_transfer_of(&self, id: CallId) -> Option<CallId> {
        self.calls
            .values()
            .find(|c| c.transfer_for == Some(id) && !c.is_ending())
            .map(|c| c.id)
    }

    pub fn is_answered(&self, id: CallId) -> bool {
        self.calls.get(&id).is_some_and(|c| c.answered_at.is_some())
    }

    pub fn get(&self, id: CallId) -> Option<&Call> {
        self.calls.get(&id)
    }

    /// The effects of one input, in the order they must happen.
    pub fn on(&mut self, input: Input, now: Now) -> Vec<Effect> {
        self.now = Some(now.at);
        let mut out = Out::default();
        match input {
            Input::Command(command) => self.on_command(command, now, &mut out),
            Input::Invite(invite) => self.on_invite(invite, now, &mut out),
            Input::Confirmed { key, ack_sdp } => self.on_confirmed(&key, ack_sdp, &mut out),
            Input::Reoffer {
                key,
                offer,
                update,
                request,
            } => self.on_reoffer(&key, offer, update, request, &mut out),
            Input::SipDtmf { key, digit } => {
                if let Some(call) = self.by_key(&key) {
                    out.emit(Event::Dtmf { call, digit });
                }
            }
            Input::Terminated { key, why } => self.on_terminated(&key, why, &mut out),
            Input::Progress { key, progress } => self.on_progress(&key, progress, now, &mut out),
            Input::Answered { key, sdp } => self.on_answered(&key, sdp, now, &mut out),
            Input::NotAnswered { key, refusal } => self.on_not_answered(&key, refusal, &mut out),
            Input::InviteSent { call, result } => self.on_invite_sent(call, result, &mut out),
            Input::ReinviteDone { call, result } => self.on_reinvite_done(call, result, &mut out),
            Input::Refer {
                key,
                target,
                request,
            } => self.on_refer(&key, target, request, &mut out),
            Input::TransferNotify {
                key,
                status,
                phrase,
                done,
            } => self.on_transfer_notify(&key, status, phrase, done, &mut out),
            Input::ReferDone { call, result } => self.on_refer_done(call, result, &mut out),
            Input::NotifyDone { call } => self.on_notify_done(call, &mut out),
            Input::ReferAccepted { call } => self.on_refer_accepted(call, &mut out),
            Input::RtpBound {
                call,
                result,
                public,
            } => self.on_rtp_bound(call, result, public, now, &mut out),
            Input::Accepted { call, result } => self.on_accepted(call, result, now, &mut out),
            Input::MediaStarted { call, result } => self.on_media_started(call, result, &mut out),
            Input::BridgeStarted { call, result } => self.on_bridge_started(call, result, &mut out),
            Input::BridgeStopped { call, stats } => bridge::stats_events(call, &stats, &mut out),
            Input::ByeDone { call, result } => self.on_bye_done(call, result, &mut out),
            Input::PlayedOut { call } => self.on_played_out(call, &mut out),
            Input::Finished {
                call,
                bridge,
                media,
            } => self.on_finished(call, bridge, media, now, &mut out),
            Input::Media { call, event, ai } => self.on_media_event(call, event, ai, now, &mut out),
            Input::Bridge { call, event, stats } => {
                self.on_bridge_event(call, event, &stats, now, &mut out)
            }
            Input::Timer(timer) => self.on_timer(timer, now, &mut out),
            Input::Shutdown => self.on_shutdown(&mut out),
            Input::Abandon => self.on_abandon(&mut out),
        }
        out.0
    }

    fn on_command(&mut self, command: Command, now: Now, out: &mut Out) {
        match command {
            Command::Answer(id) => self.answer(id, out),
            Command::Reject { call, decline } => {
                self.reject(call, if decline { 603 } else { 486 }, out)
            }
            Command::Hangup(id) => self.hangup(id, out),
            Command::SendDtmf { call, digits } => self.send_dtmf(call, digits, out),
            Command::MuteMicrophone { call, muted } => self.mute_microphone(call, muted, out),
            Command::MuteListenIn { call, muted } => self.mute_listen_in(call, muted, out),
            Command::ToggleBridge(call) => self.toggle_bridge(call, now, out),
            Command::Dial { target } => {
                self.dial(target, out);
            }
            Command::Hold { call, on } => self.hold(call, on, out),
            Command::Transfer { call, target } => self.transfer(call, target, out),
            Command::Play { call, file } => self.play(call, file, out),
            // The executor stops its loop on Quit and then sends `Shutdown`.
            Command::Quit => {}
        }
    }

    fn on_timer(&mut self, timer: Timer, _now: Now, out: &mut Out) {
        match timer {
            // The caller may have given up, or someone answered, while it rang.
            Timer::Answer(id) => {
                if self.calls.get(&id).is_some_and(Call::is_ringing) {
                    self.answer(id, out);
                }
            }
            Timer::Dtmf(id) => {
                if let Some(digits) = self.policy.send_dtmf.clone() {
                    if self.calls.get(&id).is_some_and(|c| !c.is_ending()) {
                        self.send_dtmf(id, digits, out);
                    }
                }
            }
            Timer::RingTimeout(id) => self.on_ring_timeout(id, out),
            Timer::MaxDuration(id) => self.on_max_duration(id, out),
            Timer::Hold(id) => {
                if self.calls.get(&id).is_some_and(|c| !c.is_ending()) {
                    self.hold(id, true, out);
                    if let Some((_, hold_for)) = self.policy.hold_once {
                        out.push(Effect::Arm {
                            timer: Timer::Resume(id),
                            after: hold_for,
                        });
                    }
                }
            }
            Timer::Resume(id) => {
                if self.calls.get(&id).is_some_and(|c| !c.is_ending()) {
                    self.hold(id, false, out);
                }
            }
            Timer::Transfer(id) => {
                if let Some((target, _)) = self.policy.transfer_to.clone() {
                    if self.calls.get(&id).is_some_and(|c| !c.is_ending()) {
                        self.transfer(id, target, out);
                    }
                }
            }
        }
    }

    /// The timers a call's answer starts: `--send-dtmf`, `--hold-after`, `--transfer-to`.
    fn arm_after_answer(&self, id: CallId, out: &mut Out) {
        let p = &self.policy;
        if p.send_dtmf.is_some() {
            out.push(Effect::Arm {
                timer: Timer::Dtmf(id),
                after: p.dtmf_delay,
            });
        }
        if let Some((after, _)) = p.hold_once {
            out.push(Effect::Arm {
                timer: Timer::Hold(id),
                after,
            });
        }
        if let Some((_, after)) = &p.transfer_to {
            out.push(Effect::Arm {
                timer: Timer::Transfer(id),
                after: *after,
            });
        }
        self.arm_caller(id, out);
    }

    /// Ends every call: BYE to connected ones, 480 to ringing ones.
    fn on_shutdown(&mut self, out: &mut Out) {
        let live: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| !c.is_ending())
            .map(|c| c.id)
            .collect();
        if !live.is_empty() {
            out.log(
                LogLevel::Info,
                LogKind::Cleanup,
                format!("ending {} live call(s)", live.len()),
            );
        }
        for id in live {
            if self.calls.get(&id).is_some_and(Call::is_ringing) {
                self.reject(id, 480, out);
            } else {
                self.hangup(id, out);
            }
        }
    }

    /// Whatever did not report its end in time is closed here, media included.
    fn on_abandon(&mut self, out: &mut Out) {
        let keys: Vec<DialogKey> = self
            .calls
            .values()
            .filter(|c| !c.torn_down)
            .map(|c| c.key.clone())
            .collect();
        for key in keys {
            self.on_terminated(
                &key,
                Termination::Other("no answer to BYE before exit".into()),
                out,
            );
        }
    }

    fn by_key(&self, key: &DialogKey) -> Option<CallId> {
        self.by_key.get(key).copied()
    }

    /// The call, if it exists; otherwise a warning naming it.
    fn call_or_warn(&mut self, id: CallId, what: &str, out: &mut Out) -> Option<&mut Call> {
        let found = self.calls.get_mut(&id);
        if found.is_none() {
            out.warn(format!("no call {id}{what}"));
        }
        found
    }
}
