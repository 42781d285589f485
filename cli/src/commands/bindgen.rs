//! `kiln bindgen c FILE.so`: writes a typed C header for a compiled component's world, on top
//! of `kiln.h`'s component API.
//!
//! The header has a C type for every WIT type the world uses (`bindgen/ctypes.rs`, laid out as
//! the host C representation with static assertions), and
//! - for each export, a typed function calling `kiln_component_func_call_raw` (the arguments
//!   struct goes straight to the compiled glue), plus `PREFIX_exports_init/_delete` to look the
//!   functions up once; results with strings or lists stay valid until
//!   `PREFIX_NAME_post_return`, other results are copied and the post-return runs at once;
//! - for each function import, the prototype of an ordinary C function the host implements
//!   (`PREFIX_host_NAME(env, instance, ...)`), and `PREFIX_link_imports(linker, env)`
//!   registering them all as raw callbacks that pass `env` and the calling instance through.
//!
//! The header compiles as C99, C11 and C++11 without diagnostics under `clang -Weverything`
//! except `-Wpadded` (and `-Wc++98-compat` in C++): layout checks use `_Static_assert` (or a
//! negative array size before C11), inline code declares before statements and uses
//! `PREFIX_NULL`/`PREFIX_CAST` (nullptr and static_cast in C++).
//!
//! Imports the linker provides itself are left out: by default every `wasi:*` interface
//! (`kiln_component_linker_add_wasi` defines them), plus any `--exclude PATTERN`;
//! `--keep-wasi` keeps the WASI imports in the header.

mod ctypes;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use ctypes::{ident, CTypes};
use kiln_environ::component::wit::func_to_wit;
use kiln_environ::component::{
    ComponentExport, ComponentFuncType, ComponentMetadata, ExportItem, InterfaceType, ItemType,
};
use std::fmt::Write as _;
use std::path::PathBuf;

/// `kiln bindgen`: generate host bindings for a compiled component.
#[derive(Args, Debug)]
pub struct BindgenCommand {
    /// The target language.
    #[command(subcommand)]
    pub lang: BindgenLang,
}

/// Languages `kiln bindgen` writes.
#[derive(Subcommand, Debug)]
pub enum BindgenLang {
    /// A typed C header (on top of kiln.h) for the component's world.
    C(BindgenC),
}

/// `kiln bindgen c` options.
#[derive(Args, Debug)]
pub struct BindgenC {
    /// The component `.so` compiled by kiln.
    pub file: PathBuf,
    /// Output header (default: stdout).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Prefix of every generated name (default: the file name without extension).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Leave out imports the host provides another way: an interface (`ns:pkg/iface`, with or
    /// without `@version`), a function (`iface#f` or a world-level `f`), or a prefix ending
    /// in `*` (`my:pkg/*`). Repeatable; `wasi:*` is always excluded unless `--keep-wasi`.
    #[arg(long = "exclude", value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Keep the `wasi:*` imports (by default they are left out, as
    /// `kiln_component_linker_add_wasi` defines them).
    #[arg(long)]
    pub keep_wasi: bool,
}

impl BindgenC {
    /// The import patterns to leave out (the default `wasi:*` unless `keep_wasi`).
    pub fn excludes(&self) -> Vec<String> {
        let mut out = self.exclude.clone();
        if !self.keep_wasi {
            out.push(DEFAULT_EXCLUDE.to_string());
        }
        out
    }
}

/// The imports `kiln bindgen c` leaves out by default (`kiln_component_linker_add_wasi`
/// provides them).
pub const DEFAULT_EXCLUDE: &str = "wasi:*";

/// Whether the import function at `path` (`f` or `iface#f`) matches `pattern` (see
/// [`BindgenC::exclude`]).
pub fn excluded(path: &str, pattern: &str) -> bool {
    let unversioned = |p: &str| -> String {
        // `ns:pkg/iface@1.0.0#f` → `ns:pkg/iface#f`.
        p.split('#')
            .map(|seg| seg.split('@').next().unwrap_or(seg))
            .collect::<Vec<_>>()
            .join("#")
    };
    let iface = path.split('#').next().unwrap_or(path);
    if let Some(prefix) = pattern.strip_suffix('*') {
        return path.starts_with(prefix) || unversioned(path).starts_with(prefix);
    }
    [path, iface]
        .into_iter()
        .any(|p| p == pattern || unversioned(p) == unversioned(pattern))
}

impl BindgenCommand {
    /// Runs the command.
    pub fn execute(self) -> Result<i32> {
        let BindgenLang::C(c) = self.lang;
        let data = std::fs::read(&c.file)
            .with_context(|| format!("failed to read `{}`", c.file.display()))?;
        let meta = super::inspect::read_component(&data)
            .with_context(|| format!("`{}` is not a kiln component .so", c.file.display()))?;
        let prefix = match &c.prefix {
            Some(p) => p.clone(),
            None => c
                .file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "component".into()),
        };
        let header = generate_c_excluding(&meta, &prefix, &c.excludes())?;
        match &c.output {
            Some(path) => std::fs::write(path, header)
                .with_context(|| format!("failed to write `{}`", path.display()))?,
            None => print!("{header}"),
        }
        Ok(0)
    }
}

/// A function of the world: its WIT path (`f` or `iface#f`), C base name and type.
struct WorldFunc {
    path: String,
    name: String,
    ty: ComponentFuncType,
}

/// A parameter name, clear of the generated code's own locals.
fn param_ident(name: &str) -> String {
    let s = ident(name);
    if ["a", "e", "env", "err", "args", "ret", "result"].contains(&s.as_str()) {
        format!("{s}_")
    } else {
        s
    }
}

fn path_ident(path: &str) -> String {
    // Interfaces by their last segment without version: `ns:pkg/iface@1.0.0#f` → `iface_f`.
    let parts: Vec<String> = path
        .split('#')
        .map(|p| {
            let p = p.split('@').next().unwrap_or(p);
            ident(p.rsplit('/').next().unwrap_or(p))
        })
        .collect();
    parts.join("_")
}

fn export_funcs(list: &[ComponentExport], at: &str, out: &mut Vec<(String, ComponentFuncType)>) {
    for e in list {
        let path = if at.is_empty() {
            e.name.clone()
        } else {
            format!("{at}#{}", e.name)
        };
        match &e.item {
            ExportItem::Func { ty, .. } => out.push((path, ty.clone())),
            ExportItem::Instance(inner) => export_funcs(inner, &path, out),
            _ => {}
        }
    }
}

fn import_funcs(name: &str, ty: &ItemType, out: &mut Vec<(String, ComponentFuncType)>) {
    match ty {
        ItemType::Func(f) => out.push((name.to_string(), f.clone())),
        ItemType::Instance(items) => {
            for (n, t) in items {
                import_funcs(&format!("{name}#{n}"), t, out);
            }
        }
        _ => {}
    }
}

/// Escapes `s` for a C string literal.
fn c_str(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {
                for b in c.to_string().bytes() {
                    let _ = write!(out, "\\{b:03o}");
                }
            }
        }
    }
    out
}

/// The header for the component described by `meta`, with the default exclusions
/// ([`DEFAULT_EXCLUDE`]).
pub fn generate_c(meta: &ComponentMetadata, prefix: &str) -> Result<String> {
    generate_c_excluding(meta, prefix, &[DEFAULT_EXCLUDE.to_string()])
}

/// The header for the component described by `meta`, leaving out the imports matching any of
/// `exclude` (see [`excluded`]).
pub fn generate_c_excluding(
    meta: &ComponentMetadata,
    prefix: &str,
    exclude: &[String],
) -> Result<String> {
    let prefix = ident(prefix);
    let mut g = CTypes::new(meta, &prefix);
    let up = g.upper();
    let mut exports = Vec::new();
    export_funcs(&meta.exports, "", &mut exports);
    let mut imports = Vec::new();
    for i in &meta.imports {
        import_funcs(&i.name, &i.ty, &mut imports);
    }
    let mut left_out: Vec<String> = Vec::new();
    imports.retain(|(path, _)| {
        let keep = !exclude.iter().any(|p| excluded(path, p));
        let iface = path.split('#').next().unwrap_or(path).to_string();
        if !keep && !left_out.contains(&iface) {
            left_out.push(iface);
        }
        keep
    });
    let mut world = |list: Vec<(String, ComponentFuncType)>, what: &str| -> Vec<WorldFunc> {
        list.into_iter()
            .map(|(path, ty)| {
                let name = g.fresh(&format!("{what}{}", path_ident(&path)));
                WorldFunc { path, name, ty }
            })
            .collect()
    };
    let exports = world(exports, "");
    let imports = world(imports, "host_");
    if exports.is_empty() && imports.is_empty() {
        bail!("the component has no function imports or exports");
    }
    let mut funcs = String::new();
    emit_exports(&mut g, meta, &exports, &mut funcs)?;
    emit_imports(&mut g, meta, &imports, &mut funcs)?;

    let guard = format!("{up}_KILN_BINDGEN_H");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "/*\n * Generated by `kiln bindgen c`: typed C bindings for a kiln component. Do not edit.\n *\n * {}\n */",
        meta.wit_world().trim_end().replace("*/", "* /").replace('\n', "\n * ")
    );
    if !left_out.is_empty() {
        let _ = writeln!(
            out,
            "/*\n * Imports left out (the host's linker provides them, e.g. kiln_component_linker_add_wasi()):\n *   {}\n */",
            left_out.join("\n *   ").replace("*/", "* /")
        );
    }
    let _ = writeln!(out, "#ifndef {guard}\n#define {guard}\n");
    out.push_str("#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n\n#include \"kiln.h\"\n\n");
    let _ = writeln!(
        out,
        "/* Layout checks: C++11, C11, and C99 (a negative array size fails the build). */\n#ifdef __cplusplus\n#define {up}_STATIC_ASSERT(c, m) static_assert(c, m)\n#define {up}_ALIGNOF(t) alignof(t)\n#define {up}_NULL nullptr\n#define {up}_CAST(t, v) static_cast<t>(v)\nextern \"C\" {{\n#else\n#define {up}_NULL NULL\n#define {up}_CAST(t, v) ((t)(v))\n#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L\n#define {up}_STATIC_ASSERT(c, m) _Static_assert(c, m)\n#else\n#define {up}_CAT2(a, b) a##b\n#define {up}_CAT(a, b) {up}_CAT2(a, b)\n#define {up}_STATIC_ASSERT(c, m) typedef char {up}_CAT({up}_static_assert_, __LINE__)[(c) ? 1 : -1]\n#endif\n#define {up}_ALIGNOF(t) offsetof(struct {{ char c; t x; }}, x)\n#endif\n"
    );
    let _ = writeln!(
        out,
        "{up}_STATIC_ASSERT(sizeof(void *) == 8 && sizeof(size_t) == 8, \"kiln components need a 64-bit host\");\n{up}_STATIC_ASSERT(sizeof(kiln_string_t) == 16 && offsetof(kiln_string_t, len) == 8, \"kiln_string_t\");\n"
    );
    out.push_str("/* ---- Types ---- */\n\n");
    out.push_str(&g.defs);
    out.push_str(&funcs);
    let _ = writeln!(
        out,
        "#ifdef __cplusplus\n}}\n#endif\n\n#endif /* {guard} */"
    );
    Ok(out)
}

/// The parameters struct of `f` (`None` without parameters), defined in `g`.
fn args_struct(g: &mut CTypes<'_>, f: &WorldFunc) -> Result<Option<(String, Vec<String>)>> {
    if f.ty.params.is_empty() {
        return Ok(None);
    }
    let name = format!("{}_{}_args_t", g.prefix, f.name);
    let mut members = Vec::new();
    let mut fields = Vec::new();
    let mut params = Vec::new();
    for (p, t) in &f.ty.params {
        let ct = g.c_type(t, &format!("{}_{p}", f.name))?;
        members.push(format!("  {ct} {};", param_ident(p)));
        fields.push(param_ident(p));
        params.push(format!("{ct} {}", param_ident(p)));
    }
    let tuple = InterfaceType::Tuple(f.ty.params.iter().map(|(_, t)| t.clone()).collect());
    let mut def = format!(
        "/** The parameters of `{}`, in the host C representation. */\ntypedef struct {{\n{}\n}} {name};\n",
        f.path,
        members.join("\n")
    );
    def.push_str(&g.asserts(&tuple, &name, &fields));
    def.push('\n');
    g.defs.push_str(&def);
    Ok(Some((name, params)))
}

fn emit_exports(
    g: &mut CTypes<'_>,
    meta: &ComponentMetadata,
    exports: &[WorldFunc],
    out: &mut String,
) -> Result<()> {
    if exports.is_empty() {
        return Ok(());
    }
    let p = g.prefix.clone();
    let up = g.upper();
    out.push_str("/* ---- Exports ---- */\n\n");
    let _ = writeln!(out, "/** The exported functions of an instance (kiln_component_func_t handles). */\ntypedef struct {{");
    for f in exports {
        let _ = writeln!(
            out,
            "  kiln_component_func_t *{}; /**< `{}` */",
            f.name, f.path
        );
    }
    let _ = writeln!(out, "}} {p}_exports_t;\n");
    let _ = writeln!(
        out,
        "/** Frees the handles of `e` (NULL members are skipped). */\nstatic inline void {p}_exports_delete({p}_exports_t *e) {{"
    );
    for f in exports {
        let _ = writeln!(
            out,
            "  kiln_component_func_delete(e->{0});\n  e->{0} = {up}_NULL;",
            f.name
        );
    }
    let _ = writeln!(out, "}}\n");
    let _ = writeln!(
        out,
        "/** Looks up every export of `instance` into `e` (on error `e` holds no handles). */\nstatic inline kiln_error_t *{p}_exports_init({p}_exports_t *e, const kiln_component_instance_t *instance) {{\n  kiln_error_t *err;\n  memset(e, 0, sizeof *e);"
    );
    for f in exports {
        let _ = writeln!(
            out,
            "  if ((err = kiln_component_instance_get_func(instance, \"{}\", &e->{}))) {{\n    {p}_exports_delete(e);\n    return err;\n  }}",
            c_str(&f.path),
            f.name
        );
    }
    let _ = writeln!(out, "  return {up}_NULL;\n}}\n");
    for f in exports {
        let args = args_struct(g, f)?;
        let mut params = vec![format!("const {p}_exports_t *e")];
        if let Some((_, ps)) = &args {
            params.extend(ps.iter().cloned());
        }
        let ret_ty = match &f.ty.result {
            Some(t) => Some(g.c_type(t, &format!("{}_result", f.name))?),
            None => None,
        };
        if let Some(r) = &ret_ty {
            params.push(format!("{r} *ret"));
        }
        let borrowed =
            f.ty.result
                .as_ref()
                .is_some_and(|t| t.contains_pointers_or_handles());
        let sig = func_to_wit(&f.ty, meta).replace("*/", "* /");
        let doc = if borrowed {
            format!(
                "Calls export `{}: {sig}`. On success `*ret` holds the result; its strings and lists stay valid until {p}_{}_post_return(e), which must be called before the instance is entered again.",
                f.path, f.name
            )
        } else {
            format!(
                "Calls export `{}: {sig}` (the post-return runs before this returns).",
                f.path
            )
        };
        let _ = writeln!(
            out,
            "/** {doc} */\nstatic inline kiln_error_t *{p}_{}({}) {{",
            f.name,
            params.join(", ")
        );
        if !borrowed {
            // Declarations first: the header compiles as C89-style code (-Wdeclaration-after-
            // statement) too.
            out.push_str("  kiln_error_t *err;\n");
        }
        let argp = match &args {
            Some((name, _)) => {
                let _ = writeln!(out, "  {name} args;");
                for (pn, _) in &f.ty.params {
                    let _ = writeln!(out, "  args.{0} = {0};", param_ident(pn));
                }
                "&args".to_string()
            }
            None => format!("{up}_NULL"),
        };
        let retp = if ret_ty.is_some() {
            "ret".to_string()
        } else {
            format!("{up}_NULL")
        };
        if borrowed {
            let _ = writeln!(
                out,
                "  return kiln_component_func_call_raw(e->{}, {argp}, {retp});\n}}",
                f.name
            );
            let _ = writeln!(
                out,
                "/** Ends a successful call of {p}_{0}(): runs the guest's post-return; the result must no longer be used. */\nstatic inline kiln_error_t *{p}_{0}_post_return(const {p}_exports_t *e) {{\n  return kiln_component_func_post_return(e->{0});\n}}\n",
                f.name
            );
        } else {
            let _ = writeln!(
                out,
                "  err = kiln_component_func_call_raw(e->{0}, {argp}, {retp});\n  if (err)\n    return err;\n  return kiln_component_func_post_return(e->{0});\n}}\n",
                f.name
            );
        }
    }
    Ok(())
}

fn emit_imports(
    g: &mut CTypes<'_>,
    meta: &ComponentMetadata,
    imports: &[WorldFunc],
    out: &mut String,
) -> Result<()> {
    if imports.is_empty() {
        return Ok(());
    }
    let p = g.prefix.clone();
    let up = g.upper();
    out.push_str("/* ---- Imports (implemented by the host) ---- */\n\n");
    let mut callbacks = Vec::new();
    for f in imports {
        let args = args_struct(g, f)?;
        let mut params: Vec<String> = vec![
            "void *env".into(),
            "const kiln_component_instance_t *instance".into(),
        ];
        params.extend(args.as_ref().map(|a| a.1.clone()).unwrap_or_default());
        let ret_ty = match &f.ty.result {
            Some(t) => Some(g.c_type(t, &format!("{}_result", f.name))?),
            None => None,
        };
        if let Some(r) = &ret_ty {
            params.push(format!("{r} *ret"));
        }
        let sig = func_to_wit(&f.ty, meta).replace("*/", "* /");
        let _ = writeln!(
            out,
            "/**\n * Implemented by the host: import `{}: {sig}`.\n * `env` is what {p}_link_imports() was given; `instance` is the calling instance (NULL\n * during instantiation). Arguments are valid during the call only. Write the result to `*ret` (zeroed); its strings\n * and lists must stay valid after returning: static data or kiln_component_host_alloc().\n * Return NULL, or an error to make the calling guest trap.\n */\nkiln_error_t *{p}_{}({});",
            f.path,
            f.name,
            params.join(", ")
        );
        let mut call_args: Vec<String> = vec!["env".into(), "instance".into()];
        call_args.extend(
            f.ty.params
                .iter()
                .map(|(n, _)| format!("a->{}", param_ident(n))),
        );
        if let Some(r) = &ret_ty {
            call_args.push(format!("{up}_CAST({r} *, result)"));
        }
        let cb = g.fresh(&format!("{}_raw", f.name));
        let _ = writeln!(
            out,
            "/** The raw callback for {p}_{0}() (registered by {p}_link_imports()). */\nstatic inline kiln_error_t *{p}_{cb}(void *env, const kiln_component_instance_t *instance, const void *args, void *result) {{",
            f.name
        );
        callbacks.push(cb);
        if let Some((an, _)) = &args {
            let _ = writeln!(out, "  const {an} *a = {up}_CAST(const {an} *, args);");
        }
        out.push_str("  (void)args;\n  (void)result;\n");
        let _ = writeln!(
            out,
            "  return {p}_{}({});\n}}\n",
            f.name,
            call_args.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "/**\n * Defines every function import in `linker` as the host's {p}_host_* functions, which get\n * `env` (owned by the caller: it must outlive the instances) and the calling instance.\n */\nstatic inline kiln_error_t *{p}_link_imports(kiln_component_linker_t *linker, void *env) {{\n  kiln_error_t *err;"
    );
    for (f, cb) in imports.iter().zip(&callbacks) {
        let _ = writeln!(
            out,
            "  if ((err = kiln_component_linker_define_func_raw(linker, \"{}\", {p}_{cb}, env, {up}_NULL)))\n    return err;",
            c_str(&f.path),
        );
    }
    let _ = writeln!(out, "  return {up}_NULL;\n}}\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{Cli, Command};
    use clap::Parser;

    #[test]
    fn command_line() {
        let cli = Cli::try_parse_from([
            "kiln", "bindgen", "c", "x.so", "-o", "x.h", "--prefix", "app",
        ])
        .unwrap();
        let Command::Bindgen(BindgenCommand {
            lang: BindgenLang::C(c),
        }) = cli.command
        else {
            panic!("not bindgen");
        };
        assert_eq!(c.file, PathBuf::from("x.so"));
        assert_eq!(c.output, Some(PathBuf::from("x.h")));
        assert_eq!(c.prefix.as_deref(), Some("app"));
        assert!(Cli::try_parse_from(["kiln", "bindgen", "rust", "x.so"]).is_err());
        let err = BindgenCommand {
            lang: BindgenLang::C(BindgenC {
                file: PathBuf::from("/nonexistent/x.so"),
                output: None,
                prefix: None,
                exclude: Vec::new(),
                keep_wasi: false,
            }),
        }
        .execute()
        .unwrap_err();
        assert!(format!("{err:#}").contains("failed to read"));
    }

    #[test]
    fn exclusions() {
        let f = "wasi:io/streams@0.2.0#[method]output-stream.write";
        assert!(excluded(f, DEFAULT_EXCLUDE));
        assert!(excluded(f, "wasi:io/streams"));
        assert!(excluded(f, "wasi:io/streams@0.2.0"));
        assert!(excluded(f, "wasi:io/streams#[method]output-stream.write"));
        assert!(!excluded(f, "wasi:io/stream"));
        assert!(!excluded(f, "wasi:cli/*"));
        assert!(excluded("log", "log"));
        assert!(!excluded("test:app/notes#note", DEFAULT_EXCLUDE));
        let cli = Cli::try_parse_from([
            "kiln",
            "bindgen",
            "c",
            "x.so",
            "--exclude",
            "my:pkg/*",
            "--exclude",
            "log",
        ])
        .unwrap();
        let Command::Bindgen(BindgenCommand {
            lang: BindgenLang::C(c),
        }) = cli.command
        else {
            panic!("not bindgen");
        };
        assert_eq!(c.excludes(), ["my:pkg/*", "log", DEFAULT_EXCLUDE]);
        let cli = Cli::try_parse_from(["kiln", "bindgen", "c", "x.so", "--keep-wasi"]).unwrap();
        let Command::Bindgen(BindgenCommand {
            lang: BindgenLang::C(c),
        }) = cli.command
        else {
            panic!("not bindgen");
        };
        assert!(c.excludes().is_empty());
    }

    #[test]
    fn names() {
        assert_eq!(path_ident("wasi:io/streams@0.2.0#read"), "streams_read");
        assert_eq!(path_ident("greet"), "greet");
        assert_eq!(param_ident("result"), "result_");
        assert_eq!(c_str("a\"b\\é"), "a\\\"b\\\\\\303\\251");
    }
}
