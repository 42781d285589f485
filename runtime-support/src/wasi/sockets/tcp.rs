//! `wasi:sockets/tcp` and `wasi:sockets/tcp-create-socket`: the `tcp-socket` state machine
//! of the WIT (unbound → bound → listening, or → connecting → connected; closed after a
//! failed connect) over a non-blocking OS socket. Bind and listen happen in `start-*` and
//! `finish-*` only completes them; a connect starts in `start-connect` and `finish-connect`
//! polls it (`would-block` until the OS reports the outcome). Without network permission
//! bind, connect and listen fail with `access-denied` (connect reports it from
//! `finish-connect`, as wasmtime does).

use super::network::{
    check_allowed, check_network, family_of, family_ok, os, remote_ok, socket_addr_of,
    socket_addr_val, unicast,
};
use super::tcp_stream::{Conn, TcpInput, TcpOutput};
use super::{code, define_result, options, sys, Fail, TCP_SOCKET};
use crate::component::{ComponentLinker, HostCx, Val};
use crate::error::Trap;
use crate::wasi::val::{
    arg, arg_bool, arg_case, arg_u32, arg_u64, new_handle, new_input_stream, new_output_stream,
    new_pollable, with_obj,
};
use crate::wasi::{define, define_resource, Readiness, WasiState};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::Arc;

/// The listen backlog used unless the guest sets one (Rust std's value).
const DEFAULT_BACKLOG: i32 = 128;
const NANOS: u64 = 1_000_000_000;

/// Where a socket is in the WIT's state machine.
enum State {
    /// Unbound or bound, neither listening nor connecting.
    Default,
    /// A connect is under way; `Some(code)` when its outcome is already known to be an error.
    Connecting(Option<&'static str>),
    /// Connected (streams handed out).
    Connected(Arc<Conn>),
    /// Listening.
    Listening,
    /// A connect failed with this error: only drop is left (as in wasmtime, operations on
    /// the socket report that error; the WIT allows `invalid-state` or it).
    Closed(&'static str),
}

/// Which `start-*` awaits its `finish-*`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Bind,
    Connect,
    Listen,
}

/// The object behind a `tcp-socket` handle.
pub struct TcpSocket {
    fd: Arc<OwnedFd>,
    v6: bool,
    state: State,
    in_progress: Option<Op>,
    backlog: i32,
}

impl TcpSocket {
    fn new(fd: OwnedFd, v6: bool) -> TcpSocket {
        TcpSocket {
            fd: Arc::new(fd),
            v6,
            state: State::Default,
            in_progress: None,
            backlog: DEFAULT_BACKLOG,
        }
    }

    /// Whether the socket is bound (explicitly, or implicitly by connect/listen).
    fn is_bound(&self) -> bool {
        match self.state {
            State::Default => sys::local_addr(&self.fd).is_ok_and(|a| a.port() != 0),
            State::Closed(_) => false,
            _ => true,
        }
    }

    /// The descriptor, for options (the connect error once closed).
    fn fd(&self) -> Result<&OwnedFd, Fail> {
        match self.state {
            State::Closed(c) => code(c),
            _ => Ok(&self.fd),
        }
    }

    fn unspecified(&self) -> SocketAddr {
        let ip = if self.v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        SocketAddr::new(ip, 0)
    }

    fn start_bind(&mut self, st: &WasiState, addr: SocketAddr) -> Result<(), Fail> {
        if self.in_progress.is_some() {
            return code("concurrency-conflict");
        }
        if !matches!(self.state, State::Default) || self.is_bound() {
            return code("invalid-state");
        }
        if !unicast(addr.ip()) || !family_ok(addr.ip(), self.v6) {
            return code("invalid-argument");
        }
        check_allowed(st)?;
        // WASI: binding must not be hindered by TIME_WAIT connections (SO_REUSEADDR).
        let _ = sys::set_int(&self.fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
        sys::bind(&self.fd, &addr).map_err(|e| match e {
            libc::EAFNOSUPPORT => Fail::Code("invalid-argument"),
            e => os(e),
        })?;
        self.in_progress = Some(Op::Bind);
        Ok(())
    }

    fn start_connect(&mut self, st: &WasiState, addr: SocketAddr) -> Result<(), Fail> {
        if self.in_progress.is_some() {
            return code("concurrency-conflict");
        }
        if !matches!(self.state, State::Default) {
            return code("invalid-state");
        }
        if !unicast(addr.ip()) || !remote_ok(&addr) || !family_ok(addr.ip(), self.v6) {
            return code("invalid-argument");
        }
        let outcome = match check_allowed(st) {
            Err(Fail::Code(c)) => Some(c),
            Err(t) => return Err(t),
            Ok(()) => match sys::connect(&self.fd, &addr) {
                Ok(()) | Err(libc::EINPROGRESS) => None,
                Err(libc::EAFNOSUPPORT) => return code("invalid-argument"),
                Err(e) => Some(super::network::code_of_errno(e)),
            },
        };
        self.state = State::Connecting(outcome);
        self.in_progress = Some(Op::Connect);
        Ok(())
    }

    /// Completes a connect: the connection's streams' shared state, or why it failed.
    fn finish_connect(&mut self) -> Result<Arc<Conn>, Fail> {
        if self.in_progress != Some(Op::Connect) {
            return code("not-in-progress");
        }
        let State::Connecting(outcome) = self.state else {
            return code("not-in-progress");
        };
        let failure = match outcome {
            Some(c) => Some(c),
            None => {
                let ready = sys::poll(&self.fd, libc::POLLOUT, 0).map_err(os)?;
                if ready == 0 {
                    return code("would-block");
                }
                match sys::get_int(&self.fd, libc::SOL_SOCKET, libc::SO_ERROR) {
                    Ok(0) => None,
                    Ok(e) | Err(e) => Some(super::network::code_of_errno(e)),
                }
            }
        };
        self.in_progress = None;
        if let Some(c) = failure {
            self.state = State::Closed(c);
            return code(c);
        }
        let conn = Conn::new(self.fd.clone());
        self.state = State::Connected(conn.clone());
        Ok(conn)
    }

    fn start_listen(&mut self, st: &WasiState) -> Result<(), Fail> {
        if self.in_progress.is_some() {
            return code("concurrency-conflict");
        }
        if !matches!(self.state, State::Default) || !self.is_bound() {
            return code("invalid-state");
        }
        check_allowed(st)?;
        sys::listen(&self.fd, self.backlog).map_err(os)?;
        self.state = State::Listening;
        self.in_progress = Some(Op::Listen);
        Ok(())
    }

    /// Accepts a pending connection: the new socket and its connection.
    fn accept(&mut self) -> Result<(TcpSocket, Arc<Conn>), Fail> {
        if !matches!(self.state, State::Listening) {
            return code("invalid-state");
        }
        let (fd, _peer) = sys::accept(&self.fd).map_err(|e| match e {
            // Linux reports errors pending on the new connection from accept itself.
            libc::ECONNRESET
            | libc::ENETRESET
            | libc::EHOSTUNREACH
            | libc::EHOSTDOWN
            | libc::ENETDOWN
            | libc::ENETUNREACH
            | libc::EPROTO
            | libc::ENOPROTOOPT
            | libc::ENONET
            | libc::EOPNOTSUPP => Fail::Code("connection-aborted"),
            e => os(e),
        })?;
        let mut sock = TcpSocket::new(fd, self.v6);
        let conn = Conn::new(sock.fd.clone());
        sock.state = State::Connected(conn.clone());
        Ok((sock, conn))
    }

    fn local_address(&self) -> Result<SocketAddr, Fail> {
        if let State::Closed(c) = self.state {
            return code(c);
        }
        if !self.is_bound() {
            return code("invalid-state");
        }
        let a = sys::local_addr(&self.fd).map_err(os)?;
        if a == self.unspecified() {
            return code("invalid-state");
        }
        Ok(a)
    }

    fn remote_address(&self) -> Result<SocketAddr, Fail> {
        match self.state {
            State::Connected(_) => sys::peer_addr(&self.fd).map_err(os),
            State::Closed(c) => code(c),
            _ => code("invalid-state"),
        }
    }

    fn set_listen_backlog_size(&mut self, value: u64) -> Result<(), Fail> {
        if value == 0 {
            return code("invalid-argument");
        }
        let value = value.min(i32::MAX as u64) as i32;
        match self.state {
            State::Default => {
                self.backlog = value;
                Ok(())
            }
            State::Listening => {
                sys::listen(&self.fd, value).or_else(|_| code("not-supported"))?;
                self.backlog = value;
                Ok(())
            }
            State::Closed(c) => code(c),
            _ => code("invalid-state"),
        }
    }

    /// The connection (for `shutdown`), if connected.
    fn conn(&self) -> Result<Arc<Conn>, Fail> {
        match &self.state {
            State::Connected(conn) => Ok(conn.clone()),
            _ => code("invalid-state"),
        }
    }

    /// What `subscribe` waits for: a connect's outcome, a pending connection on a listener;
    /// otherwise (bind or listen awaiting `finish-*`, nothing under way) ready at once.
    fn readiness(&self) -> Readiness {
        match (&self.state, self.in_progress) {
            (State::Connecting(None), _) => Readiness::Fd {
                fd: self.fd.clone(),
                write: true,
            },
            (State::Listening, None) => Readiness::Fd {
                fd: self.fd.clone(),
                write: false,
            },
            _ => Readiness::Always,
        }
    }
}

/// Runs `f` on the `tcp-socket` behind argument 0.
fn with_socket<R>(
    cx: &HostCx<'_>,
    st: &WasiState,
    args: &[Val],
    f: impl FnOnce(&mut TcpSocket) -> Result<R, Fail>,
) -> Result<R, Fail> {
    with_obj::<TcpSocket, _>(cx, st, TCP_SOCKET, arg(args, 0)?, f)?
}

/// The (input, output) stream handles of `conn`.
fn stream_pair(cx: &HostCx<'_>, st: &WasiState, conn: Arc<Conn>) -> Result<(Val, Val), Trap> {
    let input = new_input_stream(cx, st, Box::new(TcpInput::new(conn.clone())))?;
    let output = new_output_stream(cx, st, Box::new(TcpOutput::new(conn)))?;
    Ok((input, output))
}

fn duration_secs(ns: u64) -> i32 {
    // At least a second (the OS unit) and at most Linux's limit.
    (ns / NANOS).clamp(1, i16::MAX as u64) as i32
}

const IFACE: &str = "sockets/tcp";

/// Defines `[method]tcp-socket.NAME` returning a result.
fn method(
    linker: &mut ComponentLinker,
    name: &str,
    f: impl Fn(&HostCx<'_>, &WasiState, &[Val]) -> Result<Option<Val>, Fail> + Send + Sync + 'static,
) {
    define_result(linker, IFACE, &format!("[method]tcp-socket.{name}"), f);
}

/// Defines an `int`-valued socket option getter and setter pair.
fn int_option(
    linker: &mut ComponentLinker,
    name: &str,
    level: libc::c_int,
    opt: libc::c_int,
    get: fn(i32) -> Val,
    set: fn(&[Val]) -> Result<Option<i32>, Trap>,
) {
    method(linker, name, move |cx, st, args| {
        with_socket(cx, st, args, |s| {
            let v = sys::get_int(s.fd()?, level, opt).map_err(os)?;
            Ok(Some(get(v)))
        })
    });
    method(linker, &format!("set-{name}"), move |cx, st, args| {
        let Some(v) = set(args)? else {
            return code("invalid-argument");
        };
        with_socket(cx, st, args, |s| {
            sys::set_int(s.fd()?, level, opt, v).map_err(os)?;
            Ok(None)
        })
    });
}

/// Adds `wasi:sockets/tcp` and `wasi:sockets/tcp-create-socket`.
pub fn add(linker: &mut ComponentLinker) {
    define_resource::<TcpSocket>(linker, IFACE, "tcp-socket");
    define_result(
        linker,
        "sockets/tcp-create-socket",
        "create-tcp-socket",
        |cx, st, args| {
            let v6 = family_of(args, 0)?;
            let fd = sys::socket(v6, libc::SOCK_STREAM).map_err(os)?;
            Ok(Some(new_handle(
                cx,
                st,
                TCP_SOCKET,
                TcpSocket::new(fd, v6),
            )?))
        },
    );
    method(linker, "start-bind", |cx, st, args| {
        check_network(cx, st, args, 1)?;
        let addr = socket_addr_of(arg(args, 2)?)?;
        with_socket(cx, st, args, |s| s.start_bind(st, addr)).map(|()| None)
    });
    method(linker, "finish-bind", |cx, st, args| {
        with_socket(cx, st, args, |s| {
            if s.in_progress != Some(Op::Bind) {
                return code("not-in-progress");
            }
            s.in_progress = None;
            Ok(None)
        })
    });
    method(linker, "start-connect", |cx, st, args| {
        check_network(cx, st, args, 1)?;
        let addr = socket_addr_of(arg(args, 2)?)?;
        with_socket(cx, st, args, |s| s.start_connect(st, addr)).map(|()| None)
    });
    method(linker, "finish-connect", |cx, st, args| {
        let conn = with_socket(cx, st, args, |s| s.finish_connect())?;
        let (i, o) = stream_pair(cx, st, conn)?;
        Ok(Some(Val::Tuple(vec![i, o])))
    });
    method(linker, "start-listen", |cx, st, args| {
        with_socket(cx, st, args, |s| s.start_listen(st)).map(|()| None)
    });
    method(linker, "finish-listen", |cx, st, args| {
        with_socket(cx, st, args, |s| {
            if s.in_progress != Some(Op::Listen) {
                return code("not-in-progress");
            }
            s.in_progress = None;
            Ok(None)
        })
    });
    method(linker, "accept", |cx, st, args| {
        let (sock, conn) = with_socket(cx, st, args, |s| s.accept())?;
        let sock = new_handle(cx, st, TCP_SOCKET, sock)?;
        let (i, o) = stream_pair(cx, st, conn)?;
        Ok(Some(Val::Tuple(vec![sock, i, o])))
    });
    method(linker, "local-address", |cx, st, args| {
        let a = with_socket(cx, st, args, |s| s.local_address())?;
        Ok(Some(socket_addr_val(a)))
    });
    method(linker, "remote-address", |cx, st, args| {
        let a = with_socket(cx, st, args, |s| s.remote_address())?;
        Ok(Some(socket_addr_val(a)))
    });
    define(
        linker,
        IFACE,
        "[method]tcp-socket.is-listening",
        |cx, st, args| {
            let l = with_obj::<TcpSocket, _>(cx, st, TCP_SOCKET, arg(args, 0)?, |s| {
                matches!(s.state, State::Listening)
            })?;
            Ok(Some(Val::Bool(l)))
        },
    );
    define(
        linker,
        IFACE,
        "[method]tcp-socket.address-family",
        |cx, st, args| {
            let v6 = with_obj::<TcpSocket, _>(cx, st, TCP_SOCKET, arg(args, 0)?, |s| s.v6)?;
            Ok(Some(super::network::family_val(v6)))
        },
    );
    method(linker, "set-listen-backlog-size", |cx, st, args| {
        let v = arg_u64(args, 1)?;
        with_socket(cx, st, args, |s| s.set_listen_backlog_size(v)).map(|()| None)
    });
    method(linker, "keep-alive-enabled", |cx, st, args| {
        with_socket(cx, st, args, |s| {
            let v = sys::get_int(s.fd()?, libc::SOL_SOCKET, libc::SO_KEEPALIVE).map_err(os)?;
            Ok(Some(Val::Bool(v != 0)))
        })
    });
    method(linker, "set-keep-alive-enabled", |cx, st, args| {
        let v = arg_bool(args, 1)?;
        with_socket(cx, st, args, |s| {
            sys::set_int(s.fd()?, libc::SOL_SOCKET, libc::SO_KEEPALIVE, v as i32).map_err(os)?;
            Ok(None)
        })
    });
    let secs_get: fn(i32) -> Val = |v| Val::U64(v.max(0) as u64 * NANOS);
    let secs_set: fn(&[Val]) -> Result<Option<i32>, Trap> = |args| {
        let ns = arg_u64(args, 1)?;
        Ok((ns != 0).then(|| duration_secs(ns)))
    };
    let tcp = libc::IPPROTO_TCP;
    int_option(
        linker,
        "keep-alive-idle-time",
        tcp,
        libc::TCP_KEEPIDLE,
        secs_get,
        secs_set,
    );
    int_option(
        linker,
        "keep-alive-interval",
        tcp,
        libc::TCP_KEEPINTVL,
        secs_get,
        secs_set,
    );
    int_option(
        linker,
        "keep-alive-count",
        tcp,
        libc::TCP_KEEPCNT,
        |v| Val::U32(v.max(0) as u32),
        |args| {
            let n = arg_u32(args, 1)?;
            Ok((n != 0).then(|| n.min(i8::MAX as u32) as i32))
        },
    );
    method(linker, "hop-limit", |cx, st, args| {
        with_socket(cx, st, args, |s| {
            Ok(Some(Val::U8(options::hop_limit(s.fd()?, s.v6)?)))
        })
    });
    method(linker, "set-hop-limit", |cx, st, args| {
        let v = match arg(args, 1)? {
            Val::U8(v) => *v,
            other => return Err(Trap::host(format!("expected a u8, got {other:?}")).into()),
        };
        with_socket(cx, st, args, |s| options::set_hop_limit(s.fd()?, s.v6, v)).map(|()| None)
    });
    for (name, receive) in [("receive-buffer-size", true), ("send-buffer-size", false)] {
        method(linker, name, move |cx, st, args| {
            with_socket(cx, st, args, |s| {
                Ok(Some(Val::U64(options::buffer_size(s.fd()?, receive)?)))
            })
        });
        method(linker, &format!("set-{name}"), move |cx, st, args| {
            let v = arg_u64(args, 1)?;
            with_socket(cx, st, args, |s| {
                options::set_buffer_size(s.fd()?, receive, v)
            })
            .map(|()| None)
        });
    }
    define(
        linker,
        IFACE,
        "[method]tcp-socket.subscribe",
        |cx, st, args| {
            let r = with_obj::<TcpSocket, _>(cx, st, TCP_SOCKET, arg(args, 0)?, |s| s.readiness())?;
            Ok(Some(new_pollable(cx, st, r)?))
        },
    );
    method(linker, "shutdown", |cx, st, args| {
        let (how, _) = arg_case(args, 1)?;
        let (receive, send) = match how {
            "receive" => (true, false),
            "send" => (false, true),
            "both" => (true, true),
            other => return Err(Trap::host(format!("bad shutdown-type {other:?}")).into()),
        };
        // Outside the table lock: sending what is buffered may block.
        let conn = with_socket(cx, st, args, |s| s.conn())?;
        if receive {
            conn.shutdown_receive();
        }
        if send {
            conn.shutdown_send();
        }
        Ok(None)
    });
}
