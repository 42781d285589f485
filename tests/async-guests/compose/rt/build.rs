//! Links wasi-libc's `libc.a` (shipped with the wasm32-wasip2 target) for the memory routines
//! (`memcpy`, `memset`, ...) compiler-builtins leaves to libc on this target; none of those
//! archive members imports anything from WASI.
fn main() {
    println!("cargo:rustc-link-lib=c");
}
