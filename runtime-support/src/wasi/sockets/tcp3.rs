//! `tcp-socket` of `wasi:sockets/types@0.3.0` over 0.2's socket object and state machine
//! (`tcp.rs`): `bind` and `listen` complete at once (`listen` binds implicitly), `connect` is
//! an `async func` that waits for the non-blocking connect on a helper thread
//! (`HostCx::block_on`, so only the calling subtask waits), and the data moves through
//! streams: `listen` returns a `stream<tcp-socket>` an accept thread fills, `send` reads the
//! guest's `stream<u8>` into a sender thread, `receive` returns a `stream<u8>` a reader
//! thread fills (`tcp3_io.rs`). `send` and `receive` may each be called once per connection;
//! their futures report how the stream ended. The option getters and setters are 0.2's
//! (`tcp::add_shared`).

use super::network::socket_addr_of;
use super::options::{self, with_sock};
use super::p3::{error_val, TCP3, TYPES};
use super::tcp::{State, TcpSocket};
use super::{code, define_result, tcp, tcp3_io, Fail};
use crate::component::{ComponentLinker, HostArgs, HostCx, HostResult, Val};
use crate::error::Trap;
use crate::wasi::cli3::{result_type, stream_and_future};
use crate::wasi::val::{arg, err, new_handle, ok, with_obj};
use crate::wasi::{define_raw, define_resource, WasiState};
use kiln_environ::component::InterfaceType;
use std::os::fd::OwnedFd;
use std::sync::Arc;

/// The 0.3 `err(error-code)` value for 0.2 code name `c`.
pub(super) fn err_val(c: &'static str) -> Val {
    err(error_val(c, false))
}

/// Sets a `result<T, error-code>` result from `r`.
fn set_result(res: &mut HostResult<'_>, r: Result<Val, Fail>) -> Result<(), Trap> {
    match r {
        Ok(v) => res.set(Some(ok(Some(v)))),
        Err(Fail::Code(c)) => res.set(Some(err_val(c))),
        Err(Fail::Trap(t)) => Err(t),
    }
}

/// Runs `f` on the `tcp-socket` behind handle `me`.
fn with_tcp<R>(
    cx: &HostCx<'_>,
    st: &WasiState,
    me: &Val,
    f: impl FnOnce(&mut TcpSocket) -> Result<R, Fail>,
) -> Result<R, Fail> {
    with_obj::<TcpSocket, _>(cx, st, TCP3.res, me, f)?
}

/// `listen`: starts listening (binding to a free port if unbound) and returns the stream of
/// accepted connections.
fn listen(
    cx: &HostCx<'_>,
    st: &WasiState,
    args: &HostArgs<'_>,
    res: &mut HostResult<'_>,
) -> Result<(), Trap> {
    let me = args.val(0)?;
    let stream_ty = match result_type(res)? {
        InterfaceType::Result { ok: Some(t), .. } => *t,
        other => return Err(Trap::host(format!("WASI: listen returns {other}"))),
    };
    let r = with_tcp(cx, st, &me, |s| {
        s.start_listen(st, true)?;
        s.in_progress = None;
        Ok((s.fd.clone(), s.v6))
    });
    let r = match r {
        Ok((fd, v6)) => {
            let (stream, w) = cx.stream_from_host(&stream_ty)?;
            tcp3_io::spawn_accept(st.table.clone(), fd, v6, w)?;
            Ok(stream)
        }
        Err(e) => Err(e),
    };
    set_result(res, r)
}

/// The connected descriptor for `send` (`sending`) or `receive`, each allowed once.
fn take_half(s: &mut TcpSocket, sending: bool) -> Result<Arc<OwnedFd>, Fail> {
    if !matches!(s.state, State::Connected(_)) {
        return code("invalid-state");
    }
    let taken = if sending {
        &mut s.sending
    } else {
        &mut s.receiving
    };
    if std::mem::replace(taken, true) {
        return code("invalid-state");
    }
    Ok(s.fd.clone())
}

/// `send`: the guest's `stream<u8>` goes to the connection; the future resolves once it has
/// all been sent (and the write side shut down) or sending failed.
fn send(
    cx: &HostCx<'_>,
    st: &WasiState,
    args: &HostArgs<'_>,
    res: &mut HostResult<'_>,
) -> Result<(), Trap> {
    let (me, data) = (args.val(0)?, args.val(1)?);
    let (fut, mut done) = cx.stream_from_host(&result_type(res)?)?;
    match with_tcp(cx, st, &me, |s| take_half(s, true)) {
        Ok(fd) => tcp3_io::start_send(cx, fd, &data, done)?,
        Err(Fail::Code(c)) => {
            cx.drop_async_value(&data)?;
            done.write_val(&err_val(c))?;
        }
        Err(Fail::Trap(t)) => return Err(t),
    }
    res.set(Some(fut))
}

/// `receive`: a `stream<u8>` of what the peer sends, and the future of how it ended.
fn receive(
    cx: &HostCx<'_>,
    st: &WasiState,
    args: &HostArgs<'_>,
    res: &mut HostResult<'_>,
) -> Result<(), Trap> {
    let me = args.val(0)?;
    let (pair, data, mut done) = stream_and_future(cx, res)?;
    match with_tcp(cx, st, &me, |s| take_half(s, false)) {
        Ok(fd) => tcp3_io::spawn_receive(fd, data, done)?,
        Err(Fail::Code(c)) => {
            // An ended stream and the error.
            drop(data);
            done.write_val(&err_val(c))?;
        }
        Err(Fail::Trap(t)) => return Err(t),
    }
    res.set(Some(pair))
}

/// Adds the `tcp-socket` resource of `wasi:sockets/types@0.3.0`.
pub fn add(linker: &mut ComponentLinker) {
    define_resource::<TcpSocket>(linker, TYPES, "tcp-socket");
    define_result(
        linker,
        TYPES,
        "[static]tcp-socket.create",
        |cx, st, args| {
            let sock = TcpSocket::create(args)?;
            Ok(Some(new_handle(cx, st, TCP3.res, sock)?))
        },
    );
    options::method(linker, TCP3, "bind", |cx, st, args| {
        let addr = socket_addr_of(arg(args, 1)?)?;
        with_sock(cx, st, TCP3, args, |s: &mut TcpSocket| {
            s.start_bind(st, addr)?;
            s.in_progress = None;
            Ok(None)
        })
    });
    // `async func`: the connect completes on a helper thread while other tasks run.
    options::method(linker, TCP3, "connect", |cx, st, args| {
        let addr = socket_addr_of(arg(args, 1)?)?;
        let (fd, known) = with_sock(cx, st, TCP3, args, |s: &mut TcpSocket| {
            s.start_connect(st, addr)?;
            let known = match s.state {
                State::Connecting(outcome) => outcome,
                _ => None,
            };
            Ok((s.fd.clone(), known))
        })?;
        let outcome = match known {
            Some(c) => Some(c),
            None => cx.block_on(move || tcp3_io::await_connect(&fd))?,
        };
        with_sock(cx, st, TCP3, args, |s: &mut TcpSocket| {
            s.complete_connect(outcome)
        })
        .map(|_| None)
    });
    define_raw(linker, TYPES, "[method]tcp-socket.listen", listen);
    define_raw(linker, TYPES, "[method]tcp-socket.send", send);
    define_raw(linker, TYPES, "[method]tcp-socket.receive", receive);
    tcp::add_shared(linker, TCP3);
}
