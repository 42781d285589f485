//! WASI 0.3's sockets: `wasi:sockets/types@0.3.0` (`tcp-socket`, `udp-socket`) and
//! `wasi:sockets/ip-name-lookup@0.3.0`. The socket objects, address checks, options and the
//! resolver are 0.2's; this file maps 0.2's error-code names to 0.3's `error-code` variants
//! and registers the interfaces (`tcp3.rs`, `udp3.rs`, and `resolve-addresses` here).
//!
//! Network permission works as in 0.2: without it bind, connect, listen, send and lookups
//! fail with `access-denied`.

use super::lookup::resolve_blocking;
use super::network::{check_allowed, ip_val};
use super::options::Kind;
use super::{define_result, Fail};
use crate::component::{ComponentLinker, Val};
use crate::wasi::val::arg_str;

/// `wasi:sockets/types@0.3.0`.
pub(super) const TYPES: &str = "sockets/types@0.3.0";
/// `wasi:sockets/ip-name-lookup@0.3.0`.
const LOOKUP: &str = "sockets/ip-name-lookup@0.3.0";
/// `tcp-socket` in WASI 0.3.
pub(super) const TCP3: Kind = Kind {
    iface: TYPES,
    res: (TYPES, "tcp-socket"),
    p3: true,
};
/// `udp-socket` in WASI 0.3.
pub(super) const UDP3: Kind = Kind {
    iface: TYPES,
    res: (TYPES, "udp-socket"),
    p3: true,
};

/// The cases (without payload) of `wasi:sockets/types@0.3.0#error-code`.
const TYPES_CODES: &[&str] = &[
    "access-denied",
    "not-supported",
    "invalid-argument",
    "out-of-memory",
    "timeout",
    "invalid-state",
    "address-not-bindable",
    "address-in-use",
    "remote-unreachable",
    "connection-refused",
    "connection-broken",
    "connection-reset",
    "connection-aborted",
    "datagram-too-large",
];

/// The cases (without payload) of `wasi:sockets/ip-name-lookup@0.3.0#error-code`.
const LOOKUP_CODES: &[&str] = &[
    "access-denied",
    "invalid-argument",
    "name-unresolvable",
    "temporary-resolver-failure",
    "permanent-resolver-failure",
];

/// The 0.3 `error-code` value for 0.2 code name `c` (of `ip-name-lookup` when `lookup`):
/// 0.2's `concurrency-conflict` and `not-in-progress` are `invalid-state` in 0.3; codes 0.3
/// lacks (`unknown`, `would-block`, `new-socket-limit`, ...) are `other(none)`.
pub(super) fn error_val(c: &str, lookup: bool) -> Val {
    let c = match c {
        "concurrency-conflict" | "not-in-progress" if !lookup => "invalid-state",
        c => c,
    };
    let known = if lookup { LOOKUP_CODES } else { TYPES_CODES };
    if known.contains(&c) {
        Val::Variant(c.into(), None)
    } else {
        Val::Variant("other".into(), Some(Box::new(Val::Option(None))))
    }
}

/// Adds `wasi:sockets/types@0.3.0` and `wasi:sockets/ip-name-lookup@0.3.0`.
pub fn add(linker: &mut ComponentLinker) {
    super::tcp3::add(linker);
    super::udp3::add(linker);
    // `async func`: the lookup runs on a helper thread while the guest's other tasks run.
    define_result(linker, LOOKUP, "resolve-addresses", |cx, st, args| {
        let name = arg_str(args, 0)?.to_string();
        check_allowed(st)?;
        let addrs = cx.block_on(move || resolve_blocking(&name))?;
        let addrs = addrs.map_err(Fail::Code)?;
        Ok(Some(Val::List(addrs.into_iter().map(ip_val).collect())))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::versioned;

    #[test]
    fn interface_names_are_versioned() {
        assert_eq!(TYPES, versioned("sockets/types", true));
        assert_eq!(LOOKUP, versioned("sockets/ip-name-lookup", true));
    }

    #[test]
    fn error_codes_map_to_0_3() {
        let plain = |c: &str| Val::Variant(c.into(), None);
        let other = Val::Variant("other".into(), Some(Box::new(Val::Option(None))));
        assert_eq!(error_val("access-denied", false), plain("access-denied"));
        assert_eq!(error_val("not-in-progress", false), plain("invalid-state"));
        assert_eq!(
            error_val("concurrency-conflict", false),
            plain("invalid-state")
        );
        assert_eq!(error_val("would-block", false), other);
        assert_eq!(error_val("unknown", false), other);
        assert_eq!(
            error_val("name-unresolvable", true),
            plain("name-unresolvable")
        );
        assert_eq!(error_val("out-of-memory", true), other);
        assert_eq!(error_val("name-unresolvable", false), other);
    }
}
