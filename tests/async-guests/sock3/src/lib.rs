//! A WASI 0.3 command for kiln's `wasi:sockets@0.3.0` host: the `wasi:cli/command@0.3.0`
//! world through wit-bindgen's async support, importing WASI 0.3 interfaces only (`no_std`:
//! std's start-up and I/O are WASI 0.2 imports on wasm32-wasip2).
//!
//! The first argument after the program name selects what it does; every output line is
//! deterministic (no ports or addresses that vary), so a test can compare it:
//!
//! | arguments | behaviour                                                                    |
//! |-----------|------------------------------------------------------------------------------|
//! | `tcp N`   | a listener on 127.0.0.1:0; a spawned task connects and sends N bytes; `run` accepts, echoes them back; the client checks what came back |
//! | `reset`   | the listener accepts and drops the connection at once; the client's `send` of 8 MiB must fail |
//! | `udp`     | two sockets on 127.0.0.1: a datagram there and an answer back               |
//! | `lookup`  | resolves `localhost` (a loopback address must be among the answers)          |
//! | `options` | TCP and UDP getters and setters                                               |
//! | `denied`  | bind, connect, listen, UDP bind and a lookup; prints each outcome            |
//!
//! Anything else prints a usage line to stderr and fails. A failed check prints what went
//! wrong and makes `run` return `err` (exit status 1).

#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

// The heap, the panic handler and `cabi_realloc` a `no_std` guest needs.
#[path = "../../common/no_std_rt.rs"]
mod no_std_rt;

wit_bindgen::generate!({
    // The WASI 0.3 WIT the guests here share (tests/async-guests/wasi3-wit/ORIGIN).
    path: "../wasi3-wit",
    world: "wasi:cli/command@0.3.0",
    generate_all,
});

use exports::wasi::cli::run::Guest;
use wasi::cli::{environment, stderr, stdout};
use wasi::sockets::ip_name_lookup::{self, IpAddress};
use wasi::sockets::types::{
    IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, TcpSocket, UdpSocket,
};
use wit_bindgen::{spawn_local, StreamReader, StreamResult};

/// Writes `text` to stdout (`to_stderr`: stderr) through a stream and waits for the copy.
async fn print(text: &str, to_stderr: bool) -> Result<(), ()> {
    let (mut tx, rx) = wit_stream::new::<u8>();
    let done = if to_stderr {
        stderr::write_via_stream(rx)
    } else {
        stdout::write_via_stream(rx)
    };
    let rest = tx.write_all(text.as_bytes().to_vec()).await;
    drop(tx);
    match (rest.is_empty(), done.await) {
        (true, Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Prints `what` failed with `e` and fails.
async fn failed<T>(what: &str, e: impl core::fmt::Debug) -> Result<T, ()> {
    print(&format!("{what} failed: {e:?}\n"), false).await?;
    Err(())
}

/// 127.0.0.1:`port`.
fn loopback(port: u16) -> IpSocketAddress {
    IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port,
        address: (127, 0, 0, 1),
    })
}

fn port_of(a: IpSocketAddress) -> u16 {
    match a {
        IpSocketAddress::Ipv4(a) => a.port,
        IpSocketAddress::Ipv6(a) => a.port,
    }
}

/// Byte `i` of what the TCP client sends.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// Reads `rx` to its end.
async fn read_all(mut rx: StreamReader<u8>) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        let (status, chunk) = rx.read(Vec::with_capacity(64 << 10)).await;
        got.extend_from_slice(&chunk);
        if matches!(status, StreamResult::Dropped) {
            return got;
        }
    }
}

/// The TCP client: connects to 127.0.0.1:`port`, sends `n` pattern bytes from a task of its
/// own while it reads the echo, and checks it. A description of what failed, if anything.
async fn client(port: u16, n: usize) -> Result<(), String> {
    let sock = TcpSocket::create(IpAddressFamily::Ipv4).map_err(|e| format!("create {e:?}"))?;
    sock.connect(loopback(port))
        .await
        .map_err(|e| format!("connect {e:?}"))?;
    if sock.get_remote_address().ok().map(port_of) != Some(port) {
        return Err("remote address".to_string());
    }
    let (mut tx, tx_rx) = wit_stream::new::<u8>();
    let sent = sock.send(tx_rx);
    let (rx, received) = sock.receive();
    spawn_local(async move {
        // 4 KiB writes up to 1 MiB at a time, as a program would.
        let data: Vec<u8> = (0..n).map(pattern).collect();
        for chunk in data.chunks(1 << 20) {
            if !tx.write_all(chunk.to_vec()).await.is_empty() {
                return;
            }
        }
        // Dropping `tx` ends the stream: the host shuts the write side.
    });
    let got = read_all(rx).await;
    sent.await.map_err(|e| format!("send {e:?}"))?;
    received.await.map_err(|e| format!("receive {e:?}"))?;
    if got.len() != n {
        return Err(format!("echo of {} bytes, expected {n}", got.len()));
    }
    if got.iter().enumerate().any(|(i, b)| *b != pattern(i)) {
        return Err("echo differs".to_string());
    }
    Ok(())
}

/// `tcp N`: listener, client task, echo server.
async fn tcp(n: usize) -> Result<(), ()> {
    let listener = match TcpSocket::create(IpAddressFamily::Ipv4) {
        Ok(s) => s,
        Err(e) => return failed("create", e).await,
    };
    if let Err(e) = listener.bind(loopback(0)) {
        return failed("bind", e).await;
    }
    let mut conns = match listener.listen() {
        Ok(c) => c,
        Err(e) => return failed("listen", e).await,
    };
    let port = match listener.get_local_address() {
        Ok(a) => port_of(a),
        Err(e) => return failed("local address", e).await,
    };
    print(
        &format!("listening: {}\n", listener.get_is_listening()),
        false,
    )
    .await?;
    // The client's verdict comes back through a stream of one byte: its end joins the task.
    let (mut verdict_tx, verdict_rx) = wit_stream::new::<u8>();
    let outcome: alloc::rc::Rc<core::cell::RefCell<Option<String>>> = Default::default();
    let slot = outcome.clone();
    spawn_local(async move {
        if let Err(e) = client(port, n).await {
            *slot.borrow_mut() = Some(e);
        }
        let _ = verdict_tx.write_all(vec![1]).await;
    });
    let Some(conn) = conns.next().await else {
        return failed("accept", "the stream ended").await;
    };
    let (mut rx, received) = conn.receive();
    let (mut tx, tx_rx) = wit_stream::new::<u8>();
    let sent = conn.send(tx_rx);
    let mut total = 0usize;
    loop {
        let (status, chunk) = rx.read(Vec::with_capacity(64 << 10)).await;
        total += chunk.len();
        if !chunk.is_empty() && !tx.write_all(chunk).await.is_empty() {
            return failed("echo", "the send stream was dropped").await;
        }
        if matches!(status, StreamResult::Dropped) {
            break;
        }
    }
    drop(tx);
    if let Err(e) = received.await {
        return failed("server receive", e).await;
    }
    if let Err(e) = sent.await {
        return failed("server send", e).await;
    }
    read_all(verdict_rx).await;
    print(&format!("server echoed {total} bytes\n"), false).await?;
    let verdict = outcome.borrow_mut().take();
    match verdict {
        None => print("client ok\n", false).await,
        Some(e) => failed("client", e).await,
    }
}

/// `reset`: a peer that closes without reading makes `send`'s future an error.
async fn reset() -> Result<(), ()> {
    let listener = TcpSocket::create(IpAddressFamily::Ipv4).map_err(|_| ())?;
    let mut conns = listener.listen().map_err(|_| ())?;
    let port = listener.get_local_address().map(port_of).map_err(|_| ())?;
    let client = TcpSocket::create(IpAddressFamily::Ipv4).map_err(|_| ())?;
    if let Err(e) = client.connect(loopback(port)).await {
        return failed("connect", e).await;
    }
    // Closed unread: the client's data meets a reset.
    drop(conns.next().await);
    let (mut tx, rx) = wit_stream::new::<u8>();
    let sent = client.send(rx);
    spawn_local(async move {
        for _ in 0..8 {
            if !tx.write_all(vec![7u8; 1 << 20]).await.is_empty() {
                return;
            }
        }
    });
    let outcome = sent.await;
    print(&format!("send failed: {}\n", outcome.is_err()), false).await?;
    // The connection's one `send` is taken.
    let (_, again) = wit_stream::new::<u8>();
    print(
        &format!("second send: {:?}\n", client.send(again).await),
        false,
    )
    .await
}

/// `udp`: a datagram from `a` to `b` and an answer from `b` to where it came from.
async fn udp() -> Result<(), ()> {
    let (a, b) = match (
        UdpSocket::create(IpAddressFamily::Ipv4),
        UdpSocket::create(IpAddressFamily::Ipv4),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return failed("create", e).await,
    };
    for s in [&a, &b] {
        if let Err(e) = s.bind(loopback(0)) {
            return failed("bind", e).await;
        }
    }
    let b_addr = match b.get_local_address() {
        Ok(addr) => addr,
        Err(e) => return failed("local address", e).await,
    };
    if let Err(e) = a.send(b"ping".to_vec(), Some(b_addr)).await {
        return failed("send", e).await;
    }
    let (data, from) = match b.receive().await {
        Ok(r) => r,
        Err(e) => return failed("receive", e).await,
    };
    print(
        &format!("b got {}\n", String::from_utf8_lossy(&data)),
        false,
    )
    .await?;
    // Connected to `a`, `b` answers without an address.
    if let Err(e) = b.connect(from) {
        return failed("connect", e).await;
    }
    if let Err(e) = b.send(b"pong".to_vec(), None).await {
        return failed("send back", e).await;
    }
    let (data, _) = match a.receive().await {
        Ok(r) => r,
        Err(e) => return failed("receive back", e).await,
    };
    print(
        &format!("a got {}\n", String::from_utf8_lossy(&data)),
        false,
    )
    .await?;
    if let Err(e) = b.disconnect() {
        return failed("disconnect", e).await;
    }
    let again = b.disconnect();
    print(&format!("disconnect again: {again:?}\n"), false).await
}

/// `lookup`: `localhost` has a loopback address.
async fn lookup() -> Result<(), ()> {
    match ip_name_lookup::resolve_addresses("localhost".to_string()).await {
        Ok(addrs) => {
            let loopback = addrs.iter().any(|a| {
                matches!(
                    a,
                    IpAddress::Ipv4((127, _, _, _)) | IpAddress::Ipv6((0, 0, 0, 0, 0, 0, 0, 1))
                )
            });
            print(
                &format!("localhost has a loopback address: {loopback}\n"),
                false,
            )
            .await?;
            let bad = ip_name_lookup::resolve_addresses("not a name".to_string()).await;
            print(&format!("bad name: {bad:?}\n"), false).await
        }
        Err(e) => failed("resolve", e).await,
    }
}

/// `options`: TCP and UDP getters and setters.
async fn options() -> Result<(), ()> {
    let t = TcpSocket::create(IpAddressFamily::Ipv4).map_err(|_| ())?;
    let mut lines = Vec::new();
    lines.push(format!("family {:?}", t.get_address_family()));
    lines.push(format!("unbound address {:?}", t.get_local_address()));
    lines.push(format!("keep-alive {:?}", t.set_keep_alive_enabled(true)));
    lines.push(format!("keep-alive now {:?}", t.get_keep_alive_enabled()));
    lines.push(format!("idle 0 {:?}", t.set_keep_alive_idle_time(0)));
    lines.push(format!(
        "idle {:?}",
        t.set_keep_alive_idle_time(30_000_000_000)
    ));
    lines.push(format!("idle now {:?}", t.get_keep_alive_idle_time()));
    lines.push(format!("count {:?}", t.set_keep_alive_count(5)));
    lines.push(format!("count now {:?}", t.get_keep_alive_count()));
    lines.push(format!("hop {:?}", t.set_hop_limit(42)));
    lines.push(format!("hop now {:?}", t.get_hop_limit()));
    lines.push(format!("backlog 0 {:?}", t.set_listen_backlog_size(0)));
    let rcv = t.set_receive_buffer_size(1 << 16);
    let now = t.get_receive_buffer_size().map(|v| v > 0);
    lines.push(format!("receive buffer {rcv:?} {now:?}"));
    lines.push(format!("receive before connect {:?}", t.receive().1.await));
    let u = UdpSocket::create(IpAddressFamily::Ipv4).map_err(|_| ())?;
    lines.push(format!("udp hop {:?}", u.set_unicast_hop_limit(7)));
    lines.push(format!("udp hop now {:?}", u.get_unicast_hop_limit()));
    lines.push(format!("udp remote {:?}", u.get_remote_address()));
    lines.push(format!(
        "udp receive unbound {:?}",
        u.receive().await.map(|_| ())
    ));
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    print(&text, false).await
}

/// `denied`: every network operation without permission.
async fn denied() -> Result<(), ()> {
    let t = TcpSocket::create(IpAddressFamily::Ipv4).map_err(|_| ())?;
    let mut lines = Vec::new();
    lines.push(format!("tcp bind {:?}", t.bind(loopback(0))));
    lines.push(format!("tcp listen {:?}", t.listen().map(|_| ())));
    let c = TcpSocket::create(IpAddressFamily::Ipv4).map_err(|_| ())?;
    lines.push(format!("tcp connect {:?}", c.connect(loopback(9)).await));
    let u = UdpSocket::create(IpAddressFamily::Ipv4).map_err(|_| ())?;
    lines.push(format!("udp bind {:?}", u.bind(loopback(0))));
    lines.push(format!(
        "udp send {:?}",
        u.send(b"x".to_vec(), Some(loopback(9))).await
    ));
    let r = ip_name_lookup::resolve_addresses("localhost".to_string()).await;
    lines.push(format!("lookup {:?}", r.map(|_| ())));
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    print(&text, false).await
}

struct Sock3;

impl Guest for Sock3 {
    async fn run() -> Result<(), ()> {
        let args = environment::get_arguments();
        let n = args.get(2).and_then(|a| a.parse::<usize>().ok());
        match (args.get(1).map(String::as_str), n) {
            (Some("tcp"), Some(n)) => tcp(n).await,
            (Some("reset"), _) => reset().await,
            (Some("udp"), _) => udp().await,
            (Some("lookup"), _) => lookup().await,
            (Some("options"), _) => options().await,
            (Some("denied"), _) => denied().await,
            _ => {
                print("usage: sock3 tcp N|reset|udp|lookup|options|denied\n", true).await?;
                Err(())
            }
        }
    }
}

export!(Sock3);
