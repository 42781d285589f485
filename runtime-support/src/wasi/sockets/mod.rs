//! `wasi:sockets` for the native WASI 0.2 host: `network`, `instance-network`, `tcp`,
//! `tcp-create-socket`, `udp`, `udp-create-socket` and `ip-name-lookup`, over non-blocking
//! OS sockets (libc). The guest may use the network only when the host granted it
//! (`WasiConfig::network`): otherwise sockets can still be made (as in wasmtime), but every
//! operation that would touch the network (bind, connect, listen, send, name lookups) fails
//! with `access-denied`.
//!
//! - `sys.rs`: the libc calls; `network.rs`: the network handle, error codes, addresses;
//! - `tcp.rs`: the `tcp-socket` state machine; `tcp_stream.rs`: its input/output streams;
//! - `options.rs`: socket options shared by TCP and UDP;
//! - `udp.rs`: `udp-socket` and its datagram streams; `lookup.rs`: `ip-name-lookup`.
//!
//! WASI 0.3's `wasi:sockets/{types,ip-name-lookup}@0.3.0` share the socket objects, address
//! checks, options and lookups with 0.2 (`p3.rs`: error codes and registration; `tcp3.rs`,
//! `tcp3_io.rs`: TCP with streams; `udp3.rs`: UDP with `async` send and receive).

mod lookup;
mod network;
mod options;
mod p3;
mod sys;
mod tcp;
mod tcp3;
mod tcp3_io;
mod tcp_stream;
mod udp;
mod udp3;

use crate::component::{ComponentLinker, HostCx, Val};
use crate::error::Trap;
use crate::wasi::val::{case, err, ok};
use crate::wasi::{define, WasiState};

/// `wasi:sockets/network#network`.
pub(crate) const NETWORK: (&str, &str) = ("sockets/network", "network");
/// `wasi:sockets/tcp#tcp-socket`.
pub(crate) const TCP_SOCKET: (&str, &str) = ("sockets/tcp", "tcp-socket");
/// `wasi:sockets/udp#udp-socket`.
pub(crate) const UDP_SOCKET: (&str, &str) = ("sockets/udp", "udp-socket");
/// `wasi:sockets/udp#incoming-datagram-stream`.
pub(crate) const INCOMING: (&str, &str) = ("sockets/udp", "incoming-datagram-stream");
/// `wasi:sockets/udp#outgoing-datagram-stream`.
pub(crate) const OUTGOING: (&str, &str) = ("sockets/udp", "outgoing-datagram-stream");
/// `wasi:sockets/ip-name-lookup#resolve-address-stream`.
pub(crate) const RESOLVE: (&str, &str) = ("sockets/ip-name-lookup", "resolve-address-stream");

/// Why a socket function did not succeed: a WASI `error-code` for the guest, or a trap.
pub(crate) enum Fail {
    /// `err(code)` returned to the guest.
    Code(&'static str),
    /// The guest is stopped (bad handle, malformed value, broken contract).
    Trap(Trap),
}

impl From<Trap> for Fail {
    fn from(t: Trap) -> Fail {
        Fail::Trap(t)
    }
}

/// Shorthand for a failure with `error-code` case `c`.
pub(crate) fn code<T>(c: &'static str) -> Result<T, Fail> {
    Err(Fail::Code(c))
}

/// Defines a function returning `result<T, error-code>`: `f` gives `T` (or `None` for `_`).
/// For a 0.3 interface (`iface` has a version) the 0.2 code name `f` fails with becomes the
/// 0.3 `error-code` variant ([`p3::error_val`]).
pub(crate) fn define_result(
    linker: &mut ComponentLinker,
    iface: &str,
    name: &str,
    f: impl Fn(&HostCx<'_>, &WasiState, &[Val]) -> Result<Option<Val>, Fail> + Send + Sync + 'static,
) {
    let lookup = iface.starts_with("sockets/ip-name-lookup");
    let p3 = iface.contains('@');
    define(linker, iface, name, move |cx, st, args| {
        match f(cx, st, args) {
            Ok(v) => Ok(Some(ok(v))),
            Err(Fail::Code(c)) if p3 => Ok(Some(err(p3::error_val(c, lookup)))),
            Err(Fail::Code(c)) => Ok(Some(err(case(c)))),
            Err(Fail::Trap(t)) => Err(t),
        }
    });
}

/// Adds every `wasi:sockets` interface.
pub fn add(linker: &mut ComponentLinker) {
    network::add(linker);
    tcp::add(linker);
    udp::add(linker);
    lookup::add(linker);
    p3::add(linker);
}
