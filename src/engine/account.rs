//! How the engine reports the account's registration: events for the front-ends, log lines
//! with the reason in plain words.

use super::*;
use crate::sip::registration::RegUpdate;

impl Engine {
    pub(super) fn on_registration(&mut self, update: RegUpdate) {
        let mut retry = None;
        let (state, expires, reason) = match update {
            RegUpdate::Registering => (RegistrationState::Registering, None, None),
            RegUpdate::Registered { expires } => {
                self.log(
                    LogLevel::Info,
                    LogKind::Success,
                    format!(
                        "registered as {} (expires in {expires} s)",
                        self.config.account.aor
                    ),
                );
                (RegistrationState::Registered, Some(expires), None)
            }
            RegUpdate::Retrying { reason, retry_in } => {
                self.log(
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
                self.log(
                    LogLevel::Error,
                    LogKind::Error,
                    format!("registration failed: {reason}"),
                );
                (RegistrationState::Failed, None, Some(reason))
            }
            RegUpdate::Unregistering => (RegistrationState::Unregistering, None, None),
            RegUpdate::Unregistered => {
                self.log(LogLevel::Info, LogKind::Cleanup, "unregistered");
                (RegistrationState::Unregistered, None, None)
            }
            RegUpdate::UnregisterFailed { reason } => {
                self.log(
                    LogLevel::Warn,
                    LogKind::Warning,
                    format!("unregister was not confirmed: {reason}"),
                );
                (RegistrationState::Unregistered, None, Some(reason))
            }
        };
        self.emit(Event::Registration {
            state,
            expires,
            reason,
            retry_in: retry,
        });
    }
}
