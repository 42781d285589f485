//! The `tcp-socket` checks of the WIT-level guest: states and errors, options, a
//! connection (data, a large transfer, shutdown, connection refused) and IPv6 rules.

use crate::wasi::io::streams::StreamError;
use crate::wasi::sockets::network::{ErrorCode as E, IpAddressFamily, IpSocketAddress, Network};
use crate::wasi::sockets::tcp::ShutdownType;
use crate::wasi::sockets::tcp_create_socket::create_tcp_socket;
use crate::{accept, bind, connect, listener, v4, v6, Checks};

pub fn tcp_states(c: &mut Checks, net: &Network) {
    let s = create_tcp_socket(IpAddressFamily::Ipv4).expect("create");
    c.eq(
        "tcp address-family",
        s.address_family(),
        IpAddressFamily::Ipv4,
    );
    c.eq("tcp is-listening (new)", s.is_listening(), false);
    c.eq(
        "tcp local-address unbound",
        s.local_address().err(),
        Some(E::InvalidState),
    );
    c.eq(
        "tcp remote-address unbound",
        s.remote_address().err(),
        Some(E::InvalidState),
    );
    c.eq(
        "tcp finish-bind idle",
        s.finish_bind(),
        Err(E::NotInProgress),
    );
    c.eq(
        "tcp finish-connect idle",
        s.finish_connect().err(),
        Some(E::NotInProgress),
    );
    c.eq(
        "tcp finish-listen idle",
        s.finish_listen(),
        Err(E::NotInProgress),
    );
    c.eq(
        "tcp start-listen unbound",
        s.start_listen(),
        Err(E::InvalidState),
    );
    c.eq(
        "tcp accept unbound",
        s.accept().err(),
        Some(E::InvalidState),
    );
    c.eq(
        "tcp shutdown unconnected",
        s.shutdown(ShutdownType::Both),
        Err(E::InvalidState),
    );
    let loopback6 = v6([0, 0, 0, 0, 0, 0, 0, 1], 0);
    c.eq(
        "tcp bind wrong family",
        s.start_bind(net, loopback6),
        Err(E::InvalidArgument),
    );
    let multicast = v4([224, 0, 0, 1], 0);
    c.eq(
        "tcp bind multicast",
        s.start_bind(net, multicast),
        Err(E::InvalidArgument),
    );
    c.eq(
        "tcp start-bind",
        s.start_bind(net, v4([127, 0, 0, 1], 0)),
        Ok(()),
    );
    c.eq(
        "tcp start-bind while binding",
        s.start_bind(net, v4([127, 0, 0, 1], 0)),
        Err(E::ConcurrencyConflict),
    );
    c.eq("tcp finish-bind", s.finish_bind(), Ok(()));
    c.eq(
        "tcp finish-bind twice",
        s.finish_bind(),
        Err(E::NotInProgress),
    );
    c.eq(
        "tcp rebind",
        s.start_bind(net, v4([127, 0, 0, 1], 0)),
        Err(E::InvalidState),
    );
    match s.local_address() {
        Ok(IpSocketAddress::Ipv4(a)) => c.that(
            "tcp local-address bound",
            a.address == (127, 0, 0, 1) && a.port != 0,
            a,
        ),
        other => c.that("tcp local-address bound", false, other),
    }
    c.eq(
        "tcp backlog 0",
        s.set_listen_backlog_size(0),
        Err(E::InvalidArgument),
    );
    c.eq("tcp backlog 10", s.set_listen_backlog_size(10), Ok(()));
    c.eq("tcp start-listen", s.start_listen(), Ok(()));
    c.eq("tcp is-listening", s.is_listening(), true);
    // Nothing to wait for while listen awaits finish-listen: the pollable is ready.
    s.subscribe().block();
    c.that("tcp pollable ready before finish-listen", true, ());
    c.eq(
        "tcp start-listen while listening",
        s.start_listen(),
        Err(E::ConcurrencyConflict),
    );
    c.eq("tcp finish-listen", s.finish_listen(), Ok(()));
    c.eq(
        "tcp finish-listen twice",
        s.finish_listen(),
        Err(E::NotInProgress),
    );
    c.eq(
        "tcp start-listen again",
        s.start_listen(),
        Err(E::InvalidState),
    );
    c.eq(
        "tcp backlog while listening",
        s.set_listen_backlog_size(64),
        Ok(()),
    );
    c.eq(
        "tcp accept nothing pending",
        s.accept().err(),
        Some(E::WouldBlock),
    );
    let target = s.local_address().unwrap();
    c.eq(
        "tcp connect from listener",
        s.start_connect(net, target),
        Err(E::InvalidState),
    );
}

pub fn tcp_options(c: &mut Checks) {
    let s = create_tcp_socket(IpAddressFamily::Ipv4).expect("create");
    c.eq("keep-alive on", s.set_keep_alive_enabled(true), Ok(()));
    c.eq("keep-alive get", s.keep_alive_enabled(), Ok(true));
    c.eq("keep-alive off", s.set_keep_alive_enabled(false), Ok(()));
    c.eq("keep-alive get off", s.keep_alive_enabled(), Ok(false));
    let sec = 1_000_000_000u64;
    c.eq(
        "idle 0",
        s.set_keep_alive_idle_time(0),
        Err(E::InvalidArgument),
    );
    c.eq("idle 7s", s.set_keep_alive_idle_time(7 * sec), Ok(()));
    c.eq("idle get", s.keep_alive_idle_time(), Ok(7 * sec));
    c.eq("idle tiny clamps", s.set_keep_alive_idle_time(1), Ok(()));
    c.eq("idle get clamped", s.keep_alive_idle_time(), Ok(sec));
    c.eq(
        "interval 0",
        s.set_keep_alive_interval(0),
        Err(E::InvalidArgument),
    );
    c.eq("interval 3s", s.set_keep_alive_interval(3 * sec), Ok(()));
    c.eq("interval get", s.keep_alive_interval(), Ok(3 * sec));
    c.eq(
        "count 0",
        s.set_keep_alive_count(0),
        Err(E::InvalidArgument),
    );
    c.eq("count 5", s.set_keep_alive_count(5), Ok(()));
    c.eq("count get", s.keep_alive_count(), Ok(5));
    c.eq("hop-limit 0", s.set_hop_limit(0), Err(E::InvalidArgument));
    c.eq("hop-limit 42", s.set_hop_limit(42), Ok(()));
    c.eq("hop-limit get", s.hop_limit(), Ok(42));
    c.eq(
        "rcvbuf 0",
        s.set_receive_buffer_size(0),
        Err(E::InvalidArgument),
    );
    c.eq("rcvbuf 32k", s.set_receive_buffer_size(32768), Ok(()));
    c.eq("rcvbuf get", s.receive_buffer_size(), Ok(32768));
    c.eq(
        "sndbuf 0",
        s.set_send_buffer_size(0),
        Err(E::InvalidArgument),
    );
    c.eq("sndbuf 32k", s.set_send_buffer_size(32768), Ok(()));
    c.eq("sndbuf get", s.send_buffer_size(), Ok(32768));
    c.eq(
        "rcvbuf huge clamps",
        s.set_receive_buffer_size(u64::MAX),
        Ok(()),
    );
}

pub fn tcp_connection(c: &mut Checks, net: &Network) {
    let (l, addr) = listener(c, net);
    let s = create_tcp_socket(IpAddressFamily::Ipv4).expect("create client");
    c.eq(
        "connect port 0",
        s.start_connect(net, v4([127, 0, 0, 1], 0)),
        Err(E::InvalidArgument),
    );
    c.eq(
        "connect to any",
        s.start_connect(net, v4([0, 0, 0, 0], 80)),
        Err(E::InvalidArgument),
    );
    let bcast = v4([255, 255, 255, 255], 80);
    c.eq(
        "connect broadcast",
        s.start_connect(net, bcast),
        Err(E::InvalidArgument),
    );
    c.eq("start-connect", s.start_connect(net, addr), Ok(()));
    c.eq(
        "start-connect twice",
        s.start_connect(net, addr),
        Err(E::ConcurrencyConflict),
    );
    let (cin, cout) = match connect(&s) {
        Ok(p) => p,
        Err(e) => return c.that("finish-connect", false, e),
    };
    c.that("finish-connect", true, ());
    c.eq(
        "connect when connected",
        s.start_connect(net, addr),
        Err(E::InvalidState),
    );
    c.eq("remote-address", s.remote_address(), Ok(addr));
    c.eq("client is-listening", s.is_listening(), false);
    let (server, sin, sout) = match accept(&l) {
        Ok(t) => t,
        Err(e) => return c.that("accept", false, e),
    };
    c.that("accept", true, ());
    c.eq(
        "accepted remote = client local",
        server.remote_address(),
        s.local_address(),
    );
    c.eq(
        "accepted local = listener",
        server.local_address(),
        Ok(addr),
    );
    c.eq(
        "accepted family",
        server.address_family(),
        IpAddressFamily::Ipv4,
    );
    // Data both ways.
    c.eq(
        "client write",
        cout.blocking_write_and_flush(b"ping").map_err(|_| ()),
        Ok(()),
    );
    c.eq(
        "server read",
        sin.blocking_read(100).map_err(|_| ()),
        Ok(b"ping".to_vec()),
    );
    c.eq(
        "server write",
        sout.blocking_write_and_flush(b"pong!").map_err(|_| ()),
        Ok(()),
    );
    c.eq(
        "client read",
        cin.blocking_read(100).map_err(|_| ()),
        Ok(b"pong!".to_vec()),
    );
    c.eq("read 0 bytes", cin.read(0).map_err(|_| ()), Ok(Vec::new()));
    c.eq(
        "nothing to read yet",
        cin.read(10).map_err(|_| ()),
        Ok(Vec::new()),
    );
    let permit = cout.check_write();
    c.that(
        "check-write permits",
        matches!(permit, Ok(n) if n > 0),
        permit,
    );
    // A large transfer through check-write / write / subscribe.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    while got.len() < big.len() {
        if sent < big.len() {
            match cout.check_write() {
                Ok(0) => {}
                Ok(n) => {
                    let end = (sent + n as usize).min(big.len());
                    cout.write(&big[sent..end]).expect("write");
                    sent = end;
                }
                Err(e) => return c.that("big transfer", false, e),
            }
        }
        match sin.read(65536) {
            Ok(b) if b.is_empty() => {
                if sent == big.len() {
                    sin.subscribe().block();
                } else {
                    crate::wasi::io::poll::poll(&[&sin.subscribe(), &cout.subscribe()]);
                }
            }
            Ok(b) => got.extend_from_slice(&b),
            Err(e) => return c.that("big transfer", false, e),
        }
    }
    c.that("big transfer", got == big, got.len());
    // Shutdown: the peer sees the end of the stream; the shut side's stream is closed.
    c.eq("shutdown send", s.shutdown(ShutdownType::Send), Ok(()));
    c.eq(
        "shutdown send again",
        s.shutdown(ShutdownType::Send),
        Ok(()),
    );
    let end = sin.blocking_read(10);
    c.that(
        "peer sees end",
        matches!(end, Err(StreamError::Closed)),
        end,
    );
    let w = cout.write(b"x");
    c.that(
        "write after shutdown",
        matches!(w, Err(StreamError::Closed)),
        w,
    );
    c.eq(
        "server writes after client half-close",
        sout.blocking_write_and_flush(b"bye").map_err(|_| ()),
        Ok(()),
    );
    c.eq(
        "client still reads",
        cin.blocking_read(10).map_err(|_| ()),
        Ok(b"bye".to_vec()),
    );
    c.eq(
        "shutdown receive",
        s.shutdown(ShutdownType::Receive),
        Ok(()),
    );
    let r = cin.read(10);
    c.that(
        "read after shutdown receive",
        matches!(r, Err(StreamError::Closed)),
        r,
    );
    drop((sin, sout, server));
    drop((cin, cout));
    // Connection refused: a port nothing listens on (the listener's, once it is closed).
    drop(l);
    let r = create_tcp_socket(IpAddressFamily::Ipv4).expect("create");
    c.eq("start-connect refused", r.start_connect(net, addr), Ok(()));
    c.eq(
        "finish-connect refused",
        connect(&r).err(),
        Some(E::ConnectionRefused),
    );
    // As in wasmtime, a socket closed by a failed connect reports that failure.
    let closed = r.local_address().err();
    c.eq("closed local-address", closed, Some(E::ConnectionRefused));
    c.eq(
        "closed option",
        r.hop_limit().err(),
        Some(E::ConnectionRefused),
    );
    c.eq(
        "closed finish-connect",
        r.finish_connect().err(),
        Some(E::NotInProgress),
    );
    c.eq(
        "closed start-connect",
        r.start_connect(net, addr),
        Err(E::InvalidState),
    );
}

pub fn tcp_ipv6(c: &mut Checks, net: &Network) {
    let s = create_tcp_socket(IpAddressFamily::Ipv6).expect("create v6");
    c.eq(
        "v6 address-family",
        s.address_family(),
        IpAddressFamily::Ipv6,
    );
    let mapped = v6([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1], 0);
    c.eq(
        "v6 bind ipv4-mapped",
        s.start_bind(net, mapped),
        Err(E::InvalidArgument),
    );
    c.eq(
        "v6 bind ipv4 address",
        s.start_bind(net, v4([127, 0, 0, 1], 0)),
        Err(E::InvalidArgument),
    );
    match bind(net, &s, v6([0, 0, 0, 0, 0, 0, 0, 1], 0)) {
        // No IPv6 loopback on this host: nothing more to check.
        Err(E::AddressNotBindable) => println!("skip v6: no ::1 here"),
        r => {
            c.eq("v6 bind ::1", r, Ok(()));
            let a = s.local_address();
            c.that(
                "v6 local-address",
                matches!(a, Ok(IpSocketAddress::Ipv6(_))),
                a,
            );
        }
    }
}
