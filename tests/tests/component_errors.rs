//! Arguments a C host gets wrong on the component call paths (`kiln.h`, "Argument mistakes do
//! not poison"): `samples/c-host/component_errors_test.c` passes invalid UTF-8, NULL pointers
//! with non-zero lengths, out-of-range discriminants, bad bools and chars through the typed
//! header (`kiln bindgen c`) and through dynamic values, and resource handles that are not in
//! the host handle table; each is a `KILN_ERROR_OTHER` error naming the argument and the
//! instance keeps working. A guest trap poisons the instance. A raw host callback's result with
//! a NULL pointer and a length is a trap for the calling guest, never a crash of the host.

use kiln_cli::commands::bindgen::{BindgenC, BindgenCommand, BindgenLang};
use kiln_cli::tempdir::TempDir;
use kiln_tests::chost::CHost;
use kiln_tests::tools::run_program;
use kiln_tests::workspace;
use std::path::{Path, PathBuf};

/// Compiles `tests/components/NAME.wat` to `dir/NAME.so` and writes its header `PREFIX.h`.
fn component(dir: &Path, name: &str, prefix: &str) -> PathBuf {
    let wasm = wat::parse_file(workspace().join(format!("tests/components/{name}.wat")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let so = dir.join(format!("{name}.so"));
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let cmd = BindgenCommand {
        lang: BindgenLang::C(BindgenC {
            file: so.clone(),
            output: Some(dir.join(format!("{prefix}.h"))),
            prefix: Some(prefix.into()),
            exclude: Vec::new(),
            keep_wasi: false,
        }),
    };
    assert_eq!(cmd.execute().expect("bindgen"), 0);
    so
}

#[test]
fn argument_mistakes_are_errors_and_traps_poison() {
    let dir = TempDir::new("kiln-component-errors").unwrap();
    let so = component(dir.path(), "calls", "calls");
    let hh = component(dir.path(), "handles_host", "hh");
    let hi = component(dir.path(), "host_imports", "hi");
    let exe = CHost::new(&workspace().join("samples/c-host/component_errors_test.c"))
        .include(dir.path())
        .build(dir.path(), "component_errors_test");
    let (ok, out, err) = run_program(&exe, &[&so, &hh, &hi]);
    let show = format!("stdout:\n{out}\nstderr:\n{err}");
    for line in [
        "fresh: poisoned 0",
        "typed invalid utf-8: kind 3, poisoned 0, argument 0 (`x`): string is not valid UTF-8 \
         (invalid byte at offset 1)",
        "typed NULL string: kind 3, poisoned 0, argument 0 (`x`): string has a NULL pointer \
         and length 3",
        "typed NULL list: kind 3, poisoned 0, argument 0 (`x`): list has a NULL pointer and \
         length 2",
        "typed nested utf-8: kind 3, poisoned 0, argument 0 (`x[1]`): string is not valid \
         UTF-8 (invalid byte at offset 2)",
        "typed record char: kind 3, poisoned 0, argument 0 (`x.c`): char 0x110000 is not a \
         Unicode scalar value",
        "typed surrogate: kind 3, poisoned 0, argument 0 (`x`): char 0xd800 is not a Unicode \
         scalar value",
        "typed enum: kind 3, poisoned 0, argument 0 (`x`): enum case 3 out of range (the enum \
         has 3 cases)",
        "typed flags: kind 3, poisoned 0, argument 0 (`x`): flags word 0 (0x8) sets bits past \
         the 3 flags of the type",
        "typed variant: kind 3, poisoned 0, argument 0 (`x`): variant tag 4 out of range (the \
         type has 4 cases)",
        "typed option: kind 3, poisoned 0, argument 0 (`x`): option is_some byte 2 is neither \
         0 nor 1",
        "typed result payload: kind 3, poisoned 0, argument 0 (`x.ok`): string has a NULL \
         pointer and length 1",
        "raw bool: kind 3, poisoned 0, argument 0 (`x`): bool byte 2 is neither 0 nor 1",
        "raw bool (per-call): kind 3, poisoned 0, call is NULL",
        "post-return of NULL: kind 3, poisoned 0, call is NULL",
        "typed mistakes: poisoned 0",
        "dynamic invalid utf-8: kind 3, poisoned 0, argument 0 (`x`): string is not valid \
         UTF-8 (invalid byte at offset 1)",
        "dynamic NULL string: kind 3, poisoned 0, argument 0 (`x`): string pointer is NULL",
        "dynamic enum: kind 3, poisoned 0, argument 0 (`x`): enum case 9 out of range (the \
         enum has 3 cases)",
        "dynamic flags: kind 3, poisoned 0, argument 0 (`x`): flags word 0 (0x10) sets bits \
         past the 3 flags of the type",
        "dynamic mistakes: poisoned 0",
        "guest trap: kind 2, poisoned 1, invalid variant discriminant (case \
         index out of range)",
        "after trap: kind 2, poisoned 1, cannot enter component instance \
         (may_enter is false: reentrance or a pending post-return)",
        "NULL instance: poisoned 0",
        "typed unknown own: kind 3, poisoned 0, argument 0 (`t`): unknown handle index 999",
        "typed unknown borrow: kind 3, poisoned 0, argument 0 (`t`): unknown handle index 998",
        "dynamic unknown own: kind 3, poisoned 0, argument 0 (`t`): unknown handle index 997",
        "valid handle after mistakes: ok, poisoned 0",
        "raw callback NULL result: kind 2, poisoned 1, host function result: string has a NULL \
         pointer and length 3",
        "failures: 0",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing line `{line}`\n{show}"
        );
    }
    // One handle moved by argument 0 and lent by argument 1 of the same call.
    let both = "typed own and borrow of one handle: kind 3, poisoned 0, argument 1 (`b`): handle \
                index ";
    let rule = " already moves with an earlier argument of this call";
    assert!(
        out.lines()
            .any(|l| l.starts_with(both) && l.ends_with(rule)),
        "{show}"
    );
    assert!(ok, "component_errors_test failed\n{show}");
}
