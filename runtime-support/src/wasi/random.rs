//! `wasi:random/{random,insecure,insecure-seed}`. Secure bytes come from the kernel
//! (`getrandom`); the insecure generator is a per-instance xorshift-style generator
//! (splitmix64) seeded from the kernel at instantiation; the insecure seed is drawn once per
//! instance and stays the same for its lifetime, as the WIT asks.

use super::{define, define_raw, versioned};
use crate::component::{ComponentLinker, HostCx, Val};
use crate::error::{Error, Trap};
use std::sync::Mutex;

/// Most bytes one `get-random-bytes` / `get-insecure-random-bytes` call returns (more traps:
/// the result cannot be partial, and a guest must not make the host allocate without bound).
pub const MAX_RANDOM: u64 = 4 << 20;

/// Fills `buf` from the kernel's random source.
fn fill_random(buf: &mut [u8]) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: `rest` is a live writable slice of `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        done += n as usize;
    }
    Ok(())
}

fn random_u64() -> Result<u64, Trap> {
    let mut b = [0u8; 8];
    fill_random(&mut b).map_err(|e| Trap::host(format!("WASI: getrandom failed: {e}")))?;
    Ok(u64::from_le_bytes(b))
}

/// One instance's insecure generator and seed.
struct InsecureState {
    seed: (u64, u64),
    state: Mutex<u64>,
}

impl InsecureState {
    fn next(&self) -> u64 {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A requested length of random bytes, checked before anything is allocated.
fn checked_len(len: u64) -> Result<usize, Trap> {
    if len > MAX_RANDOM {
        return Err(Trap::host(format!(
            "WASI: {len} random bytes requested (at most {MAX_RANDOM} per call)"
        )));
    }
    Ok(len as usize)
}

fn insecure<'a>(cx: &HostCx<'a>) -> Result<&'a InsecureState, Trap> {
    cx.state::<InsecureState>()
}

/// Adds `wasi:random/{random,insecure,insecure-seed}`, 0.2 and 0.3.
pub fn add(linker: &mut ComponentLinker) {
    linker.instance_state(|| {
        let mut b = [0u8; 24];
        fill_random(&mut b).map_err(|e| Error::Other(format!("WASI: getrandom failed: {e}")))?;
        let word = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Ok(InsecureState {
            seed: (word(0), word(1)),
            state: Mutex::new(word(2)),
        })
    });
    for p3 in [false, true] {
        let (rnd, ins, seed) = (
            versioned("random/random", p3),
            versioned("random/insecure", p3),
            versioned("random/insecure-seed", p3),
        );
        // WASI 0.3 asks for at most `max-len` bytes: more than the host gives at once is
        // cut to `MAX_RANDOM` (0.2's `len` is exact: more traps).
        let len = move |n: u64| {
            if p3 {
                checked_len(n.min(MAX_RANDOM))
            } else {
                checked_len(n)
            }
        };
        define_raw(linker, &rnd, "get-random-bytes", move |_, _, args, out| {
            let mut buf = vec![0u8; len(args.get::<u64>(0)?)?];
            fill_random(&mut buf)
                .map_err(|e| Trap::host(format!("WASI: getrandom failed: {e}")))?;
            out.set_bytes(&buf)
        });
        define(linker, &rnd, "get-random-u64", |_, _, _| {
            Ok(Some(Val::U64(random_u64()?)))
        });
        define_raw(
            linker,
            &ins,
            "get-insecure-random-bytes",
            move |cx, _, args, res| {
                let len = len(args.get::<u64>(0)?)?;
                let g = insecure(cx)?;
                let mut out = Vec::with_capacity(len + 8);
                while out.len() < len {
                    out.extend_from_slice(&g.next().to_le_bytes());
                }
                out.truncate(len);
                res.set_bytes(&out)
            },
        );
        define(linker, &ins, "get-insecure-random-u64", |cx, _, _| {
            Ok(Some(Val::U64(insecure(cx)?.next())))
        });
        let seed_name = if p3 {
            "get-insecure-seed"
        } else {
            "insecure-seed"
        };
        define(linker, &seed, seed_name, |cx, _, _| {
            let (a, b) = insecure(cx)?.seed;
            Ok(Some(Val::Tuple(vec![Val::U64(a), Val::U64(b)])))
        });
    }
}
