//! Socket options shared by `tcp-socket` and `udp-socket`: hop limit (`IP_TTL` /
//! `IPV6_UNICAST_HOPS`) and kernel buffer sizes (`SO_RCVBUF` / `SO_SNDBUF`), with the WIT's
//! argument rules (0 is `invalid-argument`; other values may be clamped). [`Kind`] names a
//! socket resource's methods in WASI 0.2 or 0.3 so both versions register the same getters
//! and setters ([`add_common`]).

use super::network::{family_val, os};
use super::{code, define_result, sys, Fail};
use crate::component::{ComponentLinker, HostCx, Val};
use crate::error::Trap;
use crate::wasi::val::{arg, arg_u64, with_obj};
use crate::wasi::{define, WasiState};
use std::os::fd::OwnedFd;

/// A socket resource as one WASI version names it.
#[derive(Clone, Copy)]
pub struct Kind {
    /// The interface its methods are in (`"sockets/tcp"`, `"sockets/types@0.3.0"`).
    pub iface: &'static str,
    /// The resource, as the `val` helpers take it.
    pub res: (&'static str, &'static str),
    /// WASI 0.3 naming: getters are `get-NAME` (0.2's are `NAME`).
    pub p3: bool,
}

impl Kind {
    /// The import name of getter `name` (`"hop-limit"`).
    pub fn getter(&self, name: &str) -> String {
        let get = if self.p3 { "get-" } else { "" };
        format!("[method]{}.{get}{name}", self.res.1)
    }

    /// The import name of method `name` (used as is).
    pub fn method(&self, name: &str) -> String {
        format!("[method]{}.{name}", self.res.1)
    }
}

/// A socket object whose options can be read and set.
pub trait OptionSocket: Send + 'static {
    /// The descriptor, or why options are unavailable (a closed socket's error).
    fn opt_fd(&self) -> Result<&OwnedFd, Fail>;
    /// Whether it is an IPv6 socket.
    fn is_v6(&self) -> bool;
}

/// Runs `f` on the socket of type `S` behind argument 0.
pub fn with_sock<S: OptionSocket, R>(
    cx: &HostCx<'_>,
    st: &WasiState,
    kind: Kind,
    args: &[Val],
    f: impl FnOnce(&mut S) -> Result<R, Fail>,
) -> Result<R, Fail> {
    with_obj::<S, _>(cx, st, kind.res, arg(args, 0)?, f)?
}

/// Defines method `name` of `kind` returning `result<_, error-code>`.
pub fn method(
    linker: &mut ComponentLinker,
    kind: Kind,
    name: &str,
    f: impl Fn(&HostCx<'_>, &WasiState, &[Val]) -> Result<Option<Val>, Fail> + Send + Sync + 'static,
) {
    define_result(linker, kind.iface, &kind.method(name), f);
}

/// Defines getter `name` and setter `set-name` of an option of `S`.
pub fn getter_setter<S: OptionSocket>(
    linker: &mut ComponentLinker,
    kind: Kind,
    name: &str,
    get: impl Fn(&S) -> Result<Val, Fail> + Send + Sync + 'static,
    set: impl Fn(&mut S, &Val) -> Result<(), Fail> + Send + Sync + 'static,
) {
    define_result(
        linker,
        kind.iface,
        &kind.getter(name),
        move |cx, st, args| with_sock(cx, st, kind, args, |s: &mut S| get(s).map(Some)),
    );
    method(linker, kind, &format!("set-{name}"), move |cx, st, args| {
        let v = arg(args, 1)?.clone();
        with_sock(cx, st, kind, args, |s: &mut S| set(s, &v)).map(|()| None)
    });
}

/// Argument `v` as a `u8`.
fn u8_of(v: &Val) -> Result<u8, Fail> {
    match v {
        Val::U8(v) => Ok(*v),
        other => Err(Trap::host(format!("expected a u8, got {other:?}")).into()),
    }
}

/// Defines the options TCP and UDP sockets share: the address family, the hop limit (named
/// `hop`), and the buffer sizes.
pub fn add_common<S: OptionSocket>(linker: &mut ComponentLinker, kind: Kind, hop: &str) {
    define(
        linker,
        kind.iface,
        &kind.getter("address-family"),
        move |cx, st, args| {
            let v6 = with_obj::<S, _>(cx, st, kind.res, arg(args, 0)?, |s| s.is_v6())?;
            Ok(Some(family_val(v6)))
        },
    );
    getter_setter::<S>(
        linker,
        kind,
        hop,
        |s| Ok(Val::U8(hop_limit(s.opt_fd()?, s.is_v6())?)),
        |s, v| set_hop_limit(s.opt_fd()?, s.is_v6(), u8_of(v)?),
    );
    for (name, receive) in [("receive-buffer-size", true), ("send-buffer-size", false)] {
        getter_setter::<S>(
            linker,
            kind,
            name,
            move |s| Ok(Val::U64(buffer_size(s.opt_fd()?, receive)?)),
            move |s, v| {
                let v = arg_u64(std::slice::from_ref(v), 0)?;
                set_buffer_size(s.opt_fd()?, receive, v)
            },
        );
    }
}

/// The unicast hop limit.
pub fn hop_limit(fd: &OwnedFd, v6: bool) -> Result<u8, Fail> {
    let v = if v6 {
        sys::get_int(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS)
    } else {
        sys::get_int(fd, libc::IPPROTO_IP, libc::IP_TTL)
    }
    .map_err(os)?;
    u8::try_from(v).or_else(|_| code("not-supported"))
}

/// Sets the unicast hop limit (`invalid-argument` for 0).
pub fn set_hop_limit(fd: &OwnedFd, v6: bool, value: u8) -> Result<(), Fail> {
    if value == 0 {
        return code("invalid-argument");
    }
    if v6 {
        sys::set_int(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_UNICAST_HOPS,
            value.into(),
        )
    } else {
        sys::set_int(fd, libc::IPPROTO_IP, libc::IP_TTL, value.into())
    }
    .map_err(os)
}

fn opt(receive: bool) -> libc::c_int {
    if receive {
        libc::SO_RCVBUF
    } else {
        libc::SO_SNDBUF
    }
}

/// The receive (or send) buffer size; Linux reports twice what was set, so it is halved
/// to read back what the guest asked for.
pub fn buffer_size(fd: &OwnedFd, receive: bool) -> Result<u64, Fail> {
    let v = sys::get_int(fd, libc::SOL_SOCKET, opt(receive)).map_err(os)?;
    Ok((v.max(0) as u64) / 2)
}

/// Sets the receive (or send) buffer size (`invalid-argument` for 0; clamped to `i32`).
pub fn set_buffer_size(fd: &OwnedFd, receive: bool, value: u64) -> Result<(), Fail> {
    if value == 0 {
        return code("invalid-argument");
    }
    let v = value.min(i32::MAX as u64) as i32;
    match sys::set_int(fd, libc::SOL_SOCKET, opt(receive), v) {
        Ok(()) | Err(libc::ENOBUFS) => Ok(()),
        Err(e) => Err(os(e)),
    }
}
