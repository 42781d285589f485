//! Counters of what the run compared, printed with the summary so a green run shows that it
//! exercised something (values compared, traps both runtimes agreed on).

use std::sync::atomic::{AtomicU64, Ordering};

/// Component values passed through `roundtrip`/`via-import` and compared.
pub static COMPONENT_VALUES: AtomicU64 = AtomicU64::new(0);
/// Damaged results both runtimes trapped on.
pub static DAMAGED_TRAPS: AtomicU64 = AtomicU64::new(0);
/// Damaged results both runtimes lifted to the same value.
pub static DAMAGED_VALUES: AtomicU64 = AtomicU64::new(0);
/// Core export calls that returned values in both.
pub static CORE_VALUES: AtomicU64 = AtomicU64::new(0);
/// Core export calls (and instantiations) that trapped with the same kind in both.
pub static CORE_TRAPS: AtomicU64 = AtomicU64::new(0);

/// String cases compared (`strings.rs`).
pub static STRING_CASES: AtomicU64 = AtomicU64::new(0);
/// String cases both runtimes trapped on (same class).
pub static STRING_TRAPS: AtomicU64 = AtomicU64::new(0);
/// String cases also compared with the spec's Python (`--oracle`).
pub static STRING_SPEC: AtomicU64 = AtomicU64::new(0);

/// List cases compared (`lists.rs`).
pub static LIST_CASES: AtomicU64 = AtomicU64::new(0);
/// List cases that trapped in both runtimes.
pub static LIST_TRAPS: AtomicU64 = AtomicU64::new(0);
/// List cases also compared with the spec's Python (`--oracle`).
pub static LIST_SPEC: AtomicU64 = AtomicU64::new(0);
/// Instantiation cases whose start function's call trapped in both runtimes.
pub static INSTANTIATION_TRAPS: AtomicU64 = AtomicU64::new(0);
/// Instantiation cases that instantiated in both runtimes with the same results.
pub static INSTANTIATION_VALUES: AtomicU64 = AtomicU64::new(0);

/// Adds one to `c`.
pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The counters as one line.
pub fn summary() -> String {
    let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
    format!(
        "compared: {} component round-trips, {} damaged results (both trapped: {}, same value: {}), \
         {} core calls (values: {}, same trap: {}), {} string cases (both trapped: {}, \
         checked against the spec: {}), \
         {} list cases (both trapped: {}, checked against the spec: {}), {} instantiation cases (calls during instantiation that worked: {}, trapped: {})",
        g(&COMPONENT_VALUES),
        g(&DAMAGED_TRAPS) + g(&DAMAGED_VALUES),
        g(&DAMAGED_TRAPS),
        g(&DAMAGED_VALUES),
        g(&CORE_VALUES) + g(&CORE_TRAPS),
        g(&CORE_VALUES),
        g(&CORE_TRAPS),
        g(&STRING_CASES),
        g(&STRING_TRAPS),
        g(&STRING_SPEC),
        g(&LIST_CASES),
        g(&LIST_TRAPS),
        g(&LIST_SPEC),
        g(&INSTANTIATION_VALUES) + g(&INSTANTIATION_TRAPS),
        g(&INSTANTIATION_VALUES),
        g(&INSTANTIATION_TRAPS),
    )
}
