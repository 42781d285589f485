#!/usr/bin/env bash
# Checks the expected outputs of samples/wasi/ against independent oracles (no wasm, no kiln):
#   sqlite/     the same main.c + VFS + amalgamation built natively with the host `cc`
#   python/     host CPython running the same app.py (a stub `wit_world` module)
#   c-command/  counts.txt recomputed with tr | sort | uniq -c
# With --update, rewrites the expected files instead of comparing (review the diff!).
#
# Usage: samples/wasi/native-oracle.sh [--update]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
UPDATE=0
[ "${1:-}" = "--update" ] && UPDATE=1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kiln-wasi-oracle.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail=0

same() { # same WHAT ACTUAL EXPECTED
    if [ "$UPDATE" = 1 ]; then
        cp "$2" "$3"
    elif cmp -s "$2" "$3"; then
        echo "ok: $1"
    else
        echo "MISMATCH: $1"
        diff "$3" "$2" | head -20 || true
        fail=1
    fi
}

# --- SQLite, native -------------------------------------------------------------------------
SQ=${SQLITE_DIR:-$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/libsqlite3-sys-0.30.1/sqlite3 | head -1)}
DEFS=(-DSQLITE_OS_OTHER=1 -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_TEMP_STORE=3
    -DSQLITE_OMIT_WAL -DSQLITE_MAX_MMAP_SIZE=0 -DSQLITE_OMIT_SHARED_CACHE -DSQLITE_DEFAULT_MEMSTATUS=0)
echo "building SQLite natively (cc, ~40 s)"
cc -O2 -w "${DEFS[@]}" -I"$SQ" "$HERE/sqlite/main.c" "$SQ/wasm32-wasi-vfs.c" "$SQ/sqlite3.c" \
    -o "$WORK/sqlite" -lm
mkdir "$WORK/db"
"$WORK/sqlite" "$WORK/db/shop.db" "$WORK/db/report.csv" > "$WORK/sqlite.out"
same "sqlite stdout" "$WORK/sqlite.out" "$HERE/sqlite/expected/stdout.txt"
same "sqlite report.csv" "$WORK/db/report.csv" "$HERE/sqlite/expected/files/report.csv"
(cd "$WORK/db" && for f in report.csv shop.db; do echo "$f $(stat -c %s "$f")"; done) > "$WORK/tree.txt"
same "sqlite tree" "$WORK/tree.txt" "$HERE/sqlite/expected/tree.txt"

# --- Python, host CPython -------------------------------------------------------------------
python3 - "$HERE/python" > "$WORK/python.out" <<'EOF'
import sys, types
sys.dont_write_bytecode = True
sys.modules["wit_world"] = types.SimpleNamespace(WitWorld=object)
sys.path.insert(0, sys.argv[1])
import app

def wave_string(s):  # the WAVE string literal `kiln run --invoke` prints
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

def parse_wave_call(line):  # `process("...")` -> the string argument
    body = line[len("invoke process("):-1]
    assert body[0] == '"' and body[-1] == '"'
    out, i = [], 1
    while i < len(body) - 1:
        c = body[i]
        if c == "\\":
            i += 1
            out.append({"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}[body[i]])
        else:
            out.append(c)
        i += 1
    return "".join(out)

world = app.WitWorld()
for line in open(sys.argv[1] + "/run.txt"):
    if line.startswith("invoke "):
        print(wave_string(world.process(parse_wave_call(line.rstrip("\n")))))
EOF
same "python stdout" "$WORK/python.out" "$HERE/python/expected/stdout.txt"

# --- C command: word counts -----------------------------------------------------------------
tr 'A-Z' 'a-z' < "$HERE/c-command/data/input.txt" | tr -cs "a-z'" '\n' | grep -v '^$' \
    | LC_ALL=C sort | uniq -c | LC_ALL=C sort -k1,1nr -k2,2 | awk '{print $1" "$2}' > "$WORK/counts.txt"
same "c-command counts.txt" "$WORK/counts.txt" "$HERE/c-command/expected/files/counts.txt"

exit $fail
