//! List cases (issue 11): random lists of every element alignment lowered into a guest by the
//! host (`take-list-T`) and through a fused adapter (`send-list-T`), sometimes with the guest's
//! `realloc` misbehaving at one call, compared between kiln and wasmtime: the `realloc` log (the
//! list allocated first with its element type's alignment, the empty list too, then the strings
//! of a `list<string>` in order), the bytes the list occupies, the pointer and a hash of the
//! guest's heap, or the trap's class. With `--oracle`, kiln's outcome must also be exactly the
//! spec's Python's (`canon_oracle.py --serve`, whose `run_list_case` reads [`Case::line`]).
//!
//! The component is `tests/components/canon-lists.wat` (the guest and peer of
//! `tests/components/wast/canon-lists.wast`, written by `tests/components/oracle/canon_oracle.py`;
//! see `strings.rs` for the logging `realloc` and its faults).

use crate::rng::Rng;
use crate::runners::{from_kiln, from_wasmtime, to_kiln, to_wasmtime};
use crate::strings::{trap_class, Oracle};
use crate::types::V;
use crate::Verdict;
use anyhow::{anyhow, bail, Result};
use std::path::{Path, PathBuf};

/// The element types of the component's `take-list-T` / `send-list-T`.
const ELEMENTS: [&str; 7] = ["u8", "u16", "u32", "u64", "pair", "string", "string16"];

/// One list case.
pub struct Case {
    /// `take` (from the host) or `send` (through an adapter).
    pub verb: &'static str,
    /// The element type's name in the component.
    pub elem: &'static str,
    /// The list.
    pub list: V,
    /// `(step, kind)`: `realloc` call `step` returns an odd pointer (1), a block past the end of
    /// memory (2), the last block that fits (3), or a pointer aligned to half the alignment (4).
    pub fault: Option<(u32, u32)>,
}

impl Case {
    /// The case as one line for the oracle and the failure files:
    /// `list VERB ELEM FAULT-STEP FAULT-KIND ITEM...` (no fault: step -1; items are numbers,
    /// `A:B` pairs, or `x` and a string's UTF-8 in hex).
    pub fn line(&self) -> String {
        let (step, kind) = self
            .fault
            .map_or((-1, 0), |(s, k)| (i64::from(s), i64::from(k)));
        let mut out = format!("list {} {} {step} {kind}", self.verb, self.elem);
        let V::List(items) = &self.list else {
            unreachable!("a list case holds a list")
        };
        for item in items {
            out.push(' ');
            match item {
                V::U8(x) => out += &x.to_string(),
                V::U16(x) => out += &x.to_string(),
                V::U32(x) => out += &x.to_string(),
                V::U64(x) => out += &x.to_string(),
                V::Tuple(t) => match &t[..] {
                    [V::U8(a), V::U32(b)] => out += &format!("{a}:{b}"),
                    _ => unreachable!("pairs are (u8, u32)"),
                },
                V::String(x) => {
                    out.push('x');
                    for b in x.as_bytes() {
                        out += &format!("{b:02x}");
                    }
                }
                other => unreachable!("no list element {other:?}"),
            }
        }
        out
    }
}

/// Generates a case.
pub fn generate(r: &mut Rng) -> Case {
    let elem = ELEMENTS[r.below(ELEMENTS.len() as u64) as usize];
    let n = [0, 0, 1, 2, 3, 5][r.below(6) as usize];
    let items = (0..n)
        .map(|_| match elem {
            "u8" => V::U8(r.next() as u8),
            "u16" => V::U16(r.next() as u16),
            "u32" => V::U32(r.next() as u32),
            "u64" => V::U64(r.next()),
            "pair" => V::Tuple(vec![V::U8(r.next() as u8), V::U32(r.next() as u32)]),
            _ => V::String(crate::strings::gen_string(r)),
        })
        .collect();
    Case {
        verb: ["take", "send"][r.below(2) as usize],
        elem,
        list: V::List(items),
        fault: (r.below(3) == 0).then(|| (r.below(3) as u32, 1 + r.below(4) as u32)),
    }
}

/// What a case produced: a trap, or (pointer, length, bytes, realloc log, heap hash).
type Got = std::result::Result<V, String>;

/// The list component, compiled by both runtimes.
pub struct Runtimes {
    kengine: kiln_runtime::Engine,
    kc: kiln_runtime::Component,
    wengine: wasmtime::Engine,
    wc: wasmtime::component::Component,
    so: PathBuf,
}

impl Drop for Runtimes {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.so);
    }
}

impl Runtimes {
    /// Compiles `canon-lists.wat` in both runtimes (the `.so` in `dir`).
    pub fn new(
        kengine: &kiln_runtime::Engine,
        wengine: &wasmtime::Engine,
        dir: &Path,
    ) -> Result<Runtimes> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../components/canon-lists.wat");
        let wasm = wat::parse_file(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let so = dir.join("canon-lists.so");
        kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
            .map_err(|e| anyhow!("kiln compile canon-lists.wat: {e}"))?;
        let kc =
            kiln_runtime::Component::load(kengine, &so).map_err(|e| anyhow!("kiln load: {e}"))?;
        let wc = wasmtime::component::Component::new(wengine, &wasm)
            .map_err(|e| anyhow!("wasmtime compile canon-lists.wat: {e:#}"))?;
        Ok(Runtimes {
            kengine: kengine.clone(),
            kc,
            wengine: wengine.clone(),
            wc,
            so,
        })
    }

    fn kiln(&self, case: &Case) -> Result<Got> {
        let inst = kiln_runtime::ComponentLinker::new(&self.kengine)
            .instantiate(&self.kc)
            .map_err(|e| anyhow!("kiln instantiate: {e}"))?;
        script(case, |name, args| {
            let args: Vec<_> = args.iter().map(to_kiln).collect();
            match inst.call(name, &args) {
                Ok(v) => Ok(Ok(v.map(|v| from_kiln(&v)).transpose()?)),
                Err(kiln_runtime::Error::Trap(t)) => Ok(Err(t.message)),
                Err(e) => Err(anyhow!("kiln call {name}: {e}")),
            }
        })
    }

    fn wasmtime(&self, case: &Case) -> Result<Got> {
        use wasmtime::component::Val;
        let mut store = wasmtime::Store::new(&self.wengine, ());
        let inst = wasmtime::component::Linker::new(&self.wengine)
            .instantiate(&mut store, &self.wc)
            .map_err(|e| anyhow!("wasmtime instantiate: {e:#}"))?;
        script(case, |name, args| {
            let f = inst
                .get_func(&mut store, name)
                .ok_or_else(|| anyhow!("wasmtime: no export {name}"))?;
            let mut results = vec![Val::Bool(false); usize::from(name == "report")];
            let args: Vec<_> = args.iter().map(to_wasmtime).collect();
            match f.call(&mut store, &args, &mut results) {
                Ok(()) => Ok(Ok(results.first().map(from_wasmtime).transpose()?)),
                Err(e) => Ok(Err(format!("{e:#}"))),
            }
        })
    }
}

fn script(
    case: &Case,
    mut call: impl FnMut(&str, &[V]) -> Result<std::result::Result<Option<V>, String>>,
) -> Result<Got> {
    if let Some((step, kind)) = case.fault {
        call("set-fault", &[V::U32(step), V::U32(kind)])?
            .map_err(|t| anyhow!("set-fault trapped: {t}"))?;
    }
    let name = format!("{}-list-{}", case.verb, case.elem);
    if let Err(t) = call(&name, std::slice::from_ref(&case.list))? {
        return Ok(Err(t));
    }
    let rep = call("report", &[])?.map_err(|t| anyhow!("report trapped: {t}"))?;
    rep.map(Ok).ok_or_else(|| anyhow!("report: no result"))
}

/// The spec's outcome of `case`: a trap's message, or what `report` returns.
fn ask(oracle: &mut Oracle, case: &Case) -> Result<Got> {
    let a = oracle.ask_line(&case.line())?;
    let (kind, rest) = a.split_once(' ').unwrap_or((&a, ""));
    match kind {
        "trap" => Ok(Err(rest.to_string())),
        "value" => {
            let f: Vec<&str> = rest.split(' ').collect();
            let [ptr, len, bytes, log, hash] = f[..] else {
                bail!("oracle: {a}");
            };
            let bytes = if bytes == "-" { "" } else { bytes };
            let bytes = (0..bytes.len())
                .step_by(2)
                .map(|i| Ok(V::U8(u8::from_str_radix(&bytes[i..i + 2], 16)?)))
                .collect::<Result<Vec<_>>>()?;
            let log = if log == "-" {
                Vec::new()
            } else {
                log.split(',')
                    .map(|x| Ok(V::U32(x.parse()?)))
                    .collect::<Result<Vec<_>>>()?
            };
            Ok(Ok(V::Tuple(vec![
                V::U32(ptr.parse()?),
                V::U32(len.parse()?),
                V::List(bytes),
                V::List(log),
                V::U32(hash.parse()?),
            ])))
        }
        _ => bail!("oracle: {a}"),
    }
}

/// Runs one case in both runtimes (and, with `oracle`, asks the spec).
pub fn run(case: &Case, rt: &Runtimes, oracle: Option<&mut Oracle>) -> Verdict {
    let (k, w) = match (rt.kiln(case), rt.wasmtime(case)) {
        (Ok(k), Ok(w)) => (k, w),
        (k, w) => {
            return Verdict::Mismatch(format!(
                "list case {}: harness error: kiln {k:?}, wasmtime {w:?}",
                case.line()
            ))
        }
    };
    if let Some(o) = oracle {
        let s = match ask(o, case) {
            Ok(s) => s,
            Err(e) => {
                return Verdict::Mismatch(format!("list case {}: oracle: {e:#}", case.line()))
            }
        };
        crate::stats::bump(&crate::stats::LIST_SPEC);
        let same = match (&k, &s) {
            (Err(k), Err(s)) => k.starts_with(s.as_str()),
            (k, s) => k == s,
        };
        if !same {
            return Verdict::Mismatch(format!(
                "list case {}: kiln differs from the spec's definitions.py\n  kiln     {k:?}\n  spec     {s:?}\n  wasmtime {w:?}",
                case.line()
            ));
        }
    }
    let agree = match (&k, &w) {
        (Err(a), Err(b)) => trap_class(a) == trap_class(b),
        (a, b) => a == b,
    };
    if agree {
        crate::stats::bump(&crate::stats::LIST_CASES);
        if k.is_err() {
            crate::stats::bump(&crate::stats::LIST_TRAPS);
        }
        return Verdict::Pass;
    }
    Verdict::Mismatch(format!(
        "list case {}: kiln and wasmtime differ\n  kiln     {k:?}\n  wasmtime {w:?}",
        case.line()
    ))
}
