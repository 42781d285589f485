//! The loader target: real kiln `.so` files and hostile shared objects, mutated where the
//! loader reads them, loaded by the runtime in a child process.
//!
//! Seeds: modules compiled from text (a memory with a data image, tables and globals, a
//! start function), a component, and the hostile shared objects of `kiln_tests::hostile`, whose
//! constructors, IFUNC resolvers and dependencies would write a marker file if anything ran
//! them. Each iteration mutates one seed 1–3 times — a byte, a bit or an aligned word set to an
//! interesting value (0, 0x10, the file length, 2^32, all ones...) in the ELF header, the
//! program headers, the dynamic section, the relocations, the dynamic symbols and hash table,
//! the descriptor, the fingerprint, the metadata or anywhere, or a truncation — and three in
//! four mutants that still pass the static verifier get their checksum recomputed, so the
//! checks behind it (fingerprint, metadata, `dlopen`, the mapping, instantiation) are reached. A child
//! process (this executable with `--load-child`) reads the file with `kiln inspect`'s static
//! reader, loads it as a module and as a component and, when it is accepted without imports or
//! a start function, instantiates it. The child must exit with "accepted" (0) or "refused"
//! (2): a signal, a panic, another status, a time-out or a marker file is a failure.

use crate::{save_failure, Args, Rng};
use kiln_environ::artifact::elf::{ElfFile, PT_DYNAMIC};
use kiln_environ::artifact::{seal, verify};
use kiln_runtime::{Component, Engine, Error, Instance, Module};
use kiln_tests::hostile::{self, Trick};
use std::ops::Range;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Child exit status: the file was accepted (loaded, and instantiated when possible).
const ACCEPTED: i32 = 0;
/// Child exit status: the file was refused with a load error.
const REFUSED: i32 = 2;

const MODULES: [&str; 3] = [
    r#"(module
      (memory (export "memory") 1 4)
      (data (i32.const 0) "kiln loader fuzz")
      (data (i32.const 70000) "second page")
      (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0))))"#,
    r#"(module
      (type $t (func (result i32)))
      (table (export "t") 4 funcref)
      (global $g (export "g") (mut i64) (i64.const 42))
      (elem (i32.const 1) $a $b)
      (func $a (type $t) (i32.const 1))
      (func $b (type $t) (i32.const 2))
      (func (export "call") (param i32) (result i32) (call_indirect (type $t) (local.get 0))))"#,
    r#"(module
      (memory 1)
      (global $x (mut i32) (i32.const 0))
      (func $init (global.set $x (i32.const 9)))
      (start $init)
      (func (export "x") (result i32) (global.get $x)))"#,
];

const COMPONENT: &str = r#"(component
  (core module $m (func (export "f") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3))))
  (core instance $i (instantiate $m))
  (func (export "triple") (param "x" s32) (result s32) (canon lift (core func $i "f"))))"#;

/// The parts of a seed mutations aim at: the ELF structures first, then (for kiln files) the
/// descriptors, fingerprints and metadata, which mutations pick half the time.
fn regions(bytes: &[u8]) -> (Vec<Range<usize>>, Vec<Range<usize>>) {
    let len = bytes.len();
    let mut out = vec![0..64.min(len), 0..len];
    let mut kiln = Vec::new();
    let Ok(elf) = ElfFile::parse(bytes) else {
        return (out, kiln);
    };
    let ph = elf.header.phoff as usize;
    out.push(ph..(ph + 56 * elf.phdrs.len()).min(len));
    if let Some(d) = elf.phdrs.iter().find(|p| p.p_type == PT_DYNAMIC) {
        out.push(d.offset as usize..(d.offset + d.filesz) as usize);
        if let Ok(entries) = elf.dynamic(d) {
            let tag = |t: u64| entries.iter().find(|e| e.tag == t).map(|e| e.val);
            for (addr, size) in [
                (tag(7), tag(8)),
                (tag(6), Some(48)),
                (tag(0x6fff_fef5), Some(64)),
            ] {
                if let (Some(a), Some(n)) = (addr, size) {
                    if let Some(o) = elf.file_offset(a, n) {
                        out.push(o as usize..(o + n) as usize);
                    }
                }
            }
        }
    }
    if let Ok(v) = verify(bytes, None) {
        let d = v.descriptor_offset as usize;
        kiln.push(d..d + 96);
        let heads = v
            .module
            .iter()
            .map(|m| m.head.clone())
            .chain(v.component.iter().map(|c| c.head.clone()))
            .chain(v.component_modules.iter().map(|(_, m)| m.head.clone()));
        for h in heads {
            for span in [h.metadata, h.fingerprint] {
                if let Some(o) = v.file_offset(span.addr, span.len) {
                    kiln.push(o as usize..(o + span.len) as usize);
                }
            }
        }
    }
    out.retain(|r| r.start < r.end && r.end <= len);
    kiln.retain(|r| r.start < r.end && r.end <= len);
    (out, kiln)
}

/// Applies 1–3 random mutations to `bytes`.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, regions: &(Vec<Range<usize>>, Vec<Range<usize>>)) {
    let interesting = |bytes: &Vec<u8>, rng: &mut Rng| -> u64 {
        match rng.below(10) {
            0 => 0,
            1 => 0x10,
            2 => bytes.len() as u64,
            3 => bytes.len() as u64 - 1,
            4 => 1 << 32,
            5 => u64::MAX,
            6 => 0x1000,
            7 => rng.below(256),
            8 => 0x7fff_ffff_ffff_fff0,
            _ => rng.next_u64(),
        }
    };
    for _ in 0..1 + rng.below(3) {
        if bytes.is_empty() {
            return;
        }
        let (elf, kiln) = regions;
        let pick = if kiln.is_empty() || rng.below(2) == 0 {
            elf
        } else {
            kiln
        };
        let r = pick[rng.below(pick.len() as u64) as usize].clone();
        let r = r.start.min(bytes.len())..r.end.min(bytes.len());
        if r.is_empty() {
            continue;
        }
        let at = r.start + rng.below((r.end - r.start) as u64) as usize;
        match rng.below(8) {
            0 | 1 => bytes[at] = rng.next_u64() as u8,
            2 | 3 => bytes[at] ^= 1 << rng.below(8),
            4..=6 => {
                let at = at & !7;
                if at + 8 <= bytes.len() {
                    let v = interesting(bytes, rng);
                    let w = if rng.below(2) == 0 {
                        v
                    } else {
                        v & 0xffff_ffff
                    };
                    bytes[at..at + 8].copy_from_slice(&w.to_le_bytes());
                }
            }
            _ if rng.below(4) == 0 => {
                let keep = rng.below(bytes.len() as u64) as usize;
                bytes.truncate(keep);
            }
            _ => bytes[at] = bytes[at].wrapping_add(1),
        }
    }
}

/// Builds the seeds: compiled modules and a component, and hostile shared objects.
fn seeds(dir: &Path, marker: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let compile = |name: &str, wat: &str| {
        let wasm = wat::parse_str(wat).expect("seed parses");
        let path = dir.join(format!("{name}.so"));
        kiln_compiler::compile_to_file(
            &wasm,
            &kiln_compiler::Config::default(),
            kiln_compiler::Emit::So,
            &path,
        )
        .expect("seed compiles");
        (name.to_string(), std::fs::read(&path).expect("read seed"))
    };
    for (i, wat) in MODULES.iter().enumerate() {
        out.push(compile(&format!("module{i}"), wat));
    }
    out.push(compile("component", COMPONENT));
    for trick in Trick::ALL {
        let so = hostile::build(&dir.join(format!("{trick:?}")), "hostile.so", trick, marker);
        out.push((
            format!("{trick:?}"),
            std::fs::read(&so).expect("read hostile seed"),
        ));
    }
    out
}

/// How a child load ended.
enum Ending {
    Exited(i32, String),
    Signal(i32, String),
    TimedOut,
}

fn load_in_child(path: &Path, timeout: Duration) -> Ending {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = match Command::new(exe)
        .arg("--load-child")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Ending::Exited(-1, format!("cannot start the child: {e}")),
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                use std::os::unix::process::ExitStatusExt;
                return match (status.code(), status.signal()) {
                    (Some(c), _) => Ending::Exited(c, err),
                    (None, Some(s)) => Ending::Signal(s, err),
                    _ => Ending::Exited(-1, err),
                };
            }
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Ending::TimedOut;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Ending::Exited(-1, format!("wait failed: {e}")),
        }
    }
}

/// Runs the loader target; returns the number of failures.
pub fn run(args: &Args) -> u64 {
    let started = Instant::now();
    let dir = kiln_cli::tempdir::TempDir::new("kiln-fuzz-loader").expect("temp dir");
    let marker = dir.path().join("code-ran.marker");
    let seeds = seeds(dir.path(), &marker);
    let seed_regions: Vec<_> = seeds.iter().map(|(_, b)| regions(b)).collect();
    let mut rng = Rng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let timeout = Duration::from_secs(args.timeout);
    let budget = Duration::from_secs(args.budget);
    let (mut accepted, mut refused, mut resealed, mut failures, mut done) = (0u64, 0u64, 0, 0, 0);
    for i in 0..args.iterations {
        if started.elapsed() > budget {
            println!("loader fuzz: wall-time budget of {budget:?} spent after {i} iterations");
            break;
        }
        // Three in four mutants come from kiln's own files (the first seeds), so most reach
        // the checks behind the verifier; the rest from the hostile ones.
        let kiln_seeds = (MODULES.len() + 1) as u64;
        let s = if rng.below(4) != 0 {
            rng.below(kiln_seeds) as usize
        } else {
            (kiln_seeds + rng.below(seeds.len() as u64 - kiln_seeds)) as usize
        };
        let (name, seed) = &seeds[s];
        let mut mutant = seed.clone();
        mutate(&mut rng, &mut mutant, &seed_regions[s]);
        if rng.below(4) != 0 && seal(&mut mutant).is_ok() {
            resealed += 1;
        }
        let file = dir
            .path()
            .join(["mutant.so", "mutant.wasm", "mutant"][rng.below(3) as usize]);
        std::fs::write(&file, &mutant).expect("write mutant");
        let ending = load_in_child(&file, timeout);
        let _ = std::fs::remove_file(&file);
        done += 1;
        let problem = match ending {
            Ending::Exited(ACCEPTED, _) => {
                accepted += 1;
                None
            }
            Ending::Exited(REFUSED, _) => {
                refused += 1;
                None
            }
            Ending::Exited(code, err) => Some(format!("child exited with status {code}: {err}")),
            Ending::Signal(sig, err) => Some(format!("child killed by signal {sig}: {err}")),
            Ending::TimedOut => Some(format!("load did not finish within {timeout:?}")),
        };
        let problem = match (problem, marker.exists()) {
            (p, true) => {
                let _ = std::fs::remove_file(&marker);
                Some(format!(
                    "code from the file ran (marker written){}",
                    p.map(|p| format!("; {p}")).unwrap_or_default()
                ))
            }
            (p, false) => p,
        };
        if let Some(p) = problem {
            failures += 1;
            let path = save_failure("loader", i, "so", &mutant);
            eprintln!(
                "FAIL loader iteration {i} (seed {name}): {p} ({})",
                path.display()
            );
        }
    }
    println!(
        "loader fuzz: {done} mutants of {} seeds in {:.1} s ({resealed} with a recomputed \
         checksum): {accepted} accepted, {refused} refused, {failures} failed",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
    failures
}

/// The child: reads `path` statically, loads it as a module and as a component; exits 0 when
/// accepted, 2 when refused with a load error (anything else is a failure).
pub fn child(path: &Path) -> i32 {
    let Ok(bytes) = std::fs::read(path) else {
        return REFUSED;
    };
    // The static reader of `kiln inspect` must not panic either (a panic exits with 101).
    let _ = kiln_cli::commands::inspect::inspect(&bytes);
    let engine = Engine::default();
    let unexpected = |what: &str, e: Error| {
        eprintln!("{what}: unexpected error kind: {e}");
        3
    };
    match Module::load(&engine, path) {
        Ok(m) => {
            if m.imports().is_empty() && m.metadata().start.is_none() {
                let _ = Instance::new(&m, &[]);
            }
            return ACCEPTED;
        }
        Err(Error::Load(_)) => {}
        Err(e) => return unexpected("module", e),
    }
    match Component::load(&engine, path) {
        Ok(_) => ACCEPTED,
        Err(Error::Load(_)) => REFUSED,
        Err(e) => unexpected("component", e),
    }
}
