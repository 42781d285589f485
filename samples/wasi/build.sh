#!/usr/bin/env bash
# Builds the WASI sample components of samples/wasi/ into OUT_DIR:
#   c-command.wasm  sqlite.wasm  rust-command.wasm  python.wasm
# from registry packages only (Debian clang/lld/wasi-libc, crates.io, PyPI). A component whose
# toolchain cannot be had here (the wasm32-wasip2 Rust target, componentize-py from PyPI) is
# skipped: the script prints why and writes OUT_DIR/<name>.skipped with the reason.
#
# Usage: samples/wasi/build.sh OUT_DIR
# Environment:
#   KILN_COMPONENTIZE  the kiln-componentize binary (default: built with cargo from the workspace)
#   CARGO_TARGET_DIR   where cargo builds the tool and the Rust sample (default: OUT_DIR/target)
#   KILN_PY_VENV       the componentize-py venv (default: $HOME/.cache/kiln-py/venv)
#   SQLITE_DIR         a directory holding sqlite3.c, sqlite3.h and wasm32-wasi-vfs.c (default:
#                      libsqlite3-sys 0.30.1's bundled sources, fetched with cargo if missing)
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$OUT/target}
case $CARGO_TARGET_DIR in /*) ;; *) CARGO_TARGET_DIR=$PWD/$CARGO_TARGET_DIR ;; esac
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kiln-wasi-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

skip() { # skip NAME REASON
    echo "build.sh: skipping $1: $2" >&2
    printf '%s\n' "$2" > "$OUT/$1.skipped"
}
step() { echo "build.sh: $*" >&2; }

# --- tools -------------------------------------------------------------------------------
if ! command -v clang >/dev/null; then
    echo "build.sh: clang is missing (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)" >&2
    exit 1
fi
if [ -z "${KILN_COMPONENTIZE:-}" ]; then
    step "building kiln-componentize"
    (cd "$ROOT" && cargo build --quiet -p kiln-componentize --bin kiln-componentize)
    KILN_COMPONENTIZE=$CARGO_TARGET_DIR/debug/kiln-componentize
fi
rm -f "$OUT"/*.skipped

# --- 1. the C command ------------------------------------------------------------------------
step "c-command: clang (wasm32-wasi, wasi-libc) + preview1 command adapter"
clang --target=wasm32-wasi -O2 -Wall -Werror \
    "$HERE/c-command/main.c" "$HERE/common/cabi_realloc.c" -o "$WORK/c-command.core.wasm"
"$KILN_COMPONENTIZE" command "$WORK/c-command.core.wasm" -o "$OUT/c-command.wasm"

# --- 2. SQLite -------------------------------------------------------------------------------
find_sqlite() {
    local home=${CARGO_HOME:-$HOME/.cargo} d
    for d in "$home"/registry/src/*/libsqlite3-sys-0.30.1/sqlite3; do
        if [ -f "$d/sqlite3.c" ] && [ -f "$d/wasm32-wasi-vfs.c" ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}
SQLITE_DIR=${SQLITE_DIR:-}
if [ -z "$SQLITE_DIR" ]; then
    if ! SQLITE_DIR=$(find_sqlite); then
        step "sqlite: fetching libsqlite3-sys 0.30.1 (bundled SQLite sources) with cargo"
        mkdir -p "$WORK/fetch/src"
        cat > "$WORK/fetch/Cargo.toml" <<'EOF'
[package]
name = "kiln-fetch-sqlite"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
libsqlite3-sys = { version = "=0.30.1", features = ["bundled"] }
[workspace]
EOF
        : > "$WORK/fetch/src/lib.rs"
        (cd "$WORK/fetch" && cargo fetch --quiet)
        SQLITE_DIR=$(find_sqlite) || { echo "build.sh: libsqlite3-sys sources not found after cargo fetch" >&2; exit 1; }
    fi
fi
# The SQLite configuration of tests/bench (no threads, no WAL, no mmap, temp files in memory);
# the VFS is libsqlite3-sys's wasm32-wasi-vfs.c (POSIX calls that wasi-libc provides).
SQLITE_DEFINES=(-DSQLITE_OS_OTHER=1 -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION
    -DSQLITE_TEMP_STORE=3 -DSQLITE_OMIT_WAL -DSQLITE_MAX_MMAP_SIZE=0 -DSQLITE_OMIT_SHARED_CACHE
    -DSQLITE_DEFAULT_MEMSTATUS=0)
step "sqlite: clang (wasm32-wasi) of $SQLITE_DIR/sqlite3.c (~40 s)"
clang --target=wasm32-wasi -O2 -w "${SQLITE_DEFINES[@]}" -I"$SQLITE_DIR" \
    -c "$SQLITE_DIR/sqlite3.c" -o "$WORK/sqlite3.o"
clang --target=wasm32-wasi -O2 -w "${SQLITE_DEFINES[@]}" -I"$SQLITE_DIR" \
    -c "$SQLITE_DIR/wasm32-wasi-vfs.c" -o "$WORK/vfs.o"
clang --target=wasm32-wasi -O2 -Wall -Werror "${SQLITE_DEFINES[@]}" -I"$SQLITE_DIR" \
    "$HERE/sqlite/main.c" "$HERE/common/cabi_realloc.c" "$WORK/vfs.o" "$WORK/sqlite3.o" \
    -o "$WORK/sqlite.core.wasm"
"$KILN_COMPONENTIZE" command "$WORK/sqlite.core.wasm" -o "$OUT/sqlite.wasm"

# --- 3. the Rust command ---------------------------------------------------------------------
SYSROOT=$(rustc --print sysroot 2>/dev/null || true)
if [ -z "$SYSROOT" ] || [ ! -d "$SYSROOT/lib/rustlib/wasm32-wasip2" ]; then
    skip rust-command "the wasm32-wasip2 Rust target is not installed (rustup target add wasm32-wasip2)"
else
    step "rust-command: cargo build --release --target wasm32-wasip2"
    (cd "$HERE/rust-command" && env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS \
        cargo build --quiet --locked --release --target wasm32-wasip2 \
        --target-dir "$CARGO_TARGET_DIR/samples-wasi-rust")
    cp "$CARGO_TARGET_DIR/samples-wasi-rust/wasm32-wasip2/release/rust-command.wasm" "$OUT/rust-command.wasm"
fi

# --- 4. the Python component -----------------------------------------------------------------
VENV=${KILN_PY_VENV:-$HOME/.cache/kiln-py/venv}
mkdir -p "$(dirname "$VENV")"
py_ok=1
if [ ! -x "$VENV/bin/componentize-py" ]; then
    step "python: installing componentize-py 0.25.1 from PyPI into $VENV"
    # Another test installs the same venv: one installer at a time.
    if ! flock "$(dirname "$VENV")/lock" bash -c '
            test -x "$1/bin/componentize-py" && exit 0
            python3 -m venv "$1" && "$1/bin/pip" install --quiet componentize-py==0.25.1' _ "$VENV" >&2; then
        py_ok=0
        skip python "componentize-py 0.25.1 could not be installed from PyPI into $VENV"
    fi
fi
if [ "$py_ok" = 1 ]; then
    step "python: componentize-py (CPython inside, ~20 s)"
    # componentize-py writes __pycache__ next to the app: build from a copy.
    mkdir -p "$WORK/python"
    cp "$HERE/python/app.py" "$WORK/python/"
    "$VENV/bin/componentize-py" --quiet -d "$HERE/python/wit" -w analyzer \
        componentize app -p "$WORK/python" -o "$OUT/python.wasm"
fi

ls -l "$OUT"/*.wasm >&2
