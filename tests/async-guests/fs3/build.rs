//! Links wasi-libc's `libc.a` (shipped with the wasm32-wasip2 target) for the memory
//! routines (`memcpy`, `memcmp`, ...) that compiler-builtins leaves to libc on this target.
//! Only those archive members are pulled in: none of them imports anything from WASI.
fn main() {
    println!("cargo:rustc-link-lib=static=c");
}
