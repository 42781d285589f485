//! Command line of `kiln-componentize` (see the library): the manual form of what the
//! real-component tests do.
//!
//! ```text
//! kiln-componentize embed CORE.wasm --wit WIT [--world NAME] [--encoding utf8|utf16|latin1+utf16] -o OUT.wasm
//! kiln-componentize command CORE.wasm -o OUT.wasm
//! kiln-componentize compose ROOT.wasm --def DEP.wasm [--def ...] -o OUT.wasm
//! ```

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

const USAGE: &str = "usage:
  kiln-componentize embed CORE.wasm --wit WIT [--world NAME] [--encoding utf8|utf16|latin1+utf16] -o OUT.wasm
  kiln-componentize command CORE.wasm -o OUT.wasm   (a wasi-libc command + the preview1 command adapter)
  kiln-componentize compose ROOT.wasm --def DEP.wasm [--def DEP.wasm ...] -o OUT.wasm";

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().context(USAGE)?;
    let (mut input, mut out, mut wit, mut world) = (None, None, None, None);
    let mut defs = Vec::new();
    let mut encoding = kiln_componentize::StringEncoding::UTF8;
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "-o" | "--output" => out = Some(PathBuf::from(value()?)),
            "--wit" => wit = Some(PathBuf::from(value()?)),
            "--world" => world = Some(value()?),
            "--encoding" => encoding = kiln_componentize::parse_encoding(&value()?)?,
            "--def" => defs.push(PathBuf::from(value()?)),
            _ if input.is_none() && !a.starts_with('-') => input = Some(PathBuf::from(&a)),
            _ => bail!("unexpected argument `{a}`\n{USAGE}"),
        }
    }
    let input = input.context(USAGE)?;
    let out = out.context(USAGE)?;
    let bytes = match cmd.as_str() {
        "embed" => {
            let core =
                std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
            let wit = wit.context(USAGE)?;
            kiln_componentize::componentize(&core, &wit, world.as_deref(), encoding)?
        }
        "command" => {
            let core =
                std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
            kiln_componentize::componentize_command(&core)?
        }
        "compose" => kiln_componentize::compose(&input, &defs)?,
        _ => bail!("unknown command `{cmd}`\n{USAGE}"),
    };
    std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))
}

fn main() {
    if let Err(e) = run() {
        eprintln!("kiln-componentize: {e:#}");
        std::process::exit(1);
    }
}
