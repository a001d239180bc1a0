//! Opening the sound card: finding the devices the user named (or the defaults), and the
//! thread that owns the cpal streams for the life of the `SoundCard`.
//!
//! `cpal::Stream` is not `Send` on every platform, so the streams are built, played and dropped
//! on one thread of ours; the rest of the program only sees the ring ends and the atomics.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{DeviceDirection, ErrorKind};

use super::callback::Shared;
use super::port::PortEnds;
use super::stream::open_direction;
use super::{quiet, DeviceChoice, DeviceError};

/// Opening a device normally takes milliseconds; a sound server that hangs must not hang us.
pub(super) const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// How many names a "no device named ..." error lists before pointing at `--list-devices`.
const MAX_LISTED: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Direction {
    Input,
    Output,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

/// What one opened direction runs at, for `SoundCard::description`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Side {
    pub name: String,
    pub rate: u32,
    pub channels: u16,
}

pub(super) struct Opened {
    pub input: Option<Side>,
    pub output: Option<Side>,
    pub ends: PortEnds,
}

/// The platform's audio host, without `cpal::default_host`, which panics when the host cannot
/// start (ALSA does when its configuration does not parse).
pub(super) fn host() -> Result<cpal::Host, DeviceError> {
    cpal::available_hosts()
        .into_iter()
        .find_map(|id| cpal::host_from_id(id).ok())
        .ok_or(DeviceError::NoAudioSystem)
}

/// The name a user passes to `--input-device`: the host's stable device id (on ALSA the PCM
/// name, e.g. `default` or `hw:CARD=PCH,DEV=0`), which unlike the description is unique.
pub(super) fn device_name(device: &cpal::Device) -> String {
    device
        .id()
        .map(|id| id.id().to_owned())
        .unwrap_or_else(|_| device.to_string())
}

/// ALSA's `null` PCM discards audio with no clock behind it (its stream thread spins), so it is
/// no sound card; hiding it keeps a machine without one listing nothing.
pub(super) fn is_hidden(name: &str) -> bool {
    name == "null"
}

/// The default devices first, then everything the host enumerates, each once. ALSA does not
/// always list `default` among its hints, so it is added explicitly; when it is listed, the
/// listed copy is kept for its description.
pub(super) fn candidates(host: &cpal::Host) -> Vec<cpal::Device> {
    let listed: Vec<cpal::Device> = host.devices().map(Iterator::collect).unwrap_or_default();
    let defaults = [host.default_input_device(), host.default_output_device()]
        .into_iter()
        .flatten()
        .map(|d| listed.iter().find(|l| **l == d).cloned().unwrap_or(d));
    let mut all: Vec<cpal::Device> = Vec::new();
    for device in defaults.chain(listed.iter().cloned()) {
        if !all.contains(&device) {
            all.push(device);
        }
    }
    all
}

/// Whether the host says (without opening it) that the device may do `direction`.
pub(super) fn may_support(device: &cpal::Device, direction: Direction) -> bool {
    let declared = device
        .description()
        .map(|d| d.direction())
        .unwrap_or(DeviceDirection::Unknown);
    matches!(
        (declared, direction),
        (DeviceDirection::Duplex | DeviceDirection::Unknown, _)
            | (DeviceDirection::Input, Direction::Input)
            | (DeviceDirection::Output, Direction::Output)
    )
}

/// The device for one direction: the default when no name was given (which may not exist),
/// otherwise the device with that id, or failing that with that description.
fn resolve(
    host: &cpal::Host,
    name: Option<&str>,
    direction: Direction,
) -> Result<Option<cpal::Device>, DeviceError> {
    let Some(name) = name else {
        return Ok(match direction {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        });
    };
    let all = candidates(host);
    if let Some(device) = all.iter().find(|d| device_name(d) == name) {
        return Ok(Some(device.clone()));
    }
    // Shorthand the host canonicalises, such as ALSA's `hw:0,0`.
    if let Some(device) = host.device_by_id(&cpal::DeviceId::new(host.id(), name)) {
        return Ok(Some(device));
    }
    let by_description: Vec<&cpal::Device> = all
        .iter()
        .filter(|d| {
            d.description()
                .is_ok_and(|desc| desc.name().eq_ignore_ascii_case(name))
        })
        .collect();
    if let [device] = by_description[..] {
        return Ok(Some(device.clone()));
    }
    let names: Vec<String> = all
        .iter()
        .filter(|d| may_support(d, direction))
        .map(device_name)
        .filter(|n| !is_hidden(n))
        .collect();
    Err(DeviceError::NoSuchDevice {
        direction: direction.as_str(),
        name: name.to_owned(),
        available: available_text(&names),
    })
}

fn available_text(names: &[String]) -> String {
    match names.len() {
        0 => "none".to_owned(),
        n if n <= MAX_LISTED => names.join(", "),
        n => format!(
            "{} and {} more (see --list-devices)",
            names[..MAX_LISTED].join(", "),
            n - MAX_LISTED
        ),
    }
}

/// Starts the device thread and waits for it to report what it opened.
pub(super) fn spawn(
    choice: DeviceChoice,
    shared: Arc<Shared>,
) -> Result<(Opened, mpsc::Sender<()>, JoinHandle<()>), DeviceError> {
    let (result_tx, result_rx) = mpsc::sync_channel(1);
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let thread = thread::Builder::new()
        .name("sipterm-audio".to_owned())
        .spawn(move || {
            quiet::silence_this_thread();
            match open_streams(&choice, &shared) {
                Ok((streams, opened)) => {
                    if result_tx.send(Ok(opened)).is_ok() {
                        // Returns once the SoundCard drops its sender.
                        let _ = stop_rx.recv();
                    }
                    drop(streams);
                }
                Err(e) => {
                    let _ = result_tx.send(Err(e));
                }
            }
        })
        .map_err(DeviceError::Thread)?;
    match result_rx.recv_timeout(OPEN_TIMEOUT) {
        Ok(Ok(opened)) => Ok((opened, stop_tx, thread)),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        // The thread finds nobody listening when it is done, drops its streams and ends.
        Err(RecvTimeoutError::Timeout) => Err(DeviceError::Timeout),
        Err(RecvTimeoutError::Disconnected) => {
            let _ = thread.join();
            Err(DeviceError::ThreadDied)
        }
    }
}

type Streams = Vec<cpal::Stream>;

fn open_streams(
    choice: &DeviceChoice,
    shared: &Arc<Shared>,
) -> Result<(Streams, Opened), DeviceError> {
    let host = host()?;
    let mut streams = Streams::new();
    let mut failures = Vec::new();
    let mut ends = PortEnds {
        input: None,
        output: None,
    };

    let mut open = |direction: Direction, wanted: Option<&str>| -> Result<_, DeviceError> {
        let Some(device) = resolve(&host, wanted, direction)? else {
            return Ok(None);
        };
        let name = device_name(&device);
        match open_direction(&device, direction, shared) {
            Ok(built) => {
                streams.push(built.stream);
                ends.input = ends.input.take().or(built.ends.input);
                ends.output = ends.output.take().or(built.ends.output);
                Ok(Some(Side {
                    name,
                    rate: built.rate,
                    channels: built.channels,
                }))
            }
            Err(source) => {
                let err = DeviceError::Open {
                    direction: direction.as_str(),
                    name,
                    source,
                };
                // A device the user named must work; a default that does not is just absent.
                if wanted.is_some() {
                    return Err(err);
                }
                failures.push(err);
                Ok(None)
            }
        }
    };
    let input = open(Direction::Input, choice.input.as_deref())?;
    let output = open(Direction::Output, choice.output.as_deref())?;
    if input.is_none() && output.is_none() {
        // "Not there" is the common case; a default that exists but would not open (busy,
        // permissions) says more than "no sound card".
        return Err(failures
            .into_iter()
            .find(|e| !e.means_absent())
            .unwrap_or(DeviceError::NoSoundCard));
    }
    Ok((
        streams,
        Opened {
            input,
            output,
            ends,
        },
    ))
}

impl DeviceError {
    fn means_absent(&self) -> bool {
        matches!(self, DeviceError::Open { source, .. }
            if matches!(source.kind(), ErrorKind::DeviceNotAvailable | ErrorKind::UnsupportedOperation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_of_names_are_cut_short() {
        let names: Vec<String> = (0..15).map(|i| format!("dev{i}")).collect();
        let text = available_text(&names);
        assert!(text.starts_with("dev0, dev1,"), "{text}");
        assert!(
            text.ends_with("dev11 and 3 more (see --list-devices)"),
            "{text}"
        );
        assert_eq!(available_text(&[]), "none");
    }
}
