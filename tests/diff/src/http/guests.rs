//! The HTTP handler guests of the issue-16 contract for the `--http` mode: the Rust handler
//! (`tests/wasi-guests/http-handler`, wasm32-wasip2) and the JS handler (`tests/http-guests/js`,
//! componentize-js 0.23.0 from npm). They are the test suite's own builds: its
//! `tests/support/http_guests.rs` and `guest_build.rs` (standard library only) are included
//! here with `#[path]`, so the components come from the same cache
//! (`$HOME/.cache/kiln-http-guests`, keyed by the sources and toolchain) and the `.so` that
//! `kiln serve` is given from the same compiled-guest cache (`$HOME/.cache/kiln-guest-so`,
//! keyed by the component and the `kiln` executable): after the test suite has run, nothing
//! is built or compiled again. kiln-bench's http row includes this file with `#[path]` (for
//! the Rust handler).

// Both files serve the test suite too; each includer uses part of them.
#[allow(dead_code)]
#[path = "../../../support/guest_build.rs"]
mod guest_build;
#[allow(dead_code)]
#[path = "../../../support/http_guests.rs"]
mod http_guests;

use anyhow::{anyhow, Result};
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds (or reuses) the Rust handler; an `Err` says why it cannot be built here.
pub fn rust_handler() -> Result<PathBuf> {
    http_guests::rust_handler().map_err(|e| anyhow!(e))
}

/// Builds (or reuses) the JS handler (installing componentize-js with npm when it is
/// missing); an `Err` says why it cannot be built here.
pub fn js_handler() -> Result<PathBuf> {
    http_guests::js_handler().map_err(|e| anyhow!(e))
}

/// Component `wasm` compiled by `kiln compile` of the executable `kiln` (cached, shared with
/// the test suite).
pub fn compiled_so(kiln: &Path, wasm: &Path) -> Result<PathBuf> {
    guest_build::compiled_so(kiln, wasm).map_err(|e| anyhow!(e))
}
