//! A textual form of component function types, written and read by one pair of functions:
//! WIT syntax with every named type spelled out structurally and resources named by their
//! import path, e.g.
//!
//! ```text
//! func(self: borrow<wasi:io/streams@0.2.12#input-stream>, len: u64) -> result<list<u8>, variant { last-operation-failed(own<wasi:io/error@0.2.12#error>), closed }>
//! ```
//!
//! Host implementations declare the types of the functions they provide in this form (the
//! WASI host's signature table is generated from WASI's WIT and checked against it), so a
//! component whose import has another type does not link.

use super::types::{Case, ComponentFuncType, Field, InterfaceType, ResourceIndex};

/// Writes `ty`, resource `r` as `name(r)`.
pub fn func_to_text(ty: &ComponentFuncType, name: &dyn Fn(ResourceIndex) -> String) -> String {
    let mut s = String::new();
    if ty.is_async {
        s.push_str("async ");
    }
    s.push_str("func(");
    for (i, (n, t)) in ty.params.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(n);
        s.push_str(": ");
        write_type(&mut s, t, name);
    }
    s.push(')');
    if let Some(r) = &ty.result {
        s.push_str(" -> ");
        write_type(&mut s, r, name);
    }
    s
}

/// Writes value type `ty`.
pub fn type_to_text(ty: &InterfaceType, name: &dyn Fn(ResourceIndex) -> String) -> String {
    let mut s = String::new();
    write_type(&mut s, ty, name);
    s
}

fn write_type(s: &mut String, ty: &InterfaceType, name: &dyn Fn(ResourceIndex) -> String) {
    use InterfaceType as T;
    let list = |s: &mut String, ts: &mut dyn Iterator<Item = &InterfaceType>| {
        for (i, t) in ts.enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            write_type(s, t, name);
        }
    };
    match ty {
        T::Own(r) => s.push_str(&format!("own<{}>", name(*r))),
        T::Borrow(r) => s.push_str(&format!("borrow<{}>", name(*r))),
        T::List(t) => {
            s.push_str("list<");
            write_type(s, t, name);
            s.push('>');
        }
        T::FixedList(t, n) => {
            s.push_str("list<");
            write_type(s, t, name);
            s.push_str(&format!(", {n}>"));
        }
        T::Map(k, v) => {
            s.push_str("map<");
            write_type(s, k, name);
            s.push_str(", ");
            write_type(s, v, name);
            s.push('>');
        }
        T::Option(t) => {
            s.push_str("option<");
            write_type(s, t, name);
            s.push('>');
        }
        T::Tuple(ts) => {
            s.push_str("tuple<");
            list(s, &mut ts.iter());
            s.push('>');
        }
        T::Result { ok, err } => match (ok, err) {
            (None, None) => s.push_str("result"),
            (Some(o), None) => {
                s.push_str("result<");
                write_type(s, o, name);
                s.push('>');
            }
            (o, Some(e)) => {
                s.push_str("result<");
                match o {
                    Some(o) => write_type(s, o, name),
                    None => s.push('_'),
                }
                s.push_str(", ");
                write_type(s, e, name);
                s.push('>');
            }
        },
        T::Record(fields) => {
            s.push_str("record { ");
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                s.push_str(&f.name);
                s.push_str(": ");
                write_type(s, &f.ty, name);
            }
            s.push_str(" }");
        }
        T::Variant(cases) => {
            s.push_str("variant { ");
            for (i, c) in cases.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                s.push_str(&c.name);
                if let Some(t) = &c.ty {
                    s.push('(');
                    write_type(s, t, name);
                    s.push(')');
                }
            }
            s.push_str(" }");
        }
        T::Stream(Some(t)) | T::Future(Some(t)) => {
            s.push_str(if matches!(ty, T::Stream(_)) {
                "stream<"
            } else {
                "future<"
            });
            write_type(s, t, name);
            s.push('>');
        }
        // Primitives, enums, flags, payload-less streams and futures, error-context.
        other => s.push_str(&other.to_string()),
    }
}

/// Reads a function type written by [`func_to_text`]; `resource(path)` gives the index of
/// the resource type named `path`.
pub fn parse_func(
    text: &str,
    resource: &mut dyn FnMut(&str) -> ResourceIndex,
) -> Result<ComponentFuncType, String> {
    let mut p = Parser { s: text, at: 0 };
    let is_async = p.eat_word("async");
    p.expect_word("func")?;
    p.expect("(")?;
    let mut params = Vec::new();
    if !p.eat(")") {
        loop {
            let n = p.name()?;
            p.expect(":")?;
            params.push((n, p.ty(resource)?));
            if p.eat(")") {
                break;
            }
            p.expect(",")?;
        }
    }
    let result = if p.eat("->") {
        Some(p.ty(resource)?)
    } else {
        None
    };
    p.end()?;
    Ok(ComponentFuncType {
        is_async,
        params,
        result,
    })
}

struct Parser<'a> {
    s: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s[self.at..].starts_with(' ') {
            self.at += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.s[self.at..].starts_with(tok) {
            self.at += tok.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &str) -> Result<(), String> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.error(&format!("expected `{tok}`")))
        }
    }

    fn error(&self, what: &str) -> String {
        format!("{what} at byte {} of `{}`", self.at, self.s)
    }

    /// A kebab-case name, or (with `:`, `/`, `@`, `.`, `#`, `[`, `]`) a resource path.
    fn word(&mut self, path: bool) -> String {
        self.ws();
        let rest = &self.s[self.at..];
        let len = rest
            .find(|c: char| {
                !(c.is_ascii_alphanumeric()
                    || c == '-'
                    || c == '_'
                    || (path && matches!(c, ':' | '/' | '@' | '.' | '#' | '[' | ']')))
            })
            .unwrap_or(rest.len());
        self.at += len;
        rest[..len].to_string()
    }

    fn name(&mut self) -> Result<String, String> {
        let w = self.word(false);
        if w.is_empty() {
            return Err(self.error("expected a name"));
        }
        Ok(w)
    }

    fn eat_word(&mut self, w: &str) -> bool {
        let save = self.at;
        if self.word(false) == w {
            true
        } else {
            self.at = save;
            false
        }
    }

    fn expect_word(&mut self, w: &str) -> Result<(), String> {
        if self.eat_word(w) {
            Ok(())
        } else {
            Err(self.error(&format!("expected `{w}`")))
        }
    }

    fn end(&mut self) -> Result<(), String> {
        self.ws();
        if self.at == self.s.len() {
            Ok(())
        } else {
            Err(self.error("unexpected text"))
        }
    }

    fn ty(
        &mut self,
        resource: &mut dyn FnMut(&str) -> ResourceIndex,
    ) -> Result<InterfaceType, String> {
        use InterfaceType as T;
        let w = self.word(false);
        Ok(match w.as_str() {
            "bool" => T::Bool,
            "s8" => T::S8,
            "u8" => T::U8,
            "s16" => T::S16,
            "u16" => T::U16,
            "s32" => T::S32,
            "u32" => T::U32,
            "s64" => T::S64,
            "u64" => T::U64,
            "f32" => T::F32,
            "f64" => T::F64,
            "char" => T::Char,
            "string" => T::String,
            "error-context" => T::ErrorContext,
            "list" => {
                self.expect("<")?;
                let t = self.ty(resource)?;
                if self.eat(",") {
                    let n = self.word(false);
                    let n = n.parse().map_err(|_| self.error("expected a length"))?;
                    self.expect(">")?;
                    T::FixedList(Box::new(t), n)
                } else {
                    self.expect(">")?;
                    T::List(Box::new(t))
                }
            }
            "map" => {
                self.expect("<")?;
                let k = self.ty(resource)?;
                self.expect(",")?;
                let v = self.ty(resource)?;
                self.expect(">")?;
                T::Map(Box::new(k), Box::new(v))
            }
            "option" => {
                self.expect("<")?;
                let t = self.ty(resource)?;
                self.expect(">")?;
                T::Option(Box::new(t))
            }
            "tuple" => {
                self.expect("<")?;
                let mut ts = vec![self.ty(resource)?];
                while self.eat(",") {
                    ts.push(self.ty(resource)?);
                }
                self.expect(">")?;
                T::Tuple(ts)
            }
            "result" => {
                if !self.eat("<") {
                    return Ok(T::Result {
                        ok: None,
                        err: None,
                    });
                }
                let ok = if self.eat("_") {
                    None
                } else {
                    Some(Box::new(self.ty(resource)?))
                };
                let err = if self.eat(",") {
                    Some(Box::new(self.ty(resource)?))
                } else {
                    None
                };
                self.expect(">")?;
                T::Result { ok, err }
            }
            "stream" | "future" => {
                let payload = if self.eat("<") {
                    let t = self.ty(resource)?;
                    self.expect(">")?;
                    Some(Box::new(t))
                } else {
                    None
                };
                if w == "stream" {
                    T::Stream(payload)
                } else {
                    T::Future(payload)
                }
            }
            "own" | "borrow" => {
                self.expect("<")?;
                let path = self.word(true);
                self.expect(">")?;
                let r = resource(&path);
                if w == "own" {
                    T::Own(r)
                } else {
                    T::Borrow(r)
                }
            }
            "record" => {
                self.expect("{")?;
                let mut fields = Vec::new();
                loop {
                    let name = self.name()?;
                    self.expect(":")?;
                    fields.push(Field {
                        name,
                        ty: self.ty(resource)?,
                    });
                    if self.eat("}") {
                        break;
                    }
                    self.expect(",")?;
                }
                T::Record(fields)
            }
            "variant" => {
                self.expect("{")?;
                let mut cases = Vec::new();
                loop {
                    let name = self.name()?;
                    let ty = if self.eat("(") {
                        let t = self.ty(resource)?;
                        self.expect(")")?;
                        Some(t)
                    } else {
                        None
                    };
                    cases.push(Case { name, ty });
                    if self.eat("}") {
                        break;
                    }
                    self.expect(",")?;
                }
                T::Variant(cases)
            }
            "enum" | "flags" => {
                self.expect("{")?;
                let mut labels = Vec::new();
                if !self.eat("}") {
                    loop {
                        labels.push(self.name()?);
                        if self.eat("}") {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                if w == "enum" {
                    T::Enum(labels)
                } else {
                    T::Flags(labels)
                }
            }
            _ => return Err(self.error(&format!("unknown type `{w}`"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let texts = [
            "func()",
            "func(a: u32, b: string) -> list<u8>",
            "async func(x: option<tuple<s8, f64>>) -> result<_, enum { a, b-c }>",
            "func(self: borrow<wasi:io/streams@0.2.12#input-stream>, len: u64) -> result<list<u8>, \
             variant { last-operation-failed(own<wasi:io/error@0.2.12#error>), closed }>",
            "func(r: record { x: flags { read, write }, y: list<char, 4>, z: map<string, u8> }) \
             -> result",
            "func(s: stream<u8>, f: future, e: error-context) -> result<bool>",
        ];
        for t in texts {
            let mut names = Vec::new();
            let ty = parse_func(t, &mut |p| {
                names.push(p.to_string());
                (names.len() - 1) as u32
            })
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(func_to_text(&ty, &|r| names[r as usize].clone()), t);
        }
        assert!(parse_func("func(a: u33)", &mut |_| 0).is_err());
        assert!(parse_func("func(a: u32) extra", &mut |_| 0).is_err());
        assert!(parse_func("func(a: list<u8", &mut |_| 0).is_err());
    }
}
