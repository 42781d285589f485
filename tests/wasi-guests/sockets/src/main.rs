//! A WASI 0.2 command (Rust std, wasm32-wasip2) that uses `wasi:sockets` through `std::net`,
//! run by kiln in tests/tests/wasi_sockets.rs. The first argument picks the scenario. The
//! outcome is printed to stdout (`<scenario> ok`, or `FAIL <step>: <error> (<ErrorKind>)`,
//! e.g. `PermissionDenied` for `access-denied`) and the exit status is 0 or 1 (WASI 0.2's
//! `exit` carries only success or failure).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::process::exit;

fn fail(what: &str, e: std::io::Error) -> ! {
    println!("FAIL {what}: {e} ({:?})", e.kind());
    exit(1)
}

fn check(what: &str, got: &[u8], want: &[u8]) {
    if got != want {
        println!("FAIL {what}: got {got:?}, want {want:?}");
        exit(1);
    }
}

/// Connects to `addr`, sends a message, expects it echoed back, then sends a second
/// message and half-closes, expecting the echo and the end of the stream.
fn client(addr: &str) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| fail("connect", e));
    let peer = s.peer_addr().unwrap_or_else(|e| fail("peer_addr", e));
    if peer.to_string() != addr {
        println!("FAIL peer_addr {peer} != {addr}");
        exit(1);
    }
    let local = s.local_addr().unwrap_or_else(|e| fail("local_addr", e));
    if !local.ip().is_loopback() || local.port() == 0 {
        println!("FAIL local_addr {local}");
        exit(1);
    }
    s.write_all(b"hello kiln")
        .unwrap_or_else(|e| fail("write", e));
    let mut buf = [0u8; 10];
    s.read_exact(&mut buf).unwrap_or_else(|e| fail("read", e));
    check("echo", &buf, b"hello kiln");
    // A larger message (more than one socket buffer's worth is not needed; several writes).
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    s.write_all(&big).unwrap_or_else(|e| fail("write big", e));
    s.shutdown(std::net::Shutdown::Write)
        .unwrap_or_else(|e| fail("shutdown", e));
    let mut back = Vec::new();
    s.read_to_end(&mut back)
        .unwrap_or_else(|e| fail("read big", e));
    check(
        "big echo length",
        &back.len().to_le_bytes(),
        &big.len().to_le_bytes(),
    );
    check("big echo", &back, &big);
    println!("client ok");
}

/// Listens on 127.0.0.1:`port`, accepts one connection, reads until its end and answers
/// with the bytes upper-cased.
fn server(port: &str) {
    let addr = format!("127.0.0.1:{port}");
    let l = TcpListener::bind(&addr).unwrap_or_else(|e| fail("bind", e));
    let local = l.local_addr().unwrap_or_else(|e| fail("local_addr", e));
    if local.to_string() != addr {
        println!("FAIL listener local_addr {local} != {addr}");
        exit(1);
    }
    let (mut s, peer) = l.accept().unwrap_or_else(|e| fail("accept", e));
    if !peer.ip().is_loopback() {
        println!("FAIL peer {peer}");
        exit(1);
    }
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap_or_else(|e| fail("read", e));
    let up = got.to_ascii_uppercase();
    s.write_all(&up).unwrap_or_else(|e| fail("write", e));
    drop(s);
    println!("server ok");
}

/// Sends a datagram to `addr` from 127.0.0.1:0 and expects the same bytes back from it.
fn udp(addr: &str) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| fail("udp bind", e));
    let local = s.local_addr().unwrap_or_else(|e| fail("udp local_addr", e));
    if local.port() == 0 {
        println!("FAIL udp local_addr {local}");
        exit(1);
    }
    s.send_to(b"ping kiln", addr)
        .unwrap_or_else(|e| fail("udp send_to", e));
    let mut buf = [0u8; 64];
    let (n, from) = s
        .recv_from(&mut buf)
        .unwrap_or_else(|e| fail("udp recv_from", e));
    if from.to_string() != addr {
        println!("FAIL udp reply from {from}, want {addr}");
        exit(1);
    }
    check("udp reply", &buf[..n], b"PING KILN");
    // Connected mode: send/recv to the same peer.
    s.connect(addr).unwrap_or_else(|e| fail("udp connect", e));
    s.send(b"again").unwrap_or_else(|e| fail("udp send", e));
    let n = s.recv(&mut buf).unwrap_or_else(|e| fail("udp recv", e));
    check("udp reply 2", &buf[..n], b"AGAIN");
    println!("udp ok");
}

/// Resolves `localhost` and expects a loopback address.
fn lookup() {
    let addrs: Vec<_> = ("localhost", 80)
        .to_socket_addrs()
        .unwrap_or_else(|e| fail("lookup", e))
        .collect();
    println!("localhost: {addrs:?}");
    if addrs.is_empty() || !addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80) {
        exit(1);
    }
    println!("lookup ok");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    match arg(1) {
        "client" => client(arg(2)),
        "server" => server(arg(2)),
        "udp" => udp(arg(2)),
        "lookup" => lookup(),
        other => {
            println!("unknown scenario {other:?}");
            exit(1)
        }
    }
}
