//! Reproducible output (issue 12): the same input and options give the same bytes whatever the
//! number of compile threads, the working directory, the output path, the temporary directory,
//! the time and the machine's load. Each input is compiled twice by the real `kiln compile`,
//! the two runs at the same time (each loading the machine for the other): `-j 1` in one
//! directory writing a relative path, `-j 2` in another writing an absolute path elsewhere.
//! Inputs: the bundled samples (`samples/*.wat`, `samples/c-host/*.wat`), a component written
//! in text, the WASI sample components (C, SQLite, Rust, and the ~18 MB componentize-py
//! component), and `-g` builds of a component and of a module with guest DWARF.
//!
//! Not covered by design: `-g` of a core module *without* DWARF names its WAT listing
//! (`<out>.wat`) by absolute path, so that build depends on the output directory.

use kiln_cli::tempdir::TempDir;
use kiln_tests::tools::kiln_exe;
use kiln_tests::wasi_samples::component;
use kiln_tests::workspace;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

const COMPONENT: &str = r#"
(component
  (core module $m
    (memory (export "mem") 1)
    (data (i32.const 8) "reproducible")
    (func (export "f") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))
  (core instance $i (instantiate $m))
  (func (export "inc") (param "x" u32) (result u32) (canon lift (core func $i "f"))))
"#;

/// Starts `kiln compile INPUT -o OUT ARGS` in `cwd` with its own temporary directory.
fn start(input: &Path, cwd: &Path, out: &Path, tmp: &Path, args: &[&str]) -> Child {
    std::fs::create_dir_all(cwd).unwrap();
    std::fs::create_dir_all(tmp).unwrap();
    Command::new(kiln_exe())
        .arg("compile")
        .arg(input)
        .arg("-o")
        .arg(out)
        .args(args)
        .current_dir(cwd)
        .env("TMPDIR", tmp)
        .spawn()
        .expect("start kiln compile")
}

fn finish(child: Child, what: &str) {
    let out = child.wait_with_output().expect("wait for kiln compile");
    assert!(out.status.success(), "{what}: kiln compile failed");
}

/// Where two files first differ, and the section holding that offset in `a`.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    use object::{Object, ObjectSection};
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let section = object::File::parse(a)
        .ok()
        .and_then(|f| {
            f.sections().find_map(|s| {
                let (o, n) = s.file_range()?;
                (at as u64 >= o && (at as u64) < o + n).then(|| s.name().unwrap_or("?").to_string())
            })
        })
        .unwrap_or_else(|| "no section".into());
    format!(
        "sizes {} and {}, first difference at {at:#x} ({section})",
        a.len(),
        b.len()
    )
}

/// Compiles `input` twice as the module documentation says and compares the bytes.
fn check(root: &Path, name: &str, input: &Path, extra: &[&str]) {
    let base = root.join(name);
    let a_dir = base.join("a");
    let b_dir = base.join("b/deep/cwd");
    let b_out = base.join("elsewhere/output-b.so");
    std::fs::create_dir_all(b_out.parent().unwrap()).unwrap();
    let mut a_args = vec!["-j", "1"];
    a_args.extend_from_slice(extra);
    let mut b_args = vec!["-j", "2"];
    b_args.extend_from_slice(extra);
    let a = start(
        input,
        &a_dir,
        Path::new("out-a.so"),
        &base.join("tmp-a"),
        &a_args,
    );
    let b = start(input, &b_dir, &b_out, &base.join("tmp-b"), &b_args);
    finish(a, name);
    finish(b, name);
    let a = std::fs::read(a_dir.join("out-a.so")).unwrap();
    let b = std::fs::read(&b_out).unwrap();
    assert!(
        a == b,
        "{name}: two compiles differ: {}",
        first_difference(&a, &b)
    );
    eprintln!("{name}: {} bytes, identical", a.len());
}

#[test]
fn samples_and_components_compile_to_identical_bytes() {
    let dir = TempDir::new("kiln-repro").unwrap();
    let root = dir.path();
    let samples = workspace().join("samples");
    let mut inputs: Vec<(String, PathBuf, Vec<&str>)> = Vec::new();
    for sub in [samples.clone(), samples.join("c-host")] {
        let mut wats: Vec<PathBuf> = std::fs::read_dir(&sub)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wat"))
            .collect();
        wats.sort();
        for w in wats {
            let name = w.file_stem().unwrap().to_string_lossy().into_owned();
            inputs.push((name, w, vec![]));
        }
    }
    assert!(inputs.len() >= 2, "no samples found");
    let text = root.join("component.wat");
    std::fs::write(&text, COMPONENT).unwrap();
    inputs.push(("component-wat".into(), text.clone(), vec![]));
    inputs.push(("component-wat-O0-g".into(), text, vec!["-O", "0", "-g"]));
    for sample in ["c-command", "sqlite", "rust-command", "python"] {
        if let Some(wasm) = component(sample) {
            inputs.push((sample.to_string(), wasm, vec![]));
        }
    }
    if let Some(wasm) = component("c-command") {
        inputs.push(("c-command-g".into(), wasm, vec!["-g"]));
    }
    for (name, input, extra) in &inputs {
        check(root, name, input, extra);
    }
}
