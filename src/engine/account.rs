//! How the engine reports the account's registration: events for the front-ends, log lines
//! with the reason in plain words.

use super::Log;
use crate::sip::registration::RegUpdate;
use crate::sip::uri::SipUri;
use crate::vocab::{Event, LogKind, LogLevel, RegistrationState};

/// Reports a registration update: the log line first, then the event.
pub(super) fn report(update: RegUpdate, aor: &SipUri, log: &Log) {
    let mut retry = None;
    let (state, expires, reason) = match update {
        RegUpdate::Registering => (RegistrationState::Registering, None, None),
        RegUpdate::Registered { expires } => {
            log.line(
                LogLevel::Info,
                LogKind::Success,
                format!("registered as {} (expires in {expires} s)", aor),
            );
            (RegistrationState::Registered, Some(expires), None)
        }
        RegUpdate::Retrying { reason, retry_in } => {
            log.line(
                LogLevel::Warn,
                LogKind::Warning,
                format!(
                    "registration: {reason}; waiting for the registrar, next try in {} s",
                    retry_in.as_secs()
                ),
            );
            retry = Some(u32::try_from(retry_in.as_secs()).unwrap_or(u32::MAX));
            (RegistrationState::Retrying, None, Some(reason))
        }
        RegUpdate::Failed { reason } => {
            log.line(
                LogLevel::Error,
                LogKind::Error,
                format!("registration failed: {reason}"),
            );
            (RegistrationState::Failed, None, Some(reason))
        }
        RegUpdate::Unregistering => (RegistrationState::Unregistering, None, None),
        RegUpdate::Unregistered => {
            log.line(LogLevel::Info, LogKind::Cleanup, "unregistered".into());
            (RegistrationState::Unregistered, None, None)
        }
        RegUpdate::UnregisterFailed { reason } => {
            log.line(
                LogLevel::Warn,
                LogKind::Warning,
                format!("unregister was not confirmed: {reason}"),
            );
            (RegistrationState::Unregistered, None, Some(reason))
        }
    };
    log.emit(Event::Registration {
        state,
        expires,
        reason,
        retry_in: retry,
    });
}
