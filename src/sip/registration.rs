//! Keeps the account registered: REGISTER with digest auth, refresh before expiry, back off and
//! retry while the registrar is unreachable, stop for good when credentials are refused, and
//! unregister (Expires: 0) on the way out, waiting for the registrar's answer.
//!
//! While registered it watches: every keep-alive interval a CRLF ping keeps the way to the
//! registrar open (UDP: the NAT mapping, `keepalive.rs`; TCP: the flow, which is registered
//! again the moment it closes, RFC 5626 §4.4); every few intervals it asks the registrar
//! whether it still holds our binding (a restarted registrar forgets it) and where it sees
//! us (a new public address means a new Contact). Over TLS the flow is kept like a TCP one.
//! A registrar certificate we cannot trust ends the registration for good: asking again
//! would get the same certificate.

mod bindings;
mod keepalive;

use crate::sip::account::{Account, Transport};
use crate::sip::tcp::{Flow, TcpTransport};
use crate::sip::tls::{DialError, TlsTransport};
use crate::sip::ua::UserAgent;
use bindings::Held;
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::registration::{backoff_interval, refresh_interval, Registration};
use rsipstack::sip::{Header, StatusCode, StatusCodeKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

/// What we ask for; registrars commonly grant less, and we refresh at 75 % of what they grant.
const REQUESTED_EXPIRES: u32 = 3600;
/// A REGISTER that gets no final answer within this time counts as "registrar unreachable".
/// Shorter than SIP's 32 s transaction timeout so the user hears about trouble quickly.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(8);
const UNREGISTER_TIMEOUT: Duration = Duration::from_secs(4);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegUpdate {
    /// Registering, for the first time or again because of `why`.
    Registering {
        why: Option<String>,
    },
    Registered {
        expires: u32,
    },
    /// Temporary failure; the next attempt follows after `retry_in`.
    Retrying {
        reason: String,
        retry_in: Duration,
    },
    /// Refused for good (credentials, unknown user): no more attempts.
    Failed {
        reason: String,
    },
    /// The registrar sees us at `public`, not at `local`: we are behind NAT, and our Contact
    /// now names `public`.
    BehindNat {
        local: SocketAddr,
        public: SocketAddr,
    },
    Unregistering,
    Unregistered,
    UnregisterFailed {
        reason: String,
    },
}

/// Why registration could not start: the account's addresses do not make a REGISTER.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("registrar URI {uri} is not usable: {source}")]
    Registrar {
        uri: String,
        #[source]
        source: rsipstack::sip::Error,
    },
    #[error("contact {contact} is not usable: {source}")]
    Contact {
        contact: String,
        #[source]
        source: rsipstack::sip::Error,
    },
}

/// The registration loop, a task of the user agent (its `stop` ends it too, without
/// unregistering). Dropping this handle unregisters in the background, like `stop` unawaited.
pub struct RegistrationTask {
    stop: DropGuard,
    handle: JoinHandle<()>,
}

impl RegistrationTask {
    /// Starts registering `account` through `ua`; updates report every step.
    pub fn spawn(
        ua: &UserAgent,
        account: &Account,
        transport: Transport,
        keepalive: Option<Duration>,
        updates: mpsc::UnboundedSender<RegUpdate>,
    ) -> Result<RegistrationTask, RegistrationError> {
        let uri = account.registrar_over(transport).to_string();
        let server = rsipstack::sip::Uri::try_from(uri.as_str())
            .map_err(|source| RegistrationError::Registrar { uri, source })?;
        let aor_user = account
            .aor
            .user
            .clone()
            .unwrap_or_else(|| account.username.clone());
        let credential = account.password.as_ref().map(|password| Credential {
            username: aor_user,
            password: password.clone(),
            realm: None,
            auth_username: Some(account.username.clone()),
        });
        let mut reg = ua.registration(credential);
        let contact = format!("<{}>", ua.contact_uri());
        let contact = rsipstack::sip::typed::Contact::parse(&contact)
            .map_err(|source| RegistrationError::Contact { contact, source })?;
        // Say only what we do: rsipstack announces RFC 3327 path and RFC 5626 outbound, which
        // a registrar may act on though we send no +sip.instance or reg-id. An empty
        // Supported replaces it (RFC 3261 allows none). Our own Call-ID, not the library's
        // default domain.
        reg.extra_headers
            .push(rsipstack::sip::Header::Supported("".into()));
        reg.allow = Some(rsipstack::sip::headers::Allow::new(crate::sip::ua::ALLOW));
        reg.call_id = rsipstack::sip::headers::CallId::new(format!(
            "{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        ));
        let stop = CancellationToken::new();
        let session = Session {
            reg,
            user: account
                .aor
                .user
                .clone()
                .unwrap_or_else(|| account.username.clone()),
            has_password: account.password.is_some(),
            server,
            contact,
            tcp: ua.tcp().cloned(),
            tls: ua.tls().cloned(),
            tls_host: account.registrar.host.clone(),
            ua: ua.clone(),
            flow: None,
            bound: None,
            keepalive,
        };
        let handle = ua.spawn(run(session, stop.clone(), updates));
        Ok(RegistrationTask {
            stop: stop.drop_guard(),
            handle,
        })
    }

    /// Stops refreshing, unregisters if registered, and returns once the registrar answered
    /// (or the unregister timed out).
    pub async fn stop(self) {
        let RegistrationTask { stop, handle } = self;
        drop(stop);
        let _ = handle.await;
    }
}

enum Attempt {
    Ok(u32),
    /// Try again later: after the backoff, or after the registrar's Retry-After if longer.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Final(String),
    /// 423 Interval Too Brief: ask again with the registrar's minimum.
    TooBrief(u32),
}

/// One registration and what it needs to stay alive.
struct Session {
    reg: Registration,
    server: rsipstack::sip::Uri,
    /// The address-of-record's user, for the binding query.
    user: String,
    has_password: bool,
    /// Ours, put back before every REGISTER: rsipstack rewrites it from a 401's Via.
    contact: rsipstack::sip::typed::Contact,
    tcp: Option<Arc<TcpTransport>>,
    tls: Option<Arc<TlsTransport>>,
    /// The name the registrar's TLS certificate must carry (its URI's host).
    tls_host: String,
    ua: UserAgent,
    /// The registrar's TCP or TLS flow, while one is open.
    flow: Option<Flow>,
    /// The Contact of our last successful registration: removed when our address moves.
    bound: Option<rsipstack::sip::typed::Contact>,
    keepalive: Option<Duration>,
}

impl Session {
    /// TCP and TLS keep a flow to the registrar (and ping it); UDP pings from its socket.
    fn transport_is_stream(&self) -> bool {
        self.tcp.is_some() || self.tls.is_some()
    }

    /// Over TCP or TLS: a flow to the registrar, the one we have if it is still open.
    async fn connect(&mut self) -> Result<(), Attempt> {
        if self.tcp.is_none() && self.tls.is_none() {
            return Ok(());
        }
        if self.flow.as_ref().is_some_and(|f| !f.is_closed()) {
            return Ok(());
        }
        let target = registrar_address(&self.server).await.map_err(retry)?;
        let flow = if let Some(tls) = &self.tls {
            tls.dial(target, &self.tls_host)
                .await
                .map_err(|e| match e {
                    // The words say it all ("the registrar's certificate expired on …").
                    DialError::Untrusted(why) => Attempt::Final(sanitize(&why)),
                    DialError::Failed(why) => retry(format!(
                        "cannot connect to the registrar {target} over TLS: {}",
                        sanitize(&why)
                    )),
                })?
        } else if let Some(tcp) = &self.tcp {
            tcp.dial(target).await.map_err(|e| {
                retry(format!(
                    "cannot connect to the registrar {target} over TCP: {}",
                    sanitize(&e)
                ))
            })?
        } else {
            return Ok(());
        };
        self.flow = Some(flow);
        Ok(())
    }

    async fn register(&mut self, expires: u32) -> Attempt {
        if let Err(failed) = self.connect().await {
            return failed;
        }
        self.reg.contact = Some(self.contact.clone());
        attempt(&mut self.reg, &self.server, expires, self.has_password).await
    }

    /// After a 200: when the registrar saw us at another address (its Via `received` and
    /// `rport`, RFC 3581), that address becomes our Contact (pjsua's "contact rewrite").
    /// rsipstack already puts it in the REGISTER that answers a challenge; a binding made with
    /// an address we no longer have (our private one, or an old public one after a move) is
    /// removed and we register again. `Some` when that happened, and whether to register
    /// again now.
    async fn adopt_public_address(&mut self) -> Option<(SocketAddr, SocketAddr, bool)> {
        let seen = socket_addr(self.reg.public_address.as_ref()?)?;
        let ours = socket_addr(&self.contact.uri.host_with_port)?;
        if seen == ours {
            return None;
        }
        let sent = self.reg.contact.clone();
        // rsipstack names `seen` in a REGISTER that answers a challenge; without a challenge
        // the binding just made names the old address, and we must register `seen` too.
        let again = sent
            .as_ref()
            .is_some_and(|c| socket_addr(&c.uri.host_with_port) != Some(seen));
        // What the user knows as "local" is our socket, even when the Contact held an older
        // public address.
        let local = self.ua.local;
        self.contact.uri.host_with_port = seen.into();
        self.ua.set_public(seen);
        let mut stale: Vec<rsipstack::sip::typed::Contact> = Vec::new();
        for contact in [sent, self.bound.take()].into_iter().flatten() {
            let elsewhere = socket_addr(&contact.uri.host_with_port) != Some(seen);
            if elsewhere && !stale.iter().any(|s| s.uri == contact.uri) {
                stale.push(contact);
            }
        }
        for contact in &stale {
            let removal = bindings::remove(&mut self.reg, &self.server, &self.user, contact);
            match tokio::time::timeout(ANSWER_TIMEOUT, removal).await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => tracing::info!(contact = %contact.uri, %why, "old binding kept"),
                Err(_) => tracing::info!(contact = %contact.uri, "old binding: no answer"),
            }
        }
        Some((local, seen, again))
    }

    /// Waits while registered until something asks for a REGISTER: the refresh is due, the
    /// TCP flow closed, the registrar forgot us, or our public address moved. Every keep-alive
    /// interval a ping keeps the way to the registrar open (CRLF over UDP and TCP alike), and
    /// every few intervals the binding query checks the registrar (`keepalive.rs` says why
    /// not every time). `None` when `stop` fires first.
    async fn watch(&mut self, refresh: Duration, stop: &CancellationToken) -> Option<String> {
        let refresh_at = tokio::time::Instant::now() + refresh;
        let check_every = self.keepalive.unwrap_or(Duration::MAX);
        let mut tick: u32 = 0;
        loop {
            let next_check = tokio::time::Instant::now()
                .checked_add(check_every)
                .unwrap_or(refresh_at)
                .min(refresh_at);
            let flow = self.flow.as_ref();
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = async { flow.expect("flow").closed().await }, if flow.is_some() => {
                    let transport = flow.map_or("TCP", Flow::transport);
                    self.flow = None;
                    return Some(format!("the {transport} connection to the registrar closed"));
                }
                _ = tokio::time::sleep_until(next_check) => {
                    if next_check >= refresh_at {
                        return Some(String::new());
                    }
                }
            }
            tick = tick.wrapping_add(1);
            if let Some(flow) = &self.flow {
                if let Err(e) = flow.ping().await {
                    let transport = flow.transport();
                    self.flow = None;
                    return Some(format!(
                        "the {transport} connection to the registrar failed ({})",
                        sanitize(&e)
                    ));
                }
            } else if !self.transport_is_stream() {
                if let Err(e) = keepalive::ping(&self.reg.endpoint, &self.server).await {
                    tracing::debug!(error = %e, "UDP keep-alive not sent");
                }
            }
            if !keepalive::queries_on(tick) {
                continue;
            }
            let ours = self.contact.uri.clone();
            let check = bindings::held(&mut self.reg, &self.server, &self.user, &ours);
            let held = tokio::select! {
                _ = stop.cancelled() => return None,
                held = tokio::time::timeout(ANSWER_TIMEOUT, check) => held,
            };
            match held {
                Ok(Held::Yes { seen }) => {
                    if let Some(why) = self.moved(seen) {
                        return Some(why);
                    }
                }
                Ok(Held::No) => {
                    return Some(
                        "the registrar no longer holds our registration (did it restart?)".into(),
                    )
                }
                Ok(Held::Unknown(why)) => {
                    return Some(format!(
                        "checking the registration failed: {}",
                        sanitize(&why)
                    ))
                }
                Err(_) => {
                    return Some(format!(
                        "the registrar did not answer a check within {} s",
                        ANSWER_TIMEOUT.as_secs()
                    ))
                }
            }
        }
    }

    /// Why to register again when the registrar now sees us somewhere else than our Contact
    /// says (a new network, or the router gave us a new mapping): the REGISTER that follows
    /// learns the new address from its answer and `adopt_public_address` takes it.
    fn moved(&self, seen: Option<SocketAddr>) -> Option<String> {
        let seen = seen?;
        let ours = socket_addr(&self.contact.uri.host_with_port)?;
        address_moved(ours, seen)
    }
}

/// The words for a public address that changed from `ours` to `seen`, `None` when it did not.
fn address_moved(ours: SocketAddr, seen: SocketAddr) -> Option<String> {
    (ours != seen).then(|| {
        format!(
            "our public address changed: the registrar now sees us at {seen}, not {ours} \
             (a new network or a new NAT mapping)"
        )
    })
}

/// A host and port as a socket address (5060 when no port is given); `None` for a name.
fn socket_addr(hp: &rsipstack::sip::HostWithPort) -> Option<SocketAddr> {
    let host = hp.host.to_string();
    let ip: std::net::IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(SocketAddr::new(
        ip,
        hp.port.as_ref().map_or(5060, |p| p.value()),
    ))
}

/// The registrar's transport address: its IP, or its name looked up, and its port (5060).
async fn registrar_address(server: &rsipstack::sip::Uri) -> Result<SocketAddr, String> {
    let host = server.host_with_port.host.to_string();
    let port = server
        .host_with_port
        .port
        .as_ref()
        .map_or(5060, |p| p.value());
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("cannot resolve the registrar {host}"))
}

async fn run(
    mut session: Session,
    stop: CancellationToken,
    updates: mpsc::UnboundedSender<RegUpdate>,
) {
    let mut expires = REQUESTED_EXPIRES;
    let mut failures: u32 = 0;
    let mut registered = false;
    let _ = updates.send(RegUpdate::Registering { why: None });
    loop {
        let attempt = tokio::select! {
            _ = stop.cancelled() => break,
            a = session.register(expires) => a,
        };
        let wait = match attempt {
            Attempt::Ok(granted) => {
                failures = 0;
                registered = true;
                if let Some((local, public, again)) = session.adopt_public_address().await {
                    let _ = updates.send(RegUpdate::BehindNat { local, public });
                    if again {
                        continue;
                    }
                }
                session.bound = session.reg.contact.clone();
                let _ = updates.send(RegUpdate::Registered { expires: granted });
                match session.watch(refresh_interval(granted), &stop).await {
                    None => break,
                    Some(why) if why.is_empty() => {} // the usual refresh
                    Some(why) => {
                        let _ = updates.send(RegUpdate::Registering { why: Some(why) });
                    }
                }
                continue;
            }
            Attempt::TooBrief(min) => {
                expires = min;
                continue;
            }
            Attempt::Retry { reason, after } => {
                let retry_in = backoff_interval(failures).max(after.unwrap_or_default());
                failures += 1;
                let _ = updates.send(RegUpdate::Retrying { reason, retry_in });
                retry_in
            }
            Attempt::Final(reason) => {
                registered = false;
                let _ = updates.send(RegUpdate::Failed { reason });
                stop.cancelled().await;
                break;
            }
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    let Session {
        mut reg, server, ..
    } = session;
    if registered {
        let _ = updates.send(RegUpdate::Unregistering);
        match tokio::time::timeout(UNREGISTER_TIMEOUT, reg.register(server, Some(0))).await {
            Ok(Ok(resp)) if resp.status_code.kind() == StatusCodeKind::Successful => {
                let _ = updates.send(RegUpdate::Unregistered);
            }
            Ok(Ok(resp)) => {
                let _ = updates.send(RegUpdate::UnregisterFailed {
                    reason: format!("the registrar answered {}", status_text(&resp.status_code)),
                });
            }
            Ok(Err(e)) => {
                let _ = updates.send(RegUpdate::UnregisterFailed {
                    reason: e.to_string(),
                });
            }
            Err(_) => {
                let _ = updates.send(RegUpdate::UnregisterFailed {
                    reason: format!("no answer within {} s", UNREGISTER_TIMEOUT.as_secs()),
                });
            }
        }
    }
}

async fn attempt(
    reg: &mut Registration,
    server: &rsipstack::sip::Uri,
    expires: u32,
    has_password: bool,
) -> Attempt {
    let resp =
        match tokio::time::timeout(ANSWER_TIMEOUT, reg.register(server.clone(), Some(expires)))
            .await
        {
            Err(_) => {
                return retry(format!(
                    "no answer from the registrar {} within {} s",
                    server.host_with_port,
                    ANSWER_TIMEOUT.as_secs()
                ))
            }
            Ok(Err(e)) => return retry(failure(server, &e)),
            Ok(Ok(resp)) => resp,
        };
    let status = &resp.status_code;
    match status {
        // A 200 that grants no time (Expires: 0) leaves us unregistered: saying
        // "registered, expires 0" and asking again every second would be a lie and a flood.
        s if s.kind() == StatusCodeKind::Successful && reg.expires() == 0 => retry(
            "the registrar answered 200 OK but granted no time (expires 0), so the account is \
             not registered"
                .into(),
        ),
        s if s.kind() == StatusCodeKind::Successful => Attempt::Ok(reg.expires()),
        StatusCode::Unauthorized | StatusCode::ProxyAuthenticationRequired if !has_password => {
            Attempt::Final(format!(
                "the registrar requires a password ({}), but none was given: use --password or SIP_PASSWORD",
                status_text(status)
            ))
        }
        StatusCode::Unauthorized | StatusCode::ProxyAuthenticationRequired | StatusCode::Forbidden => {
            Attempt::Final(format!(
                "wrong username or password: the registrar refused the credentials ({})",
                status_text(status)
            ))
        }
        StatusCode::NotFound => Attempt::Final(format!(
            "the registrar does not know this account ({})",
            status_text(status)
        )),
        StatusCode::IntervalTooBrief => {
            let min = resp.headers.iter().find_map(|h| match h {
                Header::MinExpires(m) => m.to_string().rsplit(':').next()?.trim().parse().ok(),
                _ => None,
            });
            match min {
                Some(min) if min > expires => Attempt::TooBrief(min),
                _ => retry(format!("the registrar answered {}", status_text(status))),
            }
        }
        s if s.kind() == StatusCodeKind::RequestFailure => Attempt::Final(format!(
            "the registrar refused the registration ({})",
            status_text(status)
        )),
        _ => Attempt::Retry {
            reason: format!("the registrar answered {}", status_text(status)),
            after: retry_after(&resp.headers),
        },
    }
}

/// Words for a REGISTER that ended in an error: the network's, or an answer we could not use
/// (a challenge we cannot parse is an answer, not an unreachable registrar).
fn failure(server: &rsipstack::sip::Uri, error: &rsipstack::Error) -> String {
    use rsipstack::Error as E;
    let what = sanitize(&error.to_string());
    match error {
        E::TransportLayerError(..) | E::IoError(_) | E::DnsResolutionError(_) => {
            format!(
                "cannot reach the registrar {}: {what}",
                server.host_with_port
            )
        }
        _ => format!(
            "the registrar {} answered, but its answer could not be used: {what}",
            server.host_with_port
        ),
    }
}

fn retry(reason: String) -> Attempt {
    Attempt::Retry {
        reason,
        after: None,
    }
}

/// The registrar's Retry-After (RFC 3261 §20.33: seconds, maybe with a comment), capped at an
/// hour so a hostile value cannot park the account for good.
fn retry_after(headers: &rsipstack::sip::Headers) -> Option<Duration> {
    headers.iter().find_map(|h| match h {
        Header::RetryAfter(value) => {
            let text = value.to_string();
            let value = text.split_once(':').map_or(text.as_str(), |(_, v)| v);
            let secs: u64 = value
                .trim()
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()?;
            Some(Duration::from_secs(secs.min(3600)))
        }
        _ => None,
    })
}

/// Longest text of a registrar's we echo into logs and events.
const ECHO_MAX: usize = 160;

/// A registrar's words as we may echo them: control characters out, at most `ECHO_MAX`
/// characters (one line held 20 kB before).
pub(crate) fn sanitize(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    match clean.char_indices().nth(ECHO_MAX) {
        Some((cut, _)) => format!("{}…", &clean[..cut]),
        None => clean.to_string(),
    }
}

fn status_text(status: &StatusCode) -> String {
    sanitize(&status.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_public_address_is_named_with_both_addresses() {
        let ours: SocketAddr = "203.0.113.1:5070".parse().unwrap();
        assert_eq!(address_moved(ours, ours), None);
        let why = address_moved(ours, "203.0.113.2:5070".parse().unwrap()).unwrap();
        assert!(
            why.contains("now sees us at 203.0.113.2:5070, not 203.0.113.1:5070"),
            "{why}"
        );
    }
}
