//! Component type introspection from C (`kiln_component_export_*`, `kiln_ctype_*`): the C host
//! `samples/c-host/introspect.c` lists the exported functions of `tests/components/calls.wat`
//! with their parameter and result types, walking the type trees; the expected lines are the
//! component's own declarations, spelled as WIT spells them.

use kiln_cli::tempdir::TempDir;
use kiln_tests::chost::CHost;
use kiln_tests::tools::run_program;
use kiln_tests::workspace;

#[test]
fn c_host_lists_exports_with_their_types() {
    let dir = TempDir::new("kiln-introspect").unwrap();
    let wat = workspace().join("tests/components/calls.wat");
    let so = dir.path().join("calls.so");
    kiln_compiler::compile_to_file(
        &wat::parse_file(&wat).unwrap(),
        &Default::default(),
        kiln_compiler::Emit::So,
        &so,
    )
    .unwrap();
    let exe = CHost::new(&workspace().join("samples/c-host/introspect.c"))
        .build(dir.path(), "introspect");
    let (ok, stdout, stderr) = run_program(&exe, &[&so]);
    assert!(ok, "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    for expected in [
        "add-post(x: u32) -> u32",
        "post-count() -> u32",
        "echo-bool(x: bool) -> bool",
        "echo-f64(x: f64) -> f64",
        "echo-enum(x: enum { x, y, z }) -> enum { x, y, z }",
        "echo-flags(x: flags { r, w, x }) -> flags { r, w, x }",
        "echo-string(x: string) -> string",
        "echo-strings(x: list<string>) -> list<string>",
        "echo-rec(x: record { a: u8, b: string, c: char }) -> record { a: u8, b: string, c: char }",
        "echo-tuple(x: tuple<u64, bool>) -> tuple<u64, bool>",
        "echo-result(x: result<string, u32>) -> result<string, u32>",
        "option-arg(x: option<u32>) -> u32",
        "variant-arg(x: variant { a: u32, b: f32, c: u64, d }) -> u64",
    ] {
        assert!(
            lines.contains(&expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
    let sum17 = lines
        .iter()
        .find(|l| l.starts_with("sum17("))
        .expect("sum17");
    assert_eq!(sum17.matches(": u32").count(), 17, "{sum17}");
    // Every export is listed once, in the component's order.
    let names: Vec<&str> = lines.iter().map(|l| &l[..l.find('(').unwrap()]).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len());
    assert_eq!(names[0], "add-post");
}
