//! Breaks the load cost of a kiln `.so` into its parts (medians of N runs, milliseconds of
//! this thread's CPU time, which a busy machine disturbs less than wall time; wall time too):
//! a bare `dlopen`+`dlclose` of the file, the static verifier alone, the file checksum alone
//! (over bytes in memory, and over a fresh mapping of the file as a load reads it),
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

/// This thread's CPU time, in milliseconds.
fn cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

/// CPU and wall time (ms) of one run of `f`.
fn time(f: impl FnOnce()) -> Timing {
    let (c, t) = (cpu_ms(), Instant::now());
    f();
    Timing {
        cpu: cpu_ms() - c,
        wall: t.elapsed().as_secs_f64() * 1e3,
    }
}

/// CPU and wall milliseconds.
#[derive(Copy, Clone)]
struct Timing {
    cpu: f64,
    wall: f64,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3} (wall {:.3})", self.cpu, self.wall)
    }
}

/// Medians (ms) of `n` timed runs of `f`.
fn median(n: usize, mut f: impl FnMut()) -> Timing {
    let runs: Vec<Timing> = (0..n).map(|_| time(&mut f)).collect();
    let mut cpu: Vec<f64> = runs.iter().map(|r| r.cpu).collect();
    let mut wall: Vec<f64> = runs.iter().map(|r| r.wall).collect();
    cpu.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    Timing {
        cpu: cpu[n / 2],
        wall: wall[n / 2],
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .expect("usage: load_profile FILE.so [N|--first]"),
    );
    // `dlopen` takes a name without a slash for a library to search for.
    let path = std::fs::canonicalize(&path).expect("the file exists");
    let arg = args.next();
    let engine = Engine::new(EngineConfig::default());
    if arg.as_deref() == Some("--first") {
        let mut component = false;
        let first = time(|| component = load(&engine, &path));
        let again = time(|| {
            load(&engine, &path);
        });
        println!(
            "first-load {first} second {again} ms ({})",
            if component { "component" } else { "module" }
        );
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
    // The checksum as a load computes it: over a fresh read-only mapping of the file, whose
    // pages fault in (from the page cache) as the hash reads them.
    let file = std::fs::File::open(&path).expect("open");
    let mapped_sum = median(n, || {
        use std::os::fd::AsRawFd;
        // SAFETY: a read-only private mapping of an open file, unmapped below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes.len(),
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap");
        // SAFETY: the mapping is `bytes.len()` readable bytes until the munmap below.
        let m = unsafe { std::slice::from_raw_parts(p as *const u8, bytes.len()) };
        check_checksum(m, &v).expect("checksum");
        // SAFETY: unmaps the mapping made above; `m` is not used again.
        unsafe { libc::munmap(p, bytes.len()) };
    });
    let plan = median(n, || {
        if let Some(d) = &v.component {
            ComponentMetadata::from_bytes(v.bytes(&bytes, d.head.metadata)).expect("plan");
        }
    });
    let modules: Vec<_> = v
        .module
        .iter()
        .chain(v.component_modules.iter().map(|(_, d)| d))
        .collect();
    let meta = median(n, || {
        for d in &modules {
            // What a load decodes: the shape (the tables are read in place later).
            ModuleMetadata::decode_shape(v.bytes(&bytes, d.head.metadata)).expect("metadata");
        }
    });
    let sizes: Vec<String> = modules
        .iter()
        .map(|d| {
            let b = v.bytes(&bytes, d.head.metadata);
            let (m, layout) = ModuleMetadata::decode_shape(b).expect("metadata");
            let shape = layout
                .section(kiln_environ::metadata_codec::SHAPE)
                .unwrap()
                .1;
            format!(
                "{} B ({} functions, shape {shape} B)",
                b.len(),
                m.functions.len()
            )
        })
        .collect();
    let plan_len = v
        .component
        .as_ref()
        .map_or(0, |d| v.bytes(&bytes, d.head.metadata).len());
    let mut component = false;
    let first = time(|| component = load(&engine, &path));
    let again = median(n, || {
        load(&engine, &path);
    });
    println!(
        "{} ({}, {} bytes), ms of CPU (wall), median of {n}:\n  dlopen+dlclose {dl}\n  \
         verify {ver}\n  checksum {sum} (over a fresh mapping of the file: {mapped_sum})\n  plan decode {plan} ({plan_len} B)\n  module metadata \
         decode {meta}: {}\n  load: first here {first}, repeated {again}",
        path.display(),
        if component { "component" } else { "module" },
        bytes.len(),
        sizes.join(", ")
    );
}
