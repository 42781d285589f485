//! `wasi:sockets/network` and `wasi:sockets/instance-network`: the `network` capability
//! handle, the `error-code` mapping from OS errors, and conversions between WIT socket
//! addresses (`ip-socket-address`, `ip-address`) and Rust's, with the address checks the
//! socket operations share (unicast, family, remote-address rules).

use super::{Fail, NETWORK};
use crate::component::{ComponentLinker, HostCx, Val};
use crate::error::Trap;
use crate::wasi::val::{arg, case, new_handle, option, record, rep_of, with_obj};
use crate::wasi::{define, define_resource, ErrorObj, WasiState, IO_ERROR};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// The object behind a `network` handle (the capability itself; permission is the
/// instance's `WasiConfig::network`).
pub struct NetworkObj;

/// The `error-code` case for OS error `errno` (the mapping wasmtime 48 uses for WASI 0.2).
pub fn code_of_errno(errno: i32) -> &'static str {
    match errno {
        libc::EWOULDBLOCK | libc::EINTR => "would-block",
        libc::EPERM | libc::EACCES => "access-denied",
        libc::EADDRINUSE => "address-in-use",
        libc::EADDRNOTAVAIL => "address-not-bindable",
        libc::EALREADY => "concurrency-conflict",
        libc::ETIMEDOUT => "timeout",
        libc::ECONNREFUSED => "connection-refused",
        libc::ECONNRESET => "connection-reset",
        libc::ECONNABORTED => "connection-aborted",
        libc::EINVAL => "invalid-argument",
        libc::EHOSTUNREACH
        | libc::EHOSTDOWN
        | libc::ENETDOWN
        | libc::ENETUNREACH
        | libc::ENONET => "remote-unreachable",
        libc::EISCONN | libc::ENOTCONN | libc::EDESTADDRREQ => "invalid-state",
        libc::ENFILE | libc::EMFILE => "new-socket-limit",
        libc::EMSGSIZE => "datagram-too-large",
        libc::ENOMEM | libc::ENOBUFS => "out-of-memory",
        libc::EOPNOTSUPP
        | libc::ENOPROTOOPT
        | libc::EPFNOSUPPORT
        | libc::EPROTONOSUPPORT
        | libc::EPROTOTYPE
        | libc::ESOCKTNOSUPPORT
        | libc::EAFNOSUPPORT => "not-supported",
        _ => "unknown",
    }
}

/// A [`Fail`] for OS error `errno`.
pub fn os(errno: i32) -> Fail {
    Fail::Code(code_of_errno(errno))
}

fn bad(what: &str, v: &Val) -> Trap {
    Trap::host(format!("WASI sockets: malformed {what}: {v:?}"))
}

fn field<'a>(fields: &'a [(String, Val)], name: &str) -> Option<&'a Val> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

fn u16_of(v: Option<&Val>) -> Option<u16> {
    match v {
        Some(Val::U16(x)) => Some(*x),
        _ => None,
    }
}

fn u32_of(v: Option<&Val>) -> Option<u32> {
    match v {
        Some(Val::U32(x)) => Some(*x),
        _ => None,
    }
}

fn ipv4_of(v: &Val) -> Option<Ipv4Addr> {
    let Val::Tuple(t) = v else { return None };
    let mut o = [0u8; 4];
    if t.len() != 4 {
        return None;
    }
    for (i, x) in t.iter().enumerate() {
        let Val::U8(b) = x else { return None };
        o[i] = *b;
    }
    Some(Ipv4Addr::from(o))
}

fn ipv6_of(v: &Val) -> Option<Ipv6Addr> {
    let Val::Tuple(t) = v else { return None };
    let mut s = [0u16; 8];
    if t.len() != 8 {
        return None;
    }
    for (i, x) in t.iter().enumerate() {
        let Val::U16(w) = x else { return None };
        s[i] = *w;
    }
    Some(Ipv6Addr::from(s))
}

/// An `ip-socket-address` value as a Rust address (a trap when the value is malformed, which
/// the canonical ABI's type checks rule out for real guests).
pub fn socket_addr_of(v: &Val) -> Result<SocketAddr, Trap> {
    let parse = || -> Option<SocketAddr> {
        let Val::Variant(c, Some(p)) = v else {
            return None;
        };
        let Val::Record(f) = &**p else { return None };
        let port = u16_of(field(f, "port"))?;
        match c.as_str() {
            "ipv4" => Some(SocketAddr::V4(SocketAddrV4::new(
                ipv4_of(field(f, "address")?)?,
                port,
            ))),
            "ipv6" => Some(SocketAddr::V6(SocketAddrV6::new(
                ipv6_of(field(f, "address")?)?,
                port,
                u32_of(field(f, "flow-info"))?,
                u32_of(field(f, "scope-id"))?,
            ))),
            _ => None,
        }
    };
    parse().ok_or_else(|| bad("ip-socket-address", v))
}

/// An `ip-address` value for `ip`.
pub fn ip_val(ip: IpAddr) -> Val {
    match ip {
        IpAddr::V4(a) => Val::Variant(
            "ipv4".into(),
            Some(Box::new(Val::Tuple(
                a.octets().iter().map(|&b| Val::U8(b)).collect(),
            ))),
        ),
        IpAddr::V6(a) => Val::Variant(
            "ipv6".into(),
            Some(Box::new(Val::Tuple(
                a.segments().iter().map(|&w| Val::U16(w)).collect(),
            ))),
        ),
    }
}

/// An `ip-socket-address` value for `addr`.
pub fn socket_addr_val(addr: SocketAddr) -> Val {
    let payload = match addr {
        SocketAddr::V4(a) => record(vec![
            ("port", Val::U16(a.port())),
            ("address", take_payload(ip_val(IpAddr::V4(*a.ip())))),
        ]),
        SocketAddr::V6(a) => record(vec![
            ("port", Val::U16(a.port())),
            ("flow-info", Val::U32(a.flowinfo())),
            ("address", take_payload(ip_val(IpAddr::V6(*a.ip())))),
            ("scope-id", Val::U32(a.scope_id())),
        ]),
    };
    let family = if addr.is_ipv4() { "ipv4" } else { "ipv6" };
    Val::Variant(family.into(), Some(Box::new(payload)))
}

fn take_payload(v: Val) -> Val {
    match v {
        Val::Variant(_, Some(p)) => *p,
        other => other,
    }
}

/// An `ip-address-family` value.
pub fn family_val(v6: bool) -> Val {
    case(if v6 { "ipv6" } else { "ipv4" })
}

/// Whether an `ip-address-family` argument says IPv6.
pub fn family_of(args: &[Val], i: usize) -> Result<bool, Trap> {
    match arg(args, i)? {
        Val::Enum(c) if c == "ipv4" => Ok(false),
        Val::Enum(c) if c == "ipv6" => Ok(true),
        v => Err(bad("ip-address-family", v)),
    }
}

/// Whether `ip` may be used with a socket of family `v6` (IPv6 sockets are IPv6-only, so
/// IPv4-mapped and deprecated IPv4-compatible IPv6 addresses are refused).
pub fn family_ok(ip: IpAddr, v6: bool) -> bool {
    match ip {
        IpAddr::V4(_) => !v6,
        IpAddr::V6(a) => {
            let compat = matches!(a.segments(), [0, 0, 0, 0, 0, 0, _, _])
                && a != Ipv6Addr::UNSPECIFIED
                && a != Ipv6Addr::LOCALHOST;
            v6 && !compat && a.to_ipv4_mapped().is_none()
        }
    }
}

/// Whether `ip` is a unicast address (not multicast or the IPv4 broadcast address).
pub fn unicast(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(a) => !a.is_multicast() && !a.is_broadcast(),
        IpAddr::V6(a) => !a.is_multicast(),
    }
}

/// Whether `addr` may be a remote address: a specified IP and a non-zero port.
pub fn remote_ok(addr: &SocketAddr) -> bool {
    !addr.ip().to_canonical().is_unspecified() && addr.port() != 0
}

/// Checks that the `network` handle argument `i` is live (it is the capability the
/// operation needs; a bad handle is a trap).
pub fn check_network(cx: &HostCx<'_>, st: &WasiState, args: &[Val], i: usize) -> Result<(), Trap> {
    with_obj::<NetworkObj, _>(cx, st, NETWORK, arg(args, i)?, |_| ())
}

/// Fails with `access-denied` unless the host granted network access.
pub fn check_allowed(st: &WasiState) -> Result<(), Fail> {
    if st.config.network {
        Ok(())
    } else {
        Err(Fail::Code("access-denied"))
    }
}

/// Adds `wasi:sockets/network` and `wasi:sockets/instance-network`.
pub fn add(linker: &mut ComponentLinker) {
    define_resource::<NetworkObj>(linker, "sockets/network", "network");
    define(
        linker,
        "sockets/network",
        "network-error-code",
        |cx, st, args| {
            let rep = rep_of(cx, IO_ERROR, arg(args, 0)?)?;
            let errno = st.table().get::<ErrorObj>(rep, "error")?.0.errno;
            Ok(Some(option(errno.map(|e| case(code_of_errno(e))))))
        },
    );
    define(
        linker,
        "sockets/instance-network",
        "instance-network",
        |cx, st, _args| Ok(Some(new_handle(cx, st, NETWORK, NetworkObj)?)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_codes() {
        assert_eq!(code_of_errno(libc::EACCES), "access-denied");
        assert_eq!(code_of_errno(libc::EPERM), "access-denied");
        assert_eq!(code_of_errno(libc::EAGAIN), "would-block");
        assert_eq!(code_of_errno(libc::ECONNREFUSED), "connection-refused");
        assert_eq!(code_of_errno(libc::ECONNRESET), "connection-reset");
        assert_eq!(code_of_errno(libc::EADDRINUSE), "address-in-use");
        assert_eq!(code_of_errno(libc::EADDRNOTAVAIL), "address-not-bindable");
        assert_eq!(code_of_errno(libc::ENETUNREACH), "remote-unreachable");
        assert_eq!(code_of_errno(libc::ENOTCONN), "invalid-state");
        assert_eq!(code_of_errno(libc::EMFILE), "new-socket-limit");
        assert_eq!(code_of_errno(libc::EMSGSIZE), "datagram-too-large");
        assert_eq!(code_of_errno(libc::EAFNOSUPPORT), "not-supported");
        assert_eq!(code_of_errno(libc::EIO), "unknown");
    }

    #[test]
    fn addresses_round_trip() {
        for a in ["127.0.0.1:80", "[::1]:443", "[fe80::1%3]:9", "10.0.0.255:0"] {
            let addr: SocketAddr = a.parse().unwrap();
            assert_eq!(socket_addr_of(&socket_addr_val(addr)).unwrap(), addr);
        }
        assert!(socket_addr_of(&Val::U8(1)).is_err());
        assert!(socket_addr_of(&Val::Variant("ipv4".into(), None)).is_err());
    }

    #[test]
    fn address_rules() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(family_ok(ip("127.0.0.1"), false) && !family_ok(ip("127.0.0.1"), true));
        assert!(family_ok(ip("::1"), true) && family_ok(ip("::"), true));
        assert!(!family_ok(ip("::ffff:127.0.0.1"), true));
        assert!(!family_ok(ip("::127.0.0.1"), true));
        assert!(!unicast(ip("224.0.0.1")) && !unicast(ip("255.255.255.255")));
        assert!(!unicast(ip("ff02::1")) && unicast(ip("10.1.1.1")));
        assert!(!remote_ok(&"0.0.0.0:80".parse().unwrap()));
        assert!(!remote_ok(&"127.0.0.1:0".parse().unwrap()));
        assert!(remote_ok(&"127.0.0.1:1".parse().unwrap()));
    }
}
