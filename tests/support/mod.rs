//! Test harness for sipterm's integration tests: real peers on 127.0.0.1, each on free ports,
//! each stopped on drop (also when a test panics).
//!
//! - [`ports`]: free ports, scratch dirs;  [`process`]: `ChildGuard` and waiting helpers;
//! - [`kamailio`]: registrar/proxy with digest auth;  [`sipp`]: scenarios in tests/scenarios;
//! - [`capture`]: RTP capture with dumpcap;  [`audio`]: G.711, tone frequency, levels;
//! - [`sipterm`]: the binary under test, registered at a Kamailio in one call;
//! - [`relay`]: a lossy UDP relay for RTP;  [`baresip`]: a second softphone over ctrl_tcp;
//! - [`dtmf`]: RFC 4733 events, decoded and generated;  [`wav`]: WAV files;
//! - [`cpu`]: CPU time of a process, for benchmarks;  [`tmux`]: a program in a real terminal;
//! - [`tui`]: sipterm's full-screen UI under tmux;  [`ansi_html`]: a screen as HTML.
//! - [`pulse`]: a virtual headset (PulseAudio null sinks) for `--audio device`.
//! - [`linphone`]: linphonec at its prompt;  [`pjsua`]: pjsua2 through `pjsua_peer.py`;
//!   [`stdio_peer`]: what those two share (commands on stdin, lines on stdout).
//! - [`soak`]: mutated SIP and RTP datagrams, and a process's RSS and open files.
//! - [`netlab`]: a NAT router in network namespaces;  [`stun_server`]: a STUN server in it.
//! - [`certs`]: a test CA and server certificates made with openssl, for Kamailio's TLS.
//! - [`load`]: N simultaneous sipp echo calls, judged on the wire and in /proc.
//!
//! Include it with `mod support;` in a test file.
#![allow(dead_code, unused_imports)]

pub mod ansi_html;
pub mod audio;
pub mod baresip;
pub mod capture;
pub mod certs;
pub mod cpu;
pub mod dtmf;
pub mod events;
pub mod kamailio;
pub mod linphone;
pub mod load;
pub mod netlab;
pub mod pcap;
pub mod pjsua;
pub mod ports;
pub mod process;
pub mod pulse;
pub mod realtime_mock;
pub mod relay;
pub mod sipp;
pub mod sipterm;
pub mod soak;
pub mod stdio_peer;
pub mod stun_server;
pub mod tmux;
pub mod tui;
pub mod wav;

pub use audio::{dominant_frequency, rms_dbfs};
pub use baresip::{Baresip, BaresipConfig, Tone};
pub use capture::{decode_audio, RtpCapture, RtpPacket};
pub use kamailio::Kamailio;
pub use ports::{free_udp_port, free_udp_port_block, free_udp_tcp_port, ScratchDir};
pub use process::{pids_with_cmdline_containing, wait_until, ChildGuard};
pub use relay::{Impairment, RtpRelay};
pub use sipp::{spawn_registered_uas, Sipp, SippProcess, SippRun, Transport};
pub use sipterm::Sipterm;
pub use tmux::Tmux;
