//! A host survives what its guests claim: guest-chosen sizes (huge `list<u8>`s and strings,
//! lists of aliased strings) passed to the host and to another component whose `realloc`
//! fails end in traps, fast and with bounded host memory; the dynamic and raw call paths give
//! the same results and traps; a call that traps while it holds a borrow ends its borrow scope.

use kiln_cli::tempdir::TempDir;
use kiln_runtime::component::{HostBuffer, InterfaceType, Val};
use kiln_runtime::{Component, ComponentInstance, ComponentLinker, Engine, Error, Trap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Compiles and loads `tests/components/<name>`.
fn component(name: &str) -> (TempDir, Component) {
    kiln_tests::load_component_file(&Engine::default(), name, &Default::default())
}

fn trap_message(r: Result<Option<Val>, Error>) -> String {
    match r {
        Err(Error::Trap(t)) => t.message,
        other => panic!("expected a trap, got {other:?}"),
    }
}

/// A field of `/proc/self/status` in KiB.
fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The linker of `amplify.wat`: `host-bytes` and `host-strings` over dynamic values,
/// `host-bytes-raw` over the byte slice in guest memory.
fn amplify_linker(engine: &Engine) -> ComponentLinker {
    let mut l = ComponentLinker::new(engine);
    l.func("host-bytes", |_| Ok(None));
    l.func("host-strings", |_| Ok(None));
    l.func_raw("host-bytes-raw", |_, args, out| {
        let n = args.bytes(0)?.len() as u32;
        out.set(Some(Val::U32(n)))
    });
    l.func_raw("host-string", |_, args, out| {
        args.str(0)?;
        out.set(None)
    });
    l.func_raw("host-give", |_, args, out| {
        let n = args.get::<u32>(0)? as usize;
        out.set_bytes(&vec![7; n])
    });
    l
}

const MIB: u32 = 1 << 20;
/// The canonical ABI's maximum string and list byte length.
const MAX: u32 = (1 << 28) - 1;

#[test]
fn guest_claimed_sizes_trap_fast_with_bounded_host_memory() {
    let (_dir, c) = component("amplify.wat");
    let linker = amplify_linker(c.engine());
    // (export, arguments, what the trap says; "" when it succeeds)
    const BUDGET: &str = "host value budget";
    let cases: [(&str, &[u32], &str); 14] = [
        ("bytes-to-host", &[64 * MIB], BUDGET),
        ("bytes-to-host", &[255 * MIB], BUDGET),
        (
            "bytes-to-host",
            &[256 * MIB],
            "above the canonical ABI's maximum",
        ),
        (
            "bytes-to-host",
            &[u32::MAX],
            "above the canonical ABI's maximum",
        ),
        ("strings-to-host", &[4096, MIB], BUDGET),
        ("strings-to-host", &[MIB, MIB], BUDGET),
        // The largest lengths the canonical ABI allows (2^28 - 1 bytes), and more.
        ("string-to-component", &[MAX], "realloc"),
        ("string-to-component", &[MAX + 1], "maximum"),
        ("string16-to-component", &[MAX / 2], "realloc"),
        ("latin1-to-component", &[MAX], "realloc"),
        ("strings-to-component", &[MIB, MAX], "realloc"),
        ("strings-to-component", &[MIB, i32::MAX as u32], "string"),
        ("bytes-to-component", &[255 * MIB], "realloc"),
        ("bytes-to-host-raw", &[255 * MIB], ""),
    ];
    for (name, args, want) in cases {
        let args: Vec<Val> = args.iter().map(|&x| Val::U32(x)).collect();
        // A trap leaves an instance unusable: one instance per case.
        let instance = linker.instantiate(&c).expect("instantiate");
        let start = Instant::now();
        let r = instance.call(name, &args);
        let took = start.elapsed();
        if want.is_empty() {
            assert_eq!(r.expect(name), Some(args[0].clone()), "{name}");
        } else {
            let msg = trap_message(r);
            assert!(msg.contains(want), "{name}{args:?}: `{msg}` lacks `{want}`");
        }
        eprintln!(
            "{name}{args:?}: {took:?}, peak RSS {} MiB",
            status_kib("VmHWM:") / 1024
        );
        assert!(
            took < Duration::from_secs(10),
            "{name}{args:?} took {took:?}"
        );
    }
    // The guest memories (1 GiB each, never written) and the claimed sizes stay virtual.
    let peak = status_kib("VmHWM:");
    assert!(peak < 1024 * 1024, "peak RSS {} MiB", peak / 1024);
}

#[test]
fn the_host_value_budget_is_configurable() {
    let (_dir, c) = component("amplify.wat");
    let mut linker = amplify_linker(c.engine());
    // Four aliased 512 KiB strings: 2 MiB of host values.
    let args = [Val::U32(4), Val::U32(512 * 1024)];
    let instance = linker.instantiate(&c).expect("instantiate");
    assert_eq!(instance.call("strings-to-host", &args).expect("fits"), None);
    linker.set_host_value_budget(u64::from(MIB));
    assert_eq!(linker.host_value_budget(), u64::from(MIB));
    let instance = linker.instantiate(&c).expect("instantiate");
    let msg = trap_message(instance.call("strings-to-host", &args));
    assert!(msg.contains("host value budget of 1048576 bytes"), "{msg}");
    // A list<u8> read in place costs nothing against it.
    let instance = linker.instantiate(&c).expect("instantiate");
    let r = instance.call("bytes-to-host-raw", &[Val::U32(64 * MIB)]);
    assert_eq!(r.expect("in place"), Some(Val::U32(64 * MIB)));
}

#[test]
fn import_calls_free_what_the_calls_before_them_left() {
    let (_dir, c) = component("amplify.wat");
    let mut linker = amplify_linker(c.engine());
    // 64 calls of 256 KiB each, in one export call, under a 4 MiB budget: each import call's
    // arguments and result are freed when the next one ends.
    linker.set_host_value_budget(4 << 20);
    let instance = linker.instantiate(&c).expect("instantiate");
    let args = [Val::U32(64), Val::U32(256 * 1024)];
    let r = instance.call("string16-to-host-times", &args);
    assert_eq!(r.expect("UTF-16 strings transcoded for the host"), None);
    let r = instance.call("bytes-from-host-times", &args);
    assert_eq!(r.expect("byte lists from the host"), None);
    // One call's worth over the budget still traps.
    let instance = linker.instantiate(&c).expect("instantiate");
    let msg =
        trap_message(instance.call("bytes-from-host-times", &[Val::U32(1), Val::U32(8 << 20)]));
    assert!(msg.contains("host value budget"), "{msg}");
}

/// Calls export `name` through the raw path with the host C representation, converting by
/// hand, as a C host does.
fn call_raw(instance: &ComponentInstance, name: &str, args: &[Val]) -> Result<Option<Val>, Error> {
    let f = instance.get_func(name).expect("export");
    let tys: Vec<&InterfaceType> = f.ty().params.iter().map(|(_, t)| t).collect();
    let mut a = HostBuffer::encode_all(&tys, args)?;
    let mut r = HostBuffer::zeroed(256);
    // SAFETY: `a` holds the host struct of the parameters, `r` room for the result.
    let ret = unsafe { instance.call_raw(&f, a.bytes_mut().as_ptr(), r.bytes_mut().as_mut_ptr()) }?;
    let value = match &f.ty().result {
        // SAFETY: the glue wrote the result; it stays valid until the post-return.
        Some(t) => Some(unsafe { kiln_runtime::component::decode(t, r.bytes_mut()) }?),
        None => None,
    };
    instance.post_return_raw(&f, ret)?;
    Ok(value)
}

fn outcome(r: Result<Option<Val>, Error>) -> Result<Option<Val>, String> {
    r.map_err(|e| match e {
        Error::Trap(t) => format!("trap: {}", t.message),
        other => format!("error: {other}"),
    })
}

#[test]
fn dynamic_and_raw_calls_agree() {
    let (_dir, c) = component("calls.wat");
    let linker = ComponentLinker::new(c.engine());
    let s = |x: &str| Val::String(x.to_string());
    let cases: Vec<(&str, Vec<Val>)> = vec![
        ("echo-u64", vec![Val::U64(u64::MAX)]),
        ("echo-char", vec![Val::Char('😀')]),
        ("echo-string", vec![s("héllo wörld")]),
        ("echo-string16", vec![s("日本語 😀")]),
        ("echo-string-latin1", vec![s("h€llo")]),
        (
            "echo-strings",
            vec![Val::List(vec![s("a"), s(""), s("ßc")])],
        ),
        ("echo-list", vec![Val::List(vec![Val::U32(1), Val::U32(2)])]),
        (
            "echo-result",
            vec![Val::Result(Err(Some(Box::new(Val::U32(9)))))],
        ),
        ("bad-surrogate", vec![]),
        ("bad-enum", vec![]),
        ("bad-string-bounds", vec![]),
        ("bad-utf8", vec![]),
        ("bad-utf16", vec![]),
        ("misaligned-list", vec![]),
        ("oob-ret", vec![]),
    ];
    for (name, args) in cases {
        // Fresh instances: a trap leaves one unusable.
        let a = linker.instantiate(&c).expect("instantiate");
        let b = linker.instantiate(&c).expect("instantiate");
        let dynamic = outcome(a.call(name, &args));
        let raw = outcome(call_raw(&b, name, &args));
        assert_eq!(dynamic, raw, "{name}");
        // Both leave their instance in the same state.
        let again = (
            outcome(a.call("echo-u32", &[Val::U32(5)])),
            outcome(call_raw(&b, "echo-u32", &[Val::U32(5)])),
        );
        assert_eq!(again.0, again.1, "{name}, then echo-u32");
    }
}

#[test]
fn a_trap_while_borrowing_ends_its_borrow_scope() {
    let (_dir, c) = component("borrow_trap.wat");
    // The instance whose `boom` the host calls from inside `inspect`.
    let other: Arc<OnceLock<ComponentInstance>> = Arc::default();
    let seen = other.clone();
    let mut linker = ComponentLinker::new(c.engine());
    linker.func("inspect", move |args| {
        let Some(Val::Borrow(_)) = args.first() else {
            panic!("{args:?}");
        };
        let b = seen.get().expect("instantiated");
        let thing = b.resource_type("thing").expect("type");
        let h = b
            .resource_new(thing, 7)
            .map_err(|e| Trap::host(e.to_string()))?;
        // The raw call traps with `h` lent to the guest...
        let r = call_raw(b, "boom", &[Val::Borrow(h)]);
        assert!(matches!(r, Err(Error::Trap(_))), "{r:?}");
        // ...and returned it: the host can drop its handle.
        b.resource_drop(thing, h)
            .map_err(|e| Trap::host(format!("after the trap: {e}")))?;
        Ok(Some(Val::U32(1042)))
    });
    let a = linker.instantiate(&c).expect("instantiate");
    let _ = other.set(linker.instantiate(&c).expect("instantiate"));
    let thing = a.resource_type("thing").expect("type");
    let h = a.resource_new(thing, 42).expect("handle");
    // `inspect` runs inside the borrow scope of `call-inspect`'s import call; the scope the
    // trapping raw call opened must not be what that import call's end closes.
    assert_eq!(
        a.call("call-inspect", &[Val::Borrow(h)])
            .expect("call-inspect"),
        Some(Val::U32(1042))
    );
    assert_eq!(
        a.call("drop-it", &[Val::Borrow(h)]).expect("drop-it"),
        Some(Val::U32(1))
    );
    // The dynamic path too: a trap while borrowing, then the handle is free again.
    let d = linker.instantiate(&c).expect("instantiate");
    let thing = d.resource_type("thing").expect("type");
    let h = d.resource_new(thing, 1).expect("handle");
    let msg = trap_message(d.call("boom", &[Val::Borrow(h)]));
    assert!(msg.contains("unreachable"), "{msg}");
    d.resource_drop(thing, h).expect("not lent any more");
    // And a later call on another instance of this thread works.
    let e = linker.instantiate(&c).expect("instantiate");
    let thing = e.resource_type("thing").expect("type");
    let h = e.resource_new(thing, 3).expect("handle");
    assert_eq!(
        e.call("drop-it", &[Val::Borrow(h)]).expect("drop-it"),
        Some(Val::U32(1))
    );
}

#[test]
fn wasi_reads_byte_lists_in_place() {
    use kiln_runtime::wasi::{self, OutputBuffer, OutputConfig, WasiConfig};
    let (_dir, c) = component("wasi-big-write.wat");
    let out = OutputBuffer::new();
    let mut cfg = WasiConfig::new();
    cfg.stdout = OutputConfig::Buffer(out.clone());
    let mut linker = ComponentLinker::new(c.engine());
    wasi::add_to_linker(&mut linker, cfg);
    let instance = linker.instantiate(&c).expect("instantiate");
    assert_eq!(
        instance.call("write", &[Val::U32(5)]).expect("write"),
        Some(Val::U8(0))
    );
    assert_eq!(out.contents(), b"hello");
    // 64 MiB claimed: refused by its length, not after a value per byte was built.
    let instance = linker.instantiate(&c).expect("instantiate");
    let start = Instant::now();
    let msg = trap_message(instance.call("write", &[Val::U32(64 * MIB)]));
    assert!(msg.contains("at most 4096"), "{msg}");
    let took = start.elapsed();
    eprintln!(
        "WASI blocking-write-and-flush of 64 MiB: {took:?}, peak RSS {} MiB",
        status_kib("VmHWM:") / 1024
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}
