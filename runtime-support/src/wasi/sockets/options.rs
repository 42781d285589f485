//! Socket options shared by `tcp-socket` and `udp-socket`: hop limit (`IP_TTL` /
//! `IPV6_UNICAST_HOPS`) and kernel buffer sizes (`SO_RCVBUF` / `SO_SNDBUF`), with the WIT's
//! argument rules (0 is `invalid-argument`; other values may be clamped).

use super::network::os;
use super::sys;
use super::{code, Fail};
use std::os::fd::OwnedFd;

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
