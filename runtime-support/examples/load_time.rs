//! Times `Module::load` / `Component::load` of a kiln `.so` (median of N loads, each dropped
//! before the next), for the load-cost figures in `docs/trust-model.md`.
//!
//! `cargo run --release -p kiln-runtime --example load_time -- FILE.so [N] [--copy]
//! [--keys PUBLIC_KEYS]`: `--copy` loads sealed private copies, `--keys` requires a signature
//! (`FILE.so.sig`) by one of the keys.

use kiln_runtime::signature::TrustedKeys;
use kiln_runtime::{component::Component, ArtifactSharing, Engine, EngineConfig, Module};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .expect("usage: load_time FILE.so [N] [--copy] [--keys K]"),
    );
    let mut n = 30;
    let mut config = EngineConfig::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--copy" => config.artifact_sharing = ArtifactSharing::AlwaysCopy,
            "--keys" => {
                let keys = args.next().expect("--keys FILE");
                let keys = TrustedKeys::from_file(std::path::Path::new(&keys)).expect("keys");
                config.trusted_keys = Some(Arc::new(keys));
            }
            other => n = other.parse().expect("N"),
        }
    }
    let engine = Engine::new(config);
    let component = Component::load(&engine, &path).is_ok();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        if component {
            drop(Component::load(&engine, &path).expect("load"));
        } else {
            drop(Module::load(&engine, &path).expect("load"));
        }
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{}: {} loads, median {:.2} ms, min {:.2} ms, max {:.2} ms",
        path.display(),
        n,
        times[n / 2],
        times[0],
        times[n - 1]
    );
}
