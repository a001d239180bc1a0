//! Kamailio as registrar and stateful proxy for one test, on UDP and TCP 127.0.0.1:<free port>,
//! and with [`KamailioBuilder::tls`] also on TLS at another free port (its tls module, with a
//! certificate the test made).
//!
//! Domain `127.0.0.1`; digest realm [`REALM`]. Users and passwords are given to `start` and
//! compiled into the generated config (see `kamailio.cfg.in` beside this file). The location
//! table is read through kamcmd on a ctl socket in the scratch dir.
//!
//! A sipp UAS becomes reachable as a user through the proxy with
//! `sipp::spawn_registered_uas(&kamailio, user, password, Sipp::uas(..))`, which registers its
//! port as that user's contact; [`KamailioBuilder::invite_auth`] makes the users' own INVITEs
//! authenticate (407).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::ports::{free_tcp_port, free_udp_tcp_port, ScratchDir, LOCALHOST};
use super::process::{read_lossy, require_tool, tail, wait_until, ChildGuard};

/// The digest realm of the challenges (deliberately not the domain: a UA must take the
/// realm from the challenge).
pub const REALM: &str = "sipterm.test";
/// The SIP domain of every AoR.
pub const DOMAIN: &str = "127.0.0.1";

const CONFIG_TEMPLATE: &str = include_str!("kamailio.cfg.in");
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Settings for [`Kamailio`]; `Kamailio::start(users)` uses the defaults.
#[derive(Debug, Clone)]
pub struct KamailioBuilder {
    users: Vec<(String, String)>,
    max_expires: u32,
    debug: i32,
    port: Option<u16>,
    proxy_auth: bool,
    invite_auth: bool,
    tcp_lifetime: u32,
    /// Run inside this network namespace, listening on this address (see `netlab`).
    netns: Option<(String, String)>,
    /// Also listen on TLS with this certificate and key (PEM files).
    tls: Option<(PathBuf, PathBuf)>,
}

impl KamailioBuilder {
    /// Challenge REGISTER as a proxy does (407 Proxy-Authenticate) instead of 401.
    pub fn proxy_auth(mut self) -> Self {
        self.proxy_auth = true;
        self
    }

    /// Make INVITEs from the users authenticate too: an INVITE whose From user is one of
    /// `user(..)`'s gets a 407 (Proxy-Authenticate, realm [`REALM`]) unless it carries
    /// Proxy-Authorization with that user's password. Callers that are not users (sipp, with
    /// `From: sipp`) still go through unchallenged.
    pub fn invite_auth(mut self) -> Self {
        self.invite_auth = true;
        self
    }

    /// Listen on this port instead of a free one (to bring a registrar back where it was).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    pub fn user(mut self, user: &str, password: &str) -> Self {
        for (what, value) in [("user name", user), ("password", password)] {
            assert!(
                !value.is_empty()
                    && value
                        .chars()
                        .all(|c| c.is_ascii_graphic() && !"\"\\$'".contains(c)),
                "kamailio test {what} {value:?} must be non-empty printable ASCII without quotes, \
                 backslash or $"
            );
        }
        self.users.push((user.to_owned(), password.to_owned()));
        self
    }

    /// Largest registration lifetime granted (default 3600 s): a UA asking for more gets this
    /// in the 200 OK, so a small value makes it refresh soon.
    pub fn max_expires(mut self, seconds: u32) -> Self {
        self.max_expires = seconds.max(1);
        self
    }

    /// Run in network namespace `ns`, listening on `ip` there (the NAT lab's internet side).
    pub fn netns(mut self, ns: &str, ip: &str) -> Self {
        self.netns = Some((ns.to_owned(), ip.to_owned()));
        self
    }

    /// Also listen on TLS (at [`Kamailio::tls_port`]) with this certificate and key, e.g.
    /// from [`super::certs::TestCa::issue`]. Needs Debian's kamailio-tls-modules.
    pub fn tls(mut self, cert: &Path, key: &Path) -> Self {
        self.tls = Some((cert.to_path_buf(), key.to_path_buf()));
        self
    }

    /// Close a TCP (or TLS) connection after this many seconds without traffic (default 3605).
    pub fn tcp_lifetime(mut self, seconds: u32) -> Self {
        self.tcp_lifetime = seconds.max(1);
        self
    }

    /// Kamailio's log level (default 2 = info, 3 = debug).
    pub fn debug(mut self, level: i32) -> Self {
        self.debug = level;
        self
    }

    pub fn start(self) -> Kamailio {
        Kamailio::start_with(self)
    }
}

/// A running Kamailio; stopped (with its workers) on drop.
#[derive(Debug)]
pub struct Kamailio {
    // Field order matters: the process must stop before its directory goes.
    child: ChildGuard,
    port: u16,
    /// The TLS port, when started with [`KamailioBuilder::tls`].
    tls_port: Option<u16>,
    ctl: String,
    users: Vec<(String, String)>,
    /// Where it listens: 127.0.0.1, or its address in a namespace.
    ip: String,
    in_netns: bool,
    dir: ScratchDir,
}

impl Kamailio {
    pub fn builder() -> KamailioBuilder {
        KamailioBuilder {
            users: Vec::new(),
            max_expires: 3600,
            debug: 2,
            port: None,
            proxy_auth: false,
            invite_auth: false,
            tcp_lifetime: 3605,
            netns: None,
            tls: None,
        }
    }

    /// Starts Kamailio with these `(user, password)` accounts and waits until it answers
    /// OPTIONS on UDP and accepts TCP connections. Panics (with its log) if it does not.
    pub fn start(users: &[(&str, &str)]) -> Kamailio {
        users
            .iter()
            .fold(Kamailio::builder(), |b, (u, p)| b.user(u, p))
            .start()
    }

    fn start_with(settings: KamailioBuilder) -> Kamailio {
        require_tool("kamailio");
        require_tool("kamcmd");
        // A port picked free can be taken before Kamailio binds it; then try another.
        let mut attempt = 1;
        loop {
            let mut kamailio = Kamailio::spawn(&settings);
            match kamailio.wait_ready() {
                Ok(()) => return kamailio,
                Err(why) if attempt < 3 && kamailio.log().contains("in use") => {
                    eprintln!(
                        "kamailio could not bind port {}, retrying: {why}",
                        kamailio.port
                    );
                    attempt += 1;
                }
                Err(why) => panic!("{why}"),
            }
        }
    }

    fn spawn(settings: &KamailioBuilder) -> Kamailio {
        let dir = ScratchDir::new("kamailio");
        let port = settings.port.unwrap_or_else(free_udp_tcp_port);
        let ip = settings
            .netns
            .as_ref()
            .map_or_else(|| "127.0.0.1".to_string(), |(_, ip)| ip.clone());
        let socket = dir.join("ctl.sock");
        // sun_path holds 108 bytes; fall back to TCP for very long temp dirs.
        let ctl = if socket.as_os_str().len() < 100 {
            format!("unix:{}", socket.display())
        } else {
            format!("tcp:127.0.0.1:{}", free_tcp_port())
        };
        let sipdump_dir = dir.join("sipdump");
        std::fs::create_dir_all(&sipdump_dir).expect("create the sipdump dir");
        let users: String = settings
            .users
            .iter()
            .map(|(user, password)| {
                format!(
                    "\t\tcase \"{user}\":\n\t\t\t$var(password) = \"{password}\";\n\t\t\tbreak;\n"
                )
            })
            .collect();
        let config = CONFIG_TEMPLATE
            .replace("@PORT@", &port.to_string())
            .replace("@IP@", &ip)
            .replace("@CTL@", &ctl)
            .replace("@SIPDUMP_DIR@", &sipdump_dir.display().to_string())
            .replace("@REALM@", REALM)
            .replace("@MAX_EXPIRES@", &settings.max_expires.to_string())
            .replace("@TCP_LIFETIME@", &settings.tcp_lifetime.to_string())
            .replace("@DEBUG@", &settings.debug.to_string())
            .replace(
                "@AUTH_HEADER@",
                if settings.proxy_auth {
                    "Proxy-Authorization"
                } else {
                    "Authorization"
                },
            )
            .replace(
                "@CHALLENGE@",
                if settings.proxy_auth {
                    "proxy_challenge"
                } else {
                    "www_challenge"
                },
            )
            .replace(
                "@AUTHENTICATE@",
                if settings.proxy_auth {
                    "pv_proxy_authenticate"
                } else {
                    "pv_www_authenticate"
                },
            )
            .replace(
                "@INVITE_AUTH@",
                if settings.invite_auth {
                    "\troute(INVITEAUTH);"
                } else {
                    ""
                },
            )
            .replace("@USERS@\n", &users);
        let tls_port = settings.tls.as_ref().map(|_| free_tcp_port());
        let (tls_globals, tls_module) = match (&settings.tls, tls_port) {
            (Some((cert, key)), Some(tls_port)) => (
                format!("enable_tls=yes\nlisten=tls:{ip}:{tls_port}\n"),
                format!(
                    "loadmodule \"tls.so\"\n\
                     modparam(\"tls\", \"certificate\", \"{}\")\n\
                     modparam(\"tls\", \"private_key\", \"{}\")\n\
                     modparam(\"tls\", \"tls_method\", \"TLSv1.2+\")\n\
                     modparam(\"tls\", \"verify_certificate\", 0)\n\
                     modparam(\"tls\", \"require_certificate\", 0)\n\
                     modparam(\"tls\", \"connection_timeout\", {})\n",
                    cert.display(),
                    key.display(),
                    // The tls module keeps its own idle lifetime (600 s) for TLS flows.
                    settings.tcp_lifetime
                ),
            ),
            _ => (String::new(), String::new()),
        };
        let config = config
            .replace("@TLS_GLOBALS@\n", &tls_globals)
            .replace("@TLS_MODULE@\n", &tls_module);
        let config_path = dir.join("kamailio.cfg");
        std::fs::write(&config_path, config).expect("write kamailio.cfg");

        let mut command = match &settings.netns {
            Some((ns, _)) => super::netlab::NatLab::command(ns, "kamailio"),
            None => Command::new("kamailio"),
        };
        command
            .arg("-DD") // stay in the foreground (workers are still forked)
            .arg("-E") // log to stderr
            .arg("-f")
            .arg(&config_path)
            .arg("-P")
            .arg(dir.join("kamailio.pid"))
            .arg("-Y")
            .arg(dir.path())
            .arg("-w")
            .arg(dir.path())
            .args(["-m", "32", "-M", "4"]);
        let child = ChildGuard::spawn("kamailio", command, dir.path());
        Kamailio {
            child,
            port,
            tls_port,
            ctl,
            users: settings.users.clone(),
            ip,
            in_netns: settings.netns.is_some(),
            dir,
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait() {
                return Err(format!(
                    "kamailio exited during start-up ({status}) on port {}:\n{}",
                    self.port,
                    tail(&self.log(), 40)
                ));
            }
            let ctl_up = self.kamcmd(&["core.version"]).contains("kamailio");
            // In a namespace the test cannot reach it; the ctl socket (a file) says it is up.
            let reachable = self.in_netns
                || (self.ping_udp(Duration::from_millis(500))
                    && self.tcp_accepts()
                    && self.tls_accepts());
            if ctl_up && reachable {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "kamailio did not become ready on port {} within {START_TIMEOUT:?}:\n{}",
                    self.port,
                    tail(&self.log(), 40)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip.parse().expect("an IP address"), self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    pub fn users(&self) -> &[(String, String)] {
        &self.users
    }

    /// `sip:127.0.0.1:<port>` (with `;transport=tcp` when `tcp`).
    pub fn registrar_uri(&self, tcp: bool) -> String {
        let transport = if tcp { ";transport=tcp" } else { "" };
        format!("sip:{}:{}{transport}", self.ip, self.port)
    }

    /// `sip:<user>@127.0.0.1:<port>`: an AoR that also routes to this proxy.
    pub fn uri(&self, user: &str) -> String {
        format!("sip:{user}@{}:{}", self.ip, self.port)
    }

    /// The scratch dir holding kamailio.cfg, its log and the ctl socket.
    pub fn dir(&self) -> &ScratchDir {
        &self.dir
    }

    /// Kamailio's own log (stderr): one line per request routed, auth failures, errors.
    pub fn log_path(&self) -> std::path::PathBuf {
        self.child.stderr_path().to_path_buf()
    }

    pub fn log(&self) -> String {
        read_lossy(self.child.stderr_path())
    }

    /// Every SIP message Kamailio received and sent so far (sipdump text files; written
    /// every 100 ms, so the last ones may lag a little).
    pub fn sip_trace(&self) -> String {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.join("sipdump"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "data"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files.iter().map(|f| read_lossy(f)).collect()
    }

    /// Runs `kamcmd <args>` against this instance; returns stdout + stderr.
    pub fn kamcmd(&self, args: &[&str]) -> String {
        match Command::new("kamcmd")
            .arg("-s")
            .arg(&self.ctl)
            .args(args)
            .output()
        {
            Ok(out) => {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                text
            }
            Err(e) => format!("cannot run kamcmd: {e}"),
        }
    }

    /// The live contact URIs registered for `user` (empty when none, expired or removed).
    pub fn contacts(&self, user: &str) -> Vec<String> {
        parse_contacts(&self.kamcmd(&["ul.lookup", "location", user]))
    }

    /// Polls `contacts(user)` until `predicate` holds. `Ok(contacts)` then; on timeout
    /// `Err` with the last contacts and the end of Kamailio's log.
    pub fn wait_for_contacts(
        &self,
        user: &str,
        predicate: impl Fn(&[String]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<String>, String> {
        let mut last = Vec::new();
        if wait_until(timeout, || {
            last = self.contacts(user);
            predicate(&last)
        }) {
            Ok(last)
        } else {
            Err(format!(
                "contacts of {user} after {timeout:?}: {last:?}\nkamailio log:\n{}",
                tail(&self.log(), 30)
            ))
        }
    }

    /// Sends OPTIONS to the proxy itself over UDP and checks for a 200.
    pub fn ping_udp(&self, timeout: Duration) -> bool {
        let Ok(socket) = UdpSocket::bind((LOCALHOST, 0)) else {
            return false;
        };
        let local = socket.local_addr().expect("local address");
        let request = options_request(self.port, local, "UDP");
        if socket.set_read_timeout(Some(timeout)).is_err()
            || socket.send_to(request.as_bytes(), self.addr()).is_err()
        {
            return false;
        }
        let mut buf = [0u8; 4096];
        match socket.recv(&mut buf) {
            Ok(n) => buf[..n].starts_with(b"SIP/2.0 200"),
            Err(_) => false,
        }
    }

    /// Sends OPTIONS to the proxy itself over TCP and checks for a 200.
    pub fn ping_tcp(&self, timeout: Duration) -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr(), timeout) else {
            return false;
        };
        let local = stream.local_addr().expect("local address");
        let request = options_request(self.port, local, "TCP");
        if stream.set_read_timeout(Some(timeout)).is_err()
            || stream.write_all(request.as_bytes()).is_err()
        {
            return false;
        }
        let mut buf = [0u8; 4096];
        matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"SIP/2.0 200"))
    }

    fn tcp_accepts(&self) -> bool {
        TcpStream::connect_timeout(&self.addr(), Duration::from_millis(500)).is_ok()
    }

    /// True without TLS; with it, whether the TLS port accepts connections.
    fn tls_accepts(&self) -> bool {
        self.tls_addr().is_none_or(|addr| {
            TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
        })
    }

    /// The TLS port (started with [`KamailioBuilder::tls`]).
    pub fn tls_port(&self) -> u16 {
        self.tls_port
            .expect("this Kamailio was started without .tls(..)")
    }

    /// Where it listens on TLS, when it does.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_port
            .map(|port| SocketAddr::new(self.ip.parse().expect("an IP address"), port))
    }

    /// Stops Kamailio now (also done on drop).
    pub fn stop(&mut self) {
        self.child.stop();
    }
}

fn options_request(port: u16, local: SocketAddr, transport: &str) -> String {
    let tag = std::process::id();
    format!(
        "OPTIONS sip:{DOMAIN}:{port} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK-ping-{tag}-{}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:ping@{DOMAIN}>;tag=ping{tag}\r\n\
         To: <sip:{DOMAIN}:{port}>\r\n\
         Call-ID: ping-{tag}-{}@{local}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        local.port(),
        local.port()
    )
}

/// Contact addresses from `kamcmd ul.lookup location <aor>` output, skipping contacts whose
/// `Expires:` says expired/deleted.
pub fn parse_contacts(output: &str) -> Vec<String> {
    let mut contacts = Vec::new();
    let mut address: Option<String> = None;
    for line in output.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("Address:") {
            address = Some(value.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("Expires:") {
            let value = value.trim();
            let live = value == "permanent" || value.parse::<i64>().is_ok_and(|s| s > 0);
            if let Some(address) = address.take() {
                if live {
                    contacts.push(address);
                }
            }
        }
    }
    contacts
}
