//! How long audio takes through the sound-card path, for sipterm and, as a yardstick, for
//! baresip on the same virtual headset (tests/support/pulse.rs), both through ALSA's pulse
//! plugin. A caller's tone burst arrives as RTP, is played by the headset's speaker, comes
//! back into its microphone through PulseAudio's loopback, and leaves again as RTP. Each
//! burst's onset is timed on the wire in both directions (one capture clock), so the figure
//! is the whole round trip: jitter buffer, playback and capture buffering, resampling,
//! PulseAudio's own latency, packetisation. Prints figures, asserts nothing about time.
//! Run: `cargo bench --bench device_latency`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;
use support::audio::{decode_g711, rms_dbfs};
use support::pulse::VirtualHeadset;
use support::sipterm::registered_args_with_rtp_port;
use support::{Baresip, BaresipConfig, Kamailio, RtpCapture, RtpPacket, Sipp, Transport};

const CALL: Duration = Duration::from_secs(20);
/// What PulseAudio's loopback is asked to keep; part of every round trip.
const LOOPBACK_MS: u32 = 20;

fn main() {
    let headset = VirtualHeadset::start();
    headset.loop_speaker_to_microphone(LOOPBACK_MS);
    let env = headset.env();

    let ours = {
        let kamailio = Kamailio::start(&[("alice", "wonderland")]);
        let (mut args, rtp_port) =
            registered_args_with_rtp_port(&kamailio, "alice", "wonderland", Transport::Udp);
        args.extend(["--json", "--audio", "device"].map(String::from));
        let mut sipterm = headset.sipterm(args);
        sipterm
            .wait_for_stdout(r#""state":"registered""#, Duration::from_secs(30))
            .unwrap();
        let trips = round_trips(kamailio.addr(), "alice", rtp_port..=rtp_port);
        sipterm.interrupt();
        trips
    };
    report("sipterm", &ours);

    let theirs = {
        let config = env.iter().fold(
            BaresipConfig::new("bob").codecs(&["PCMU"]).sound_card(),
            |c, (k, v)| c.env(k, v),
        );
        let baresip = Baresip::start(config);
        round_trips(baresip.sip_addr(), "bob", baresip.rtp_ports())
    };
    report("baresip", &theirs);
    println!(
        "device_latency: sipterm / baresip round trip (medians): {:.2}",
        median(&ours) / median(&theirs)
    );
}

/// Calls `user` at `remote` with 0.5 s tone bursts for `CALL`; the round trip of each burst
/// in ms, sorted. `callee_rtp`: where the callee receives RTP.
fn round_trips(remote: SocketAddr, user: &str, callee_rtp: RangeInclusive<u16>) -> Vec<f64> {
    let media_port = support::free_udp_port_block(4);
    let inbound = RtpCapture::start_range(callee_rtp);
    let outbound = RtpCapture::start(media_port);
    let run = Sipp::uac("uac_tone.xml", remote)
        .service(user)
        .key("call_ms", CALL.as_millis())
        .tone_bursts(0.5, 1.0)
        .media_port(media_port)
        .timeout(Duration::from_secs(60))
        .run();
    assert!(run.success(), "{run}");
    let sent = onsets(&inbound.stop());
    let back = onsets(&outbound.stop());
    let mut trips: Vec<f64> = sent
        .iter()
        .filter_map(|&t| {
            back.iter()
                .find(|&&b| b > t && b - t < 0.8)
                .map(|b| (b - t) * 1000.0)
        })
        .collect();
    trips.sort_by(f64::total_cmp);
    assert!(
        trips.len() >= sent.len() / 2 && !trips.is_empty(),
        "{user}: only {} of {} bursts came back through the headset",
        trips.len(),
        sent.len()
    );
    trips
}

fn median(sorted: &[f64]) -> f64 {
    sorted[sorted.len() / 2]
}

fn report(who: &str, trips: &[f64]) {
    let p90 = trips[((trips.len() - 1) as f64 * 0.9).round() as usize];
    println!(
        "device_latency: {who}: RTP in -> headset speaker -> PulseAudio loopback ({LOOPBACK_MS} ms \
         asked) -> headset microphone -> RTP out: median {:.0} ms, p90 {p90:.0} ms, min {:.0} ms \
         over {} bursts",
        median(trips),
        trips[0],
        trips.len()
    );
}

/// Seconds (capture clock) at which a burst starts: a loud packet after a quiet stretch.
fn onsets(packets: &[RtpPacket]) -> Vec<f64> {
    let mut out = Vec::new();
    let mut quiet = true;
    for p in packets {
        let Some(pcm) = decode_g711(p.payload_type, &p.payload) else {
            continue;
        };
        let level = rms_dbfs(&pcm);
        if quiet && level > -30.0 {
            out.push(p.time.as_secs_f64());
            quiet = false;
        } else if !quiet && level < -45.0 {
            quiet = true;
        }
    }
    out
}
