//! End-to-end tests of WebAssembly components: text-format components under
//! `tests/components/` compiled to one shared object each, loaded and instantiated by the
//! real runtime; and bad inputs with their error messages.

use kiln_cli::tempdir::TempDir;
use kiln_environ::component::{ExportItem, FuncSource, Initializer, InterfaceType, ItemType};
use kiln_runtime::component::HandleTable;
use kiln_runtime::{Component, ComponentInstance, ComponentLinker, Engine, Val};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

fn component_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("components")
        .join(name)
}

fn wasm_of(name: &str) -> Vec<u8> {
    wat::parse_file(component_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A compiled and loaded component (the directory holding the `.so` lives as long as it).
struct Loaded {
    _dir: TempDir,
    path: PathBuf,
    component: Component,
}

fn compile(wasm: &[u8]) -> Result<(TempDir, PathBuf), kiln_compiler::CompileError> {
    let dir = TempDir::new("kiln-component-test").expect("temp dir");
    let path = dir.path().join("component.so");
    kiln_compiler::compile_to_file(wasm, &Default::default(), kiln_compiler::Emit::So, &path)?;
    Ok((dir, path))
}

fn load(name: &str, engine: &Engine) -> Loaded {
    let (dir, path) = compile(&wasm_of(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let component = Component::load(engine, &path).unwrap_or_else(|e| panic!("{name}: {e}"));
    Loaded {
        _dir: dir,
        path,
        component,
    }
}

fn instantiate(loaded: &Loaded, linker: &ComponentLinker) -> ComponentInstance {
    linker
        .instantiate(&loaded.component)
        .unwrap_or_else(|e| panic!("{}: {e}", loaded.path.display()))
}

fn call(instance: &ComponentInstance, name: &str, args: &[Val]) -> Vec<Val> {
    let f = instance
        .get_func(name)
        .unwrap_or_else(|| panic!("no lifted export `{name}`"));
    f.call_flat(args).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn i32_of(v: &[Val]) -> i32 {
    match v {
        [Val::I32(x)] => *x,
        other => panic!("expected one i32, got {other:?}"),
    }
}

#[test]
fn nested_components_instances_and_aliases() {
    let engine = Engine::default();
    let loaded = load("nested.wat", &engine);
    let meta = loaded.component.metadata();
    // One distinct core module, instantiated once per instantiation of `$adder`.
    assert_eq!(meta.modules.len(), 1);
    assert_eq!(meta.num_runtime_instances, 2);
    assert_eq!(meta.num_component_instances, 4);
    let names: Vec<&str> = meta.exports.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["add", "add-again", "ns:math/api@1.0.0"]);
    let instance = instantiate(&loaded, &ComponentLinker::new(&engine));
    assert_eq!(instance.core_instances().len(), 2);
    assert_eq!(
        i32_of(&call(&instance, "add", &[Val::I32(2), Val::I32(40)])),
        42
    );
    assert_eq!(
        i32_of(&call(&instance, "add-again", &[Val::I32(1), Val::I32(2)])),
        3
    );
    assert_eq!(
        i32_of(&call(
            &instance,
            "ns:math/api@1.0.0#plus",
            &[Val::I32(5), Val::I32(6)]
        )),
        11
    );
    // The interface re-exports the first instance's function, not the second's.
    let plus = instance.get_func("ns:math/api@1.0.0#plus").unwrap();
    assert_eq!(plus.index(), instance.get_func("add").unwrap().index());
    assert_ne!(
        plus.index(),
        instance.get_func("add-again").unwrap().index()
    );
}

#[test]
fn two_core_modules_share_a_memory() {
    let engine = Engine::default();
    let loaded = load("shared_memory.wat", &engine);
    assert_eq!(loaded.component.core_modules().len(), 2);
    let instance = instantiate(&loaded, &ComponentLinker::new(&engine));
    call(&instance, "store", &[Val::I32(64), Val::I32(0x1234_5678)]);
    assert_eq!(
        i32_of(&call(&instance, "load", &[Val::I32(64)])),
        0x1234_5678
    );
    // Both lifts name the same option memory, extracted once.
    assert_eq!(loaded.component.metadata().num_memories, 1);
    let store = instance.get_func("store").unwrap();
    let load_fn = instance.get_func("load").unwrap();
    assert_eq!(store.options().memory, Some(0));
    assert_eq!(load_fn.options().memory, Some(0));
    let mut word = [0u8; 4];
    instance.memory(0).unwrap().read(64, &mut word).unwrap();
    assert_eq!(u32::from_le_bytes(word), 0x1234_5678);
}

#[test]
fn module_used_twice_is_compiled_once_and_instantiated_twice() {
    let engine = Engine::default();
    let loaded = load("module_twice.wat", &engine);
    let meta = loaded.component.metadata();
    assert_eq!(meta.modules.len(), 1);
    let instantiations = meta
        .initializers
        .iter()
        .filter(|i| matches!(i, Initializer::InstantiateModule { module: 0, .. }))
        .count();
    assert_eq!(instantiations, 2);
    let instance = instantiate(&loaded, &ComponentLinker::new(&engine));
    assert_eq!(i32_of(&call(&instance, "first", &[])), 1);
    assert_eq!(i32_of(&call(&instance, "first", &[])), 2);
    assert_eq!(i32_of(&call(&instance, "second", &[])), 1);
    assert_eq!(i32_of(&call(&instance, "first", &[])), 3);
}

#[test]
fn host_imports_options_and_resources() {
    let engine = Engine::default();
    let loaded = load("imports.wat", &engine);
    let meta = loaded.component.metadata();
    assert_eq!(meta.imports.len(), 2);
    assert_eq!(meta.imports[0].name, "log");
    assert_eq!(
        meta.imports[0].ty,
        ItemType::Func(kiln_environ::component::ComponentFuncType {
            is_async: false,
            params: vec![("msg".into(), InterfaceType::String)],
            result: None,
        })
    );
    let ItemType::Instance(items) = &meta.imports[1].ty else {
        panic!("expected an instance import");
    };
    assert_eq!(items[0].0, "now");
    assert!(matches!(items[1].1, ItemType::Resource(_)));
    // The exported constructor returns an own handle of the component's own resource type.
    let make = meta.exports.iter().find(|e| e.name == "make").unwrap();
    let ExportItem::Func { ty, .. } = &make.item else {
        panic!("make is a function");
    };
    let Some(InterfaceType::Own(r)) = ty.result else {
        panic!("make returns an own handle: {ty}");
    };
    assert_eq!(meta.resource_name(r), "thing");

    // Every function import must be defined.
    let Err(missing) = ComponentLinker::new(&engine).instantiate(&loaded.component) else {
        panic!("instantiated without its imports");
    };
    assert!(missing.to_string().contains("`log`"), "{missing}");

    let ticks = Arc::new(AtomicU32::new(0));
    let mut linker = ComponentLinker::new(&engine);
    linker.func_flat("log", |call, args, _| {
        // A lowering with memory and realloc: the raw host function sees both.
        assert!(call.memory.is_some() && call.realloc.is_some());
        assert_eq!(args.len(), 2);
        Ok(())
    });
    let t = ticks.clone();
    linker.func_flat("wasi:clocks/monotonic@0.2.0#now", move |_, _, results| {
        results[0] = Val::I64(i64::from(t.fetch_add(1, Ordering::SeqCst)) + 100);
        Ok(())
    });
    let instance = instantiate(&loaded, &linker);
    assert!(matches!(
        call(&instance, "ticks", &[]).as_slice(),
        [Val::I64(100)]
    ));
    assert!(matches!(
        call(&instance, "ticks", &[]).as_slice(),
        [Val::I64(101)]
    ));
    // resource.new puts an own handle in the root instance's table.
    let h = i32_of(&call(&instance, "make", &[Val::I32(77)]));
    assert_eq!(h, 1);
    let live = instance
        .with_handles(0, |t: &mut HandleTable| {
            t.get(h as u32, r).map(|e| e.rep).ok()
        })
        .flatten();
    assert_eq!(live, Some(77));
}

#[test]
fn lowered_lifted_function_between_nested_components() {
    let wasm = wat::parse_str(
        r#"(component
            (component $callee
              (core module $m (func (export "double") (param i32) (result i32)
                local.get 0 i32.const 2 i32.mul))
              (core instance $i (instantiate $m))
              (func (export "double") (param "x" s32) (result s32)
                (canon lift (core func $i "double"))))
            (component $caller
              (import "double" (func $d (param "x" s32) (result s32)))
              (core func $d (canon lower (func $d)))
              (core module $m
                (import "dep" "double" (func $d (param i32) (result i32)))
                (func (export "quadruple") (param i32) (result i32)
                  local.get 0 call $d call $d))
              (core instance $i (instantiate $m (with "dep" (instance (export "double" (func $d))))))
              (func (export "quadruple") (param "x" s32) (result s32)
                (canon lift (core func $i "quadruple"))))
            (instance $a (instantiate $callee))
            (instance $b (instantiate $caller (with "double" (func $a "double"))))
            (export "quadruple" (func $b "quadruple")))"#,
    )
    .unwrap();
    let engine = Engine::default();
    let (dir, path) = compile(&wasm).unwrap();
    let component = Component::load(&engine, &path).unwrap();
    let loaded = Loaded {
        _dir: dir,
        path,
        component,
    };
    let meta = loaded.component.metadata();
    assert!(meta.initializers.iter().any(|i| matches!(
        i,
        Initializer::Lower {
            callee: FuncSource::Lifted(0),
            ..
        }
    )));
    let instance = instantiate(&loaded, &ComponentLinker::new(&engine));
    assert_eq!(i32_of(&call(&instance, "quadruple", &[Val::I32(5)])), 20);
}

#[test]
fn kiln_module_loader_rejects_components_and_vice_versa() {
    let engine = Engine::default();
    let loaded = load("module_twice.wat", &engine);
    let err = kiln_runtime::Module::load(&engine, &loaded.path).unwrap_err();
    assert!(
        err.to_string()
            .contains("it is a component, not a core module"),
        "{err}"
    );
    let (_dir, path) = compile(&wat::parse_str("(module)").unwrap()).unwrap();
    let err = Component::load(&engine, &path).unwrap_err();
    assert!(
        err.to_string()
            .contains("it is a core module, not a component"),
        "{err}"
    );
}

fn compile_error(text: &str) -> String {
    let wasm = wat::parse_str(text).unwrap_or_else(|e| panic!("{e}"));
    match compile(&wasm) {
        Ok(_) => panic!("compiled:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_components_are_errors_naming_the_item_and_offset() {
    // Invalid: lifting a core function with the wrong signature.
    let e = compile_error(
        r#"(component
            (core module $m (func (export "f") (param i64)))
            (core instance $i (instantiate $m))
            (func (export "f") (param "x" u32) (canon lift (core func $i "f"))))"#,
    );
    assert!(e.contains("do not match") && e.contains("offset"), "{e}");
    // A core module that does not validate: the error names the module and an absolute offset.
    let e = compile_error(
        r#"(component
            (core module $m (func (export "f") (result i32) i64.const 1))
            (core instance $i (instantiate $m))
            (func (export "f") (result u32) (canon lift (core func $i "f"))))"#,
    );
    assert!(e.contains("core module 0") && e.contains("offset"), "{e}");
    // An async lift whose core function has the synchronous signature: a validation error.
    let e = compile_error(
        r#"(component
            (core module $m (func (export "f") (result i32) i32.const 0))
            (core instance $i (instantiate $m))
            (func (export "f") async (result u32) (canon lift (core func $i "f") async)))"#,
    );
    assert!(e.contains("do not match") && e.contains("offset"), "{e}");
    // Truncated input.
    let mut wasm = wat::parse_file(component_path("nested.wat")).unwrap();
    wasm.truncate(wasm.len() - 3);
    let Err(e) = compile(&wasm) else {
        panic!("truncated component compiled");
    };
    let e = e.to_string();
    assert!(e.contains("offset"), "{e}");
}

#[test]
fn bad_component_files() {
    for entry in std::fs::read_dir(component_path("bad")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = text
            .lines()
            .find_map(|l| l.strip_prefix(";; error: "))
            .unwrap_or_else(|| panic!("{}: no `;; error:` line", path.display()))
            .to_string();
        let wasm = wat::parse_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let e = match compile(&wasm) {
            Ok(_) => panic!("{} compiled", path.display()),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains(&expected),
            "{}: `{e}` lacks `{expected}`",
            path.display()
        );
    }
}

#[test]
fn inspect_prints_the_world() {
    let engine = Engine::default();
    let loaded = load("imports.wat", &engine);
    let data = std::fs::read(&loaded.path).unwrap();
    let report = kiln_cli::commands::inspect::inspect(&data).unwrap();
    for line in [
        "kind:           component",
        "core modules (2):",
        "  import log: func(msg: string);",
        "  import wasi:clocks/monotonic@0.2.0: interface {",
        "    now: func() -> u64;",
        "    resource pollable;",
        "  export make: func(rep: u32) -> own<thing>;",
        "  export ticks: func() -> u64;",
    ] {
        assert!(report.contains(line), "missing `{line}` in:\n{report}");
    }
    let nested = load("nested.wat", &engine);
    let report = kiln_cli::commands::inspect::inspect(&std::fs::read(&nested.path).unwrap());
    let report = report.unwrap();
    assert!(
        report.contains(
            "  export ns:math/api@1.0.0: interface {\n    plus: func(a: u32, b: u32) -> u32;\n  }"
        ),
        "{report}"
    );
}

#[test]
fn emit_obj_combines_the_objects() {
    let dir = TempDir::new("kiln-component-obj").unwrap();
    let out = dir.path().join("c.o");
    kiln_compiler::compile_to_file(
        &wasm_of("shared_memory.wat"),
        &Default::default(),
        kiln_compiler::Emit::Obj,
        &out,
    )
    .unwrap();
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(&out).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let names: Vec<String> = file
        .symbols()
        .filter(|s| s.is_definition())
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect();
    for want in [
        "kiln_component_v1",
        "kiln_component_module_0",
        "kiln_component_module_1",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
}

#[test]
fn resource_types_in_the_plan() {
    let meta = kiln_compiler::component::plan(&wasm_of("resources.wat"), &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(meta.resources.len(), 1, "{:?}", meta.resources);
    assert_eq!(meta.resource_name(0), "counter");
    let world = meta.wit_world();
    assert!(world.contains("export resource counter;"), "{world}");
    assert!(
        world.contains("export make: func(n: u32) -> own<counter>;"),
        "{world}"
    );
    assert!(
        world.contains("export make-counter: func(n: u32) -> own<counter>;"),
        "{world}"
    );
    // One destructor, defined by the nested instance that owns the type.
    let dtors = meta
        .initializers
        .iter()
        .filter(|i| matches!(i, Initializer::DefineResource { dtor: Some(_), .. }))
        .count();
    assert_eq!(dtors, 1);
}

#[test]
fn resources_through_nested_components() {
    let engine = Engine::default();
    let loaded = load("resources.wat", &engine);
    let meta = loaded.component.metadata();
    assert_eq!(meta.resources.len(), 1, "{:?}", meta.resources);
    assert_eq!(meta.resource_name(0), "counter");
    let world = meta.wit_world();
    assert!(
        world.contains("export make: func(n: u32) -> own<counter>;"),
        "{world}"
    );
    assert!(
        world.contains("export make-counter: func(n: u32) -> own<counter>;"),
        "{world}"
    );
    let instance = instantiate(&loaded, &ComponentLinker::new(&engine));
    // The resource belongs to the nested `$impl` instance (component instance 1).
    let h = i32_of(&call(&instance, "make", &[Val::I32(5)]));
    let h2 = i32_of(&call(&instance, "make-counter", &[Val::I32(7)]));
    assert_eq!((h, h2), (1, 2));
    assert_eq!(i32_of(&call(&instance, "rep-of-handle", &[Val::I32(h)])), 5);
    assert_eq!(
        instance.with_handles(1, |t| t.len()),
        Some(2),
        "handles live in the defining instance's table"
    );
    assert_eq!(instance.with_handles(0, |t| t.len()), Some(0));
    call(&instance, "drop-handle", &[Val::I32(h)]);
    // The destructor ran with the representation.
    assert_eq!(i32_of(&call(&instance, "dropped", &[])), 5);
    // Using a dropped handle traps, naming the rule.
    let rep = instance.get_func("rep-of-handle").unwrap();
    let err = rep.call_flat(&[Val::I32(h)]).unwrap_err().to_string();
    assert!(err.contains("unknown handle index 1"), "{err}");
    // The freed slot is reused.
    assert_eq!(i32_of(&call(&instance, "make", &[Val::I32(9)])), 1);
}

#[test]
fn may_enter_is_restored_and_checked() {
    let engine = Engine::default();
    let loaded = load("module_twice.wat", &engine);
    let instance = instantiate(&loaded, &ComponentLinker::new(&engine));
    let first = instance.get_func("first").unwrap();
    assert_eq!(first.core_callee().ty().results.len(), 1);
    for expected in 1..=3 {
        assert_eq!(i32_of(&first.call_flat(&[]).unwrap()), expected);
    }
    // The VM context starts with the magic and every instance may enter and leave.
    let ptr = instance.vmctx_ptr();
    // SAFETY: the context is at least the header plus one flags word.
    let (magic, flags) = unsafe { (ptr.cast::<u32>().read(), ptr.add(32).cast::<u32>().read()) };
    assert_eq!(magic, u32::from_le_bytes(*b"vmcc"));
    assert_eq!(flags & 3, 3);
}

/// `depth` components nested inside each other, each instantiating the next `fanout` times.
fn nested_text(depth: usize, fanout: usize) -> String {
    let mut body = String::from(
        r#"(core module $m (func (export "f") (result i32) i32.const 1))
           (core instance $i (instantiate $m))
           (func (export "f") (result u32) (canon lift (core func $i "f")))"#,
    );
    for _ in 0..depth {
        let mut outer = format!("(component $c {body})");
        for j in 0..fanout {
            outer.push_str(&format!(" (instance $i{j} (instantiate $c))"));
        }
        outer.push_str(r#" (export "f" (func $i0 "f"))"#);
        body = outer;
    }
    format!("(component {body})")
}

#[test]
fn deep_and_exponential_nesting_is_bounded() {
    // Deep but linear: flattens fine.
    let wasm = wat::parse_str(nested_text(20, 1)).unwrap();
    let meta = kiln_compiler::component::plan(&wasm, &Default::default()).unwrap();
    assert_eq!(meta.num_runtime_instances, 1);
    assert_eq!(meta.num_component_instances, 21);
    // Doubling at every level: an error, not an explosion.
    let wasm = wat::parse_str(nested_text(20, 2)).unwrap();
    let e = kiln_compiler::component::plan(&wasm, &Default::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("too many nested component instances"),
        "{e}"
    );
}

#[test]
fn mutated_components_never_panic_the_front_end() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for name in [
        "nested.wat",
        "shared_memory.wat",
        "module_twice.wat",
        "imports.wat",
        "resources.wat",
    ] {
        let wasm = wasm_of(name);
        for _ in 0..300 {
            let mut m = wasm.clone();
            for _ in 0..1 + next() % 3 {
                let at = (next() % m.len() as u64) as usize;
                m[at] = next() as u8;
            }
            let result = std::panic::catch_unwind(|| {
                let _ = kiln_compiler::component::plan(&m, &Default::default());
            });
            assert!(
                result.is_ok(),
                "{name}: the front end panicked on a mutation"
            );
        }
    }
}

#[test]
fn outer_aliases_and_nested_instances() {
    let engine = Engine::default();
    let loaded = load("outer_alias.wat", &engine);
    let meta = loaded.component.metadata();
    // The parent's module is compiled once and instantiated by both leaf instances.
    assert_eq!(meta.modules.len(), 1);
    assert_eq!(meta.num_runtime_instances, 2);
    let instance = instantiate(&loaded, &ComponentLinker::new(&engine));
    assert_eq!(i32_of(&call(&instance, "a-bump", &[])), 101);
    assert_eq!(i32_of(&call(&instance, "a-bump", &[])), 102);
    assert_eq!(i32_of(&call(&instance, "b-bump", &[])), 101);
    assert!(meta.wit_world().contains("export b-bump: func() -> u32;"));
}

/// A plugin core module for `core_modules.wat`'s import: `compute(x) = base() + x`.
const PLUGIN: &str = r#"(module
    (import "env" "base" (func $base (result i32)))
    (func (export "compute") (param i32) (result i32)
      (i32.add (call $base) (local.get 0))))"#;

#[test]
fn core_modules_are_imported_and_exported() {
    let engine = Engine::default();
    let loaded = load("core_modules.wat", &engine);
    // The import's type is part of the plan and of the printed world.
    let world = loaded.component.metadata().wit_world();
    assert!(world.contains("import plugin: core module"), "{world}");
    assert!(world.contains("export lib: core module"), "{world}");

    // Without the module: a link error naming the import.
    let Err(e) = ComponentLinker::new(&engine).instantiate(&loaded.component) else {
        panic!("instantiated without the imported module");
    };
    assert!(e.to_string().contains("`plugin` (a core module)"), "{e}");

    // A module lacking the export the type declares, or needing an import it does not.
    for (wat, why) in [
        (
            "(module (func (export \"other\")))",
            "module export `compute` not defined",
        ),
        (
            r#"(module (import "env" "base" (func (result i32))) (import "env" "more" (func))
                 (func (export "compute") (param i32) (result i32) local.get 0))"#,
            "module import `env::more` not defined",
        ),
        (
            "(module (func (export \"compute\") (param i64) (result i32) i32.const 0))",
            "module export `compute` has the wrong type",
        ),
    ] {
        let (_d, bad) = kiln_tests::load_wat(&engine, wat).unwrap();
        let mut linker = ComponentLinker::new(&engine);
        linker.module("plugin", &bad);
        let Err(e) = linker.instantiate(&loaded.component) else {
            panic!("instantiated with a module of another type: {wat}");
        };
        assert!(e.to_string().contains(why), "{e}");
    }

    // With a matching module: the component instantiates it with its own `env.base`.
    let (_d, plugin) = kiln_tests::load_wat(&engine, PLUGIN).unwrap();
    let mut linker = ComponentLinker::new(&engine);
    linker.module("plugin", &plugin);
    let instance = instantiate(&loaded, &linker);
    assert_eq!(
        instance.call("compute", &[kiln_runtime::component::Val::U32(5)]),
        Ok(Some(kiln_runtime::component::Val::U32(105)))
    );
    // The exported modules: the compiled `lib`, instantiated by the host.
    let lib = instance.get_module(&["lib"]).expect("exported module");
    let lib = kiln_runtime::Instance::new(&lib, &[]).unwrap();
    let triple = lib.get_func("triple").unwrap();
    assert!(matches!(
        triple.call(&[Val::I32(14)]).unwrap().as_slice(),
        [Val::I32(42)]
    ));
}
