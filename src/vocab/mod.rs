//! The shared vocabulary, below every other module: the commands front-ends send, the events
//! they receive, and the small value types both sides and the media, SIP and bridge layers
//! name (call ids, codecs, levels, media figures, the time of day).
//!
//! Nothing here knows about SIP libraries, sockets or terminals, and nothing here imports
//! another sipterm module. Events serialize to the `--json` line format, so field names here
//! are a public contract (tests and user scripts parse them).

pub mod bus;
pub mod clock;
pub mod codec;
pub mod quality;
pub mod srtp;
pub mod turns;

pub use codec::Codec;
pub use quality::{MediaStats, Quality};
pub use srtp::Suite as SrtpSuite;
pub use turns::{Outcome, Side, TurnTaking, Verdict};

use serde::Serialize;
use std::fmt;

/// A call's stable identifier for the lifetime of the process (1, 2, 3, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a front-end asks the engine to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Answer(CallId),
    /// Reject a ringing call: 486 Busy Here, or 603 Decline when `decline` is set.
    Reject {
        call: CallId,
        decline: bool,
    },
    Hangup(CallId),
    /// Send RFC 4733 telephone-events on an answered call.
    SendDtmf {
        call: CallId,
        digits: String,
    },
    /// Mute (or unmute) our microphone on a call: the caller hears silence from us.
    MuteMicrophone {
        call: CallId,
        muted: bool,
    },
    /// Mute (or unmute) the listen-in of a bridged call: we stop hearing the conversation
    /// between the caller and the AI, which goes on.
    MuteListenIn {
        call: CallId,
        muted: bool,
    },
    /// Voice bridge on or off for a call.
    ToggleBridge(CallId),
    /// Place a call. `target` is a SIP URI, or a number or user the engine completes with
    /// the account's domain (`dial::resolve`).
    Dial {
        target: String,
    },
    /// Hold (re-INVITE with `a=sendonly`, and we send nothing) or resume (`a=sendrecv`).
    Hold {
        call: CallId,
        on: bool,
    },
    /// Blind transfer: REFER the other party of `call` to `target`, and follow its NOTIFYs.
    Transfer {
        call: CallId,
        target: String,
    },
    /// Send a WAV file (any rate, mono or stereo) once in place of the call's own audio;
    /// `Event::Played` follows when it has all gone out.
    Play {
        call: CallId,
        file: std::path::PathBuf,
    },
    /// End every call, unregister, and stop the engine.
    Quit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationState {
    Registering,
    Registered,
    /// Temporary trouble (timeout, 5xx): the engine keeps retrying with backoff.
    Retrying,
    /// Final: credentials refused. The engine does not retry.
    Failed,
    Unregistering,
    Unregistered,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Outgoing: our INVITE is out, nothing but 100 Trying has come back.
    Calling,
    /// Incoming: it rings here. Outgoing: it rings there (180).
    Ringing,
    /// Outgoing: 183 with SDP, the remote's audio plays before the answer.
    EarlyMedia,
    Answering,
    Active,
    /// The remote side put us on hold (sendonly/inactive offer).
    Held,
    /// We put the remote side on hold (our `a=sendonly` re-INVITE).
    OnHold,
    Ended,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Incoming,
    Outgoing,
}

/// Who asked for a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferBy {
    /// Our REFER: we handed the other party to `target`.
    Us,
    /// Their REFER: they asked us to call `target`.
    Remote,
}

/// How far a transfer got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferStage {
    /// The REFER is out (ours) or came in (theirs).
    Requested,
    /// Accepted (202); the new call is being placed.
    Trying,
    /// The new call was answered: the transfer is done.
    Done,
    /// The REFER was refused, or the new call failed.
    Failed,
    /// `--on-refer report`: logged and answered 603.
    Reported,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

/// Emoji-tag category of a log line; the headless and TUI front-ends map it to 📞 🎵 ✅ ❌ ⚠️ 🚀 🧹 📊.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    Call,
    Audio,
    Success,
    Error,
    Warning,
    Startup,
    Cleanup,
    Stats,
    Sip,
}

/// Why a call ended, in the engine's terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// We sent BYE (hang-up key, `--duration`, Ctrl+C).
    LocalHangup,
    /// The remote side sent BYE.
    RemoteHangup,
    /// The caller sent CANCEL before we answered (we replied 487).
    Cancelled,
    /// We rejected with the given status code.
    Rejected { status: u16 },
    /// The offer had no codec we support (we replied 488).
    NoCommonCodec,
    /// `--rtp-timeout`: nothing arrived from the remote side for this long, so we hung up.
    RtpTimeout { secs: u32 },
    /// No ACK, transport failure, or another protocol error.
    Failed { reason: String },
    /// Our call was refused or never answered: the final status, its reason phrase, and
    /// what that means in plain words (408 when nothing answered at all).
    NotAnswered {
        status: u16,
        phrase: String,
        explained: String,
    },
    /// `--ring-timeout` ran out while it rang, and we sent CANCEL.
    RingTimeout { secs: u32 },
    /// Transferred to another party (our REFER succeeded, or theirs was carried out).
    Transferred { target: String },
}

/// Per-call media figures reported when a call ends.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MediaSummary {
    #[serde(flatten)]
    pub stats: MediaStats,
    /// Stereo WAV of the call (left: remote, right: sent), when recording.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
    /// Greeting delay, reply gaps, barge-ins: see [`TurnTaking`].
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Boxed: it would otherwise make `call_ended` the one huge variant of every event.
    pub turn_taking: Option<Box<TurnTaking>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SipDirection {
    Sent,
    Received,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Caller,
    Ai,
    System,
}

/// What silence reads as: below the 16-bit noise floor, and finite so it can be drawn.
pub const SILENCE_DBFS: f32 = -96.0;

/// Sound level of one direction over the last ~50 ms, in dBFS (0 = full scale, never below
/// [`SILENCE_DBFS`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Level {
    pub rms_dbfs: f32,
    pub peak_dbfs: f32,
}

impl Level {
    pub const SILENCE: Level = Level {
        rms_dbfs: SILENCE_DBFS,
        peak_dbfs: SILENCE_DBFS,
    };
}

impl Default for Level {
    fn default() -> Self {
        Self::SILENCE
    }
}

/// Everything the engine tells its front-ends. Serialized with `"event"` as the tag.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started {
        account: String,
        registrar: String,
        transport: String,
        local_sip: String,
        /// The config-file profile in use.
        #[serde(skip_serializing_if = "Option::is_none")]
        profile: Option<String>,
    },
    /// Where the registrar sees our SIP socket when that is not our own address (behind NAT).
    PublicAddress {
        public: String,
    },
    Registration {
        state: RegistrationState,
        /// Seconds the registrar granted (when registered).
        #[serde(skip_serializing_if = "Option::is_none")]
        expires: Option<u32>,
        /// Plain-words reason when failing or retrying.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Seconds until the next attempt (when retrying).
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_in: Option<u32>,
    },
    IncomingCall {
        call: CallId,
        from: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
        to: String,
    },
    /// A call we placed (`Command::Dial`, `--call`, or a transfer the other side asked for).
    OutgoingCall {
        call: CallId,
        to: String,
        from: String,
        /// The AI caller's goal (`--goal`), shown in the call panel.
        #[serde(skip_serializing_if = "Option::is_none")]
        goal: Option<String>,
    },
    CallState {
        call: CallId,
        state: CallState,
    },
    /// A provisional answer to our INVITE (180, 183, ...). `post_dial_delay_ms` is INVITE →
    /// this answer; the first one is the call's post-dial delay.
    CallProgress {
        call: CallId,
        status: u16,
        phrase: String,
        post_dial_delay_ms: u64,
        /// 183 with SDP: the remote's audio plays before the answer.
        early_media: bool,
    },
    /// Our call was answered: INVITE → 200, and INVITE → first 18x when there was one.
    CallAnswered {
        call: CallId,
        answer_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        post_dial_delay_ms: Option<u64>,
    },
    /// Hold, both ways: `ours` is our re-INVITE with `a=sendonly`, `theirs` the remote's.
    Hold {
        call: CallId,
        ours: bool,
        theirs: bool,
    },
    /// A transfer and how it went: the other side asked us (`by: remote`, their REFER) or
    /// we asked them (`by: us`, our REFER).
    Transfer {
        call: CallId,
        target: String,
        by: TransferBy,
        stage: TransferStage,
        /// The SIP status the latest NOTIFY (or the REFER's answer) carried.
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Media negotiated and flowing (after 200 OK / ACK).
    MediaStarted {
        call: CallId,
        codec: Codec,
        local_rtp: String,
        remote_rtp: String,
        /// The address and port our SDP gave for this media, when not our socket's own
        /// (behind NAT, from STUN, or `--media-address`).
        #[serde(skip_serializing_if = "Option::is_none")]
        advertised_rtp: Option<String>,
        /// The SRTP suite when the media is encrypted.
        #[serde(skip_serializing_if = "Option::is_none")]
        srtp: Option<SrtpSuite>,
    },
    /// The remote's RTP really comes from this address (symmetric RTP: we send there from
    /// now on). Behind NAT it differs from the address its SDP gave.
    MediaLatched {
        call: CallId,
        remote_rtp: String,
    },
    CallEnded {
        call: CallId,
        direction: Direction,
        reason: EndReason,
        duration_ms: u64,
        media: MediaSummary,
        /// The AI caller's verdict on its goal, when it had one.
        #[serde(skip_serializing_if = "Option::is_none")]
        verdict: Option<Verdict>,
    },
    /// A speech segment of one side began (`speaking`) or ended, `at_ms` after the answer
    /// (exact to one 20 ms frame; reported once the voice detector has decided).
    Voice {
        call: CallId,
        side: Side,
        speaking: bool,
        at_ms: u64,
    },
    /// A call's turn-taking figures, after each reply of the remote and each barge-in.
    TurnTaking {
        call: CallId,
        #[serde(flatten)]
        figures: TurnTaking,
    },
    /// The AI caller decided (through its end-call tool), or the call ended undecided.
    Verdict {
        call: CallId,
        #[serde(flatten)]
        verdict: Verdict,
    },
    /// A suite's call has been judged (`sipterm test`): its place in the run and why it
    /// failed, when it did.
    SuiteCall {
        index: usize,
        total: usize,
        call: CallId,
        outcome: Outcome,
        failures: Vec<String>,
    },
    /// A suite's progress, whenever a call starts or is judged.
    SuiteProgress {
        done: usize,
        total: usize,
        passed: usize,
        failed: usize,
        undecided: usize,
        running: usize,
    },
    /// Every call of a suite has been judged; the report (when asked for) is written.
    SuiteDone {
        total: usize,
        passed: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        report: Option<String>,
    },
    /// A file a scenario played (`play`) has been sent in full.
    Played {
        call: CallId,
        file: String,
        ms: u64,
    },
    /// Audio levels, about 20 times a second per call: what we hear and what we send.
    Levels {
        call: CallId,
        remote: Level,
        local: Level,
        /// The voice bridge's audio, when bridged.
        #[serde(skip_serializing_if = "Option::is_none")]
        ai: Option<Level>,
    },
    /// A SIP message sent or received (only when a front-end asked for the trace).
    SipMessage {
        #[serde(skip_serializing_if = "Option::is_none")]
        call: Option<CallId>,
        direction: SipDirection,
        #[serde(skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        /// Request or status line.
        summary: String,
        text: String,
    },
    /// A call's two mute states, both reported whenever either changes.
    Muted {
        call: CallId,
        /// The caller hears silence from our microphone.
        microphone: bool,
        /// We do not hear a bridged call's conversation (only meaningful while bridged).
        listen_in: bool,
    },
    Bridge {
        call: CallId,
        on: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A bridge's running figures: after each answered turn, barge-in and reconnect, and
    /// once more when the bridge ends. The counts start at zero with each bridge.
    BridgeStats {
        call: CallId,
        /// Caller turns the model answered with audio.
        turns: u64,
        barge_ins: u64,
        reconnects: u64,
        /// End of the caller's speech to the first AI packet sent, for the latest turn.
        #[serde(skip_serializing_if = "Option::is_none")]
        last_latency_ms: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        mean_latency_ms: Option<u64>,
        /// Caller frames the model never got: the connection could not keep up, or they
        /// were lost or too late on the way in.
        caller_frames_lost: u64,
        /// Model frames dropped because they arrived faster than they could play (GPT-Live's
        /// playout cap).
        ai_frames_dropped: u64,
    },
    /// Words said on a bridged call; deltas with the same `item` extend one line.
    Transcript {
        call: CallId,
        speaker: Speaker,
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        item: Option<String>,
        #[serde(rename = "final")]
        final_: bool,
    },
    /// Receive quality, about once a second per call.
    Quality {
        call: CallId,
        #[serde(flatten)]
        quality: Quality,
    },
    /// A DTMF digit received (RFC 4733 telephone-event).
    Dtmf {
        call: CallId,
        digit: char,
    },
    Log {
        level: LogLevel,
        kind: LogKind,
        message: String,
    },
    /// The engine has finished its clean-up; no more events follow.
    Stopped,
}
