//! baresip's `ctrl_tcp` protocol: netstrings (`<len>:<bytes>,`) carrying JSON both ways.
//!
//! - command: `{"command":"dial","params":"sip:...","token":"7"}`;
//! - response: `{"response":true,"ok":true,"data":"...","token":"7"}`;
//! - event: `{"event":true,"type":"CALL_ESTABLISHED","class":"call","accountaor":"...",
//!   "direction":"outgoing","peeruri":"...","id":"...","param":"..."}`.
//!
//! baresip 1.0's ctrl_tcp serves one connection (a new one replaces the old), so each
//! [`CtrlClient`] is the only client of its baresip.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::Value;

use super::super::process::wait_until;

/// How long a command waits for its response.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Inbox {
    /// Every event, in arrival order, with whether `take_event` has handed it out.
    events: Vec<(Value, bool)>,
    responses: Vec<Value>,
    closed: bool,
}

/// A connection to ctrl_tcp with a reader thread collecting events and responses.
#[derive(Debug)]
pub struct CtrlClient {
    stream: TcpStream,
    inbox: Arc<Mutex<Inbox>>,
    next_token: AtomicU64,
    reader: Option<JoinHandle<()>>,
}

impl CtrlClient {
    /// Connects to `addr`, retrying until `timeout` while `alive()` holds.
    pub fn connect(
        addr: SocketAddr,
        timeout: Duration,
        mut alive: impl FnMut() -> bool,
    ) -> Result<CtrlClient, String> {
        let mut stream = None;
        let mut last_error = String::from("never tried");
        wait_until(timeout, || {
            if !alive() {
                last_error = "the process exited".into();
                return true;
            }
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(s) => stream = Some(s),
                Err(e) => last_error = e.to_string(),
            }
            stream.is_some()
        });
        let stream =
            stream.ok_or_else(|| format!("cannot connect to ctrl_tcp at {addr}: {last_error}"))?;
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let mut reader_stream = stream.try_clone().map_err(|e| e.to_string())?;
        let reader_inbox = Arc::clone(&inbox);
        let reader = thread::Builder::new()
            .name(format!("baresip-ctrl-{addr}"))
            .spawn(move || read_loop(&mut reader_stream, &reader_inbox))
            .map_err(|e| e.to_string())?;
        Ok(CtrlClient {
            stream,
            inbox,
            next_token: AtomicU64::new(1),
            reader: Some(reader),
        })
    }

    /// Sends a command and waits for its response: `Ok(data)` if baresip said ok, else
    /// `Err` with its data or the reason there was no answer.
    pub fn command(&self, command: &str, params: Option<&str>) -> Result<String, String> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed).to_string();
        let mut message = serde_json::json!({ "command": command, "token": token });
        if let Some(params) = params {
            message["params"] = Value::from(params);
        }
        let body = message.to_string();
        (&self.stream)
            .write_all(format!("{}:{body},", body.len()).as_bytes())
            .map_err(|e| format!("cannot send {command:?} to baresip: {e}"))?;
        let mut response = None;
        wait_until(COMMAND_TIMEOUT, || {
            let mut inbox = self.lock();
            if let Some(i) = inbox
                .responses
                .iter()
                .position(|r| r["token"].as_str() == Some(token.as_str()))
            {
                response = Some(inbox.responses.remove(i));
            }
            response.is_some() || inbox.closed
        });
        let response = response.ok_or_else(|| {
            format!("no response to {command:?} within {COMMAND_TIMEOUT:?} (or ctrl_tcp closed)")
        })?;
        let data = response["data"].as_str().unwrap_or_default().to_owned();
        if response["ok"].as_bool() == Some(true) {
            Ok(data)
        } else {
            Err(format!("baresip refused {command:?}: {data}"))
        }
    }

    /// Every event received so far.
    pub fn events(&self) -> Vec<Value> {
        self.lock().events.iter().map(|(e, _)| e.clone()).collect()
    }

    /// The first event matching `pred` not yet handed out by this method, waiting up to
    /// `timeout`; marks it handed out (so successive calls see successive events).
    pub fn take_event(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let mut found = None;
        wait_until(timeout, || {
            let mut inbox = self.lock();
            if let Some((event, taken)) = inbox.events.iter_mut().find(|(e, t)| !*t && pred(e)) {
                *taken = true;
                found = Some(event.clone());
            }
            found.is_some()
        });
        found
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for CtrlClient {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn read_loop(stream: &mut TcpStream, inbox: &Mutex<Inbox>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        loop {
            if malformed(&buffer) {
                // Out of step with the framing; nothing after this can be trusted either.
                buffer.clear();
            }
            let Some((message, used)) = parse_netstring(&buffer) else {
                break;
            };
            buffer.drain(..used);
            let Ok(value) = serde_json::from_slice::<Value>(&message) else {
                continue;
            };
            let mut inbox = inbox.lock().unwrap_or_else(|e| e.into_inner());
            if value["event"].as_bool() == Some(true) {
                inbox.events.push((value, false));
            } else if value["response"].as_bool() == Some(true) {
                inbox.responses.push(value);
            }
        }
    }
    inbox.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
}

fn malformed(buffer: &[u8]) -> bool {
    let prefix = match buffer.iter().position(|&b| b == b':') {
        Some(colon) => &buffer[..colon],
        None => buffer,
    };
    prefix.len() > 10 || !prefix.iter().all(u8::is_ascii_digit)
}

/// The first complete netstring in `buffer`: its content and the bytes it took; `None` while
/// it is incomplete or if the length is not a number.
pub fn parse_netstring(buffer: &[u8]) -> Option<(Vec<u8>, usize)> {
    let colon = buffer.iter().position(|&b| b == b':')?;
    let digits = &buffer[..colon];
    let len: usize = std::str::from_utf8(digits).ok()?.trim().parse().ok()?;
    let end = colon + 1 + len;
    if buffer.len() <= end {
        return None;
    }
    Some((buffer[colon + 1..end].to_vec(), end + 1))
}
