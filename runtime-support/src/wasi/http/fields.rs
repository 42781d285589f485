//! `wasi:http/types#fields` (headers and trailers): an ordered multimap of lowercase names to
//! byte values, mutable or immutable, with the validation and the forbidden names wasmtime's
//! host applies (so the same guest sees the same answers under both).

use super::{FIELDS, IFACE};
use crate::component::{ComponentLinker, HostCx, Val};
use crate::error::Trap;
use crate::wasi::val::{arg, arg_str, err, ok, string, with_obj};
use crate::wasi::{define, define_resource, new_handle, WasiState};

/// Header or trailer fields: `(lowercase name, value)` pairs in order.
pub type FieldList = Vec<(String, Vec<u8>)>;

/// Most bytes (names plus values) one `fields` may hold; more traps, as in wasmtime.
pub const MAX_FIELDS_SIZE: usize = 128 * 1024;

/// Names a guest may neither set nor see (connection-level headers the host owns).
pub const FORBIDDEN: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "http2-settings",
];

/// The table object behind a `fields` handle.
pub struct FieldsObj {
    /// The fields.
    pub list: FieldList,
    /// Whether `set`/`append`/`delete` are allowed.
    pub mutable: bool,
}

/// Why a field operation failed (`header-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// `invalid-syntax`.
    InvalidSyntax,
    /// `forbidden`.
    Forbidden,
    /// `immutable`.
    Immutable,
}

impl HeaderError {
    fn val(self) -> Val {
        Val::Variant(
            match self {
                HeaderError::InvalidSyntax => "invalid-syntax",
                HeaderError::Forbidden => "forbidden",
                HeaderError::Immutable => "immutable",
            }
            .into(),
            None,
        )
    }
}

/// Whether `b` may appear in a field name (an RFC 9110 token character).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The lowercase form of field name `name`, or `invalid-syntax`.
pub fn check_name(name: &str) -> Result<String, HeaderError> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(HeaderError::InvalidSyntax);
    }
    Ok(name.to_ascii_lowercase())
}

/// Whether `v` is a valid field value (visible bytes, spaces and tabs; no CR, LF or NUL).
pub fn check_value(v: &[u8]) -> Result<(), HeaderError> {
    if v.iter().all(|&b| (b >= 0x20 && b != 0x7f) || b == b'\t') {
        Ok(())
    } else {
        Err(HeaderError::InvalidSyntax)
    }
}

/// Whether the lowercase `name` is forbidden.
pub fn is_forbidden(name: &str) -> bool {
    FORBIDDEN.contains(&name)
}

/// `list` without forbidden names (what a guest is shown of a request or response that came
/// from the network).
pub fn strip_forbidden(list: FieldList) -> FieldList {
    list.into_iter().filter(|(n, _)| !is_forbidden(n)).collect()
}

/// The size `list` counts against [`MAX_FIELDS_SIZE`].
pub fn size(list: &FieldList) -> usize {
    list.iter().map(|(n, v)| n.len() + v.len() + 32).sum()
}

fn too_big() -> Trap {
    Trap::host("WASI: total size of HTTP fields exceeds the limit")
}

/// The value list of argument `i` (`list<u8>`).
fn value_of(v: &Val) -> Result<Vec<u8>, Trap> {
    match v {
        Val::List(l) => l
            .iter()
            .map(|b| match b {
                Val::U8(b) => Ok(*b),
                other => Err(Trap::host(format!("WASI: expected a byte, got {other:?}"))),
            })
            .collect(),
        other => Err(Trap::host(format!(
            "WASI: expected a field value, got {other:?}"
        ))),
    }
}

fn value_val(v: &[u8]) -> Val {
    Val::List(v.iter().map(|&b| Val::U8(b)).collect())
}

/// The `list<tuple<field-name, field-value>>` value of `list`.
pub fn entries_val(list: &FieldList) -> Val {
    Val::List(
        list.iter()
            .map(|(n, v)| Val::Tuple(vec![string(n.as_str()), value_val(v)]))
            .collect(),
    )
}

/// A validated field list from a guest's `list<tuple<field-name, field-value>>`.
fn entries_from(v: &Val) -> Result<Result<FieldList, HeaderError>, Trap> {
    let Val::List(items) = v else {
        return Err(Trap::host(format!(
            "WASI: expected a field list, got {v:?}"
        )));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Val::Tuple(pair) = item else {
            return Err(Trap::host(format!("WASI: expected a field, got {item:?}")));
        };
        let (Some(Val::String(name)), Some(value)) = (pair.first(), pair.get(1)) else {
            return Err(Trap::host(format!("WASI: expected a field, got {item:?}")));
        };
        let value = value_of(value)?;
        let name = match check_name(name) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        if is_forbidden(&name) {
            return Ok(Err(HeaderError::Forbidden));
        }
        if let Err(e) = check_value(&value) {
            return Ok(Err(e));
        }
        out.push((name, value));
    }
    if size(&out) > MAX_FIELDS_SIZE {
        return Err(too_big());
    }
    Ok(Ok(out))
}

/// A new `fields` handle.
pub fn new_fields(
    cx: &HostCx<'_>,
    st: &WasiState,
    list: FieldList,
    mutable: bool,
) -> Result<Val, Trap> {
    new_handle(cx, st, FIELDS, FieldsObj { list, mutable })
}

/// Takes the `fields` own handle `v` (moved into a request, response or body end).
pub fn take_fields(cx: &HostCx<'_>, st: &WasiState, v: &Val) -> Result<FieldList, Trap> {
    let rep = cx.take_own(crate::wasi::val::resource(cx, FIELDS)?, v)?;
    Ok(st.table().remove::<FieldsObj>(rep, "fields")?.list)
}

fn fields<R>(
    cx: &HostCx<'_>,
    st: &WasiState,
    v: &Val,
    f: impl FnOnce(&mut FieldsObj) -> R,
) -> Result<R, Trap> {
    with_obj::<FieldsObj, R>(cx, st, FIELDS, v, f)
}

/// A mutation's `result<_, header-error>` value.
fn mutation(
    cx: &HostCx<'_>,
    st: &WasiState,
    args: &[Val],
    f: impl FnOnce(&mut FieldList, String) -> Result<(), HeaderError>,
) -> Result<Option<Val>, Trap> {
    let name = arg_str(args, 1)?.to_string();
    let r = fields(cx, st, arg(args, 0)?, |o| {
        if !o.mutable {
            return Ok(Err(HeaderError::Immutable));
        }
        let name = match check_name(&name) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        if is_forbidden(&name) {
            return Ok(Err(HeaderError::Forbidden));
        }
        let mut next = o.list.clone();
        if let Err(e) = f(&mut next, name) {
            return Ok(Err(e));
        }
        if size(&next) > MAX_FIELDS_SIZE {
            return Err(too_big());
        }
        o.list = next;
        Ok(Ok(()))
    })??;
    Ok(Some(match r {
        Ok(()) => ok(None),
        Err(e) => err(e.val()),
    }))
}

/// Adds `wasi:http/types#fields`.
pub fn add(linker: &mut ComponentLinker) {
    define_resource::<FieldsObj>(linker, IFACE, "fields");
    define(linker, IFACE, "[constructor]fields", |cx, st, _| {
        Ok(Some(new_fields(cx, st, Vec::new(), true)?))
    });
    define(linker, IFACE, "[static]fields.from-list", |cx, st, args| {
        Ok(Some(match entries_from(arg(args, 0)?)? {
            Ok(list) => ok(Some(new_fields(cx, st, list, true)?)),
            Err(e) => err(e.val()),
        }))
    });
    define(linker, IFACE, "[method]fields.get", |cx, st, args| {
        let name = arg_str(args, 1)?.to_ascii_lowercase();
        fields(cx, st, arg(args, 0)?, |o| {
            Some(Val::List(
                o.list
                    .iter()
                    .filter(|(n, _)| *n == name)
                    .map(|(_, v)| value_val(v))
                    .collect(),
            ))
        })
    });
    define(linker, IFACE, "[method]fields.has", |cx, st, args| {
        let name = arg_str(args, 1)?.to_ascii_lowercase();
        fields(cx, st, arg(args, 0)?, |o| {
            Some(Val::Bool(o.list.iter().any(|(n, _)| *n == name)))
        })
    });
    define(linker, IFACE, "[method]fields.set", |cx, st, args| {
        let Val::List(values) = arg(args, 2)? else {
            return Err(Trap::host("WASI: expected a list of field values"));
        };
        let values = values.iter().map(value_of).collect::<Result<Vec<_>, _>>()?;
        mutation(cx, st, args, move |list, name| {
            for v in &values {
                check_value(v)?;
            }
            list.retain(|(n, _)| *n != name);
            list.extend(values.into_iter().map(|v| (name.clone(), v)));
            Ok(())
        })
    });
    define(linker, IFACE, "[method]fields.delete", |cx, st, args| {
        mutation(cx, st, args, |list, name| {
            list.retain(|(n, _)| *n != name);
            Ok(())
        })
    });
    define(linker, IFACE, "[method]fields.append", |cx, st, args| {
        let value = value_of(arg(args, 2)?)?;
        mutation(cx, st, args, move |list, name| {
            check_value(&value)?;
            list.push((name, value));
            Ok(())
        })
    });
    define(linker, IFACE, "[method]fields.entries", |cx, st, args| {
        fields(cx, st, arg(args, 0)?, |o| Some(entries_val(&o.list)))
    });
    define(linker, IFACE, "[method]fields.clone", |cx, st, args| {
        let list = fields(cx, st, arg(args, 0)?, |o| o.list.clone())?;
        Ok(Some(new_fields(cx, st, list, true)?))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_checked() {
        assert_eq!(check_name("Content-Type").unwrap(), "content-type");
        assert!(check_name("bad name").is_err());
        assert!(check_name("").is_err());
        assert!(check_value(b"ok\tvalue").is_ok());
        assert!(check_value(b"no\r\nsplit").is_err());
        assert!(is_forbidden("host"));
        let kept = strip_forbidden(vec![
            ("host".into(), b"a".to_vec()),
            ("x".into(), b"b".to_vec()),
        ]);
        assert_eq!(kept.len(), 1);
    }
}
