//! `wasi:sockets/udp` and `wasi:sockets/udp-create-socket`: `udp-socket` (bind in
//! `start-bind`, options, `stream` to (dis)associate it with a peer) and the datagram
//! streams `stream` returns: `incoming-datagram-stream.receive` is `recvfrom` without
//! blocking, `outgoing-datagram-stream.send` is `send`/`sendto` with `MSG_NOSIGNAL`, each
//! call permitted by `check-send`. Without network permission binding fails with
//! `access-denied` (and a socket that is not bound has no streams).

use super::network::{
    check_allowed, check_network, family_of, family_ok, os, remote_ok, socket_addr_of,
    socket_addr_val,
};
use super::options::{with_sock, Kind, OptionSocket};
use super::{code, define_result, options, sys, Fail, INCOMING, OUTGOING, UDP_SOCKET};
use crate::component::{ComponentLinker, HostCx, Val};
use crate::error::Trap;
use crate::wasi::val::{arg, arg_u64, bytes, new_handle, new_pollable, record, with_obj};
use crate::wasi::{define, define_resource, Readiness, WasiState};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Most datagrams one `receive` returns or one `check-send` permits.
const MAX_DATAGRAMS: usize = 16;
/// Largest datagram payload.
const MAX_DATAGRAM: usize = u16::MAX as usize;
/// Most payload bytes one `receive` gathers (it stops after the datagram that crosses it).
const MAX_RECEIVE_BYTES: usize = 64 * 1024;

/// The object behind a `udp-socket` handle.
pub struct UdpSocket {
    pub(super) fd: Arc<OwnedFd>,
    pub(super) v6: bool,
    pub(super) bind_in_progress: bool,
    pub(super) remote: Option<SocketAddr>,
    /// How many datagram streams of this socket are alive.
    streams: Arc<AtomicUsize>,
}

/// Counts a live datagram stream of a socket.
struct StreamGuard(Arc<AtomicUsize>);

impl StreamGuard {
    fn new(count: &Arc<AtomicUsize>) -> StreamGuard {
        count.fetch_add(1, Ordering::Relaxed);
        StreamGuard(count.clone())
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The object behind an `incoming-datagram-stream` handle.
pub struct IncomingStream {
    fd: Arc<OwnedFd>,
    remote: Option<SocketAddr>,
    _guard: StreamGuard,
}

/// The object behind an `outgoing-datagram-stream` handle.
pub struct OutgoingStream {
    fd: Arc<OwnedFd>,
    v6: bool,
    remote: Option<SocketAddr>,
    permit: usize,
    _guard: StreamGuard,
}

impl OptionSocket for UdpSocket {
    fn opt_fd(&self) -> Result<&OwnedFd, Fail> {
        Ok(&self.fd)
    }

    fn is_v6(&self) -> bool {
        self.v6
    }
}

impl UdpSocket {
    /// `udp-create-socket` (0.2) and `udp-socket.create` (0.3).
    pub(super) fn create(args: &[Val]) -> Result<UdpSocket, Fail> {
        let v6 = family_of(args, 0)?;
        let fd = sys::socket(v6, libc::SOCK_DGRAM).map_err(os)?;
        Ok(UdpSocket {
            fd: Arc::new(fd),
            v6,
            bind_in_progress: false,
            remote: None,
            streams: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Whether the socket has a local address.
    pub(super) fn is_bound(&self) -> bool {
        sys::local_addr(&self.fd).is_ok_and(|a| a.port() != 0)
    }

    pub(super) fn start_bind(&mut self, st: &WasiState, addr: SocketAddr) -> Result<(), Fail> {
        if self.bind_in_progress {
            return code("concurrency-conflict");
        }
        if self.is_bound() {
            return code("invalid-state");
        }
        if !family_ok(addr.ip(), self.v6) {
            return code("invalid-argument");
        }
        check_allowed(st)?;
        sys::bind(&self.fd, &addr).map_err(|e| match e {
            libc::EAFNOSUPPORT => Fail::Code("invalid-argument"),
            e => os(e),
        })?;
        self.bind_in_progress = true;
        Ok(())
    }

    /// (Dis)associates the socket and makes its new stream pair.
    fn stream(
        &mut self,
        st: &WasiState,
        remote: Option<SocketAddr>,
    ) -> Result<(IncomingStream, OutgoingStream), Fail> {
        if self.streams.load(Ordering::Relaxed) != 0 {
            return Err(Trap::host(
                "WASI: udp-socket.stream called before the previous streams were dropped",
            )
            .into());
        }
        if !self.is_bound() {
            return code("invalid-state");
        }
        self.associate(st, remote)?;
        let incoming = IncomingStream {
            fd: self.fd.clone(),
            remote: self.remote,
            _guard: StreamGuard::new(&self.streams),
        };
        let outgoing = OutgoingStream {
            fd: self.fd.clone(),
            v6: self.v6,
            remote: self.remote,
            permit: 0,
            _guard: StreamGuard::new(&self.streams),
        };
        Ok((incoming, outgoing))
    }

    /// Associates the socket with `remote` (`connect`), or dissolves the association.
    pub(super) fn associate(
        &mut self,
        st: &WasiState,
        remote: Option<SocketAddr>,
    ) -> Result<(), Fail> {
        if let Some(addr) = remote {
            if !family_ok(addr.ip(), self.v6) || !remote_ok(&addr) {
                return code("invalid-argument");
            }
            check_allowed(st)?;
            let r = match sys::connect(&self.fd, &addr) {
                // Linux refuses to re-connect some associations: dissolve, then retry.
                Err(libc::EINVAL) => {
                    let _ = sys::disconnect(&self.fd);
                    sys::connect(&self.fd, &addr)
                }
                r => r,
            };
            self.update_remote();
            r.map_err(|e| match e {
                libc::EAFNOSUPPORT => Fail::Code("invalid-argument"),
                e => os(e),
            })?;
        } else if self.remote.is_some() {
            let r = sys::disconnect(&self.fd);
            self.update_remote();
            r.map_err(os)?;
        }
        Ok(())
    }

    fn update_remote(&mut self) {
        self.remote = sys::peer_addr(&self.fd)
            .ok()
            .filter(|a| !a.ip().is_unspecified() || a.port() != 0);
    }
}

impl IncomingStream {
    /// Up to `max` datagrams that are already there.
    fn receive(&mut self, max: u64) -> Result<Vec<Val>, Fail> {
        let max = max.min(MAX_DATAGRAMS as u64) as usize;
        let mut out = Vec::new();
        let mut total = 0;
        let mut buf = vec![0u8; MAX_DATAGRAM];
        while out.len() < max && total < MAX_RECEIVE_BYTES {
            match sys::recv(&self.fd, &mut buf) {
                Ok((n, Some(from))) => {
                    if self.remote.is_some_and(|r| r != from) {
                        continue;
                    }
                    total += n + 1;
                    out.push(record(vec![
                        ("data", bytes(&buf[..n])),
                        ("remote-address", socket_addr_val(from)),
                    ]));
                }
                Ok((_, None)) => continue,
                Err(libc::EAGAIN) => break,
                Err(_) if !out.is_empty() => break,
                Err(e) => return Err(os(e)),
            }
        }
        Ok(out)
    }
}

/// One `outgoing-datagram` argument: payload and optional destination.
fn datagram_of(v: &Val) -> Result<(Vec<u8>, Option<SocketAddr>), Trap> {
    let bad = || Trap::host(format!("WASI sockets: malformed outgoing-datagram: {v:?}"));
    let Val::Record(fields) = v else {
        return Err(bad());
    };
    let mut data = None;
    let mut to = None;
    for (name, value) in fields {
        match (name.as_str(), value) {
            ("data", Val::List(l)) => {
                let b: Option<Vec<u8>> = l
                    .iter()
                    .map(|x| match x {
                        Val::U8(b) => Some(*b),
                        _ => None,
                    })
                    .collect();
                data = Some(b.ok_or_else(bad)?);
            }
            ("remote-address", Val::Option(o)) => {
                to = Some(match o {
                    Some(a) => Some(socket_addr_of(a)?),
                    None => None,
                });
            }
            _ => return Err(bad()),
        }
    }
    match (data, to) {
        (Some(d), Some(t)) => Ok((d, t)),
        _ => Err(bad()),
    }
}

impl OutgoingStream {
    /// Sends one datagram.
    fn send_one(&self, st: &WasiState, data: &[u8], to: Option<SocketAddr>) -> Result<(), Fail> {
        send_datagram(st, (&self.fd, self.v6, self.remote), data, to)
    }
}

/// Sends one datagram of `data` on socket `(fd, v6, remote)` to `to` (or the associated
/// remote), without blocking.
pub(super) fn send_datagram(
    st: &WasiState,
    (fd, v6, remote): (&OwnedFd, bool, Option<SocketAddr>),
    data: &[u8],
    to: Option<SocketAddr>,
) -> Result<(), Fail> {
    {
        if data.len() > MAX_DATAGRAM {
            return code("datagram-too-large");
        }
        let dest = match (to, remote) {
            (Some(a), _) if !remote_ok(&a) || !family_ok(a.ip(), v6) => {
                return code("invalid-argument")
            }
            (Some(a), Some(r)) if a != r => return code("invalid-argument"),
            (Some(a), None) => Some(a),
            (_, Some(_)) => None,
            (None, None) => return code("invalid-argument"),
        };
        check_allowed(st)?;
        sys::send(fd, data, dest.as_ref()).map_err(os)?;
        Ok(())
    }
}

const IFACE: &str = "sockets/udp";

fn with_socket<R>(
    cx: &HostCx<'_>,
    st: &WasiState,
    args: &[Val],
    f: impl FnOnce(&mut UdpSocket) -> Result<R, Fail>,
) -> Result<R, Fail> {
    with_obj::<UdpSocket, _>(cx, st, UDP_SOCKET, arg(args, 0)?, f)?
}

fn method(
    linker: &mut ComponentLinker,
    name: &str,
    f: impl Fn(&HostCx<'_>, &WasiState, &[Val]) -> Result<Option<Val>, Fail> + Send + Sync + 'static,
) {
    define_result(linker, IFACE, &format!("[method]udp-socket.{name}"), f);
}

/// `udp-socket` in WASI 0.2.
const UDP2: Kind = Kind {
    iface: IFACE,
    res: UDP_SOCKET,
    p3: false,
};

/// Defines the `udp-socket` methods WASI 0.2 and 0.3 share (0.3 names getters `get-*`):
/// addresses, hop limit, buffer sizes, address family.
pub(super) fn add_shared(linker: &mut ComponentLinker, kind: Kind) {
    define_result(
        linker,
        kind.iface,
        &kind.getter("local-address"),
        move |cx, st, args| {
            with_sock(cx, st, kind, args, |s: &mut UdpSocket| {
                if !s.is_bound() {
                    return code("invalid-state");
                }
                Ok(Some(socket_addr_val(sys::local_addr(&s.fd).map_err(os)?)))
            })
        },
    );
    define_result(
        linker,
        kind.iface,
        &kind.getter("remote-address"),
        move |cx, st, args| {
            with_sock(cx, st, kind, args, |s: &mut UdpSocket| match s.remote {
                Some(a) => Ok(Some(socket_addr_val(a))),
                None => code("invalid-state"),
            })
        },
    );
    options::add_common::<UdpSocket>(linker, kind, "unicast-hop-limit");
}

/// Adds `wasi:sockets/udp` and `wasi:sockets/udp-create-socket`.
pub fn add(linker: &mut ComponentLinker) {
    define_resource::<UdpSocket>(linker, IFACE, "udp-socket");
    define_resource::<IncomingStream>(linker, IFACE, "incoming-datagram-stream");
    define_resource::<OutgoingStream>(linker, IFACE, "outgoing-datagram-stream");
    define_result(
        linker,
        "sockets/udp-create-socket",
        "create-udp-socket",
        |cx, st, args| {
            let sock = UdpSocket::create(args)?;
            Ok(Some(new_handle(cx, st, UDP_SOCKET, sock)?))
        },
    );
    method(linker, "start-bind", |cx, st, args| {
        check_network(cx, st, args, 1)?;
        let addr = socket_addr_of(arg(args, 2)?)?;
        with_socket(cx, st, args, |s| s.start_bind(st, addr)).map(|()| None)
    });
    method(linker, "finish-bind", |cx, st, args| {
        with_socket(cx, st, args, |s| {
            if !s.bind_in_progress {
                return code("not-in-progress");
            }
            s.bind_in_progress = false;
            Ok(None)
        })
    });
    method(linker, "stream", |cx, st, args| {
        let remote = match arg(args, 1)? {
            Val::Option(Some(a)) => Some(socket_addr_of(a)?),
            Val::Option(None) => None,
            other => return Err(Trap::host(format!("expected an option, got {other:?}")).into()),
        };
        let (i, o) = with_socket(cx, st, args, |s| s.stream(st, remote))?;
        let i = new_handle(cx, st, INCOMING, i)?;
        let o = new_handle(cx, st, OUTGOING, o)?;
        Ok(Some(Val::Tuple(vec![i, o])))
    });
    add_shared(linker, UDP2);
    define(
        linker,
        IFACE,
        "[method]udp-socket.subscribe",
        |cx, st, args| {
            with_obj::<UdpSocket, _>(cx, st, UDP_SOCKET, arg(args, 0)?, |_| ())?;
            Ok(Some(new_pollable(cx, st, Readiness::Always)?))
        },
    );

    define_result(
        linker,
        IFACE,
        "[method]incoming-datagram-stream.receive",
        |cx, st, args| {
            let max = arg_u64(args, 1)?;
            let got = with_obj::<IncomingStream, _>(cx, st, INCOMING, arg(args, 0)?, |s| {
                s.receive(max)
            })??;
            Ok(Some(Val::List(got)))
        },
    );
    define(
        linker,
        IFACE,
        "[method]incoming-datagram-stream.subscribe",
        |cx, st, args| {
            let fd =
                with_obj::<IncomingStream, _>(cx, st, INCOMING, arg(args, 0)?, |s| s.fd.clone())?;
            Ok(Some(new_pollable(
                cx,
                st,
                Readiness::Fd { fd, write: false },
            )?))
        },
    );
    define_result(
        linker,
        IFACE,
        "[method]outgoing-datagram-stream.check-send",
        |cx, st, args| {
            let n = with_obj::<OutgoingStream, _>(cx, st, OUTGOING, arg(args, 0)?, |s| {
                let writable = sys::poll(&s.fd, libc::POLLOUT, 0).map_err(os)? != 0;
                s.permit = if writable { MAX_DATAGRAMS } else { 0 };
                Ok::<_, Fail>(s.permit)
            })??;
            Ok(Some(Val::U64(n as u64)))
        },
    );
    define_result(
        linker,
        IFACE,
        "[method]outgoing-datagram-stream.send",
        |cx, st, args| {
            let list = match arg(args, 1)? {
                Val::List(l) => l,
                other => return Err(Trap::host(format!("expected a list, got {other:?}")).into()),
            };
            let datagrams = list
                .iter()
                .map(datagram_of)
                .collect::<Result<Vec<_>, _>>()?;
            with_obj::<OutgoingStream, _>(cx, st, OUTGOING, arg(args, 0)?, |s| {
                if datagrams.is_empty() {
                    return Ok(Some(Val::U64(0)));
                }
                if datagrams.len() > s.permit {
                    return Err(Fail::Trap(Trap::host(
                        "WASI: outgoing-datagram-stream.send of more datagrams than check-send permitted",
                    )));
                }
                s.permit = 0;
                let mut sent = 0u64;
                for (data, to) in &datagrams {
                    match s.send_one(st, data, *to) {
                        Ok(()) => sent += 1,
                        Err(Fail::Code("would-block")) => break,
                        Err(_) if sent > 0 => break,
                        Err(e) => return Err(e),
                    }
                }
                Ok(Some(Val::U64(sent)))
            })?
        },
    );
    define(
        linker,
        IFACE,
        "[method]outgoing-datagram-stream.subscribe",
        |cx, st, args| {
            let fd =
                with_obj::<OutgoingStream, _>(cx, st, OUTGOING, arg(args, 0)?, |s| s.fd.clone())?;
            Ok(Some(new_pollable(
                cx,
                st,
                Readiness::Fd { fd, write: true },
            )?))
        },
    );
}
