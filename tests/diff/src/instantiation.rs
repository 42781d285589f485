//! Instantiation cases (issue 11): a core start function that calls, while its component is
//! being instantiated, a function of a sibling component instance instantiated earlier (through
//! one fused adapter, or two: C -> B -> A), a host import, a function its own component instance
//! lifts, or one its parent lifts; the string it passes and gets back changes encoding at each
//! hop. Both runtimes must agree: the instantiation traps in both (by rule class: calls into an
//! instance on the way in are "cannot enter component instance"), or both instantiate and the
//! string the start function received and the calls the callee saw are the same (and are the
//! string sent).

use crate::rng::Rng;
use crate::strings::trap_class;
use crate::Verdict;
use anyhow::{anyhow, Result};
use std::fmt::Write as _;
use std::path::Path;

const ENCODINGS: [&str; 3] = ["utf8", "utf16", "latin1+utf16"];
const TAG: u32 = 1 << 31;

/// Where the start function's call goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A sibling instantiated earlier (one adapter).
    Sibling,
    /// A sibling's function through another sibling (two adapters).
    Chain,
    /// A host import.
    Host,
    /// A function the calling component instance lifts itself.
    OwnInstance,
    /// A function the parent component lifts.
    Parent,
    /// A sibling whose function traps.
    TrappingSibling,
}

/// One generated instantiation case.
pub struct Case {
    pub target: Target,
    pub text: String,
    /// The string the start function sends.
    pub sent: String,
}

const REALLOC: &str = r#"(func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (local $p i32)
        (global.set $reallocs (i32.add (global.get $reallocs) (i32.const 1)))
        (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get 2))))
        (global.set $bump (i32.add (local.get $p) (local.get 3)))
        (if (local.get 0) (then (memory.copy (local.get $p) (local.get 0)
          (select (local.get 1) (local.get 3) (i32.lt_u (local.get 1) (local.get 3))))))
        (local.get $p))"#;

fn libc_globals() -> &'static str {
    "(global $bump (mut i32) (i32.const 4096)) (global $reallocs (mut i32) (i32.const 0))"
}

/// The component `$A`: `f` echoes its string (lifted in `enc`) and counts its calls; when
/// `traps`, `f` is `unreachable`.
fn component_a(enc: &str, traps: bool) -> String {
    let body = if traps {
        "unreachable".to_string()
    } else {
        "(global.set $calls (i32.add (global.get $calls) (i32.const 1)))
        (i32.store (i32.const 16) (local.get 0)) (i32.store (i32.const 20) (local.get 1))
        (i32.const 16)"
            .to_string()
    };
    format!(
        r#"  (component $A
    (core module $m
      (memory (export "mem") 1)
      {g} (global $calls (mut i32) (i32.const 0))
      {REALLOC}
      (func (export "f") (param i32 i32) (result i32)
        {body})
      (func (export "calls") (result i32) (global.get $calls))
      (func (export "reallocs") (result i32) (global.get $reallocs)))
    (core instance $i (instantiate $m))
    (alias core export $i "mem" (core memory $mem))
    (core func $realloc (alias core export $i "realloc"))
    (func (export "f") (param "s" string) (result string)
      (canon lift (core func $i "f") (memory $mem) (realloc $realloc) string-encoding={enc}))
    (func (export "calls") (result u32) (canon lift (core func $i "calls")))
    (func (export "reallocs") (result u32) (canon lift (core func $i "reallocs"))))
"#,
        g = libc_globals()
    )
}

/// The component `$B`: `g` passes its string (lifted in `enc`) to its import `f`, lowered in
/// `enc` too, and returns the answer.
fn component_b(enc: &str) -> String {
    format!(
        r#"  (component $B
    (import "f" (func $f (param "s" string) (result string)))
    (core module $libc
      (memory (export "mem") 1)
      {g}
      {REALLOC})
    (core instance $libc (instantiate $libc))
    (alias core export $libc "mem" (core memory $mem))
    (core func $realloc (alias core export $libc "realloc"))
    (core func $f (canon lower (func $f) (memory $mem) (realloc $realloc) string-encoding={enc}))
    (core module $m
      (import "" "f" (func $f (param i32 i32 i32)))
      (func (export "g") (param i32 i32) (result i32)
        (call $f (local.get 0) (local.get 1) (i32.const 32))
        (i32.const 32)))
    (core instance $i (instantiate $m (with "" (instance (export "f" (func $f))))))
    (func (export "g") (param "s" string) (result string)
      (canon lift (core func $i "g") (memory $mem) (realloc $realloc) string-encoding={enc})))
"#,
        g = libc_globals()
    )
}

fn data(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// The component `$C`: its start function sends the string (`bytes`, `lenword`, in `enc`) to
/// `g` and keeps the answer for `got`. With `own`, `g` is a function `$C` lifts itself.
fn component_c(enc: &str, bytes: &[u8], lenword: u32, import: &str, own: bool) -> String {
    let (import_decl, source) = if own {
        (
            String::new(),
            r#"(core module $e
      (import "libc" "mem" (memory 1))
      (func (export "echo") (param i32 i32) (result i32)
        (i32.store (i32.const 16) (local.get 0)) (i32.store (i32.const 20) (local.get 1))
        (i32.const 16)))
    (core instance $e (instantiate $e (with "libc" (instance $libc))))
    (func $g (param "s" string) (result string)
      (canon lift (core func $e "echo") (memory $mem) (realloc $realloc)))"#
                .to_string(),
        )
    } else {
        (
            format!("(import \"{import}\" (func $g (param \"s\" string) (result string)))"),
            String::new(),
        )
    };
    format!(
        r#"  (component $C
    {import_decl}
    (core module $libc
      (memory (export "mem") 1)
      {g}
      {REALLOC}
      (func (export "reallocs") (result i32) (global.get $reallocs))
      (data (i32.const 64) "{d}"))
    (core instance $libc (instantiate $libc))
    (alias core export $libc "mem" (core memory $mem))
    (core func $realloc (alias core export $libc "realloc"))
    {source}
    (core func $g' (canon lower (func $g) (memory $mem) (realloc $realloc) string-encoding={enc}))
    (core module $m
      (import "" "g" (func $g (param i32 i32 i32)))
      (func $start (call $g (i32.const 64) (i32.const {lenword}) (i32.const 32)))
      (start $start)
      (func (export "got") (result i32) (i32.const 32)))
    (core instance $i (instantiate $m (with "" (instance (export "g" (func $g'))))))
    (func (export "got") (result string)
      (canon lift (core func $i "got") (memory $mem) string-encoding={enc}))
    (func (export "reallocs") (result u32) (canon lift (core func $libc "reallocs"))))
"#,
        g = libc_globals(),
        d = data(bytes),
        lenword = lenword as i32,
    )
}

/// How a guest in `enc` holds `s`: (bytes, length word); latin1+utf16 picks latin1 when it
/// fits and `r` says so, else tagged UTF-16.
fn held(r: &mut Rng, enc: &str, s: &str) -> (Vec<u8>, u32) {
    let utf16 = || -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    match enc {
        "utf8" => (s.as_bytes().to_vec(), s.len() as u32),
        "utf16" => {
            let b = utf16();
            let n = b.len() as u32 / 2;
            (b, n)
        }
        _ => {
            let l: Option<Vec<u8>> = s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
            match l {
                Some(l) if r.below(2) == 0 => {
                    let n = l.len() as u32;
                    (l, n)
                }
                _ => {
                    let b = utf16();
                    let n = b.len() as u32 / 2;
                    (b, n | TAG)
                }
            }
        }
    }
}

/// The host import of [`Target::Host`].
pub const HOST_INTERFACE: &str = "kiln:diff/start";

/// Generates a case.
pub fn generate(r: &mut Rng) -> Case {
    use Target::*;
    let target = [
        Sibling,
        Sibling,
        Chain,
        Chain,
        Host,
        OwnInstance,
        Parent,
        TrappingSibling,
    ][r.below(8) as usize];
    let enc = |r: &mut Rng| ENCODINGS[r.below(3) as usize];
    let (ea, eb, ec) = (enc(r), enc(r), enc(r));
    let sent = crate::strings::gen_string(r);
    let (bytes, lenword) = held(r, ec, &sent);
    let mut t = String::from("(component\n");
    match target {
        Sibling | TrappingSibling => {
            t += &component_a(ea, target == TrappingSibling);
            t += &component_c(ec, &bytes, lenword, "g", false);
            t += "  (instance $a (instantiate $A))\n";
            t += "  (instance $c (instantiate $C (with \"g\" (func $a \"f\"))))\n";
            t += "  (export \"calls\" (func $a \"calls\"))\n";
            t += "  (export \"callee-reallocs\" (func $a \"reallocs\"))\n";
        }
        Chain => {
            t += &component_a(ea, false);
            t += &component_b(eb);
            t += &component_c(ec, &bytes, lenword, "g", false);
            t += "  (instance $a (instantiate $A))\n";
            t += "  (instance $b (instantiate $B (with \"f\" (func $a \"f\"))))\n";
            t += "  (instance $c (instantiate $C (with \"g\" (func $b \"g\"))))\n";
            t += "  (export \"calls\" (func $a \"calls\"))\n";
            t += "  (export \"callee-reallocs\" (func $a \"reallocs\"))\n";
        }
        Host => {
            let _ = writeln!(
                t,
                "  (import \"{HOST_INTERFACE}\" (instance $h (export \"echo\" (func (param \"s\" string) (result string)))))"
            );
            t += &component_c(ec, &bytes, lenword, "g", false);
            t += "  (instance $c (instantiate $C (with \"g\" (func $h \"echo\"))))\n";
        }
        OwnInstance => {
            t += &component_c(ec, &bytes, lenword, "g", true);
            t += "  (instance $c (instantiate $C))\n";
        }
        Parent => {
            // The root lifts an echo from its own core instance and hands it to $C.
            let _ = write!(
                t,
                r#"  (core module $pm
    (memory (export "mem") 1)
    {g}
    {REALLOC}
    (func (export "echo") (param i32 i32) (result i32)
      (i32.store (i32.const 16) (local.get 0)) (i32.store (i32.const 20) (local.get 1))
      (i32.const 16)))
  (core instance $pi (instantiate $pm))
  (alias core export $pi "mem" (core memory $pmem))
  (func $echo (param "s" string) (result string)
    (canon lift (core func $pi "echo") (memory $pmem) (realloc (core func $pi "realloc")) string-encoding={ea}))
"#,
                g = libc_globals()
            );
            t += &component_c(ec, &bytes, lenword, "g", false);
            t += "  (instance $c (instantiate $C (with \"g\" (func $echo))))\n";
        }
    }
    t += "  (export \"got\" (func $c \"got\"))\n";
    t += "  (export \"reallocs\" (func $c \"reallocs\"))\n)\n";
    Case {
        target,
        text: t,
        sent,
    }
}

/// One runtime's outcome: the instantiation's trap, or what the exports then return.
#[derive(Debug, PartialEq)]
enum Got {
    Trap(String),
    Values(Vec<String>),
}

fn kiln_run(engine: &kiln_runtime::Engine, wasm: &[u8], dir: &Path) -> Result<Got> {
    use kiln_runtime::component::Val;
    let k = crate::runners::KilnComponent::new(engine, wasm, dir)?;
    let mut linker = kiln_runtime::ComponentLinker::new(engine);
    linker.interface_func(HOST_INTERFACE, "echo", |args| Ok(Some(args[0].clone())));
    let inst = match linker.instantiate(k.component()) {
        Ok(i) => i,
        Err(kiln_runtime::Error::Trap(t)) => return Ok(Got::Trap(t.message)),
        Err(e) => return Err(anyhow!("kiln instantiate: {e}")),
    };
    let mut out = Vec::new();
    for name in ["got", "reallocs", "calls", "callee-reallocs"] {
        if inst.get_func(name).is_none() {
            continue;
        }
        out.push(match inst.call(name, &[]) {
            Ok(Some(Val::String(s))) => format!("{name} {s:?}"),
            Ok(Some(Val::U32(n))) => format!("{name} {n}"),
            Ok(v) => format!("{name} {v:?}"),
            Err(e) => format!("{name} trap: {e}"),
        });
    }
    Ok(Got::Values(out))
}

fn wasmtime_run(engine: &wasmtime::Engine, wasm: &[u8]) -> Result<Got> {
    use wasmtime::component::Val;
    let c = wasmtime::component::Component::new(engine, wasm)
        .map_err(|e| anyhow!("wasmtime compile: {e:#}"))?;
    let mut linker = wasmtime::component::Linker::new(engine);
    linker
        .instance(HOST_INTERFACE)
        .and_then(|mut i| {
            i.func_new("echo", |_, _, params, results| {
                results[0] = params[0].clone();
                Ok(())
            })
        })
        .map_err(|e| anyhow!("wasmtime linker: {e:#}"))?;
    let mut store = wasmtime::Store::new(engine, ());
    let inst = match linker.instantiate(&mut store, &c) {
        Ok(i) => i,
        Err(e) => return Ok(Got::Trap(format!("{e:#}"))),
    };
    let mut out = Vec::new();
    for name in ["got", "reallocs", "calls", "callee-reallocs"] {
        let Some(f) = inst.get_func(&mut store, name) else {
            continue;
        };
        let mut results = [Val::Bool(false)];
        out.push(match f.call(&mut store, &[], &mut results) {
            Ok(()) => match &results[0] {
                Val::String(s) => format!("{name} {s:?}"),
                Val::U32(n) => format!("{name} {n}"),
                v => format!("{name} {v:?}"),
            },
            Err(e) => format!("{name} trap: {e:#}"),
        });
    }
    Ok(Got::Values(out))
}

/// Runs one case in both runtimes.
pub fn run(
    case: &Case,
    kengine: &kiln_runtime::Engine,
    wengine: &wasmtime::Engine,
    dir: &Path,
) -> Verdict {
    let wasm = match wat::parse_str(&case.text) {
        Ok(w) => w,
        Err(e) => return Verdict::Mismatch(format!("generator bug: invalid component text: {e}")),
    };
    let (k, w) = match (kiln_run(kengine, &wasm, dir), wasmtime_run(wengine, &wasm)) {
        (Ok(k), Ok(w)) => (k, w),
        (k, w) => {
            return Verdict::Mismatch(format!(
                "instantiation case ({:?}): harness error: kiln {k:?}, wasmtime {w:?}",
                case.target
            ))
        }
    };
    let agree = match (&k, &w) {
        (Got::Trap(a), Got::Trap(b)) => trap_class(a) == trap_class(b),
        (a, b) => a == b,
    };
    let expected = match case.target {
        Target::Sibling | Target::Chain | Target::Host => match &k {
            Got::Values(v) => v.first() == Some(&format!("got {:?}", case.sent)),
            Got::Trap(_) => false,
        },
        Target::OwnInstance | Target::Parent => {
            matches!(&k, Got::Trap(m) if trap_class(m) == "cannot enter")
        }
        Target::TrappingSibling => matches!(&k, Got::Trap(m) if trap_class(m) == "unreachable"),
    };
    if agree && expected {
        crate::stats::bump(match k {
            Got::Trap(_) => &crate::stats::INSTANTIATION_TRAPS,
            Got::Values(_) => &crate::stats::INSTANTIATION_VALUES,
        });
        return Verdict::Pass;
    }
    Verdict::Mismatch(format!(
        "instantiation case ({:?}, string sent {:?}): {}\n  kiln     {k:?}\n  wasmtime {w:?}",
        case.target,
        case.sent,
        if agree {
            "both runtimes agree, but not on what the component model says"
        } else {
            "kiln and wasmtime differ"
        }
    ))
}
