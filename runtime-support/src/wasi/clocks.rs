//! `wasi:clocks/{monotonic-clock,wall-clock}`. The monotonic clock counts nanoseconds from
//! the instance's start ([`WasiState::started`](super::WasiState)); its pollables are
//! deadlines ([`Readiness::At`]) that `wasi:io/poll` (`io.rs`) sleeps on. The wall clock is
//! the host's realtime clock (times before 1970 read as 1970).

use super::{arg_u64, define, new_pollable, record, versioned, Readiness};
use crate::component::{ComponentLinker, Val};
use crate::error::Trap;
use std::time::{Duration, Instant, SystemTime};

/// The resolution of clock `id` in nanoseconds (at least 1).
fn resolution_ns(id: libc::clockid_t) -> u64 {
    // SAFETY: `ts` is a plain-data out parameter clock_getres writes.
    let ts = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        if libc::clock_getres(id, &mut ts) != 0 {
            return 1;
        }
        ts
    };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
        .max(1)
}

/// The instant `ns` nanoseconds after `origin`, or `None` when it is beyond what the host
/// can represent (a pollable for it never becomes ready).
fn after(origin: Instant, ns: u64) -> Readiness {
    match origin.checked_add(Duration::from_nanos(ns)) {
        Some(t) => Readiness::At(t),
        None => Readiness::Never,
    }
}

fn datetime(d: Duration) -> Val {
    record(vec![
        ("seconds", Val::U64(d.as_secs())),
        ("nanoseconds", Val::U32(d.subsec_nanos())),
    ])
}

/// Adds `wasi:clocks/{monotonic-clock,wall-clock}` (0.2) and
/// `wasi:clocks/{monotonic-clock,system-clock}` (0.3).
pub fn add(linker: &mut ComponentLinker) {
    add_p3(linker);
    const M: &str = "clocks/monotonic-clock";
    define(linker, M, "now", |_, st, _| {
        let ns = st.started.elapsed().as_nanos();
        Ok(Some(Val::U64(u64::try_from(ns).unwrap_or(u64::MAX))))
    });
    define(linker, M, "resolution", |_, _, _| {
        Ok(Some(Val::U64(resolution_ns(libc::CLOCK_MONOTONIC))))
    });
    define(linker, M, "subscribe-instant", |cx, st, args| {
        let when = arg_u64(args, 0)?;
        new_pollable(cx, st, after(st.started, when)).map(Some)
    });
    define(linker, M, "subscribe-duration", |cx, st, args| {
        let d = arg_u64(args, 0)?;
        new_pollable(cx, st, after(Instant::now(), d)).map(Some)
    });

    const W: &str = "clocks/wall-clock";
    define(linker, W, "now", |_, _, _| {
        let d = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Ok(Some(datetime(d)))
    });
    define(linker, W, "resolution", |_, _, _| {
        Ok(Some(datetime(Duration::from_nanos(resolution_ns(
            libc::CLOCK_REALTIME,
        )))))
    });
}

/// The 0.3 clocks: `wait-until` and `wait-for` are `async`: called through an `async`
/// lowering they suspend only the calling subtask (`HostCx::sleep_until`).
fn add_p3(linker: &mut ComponentLinker) {
    let m = versioned("clocks/monotonic-clock", true);
    define(linker, &m, "now", |_, st, _| {
        let ns = st.started.elapsed().as_nanos();
        Ok(Some(Val::U64(u64::try_from(ns).unwrap_or(u64::MAX))))
    });
    define(linker, &m, "get-resolution", |_, _, _| {
        Ok(Some(Val::U64(resolution_ns(libc::CLOCK_MONOTONIC))))
    });
    define(linker, &m, "wait-until", |cx, st, args| {
        sleep(cx, after(st.started, arg_u64(args, 0)?))
    });
    define(linker, &m, "wait-for", |cx, _, args| {
        sleep(cx, after(Instant::now(), arg_u64(args, 0)?))
    });

    let s = versioned("clocks/system-clock", true);
    define(linker, &s, "now", |_, _, _| {
        // Seconds are signed in 0.3: times before 1970 are negative.
        let (secs, nanos) = match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => (
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                d.subsec_nanos(),
            ),
            Err(e) => {
                let d = e.duration();
                let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                match d.subsec_nanos() {
                    0 => (secs, 0),
                    n => (secs - 1, 1_000_000_000 - n),
                }
            }
        };
        Ok(Some(record(vec![
            ("seconds", Val::S64(secs)),
            ("nanoseconds", Val::U32(nanos)),
        ])))
    });
    define(linker, &s, "get-resolution", |_, _, _| {
        Ok(Some(Val::U64(resolution_ns(libc::CLOCK_REALTIME))))
    });
}

/// Waits until `r` (a deadline, or never) while other tasks run.
fn sleep(cx: &crate::component::HostCx<'_>, r: Readiness) -> Result<Option<Val>, Trap> {
    match r {
        Readiness::At(t) => cx.sleep_until(t)?,
        // Beyond what the host can represent: as good as forever.
        _ => cx.sleep_until(Instant::now() + Duration::from_secs(u64::from(u32::MAX)))?,
    }
    Ok(None)
}
