//! `--profile WHAT`: runs one kiln operation in a loop for a few seconds so `perf record`
//! can sample it (the work directory must hold the artifacts of a full run).
//! WHAT: `call-nop`, `host-nop`, `load-sqlite`, `load-py` (the componentize-py component), `string-64k`, `exec-KERNEL` (`int`, `float`,
//! `hash`, `lz`), `instantiate-NAME` (`empty`, `mem`, `data`: the instantiate rows' modules;
//! `component`). `load-compare OUT_DIR INPUT...` (`load_compare.rs`) compares load costs with
//! wasmtime instead.

use crate::engines::Kx;
use anyhow::{bail, Context, Result};
use kiln_runtime::{FuncType, Linker, Module, Val};
use std::time::{Duration, Instant};

fn for_seconds(secs: u64, mut op: impl FnMut()) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        for _ in 0..100 {
            op();
        }
    }
}

/// Runs the named operation for about five seconds.
pub fn run(what: &str) -> Result<()> {
    let work = crate::inputs::work_dir()?;
    let engine = kiln_runtime::Engine::default();
    match what {
        "call-nop" | "host-nop" => {
            let m = Module::load(&engine, &work.join("calls.so")).kx()?;
            let mut l = Linker::new(&engine);
            let ty = FuncType {
                params: vec![],
                results: vec![],
            };
            l.func_new("host", "nop", ty, |_, _, _| Ok(()));
            let i = l.instantiate(&m).kx()?;
            if what == "call-nop" {
                let f = i.get_func("nop").context("nop")?;
                for_seconds(5, || {
                    f.call(&[]).expect("nop");
                });
            } else {
                let f = i.get_func("call_host").context("call_host")?;
                for_seconds(5, || {
                    f.call(&[Val::I32(10_000)]).expect("call_host");
                });
            }
        }
        "load-sqlite" => {
            let p = work.join("sqlite.so");
            for_seconds(5, || drop(Module::load(&engine, &p).expect("load")));
        }
        "load-py" => {
            let p = work.join("py-component.so");
            for_seconds(5, || {
                drop(kiln_runtime::Component::load(&engine, &p).expect("load"));
            });
        }
        "string-64k" => {
            let c = kiln_runtime::Component::load(&engine, &work.join("component.so")).kx()?;
            let i = kiln_runtime::ComponentLinker::new(&engine)
                .instantiate(&c)
                .kx()?;
            let f = i.get_func("len").context("len")?;
            let s = "a".repeat(65536);
            let repr: [usize; 2] = [s.as_ptr() as usize, s.len()];
            for_seconds(5, || {
                let mut res = [0u64; 1];
                // SAFETY: `len(string) -> u32` with a valid `{ptr, len}` UTF-8 argument.
                let r = unsafe { i.call_raw(&f, repr.as_ptr().cast(), res.as_mut_ptr().cast()) }
                    .expect("len");
                i.post_return_raw(&f, r).expect("post-return");
            });
        }
        w if w.starts_with("exec-") => {
            let m = Module::load(&engine, &work.join("kernels.so")).kx()?;
            let i = kiln_runtime::Instance::new(&m, &[]).kx()?;
            let name = format!("{}_kernel", &w[5..]);
            let f = i.get_func(&name).context("no such kernel")?;
            let end = Instant::now() + Duration::from_secs(5);
            while Instant::now() < end {
                f.call(&[Val::I32(4)]).kx()?;
            }
        }
        "instantiate-component" => {
            let c = kiln_runtime::Component::load(&engine, &work.join("component.so")).kx()?;
            let pre = kiln_runtime::ComponentLinker::new(&engine)
                .instantiate_pre(&c)
                .kx()?;
            for_seconds(5, || drop(pre.instantiate().expect("instantiate")));
        }
        w if w.starts_with("instantiate-") => {
            let m = Module::load(&engine, &work.join(format!("{}.so", &w[12..]))).kx()?;
            let pre = Linker::new(&engine).instantiate_pre(&m).kx()?;
            for_seconds(5, || drop(pre.instantiate().expect("instantiate")));
        }
        other => bail!("unknown profile target {other}"),
    }
    Ok(())
}
