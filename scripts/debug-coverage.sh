#!/usr/bin/env bash
# Variable-location coverage of kiln's translated DWARF (docs/debugging.md, "Coverage").
#
#   scripts/debug-coverage.sh GUEST.c [KILN]     KILN defaults to `kiln` on PATH
#
# Builds GUEST.c with `clang --target=wasm32-wasi -g` at -O0 and -O2 (a reactor unless it has
# `main`), compiles each with `KILN compile -g`, and prints for the .wasm and the .so what
# `llvm-dwarfdump --statistics` says: variables with a location, variables with none, and the
# share of parent-scope bytes their locations cover.
set -euo pipefail
src=${1:?usage: $0 GUEST.c [KILN]}
kiln=${2:-kiln}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
model=-mexec-model=reactor
grep -q '\bmain *(' "$src" && model=
stats() {
  llvm-dwarfdump --statistics "$2" | python3 -c '
import json, sys
d = json.load(sys.stdin)
covered = d["sum_all_variables(#bytes in parent scope covered by DW_AT_location)"]
scope = d["sum_all_variables(#bytes in parent scope)"]
print("%-24s %5d variables, %4d without location, %5.1f%% covered" % (
    sys.argv[1], d["#variables processed by location statistics"],
    d["#variables with 0% of parent scope covered by DW_AT_location"],
    100.0 * covered / max(scope, 1)))' "$1"
}
for o in 0 2; do
  clang --target=wasm32-wasi $model -g -O$o "$src" -o "$dir/O$o.wasm"
  "$kiln" compile -g "$dir/O$o.wasm" -o "$dir/O$o.so"
  stats "-O$o .wasm" "$dir/O$o.wasm"
  stats "-O$o .so" "$dir/O$o.so"
done
