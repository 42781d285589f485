//! Real components built from the sources in `samples/components/` with the real guest
//! toolchain (issue 3, tests): the C `inventory` world (hand-written canonical-ABI exports,
//! Debian clang + wasi-libc, then `kiln-componentize` = wit-component), the same world in Rust
//! (wasm32-wasip2 + wit-bindgen, skipped with a printed reason when that target is not
//! installed), a composed pair (the C `consumer` using the inventory's `counters` resource,
//! composed with wasm-compose) and a C component with UTF-16 guest strings. Each is compiled
//! by kiln into one `.so` and its exports are called through the runtime API and through
//! `kiln run --invoke`; expected values follow from the guest sources' semantics.
//!
//! `.ci/run` installs clang, lld, wasi-libc and libclang-rt-dev-wasm32, so the C tests fail
//! (rather than skip) when the toolchain is missing.

use kiln_cli::tempdir::TempDir;
use kiln_runtime::component::Val;
use kiln_runtime::{Component, ComponentInstance, ComponentLinker, Engine};
use kiln_tests::tools::output;
use kiln_tests::workspace;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn samples() -> PathBuf {
    workspace().join("samples").join("components")
}

fn wit_dir() -> PathBuf {
    samples().join("c").join("wit")
}

/// Builds `samples/components/c/<name>.c` into a core module with clang (as the README says)
/// and encodes it as a component of WIT world `world` (strings in UTF-8); returns the
/// component's path.
fn build_c(dir: &Path, name: &str, world: &str) -> PathBuf {
    build_c_with(dir, name, world, kiln_componentize::StringEncoding::UTF8)
}

/// [`build_c`] with the guest's string encoding `encoding`.
fn build_c_with(
    dir: &Path,
    name: &str,
    world: &str,
    encoding: kiln_componentize::StringEncoding,
) -> PathBuf {
    let src = samples().join("c").join(format!("{name}.c"));
    let core = dir.join(format!("{name}.core.wasm"));
    let out = Command::new("clang")
        .args([
            "--target=wasm32-wasi",
            "-O2",
            "-nostartfiles",
            "-Wl,--no-entry",
        ])
        .arg(&src)
        .arg("-o")
        .arg(&core)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!(
            "clang is needed to build the C sample components ({e}); on Debian: \
             apt-get install clang lld wasi-libc libclang-rt-dev-wasm32 (.ci/run does this)"
        ),
    };
    assert!(
        out.status.success(),
        "clang failed on {} (is wasi-libc / libclang-rt-dev-wasm32 installed?):\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&core).expect("read core module");
    let component = kiln_componentize::componentize(&bytes, &wit_dir(), Some(world), encoding)
        .unwrap_or_else(|e| panic!("componentize {name}: {e:#}"));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, component).expect("write component");
    path
}

/// Compiles the component at `wasm` with kiln into `<stem>.so` next to it.
fn compile(wasm: &Path) -> PathBuf {
    let bytes = std::fs::read(wasm).expect("read component");
    let so = wasm.with_extension("so");
    kiln_compiler::compile_to_file(&bytes, &Default::default(), kiln_compiler::Emit::So, &so)
        .unwrap_or_else(|e| panic!("kiln compile {}: {e}", wasm.display()));
    so
}

fn instantiate(so: &Path) -> ComponentInstance {
    let engine = Engine::default();
    let component = Component::load(&engine, so).unwrap_or_else(|e| panic!("load: {e}"));
    ComponentLinker::new(&engine)
        .instantiate(&component)
        .unwrap_or_else(|e| panic!("instantiate: {e}"))
}

/// The C inventory component, built once per test process.
fn c_inventory() -> &'static Path {
    static SO: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    &SO.get_or_init(|| {
        let dir = TempDir::new("kiln-real-c").expect("temp dir");
        let wasm = build_c(dir.path(), "inventory", "inventory");
        let so = compile(&wasm);
        (dir, so)
    })
    .1
}

/// The `kiln` executable of this build.
fn kiln() -> &'static Path {
    kiln_tests::tools::kiln_exe()
}

/// `kiln run SO --invoke CALL`: its stdout, trimmed (panics if it fails).
fn kiln_invoke(so: &Path, call: &str) -> String {
    let out = output(
        Command::new(kiln())
            .arg("run")
            .arg(so)
            .args(["--invoke", call]),
    );
    assert!(
        out.status.success(),
        "kiln run --invoke '{call}' failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn s(x: &str) -> Val {
    Val::String(x.to_string())
}

fn flags(names: &[&str]) -> Val {
    Val::Flags(names.iter().map(|n| n.to_string()).collect())
}

fn item(name: &str, qty: u32, price: f64, perms: &[&str]) -> Val {
    Val::Record(vec![
        ("name".into(), s(name)),
        ("qty".into(), Val::U32(qty)),
        ("price".into(), Val::Float64(price)),
        ("perms".into(), flags(perms)),
    ])
}

fn some(v: Val) -> Val {
    Val::Option(Some(Box::new(v)))
}

fn ok(v: Val) -> Val {
    Val::Result(Ok(Some(Box::new(v))))
}

fn err(v: Val) -> Val {
    Val::Result(Err(Some(Box::new(v))))
}

fn case(name: &str, payload: Option<Val>) -> Val {
    Val::Variant(name.into(), payload.map(Box::new))
}

fn call(i: &ComponentInstance, name: &str, args: &[Val]) -> Val {
    i.call(name, args)
        .unwrap_or_else(|e| panic!("{name}({args:?}): {e}"))
        .unwrap_or_else(|| panic!("{name} returned nothing"))
}

/// Checks every plain export of an `inventory` world instance against the semantics of
/// `samples/components/c/inventory.c` (which the Rust sample mirrors).
fn check_inventory(i: &ComponentInstance) {
    // Strings in and out (post-return frees the result).
    assert_eq!(call(i, "greet", &[s("world")]), s("hello, world!"));
    assert_eq!(call(i, "greet", &[s("")]), s("hello, !"));
    assert_eq!(call(i, "greet", &[s("wörld 😀")]), s("hello, wörld 😀!"));

    // Lists of records with strings, f64 and flags.
    let stock = Val::List(vec![
        item("nut", 2, 1.5, &["read"]),
        item("bolt", 3, 0.25, &[]),
        item("gear", 10, 4.0, &["read", "exec"]),
    ]);
    assert_eq!(
        call(i, "total-value", std::slice::from_ref(&stock)),
        Val::Float64(2.0 * 1.5 + 3.0 * 0.25 + 10.0 * 4.0)
    );
    assert_eq!(
        call(i, "total-value", &[Val::List(vec![])]),
        Val::Float64(0.0)
    );

    // Variants with a scalar payload, a record payload and none.
    assert_eq!(
        call(i, "area", &[case("circle", Some(Val::Float32(2.0)))]),
        Val::Float32(12.0)
    );
    let dims = Val::Record(vec![
        ("w".into(), Val::Float32(2.5)),
        ("h".into(), Val::Float32(4.0)),
    ]);
    assert_eq!(
        call(i, "area", &[case("rect", Some(dims))]),
        Val::Float32(10.0)
    );
    assert_eq!(call(i, "area", &[case("empty", None)]), Val::Float32(0.0));

    // Options through the return area.
    assert_eq!(
        call(i, "find", &[stock.clone(), s("bolt")]),
        some(Val::U32(1))
    );
    assert_eq!(
        call(i, "find", &[stock.clone(), s("gear")]),
        some(Val::U32(2))
    );
    assert_eq!(
        call(i, "find", &[stock.clone(), s("washer")]),
        Val::Option(None)
    );
    assert_eq!(
        call(i, "find", &[Val::List(vec![]), s("")]),
        Val::Option(None)
    );

    // Results with a variant error carrying a char.
    assert_eq!(call(i, "parse-qty", &[s("123")]), ok(Val::U32(123)));
    assert_eq!(
        call(i, "parse-qty", &[s("4294967295")]),
        ok(Val::U32(u32::MAX))
    );
    assert_eq!(
        call(i, "parse-qty", &[s("4294967296")]),
        err(case("overflow", None))
    );
    assert_eq!(call(i, "parse-qty", &[s("")]), err(case("empty", None)));
    assert_eq!(
        call(i, "parse-qty", &[s("12x")]),
        err(case("bad-char", Some(Val::Char('x'))))
    );
    assert_eq!(
        call(i, "parse-qty", &[s("1é")]),
        err(case("bad-char", Some(Val::Char('\u{FFFD}'))))
    );

    // A list of records returned (the argument's memory, reused; freed by post-return).
    assert_eq!(
        call(i, "restock", &[stock.clone(), Val::U32(5)]),
        Val::List(vec![
            item("nut", 7, 1.5, &["read", "write"]),
            item("bolt", 8, 0.25, &["write"]),
            item("gear", 15, 4.0, &["read", "write", "exec"]),
        ])
    );
    assert_eq!(
        call(i, "restock", &[Val::List(vec![]), Val::U32(5)]),
        Val::List(vec![])
    );

    // Flags in, list of strings out.
    assert_eq!(
        call(i, "perm-names", &[flags(&["read", "exec"])]),
        Val::List(vec![s("read"), s("exec")])
    );
    assert_eq!(call(i, "perm-names", &[flags(&[])]), Val::List(vec![]));
    assert_eq!(
        call(i, "perm-names", &[flags(&["read", "write", "exec"])]),
        Val::List(vec![s("read"), s("write"), s("exec")])
    );

    // Enums.
    for (qty, level) in [
        (0, "low"),
        (9, "low"),
        (10, "mid"),
        (99, "mid"),
        (100, "high"),
    ] {
        assert_eq!(
            call(i, "classify", &[Val::U32(qty)]),
            Val::Enum(level.into())
        );
    }

    // The component's own resource: resource.new, rep, the methods and resource.drop, whose
    // destructor runs inside the call (the second value counts destructor calls).
    let steps = |xs: &[i32]| Val::List(xs.iter().map(|&x| Val::S32(x)).collect());
    let pair = |a: i32, b: u32| Val::Tuple(vec![Val::S32(a), Val::U32(b)]);
    assert_eq!(
        call(i, "counter-demo", &[Val::S32(5), steps(&[1, 2, 3])]),
        pair(11, 1)
    );
    assert_eq!(
        call(i, "counter-demo", &[Val::S32(0), steps(&[])]),
        pair(0, 2)
    );
    assert_eq!(
        call(i, "counter-demo", &[Val::S32(-4), steps(&[-6, 20])]),
        pair(10, 3)
    );
    // Every demo counter was destroyed.
    assert_eq!(
        call(i, "kiln:inventory/counters#[static]counter.live", &[]),
        Val::U32(0)
    );
}

#[test]
fn c_inventory_through_the_runtime_api() {
    let so = c_inventory();
    let instance = instantiate(so);
    check_inventory(&instance);
    // A fresh instance starts from fresh guest state.
    check_inventory(&instantiate(so));
}

/// `kiln run --invoke` prints results in WAVE, as `wasmtime run --invoke` does.
#[test]
fn c_inventory_through_kiln_run() {
    let so = c_inventory();
    let cases = [
        (r#"greet("world")"#, r#""hello, world!""#),
        (
            r#"total-value([{name: "a", qty: 2, price: 1.5, perms: {read}}, {name: "b", qty: 3, price: 0.25, perms: {}}])"#,
            "3.75",
        ),
        ("area(circle(2.0))", "12"),
        ("area(rect({w: 2.5, h: 4.0}))", "10"),
        ("area(empty)", "0"),
        (
            r#"find([{name: "a", qty: 2, price: 1.5, perms: {}}, {name: "bolt", qty: 1, price: 2.0, perms: {}}], "bolt")"#,
            "some(1)",
        ),
        (r#"find([], "bolt")"#, "none"),
        (r#"parse-qty("123")"#, "ok(123)"),
        (r#"parse-qty("")"#, "err(empty)"),
        (r#"parse-qty("12x")"#, "err(bad-char('x'))"),
        (r#"parse-qty("99999999999")"#, "err(overflow)"),
        (
            r#"restock([{name: "nut", qty: 2, price: 1.5, perms: {read}}], 10)"#,
            r#"[{name: "nut", qty: 12, price: 1.5, perms: {read, write}}]"#,
        ),
        ("perm-names({read, exec})", r#"["read", "exec"]"#),
        ("classify(50)", "mid"),
        ("counter-demo(5, [1, 2, 3])", "(11, 1)"),
    ];
    for (invoke, expected) in cases {
        assert_eq!(kiln_invoke(so, invoke), expected, "{invoke}");
    }
    // `kiln inspect` prints the component's WIT world.
    let out = output(Command::new(kiln()).arg("inspect").arg(so));
    assert!(out.status.success(), "kiln inspect failed");
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "export greet: func(name: string) -> string;",
        "export classify: func(qty: u32) -> enum { low, mid, high };",
        "export kiln:inventory/counters: interface {",
        "[constructor]counter: func(start: s32) -> own<counter>;",
        "[method]counter.add: func(self: borrow<counter>, n: s32) -> s32;",
        "[static]counter.live: func() -> u32;",
    ] {
        assert!(text.contains(line), "`{line}` missing from:\n{text}");
    }
}

/// The `counters` resource exported to the host: own handles from the constructor land in the
/// host's table, methods borrow them, dropping one runs the guest's destructor, and a dropped
/// handle cannot be used again.
#[test]
fn c_counters_resource_exported_to_the_host() {
    let instance = instantiate(c_inventory());
    let meta = instance.component().metadata();
    assert_eq!(meta.resources.len(), 1, "{:?}", meta.resources);
    assert_eq!(meta.resource_name(0), "counter");
    let ty = instance.resource_type("counter").expect("resource type");
    let f = |name: &str| format!("kiln:inventory/counters#{name}");
    let own = |v: Val| match v {
        Val::Own(h) => h,
        other => panic!("expected an own handle, got {other:?}"),
    };
    let live = || call(&instance, &f("[static]counter.live"), &[]);

    let h1 = own(call(&instance, &f("[constructor]counter"), &[Val::S32(3)]));
    let h2 = own(call(
        &instance,
        &f("[constructor]counter"),
        &[Val::S32(-10)],
    ));
    assert_ne!(h1, h2);
    // The representation is the guest's pointer to its counter.
    let (r1, r2) = (
        instance.resource_rep(ty, h1).expect("rep"),
        instance.resource_rep(ty, h2).expect("rep"),
    );
    assert!(r1 != 0 && r2 != 0 && r1 != r2, "{r1} {r2}");
    let add = f("[method]counter.add");
    assert_eq!(
        call(&instance, &add, &[Val::Borrow(h1), Val::S32(4)]),
        Val::S32(7)
    );
    assert_eq!(
        call(&instance, &add, &[Val::Borrow(h1), Val::S32(-2)]),
        Val::S32(5)
    );
    assert_eq!(
        call(&instance, &f("[method]counter.get"), &[Val::Borrow(h2)]),
        Val::S32(-10)
    );
    assert_eq!(live(), Val::U32(2));

    // The demo's counter is created and destroyed beside the two live ones.
    let steps = Val::List(vec![Val::S32(1)]);
    assert_eq!(
        call(&instance, "counter-demo", &[Val::S32(1), steps.clone()]),
        Val::Tuple(vec![Val::S32(2), Val::U32(1)])
    );
    assert_eq!(live(), Val::U32(2));

    // Dropping the host's own handle runs the destructor.
    instance.resource_drop(ty, h1).expect("drop h1");
    assert_eq!(live(), Val::U32(1));
    assert_eq!(
        call(&instance, "counter-demo", &[Val::S32(1), steps]),
        Val::Tuple(vec![Val::S32(2), Val::U32(3)])
    );
    assert!(instance.resource_drop(ty, h1).is_err(), "double drop");
    instance.resource_drop(ty, h2).expect("drop h2");
    assert_eq!(live(), Val::U32(0));
    // Lending a dropped handle traps (and, as every trap, leaves the instance unusable).
    let e = instance
        .call(&add, &[Val::Borrow(h1), Val::S32(1)])
        .expect_err("borrowing a dropped handle must fail");
    assert!(e.to_string().contains("handle"), "{e}");
}

/// A component whose strings are UTF-16 in the guest (`shout.c`, `--encoding utf16`): the
/// host's UTF-8 is transcoded on the way in and out, and the guest counts code units.
#[test]
fn c_utf16_strings() {
    let dir = TempDir::new("kiln-real-utf16").expect("temp dir");
    let wasm = build_c_with(
        dir.path(),
        "shout",
        "shout",
        kiln_componentize::StringEncoding::UTF16,
    );
    let so = compile(&wasm);
    let instance = instantiate(&so);
    for (input, expected) in [
        ("hello", "HELLO!"),
        ("", "!"),
        ("héllo wörld 😀", "HéLLO WöRLD 😀!"),
        ("日本語", "日本語!"),
    ] {
        assert_eq!(
            call(&instance, "shout", &[s(input)]),
            s(expected),
            "{input}"
        );
    }
    // UTF-16 code units: a supplementary-plane char is two.
    for (input, units) in [("", 0), ("abc", 3), ("a😀", 3), ("é€", 2)] {
        assert_eq!(
            call(&instance, "count-units", &[s(input)]),
            Val::U32(units),
            "{input}"
        );
    }
    assert_eq!(kiln_invoke(&so, r#"shout("wörld 😀")"#), r#""WöRLD 😀!""#);
}

/// The composed pair: `consumer` (imports `kiln:inventory/counters`) plugged into the
/// inventory component by wasm-compose, compiled by kiln into one `.so`.
fn composed() -> &'static Path {
    static SO: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    &SO.get_or_init(|| {
        let dir = TempDir::new("kiln-real-composed").expect("temp dir");
        let provider = build_c(dir.path(), "inventory", "inventory");
        let consumer = build_c(dir.path(), "consumer", "consumer");
        let bytes = kiln_componentize::compose(&consumer, &[provider])
            .unwrap_or_else(|e| panic!("compose: {e:#}"));
        let wasm = dir.path().join("composed.wasm");
        std::fs::write(&wasm, bytes).expect("write composed component");
        let so = compile(&wasm);
        (dir, so)
    })
    .1
}

#[test]
fn composed_pair_compiles_into_one_shared_object() {
    let engine = Engine::default();
    let component = Component::load(&engine, composed()).expect("load composed .so");
    let meta = component.metadata();
    // Everything the consumer imports is satisfied inside the composition.
    assert!(
        meta.imports
            .iter()
            .all(|i| !matches!(i.ty, kiln_environ::component::ItemType::Func(_))),
        "{:?}",
        meta.imports
    );
    assert_eq!(meta.resources.len(), 1, "{:?}", meta.resources);
    assert_eq!(meta.resource_name(0), "counter");
    let world = meta.wit_world();
    assert!(
        world.contains("export tally: func(start: s32, steps: list<s32>) -> tuple<s32, u32>;"),
        "{world}"
    );
    // Both components' core modules are in the one shared object.
    assert!(component.core_modules().len() >= 2);
}

/// Calls across the composition with own and borrow handles: the consumer constructs the
/// provider's counter (own handle moved into the consumer's table), lends it to the methods
/// (the provider sees its representation) and drops it (the provider's destructor runs).
#[test]
fn composed_pair_uses_the_other_components_resource() {
    let so = composed();
    let instance = instantiate(so);
    let steps = |xs: &[i32]| Val::List(xs.iter().map(|&x| Val::S32(x)).collect());
    // 10 + 1 - 2 + 5, and no counter is alive after the consumer dropped its handle.
    assert_eq!(
        call(&instance, "tally", &[Val::S32(10), steps(&[1, -2, 5])]),
        Val::Tuple(vec![Val::S32(14), Val::U32(0)])
    );
    assert_eq!(
        call(&instance, "tally", &[Val::S32(0), steps(&[])]),
        Val::Tuple(vec![Val::S32(0), Val::U32(0)])
    );
    assert_eq!(kiln_invoke(so, "tally(10, [1, -2, 5])"), "(14, 0)");
}

/// The Rust sample (`samples/components/rust`, wit-bindgen, `no_std`) built with
/// `cargo build --release --target wasm32-wasip2` (a component directly) into its own target
/// directory beside this build's, and compiled by kiln; `None` (after printing why) when the
/// target is not installed.
fn rust_inventory() -> Option<&'static Path> {
    static SO: OnceLock<Option<(TempDir, PathBuf)>> = OnceLock::new();
    SO.get_or_init(|| {
        if let Some(why) = kiln_tests::wasip2_target_missing() {
            eprintln!("skipping the Rust sample component: {why}");
            return None;
        }
        let (target, _) = kiln_tests::tools::target_dirs();
        let built = kiln_tests::build_wasip2_guest(
            &samples().join("rust"),
            &target.join("samples-rust"),
            "inventory_rs",
        );
        let dir = TempDir::new("kiln-real-rust").expect("temp dir");
        let wasm = dir.path().join("inventory-rs.wasm");
        std::fs::copy(&built, &wasm).expect("copy the Rust component");
        let so = compile(&wasm);
        Some((dir, so))
    })
    .as_ref()
    .map(|(_, so)| so.as_path())
}

#[test]
fn rust_inventory_through_the_runtime_api() {
    let Some(so) = rust_inventory() else {
        return;
    };
    let engine = Engine::default();
    let component = Component::load(&engine, so).expect("load");
    // `no_std`: no WASI interface is imported, only the world's own types.
    let imports: Vec<&str> = component
        .imports()
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert!(imports.contains(&"kiln:inventory/types"), "{imports:?}");
    assert!(
        imports.iter().all(|n| !n.starts_with("wasi:")),
        "{imports:?}"
    );
    check_inventory(&instantiate(so));
}

#[test]
fn rust_inventory_through_kiln_run() {
    let Some(so) = rust_inventory() else {
        return;
    };
    assert_eq!(kiln_invoke(so, r#"greet("rust")"#), r#""hello, rust!""#);
    assert_eq!(kiln_invoke(so, r#"parse-qty("7z")"#), "err(bad-char('z'))");
    assert_eq!(kiln_invoke(so, "counter-demo(-1, [2, 2])"), "(3, 1)");
    assert_eq!(kiln_invoke(so, "area(rect({w: 3.0, h: 0.5}))"), "1.5");
}
