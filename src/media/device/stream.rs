//! Building one cpal stream: choosing its format and period, and wiring its data and error
//! callbacks to a ring (see `callback`). Runs on the device thread.

use std::sync::Arc;

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{
    BufferSize, ErrorKind, FromSample, Sample, SampleFormat, SizedSample, StreamConfig,
    SupportedBufferSize, SupportedStreamConfigRange,
};
use rtrb::RingBuffer;

use super::callback::{InputSide, OutputSide, Shared};
use super::open::Direction;
use super::port::{ms_to_samples, PortEnds, PLAYBACK_CUSHION_MS, RING_MS};
use super::quiet;
use crate::media::audio::FRAME_MS;

/// Sample formats we can convert, most preferred first.
const FORMATS: [SampleFormat; 10] = [
    SampleFormat::F32,
    SampleFormat::I16,
    SampleFormat::I32,
    SampleFormat::I24,
    SampleFormat::F64,
    SampleFormat::U16,
    SampleFormat::U32,
    SampleFormat::U24,
    SampleFormat::I8,
    SampleFormat::U8,
];

/// A started stream and the port-side end of its ring.
pub(super) struct Built {
    pub stream: cpal::Stream,
    pub rate: u32,
    pub channels: u16,
    pub ends: PortEnds,
}

/// Picks the stream format for a direction: 48 kHz where possible (integer ratio to both codec
/// rates), then 44.1 kHz; mono in and stereo out, or the fewest channels; then the handiest
/// sample format. The period asked for is `PERIOD_MS`, so latency does not depend on
/// whatever (sometimes huge) buffer the driver would pick by default.
fn choose_config(
    ranges: &[SupportedStreamConfigRange],
    direction: Direction,
) -> Option<(StreamConfig, SampleFormat)> {
    ranges
        .iter()
        .filter(|r| r.channels() > 0 && r.max_sample_rate() > 0)
        .filter_map(|r| {
            let format_rank = FORMATS.iter().position(|&f| f == r.sample_format())?;
            let rate = if r.contains_rate(cpal::SAMPLE_RATE_48K) {
                cpal::SAMPLE_RATE_48K
            } else if r.contains_rate(cpal::SAMPLE_RATE_CD) {
                cpal::SAMPLE_RATE_CD
            } else {
                cpal::SAMPLE_RATE_48K.clamp(r.min_sample_rate(), r.max_sample_rate())
            };
            let rate_rank = match rate {
                cpal::SAMPLE_RATE_48K => 0,
                cpal::SAMPLE_RATE_CD => 1,
                _ => 2,
            };
            let channel_rank = match (direction, r.channels()) {
                (Direction::Input, 1) | (Direction::Output, 2) => 0,
                (_, n) => usize::from(n),
            };
            let config = StreamConfig {
                channels: r.channels(),
                sample_rate: rate,
                buffer_size: period_for(r.buffer_size(), rate, period_ms(direction)),
            };
            Some((
                (rate_rank, channel_rank, format_rank),
                config,
                r.sample_format(),
            ))
        })
        .min_by_key(|(rank, _, _)| *rank)
        .map(|(_, config, format)| (config, format))
}

/// The device period asked for. Capture arrives a period at a time, so 10 ms periods there
/// save 10 ms. Playback keeps one frame: cpal's ALSA host keeps two periods in the device
/// buffer, so 10 ms would save as much again, but through ALSA's pulse plugin on a loaded
/// 2-core machine it made a replugged headset fail a second time a few seconds after it came
/// back (tests/virtual_headset.rs), and 5 ms periods left its speaker silent for seconds.
fn period_ms(direction: Direction) -> u32 {
    match direction {
        Direction::Input => 10,
        Direction::Output => FRAME_MS,
    }
}

fn period_for(supported: &SupportedBufferSize, rate: u32, period_ms: u32) -> BufferSize {
    match *supported {
        SupportedBufferSize::Range { min, max } if min <= max => {
            let period = u32::try_from(ms_to_samples(rate, period_ms)).unwrap_or(u32::MAX);
            BufferSize::Fixed(period.clamp(min.max(1), max.max(1)))
        }
        _ => BufferSize::Default,
    }
}

/// Builds and starts one stream, with the fixed 20 ms period and, should the device refuse
/// it, with the driver's default.
pub(super) fn open_direction(
    device: &cpal::Device,
    direction: Direction,
    shared: &Arc<Shared>,
) -> Result<Built, cpal::Error> {
    let ranges: Vec<SupportedStreamConfigRange> = match direction {
        Direction::Input => device.supported_input_configs()?.collect(),
        Direction::Output => device.supported_output_configs()?.collect(),
    };
    let (config, format) = choose_config(&ranges, direction).ok_or_else(|| {
        cpal::Error::with_message(ErrorKind::UnsupportedConfig, "no sample format we can use")
    })?;
    let built = build(device, direction, config, format, shared).or_else(|e| {
        if config.buffer_size == BufferSize::Default {
            return Err(e);
        }
        let fallback = StreamConfig {
            buffer_size: BufferSize::Default,
            ..config
        };
        build(device, direction, fallback, format, shared)
    })?;
    let (stream, ends) = built;
    stream.play()?;
    Ok(Built {
        stream,
        rate: config.sample_rate,
        channels: config.channels,
        ends,
    })
}

/// Creates the ring for one direction and the stream whose callback feeds or drains it.
fn build(
    device: &cpal::Device,
    direction: Direction,
    config: StreamConfig,
    format: SampleFormat,
    shared: &Arc<Shared>,
) -> Result<(cpal::Stream, PortEnds), cpal::Error> {
    let rate = config.sample_rate;
    let (producer, consumer) = RingBuffer::new(ms_to_samples(rate, RING_MS).max(1));
    match direction {
        Direction::Input => {
            let side = InputSide::new(producer, config.channels, shared.clone());
            let stream = match format {
                SampleFormat::F32 => input_stream::<f32>(device, config, side, shared),
                SampleFormat::I16 => input_stream::<i16>(device, config, side, shared),
                SampleFormat::I32 => input_stream::<i32>(device, config, side, shared),
                SampleFormat::I24 => input_stream::<cpal::I24>(device, config, side, shared),
                SampleFormat::F64 => input_stream::<f64>(device, config, side, shared),
                SampleFormat::U16 => input_stream::<u16>(device, config, side, shared),
                SampleFormat::U32 => input_stream::<u32>(device, config, side, shared),
                SampleFormat::U24 => input_stream::<cpal::U24>(device, config, side, shared),
                SampleFormat::I8 => input_stream::<i8>(device, config, side, shared),
                SampleFormat::U8 => input_stream::<u8>(device, config, side, shared),
                _ => Err(ErrorKind::UnsupportedConfig.into()),
            }?;
            let ends = PortEnds {
                input: Some((consumer, rate)),
                output: None,
            };
            Ok((stream, ends))
        }
        Direction::Output => {
            // The ring's level just before a frame lands is what it had when playing started,
            // less one frame: a frame on top of the cushion the port keeps (see `port`).
            let cushion = ms_to_samples(rate, FRAME_MS + PLAYBACK_CUSHION_MS);
            let side = OutputSide::new(consumer, config.channels, cushion, shared.clone());
            let stream = match format {
                SampleFormat::F32 => output_stream::<f32>(device, config, side, shared),
                SampleFormat::I16 => output_stream::<i16>(device, config, side, shared),
                SampleFormat::I32 => output_stream::<i32>(device, config, side, shared),
                SampleFormat::I24 => output_stream::<cpal::I24>(device, config, side, shared),
                SampleFormat::F64 => output_stream::<f64>(device, config, side, shared),
                SampleFormat::U16 => output_stream::<u16>(device, config, side, shared),
                SampleFormat::U32 => output_stream::<u32>(device, config, side, shared),
                SampleFormat::U24 => output_stream::<cpal::U24>(device, config, side, shared),
                SampleFormat::I8 => output_stream::<i8>(device, config, side, shared),
                SampleFormat::U8 => output_stream::<u8>(device, config, side, shared),
                _ => Err(ErrorKind::UnsupportedConfig.into()),
            }?;
            let ends = PortEnds {
                input: None,
                output: Some((producer, rate)),
            };
            Ok((stream, ends))
        }
    }
}

/// The error callback runs on the stream's own thread, which must not print either.
fn on_error(shared: &Arc<Shared>, direction: Direction) -> impl FnMut(cpal::Error) + Send {
    let shared = shared.clone();
    let mut silenced = false;
    move |err| {
        if !silenced {
            quiet::silence_this_thread();
            silenced = true;
        }
        shared.report(direction.as_str(), &err);
    }
}

fn input_stream<T>(
    device: &cpal::Device,
    config: StreamConfig,
    mut side: InputSide,
    shared: &Arc<Shared>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], _: &cpal::InputCallbackInfo| side.process(data),
        on_error(shared, Direction::Input),
        None,
    )
}

fn output_stream<T>(
    device: &cpal::Device,
    config: StreamConfig,
    mut side: OutputSide,
    shared: &Arc<Shared>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + Sample + FromSample<f32>,
{
    device.build_output_stream::<T, _, _>(
        config,
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| side.process(data),
        on_error(shared, Direction::Output),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(
        channels: u16,
        min: u32,
        max: u32,
        format: SampleFormat,
    ) -> SupportedStreamConfigRange {
        let buffer = SupportedBufferSize::Range { min: 64, max: 8192 };
        SupportedStreamConfigRange::new(channels, min, max, buffer, format)
    }

    #[test]
    fn prefers_48k_float_mono_for_input_and_stereo_for_output() {
        let ranges = [
            range(1, 8_000, 48_000, SampleFormat::I16),
            range(1, 8_000, 48_000, SampleFormat::F32),
            range(2, 8_000, 48_000, SampleFormat::F32),
            range(6, 8_000, 48_000, SampleFormat::F32),
        ];
        let (config, format) = choose_config(&ranges, Direction::Input).unwrap();
        assert_eq!(
            (config.channels, config.sample_rate, format),
            (1, 48_000, SampleFormat::F32)
        );
        assert_eq!(
            config.buffer_size,
            BufferSize::Fixed(480),
            "10 ms capture periods"
        );
        let (config, _) = choose_config(&ranges, Direction::Output).unwrap();
        assert_eq!(config.channels, 2);
        assert_eq!(
            config.buffer_size,
            BufferSize::Fixed(960),
            "20 ms playback periods"
        );
    }

    #[test]
    fn takes_44_1k_when_48k_is_missing_and_a_rate_inside_odd_ranges() {
        let cd = [range(2, 44_100, 44_100, SampleFormat::I16)];
        let (config, format) = choose_config(&cd, Direction::Input).unwrap();
        assert_eq!((config.sample_rate, format), (44_100, SampleFormat::I16));
        assert_eq!(config.buffer_size, BufferSize::Fixed(441));
        let low = [range(1, 8_000, 16_000, SampleFormat::I16)];
        assert_eq!(
            choose_config(&low, Direction::Input).unwrap().0.sample_rate,
            16_000
        );
    }

    #[test]
    fn a_rate_of_48k_beats_a_nicer_format_at_44_1k() {
        let ranges = [
            range(2, 44_100, 44_100, SampleFormat::F32),
            range(2, 48_000, 48_000, SampleFormat::I16),
        ];
        let (config, format) = choose_config(&ranges, Direction::Output).unwrap();
        assert_eq!((config.sample_rate, format), (48_000, SampleFormat::I16));
    }

    #[test]
    fn formats_we_cannot_convert_are_skipped() {
        let dsd = [range(2, 48_000, 48_000, SampleFormat::DsdU8)];
        assert!(choose_config(&dsd, Direction::Output).is_none());
        assert!(choose_config(&[], Direction::Output).is_none());
    }

    #[test]
    fn the_period_is_clamped_to_what_the_device_allows() {
        let small = SupportedBufferSize::Range { min: 16, max: 256 };
        assert_eq!(period_for(&small, 48_000, 20), BufferSize::Fixed(256));
        let large = SupportedBufferSize::Range {
            min: 1024,
            max: 8192,
        };
        assert_eq!(period_for(&large, 48_000, 20), BufferSize::Fixed(1024));
        let any = SupportedBufferSize::Range { min: 1, max: 8192 };
        assert_eq!(period_for(&any, 48_000, 20), BufferSize::Fixed(960));
        assert_eq!(
            period_for(&SupportedBufferSize::Unknown, 48_000, 20),
            BufferSize::Default
        );
    }
}
