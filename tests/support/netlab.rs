//! A small network lab in Linux network namespaces (needs root, `ip` and `nft`): a "home"
//! namespace with a private address behind a "router" namespace that masquerades onto an
//! "internet" namespace. Every address is in a documentation range (RFC 5737, RFC 2544) and
//! lives only inside the namespaces the lab made; dropping the lab deletes them.
//!
//! ```text
//!  home 198.18.0.2 ── 198.18.0.1 router 203.0.113.1 ── 203.0.113.10 internet
//! ```

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub const HOME_IP: &str = "198.18.0.2";
pub const ROUTER_INSIDE_IP: &str = "198.18.0.1";
pub const ROUTER_PUBLIC_IP: &str = "203.0.113.1";
pub const INTERNET_IP: &str = "203.0.113.10";
/// A second public address the router can move to (`renumber`): "a new network".
pub const ROUTER_OTHER_IP: &str = "203.0.113.2";

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct NatLab {
    pub home: String,
    pub router: String,
    pub internet: String,
}

/// Why the lab cannot run here (not root, no `ip` or `nft`), or `None` when it can.
pub fn unavailable() -> Option<String> {
    if effective_uid() != 0 {
        return Some("the NAT lab needs root (network namespaces)".into());
    }
    for tool in ["ip", "nft", "conntrack"] {
        if Command::new(tool).arg("--version").output().is_err()
            && Command::new(tool).arg("-V").output().is_err()
        {
            return Some(format!("the NAT lab needs `{tool}`: run scripts/setup.sh"));
        }
    }
    None
}

fn effective_uid() -> u32 {
    // /proc/self/status: "Uid:\t<real>\t<effective>..."
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(u32::MAX)
}

#[track_caller]
fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl NatLab {
    /// Builds the three namespaces, their links, routes and the router's masquerading NAT.
    pub fn new() -> NatLab {
        if let Some(why) = unavailable() {
            panic!("{why}");
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("st{}x{n}", std::process::id());
        let lab = NatLab {
            home: format!("{tag}h"),
            router: format!("{tag}r"),
            internet: format!("{tag}i"),
        };
        for ns in [&lab.home, &lab.router, &lab.internet] {
            run(&["ip", "netns", "add", ns]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        let (home, router, internet) = (&lab.home, &lab.router, &lab.internet);
        run(&[
            "ip", "link", "add", "eth0", "netns", home, "type", "veth", "peer", "name", "inside",
            "netns", router,
        ]);
        run(&[
            "ip", "link", "add", "outside", "netns", router, "type", "veth", "peer", "name",
            "eth0", "netns", internet,
        ]);
        let addr = |ns: &str, ip: &str, dev: &str| {
            run(&["ip", "-n", ns, "addr", "add", ip, "dev", dev]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        };
        addr(home, &format!("{HOME_IP}/24"), "eth0");
        addr(router, &format!("{ROUTER_INSIDE_IP}/24"), "inside");
        addr(router, &format!("{ROUTER_PUBLIC_IP}/24"), "outside");
        addr(internet, &format!("{INTERNET_IP}/24"), "eth0");
        run(&[
            "ip",
            "-n",
            home,
            "route",
            "add",
            "default",
            "via",
            ROUTER_INSIDE_IP,
        ]);
        // The internet has no route to the home range: only the router's NAT gets through.
        let in_router = |args: &str| {
            let mut all = vec!["ip", "netns", "exec", router.as_str()];
            all.extend(args.split('|'));
            run(&all);
        };
        in_router("sysctl|-q|-w|net.ipv4.ip_forward=1");
        in_router("nft|add|table|ip|nat");
        in_router("nft|add|chain|ip|nat|post|{ type nat hook postrouting priority 100 ; }");
        in_router("nft|add|rule|ip|nat|post|oifname|outside|masquerade");
        lab
    }

    /// `command` with `ip netns exec <ns>` in front.
    pub fn command(ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }

    /// How long the router keeps an idle UDP mapping (conntrack), in seconds.
    pub fn set_udp_timeout(&self, secs: u32) {
        for key in [
            "nf_conntrack_udp_timeout",
            "nf_conntrack_udp_timeout_stream",
        ] {
            run(&[
                "ip",
                "netns",
                "exec",
                &self.router,
                "sysctl",
                "-q",
                "-w",
                &format!("net.netfilter.{key}={secs}"),
            ]);
        }
    }
}

impl NatLab {
    /// Runs `args` in the router's namespace and returns its standard output.
    #[track_caller]
    fn in_router(&self, args: &[&str]) -> String {
        let out = NatLab::command(&self.router, args[0])
            .args(&args[1..])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {args:?} in the router: {e}"));
        assert!(
            out.status.success(),
            "{args:?} in the router failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The router moves to another public address, as when a laptop changes network: its
    /// NAT now masquerades to `ip`, and every mapping it held is forgotten.
    pub fn renumber(&self, ip: &str) {
        self.in_router(&["ip", "addr", "add", &format!("{ip}/24"), "dev", "outside"]);
        self.in_router(&["nft", "flush", "chain", "ip", "nat", "post"]);
        self.in_router(&[
            "nft", "add", "rule", "ip", "nat", "post", "oifname", "outside", "snat", "to", ip,
        ]);
        self.forget_mappings();
    }

    /// Empties the router's connection tracking table (its NAT mappings).
    pub fn forget_mappings(&self) {
        // conntrack -F says how many it deleted on stderr, and fails when there were none
        // on some versions: either way the table is empty afterwards.
        let _ = NatLab::command(&self.router, "conntrack")
            .arg("-F")
            .output();
    }

    /// From now on the router counts packets and bytes per mapping (for flows created
    /// after this call).
    pub fn count_traffic(&self) {
        self.in_router(&["sysctl", "-q", "-w", "net.netfilter.nf_conntrack_acct=1"]);
    }

    /// The router's UDP mappings as `conntrack -L` lists them (with counters when counting);
    /// `zero` resets the counters after listing.
    pub fn udp_mappings(&self, zero: bool) -> String {
        // `-z` refuses filters such as `-p udp`: list everything, keep the UDP lines.
        let mut args = vec!["conntrack", "-L"];
        if zero {
            args.push("-z");
        }
        self.in_router(&args)
            .lines()
            .filter(|l| l.starts_with("udp"))
            .map(|l| format!("{l}\n"))
            .collect()
    }
}

impl Drop for NatLab {
    fn drop(&mut self) {
        for ns in [&self.home, &self.router, &self.internet] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}
