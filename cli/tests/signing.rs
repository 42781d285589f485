//! Artifact trust from the command line: `kiln compile --cpu`, the fingerprint and checksum in
//! `kiln inspect`, `kiln keygen`, `kiln sign`, `kiln verify`, and `kiln run --trusted-keys`;
//! a file changed after compiling or signing is refused by each.

use std::path::Path;
use std::process::{Command, Output};

fn kiln(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
    c.env("XDG_CACHE_HOME", dir.join("cache"));
    c
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(cmd: &mut Command) -> String {
    let o = cmd.output().expect("run kiln");
    assert!(o.status.success(), "{cmd:?} failed:\n{}", out(&o));
    out(&o)
}

fn fails(cmd: &mut Command) -> String {
    let o = cmd.output().expect("run kiln");
    assert!(!o.status.success(), "{cmd:?} succeeded:\n{}", out(&o));
    out(&o)
}

const MODULE: &str = r#"(module (func (export "add") (param i32 i32) (result i32)
  (i32.add (local.get 0) (local.get 1))))"#;

#[test]
fn keygen_sign_verify_and_run_with_trusted_keys() {
    let dir = kiln_cli::tempdir::TempDir::new("kiln-sign-test").unwrap();
    let d = dir.path();
    std::fs::write(d.join("m.wat"), MODULE).unwrap();
    let so = d.join("m.so");
    ok(kiln(d)
        .args([
            "compile",
            "--target",
            "x86_64-unknown-linux-gnu",
            "--cpu",
            "x86-64-v2",
        ])
        .arg(d.join("m.wat"))
        .arg("-o")
        .arg(&so));
    // The fingerprint and checksum, shown statically.
    let report = ok(kiln(d).arg("inspect").arg(&so));
    for line in [
        "CPU baseline:   x86-64-v2",
        "fingerprint:    kiln=",
        ";cpu=x86-64-v2;",
        "(matches the file)",
        "(what `kiln sign` signs)",
    ] {
        assert!(report.contains(line), "no `{line}` in:\n{report}");
    }
    // Keys: a secret file readable only by its owner, a public file.
    ok(kiln(d).arg("keygen").arg("-o").arg(d.join("key")));
    ok(kiln(d).arg("keygen").arg("-o").arg(d.join("other")));
    let again = fails(kiln(d).arg("keygen").arg("-o").arg(d.join("key")));
    assert!(again.contains("failed to create"), "{again}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Verify without a key: structure and checksum only.
    let v = ok(kiln(d).arg("verify").arg(&so));
    assert!(v.contains("OK (structure and checksum"), "{v}");
    // Unsigned: verification with a key and runs that require one fail.
    let v = fails(
        kiln(d)
            .arg("verify")
            .arg("--key")
            .arg(d.join("key.pub"))
            .arg(&so),
    );
    assert!(v.contains("a signature is required"), "{v}");
    let run_signed = |keys: &str| {
        let mut c = kiln(d);
        c.args(["run", "--invoke", "add", "--trusted-keys"])
            .arg(d.join(keys))
            .arg(&so)
            .args(["2", "3"]);
        c
    };
    let r = fails(&mut run_signed("key.pub"));
    assert!(
        r.contains("refused before loading") && r.contains("signature"),
        "{r}"
    );
    // Signed: verifies and runs with the right key, not with another.
    let s = ok(kiln(d).arg("sign").arg("--key").arg(d.join("key")).arg(&so));
    assert!(s.contains("signed"), "{s}");
    assert!(d.join("m.so.sig").exists());
    ok(kiln(d)
        .arg("verify")
        .arg("--key")
        .arg(d.join("key.pub"))
        .arg(&so));
    assert_eq!(ok(&mut run_signed("key.pub")).trim(), "5");
    let r = fails(&mut run_signed("other.pub"));
    assert!(r.contains("not trusted"), "{r}");
    // Two keys in one trusted-keys file.
    let both = format!(
        "# team keys\n{}{}",
        std::fs::read_to_string(d.join("other.pub")).unwrap(),
        std::fs::read_to_string(d.join("key.pub")).unwrap()
    );
    std::fs::write(d.join("team.pub"), both).unwrap();
    assert_eq!(ok(&mut run_signed("team.pub")).trim(), "5");
    // A changed byte: refused by verify (checksum), run, and run with keys.
    let mut bytes = std::fs::read(&so).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&so, &bytes).unwrap();
    let v = fails(kiln(d).arg("verify").arg(&so));
    assert!(v.contains("checksum mismatch"), "{v}");
    let r = fails(
        kiln(d)
            .args(["run", "--invoke", "add"])
            .arg(&so)
            .args(["2", "3"]),
    );
    assert!(r.contains("checksum mismatch"), "{r}");
    let r = fails(&mut run_signed("key.pub"));
    assert!(r.contains("refused before loading"), "{r}");
    let i = fails(kiln(d).arg("inspect").arg(&so));
    assert!(i.contains("checksum:       MISMATCH"), "{i}");
    // --trusted-keys needs a .so: `kiln run` compiles a .wasm itself.
    let r = fails(
        kiln(d)
            .args(["run", "--invoke", "add", "--trusted-keys"])
            .arg(d.join("key.pub"))
            .arg(d.join("m.wat"))
            .args(["1", "2"]),
    );
    assert!(r.contains("applies to a kiln .so"), "{r}");
}

#[test]
fn compile_rejects_an_unknown_cpu_and_native_for_another_target() {
    let dir = kiln_cli::tempdir::TempDir::new("kiln-cpu-test").unwrap();
    let d = dir.path();
    std::fs::write(d.join("m.wat"), MODULE).unwrap();
    let e = fails(
        kiln(d)
            .args(["compile", "--cpu", "i486"])
            .arg(d.join("m.wat")),
    );
    assert!(
        e.contains("unknown CPU `i486`") && e.contains("x86-64-v3"),
        "{e}"
    );
    let e = fails(
        kiln(d)
            .args([
                "compile",
                "--target",
                "aarch64-unknown-linux-gnu",
                "--cpu",
                "native",
            ])
            .arg(d.join("m.wat"))
            .args(["--emit", "obj"]),
    );
    assert!(
        e.contains("`--cpu native` compiles for this machine's CPU"),
        "{e}"
    );
}
