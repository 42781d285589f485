//! Component differential cases: for one generated type, the round-trip component
//! (`guest.rs`) is compiled by both runtimes; generated values go through `roundtrip` and
//! `via-import` in both (results must equal each other and the input), then `roundtrip` runs
//! with the guest damaging its result (both runtimes must trap, or lift the same value).

use crate::rng::Rng;
use crate::runners::{Corrupt, KilnComponent, Outcome, WasmtimeComponent};
use crate::types::{gen_val, Ct, Ty, V};
use crate::Verdict;
use std::fmt::Write;
use std::path::Path;

/// Values tried per type.
const VALUES: usize = 3;
/// Damaged results tried per type.
const CORRUPTIONS: usize = 6;

fn agree(k: &Outcome, w: &Outcome) -> bool {
    match (k, w) {
        (Outcome::Value(a), Outcome::Value(b)) => a == b,
        (Outcome::Trap(_), Outcome::Trap(_)) => true,
        _ => false,
    }
}

/// A corruption of the `roundtrip` result of a value of `ty`. Heap damage (mode 2) compares
/// alike because both runtimes lower strings with CanonicalABI.md's `realloc` sequences
/// (worst case, then a shrink) and the guest's `realloc` resizes the last block in place.
fn corruption(r: &mut Rng, ty: &Ty) -> Corrupt {
    let flat = ty.flat();
    let xor = if flat.len() == 1 && flat[0] != Ct::F32 && flat[0] != Ct::F64 {
        // The flat value itself is xored: pick bits that matter for chars, bools,
        // discriminants and flags.
        *[
            1,
            2,
            3,
            0x80,
            0x100,
            0xd800,
            0x11_0000,
            0x8000_0000,
            r.next() as u32,
        ]
        .get(r.below(9) as usize)
        .unwrap_or(&1)
    } else {
        1 + r.below(255) as u32
    };
    let mode = if r.below(3) == 0 { 2 } else { 1 };
    (mode, r.next() as u32 & 0xffff, xor)
}

/// The arguments of a call taking `v`: its elements when the parameters are `spread` (the
/// function takes the tuple's elements and returns the tuple).
fn args_of(v: &V, spread: bool) -> Vec<V> {
    match (v, spread) {
        (V::Tuple(vs), true) => vs.clone(),
        _ => vec![v.clone()],
    }
}

/// Runs the component case for `ty` (component text `text`; `spread` as in
/// [`crate::guest::component`]).
pub fn run(
    ty: &Ty,
    text: &str,
    spread: bool,
    r: &mut Rng,
    kengine: &kiln_runtime::Engine,
    wengine: &wasmtime::Engine,
    dir: &Path,
) -> Verdict {
    let wasm = match wat::parse_str(text) {
        Ok(w) => w,
        Err(e) => return Verdict::Mismatch(format!("generator bug: invalid component text: {e}")),
    };
    let w = match WasmtimeComponent::new(wengine, &wasm) {
        Ok(w) => w,
        Err(e) => return Verdict::Mismatch(format!("generator bug? wasmtime rejects: {e:#}")),
    };
    let k = match KilnComponent::new(kengine, &wasm, dir) {
        Ok(k) => k,
        Err(e) => return Verdict::Mismatch(format!("kiln rejects a valid component: {e:#}")),
    };
    let mut report = String::new();
    let mut budget = 64;
    let values: Vec<V> = (0..VALUES).map(|_| gen_val(r, ty, &mut budget)).collect();
    for v in &values {
        for f in ["roundtrip", "via-import"] {
            let (ko, wo) = match (
                k.call(f, &args_of(v, spread), (0, 0, 0)),
                w.call(f, &args_of(v, spread), (0, 0, 0)),
            ) {
                (Ok(ko), Ok(wo)) => (ko, wo),
                (ko, wo) => {
                    let _ = writeln!(
                        report,
                        "{f}({v:?}): harness error: kiln {ko:?} wasmtime {wo:?}"
                    );
                    return Verdict::Mismatch(report);
                }
            };
            let expected = Outcome::Value(v.clone());
            if !agree(&ko, &wo) || !agree(&ko, &expected) {
                let _ = writeln!(
                    report,
                    "{f} of type {ty:?}\n  input   {v:?}\n  kiln     {ko}\n  wasmtime {wo}"
                );
                return Verdict::Mismatch(report);
            }
            crate::stats::bump(&crate::stats::COMPONENT_VALUES);
        }
    }
    for i in 0..CORRUPTIONS {
        let v = &values[i % values.len()];
        let c = corruption(r, ty);
        let (ko, wo) = match (
            k.call("roundtrip", &args_of(v, spread), c),
            w.call("roundtrip", &args_of(v, spread), c),
        ) {
            (Ok(ko), Ok(wo)) => (ko, wo),
            (ko, wo) => {
                let _ = writeln!(
                    report,
                    "corrupt {c:?} ({v:?}): harness error: kiln {ko:?} wasmtime {wo:?}"
                );
                return Verdict::Mismatch(report);
            }
        };
        if !agree(&ko, &wo) {
            let _ = writeln!(
                report,
                "damaged roundtrip result (mode, offset, xor) = {c:?} of type {ty:?}\n  input   {v:?}\n  kiln     {ko}\n  wasmtime {wo}"
            );
            return Verdict::Mismatch(report);
        }
        crate::stats::bump(match ko {
            Outcome::Trap(_) => &crate::stats::DAMAGED_TRAPS,
            Outcome::Value(_) => &crate::stats::DAMAGED_VALUES,
        });
    }
    Verdict::Pass
}
