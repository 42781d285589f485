//! Compiler configuration: target, optimisation level, parallelism, bounds-check strategy.

use kiln_environ::BoundsChecks;

/// Optimisation level.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OptLevel {
    /// No optimisation (fastest compile).
    O0,
    /// Cranelift's `speed` level.
    O1,
    /// Cranelift's `speed_and_size`... mapped to `speed` with more passes enabled.
    O2,
}

impl OptLevel {
    /// The level as a number (0, 1, 2).
    pub fn as_u8(self) -> u8 {
        match self {
            OptLevel::O0 => 0,
            OptLevel::O1 => 1,
            OptLevel::O2 => 2,
        }
    }
}

/// What code generation must do for the sandbox, passed to the translator.
#[derive(Copy, Clone, Debug)]
pub struct Tunables {
    /// How linear-memory accesses are bounds-checked.
    pub bounds_checks: BoundsChecks,
    /// Whether loop headers and function entries check the epoch deadline.
    pub epoch_interruption: bool,
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables {
            bounds_checks: BoundsChecks::Guard,
            epoch_interruption: true,
        }
    }
}

/// Progress callback: `(functions compiled, total functions)`.
pub type Progress = dyn Fn(usize, usize) + Send + Sync;

/// Compiler configuration.
pub struct Config {
    /// Target triple; `None` means the host.
    pub target: Option<String>,
    /// CPU baseline: `native` (this machine's CPU; the host target only), `generic` (the
    /// architecture's baseline), or a Cranelift CPU name (`x86-64-v2`, `x86-64-v3`,
    /// `x86-64-v4`, `haswell`, `znver3`...). `None`: `native` for the host, `x86-64-v2` for an
    /// explicit x86-64 target, `generic` otherwise ([`crate::codegen::cpu_name`]).
    pub cpu: Option<String>,
    /// Optimisation level.
    pub opt_level: OptLevel,
    /// Number of compile threads; `None` uses every core.
    pub jobs: Option<usize>,
    /// Sandbox code-generation settings.
    pub tunables: Tunables,
    /// Called as functions finish compiling.
    pub progress: Option<Box<Progress>>,
    /// WebAssembly features to accept; must be a subset of
    /// [`crate::module::supported_features`] (the default). Narrower sets make the validator
    /// reject modules using the other features, as the spec testsuite of an older version expects.
    pub features: wasmparser::WasmFeatures,
    /// Write DWARF debug info (`-g`): line tables, CFI, translated guest DWARF (see
    /// [`crate::debug`]). Callers usually pair it with [`OptLevel::O0`].
    pub debug_info: bool,
    /// With `debug_info`, [`crate::compile_to_file`] moves the debug info into `<out>.debug`,
    /// found by debuggers through `.gnu_debuglink` (and the build id).
    pub split_debug: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            target: None,
            cpu: None,
            opt_level: OptLevel::O2,
            jobs: None,
            tunables: Tunables::default(),
            progress: None,
            features: crate::module::supported_features(),
            debug_info: false,
            split_debug: false,
        }
    }
}
