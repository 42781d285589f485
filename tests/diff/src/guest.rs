//! The guest component of one round-trip test, written as component text for a generated
//! type `T`.
//!
//! Exports `roundtrip: func(x: T) -> T` (the core function takes the flat parameters, or a
//! pointer past 16 of them, and returns its argument: directly when it flattens to one value,
//! else through a return area it fills by storing the flat values in the canonical memory
//! layout), `via-import: func(x: T) -> T` (passes its argument to the host import `echo` of
//! interface `kiln:diff/host` and returns what it got) and `set-corrupt: func(mode, off, xor)`,
//! which makes the next `roundtrip` damage its result before returning it (mode 1: a byte of
//! the return area, or the flat value itself; mode 2: a byte of what `realloc` handed out), so
//! the runtimes' validation of guest-produced values is compared too. Memory and a bump
//! `realloc` (resizing the last block in place, copying otherwise) live in a separate core
//! module so the import can be lowered with them; the post-return resets the bump pointer.
//! Lifts and lowers use one string encoding per component (UTF-8, UTF-16 or latin1+UTF-16).

use crate::types::{Ct, Ty, TypeWriter};
use std::fmt::Write;

/// Start of the heap `realloc` allocates from (below: the return areas).
const HEAP: u32 = 65536;
/// Return area of `roundtrip` (for 2..=16 flat values).
const AREA_RT: u32 = 1024;
/// Return area of `via-import`.
const AREA_VI: u32 = 16384;

/// The interface the host import `echo` lives in.
pub const HOST_INTERFACE: &str = "kiln:diff/host";

/// The component text of the round-trip component for `ty`, whose lifts and lowers use the
/// string encoding `encoding` (`utf8`, `utf16` or `latin1+utf16`). With `spread` (and `ty` a
/// tuple), the functions take the tuple's elements as separate parameters and return the
/// tuple: the core signatures are the same (the flat parameters, or past 16 a pointer to the
/// parameters' tuple in memory).
pub fn component(ty: &Ty, encoding: &str, spread: bool) -> String {
    let flat = ty.flat();
    let mut host_types = TypeWriter::new("h", true);
    let href = host_types.reference(ty);
    let mut types = TypeWriter::new("", false);
    let r = types.reference(ty);
    let params = |w: &mut TypeWriter<'_>, whole: &str| match ty {
        Ty::Tuple(ts) if spread => ts
            .iter()
            .enumerate()
            .map(|(i, t)| format!("(param \"a{i}\" {})", w.reference(t)))
            .collect::<Vec<_>>()
            .join(" "),
        _ => format!("(param \"x\" {whole})"),
    };
    let hparams = params(&mut host_types, &href);
    let ps = params(&mut types, &r);
    let main = main_module(ty, &flat);
    format!(
        r#"(component
  (import "{HOST_INTERFACE}" (instance $host
{hdefs}    (export "echo" (func {hparams} (result {href})))
  ))
  (alias export $host "echo" (func $echo))
  (core module $Libc
    (memory (export "mem") 4)
    (global $bump (mut i32) (i32.const {HEAP}))
    (func (export "realloc") (param $old i32) (param $oldsz i32) (param $align i32) (param $size i32) (result i32)
      (local $p i32)
      ;; The last block grows or shrinks in place (the heap layout then depends only on the
      ;; sizes of the realloc calls, which both runtimes take from CanonicalABI.md).
      local.get $old
      if
        local.get $old
        local.get $oldsz
        i32.add
        global.get $bump
        i32.eq
        if
          local.get $old
          local.get $size
          i32.add
          global.set $bump
          global.get $bump
          i32.const {limit}
          i32.gt_u
          if unreachable end
          local.get $old
          return
        end
      end
      global.get $bump
      local.get $align
      i32.add
      i32.const 1
      i32.sub
      i32.const 0
      local.get $align
      i32.sub
      i32.and
      local.tee $p
      local.get $size
      i32.add
      global.set $bump
      global.get $bump
      i32.const {limit}
      i32.gt_u
      if unreachable end
      ;; Elsewhere: a new block with the old contents.
      local.get $p
      local.get $old
      local.get $size
      local.get $oldsz
      local.get $size
      local.get $oldsz
      i32.lt_u
      select
      memory.copy
      local.get $p)
    (func (export "reset") i32.const {HEAP} global.set $bump)
    (func (export "heap-end") (result i32) global.get $bump)
  )
{main}
  (core instance $libc (instantiate $Libc))
  (alias core export $libc "mem" (core memory $mem))
  (alias core export $libc "realloc" (core func $realloc))
  (core func $echo_lower (canon lower (func $echo) (memory $mem) (realloc $realloc) string-encoding={encoding}))
  (core instance $main (instantiate $Main
    (with "libc" (instance $libc))
    (with "host" (instance (export "echo" (func $echo_lower))))))
{defs}  (func $rt {ps} (result {r})
    (canon lift (core func $main "roundtrip") (memory $mem) (realloc $realloc) string-encoding={encoding}
      (post-return (core func $main "post"))))
  (func $vi {ps} (result {r})
    (canon lift (core func $main "via-import") (memory $mem) (realloc $realloc) string-encoding={encoding}
      (post-return (core func $main "post"))))
  (func $sc (param "mode" u32) (param "off" u32) (param "xor" u32)
    (canon lift (core func $main "set-corrupt")))
  (export "roundtrip" (func $rt))
  (export "via-import" (func $vi))
  (export "set-corrupt" (func $sc))
)
"#,
        hdefs = host_types.defs,
        defs = types.defs,
        limit = 4 * 65536,
    )
}

fn names(ts: &[Ct]) -> String {
    ts.iter().map(|t| t.name()).collect::<Vec<_>>().join(" ")
}

/// The core module with the exports the lifts use.
fn main_module(ty: &Ty, flat: &[Ct]) -> String {
    let n = flat.len();
    let (params, results): (Vec<Ct>, Vec<Ct>) = match n {
        0..=1 => (flat.to_vec(), flat.to_vec()),
        2..=16 => (flat.to_vec(), vec![Ct::I32]),
        _ => (vec![Ct::I32], vec![Ct::I32]),
    };
    // The lowered import: results past one go through a return pointer parameter.
    let mut import_params = params.clone();
    let import_results = if n <= 1 {
        flat.to_vec()
    } else {
        import_params.push(Ct::I32);
        vec![]
    };
    let np = params.len() as u32;
    let (l_r, l_n) = (np, np + 1);
    let mut rt = String::new();
    let mut vi = String::new();
    let size = ty.size();
    match n {
        0..=1 => {
            rt.push_str("      local.get 0\n");
            match flat.first() {
                Some(Ct::I32) => rt.push_str(
                    "      global.get $mode i32.const 1 i32.eq\n      if (param i32) (result i32) global.get $xor i32.xor end\n",
                ),
                Some(Ct::I64) => rt.push_str(
                    "      global.get $mode i32.const 1 i32.eq\n      if (param i64) (result i64) global.get $xor i64.extend_i32_u i64.xor end\n",
                ),
                _ => {}
            }
            vi.push_str("      local.get 0\n      call $echo\n");
        }
        _ => {
            if n <= 16 {
                let _ = writeln!(rt, "      i32.const {AREA_RT}\n      local.set {l_r}");
                let locals: Vec<(u32, Ct)> = flat
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (i as u32, *t))
                    .collect();
                let mut label = 0;
                store(ty, l_r, 0, &locals, &mut rt, &mut label);
            } else {
                let _ = writeln!(rt, "      local.get 0\n      local.set {l_r}");
            }
            corrupt_memory(&mut rt, l_r, l_n, size);
            let _ = writeln!(rt, "      local.get {l_r}");
            for i in 0..np {
                let _ = writeln!(vi, "      local.get {i}");
            }
            let _ = writeln!(
                vi,
                "      i32.const {AREA_VI}\n      call $echo\n      i32.const {AREA_VI}"
            );
        }
    }
    format!(
        r#"  (core module $Main
    (import "libc" "mem" (memory 1))
    (import "libc" "reset" (func $reset))
    (import "libc" "heap-end" (func $heap_end (result i32)))
    (import "host" "echo" (func $echo (param {ip}) (result {ir})))
    (global $mode (mut i32) (i32.const 0))
    (global $off (mut i32) (i32.const 0))
    (global $xor (mut i32) (i32.const 0))
    (func (export "set-corrupt") (param i32 i32 i32)
      local.get 0 global.set $mode
      local.get 1 global.set $off
      local.get 2 global.set $xor)
    (func (export "post") (param {res})
      call $reset)
    (func (export "roundtrip") (param {p}) (result {res}) (local i32 i32)
{rt}    )
    (func (export "via-import") (param {p}) (result {res})
{vi}    )
  )"#,
        ip = names(&import_params),
        ir = names(&import_results),
        p = names(&params),
        res = names(&results),
    )
}

/// Mode 1: xor a byte of the `size` bytes at local `r`; mode 2: xor a byte of the heap.
fn corrupt_memory(out: &mut String, r: u32, n: u32, size: u32) {
    let _ = write!(
        out,
        r#"      global.get $mode i32.const 1 i32.eq
      if
        local.get {r} global.get $off i32.const {size} i32.rem_u i32.add
        local.get {r} global.get $off i32.const {size} i32.rem_u i32.add i32.load8_u
        global.get $xor i32.xor
        i32.store8
      end
      global.get $mode i32.const 2 i32.eq
      if
        call $heap_end i32.const {HEAP} i32.sub local.tee {n}
        if
          global.get $off local.get {n} i32.rem_u i32.const {HEAP} i32.add
          global.get $off local.get {n} i32.rem_u i32.const {HEAP} i32.add i32.load8_u
          global.get $xor i32.xor
          i32.store8
        end
      end
"#
    );
}

/// Pushes local `l` (of core type `have`) converted to `want` (CanonicalABI.md `lift_flat`
/// coercions of joined variant payloads).
fn get(out: &mut String, l: u32, have: Ct, want: Ct) {
    let _ = write!(out, "      local.get {l}");
    let conv = match (have, want) {
        _ if have == want => "",
        (Ct::I64, Ct::I32) => " i32.wrap_i64",
        (Ct::I64, Ct::F32) => " i32.wrap_i64 f32.reinterpret_i32",
        (Ct::I64, Ct::F64) => " f64.reinterpret_i64",
        (Ct::I32, Ct::F32) => " f32.reinterpret_i32",
        _ => " unreachable",
    };
    let _ = writeln!(out, "{conv}");
}

/// Stores the flat values in `locals` (local index, core type as passed) of a value of `ty`
/// at `offset` from the address in local `base`.
fn store(ty: &Ty, base: u32, offset: u32, locals: &[(u32, Ct)], out: &mut String, label: &mut u32) {
    let scalar = |out: &mut String, want: Ct, op: &str, at: u32, l: (u32, Ct)| {
        let _ = writeln!(out, "      local.get {base}");
        get(out, l.0, l.1, want);
        let _ = writeln!(out, "      {op} offset={at}");
    };
    match ty {
        Ty::Bool | Ty::S8 | Ty::U8 => scalar(out, Ct::I32, "i32.store8", offset, locals[0]),
        Ty::S16 | Ty::U16 => scalar(out, Ct::I32, "i32.store16", offset, locals[0]),
        Ty::S32 | Ty::U32 | Ty::Char => scalar(out, Ct::I32, "i32.store", offset, locals[0]),
        Ty::Enum(_) | Ty::Flags(_) => {
            let op = match ty.size() {
                1 => "i32.store8",
                2 => "i32.store16",
                _ => "i32.store",
            };
            scalar(out, Ct::I32, op, offset, locals[0])
        }
        Ty::S64 | Ty::U64 => scalar(out, Ct::I64, "i64.store", offset, locals[0]),
        Ty::F32 => scalar(out, Ct::F32, "f32.store", offset, locals[0]),
        Ty::F64 => scalar(out, Ct::F64, "f64.store", offset, locals[0]),
        Ty::String | Ty::List(_) => {
            scalar(out, Ct::I32, "i32.store", offset, locals[0]);
            scalar(out, Ct::I32, "i32.store", offset + 4, locals[1]);
        }
        Ty::Record(fs) | Ty::Tuple(fs) => {
            let mut i = 0;
            for (f, o) in fs.iter().zip(Ty::field_offsets(fs)) {
                let k = f.flat().len();
                store(f, base, offset + o, &locals[i..i + k], out, label);
                i += k;
            }
        }
        _ => {
            let cases = ty.cases().unwrap_or_default();
            let disc = locals[0];
            let op = match crate::types::disc_size(cases.len()) {
                1 => "i32.store8",
                2 => "i32.store16",
                _ => "i32.store",
            };
            scalar(out, Ct::I32, op, offset, disc);
            let payload = offset + ty.payload_offset();
            let id = *label;
            *label += 1;
            let k = cases.len();
            let _ = writeln!(out, "      block $v{id}_end");
            for c in (0..k).rev() {
                let _ = writeln!(out, "      block $v{id}_c{c}");
            }
            get(out, disc.0, disc.1, Ct::I32);
            let targets: Vec<String> = (0..k).map(|c| format!("$v{id}_c{c}")).collect();
            let _ = writeln!(
                out,
                "      br_table {} $v{id}_c{}",
                targets.join(" "),
                k - 1
            );
            for case in &cases {
                let _ = writeln!(out, "      end");
                if let Some(t) = case {
                    let m = t.flat().len();
                    store(t, base, payload, &locals[1..1 + m], out, label);
                }
                let _ = writeln!(out, "      br $v{id}_end");
            }
            let _ = writeln!(out, "      end");
        }
    }
}
