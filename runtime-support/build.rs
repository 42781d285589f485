//! Build script of `kiln-runtime`: compiles `src/traps.c`, the tiny C helper that owns the
//! `sigsetjmp`/`siglongjmp` pair used to unwind from a guest trap back to the runtime's entry
//! point (Rust cannot call `setjmp` itself: a function that returns twice is outside its model).

fn main() {
    println!("cargo:rerun-if-changed=src/traps.c");
    cc::Build::new()
        .file("src/traps.c")
        .flag_if_supported("-fno-omit-frame-pointer")
        .compile("kiln_traps");
}
