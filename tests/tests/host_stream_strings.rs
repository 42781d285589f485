//! Host-written stream elements holding strings (`HostCx::stream_from_host` of a
//! `stream<string>`, what `wasi:filesystem@0.3`'s `read-directory` relies on): a component
//! compiled to a real `.so` imports a host function returning the stream, and a stackful
//! async export reads element `k` with a blocking `stream.read` whose canonical options name
//! its `realloc` and string encoding. The string must arrive in the reading guest's memory,
//! allocated by that `realloc`, in that encoding (UTF-8, UTF-16, latin1+UTF-16 with the tag
//! on a string latin1 cannot hold); the export returns the element's length word and the
//! bytes it points to, which the host compares with its own encoding of the string.

use kiln_cli::tempdir::TempDir;
use kiln_runtime::component::Val;
use kiln_runtime::{Component, ComponentLinker, Engine};

/// The strings the host writes, in order.
const NAMES: [&str; 4] = ["abc", "é€", "ünïcödé", ""];

/// The component for string encoding `enc` (`utf8`, `utf16`, `latin1+utf16`); `len` is the
/// WAT computing the byte length of the string from its length word `$units`.
fn component(enc: &str, len: &str) -> String {
    format!(
        r#"(component
  (type $ST (stream string))
  (import "names" (func $names (result $ST)))
  (core module $Libc
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 4096))
    ;; a bump allocator
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and
        (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get 2))))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (local.get $p)))
  (core instance $libc (instantiate $Libc))
  (core module $M
    (import "" "mem" (memory 1))
    (import "" "names" (func $names (result i32)))
    (import "" "read" (func $read (param i32 i32 i32) (result i32)))
    (import "" "drop-r" (func $drop-r (param i32)))
    (import "" "task.return" (func $tr (param i32 i32 i32)))
    ;; reads elements one at a time (each blocking) until element $k (at 256), then
    ;; returns its length word and the bytes it points to
    (func (export "get") (param $k i32)
      (local $h i32) (local $i i32) (local $ret i32) (local $units i32) (local $ptr i32)
      (local.set $h (call $names))
      (loop $l
        (local.set $ret (call $read (local.get $h) (i32.const 256) (i32.const 1)))
        ;; one element, COMPLETED
        (if (i32.ne (local.get $ret) (i32.const 0x10)) (then unreachable))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.le_u (local.get $i) (local.get $k))))
      (call $drop-r (local.get $h))
      (local.set $ptr (i32.load (i32.const 256)))
      (local.set $units (i32.load (i32.const 260)))
      (call $tr (local.get $units) (local.get $ptr) {len})))
  (core func $names (canon lower (func $names)))
  (core func $read (canon stream.read $ST (memory (core memory $libc "mem"))
    (realloc (core func $libc "realloc")) string-encoding={enc}))
  (core func $drop-r (canon stream.drop-readable $ST))
  (core func $tr (canon task.return (result (tuple u32 (list u8))) (memory (core memory $libc "mem"))))
  (core instance $m (instantiate $M (with "" (instance
    (export "mem" (memory $libc "mem"))
    (export "names" (func $names))
    (export "read" (func $read))
    (export "drop-r" (func $drop-r))
    (export "task.return" (func $tr))))))
  (func (export "get") async (param "k" u32) (result (tuple u32 (list u8)))
    (canon lift (core func $m "get") async (memory (core memory $libc "mem"))
      (realloc (core func $libc "realloc"))))
)"#
    )
}

/// What element `s` must look like in encoding `enc`: (length word, bytes).
fn expected(enc: &str, s: &str) -> (u32, Vec<u8>) {
    let utf16 = || -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    match enc {
        "utf8" => (s.len() as u32, s.as_bytes().to_vec()),
        "utf16" => (s.encode_utf16().count() as u32, utf16()),
        _ if s.chars().all(|c| (c as u32) < 256) => (
            s.chars().count() as u32,
            s.chars().map(|c| c as u32 as u8).collect(),
        ),
        _ => (s.encode_utf16().count() as u32 | 1 << 31, utf16()),
    }
}

#[test]
fn strings_of_host_written_elements_land_in_the_readers_encoding() {
    let dir = TempDir::new("kiln-host-stream-strings").expect("temp dir");
    let engine = Engine::default();
    for (enc, len) in [
        ("utf8", "(local.get $units)"),
        ("utf16", "(i32.shl (local.get $units) (i32.const 1))"),
        (
            "latin1+utf16",
            "(if (result i32) (i32.lt_s (local.get $units) (i32.const 0)) \
             (then (i32.shl (i32.and (local.get $units) (i32.const 0x7fffffff)) (i32.const 1))) \
             (else (local.get $units)))",
        ),
    ] {
        let wasm = wat::parse_str(component(enc, len)).unwrap_or_else(|e| panic!("{enc}: {e}"));
        let so = dir
            .path()
            .join(format!("strings-{}.so", enc.replace('+', "-")));
        kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
            .unwrap_or_else(|e| panic!("compile ({enc}): {e}"));
        let component = Component::load(&engine, &so).expect("load");
        let mut linker = ComponentLinker::new(&engine);
        linker.func_raw("names", |cx, _, res| {
            let ty = res.ty().cloned().expect("a result type");
            let (stream, mut w) = cx.stream_from_host(&ty)?;
            for s in NAMES {
                assert!(w.write_val(&Val::String(s.into()))?);
            }
            w.close();
            res.set(Some(stream))
        });
        let i = linker.instantiate(&component).expect("instantiate");
        for (k, s) in NAMES.iter().enumerate() {
            let got = i
                .call("get", &[Val::U32(k as u32)])
                .unwrap_or_else(|e| panic!("get({k}) in {enc}: {e}"));
            let (units, bytes) = expected(enc, s);
            let want = Val::Tuple(vec![
                Val::U32(units),
                Val::List(bytes.into_iter().map(Val::U8).collect()),
            ]);
            assert_eq!(got, Some(want), "element {k} ({s:?}) in {enc}");
        }
    }
}
