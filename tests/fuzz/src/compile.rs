//! The compiler target: each iteration draws a module from wasm-smith (restricted to the
//! features kiln supports, exception handling included), compiles it, links a sample of them and
//! loads the result with the runtime (a rejection is a failure, except for kiln's documented
//! restrictions, [`RESTRICTIONS`], which are counted apart); then it mutates the module's bytes
//! and compiles the mutant. The compiler must turn any bytes into an error or a valid shared
//! object, never a panic, a crash or a hang.

use crate::{save_failure, Args, Rng};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

/// Compile errors for valid modules that kiln rejects by design (ARCHITECTURE.md, "Exceptions":
/// exception objects live on the guest stack only).
const RESTRICTIONS: &[&str] = &[
    "unsupported: tables of exception references",
    "unsupported: mutable globals of exception references",
];

fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        exceptions_enabled: true,
        gc_enabled: false,
        memory64_enabled: false,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        simd_enabled: true,
        tail_call_enabled: true,
        extended_const_enabled: true,
        max_memories: 4,
        max_tables: 4,
        ..wasm_smith::Config::default()
    }
}

enum Outcome {
    Compiled(Option<Vec<u8>>),
    Rejected(String),
}

/// Compiles `wasm` on a worker thread; a panic or a time-out is a failure.
fn compile_checked(wasm: &[u8], timeout: Duration) -> Result<Outcome, String> {
    let (tx, rx) = mpsc::channel();
    let input = wasm.to_vec();
    std::thread::Builder::new()
        .name("compile".into())
        .stack_size(16 << 20)
        .spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(|| {
                let config = kiln_compiler::Config {
                    jobs: Some(1),
                    ..Default::default()
                };
                kiln_compiler::compile(&input, &config)
            }));
            let _ = tx.send(result);
        })
        .map_err(|e| format!("cannot spawn compile thread: {e}"))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(Ok(compiled))) => Ok(Outcome::Compiled(Some(compiled.object))),
        Ok(Ok(Err(e))) => Ok(Outcome::Rejected(e.to_string())),
        Ok(Err(panic)) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(format!("compiler panicked: {msg}"))
        }
        Err(_) => Err(format!("compile did not finish within {timeout:?}")),
    }
}

/// Runs the compiler target; returns the number of failures.
pub fn run(args: &Args) -> u64 {
    let timeout = Duration::from_secs(args.timeout);
    let mut rng = Rng(args.seed | 1);
    let engine = kiln_runtime::Engine::default();
    let tmp = std::env::temp_dir().join(format!("kiln-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&tmp);
    let (mut valid, mut rejected, mut mutants_ok, mut mutants_rejected, mut loaded) =
        (0, 0, 0, 0, 0);
    let mut restricted = 0;
    let mut failures = 0u64;
    for i in 0..args.iterations {
        let seed_bytes = rng.bytes(4096);
        let mut u = arbitrary::Unstructured::new(&seed_bytes);
        let Ok(module) = wasm_smith::Module::new(smith_config(), &mut u) else {
            continue;
        };
        let wasm = module.to_bytes();
        match compile_checked(&wasm, timeout) {
            Ok(Outcome::Compiled(object)) => {
                valid += 1;
                if args.load_every > 0 && valid % args.load_every == 0 {
                    if let Some(object) = object {
                        let so = tmp.join(format!("m{i}.so"));
                        let result = kiln_compiler::link_shared_object(&object, &so)
                            .map_err(|e| e.to_string())
                            .and_then(|()| {
                                kiln_runtime::Module::load(&engine, &so)
                                    .map(|_| ())
                                    .map_err(|e| e.to_string())
                            });
                        let _ = std::fs::remove_file(&so);
                        match result {
                            Ok(()) => loaded += 1,
                            Err(e) => {
                                failures += 1;
                                let p = save_failure("load", i, "wasm", &wasm);
                                eprintln!(
                                    "FAIL iteration {i}: valid module did not link/load: {e} ({})",
                                    p.display()
                                );
                            }
                        }
                    }
                }
            }
            Ok(Outcome::Rejected(e)) if RESTRICTIONS.iter().any(|r| e.starts_with(r)) => {
                restricted += 1;
            }
            Ok(Outcome::Rejected(e)) => {
                // wasm-smith only generates valid modules of the features kiln supports, so any
                // other rejection is a compiler bug.
                rejected += 1;
                failures += 1;
                let p = save_failure("rejected", i, "wasm", &wasm);
                eprintln!(
                    "FAIL iteration {i}: valid module rejected: {e} ({})",
                    p.display()
                );
            }
            Err(e) => {
                failures += 1;
                let p = save_failure("smith", i, "wasm", &wasm);
                eprintln!("FAIL iteration {i}: {e} ({})", p.display());
            }
        }
        // Mutate a few bytes of the valid module: almost always invalid, sometimes subtly.
        let mut mutant = wasm.clone();
        if !mutant.is_empty() {
            for _ in 0..1 + rng.next_u64() % 4 {
                let at = (rng.next_u64() % mutant.len() as u64) as usize;
                mutant[at] = rng.next_u64() as u8;
            }
        }
        match compile_checked(&mutant, timeout) {
            Ok(Outcome::Compiled(_)) => mutants_ok += 1,
            Ok(Outcome::Rejected(_)) => mutants_rejected += 1,
            Err(e) => {
                failures += 1;
                let p = save_failure("mutant", i, "wasm", &mutant);
                eprintln!("FAIL iteration {i} (mutant): {e} ({})", p.display());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    println!(
        "fuzz: {valid} generated modules compiled ({loaded} linked and loaded), {rejected} rejected, \
         {restricted} hit kiln's documented restrictions; mutants: {mutants_ok} compiled, \
         {mutants_rejected} rejected"
    );
    let passed = args.iterations * 2 - failures;
    println!("fuzz: {passed} passed, {failures} failed");
    failures
}
