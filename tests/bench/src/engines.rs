//! Engine setup for both sides, configured alike: kiln's defaults (Cranelift at its optimising
//! level, guard-page bounds checks, epoch checks on loop headers and function entries) and
//! wasmtime 48 with the same Cranelift level, epoch interruption on, and either the on-demand
//! or the pooling instance allocator.

use anyhow::{anyhow, Result};

/// Converts any displayable error (kiln's errors) into `anyhow`.
pub trait Kx<T> {
    /// The conversion.
    fn kx(self) -> Result<T>;
}

impl<T, E: std::fmt::Display> Kx<T> for std::result::Result<T, E> {
    fn kx(self) -> Result<T> {
        self.map_err(|e| anyhow!("{e}"))
    }
}

/// A wasmtime configuration matching kiln's code generation; `threads > 1` enables parallel
/// compilation (rayon's pool, sized by `RAYON_NUM_THREADS` in compile children).
pub fn wasmtime_config(threads: usize, pooling: bool) -> wasmtime::Config {
    let mut c = wasmtime::Config::new();
    c.cranelift_opt_level(wasmtime::OptLevel::Speed);
    c.epoch_interruption(true);
    c.parallel_compilation(threads > 1);
    if pooling {
        let mut p = wasmtime::PoolingAllocationConfig::default();
        p.total_core_instances(64)
            .total_memories(64)
            .total_tables(64)
            .total_component_instances(16);
        c.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(p));
    }
    c
}

/// A wasmtime engine for running (not compiling) benchmarks.
pub fn wasmtime_engine(pooling: bool) -> Result<wasmtime::Engine> {
    Ok(wasmtime::Engine::new(&wasmtime_config(2, pooling))?)
}

/// A wasmtime store whose epoch deadline never expires during the benchmark.
pub fn wasmtime_store(engine: &wasmtime::Engine) -> wasmtime::Store<()> {
    let mut store = wasmtime::Store::new(engine, ());
    store.set_epoch_deadline(u64::MAX / 4);
    store
}

/// kiln's compiler configuration with `threads` compile threads.
pub fn kiln_config(threads: usize) -> kiln_compiler::Config {
    kiln_compiler::Config {
        jobs: Some(threads),
        ..Default::default()
    }
}
