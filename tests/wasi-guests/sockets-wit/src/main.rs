//! A WASI 0.2 command that calls `wasi:sockets` directly (wit-bindgen bindings of the WIT in
//! `wit/`) and checks each function's result against what the WIT says: the TCP and UDP
//! state machines (`invalid-state`, `not-in-progress`, `concurrency-conflict`,
//! `would-block`), argument checks (`invalid-argument`), options, streams, shutdown, name
//! lookups. Run by tests/tests/wasi_sockets.rs as `sockets-wit-guest granted` (network
//! allowed) or `sockets-wit-guest denied` (expects `access-denied`). Every check prints
//! `ok <name>` or `FAIL <name>: got .., want ..`; the last line is `done <oks> <fails>`.
//! The TCP checks are in `tcp.rs`; UDP, lookups and the denied mode here.

mod tcp;

wit_bindgen::generate!({
    world: "guest",
    path: "wit",
    generate_all,
    additional_derives: [PartialEq],
    additional_derives_ignore: ["stream-error"],
});

use std::fmt::Debug;
use wasi::io::streams::{InputStream, OutputStream};
use wasi::sockets::instance_network::instance_network;
use wasi::sockets::ip_name_lookup::{resolve_addresses, ResolveAddressStream};
use wasi::sockets::network::{
    ErrorCode as E, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress,
    Ipv6SocketAddress, Network,
};
use wasi::sockets::tcp::TcpSocket;
use wasi::sockets::tcp_create_socket::create_tcp_socket;
use wasi::sockets::udp::OutgoingDatagram;
use wasi::sockets::udp_create_socket::create_udp_socket;

struct Checks {
    ok: u32,
    fail: u32,
}

impl Checks {
    fn eq<T: Debug + PartialEq>(&mut self, name: &str, got: T, want: T) {
        if got == want {
            self.ok += 1;
            println!("ok {name}");
        } else {
            self.fail += 1;
            println!("FAIL {name}: got {got:?}, want {want:?}");
        }
    }

    fn that(&mut self, name: &str, cond: bool, detail: impl Debug) {
        if cond {
            self.ok += 1;
            println!("ok {name}");
        } else {
            self.fail += 1;
            println!("FAIL {name}: {detail:?}");
        }
    }
}

fn v4(a: [u8; 4], port: u16) -> IpSocketAddress {
    IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port,
        address: (a[0], a[1], a[2], a[3]),
    })
}

fn v6(s: [u16; 8], port: u16) -> IpSocketAddress {
    IpSocketAddress::Ipv6(Ipv6SocketAddress {
        port,
        flow_info: 0,
        address: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        scope_id: 0,
    })
}

fn port_of(a: &IpSocketAddress) -> u16 {
    match a {
        IpSocketAddress::Ipv4(a) => a.port,
        IpSocketAddress::Ipv6(a) => a.port,
    }
}

fn bind(net: &Network, s: &TcpSocket, a: IpSocketAddress) -> Result<(), E> {
    s.start_bind(net, a)?;
    s.finish_bind()
}

fn connect(s: &TcpSocket) -> Result<(InputStream, OutputStream), E> {
    loop {
        match s.finish_connect() {
            Err(E::WouldBlock) => s.subscribe().block(),
            r => return r,
        }
    }
}

fn accept(s: &TcpSocket) -> Result<(TcpSocket, InputStream, OutputStream), E> {
    loop {
        match s.accept() {
            Err(E::WouldBlock) => s.subscribe().block(),
            r => return r,
        }
    }
}

fn addresses(s: &ResolveAddressStream) -> Result<Vec<IpAddress>, E> {
    let mut out = Vec::new();
    loop {
        match s.resolve_next_address() {
            Err(E::WouldBlock) => s.subscribe().block(),
            Err(e) => return Err(e),
            Ok(None) => return Ok(out),
            Ok(Some(a)) => out.push(a),
        }
    }
}

/// A TCP listener on 127.0.0.1 (ephemeral port) and its address.
fn listener(c: &mut Checks, net: &Network) -> (TcpSocket, IpSocketAddress) {
    let l = create_tcp_socket(IpAddressFamily::Ipv4).expect("create listener");
    c.eq(
        "listener bind",
        bind(net, &l, v4([127, 0, 0, 1], 0)),
        Ok(()),
    );
    c.eq("listener start-listen", l.start_listen(), Ok(()));
    c.eq("listener finish-listen", l.finish_listen(), Ok(()));
    let a = l.local_address().expect("listener address");
    (l, a)
}

fn udp(c: &mut Checks, net: &Network) {
    let a = create_udp_socket(IpAddressFamily::Ipv4).expect("create udp");
    c.eq(
        "udp address-family",
        a.address_family(),
        IpAddressFamily::Ipv4,
    );
    c.eq(
        "udp stream unbound",
        a.stream(None).err(),
        Some(E::InvalidState),
    );
    c.eq(
        "udp local-address unbound",
        a.local_address().err(),
        Some(E::InvalidState),
    );
    c.eq(
        "udp finish-bind idle",
        a.finish_bind(),
        Err(E::NotInProgress),
    );
    let wrong = v6([0, 0, 0, 0, 0, 0, 0, 1], 0);
    c.eq(
        "udp bind wrong family",
        a.start_bind(net, wrong),
        Err(E::InvalidArgument),
    );
    c.eq(
        "udp start-bind",
        a.start_bind(net, v4([127, 0, 0, 1], 0)),
        Ok(()),
    );
    c.eq(
        "udp start-bind twice",
        a.start_bind(net, v4([127, 0, 0, 1], 0)),
        Err(E::ConcurrencyConflict),
    );
    c.eq("udp finish-bind", a.finish_bind(), Ok(()));
    c.eq(
        "udp rebind",
        a.start_bind(net, v4([127, 0, 0, 1], 0)),
        Err(E::InvalidState),
    );
    let b = create_udp_socket(IpAddressFamily::Ipv4).expect("create udp b");
    c.eq(
        "udp bind b",
        b.start_bind(net, v4([127, 0, 0, 1], 0))
            .and_then(|()| b.finish_bind()),
        Ok(()),
    );
    let a_addr = a.local_address().expect("a address");
    let b_addr = b.local_address().expect("b address");
    c.that("udp local port", port_of(&a_addr) != 0, a_addr);
    c.eq(
        "udp remote-address unconnected",
        a.remote_address().err(),
        Some(E::InvalidState),
    );
    let (ain, aout) = a.stream(None).expect("a streams");
    let (bin, bout) = b.stream(None).expect("b streams");
    c.eq(
        "udp receive nothing",
        ain.receive(10).map(|v| v.len()),
        Ok(0),
    );
    c.eq("udp receive max 0", ain.receive(0).map(|v| v.len()), Ok(0));
    let n = aout.check_send();
    c.that("udp check-send", matches!(n, Ok(k) if k > 0), n);
    let dg = |data: &[u8], to: Option<IpSocketAddress>| OutgoingDatagram {
        data: data.to_vec(),
        remote_address: to,
    };
    c.eq(
        "udp send no address",
        aout.send(&[dg(b"x", None)]),
        Err(E::InvalidArgument),
    );
    aout.check_send().unwrap();
    c.eq(
        "udp send port 0",
        aout.send(&[dg(b"x", Some(v4([127, 0, 0, 1], 0)))]),
        Err(E::InvalidArgument),
    );
    aout.check_send().unwrap();
    c.eq("udp send empty list", aout.send(&[]), Ok(0));
    aout.check_send().unwrap();
    let two = [dg(b"one", Some(b_addr)), dg(b"two", Some(b_addr))];
    c.eq("udp send two", aout.send(&two), Ok(2));
    let mut got = Vec::new();
    while got.len() < 2 {
        let r = bin.receive(10).expect("receive");
        if r.is_empty() {
            bin.subscribe().block();
        }
        got.extend(r);
    }
    c.eq(
        "udp received data",
        got.iter().map(|d| d.data.clone()).collect::<Vec<_>>(),
        vec![b"one".to_vec(), b"two".to_vec()],
    );
    c.eq("udp received from", got[0].remote_address, a_addr);
    // Connected mode: b answers a through a stream bound to a.
    drop((bin, bout));
    let (bin, bout) = b.stream(Some(a_addr)).expect("b connected streams");
    c.eq(
        "udp remote-address connected",
        b.remote_address(),
        Ok(a_addr),
    );
    bout.check_send().unwrap();
    c.eq(
        "udp send to other peer",
        bout.send(&[dg(b"x", Some(b_addr))]),
        Err(E::InvalidArgument),
    );
    bout.check_send().unwrap();
    c.eq(
        "udp send connected",
        bout.send(&[dg(b"reply", None)]),
        Ok(1),
    );
    let r = loop {
        let r = ain.receive(1).expect("receive reply");
        if !r.is_empty() {
            break r;
        }
        ain.subscribe().block();
    };
    c.eq("udp reply data", r[0].data.clone(), b"reply".to_vec());
    c.eq("udp reply from", r[0].remote_address, b_addr);
    drop((bin, bout));
    let (_bin, _bout) = b.stream(None).expect("b disconnect");
    c.eq(
        "udp remote-address after disconnect",
        b.remote_address().err(),
        Some(E::InvalidState),
    );
    c.eq(
        "udp hop-limit 0",
        a.set_unicast_hop_limit(0),
        Err(E::InvalidArgument),
    );
    c.eq("udp hop-limit 9", a.set_unicast_hop_limit(9), Ok(()));
    c.eq("udp hop-limit get", a.unicast_hop_limit(), Ok(9));
    c.eq(
        "udp rcvbuf 0",
        a.set_receive_buffer_size(0),
        Err(E::InvalidArgument),
    );
    c.eq("udp sndbuf 16k", a.set_send_buffer_size(16384), Ok(()));
    c.eq("udp sndbuf get", a.send_buffer_size(), Ok(16384));
    a.subscribe().block();
    c.that("udp socket pollable ready", true, ());
    drop((ain, aout));
}

fn lookup(c: &mut Checks, net: &Network) {
    match resolve_addresses(net, "localhost").map(|s| addresses(&s)) {
        Ok(Ok(a)) => c.that(
            "lookup localhost",
            !a.is_empty()
                && a.iter().all(|x| {
                    matches!(
                        x,
                        IpAddress::Ipv4((127, _, _, _)) | IpAddress::Ipv6((0, 0, 0, 0, 0, 0, 0, 1))
                    )
                }),
            a,
        ),
        other => c.that("lookup localhost", false, other),
    }
    let lit = resolve_addresses(net, "10.1.2.3").map(|s| addresses(&s));
    c.eq(
        "lookup ipv4 literal",
        lit,
        Ok(Ok(vec![IpAddress::Ipv4((10, 1, 2, 3))])),
    );
    let lit = resolve_addresses(net, "[::1]").map(|s| addresses(&s));
    c.eq(
        "lookup ipv6 literal",
        lit,
        Ok(Ok(vec![IpAddress::Ipv6((0, 0, 0, 0, 0, 0, 0, 1))])),
    );
    c.eq(
        "lookup invalid name",
        resolve_addresses(net, "a b").err(),
        Some(E::InvalidArgument),
    );
    c.eq(
        "lookup empty name",
        resolve_addresses(net, "").err(),
        Some(E::InvalidArgument),
    );
    let bad = resolve_addresses(net, "does-not-exist.invalid").map(|s| addresses(&s));
    c.that(
        "lookup unknown name",
        matches!(
            bad,
            Ok(Err(E::NameUnresolvable | E::TemporaryResolverFailure))
        ),
        bad,
    );
}

fn denied(c: &mut Checks, net: &Network) {
    let s = create_tcp_socket(IpAddressFamily::Ipv4).expect("sockets are made without permission");
    c.eq(
        "denied tcp bind",
        s.start_bind(net, v4([127, 0, 0, 1], 0)),
        Err(E::AccessDenied),
    );
    c.eq("denied tcp listen", s.start_listen(), Err(E::InvalidState));
    c.eq(
        "denied tcp start-connect",
        s.start_connect(net, v4([127, 0, 0, 1], 9)),
        Ok(()),
    );
    c.eq(
        "denied tcp finish-connect",
        connect(&s).err(),
        Some(E::AccessDenied),
    );
    let u = create_udp_socket(IpAddressFamily::Ipv4).expect("udp sockets are made");
    c.eq(
        "denied udp bind",
        u.start_bind(net, v4([127, 0, 0, 1], 0)),
        Err(E::AccessDenied),
    );
    c.eq(
        "denied udp stream",
        u.stream(None).err(),
        Some(E::InvalidState),
    );
    c.eq(
        "denied lookup",
        resolve_addresses(net, "localhost").err(),
        Some(E::AccessDenied),
    );
    c.eq(
        "denied lookup literal",
        resolve_addresses(net, "127.0.0.1").err(),
        Some(E::AccessDenied),
    );
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let mut c = Checks { ok: 0, fail: 0 };
    let net = instance_network();
    match mode.as_str() {
        "granted" => {
            tcp::tcp_states(&mut c, &net);
            tcp::tcp_options(&mut c);
            tcp::tcp_connection(&mut c, &net);
            tcp::tcp_ipv6(&mut c, &net);
            udp(&mut c, &net);
            lookup(&mut c, &net);
        }
        "denied" => denied(&mut c, &net),
        other => c.that("mode", false, other),
    }
    println!("done {} {}", c.ok, c.fail);
    if c.fail > 0 {
        std::process::exit(1);
    }
}
