//! Build script of kiln-bench: tells the harness where libsqlite3-sys keeps its vendored
//! SQLite amalgamation (the large C program compiled to wasm for the compile rows).

fn main() {
    // libsqlite3-sys (`links = "sqlite3"`, feature `bundled`) prints `cargo:include=<dir>`.
    let dir = std::env::var("DEP_SQLITE3_INCLUDE").unwrap_or_default();
    println!("cargo:rustc-env=KILN_BENCH_SQLITE_DIR={dir}");
    println!("cargo:rerun-if-env-changed=DEP_SQLITE3_INCLUDE");
}
