//! WAN-sized socket buffers for the listening socket, so a hung mock backs the client's writes
//! up within seconds. Connections accepted later inherit both options.
//!
//! Over loopback the MSS is about 64 KB, and Linux sizes a new connection's send buffer from
//! it (twice ten segments: about 2.6 MB, up to `tcp_wmem`'s maximum), so a client streaming
//! 20 ms µ-law frames (about 13 KB/s) to a peer that stopped reading would write for minutes
//! before a write blocks. With a 536-byte MSS (the IPv4 default, RFC 879) and the smallest
//! receive buffer, about 42 KB fill the path: three seconds of audio (measured with the mock's
//! self-test client; a 4 KB receive buffer made it 97 KB).
//!
//! std has no setter for either option and the test crate has no libc dependency, so this
//! declares the one C function it needs; std links the C library anyway.

use std::ffi::{c_int, c_void};
use std::net::TcpListener;
use std::os::fd::AsRawFd;

/// Linux values (asm-generic/socket.h, netinet/in.h, netinet/tcp.h).
const SOL_SOCKET: c_int = 1;
const SO_RCVBUF: c_int = 8;
const IPPROTO_TCP: c_int = 6;
const TCP_MAXSEG: c_int = 2;

/// The MSS advertised to clients.
const MSS: c_int = 536;
/// The receive buffer asked for (Linux doubles it for bookkeeping and raises it to its minimum).
const RECEIVE_BUFFER: c_int = 1024;

extern "C" {
    fn setsockopt(
        socket: c_int,
        level: c_int,
        name: c_int,
        value: *const c_void,
        len: u32,
    ) -> c_int;
}

/// Gives connections accepted on `listener` a small MSS and receive buffer.
pub fn narrow_buffers(listener: &TcpListener) {
    set(listener, SOL_SOCKET, SO_RCVBUF, RECEIVE_BUFFER, "SO_RCVBUF");
    set(listener, IPPROTO_TCP, TCP_MAXSEG, MSS, "TCP_MAXSEG");
}

fn set(listener: &TcpListener, level: c_int, name: c_int, value: c_int, what: &str) {
    let len = std::mem::size_of::<c_int>() as u32;
    // SAFETY: the descriptor is the listener's own, open while `listener` is borrowed, and
    // `value` is a live c_int whose size is passed along.
    let rc = unsafe {
        setsockopt(
            listener.as_raw_fd(),
            level,
            name,
            (&value as *const c_int).cast(),
            len,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt {what} = {value} on the Realtime mock's listener: {}",
        std::io::Error::last_os_error()
    );
}
