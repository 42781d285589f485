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
use super::options::{getter_setter, with_sock, Kind, OptionSocket};
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
pub(super) enum State {
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
pub(super) enum Op {
    Bind,
    Connect,
    Listen,
}

/// The object behind a `tcp-socket` handle.
pub struct TcpSocket {
    pub(super) fd: Arc<OwnedFd>,
    pub(super) v6: bool,
    pub(super) state: State,
    pub(super) in_progress: Option<Op>,
    backlog: i32,
    /// WASI 0.3: `send` was called (it may be only once).
    pub(super) sending: bool,
    /// WASI 0.3: `receive` was called (it may be only once).
    pub(super) receiving: bool,
}

impl OptionSocket for TcpSocket {
    fn opt_fd(&self) -> Result<&OwnedFd, Fail> {
        self.fd()
    }

    fn is_v6(&self) -> bool {
        self.v6
    }
}

impl TcpSocket {
    /// A socket in the initial (unbound) state.
    pub(super) fn new(fd: OwnedFd, v6: bool) -> TcpSocket {
        TcpSocket {
            fd: Arc::new(fd),
            v6,
            state: State::Default,
            in_progress: None,
            backlog: DEFAULT_BACKLOG,
            sending: false,
            receiving: false,
        }
    }

    /// `tcp-create-socket` (0.2) and `tcp-socket.create` (0.3).
    pub(super) fn create(args: &[Val]) -> Result<TcpSocket, Fail> {
        let v6 = family_of(args, 0)?;
        let fd = sys::socket(v6, libc::SOCK_STREAM).map_err(os)?;
        Ok(TcpSocket::new(fd, v6))
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

    pub(super) fn start_bind(&mut self, st: &WasiState, addr: SocketAddr) -> Result<(), Fail> {
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

    pub(super) fn start_connect(&mut self, st: &WasiState, addr: SocketAddr) -> Result<(), Fail> {
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
                connect_error(&self.fd)
            }
        };
        self.complete_connect(failure)
    }

    /// Ends a connect that had outcome `failure` (`None`: connected).
    pub(super) fn complete_connect(
        &mut self,
        failure: Option<&'static str>,
    ) -> Result<Arc<Conn>, Fail> {
        self.in_progress = None;
        if let Some(c) = failure {
            self.state = State::Closed(c);
            return code(c);
        }
        let conn = Conn::new(self.fd.clone());
        self.state = State::Connected(conn.clone());
        Ok(conn)
    }

    /// Starts listening; an unbound socket is `invalid-state` unless `implicit_bind` (0.3,
    /// where the OS picks the address).
    pub(super) fn start_listen(&mut self, st: &WasiState, implicit_bind: bool) -> Result<(), Fail> {
        if self.in_progress.is_some() {
            return code("concurrency-conflict");
        }
        if !matches!(self.state, State::Default) || !(implicit_bind || self.is_bound()) {
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
        accept_on(&self.fd, self.v6)
    }

    pub(super) fn local_address(&self) -> Result<SocketAddr, Fail> {
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

    pub(super) fn remote_address(&self) -> Result<SocketAddr, Fail> {
        match self.state {
            State::Connected(_) => sys::peer_addr(&self.fd).map_err(os),
            State::Closed(c) => code(c),
            _ => code("invalid-state"),
        }
    }

    pub(super) fn set_listen_backlog_size(&mut self, value: u64) -> Result<(), Fail> {
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

/// `tcp-socket` in WASI 0.2.
const TCP2: Kind = Kind {
    iface: IFACE,
    res: TCP_SOCKET,
    p3: false,
};

/// Defines an `int`-valued socket option getter and setter pair.
fn int_option(
    linker: &mut ComponentLinker,
    kind: Kind,
    name: &str,
    (level, opt): (libc::c_int, libc::c_int),
    get: fn(i32) -> Val,
    set: fn(&Val) -> Result<Option<i32>, Trap>,
) {
    getter_setter::<TcpSocket>(
        linker,
        kind,
        name,
        move |s| Ok(get(sys::get_int(s.fd()?, level, opt).map_err(os)?)),
        move |s, v| {
            let Some(v) = set(v)? else {
                return code("invalid-argument");
            };
            sys::set_int(s.fd()?, level, opt, v).map_err(os)
        },
    );
}

/// Defines the `tcp-socket` methods WASI 0.2 and 0.3 share (0.3 names getters `get-*`):
/// addresses, listening state, backlog, keep-alive, hop limit, buffer sizes.
pub(super) fn add_shared(linker: &mut ComponentLinker, kind: Kind) {
    let getter = move |linker: &mut ComponentLinker,
                       name: &str,
                       f: fn(&TcpSocket) -> Result<Val, Fail>| {
        define_result(
            linker,
            kind.iface,
            &kind.getter(name),
            move |cx, st, args| with_sock(cx, st, kind, args, |s: &mut TcpSocket| f(s).map(Some)),
        );
    };
    getter(linker, "local-address", |s| {
        s.local_address().map(socket_addr_val)
    });
    getter(linker, "remote-address", |s| {
        s.remote_address().map(socket_addr_val)
    });
    define(
        linker,
        kind.iface,
        &kind.getter("is-listening"),
        move |cx, st, args| {
            let l = with_obj::<TcpSocket, _>(cx, st, kind.res, arg(args, 0)?, |s| {
                matches!(s.state, State::Listening)
            })?;
            Ok(Some(Val::Bool(l)))
        },
    );
    options::method(
        linker,
        kind,
        "set-listen-backlog-size",
        move |cx, st, args| {
            let v = arg_u64(args, 1)?;
            with_sock(cx, st, kind, args, |s: &mut TcpSocket| {
                s.set_listen_backlog_size(v)
            })
            .map(|()| None)
        },
    );
    getter_setter::<TcpSocket>(
        linker,
        kind,
        "keep-alive-enabled",
        |s| {
            let v = sys::get_int(s.fd()?, libc::SOL_SOCKET, libc::SO_KEEPALIVE).map_err(os)?;
            Ok(Val::Bool(v != 0))
        },
        |s, v| {
            let v = arg_bool(std::slice::from_ref(v), 0)?;
            sys::set_int(s.fd()?, libc::SOL_SOCKET, libc::SO_KEEPALIVE, v as i32).map_err(os)
        },
    );
    let secs_get: fn(i32) -> Val = |v| Val::U64(v.max(0) as u64 * NANOS);
    let secs_set: fn(&Val) -> Result<Option<i32>, Trap> = |v| {
        let ns = arg_u64(std::slice::from_ref(v), 0)?;
        Ok((ns != 0).then(|| duration_secs(ns)))
    };
    let tcp = libc::IPPROTO_TCP;
    int_option(
        linker,
        kind,
        "keep-alive-idle-time",
        (tcp, libc::TCP_KEEPIDLE),
        secs_get,
        secs_set,
    );
    int_option(
        linker,
        kind,
        "keep-alive-interval",
        (tcp, libc::TCP_KEEPINTVL),
        secs_get,
        secs_set,
    );
    int_option(
        linker,
        kind,
        "keep-alive-count",
        (tcp, libc::TCP_KEEPCNT),
        |v| Val::U32(v.max(0) as u32),
        |v| {
            let n = arg_u32(std::slice::from_ref(v), 0)?;
            Ok((n != 0).then(|| n.min(i8::MAX as u32) as i32))
        },
    );
    options::add_common::<TcpSocket>(linker, kind, "hop-limit");
}

/// Adds `wasi:sockets/tcp` and `wasi:sockets/tcp-create-socket`.
pub fn add(linker: &mut ComponentLinker) {
    define_resource::<TcpSocket>(linker, IFACE, "tcp-socket");
    define_result(
        linker,
        "sockets/tcp-create-socket",
        "create-tcp-socket",
        |cx, st, args| {
            let sock = TcpSocket::create(args)?;
            Ok(Some(new_handle(cx, st, TCP_SOCKET, sock)?))
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
        with_socket(cx, st, args, |s| s.start_listen(st, false)).map(|()| None)
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
    add_shared(linker, TCP2);
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

/// The outcome of a finished non-blocking connect on `fd`: `None` when connected.
pub(super) fn connect_error(fd: &OwnedFd) -> Option<&'static str> {
    match sys::get_int(fd, libc::SOL_SOCKET, libc::SO_ERROR) {
        Ok(0) => None,
        Ok(e) | Err(e) => Some(super::network::code_of_errno(e)),
    }
}

/// Accepts a pending connection on listener `fd` (without blocking): the new socket and its
/// connection.
pub(super) fn accept_on(fd: &OwnedFd, v6: bool) -> Result<(TcpSocket, Arc<Conn>), Fail> {
    let (fd, _peer) = sys::accept(fd).map_err(|e| match e {
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
    let mut sock = TcpSocket::new(fd, v6);
    let conn = Conn::new(sock.fd.clone());
    sock.state = State::Connected(conn.clone());
    Ok((sock, conn))
}
