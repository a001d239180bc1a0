//! `--list-devices`: what the audio host offers, probed once, and its one-line-per-device text.

use std::thread;

use cpal::traits::DeviceTrait;
use cpal::SupportedStreamConfigRange;

use super::open::{self, Direction};
use super::{quiet, DeviceError, DeviceInfo};

/// More separate rate ranges than this are shown as one overall span.
const MAX_RATE_SPANS: usize = 6;

/// Probes on a thread of its own, so the ALSA error handler it installs never lingers on the
/// caller's thread (which may be a tokio worker).
pub(super) fn list_devices() -> Result<Vec<DeviceInfo>, DeviceError> {
    thread::Builder::new()
        .name("sipterm-audio-list".to_owned())
        .spawn(|| {
            quiet::silence_this_thread();
            enumerate()
        })
        .map_err(DeviceError::Thread)?
        .join()
        .unwrap_or(Err(DeviceError::ThreadDied))
}

fn enumerate() -> Result<Vec<DeviceInfo>, DeviceError> {
    let host = open::host()?;
    let default_name = |device: Option<cpal::Device>| device.map(|d| open::device_name(&d));
    let default_input = default_name(cpal::traits::HostTrait::default_input_device(&host));
    let default_output = default_name(cpal::traits::HostTrait::default_output_device(&host));

    let mut devices = Vec::new();
    for device in open::candidates(&host) {
        let name = open::device_name(&device);
        if open::is_hidden(&name) || probing_is_noisy(&name) {
            continue;
        }
        // Opening is the only way to learn what a device really does; one that opens in
        // neither direction (a default with no card behind it) is left out.
        let input = probe(&device, Direction::Input);
        let output = probe(&device, Direction::Output);
        if input.is_none() && output.is_none() {
            continue;
        }
        let description = device
            .description()
            .map(|d| d.name().to_owned())
            .unwrap_or_default();
        devices.push(DeviceInfo {
            default_input: input.is_some() && default_input.as_deref() == Some(name.as_str()),
            default_output: output.is_some() && default_output.as_deref() == Some(name.as_str()),
            input: input.is_some(),
            output: output.is_some(),
            sample_rates: per_direction(input.as_deref(), output.as_deref(), rates_text),
            channels: per_direction(input.as_deref(), output.as_deref(), channels_text),
            description,
            name,
        });
    }
    Ok(devices)
}

/// ALSA's `jack` PCM starts a JACK client when it is opened, and libjack prints half a dozen
/// lines to stderr when no JACK server runs; it has no quiet switch that ALSA passes on. So
/// it is not probed for the listing (on desktops with alsa-plugins it always exists), while
/// `--output-device jack` still opens it for those who run JACK.
fn probing_is_noisy(name: &str) -> bool {
    name == "jack"
}

fn probe(device: &cpal::Device, direction: Direction) -> Option<Vec<SupportedStreamConfigRange>> {
    if !open::may_support(device, direction) {
        return None;
    }
    let ranges: Vec<_> = match direction {
        Direction::Input => device.supported_input_configs().ok()?.collect(),
        Direction::Output => device.supported_output_configs().ok()?.collect(),
    };
    (!ranges.is_empty()).then_some(ranges)
}

/// One summary when both directions agree (or only one exists), else "in …, out …".
fn per_direction(
    input: Option<&[SupportedStreamConfigRange]>,
    output: Option<&[SupportedStreamConfigRange]>,
    summary: fn(&[SupportedStreamConfigRange]) -> String,
) -> String {
    match (input.map(summary), output.map(summary)) {
        (Some(i), Some(o)) if i == o => i,
        (Some(i), Some(o)) => format!("in {i}, out {o}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => String::new(),
    }
}

pub(super) fn rates_text(ranges: &[SupportedStreamConfigRange]) -> String {
    let mut spans: Vec<(u32, u32)> = ranges
        .iter()
        .map(|r| (r.min_sample_rate(), r.max_sample_rate()))
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::new();
    for (lo, hi) in spans {
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    if merged.len() > MAX_RATE_SPANS {
        let (first, last) = (merged[0].0, merged[merged.len() - 1].1);
        merged = vec![(first, last)];
    }
    let parts: Vec<String> = merged
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect();
    format!("{} Hz", parts.join(", "))
}

pub(super) fn channels_text(ranges: &[SupportedStreamConfigRange]) -> String {
    let mut counts: Vec<u16> = ranges.iter().map(|r| r.channels()).collect();
    counts.sort_unstable();
    counts.dedup();
    match counts[..] {
        [] => String::new(),
        [lo, .., hi] if counts.len() > 2 && usize::from(hi - lo) + 1 == counts.len() => {
            format!("{lo}-{hi}")
        }
        _ => counts
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// One line per device, columns aligned: name (what `--input-device` takes), directions,
/// channels, rates, description, and which defaults it is.
pub(super) fn format_device_list(devices: &[DeviceInfo]) -> String {
    if devices.is_empty() {
        return DeviceError::NoSoundCard.to_string();
    }
    let direction = |d: &DeviceInfo| match (d.input, d.output) {
        (true, true) => "in+out",
        (true, false) => "in",
        (false, true) => "out",
        (false, false) => "-",
    };
    let channels = |d: &DeviceInfo| format!("{} ch", d.channels);
    let width = |f: &dyn Fn(&DeviceInfo) -> usize| devices.iter().map(f).max().unwrap_or(0);
    let name_w = width(&|d| d.name.chars().count());
    let dir_w = width(&|d| direction(d).len());
    let ch_w = width(&|d| channels(d).chars().count());
    let rate_w = width(&|d| d.sample_rates.chars().count());

    let lines: Vec<String> = devices
        .iter()
        .map(|d| {
            let description = if d.description == d.name {
                ""
            } else {
                d.description.as_str()
            };
            let defaults = match (d.default_input, d.default_output) {
                (true, true) => "(default input and output)",
                (true, false) => "(default input)",
                (false, true) => "(default output)",
                (false, false) => "",
            };
            let mut line = format!(
                "{:<name_w$}  {:<dir_w$}  {:<ch_w$}  {:<rate_w$}",
                d.name,
                direction(d),
                channels(d),
                d.sample_rates,
            );
            for extra in [description, defaults] {
                if !extra.is_empty() {
                    line.push_str("  ");
                    line.push_str(extra);
                }
            }
            line.trim_end().to_owned()
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use cpal::{SampleFormat, SupportedBufferSize};

    use super::*;

    fn range(channels: u16, min: u32, max: u32) -> SupportedStreamConfigRange {
        SupportedStreamConfigRange::new(
            channels,
            min,
            max,
            SupportedBufferSize::Unknown,
            SampleFormat::I16,
        )
    }

    fn info(name: &str, input: bool, output: bool) -> DeviceInfo {
        DeviceInfo {
            name: name.to_owned(),
            description: String::new(),
            input,
            output,
            default_input: false,
            default_output: false,
            sample_rates: "48000 Hz".to_owned(),
            channels: "2".to_owned(),
        }
    }

    #[test]
    fn rates_merge_into_spans() {
        let ranges = [
            range(2, 44_100, 44_100),
            range(2, 48_000, 48_000),
            range(1, 8_000, 48_000),
        ];
        assert_eq!(rates_text(&ranges), "8000-48000 Hz");
        let discrete = [range(2, 48_000, 48_000), range(2, 44_100, 44_100)];
        assert_eq!(rates_text(&discrete), "44100, 48000 Hz");
    }

    #[test]
    fn many_discrete_rates_become_one_span() {
        let ranges: Vec<_> = [
            8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 96_000,
        ]
        .iter()
        .map(|&r| range(2, r, r))
        .collect();
        assert_eq!(rates_text(&ranges), "8000-96000 Hz");
    }

    #[test]
    fn channel_counts_show_as_a_span_or_a_list() {
        assert_eq!(channels_text(&[range(2, 1, 1), range(1, 1, 1)]), "1, 2");
        let many: Vec<_> = (1..=8).map(|c| range(c, 1, 1)).collect();
        assert_eq!(channels_text(&many), "1-8");
        assert_eq!(channels_text(&[range(2, 1, 1), range(6, 1, 1)]), "2, 6");
    }

    #[test]
    fn directions_that_differ_are_both_shown() {
        let mic = [range(1, 48_000, 48_000)];
        let speaker = [range(2, 48_000, 48_000)];
        assert_eq!(
            per_direction(Some(&mic), Some(&speaker), channels_text),
            "in 1, out 2"
        );
        assert_eq!(per_direction(Some(&mic), Some(&mic), channels_text), "1");
        assert_eq!(per_direction(None, Some(&speaker), rates_text), "48000 Hz");
    }

    #[test]
    fn one_line_per_device_with_defaults_marked() {
        let mut default = info("default", true, true);
        default.description = "Default Audio Device".to_owned();
        default.default_input = true;
        default.default_output = true;
        default.channels = "1-2".to_owned();
        let mut usb = info("hw:CARD=Headset,DEV=0", true, false);
        usb.description = "USB Headset".to_owned();
        usb.channels = "1".to_owned();
        let hdmi = info("hdmi:CARD=HDMI,DEV=0", false, true);
        let text = format_device_list(&[default, usb, hdmi]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "default                in+out  1-2 ch  48000 Hz  Default Audio Device  (default input and output)",
                "hw:CARD=Headset,DEV=0  in      1 ch    48000 Hz  USB Headset",
                "hdmi:CARD=HDMI,DEV=0   out     2 ch    48000 Hz",
            ]
        );
    }

    #[test]
    fn only_one_default_and_no_description() {
        let mut mic = info("mic", true, false);
        mic.default_input = true;
        let mut speaker = info("speaker", false, true);
        speaker.default_output = true;
        speaker.description = "speaker".to_owned();
        let text = format_device_list(&[mic, speaker]);
        assert_eq!(
            text,
            "mic      in   2 ch  48000 Hz  (default input)\nspeaker  out  2 ch  48000 Hz  (default output)"
        );
    }

    #[test]
    fn an_empty_list_says_there_is_no_sound_card() {
        assert_eq!(format_device_list(&[]), "no sound card found");
    }
}
