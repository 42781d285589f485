//! Calls into components through the compiled canonical-ABI glue, with dynamic component
//! values: every primitive type, strings in all three guest encodings (transcoded from and to
//! the host's UTF-8), lists, records, tuples, variants, enums, options, results, flags, more
//! than 16 parameters (passed through memory), post-return, and invalid values returned by
//! the guest trapping with a message naming the canonical-ABI rule.

use kiln_cli::tempdir::TempDir;
use kiln_runtime::component::Val;
use kiln_runtime::{Component, ComponentInstance, ComponentLinker, Engine, Error, Trap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

struct Loaded {
    _dir: TempDir,
    instance: ComponentInstance,
}

fn load(name: &str) -> Loaded {
    load_with(name, |_| {})
}

fn load_with(name: &str, define: impl FnOnce(&mut ComponentLinker)) -> Loaded {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("components")
        .join(name);
    let wasm = wat::parse_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let dir = TempDir::new("kiln-component-calls").expect("temp dir");
    let so: PathBuf = dir.path().join("c.so");
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let engine = Engine::default();
    let component = Component::load(&engine, &so).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut linker = ComponentLinker::new(&engine);
    define(&mut linker);
    let instance = linker
        .instantiate(&component)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    Loaded {
        _dir: dir,
        instance,
    }
}

fn call(l: &Loaded, name: &str, args: &[Val]) -> Option<Val> {
    l.instance
        .call(name, args)
        .unwrap_or_else(|e| panic!("{name}({args:?}): {e}"))
}

fn echo(l: &Loaded, name: &str, v: Val) {
    assert_eq!(call(l, name, std::slice::from_ref(&v)), Some(v), "{name}");
}

fn trap(l: &Loaded, name: &str, args: &[Val]) -> String {
    match l.instance.call(name, args) {
        Err(Error::Trap(t)) => t.message,
        other => panic!("{name}: expected a trap, got {other:?}"),
    }
}

/// The message of an argument error (not a trap) of calling `name`.
fn refused(l: &Loaded, name: &str, args: &[Val]) -> String {
    match l.instance.call(name, args) {
        Err(Error::Other(m)) => m,
        other => panic!("{name}: expected an argument error, got {other:?}"),
    }
}

fn s(x: &str) -> Val {
    Val::String(x.to_string())
}

#[test]
fn primitives_round_trip() {
    let l = load("calls.wat");
    echo(&l, "echo-bool", Val::Bool(true));
    echo(&l, "echo-bool", Val::Bool(false));
    echo(&l, "echo-s8", Val::S8(-128));
    echo(&l, "echo-u8", Val::U8(255));
    echo(&l, "echo-s16", Val::S16(-32768));
    echo(&l, "echo-u16", Val::U16(65535));
    echo(&l, "echo-s32", Val::S32(i32::MIN));
    echo(&l, "echo-u32", Val::U32(u32::MAX));
    echo(&l, "echo-s64", Val::S64(i64::MIN));
    echo(&l, "echo-u64", Val::U64(u64::MAX));
    echo(&l, "echo-f32", Val::Float32(-1.5));
    echo(&l, "echo-f64", Val::Float64(1e300));
    echo(&l, "echo-char", Val::Char('😀'));
    echo(&l, "echo-enum", Val::Enum("z".into()));
    echo(&l, "echo-flags", Val::Flags(vec!["r".into(), "x".into()]));
    // NaN payloads are canonicalised when lifted.
    match call(&l, "echo-f32", &[Val::Float32(f32::from_bits(0x7fc0_1234))]) {
        Some(Val::Float32(x)) => assert_eq!(x.to_bits(), 0x7fc0_0000),
        other => panic!("{other:?}"),
    }
    match call(
        &l,
        "echo-f64",
        &[Val::Float64(f64::from_bits(0xfff0_0000_0000_0001))],
    ) {
        Some(Val::Float64(x)) => assert_eq!(x.to_bits(), 0x7ff8_0000_0000_0000),
        other => panic!("{other:?}"),
    }
    // CanonicalABI.md lifts any non-zero i32 as `true` (`convert_int_to_bool`).
    assert_eq!(call(&l, "bool-two", &[]), Some(Val::Bool(true)));
}

#[test]
fn strings_in_every_encoding() {
    let l = load("calls.wat");
    for text in ["", "hello", "héllo wörld", "日本語 😀", "ÿ"] {
        echo(&l, "echo-string", s(text));
        echo(&l, "echo-string16", s(text));
        echo(&l, "echo-string-latin1", s(text));
    }
    // The guest sees code units: UTF-16 length, latin1 length or tagged UTF-16 length.
    assert_eq!(call(&l, "len16", &[s("a😀")]), Some(Val::U32(3)));
    assert_eq!(call(&l, "len-latin1", &[s("héllo")]), Some(Val::U32(5)));
    assert_eq!(
        call(&l, "len-latin1", &[s("h€")]),
        Some(Val::U32(2 | 1 << 31))
    );
}

#[test]
fn lists_records_variants() {
    let l = load("calls.wat");
    echo(&l, "echo-list", Val::List(vec![]));
    echo(
        &l,
        "echo-list",
        Val::List((0..1000).map(Val::U32).collect()),
    );
    echo(
        &l,
        "echo-strings",
        Val::List(vec![s("a"), s(""), s("ünïcode 😀")]),
    );
    echo(
        &l,
        "echo-chars",
        Val::List(vec![Val::Char('x'), Val::Char('€')]),
    );
    echo(
        &l,
        "echo-rec",
        Val::Record(vec![
            ("a".into(), Val::U8(7)),
            ("b".into(), s("field")),
            ("c".into(), Val::Char('ß')),
        ]),
    );
    echo(
        &l,
        "echo-tuple",
        Val::Tuple(vec![Val::U64(1 << 40), Val::Bool(true)]),
    );
    echo(&l, "echo-result", Val::Result(Ok(Some(Box::new(s("ok"))))));
    echo(
        &l,
        "echo-result",
        Val::Result(Err(Some(Box::new(Val::U32(42))))),
    );
    assert_eq!(
        call(
            &l,
            "option-arg",
            &[Val::Option(Some(Box::new(Val::U32(5))))]
        ),
        Some(Val::U32(1005))
    );
    assert_eq!(
        call(&l, "option-arg", &[Val::Option(None)]),
        Some(Val::U32(0))
    );
    let var = |case: &str, p: Option<Val>| Val::Variant(case.into(), p.map(Box::new));
    assert_eq!(
        call(&l, "variant-arg", &[var("a", Some(Val::U32(9)))]),
        Some(Val::U64(9))
    );
    assert_eq!(
        call(&l, "variant-arg", &[var("b", Some(Val::Float32(1.5)))]),
        Some(Val::U64(1 << 56 | u64::from(1.5f32.to_bits())))
    );
    assert_eq!(
        call(&l, "variant-arg", &[var("c", Some(Val::U64(1 << 50)))]),
        Some(Val::U64(2 << 56 | 1 << 50))
    );
    assert_eq!(
        call(&l, "variant-arg", &[var("d", None)]),
        Some(Val::U64(3 << 56))
    );
}

#[test]
fn many_params_and_post_return() {
    let l = load("calls.wat");
    let args: Vec<Val> = (1..=17).map(Val::U32).collect();
    assert_eq!(call(&l, "sum17", &args), Some(Val::U32(153)));
    assert_eq!(call(&l, "post-count", &[]), Some(Val::U32(0)));
    call(&l, "add-post", &[Val::U32(1)]);
    call(&l, "add-post", &[Val::U32(2)]);
    assert_eq!(call(&l, "post-count", &[]), Some(Val::U32(2)));
}

#[test]
fn invalid_guest_values_trap_naming_the_rule() {
    let cases = [
        ("bad-surrogate", "invalid `char` bit pattern"),
        ("bad-big-char", "invalid `char` bit pattern"),
        ("bad-enum", "discriminant"),
        ("bad-option", "discriminant"),
        ("bad-string-bounds", "string content out-of-bounds"),
        ("bad-utf8", "invalid utf8 encoding: invalid utf-8"),
        ("bad-utf16", "invalid utf16 encoding: unpaired surrogate"),
        (
            "misaligned-list",
            "unaligned pointer (list pointer is not aligned)",
        ),
        (
            "misaligned-ret",
            "unaligned pointer (return pointer not aligned)",
        ),
        (
            "oob-ret",
            "out of bounds memory access (return pointer out of bounds of memory)",
        ),
    ];
    for (name, rule) in cases {
        // A trap leaves the instance unusable (may_enter stays false), so each case gets its
        // own instance.
        let l = load("calls.wat");
        assert!(!l.instance.is_poisoned());
        let msg = trap(&l, name, &[]);
        assert!(
            msg.contains(rule),
            "{name}: `{msg}` should mention `{rule}`"
        );
        assert!(l.instance.is_poisoned(), "{name}");
        let again = trap(&l, "echo-u32", &[Val::U32(1)]);
        assert!(again.contains("may_enter"), "{again}");
    }
}

#[test]
fn invalid_realloc_results_trap() {
    let l = load("bad_realloc.wat");
    let msg = trap(&l, "misaligned", &[Val::List(vec![Val::U32(1)])]);
    assert!(
        msg.contains("unaligned pointer (realloc return: result not aligned"),
        "{msg}"
    );
    let l = load("bad_realloc.wat");
    let msg = trap(&l, "out-of-bounds", &[s("0123456789")]);
    assert!(
        msg.contains("realloc return: beyond end of memory"),
        "{msg}"
    );
}

#[test]
fn type_errors_are_errors() {
    let l = load("calls.wat");
    assert!(matches!(
        l.instance.call("echo-u32", &[Val::S32(1)]),
        Err(Error::Other(_))
    ));
    assert!(l.instance.call("echo-u32", &[]).is_err());
    assert!(l.instance.call("no-such", &[]).is_err());
    // The instance is still usable after argument errors.
    echo(&l, "echo-u32", Val::U32(3));
}

#[test]
fn host_imports_with_strings() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let l = load_with("host_imports.wat", move |linker| {
        linker.func("greet-host", |args| match args {
            [Val::String(name)] if name == "fail" => Err(Trap::host("host says no")),
            [Val::String(name)] => Ok(Some(Val::String(format!("Hello, {name}!")))),
            other => panic!("bad arguments {other:?}"),
        });
        linker.interface_func("test:host/log", "log", move |args| {
            if let [Val::String(m)] = args {
                seen.lock().unwrap().push(m.clone());
            }
            Ok(None)
        });
    });
    assert_eq!(call(&l, "greet", &[s("world")]), Some(s("Hello, world!")));
    assert_eq!(
        call(&l, "greet16", &[s("wörld 😀")]),
        Some(s("Hello, wörld 😀!"))
    );
    assert_eq!(*log.lock().unwrap(), vec!["world".to_string()]);
    let msg = trap(&l, "greet16", &[s("fail")]);
    assert!(msg.contains("host says no"), "{msg}");
    let l = load_with("host_imports.wat", |linker| {
        linker.func("greet-host", |_| Ok(Some(Val::String("x".into()))));
        linker.interface_func("test:host/log", "log", |_| Ok(None));
    });
    let msg = trap(&l, "bad-retptr", &[s("a")]);
    assert!(
        msg.contains("unaligned pointer (return pointer not aligned)"),
        "{msg}"
    );
}

#[test]
fn missing_or_mistyped_imports() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("components/host_imports.wat");
    let wasm = wat::parse_file(&path).unwrap();
    let dir = TempDir::new("kiln-component-calls").expect("temp dir");
    let so = dir.path().join("c.so");
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .unwrap();
    let engine = Engine::default();
    let component = Component::load(&engine, &so).unwrap();
    let err = ComponentLinker::new(&engine)
        .instantiate(&component)
        .err()
        .expect("imports missing");
    assert!(err.to_string().contains("greet-host"), "{err}");
    // A host function returning the wrong type traps instead of corrupting the guest.
    let mut linker = ComponentLinker::new(&engine);
    linker.func("greet-host", |_| Ok(Some(Val::U32(1))));
    linker.interface_func("test:host/log", "log", |_| Ok(None));
    let instance = linker.instantiate(&component).unwrap();
    match instance.call("greet", &[s("x")]) {
        Err(Error::Trap(t)) => assert!(t.message.contains("type mismatch"), "{}", t.message),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn component_to_component_through_fused_adapter() {
    let l = load("composed.wat");
    assert_eq!(call(&l, "run", &[s("hey")]), Some(s("hey!")));
    assert_eq!(call(&l, "run", &[s("wörld 😀")]), Some(s("wörld 😀!")));
    // UTF-16 caller, latin1+utf16 callee (these strings fit latin1).
    assert_eq!(call(&l, "run-latin1", &[s("héllo ÿ")]), Some(s("héllo ÿ!")));
    // The inner component's post-return ran once per adapted call of `exclaim` (the latin1
    // lift has none).
    assert_eq!(call(&l, "posts", &[]), Some(Val::U32(2)));
}

#[test]
fn host_imports_through_memory() {
    let l = load_with("host_imports2.wat", |linker| {
        linker.func("sum-list", |args| match args {
            [Val::List(xs)] => Ok(Some(Val::U32(
                xs.iter()
                    .map(|x| match x {
                        Val::U32(v) => *v,
                        _ => 0,
                    })
                    .sum(),
            ))),
            other => panic!("{other:?}"),
        });
        linker.func("many", |args| {
            let mut sum = 0;
            for (i, a) in args.iter().enumerate() {
                assert_eq!(*a, Val::U32(i as u32 + 1));
                sum += i as u32 + 1;
            }
            Ok(Some(Val::U32(sum)))
        });
        linker.func("make-rec", |_| {
            Ok(Some(Val::Record(vec![
                ("a".into(), Val::U8(9)),
                ("b".into(), s("from the host ✓")),
            ])))
        });
    });
    assert_eq!(call(&l, "call-sum", &[]), Some(Val::U32(60)));
    assert_eq!(call(&l, "call-many", &[]), Some(Val::U32(153)));
    assert_eq!(call(&l, "call-make", &[]), Some(s("from the host ✓")));
}

#[test]
fn resource_handles_cross_the_glue() {
    let l = load("handles.wat");
    let counter = l.instance.resource_type("counter").expect("resource type");
    let own = |v: Option<Val>| match v {
        Some(Val::Own(h)) => h,
        other => panic!("expected an own handle, got {other:?}"),
    };
    let a = own(call(&l, "make", &[Val::U32(5)]));
    let b = own(call(&l, "make", &[Val::U32(7)]));
    assert_ne!(a, b);
    assert_eq!(l.instance.resource_rep(counter, a).unwrap(), 5);
    // Lent as a borrow: the guest sees the representation; the host keeps the handle.
    assert_eq!(call(&l, "get", &[Val::Borrow(a)]), Some(Val::U32(5)));
    assert_eq!(call(&l, "get", &[Val::Borrow(a)]), Some(Val::U32(5)));
    // Moved to the guest and back.
    let a = own(call(&l, "pass", &[Val::Own(a)]));
    assert_eq!(l.instance.resource_rep(counter, a).unwrap(), 5);
    // Moved to the guest, which drops it: the destructor runs.
    assert_eq!(call(&l, "consume", &[Val::Own(a)]), Some(Val::U32(5)));
    assert_eq!(call(&l, "drops", &[]), Some(Val::U32(1)));
    // The handle moved away: using it again is an error naming the rule, found before the
    // guest is entered (the instance stays usable).
    let msg = refused(&l, "get", &[Val::Borrow(a)]);
    assert_eq!(msg, "argument 0 (`c`): unknown handle index 1");
    assert!(!l.instance.is_poisoned());
    // Dropping a host-held own handle runs the destructor too.
    let l = load("handles.wat");
    let counter = l.instance.resource_type("counter").expect("resource type");
    let c = own(call(&l, "make", &[Val::U32(1)]));
    l.instance.resource_drop(counter, c).unwrap();
    assert_eq!(call(&l, "drops", &[]), Some(Val::U32(1)));
    assert!(l.instance.resource_drop(counter, c).is_err());
    let msg = refused(&l, "consume", &[Val::Own(c)]);
    assert!(msg.contains("unknown handle index"), "{msg}");
    assert_eq!(call(&l, "drops", &[]), Some(Val::U32(1)));
}

#[test]
fn host_resources_and_borrow_scopes() {
    let cell: Arc<std::sync::OnceLock<ComponentInstance>> = Arc::default();
    let inner = cell.clone();
    let l = load_with("handles_host.wat", move |linker| {
        linker.func("inspect", move |args| {
            let inst = inner.get().expect("instantiated");
            let thing = inst.resource_type("thing").expect("type");
            match args {
                // A temporary host handle for the guest's borrow: its representation is the
                // host's own.
                [Val::Borrow(h)] => {
                    let rep = inst
                        .resource_rep(thing, *h)
                        .map_err(|e| Trap::host(e.to_string()))?;
                    Ok(Some(Val::U32(rep + 1000)))
                }
                other => panic!("{other:?}"),
            }
        });
    });
    let _ = cell.set(l.instance.clone());
    let thing = l.instance.resource_type("thing").expect("resource type");
    let h = l.instance.resource_new(thing, 42).unwrap();
    // A borrow the guest drops: fine, and the host keeps its handle.
    assert_eq!(call(&l, "drop-it", &[Val::Borrow(h)]), Some(Val::U32(1)));
    // Guest -> host borrow inside an import call.
    assert_eq!(
        call(&l, "call-inspect", &[Val::Borrow(h)]),
        Some(Val::U32(1042))
    );
    assert_eq!(l.instance.resource_rep(thing, h).unwrap(), 42);
    // Own handles move through the guest and back.
    let h = match call(&l, "pass", &[Val::Own(h)]) {
        Some(Val::Own(h)) => h,
        other => panic!("{other:?}"),
    };
    assert_eq!(l.instance.resource_rep(thing, h).unwrap(), 42);
    // A borrow the guest keeps past the end of the call traps.
    let msg = trap(&l, "keep", &[Val::Borrow(h)]);
    assert!(msg.contains("borrow handles still remain"), "{msg}");
}

#[test]
fn may_leave_is_false_while_lowering() {
    let l = load_with("may_leave.wat", |linker| {
        linker.func("ping", |_| Ok(Some(Val::U32(7))));
    });
    // Calling out is fine from ordinary guest code.
    assert_eq!(call(&l, "call-ping", &[]), Some(Val::U32(7)));
    // From the realloc the glue runs while lowering the string argument, it traps.
    let msg = trap(&l, "len", &[s("abc")]);
    assert!(msg.contains("may_leave"), "{msg}");
}

/// Host functions reach their calling instance through `HostCx::instance`, except during
/// instantiation (a core start function calling the import), when there is none yet.
#[test]
fn host_functions_see_their_instance_after_instantiation() {
    let seen: Arc<Mutex<Vec<bool>>> = Arc::default();
    let log = seen.clone();
    let l = load_with("start_import.wat", move |linker| {
        linker.func_cx("ping", move |cx, _| {
            log.lock().unwrap().push(cx.instance().is_some());
            Ok(None)
        });
    });
    assert_eq!(*seen.lock().unwrap(), [false]);
    assert_eq!(call(&l, "run", &[]), None);
    assert_eq!(*seen.lock().unwrap(), [false, true]);
}
