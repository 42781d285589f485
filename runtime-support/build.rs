//! Build script of `kiln-runtime`: compiles `src/traps.c`, the tiny C helper that owns the
//! `sigsetjmp`/`siglongjmp` pair used to unwind from a guest trap back to the runtime's entry
//! point (Rust cannot call `setjmp` itself: a function that returns twice is outside its model).
//!
//! With `KILN_RUNTIME_SONAME` set (by `scripts/install-runtime`: `libkiln_runtime.so.N` for
//! N = `KILN_ABI_VERSION`), the cdylib gets that SONAME, so hosts linked against an installed
//! copy record the versioned name. In-tree builds leave it unset: a host linked against
//! `target/*/libkiln_runtime.so` then loads that very file (cargo writes no versioned names).

fn main() {
    println!("cargo:rerun-if-changed=src/traps.c");
    println!("cargo:rerun-if-env-changed=KILN_RUNTIME_SONAME");
    if let Ok(soname) = std::env::var("KILN_RUNTIME_SONAME") {
        let ok = !soname.is_empty()
            && soname
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
        if !ok {
            panic!("KILN_RUNTIME_SONAME `{soname}` is not a plain library file name");
        }
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    cc::Build::new()
        .file("src/traps.c")
        .flag_if_supported("-fno-omit-frame-pointer")
        .compile("kiln_traps");
}
