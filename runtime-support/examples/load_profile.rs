//! Breaks the load cost of a kiln `.so` into its parts (medians of N runs, milliseconds):
//! a bare `dlopen`+`dlclose` of the file, the static verifier alone, the file checksum alone,
//! the metadata decode alone (every core module's and the component plan's), and the whole
//! `Module::load` / `Component::load`, first in the process and repeated.
//!
//! `cargo run --release -p kiln-runtime --example load_profile -- FILE.so [N]`
//! `... -- FILE.so --first`: only the first `load` of this process (run it many times).

use kiln_environ::artifact::{check_checksum, verify, Machine};
use kiln_environ::component::ComponentMetadata;
use kiln_environ::ModuleMetadata;
use kiln_runtime::{component::Component, Engine, EngineConfig, Module};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Loads the file as a component or a module, returning whether it is a component.
fn load(engine: &Engine, path: &Path) -> bool {
    match Component::load(engine, path) {
        Ok(c) => {
            drop(c);
            true
        }
        Err(_) => {
            drop(Module::load(engine, path).expect("load"));
            false
        }
    }
}

/// Median (ms) of `n` timed runs of `f`.
fn median(n: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[n / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().expect("usage: load_profile FILE.so [N|--first]"));
    let arg = args.next();
    let engine = Engine::new(EngineConfig::default());
    if arg.as_deref() == Some("--first") {
        let t = Instant::now();
        let component = load(&engine, &path);
        let first = t.elapsed().as_secs_f64() * 1e3;
        println!("first-load {first:.3} ms ({})", if component { "component" } else { "module" });
        return;
    }
    let n: usize = arg.map(|a| a.parse().expect("N")).unwrap_or(31);
    let bytes = std::fs::read(&path).expect("read");
    let machine = Machine::host().expect("host machine");
    let v = verify(&bytes, Some(machine)).expect("verify");
    let cpath = CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    let dl = median(n, || {
        // SAFETY: the file is a kiln `.so` the verifier accepted above: no constructors,
        // dependencies or IFUNCs, so loading it runs nothing from it.
        let h = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        assert!(!h.is_null(), "dlopen failed");
        // SAFETY: `h` came from dlopen above.
        unsafe { libc::dlclose(h) };
    });
    let ver = median(n, || {
        verify(&bytes, Some(machine)).expect("verify");
    });
    let sum = median(n, || check_checksum(&bytes, &v).expect("checksum"));
    let meta = median(n, || {
        if let Some(d) = &v.component {
            ComponentMetadata::from_bytes(v.bytes(&bytes, d.head.metadata)).expect("plan");
        }
        let modules = v.module.iter().chain(v.component_modules.iter().map(|(_, d)| d));
        for d in modules {
            ModuleMetadata::from_bytes(v.bytes(&bytes, d.head.metadata)).expect("metadata");
        }
    });
    let t = Instant::now();
    let component = load(&engine, &path);
    let first = t.elapsed().as_secs_f64() * 1e3;
    let again = median(n, || {
        load(&engine, &path);
    });
    println!(
        "{} ({}, {} bytes): dlopen+dlclose {dl:.3} | verify {ver:.3} | checksum {sum:.3} | \
         metadata decode {meta:.3} | load: first here {first:.3}, repeated {again:.3} (ms, \
         median of {n})",
        path.display(),
        if component { "component" } else { "module" },
        bytes.len()
    );
}
