//! Thin, safe wrappers over the libc socket calls `wasi:sockets` needs (`socket`, `bind`,
//! `connect`, `listen`, `accept4`, `getsockname`, `getsockopt`/`setsockopt`, `send`/`sendto`
//! with `MSG_NOSIGNAL`, `recv`/`recvfrom`, `shutdown`, `poll`). Every socket is non-blocking
//! and close-on-exec; errors are raw `errno` values, mapped to WASI codes by `network.rs`.

use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// An OS error number.
pub type Errno = i32;

fn errno() -> Errno {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// A new non-blocking, close-on-exec socket of type `ty` (`SOCK_STREAM`/`SOCK_DGRAM`);
/// IPv6 sockets are made IPv6-only, as WASI requires.
pub fn socket(v6: bool, ty: libc::c_int) -> Result<OwnedFd, Errno> {
    let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    // SAFETY: a plain syscall with no pointer arguments.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: `fd` is a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if v6 {
        set_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    Ok(fd)
}

/// `addr` as a C socket address and its length.
fn to_raw(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero bytes are a valid `sockaddr_storage`.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `sockaddr_storage` is larger than and aligned for `sockaddr_in`.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: `sockaddr_storage` is larger than and aligned for `sockaddr_in6`.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// The Rust address of a C socket address, if it is IPv4 or IPv6.
pub(super) fn from_raw(
    storage: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a `sockaddr_in`, and it is long enough.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family says the storage holds a `sockaddr_in6`, and it is long enough.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn check(r: libc::c_int) -> Result<(), Errno> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// `bind(2)`.
pub fn bind(fd: &OwnedFd, addr: &SocketAddr) -> Result<(), Errno> {
    let (sa, len) = to_raw(addr);
    // SAFETY: `sa` is a valid socket address of length `len`.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const _ as *const libc::sockaddr,
            len,
        )
    })
}

/// `connect(2)` (on a non-blocking socket: `EINPROGRESS` while the connection is made).
pub fn connect(fd: &OwnedFd, addr: &SocketAddr) -> Result<(), Errno> {
    let (sa, len) = to_raw(addr);
    loop {
        // SAFETY: `sa` is a valid socket address of length `len`.
        let r = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                &sa as *const _ as *const libc::sockaddr,
                len,
            )
        };
        match check(r) {
            Err(libc::EINTR) => continue,
            other => return other,
        }
    }
}

/// Dissolves a datagram socket's association (`connect` to `AF_UNSPEC`).
pub fn disconnect(fd: &OwnedFd) -> Result<(), Errno> {
    // SAFETY: all-zero bytes are a valid `sockaddr_storage` (family AF_UNSPEC).
    let sa: libc::sockaddr_storage = unsafe { zeroed() };
    let len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    // SAFETY: `sa` is a valid, zeroed socket address of at least `len` bytes.
    check(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            &sa as *const _ as *const libc::sockaddr,
            len,
        )
    })
}

/// `listen(2)`.
pub fn listen(fd: &OwnedFd, backlog: i32) -> Result<(), Errno> {
    // SAFETY: a plain syscall with no pointer arguments.
    check(unsafe { libc::listen(fd.as_raw_fd(), backlog) })
}

/// `accept4(2)`: a new non-blocking, close-on-exec connection and its peer address.
pub fn accept(fd: &OwnedFd) -> Result<(OwnedFd, Option<SocketAddr>), Errno> {
    // SAFETY: all-zero bytes are a valid `sockaddr_storage`.
    let mut sa: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    loop {
        // SAFETY: `sa` has room for `len` bytes; the kernel writes at most that much.
        let r = unsafe {
            libc::accept4(
                fd.as_raw_fd(),
                &mut sa as *mut _ as *mut libc::sockaddr,
                &mut len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if r < 0 {
            match errno() {
                libc::EINTR => continue,
                e => return Err(e),
            }
        }
        // SAFETY: `r` is a new descriptor nobody else owns.
        let conn = unsafe { OwnedFd::from_raw_fd(r) };
        return Ok((conn, from_raw(&sa, len)));
    }
}

fn name(
    fd: &OwnedFd,
    f: unsafe extern "C" fn(libc::c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int,
) -> Result<SocketAddr, Errno> {
    // SAFETY: all-zero bytes are a valid `sockaddr_storage`.
    let mut sa: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `sa` has room for `len` bytes; the kernel writes at most that much.
    check(unsafe {
        f(
            fd.as_raw_fd(),
            &mut sa as *mut _ as *mut libc::sockaddr,
            &mut len,
        )
    })?;
    from_raw(&sa, len).ok_or(libc::EAFNOSUPPORT)
}

/// `getsockname(2)`.
pub fn local_addr(fd: &OwnedFd) -> Result<SocketAddr, Errno> {
    name(fd, libc::getsockname)
}

/// `getpeername(2)`.
pub fn peer_addr(fd: &OwnedFd) -> Result<SocketAddr, Errno> {
    name(fd, libc::getpeername)
}

/// An `int` socket option.
pub fn get_int(fd: &OwnedFd, level: libc::c_int, opt: libc::c_int) -> Result<i32, Errno> {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` has room for the `len` bytes the kernel may write.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            &mut v as *mut _ as *mut libc::c_void,
            &mut len,
        )
    })?;
    Ok(v)
}

/// Sets an `int` socket option.
pub fn set_int(fd: &OwnedFd, level: libc::c_int, opt: libc::c_int, v: i32) -> Result<(), Errno> {
    let len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` is a readable `int` of `len` bytes.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            &v as *const _ as *const libc::c_void,
            len,
        )
    })
}

/// `poll(2)` on one descriptor for `events`; the returned events (0 on timeout).
pub fn poll(fd: &OwnedFd, events: libc::c_short, timeout_ms: i32) -> Result<libc::c_short, Errno> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    loop {
        // SAFETY: `p` is one valid `pollfd`.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r < 0 {
            match errno() {
                libc::EINTR => continue,
                e => return Err(e),
            }
        }
        return Ok(if r == 0 { 0 } else { p.revents });
    }
}

/// Sends `buf` without blocking or raising `SIGPIPE` (to `to` if given); the bytes sent.
pub fn send(fd: &OwnedFd, buf: &[u8], to: Option<&SocketAddr>) -> Result<usize, Errno> {
    let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
    loop {
        let r = match to {
            // SAFETY: `buf` is readable for its length.
            None => unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) },
            Some(addr) => {
                let (sa, len) = to_raw(addr);
                // SAFETY: `buf` is readable for its length; `sa` is a valid address of `len`.
                unsafe {
                    libc::sendto(
                        fd.as_raw_fd(),
                        buf.as_ptr().cast(),
                        buf.len(),
                        flags,
                        &sa as *const _ as *const libc::sockaddr,
                        len,
                    )
                }
            }
        };
        if r < 0 {
            match errno() {
                libc::EINTR => continue,
                e => return Err(e),
            }
        }
        return Ok(r as usize);
    }
}

/// Receives into `buf` without blocking; the length and the sender's address.
pub fn recv(fd: &OwnedFd, buf: &mut [u8]) -> Result<(usize, Option<SocketAddr>), Errno> {
    // SAFETY: all-zero bytes are a valid `sockaddr_storage`.
    let mut sa: libc::sockaddr_storage = unsafe { zeroed() };
    loop {
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: `buf` is writable for its length; `sa` has room for `len` bytes.
        let r = unsafe {
            libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                &mut sa as *mut _ as *mut libc::sockaddr,
                &mut len,
            )
        };
        if r < 0 {
            match errno() {
                libc::EINTR => continue,
                e => return Err(e),
            }
        }
        return Ok((r as usize, from_raw(&sa, len)));
    }
}

/// `shutdown(2)` with `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`.
pub fn shutdown(fd: &OwnedFd, how: libc::c_int) -> Result<(), Errno> {
    // SAFETY: a plain syscall with no pointer arguments.
    check(unsafe { libc::shutdown(fd.as_raw_fd(), how) })
}
