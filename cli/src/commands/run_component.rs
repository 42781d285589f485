//! `kiln run --invoke` for components: the call is written in the WebAssembly Value Encoding
//! (WAVE, crate `wasm-wave`), e.g. `greet("world")` or `ns:pkg/iface#greet("world")`, and the
//! result is printed in WAVE as `wasmtime run --invoke` does (`()` for no result).
//!
//! Without an interface prefix the name is looked up at the world level first, then in the
//! exported interfaces, where it must be unique (wasmtime requires uniqueness everywhere).
//!
//! Arguments are parsed against the export's parameter types, converted to
//! `kiln_runtime::component::Val`s and passed through the compiled canonical-ABI glue.

use super::run::runtime_error;
use anyhow::{anyhow, bail, Context, Result};
use kiln_environ::component::{ExportItem, FuncSource, InterfaceType as T, ItemType};
use kiln_runtime::component::Val;
use kiln_runtime::wasi::WasiConfig;
use kiln_runtime::{Component, ComponentFunc, ComponentInstance, ComponentLinker, Engine};
use std::borrow::Cow;
use std::path::Path;
use wasm_wave::untyped::UntypedFuncCall;
use wasm_wave::value::{Type, Value};
use wasm_wave::wasm::{DisplayFuncResults, WasmValue};

/// Loads the component `.so` at `path`.
pub fn load_component(engine: &Engine, path: &Path) -> Result<Component> {
    Component::load(engine, path)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("failed to load `{}`", path.display()))
}

/// Whether an import of type `ty` must be defined by the host (it has functions).
fn needs_definition(ty: &ItemType) -> bool {
    match ty {
        ItemType::Func(_) | ItemType::Module(_) => true,
        ItemType::Instance(items) => items.iter().any(|(_, t)| needs_definition(t)),
        ItemType::Resource(_) | ItemType::Type(_) => false,
    }
}

/// Instantiates `component` (with WASI 0.2 configured by `wasi` when it imports WASI) and
/// performs `invoke`, or runs it as a command (`wasi:cli/run`) without one.
pub fn run_component(
    engine: &Engine,
    component: &Component,
    invoke: Option<&str>,
    wasi: WasiConfig,
    timeout: Option<std::time::Duration>,
) -> Result<i32> {
    // Imports that only carry types (an interface of type definitions, as `use` in a WIT
    // world produces) need no definition; WASI 0.2 interfaces are provided.
    let needed: Vec<_> = component
        .imports()
        .iter()
        .filter(|i| needs_definition(&i.ty))
        .collect();
    if let Some(import) = needed.iter().find(|i| !i.name.starts_with("wasi:")) {
        bail!(
            "the component imports `{}`, which `kiln run` cannot provide (it provides WASI 0.2)",
            import.name
        );
    }
    let mut linker = ComponentLinker::new(engine);
    // The deadline covers instantiation (start functions) too: it is set before.
    if let Some(timeout) = timeout {
        linker.set_epoch_deadline(1);
        super::run::start_timeout(engine, timeout)?;
    }
    let uses_wasi = !needed.is_empty();
    if uses_wasi {
        kiln_runtime::wasi::add_to_linker(&mut linker, wasi);
    }
    let instance = linker
        .instantiate(component)
        .map_err(|e| runtime_error(e, "failed to instantiate"))?;
    let Some(invoke) = invoke else {
        if kiln_runtime::wasi::run_export(&instance).is_none() {
            bail!(
                "the component is not a command (it exports no `wasi:cli/run`): name a \
                 function with --invoke 'name(args...)' (WAVE syntax)"
            );
        }
        return kiln_runtime::wasi::run_command(&instance)
            .map_err(|e| runtime_error(e, "failed to run the command"));
    };
    // An interface prefix (`ns:pkg/iface#`) is split off before WAVE parses the call.
    let paren = invoke.find('(').unwrap_or(invoke.len());
    let (iface, call_text) = match invoke[..paren].rfind('#') {
        Some(i) => (Some(&invoke[..i]), &invoke[i + 1..]),
        None => (None, invoke),
    };
    let call = UntypedFuncCall::parse(call_text)
        .map_err(|e| anyhow!("invalid --invoke `{invoke}`: {e}"))?;
    let (full, func) = find_func(&instance, iface, call.name())?;
    let ty = func.ty().clone();
    let types = ty
        .params
        .iter()
        .map(|(_, t)| wave_type(t))
        .collect::<Result<Vec<_>>>()?;
    let wave_args: Vec<Value> = call
        .to_wasm_params(types.iter())
        .map_err(|e| anyhow!("invalid arguments for `{full}`: {e}"))?;
    let args = ty
        .params
        .iter()
        .zip(&wave_args)
        .map(|((_, t), v)| from_wave(t, v))
        .collect::<Result<Vec<_>>>()?;
    let result = instance.call_func(&func, &args).map_err(|e| match e {
        // Canonical-ABI traps name their rule; they are not host-function errors.
        kiln_runtime::Error::Trap(t) if t.message.starts_with("canonical ABI") => {
            anyhow!("{t}")
        }
        e => runtime_error(e, &format!("failed to invoke `{full}`")),
    })?;
    // Printed as `wasmtime run --invoke` does: the value, or `()` without result.
    let results = match (&ty.result, result) {
        (Some(rt), Some(v)) => vec![to_wave(rt, &v)?],
        _ => Vec::new(),
    };
    println!("{}", DisplayFuncResults(&results));
    Ok(0)
}

/// Finds the exported function `name`: inside interface `iface` when given, else at the world
/// level, else the one function of that name inside an exported interface.
fn find_func(
    instance: &ComponentInstance,
    iface: Option<&str>,
    name: &str,
) -> Result<(String, ComponentFunc)> {
    if let Some(iface) = iface {
        let full = format!("{iface}#{name}");
        let f = instance
            .get_func(&full)
            .ok_or_else(|| anyhow!("the component exports no function `{name}` in `{iface}`"))?;
        return Ok((full, f));
    }
    if let Some(f) = instance.get_func(name) {
        return Ok((name.to_string(), f));
    }
    let mut found = Vec::new();
    for e in instance.exports() {
        if let ExportItem::Instance(items) = &e.item {
            for i in items {
                if i.name == name
                    && matches!(
                        i.item,
                        ExportItem::Func {
                            func: FuncSource::Lifted(_),
                            ..
                        }
                    )
                {
                    found.push(format!("{}#{name}", e.name));
                }
            }
        }
    }
    match found.as_slice() {
        [one] => {
            let f = instance
                .get_func(one)
                .ok_or_else(|| anyhow!("`{one}` is not callable"))?;
            Ok((one.clone(), f))
        }
        [] => bail!("the component exports no function named `{name}`"),
        many => bail!(
            "`{name}` is ambiguous: name one of {} with `interface#{name}(...)`",
            many.join(", ")
        ),
    }
}

/// The WAVE type of a component type.
pub fn wave_type(ty: &T) -> Result<Type> {
    use wasm_wave::wasm::WasmTypeKind as K;
    let simple = |k| Type::simple(k).ok_or_else(|| anyhow!("internal error: type {ty}"));
    let bad = || anyhow!("type {ty} cannot be written in WAVE");
    Ok(match ty {
        T::Bool => simple(K::Bool)?,
        T::S8 => simple(K::S8)?,
        T::U8 => simple(K::U8)?,
        T::S16 => simple(K::S16)?,
        T::U16 => simple(K::U16)?,
        T::S32 => simple(K::S32)?,
        T::U32 => simple(K::U32)?,
        T::S64 => simple(K::S64)?,
        T::U64 => simple(K::U64)?,
        T::F32 => simple(K::F32)?,
        T::F64 => simple(K::F64)?,
        T::Char => simple(K::Char)?,
        T::String => simple(K::String)?,
        T::List(t) => Type::list(wave_type(t)?),
        T::Record(fields) => Type::record(
            fields
                .iter()
                .map(|f| Ok((f.name.as_str(), wave_type(&f.ty)?)))
                .collect::<Result<Vec<_>>>()?,
        )
        .ok_or_else(bad)?,
        T::Tuple(ts) => {
            Type::tuple(ts.iter().map(wave_type).collect::<Result<Vec<_>>>()?).ok_or_else(bad)?
        }
        T::Variant(cases) => Type::variant(
            cases
                .iter()
                .map(|c| Ok((c.name.as_str(), c.ty.as_ref().map(wave_type).transpose()?)))
                .collect::<Result<Vec<_>>>()?,
        )
        .ok_or_else(bad)?,
        T::Enum(labels) => Type::enum_ty(labels.iter().map(String::as_str)).ok_or_else(bad)?,
        T::Option(t) => Type::option(wave_type(t)?),
        T::Result { ok, err } => Type::result(
            ok.as_deref().map(wave_type).transpose()?,
            err.as_deref().map(wave_type).transpose()?,
        ),
        T::Flags(labels) => Type::flags(labels.iter().map(String::as_str)).ok_or_else(bad)?,
        T::Own(_) | T::Borrow(_) => bail!("resource handles cannot be passed with --invoke"),
        // WAVE has no map syntax: a map is written as a list of (key, value) tuples.
        T::Map(k, v) => {
            Type::list(Type::tuple(vec![wave_type(k)?, wave_type(v)?]).ok_or_else(bad)?)
        }
        // A fixed-length list is written as a list (its length is checked).
        T::FixedList(t, _) => Type::list(wave_type(t)?),
        T::Stream(_) | T::Future(_) | T::ErrorContext => {
            bail!("{ty} values cannot be passed to or from the host yet (they move only between components)")
        }
    })
}

/// Converts a parsed WAVE value of type `ty` to a component value.
pub fn from_wave(ty: &T, v: &Value) -> Result<Val> {
    let boxed = |t: &T, v: Cow<'_, Value>| -> Result<Box<Val>> { Ok(Box::new(from_wave(t, &v)?)) };
    Ok(match ty {
        T::Bool => Val::Bool(v.unwrap_bool()),
        T::S8 => Val::S8(v.unwrap_s8()),
        T::U8 => Val::U8(v.unwrap_u8()),
        T::S16 => Val::S16(v.unwrap_s16()),
        T::U16 => Val::U16(v.unwrap_u16()),
        T::S32 => Val::S32(v.unwrap_s32()),
        T::U32 => Val::U32(v.unwrap_u32()),
        T::S64 => Val::S64(v.unwrap_s64()),
        T::U64 => Val::U64(v.unwrap_u64()),
        T::F32 => Val::Float32(v.unwrap_f32()),
        T::F64 => Val::Float64(v.unwrap_f64()),
        T::Char => Val::Char(v.unwrap_char()),
        T::String => Val::String(v.unwrap_string().into_owned()),
        T::List(t) => Val::List(
            v.unwrap_list()
                .map(|x| from_wave(t, &x))
                .collect::<Result<_>>()?,
        ),
        T::Record(fields) => Val::Record(
            fields
                .iter()
                .zip(v.unwrap_record())
                .map(|(f, (_, x))| Ok((f.name.clone(), from_wave(&f.ty, &x)?)))
                .collect::<Result<_>>()?,
        ),
        T::Tuple(ts) => Val::Tuple(
            ts.iter()
                .zip(v.unwrap_tuple())
                .map(|(t, x)| from_wave(t, &x))
                .collect::<Result<_>>()?,
        ),
        T::Variant(cases) => {
            let (name, payload) = v.unwrap_variant();
            let case = cases
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| anyhow!("unknown case `{name}`"))?;
            let payload = match (&case.ty, payload) {
                (Some(t), Some(p)) => Some(boxed(t, p)?),
                _ => None,
            };
            Val::Variant(name.into_owned(), payload)
        }
        T::Enum(_) => Val::Enum(v.unwrap_enum().into_owned()),
        T::Option(t) => Val::Option(v.unwrap_option().map(|x| boxed(t, x)).transpose()?),
        T::Result { ok, err } => Val::Result(match v.unwrap_result() {
            Ok(x) => Ok(match (ok, x) {
                (Some(t), Some(x)) => Some(boxed(t, x)?),
                _ => None,
            }),
            Err(x) => Err(match (err, x) {
                (Some(t), Some(x)) => Some(boxed(t, x)?),
                _ => None,
            }),
        }),
        T::Flags(_) => Val::Flags(v.unwrap_flags().map(Cow::into_owned).collect()),
        T::Own(_) | T::Borrow(_) => bail!("resource handles cannot be passed with --invoke"),
        T::Map(k, val_ty) => Val::Map(
            v.unwrap_list()
                .map(|e| {
                    let mut kv = e.unwrap_tuple();
                    let (Some(key), Some(value)) = (kv.next(), kv.next()) else {
                        bail!("a map entry is a (key, value) tuple");
                    };
                    Ok((from_wave(k, &key)?, from_wave(val_ty, &value)?))
                })
                .collect::<Result<_>>()?,
        ),
        T::FixedList(t, n) => {
            let items = v
                .unwrap_list()
                .map(|x| from_wave(t, &x))
                .collect::<Result<Vec<_>>>()?;
            if items.len() != *n as usize {
                bail!("a {ty} needs {n} elements, got {}", items.len());
            }
            Val::List(items)
        }
        T::Stream(_) | T::Future(_) | T::ErrorContext => {
            bail!("{ty} values cannot be passed to or from the host yet (they move only between components)")
        }
    })
}

/// Converts a component value of type `ty` to a WAVE value.
pub fn to_wave(ty: &T, v: &Val) -> Result<Value> {
    let wty = wave_type(ty)?;
    let e = |e: wasm_wave::wasm::WasmValueError| anyhow!("cannot print a value of {ty}: {e}");
    let mismatch = || anyhow!("value {v:?} does not have type {ty}");
    Ok(match (ty, v) {
        (T::Bool, Val::Bool(x)) => Value::make_bool(*x),
        (T::S8, Val::S8(x)) => Value::make_s8(*x),
        (T::U8, Val::U8(x)) => Value::make_u8(*x),
        (T::S16, Val::S16(x)) => Value::make_s16(*x),
        (T::U16, Val::U16(x)) => Value::make_u16(*x),
        (T::S32, Val::S32(x)) => Value::make_s32(*x),
        (T::U32, Val::U32(x)) => Value::make_u32(*x),
        (T::S64, Val::S64(x)) => Value::make_s64(*x),
        (T::U64, Val::U64(x)) => Value::make_u64(*x),
        (T::F32, Val::Float32(x)) => Value::make_f32(*x),
        (T::F64, Val::Float64(x)) => Value::make_f64(*x),
        (T::Char, Val::Char(x)) => Value::make_char(*x),
        (T::String, Val::String(x)) => Value::make_string(Cow::Borrowed(x.as_str())),
        (T::List(t) | T::FixedList(t, _), Val::List(xs)) => Value::make_list(
            &wty,
            xs.iter()
                .map(|x| to_wave(t, x))
                .collect::<Result<Vec<_>>>()?,
        )
        .map_err(e)?,
        (T::Map(k, val_ty), Val::Map(entries)) => {
            let entry = T::Tuple(vec![(**k).clone(), (**val_ty).clone()]);
            let items = entries
                .iter()
                .map(|(a, b)| to_wave(&entry, &Val::Tuple(vec![a.clone(), b.clone()])))
                .collect::<Result<Vec<_>>>()?;
            Value::make_list(&wty, items).map_err(e)?
        }
        (T::Record(fields), Val::Record(xs)) => {
            let vals = fields
                .iter()
                .zip(xs)
                .map(|(f, (_, x))| Ok((f.name.as_str(), to_wave(&f.ty, x)?)))
                .collect::<Result<Vec<_>>>()?;
            Value::make_record(&wty, vals).map_err(e)?
        }
        (T::Tuple(ts), Val::Tuple(xs)) => Value::make_tuple(
            &wty,
            ts.iter()
                .zip(xs)
                .map(|(t, x)| to_wave(t, x))
                .collect::<Result<Vec<_>>>()?,
        )
        .map_err(e)?,
        (T::Variant(cases), Val::Variant(name, payload)) => {
            let case = cases
                .iter()
                .find(|c| c.name == *name)
                .ok_or_else(mismatch)?;
            let p = match (&case.ty, payload) {
                (Some(t), Some(p)) => Some(to_wave(t, p)?),
                _ => None,
            };
            Value::make_variant(&wty, name, p).map_err(e)?
        }
        (T::Enum(_), Val::Enum(name)) => Value::make_enum(&wty, name).map_err(e)?,
        (T::Option(t), Val::Option(x)) => {
            let x = x.as_ref().map(|x| to_wave(t, x)).transpose()?;
            Value::make_option(&wty, x).map_err(e)?
        }
        (T::Result { ok, err }, Val::Result(r)) => {
            let conv = |t: &Option<Box<T>>, x: &Option<Box<Val>>| -> Result<Option<Value>> {
                match (t, x) {
                    (Some(t), Some(x)) => Ok(Some(to_wave(t, x)?)),
                    _ => Ok(None),
                }
            };
            let r = match r {
                Ok(x) => Ok(conv(ok, x)?),
                Err(x) => Err(conv(err, x)?),
            };
            Value::make_result(&wty, r).map_err(e)?
        }
        (T::Flags(_), Val::Flags(names)) => {
            Value::make_flags(&wty, names.iter().map(String::as_str)).map_err(e)?
        }
        _ => return Err(mismatch()),
    })
}
