//! Free ports on 127.0.0.1 and per-test scratch directories.
//!
//! Ports are found by binding port 0 and dropping the socket, so another process can in
//! principle take the port before the peer binds it. The kernel hands out ephemeral ports in
//! a random order, which makes that race rare; and this process never hands out the same
//! port twice, so tests running in parallel threads cannot be given each other's ports.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The only address the tests use.
pub const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn local(port: u16) -> SocketAddr {
    SocketAddr::from((LOCALHOST, port))
}

/// Ports already handed out by this process.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Marks `ports` as handed out; false (marking nothing) if any of them already was.
fn claim(ports: std::ops::Range<u16>) -> bool {
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let set = guard.get_or_insert_with(HashSet::new);
    if ports.clone().any(|p| set.contains(&p)) {
        return false;
    }
    set.extend(ports);
    true
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    for _ in 0..200 {
        let socket = UdpSocket::bind(local(0)).expect("bind an ephemeral UDP port on 127.0.0.1");
        let port = socket
            .local_addr()
            .expect("local address of a bound UDP socket")
            .port();
        if claim(port..port + 1) {
            return port;
        }
    }
    panic!("found no unclaimed UDP port on 127.0.0.1 in 200 tries");
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    for _ in 0..200 {
        let listener =
            TcpListener::bind(local(0)).expect("bind an ephemeral TCP port on 127.0.0.1");
        let port = listener
            .local_addr()
            .expect("local address of a bound TCP listener")
            .port();
        if claim(port..port + 1) {
            return port;
        }
    }
    panic!("found no unclaimed TCP port on 127.0.0.1 in 200 tries");
}

/// A port free for both UDP and TCP on 127.0.0.1 (SIP listens on both).
pub fn free_udp_tcp_port() -> u16 {
    for _ in 0..200 {
        let udp = UdpSocket::bind(local(0)).expect("bind an ephemeral UDP port on 127.0.0.1");
        let port = udp.local_addr().expect("local address").port();
        if TcpListener::bind(local(port)).is_ok() && claim(port..port + 1) {
            return port;
        }
    }
    panic!("found no port free for both UDP and TCP on 127.0.0.1 in 200 tries");
}

/// A port `p` such that `p..p + count` are all free for both UDP and TCP on 127.0.0.1
/// (baresip listens for SIP on UDP and TCP `p` and for SIP over TLS on TCP `p + 1`).
pub fn free_udp_tcp_port_block(count: u16) -> u16 {
    assert!(count > 0, "a port block needs at least one port");
    for _ in 0..500 {
        let socket = UdpSocket::bind(local(0)).expect("bind an ephemeral UDP port on 127.0.0.1");
        let base = socket.local_addr().expect("local address").port();
        drop(socket);
        if base < 1024 || base.checked_add(count).is_none() {
            continue;
        }
        let udp: Vec<_> = (base..base + count)
            .map_while(|port| UdpSocket::bind(local(port)).ok())
            .collect();
        let tcp: Vec<_> = (base..base + count)
            .map_while(|port| TcpListener::bind(local(port)).ok())
            .collect();
        if udp.len() == usize::from(count)
            && tcp.len() == usize::from(count)
            && claim(base..base + count)
        {
            return base;
        }
    }
    panic!("found no block of {count} ports free for UDP and TCP on 127.0.0.1 in 500 tries");
}

/// An even UDP port `p` such that `p..p + count` are all free: RTP takes an even port and
/// RTCP the next one; sipp's `-mp p` also binds `p + 2` (video), so ask for 4 there.
pub fn free_udp_port_block(count: u16) -> u16 {
    assert!(count > 0, "a port block needs at least one port");
    for _ in 0..500 {
        let socket = UdpSocket::bind(local(0)).expect("bind an ephemeral UDP port on 127.0.0.1");
        let base = socket.local_addr().expect("local address").port() & !1;
        drop(socket);
        if base < 1024 || base.checked_add(count).is_none() {
            continue;
        }
        let held: Vec<_> = (base..base + count)
            .map_while(|port| UdpSocket::bind(local(port)).ok())
            .collect();
        if held.len() == usize::from(count) && claim(base..base + count) {
            return base;
        }
    }
    panic!("found no block of {count} free UDP ports on 127.0.0.1 in 500 tries");
}

/// A scratch directory for one test or one peer, unique in this process and across processes.
/// Removed on drop unless `SIPTERM_KEEP_TEST_DIRS` is set (then its path is printed).
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

/// Set this variable (to anything) to keep scratch directories for post-mortems.
pub const KEEP_DIRS_ENV: &str = "SIPTERM_KEEP_TEST_DIRS";

impl ScratchDir {
    /// Creates `<temp>/sipterm-test-<label>-<pid>-<n>-<nanos>`.
    pub fn new(label: &str) -> ScratchDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = std::env::temp_dir().join(format!(
            "sipterm-test-{label}-{}-{n}-{nanos:09}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create scratch dir {}: {e}", path.display()));
        ScratchDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl AsRef<Path> for ScratchDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::env::var_os(KEEP_DIRS_ENV).is_some() {
            eprintln!("keeping test scratch dir {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Established TCP connections on loopback, as (local port, remote port), from /proc.
pub fn tcp_connections() -> Vec<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = |f: &str| u16::from_str_radix(f.rsplit(':').next()?, 16).ok();
            (fields.get(3) == Some(&"01")).then_some(())?;
            Some((port(fields.get(1)?)?, port(fields.get(2)?)?))
        })
        .collect()
}
