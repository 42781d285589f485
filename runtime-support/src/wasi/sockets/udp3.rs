//! `udp-socket` of `wasi:sockets/types@0.3.0` over 0.2's socket object (`udp.rs`): `bind`
//! completes at once, `connect` and `disconnect` (dis)associate the socket as 0.2's `stream`
//! does, and datagrams move through two `async func`s: `send` (one datagram, to the given
//! address or the associated one; the OS binds an unbound socket) and `receive` (the next
//! datagram and its sender), which wait on a helper thread (`HostCx::block_on`) when the
//! socket is not ready, so only the calling subtask waits. The option getters and setters
//! are 0.2's (`udp::add_shared`).

use super::network::{code_of_errno, os, socket_addr_of, socket_addr_val};
use super::options::{self, with_sock};
use super::p3::{TYPES, UDP3};
use super::udp::{send_datagram, UdpSocket};
use super::{code, define_result, sys, udp, Fail};
use crate::component::{ComponentLinker, Val};
use crate::error::Trap;
use crate::wasi::val::{arg, arg_bytes, bytes, new_handle};
use crate::wasi::{define_resource, WasiState};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;

/// Largest datagram payload `receive` takes.
const MAX_DATAGRAM: usize = u16::MAX as usize;
/// How long one `poll` of a waiting `receive` lasts before it looks whether the socket is
/// still open (ms).
const SLICE_MS: i32 = 100;

/// Waits (on a helper thread) until `fd` has `events`; `false` when the guest dropped the
/// socket meanwhile (only the waiter holds the descriptor then).
fn wait_for(fd: &Arc<OwnedFd>, events: libc::c_short) -> Result<bool, Fail> {
    loop {
        if Arc::strong_count(fd) == 1 {
            return Ok(false);
        }
        if sys::poll(fd, events, SLICE_MS).map_err(os)? != 0 {
            return Ok(true);
        }
    }
}

/// Receives the next datagram on `fd` (from `remote` only, when associated), waiting for
/// one on a helper thread.
fn receive_one(fd: Arc<OwnedFd>, remote: Option<SocketAddr>) -> Result<Val, Fail> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match sys::recv(&fd, &mut buf) {
            Ok((n, Some(from))) if remote.is_none_or(|r| r == from) => {
                return Ok(Val::Tuple(vec![bytes(&buf[..n]), socket_addr_val(from)]));
            }
            // Not from the associated peer, or no address: not for the guest.
            Ok(_) => continue,
            Err(libc::EAGAIN) => {}
            Err(e) => return Err(Fail::Code(code_of_errno(e))),
        }
        if !wait_for(&fd, libc::POLLIN)? {
            return code("invalid-state");
        }
    }
}

/// What `send` and `receive` need of the socket: its descriptor, family and peer.
fn parts(s: &mut UdpSocket) -> (Arc<OwnedFd>, bool, Option<SocketAddr>) {
    (s.fd.clone(), s.v6, s.remote)
}

/// `send`: one datagram; waits for room on a helper thread when the socket has none.
fn send(
    cx: &crate::component::HostCx<'_>,
    st: &WasiState,
    args: &[Val],
) -> Result<Option<Val>, Fail> {
    let data = arg_bytes(args, 1)?;
    let to = match arg(args, 2)? {
        Val::Option(Some(a)) => Some(socket_addr_of(a)?),
        Val::Option(None) => None,
        other => return Err(Trap::host(format!("expected an option, got {other:?}")).into()),
    };
    let (fd, v6, remote) = with_sock(cx, st, UDP3, args, |s: &mut UdpSocket| Ok(parts(s)))?;
    loop {
        match send_datagram(st, (&fd, v6, remote), &data, to) {
            Err(Fail::Code("would-block")) => {
                let fd = fd.clone();
                if !cx.block_on(move || wait_for(&fd, libc::POLLOUT))?? {
                    return code("invalid-state");
                }
            }
            r => return r.map(|()| None),
        }
    }
}

/// Adds the `udp-socket` resource of `wasi:sockets/types@0.3.0`.
pub fn add(linker: &mut ComponentLinker) {
    define_resource::<UdpSocket>(linker, TYPES, "udp-socket");
    define_result(
        linker,
        TYPES,
        "[static]udp-socket.create",
        |cx, st, args| {
            let sock = UdpSocket::create(args)?;
            Ok(Some(new_handle(cx, st, UDP3.res, sock)?))
        },
    );
    options::method(linker, UDP3, "bind", |cx, st, args| {
        let addr = socket_addr_of(arg(args, 1)?)?;
        with_sock(cx, st, UDP3, args, |s: &mut UdpSocket| {
            s.start_bind(st, addr)?;
            s.bind_in_progress = false;
            Ok(None)
        })
    });
    options::method(linker, UDP3, "connect", |cx, st, args| {
        let addr = socket_addr_of(arg(args, 1)?)?;
        with_sock(cx, st, UDP3, args, |s: &mut UdpSocket| {
            s.associate(st, Some(addr)).map(|()| None)
        })
    });
    options::method(linker, UDP3, "disconnect", |cx, st, args| {
        with_sock(cx, st, UDP3, args, |s: &mut UdpSocket| {
            if s.remote.is_none() {
                return code("invalid-state");
            }
            s.associate(st, None).map(|()| None)
        })
    });
    options::method(linker, UDP3, "send", send);
    options::method(linker, UDP3, "receive", |cx, st, args| {
        let (fd, _, remote) = with_sock(cx, st, UDP3, args, |s: &mut UdpSocket| {
            if !s.is_bound() {
                return code("invalid-state");
            }
            Ok(parts(s))
        })?;
        let got = cx.block_on(move || receive_one(fd, remote))??;
        Ok(Some(got))
    });
    udp::add_shared(linker, UDP3);
}
