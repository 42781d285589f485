/* A guest for the debugger tests (tests/tests/debugger_production.rs): at -O2, clang describes
 * `m` right after the call by the wasm operand-stack slot that holds it
 * (`DW_OP_WASM_location 2 0`). */
__attribute__((noinline)) static int twice(int x) {
    return x * 2;
}

__attribute__((export_name("stacked"))) int stacked(int n) {
    int k = n * 7 + 3;
    int m = twice(k);
    return m + k;
}
