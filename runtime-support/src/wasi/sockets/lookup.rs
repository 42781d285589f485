//! `wasi:sockets/ip-name-lookup`: `resolve-addresses` checks the name (an IP literal is
//! answered at once; a domain name is lower-cased, its Unicode labels IDNA-encoded with
//! punycode) and starts a `getaddrinfo` on a helper thread, so the call never blocks; the
//! `resolve-address-stream` hands out the addresses (`would-block` until the lookup is done)
//! and its pollable is the read end of a pipe the thread writes to when it finishes.
//! Without network permission every lookup fails with `access-denied`.

use super::network::{check_allowed, check_network, ip_val};
use super::{code, define_result, sys, Fail, RESOLVE};
use crate::component::ComponentLinker;
use crate::wasi::val::{arg, arg_str, new_handle, new_pollable, option, with_obj};
use crate::wasi::{define, define_resource, Readiness};
use std::collections::VecDeque;
use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Lookups running on helper threads at once (process-wide); past this a lookup runs on the
/// calling thread.
const MAX_THREADS: usize = 32;
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// glibc's `EAI_ADDRFAMILY` (not in the libc crate for Linux).
const EAI_ADDRFAMILY: i32 = -9;

/// A lookup's outcome: the addresses left to hand out, or the error code.
type Outcome = Result<VecDeque<IpAddr>, &'static str>;

/// The object behind a `resolve-address-stream` handle.
pub struct ResolveStream {
    result: Arc<Mutex<Option<Outcome>>>,
    /// Readable once the lookup finished (`None`: finished at creation).
    done: Option<Arc<OwnedFd>>,
}

/// `name` as an IP address literal (`[v6]` accepted), if it is one.
fn ip_literal(name: &str) -> Option<IpAddr> {
    if let Ok(a) = name.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(a));
    }
    let inner = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// The ASCII form of domain name `name` for the resolver, or `None` if it is not a valid
/// host name (forbidden characters, empty).
pub fn domain_to_ascii(name: &str) -> Option<String> {
    let forbidden = |c: char| {
        c.is_control()
            || matches!(
                c,
                ' ' | '#' | '%' | '/' | ':' | '<' | '>' | '?' | '@' | '[' | '\\' | ']' | '^' | '|'
            )
    };
    if name.is_empty() || name.chars().any(forbidden) {
        return None;
    }
    let dots = |c: char| matches!(c, '.' | '\u{3002}' | '\u{ff0e}' | '\u{ff61}');
    let labels: Option<Vec<String>> = name
        .split(dots)
        .map(|label| {
            let lower = label.to_lowercase();
            if lower.is_ascii() {
                Some(lower)
            } else {
                punycode(&lower).map(|p| format!("xn--{p}"))
            }
        })
        .collect();
    let ascii = labels?.join(".");
    (!ascii.is_empty() && ascii.len() <= 253).then_some(ascii)
}

/// RFC 3492 punycode of one label (no `xn--` prefix); `None` on overflow.
fn punycode(label: &str) -> Option<String> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    let digit = |d: u32| -> char {
        if d < 26 {
            (b'a' + d as u8) as char
        } else {
            (b'0' + (d - 26) as u8) as char
        }
    };
    let adapt = |delta: u32, points: u32, first: bool| -> u32 {
        let mut delta = if first { delta / 700 } else { delta / 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > ((BASE - TMIN) * TMAX) / 2 {
            delta /= BASE - TMIN;
            k += BASE;
        }
        k + (BASE - TMIN + 1) * delta / (delta + 38)
    };
    let cps: Vec<u32> = label.chars().map(|c| c as u32).collect();
    let mut out: String = label.chars().filter(char::is_ascii).collect();
    let basic = out.len() as u32;
    let mut handled = basic;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias) = (128u32, 0u32, 72u32);
    while (handled as usize) < cps.len() {
        let m = cps.iter().copied().filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for &c in &cps {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        TMIN
                    } else if k >= bias + TMAX {
                        TMAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n += 1;
    }
    Some(out)
}

/// `getaddrinfo` of `name`: its distinct addresses in the resolver's order (IPv4-mapped IPv6
/// addresses as IPv4), or the error code.
fn getaddrinfo(name: &str) -> Outcome {
    let c = CString::new(name).map_err(|_| "invalid-argument")?;
    // SAFETY: all-zero bytes are a valid `addrinfo` (no pointers set).
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `c` is NUL-terminated, `hints` valid, `res` receives a list we free below.
    let r = unsafe { libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if r != 0 {
        return Err(match r {
            libc::EAI_AGAIN => "temporary-resolver-failure",
            libc::EAI_FAIL => "permanent-resolver-failure",
            libc::EAI_MEMORY => "out-of-memory",
            libc::EAI_NONAME | libc::EAI_NODATA | EAI_ADDRFAMILY => "name-unresolvable",
            _ => "name-unresolvable",
        });
    }
    let mut out = VecDeque::new();
    let mut p = res;
    while !p.is_null() {
        // SAFETY: `p` is a node of the list getaddrinfo returned, not yet freed.
        let ai = unsafe { &*p };
        if !ai.ai_addr.is_null() {
            // SAFETY: all-zero bytes are a valid `sockaddr_storage`.
            let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let len = (ai.ai_addrlen as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
            // SAFETY: `ai_addr` points at `ai_addrlen` readable bytes; `ss` has room for `len`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    ai.ai_addr as *const u8,
                    &mut ss as *mut _ as *mut u8,
                    len,
                )
            };
            if let Some(a) = sys::from_raw(&ss, len as libc::socklen_t) {
                let ip = a.ip().to_canonical();
                if !out.contains(&ip) {
                    out.push_back(ip);
                }
            }
        }
        p = ai.ai_next;
    }
    // SAFETY: `res` is the list getaddrinfo returned; it is freed once.
    unsafe { libc::freeaddrinfo(res) };
    Ok(out)
}

/// A pipe (read end, write end), close-on-exec.
fn pipe() -> Option<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    // SAFETY: both are new descriptors nobody else owns.
    Some(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Starts resolving `name` (already checked and in ASCII).
fn start(name: String) -> ResolveStream {
    let result = Arc::new(Mutex::new(None));
    let slot = result.clone();
    let finish = move |outcome: Outcome, w: Option<OwnedFd>| {
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
        if let Some(w) = w {
            // SAFETY: writes one byte from a live buffer to our own pipe.
            let _ = unsafe {
                libc::write(
                    std::os::fd::AsRawFd::as_raw_fd(&w),
                    [1u8].as_ptr().cast(),
                    1,
                )
            };
        }
    };
    let threads = THREADS.fetch_add(1, Ordering::Relaxed);
    if threads < MAX_THREADS {
        if let Some((r, w)) = pipe() {
            let spawned = std::thread::Builder::new()
                .name("kiln-wasi-lookup".into())
                .spawn({
                    let name = name.clone();
                    let finish = finish.clone();
                    move || {
                        finish(getaddrinfo(&name), Some(w));
                        THREADS.fetch_sub(1, Ordering::Relaxed);
                    }
                });
            if spawned.is_ok() {
                return ResolveStream {
                    result,
                    done: Some(Arc::new(r)),
                };
            }
        }
    }
    THREADS.fetch_sub(1, Ordering::Relaxed);
    finish(getaddrinfo(&name), None);
    ResolveStream { result, done: None }
}

/// Resolves `name` on the calling thread (blocking): an IP literal is its own answer, a
/// domain name goes to `getaddrinfo` (WASI 0.3's `resolve-addresses`, run on a helper thread).
pub(super) fn resolve_blocking(name: &str) -> Outcome {
    if let Some(ip) = ip_literal(name) {
        return Ok(VecDeque::from([ip.to_canonical()]));
    }
    match domain_to_ascii(name) {
        Some(ascii) => getaddrinfo(&ascii),
        None => Err("invalid-argument"),
    }
}

const IFACE: &str = "sockets/ip-name-lookup";

/// Adds `wasi:sockets/ip-name-lookup`.
pub fn add(linker: &mut ComponentLinker) {
    define_resource::<ResolveStream>(linker, IFACE, "resolve-address-stream");
    define_result(linker, IFACE, "resolve-addresses", |cx, st, args| {
        check_network(cx, st, args, 0)?;
        let name = arg_str(args, 1)?;
        check_allowed(st)?;
        let stream = if let Some(ip) = ip_literal(name) {
            ResolveStream {
                result: Arc::new(Mutex::new(Some(Ok(VecDeque::from([ip.to_canonical()]))))),
                done: None,
            }
        } else {
            match domain_to_ascii(name) {
                Some(ascii) => start(ascii),
                None => return code("invalid-argument"),
            }
        };
        Ok(Some(new_handle(cx, st, RESOLVE, stream)?))
    });
    define_result(
        linker,
        IFACE,
        "[method]resolve-address-stream.resolve-next-address",
        |cx, st, args| {
            with_obj::<ResolveStream, _>(cx, st, RESOLVE, arg(args, 0)?, |s| {
                let mut r = s.result.lock().unwrap_or_else(|e| e.into_inner());
                match r.as_mut() {
                    None => code("would-block"),
                    Some(Err(c)) => Err(Fail::Code(c)),
                    Some(Ok(addrs)) => Ok(Some(option(addrs.pop_front().map(ip_val)))),
                }
            })?
        },
    );
    define(
        linker,
        IFACE,
        "[method]resolve-address-stream.subscribe",
        |cx, st, args| {
            let r =
                with_obj::<ResolveStream, _>(cx, st, RESOLVE, arg(args, 0)?, |s| match &s.done {
                    Some(fd) => Readiness::Fd {
                        fd: fd.clone(),
                        write: false,
                    },
                    None => Readiness::Always,
                })?;
            Ok(Some(new_pollable(cx, st, r)?))
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idna() {
        assert_eq!(domain_to_ascii("LocalHost").as_deref(), Some("localhost"));
        assert_eq!(
            domain_to_ascii("bücher.de").as_deref(),
            Some("xn--bcher-kva.de")
        );
        assert_eq!(
            domain_to_ascii("例え.テスト").as_deref(),
            Some("xn--r8jz45g.xn--zckzah")
        );
        assert_eq!(domain_to_ascii(""), None);
        assert_eq!(domain_to_ascii("a b"), None);
        assert_eq!(domain_to_ascii("a/b"), None);
    }

    #[test]
    fn literals() {
        assert_eq!(
            ip_literal("127.0.0.1"),
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        assert_eq!(ip_literal("[::1]"), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(ip_literal("::1"), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(ip_literal("localhost"), None);
    }

    #[test]
    fn resolves_localhost() {
        let addrs = getaddrinfo("localhost").expect("localhost resolves");
        assert!(
            !addrs.is_empty() && addrs.iter().all(|a| a.is_loopback()),
            "{addrs:?}"
        );
        assert!(getaddrinfo("nonexistent.invalid").is_err());
    }
}
