//! Timing helpers: repeated measurements reduced to medians, and child-process peak RSS.

use std::time::{Duration, Instant};

/// The median of a set of samples.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// Median sample.
    pub median: f64,
}

/// Reduces `samples` (any unit) to their median.
pub fn summarize(mut samples: Vec<f64>) -> Summary {
    samples.sort_by(|a, b| a.total_cmp(b));
    let n = samples.len();
    if n == 0 {
        return Summary { median: f64::NAN };
    }
    let median = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    };
    Summary { median }
}

/// Runs `op` `iters` times per repetition, `reps` times, and returns the median time per
/// operation in nanoseconds. One untimed warm-up repetition runs first.
pub fn per_op_ns(reps: usize, iters: u64, mut op: impl FnMut()) -> Summary {
    for _ in 0..iters.min(1000) {
        op();
    }
    let samples = (0..reps)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                op();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    summarize(samples)
}

/// Runs `f` and returns how long it took.
pub fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// Peak resident set size of this process so far, and of its waited-for children, in bytes
/// (`getrusage` `ru_maxrss`, which Linux reports in KiB).
pub fn peak_rss_bytes() -> (u64, u64) {
    let get = |who| {
        // SAFETY: `getrusage` fills the zeroed struct we pass; both arguments are valid.
        let mut r: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let rc = unsafe { libc::getrusage(who, &mut r) };
        if rc == 0 {
            r.ru_maxrss as u64 * 1024
        } else {
            0
        }
    };
    (get(libc::RUSAGE_SELF), get(libc::RUSAGE_CHILDREN))
}

/// The geometric mean of positive values (NaN when there are none).
pub fn geomean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    (values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp()
}
