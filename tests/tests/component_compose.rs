//! Components composed across the sync/async boundary, compiled by kiln into one `.so` each and
//! called through the real API. The guests are the no_std Rust crates of
//! `tests/async-guests/compose` (wit-bindgen, wasm32-wasip2, no imports):
//! - `app` = `async-app` composed with `sync-lib` (wasm-compose): async exports
//!   (`kiln:compose/tasks`) whose spawned tasks call the synchronous `kiln:compose/text`
//!   (strings, lists, a resource) between yields, and pass results through a `stream<u8>`
//!   (a `stream<string>` within the app is a trap: the component model's rule);
//! - `front` = `sync-front` composed with `app`: synchronously lifted exports calling those
//!   async functions, lowered synchronously (the caller blocks in the call) or lowered async
//!   and waited for with `waitable-set.wait`. Those of `async func` types may block; those of
//!   plain `func` types trap when they would (the component model's rule).
//!
//! Every export is called with `ComponentInstance::call` and with `call_async(..).wait()`; the
//! expected results are computed here.

use kiln_cli::tempdir::TempDir;
use kiln_runtime::component::Val;
use kiln_runtime::{Component, ComponentInstance, ComponentLinker, Engine, Error};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A composed component compiled and loaded.
struct Loaded {
    _dir: TempDir,
    engine: Engine,
    component: Component,
}

/// The composed components (`app`, `front`), or `None` (the reason printed) where the wasip2
/// target is missing.
fn composed() -> Option<&'static (Loaded, Loaded)> {
    static COMPOSED: OnceLock<Option<(Loaded, Loaded)>> = OnceLock::new();
    COMPOSED
        .get_or_init(|| {
            use kiln_tests::guest_build::{build_wasip2_guest, cache_dir, wasip2_target_missing};
            if let Some(why) = wasip2_target_missing() {
                eprintln!("skipping the composition guests: {why}");
                return None;
            }
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("async-guests/compose");
            let target = cache_dir().join("kiln-compose-guests");
            let built = build_wasip2_guest(&src, &target, "sync_lib");
            let dir = TempDir::new("kiln-compose").expect("temp dir");
            // wasm-compose names a component's instance after its file: kebab case.
            let artifact = |name: &str| {
                let to = dir.path().join(format!("{}.wasm", name.replace('_', "-")));
                std::fs::copy(built.with_file_name(format!("{name}.wasm")), &to)
                    .expect("copy a guest");
                to
            };
            let lib = artifact("sync_lib");
            let app = compose(dir.path(), "app", &artifact("async_app"), &lib);
            let front = compose(dir.path(), "front", &artifact("sync_front"), &app);
            let app = load(&app);
            let front = load(&front);
            Some((app, front))
        })
        .as_ref()
}

/// `root` with its imports satisfied by `definition`'s exports, written to `dir/name.wasm`.
fn compose(dir: &Path, name: &str, root: &Path, definition: &Path) -> PathBuf {
    let bytes = kiln_componentize::compose(root, &[definition.to_path_buf()])
        .unwrap_or_else(|e| panic!("compose {name}: {e:#}"));
    let out = dir.join(format!("{name}.wasm"));
    std::fs::write(&out, bytes).expect("write the composed component");
    out
}

fn load(wasm: &Path) -> Loaded {
    let dir = TempDir::new("kiln-compose-so").expect("temp dir");
    let so = dir.path().join("composed.so");
    let bytes = std::fs::read(wasm).expect("read the composed component");
    kiln_compiler::compile_to_file(&bytes, &Default::default(), kiln_compiler::Emit::So, &so)
        .unwrap_or_else(|e| panic!("kiln compile {}: {e}", wasm.display()));
    let engine = Engine::default();
    let component = Component::load(&engine, &so).expect("load");
    Loaded {
        _dir: dir,
        engine,
        component,
    }
}

/// An instance with no host functions: the composed components import nothing.
fn instance(l: &Loaded) -> ComponentInstance {
    ComponentLinker::new(&l.engine)
        .instantiate(&l.component)
        .expect("instantiate")
}

/// Calls `name` both ways (blocking `call`, then `call_async(..).wait()`) on `i`, checks that
/// they agree and returns the result.
fn call_both(i: &ComponentInstance, name: &str, args: &[Val]) -> Result<Option<Val>, Error> {
    let blocking = i.call(name, args);
    let f = i
        .get_func(name)
        .unwrap_or_else(|| panic!("no export {name}"));
    let waited = i.call_async(&f, args).and_then(|c| c.wait());
    match (&blocking, &waited) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{name}: call and call_async disagree"),
        (Err(Error::Trap(_)), Err(Error::Trap(_))) => {}
        _ => panic!("{name}: call gave {blocking:?}, call_async {waited:?}"),
    }
    waited
}

/// What `text.shout` makes of `s`.
fn shout(s: &str) -> String {
    format!("{}!", s.to_uppercase())
}

fn strings(words: &[String]) -> Val {
    Val::List(words.iter().cloned().map(Val::String).collect())
}

/// Word lists: empty, one word, Unicode whose upper case is longer, and 2000 words of
/// growing length (about 200 KiB).
fn word_lists() -> Vec<Vec<String>> {
    let unicode = ["straße", "ǆemal", "ﬁx", "ß", "", "ok", "日本語", "ŉ"];
    let many = (0..2000)
        .map(|i| {
            let c = char::from(b'a' + (i % 26) as u8);
            std::iter::repeat_n(c, i % 200).collect::<String>() + &i.to_string()
        })
        .collect();
    vec![
        Vec::new(),
        vec!["hello".to_string()],
        unicode.iter().map(|s| s.to_string()).collect(),
        many,
    ]
}

#[test]
fn async_exports_call_the_synchronous_library_from_tasks() {
    let Some((app, _)) = composed() else { return };
    let i = instance(app);
    let r = call_both(&i, "kiln:compose/tasks#shout-all", &[strings(&[])]);
    assert_eq!(r.expect("shout-all"), Some(strings(&[])));
    // A `stream<string>` with both ends in the app: empty, it only reports its end; a word
    // written into it is a trap (a stream within one instance must have a numeric payload).
    let r = call_both(&i, "kiln:compose/tasks#shout-all-strings", &[strings(&[])]);
    assert_eq!(r.expect("shout-all-strings"), Some(strings(&[])));
    assert_trap(
        app,
        "kiln:compose/tasks#shout-all-strings",
        &[strings(&["hello".to_string()])],
        "intra-component stream with non-numeric payload",
    );
    for n in [0u32, 1, 4, 4097, 100_000, 1_000_000] {
        let expected = u64::from(n) * u64::from(n.saturating_sub(1)) / 2;
        let r = call_both(&i, "kiln:compose/tasks#total", &[Val::U32(n)]);
        assert_eq!(r.expect("total"), Some(Val::U64(expected)), "total({n})");
    }
    for n in [0u32, 1, 7, 500] {
        let r = call_both(&i, "kiln:compose/tasks#count", &[Val::U32(n)]);
        assert_eq!(r.expect("count"), Some(Val::U32(100 + n + 1)), "count({n})");
    }
    for n in [0u32, 3, 5000] {
        let expected = (0..n).map(|k| Val::U32(k.wrapping_mul(k))).collect();
        let r = call_both(&i, "kiln:compose/tasks#squares", &[Val::U32(n)]);
        assert_eq!(
            r.expect("squares"),
            Some(Val::List(expected)),
            "squares({n})"
        );
    }
}

/// String results of async exports: wit-bindgen frees an async export's result right after
/// `task.return`, so the caller (the host, or the synchronous front) must get copies
/// (`task.return` copies them). kiln-diff compares the same calls with wasmtime 48
/// (`compose#2`..`compose#4`, `compose-front#2`..`#4`).
#[test]
fn async_exports_return_lists_of_strings() {
    let Some((app, front)) = composed() else {
        return;
    };
    let i = instance(app);
    let f = instance(front);
    for words in word_lists() {
        let expected = Some(strings(&words.iter().map(|w| shout(w)).collect::<Vec<_>>()));
        let r = call_both(&i, "kiln:compose/tasks#shout-all", &[strings(&words)]);
        assert_eq!(r.expect("shout-all"), expected);
        let r = call_both(&f, "blocking-shout-all", &[strings(&words)]);
        assert_eq!(r.expect("blocking-shout-all"), expected);
    }
}

#[test]
fn async_calls_in_flight_together_on_one_instance() {
    let Some((app, _)) = composed() else { return };
    let i = instance(app);
    let total = i.get_func("kiln:compose/tasks#total").expect("total");
    let count = i.get_func("kiln:compose/tasks#count").expect("count");
    let calls: Vec<_> = (0..6u32)
        .map(|k| {
            let n = 1000 * k + 3;
            let call = if k % 2 == 0 {
                i.call_async(&total, &[Val::U32(n)])
            } else {
                i.call_async(&count, &[Val::U32(n)])
            };
            (k, n, call.expect("start"))
        })
        .collect();
    for (k, n, call) in calls {
        let expected = if k % 2 == 0 {
            Val::U64(u64::from(n) * u64::from(n - 1) / 2)
        } else {
            Val::U32(100 + n + 1)
        };
        assert_eq!(call.wait().expect("wait"), Some(expected), "call {k}");
    }
}

/// Calls `name` both ways, each on an instance of its own, and requires from both a trap
/// whose message contains `what`.
fn assert_trap(l: &Loaded, name: &str, args: &[Val], what: &str) {
    let blocking = instance(l).call(name, args);
    let i = instance(l);
    let f = i
        .get_func(name)
        .unwrap_or_else(|| panic!("no export {name}"));
    let waited = i.call_async(&f, args).and_then(|c| c.wait());
    for r in [blocking, waited] {
        match r {
            Err(Error::Trap(t)) if t.rendered().contains(what) => {}
            other => panic!("{name}: expected a trap ({what}), got {other:?}"),
        }
    }
}

#[test]
fn synchronous_exports_call_the_async_app() {
    let Some((_, front)) = composed() else { return };
    let i = instance(front);
    // `async func` types lifted synchronously: they may block in their calls.
    let r = call_both(&i, "blocking-shout-all", &[strings(&[])]);
    assert_eq!(r.expect("blocking-shout-all"), Some(strings(&[])));
    for n in [0u32, 1, 300] {
        let r = call_both(&i, "blocking-count", &[Val::U32(n)]);
        assert_eq!(r.expect("blocking-count"), Some(Val::U32(100 + n + 1)));
    }
    for n in [0u32, 5000] {
        let r = call_both(&i, "blocking-total", &[Val::U32(n)]);
        let expected = u64::from(n) * u64::from(n.saturating_sub(1)) / 2;
        assert_eq!(r.expect("blocking-total"), Some(Val::U64(expected)));
    }
    // Plain `func` types: a synchronous call of an `async` function traps before the callee
    // runs, even one that would not wait (`count(0)` spawns nothing); an async call waited
    // for traps when it has to wait (`total(10)`), not when its callee returned at once
    // (`total(0)`: its tasks finish in the first run).
    let blocked = "cannot block a synchronous task before returning";
    assert_trap(front, "sync-count", &[Val::U32(0)], blocked);
    assert_trap(front, "sync-count", &[Val::U32(3)], blocked);
    let r = call_both(&instance(front), "sync-total", &[Val::U32(0)]);
    assert_eq!(r.expect("sync-total(0)"), Some(Val::U64(0)));
    assert_trap(front, "sync-shout-all", &[strings(&[])], blocked);
    assert_trap(front, "sync-total", &[Val::U32(10)], blocked);
    // After the traps, a new instance works.
    let r = instance(front).call("blocking-count", &[Val::U32(2)]);
    assert_eq!(r.expect("blocking-count"), Some(Val::U32(103)));
}
