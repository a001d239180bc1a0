//! A small STUN server (RFC 5389 Binding only) for the NAT lab: it answers every Binding
//! request with the request's source in an XOR-MAPPED-ADDRESS, and keeps a list of who asked,
//! so a test sees the address and port the router gave our RTP socket. It runs on a thread
//! that has entered one of the lab's network namespaces (`setns` acts on the calling thread
//! only), so the test process itself stays where it is. Stopped and joined on drop.
//!
//! Written apart from sipterm's own client (src/media/stun.rs) so the two check each other.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];

pub struct StunServer {
    pub addr: SocketAddr,
    asked: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StunServer {
    /// Listens on `ip`:3478 inside network namespace `netns`.
    pub fn start_in(netns: &str, ip: &str) -> StunServer {
        let addr: SocketAddr = format!("{ip}:3478").parse().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let ns_path = format!("/run/netns/{netns}");
        let thread = {
            let (asked, stop) = (asked.clone(), stop.clone());
            std::thread::spawn(move || {
                let ns = std::fs::File::open(&ns_path)
                    .unwrap_or_else(|e| panic!("cannot open {ns_path}: {e}"));
                // SAFETY: setns on a namespace file we hold open; it only changes this thread.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                let socket = UdpSocket::bind(addr).expect("bind the STUN server");
                socket
                    .set_read_timeout(Some(Duration::from_millis(100)))
                    .unwrap();
                ready_tx.send(()).unwrap();
                serve(&socket, &asked, &stop);
            })
        };
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the STUN server started");
        StunServer {
            addr,
            asked,
            stop,
            thread: Some(thread),
        }
    }

    /// Every source address a Binding request came from, in order.
    pub fn asked(&self) -> Vec<SocketAddr> {
        self.asked.lock().unwrap().clone()
    }
}

fn serve(socket: &UdpSocket, asked: &Mutex<Vec<SocketAddr>>, stop: &AtomicBool) {
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let Ok((len, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let request = &buf[..len];
        if len < 20 || request[0..2] != [0, 1] || request[4..8] != COOKIE {
            continue;
        }
        asked.lock().unwrap().push(from);
        let SocketAddr::V4(v4) = from else { continue };
        let mut answer = vec![0x01, 0x01, 0x00, 0x0c];
        answer.extend_from_slice(&request[4..20]); // cookie and transaction id
        answer.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
        let port = v4.port().to_be_bytes();
        answer.extend_from_slice(&[port[0] ^ COOKIE[0], port[1] ^ COOKIE[1]]);
        for (b, k) in v4.ip().octets().iter().zip(COOKIE) {
            answer.push(b ^ k);
        }
        let _ = socket.send_to(&answer, from);
    }
}

impl Drop for StunServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
