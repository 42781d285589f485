//! `kiln run`: load (or compile, cached) a module, instantiate it and call an export.
//!
//! A `.wasm`/`.wat` input is compiled into the user cache directory (`$XDG_CACHE_HOME/kiln` or
//! `~/.cache/kiln`), in a file named by the SHA-256 of the module, the kiln version and the
//! `kiln` executable's identity, so a second run skips the compiler.

use super::guest_args::GuestArgs;
use super::read_wasm;
use crate::backend::{self, Emit};
use crate::tempdir::TempDir;
use crate::values::{format_result, parse_arg};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use kiln_compiler::Config;
use kiln_environ::TrapKind;
use kiln_runtime::{Engine, EngineConfig, Error, FrameInfo, Module, Trap};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Arguments of `kiln run`.
#[derive(Args, Debug)]
pub struct RunCommand {
    /// The exported function to call (default: `_start`).
    #[arg(long, value_name = "NAME")]
    pub invoke: Option<String>,
    /// Interrupt the guest after this long (e.g. `1s`, `500ms`, `2m`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// The WASI grants and the signature requirement (shared with `kiln serve`).
    #[command(flatten)]
    pub guest: GuestArgs,
    /// The module or component: a kiln `.so`, or a `.wasm`/`.wat` to compile first.
    pub file: PathBuf,
    /// Arguments: for a WASI command component, its program arguments; for a core module's
    /// `--invoke`, the function's arguments, parsed by its parameter types.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

impl RunCommand {
    /// Runs; returns the exit status.
    pub fn execute(self) -> Result<i32> {
        let config = EngineConfig {
            trusted_keys: self.guest.trusted_keys(&self.file, "kiln run")?,
            ..EngineConfig::default()
        };
        let engine = Engine::new(config);
        if let Some(component) = self.load_component(&engine)? {
            if self.invoke.is_some() && !self.args.is_empty() {
                bail!("component arguments go inside --invoke, in WAVE: 'name(arg, ...)'");
            }
            let wasi = self.wasi_config()?;
            return super::run_component::run_component(
                &engine,
                &component,
                self.invoke.as_deref(),
                wasi,
                self.timeout,
            );
        }
        let module = self.load(&engine)?;
        if let Some(import) = module.imports().first() {
            let hint = if import.module.starts_with("wasi_snapshot_preview1") {
                " (kiln runs WASI 0.2 components: turn a preview1 module into a component with \
                 the preview1 command adapter, e.g. `wasm-tools component new --adapt`)"
            } else {
                ""
            };
            bail!(
                "`{}` imports `{}::{}`, which `kiln run` cannot provide{hint}",
                self.file.display(),
                import.module,
                import.name
            );
        }
        if self.guest.grants_any() {
            bail!("--dir, --env and --inherit-network apply to WASI components only");
        }
        // The deadline covers the start function too: it is set before instantiation.
        let mut linker = kiln_runtime::Linker::new(&engine);
        if let Some(timeout) = self.timeout {
            linker.set_epoch_deadline(1);
            start_timeout(&engine, timeout)?;
        }
        let instance = linker
            .instantiate(&module)
            .map_err(|e| runtime_error(e, "failed to instantiate"))?;
        let name = match &self.invoke {
            Some(name) => name.as_str(),
            None if instance.get_func("_start").is_some() => "_start",
            None => bail!("no --invoke given and module has no _start export"),
        };
        let func = instance
            .get_func(name)
            .ok_or_else(|| anyhow!("module has no exported function named `{name}`"))?;
        let ty = func.ty();
        if ty.params.len() != self.args.len() {
            bail!(
                "`{name}` takes {} arguments {ty}, {} given",
                ty.params.len(),
                self.args.len()
            );
        }
        let args = ty
            .params
            .iter()
            .zip(&self.args)
            .enumerate()
            .map(|(i, (t, a))| parse_arg(*t, a).with_context(|| format!("argument {}", i + 1)))
            .collect::<Result<Vec<_>>>()?;
        let results = func
            .call(&args)
            .map_err(|e| runtime_error(e, &format!("failed to invoke `{name}`")))?;
        for r in &results {
            println!("{}", format_result(r));
        }
        Ok(0)
    }

    /// The WASI configuration of a command run: stdio inherited, the program name and
    /// arguments, `--env`, `--dir`, `--inherit-network`.
    fn wasi_config(&self) -> Result<kiln_runtime::wasi::WasiConfig> {
        let mut cfg = kiln_runtime::wasi::WasiConfig::new();
        cfg.inherit_stdio();
        let mut args = vec![self.file.to_string_lossy().into_owned()];
        args.extend(self.args.iter().cloned());
        cfg.args(&args);
        self.guest.grant(&mut cfg)?;
        Ok(cfg)
    }

    /// Whether the input is a shared object (by extension or by its ELF header).
    fn is_so(&self) -> bool {
        is_so(&self.file)
    }

    /// The component, when the input is one (a component `.wasm`/`.wat`, compiled and cached,
    /// or a component `.so`).
    fn load_component(&self, engine: &Engine) -> Result<Option<kiln_runtime::Component>> {
        load_component_file(engine, &self.file)
    }

    fn load(&self, engine: &Engine) -> Result<Module> {
        if self.is_so() {
            return Module::load(engine, &self.file)
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| format!("failed to load `{}`", self.file.display()));
        }
        let wasm = read_wasm(&self.file)?;
        let compiled = cached_compile(&wasm, &self.file, false)?;
        let module = match Module::load(engine, &compiled.path) {
            Ok(m) => m,
            // A stale or damaged cache entry: compile again once.
            Err(Error::Load(_)) => {
                let again = cached_compile(&wasm, &self.file, true)?;
                Module::load(engine, &again.path)
                    .map_err(|e| anyhow!("{e}"))
                    .with_context(|| format!("failed to load `{}`", again.path.display()))?
            }
            Err(e) => {
                return Err(anyhow!("{e}"))
                    .with_context(|| format!("failed to load `{}`", compiled.path.display()))
            }
        };
        Ok(module)
    }
}

/// Whether `file` is a shared object (by extension or by its ELF header).
pub(crate) fn is_so(file: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    file.extension().is_some_and(|e| e == "so")
        || std::fs::File::open(file)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok_and(|()| magic == *b"\x7fELF")
}

/// The component in `file`, when it holds one: a component `.wasm`/`.wat` (compiled and
/// cached) or a component `.so`; `None` for a core module.
pub(crate) fn load_component_file(
    engine: &Engine,
    file: &Path,
) -> Result<Option<kiln_runtime::Component>> {
    if is_so(file) {
        // Decide statically, without loading (the loader's own verifier): a module `.so`
        // opened and closed as a failed component, then opened again, loses lldb's
        // breakpoints in it.
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?;
        if !super::inspect::is_component(&bytes) {
            return Ok(None);
        }
        return kiln_runtime::Component::load(engine, file)
            .map(Some)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("failed to load `{}`", file.display()));
    }
    let wasm = read_wasm(file)?;
    if !kiln_compiler::component::is_component(&wasm) {
        return Ok(None);
    }
    let compiled = cached_compile(&wasm, file, false)?;
    let component = match super::run_component::load_component(engine, &compiled.path) {
        Ok(c) => c,
        Err(_) => {
            let again = cached_compile(&wasm, file, true)?;
            super::run_component::load_component(engine, &again.path)?
        }
    };
    Ok(Some(component))
}

/// A runtime error as an anyhow error; a trap is shown as is (message and backtrace), with the
/// trap kind's text guaranteed to appear.
pub(super) fn runtime_error(e: Error, context: &str) -> anyhow::Error {
    match e {
        Error::Trap(t) => anyhow!("{}", format_trap(&t)),
        other => anyhow!("{context}: {other}"),
    }
}

/// A trap's message (with the trap kind's text guaranteed to appear) and its backtrace, runs
/// of identical frames (deep recursion) folded into one line.
pub fn format_trap(t: &Trap) -> String {
    let mut out = match t.kind {
        // A host function's error: its message, with the kind's text when it lacks it.
        TrapKind::HostError if !t.message.contains(t.kind.message()) => {
            format!("{}: {}", t.kind.message(), t.message)
        }
        TrapKind::HostError => t.message.clone(),
        // A guest trap as wasmtime renders it (`wasm trap: ...`).
        _ => t.rendered(),
    };
    if t.backtrace.is_empty() {
        return out;
    }
    out.push_str("\nwasm backtrace:");
    let frame = |f: &FrameInfo| {
        let mut s = String::new();
        if let Some(m) = &f.module_name {
            s.push_str(m);
            s.push('!');
        }
        match &f.func_name {
            Some(n) => s.push_str(n),
            None => s.push_str(&format!("<wasm function {}>", f.func_index)),
        }
        if let Some(o) = f.wasm_offset {
            s.push_str(&format!(" (offset {o:#x})"));
        }
        if let Some((file, line)) = &f.source {
            s.push_str(&format!("\n           at {file}:{line}"));
        }
        s
    };
    let mut i = 0;
    while i < t.backtrace.len() {
        let text = frame(&t.backtrace[i]);
        let run = t.backtrace[i..]
            .iter()
            .take_while(|f| **f == t.backtrace[i])
            .count();
        out.push_str(&format!("\n    {i}: {text}"));
        if run > 2 {
            out.push_str(&format!("\n       ... {} more identical frames", run - 1));
            i += run;
        } else {
            i += 1;
        }
    }
    out
}

/// The cache directory for compiled modules.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("kiln"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("kiln")),
        None => bail!("cannot find a cache directory: neither XDG_CACHE_HOME nor HOME is set"),
    }
}

/// The cache key of a module: the input, the kiln version and ABI, and the identity (size and
/// modification time) of the running `kiln` executable, so a rebuilt compiler never reuses
/// code an older build produced.
fn cache_key(wasm: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(kiln_environ::KILN_VERSION.as_bytes());
    h.update([0]);
    h.update(kiln_environ::ABI_VERSION.to_le_bytes());
    if let Ok(meta) = std::env::current_exe().and_then(std::fs::metadata) {
        h.update(meta.len().to_le_bytes());
        if let Ok(t) = meta.modified() {
            let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            h.update(since.as_nanos().to_le_bytes());
        }
    }
    h.update(wasm);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a compiled module lives: the cache, or a temporary directory (kept alive with it)
/// when the cache cannot be written.
struct CompiledPath {
    path: PathBuf,
    _temp: Option<TempDir>,
}

/// Compiles `wasm` into the cache unless it is there already (or `force`); falls back to a
/// temporary directory when the cache directory cannot be created.
fn cached_compile(wasm: &[u8], source: &Path, force: bool) -> Result<CompiledPath> {
    let compile = |out: &Path| {
        backend::compile_to_file(wasm, &Config::default(), Emit::So, out)
            .with_context(|| format!("failed to compile `{}`", source.display()))
    };
    let dir = match cache_dir().and_then(|d| Ok(std::fs::create_dir_all(&d).map(|()| d)?)) {
        Ok(dir) => dir,
        Err(_) => {
            let temp =
                TempDir::new("kiln-run").context("failed to create a temporary directory")?;
            let path = temp.path().join("module.so");
            compile(&path)?;
            return Ok(CompiledPath {
                path,
                _temp: Some(temp),
            });
        }
    };
    let name = cache_key(wasm);
    let path = dir.join(format!("{name}.so"));
    if !path.exists() || force {
        let tmp = dir.join(format!("{name}.{}.tmp.so", std::process::id()));
        compile(&tmp)?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    Ok(CompiledPath { path, _temp: None })
}

/// Parses `1s`, `500ms`, `2m`, `1h`, `1.5s`, `100us` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("invalid duration `{s}`"))?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "invalid duration unit `{other}` (use ns, us, ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("invalid duration `{s}`: {e}"))
}

/// Starts the thread that ends every epoch deadline of `engine` after `timeout`.
pub(super) fn start_timeout(engine: &Engine, timeout: Duration) -> Result<()> {
    let engine = engine.clone();
    std::thread::Builder::new()
        .name("kiln-timeout".into())
        .spawn(move || {
            std::thread::sleep(timeout);
            engine.increment_epoch();
        })
        .context("failed to start the timeout thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{format_trap, parse_duration};
    use kiln_runtime::{FrameInfo, Trap, TrapKind};
    use std::time::Duration;

    #[test]
    fn trap_backtraces_fold_recursion() {
        let frame = |func_index, off| FrameInfo {
            func_index,
            func_name: None,
            module_name: None,
            wasm_offset: Some(off),
            source: None,
        };
        let mut backtrace = vec![frame(1, 0x10)];
        backtrace.extend(std::iter::repeat_n(frame(2, 0x20), 100));
        backtrace.push(FrameInfo {
            source: Some(("calc.c".into(), 4)),
            ..frame(3, 0x30)
        });
        let t = Trap {
            kind: TrapKind::StackOverflow,
            message: "call stack exhausted".into(),
            backtrace,
            exit_status: None,
            exception: None,
        };
        let text = format_trap(&t);
        assert_eq!(
            text,
            "wasm trap: call stack exhausted\nwasm backtrace:\n    0: <wasm function 1> (offset 0x10)\n    \
             1: <wasm function 2> (offset 0x20)\n       ... 99 more identical frames\n    \
             101: <wasm function 3> (offset 0x30)\n           at calc.c:4"
        );
        let t = Trap {
            kind: TrapKind::HostError,
            message: "boom".into(),
            backtrace: vec![],
            exit_status: None,
            exception: None,
        };
        assert_eq!(format_trap(&t), "host function error: boom");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }
}
