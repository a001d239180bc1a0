//! The account's registration as the front-ends see it: each update of the registration task
//! becomes a `registration` event (the front-ends put it into words).

use crate::sip::registration::RegUpdate;
use crate::vocab::{Event, LogKind, LogLevel, RegistrationState};

pub(super) fn event(update: RegUpdate) -> Event {
    let mut retry_in = None;
    let (state, expires, reason) = match update {
        RegUpdate::BehindNat { local, public } => {
            return Event::Log {
                level: LogLevel::Info,
                kind: LogKind::Startup,
                message: format!(
                    "behind NAT: the registrar sees us at {public}, not {local}; our Contact \
                     names {public} now"
                ),
            }
        }
        RegUpdate::Registering { why } => (RegistrationState::Registering, None, why),
        RegUpdate::Registered { expires } => (RegistrationState::Registered, Some(expires), None),
        RegUpdate::Retrying {
            reason,
            retry_in: wait,
        } => {
            retry_in = Some(u32::try_from(wait.as_secs()).unwrap_or(u32::MAX));
            (RegistrationState::Retrying, None, Some(reason))
        }
        RegUpdate::Failed { reason } => (RegistrationState::Failed, None, Some(reason)),
        RegUpdate::Unregistering => (RegistrationState::Unregistering, None, None),
        RegUpdate::Unregistered => (RegistrationState::Unregistered, None, None),
        // An unregister that was not confirmed is still the end of it, with the reason.
        RegUpdate::UnregisterFailed { reason } => {
            (RegistrationState::Unregistered, None, Some(reason))
        }
    };
    Event::Registration {
        state,
        expires,
        reason,
        retry_in,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retrying_carries_the_reason_and_the_wait_in_whole_seconds() {
        let e = event(RegUpdate::Retrying {
            reason: "no answer".into(),
            retry_in: Duration::from_millis(4_900),
        });
        assert_eq!(
            e,
            Event::Registration {
                state: RegistrationState::Retrying,
                expires: None,
                reason: Some("no answer".into()),
                retry_in: Some(4),
            }
        );
    }

    #[test]
    fn behind_nat_is_said_with_both_addresses() {
        let e = event(RegUpdate::BehindNat {
            local: "198.18.0.2:5070".parse().unwrap(),
            public: "203.0.113.1:5070".parse().unwrap(),
        });
        let Event::Log { message, .. } = e else {
            panic!("{e:?}");
        };
        assert!(
            message.contains("sees us at 203.0.113.1:5070, not 198.18.0.2:5070"),
            "{message}"
        );
    }

    #[test]
    fn an_unconfirmed_unregister_is_unregistered_with_a_reason() {
        let e = event(RegUpdate::UnregisterFailed {
            reason: "timeout".into(),
        });
        assert!(matches!(
            e,
            Event::Registration {
                state: RegistrationState::Unregistered,
                reason: Some(_),
                ..
            }
        ));
    }
}
